"""The simulator: agrees with the pure step functions, counts operations exactly, probes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikejet.errors import ConfigError, ModelError
from spikejet.snn import neurons as N
from spikejet.snn.encoding import Encoding, encoder_init, encoder_step
from spikejet.snn.network import Layer, SpikingNetwork, count_ann_macs
from spikejet.snn.readout import Readout, readout_init, readout_scores, readout_step
from spikejet.snn.simulate import Probes, simulate

SIZES = (6, 10, 8, 3)

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def make_net(rng, neuron, *, readout="membrane", encoding=None, sizes=SIZES, out_neuron=None) -> SpikingNetwork:
    layers = []
    n_layers = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        w = rng.normal(0.0, 0.6, size=(b, a)).astype(np.float32)
        bias = rng.normal(0.05, 0.1, size=b).astype(np.float32)
        last = i == n_layers - 1
        layers.append(Layer(w, bias, out_neuron if last else neuron, name=f"fc{i}"))
    return SpikingNetwork(tuple(layers), encoding=encoding or Encoding(), readout=Readout(readout))


def reference(net: SpikingNetwork, X: np.ndarray, T: int):
    """Naive loop over the pure step functions: predictions per step, spikes per layer."""
    Xt = torch.from_numpy(X)
    enc_state = encoder_init(Xt, net.encoding)
    states = [N.init_state((len(X), ly.n_out), ly.neuron) if ly.neuron else None for ly in net.layers]
    ro = readout_init((len(X), net.n_outputs), net.readout)
    preds, spikes = [], [np.zeros(ly.n_out) for ly in net.layers]
    for _ in range(T):
        u, enc_state = encoder_step(enc_state, net.encoding)
        sig = None
        for i, ly in enumerate(net.layers):
            z = torch.addmm(torch.from_numpy(ly.bias.copy()), u, torch.from_numpy(ly.weight.copy()).t())
            if ly.neuron is None:
                sig = z
                break
            s, states[i] = N.step(z, states[i], ly.neuron)
            spikes[i] += s.sum(0).numpy()
            u = s * ly.neuron.spike_value
            sig = u if net.readout.kind == "filtered" else s
        ro = readout_step(sig, ro, net.readout, net.dt)
        preds.append(readout_scores(ro, net.readout).argmax(1).numpy())
    return np.array(preds), spikes, readout_scores(ro, net.readout).numpy()


@pytest.fixture
def X(rng) -> np.ndarray:
    return rng.normal(size=(40, SIZES[0])).astype(np.float32)


@pytest.mark.parametrize(
    "neuron",
    [
        N.IFParams(threshold=1.0, reset="subtract"),
        N.IFParams(threshold=0.7, reset="zero", v_init=0.35),
        N.LIFParams(tau_mem=0.02, tau_syn=0.005, threshold=1.0, reset="zero"),
        N.LIFParams(tau_mem=0.05, tau_syn=0.0, threshold=0.5, reset="subtract"),
    ],
    ids=["if-sub", "if-zero", "lif-zero", "lif-sub"],
)
@pytest.mark.parametrize("encoding", [Encoding("current"), Encoding("regular", scale=1.0)], ids=["current", "regular"])
def test_simulator_matches_pure_step_functions_exactly(rng, X, neuron, encoding):
    net = make_net(rng, neuron, encoding=encoding)
    T = 25
    res = simulate(net, X, T)
    preds, spikes, scores = reference(net, X, T)
    np.testing.assert_array_equal(res.predictions, preds)
    for i in range(len(net.layers) - 1):
        np.testing.assert_array_equal(res.spikes_per_step[i].sum(axis=0), spikes[i])
    np.testing.assert_allclose(res.scores, scores, rtol=1e-6, atol=1e-6)


def test_spiking_relu_and_count_readout_match_reference(rng, X):
    p = N.SpikingReLUParams(amplitude=0.01, max_rate=300.0)
    net = make_net(rng, p, readout="count", out_neuron=p)
    res = simulate(net, X, 30)
    preds, spikes, scores = reference(net, X, 30)
    # the simulator folds the spike value (amplitude/dt) into the weights: rounding may differ
    assert (res.predictions == preds).mean() > 0.98
    total_ref = sum(s.sum() for s in spikes)
    total = sum(s.sum() for s in res.spikes_per_step)
    assert total == pytest.approx(total_ref, rel=0.01)
    assert res.spikes_per_step[-1].sum() > 0  # the output layer spikes and is counted


@pytest.mark.parametrize("filt", ["exp", "alpha"])
def test_filtered_readout_matches_reference(rng, X, filt):
    net = make_net(rng, N.IFParams(), readout="filtered")
    net = net.replace(readout=Readout("filtered", filter=filt, tau=0.004))
    res = simulate(net, X, 20)
    preds, _, scores = reference(net, X, 20)
    np.testing.assert_array_equal(res.predictions, preds)
    np.testing.assert_allclose(res.scores, scores, rtol=1e-5, atol=1e-6)


def test_one_run_gives_every_step(rng, X):
    net = make_net(rng, N.IFParams())
    long = simulate(net, X, 30)
    for t in (1, 7, 19):
        short = simulate(net, X, t)
        np.testing.assert_array_equal(long.predictions_at(t), short.predictions_at(t))
        assert long.spikes_per_inference(t) == pytest.approx(short.spikes_per_inference())


def test_recorded_steps_subset(rng, X):
    net = make_net(rng, N.IFParams())
    full = simulate(net, X, 16)
    part = simulate(net, X, 16, steps=[1, 4, 16])
    assert part.steps.tolist() == [1, 4, 16]
    np.testing.assert_array_equal(part.predictions, full.predictions[[0, 3, 15]])
    with pytest.raises(ConfigError, match="not recorded"):
        part.predictions_at(5)


def test_batching_does_not_change_results(rng, X):
    net = make_net(rng, N.IFParams(), encoding=Encoding("regular", scale=2.0))
    a = simulate(net, X, 20, batch_size=7)
    b = simulate(net, X, 20, batch_size=1000)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    for sa, sb in zip(a.spikes_per_step, b.spikes_per_step, strict=True):
        np.testing.assert_array_equal(sa, sb)


def test_counts_are_exact(rng):
    # a network with pruned synapses: the fan-out is the number of non-zero weights
    sizes = (4, 5, 3)
    net = make_net(rng, N.IFParams(), sizes=sizes, encoding=Encoding("regular", scale=1.0))
    w1 = net.layers[1].weight.copy()
    w1[:, 0] = 0.0
    w1[1:, 2] = 0.0
    net = net.replace(layers=(net.layers[0], Layer(w1, net.layers[1].bias, None, name="out")))
    X = rng.normal(size=(9, 4)).astype(np.float32)
    T = 12
    res = simulate(net, X, T)
    _, spikes, _ = reference(net, X, T)
    fan1 = np.array([0, 3, 1, 3, 3])
    np.testing.assert_array_equal(net.layers[1].fan_out(), fan1)
    syn = res.synops_per_inference()
    assert syn[1] == pytest.approx(spikes[0] @ fan1 / len(X), rel=1e-12)
    # input events: regular coding of |x| <= 1 gives round(|x| t) events per feature
    events = np.floor(np.minimum(np.abs(X), 1.0) * T + 0.5).sum(axis=0)
    np.testing.assert_allclose(res.input_events_per_step.sum(axis=0), events, rtol=0, atol=1e-9)
    assert syn[0] == pytest.approx(events @ net.layers[0].fan_out() / len(X), rel=1e-9)
    assert res.neuron_updates_per_inference().tolist() == [5 * T, 3 * T]
    c = res.op_counts()
    assert c["ann_macs"] == 4 * 5 + 5 * 3
    assert c["input_macs"] == 0
    assert c["synops"] == pytest.approx(syn.sum())
    rate = res.firing_rate_hz()
    assert rate[0] == pytest.approx(spikes[0].sum() / (len(X) * 5 * T * net.dt))


def test_current_encoding_counts_first_layer_macs(rng, X):
    net = make_net(rng, N.IFParams())
    res = simulate(net, X, 5)
    assert res.synops_per_inference()[0] == 0
    assert res.op_counts()["input_macs"] == SIZES[0] * SIZES[1]


def test_count_ann_macs():
    assert count_ann_macs([16, 64, 32, 32, 5]) == 4256
    with pytest.raises(ConfigError):
        count_ann_macs([16])


def test_poisson_encoding_is_seeded_and_unbiased(rng):
    net = make_net(rng, N.IFParams(), encoding=Encoding("poisson", scale=2.0))
    X = rng.uniform(-2.5, 2.5, size=(200, SIZES[0])).astype(np.float32)
    a = simulate(net, X, 50, seed=3)
    b = simulate(net, X, 50, seed=3)
    c = simulate(net, X, 50, seed=4)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    assert not np.array_equal(a.input_events_per_step, c.input_events_per_step)
    # events per feature per step = mean of min(|x|/scale, 1) over jets (binomial, 10k draws per feature)
    expect = np.minimum(np.abs(X) / 2.0, 1.0).mean(axis=0)
    got = a.input_events_per_step.sum(axis=0) / (50 * len(X))
    np.testing.assert_allclose(got, expect, rtol=0, atol=0.02)


def test_pure_poisson_encoder_mean(rng):
    X = torch.tensor([[0.5, -1.0, 3.0]])
    enc = Encoding("poisson", scale=2.0)
    st_ = encoder_init(X.expand(20000, 3), enc)
    ev, _ = encoder_step(st_, enc, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(ev.mean(0).numpy(), [0.5, -1.0, 2.0], rtol=0, atol=0.05)
    assert set(np.unique(ev.numpy())) <= {-2.0, 0.0, 2.0}


def test_probes(rng, X):
    net = make_net(rng, N.IFParams())
    jets = (0, 5, 39)
    pr = Probes(jets=jets, output=True, membrane={0: (1, 3), 2: (0,)}, raster=True, jet_spikes=True, score_steps=(4,))
    res = simulate(net, X, 15, probes=pr, batch_size=16)
    assert res.output_trace.shape == (15, 3, 3)
    assert res.membrane_trace[0].shape == (15, 3, 2)
    assert res.membrane_trace[2].shape == (15, 3, 1)
    assert res.raster[1].shape == (15, 3, 8)
    # the output trace at T is the final score of those jets
    np.testing.assert_allclose(res.output_trace[-1], res.scores[list(jets)], rtol=1e-6)
    # raster of all jets sums to the per-step counts
    full = simulate(net, X, 15, probes=Probes(raster=True, jet_spikes=True))
    for i in range(2):
        np.testing.assert_array_equal(full.raster[i].sum(axis=1), full.spikes_per_step[i])
        np.testing.assert_array_equal(full.jet_spikes[:, i], full.raster[i].sum(axis=(0, 2)))
    # scores kept at step 4 equal those of a 4-step run
    np.testing.assert_allclose(res.scores_at[4], simulate(net, X, 4).scores, rtol=1e-6)
    # membrane trace of layer 0 neuron 1 of jet 5 matches the pure IF recurrence
    z = (net.layers[0].weight @ X[5] + net.layers[0].bias)[1]
    v, trace = 0.0, []
    for _ in range(15):
        v += z
        if v >= 1.0:
            v -= 1.0
        trace.append(v)
    np.testing.assert_allclose(res.membrane_trace[0][:, 1, 0], trace, rtol=1e-5, atol=1e-5)


def test_accuracy_per_step(rng, X):
    net = make_net(rng, N.IFParams())
    res = simulate(net, X, 10)
    y = res.predictions_at(10)
    acc = res.accuracy(y)
    assert acc.shape == (10,)
    assert acc[-1] == 1.0
    assert res.accuracy_at(y, 10) == 1.0
    with pytest.raises(ConfigError):
        res.accuracy(y[:3])


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({"T": 0}, ConfigError),
        ({"T": "many"}, ConfigError),
        ({"T": 5, "batch_size": 0}, ConfigError),
        ({"T": 5, "steps": [0, 3]}, ConfigError),
        ({"T": 5, "probes": Probes(membrane={7: (0,)})}, ConfigError),
        ({"T": 5, "probes": Probes(membrane={0: (99,)})}, ConfigError),
        ({"T": 5, "probes": Probes(jets=(1000,), output=True)}, ConfigError),
    ],
)
def test_bad_arguments(rng, X, kwargs, err):
    net = make_net(rng, N.IFParams())
    with pytest.raises(err):
        simulate(net, X, **kwargs)


def test_bad_features(rng, X):
    net = make_net(rng, N.IFParams())
    with pytest.raises(ModelError, match="shape"):
        simulate(net, X[:, :3], 5)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        simulate(net, bad, 5)
    with pytest.raises(ModelError):
        simulate("not a net", X, 5)


def test_threads_are_restored(rng, X):
    net = make_net(rng, N.IFParams())
    torch.set_num_threads(2)
    a = simulate(net, X, 5, threads=1)
    assert torch.get_num_threads() == 2
    b = simulate(net, X, 5, threads=None)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    with pytest.raises(ConfigError, match="threads"):
        simulate(net, X, 5, threads=0)
    assert torch.get_num_threads() == 2
