"""ANN -> SNN conversion: normalization, QCFS exactness, equivalence with the ANN at large T."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from spikejet.ann.model import MLP, predict_logits
from spikejet.errors import ConfigError, ModelError
from spikejet.snn import convert as C
from spikejet.snn.neurons import IFParams
from spikejet.snn.simulate import Probes, simulate

SIZES = (8, 24, 16, 3)
#: The equivalence requirement of the issue: same class as the ANN for >= 99 % of jets at large T.
AGREEMENT = 0.99

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def _blobs(rng, n):
    centers = np.array([[1.5, 0, 0, 1, 0, 0, 0, 0], [0, 1.5, 0, 0, -1, 0, 0, 0], [0, 0, 1.5, 0, 0, 1, 0, 0]])
    y = rng.integers(0, 3, size=n)
    X = rng.normal(size=(n, 8)) + centers[y]
    return X.astype(np.float32), y


def _train(model: nn.Module, X, y, epochs: int = 60, seed: int = 0) -> nn.Module:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        opt.step()
    model.eval()
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    Xtr, ytr = _blobs(rng, 1500)
    Xte, yte = _blobs(rng, 400)
    return Xtr, ytr, Xte, yte


@pytest.fixture(scope="module")
def ann(data):
    Xtr, ytr, _, _ = data
    torch.manual_seed(3)
    return _train(MLP(SIZES), Xtr, ytr)


@pytest.fixture(scope="module")
def qann(ann, data):
    Xtr, ytr, Xte, yte = data
    q, _ = C.finetune_qcfs(ann, Xtr, ytr, Xte[:200], yte[:200], levels=4, epochs=6, batch_size=128, seed=0)
    return q


def _agreement(net, ann_model, X, T):
    res = simulate(net, X, T, steps=[T])
    return float((res.predictions_at(T) == predict_logits(ann_model, X).argmax(1)).mean())


@pytest.mark.parametrize("method", ["snntoolbox", "calibrated"])
def test_equivalence_with_ann_at_large_T(ann, data, method):
    Xtr, _, Xte, _ = data
    net = C.convert(ann, Xtr, method)
    assert _agreement(net, ann, Xte, 1024) >= AGREEMENT


def test_qcfs_equivalence_with_its_ann(qann, data):
    """At T = levels the SNN reproduces the quantized QCFS ANN; as T grows its rates become
    continuous, so at large T it reproduces the same weights with the clip (no floor)."""
    Xtr, _, Xte, _ = data
    net = C.convert(qann, Xtr, "qcfs")
    levels = qann.activations[0].levels
    # unevenness of spike arrival in deeper layers costs a few jets at T = levels (measured 98 %)
    assert _agreement(net, qann, Xte, levels) >= 0.97
    clipped = copy.deepcopy(qann)
    for a in clipped.activations:
        a.levels = 2**24  # quantization step far below float32 resolution of the activations
    assert _agreement(net, clipped, Xte, 1024) >= AGREEMENT


def test_qcfs_first_layer_is_exact_at_T_equal_levels(qann, data):
    """With a constant input, an IF neuron started at half threshold spikes round(T z / theta)
    times (clipped to 0..T): exactly the QCFS activation when T equals its levels."""
    Xtr, _, Xte, _ = data
    net = C.convert(qann, Xtr, "qcfs")
    L = qann.activations[0].levels
    res = simulate(net, Xte, L, probes=Probes(raster=True))
    counts = res.raster[0].sum(axis=0)  # [jets, neurons]
    with torch.no_grad():
        q = qann.activations[0](qann.linears[0](torch.from_numpy(Xte))).numpy()
    lam = float(qann.activations[0].lam.detach())
    np.testing.assert_array_equal(counts, np.rint(q / lam * L).astype(int))


def test_qcfs_activation_levels_and_gradient():
    a = C.QCFS(levels=4, threshold=2.0)
    x = torch.tensor([-1.0, 0.2, 0.26, 1.0, 1.9, 5.0], requires_grad=True)
    y = a(x)
    # lambda * clip(floor(x L / lambda + 1/2) / L, 0, 1) with L = 4, lambda = 2: steps of 0.5
    assert y.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 2.0, 2.0])
    y.sum().backward()
    # straight-through inside the clip range, zero outside; the threshold learns from clipped inputs
    assert x.grad.tolist() == pytest.approx([0, 1, 1, 1, 1, 0])
    # d/dlambda: q - x/lambda inside the clip range (QCFS's gradient), 1 above it, 0 below
    q_minus_y = (0.0 - 0.1) + (0.25 - 0.13) + (0.5 - 0.5) + (1.0 - 0.95)
    assert a.threshold.grad.item() == pytest.approx(1.0 + q_minus_y, rel=1e-5)


def test_snntoolbox_normalization(ann, data):
    Xtr, _, Xte, _ = data
    net = C.convert(ann, Xtr, "snntoolbox")
    acts = C.ann_activations(ann, Xtr)
    scales = [float(np.percentile(a[a > 0], 99.9)) for a in acts[:-1]]
    assert net.meta["scales"] == pytest.approx(scales, rel=1e-6)
    assert all(ly.neuron == IFParams(threshold=1.0, reset="subtract", v_init=0.0) for ly in net.layers)
    assert net.readout.kind == "count"
    # the normalized network, run as a ReLU network, gives the ANN's activations divided by the scales
    h = Xte
    ann_acts = C.ann_activations(ann, Xte)
    for i, ly in enumerate(net.layers[:-1]):
        h = np.maximum(h @ ly.weight.T + ly.bias, 0)
        np.testing.assert_allclose(h, ann_acts[i] / scales[i], rtol=1e-4, atol=1e-5)
    out = h @ net.layers[-1].weight.T + net.layers[-1].bias
    np.testing.assert_allclose(out * net.meta["output_scale"], ann_acts[-1], rtol=1e-4, atol=1e-4)


def test_threshold_search_picks_best_agreement(ann, data):
    Xtr = data[0]
    cands = (90.0, 99.0, 100.0)
    scales, chosen, table = C.choose_scales(ann, Xtr, cands, 4)
    assert set(table) == {"90", "99", "100"}
    assert chosen in cands
    assert table[f"{chosen:g}"] == max(table.values())
    assert scales == C.activation_scales(C.ann_activations(ann, Xtr)[:-1], chosen)
    # the converted network records the search
    net = C.convert(ann, Xtr, "calibrated", percentile=cands, search_steps=4)
    assert net.meta["percentile"] == chosen and net.meta["percentile_search"] == table
    # one candidate: used as is, nothing simulated
    _, p, t = C.choose_scales(ann, Xtr, [97.0], 4)
    assert p == 97.0 and t == {}


def test_calibrated_network_shape(ann, data):
    Xtr, _, _, _ = data
    net = C.convert(ann, Xtr, "calibrated", calibration_steps=None)
    assert net.readout.kind == "membrane"
    assert net.layers[-1].neuron is None
    assert all(ly.neuron.v_init == 0.5 for ly in net.layers[:-1])
    assert net.sizes == SIZES


def test_bias_calibration_reduces_rate_error(ann, data):
    Xtr, _, _, _ = data
    T = 8
    raw = C.convert(ann, Xtr, "calibrated", calibration_steps=None)
    cal = C.convert(ann, Xtr, "calibrated", calibration_steps=T)
    acts = C.ann_activations(ann, Xtr)
    scales = raw.meta["scales"]

    def err(net):
        res = simulate(net, Xtr, T, steps=[T])
        e = []
        for i in range(len(scales)):
            target = np.clip(acts[i] / scales[i], 0, 1).mean(axis=0)
            got = res.spikes_per_step[i].sum(axis=0) / (len(Xtr) * T)
            e.append(np.abs(target - got).mean())
        return np.array(e)

    before, after = err(raw), err(cal)
    assert after.sum() < before.sum()
    assert cal.meta["calibrated_at_steps"] == T


def test_low_latency_methods_beat_snntoolbox_at_few_steps(ann, qann, data):
    Xtr, _, Xte, yte = data
    T = 8
    acc = {}
    for name, model in (("snntoolbox", ann), ("calibrated", ann), ("qcfs", qann)):
        res = simulate(C.convert(model, Xtr, name), Xte, T, steps=[T])
        acc[name] = res.accuracy_at(yte, T)
    ann_acc = float((predict_logits(ann, Xte).argmax(1) == yte).mean())
    assert acc["calibrated"] > acc["snntoolbox"]
    assert acc["qcfs"] > acc["snntoolbox"]
    assert acc["calibrated"] >= ann_acc - 0.03


def test_conversion_is_deterministic(ann, data):
    Xtr, _, _, _ = data
    a = C.convert(ann, Xtr, "calibrated", calibration_steps=4)
    b = C.convert(ann, Xtr, "calibrated", calibration_steps=4)
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)


def test_conversion_errors(ann, qann, data):
    Xtr = data[0]
    with pytest.raises(ConfigError, match="unknown conversion method"):
        C.convert(ann, Xtr, "magic")
    with pytest.raises(ModelError, match="QCFS"):
        C.convert(ann, Xtr, "qcfs")
    with pytest.raises(ModelError, match="ReLU"):
        C.convert(qann, Xtr, "snntoolbox")
    with pytest.raises(ModelError, match="MLP"):
        C.convert(nn.Sequential(nn.Linear(8, 3)), Xtr, "calibrated")
    tanh = MLP(SIZES, activation=nn.Tanh)
    with pytest.raises(ModelError, match="Tanh"):
        C.convert(tanh, Xtr, "calibrated")
    bad = Xtr.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ModelError, match="NaN"):
        C.convert(ann, bad, "calibrated")
    with pytest.raises(ConfigError):
        C.activation_scales([np.ones(3)], 0.0)
    with pytest.raises(ConfigError):
        C.QCFS(levels=0)


def test_methods_match_stage_list():
    from spikejet.config import sections as stage

    assert stage.CONVERT_METHODS == tuple(C.METHODS)
