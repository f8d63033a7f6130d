"""A float SNN on Loihi, measured: accuracy against the float network, energy, latency, resources.

:func:`evaluate_on_loihi` is what the ``loihi`` stage of ``spikejet run`` and
``spikejet deploy --target loihi|loihi2`` both run: map the network
(:func:`~spikejet.hardware.loihi.mapping.map_network`), optionally lower each
chip layer's initial voltage by the bias it integrates before its first input
(:func:`compensate_delay_bias`), run the integer model at T and at the powers of
two below it (:func:`~spikejet.hardware.loihi.inference.run_mapped`), run the
float SNN on the same jets, and price the counted operations with
:mod:`spikejet.hardware.energy`.

Not re-exported by :mod:`spikejet.hardware.loihi`: it needs the float
simulator (torch) and the spiking model file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...config.sections import HardwareConfig as _HW  # the loihi section: one home of the defaults
from ...errors import ConfigError, ModelError
from ...snn.timesteps import curve_points
from .constants import DECAY_UNITY, DV_OFFSET, V_MAX, V_MIN
from .mapping import LoihiMapping

__all__ = [
    "LoihiEvaluation",
    "evaluate_on_loihi",
    "compensate_delay_bias",
    "spiking_network_of",
    "boundary_traffic",
    "QUANTIZE_OPS_PER_FEATURE",
]

#: Host operations per feature to make a graded payload: a multiply-add (standardization and the
#: quantization step folded together) and a round-and-clip.
QUANTIZE_OPS_PER_FEATURE = 2



def spiking_network_of(model: Any, where: str = "model") -> Any:
    """The SpikingNetwork of a stage's model (a SpikingNetwork, or a spiking model bundle)."""
    from ...snn.module import SpikingModule
    from ...snn.network import SpikingNetwork

    if isinstance(model, SpikingNetwork):
        return model
    inner = getattr(model, "model", None)
    if isinstance(inner, SpikingModule):
        return inner.network
    raise ModelError(f"{where} is not a spiking network ({type(model).__name__}); the Loihi model needs one")


# --------------------------------------------------------------------------- delay-bias compensation


def compensate_delay_bias(mapping: LoihiMapping) -> LoihiMapping:
    """The mapping with each chip layer's initial voltage lowered by the bias it integrates before its input.

    On the chip every compartment adds its bias from step 0, but layer ``k``'s
    first input arrives only after the axon delays of layers ``0..k`` (``D_k``
    steps): for ``D_k`` steps it integrates its bias alone, which a network
    without delays never does. Starting the voltage at ``v0' = (v0 - b S)/d**D_k``
    (``d`` the voltage decay per step, ``S = 1 + d + ... + d**(D_k - 1)``; for
    IF compartments ``v0 - D_k b``, exact in integers) puts it, when the first
    input arrives, where the delay-free network starts. Per-compartment initial
    voltages are a chip setting (Lava's LIF takes a ``v`` array); the mapping's
    weights, thresholds and biases are unchanged. For leaky compartments it is
    approximate (integer rounding of the decays).
    """
    layers, delay = [], 0
    for layer in mapping.network.layers:
        delay += int(layer.axon_delay)
        comp = layer.compartment
        bias = np.asarray(comp.bias_eff, dtype=np.float64) * np.ones(layer.n_out)
        v0 = np.asarray(layer.v_init, dtype=np.float64) * np.ones(layer.n_out)
        d = 1.0 - (comp.dv + DV_OFFSET) / DECAY_UNITY
        if delay == 0 or not bias.any():
            layers.append(layer)
            continue
        if d == 1.0:
            v_new = v0 - delay * bias
        else:
            geo = (1.0 - d**delay) / (1.0 - d)
            v_new = (v0 - bias * geo) / d**delay
        v_new = np.clip(np.rint(v_new), V_MIN, V_MAX).astype(np.int64)
        layers.append(dataclasses.replace(layer, v_init=v_new))
    chip = dataclasses.replace(mapping.network, layers=tuple(layers))
    return dataclasses.replace(mapping, network=chip)


# --------------------------------------------------------------------------- evaluation


@dataclass
class LoihiEvaluation:
    """What :func:`evaluate_on_loihi` measured: the mapping, scores at T and the metrics extras.

    ``mapping`` is what :func:`~spikejet.hardware.loihi.map_network` made; ``chip``
    is what ran (with the delay-bias compensation, if it was asked for).
    """

    mapping: Any
    chip: Any
    timesteps: int
    scores: Any
    float_scores: Any
    extra: dict[str, Any] = field(default_factory=dict)


def _address_bits(n: int) -> int:
    """Bits that name one of ``n`` input axons (the least a spike message must carry)."""
    return max(1, math.ceil(math.log2(max(int(n), 2))))


def boundary_traffic(mapping: LoihiMapping, per: dict[str, float], T: int, n_classes: int) -> dict[str, Any]:
    """What crosses the host-chip boundary per inference, and the host's operations.

    In: one message per input event of the first chip layer (``per["input_events"]``: the
    host layer's spikes, the rate code's spikes, or the non-zero graded payloads), each
    carrying its payload (graded: the input bits; binary: none) and the address of its axon
    (``ceil(log2(axons))`` bits: the least a message needs; Loihi's own packet format is not
    published). Out: every read-out compartment's 24-bit state (voltage or spike count), once.
    Host: the off-chip layer's MACs and neuron updates, the rate coder's comparisons
    (features x T) or the quantization (:data:`QUANTIZE_OPS_PER_FEATURE` per feature), plus the
    softmax of the read-out (:func:`spikejet.hardware.energy.score_ops`).
    """
    from ..energy import score_ops
    from .constants import STATE_BITS

    n_axons = mapping.network.n_in
    mode = mapping.input_mode
    payload = mapping.input.bits if mapping.input is not None else 0
    msg_bits = payload + _address_bits(n_axons)
    messages = float(per["input_events"])
    if mode == "offchip":
        host_ops = per["offchip_macs"] + per["offchip_neuron_updates"]
    elif mode == "spikes":
        host_ops = float((n_axons // 2) * T)
    else:
        host_ops = float(QUANTIZE_OPS_PER_FEATURE * n_axons)
    return {
        "input_mode": mode,
        "messages_in": messages,
        "bits_per_message_in": msg_bits,
        "bits_in": messages * msg_bits,
        "bits_out": float(mapping.network.n_out * STATE_BITS),
        "host_ops": host_ops + score_ops(n_classes),
        "host_ops_input": host_ops,
        "host_ops_scores": float(score_ops(n_classes)),
    }


def _energy_extra(per: dict[str, float], T: int, sizes: Sequence[int], host_device: str,
                  mapping: LoihiMapping) -> dict[str, Any]:
    """Counts per inference and their energy: on chip, the off-chip layer on the host, the ANN of the same
    sizes, the host-chip traffic and the system total (chip + I/O + host work)."""
    from ..energy import (
        CONVENTIONAL_DEVICES,
        IO_J_PER_BIT,
        IO_SOURCE,
        REFERENCE_DEVICE,
        OpCounts,
        ann_counts,
        ann_energy,
        energy_estimate,
        snn_counts,
        system_energy,
    )

    energy = energy_estimate(snn_counts(per["synops"], per["neuron_updates"], T, per["spikes"]))
    host_energy = energy_estimate(OpCounts(synops=per["offchip_macs"], neuron_updates=per["offchip_neuron_updates"],
                                           kind="ann"))
    ann = ann_counts(sizes)
    ann_entry = ann_energy(sizes)  # the ANN's whole system, charged like the chip's
    ref = ann_entry["energy_per_inference_j"][REFERENCE_DEVICE]
    with_host = energy["loihi"] + host_energy[host_device]
    io = boundary_traffic(mapping, per, T, int(sizes[-1]))
    systems = {d: system_energy(energy["loihi"], bits_in=io["bits_in"], bits_out=io["bits_out"],
                                host_ops=io["host_ops"], host_device=d) for d in CONVENTIONAL_DEVICES}
    system = systems[host_device]
    return {
        "spikes_per_inference": per["spikes"],
        "synops_per_inference": per["synops"],
        "neuron_updates_per_inference": per["neuron_updates"],
        "input_events_per_inference": per["input_events"],
        "off_chip_layers": int(mapping.off_chip_layers),
        "offchip_per_inference": {"spikes": per["offchip_spikes"], "macs": per["offchip_macs"],
                                  "neuron_updates": per["offchip_neuron_updates"]},
        "energy_per_inference_j": energy,
        "host_energy_per_inference_j": host_energy,
        "host_device": host_device,
        "energy_with_host_per_inference_j": with_host,
        "ann_macs": ann.synops,
        "ann_energy_per_inference_j": ann_entry["energy_per_inference_j"],
        "ann_arithmetic_energy_per_inference_j": ann_entry["arithmetic_energy_per_inference_j"],
        "energy_ratio_to_ann_gpu": energy["loihi"] / ref,
        "energy_with_host_ratio_to_ann_gpu": with_host / ref,
        "io_per_inference": {**io, "j_per_bit": IO_J_PER_BIT, "energy_j": system["io_j"], "source": IO_SOURCE},
        "system_energy_per_inference_j": system["total_j"],
        "system_energy_breakdown_j": {"chip": system["chip_j"], "io": system["io_j"], "host": system["host_j"],
                                      "host_device": host_device},
        "system_energy_by_host_device_j": {d: e["total_j"] for d, e in systems.items()},
        "system_energy_ratio_to_ann_gpu": system["total_j"] / ref,
        "energy_model": "keras-spiking: synops x E_synop + neuron updates x E_neuron (docs/hardware.md); system: "
                        "+ I/O bits x E_bit + host ops x E_op(host_device)",
    }


def _mapping_extra(mapping: LoihiMapping, T: int, *, time_per_step_s: float | None, time_per_step_source: str,
                   compensate_delays: bool) -> dict[str, Any]:
    """Latency to decision, chip resources and the per-layer quantization report."""
    from ..energy import latency

    delays = [int(layer.axon_delay) for layer in mapping.network.layers]
    lat = latency(T, delays, time_per_step_s=time_per_step_s, assumption=time_per_step_source)
    quant = mapping.report()
    return {
        "latency": {"steps": lat.steps, "window_steps": lat.window_steps, "delay_steps": lat.delay_steps,
                    "seconds": lat.seconds, "time_per_step_s": lat.time_per_step_s,
                    "assumption": lat.assumption or "no wall-clock time per step known: steps only"},
        "resources": quant["resources"],
        "quantization": quant["layers"],
        "reset_changed": any(q["reset_changed"] for q in quant["layers"]),
        "delay_bias_compensation": bool(compensate_delays),
        "total_axon_delay": quant["total_axon_delay"],
    }


def evaluate_on_loihi(
    net: Any,
    X: Any,
    y: Any,
    *,
    timesteps: int,
    profile: str = _HW.profile,
    first_layer_offchip: bool = _HW.first_layer_offchip,
    axon_delay: int = _HW.axon_delay,
    max_chips: int = _HW.max_chips,
    allow_reset_change: bool = _HW.allow_reset_change,
    curve: bool = _HW.curve,
    seed: int = 0,
    time_per_step_s: float | None = _HW.time_per_step_s,
    time_per_step_source: str = _HW.time_per_step_source,
    host_device: str = _HW.host_device,
    compensate_delays: bool = _HW.compensate_delays,
    input_bits: int = _HW.input_bits,
    input_clip: float = _HW.input_clip,
    log: Callable[[str], None] | None = None,
) -> LoihiEvaluation:
    """Map ``net`` onto Loihi, run the integer model on standardized ``X`` and measure everything.

    Runs the float SNN on the same jets for reference (same seed: with an
    off-chip first layer both see the same first-layer spikes). Energy: the
    on-chip event counts on each spiking device, the off-chip first layer's
    MACs and neuron updates on each conventional device (the host cost, kept
    separate), the ANN of the same sizes on the conventional devices, and the
    ratios to the ANN on a GPU with and without the host cost.
    ``compensate_delays``: run :func:`compensate_delay_bias` of the mapping.
    """
    from ...snn.engine import simulate_fast as simulate
    from .inference import run_mapped
    from .mapping import map_network

    log = log or (lambda msg: None)
    T = int(timesteps)
    if T < 1:
        raise ConfigError(f"timesteps must be >= 1, got {timesteps!r}")
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    mapping = map_network(net, profile=profile, first_layer_offchip=first_layer_offchip, axon_delay=axon_delay,
                          n_steps=T, max_chips=max_chips, allow_reset_change=allow_reset_change,
                          input_bits=input_bits, input_clip=input_clip)
    res = mapping.resources
    log(f"mapped onto {profile}: {res.compartments} compartments, {res.synapses} synapses, {res.cores} cores "
        f"({len(mapping.offchip)} layer(s) off-chip)")
    chip_mapping = compensate_delay_bias(mapping) if compensate_delays else mapping
    points = curve_points(T) if curve else [T]
    acc_curve: dict[str, float] = {}
    for t in points:  # only the run at T is kept (the others can be large)
        run = run_mapped(chip_mapping, X, t, seed=seed)
        acc_curve[str(t)] = float((run.predictions == y).mean())
        if t == T:
            head = run
    fres = simulate(net, X, T, seed=seed)
    float_curve = fres.accuracy(y)
    float_acc = float(float_curve[T - 1])
    loihi_acc = acc_curve[str(T)]
    log(f"Loihi integer model: {loihi_acc * 100:.2f} % at T = {T} (float SNN {float_acc * 100:.2f} %)")
    extra = {
        "profile": profile,
        "timesteps": T,
        "accuracy_vs_timesteps": acc_curve,
        "float_accuracy": float_acc,
        "float_accuracy_vs_timesteps": {str(t): float(float_curve[t - 1]) for t in points},
        "accuracy_gap_to_float": loihi_acc - float_acc,
        "agreement_with_float": float((head.predictions == fres.predictions_at(T)).mean()),
        "n_jets_evaluated": int(X.shape[0]),
        "first_layer_offchip": bool(first_layer_offchip),
        "input_mode": mapping.input_mode,
        "input_quantization": None if mapping.input is None else {
            **mapping.input.as_dict(), "clipped_fraction": mapping.input.clipped_fraction(X)},
        **_energy_extra(head.per_inference(), T, net.sizes, host_device, mapping),
        **_mapping_extra(mapping, T, time_per_step_s=time_per_step_s, time_per_step_source=time_per_step_source,
                         compensate_delays=compensate_delays),
    }
    return LoihiEvaluation(mapping=mapping, chip=chip_mapping, timesteps=T, scores=head.scores,
                           float_scores=fres.scores, extra=extra)
