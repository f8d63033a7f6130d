"""NIR export and read-back of the spiking CNN (snn_image): reset by subtraction written exactly as
I -> Threshold with a Scale(-1) loop, checked by a round trip and by an independent NIR simulator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")

from _nir_reference import simulate_nir  # noqa: E402
from spikejet.ann.particle import JetCNN  # noqa: E402
from spikejet.errors import ModelError  # noqa: E402
from spikejet.interop.nir import (  # noqa: E402
    cnn_from_nir,
    cnn_to_nir,
    graph_bytes,
    graph_from_bytes,
    read_cnn_nir,
    write_nir,
)
from spikejet.snn.image import SpikingCNN, evaluate_spiking_cnn, qcfs_cnn  # noqa: E402

T = 8


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Sparse non-negative 8x8 'jet images' (about 15 % of the pixels lit)."""
    rng = np.random.default_rng(7)
    x = rng.exponential(1.0, (40, 8, 8)) * (rng.random((40, 8, 8)) < 0.15)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def qcfs(images):
    torch.manual_seed(0)
    return qcfs_cnn(JetCNN(8, channels=(4, 4), dense=6, n_classes=3), images, levels=T)


def _net(q, reset: str, v_init: float = 0.5) -> SpikingCNN:
    net = SpikingCNN.from_qcfs(q, reset=reset)
    net.v_init = float(v_init)
    return net


@pytest.mark.parametrize(("reset", "v_init"), [("subtract", 0.5), ("subtract", 0.3), ("zero", 0.5)])
def test_write_read_round_trip_gives_identical_logits(tmp_path, qcfs, images, reset, v_init):
    net = _net(qcfs, reset, v_init)
    r = evaluate_spiking_cnn(net, images, T)
    assert r.spikes.mean() > 50, "the test network spikes"
    back = read_cnn_nir(write_nir(tmp_path / "cnn.nir", cnn_to_nir(net, class_names=("a", "b", "c"))))
    assert (back.reset, back.v_init) == (reset, v_init)
    assert back.meta["semantic_changes"] == "none" and back.meta["reset_changes"] == []
    rb = evaluate_spiking_cnn(back, images, T)
    np.testing.assert_array_equal(rb.logits, r.logits)
    np.testing.assert_array_equal(rb.synops, r.synops)
    # the stage's path: bytes of the written file, read back
    again = cnn_from_nir(graph_from_bytes(graph_bytes(cnn_to_nir(net))))
    np.testing.assert_array_equal(evaluate_spiking_cnn(again, images, T).logits, r.logits)


def test_subtract_graph_layout(qcfs):
    g = cnn_to_nir(_net(qcfs, "subtract"))
    assert g.metadata["semantic_changes"] == "none" and "Scale" in g.metadata["discretization"]
    for name, shape in (("conv0", (4, 8, 8)), ("conv1", (4, 4, 4)), ("dense0", (6,))):
        i, th, sc = (g.nodes[f"{name}_{k}"] for k in ("integrator", "threshold", "reset"))
        assert isinstance(i, nir.I) and isinstance(th, nir.Threshold) and isinstance(sc, nir.Scale)
        np.testing.assert_array_equal(sc.scale, -np.ones(shape, np.float32))
        np.testing.assert_array_equal(th.threshold, np.full(shape, np.nextafter(np.float32(0.5), np.float32(0))))
        assert {(f"{name}_integrator", f"{name}_threshold"), (f"{name}_threshold", f"{name}_reset"),
                (f"{name}_reset", f"{name}_integrator")} <= set(g.edges)
    assert ("conv0_threshold", "conv0_pool") in g.edges and ("dense0_threshold", "dense1_affine") in g.edges
    assert not any(isinstance(n, nir.IF) for n in g.nodes.values())
    spec = json.loads(g.metadata["spikejet_spec"])
    assert spec["meta"]["arch"]["reset"] == "subtract"
    z = cnn_to_nir(_net(qcfs, "zero"))
    assert isinstance(z.nodes["conv0_if"], nir.IF) and not any(isinstance(n, nir.Scale) for n in z.nodes.values())


def test_allow_reset_change_writes_the_reset_to_zero_graph(qcfs, images):
    g = cnn_to_nir(_net(qcfs, "subtract"), allow_reset_change=True)
    assert isinstance(g.nodes["conv0_if"], nir.IF) and "reset subtract -> zero" in g.metadata["semantic_changes"]
    back = cnn_from_nir(g)
    assert back.reset == "zero" and back.meta["reset_changes"] == ["subtract -> zero"]
    np.testing.assert_array_equal(evaluate_spiking_cnn(back, images, T).logits,
                                  evaluate_spiking_cnn(_net(qcfs, "zero"), images, T).logits)


@pytest.mark.parametrize(("reset", "v_init"), [("subtract", 0.5), ("subtract", 0.0), ("zero", 0.5), ("zero", 0.0)])
def test_reference_simulator_of_the_graph_reproduces_spikejet(tmp_path, qcfs, images, reset, v_init):
    """The written file, simulated node by node without spikejet, computes the network's logits."""
    net = _net(qcfs, reset, v_init)
    graph = nir.read(write_nir(tmp_path / "cnn.nir", cnn_to_nir(net)))
    ref = simulate_nir(graph, {"input": images[:, None]}, T).mean(0)
    np.testing.assert_allclose(ref, evaluate_spiking_cnn(net, images, T).logits, rtol=0, atol=1e-4)


def test_reference_simulator_notices_a_missing_reset_loop(qcfs, images):
    net = _net(qcfs, "subtract")
    want = evaluate_spiking_cnn(net, images, T).logits
    g = cnn_to_nir(net)
    g.edges.remove(("conv0_reset", "conv0_integrator"))
    assert np.abs(simulate_nir(g, {"input": images[:, None]}, T).mean(0) - want).max() > 1e-2


def _scale_by_two(g):
    g.nodes["conv1_reset"].scale[...] = -2.0


def _scale_uneven(g):
    g.nodes["dense0_reset"].scale[3] = -0.5


def _scale_positive(g):
    g.nodes["conv0_reset"].scale[...] = 1.0
    g.nodes["conv0_threshold"].metadata.pop("spikejet_threshold")


def _loop_open(g):
    g.edges.remove(("conv0_reset", "conv0_integrator"))


def _loop_elsewhere(g):
    g.edges.remove(("conv1_reset", "conv1_integrator"))
    g.edges.append(("conv1_reset", "conv0_integrator"))


def _gain(g):
    g.nodes["conv0_integrator"].r[...] *= 2.0


def _mixed(g):
    th = g.nodes.pop("dense0_threshold")
    del g.nodes["dense0_reset"]
    g.nodes["dense0_integrator"] = nir.IF(r=g.nodes["dense0_integrator"].r, v_threshold=th.threshold,
                                          v_reset=np.full(th.threshold.shape, -0.5))
    g.edges[:] = [e for e in g.edges if "dense0_reset" not in e and e != ("dense0_integrator", "dense0_threshold")]
    g.edges[:] = [("dense0_integrator" if a == "dense0_threshold" else a, b) for a, b in g.edges]


@pytest.mark.parametrize(("corrupt", "match"), [
    (_scale_by_two, r"Scale 'conv1_reset'.*-threshold \(-1\)"),
    (_scale_uneven, r"Scale 'dense0_reset'"),
    (_scale_positive, r"Scale 'conv0_reset'.*one negative value"),
    (_loop_open, "not a reset-by-subtraction loop"),
    (_loop_elsewhere, "not a reset-by-subtraction loop"),
    (_gain, "gain"),
    (_mixed, "mixes reset to zero"),
])
def test_corrupted_loop_is_one_model_error_line(qcfs, corrupt, match):
    g = cnn_to_nir(_net(qcfs, "subtract"))
    corrupt(g)
    with pytest.raises(ModelError, match=match) as exc:
        cnn_from_nir(g)
    assert "\n" not in str(exc.value)


def test_a_threshold_outside_a_loop_is_refused(qcfs):
    g = cnn_to_nir(_net(qcfs, "zero"))
    node = g.nodes["dense0_if"]
    g.nodes["dense0_if"] = nir.Threshold(threshold=node.v_threshold)
    with pytest.raises(ModelError, match="not in a reset-by-subtraction loop") as exc:
        cnn_from_nir(g)
    assert "\n" not in str(exc.value)
