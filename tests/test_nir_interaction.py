"""NIR export and read-back of the spiking interaction network: round trip, the independent NIR simulator, bad graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from _nir_reference import simulate_nir  # noqa: E402
from spikejet.errors import ConfigError, ModelError  # noqa: E402
from spikejet.interop import nir_deepsets as nd  # noqa: E402
from spikejet.interop import nir_interaction as ni  # noqa: E402
from spikejet.snn.interaction import SpikingInteractionNet  # noqa: E402
from spikejet.snn.particle import (  # noqa: E402
    SpikingDeepSets,
    SpikingDeepSetsOptions,
    evaluate_spiking_particles,
)

F, P, B = 4, 5, 20


def _net(seed: int, *, reset: str = "subtract", n_global: int = 0, v_init: float = 0.5,
         cls_hidden: tuple[int, ...] = (5,), edge: tuple[int, ...] = (9, 7)) -> SpikingInteractionNet:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    node = (F + edge[-1], 8, 6)
    cls = (node[-1] + n_global, *cls_hidden, 3)
    n_spiking = len(edge) + len(node) - 1 + len(cls_hidden)
    net = SpikingInteractionNet((2 * F, *edge), node, cls, n_global, SpikingDeepSetsOptions(reset=reset, v_init=v_init),
                                thresholds=list(rng.uniform(0.4, 1.6, n_spiking)))
    with torch.no_grad():  # larger weights and biases than torch's default init: the layers spike often
        for name, p in net.named_parameters():
            if name != "log_threshold" and name != "leak_logit":
                p.mul_(2.0)
    return net.eval()


def _inputs(seed: int, n_global: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    x = rng.normal(size=(B, P, F)).astype(np.float32)
    mask = rng.random((B, P)) < 0.6
    mask[0] = False  # a jet without particles
    mask[1] = True  # one that fills every slot
    mask[2] = [True] + [False] * (P - 1)  # and one with a single particle (no pair)
    x[~mask] = 0.0
    out = [x, mask]
    if n_global:
        out.append(rng.normal(size=(B, n_global)).astype(np.float32))
    return out


def _nir_inputs(inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    return ni.interaction_nir_inputs(*inputs)


CASES = [
    pytest.param("subtract", 0, (5,), id="subtract"),
    pytest.param("subtract", 3, (5, 4), id="subtract-jet-2hidden"),
    pytest.param("zero", 0, (5,), id="zero"),
    pytest.param("zero", 3, (), id="zero-jet-no-hidden"),
    pytest.param("subtract", 3, (), id="subtract-jet-no-hidden"),
]


@pytest.mark.parametrize(("reset", "n_global", "hidden"), CASES)
def test_write_read_round_trip_gives_the_same_logits(tmp_path, reset, n_global, hidden):
    net = _net(1, reset=reset, n_global=n_global, cls_hidden=hidden)
    inputs = _inputs(1, n_global)
    path = ni.write_interaction_nir(tmp_path / "in.nir", net, P, class_names=("q", "g", "t"))
    back = ni.read_interaction_nir(path)
    assert (back.edge_sizes, back.node_sizes, back.cls_sizes) == (net.edge_sizes, net.node_sizes, net.cls_sizes)
    assert back.n_global == n_global and back.options.reset == reset and back.options.v_init == net.options.v_init
    assert torch.equal(back.thresholds(), net.thresholds())
    assert back.meta["n_particles"] == P and back.meta["class_names"] == ["q", "g", "t"]
    for T in (1, 8):
        a = evaluate_spiking_particles(net, inputs, T)
        b = evaluate_spiking_particles(back, inputs, T)
        np.testing.assert_array_equal(b["logits"], a["logits"])  # the same float32 numbers
        np.testing.assert_array_equal(b["spikes"], a["spikes"])
    assert not list(tmp_path.glob(".*part*")), "the atomic write leaves no temporary file"


@pytest.mark.parametrize(("reset", "n_global", "hidden"), CASES)
@pytest.mark.parametrize("v_init", [0.5, 0.0])
def test_reference_simulator_of_the_graph_reproduces_spikejet(tmp_path, reset, n_global, hidden, v_init):
    """The graph itself (read from the file, simulated node by node without spikejet) means the network."""
    net = _net(2, reset=reset, n_global=n_global, v_init=v_init, cls_hidden=hidden)
    inputs = _inputs(2, n_global)
    graph = nir.read(ni.write_interaction_nir(tmp_path / "in.nir", net, P))
    T = 8
    ref = simulate_nir(graph, _nir_inputs(inputs), T).mean(0)
    out = evaluate_spiking_particles(net, inputs, T)
    assert out["spikes"].mean() > 50, "the test network spikes"
    np.testing.assert_allclose(ref, out["logits"], rtol=0, atol=1e-4)


def test_one_edge_layer_graph_is_exact_too():
    net = _net(6, edge=(9,), n_global=3)
    inputs = _inputs(6, 3)
    ref = simulate_nir(ni.interaction_to_nir(net, P), _nir_inputs(inputs), 6).mean(0)
    np.testing.assert_allclose(ref, evaluate_spiking_particles(net, inputs, 6)["logits"], rtol=0, atol=1e-4)
    back = ni.interaction_from_nir(ni.interaction_to_nir(net, P))
    assert back.edge_sizes == (2 * F, 9)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reference_simulator_notices_a_wrong_graph(reset):
    """The reference is not blind: without the pairs' or the particles' padding inhibition, the reset edge or
    the v_init shift, or with the pairs' features not zeroed, the graph computes something else."""
    net = _net(2, reset=reset, n_global=3)
    inputs = _inputs(2, 3)
    want = evaluate_spiking_particles(net, inputs, 8)["logits"]

    def no_pair_padding(g, d):
        for k in ("edge0_pad", "edge1_pad"):
            g.nodes[k].weight[...] = 0.0

    def no_node_padding(g, d):
        for k in ("node0_pad", "node1_pad"):
            g.nodes[k].weight[...] = 0.0

    def no_shift(g, d):  # thresholds back at theta, v_reset 0: the membranes start at 0
        for k, node in g.nodes.items():
            if isinstance(node, nir.Threshold):
                reset_w = g.nodes[k.replace("_threshold", "_reset")].weight
                node.threshold[...] = -reset_w.reshape(-1, *reset_w.shape[-2:])[0].diagonal()
            elif isinstance(node, nir.IF):
                node.v_threshold[...] = node.v_threshold - node.v_reset
                node.v_reset[...] = 0.0

    def no_reset(g, d):
        g.edges.remove(("edge0_reset", "edge0_integrator"))

    def pairs_not_zeroed(g, d):  # a pair with a padded slot gets its real partner's (large) features
        big = np.broadcast_to(10.0 * inputs[0][:, :, None, :], d["receivers"].shape)
        d["receivers"] = np.where(d["pair_padding"] > 0, big, d["receivers"]).astype(np.float32)

    for change in [no_pair_padding, no_node_padding, no_shift] + ([no_reset] if reset == "subtract" else []):
        g, d = ni.interaction_to_nir(net, P), _nir_inputs(inputs)
        change(g, d)
        got = simulate_nir(g, d, 8).mean(0)
        assert np.abs(got - want).max() > 1e-2, change.__name__
    # with one edge layer the pairs' spikes reach the aggregation directly
    one = _net(2, reset=reset, n_global=3, edge=(9,))
    g, d = ni.interaction_to_nir(one, P), _nir_inputs(inputs)
    pairs_not_zeroed(g, d)
    got = simulate_nir(g, d, 8).mean(0)
    assert np.abs(got - evaluate_spiking_particles(one, inputs, 8)["logits"]).max() > 1e-2


def test_graph_structure_metadata_and_inputs():
    net = _net(3, n_global=3)
    g = ni.interaction_to_nir(net, P)
    assert set(g.inputs) == {"particles", "padding", "receivers", "senders", "pair_padding", "jet"}
    assert list(g.nodes["receivers"].input_type["input"]) == [P, P - 1, F]
    w_r = net.recv.weight.detach().numpy()
    np.testing.assert_array_equal(g.nodes["edge0_recv"].weight, np.broadcast_to(w_r, (P, P - 1, *w_r.shape)))
    assert not g.nodes["edge0_send"].bias.any()
    w_e = net.node[0].weight.detach().numpy()[:, F:]
    np.testing.assert_array_equal(g.nodes["node0_edges"].weight[2], np.tile(w_e, (1, P - 1)))
    assert g.nodes["edge1_pad"].weight.shape == (P, P - 1, 7, 1)
    assert ("edge0_send", "edge0_integrator") in g.edges and ("node0_edges", "node0_integrator") in g.edges
    assert g.metadata["discretization"] == nd.loop_discretization("Affine")
    spec = json.loads(g.metadata["spikejet_spec"])
    assert spec["meta"]["source"] == "spiking_interaction" and spec["n_particles"] == P
    assert [layer["name"] for layer in spec["layers"]] == ["edge0", "edge1", "node0", "node1", "cls0", "cls1"]
    # the inputs: pair (i, k) is receiver i and sender k + (k >= i), zero unless both are real
    np.testing.assert_array_equal(ni.pair_senders(3), [[1, 2], [0, 2], [0, 1]])
    x = np.arange(3 * 2, dtype=np.float32).reshape(1, 3, 2) + 1
    d = ni.interaction_nir_inputs(x, np.array([[True, False, True]]))
    np.testing.assert_array_equal(d["senders"][0, 0], [[0, 0], x[0, 2]])
    np.testing.assert_array_equal(d["receivers"][0, 2], [x[0, 2], [0, 0]])
    np.testing.assert_array_equal(d["pair_padding"][0, ..., 0], [[1, 0], [1, 1], [0, 1]])


def test_lif_and_bad_arguments_are_config_errors():
    lif = SpikingInteractionNet((2 * F, 4), (F + 4, 4), (4, 2), 0, SpikingDeepSetsOptions(neuron="lif"))
    with pytest.raises(ConfigError, match="IF neurons only"):
        ni.interaction_to_nir(lif, P)
    with pytest.raises(ConfigError, match="n_particles"):
        ni.interaction_to_nir(_net(4), 1)
    with pytest.raises(ModelError, match="SpikingInteractionNet"):
        ni.interaction_to_nir(SpikingDeepSets((F, 4), (4, 2)), P)


def _corrupt_agg(g):
    g.nodes["node0_edges"].weight[:, :, 7 + 3] += 0.5  # sender 1's block differs from sender 0's


def _corrupt_send_bias(g):
    g.nodes["edge0_send"].bias[...] = 0.1


def _corrupt_pair_copy(g):
    g.nodes["edge1_affine"].weight[2, 1, 0, 0] += 1.0


def _corrupt_padding(g):
    g.nodes["edge1_pad"].weight[...] = 0.0


def _corrupt_edge(g):
    g.edges.remove(("edge0_send", "edge0_integrator"))


def _corrupt_missing(g):
    del g.nodes["node1_pad"]


@pytest.mark.parametrize(("corrupt", "match"), [
    (_corrupt_agg, "tiled over the senders"),
    (_corrupt_send_bias, "bias 0"),
    (_corrupt_pair_copy, "differs between particle slots"),
    (_corrupt_padding, "padding weights"),
    (_corrupt_edge, "missing edges edge0_send->edge0_integrator"),
    (_corrupt_missing, "missing nodes node1_pad"),
])
def test_corrupted_graph_is_one_model_error_line(corrupt, match):
    g = ni.interaction_to_nir(_net(5, n_global=3), P)
    corrupt(g)
    with pytest.raises(ModelError, match=match) as exc:
        ni.interaction_from_nir(g)
    assert "\n" not in str(exc.value) and "not a spiking interaction-network export" in str(exc.value)


def test_a_deep_sets_graph_is_not_an_interaction_graph():
    ds = nd.deepsets_to_nir(SpikingDeepSets((F, 4), (4, 2)), P)
    with pytest.raises(ModelError, match="not a spiking interaction-network export.*spiking_deepsets"):
        ni.interaction_from_nir(ds)
    with pytest.raises(ModelError, match="expected a nir.NIRGraph"):
        ni.interaction_from_nir({"nodes": {}})
