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

The step arithmetic is that of the pure functions in :mod:`.neurons`,
:mod:`.encoding` and :mod:`.readout`, done in place with the fewest torch
operations (``tests/test_snn_simulate.py`` checks the two agree exactly).
The synaptic input of a layer is ``addmm(b, u, W.T)`` (bias added every step).
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
from .neurons import IFParams, LIFParams
from .readout import filter_decay

__all__ = ["Probes", "SimResult", "simulate", "count_ann_macs", "DEFAULT_BATCH_SIZE"]

#: Jets simulated together; bounds the memory of the state tensors.
DEFAULT_BATCH_SIZE = 4096
#: torch intra-op threads while simulating (measured: one thread is fastest for these sizes).
DEFAULT_THREADS = 1
#: Largest T accepted (a guard against typos such as 1e9 steps).
MAX_TIMESTEPS = 1_000_000
#: Neuron kinds inside the step loop.
_IF, _LIF, _SRELU = 0, 1, 2


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
        self.n = layer.n_out


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
    if not isinstance(net, SpikingNetwork):
        raise ModelError(f"expected a SpikingNetwork, got {type(net).__name__}")
    try:
        T = int(T)
    except (TypeError, ValueError):
        raise ConfigError(f"T must be a positive integer, got {T!r}") from None
    if not 1 <= T <= MAX_TIMESTEPS:
        raise ConfigError(f"T must be in 1..{MAX_TIMESTEPS}, got {T}")
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    batch_size = int(batch_size)
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

    enc = net.encoding
    ro = net.readout
    C = net.n_outputs
    layers, fan, input_macs = _prepare(net)
    out_spiking = net.layers[-1].spiking
    filt_a = filter_decay(ro.tau, net.dt) if ro.kind == "filtered" else 0.0
    alpha_filter = ro.kind == "filtered" and ro.filter == "alpha"

    pred_dtype = np.uint8 if C <= np.iinfo(np.uint8).max else np.int64
    predictions = np.empty((len(rec), n), dtype=pred_dtype)
    scores = np.empty((n, C), dtype=np.float32)
    scores_at = {t: np.empty((n, C), dtype=np.float32) for t in probes.score_steps}
    spk_tot = [np.zeros((T, ly.n), dtype=np.float64) for ly in layers]
    in_tot = np.zeros((T, net.n_inputs), dtype=np.float64) if enc.spiking else None
    jet_spk = np.zeros((n, L), dtype=np.float64) if probes.jet_spikes else None
    k_tr = 0 if trace_jets is None else len(trace_jets)
    out_trace = np.empty((T, k_tr, C), dtype=np.float32) if probes.output else None
    mem_trace = {li: np.empty((T, k_tr, len(ix)), dtype=np.float32) for li, ix in probes.membrane.items()}
    raster = {li: np.zeros((T, k_tr, ly.n), dtype=np.uint8) for li, ly in enumerate(layers)} if probes.raster else {}
    rec_row = np.full(T + 1, -1, dtype=np.int64)
    rec_row[rec] = np.arange(len(rec))
    score_rows = set(probes.score_steps)

    gen = torch.Generator().manual_seed(int(seed))

    with torch.no_grad():
        for start in range(0, n, batch_size):
            xb = Xt[start:start + batch_size]
            B = xb.shape[0]
            # which trace jets fall in this chunk, and their rows inside it
            if trace_jets is not None:
                sel = (trace_jets >= start) & (trace_jets < start + B)
                tr_local = torch.from_numpy(trace_jets[sel] - start)
                tr_pos = np.flatnonzero(sel)
            else:
                tr_local = tr_pos = None
            has_tr = tr_local is not None and len(tr_local) > 0

            # ---- encoder state
            if enc.spiking:
                prob = torch.clamp(xb.abs() / enc.scale, max=1.0)
                sign = torch.sign(xb)
                acc_in = torch.full_like(xb, REGULAR_PHASE) if enc.kind == "regular" else None
                fired = torch.empty_like(xb)
                u0 = torch.empty_like(xb)
                in_buf = torch.empty((T, net.n_inputs))
                z0 = None
            else:
                z0 = torch.addmm(layers[0].b, xb, layers[0].wt)
            # ---- layer states
            v = []
            cur = []
            s = []
            for ly in layers:
                p = ly.neuron
                if p is None:
                    v.append(None)
                    cur.append(None)
                    s.append(None)
                    continue
                v0 = p.v_init if isinstance(p, IFParams | LIFParams) else 0.0
                v.append(torch.full((B, ly.n), float(v0)))
                cur.append(torch.zeros(B, ly.n) if isinstance(p, LIFParams) else None)
                s.append(torch.zeros(B, ly.n))
            acc = torch.zeros(B, C)
            mid = torch.zeros(B, C) if alpha_filter else None
            sbuf = [torch.empty((T, ly.n)) for ly in layers]
            jbuf = torch.zeros(B, L) if jet_spk is not None else None
            pbuf = torch.empty((len(rec), B), dtype=torch.long)

            # per-layer kernels: plain tuples, so the step loop does no attribute lookups
            kern = []
            for li, ly in enumerate(layers):
                p = ly.neuron
                if p is None:
                    continue
                if isinstance(p, IFParams):
                    code, th, sub = _IF, p.threshold, p.reset == "subtract"
                    dsyn = dmem = gain = 0.0
                elif isinstance(p, LIFParams):
                    code, th, sub = _LIF, p.threshold, p.reset == "subtract"
                    dsyn, dmem, gain = p.decay_syn, p.decay_mem, 0.0
                else:
                    code, th, sub, dsyn, dmem, gain = _SRELU, 0.0, True, 0.0, 0.0, p.gain
                zb = torch.empty(B, ly.n) if li else None  # synaptic input buffer (no allocation per step)
                kern.append((li, code, v[li], s[li], cur[li], ly.b, ly.wt, th, sub, dsyn, dmem, gain, sbuf[li], zb))
            out_b, out_wt = layers[-1].b, layers[-1].wt
            out_z = torch.empty(B, C)
            filtered = ro.kind == "filtered"
            out_value = net.layers[-1].neuron.spike_value if out_spiking else 1.0
            slow = jbuf is not None or has_tr or bool(score_rows)
            rec_list = rec_row.tolist()
            poisson = enc.kind == "poisson"

            for t in range(T):
                # input of layer 0
                if enc.spiking:
                    if poisson:
                        u = torch.rand(prob.shape, generator=gen)
                        torch.lt(u, prob, out=fired)
                    else:
                        acc_in.add_(prob)
                        torch.ge(acc_in, 1.0, out=fired)
                        acc_in.sub_(fired)
                    torch.sum(fired, 0, out=in_buf[t])
                    torch.mul(fired, sign, out=u0)
                    z = torch.addmm(layers[0].b, u0, layers[0].wt)
                else:
                    z = z0
                prev = None
                for li, code, vl, sl, il, b, wt, th, sub, dsyn, dmem, gain, sb, zb in kern:
                    if li:
                        z = torch.addmm(b, prev, wt, out=zb)
                    if code == _IF:
                        vl.add_(z)
                        torch.ge(vl, th, out=sl)
                    elif code == _LIF:
                        il.mul_(dsyn).add_(z)
                        vl.mul_(dmem).add_(il)
                        torch.ge(vl, th, out=sl)
                    else:
                        vl.add_(torch.clamp(z, min=0.0).mul_(gain))
                        torch.floor(vl, out=sl)
                    if code == _SRELU:
                        vl.sub_(sl)
                    elif sub:
                        vl.sub_(sl, alpha=th)
                    else:
                        vl.mul_(1.0 - sl)
                    torch.sum(sl, 0, out=sb[t])
                    prev = sl
                    if slow:
                        if jbuf is not None:
                            jbuf[:, li] += sl.sum(1)
                        if has_tr and probes.raster:
                            raster[li][t, tr_pos] = sl[tr_local].to(torch.uint8).numpy()
                # read-out of the output layer's signal
                if out_spiking:
                    sig = prev * out_value if filtered and out_value != 1.0 else prev
                    if not filtered:
                        acc.add_(sig)
                else:
                    sig = torch.addmm(out_b, prev, out_wt, out=out_z) if prev is not None else z
                    if not filtered:
                        acc.add_(sig)
                if filtered:
                    if alpha_filter:
                        mid.mul_(filt_a).add_(sig, alpha=1.0 - filt_a)
                        acc.mul_(filt_a).add_(mid, alpha=1.0 - filt_a)
                    else:
                        acc.mul_(filt_a).add_(sig, alpha=1.0 - filt_a)
                tt = t + 1
                r = rec_list[tt]
                if r >= 0:
                    torch.argmax(acc, 1, out=pbuf[r])
                if slow and (tt in score_rows or (has_tr and (probes.output or probes.membrane))):
                    sc = acc if filtered else acc / tt
                    if tt in score_rows:
                        scores_at[tt][start:start + B] = sc.numpy()
                    if has_tr and probes.output:
                        out_trace[t, tr_pos] = sc[tr_local].numpy()
                    if has_tr:
                        for li, ix in probes.membrane.items():
                            src = v[li] if v[li] is not None else acc
                            mem_trace[li][t, tr_pos] = src[tr_local][:, list(ix)].numpy()

            sc = acc if ro.kind == "filtered" else acc / T
            scores[start:start + B] = sc.numpy()
            predictions[:, start:start + B] = pbuf.numpy().astype(pred_dtype)
            for li in range(L):
                spk_tot[li] += sbuf[li].numpy() if layers[li].neuron is not None else 0.0
            if in_tot is not None:
                in_tot += in_buf.numpy()
            if jet_spk is not None:
                jet_spk[start:start + B] = jbuf.numpy()

    # synapses leaving each unit: the inputs of layer l fan out through W_l
    return SimResult(
        T=T,
        dt=net.dt,
        n_jets=n,
        steps=rec,
        predictions=predictions,
        scores=scores,
        scores_at=scores_at,
        layer_names=net.layer_names,
        layer_sizes=tuple(ly.n for ly in layers),
        spikes_per_step=tuple(spk_tot),
        input_events_per_step=in_tot,
        fan_out=fan,
        input_macs=input_macs,
        sizes=net.sizes,
        spiking=tuple(layer.spiking for layer in net.layers),
        jets=trace_jets,
        output_trace=out_trace,
        membrane_trace=mem_trace,
        raster=raster,
        jet_spikes=jet_spk,
    )
