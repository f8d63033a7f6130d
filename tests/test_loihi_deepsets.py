"""Loihi 2's integer model of the spiking deep sets against its float model (hardware.loihi.deepsets)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikejet.ann.particle import DeepSets
from spikejet.errors import HardwareError
from spikejet.hardware.loihi.deepsets import deepsets_resources, map_deepsets, simulate_deepsets
from spikejet.snn.particle import SpikingDeepSets, SpikingDeepSetsOptions, evaluate_spiking_deepsets

B, P, F_IN, G = 300, 6, 5, 3


@pytest.fixture
def tiny(rng):
    x = rng.normal(size=(B, P, F_IN)).astype(np.float32)
    m = np.arange(P)[None] < rng.integers(1, P + 1, B)[:, None]
    x[~m] = 0
    g = rng.normal(size=(B, G)).astype(np.float32)
    torch.manual_seed(0)
    net = SpikingDeepSets.from_deepsets(DeepSets(F_IN, (12, 10), (8,), n_global=G), [x, m, g], percentile=95.0)
    return net, [x, m, g]


@pytest.mark.usefixtures("one_torch_thread")
def test_integer_model_agrees_with_the_float_model(tiny):
    net, inputs = tiny
    T = 8
    f = evaluate_spiking_deepsets(net, inputs, T)
    mp = map_deepsets(net, n_particles=P, T=T)
    q = simulate_deepsets(mp, *inputs, T, batch_size=128)  # batches: the same as one
    assert q["logits"].shape == (B, 5)
    assert float(f["spikes"].mean()) > 1.0
    # 8-bit weights, 7-bit inputs: a spike here and there moves, the decisions and counts stay
    assert np.mean(q["logits"].argmax(1) == f["logits"].argmax(1)) >= 0.9
    assert np.corrcoef(q["logits"].ravel(), f["logits"].ravel())[0, 1] > 0.95
    np.testing.assert_allclose(q["synops"].mean(), f["synops"].mean(), rtol=0.1)
    np.testing.assert_allclose(q["spikes"].mean(), f["spikes"].mean(), rtol=0.1)
    # padding slots hold no neurons: what they contain changes nothing
    x2 = inputs[0].copy()
    x2[~inputs[1]] = 3.0
    q2 = simulate_deepsets(mp, x2, inputs[1], inputs[2], T)
    np.testing.assert_array_equal(q2["logits"], q["logits"])
    # deterministic integers
    np.testing.assert_array_equal(simulate_deepsets(mp, *inputs, T)["logits"], q["logits"])


def test_resources_with_and_without_shared_synapses(tiny):
    net, _ = tiny
    mp = map_deepsets(net, n_particles=P, T=8)
    r = deepsets_resources(mp, P)
    assert r["compartments"] == P * (12 + 10) + 8 + 5
    nz = [int(np.count_nonzero(L.weight_mant)) for L in (*mp.phi, *mp.rho)]
    pooled = int(np.count_nonzero(mp.rho[0].weight_mant[:, :10]))
    assert r["synapses_shared"] == sum(nz)
    assert r["synapses"] == P * (nz[0] + nz[1]) + nz[2] + (P - 1) * pooled + nz[3]
    assert r["cores"] == 4 and r["chips"] == 1  # one core per layer (8,192 compartments per Loihi 2 core)


def test_refuses_what_it_cannot_map(tiny):
    net, _ = tiny
    with pytest.raises(HardwareError, match="graded spikes"):
        map_deepsets(net, n_particles=P, T=8, profile="loihi1")
    lif = SpikingDeepSets((F_IN, 4), (4, 4, 5), options=SpikingDeepSetsOptions(neuron="lif"))
    with pytest.raises(HardwareError, match="IF neurons"):
        map_deepsets(lif, n_particles=P, T=8)


@pytest.mark.usefixtures("one_torch_thread")
def test_jet_features_keep_their_eight_bits_in_a_synapse_group_of_their_own(tiny):
    """The jet features' effective weights (W x input step) are far smaller than the pooled
    columns'; on the pooled exponent they would round to a few levels (to zero at fine input
    steps). Their own group's exponent keeps the full mantissa, and the layer's current is the
    sum of both groups, so the integer model still follows the float one."""
    net, inputs = tiny
    T = 8
    with torch.no_grad():  # make the jet-feature weights 1/8 of what they were
        net.rho[0].weight[:, net.phi_sizes[-1]:] /= 8.0
    f = evaluate_spiking_deepsets(net, inputs, T)
    mp = map_deepsets(net, n_particles=P, T=T, input_bits=10)
    n_pool = mp.n_pooled
    g = np.abs(np.asarray(mp.rho[0].weight_mant, dtype=np.int64)[:, n_pool:])
    assert g.max() >= 64  # at least 7 of the 8 bits used
    assert mp.global_weight_exp < mp.rho[0].weight_exp
    assert mp.global_weight_rel_rms_err < 0.02
    assert mp.report()["global_synapses"]["weight_exp"] == mp.global_weight_exp
    q = simulate_deepsets(mp, *inputs, T)
    assert np.mean(q["logits"].argmax(1) == f["logits"].argmax(1)) >= 0.9
    assert np.corrcoef(q["logits"].ravel(), f["logits"].ravel())[0, 1] > 0.95
    # on the pooled columns' exponent those mantissas would have kept far fewer levels
    unit_shared = 2.0 ** (mp.rho[0].weight_exp - mp.global_weight_exp)
    assert g.max() / unit_shared < 16


@pytest.mark.usefixtures("one_torch_thread")
def test_quantization_aware_training_puts_every_weight_on_the_chips_grid(tiny):
    """After quantization-aware training (``qat_global_step``) the network's weights are the chip's:
    the mapper rounds none of them (the pooled columns, the jet features' own group, every layer),
    the network's logits come from the rounded weights it was validated on, and its integer twin
    follows it at least as closely as that of the same network trained without the grids."""
    from spikejet.hardware.loihi.mapping import InputQuantization
    from spikejet.snn.particle import train_spiking_particles

    net, inputs = tiny
    T, n_pool = 4, net.phi_sizes[-1]
    y = (inputs[0][:, :, 0].sum(1) > 0).astype(int) + (inputs[2][:, 0] > 0.8)
    iq = InputQuantization(bits=12, clip=16.0)
    plain = SpikingDeepSets.from_deepsets(DeepSets(F_IN, (12, 10), (8,), n_global=G), inputs, percentile=95.0)
    plain.load_state_dict(net.state_dict())
    kw = dict(T=T, epochs=2, learning_rate=1e-2, batch_size=64, patience=2, seed=0)
    train_spiking_particles(net, inputs, y, inputs, y, qat_global_step=iq.step, **kw)
    train_spiking_particles(plain, inputs, y, inputs, y, **kw)
    assert net.qat_global_step is None  # baked: the layers hold the rounded weights
    mp = map_deepsets(net, n_particles=P, T=T, input_bits=iq.bits, input_clip=iq.clip)
    for q in (mp.quantization[i] for i in (0, 1, 3)):
        assert q.weight_rel_rms_err < 1e-6, q.name
    assert mp.global_weight_rel_rms_err < 1e-6
    unit = mp.quantization[2].weight_step  # the pooled columns' step
    w_pool = net.rho[0].weight.detach().numpy()[:, :n_pool].astype(np.float64)
    np.testing.assert_allclose(w_pool / unit, np.rint(w_pool / unit), atol=1e-4)
    mp_plain = map_deepsets(plain, n_particles=P, T=T, input_bits=iq.bits, input_clip=iq.clip)
    assert mp_plain.quantization[1].weight_rel_rms_err > 1e-3  # the grid is not there by accident
    # baking changes nothing the network computes: rounding on-grid weights again is the identity
    before = evaluate_spiking_deepsets(net, inputs, T)["logits"]
    net.qat_global_step = iq.step
    np.testing.assert_array_equal(evaluate_spiking_deepsets(net, inputs, T)["logits"], before)
    net.bake_quantization()
    agree = [float(np.mean(simulate_deepsets(m, *inputs, T)["logits"].argmax(1)
                           == evaluate_spiking_deepsets(n, inputs, T)["logits"].argmax(1)))
             for m, n in ((mp, net), (mp_plain, plain))]
    assert agree[0] >= agree[1] and agree[0] >= 0.97
