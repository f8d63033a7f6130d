"""Running a mapped network: the host layer feeds the chip, the chip runs, the float read-out scores it.

:func:`run_mapped` is one inference of a :class:`~spikejet.hardware.loihi.mapping.LoihiMapping`
on a batch of jets: the off-chip first layer (or the host's rate coder) makes
the chip's input spikes (:mod:`~spikejet.hardware.loihi.host`), the integer
network runs (:func:`~spikejet.hardware.loihi.chip.simulate`), and the float
network's read-out (count, membrane or filtered) turns the last layer's spikes
or voltage over the read-out window into class scores.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError
from .chip import LoihiRun, simulate
from .compartment import CompartmentState
from .host import encoded_input_spikes, graded_input_events, offchip_spikes
from .mapping import LoihiMapping

__all__ = ["MappedRun", "run_mapped"]


@dataclass(frozen=True)
class MappedRun:
    """A mapped network's run: chip run, class scores over the read-out window, host counts."""

    run: LoihiRun
    scores: np.ndarray
    window: tuple[int, int]
    host: dict[str, float]

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.scores, axis=1)

    def per_inference(self) -> dict[str, float]:
        out = dict(self.run.per_inference())
        out.update(self.host)
        return out


def _window_scores(mapping: LoihiMapping, traces: dict[str, np.ndarray], start: int, stop: int) -> np.ndarray:
    """Class scores of the float network's read-out, over chip steps [start, stop)."""
    spikes = traces["out_s"][start:stop].astype(np.float64)
    v = traces["out_v"].astype(np.float64)
    last = mapping.network.layers[-1]
    scale = mapping.quantization[-1].scale
    if last.compartment.spiking:
        signal = spikes
    else:  # per-step input of an integrating read-out, back in float units
        prev = v[start - 1] if start > 0 else np.asarray(last.v_init, np.float64) * np.ones_like(v[0])
        steps = np.diff(np.concatenate([prev[None], v[start:stop]]), axis=0)
        signal = steps / scale
    ro = mapping.readout
    if ro is None or ro.kind != "filtered":
        total = signal.sum(axis=0)
        if last.compartment.spiking:  # ties between counts broken by the residual voltage
            total = total + np.clip(v[stop - 1] / max(last.compartment.vth_eff, 1), 0.0, 0.999)
        return total / max(stop - start, 1)
    a = math.exp(-mapping.dt / ro.tau)
    acc = np.zeros(signal.shape[1:])
    mid = np.zeros(signal.shape[1:])
    for sig in signal:
        if ro.filter == "exp":
            acc = acc * a + sig * (1.0 - a)
        else:
            mid = mid * a + sig * (1.0 - a)
            acc = acc * a + mid * (1.0 - a)
    return acc


def _merge_runs(runs: list[LoihiRun]) -> LoihiRun:
    """One run from runs over consecutive chunks of a batch (counts add up)."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    counts = tuple(
        dataclasses.replace(c, spikes=sum(r.counts[i].spikes for r in runs),
                            synops=sum(r.counts[i].synops for r in runs),
                            input_events=sum(r.counts[i].input_events for r in runs),
                            neuron_updates=sum(r.counts[i].neuron_updates for r in runs))
        for i, c in enumerate(first.counts)
    )
    traces = None
    if first.traces is not None:
        traces = {k: np.concatenate([r.traces[k] for r in runs], axis=1) for k in first.traces}
    return LoihiRun(
        n_steps=first.n_steps, batch=sum(r.batch for r in runs),
        scores=np.concatenate([r.scores for r in runs]),
        spike_counts=tuple(np.concatenate([r.spike_counts[i] for r in runs])
                           for i in range(len(first.spike_counts))),
        final_state=tuple(
            CompartmentState(*(np.concatenate([getattr(r.final_state[i], f) for r in runs])
                               for f in ("u", "v", "refrac")))
            for i in range(len(first.final_state))
        ),
        counts=counts, traces=traces,
    )


def _chip_input_width(mapping: LoihiMapping, features: np.ndarray | None, events: np.ndarray | None) -> int | None:
    """Features per jet the host takes, or None when the caller gives the chip's input events."""
    enc = mapping.encoding
    if mapping.offchip:
        if features is None or events is not None:
            raise ConfigError("this mapping runs its first layer off-chip: give features, not events")
        return mapping.offchip[0].weight.shape[1]
    if mapping.input is not None:  # graded spikes of the quantized features
        if features is None or events is not None:
            raise ConfigError("this mapping takes the features as graded spikes: give features, not events")
        return mapping.network.n_in
    if features is not None and events is None and enc is not None and enc.kind != "current":
        return mapping.network.n_in // 2
    if events is None or features is not None:
        raise ConfigError("this mapping has no off-chip layer: give the chip's input events "
                          "(or features, for a network with a spike encoding)")
    return None


def _chip_source(mapping: LoihiMapping, chunk: np.ndarray, n_steps: int,
                 gen: Any) -> tuple[Iterator[np.ndarray], dict[str, int]]:
    """The chip's input spikes for a chunk of jets, and a counter of the off-chip layer's spikes."""
    counter = {"spikes": 0}
    if mapping.input is not None:
        return graded_input_events(chunk, mapping.input, n_steps), counter
    if not mapping.offchip:
        return encoded_input_spikes(chunk, mapping.encoding, n_steps, generator=gen), counter

    def source() -> Iterator[np.ndarray]:
        for s in offchip_spikes(mapping.offchip[0], chunk, n_steps, encoding=mapping.encoding, generator=gen):
            counter["spikes"] += int(s.sum())
            yield s

    return source(), counter


def _host_counts(mapping: LoihiMapping, offchip_spikes_total: int, n_jets: int, n_in: int,
                 n_steps: int) -> dict[str, float]:
    """Per-jet cost of the off-chip first layer (zeros when everything runs on the chip)."""
    if not mapping.offchip:
        return {"offchip_spikes": 0.0, "offchip_macs": 0.0, "offchip_neuron_updates": 0.0}
    enc = mapping.encoding
    rate_coded = enc is not None and enc.kind != "current"
    n_out = mapping.offchip[0].weight.shape[0]
    return {
        "offchip_spikes": offchip_spikes_total / max(n_jets, 1),
        # constant current: one matrix-vector product per jet; rate codes: every step
        "offchip_macs": float(n_out * n_in * (n_steps if rate_coded else 1)),
        "offchip_neuron_updates": float(n_out * n_steps),
    }


def run_mapped(mapping: LoihiMapping, features: np.ndarray | None = None, n_steps: int = 100, *,
               events: np.ndarray | None = None, seed: int = 0, batch_size: int | None = None,
               record: bool = False) -> MappedRun:
    """Run a mapped network on a batch and score it with the float network's read-out.

    With an off-chip first layer give ``features`` [batch, n_features] (already
    standardized, as the float network's input). Without one give either
    ``features`` (networks with a spike encoding: the host encodes them) or
    the chip's input ``events`` [n_steps, batch, n_in]. The chip runs
    ``n_steps + D`` steps, D = the total axon delay; the read-out window is the
    ``n_steps`` steps [D, D + n_steps), the steps in which the read-out layer
    receives input (the first D steps only see biases, as on the chip).

    Jets are run in chunks of ``batch_size`` (default: the float simulator's,
    :data:`spikejet.snn.simulate.DEFAULT_BATCH_SIZE`) with one Poisson generator
    seeded by ``seed``, as the float simulator does, so the host-side layer sees
    the same input events as the float network. Host counts per jet:
    ``offchip_spikes``, ``offchip_macs``, ``offchip_neuron_updates``.
    """
    import torch

    from ...snn.simulate import DEFAULT_BATCH_SIZE

    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ConfigError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
    delay = mapping.network.total_axon_delay
    total = n_steps + delay
    n_in = _chip_input_width(mapping, features, events)
    if n_in is None:
        ev = np.asarray(events)
        if ev.ndim != 3 or ev.shape[0] != n_steps:
            raise ConfigError(f"events must be [n_steps={n_steps}, batch, n_in], got {ev.shape}")
        run = simulate(mapping.network, ev, n_steps=total, record=record, record_output=True)
        scores = _window_scores(mapping, run.traces, delay, total)
        return MappedRun(run=run, scores=scores, window=(delay, total),
                         host=_host_counts(mapping, 0, 0, 0, n_steps))

    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim != 2 or feats.shape[1] != n_in:
        raise ConfigError(f"features must be [batch, {n_in}], got {feats.shape}")
    gen = torch.Generator().manual_seed(int(seed))
    runs, scores, offchip_total = [], [], 0
    for start in range(0, feats.shape[0], int(batch_size)):
        source, counter = _chip_source(mapping, feats[start:start + int(batch_size)], n_steps, gen)
        r = simulate(mapping.network, source, n_steps=total, record=record, record_output=True)
        offchip_total += counter["spikes"]
        scores.append(_window_scores(mapping, r.traces, delay, total))
        if not record:  # keep only what the merged run needs
            r = dataclasses.replace(r, traces=None)
        runs.append(r)
    host = _host_counts(mapping, offchip_total, feats.shape[0], n_in, n_steps)
    return MappedRun(run=_merge_runs(runs), scores=np.concatenate(scores), window=(delay, total), host=host)
