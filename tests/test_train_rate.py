"""The rate method: rate activations, band penalty, networks with synapses in the one simulator,
rate/spike agreement at long presentation times, determinism and save/load (old files too)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _synthetic import blobs as _blobs_data
from spikejet.config.sections import SnnRateConfig
from spikejet.errors import ConfigError, DataError, ModelError
from spikejet.models.file import ModelBundle, load_bundle, save_bundle
from spikejet.snn.bundle import SpikingModule, network_bundle
from spikejet.snn.neurons import IFParams, LIFParams, SpikingReLUParams, init_state, rate, step
from spikejet.snn.readout import Readout
from spikejet.snn.simulate import Probes, simulate
from spikejet.snn.train.rate import (
    RateActivation,
    band_penalty,
    rate_activations_hz,
    rate_evaluation_network,
    rate_network,
    train_rate,
)

STUDY_NEURON = SpikingReLUParams(amplitude=0.01, max_rate=100.0, dt=1e-3)
IF_NEURON = IFParams(threshold=1.0, reset="subtract", v_init=0.5)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(77)
    Xtr, ytr = _blobs_data(rng, 1200)
    Xva, yva = _blobs_data(rng, 150)
    return Xtr, ytr, Xva, yva


def _cfg(neuron, **kw) -> SnnRateConfig:
    """The snn_rate section for one of the two neurons here (the library reads its settings from it)."""
    if isinstance(neuron, SpikingReLUParams):
        kw = {"neuron": "spiking_relu", "amplitude": neuron.amplitude, "max_rate": neuron.max_rate,
              "dt": neuron.dt, **kw}
    else:
        assert neuron == IF_NEURON
        kw = {"neuron": "if", **kw}
    if kw.get("rate_band_hz", ()) is None:
        kw["rate_band_hz"] = ()
    return SnnRateConfig(**kw)


def _train(blobs, sizes, neuron, seed=0, **kw):
    Xtr, ytr, Xva, yva = blobs
    kw = {"epochs": 10, "learning_rate": 1e-2, "batch_size": 128, "rate_band_hz": None, **kw}
    return train_rate(Xtr, ytr, Xva, yva, _cfg(neuron, **kw), sizes=sizes, seed=seed)


def simulate_synaptic(net, X, T, *, synapse_tau, readout="last", trace_jets=None):
    """The rate stage's evaluation: ``net`` with synapses on every connection, in the one simulator."""
    probes = None if trace_jets is None else Probes(jets=tuple(trace_jets), output=True, raster=True)
    return simulate(rate_evaluation_network(net, synapse_tau, readout), X, T, probes=probes)


@pytest.fixture(scope="module")
def if_model(blobs):
    return _train(blobs, (6, 10, 8, 3), IF_NEURON)[0]


@pytest.fixture(scope="module")
def relu_deep(blobs):
    return _train(blobs, (6, 10, 8, 3), STUDY_NEURON)[0]


# --------------------------------------------------------------------------- rate functions


@pytest.mark.parametrize("neuron", [STUDY_NEURON, SpikingReLUParams(amplitude=2.0, max_rate=50.0), IF_NEURON,
                                    IFParams(threshold=0.4, reset="subtract")])
def test_rate_activation_is_analytic_rate_times_spike_value(neuron):
    x = np.linspace(-3, 3, 121)
    act = RateActivation(neuron)
    got = act(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, rate(x, neuron) * neuron.spike_value, rtol=1e-12, atol=1e-12)


def test_rate_activation_rejects_models_without_differentiable_rate():
    with pytest.raises(ConfigError, match="surrogate"):
        RateActivation(LIFParams())
    with pytest.raises(ConfigError, match="rate method"):
        RateActivation(IFParams(reset="zero"))


def test_band_penalty_is_zero_inside_and_grows_outside():
    inside = torch.full((4, 3), 150.0)
    assert float(band_penalty(inside, (100.0, 200.0))) == 0.0
    low = torch.full((4, 3), 50.0)
    high = torch.full((4, 3), 300.0)
    assert float(band_penalty(low, (100.0, 200.0))) == pytest.approx((50 / 200) ** 2)
    assert float(band_penalty(high, (100.0, 200.0))) == pytest.approx((100 / 200) ** 2)


def test_rate_band_penalty_moves_rates_into_the_band(blobs):
    band = (100.0, 200.0)
    Xva = blobs[2]
    free = _train(blobs, (6, 10, 8, 3), STUDY_NEURON)[0]
    held = _train(blobs, (6, 10, 8, 3), STUDY_NEURON, rate_band_hz=band, rate_weight=10.0)[0]

    def outside(model) -> float:
        r = np.concatenate([h.mean(0) for h in rate_activations_hz(model, Xva)])
        return float(np.mean(np.maximum(band[0] - r, 0) + np.maximum(r - band[1], 0)))

    assert outside(held) < 0.5 * outside(free)


def test_rate_training_is_deterministic_and_learns(blobs):
    _, _, Xva, yva = blobs
    a, ha = _train(blobs, (6, 10, 3), STUDY_NEURON, epochs=4)
    b, _ = _train(blobs, (6, 10, 3), STUDY_NEURON, epochs=4)
    c, _ = _train(blobs, (6, 10, 3), STUDY_NEURON, epochs=4, seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    assert ha.val_accuracy[ha.best_epoch - 1] > 0.8


def test_rate_training_rejects_bad_input(blobs):
    Xtr, ytr, Xva, yva = blobs
    with pytest.raises(DataError, match="features"):
        train_rate(Xtr, ytr, Xva, yva, _cfg(IF_NEURON, epochs=1), sizes=(5, 4, 3))
    with pytest.raises(DataError, match="labels"):
        train_rate(Xtr, ytr, Xva, yva, _cfg(IF_NEURON, epochs=1), sizes=(6, 4, 2))
    with pytest.raises(ConfigError, match="band"):
        train_rate(Xtr, ytr, Xva, yva, _cfg(IF_NEURON, epochs=1, rate_band_hz=(200.0, 100.0)), sizes=(6, 4, 3))


# --------------------------------------------------------------------------- the synaptic simulator


def _reference(net, X, T, tau):
    """Independent per-jet reference: the filter and the pure neuron step functions, one jet at a time."""
    a = 0.0 if tau is None else float(np.exp(-net.dt / tau))
    outs = np.zeros((T, X.shape[0], net.n_outputs))
    for j in range(X.shape[0]):
        states = [init_state((1, ly.n_out), ly.neuron) if ly.neuron else None for ly in net.layers]
        cur = [np.zeros(ly.n_out) for ly in net.layers]
        for t in range(T):
            u = X[j].astype(np.float64)
            value = 1.0
            for li, ly in enumerate(net.layers):
                drive = ly.weight.astype(np.float64) @ (u * value)
                cur[li] = drive if tau is None else a * cur[li] + (1 - a) * drive
                z = cur[li] + ly.bias
                if ly.neuron is None:
                    outs[t, j] = z
                    break
                s, states[li] = step(torch.tensor(z[None], dtype=torch.float64), states[li], ly.neuron)
                u = s[0].numpy()
                value = ly.neuron.spike_value
    return outs


@pytest.mark.parametrize("tau", [None, 0.005])
def test_synaptic_simulator_matches_independent_reference(relu_deep, blobs, tau):
    X = blobs[2][:12]
    net = rate_network(relu_deep, STUDY_NEURON)
    T = 40
    res = simulate_synaptic(net, X, T, synapse_tau=tau, readout="last", trace_jets=range(12))
    ref = _reference(net, X, T, tau)
    # float32 simulator vs float64 reference: a spike may flip on a rounding tie; compare traces loosely
    # and the predictions of the last step exactly for at least 11 of 12 jets
    close = np.isclose(res.output_trace, ref, rtol=1e-3, atol=1e-3).mean()
    assert close > 0.97
    assert (res.predictions_at(T) == ref[-1].argmax(1)).sum() >= 11
    # 'last' reads the output of the step; 'mean' its average
    np.testing.assert_allclose(res.scores, res.output_trace[-1], rtol=0, atol=0)
    mean = simulate_synaptic(net, X, T, synapse_tau=tau, readout="mean", trace_jets=range(12))
    np.testing.assert_allclose(mean.scores, res.output_trace.mean(0), rtol=1e-5, atol=1e-5)


def test_no_filter_and_mean_readout_is_the_core_simulator(if_model, blobs):
    X = blobs[2]
    net = rate_network(if_model, IF_NEURON, readout=Readout("membrane"))
    T = 30
    mine = simulate_synaptic(net, X, T, synapse_tau=None, readout="mean")
    core = simulate(net, X, T)
    assert (mine.predictions == core.predictions).mean() >= 0.995
    for a, b in zip(mine.spikes_per_step[:-1], core.spikes_per_step[:-1], strict=True):
        assert a.sum() == pytest.approx(b.sum(), rel=1e-3)
    np.testing.assert_allclose(mine.scores, core.scores, rtol=1e-3, atol=1e-3)
    assert mine.synops_per_inference(T).sum() == pytest.approx(core.synops_per_inference(T).sum(), rel=1e-3)


def test_tiny_filter_equals_no_filter(relu_deep, blobs):
    X = blobs[2][:40]
    net = rate_network(relu_deep, STUDY_NEURON)
    a = simulate_synaptic(net, X, 25, synapse_tau=None, readout="last")
    b = simulate_synaptic(net, X, 25, synapse_tau=1e-9, readout="last")  # exp(-1e6) == 0 exactly
    np.testing.assert_array_equal(a.scores, b.scores)


def test_synaptic_simulator_rejects_bad_input(if_model, blobs):
    net = rate_network(if_model, IF_NEURON)
    X = blobs[2]
    with pytest.raises(ConfigError, match="read-out"):
        simulate_synaptic(net, X, 5, synapse_tau=None, readout="max")
    with pytest.raises(ConfigError, match="tau"):
        simulate_synaptic(net, X, 5, synapse_tau=-1.0)
    with pytest.raises(ConfigError, match="jets"):
        simulate_synaptic(net, X, 5, synapse_tau=None, trace_jets=[len(X)])
    with pytest.raises(ModelError):
        simulate_synaptic(net, X[:, :3], 5, synapse_tau=None)


# --------------------------------------------------------------------------- rate/spike agreement


def test_if_rate_method_agrees_with_its_rate_model_at_long_times(if_model, blobs):
    X = blobs[2]
    net = rate_network(if_model, IF_NEURON)
    T = 400
    res = simulate_synaptic(net, X, T, synapse_tau=None, readout="mean")
    with torch.no_grad():
        logits = if_model(torch.from_numpy(X)).numpy()
    # the mean output differs from the rate model's by O(1/T) per layer
    scale = float(np.abs(logits).max())
    np.testing.assert_allclose(res.scores, logits, rtol=0, atol=0.02 * scale)
    assert (res.predictions_at(T) == logits.argmax(1)).mean() >= 0.98
    rates = rate_activations_hz(if_model, X)
    for li, r in enumerate(rates):
        np.testing.assert_allclose(res.neuron_rate_hz(li, T), r.mean(0), rtol=0, atol=2.0 / (T * 1e-3))


def test_spiking_relu_matches_its_rate_behind_a_constant_current(blobs):
    """One hidden layer: its input is the constant off-chip current, so the spike rate converges."""
    model = _train(blobs, (6, 10, 3), STUDY_NEURON)[0]
    X = blobs[2]
    net = rate_network(model, STUDY_NEURON)
    T = 400
    res = simulate_synaptic(net, X, T, synapse_tau=None, readout="mean")
    with torch.no_grad():
        logits = model(torch.from_numpy(X)).numpy()
    hz = rate_activations_hz(model, X)[0].mean(0)
    np.testing.assert_allclose(res.neuron_rate_hz(0, T), hz, rtol=0, atol=1.0 / (T * 1e-3))
    assert (res.predictions_at(T) == logits.argmax(1)).mean() >= 0.98


def test_spiking_relu_clipping_overfires_deeper_layers(relu_deep, blobs):
    """Nengo's spiking ReLU drops the negative part of each step's input: without a filter the
    second hidden layer loses its inhibitory spikes and fires above its rate; a filter recovers it
    (measured over the second half of the run, after the filter's start-up transient)."""
    X = blobs[2]
    net = rate_network(relu_deep, STUDY_NEURON)
    T = 400
    hz = rate_activations_hz(relu_deep, X)
    raw = simulate_synaptic(net, X, T, synapse_tau=None, readout="mean")
    filt = simulate_synaptic(net, X, T, synapse_tau=0.01, readout="mean")
    np.testing.assert_allclose(raw.neuron_rate_hz(0, T), hz[0].mean(0), rtol=0, atol=1.0 / (T * 1e-3))

    def late_rate(res) -> float:
        half = T // 2
        return float(res.spikes_per_step[1][half:].sum() / res.n_jets
                     / (T - half) / 1e-3 / res.layer_sizes[1])

    target = float(hz[1].mean())
    excess_raw = late_rate(raw) - target
    excess_filt = abs(late_rate(filt) - target)
    assert excess_raw > 0.05 * target
    assert excess_filt < 0.3 * excess_raw


# --------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("tau,readout", [(0.005, "last"), (None, "mean")])
def test_synaptic_bundle_round_trip(relu_deep, blobs, tmp_path, tau, readout):
    X = blobs[2]
    net = rate_network(relu_deep, STUDY_NEURON, scaler={"mean": [0.0] * 6, "scale": [1.0] * 6},
                       class_names=("a", "b", "c"))
    evaluated = rate_evaluation_network(net, tau, readout)
    path = save_bundle(tmp_path / "r.pt", network_bundle(evaluated, 30, kind="snn_rate"))
    back = load_bundle(path)
    loaded = back.model.network
    assert back.kind == "snn_rate" and loaded.readout.kind == readout
    assert all(ly.synapse is not None and ly.synapse.tau == (tau or 0.0) for ly in loaded.layers)
    direct = simulate_synaptic(net, X, 30, synapse_tau=tau, readout=readout)
    np.testing.assert_array_equal(back.model(torch.from_numpy(X)).numpy(), direct.scores)
    for a, b in zip(net.layers, loaded.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        assert a.neuron == b.neuron


@pytest.mark.parametrize("tau,readout", [(0.005, "last"), (None, "mean")])
def test_old_synaptic_model_files_load_as_networks_with_synapses(relu_deep, blobs, tmp_path, tau, readout):
    """Files of the rate stage written with the former 'snn_synaptic' model type still score the same."""
    X = blobs[2]
    net = rate_network(relu_deep, STUDY_NEURON)
    module = SpikingModule.from_network(net, 30)
    old = ModelBundle(model=module, scaler={"mean": [0.0] * 6, "scale": [1.0] * 6},
                      feature_names=tuple(f"x{i}" for i in range(6)), class_names=("a", "b", "c"),
                      data_class_names=("a", "b", "c"), kind="snn_rate", task="multiclass",
                      arch={"type": "snn_synaptic", "spec": module.spec, "timesteps": 30, "synapse_tau": tau,
                            "readout": readout})
    back = load_bundle(save_bundle(tmp_path / "old.pt", old))
    assert isinstance(back.model, SpikingModule)
    direct = simulate_synaptic(net, X, 30, synapse_tau=tau, readout=readout)
    np.testing.assert_array_equal(back.model(torch.from_numpy(X)).numpy(), direct.scores)
