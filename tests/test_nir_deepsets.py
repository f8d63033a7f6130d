"""NIR export and read-back of the spiking deep-sets network: round trip, an independent NIR simulator, bad graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from _nir_reference import simulate_nir  # noqa: E402
from spikejet.errors import ConfigError, ModelError  # noqa: E402
from spikejet.interop import nir_deepsets as nd  # noqa: E402
from spikejet.snn.particle import SpikingDeepSets, SpikingDeepSetsOptions, evaluate_spiking_deepsets  # noqa: E402

F, P, B = 5, 6, 24


def _net(seed: int, *, reset: str = "subtract", n_global: int = 0, v_init: float = 0.5,
         rho_hidden: tuple[int, ...] = (7,)) -> SpikingDeepSets:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    phi = (F, 10, 8)
    rho = (phi[-1] + n_global, *rho_hidden, 3)
    n_spiking = len(phi) - 1 + len(rho_hidden)
    net = SpikingDeepSets(phi, rho, n_global, SpikingDeepSetsOptions(reset=reset, v_init=v_init),
                          thresholds=list(rng.uniform(0.4, 1.6, n_spiking)))
    with torch.no_grad():  # larger weights than torch's default init: the layers spike often
        for lin in [*net.phi, *net.rho]:
            lin.weight.mul_(2.0)
    return net.eval()


def _inputs(seed: int, n_global: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    x = rng.normal(size=(B, P, F)).astype(np.float32)
    mask = rng.random((B, P)) < 0.6
    mask[0] = False  # a jet without particles
    mask[1] = True  # and one that fills every slot
    x[~mask] = 0.0
    out = [x, mask]
    if n_global:
        out.append(rng.normal(size=(B, n_global)).astype(np.float32))
    return out


def _nir_inputs(inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    d = {"particles": inputs[0], "padding": (~inputs[1]).astype(np.float32)[..., None]}
    if len(inputs) > 2:
        d["jet"] = inputs[2]
    return d


# --------------------------------------------------------------------------- round trip and meaning

CASES = [
    pytest.param("subtract", 0, (7,), id="subtract"),
    pytest.param("subtract", 4, (7, 5), id="subtract-jet-2hidden"),
    pytest.param("zero", 0, (7,), id="zero"),
    pytest.param("zero", 4, (), id="zero-jet-no-hidden"),
    pytest.param("subtract", 4, (), id="subtract-jet-no-hidden"),
]


@pytest.mark.parametrize(("reset", "n_global", "hidden"), CASES)
def test_write_read_round_trip_gives_the_same_logits(tmp_path, reset, n_global, hidden):
    net = _net(1, reset=reset, n_global=n_global, rho_hidden=hidden)
    inputs = _inputs(1, n_global)
    path = nd.write_deepsets_nir(tmp_path / "ds.nir", net, P, class_names=("q", "g", "t"))
    back = nd.read_deepsets_nir(path)
    assert back.phi_sizes == net.phi_sizes and back.rho_sizes == net.rho_sizes and back.n_global == n_global
    assert back.options.reset == reset and back.options.v_init == net.options.v_init
    assert torch.equal(back.thresholds(), net.thresholds())
    assert back.meta["n_particles"] == P and back.meta["class_names"] == ["q", "g", "t"]
    for T in (1, 8):
        a = evaluate_spiking_deepsets(net, inputs, T)
        b = evaluate_spiking_deepsets(back, inputs, T)
        np.testing.assert_allclose(b["logits"], a["logits"], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(b["spikes"], a["spikes"])
    assert not list(tmp_path.glob(".*part*")), "the atomic write leaves no temporary file"


@pytest.mark.parametrize(("reset", "n_global", "hidden"), CASES)
@pytest.mark.parametrize("v_init", [0.5, 0.0])
def test_reference_simulator_of_the_graph_reproduces_spikejet(tmp_path, reset, n_global, hidden, v_init):
    """The graph itself (read from the file, simulated node by node without spikejet) means the network."""
    net = _net(2, reset=reset, n_global=n_global, v_init=v_init, rho_hidden=hidden)
    inputs = _inputs(2, n_global)
    graph = nir.read(nd.write_deepsets_nir(tmp_path / "ds.nir", net, P))
    T = 8
    ref = simulate_nir(graph, _nir_inputs(inputs), T).mean(0)
    out = evaluate_spiking_deepsets(net, inputs, T)
    assert out["spikes"].mean() > 10, "the test network spikes"
    np.testing.assert_allclose(ref, out["logits"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reference_simulator_notices_a_wrong_graph(reset):
    """The reference is not blind: without the padding inhibition, the reset edge or the v_init shift the
    graph computes something else."""
    net = _net(2, reset=reset, n_global=4)
    inputs = _inputs(2, 4)
    want = evaluate_spiking_deepsets(net, inputs, 8)["logits"]

    def no_padding(g):
        for k in ("phi0_pad", "phi1_pad"):
            g.nodes[k].weight[...] = 0.0

    def no_shift(g):  # thresholds back at theta, v_reset 0: the membranes start at 0
        for k, node in g.nodes.items():
            if isinstance(node, nir.Threshold):
                node.threshold[...] = -g.nodes[k.replace("_threshold", "_reset")].weight[(0,) * (node.threshold.ndim - 1)].diagonal()
            elif isinstance(node, nir.IF):
                node.v_threshold[...] = node.v_threshold - node.v_reset
                node.v_reset[...] = 0.0

    def no_reset(g):
        g.edges.remove(("phi0_reset", "phi0_integrator"))

    for change in [no_padding, no_shift] + ([no_reset] if reset == "subtract" else []):
        g = nd.deepsets_to_nir(net, P)
        change(g)
        got = simulate_nir(g, _nir_inputs(inputs), 8).mean(0)
        assert np.abs(got - want).max() > 1e-2, change.__name__


def test_graph_structure_and_metadata():
    net = _net(3, n_global=4)
    g = nd.deepsets_to_nir(net, P)
    assert set(g.inputs) == {"particles", "padding", "jet"}
    assert list(g.nodes["particles"].input_type["input"]) == [P, F]
    assert isinstance(g.nodes["phi0_integrator"], nir.I) and isinstance(g.nodes["phi0_threshold"], nir.Threshold)
    th = float(net.thresholds().detach()[0])
    np.testing.assert_array_equal(g.nodes["phi0_reset"].weight[0], -np.float32(th) * np.eye(10, dtype=np.float32))
    assert ("phi0_reset", "phi0_integrator") in g.edges
    w_pool = net.rho[0].weight.detach().numpy()[:, :8]
    np.testing.assert_array_equal(g.nodes["rho0_affine"].weight, np.tile(w_pool, (1, P)))
    pad = g.nodes["phi1_pad"].weight
    assert pad.shape == (P, 8, 1) and (pad + net.phi[1].bias.detach().numpy()[:, None] <= -2 * float(net.thresholds().detach()[1])).all()
    meta = g.metadata
    assert meta["spikejet_format"] == "spikejet-nir" and meta["semantic_changes"] == "none"
    spec = json.loads(meta["spikejet_spec"])
    assert spec["meta"]["source"] == "spiking_deepsets" and spec["n_particles"] == P and spec["v_init"] == 0.5
    assert g.nodes["phi0_threshold"].metadata["spikejet_v_init"] == 0.5
    z = nd.deepsets_to_nir(_net(3, reset="zero"), P)
    assert isinstance(z.nodes["phi0_if"], nir.IF) and "phi0_reset" not in z.nodes and "jet" not in z.nodes


# --------------------------------------------------------------------------- what it refuses


def test_lif_and_bad_arguments_are_config_errors():
    lif = SpikingDeepSets((F, 6), (6, 2), 0, SpikingDeepSetsOptions(neuron="lif"))
    with pytest.raises(ConfigError, match="IF neurons only"):
        nd.deepsets_to_nir(lif, P)
    with pytest.raises(ConfigError, match="n_particles"):
        nd.deepsets_to_nir(_net(4), 0)
    with pytest.raises(ModelError, match="SpikingDeepSets"):
        nd.deepsets_to_nir(object(), P)


def _corrupt_pool(g):
    g.nodes["rho0_affine"].weight[:, 8 + 3] += 0.5  # slot 1's block differs from slot 0's


def _corrupt_missing(g):
    del g.nodes["phi1_pad"]


def _corrupt_reset(g):
    g.nodes["phi0_reset"].weight[:, 0, 1] = -0.1


def _corrupt_padding(g):
    g.nodes["phi0_pad"].weight[...] = 0.0


def _corrupt_shared(g):
    g.nodes["phi1_affine"].weight[2, 0, 0] += 1.0


def _corrupt_edge(g):
    g.edges.remove(("phi0_reset", "phi0_integrator"))


def _corrupt_spec(g):
    spec = json.loads(g.metadata["spikejet_spec"])
    spec["v_init"] = 0.25
    g.metadata["spikejet_spec"] = json.dumps(spec)


@pytest.mark.parametrize(("corrupt", "match"), [
    (_corrupt_pool, "tiled"),
    (_corrupt_missing, "missing nodes phi1_pad"),
    (_corrupt_reset, "identity"),
    (_corrupt_padding, "padding weights"),
    (_corrupt_shared, "differs between particle slots"),
    (_corrupt_edge, "missing edges phi0_reset->phi0_integrator"),
    (_corrupt_spec, "v_init"),
])
def test_corrupted_graph_is_one_model_error_line(tmp_path, corrupt, match):
    g = nd.deepsets_to_nir(_net(5, n_global=4), P)
    corrupt(g)
    with pytest.raises(ModelError, match=match) as exc:
        nd.deepsets_from_nir(g)
    assert "\n" not in str(exc.value)


def test_foreign_or_missing_files_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        nd.read_deepsets_nir(tmp_path / "nope.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ModelError, match="not a readable NIR file"):
        nd.read_deepsets_nir(bad)
    with pytest.raises(ModelError, match="expected a nir.NIRGraph"):
        nd.deepsets_from_nir({"nodes": {}})
    chain = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                                "a": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "a"), ("a", "output")], metadata={"dt": 1e-3})
    with pytest.raises(ModelError, match="not a spiking deep-sets export"):
        nd.deepsets_from_nir(chain)
