"""The inference engine against the references it replaces for speed.

Float engine (:mod:`spikejet.snn.engine`) vs the reference simulator: the
neuron, encoder and read-out arithmetic is the same float32 arithmetic; only the
synaptic sums may add the same weights in another order than BLAS does, so a
membrane within float32 rounding of its threshold may spike a step earlier or
later. Tolerances: the class of at least 99 % of (jet, step) pairs agrees,
scores agree to 1e-5 for at least 99 % of jets, spike totals to 1 %. (On the
2-core AMD EPYC test machine they agree exactly: the kernel adds in MKL's order.)

Integer engine (:mod:`spikejet.snn.engine_loihi`) vs the integer Loihi model and
the Lava golden traces: bit for bit, every field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikejet.errors import ConfigError, HardwareError, ModelError
from spikejet.hardware import loihi as L
from spikejet.snn import engine
from spikejet.snn import neurons as N
from spikejet.snn.encoding import Encoding
from spikejet.snn.engine_loihi import simulate_loihi
from spikejet.snn.network import Layer, SpikingNetwork
from spikejet.snn.readout import Readout
from spikejet.snn.simulate import Probes, simulate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIXTURES = Path(__file__).parent / "fixtures" / "lava"
LAVA_CASES = ("if_nodecay", "cuba_bias_wexp", "negative_rounding", "overflow", "graded_input")

#: Agreement demanded of the float engine (see the module docstring).
PRED_AGREEMENT = 0.99
SCORE_ATOL = 1e-5
SCORE_JETS = 0.99
SPIKE_RTOL = 0.01


def make_net(rng, sizes, neuron, *, readout="membrane", encoding=None, out_neuron=None, scale=0.6):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        w = rng.normal(0.0, scale / np.sqrt(a / 6.0), size=(b, a)).astype(np.float32)
        bias = rng.normal(0.05, 0.1, size=b).astype(np.float32)
        last = i == len(sizes) - 2
        layers.append(Layer(w, bias, out_neuron if last else neuron, name=f"fc{i}"))
    return SpikingNetwork(tuple(layers), encoding=encoding or Encoding(), readout=Readout(readout))


def assert_agrees(fast, ref):
    assert fast.predictions.shape == ref.predictions.shape
    assert (fast.predictions == ref.predictions).mean() >= PRED_AGREEMENT
    close = np.isclose(fast.scores, ref.scores, rtol=SCORE_ATOL, atol=SCORE_ATOL).all(axis=1)
    assert close.mean() >= SCORE_JETS
    for a, b in zip(fast.spikes_per_step, ref.spikes_per_step, strict=True):
        assert a.shape == b.shape
        assert a.sum() == pytest.approx(b.sum(), rel=SPIKE_RTOL, abs=1.0)
    if ref.input_events_per_step is None:
        assert fast.input_events_per_step is None
    else:
        np.testing.assert_array_equal(fast.input_events_per_step, ref.input_events_per_step)
    fo, ro = fast.op_counts(), ref.op_counts()
    assert fo["synops"] == pytest.approx(ro["synops"], rel=SPIKE_RTOL, abs=1.0)
    assert fo["input_macs"] == ro["input_macs"] and fo["ann_macs"] == ro["ann_macs"]
    assert fo["neuron_updates"] == ro["neuron_updates"]


NEURONS = {
    "if-sub": N.IFParams(threshold=1.0, reset="subtract"),
    "if-zero": N.IFParams(threshold=0.7, reset="zero", v_init=0.35),
    "lif-zero": N.LIFParams(tau_mem=0.02, tau_syn=0.005, threshold=1.0, reset="zero"),
    "lif-sub": N.LIFParams(tau_mem=0.05, tau_syn=0.0, threshold=0.5, reset="subtract", v_init=0.1),
}
SHAPES = {
    "small": (6, 10, 8, 3),
    "study": (16, 64, 32, 32, 5),
    "wide": (5, 70, 20, 4),       # a layer over 64 neurons: two mask words
    "huge": (4, 140, 130, 3),     # rows over 128 floats: the plain-loop fallback
}


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("neuron", list(NEURONS), ids=list(NEURONS))
@pytest.mark.parametrize("enc", ["current", "regular", "poisson"])
def test_float_engine_matches_simulator(rng, shape, neuron, enc):
    encoding = Encoding(enc) if enc == "current" else Encoding(enc, scale=1.5)
    net = make_net(rng, SHAPES[shape], NEURONS[neuron], encoding=encoding)
    X = rng.normal(size=(60, SHAPES[shape][0])).astype(np.float32)
    ref = simulate(net, X, 20, seed=3)
    fast = engine.simulate(net, X, 20, seed=3)
    assert_agrees(fast, ref)


@pytest.mark.parametrize("readout", ["count", "filtered-exp", "filtered-alpha", "membrane-filtered"])
def test_float_engine_readouts(rng, readout):
    p = N.IFParams(threshold=1.0, reset="subtract")
    if readout == "count":
        net = make_net(rng, SHAPES["small"], p, readout="count", out_neuron=p)
    elif readout == "membrane-filtered":
        net = make_net(rng, SHAPES["small"], p).replace(readout=Readout("filtered", filter="exp", tau=0.004))
    else:
        net = make_net(rng, SHAPES["small"], p, readout="count", out_neuron=p)
        net = net.replace(readout=Readout("filtered", filter=readout.split("-")[1], tau=0.004))
    X = rng.normal(size=(80, 6)).astype(np.float32)
    assert_agrees(engine.simulate(net, X, 25), simulate(net, X, 25))


def test_float_engine_spiking_relu_several_spikes_per_step(rng):
    p = N.SpikingReLUParams(amplitude=0.001, max_rate=3000.0)
    net = make_net(rng, SHAPES["small"], p, readout="count", out_neuron=p)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    fast, ref = engine.simulate(net, X, 30), simulate(net, X, 30)
    # the reference folds amplitude/dt into the weights; both multiply the same way
    assert_agrees(fast, ref)
    assert fast.spikes_per_step[0].max() > len(X)  # some neuron spiked several times in one step


def test_float_engine_single_layer_network(rng):
    net = make_net(rng, (5, 3), None)
    X = rng.normal(size=(30, 5)).astype(np.float32)
    assert_agrees(engine.simulate(net, X, 4), simulate(net, X, 4))


def test_float_engine_probes_steps_batches_and_threads(rng):
    net = make_net(rng, SHAPES["study"], NEURONS["if-sub"], encoding=Encoding("regular", scale=2.0))
    X = rng.normal(size=(50, 16)).astype(np.float32)
    pr = Probes(jet_spikes=True, score_steps=(3, 7))
    ref = simulate(net, X, 12, probes=pr, steps=[1, 5, 12])
    a = engine.simulate(net, X, 12, probes=pr, steps=[1, 5, 12], batch_size=7)
    b = engine.simulate(net, X, 12, probes=pr, steps=[1, 5, 12], threads=2)
    assert_agrees(a, ref)
    assert a.steps.tolist() == [1, 5, 12]
    np.testing.assert_allclose(a.scores_at[3], ref.scores_at[3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.jet_spikes, ref.jet_spikes, rtol=0.02, atol=1.0)
    # batching and threads never change the engine's own results
    for x, y in ((a, b),):
        np.testing.assert_array_equal(x.predictions, y.predictions)
        np.testing.assert_array_equal(x.scores, y.scores)
        np.testing.assert_array_equal(x.jet_spikes, y.jet_spikes)
        for sx, sy in zip(x.spikes_per_step, y.spikes_per_step, strict=True):
            np.testing.assert_array_equal(sx, sy)


def test_float_engine_refuses_traces_and_bad_input(rng):
    net = make_net(rng, SHAPES["small"], NEURONS["if-sub"])
    X = rng.normal(size=(10, 6)).astype(np.float32)
    with pytest.raises(ConfigError, match="traces"):
        engine.simulate(net, X, 5, probes=Probes(output=True))
    with pytest.raises(ConfigError):
        engine.simulate(net, X, 0)
    with pytest.raises(ConfigError):
        engine.simulate(net, X, 5, threads=0)
    with pytest.raises(ConfigError):
        engine.simulate(net, X, 5, steps=[6])
    with pytest.raises(ModelError, match="shape"):
        engine.simulate(net, X[:, :2], 5)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ModelError, match="NaN"):
        engine.simulate(net, bad, 5)
    with pytest.raises(ModelError):
        engine.simulate("net", X, 5)


GENERATED_CASES = {
    "study-if-sub": ((16, 64, 32, 32, 5), "if-sub", "membrane", None),
    "wide-lif-zero": ((5, 70, 20, 4), "lif-zero", "membrane", None),
    "small-if-zero-count": ((6, 10, 8, 3), "if-zero", "count", "spiking"),
    "small-lif-sub-alpha": ((6, 10, 8, 3), "lif-sub", "filtered-alpha", "spiking"),
    "two-blocks-exp": ((7, 100, 66, 3), "if-sub", "filtered-exp", None),
}


@pytest.mark.parametrize("case", list(GENERATED_CASES), ids=list(GENERATED_CASES))
def test_generated_kernel_equals_generic_kernel(rng, case, monkeypatch):
    """The kernels generated per shape (``snn/_codegen.py``) do the generic kernel's arithmetic:
    identical results, every field, for any jet count (4 jets side by side, plus a remainder)."""
    from spikejet.snn import _codegen

    shape, neuron, readout, out = GENERATED_CASES[case]
    p = NEURONS[neuron]
    ro = Readout("filtered", filter=readout.split("-")[1], tau=0.004) if readout.startswith("filtered") \
        else Readout(readout)
    net = make_net(rng, shape, p, out_neuron=p if out else None, readout="count" if out else "membrane")
    net = net.replace(readout=ro)
    assert _codegen.supports(engine._plan(net), net.n_outputs)
    X = rng.normal(size=(23, shape[0])).astype(np.float32)
    pr = Probes(jet_spikes=True, score_steps=(2, 9))
    gen = [engine.simulate(net, X, 9, probes=pr), engine.simulate(net, X, 9, probes=pr, threads=2),
           engine.simulate(net, X, 9, probes=pr, batch_size=5)]
    monkeypatch.setattr(engine, "GENERATED_KERNELS", False)
    ref = engine.simulate(net, X, 9, probes=pr)
    for g in gen:
        np.testing.assert_array_equal(g.predictions, ref.predictions)
        np.testing.assert_array_equal(g.scores, ref.scores)
        np.testing.assert_array_equal(g.scores_at[2], ref.scores_at[2])
        np.testing.assert_array_equal(g.jet_spikes, ref.jet_spikes)
        for a, b in zip(g.spikes_per_step, ref.spikes_per_step, strict=True):
            np.testing.assert_array_equal(a, b)
    assert_agrees(gen[0], simulate(net, X, 9))


def test_generated_kernel_applies_only_where_it_can(rng):
    from spikejet.snn import _codegen

    ok = make_net(rng, SHAPES["study"], NEURONS["if-sub"])
    assert _codegen.supports(engine._plan(ok), ok.n_outputs)
    for net in (make_net(rng, SHAPES["huge"], NEURONS["if-sub"]),                       # rows over 128
                make_net(rng, SHAPES["small"], NEURONS["if-sub"], encoding=Encoding("regular", scale=1.5)),
                make_net(rng, SHAPES["small"], N.SpikingReLUParams(amplitude=0.001, max_rate=3000.0)),
                make_net(rng, (5, 3), None)):
        assert not _codegen.supports(engine._plan(net), net.n_outputs)


# ----------------------------------------------------------------- streaming


def test_chunks_give_the_one_call_result(rng):
    net = make_net(rng, SHAPES["study"], NEURONS["if-sub"], encoding=Encoding("poisson", scale=2.0))
    X = rng.normal(size=(96, 16)).astype(np.float32)
    y = rng.integers(0, 5, size=96)
    whole = engine.simulate(net, X, 10, seed=4, batch_size=16)
    seen = []
    chunks = ((X[i:i + 32], y[i:i + 32]) for i in range(0, 96, 32))
    res = engine.simulate_chunks(net, chunks, 10, seed=4, batch_size=16, progress=seen.append)
    assert res.chunk_sizes == (32, 32, 32) and seen == [32, 32, 32]
    np.testing.assert_array_equal(res.result.predictions, whole.predictions)
    np.testing.assert_array_equal(res.scores, whole.scores)
    for a, b in zip(res.result.spikes_per_step, whole.spikes_per_step, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(res.result.input_events_per_step, whole.input_events_per_step)
    assert res.accuracy_at() == pytest.approx(whole.accuracy_at(y))
    assert res.result.op_counts() == whole.op_counts()
    # without labels
    nolab = engine.simulate_chunks(net, [X[:40], X[40:]], 10, seed=4, batch_size=8)
    assert nolab.labels is None and nolab.result.n_jets == 96
    with pytest.raises(ConfigError, match="labels"):
        nolab.accuracy_at()
    with pytest.raises(ConfigError, match="no chunks"):
        engine.simulate_chunks(net, [], 10)
    with pytest.raises(ConfigError, match="every chunk"):
        engine.simulate_chunks(net, [(X[:8], y[:8]), X[8:16]], 10)


# ------------------------------------------------------------------ integer


def _lava(case: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{case}.npz") as z:
        return {k: z[k] for k in z.files}


def _lava_network(z) -> L.LoihiNetwork:
    layers = []
    for i in (1, 2):
        cp = L.CompartmentParams(du=int(z[f"du{i}"]), dv=int(z[f"dv{i}"]), vth=int(z[f"vth{i}"]),
                                 bias_mant=z[f"bias_mant{i}"], bias_exp=z[f"bias_exp{i}"])
        layers.append(L.LoihiLayer(weight_mant=z[f"w{i}_mant"], weight_exp=int(z[f"weight_exp{i}"]),
                                   compartment=cp, name=f"L{i}"))
    profile = L.LOIHI2 if int(z["input_message_bits"]) > 0 else L.LOIHI1
    return L.LoihiNetwork(tuple(layers), profile=profile)


def assert_same_run(a: L.LoihiRun, b: L.LoihiRun) -> None:
    assert (a.n_steps, a.batch) == (b.n_steps, b.batch)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.counts == b.counts
    for x, y in zip(a.spike_counts, b.spike_counts, strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.final_state, b.final_state, strict=True):
        for f in ("u", "v", "refrac"):
            np.testing.assert_array_equal(getattr(x, f), getattr(y, f))
    assert (a.traces is None) == (b.traces is None)
    if a.traces is not None:
        assert sorted(a.traces) == sorted(b.traces)
        for k in a.traces:
            assert a.traces[k].dtype == b.traces[k].dtype, k
            np.testing.assert_array_equal(a.traces[k], b.traces[k], err_msg=k)


@pytest.mark.parametrize("case", LAVA_CASES)
def test_integer_engine_reproduces_lava_golden_traces(case):
    z = _lava(case)
    net = _lava_network(z)
    inputs = z["input"].T[:, None, :]
    run = simulate_loihi(net, inputs, record=True)
    for i in (1, 2):
        for var in ("u", "v", "s"):
            mine = run.traces[f"{var}{i - 1}"][:, 0, :].astype(np.int64)
            np.testing.assert_array_equal(mine, z[f"{var}{i}"], err_msg=f"{case}: {var}{i}")
    assert_same_run(run, L.simulate(net, inputs, record=True))


def _random_loihi(rng, sizes, profile, *, reset, refractory, delays, spiking_out=True):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        last = i == len(sizes) - 2
        cp = L.CompartmentParams(
            du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 600)), vth=int(rng.integers(20, 400)),
            bias_mant=rng.integers(-300, 300, size=b), bias_exp=rng.integers(0, 4, size=b),
            refractory=refractory, reset=reset, spiking=spiking_out or not last)
        layers.append(L.LoihiLayer(
            weight_mant=rng.integers(-128, 128, size=(b, a)), weight_exp=int(rng.integers(-3, 4)),
            compartment=cp, axon_delay=delays[i], v_init=rng.integers(-2000, 2000, size=b), name=f"l{i}"))
    return L.LoihiNetwork(tuple(layers), profile=profile, readout="count" if spiking_out else "voltage")


@pytest.mark.parametrize(
    "sizes,profile,reset,refractory,delays,graded,spiking_out",
    [
        ((20, 40, 10), L.LOIHI1, "zero", 0, (1, 1), False, True),
        ((16, 64, 32, 32, 5), L.LOIHI2, "subtract", 0, (1, 1, 1, 1), False, False),
        ((70, 90, 6), L.LOIHI2, "subtract", 2, (0, 2), True, True),
        ((8, 150, 140, 4), L.LOIHI1, "zero", 1, (2, 0, 1), False, True),
    ],
    ids=["loihi1", "loihi2-study-voltage", "graded-refractory-delays", "wide-fallback"],
)
def test_integer_engine_is_bit_identical_to_the_model(rng, sizes, profile, reset, refractory, delays,
                                                     graded, spiking_out):
    net = _random_loihi(rng, sizes, profile, reset=reset, refractory=refractory, delays=delays,
                        spiking_out=spiking_out)
    T, B = 30, 12
    if graded:
        x = rng.integers(-3000, 3000, size=(T, B, sizes[0])) * (rng.random((T, B, sizes[0])) < 0.3)
    else:
        x = (rng.random((T, B, sizes[0])) < 0.3).astype(np.uint8)
    n = T + net.total_axon_delay
    ref = L.simulate(net, x, n_steps=n, record=True)
    assert sum(c.spikes for c in ref.counts) > 0
    assert_same_run(simulate_loihi(net, x, n_steps=n, record=True), ref)
    assert_same_run(simulate_loihi(net, x, n_steps=n, record_output=True, threads=2),
                    L.simulate(net, x, n_steps=n, record_output=True))
    # iterables, as run_mapped feeds the model
    assert_same_run(simulate_loihi(net, iter(list(x)), n_steps=n), L.simulate(net, iter(list(x)), n_steps=n))


def test_integer_engine_validates_like_the_model(rng):
    net = _random_loihi(rng, (4, 5, 3), L.LOIHI1, reset="zero", refractory=0, delays=(1, 1))
    with pytest.raises(HardwareError, match="binary"):
        simulate_loihi(net, np.full((3, 2, 4), 2))
    with pytest.raises(ConfigError):
        simulate_loihi(net, np.zeros((3, 4)))
    with pytest.raises(ConfigError, match="n_steps"):
        simulate_loihi(net, iter([np.zeros((2, 4))]))
    with pytest.raises(ConfigError):
        simulate_loihi(net, np.full((3, 2, 4), 0.5))
    with pytest.raises(ConfigError):
        simulate_loihi("net", np.zeros((3, 2, 4)))
