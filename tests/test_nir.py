"""NIR export/import: round trip, the Euler convention, what NIR cannot express, bad graphs, quantized export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

nir = pytest.importorskip("nir")

from spikejet.errors import HardwareError, ModelError  # noqa: E402
from spikejet.hardware import loihi as L  # noqa: E402
from spikejet.interop import nir as nir_io  # noqa: E402
from spikejet.snn import neurons as N  # noqa: E402
from spikejet.snn.encoding import Encoding  # noqa: E402
from spikejet.snn.network import Layer, SpikingNetwork  # noqa: E402
from spikejet.snn.readout import Readout  # noqa: E402
from spikejet.snn.simulate import simulate  # noqa: E402

#: A step that is a power of two, so that dt * (1/dt) == 1 exactly in float arithmetic.
DT_EXACT = 2.0**-10


def _neuron(kind: str, *, reset: str = "zero", v_init: float = 0.0, threshold: float = 1.0, dt: float = 1e-3):
    if kind == "if":
        return N.IFParams(threshold=threshold, reset=reset, v_init=v_init)
    if kind == "lif":
        return N.LIFParams(tau_mem=0.02, tau_syn=0.0, threshold=threshold, reset=reset, dt=dt, v_init=v_init)
    return N.LIFParams(tau_mem=0.02, tau_syn=0.005, threshold=threshold, reset=reset, dt=dt, v_init=v_init)


def _net(rng, sizes=(16, 24, 12, 5), *, kind="if", reset="zero", v_init=0.0, readout="membrane",
         encoding="current", dt=1e-3, w_scale=1.5) -> SpikingNetwork:
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        last = i == len(sizes) - 2
        nrn = None if (last and readout != "count") else _neuron(kind, reset=reset, v_init=v_init, dt=dt)
        layers.append(Layer(weight=rng.normal(0, w_scale / np.sqrt(a), (b, a)), bias=rng.normal(0, 0.1, b),
                            neuron=nrn, name=f"fc{i}"))
    return SpikingNetwork(tuple(layers), encoding=Encoding(encoding, 2.0), readout=Readout(readout), dt=dt,
                          class_names=tuple("gqwzt"[: sizes[-1]]), feature_names=tuple(f"f{i}" for i in range(sizes[0])),
                          scaler={"mean": [0.5] * sizes[0], "scale": [2.0] * sizes[0]}, meta={"method": "test"})


def _euler_reference(graph, X: np.ndarray, T: int, dt: float) -> np.ndarray:
    """Mean graph output over T steps, computed from NIR's equations (forward Euler, step dt),
    independently of spikejet's import. Inputs are given as the graph's input every step."""
    order, succ = [], {a: b for a, b in graph.edges}
    key = next(k for k, v in graph.nodes.items() if isinstance(v, nir.Input))
    while key in succ:
        key = succ[key]
        order.append(key)
    state: dict[str, dict[str, np.ndarray]] = {}
    acc = 0.0
    for _ in range(T):
        x = X.astype(np.float64)
        for k in order:
            node = graph.nodes[k]
            if isinstance(node, nir.Affine | nir.Linear):
                x = x @ np.asarray(node.weight, np.float64).T
                if isinstance(node, nir.Affine):
                    x = x + np.asarray(node.bias, np.float64)
            elif isinstance(node, nir.IF):
                v = state.setdefault(k, {"v": np.zeros(x.shape)})["v"]
                v = v + dt * node.r * x
                z = (v > node.v_threshold).astype(np.float64)
                state[k]["v"] = np.where(z > 0, node.v_reset, v)
                x = z
            elif isinstance(node, nir.LIF):
                v = state.setdefault(k, {"v": np.zeros(x.shape)})["v"]
                v = v + dt / node.tau * (node.v_leak - v + node.r * x)
                z = (v > node.v_threshold).astype(np.float64)
                state[k]["v"] = np.where(z > 0, node.v_reset, v)
                x = z
            elif isinstance(node, nir.CubaLIF):
                s = state.setdefault(k, {"v": np.zeros(x.shape), "i": np.zeros(x.shape)})
                s["i"] = s["i"] + dt / node.tau_syn * (-s["i"] + node.w_in * x)
                v = s["v"] + dt / node.tau_mem * (node.v_leak - s["v"] + node.r * s["i"])
                z = (v > node.v_threshold).astype(np.float64)
                s["v"] = np.where(z > 0, node.v_reset, v)
                x = z
            elif isinstance(node, nir.Output):
                break
        acc = acc + x
    return acc / T


# --------------------------------------------------------------------------- round trip


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["if", "lif", "cuba"]),
    v_init=st.sampled_from([0.0, 0.5, 0.25]),
    readout=st.sampled_from(["membrane", "count", "filtered"]),
    encoding=st.sampled_from(["current", "poisson", "regular"]),
    hidden=st.integers(1, 20),
)
def test_write_read_round_trip_gives_identical_predictions(tmp_path, seed, kind, v_init, readout, encoding,
                                                           hidden) -> None:
    rng = np.random.default_rng(seed)
    net = _net(rng, sizes=(6, hidden, 7, 3), kind=kind, v_init=v_init, readout=readout, encoding=encoding)
    path = nir_io.write_nir(tmp_path / f"net{seed}.nir", net)
    back = nir_io.read_nir(path)
    X = rng.normal(0, 1.5, (32, 6)).astype(np.float32)
    a, b = simulate(net, X, 16, seed=3), simulate(back, X, 16, seed=3)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.scores, b.scores)
    for la, lb in zip(net.layers, back.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)
        assert la.name == lb.name
        if la.neuron is None:
            assert lb.neuron is None
            continue
        assert lb.neuron.reset == "zero"
        assert lb.neuron.threshold == pytest.approx(la.neuron.threshold, rel=1e-7)
        assert lb.neuron.v_init == pytest.approx(la.neuron.v_init, rel=1e-7, abs=1e-12)
        if kind != "if":
            assert lb.neuron.decay_mem == pytest.approx(la.neuron.decay_mem, rel=1e-12)
            assert lb.neuron.decay_syn == pytest.approx(la.neuron.decay_syn, rel=1e-12, abs=1e-15)
    for attr in ("encoding", "readout", "dt", "class_names", "feature_names", "scaler"):
        assert getattr(back, attr) == getattr(net, attr), attr
    assert back.meta["method"] == "test" and back.meta["imported_from"] == "nir"


def test_graph_structure_and_metadata(rng) -> None:
    net = _net(rng, kind="cuba")
    g = nir_io.to_nir(net)
    kinds = [type(g.nodes[b]).__name__ for _, b in g.edges]
    assert kinds == ["Affine", "CubaLIF", "Affine", "CubaLIF", "Affine", "Output"]
    assert g.metadata["dt"] == net.dt and g.metadata["spikejet_format"] == nir_io.FORMAT
    assert "Euler" in g.metadata["discretization"]
    spec = json.loads(g.metadata["spikejet_spec"])
    assert spec["readout"]["kind"] == "membrane" and spec["class_names"] == list(net.class_names)
    node = g.nodes["fc0_cubalif"]
    a, b = net.layers[0].neuron.decay_syn, net.layers[0].neuron.decay_mem
    # Euler decays of the exported time constants are spikejet's decays; gains are 1
    np.testing.assert_allclose(1 - net.dt / node.tau_syn, a, rtol=1e-12)
    np.testing.assert_allclose(1 - net.dt / node.tau_mem, b, rtol=1e-12)
    np.testing.assert_allclose(net.dt / node.tau_syn * node.w_in, 1.0, rtol=1e-12)
    np.testing.assert_allclose(net.dt / node.tau_mem * node.r, 1.0, rtol=1e-12)


@pytest.mark.parametrize("kind", ["if", "lif", "cuba"])
def test_export_follows_the_nir_equations(rng, kind) -> None:
    """An independent Euler evaluation of the exported graph reproduces spikejet's simulator."""
    net = _net(rng, sizes=(16, 32, 16, 5), kind=kind, v_init=0.25)
    X = rng.normal(0, 1.5, (400, 16)).astype(np.float32)
    T = 32
    ref = _euler_reference(nir_io.to_nir(net), X, T, net.dt)
    res = simulate(net, X, T)
    agree = (ref.argmax(1) == res.scores.argmax(1)).mean()
    # float64 reference vs float32 simulator: a rounding difference can move a spike by a step
    assert agree >= 0.98
    assert np.median(np.abs(ref - res.scores)) < 1e-5


def test_threshold_equality_spikes_as_in_spikejet() -> None:
    """spikejet fires at v >= threshold, NIR at v > v_threshold: the export keeps the equality case."""
    # one IF neuron, input 0.25 per step: v reaches exactly 1.0 at step 4
    layer = Layer(weight=np.array([[0.25]]), bias=np.zeros(1), neuron=N.IFParams(threshold=1.0, reset="zero"))
    out = Layer(weight=np.array([[1.0]]), bias=np.zeros(1), neuron=None)
    net = SpikingNetwork((layer, out), readout=Readout("membrane"), dt=DT_EXACT)
    g = nir_io.to_nir(net)
    assert g.nodes["layer0_if"].v_threshold[0] < 1.0
    X = np.ones((1, 1), np.float32)
    ref = _euler_reference(g, X, 8, DT_EXACT)  # spikes at steps 4 and 8
    assert ref[0, 0] == pytest.approx(2 / 8)
    assert simulate(net, X, 8).scores[0, 0] == pytest.approx(2 / 8)
    # a naive export (v_threshold = threshold) would fire only when v exceeds 1
    g.nodes["layer0_if"].v_threshold = np.array([1.0], np.float32)
    assert _euler_reference(g, X, 8, DT_EXACT)[0, 0] == pytest.approx(1 / 8)


# --------------------------------------------------------------------------- what NIR cannot express


def test_reset_by_subtraction_is_refused_unless_allowed(rng, tmp_path) -> None:
    net = _net(rng, reset="subtract", v_init=0.5)
    with pytest.raises(HardwareError, match="subtract.*allow_reset_change"):
        nir_io.to_nir(net)
    with pytest.raises(HardwareError):
        nir_io.write_nir(tmp_path / "x.nir", net)
    assert not (tmp_path / "x.nir").exists()
    g = nir_io.to_nir(net, allow_reset_change=True)
    assert g.nodes["fc0_if"].metadata["spikejet_reset_changed"] == "subtract -> zero"
    assert "fc1: reset subtract -> zero" in g.metadata["semantic_changes"]
    back = nir_io.from_nir(g)
    assert all(ly.neuron.reset == "zero" for ly in back.layers if ly.neuron is not None)
    assert back.meta["semantic_changes"].startswith("layer fc0")
    # the file describes the zero-reset network exactly
    zero = net.replace(layers=tuple(
        Layer(ly.weight, ly.bias, None if ly.neuron is None else N.IFParams(1.0, "zero", 0.5), ly.name)
        for ly in net.layers))
    X = rng.normal(0, 1.5, (128, 16)).astype(np.float32)
    np.testing.assert_array_equal(simulate(zero, X, 20).scores, simulate(back, X, 20).scores)


def test_neurons_nir_cannot_express_are_refused(rng) -> None:
    net = _net(rng)
    relu = Layer(net.layers[0].weight, net.layers[0].bias, N.SpikingReLUParams(), "fc0")
    with pytest.raises(HardwareError, match="spiking_relu.*no NIR node"):
        nir_io.to_nir(net.replace(layers=(relu, *net.layers[1:])))
    no_leak = N.LIFParams(tau_mem=float("inf"), tau_syn=0.005, reset="zero")
    bad = Layer(net.layers[0].weight, net.layers[0].bias, no_leak, "fc0")
    with pytest.raises(HardwareError, match="without leak"):
        nir_io.to_nir(net.replace(layers=(bad, *net.layers[1:])))
    # a LIF without leak and without synaptic filter is an IF neuron
    plain = Layer(net.layers[0].weight, net.layers[0].bias,
                  N.LIFParams(tau_mem=float("inf"), tau_syn=0.0, reset="zero"), "fc0")
    g = nir_io.to_nir(net.replace(layers=(plain, *net.layers[1:])))
    assert isinstance(g.nodes["fc0_if"], nir.IF)


# --------------------------------------------------------------------------- import of other graphs


def _foreign(nodes: dict, edges: list, metadata=None):
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata or {}, type_check=False)


def test_import_folds_gains_and_per_neuron_thresholds(rng) -> None:
    """A graph as another framework writes it (IF with r = 1, per-neuron thresholds, a reset value)."""
    dt = 1e-3
    w0 = rng.normal(0, 300, (4, 3))
    w1 = rng.normal(0, 0.5, (2, 4))
    g = _foreign(
        {
            "in": nir.Input(input_type={"input": np.array([3])}),
            "a0": nir.Linear(weight=w0),
            "if0": nir.IF(r=np.ones(4), v_threshold=np.array([1.0, 2.0, 0.5, 1.5]), v_reset=np.zeros(4)),
            "a1": nir.Affine(weight=w1, bias=np.zeros(2)),
            "lif1": nir.LIF(tau=np.full(2, 0.01), r=np.full(2, 2.0), v_leak=np.full(2, -0.2),
                            v_threshold=np.full(2, 0.3), v_reset=np.full(2, -0.2)),
            "out": nir.Output(output_type={"output": np.array([2])}),
        },
        [("in", "a0"), ("a0", "if0"), ("if0", "a1"), ("a1", "lif1"), ("lif1", "out")],
    )
    net = nir_io.from_nir(g, dt=dt)
    assert net.readout.kind == "count" and isinstance(net.layers[0].neuron, N.IFParams)
    assert net.layers[1].neuron.v_init == pytest.approx(0.2)
    X = rng.normal(0, 1, (300, 3)).astype(np.float32)
    ref = _euler_reference(g, X, 40, dt)
    res = simulate(net, X, 40)
    assert (np.abs(ref - res.scores) < 1e-6).mean() >= 0.98


def _chain_graph(extra_nodes=None, edges=None, metadata=None):
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2])}),
        "a": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
        "n": nir.IF(r=np.full(2, 1000.0), v_threshold=np.ones(2)),
        "b": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
        "out": nir.Output(output_type={"output": np.array([2])}),
    }
    nodes.update(extra_nodes or {})
    e = edges or [("in", "a"), ("a", "n"), ("n", "b"), ("b", "out")]
    return _foreign(nodes, e, {"dt": 1e-3} if metadata is None else metadata)


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (lambda: _chain_graph(metadata={}), "does not state its time step"),
        (lambda: _chain_graph({"x": nir.Affine(weight=np.eye(2), bias=np.zeros(2))},
                              [("in", "a"), ("a", "n"), ("n", "b"), ("n", "x"), ("b", "out")]), "successors"),
        (lambda: _chain_graph(edges=[("in", "a"), ("a", "n"), ("n", "a"), ("b", "out")]), "cycle"),
        (lambda: _chain_graph({"d": nir.Delay(delay=np.ones(2))},
                              [("in", "a"), ("a", "d"), ("d", "n"), ("n", "b"), ("b", "out")]), "Delay"),
        (lambda: _chain_graph(edges=[("in", "n"), ("n", "a"), ("a", "b"), ("b", "out")]), "expects Affine"),
        (lambda: _chain_graph({"n": nir.LIF(tau=np.full(2, 1e-4), r=np.ones(2), v_leak=np.zeros(2),
                                            v_threshold=np.ones(2))}), "unstable"),
        (lambda: _chain_graph({"n": nir.LIF(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.full(2, 0.5),
                                            v_threshold=np.ones(2))}), "v_leak"),
        (lambda: _chain_graph({"n": nir.IF(r=np.ones(2), v_threshold=np.array([1.0, 2.0]),
                                           v_reset=np.array([0.0, -1.0]))}), "one spikejet threshold"),
        (lambda: _chain_graph({"m": nir.Output(output_type={"output": np.array([2])})}), "Output"),
    ],
)
def test_import_refuses_what_spikejet_cannot_read(graph, message) -> None:
    with pytest.raises(ModelError, match=message):
        nir_io.from_nir(graph())


def test_read_nir_errors(tmp_path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        nir_io.read_nir(tmp_path / "missing.nir")
    bad = tmp_path / "bad.nir"
    bad.write_text("not hdf5")
    with pytest.raises(ModelError, match="not a readable NIR file"):
        nir_io.read_nir(bad)
    with pytest.raises(ModelError, match="SpikingNetwork"):
        nir_io.to_nir("not a network")


# --------------------------------------------------------------------------- quantized (Loihi-mapped) export


@pytest.mark.parametrize("profile", ["loihi1", "loihi2"])
def test_quantized_export_carries_the_chip_integers(rng, tmp_path, profile) -> None:
    net = _net(rng, sizes=(16, 32, 16, 5), reset="zero" if profile == "loihi1" else "subtract")
    mapping = L.map_network(net, profile=profile, n_steps=32)
    if profile == "loihi2":  # keeps reset by subtraction: refused unless allowed
        with pytest.raises(HardwareError, match="subtract"):
            nir_io.mapping_to_nir(mapping, net)
        g = nir_io.mapping_to_nir(mapping, net, allow_reset_change=True)
    else:
        g = nir_io.mapping_to_nir(mapping, net)
    path = nir_io.write_nir(tmp_path / "q.nir", g)
    g2 = nir.read(path)
    assert g2.metadata["loihi_profile"] == profile
    assert int(g2.metadata["loihi_total_axon_delay"]) == mapping.network.total_axon_delay
    deq = nir_io.dequantize(mapping, net)
    back = nir_io.from_nir(g2)
    for k, (chip, q) in enumerate(zip(mapping.network.layers, mapping.quantization, strict=True)):
        node = g2.nodes[f"fc{k + 1}_affine"]
        np.testing.assert_array_equal(node.metadata["loihi_weight_mant"], chip.weight_mant)
        assert int(node.metadata["loihi_weight_exp"]) == chip.weight_exp
        unit = 2.0 ** (L.WEIGHT_MIXED_SIGN_SHIFT + L.ACT_SHIFT + chip.weight_exp)
        np.testing.assert_allclose(back.layers[k + 1].weight, chip.weight_mant * unit / q.scale, rtol=1e-6)
        np.testing.assert_array_equal(back.layers[k + 1].weight, deq.layers[k + 1].weight)
        if chip.compartment.spiking:
            assert back.layers[k + 1].neuron.threshold == pytest.approx(
                chip.compartment.vth_eff / q.scale, rel=1e-7)
    # the first layer stays off-chip, in float, as it was
    np.testing.assert_array_equal(back.layers[0].weight, net.layers[0].weight)
    # the dequantized float network decides like the integer chip model (rounding, delays aside)
    X = rng.normal(0, 1.5, (400, 16)).astype(np.float32)
    chip_pred = L.run_mapped(mapping, X, 32).predictions
    deq_res = simulate(deq, X, 32)
    assert (deq_res.predictions_at(32) == chip_pred).mean() >= 0.9
    if profile == "loihi1":  # same reset: the file is the dequantized network
        np.testing.assert_array_equal(simulate(back, X, 32).scores, deq_res.scores)


def test_dequantize_folds_split_signed_input_back(rng) -> None:
    net = _net(rng, sizes=(8, 12, 5), reset="zero", encoding="regular")
    mapping = L.map_network(net, profile="loihi1", first_layer_offchip=False, n_steps=32)
    assert mapping.network.layers[0].n_in == 16
    deq = nir_io.dequantize(mapping, net)
    assert deq.layers[0].n_in == 8
    q = mapping.quantization[0]
    np.testing.assert_allclose(deq.layers[0].weight, net.layers[0].weight, atol=q.weight_step / 2 / 2.0 + 1e-7)
