"""Loihi 2's integer model of the spiking interaction network against its float model (hardware.loihi.interaction)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikejet.ann.particle import InteractionNet
from spikejet.errors import HardwareError
from spikejet.hardware.loihi.interaction import (
    interaction_resources,
    map_interaction,
    simulate_interaction,
)
from spikejet.snn.interaction import SpikingInteractionNet
from spikejet.snn.particle import SpikingDeepSetsOptions, evaluate_spiking_particles

B, P, F_IN, G = 200, 6, 5, 3


@pytest.fixture
def tiny(rng):
    x = rng.normal(size=(B, P, F_IN)).astype(np.float32)
    m = np.arange(P)[None] < rng.integers(1, P + 1, B)[:, None]
    x[~m] = 0
    g = rng.normal(size=(B, G)).astype(np.float32)
    torch.manual_seed(0)
    ann = InteractionNet(F_IN, edge=(12, 8), node=(10, 8), classifier=(8,), n_global=G)
    net = SpikingInteractionNet.from_interaction_net(ann, [x, m, g], percentile=95.0)
    return net, [x, m, g]


@pytest.mark.usefixtures("one_torch_thread")
def test_integer_model_agrees_with_the_float_model(tiny):
    net, inputs = tiny
    T = 4
    f = evaluate_spiking_particles(net, inputs, T)
    mp = map_interaction(net, n_particles=P, T=T)
    q = simulate_interaction(mp, *inputs, T, batch_size=64)  # batches: the same as one
    assert q["logits"].shape == (B, 5)
    assert float(f["spikes"].mean()) > 50.0
    # 8-bit weights, 10-bit inputs: a spike here and there moves, the decisions and counts stay
    assert np.mean(q["logits"].argmax(1) == f["logits"].argmax(1)) >= 0.9
    assert np.corrcoef(q["logits"].ravel(), f["logits"].ravel())[0, 1] > 0.95
    np.testing.assert_allclose(q["synops"].mean(), f["synops"].mean(), rtol=0.1)
    np.testing.assert_allclose(q["spikes"].mean(), f["spikes"].mean(), rtol=0.1)
    # padding slots hold no neurons (nor do their pairs): what they contain changes nothing
    x2 = inputs[0].copy()
    x2[~inputs[1]] = 3.0
    q2 = simulate_interaction(mp, x2, inputs[1], inputs[2], T)
    for k in ("logits", "synops", "spikes", "input_synops"):
        np.testing.assert_array_equal(q2[k], q[k])
    # the particle features of node layer 0 and the jet features: synapse groups of their own
    rep = mp.report()
    assert rep["node_feature_synapses"]["weight_exp"] == mp.node_weight_exp
    assert rep["global_synapses"]["weight_exp"] == mp.global_weight_exp
    assert [r["name"] for r in rep["layers"]] == ["edge0", "edge1", "node0", "node1", "cls0", "cls1"]


def _hand_net() -> SpikingInteractionNet:
    """F = 1, one edge neuron (``0.6 x_i + 0.4 x_j``), node layer 0 of two neurons (``[W_x | W_e]`` rows
    ``[0.2, 1.0]`` and ``[-0.5, 0]``), an output layer of two; thresholds 1, v_init 0.5."""
    net = SpikingInteractionNet((2, 1), (2, 2), (2, 2), thresholds=[1.0, 1.0])
    with torch.no_grad():
        net.recv.weight.fill_(0.6)
        net.recv.bias.zero_()
        net.send.weight.fill_(0.4)
        net.node[0].weight.copy_(torch.tensor([[0.2, 1.0], [-0.5, 0.0]]))
        net.node[0].bias.zero_()
        net.classifier[0].weight.copy_(torch.tensor([[1.0, 0.5], [0.0, 0.3]]))
        net.classifier[0].bias.zero_()
    return net.eval()


@pytest.mark.usefixtures("one_torch_thread")
def test_synaptic_operations_counted_by_hand():
    """Two real particles (x = 1) in three slots, T = 4. The edge neuron of both ordered pairs gets
    0.6 + 0.4 = 1 every step and spikes every step: 8 spikes, each onto node 0's one non-zero
    aggregated weight (8 synops). Node neuron 0 gets 0.2 + 1 x (one partner) and spikes every step
    in both particles: 8 spikes, each onto the one non-zero pooled weight of its column (8 synops);
    node neuron 1 (-0.5) never spikes. Input events: each particle's one non-zero payload onto its
    one pair as receiver and one as sender (2 x 2 = 4, once), and onto node layer 0's feature column
    (2 non-zero weights) every step (2 x 2 x 4 = 16)."""
    net, T = _hand_net(), 4
    x = np.array([[[1.0], [1.0], [0.0]]], np.float32)
    m = np.array([[True, True, False]])
    mp = map_interaction(net, n_particles=3, T=T)
    q = simulate_interaction(mp, x, m, None, T)
    assert q["spikes"][0] == 16 and q["synops"][0] == 16 and q["input_synops"][0] == 4 + 16
    f = evaluate_spiking_particles(net, [x, m], T)
    assert f["spikes"][0] == 16 and f["synops"][0] == 16
    np.testing.assert_allclose(q["logits"], f["logits"], atol=0.02)
    x[0, 2, 0] = 5.0  # the padded slot's content reaches nothing
    np.testing.assert_array_equal(simulate_interaction(mp, x, m, None, T)["logits"], q["logits"])


def test_resources_per_copy_and_shared(tiny):
    net, _ = tiny
    mp = map_interaction(net, n_particles=P, T=4)
    r = interaction_resources(mp, P)
    E = P * (P - 1)
    assert r["pairs"] == E and r["compartments"] == E * (12 + 8) + P * (10 + 8) + 8 + 5
    nz = [int(np.count_nonzero(L.weight_mant)) for L in (*mp.edge, *mp.node, *mp.cls)]
    agg = int(np.count_nonzero(mp.node[0].weight_mant[:, :8]))
    pooled = int(np.count_nonzero(mp.cls[0].weight_mant[:, :8]))
    assert r["synapses_shared"] == sum(nz)
    assert r["synapses"] == (E * (nz[0] + nz[1]) + P * (nz[2] + (P - 2) * agg) + P * nz[3]
                             + nz[4] + (P - 1) * pooled + nz[5])
    assert r["cores"] == 6 and r["chips"] == 1  # one core per layer (8,192 compartments per Loihi 2 core)
    assert [row["name"] for row in r["layers"]] == ["edge0", "edge1", "node0", "node1", "cls0", "cls1"]


def test_refuses_what_it_cannot_map(tiny):
    net, _ = tiny
    with pytest.raises(HardwareError, match="graded spikes"):
        map_interaction(net, n_particles=P, T=4, profile="loihi1")
    for opts in (SpikingDeepSetsOptions(neuron="lif"), SpikingDeepSetsOptions(reset="zero")):
        other = SpikingInteractionNet((2 * F_IN, 4), (F_IN + 4, 4), (4, 5), options=opts)
        with pytest.raises(HardwareError, match="IF neurons that reset by subtraction"):
            map_interaction(other, n_particles=P, T=4)


@pytest.mark.usefixtures("one_torch_thread")
def test_stage_helpers_score_the_integer_model_and_the_nir_read_back(tiny):
    """``interaction_loihi_entry`` and ``interaction_nir_export`` (what ``snn_interaction`` calls): the
    entries of ``snn_particles`` for the interaction network, on a context with the run's one score."""
    from types import SimpleNamespace

    from spikejet.config import RunConfig
    from spikejet.stages.particles import interaction_loihi_entry, interaction_nir_export

    pytest.importorskip("nir")
    net, inputs = tiny
    y = np.random.default_rng(5).integers(0, 5, B)
    logs: list[str] = []
    ctx = SimpleNamespace(y={"test": y}, config=RunConfig(), rng=lambda name: np.random.default_rng(len(name)),
                          log=logs.append)
    cfg = SimpleNamespace(timesteps=4, loihi_max_jets=50)
    logits = evaluate_spiking_particles(net, inputs, 4)["logits"]
    out = interaction_loihi_entry(ctx, cfg, net, inputs, logits, P, ("g", "q", "w", "z", "t"))
    lo = out["loihi"]
    assert lo["jets"] == 50 and out["loihi_accuracy"] == lo["accuracy"] and lo["agreement_with_float"] >= 0.85
    assert lo["resources"]["pairs"] == P * (P - 1) and min(lo["energy_per_inference_j"].values()) > 0
    assert logs and logs[0].startswith("snn_interaction on Loihi 2's integer model")
    data, extra = interaction_nir_export(net, P, ("g", "q", "w", "z", "t"), inputs, y, logits, 4)
    assert data[:4] == b"\x89HDF" and extra["nir_file"] == "snn_interaction.nir"
    assert extra["nir_agreement"] == 1.0 and extra["nir_max_abs_logit_diff"] == 0.0
    assert "nir_interaction.interaction_from_nir" in extra["nir_read_back"]
