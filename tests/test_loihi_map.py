"""Mapping a float SNN onto Loihi's integers: scales, errors, and the float-vs-chip check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spikejet.errors import ConfigError, HardwareError
from spikejet.hardware import loihi as L
from spikejet.snn import neurons as N
from spikejet.snn.encoding import Encoding
from spikejet.snn.network import Layer, SpikingNetwork
from spikejet.snn.readout import Readout
from spikejet.snn.simulate import Probes, simulate


def _net(
    rng,
    sizes=(16, 24, 12, 5),
    *,
    reset="subtract",
    neuron="if",
    readout="membrane",
    encoding="current",
    w_scale=1.0,
    b_scale=0.05,
) -> SpikingNetwork:
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        w = rng.normal(0.0, w_scale / np.sqrt(a), (b, a))
        bias = rng.normal(0.0, b_scale, b)
        last = i == len(sizes) - 2
        if last and readout == "membrane":
            nrn = None
        elif neuron == "if":
            nrn = N.IFParams(threshold=1.0, reset=reset)
        else:
            nrn = N.LIFParams(tau_mem=0.02, tau_syn=0.005, threshold=1.0, reset=reset)
        layers.append(Layer(weight=w, bias=bias, neuron=nrn, name=f"fc{i}"))
    return SpikingNetwork(tuple(layers), encoding=Encoding(encoding, 2.0), readout=Readout(readout))


def _float_scores(net: SpikingNetwork, x: np.ndarray, steps: int, seed: int = 0) -> np.ndarray:
    """Float reference: the project's float simulator."""
    return simulate(net, x, steps, seed=seed).scores


# ------------------------------------------------------------- per layer


def test_layer_errors_are_within_half_a_quantization_step(rng) -> None:
    net = _net(rng)
    m = L.map_network(net, profile="loihi2", n_steps=50)
    for flayer, chip, q in zip(net.layers[1:], m.network.layers, m.quantization, strict=True):
        s = q.scale
        unit = 2.0 ** (L.WEIGHT_MIXED_SIGN_SHIFT + L.ACT_SHIFT + chip.weight_exp)
        w_q = chip.weight_mant.astype(np.float64) * unit / s
        assert np.abs(w_q - flayer.weight).max() <= q.weight_step / 2 * (1 + 1e-9)
        assert q.weight_max_abs_err <= q.weight_step / 2 * (1 + 1e-9)
        assert q.weights_clipped == 0 and q.biases_clipped == 0
        b_q = chip.compartment.bias_eff / s
        assert np.abs(b_q - flayer.bias).max() <= q.bias_max_step / 2 * (1 + 1e-9)
        # the full mantissa range is used
        assert np.abs(chip.weight_mant).max() == L.WEIGHT_MANT_MAX
        if flayer.neuron is not None:
            thr_q = chip.compartment.vth_eff / s
            assert abs(thr_q - 1.0) <= 0.5 * 2**L.VTH_SHIFT / s * (1 + 1e-9)
            assert q.threshold_rel_err == pytest.approx(abs(thr_q - 1.0), rel=1e-9)


def test_scale_choice_is_the_largest_safe_weight_exponent(rng) -> None:
    net = _net(rng)
    m = L.map_network(net, profile="loihi2", n_steps=50)
    for flayer, chip, q in zip(net.layers[1:], m.network.layers, m.quantization, strict=True):
        w = np.abs(flayer.weight.astype(np.float64))
        for wexp, must_fit in ((chip.weight_exp, True), (chip.weight_exp + 1, False)):
            if wexp > L.WEIGHT_EXP_MAX:
                continue
            s = (
                L.WEIGHT_MANT_MAX
                * 2.0 ** (L.WEIGHT_MIXED_SIGN_SHIFT + L.ACT_SHIFT + wexp)
                / w.max()
            )
            fits = w.sum(axis=1).max() * s <= L.STATE_MAX
            if flayer.neuron is not None:
                fits &= s * 1.0 <= L.STATE_MAX >> L.V_HEADROOM_BITS
            else:
                fits &= 50 * (w.sum(axis=1).max() + np.abs(flayer.bias).max()) * s <= L.STATE_MAX
            assert fits == must_fit, (flayer.name, wexp, q.limited_by)


def test_decays_map_to_12_bit_constants() -> None:
    rng = np.random.default_rng(7)
    lif = N.LIFParams(tau_mem=0.02, tau_syn=0.005, threshold=1.0, reset="zero")
    fl = L.FloatLayer(weight=rng.normal(size=(4, 3)), bias=np.zeros(4), neuron=lif, name="lif")
    chip, q = L.map_layer(fl, profile="loihi1")
    assert chip.compartment.du == round((1 - lif.decay_syn) * 4096) - L.DU_OFFSET
    assert chip.compartment.dv == round((1 - lif.decay_mem) * 4096)
    assert q.decay_syn_err <= 0.5 / 4096 and q.decay_mem_err <= 0.5 / 4096
    chip_if, q_if = L.map_layer(dataclasses.replace(fl, neuron=N.IFParams()), profile="loihi2")
    assert (chip_if.compartment.du, chip_if.compartment.dv) == (L.DECAY_MAX, 0)
    assert q_if.decay_syn_err == 0.0 and q_if.decay_mem_err == 0.0


def test_v_init_is_scaled() -> None:
    fl = L.FloatLayer(
        weight=np.array([[0.5, -0.25]]),
        bias=np.zeros(1),
        neuron=N.IFParams(threshold=1.0, reset="subtract", v_init=0.5),
    )
    chip, q = L.map_layer(fl, profile="loihi2")
    assert int(chip.v_init) == round(0.5 * q.scale)


def test_reset_by_subtraction_on_loihi1_becomes_zero_and_is_reported(rng) -> None:
    net = _net(rng, reset="subtract")
    m = L.map_network(net, profile="loihi1", n_steps=20)
    spiking = [q for q in m.quantization if q.vth_mant is not None]
    assert spiking and all(q.reset_changed and q.reset == "zero" for q in spiking)
    with pytest.raises(HardwareError, match="loihi2"):
        L.map_network(net, profile="loihi1", n_steps=20, allow_reset_change=False)
    m2 = L.map_network(net, profile="loihi2", n_steps=20)
    assert not any(q.reset_changed for q in m2.quantization)


def test_unmappable_networks_raise_clear_errors(rng) -> None:
    # weights 10,000 x the threshold: the threshold mantissa would be < MIN_VTH_MANT
    fl = L.FloatLayer(
        weight=np.array([[1e4, -1e4]]), bias=np.zeros(1), neuron=N.IFParams(threshold=1.0)
    )
    with pytest.raises(HardwareError, match="threshold balancing"):
        L.map_layer(fl)
    with pytest.raises(HardwareError, match="graded spikes"):
        L.FloatLayer(weight=np.ones((2, 2)), bias=np.zeros(2), neuron=N.SpikingReLUParams())
    net = _net(rng, encoding="current")
    with pytest.raises(HardwareError, match="only receives spikes"):
        L.map_network(net, first_layer_offchip=False, n_steps=10)
    ro = L.FloatLayer(weight=np.ones((2, 2)), bias=np.zeros(2), neuron=None)
    with pytest.raises(ConfigError, match="n_steps"):
        L.map_layer(ro)


def test_mapping_reports_resources_and_fits(rng) -> None:
    net = _net(rng, sizes=(16, 64, 32, 32, 5))
    m = L.map_network(net, n_steps=100)
    rep = m.report()
    assert rep["offchip_layers"] == ["fc0"]
    assert rep["resources"]["compartments"] == 32 + 32 + 5
    assert rep["resources"]["cores"] == 3 and rep["resources"]["chips"] == 1
    assert rep["total_axon_delay"] == 3
    assert len(rep["layers"]) == 3
    big = _net(rng, sizes=(4, 8, 1024 * 129, 2), readout="count")
    with pytest.raises(HardwareError, match="max_chips"):
        L.map_network(big, n_steps=10)


# ------------------------------------------------------------- against float


def test_first_chip_layer_spike_counts_within_bound_derived_from_quantization(rng) -> None:
    """IF with reset by subtraction, <= 1 spike per step: |N_chip - N_float| < S + 1 per neuron,
    S = sum over steps of |normalized input difference| (weights, bias, threshold rounding and
    the one bias-only step the axon delay adds)."""
    net = _net(rng, sizes=(16, 24, 12, 5), reset="subtract")
    steps = 40
    x = rng.normal(0.0, 1.0, (64, 16)).astype(np.float32)
    m = L.map_network(net, profile="loihi2", n_steps=steps)
    res = L.run_mapped(m, x, steps, record=True)
    # the chip's first layer: bias-only step 0, then input k at step k + 1
    chip_counts = res.run.traces["s0"][: steps + 1].sum(axis=0)
    # the bound holds where the chip's voltage never saturated (float IF has no floor)
    free = (res.run.traces["v0"][: steps + 1] > L.V_MIN).all(axis=0)
    assert free.mean() > 0.8

    s_in = np.stack(list(L.offchip_spikes(m.offchip[0], x, steps))).astype(np.float64)
    flayer, chip, q = net.layers[1], m.network.layers[0], m.quantization[0]
    w, b = flayer.weight.astype(np.float64), flayer.bias.astype(np.float64)
    v = np.zeros((x.shape[0], w.shape[0]))
    float_counts = np.zeros_like(v)
    for t in range(steps):
        v += s_in[t] @ w.T + b
        fired = v >= 1.0
        float_counts += fired
        v -= fired

    s = q.scale
    unit = 2.0 ** (L.WEIGHT_MIXED_SIGN_SHIFT + L.ACT_SHIFT + chip.weight_exp)
    w_q = chip.weight_mant.astype(np.float64) * unit / s
    b_q = chip.compartment.bias_eff / s
    thr_q = (chip.compartment.vth_eff + 1) / s  # v > vth  <=>  v >= vth + 1 on integers
    dx = np.abs((s_in @ w_q.T + b_q) / thr_q - (s_in @ w.T + b)).sum(axis=0) + np.abs(b_q) / thr_q
    diff = np.abs(chip_counts - float_counts)
    assert (diff < dx + 1)[free].all()
    # the bound is tight enough to mean something
    assert dx[free].mean() < 2.0 and float_counts[free].mean() > 3

    # the same bound catches a mapping with a wrong scale (threshold off by 10 %)
    bad_comp = dataclasses.replace(chip.compartment, vth=int(chip.compartment.vth * 1.1))
    bad = dataclasses.replace(
        m,
        network=dataclasses.replace(
            m.network,
            layers=(dataclasses.replace(chip, compartment=bad_comp),) + m.network.layers[1:],
        ),
    )
    bad_counts = L.run_mapped(bad, x, steps, record=True).run.traces["s0"][: steps + 1].sum(axis=0)
    assert (np.abs(bad_counts - float_counts) >= dx + 1)[free].any()


@pytest.mark.parametrize(
    ("profile", "reset", "readout", "min_agree"),
    [
        ("loihi2", "subtract", "membrane", 0.95),
        ("loihi1", "zero", "membrane", 0.9),
        ("loihi2", "subtract", "count", 0.9),
    ],
)
def test_whole_network_decisions_agree_with_float(rng, profile, reset, readout, min_agree) -> None:
    net = _net(rng, sizes=(16, 32, 16, 5), reset=reset, readout=readout)
    steps = 48
    x = rng.normal(0.0, 1.0, (400, 16)).astype(np.float32)
    m = L.map_network(net, profile=profile, n_steps=steps)
    res = L.run_mapped(m, x, steps)
    agree = (res.predictions == _float_scores(net, x, steps).argmax(axis=1)).mean()
    assert agree >= min_agree


def test_lif_network_agrees_with_float(rng) -> None:
    net = _net(rng, sizes=(16, 32, 16, 5), neuron="lif", reset="zero", w_scale=3.0, b_scale=0.2)
    steps = 60
    x = rng.normal(0.0, 1.0, (300, 16)).astype(np.float32)
    m = L.map_network(net, profile="loihi1", n_steps=steps)
    res = L.run_mapped(m, x, steps)
    assert res.run.per_inference()["spikes"] > 10
    agree = (res.predictions == _float_scores(net, x, steps).argmax(axis=1)).mean()
    assert agree >= 0.85


# ----------------------------------------------------------------- running


def test_run_mapped_counts_window_and_determinism(rng) -> None:
    net = _net(rng, encoding="poisson", readout="filtered")
    x = rng.normal(0.0, 1.0, (20, 16)).astype(np.float32)
    m = L.map_network(net, n_steps=30)
    a = L.run_mapped(m, x, 30, seed=3)
    b = L.run_mapped(m, x, 30, seed=3)
    c = L.run_mapped(m, x, 30, seed=4)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.run.spike_counts[0], c.run.spike_counts[0])
    assert a.window == (2, 32) and a.run.n_steps == 32
    per = a.per_inference()
    assert per["offchip_macs"] == 24 * 16 * 30  # rate-coded input: every step on the host
    assert per["offchip_neuron_updates"] == 24 * 30
    assert per["input_events"] == pytest.approx(per["offchip_spikes"])
    assert per["neuron_updates"] == (12 + 5) * 32
    with pytest.raises(ConfigError, match="features"):
        L.run_mapped(m, None, 30, events=np.zeros((30, 1, 24)))


def test_whole_network_on_chip_with_rate_coded_input(rng) -> None:
    net = _net(rng, sizes=(16, 32, 16, 5), reset="subtract", encoding="regular")
    steps = 48
    x = rng.normal(0.0, 1.0, (300, 16)).astype(np.float32)
    m = L.map_network(net, profile="loihi2", first_layer_offchip=False, n_steps=steps)
    assert m.offchip == () and m.network.n_in == 32 and m.network.total_axon_delay == 3
    assert m.resources.compartments == 32 + 16 + 5
    # split axons: positive events on columns 0..15 with +W, negative on 16..31 with -W
    w = m.network.layers[0].weight_mant.astype(np.int64)
    np.testing.assert_array_equal(w[:, :16], -w[:, 16:])
    ev = np.stack(list(L.encoded_input_spikes(x, net.encoding, steps)))
    assert ev.shape == (steps, 300, 32) and not (ev[..., :16] & ev[..., 16:]).any()
    res = L.run_mapped(m, x, steps)
    per = res.per_inference()
    assert per["offchip_macs"] == 0 and per["input_events"] == pytest.approx(ev.sum() / 300)
    agree = (res.predictions == _float_scores(net, x, steps).argmax(axis=1)).mean()
    assert agree >= 0.9


@pytest.mark.parametrize("encoding", ["current", "poisson"])
def test_host_layer_spikes_equal_the_float_simulators_first_layer(rng, encoding) -> None:
    import torch

    net = _net(rng, sizes=(16, 24, 12, 5), encoding=encoding)
    x = rng.normal(0.0, 1.0, (50, 16)).astype(np.float32)
    steps, chunk, seed = 20, 16, 5
    ref = simulate(net, x, steps, seed=seed, batch_size=chunk, probes=Probes(raster=True))
    m = L.map_network(net, profile="loihi1", n_steps=steps)
    gen = torch.Generator().manual_seed(seed)  # one generator across chunks, as the simulator
    host = [np.stack(list(L.offchip_spikes(m.offchip[0], x[i:i + chunk], steps,
                                           encoding=net.encoding, generator=gen)))
            for i in range(0, len(x), chunk)]
    np.testing.assert_array_equal(np.concatenate(host, axis=1), ref.raster[0])
    res = L.run_mapped(m, x, steps, seed=seed, batch_size=chunk)
    assert res.per_inference()["offchip_spikes"] == pytest.approx(ref.spikes_per_inference()[0])
    assert res.per_inference()["input_events"] == pytest.approx(ref.spikes_per_inference()[0])


def test_chunking_does_not_change_results(rng) -> None:
    net = _net(rng, sizes=(16, 24, 12, 5))
    x = rng.normal(0.0, 1.0, (40, 16)).astype(np.float32)
    m = L.map_network(net, n_steps=15)
    a = L.run_mapped(m, x, 15, batch_size=4096)
    b = L.run_mapped(m, x, 15, batch_size=7)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.run.counts == b.run.counts
    for sa, sb in zip(a.run.spike_counts, b.run.spike_counts, strict=True):
        np.testing.assert_array_equal(sa, sb)
