"""The chip: on-chip layers (synapses into compartments), the network of them, and running it.

:func:`simulate` runs a :class:`LoihiNetwork` on a batch of input events,
step by step, with each layer's axon delay (Lava's ``Dense`` sends on step t
what it accumulated on step t-1: ``axon_delay=1``, the default, reproduces
that; 0 is same-step propagation), and counts spikes, synaptic operations and
neuron updates per layer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError, HardwareError
from .compartment import (
    CompartmentParams,
    CompartmentState,
    Synapses,
    check_range,
    compartment_init,
    compartment_step,
    int_array,
    shift_by_exponent,
)
from .constants import (
    DEFAULT_AXON_DELAY,
    V_MAX,
    V_MIN,
    WEIGHT_EXP_MAX,
    WEIGHT_EXP_MIN,
    WEIGHT_MANT_MAX,
    WEIGHT_MANT_MIN,
)
from .profiles import LOIHI1, LoihiProfile, get_profile

__all__ = ["LoihiLayer", "LoihiNetwork", "LayerCounts", "LoihiRun", "simulate", "check_event_values"]




@dataclass(frozen=True)
class LoihiLayer:
    """One on-chip layer: synapses (int8 mantissas, weight exponent) into compartments."""

    weight_mant: np.ndarray
    weight_exp: int
    compartment: CompartmentParams
    axon_delay: int = DEFAULT_AXON_DELAY
    v_init: np.ndarray | int = 0
    name: str = ""

    def __post_init__(self) -> None:
        w = int_array("weight_mant", self.weight_mant)
        if w.ndim != 2:
            raise ConfigError(f"weight_mant must be 2-D [out, in], got shape {w.shape}")
        check_range("weight_mant", w, WEIGHT_MANT_MIN, WEIGHT_MANT_MAX, "signed 8-bit mantissa")
        w = w.astype(np.int8)
        w.setflags(write=False)
        object.__setattr__(self, "weight_mant", w)
        if isinstance(self.weight_exp, bool) or not isinstance(self.weight_exp, int | np.integer):
            raise ConfigError(f"weight_exp must be an integer, got {self.weight_exp!r}")
        object.__setattr__(self, "weight_exp", int(self.weight_exp))
        check_range("weight_exp", self.weight_exp, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX, "weight exponent")
        if not isinstance(self.axon_delay, int | np.integer) or self.axon_delay < 0:
            raise ConfigError(f"axon_delay must be an integer >= 0 steps, got {self.axon_delay!r}")
        object.__setattr__(self, "axon_delay", int(self.axon_delay))
        n = w.shape[0]
        for name in ("bias_mant", "bias_exp"):
            arr = np.asarray(getattr(self.compartment, name))
            if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
                raise ConfigError(f"{name} has shape {arr.shape}; layer {self.name!r} has {n} neurons")
        vi = int_array("v_init", self.v_init)
        check_range("v_init", vi, V_MIN, V_MAX, "24-bit voltage")
        object.__setattr__(self, "v_init", vi)

    @property
    def n_in(self) -> int:
        return int(self.weight_mant.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight_mant.shape[0])

    @property
    def synapses(self) -> int:
        """Non-zero synapses (zero mantissas need no synaptic memory)."""
        return int(np.count_nonzero(self.weight_mant))

    @property
    def fan_out_per_input(self) -> np.ndarray:
        """Non-zero outgoing synapses of each input axon, shape [n_in]."""
        return np.count_nonzero(self.weight_mant, axis=0).astype(np.int64)


@dataclass(frozen=True)
class LoihiNetwork:
    """A chain of on-chip layers for one profile.

    ``readout``: "count" (spikes of the last layer, ties broken by its residual
    voltage) or "voltage" (final voltage of a non-spiking last layer).
    """

    layers: tuple[LoihiLayer, ...]
    profile: LoihiProfile = LOIHI1
    readout: str = "count"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "profile", get_profile(self.profile))
        if not self.layers:
            raise ConfigError("a Loihi network needs at least one layer")
        for prev, nxt in zip(self.layers, self.layers[1:], strict=False):
            if prev.n_out != nxt.n_in:
                raise ConfigError(
                    f"layer {nxt.name!r} expects {nxt.n_in} inputs but layer {prev.name!r} "
                    f"has {prev.n_out} neurons"
                )
        for layer in self.layers:
            if layer.compartment.reset not in self.profile.resets:
                raise HardwareError(
                    f"layer {layer.name!r} resets by {layer.compartment.reset!r}, which "
                    f"{self.profile.name} does not support (it supports "
                    f"{', '.join(self.profile.resets)}); use reset='zero' or the loihi2 profile"
                )
        if self.readout not in ("count", "voltage"):
            raise ConfigError(f"readout must be 'count' or 'voltage', got {self.readout!r}")
        if self.readout == "voltage" and self.layers[-1].compartment.spiking:
            raise ConfigError("readout='voltage' needs a non-spiking last layer (spiking=False)")
        if self.readout == "count" and not self.layers[-1].compartment.spiking:
            raise ConfigError("readout='count' needs a spiking last layer")

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def total_axon_delay(self) -> int:
        """Steps an input spike needs to reach the last layer's dendrites."""
        return sum(layer.axon_delay for layer in self.layers)


@dataclass(frozen=True)
class LayerCounts:
    """Operation counts of one layer summed over a batch and all steps."""

    name: str
    neurons: int
    spikes: int
    synops: int
    input_events: int
    neuron_updates: int


@dataclass(frozen=True)
class LoihiRun:
    """Result of :func:`simulate` on a batch."""

    n_steps: int
    batch: int
    scores: np.ndarray
    spike_counts: tuple[np.ndarray, ...]
    final_state: tuple[CompartmentState, ...]
    counts: tuple[LayerCounts, ...]
    traces: dict[str, np.ndarray] | None = field(default=None)

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.scores, axis=1)

    def per_inference(self) -> dict[str, float]:
        """Mean spikes, synaptic ops and neuron updates per jet (all on-chip layers)."""
        b = max(self.batch, 1)
        return {
            "spikes": sum(c.spikes for c in self.counts) / b,
            "synops": sum(c.synops for c in self.counts) / b,
            "neuron_updates": sum(c.neuron_updates for c in self.counts) / b,
            "input_events": self.counts[0].input_events / b if self.counts else 0.0,
        }


def _check_events(events: np.ndarray, profile: LoihiProfile, n_in: int, batch: int | None,
                  step: int) -> np.ndarray:
    e = np.asarray(events)
    if e.ndim != 2 or e.shape[1] != n_in or (batch is not None and e.shape[0] != batch):
        raise ConfigError(
            f"input events at step {step} have shape {e.shape}; expected [batch, {n_in}]"
        )
    if e.dtype.kind == "b":
        return e
    check_event_values(e, profile)
    return e.astype(np.int64)


def check_event_values(e: np.ndarray, profile: LoihiProfile) -> None:
    """Input events (not boolean) must be integers the profile can carry: 0/1 spikes or graded payloads."""
    if e.dtype.kind == "f" and not np.all(e == np.round(e)):
        raise ConfigError("input events must be integers (spikes or graded payloads)")
    lo, hi = profile.payload_range()
    if e.size and (e.min() < lo or e.max() > hi):
        what = "binary spikes (0 or 1)" if not profile.graded_spikes else (
            f"graded payloads of {profile.graded_payload_bits} bits")
        raise HardwareError(
            f"{profile.name} takes {what}; got input events in [{e.min()}, {e.max()}]"
            + ("; use the loihi2 profile for graded spikes" if not profile.graded_spikes else "")
        )


def _input_source(inputs: np.ndarray | Iterable[np.ndarray],
                  n_steps: int | None) -> tuple[Iterator[np.ndarray], int, int | None]:
    """(per-step source, steps to run, batch size if known yet) of :func:`simulate`'s input."""
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 3:
            raise ConfigError(f"inputs must be [T, batch, n_in], got shape {inputs.shape}")
        n_total = inputs.shape[0] if n_steps is None else n_steps
        batch: int | None = inputs.shape[1]
    else:
        n_total, batch = n_steps, None
    if n_total is None:
        raise ConfigError("n_steps is required when inputs is an iterable")
    if n_total < 0:
        raise ConfigError(f"n_steps must be >= 0, got {n_total}")
    return iter(inputs), n_total, batch


def _padded(source: Iterator[np.ndarray], n_total: int) -> Iterator[np.ndarray | None]:
    """``n_total`` steps of input, pulled one step at a time; None once the source is exhausted."""
    exhausted = False
    for _ in range(n_total):
        ext = None
        if not exhausted:
            try:
                ext = next(source)
            except StopIteration:
                exhausted = True
        yield ext


def _layer_step(layer: LoihiLayer, synapses: Synapses, history: deque[np.ndarray], state: CompartmentState,
                src: np.ndarray, tally: dict[str, int], fan_out: np.ndarray,
                max_abs_event: int | None) -> tuple[np.ndarray, CompartmentState]:
    """One step of one layer: the source spikes enter its axon delay line, the delayed ones its dendrites."""
    history.append(src)
    events = history.popleft()
    nz = events != 0
    tally["input_events"] += int(np.count_nonzero(nz))
    tally["synops"] += int((nz.astype(np.float64) @ fan_out).sum())
    a = shift_by_exponent(synapses.accumulate(events, max_abs_event), layer.weight_exp)
    spikes, state = compartment_step(a, state, layer.compartment)
    tally["spikes"] += int(np.count_nonzero(spikes))
    return spikes, state


def _run_result(net: LoihiNetwork, states: list[CompartmentState], spike_counts: list[np.ndarray],
                tallies: list[dict[str, int]], batch: int, n_total: int,
                traces: dict[str, np.ndarray] | None) -> LoihiRun:
    """Scores of the chip's own read-out (counts + residual voltage, or voltage) and the counts."""
    last = net.layers[-1]
    if net.readout == "count":
        vth = max(last.compartment.vth_eff, 1)
        frac = np.clip(states[-1].v / vth, 0.0, 0.999)
        scores = spike_counts[-1] + frac
    else:
        scores = states[-1].v.astype(np.float64)
    counts = tuple(
        LayerCounts(
            name=layer.name or f"layer{i}", neurons=layer.n_out,
            spikes=tallies[i]["spikes"], synops=tallies[i]["synops"],
            input_events=tallies[i]["input_events"],
            neuron_updates=layer.n_out * batch * n_total,
        )
        for i, layer in enumerate(net.layers)
    )
    return LoihiRun(
        n_steps=n_total, batch=batch, scores=scores, spike_counts=tuple(spike_counts),
        final_state=tuple(states), counts=counts, traces=traces,
    )


def simulate(net: LoihiNetwork, inputs: np.ndarray | Iterable[np.ndarray], *,
             n_steps: int | None = None, record: bool = False,
             record_output: bool = False) -> LoihiRun:
    """Run the integer network on a batch.

    ``inputs``: array [T, batch, n_in] or an iterable of per-step arrays
    [batch, n_in] (0/1 spikes, or graded payloads on loihi2). Runs ``n_steps``
    steps (default: the number of input steps); steps past the end of the
    input get no input events, so ``n_steps = T + net.total_axon_delay`` lets
    the last input spikes reach the read-out. ``record=True`` keeps u, v and
    spikes of every layer at every step (``traces['u0']`` ... [steps, batch, n]);
    ``record_output=True`` keeps only the last layer's spikes and voltage
    (``traces['out_s']``, ``traces['out_v']``), enough for windowed or filtered
    read-outs.
    """
    source, n_total, batch = _input_source(inputs, n_steps)
    layers = net.layers
    synapses = [Synapses(layer.weight_mant) for layer in layers]
    fan_out = [layer.fan_out_per_input.astype(np.float64) for layer in layers]
    tallies = [dict(spikes=0, synops=0, input_events=0) for _ in layers]
    states: list[CompartmentState] | None = None
    histories: list[deque[np.ndarray]] = []
    spike_counts: list[np.ndarray] = []
    rec: dict[str, list[np.ndarray]] = {}

    for t, ext in enumerate(_padded(source, n_total)):
        if ext is not None:
            ext = _check_events(ext, net.profile, net.n_in, batch, t)
            if batch is None:
                batch = ext.shape[0]
        if batch is None:
            raise ConfigError("inputs are empty: cannot infer the batch size")
        if states is None:
            states = [compartment_init((batch, layer.n_out), layer.v_init) for layer in layers]
            histories = [deque([np.zeros((batch, layer.n_in), np.int64)] * layer.axon_delay)
                         for layer in layers]
            spike_counts = [np.zeros((batch, layer.n_out), np.int64) for layer in layers]
        src = ext if ext is not None else np.zeros((batch, net.n_in), np.int64)
        for i, layer in enumerate(layers):
            # events past the first layer are binary spikes: |event| <= 1
            spikes, states[i] = _layer_step(layer, synapses[i], histories[i], states[i], src, tallies[i],
                                            fan_out[i], None if i == 0 else 1)
            spike_counts[i] += spikes
            if record_output and i == len(layers) - 1:
                rec.setdefault("out_s", []).append(spikes)
                rec.setdefault("out_v", []).append(states[i].v)
            if record:
                rec.setdefault(f"u{i}", []).append(states[i].u)
                rec.setdefault(f"v{i}", []).append(states[i].v)
                rec.setdefault(f"s{i}", []).append(spikes)
            src = spikes

    if states is None:  # zero steps
        batch = batch or 0
        states = [compartment_init((batch, layer.n_out), layer.v_init) for layer in layers]
        spike_counts = [np.zeros((batch, layer.n_out), np.int64) for layer in layers]
    traces = {k: np.stack(v) for k, v in rec.items()} if (record or record_output) else None
    return _run_result(net, states, spike_counts, tallies, batch, n_total, traces)
