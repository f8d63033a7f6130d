"""The float reference simulator: batched PyTorch, T steps, probes and exact op counts.

``simulate(net, X, T)`` runs a :class:`~spikejet.snn.network.SpikingNetwork` on
the (standardized) features ``X`` for ``T`` steps and returns a
:class:`SimResult` with

* the prediction of every jet at every recorded step ``t <= T`` (so one run
  gives the whole accuracy-versus-time-steps curve) and the scores at ``T``;
* exact counts per layer: spikes, synaptic operations (each spike times its
  fan-out, i.e. the non-zero weights leaving the neuron), neuron updates, and
  for the ``current`` encoding the multiply-accumulates of the off-chip first
  layer; the ANN's MACs for comparison (:func:`count_ann_macs`);
* optional traces (:class:`Probes`): output scores, membranes of chosen
  neurons, spike rasters of chosen jets, total spikes per jet.

Memory does not grow with ``T`` except for what is recorded per step: the
predictions (one byte per jet and step), the per-neuron spike sums over the
batch (``T x neurons`` floats) and the traces asked for. Jets are processed in
chunks of ``batch_size``.

Every step runs the pure functions of :mod:`.neurons` (the neuron dynamics),
:mod:`.synapse` and :mod:`.readout`; only the encoder is written in place here
(``tests/test_snn_simulate.py`` checks it against :mod:`.encoding`). The input
of a layer without a synapse is ``addmm(b, u, W.T)`` (bias added every step);
with one, ``c + b`` where ``c`` is the synapse's current for ``u @ W.T``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError, ModelError
from .encoding import REGULAR_PHASE
from .network import SpikingNetwork, count_ann_macs
from .neurons import init_state, step
from .readout import readout_decision, readout_init, readout_scores, readout_step
from .synapse import SynapseState, synapse_init, synapse_step

__all__ = ["Probes", "SimResult", "simulate", "count_ann_macs", "DEFAULT_BATCH_SIZE"]

#: Jets simulated together; bounds the memory of the state tensors.
DEFAULT_BATCH_SIZE = 4096
#: torch intra-op threads while simulating (measured: one thread is fastest for these sizes).
DEFAULT_THREADS = 1
#: Largest T accepted (a guard against typos such as 1e9 steps).
MAX_TIMESTEPS = 1_000_000


@dataclass(frozen=True)
class Probes:
    """What to record besides predictions and counts.

    ``jets``: row indices of ``X`` whose traces are kept (``None``: all rows).
    ``output``: the scores of those jets at every step, ``[T, k, classes]``.
    ``membrane``: ``{layer: neuron indices}``; membrane traces ``[T, k, n]``
    (for a non-spiking output layer: the integrated current).
    ``raster``: spikes of every layer for those jets, ``[T, k, n_l]`` (uint8 counts).
    ``jet_spikes``: total spikes per jet and layer at ``T``, ``[n, L]``.
    ``score_steps``: extra steps at which the scores of every jet are kept.
    """

    jets: tuple[int, ...] | None = None
    output: bool = False
    membrane: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    raster: bool = False
    jet_spikes: bool = False
    score_steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.jets is not None:
            jets = tuple(int(j) for j in self.jets)
            if not jets:
                raise ConfigError("probe jets is empty; give row indices or None for all rows")
            object.__setattr__(self, "jets", jets)
        mem = {int(k): tuple(int(i) for i in v) for k, v in dict(self.membrane).items()}
        for k, v in mem.items():
            if not v:
                raise ConfigError(f"membrane probe of layer {k} names no neurons")
        object.__setattr__(self, "membrane", mem)
        object.__setattr__(self, "score_steps", tuple(sorted({int(t) for t in self.score_steps})))

    @property
    def wants_traces(self) -> bool:
        return self.output or self.raster or bool(self.membrane)


@dataclass(frozen=True, eq=False)
class SimResult:
    """Everything one simulation measured. Counts are exact; arrays are numpy.

    ``predictions[k, j]``: class of jet ``j`` after ``steps[k]`` steps.
    ``scores``: ``[n, classes]`` at ``T``; ``scores_at``: extra steps.
    ``spikes_per_step[l]``: ``[T, n_l]`` spikes of each neuron at each step,
    summed over jets; ``input_events_per_step``: the same for input events.
    """

    T: int
    dt: float
    n_jets: int
    steps: np.ndarray
    predictions: np.ndarray
    scores: np.ndarray
    scores_at: dict[int, np.ndarray]
    layer_names: tuple[str, ...]
    layer_sizes: tuple[int, ...]
    spikes_per_step: tuple[np.ndarray, ...]
    input_events_per_step: np.ndarray | None
    fan_out: tuple[np.ndarray, ...]
    input_macs: int
    sizes: tuple[int, ...]
    spiking: tuple[bool, ...]
    jets: np.ndarray | None = None
    output_trace: np.ndarray | None = None
    membrane_trace: dict[int, np.ndarray] = field(default_factory=dict)
    raster: dict[int, np.ndarray] = field(default_factory=dict)
    jet_spikes: np.ndarray | None = None

    # ------------------------------------------------------------ accuracy
    def _row(self, t: int | None) -> int:
        t = self.T if t is None else int(t)
        k = int(np.searchsorted(self.steps, t))
        if k >= len(self.steps) or self.steps[k] != t:
            raise ConfigError(f"step {t} was not recorded; recorded steps run {self.steps[0]}..{self.steps[-1]}")
        return k

    def predictions_at(self, t: int | None = None) -> np.ndarray:
        return self.predictions[self._row(t)].astype(np.int64)

    def accuracy(self, y: np.ndarray) -> np.ndarray:
        """Accuracy at every recorded step, ``[len(steps)]``."""
        y = np.asarray(y)
        if y.shape != (self.n_jets,):
            raise ConfigError(f"labels have shape {y.shape}, expected ({self.n_jets},)")
        return (self.predictions == y[None, :]).mean(axis=1)

    def accuracy_at(self, y: np.ndarray, t: int | None = None) -> float:
        return float(self.accuracy(y)[self._row(t)])

    # --------------------------------------------------------------- counts
    def _t(self, t: int | None) -> int:
        t = self.T if t is None else int(t)
        if not 1 <= t <= self.T:
            raise ConfigError(f"step {t} is outside 1..{self.T}")
        return t

    def spikes_per_inference(self, t: int | None = None) -> np.ndarray:
        """Mean spikes per jet of each layer over the first ``t`` steps, ``[L]``."""
        t = self._t(t)
        return np.array([s[:t].sum() for s in self.spikes_per_step]) / self.n_jets

    def synops_per_inference(self, t: int | None = None) -> np.ndarray:
        """Mean synaptic operations per jet arriving at each layer, ``[L]``.

        A spike of neuron ``j`` of layer ``l-1`` (or an input event into layer
        0) costs one operation per non-zero weight leaving it.
        """
        t = self._t(t)
        out = np.zeros(len(self.layer_sizes))
        if self.input_events_per_step is not None:
            out[0] = self.input_events_per_step[:t].sum(axis=0) @ self.fan_out[0]
        for li in range(1, len(self.layer_sizes)):
            out[li] = self.spikes_per_step[li - 1][:t].sum(axis=0) @ self.fan_out[li]
        return out / self.n_jets

    def neuron_updates_per_inference(self, t: int | None = None) -> np.ndarray:
        """Neuron state updates per jet per layer: every neuron every step, ``[L]``."""
        t = self._t(t)
        return np.array(self.layer_sizes, dtype=np.float64) * t

    def firing_rate_hz(self, t: int | None = None) -> np.ndarray:
        """Mean firing rate of each layer's neurons over the first ``t`` steps, in Hz."""
        t = self._t(t)
        return self.spikes_per_inference(t) / (np.array(self.layer_sizes) * t * self.dt)

    def neuron_rate_hz(self, layer: int, t: int | None = None) -> np.ndarray:
        """Mean firing rate of every neuron of ``layer`` (averaged over jets), in Hz."""
        t = self._t(t)
        return self.spikes_per_step[layer][:t].sum(axis=0) / (self.n_jets * t * self.dt)

    def op_counts(self, t: int | None = None) -> dict:
        """All counts per inference at step ``t`` as plain JSON."""
        t = self._t(t)
        spikes = self.spikes_per_inference(t)
        synops = self.synops_per_inference(t)
        updates = self.neuron_updates_per_inference(t)
        rates = self.firing_rate_hz(t)
        layers = [
            {"name": n, "neurons": int(s), "spiking": bool(sp), "spikes": float(a), "synops": float(b),
             "neuron_updates": float(c), "firing_rate_hz": float(r)}
            for n, s, sp, a, b, c, r in zip(self.layer_names, self.layer_sizes, self.spiking, spikes,
                                            synops, updates, rates, strict=True)
        ]
        return {
            "timesteps": t,
            "dt": self.dt,
            "layers": layers,
            "spikes": float(spikes.sum()),
            "synops": float(synops.sum()),
            "neuron_updates": float(updates.sum()),
            "input_macs": int(self.input_macs),
            "ann_macs": count_ann_macs(self.sizes),
        }


def _as_tensor(X: np.ndarray | torch.Tensor, n_in: int) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        Xt = X.detach().to(torch.float32).cpu()
    else:
        Xt = torch.from_numpy(np.ascontiguousarray(np.asarray(X, dtype=np.float32)))
    if Xt.ndim != 2 or Xt.shape[1] != n_in:
        raise ModelError(f"features must have shape [n, {n_in}], got {tuple(Xt.shape)}")
    if Xt.shape[0] == 0:
        raise ModelError("no jets to simulate (0 rows)")
    if not torch.isfinite(Xt).all():
        raise ModelError("features contain NaN/inf; clean or standardize them first")
    return Xt


def check_timesteps(T) -> int:
    """``T`` as an int in 1..MAX_TIMESTEPS, else ConfigError (the simulator's and the engine's rule)."""
    try:
        T = int(T)
    except (TypeError, ValueError):
        raise ConfigError(f"T must be a positive integer, got {T!r}") from None
    if not 1 <= T <= MAX_TIMESTEPS:
        raise ConfigError(f"T must be in 1..{MAX_TIMESTEPS}, got {T}")
    return T


def _check_steps(steps: Sequence[int] | None, T: int) -> np.ndarray:
    if steps is None:
        return np.arange(1, T + 1, dtype=np.int64)
    arr = np.unique(np.asarray(list(steps), dtype=np.int64))
    if arr.size == 0 or arr[0] < 1 or arr[-1] > T:
        raise ConfigError(f"recorded steps must lie in 1..{T}, got {list(steps)[:5]}...")
    return arr


class _Layer:
    """Per-run tensors of one layer (weights transposed, spike value folded in)."""

    def __init__(self, layer, prev_value: float):
        w = torch.from_numpy(np.array(layer.weight, dtype=np.float32))
        if prev_value != 1.0:
            w = w * prev_value
        self.wt = w.t().contiguous()
        self.b = torch.from_numpy(np.array(layer.bias, dtype=np.float32))
        self.neuron = layer.neuron
        self.synapse = layer.synapse
        self.n = layer.n_out

    def drive(self, u: torch.Tensor, syn: SynapseState | None, dt: float) -> tuple[torch.Tensor, SynapseState | None]:
        """The layer's input ``z`` for the events/values ``u`` of the layer below."""
        if self.synapse is None:
            return torch.addmm(self.b, u, self.wt), None
        c, syn = synapse_step(u @ self.wt, syn, self.synapse, dt)
        return c + self.b, syn


#: Per-network tensors, reused across calls (a network is immutable; entries go with it).
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepare(net: SpikingNetwork) -> tuple[list[_Layer], tuple[np.ndarray, ...], int]:
    """Transposed weights with spike values folded in, fan-outs, first-layer MACs (cached)."""
    hit = _PREPARED.get(net)
    if hit is not None:
        return hit
    layers = []
    prev_value = net.encoding.scale if net.encoding.spiking else 1.0
    for layer in net.layers:
        layers.append(_Layer(layer, prev_value))
        prev_value = layer.neuron.spike_value if layer.neuron is not None else 1.0
    # synapses leaving each unit: the inputs of layer l fan out through W_l
    fan = tuple(layer.fan_out() for layer in net.layers)
    input_macs = 0 if net.encoding.spiking else int(np.count_nonzero(net.layers[0].weight))
    _PREPARED[net] = (layers, fan, input_macs)
    return layers, fan, input_macs


def simulate(
    net: SpikingNetwork,
    X: np.ndarray | torch.Tensor,
    T: int,
    *,
    probes: Probes | None = None,
    seed: int = 0,
    steps: Sequence[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = DEFAULT_THREADS,
) -> SimResult:
    """Simulate ``net`` on standardized features ``X`` ([n, n_in]) for ``T`` steps.

    ``steps``: the steps at which predictions are recorded (default every step
    1..T). ``seed`` drives the Poisson encoder (results depend on ``seed`` and
    ``batch_size`` only). Raises :class:`ConfigError`/:class:`ModelError` on bad
    input. Runs under ``torch.no_grad`` on the CPU in float32, with ``threads``
    torch intra-op threads (restored afterwards; ``None`` leaves the setting
    alone): the matrices are small, so one thread is fastest and does not
    collapse when other jobs share the cores.
    """
    if threads is None:
        return _simulate(net, X, T, probes=probes, seed=seed, steps=steps, batch_size=batch_size)
    if int(threads) < 1:
        raise ConfigError(f"threads must be >= 1 (or None), got {threads}")
    prev = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        return _simulate(net, X, T, probes=probes, seed=seed, steps=steps, batch_size=batch_size)
    finally:
        torch.set_num_threads(prev)


def _check_run(net: SpikingNetwork, X, T, probes: Probes | None, steps, batch_size):
    """Validated (T, batch size, probes, features, recorded steps, trace jets) of one call."""
    if not isinstance(net, SpikingNetwork):
        raise ModelError(f"expected a SpikingNetwork, got {type(net).__name__}")
    T = check_timesteps(T)
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    probes = probes or Probes()
    Xt = _as_tensor(X, net.n_inputs)
    n = Xt.shape[0]
    rec = _check_steps(steps, T)
    L = len(net.layers)
    for t in probes.score_steps:
        if not 1 <= t <= T:
            raise ConfigError(f"score step {t} is outside 1..{T}")
    for layer_idx, idx in probes.membrane.items():
        if not 0 <= layer_idx < L:
            raise ConfigError(f"membrane probe names layer {layer_idx}; the network has layers 0..{L - 1}")
        if min(idx) < 0 or max(idx) >= net.layers[layer_idx].n_out:
            raise ConfigError(f"membrane probe of layer {layer_idx}: neuron index outside 0..{net.layers[layer_idx].n_out - 1}")
    trace_jets = None
    if probes.wants_traces:
        trace_jets = np.arange(n) if probes.jets is None else np.asarray(probes.jets, dtype=np.int64)
        if trace_jets.min() < 0 or trace_jets.max() >= n:
            raise ConfigError(f"probe jets must be row indices in 0..{n - 1}")
    return T, int(batch_size), probes, Xt, rec, trace_jets


class _Encoder:
    """The input events of one chunk, in place (the arithmetic of :func:`.encoding.encoder_step`;
    the event value ``scale`` is folded into the first layer's weights)."""

    def __init__(self, xb: torch.Tensor, enc, T: int, gen: torch.Generator):
        self.spiking = enc.spiking
        self.poisson = enc.kind == "poisson"
        self.gen = gen
        if self.spiking:
            self.prob = torch.clamp(xb.abs() / enc.scale, max=1.0)
            self.sign = torch.sign(xb)
            self.acc = torch.full_like(xb, REGULAR_PHASE) if enc.kind == "regular" else None
            self.fired = torch.empty_like(xb)
            self.u = torch.empty_like(xb)
            self.events = torch.empty((T, xb.shape[1]))

    def step(self, t: int) -> torch.Tensor:
        if self.poisson:
            u = torch.rand(self.prob.shape, generator=self.gen)
            torch.lt(u, self.prob, out=self.fired)
        else:
            self.acc.add_(self.prob)
            torch.ge(self.acc, 1.0, out=self.fired)
            self.acc.sub_(self.fired)
        torch.sum(self.fired, 0, out=self.events[t])
        return torch.mul(self.fired, self.sign, out=self.u)


class _Run:
    """The buffers of one simulation and the step loop over chunks of jets."""

    def __init__(self, net: SpikingNetwork, T: int, rec: np.ndarray, probes: Probes, trace_jets, n: int):
        self.net, self.T, self.rec, self.probes, self.trace_jets = net, T, rec, probes, trace_jets
        self.layers, self.fan, self.input_macs = _prepare(net)
        C = net.n_outputs
        L = len(net.layers)
        self.pred_dtype = np.uint8 if C <= np.iinfo(np.uint8).max else np.int64
        self.predictions = np.empty((len(rec), n), dtype=self.pred_dtype)
        self.scores = np.empty((n, C), dtype=np.float32)
        self.scores_at = {t: np.empty((n, C), dtype=np.float32) for t in probes.score_steps}
        self.spk_tot = [np.zeros((T, ly.n), dtype=np.float64) for ly in self.layers]
        self.in_tot = np.zeros((T, net.n_inputs), dtype=np.float64) if net.encoding.spiking else None
        self.jet_spk = np.zeros((n, L), dtype=np.float64) if probes.jet_spikes else None
        k_tr = 0 if trace_jets is None else len(trace_jets)
        self.out_trace = np.empty((T, k_tr, C), dtype=np.float32) if probes.output else None
        self.mem_trace = {li: np.empty((T, k_tr, len(ix)), dtype=np.float32) for li, ix in probes.membrane.items()}
        self.raster = ({li: np.zeros((T, k_tr, ly.n), dtype=np.uint8) for li, ly in enumerate(self.layers)}
                       if probes.raster else {})
        rec_row = np.full(T + 1, -1, dtype=np.int64)
        rec_row[rec] = np.arange(len(rec))
        self.rec_list = rec_row.tolist()
        self.score_rows = set(probes.score_steps)
        out = net.layers[-1]
        # what a spiking output layer hands the read-out: its events, times their value when filtered
        self.out_value = out.neuron.spike_value if out.spiking and net.readout.kind == "filtered" else 1.0

    def _trace_rows(self, start: int, B: int):
        if self.trace_jets is None:
            return None, None, False
        sel = (self.trace_jets >= start) & (self.trace_jets < start + B)
        tr_local = torch.from_numpy(self.trace_jets[sel] - start)
        return tr_local, np.flatnonzero(sel), len(tr_local) > 0

    def chunk(self, xb: torch.Tensor, start: int, gen: torch.Generator) -> None:
        """Simulate the jets ``xb`` (rows ``start..``) for T steps and store what they measured."""
        net, layers, T, dt, probes = self.net, self.layers, self.T, self.net.dt, self.probes
        B = xb.shape[0]
        tr_local, tr_pos, has_tr = self._trace_rows(start, B)
        enc = _Encoder(xb, net.encoding, T, gen)
        first = layers[0]
        # a constant current: the first layer's weighted sum is done once (with a synapse, its filter runs every step)
        x0 = None if enc.spiking else (xb @ first.wt if first.synapse is not None else torch.addmm(first.b, xb, first.wt))
        states = [init_state((B, ly.n), ly.neuron) if ly.neuron is not None else None for ly in layers]
        syns = [synapse_init((B, ly.n)) if ly.synapse is not None else None for ly in layers]
        ro, readout = readout_init((B, net.n_outputs), net.readout), net.readout
        sbuf = [torch.empty((T, ly.n)) for ly in layers]
        jbuf = torch.zeros(B, len(layers)) if self.jet_spk is not None else None
        pbuf = torch.empty((len(self.rec), B), dtype=torch.long)
        raster = self.raster if has_tr and probes.raster else None
        traced = has_tr and (probes.output or bool(probes.membrane))
        for t in range(T):
            sig = None
            for li, ly in enumerate(layers):
                if li:
                    z, syns[li] = ly.drive(sig, syns[li], dt)
                elif enc.spiking:
                    z, syns[0] = ly.drive(enc.step(t), syns[0], dt)
                elif ly.synapse is not None:
                    c, syns[0] = synapse_step(x0, syns[0], ly.synapse, dt)
                    z = c + ly.b
                else:
                    z = x0
                if ly.neuron is None:  # the non-spiking output layer: its current is the read-out signal
                    sig = z
                    break
                sig, states[li] = step(z, states[li], ly.neuron)
                torch.sum(sig, 0, out=sbuf[li][t])
                if jbuf is not None:
                    jbuf[:, li] += sig.sum(1)
                if raster is not None:
                    raster[li][t, tr_pos] = sig[tr_local].clamp(max=255).to(torch.uint8).numpy()
            ro = readout_step(sig * self.out_value if self.out_value != 1.0 else sig, ro, readout, dt)
            tt = t + 1
            r = self.rec_list[tt]
            if r >= 0:
                torch.argmax(readout_decision(ro, readout), 1, out=pbuf[r])
            if tt in self.score_rows or traced:
                self._record(t, ro, states, start, B, tr_local, tr_pos, has_tr)
        self.scores[start:start + B] = readout_scores(ro, readout).numpy()
        self.predictions[:, start:start + B] = pbuf.numpy().astype(self.pred_dtype)
        for li, ly in enumerate(layers):
            self.spk_tot[li] += sbuf[li].numpy() if ly.neuron is not None else 0.0
        if self.in_tot is not None:
            self.in_tot += enc.events.numpy()
        if self.jet_spk is not None:
            self.jet_spk[start:start + B] = jbuf.numpy()

    def _record(self, t: int, ro, states, start: int, B: int, tr_local, tr_pos, has_tr: bool) -> None:
        """Scores at a requested step, and the traces of the probed jets."""
        tt = t + 1
        sc = readout_scores(ro, self.net.readout)
        if tt in self.score_rows:
            self.scores_at[tt][start:start + B] = sc.numpy()
        if has_tr and self.probes.output:
            self.out_trace[t, tr_pos] = sc[tr_local].numpy()
        if has_tr:
            for li, ix in self.probes.membrane.items():
                src = states[li].v if states[li] is not None else ro.acc
                self.mem_trace[li][t, tr_pos] = src[tr_local][:, list(ix)].numpy()

    def result(self, n: int) -> SimResult:
        net = self.net
        return SimResult(
            T=self.T, dt=net.dt, n_jets=n, steps=self.rec, predictions=self.predictions, scores=self.scores,
            scores_at=self.scores_at, layer_names=net.layer_names, layer_sizes=tuple(ly.n for ly in self.layers),
            spikes_per_step=tuple(self.spk_tot), input_events_per_step=self.in_tot, fan_out=self.fan,
            input_macs=self.input_macs, sizes=net.sizes, spiking=tuple(layer.spiking for layer in net.layers),
            jets=self.trace_jets, output_trace=self.out_trace, membrane_trace=self.mem_trace, raster=self.raster,
            jet_spikes=self.jet_spk,
        )


def _simulate(
    net: SpikingNetwork,
    X: np.ndarray | torch.Tensor,
    T: int,
    *,
    probes: Probes | None,
    seed: int,
    steps: Sequence[int] | None,
    batch_size: int,
) -> SimResult:
    T, batch_size, probes, Xt, rec, trace_jets = _check_run(net, X, T, probes, steps, batch_size)
    n = Xt.shape[0]
    run = _Run(net, T, rec, probes, trace_jets, n)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for start in range(0, n, batch_size):
            run.chunk(Xt[start:start + batch_size], start, gen)
    return run.result(n)
