"""Energy and latency per inference from counted operations, with cited constants.

The model is the one the field uses through keras-spiking / NengoDL
(``keras_spiking.ModelEnergy``)::

    energy = synops * E_synop(device) + neuron_updates * E_neuron(device)

What is counted depends on how the device computes:

* an ANN on any conventional device: one multiply-accumulate per connection
  (``synops = MACs``) and one update per non-input neuron, once per inference
  (:func:`ann_counts`);
* an SNN on a spiking device (Loihi, SpiNNaker): one synaptic operation per
  spike per outgoing synapse, and every neuron updated at every time step
  (counted by the simulators, e.g. :meth:`spikejet.hardware.loihi.LoihiRun.per_inference`;
  :func:`snn_counts`);
* an SNN on a conventional device: every connection at every step
  (:func:`snn_dense_counts`), since a CPU or GPU does not skip silent inputs.

Like keras-spiking, the per-device figures ignore overhead (moving data on and
off the device, host I/O, static power): they are for comparison, not a
measurement. :func:`system_energy` adds what a deployed chip also spends per
inference: the bits that cross the host-chip boundary (:data:`IO_J_PER_BIT`, a
stated assumption: no figure for Loihi's host interface is published) and the
host's own operations on a conventional device. The conventional reference is
charged the same way (:func:`ann_energy`): an ANN on a GPU also receives its
features and returns its scores across a link (float32 values at the same
:data:`IO_J_PER_BIT`) and computes the softmax of its logits, so every ratio
of a chip's system energy to the ANN compares two whole systems.

Also here: the 45 nm per-operation energies of Horowitz (2014) for an
accumulate-versus-MAC comparison (:func:`accumulate_vs_mac`), and the latency
in time steps to decision including the per-layer axon delays
(:func:`latency`).

Sources (each constant below names its own):

* [Degnan2016] B. Degnan, B. Marr, J. Hasler, "Assessing trends in performance
  per Watt for signal processing applications", IEEE TVLSI 24(1):58-66, 2016,
  doi:10.1109/TVLSI.2015.2392942 -- the CPU (Intel i7-4960X), GPU (Nvidia GTX
  Titan Black) and ARM figures keras-spiking uses.
* [Davies2018] M. Davies et al., "Loihi: a neuromorphic manycore processor with
  on-chip learning", IEEE Micro 38(1):82-99, 2018, doi:10.1109/MM.2018.112130359
  -- pre-silicon figures, Table 1.
* [Hoppner2019] S. Hoeppner et al., "Dynamic power management for neuromorphic
  many-core systems", IEEE TCAS-I 66(8):2973-2986, 2019, arXiv:1903.08941 --
  SpiNNaker and SpiNNaker 2.
* [Horowitz2014] M. Horowitz, "Computing's energy problem (and what we can do
  about it)", ISSCC 2014, doi:10.1109/ISSCC.2014.6757323 -- 45 nm, 0.9 V.
* [Horowitz2014] also gives the off-chip reference for :data:`IO_J_PER_BIT`:
  a 64-bit DRAM access costs 1.3-2.6 nJ at 45 nm (20-41 pJ per bit).
* [KerasSpiking] keras-spiking 0.3, ``ModelEnergy`` device table
  (https://www.nengo.ai/keras-spiking/examples/model-energy.html).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = [
    "PICO",
    "NANO",
    "Device",
    "DEVICES",
    "SPIKING_DEVICES",
    "CONVENTIONAL_DEVICES",
    "get_device",
    "OpCounts",
    "ann_counts",
    "snn_counts",
    "snn_dense_counts",
    "energy_per_inference",
    "energy_breakdown",
    "HOROWITZ_45NM_PJ",
    "mac_energy_pj",
    "accumulate_vs_mac",
    "Latency",
    "latency",
    "STUDY_DT_S",
    "cost_rows",
    "REFERENCE_DEVICE",
    "devices_for",
    "energy_estimate",
    "add_energy_estimates",
    "IO_J_PER_BIT",
    "IO_SOURCE",
    "score_ops",
    "system_energy",
    "FLOAT_VALUE_BITS",
    "LINKED_DEVICES",
    "conventional_system_energy",
    "ann_energy",
]

PICO = 1e-12
NANO = 1e-9

# ------------------------------------------------------------ device constants
#: Intel i7-4960X, energy per operation [Degnan2016], as used by [KerasSpiking].
CPU_J_PER_OP = 8.6 * NANO
#: Nvidia GTX Titan Black, energy per operation [Degnan2016], via [KerasSpiking].
GPU_J_PER_OP = 0.3 * NANO
#: ARM core, energy per operation [Degnan2016], via [KerasSpiking].
ARM_J_PER_OP = 0.9 * NANO
#: Loihi energy per synaptic spike operation (minimum), [Davies2018] Table 1.
LOIHI_J_PER_SYNOP_CORE = 23.6 * PICO
#: Loihi mean tile-hop energy: (3.0 east-west + 4.0 north-south) / 2 pJ,
#: [Davies2018] Table 1; [KerasSpiking] adds it to every synaptic operation.
LOIHI_J_PER_HOP = 3.5 * PICO
#: Loihi energy per synaptic operation as [KerasSpiking] counts it.
LOIHI_J_PER_SYNOP = LOIHI_J_PER_SYNOP_CORE + LOIHI_J_PER_HOP
#: Loihi energy per active neuron update (52 pJ inactive), [Davies2018] Table 1;
#: [KerasSpiking] charges every update at the active figure, so do we.
LOIHI_J_PER_NEURON = 81 * PICO
#: SpiNNaker 1 per synaptic event / per neuron update, [Hoppner2019] via [KerasSpiking].
SPINNAKER_J_PER_SYNOP = 13.3 * NANO
SPINNAKER_J_PER_NEURON = 26 * NANO
#: SpiNNaker 2 per synaptic event / per neuron update, [Hoppner2019] via [KerasSpiking].
SPINNAKER2_J_PER_SYNOP = 450 * PICO
SPINNAKER2_J_PER_NEURON = 2.19 * NANO


#: Energy per bit crossing the host-chip boundary (in or out). Assumed: no figure for Loihi's
#: host interface is published (Davies et al. 2018 give on-chip figures only), so every bit is
#: charged like an off-chip memory access, the upper end of [Horowitz2014]'s 1.3-2.6 nJ per 64-bit
#: DRAM access at 45 nm: 2.6 nJ / 64 bits. A 14 nm chip-to-chip link costs less; this is a bound.
IO_J_PER_BIT = 2.6 * NANO / 64
IO_SOURCE = ("assumed: off-chip access energy of Horowitz 2014 (2.6 nJ per 64-bit DRAM access, 45 nm) per bit "
             "crossing the host-chip boundary; no Loihi I/O figure is published")


@dataclass(frozen=True)
class Device:
    """Energy per synaptic operation and per neuron update of one device."""

    name: str
    spiking: bool
    energy_per_synop: float
    energy_per_neuron: float
    source: str

    def __post_init__(self) -> None:
        for f in ("energy_per_synop", "energy_per_neuron"):
            v = getattr(self, f)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"device {self.name!r}: {f} must be a finite number >= 0 J, got {v!r}")


DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device("cpu", False, CPU_J_PER_OP, CPU_J_PER_OP, "Degnan et al. 2016 (Intel i7-4960X), via keras-spiking"),
        Device("gpu", False, GPU_J_PER_OP, GPU_J_PER_OP, "Degnan et al. 2016 (GTX Titan Black), via keras-spiking"),
        Device("arm", False, ARM_J_PER_OP, ARM_J_PER_OP, "Degnan et al. 2016 (ARM), via keras-spiking"),
        Device("loihi", True, LOIHI_J_PER_SYNOP, LOIHI_J_PER_NEURON,
               "Davies et al. 2018, Table 1 (23.6 + 3.5 pJ/synop, 81 pJ/update), via keras-spiking"),
        Device("spinnaker", True, SPINNAKER_J_PER_SYNOP, SPINNAKER_J_PER_NEURON,
               "Hoeppner et al. 2019, via keras-spiking"),
        Device("spinnaker2", True, SPINNAKER2_J_PER_SYNOP, SPINNAKER2_J_PER_NEURON,
               "Hoeppner et al. 2019, via keras-spiking"),
    )
}
SPIKING_DEVICES: tuple[str, ...] = tuple(n for n, d in DEVICES.items() if d.spiking)
CONVENTIONAL_DEVICES: tuple[str, ...] = tuple(n for n, d in DEVICES.items() if not d.spiking)
#: The ANN device of the energy target ("at most 1/5 of the ANN on a GPU").
REFERENCE_DEVICE = "gpu"


def get_device(device: str | Device) -> Device:
    if isinstance(device, Device):
        return device
    try:
        return DEVICES[device]
    except KeyError:
        raise ConfigError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}") from None


# ------------------------------------------------------------------- counts

_KINDS = ("ann", "snn_events", "snn_dense")


@dataclass(frozen=True)
class OpCounts:
    """Operations of ONE inference.

    ``kind``: "ann" (MACs once), "snn_events" (event-driven: synops = spikes x
    fan-out, all neurons updated every step) or "snn_dense" (an SNN on a
    conventional device: every connection every step). ``steps`` is the number
    of time steps the counts cover (1 for an ANN).
    """

    synops: float
    neuron_updates: float
    kind: str
    steps: int = 1
    spikes: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"OpCounts kind must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        for f in ("synops", "neuron_updates", "spikes"):
            v = getattr(self, f)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"OpCounts.{f} must be a finite number >= 0, got {v!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"OpCounts.steps must be an integer >= 1, got {self.steps!r}")


def _check_sizes(layer_sizes: Sequence[int]) -> list[int]:
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ConfigError(f"layer_sizes must list >= 2 positive sizes (input first), got {list(layer_sizes)}")
    return sizes


def ann_counts(layer_sizes: Sequence[int]) -> OpCounts:
    """MACs and neuron updates of a dense feed-forward ANN, e.g. [16, 64, 32, 32, 5].

    MACs = sum of n_i * n_(i+1) (4,256 for 16-64-32-32-5); one update per
    non-input neuron (biases and activations are folded into these, as
    keras-spiking does).
    """
    s = _check_sizes(layer_sizes)
    macs = sum(a * b for a, b in zip(s, s[1:], strict=False))
    return OpCounts(synops=float(macs), neuron_updates=float(sum(s[1:])), kind="ann")


def snn_counts(synops: float, neuron_updates: float, steps: int, spikes: float = 0.0) -> OpCounts:
    """Event-driven SNN counts of one inference (from a simulator's tallies)."""
    return OpCounts(synops=float(synops), neuron_updates=float(neuron_updates),
                    kind="snn_events", steps=int(steps), spikes=float(spikes))


def snn_dense_counts(layer_sizes: Sequence[int], steps: int) -> OpCounts:
    """An SNN run on a CPU/GPU: every connection and neuron at every one of ``steps``."""
    a = ann_counts(layer_sizes)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps must be an integer >= 1, got {steps!r}")
    return OpCounts(synops=a.synops * steps, neuron_updates=a.neuron_updates * steps,
                    kind="snn_dense", steps=steps)


def energy_breakdown(counts: OpCounts, device: str | Device) -> dict[str, float]:
    """Joules per inference split into synaptic and neuron parts (and their sum)."""
    d = get_device(device)
    if d.spiking and counts.kind != "snn_events":
        raise ConfigError(
            f"{d.name} is a spiking device: give it event-driven SNN counts (snn_counts), "
            f"not {counts.kind!r} counts; an ANN must be converted to an SNN first"
        )
    if not d.spiking and counts.kind == "snn_events":
        raise ConfigError(
            f"{d.name} does not skip silent inputs: count an SNN on it with snn_dense_counts"
        )
    syn = counts.synops * d.energy_per_synop
    neu = counts.neuron_updates * d.energy_per_neuron
    return {"synop_j": syn, "neuron_j": neu, "total_j": syn + neu}


def energy_per_inference(counts: OpCounts, device: str | Device) -> float:
    """Joules per inference on ``device`` (keras-spiking's model)."""
    return energy_breakdown(counts, device)["total_j"]


# ------------------------------------------------------------ 45 nm figures

#: Energy per operation at 45 nm, 0.9 V, in pJ [Horowitz2014].
HOROWITZ_45NM_PJ: dict[str, float] = {
    "int8_add": 0.03,
    "int16_add": 0.05,
    "int32_add": 0.1,
    "fp16_add": 0.4,
    "fp32_add": 0.9,
    "int8_mult": 0.2,
    "int32_mult": 3.1,
    "fp16_mult": 1.1,
    "fp32_mult": 3.7,
}
_PRECISIONS = ("int8", "int32", "fp16", "fp32")


def mac_energy_pj(precision: str) -> float:
    """A multiply-accumulate = one multiply + one add (fp32: 4.6 pJ, int8: 0.23 pJ)."""
    if precision not in _PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(_PRECISIONS)}, got {precision!r}")
    return HOROWITZ_45NM_PJ[f"{precision}_mult"] + HOROWITZ_45NM_PJ[f"{precision}_add"]


def accumulate_vs_mac(synops: float, macs: float, precision: str = "fp32") -> dict[str, float]:
    """SNN accumulates (one add per synaptic op) versus ANN MACs at 45 nm.

    Returns joules for both and ``ratio = snn_j / ann_j`` (< 1: the SNN is cheaper
    in arithmetic; memory access, which dominates in practice, is not included).
    """
    mac_pj = mac_energy_pj(precision)
    for name, v in (("synops", synops), ("macs", macs)):
        if not (math.isfinite(v) and v >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, got {v!r}")
    snn = synops * HOROWITZ_45NM_PJ[f"{precision}_add"] * PICO
    ann = macs * mac_pj * PICO
    return {"snn_j": snn, "ann_j": ann, "ratio": snn / ann if ann > 0 else math.inf,
            "add_pj": HOROWITZ_45NM_PJ[f"{precision}_add"], "mac_pj": mac_pj}


# ------------------------------------------------------------------ latency

#: Simulated time per step of the 2019 study (Nengo, dt = 1 ms). This is model
#: time, not chip wall-clock: Loihi advances a step as soon as every core is
#: done, so its wall-clock time per step depends on activity and is not a
#: published constant; pass a measured value where one is known.
STUDY_DT_S = 1e-3


@dataclass(frozen=True)
class Latency:
    """Time steps to decision and, where a time per step is known, seconds."""

    window_steps: int
    delay_steps: int
    steps: int
    seconds: float | None
    time_per_step_s: float | None
    assumption: str

    @property
    def microseconds(self) -> float | None:
        return None if self.seconds is None else self.seconds * 1e6


def latency(window_steps: int, axon_delays: Sequence[int] | int = 0, *,
            time_per_step_s: float | None = None, assumption: str = "") -> Latency:
    """Steps from the first input to the read-out: the presentation window plus the
    axon delays the last input spikes need to reach the read-out layer.

    ``time_per_step_s`` converts to seconds; say where it comes from in
    ``assumption`` (e.g. ``STUDY_DT_S`` is simulated time, not chip time).
    """
    if isinstance(window_steps, bool) or not isinstance(window_steps, int) or window_steps < 1:
        raise ConfigError(f"window_steps must be an integer >= 1, got {window_steps!r}")
    delays = [axon_delays] if isinstance(axon_delays, int) else list(axon_delays)
    if any((not isinstance(d, int)) or d < 0 for d in delays):
        raise ConfigError(f"axon delays must be integers >= 0, got {axon_delays!r}")
    delay = sum(delays)
    steps = window_steps + delay
    if time_per_step_s is not None:
        if not (math.isfinite(time_per_step_s) and time_per_step_s > 0):
            raise ConfigError(f"time_per_step_s must be > 0 seconds, got {time_per_step_s!r}")
        if not assumption:
            raise ConfigError("give the source of time_per_step_s in assumption=")
        seconds: float | None = steps * time_per_step_s
    else:
        seconds = None
    return Latency(window_steps=window_steps, delay_steps=delay, steps=steps, seconds=seconds,
                   time_per_step_s=time_per_step_s, assumption=assumption)


# -------------------------------------------------------------------- table


def cost_rows(model: str, counts: OpCounts, *, accuracy: float | None = None,
              devices: Sequence[str] | None = None, lat: Latency | None = None) -> list[dict]:
    """One row per device for a model's table: accuracy, T, spikes, synops, energy, latency.

    ``devices`` defaults to the devices that fit the counts' kind (spiking
    devices for event-driven SNN counts, conventional ones otherwise).
    """
    if devices is None:
        devices = devices_for(counts.kind)
    rows = []
    for name in devices:
        e = energy_breakdown(counts, name)
        rows.append({
            "model": model,
            "device": name,
            "accuracy": accuracy,
            "steps": counts.steps,
            "spikes": counts.spikes,
            "synops": counts.synops,
            "neuron_updates": counts.neuron_updates,
            "energy_j": e["total_j"],
            "synop_energy_j": e["synop_j"],
            "neuron_energy_j": e["neuron_j"],
            "latency_steps": None if lat is None else lat.steps,
            "latency_us": None if lat is None else lat.microseconds,
            "source": get_device(name).source,
        })
    return rows


# -------------------------------------------------------------------- metrics entries


def devices_for(kind: str) -> tuple[str, ...]:
    """The devices that fit counts of ``kind``: spiking devices for event counts, conventional ones otherwise."""
    return SPIKING_DEVICES if kind == "snn_events" else CONVENTIONAL_DEVICES


def energy_estimate(counts: OpCounts) -> dict[str, float]:
    """Joules per inference on every device that fits the counts' kind."""
    return {d: energy_per_inference(counts, d) for d in devices_for(counts.kind)}


def add_energy_estimates(metrics: Mapping[str, dict[str, Any]],
                         sizes: Mapping[str, Sequence[int]]) -> list[str]:
    """Add ``energy_per_inference_j`` to metrics entries that lack it; return the stages changed.

    ``"ann"``: MACs and neuron updates of the dense network (``sizes["ann"]``) on
    the conventional devices. A spiking stage (``synops_per_inference`` and
    ``timesteps`` present): its event counts on the spiking devices, and, where
    ``sizes[stage]`` is known, every connection every step on the conventional
    ones (``snn_dense_counts``). Entries that have the key are left alone.
    """
    changed = []
    for stage, m in metrics.items():
        if not isinstance(m, dict) or "energy_per_inference_j" in m:
            continue
        if stage == "ann":
            if "ann" not in sizes:
                continue
            c = ann_counts(sizes["ann"])
            m["macs_per_inference"] = c.synops
            m["ann_macs"] = c.synops  # the key every spiking entry compares with
            m.update(ann_energy(sizes["ann"]))
            changed.append(stage)
            continue
        if "synops_per_inference" not in m or "timesteps" not in m:
            continue
        T = int(m["timesteps"])
        updates = m.get("neuron_updates_per_inference")
        if updates is None and stage in sizes:
            updates = float(sum(sizes[stage][1:]) * T)
        if updates is None:
            continue
        e = energy_estimate(snn_counts(m["synops_per_inference"], updates, T, m.get("spikes_per_inference", 0.0)))
        if stage in sizes:
            e.update(energy_estimate(snn_dense_counts(sizes[stage], T)))
        m["energy_per_inference_j"] = e
        changed.append(stage)
    return changed


# -------------------------------------------------------------------- the system around a chip


def score_ops(n_classes: int) -> int:
    """Host operations that turn ``n_classes`` read-out values into class probabilities (softmax):
    one exponential and one division per class and ``n - 1`` additions."""
    if n_classes < 1:
        raise ConfigError(f"n_classes must be >= 1, got {n_classes}")
    return 3 * int(n_classes) - 1


def system_energy(chip_j: float, *, bits_in: float, bits_out: float, host_ops: float,
                  host_device: str | Device, j_per_bit: float = IO_J_PER_BIT) -> dict[str, float]:
    """Joules per inference of a chip and what it needs around it: ``chip_j`` + the I/O bits x
    ``j_per_bit`` + ``host_ops`` on the (conventional) ``host_device`` (its energy per op).

    Returns ``{"chip_j", "io_j", "host_j", "total_j"}``.
    """
    d = get_device(host_device)
    if d.spiking:
        raise ConfigError(f"the host device must be a conventional one, not {d.name!r}")
    for name, v in (("chip_j", chip_j), ("bits_in", bits_in), ("bits_out", bits_out), ("host_ops", host_ops),
                    ("j_per_bit", j_per_bit)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
            raise ConfigError(f"{name} must be a finite number >= 0, got {v!r}")
    io = (bits_in + bits_out) * j_per_bit
    host = host_ops * d.energy_per_synop
    return {"chip_j": float(chip_j), "io_j": float(io), "host_j": float(host), "total_j": float(chip_j + io + host)}


#: Bits of one value of a conventional model's inputs and outputs on a host link (float32).
FLOAT_VALUE_BITS = 32
#: Conventional devices that sit across a link from the host that holds the features (an
#: accelerator card); the CPU and the ARM core compute where the features are.
LINKED_DEVICES: tuple[str, ...] = ("gpu",)


def conventional_system_energy(counts: OpCounts, *, n_inputs: int, n_outputs: int,
                               j_per_bit: float = IO_J_PER_BIT) -> dict[str, dict[str, float]]:
    """The whole system that makes a conventional model's decision, per conventional device:
    its arithmetic (``counts``), the softmax of its ``n_outputs`` logits on the same device
    (:func:`score_ops`), and on a :data:`LINKED_DEVICES` device the ``n_inputs`` features in and
    the ``n_outputs`` scores out as float32 values at ``j_per_bit`` (the chip's assumed
    :data:`IO_J_PER_BIT`, so both sides of a comparison pay the same per bit). The
    standardization is folded into the first layer's weights (no operations), as it is for a
    chip's graded input. Returns ``{device: system_energy(...)}`` (``chip_j`` = the device's
    arithmetic)."""
    if counts.kind != "ann":
        raise ConfigError(f"conventional_system_energy takes ANN counts, got kind {counts.kind!r}")
    for name, v in (("n_inputs", n_inputs), ("n_outputs", n_outputs)):
        if not (isinstance(v, int) and v >= 1):
            raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
    out = {}
    for d in devices_for("ann"):
        linked = d in LINKED_DEVICES
        out[d] = system_energy(energy_per_inference(counts, d),
                               bits_in=float(FLOAT_VALUE_BITS * n_inputs) if linked else 0.0,
                               bits_out=float(FLOAT_VALUE_BITS * n_outputs) if linked else 0.0,
                               host_ops=float(score_ops(n_outputs)), host_device=d, j_per_bit=j_per_bit)
    return out


def ann_energy(layer_sizes: Sequence[int]) -> dict[str, Any]:
    """The energy entry of a dense ANN of ``layer_sizes`` (the ``ann`` stage, and the reference of
    every chip's system energy): ``energy_per_inference_j`` per conventional device = its whole
    system (:func:`conventional_system_energy`), ``arithmetic_energy_per_inference_j`` = the
    network's MACs and neuron updates alone (keras-spiking's figure), and the breakdown."""
    sizes = _check_sizes(layer_sizes)
    c = ann_counts(sizes)
    systems = conventional_system_energy(c, n_inputs=sizes[0], n_outputs=sizes[-1])
    return {"energy_per_inference_j": {d: e["total_j"] for d, e in systems.items()},
            "arithmetic_energy_per_inference_j": energy_estimate(c),
            "system_energy_breakdown_j": {d: {"compute": e["chip_j"], "io": e["io_j"], "host": e["host_j"]}
                                          for d, e in systems.items()},
            "energy_model": "whole system: MACs and neuron updates x E_op(device) + softmax ops on the device "
                            "+ float32 inputs/outputs across the host link (gpu) x E_bit (docs/hardware.md)"}
