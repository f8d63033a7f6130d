"""The whole network on the chip (Loihi 2 graded input), and reset-to-zero networks kept exact on export.

Fixtures are small random networks built here; every check runs in well under a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikejet.errors import ConfigError, HardwareError
from spikejet.hardware import energy as E
from spikejet.hardware import loihi as L
from spikejet.hardware.loihi.compartment import decay, shift_by_exponent
from spikejet.hardware.loihi.evaluate import compensate_delay_bias, evaluate_on_loihi
from spikejet.snn import neurons as N
from spikejet.snn.encoding import Encoding
from spikejet.snn.network import Layer, SpikingNetwork
from spikejet.snn.readout import Readout
from spikejet.snn.simulate import simulate

T = 8


def _net(rng, sizes=(16, 24, 12, 5), *, reset="subtract", neuron="if", v_init=0.0, w_scale=1.5) -> SpikingNetwork:
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        last = i == len(sizes) - 2
        if last:
            nrn = None
        elif neuron == "if":
            nrn = N.IFParams(threshold=1.0, reset=reset, v_init=v_init)
        else:
            nrn = N.LIFParams(tau_mem=0.02, tau_syn=0.005, threshold=1.0, reset=reset, v_init=v_init)
        layers.append(Layer(weight=rng.normal(0, w_scale / np.sqrt(a), (b, a)), bias=rng.normal(0, 0.1, b),
                            neuron=nrn, name=f"fc{i}"))
    return SpikingNetwork(tuple(layers), encoding=Encoding("current"), readout=Readout("membrane"),
                          class_names=tuple("gqwzt"), feature_names=tuple(f"f{i}" for i in range(sizes[0])))


def _jets(rng, n=400, d=16):
    return rng.normal(0, 1.0, (n, d)).astype(np.float32)


# --------------------------------------------------------------------------- the input grid


def test_input_quantization_grid_and_events() -> None:
    q = L.InputQuantization(bits=10, clip=8.0)
    assert q.max_payload == 511 and q.step == pytest.approx(8.0 / 511)
    x = np.array([[0.0, 0.01, -0.01, 8.0, -9.0, 100.0]])
    p = q.quantize(x)
    np.testing.assert_array_equal(p, [[0, 1, -1, 511, -511, 511]])
    # unclipped values are within half a step of their payload
    xs = np.linspace(-8, 8, 1001)[None]
    assert np.abs(q.quantize(xs) * q.step - xs).max() <= q.step / 2 + 1e-12
    assert q.clipped_fraction(x) == pytest.approx(2 / 6)
    once = list(L.graded_input_events(x, q, 3))
    np.testing.assert_array_equal(once[0], p)
    assert not once[1].any() and not once[2].any()
    every = list(L.graded_input_events(x, L.InputQuantization(bits=10, clip=8.0, mode="graded_every_step"), 3))
    assert all(np.array_equal(e, p) for e in every)
    for bad in ({"bits": 1}, {"bits": 25}, {"clip": 0.0}, {"mode": "spikes"}):
        with pytest.raises(ConfigError):
            L.InputQuantization(**bad)


def test_loihi1_refuses_a_constant_current_on_chip(rng) -> None:
    with pytest.raises(HardwareError, match="loihi2 profile"):
        L.map_network(_net(rng), profile="loihi1", first_layer_offchip=False, n_steps=T)


# --------------------------------------------------------------------------- the integer arithmetic


def test_graded_input_enters_the_current_once_and_is_held(rng) -> None:
    """Step 1 (one axon delay): u = shift(sum (m << 1) p, weight_exp) << 6, the quantized W x; afterwards it only
    decays by the chip's slowest rule, u <- u * 4095 >> 12 toward zero (du = 0 + DU_OFFSET)."""
    net = _net(rng)
    m = L.map_network(net, profile="loihi2", first_layer_offchip=False, n_steps=T, input_bits=12)
    assert m.input_mode == "graded_once" and m.off_chip_layers == 0 and m.network.n_in == 16
    layer0 = m.network.layers[0]
    assert layer0.compartment.du == 0
    q0 = m.quantization[0]
    assert q0.decay_syn_err == pytest.approx(1 / 4096)
    X = _jets(rng, 50)
    run = L.run_mapped(m, X, T, record=True)
    u = run.run.traces["u0"]
    p = m.input.quantize(X)
    a = shift_by_exponent(p @ (layer0.weight_mant.astype(np.int64) << 1).T, layer0.weight_exp)
    assert not u[0].any()  # the axon delay: nothing arrives at step 0
    np.testing.assert_array_equal(u[1], a << 6)
    for t in range(2, u.shape[0]):
        np.testing.assert_array_equal(u[t], decay(u[t - 1], 1))
    # tolerance from the quantization steps: |u/s - W x| <= sum_j |W_ij| step/2 (input grid)
    # + sum_j |p_j| weight_step/2 (weight grid) + 2**6/s (the exponent's floor)
    s = q0.scale
    W = net.layers[0].weight.astype(np.float64)
    bound = (np.abs(W).sum(1)[None] * m.input.step / 2 + np.abs(p) @ np.full((16, W.shape[0]), q0.weight_step / 2)
             + 2.0**6 / s)
    err = np.abs(u[1] / s - X.astype(np.float64) @ W.T)
    assert (err <= bound + 1e-9).all()
    # the hold loses at most 1/4096 per step (+ one LSB of rounding)
    held = u[1:T + 1].astype(np.float64)
    assert (np.abs(held - u[1]) <= np.abs(u[1]) * np.arange(T)[:, None, None] / 4096 + np.arange(T)[:, None, None]).all()


def test_a_first_layer_with_a_synaptic_filter_gets_its_input_every_step(rng) -> None:
    net = _net(rng, neuron="lif", reset="zero")
    m = L.map_network(net, profile="loihi2", first_layer_offchip=False, n_steps=T, input_bits=8)
    assert m.input_mode == "graded_every_step"
    assert m.network.layers[0].compartment.du == m.network.layers[1].compartment.du  # the neuron's own filter
    X = _jets(rng, 200)
    run = L.run_mapped(compensate_delay_bias(m), X, T)
    assert run.run.counts[0].input_events == np.count_nonzero(m.input.quantize(X)) * T
    ref = simulate(net, X, T).predictions_at(T)
    assert (run.predictions == ref).mean() >= 0.85


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_whole_network_on_chip_agrees_with_the_float_network(rng, reset) -> None:
    """Loihi 2, IF, graded input of 10 bits: the integer model decides as the float SNN for nearly every jet; the
    accuracy gap is bounded by the fraction of jets decided differently (a quantization effect)."""
    net = _net(rng, reset=reset)
    X = _jets(rng, 600)
    ref = simulate(net, X, T)
    y = ref.predictions_at(T)  # labels = the float network's decisions: its accuracy is 1
    ev = evaluate_on_loihi(net, X, y, timesteps=T, profile="loihi2", first_layer_offchip=False, curve=False,
                           input_bits=10, host_device="arm")
    e = ev.extra
    assert e["off_chip_layers"] == 0 and e["input_mode"] == "graded_once"
    assert e["agreement_with_float"] >= 0.95
    assert abs(e["accuracy_gap_to_float"]) <= 1 - e["agreement_with_float"] + 1e-12
    assert e["offchip_per_inference"] == {"spikes": 0.0, "macs": 0.0, "neuron_updates": 0.0}
    # 16 features, <= 16 non-zero payloads per jet, 10 + 4 address bits each; 5 read-out values of 24 bits
    io = e["io_per_inference"]
    assert io["messages_in"] <= 16 and io["bits_per_message_in"] == 14
    assert io["bits_in"] == pytest.approx(io["messages_in"] * 14) and io["bits_out"] == 5 * 24
    assert io["host_ops"] == 2 * 16 + 14
    chip = e["energy_per_inference_j"]["loihi"]
    io_j = (io["bits_in"] + io["bits_out"]) * E.IO_J_PER_BIT
    assert e["system_energy_per_inference_j"] == pytest.approx(chip + io_j + 46 * 0.9e-9, rel=1e-12)
    assert e["system_energy_by_host_device_j"]["cpu"] == pytest.approx(chip + io_j + 46 * 8.6e-9, rel=1e-12)
    # the first layer's graded events: one synaptic op per non-zero payload per non-zero weight
    assert e["resources"]["compartments"] == 24 + 12 + 5


def test_study_layout_counts_the_host_layer_and_its_spikes(rng) -> None:
    net = _net(rng, reset="zero")
    X = _jets(rng, 200)
    y = simulate(net, X, T).predictions_at(T)
    e = evaluate_on_loihi(net, X, y, timesteps=T, profile="loihi1", first_layer_offchip=True, curve=False, host_device="cpu").extra
    io = e["io_per_inference"]
    assert e["off_chip_layers"] == 1 and io["input_mode"] == "offchip"
    assert io["messages_in"] == pytest.approx(e["offchip_per_inference"]["spikes"])
    assert io["bits_per_message_in"] == 5  # binary spikes: the address of one of 24 axons
    host_ops = 24 * 16 + 24 * T + 14
    assert io["host_ops"] == host_ops
    assert e["system_energy_breakdown_j"]["host"] == pytest.approx(host_ops * 8.6e-9, rel=1e-12)


def test_system_energy_checks_its_arguments() -> None:
    out = E.system_energy(1e-7, bits_in=100, bits_out=20, host_ops=10, host_device="gpu")
    assert out["total_j"] == pytest.approx(1e-7 + 120 * E.IO_J_PER_BIT + 10 * 0.3e-9)
    assert E.IO_J_PER_BIT == pytest.approx(2.6e-9 / 64) and E.score_ops(5) == 14
    with pytest.raises(ConfigError, match="conventional"):
        E.system_energy(0.0, bits_in=0, bits_out=0, host_ops=0, host_device="loihi")
    with pytest.raises(ConfigError):
        E.system_energy(0.0, bits_in=-1, bits_out=0, host_ops=0, host_device="cpu")


# --------------------------------------------------------------------------- export: exported = evaluated


def test_dequantized_graded_first_layer_is_the_float_layer(rng) -> None:
    pytest.importorskip("nir")
    from spikejet.interop import nir as nir_io

    net = _net(rng, reset="zero")
    m = L.map_network(net, profile="loihi2", first_layer_offchip=False, n_steps=T)
    deq = nir_io.dequantize(m, net)
    q0 = m.quantization[0]
    # weights per feature unit, within half a weight step (per payload unit / input step)
    np.testing.assert_allclose(deq.layers[0].weight, net.layers[0].weight, atol=q0.weight_step / m.input.step / 2 + 1e-7)
    assert deq.layers[0].neuron.kind == "if"  # the held current is the float network's constant input
    graph = nir_io.mapping_to_nir(m, net)
    assert graph.metadata["loihi_input_mode"] == "graded_once" and "bits" in graph.metadata["loihi_input_quantization"]
    assert graph.metadata["semantic_changes"] == "none"


@pytest.mark.parametrize("v_init", [0.0, 0.5])
def test_reset_zero_network_reads_back_from_the_nir_file_exactly(rng, tmp_path, v_init) -> None:
    pytest.importorskip("nir")
    from spikejet.interop import nir as nir_io

    net = _net(rng, reset="zero", v_init=v_init)
    path = nir_io.write_nir(tmp_path / "net.nir", net)  # no allow_reset_change needed: nothing changes
    graph = nir_io._nir().read(path)
    assert graph.metadata["semantic_changes"] == "none"
    back = nir_io.read_nir(path)
    assert all(b.neuron is None or b.neuron.reset == "zero" for b in back.layers)
    X = _jets(rng, 500)
    a, b = simulate(net, X, T), simulate(back, X, T)
    np.testing.assert_array_equal(a.scores, b.scores)
    y = rng.integers(0, 5, len(X))
    assert (a.predictions_at(T) == y).mean() == (b.predictions_at(T) == y).mean()


def test_reset_zero_network_on_loihi1_keeps_its_reset_and_its_decisions(rng) -> None:
    net = _net(rng, reset="zero", w_scale=1.2)
    m = L.map_network(net, profile="loihi1", first_layer_offchip=True, n_steps=T, allow_reset_change=False)  # refusing changes is fine
    assert not any(q.reset_changed for q in m.quantization)
    assert all(layer.compartment.reset == "zero" for layer in m.network.layers)
    X = _jets(rng, 600)
    ref = simulate(net, X, T).predictions_at(T)
    ev = evaluate_on_loihi(net, X, ref, timesteps=T, profile="loihi1", first_layer_offchip=True, curve=False,
                           allow_reset_change=False)
    assert ev.extra["reset_changed"] is False
    assert ev.extra["agreement_with_float"] >= 0.97
    # a reset by subtraction is never changed silently: refused without the opt-in, reported with it
    sub = _net(rng, reset="subtract")
    with pytest.raises(HardwareError, match="cannot do"):
        L.map_network(sub, profile="loihi1", first_layer_offchip=True, n_steps=T, allow_reset_change=False)
    assert all(q.reset_changed for q in L.map_network(sub, profile="loihi1", first_layer_offchip=True, n_steps=T).quantization
               if q.vth_mant is not None)  # the spiking layers (the read-out has no reset)


def test_norse_reads_the_nir_file_with_the_same_accuracy(rng, tmp_path) -> None:
    pytest.importorskip("nir")
    norse = pytest.importorskip("norse.torch")
    import logging

    import nir
    import torch

    from spikejet.interop import nir as nir_io

    net = _net(rng, reset="zero")  # norse resets to 0 and ignores v_reset: v_init = 0
    path = nir_io.write_nir(tmp_path / "net.nir", net)
    prev = logging.getLogger().level
    module = norse.from_nir(nir.read(path), dt=net.dt, ignore_warnings=True)
    logging.getLogger().setLevel(prev)
    X = _jets(rng, 500)
    acc = torch.zeros(len(X), 5)
    with torch.no_grad():
        state, x = None, torch.tensor(X)
        for _ in range(T):
            out, state = module(x, state)
            acc += out
    ref = simulate(nir_io.read_nir(path), X, T)
    y = rng.integers(0, 5, len(X))
    pred_norse = (acc / T).numpy().argmax(1)
    assert (pred_norse == y).mean() == (ref.predictions_at(T) == y).mean()
    assert (pred_norse == ref.predictions_at(T)).mean() >= 0.99
