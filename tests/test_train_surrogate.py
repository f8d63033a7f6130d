"""Surrogate-gradient training: the surrogate derivative, finite-difference gradients through
time, export to the float simulator, quantization-aware training, determinism, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _synthetic import blobs as _blobs_data
from spikejet.ann.model import MLP
from spikejet.config.sections import SnnSurrogateConfig
from spikejet.errors import ConfigError, DataError, ModelError
from spikejet.snn.bundle import load_network, save_network
from spikejet.snn.simulate import simulate
from spikejet.snn.train.surrogate import (
    SURROGATES,
    SurrogateNet,
    SurrogateOptions,
    evaluate_surrogate,
    fake_quantize,
    spike,
    surrogate_grad,
    surrogate_primitive,
)
from spikejet.snn.train.surrogate import train_surrogate as _train_with_section

SIZES = (6, 10, 8, 3)
#: The settings these tests were written for (the library's former defaults; the section's differ).
_FORMER_OPTIONS = {"learn_leak": False, "leak": 0.9, "quantize": False, "reset": "subtract"}
_FORMER_TRAINING = {"epochs": 20, "learning_rate": 1e-3, "batch_size": 512, "patience": 5, "synops_penalty": 0.0,
                    "loss_timesteps": ()}


def _options(**kw) -> SurrogateOptions:
    return SurrogateOptions(**{**_FORMER_OPTIONS, **kw})


def train_surrogate(net, X_train, y_train, X_val, y_val, *, timesteps, seed=0, teacher_logits=None, **kw):
    """The library trainer, configured through its config section."""
    cfg = SnnSurrogateConfig(**{**_FORMER_TRAINING, **kw, "timesteps": timesteps,
                                "max_timesteps": max(64, timesteps)})
    return _train_with_section(net, X_train, y_train, X_val, y_val, cfg, teacher_logits=teacher_logits, seed=seed)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(2024)
    Xtr, ytr = _blobs_data(rng, 1200)
    Xva, yva = _blobs_data(rng, 300)
    return Xtr, ytr, Xva, yva


# --------------------------------------------------------------------------- the surrogate


@pytest.mark.parametrize("kind", SURROGATES)
@pytest.mark.parametrize("slope", [0.5, 2.0, 10.0])
def test_surrogate_grad_is_derivative_of_primitive(kind, slope):
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    eps = 1e-6
    fd = (surrogate_primitive(x + eps, kind, slope) - surrogate_primitive(x - eps, kind, slope)) / (2 * eps)
    # central differences are exact to O(eps^2) except at the fast sigmoid's kink (|x|): O(slope * eps)
    torch.testing.assert_close(surrogate_grad(x, kind, slope), fd, rtol=1e-6, atol=2 * slope * eps)
    # peak 1 at the threshold, symmetric, decreasing away from it
    assert float(surrogate_grad(torch.zeros(1, dtype=torch.float64), kind, slope)) == pytest.approx(1.0, abs=1e-15)
    g = surrogate_grad(x, kind, slope)
    torch.testing.assert_close(g, g.flip(0), rtol=0, atol=1e-15)
    assert bool((g[301:].diff() <= 0).all())


@pytest.mark.parametrize("kind", SURROGATES)
def test_spike_is_heaviside_with_surrogate_backward(kind):
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 0.5], dtype=torch.float64, requires_grad=True)
    s = spike(x, kind, 3.0)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    w = torch.arange(1.0, 6.0, dtype=torch.float64)
    (s * w).sum().backward()
    torch.testing.assert_close(x.grad, w * surrogate_grad(x.detach(), kind, 3.0), rtol=1e-14, atol=0)


def test_bad_surrogate_settings():
    with pytest.raises(ConfigError, match="surrogate must be"):
        spike(torch.zeros(2), "sigmoid", 1.0)
    with pytest.raises(ConfigError, match="slope"):
        spike(torch.zeros(2), "arctan", 0.0)
    for bad in ({"neuron": "izhikevich"}, {"reset": "soft"}, {"readout": "rate"}, {"leak": 1.0},
                {"v_init": 1.0}, {"slope": -1.0}, {"dt": 0.0}):
        with pytest.raises(ConfigError):
            _options(**bad)
    with pytest.raises(ConfigError, match="thresholds"):
        SurrogateNet(SIZES, thresholds=[1.0])
    with pytest.raises(ConfigError, match="hidden"):
        SurrogateNet((4, 2))


# --------------------------------------------------------------------------- gradients through time


def _fd_check(net: SurrogateNet, x: torch.Tensor, y: torch.Tensor, T: int) -> None:
    """Autograd gradient of the relaxed network == central finite differences, every parameter entry."""
    net = net.double()
    params = [p for p in net.parameters() if p.requires_grad]

    def loss() -> torch.Tensor:
        out = net(x, T, relaxed=True)
        return torch.nn.functional.cross_entropy(out.logits, y) + 1e-4 * out.synops.mean()

    net.zero_grad()
    loss().backward()
    eps = 1e-6
    for p in params:
        g = p.grad.detach().clone().reshape(-1)
        flat = p.data.reshape(-1)
        fd = torch.empty_like(g)
        for i in range(flat.numel()):
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                lp = float(loss())
                flat[i] = old - eps
                lm = float(loss())
                flat[i] = old
            fd[i] = (lp - lm) / (2 * eps)
        torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-8)
        assert float(g.abs().max()) > 0  # the check is not vacuous


@pytest.mark.parametrize(
    "opts",
    [
        _options(neuron="if", reset="subtract", readout="membrane", detach_reset=False, slope=1.0),
        _options(neuron="lif", reset="zero", readout="membrane", learn_leak=True, leak=0.8,
                         detach_reset=False, surrogate="arctan", slope=1.5),
        _options(neuron="lif", reset="subtract", readout="count", learn_leak=True, leak=0.9,
                         detach_reset=False, slope=0.7, v_init=0.3),
    ],
    ids=["if-subtract-membrane", "lif-zero-membrane-arctan", "lif-subtract-count"],
)
def test_gradient_through_time_matches_finite_differences(opts):
    torch.manual_seed(5)
    net = SurrogateNet(SIZES, opts, thresholds=[0.8, 1.3] + ([0.9] if opts.readout == "count" else []))
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(7, SIZES[0], generator=gen, dtype=torch.float64) * 2
    y = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    _fd_check(net, x, y, T=5)


def test_detached_reset_changes_only_the_reset_path():
    """With detach_reset the gradient differs from the full one (the reset term is dropped),
    but agrees where the reset cannot matter (one step, nothing to reset before the output)."""
    torch.manual_seed(1)
    x = torch.randn(5, SIZES[0], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 1, 0])
    grads = {}
    for T in (1, 4):
        for det in (False, True):
            net = SurrogateNet(SIZES, _options(detach_reset=det, slope=1.0)).double()
            torch.manual_seed(2)
            for p in net.linears.parameters():
                torch.nn.init.normal_(p)
            out = net(x, T, relaxed=True)
            torch.nn.functional.cross_entropy(out.logits, y).backward()
            grads[(T, det)] = net.linears[0].weight.grad.clone()
    torch.testing.assert_close(grads[(1, False)], grads[(1, True)], rtol=1e-12, atol=1e-14)
    assert not torch.allclose(grads[(4, False)], grads[(4, True)])


def test_hard_network_has_finite_nonzero_gradients_and_learns(blobs):
    Xtr, ytr, Xva, yva = blobs
    torch.manual_seed(0)
    net = SurrogateNet(SIZES, _options(neuron="lif", learn_leak=True))
    before = evaluate_surrogate(net, Xva, yva, 6)
    out = net(torch.from_numpy(Xtr[:64]), 6)
    torch.nn.functional.cross_entropy(out.logits, torch.from_numpy(ytr[:64])).backward()
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert torch.isfinite(p.grad).all(), name
            assert float(p.grad.abs().sum()) > 0, name
    train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=6, epochs=6, learning_rate=1e-2, batch_size=128, seed=0)
    after = evaluate_surrogate(net, Xva, yva, 6)
    assert after.loss < before.loss
    assert after.accuracy > 0.8  # three well separated blobs


# --------------------------------------------------------------------------- export, determinism, QAT


@pytest.fixture(scope="module")
def ann(blobs):
    Xtr, ytr, _, _ = blobs
    torch.manual_seed(3)
    m = MLP(SIZES)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    Xt, yt = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    for _ in range(80):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(Xt), yt).backward()
        opt.step()
    return m.eval()


@pytest.mark.parametrize(
    "opts",
    [
        _options(neuron="if"),
        _options(neuron="lif", learn_leak=True, leak=0.9, reset="zero"),
        _options(neuron="if", readout="count"),
        _options(neuron="lif", learn_leak=True, quantize=True),
    ],
    ids=["if", "lif-zero", "count", "lif-qat"],
)
def test_exported_network_simulates_like_training_model(opts, ann, blobs):
    Xtr, ytr, Xva, yva = blobs
    net = SurrogateNet.from_mlp(ann, Xtr, opts)
    train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=6, epochs=2, learning_rate=3e-3, batch_size=128, seed=1)
    T = 6
    with torch.no_grad():
        out = net(torch.from_numpy(Xva), T)
    snn = net.to_network()
    res = simulate(snn, Xva, T, steps=[T])
    # the same arithmetic: predictions and per-layer spike counts agree (float rounding of the matrix
    # products may flip a rare spike; the counts are summed over 300 jets)
    agree = float((res.predictions_at(T) == out.logits.argmax(1).numpy()).mean())
    assert agree >= 0.99
    for i, c in enumerate(out.spikes):
        assert res.spikes_per_step[i].sum() == pytest.approx(float(c.sum()), rel=0.01)
    assert res.synops_per_inference(T).sum() == pytest.approx(float(out.synops.mean()), rel=0.01)
    if opts.readout == "membrane":
        np.testing.assert_allclose(res.scores, out.logits.numpy(), rtol=0, atol=0.05 * float(out.logits.abs().max()))
    ev = evaluate_surrogate(net, Xva, yva, T)
    assert ev.accuracy == pytest.approx(res.accuracy_at(yva, T), abs=0.01)


def test_from_mlp_approximates_the_ann_at_large_T(ann, blobs):
    _, _, Xva, yva = blobs
    net = SurrogateNet.from_mlp(ann, blobs[0], _options(neuron="if"), percentile=99.9)
    with torch.no_grad():
        ann_pred = ann(torch.from_numpy(Xva)).argmax(1)
        snn_pred = net(torch.from_numpy(Xva), 256).logits.argmax(1)
    assert float((ann_pred == snn_pred).double().mean()) >= 0.97


def test_training_is_deterministic(blobs):
    Xtr, ytr, Xva, yva = blobs

    def once(seed: int) -> dict:
        torch.manual_seed(seed)
        net = SurrogateNet(SIZES, _options(neuron="lif", learn_leak=True))
        train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=4, epochs=2, batch_size=200, synops_penalty=0.1, seed=seed)
        return {k: v.clone() for k, v in net.state_dict().items()}

    a, b, c = once(4), once(4), once(5)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_quantization_aware_training_grids(ann, blobs):
    Xtr, ytr, Xva, yva = blobs
    opts = _options(neuron="lif", learn_leak=True, leak=0.93, quantize=True)
    net = SurrogateNet.from_mlp(ann, Xtr, opts)
    train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=4, epochs=2, batch_size=128, seed=0)
    snn = net.to_network()
    ths = snn.meta["thresholds"]
    for i, layer in enumerate(snn.layers):
        if i == 0:  # off-chip layer: float
            continue
        w = layer.weight.astype(np.float64)
        step = np.abs(w).max() / 127
        q = w / step
        np.testing.assert_allclose(q, np.round(q), atol=1e-3)
        assert len(np.unique(np.round(q))) <= 255
        if layer.neuron is not None:
            t = layer.neuron.threshold / step
            assert t == pytest.approx(round(t), abs=1e-3) and round(t) >= 1
            assert ths[i] == pytest.approx(layer.neuron.threshold, rel=1e-6)
    for layer in snn.layers[:-1]:
        d = (1 - layer.neuron.decay_mem) * 4096
        assert d == pytest.approx(round(d), abs=1e-3)
    # straight-through: the quantized weights still get gradients
    out = net(torch.from_numpy(Xtr[:50]), 4)
    torch.nn.functional.cross_entropy(out.logits, torch.from_numpy(ytr[:50])).backward()
    assert float(net.linears[1].weight.grad.abs().sum()) > 0


def test_fake_quantize_rounds_and_passes_gradient():
    x = torch.tensor([0.26, -0.74, 3.0], requires_grad=True)
    q = fake_quantize(x, 0.5, lo=-1, hi=2)
    assert q.tolist() == [0.5, -0.5, 1.0]
    q.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_synops_penalty_lowers_synaptic_operations(ann, blobs):
    Xtr, ytr, Xva, yva = blobs
    result = {}
    for pen in (0.0, 3.0):
        net = SurrogateNet.from_mlp(ann, Xtr, _options(neuron="if"))
        train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=8, epochs=6, learning_rate=2e-2, batch_size=128,
                        synops_penalty=pen, seed=2)
        result[pen] = evaluate_surrogate(net, Xva, yva, 8)
    assert result[3.0].synops < 0.5 * result[0.0].synops
    assert result[3.0].accuracy > 0.6


def test_save_load_trained_surrogate_network(ann, blobs, tmp_path):
    Xtr, ytr, Xva, yva = blobs
    net = SurrogateNet.from_mlp(ann, Xtr, _options(neuron="lif", learn_leak=True, quantize=True))
    train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=4, epochs=1, batch_size=200, seed=0)
    snn = net.to_network(class_names=("a", "b", "c"))
    p = save_network(tmp_path / "s.pt", snn, 4, kind="snn_surrogate")
    back, T, bundle = load_network(p)
    assert T == 4 and bundle.kind == "snn_surrogate"
    for a, b in zip(snn.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        assert a.neuron == b.neuron
    r1, r2 = simulate(snn, Xva, 4), simulate(back, Xva, 4)
    np.testing.assert_array_equal(r1.scores, r2.scores)
    np.testing.assert_array_equal(bundle.predict_proba(Xva).argmax(1), r1.predictions_at(4))


def test_training_rejects_bad_data(blobs):
    Xtr, ytr, Xva, yva = blobs
    net = SurrogateNet(SIZES)
    with pytest.raises(DataError, match="features"):
        train_surrogate(net, Xtr[:, :4], ytr, Xva[:, :4], yva, timesteps=2, epochs=1)
    with pytest.raises(DataError, match="labels"):
        train_surrogate(net, Xtr, ytr + 5, Xva, yva, timesteps=2, epochs=1)
    bad = Xtr.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        train_surrogate(net, bad, ytr, Xva, yva, timesteps=2, epochs=1)
    with pytest.raises(ConfigError, match="penalty"):
        train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=2, epochs=1, synops_penalty=-1)


@pytest.mark.parametrize("calibration_steps", [None, 8])
def test_start_from_a_converted_network_is_exact(ann, blobs, calibration_steps):
    from spikejet.snn.convert import convert

    Xtr, _, Xva, _ = blobs
    conv = convert(ann, Xtr, "calibrated", calibration_steps=calibration_steps)
    net = SurrogateNet.from_network(conv, _options(readout="count", v_init=0.1, slope=3.0))
    # read-out and initial membrane follow the network, the rest the options
    assert (net.options.neuron, net.options.readout, net.options.v_init, net.options.slope) == ("if", "membrane",
                                                                                                 0.5, 3.0)
    T = 12
    with torch.no_grad():
        out = net(torch.from_numpy(Xva), T)
    res = simulate(conv, Xva, T, steps=[T])
    assert float((res.predictions_at(T) == out.logits.argmax(1).numpy()).mean()) >= 0.99
    back = net.to_network()
    for a, b in zip(conv.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        if a.neuron is not None:
            assert b.neuron.threshold == pytest.approx(a.neuron.threshold, rel=1e-6)
            assert b.neuron.v_init == pytest.approx(a.neuron.v_init, rel=1e-6)
    # other neuron models and resets are the options' (the network is then only a starting point)
    lif = SurrogateNet.from_network(conv, _options(neuron="lif", reset="zero", leak=0.9)).to_network()
    assert all(ly.neuron.reset == "zero" and ly.neuron.decay_mem == pytest.approx(0.9, rel=1e-6)
               for ly in lif.layers[:-1])


def test_start_from_network_rejects_what_it_cannot_train(ann, blobs):
    from spikejet.snn.convert import convert
    from spikejet.snn.readout import Readout

    conv = convert(ann, blobs[0], "calibrated", calibration_steps=None)
    with pytest.raises(ModelError, match="read-out"):
        SurrogateNet.from_network(conv.replace(readout=Readout("filtered")))
