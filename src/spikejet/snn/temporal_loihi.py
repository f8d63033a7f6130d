"""The pileup filter on the Loihi integer model: mapping, integer scores, op counts and energy.

Mapping (:func:`map_temporal`). The hidden layer's synapses ``W [H, 4, D]`` become one chip
layer with ``4 * D`` input axons, one per (channel, delay) pair, through the existing mapper
(:func:`spikejet.hardware.loihi.map_layer`: 8-bit mantissas with a weight exponent, ``vth << 6``,
12-bit ``dv``, biases as 13-bit mantissa and exponent). The delays are Loihi's per-synapse delays
(:data:`~spikejet.hardware.loihi.constants.SYNAPTIC_DELAY_MAX`, Davies et al. 2018): a spike of
channel ``c`` at step ``s`` is added, through its synapse of delay ``d``, to the dendritic
accumulator's slot of step ``s + d``, and the weight exponent shifts the slot's whole sum. That
is exactly what :func:`spikejet.hardware.loihi.simulate` computes when the axon ``(c, d)`` carries
channel ``c``'s spike train delayed by ``d`` steps (:func:`delayed_events`), with the layer's own
axon delay 0; so the bit-level chip model runs it unchanged. (Lava's bit-accurate CPU ``Dense``
has no delays; this is the chip's behaviour as described, not a Lava trace.) The read-out is one
non-spiking compartment (voltage probe) behind the chip's one-step axon delay
(:data:`~spikejet.hardware.loihi.constants.DEFAULT_AXON_DELAY`): the chip runs ``T + 1`` steps
per particle, the latency quoted. Its bias is zero: the host adds ``T * b_out`` (a constant that
changes no ranking) when it converts the voltage to the float network's units.

Op counts (:func:`pileup_ops`), per particle: input spikes; synaptic operations = every input
spike times its channel's non-zero synapses over all delays (the synapses are read when the spike
reaches the core) plus every hidden spike times its non-zero read-out synapse; neuron updates =
every compartment at every chip step, ``(H + 1) (T + 1)``. Energy with
:mod:`spikejet.hardware.energy`'s cited Loihi constants (Davies et al. 2018 via keras-spiking).
Per event: ``n_particles`` times per particle (one network per particle in parallel, or one
network time-multiplexed; the reset between particles is not counted).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import HardwareError
from ..hardware.energy import energy_breakdown, latency, snn_counts
from ..hardware.loihi import (
    DEFAULT_AXON_DELAY,
    SYNAPTIC_DELAY_MAX,
    FloatLayer,
    LoihiNetwork,
    map_layer,
    resources,
    simulate,
)
from .neurons import LIFParams
from .temporal import CHANNELS, PileupFeatures, TemporalNet, encode, hidden_counts, pv_scores

__all__ = ["CHIP_BATCH", "delayed_events", "map_temporal", "loihi_pv_scores", "pileup_ops", "effective_weights"]

#: Particles per chip-model batch (bounds the memory of the expanded events).
CHIP_BATCH = 8192


def effective_weights(net: TemporalNet) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(W [H, 4, D], b_hid [H], w_out [H], b_out)`` as float64, as the network computes with them."""
    W, w_out = net.weights()
    return (W.detach().double().numpy(), net.b_hid.detach().double().numpy(),
            w_out.detach().double().numpy(), float(net.b_out.detach()))


def delayed_events(spikes: np.ndarray, n_delays: int) -> np.ndarray:
    """``[n, T, C]`` spikes -> the chip's input ``[T, n, C * D]`` bool: axon ``c * D + d`` at step
    ``t`` carries channel ``c``'s spike of step ``t - d``."""
    n, T, C = spikes.shape
    out = np.zeros((T, n, C, n_delays), dtype=bool)
    s = np.transpose(spikes, (1, 0, 2)) > 0
    for d in range(min(n_delays, T)):
        out[d:, :, :, d] = s[:T - d]
    return out.reshape(T, n, C * n_delays)


def map_temporal(net: TemporalNet, *, profile: str = "loihi1") -> tuple[LoihiNetwork, dict[str, Any]]:
    """The chip network of ``net`` (module docstring) and its quantization report."""
    cfg = net.cfg
    if cfg.n_delays - 1 > SYNAPTIC_DELAY_MAX:
        raise HardwareError(f"delays up to {cfg.n_delays - 1} steps exceed the chip's {SYNAPTIC_DELAY_MAX}")
    W, b, w_out, _ = effective_weights(net)
    H = W.shape[0]
    neuron = LIFParams.from_decays(0.0, net.leak, threshold=1.0, reset="zero")
    hid, q0 = map_layer(FloatLayer(W.reshape(H, -1), b, neuron, name="hidden"), profile=profile, axon_delay=0)
    out, q1 = map_layer(FloatLayer(w_out[None, :], np.zeros(1), None, name="readout"), profile=profile,
                        axon_delay=DEFAULT_AXON_DELAY, n_steps=cfg.timesteps + DEFAULT_AXON_DELAY)
    chip = LoihiNetwork((hid, out), profile=profile, readout="voltage")
    return chip, {"layers": [q0.as_dict(), q1.as_dict()], "readout_scale": q1.scale}


def loihi_pv_scores(net: TemporalNet, features: PileupFeatures, *,
                    profile: str = "loihi1") -> tuple[np.ndarray, dict[str, Any]]:
    """PV scores of the integer chip model (in the float network's units) and what it used.

    ``info``: ``integer_scores`` (final read-out voltages), agreement with the float network
    (``max_abs_diff``, ``frac_equal``: scores equal within 1e-6 of the score range, i.e. the same
    weighted hidden spike counts), resources (cores, compartments, synapses), latency in chip
    steps per particle, the quantization report and the chip's own per-particle tallies.
    """
    chip, qinfo = map_temporal(net, profile=profile)
    cfg = net.cfg
    n_steps = cfg.timesteps + chip.total_axon_delay
    X = encode(features, cfg)
    ints, tallies = [], []
    for s in range(0, X.shape[0], CHIP_BATCH):
        run = simulate(chip, delayed_events(X[s:s + CHIP_BATCH], cfg.n_delays), n_steps=n_steps)
        ints.append(run.scores[:, 0].astype(np.int64))
        tallies.append(run.per_inference() | {"n": run.batch})
    v = np.concatenate(ints) if ints else np.zeros(0, np.int64)
    scores = v / qinfo["readout_scale"] + cfg.timesteps * effective_weights(net)[3]
    ref = pv_scores(net, features)
    diff = np.abs(scores - ref)
    tol = 1e-6 * max(float(np.ptp(ref)) if ref.size else 1.0, 1.0)
    res = resources(chip)
    info = {
        "integer_scores": v,
        "max_abs_diff": float(diff.max(initial=0.0)),
        "frac_equal": float((diff <= tol).mean()) if diff.size else 1.0,
        "latency_steps": latency(cfg.timesteps, [layer.axon_delay for layer in chip.layers]).steps,
        "max_synaptic_delay": cfg.n_delays - 1,
        "resources": res.as_dict(),
        "quantization": qinfo["layers"],
        "chip_tally_per_particle": _mean_tally(tallies),
        "profile": profile,
    }
    return scores, info


def _mean_tally(tallies: list[dict[str, float]]) -> dict[str, float]:
    n = sum(t["n"] for t in tallies)
    keys = [k for k in (tallies[0] if tallies else {}) if k != "n"]
    return {k: sum(t[k] * t["n"] for t in tallies) / max(n, 1) for k in keys}


def pileup_ops(net: TemporalNet, features: PileupFeatures, *, n_particles: int | None = None,
               device: str = "loihi") -> dict[str, Any]:
    """Mean op counts and energy per particle, and energy per event of ``n_particles`` particles
    (default ``cfg.particles_per_event``), on the spiking ``device`` (module docstring)."""
    cfg = net.cfg
    n_evt = cfg.particles_per_event if n_particles is None else int(n_particles)
    if n_evt < 1:
        raise HardwareError(f"n_particles must be >= 1, got {n_particles}")
    W, _, w_out, _ = effective_weights(net)
    fan_in = np.count_nonzero(W, axis=(0, 2)).astype(np.float64)  # [4]: synapses per input channel
    fan_hid = float(np.count_nonzero(w_out))
    hc = hidden_counts(net, features)
    n = max(len(features), 1)
    in_spikes = hc["input"].sum(axis=0)  # per channel, all particles
    hid_spikes = float(hc["hidden"].sum())
    synops = (float(in_spikes @ fan_in) + hid_spikes * fan_hid) / n
    steps = cfg.timesteps + DEFAULT_AXON_DELAY
    updates = float((cfg.hidden + 1) * steps)
    e = energy_breakdown(snn_counts(synops, updates, steps, hid_spikes / n), device)
    return {
        "input_spikes_per_particle": float(in_spikes.sum()) / n,
        "input_spikes_per_channel": {c: float(v) / n for c, v in zip(CHANNELS, in_spikes, strict=True)},
        "hidden_spikes_per_particle": hid_spikes / n,
        "synops_per_particle": synops,
        "neuron_updates_per_particle": updates,
        "steps_per_particle": steps,
        "energy_per_particle_j": e["total_j"],
        "energy_breakdown_per_particle_j": e,
        "particles_per_event": n_evt,
        "energy_per_event_j": e["total_j"] * n_evt,
        "device": device,
    }
