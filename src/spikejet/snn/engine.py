"""The inference engine: compiled, event-driven simulation of a float SpikingNetwork.

``simulate(net, X, T)`` is a drop-in for :func:`spikejet.snn.simulate.simulate`
(same arguments, same :class:`~spikejet.snn.simulate.SimResult`: predictions at
every recorded step, scores, spikes per step and layer, input events, so the
same synaptic-operation counts) that runs several times faster. The reference
simulator stays the definition; this is the fast path for evaluation.

What it exploits (``docs/snn.md``, "The inference engine", has the measurements
that chose it):

* the whole time loop of a jet runs inside one compiled call (numba), with the
  jet's membranes in L1-sized scratch arrays, instead of ``T x layers`` dense
  matrix products with the whole batch's state streaming through memory;
* spikes are binary and sparse: a layer emits 64-bit spike masks and the next
  layer adds only the weight rows of the neurons that fired (about one in ten);
* the constant-current first layer ``W0 x + b0`` is computed once per jet
  (with the reference's own ``torch.addmm``, so that layer is bit-identical),
  not every step;
* float32 throughout, weights ``W^T`` padded to whole SIMD registers;
* ``threads > 1``: jets are split over cores (``numba.prange``), each range with
  its own counters, summed at the end.

Agreement with the reference: the neuron, encoder and read-out arithmetic is
the reference's float32 arithmetic in the same order; only the synaptic sums
(``sum`` of the weights of the spiking inputs) add the same numbers in another
order than BLAS, i.e. differ by float32 rounding (a few ulp). A membrane that
lands within that rounding of its threshold can therefore spike one step
earlier or later; on random networks this flips the class of well under 1 % of
jets (``tests/test_engine.py`` states the tolerances). Integer-valued
networks (the Loihi model) have their own bit-exact engine,
:mod:`spikejet.snn.engine_loihi`.

Not supported here (use the reference simulator): membrane, output and raster
traces (``Probes.output / membrane / raster``). ``Probes.jet_spikes`` and
``Probes.score_steps`` are supported.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError, ModelError
from .network import SpikingNetwork
from .neurons import IFParams, LIFParams, SpikingReLUParams
from .readout import filter_decay
from .simulate import (
    DEFAULT_BATCH_SIZE,
    Probes,
    SimResult,
    _as_tensor,
    _check_steps,
    check_timesteps,
)

__all__ = ["simulate", "simulate_chunks", "ChunkedResult", "merge_results", "ENGINE_THREADS"]

#: Cores used by default (one: predictable, and it does not fight other jobs for the cores).
ENGINE_THREADS = 1

_lock = threading.Lock()

#: Use the kernels generated per network shape where they apply (``False``: always the generic
#: kernel; the two give identical results, the switch exists for tests and benchmarks).
GENERATED_KERNELS = True


def _kernels():
    """The numba kernels (imported on first use: numba's import costs about 0.3 s)."""
    from . import _kernels as K

    return K


def _codegen():
    """The per-shape kernel generator (imports numba on first use)."""
    from . import _codegen as G

    return G


def _pad(n: int, to: int) -> int:
    return max(to, -(-n // to) * to)


@dataclass(frozen=True, eq=False)
class _Plan:
    """Per-network arrays of the float kernel (padded, folded, typed); cached per network."""

    kinds: np.ndarray
    th: np.ndarray
    sub: np.ndarray
    dsyn: np.ndarray
    dmem: np.ndarray
    gain: np.ndarray
    vinit: np.ndarray
    p16: np.ndarray
    p64: np.ndarray
    offs: np.ndarray
    sizes: tuple[int, ...]
    ws: np.ndarray
    bias: np.ndarray
    out_value: np.float32
    ro: int
    fa: np.float32
    fb: np.float32
    enc: int
    fan: tuple[np.ndarray, ...]
    input_macs: int


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def unsupported(net: SpikingNetwork) -> str | None:
    """Why the engine cannot run ``net`` exactly (None: it can): synapses and the running
    ``mean``/``last`` read-outs have no kernel yet; the reference simulator runs them."""
    if any(getattr(ly, "synapse", None) is not None for ly in net.layers):
        return "layers with synapses"
    if net.readout.kind in ("mean", "last"):
        return f"the {net.readout.kind!r} read-out"
    return None


def simulate_fast(net: SpikingNetwork, X, T: int, **kw) -> SimResult:
    """The engine where it runs ``net`` exactly, else the reference simulator (same arguments and result).

    Probes with traces (membrane, output, raster) always go to the reference simulator.
    """
    from .simulate import simulate as reference

    probes = kw.get("probes")
    if unsupported(net) is not None or (probes is not None and probes.wants_traces):
        return reference(net, X, T, **kw)
    return simulate(net, X, T, **kw)


def _plan(net: SpikingNetwork) -> _Plan:
    why = unsupported(net)
    if why is not None:
        raise ModelError(f"the engine has no kernel for {why}; use spikejet.snn.simulate.simulate "
                         "(or engine.simulate_fast, which falls back to it)")
    hit = _PLANS.get(net)
    if hit is not None:
        return hit
    K = _kernels()
    L = len(net.layers)
    sizes = tuple(ly.n_out for ly in net.layers)
    p64 = np.array([_pad(n, K.MASK_BITS) for n in sizes], dtype=np.int64)
    p16 = np.array([_pad(n, K.ROW_PAD) for n in sizes], dtype=np.int64)
    pmax = int(p64.max())
    kinds = np.empty(L, np.int64)
    th = np.zeros(L, np.float32)
    sub = np.zeros(L, np.bool_)
    dsyn = np.zeros(L, np.float32)
    dmem = np.ones(L, np.float32)
    gain = np.zeros(L, np.float32)
    vinit = np.zeros((L, pmax), np.float32)
    bias = np.zeros((L, pmax), np.float32)
    enc = net.encoding
    enc_code = {"current": K.ENC_CURRENT, "poisson": K.ENC_POISSON, "regular": K.ENC_REGULAR}[enc.kind]
    ws = []
    prev_value = enc.scale if enc.spiking else 1.0
    for li, ly in enumerate(net.layers):
        p = ly.neuron
        if p is None:
            kinds[li] = K.K_NONE
        elif isinstance(p, IFParams):
            kinds[li], th[li], sub[li] = K.K_IF, p.threshold, p.reset == "subtract"
            vinit[li, :ly.n_out] = p.v_init
        elif isinstance(p, LIFParams):
            kinds[li], th[li], sub[li] = K.K_LIF, p.threshold, p.reset == "subtract"
            dsyn[li], dmem[li] = p.decay_syn, p.decay_mem
            vinit[li, :ly.n_out] = p.v_init
        elif isinstance(p, SpikingReLUParams):
            kinds[li], gain[li] = K.K_SRELU, p.gain
        else:  # pragma: no cover - the network spec admits only these
            raise ModelError(f"the engine has no kernel for {type(p).__name__} neurons")
        # the reference folds the previous layer's spike value into the weights (float32)
        w = np.array(ly.weight, dtype=np.float32)
        if prev_value != 1.0:
            w = (torch.from_numpy(w) * prev_value).numpy()
        wt = np.zeros((ly.n_in, int(p16[li])), np.float32)
        wt[:, :ly.n_out] = w.T
        ws.append(wt)
        bias[li, :ly.n_out] = ly.bias
        prev_value = p.spike_value if p is not None else 1.0
    offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    # one 3-D array [layer, input, padded output] (the kernel indexes it, no views)
    w3 = np.zeros((L, max(w.shape[0] for w in ws), max(w.shape[1] for w in ws)), np.float32)
    for li, w in enumerate(ws):
        w3[li, :w.shape[0], :w.shape[1]] = w
    ro = net.readout
    if ro.kind == "filtered":
        a = filter_decay(ro.tau, net.dt)
        ro_code = K.RO_EXP if ro.filter == "exp" else K.RO_ALPHA
        fa, fb = np.float32(a), np.float32(1.0 - a)
    else:
        ro_code, fa, fb = K.RO_SUM, np.float32(0.0), np.float32(0.0)
    out = net.layers[-1]
    out_value = np.float32(out.neuron.spike_value if out.neuron is not None else 1.0)
    plan = _Plan(
        kinds=kinds, th=th, sub=sub, dsyn=dsyn, dmem=dmem, gain=gain, vinit=vinit, p16=p16, p64=p64,
        offs=offs, sizes=sizes, ws=w3, bias=bias,
        out_value=out_value, ro=ro_code, fa=fa, fb=fb, enc=enc_code,
        fan=tuple(layer.fan_out() for layer in net.layers),
        input_macs=0 if enc.spiking else int(np.count_nonzero(net.layers[0].weight)),
    )
    _PLANS[net] = plan
    return plan


def _features(X, n_in: int) -> np.ndarray:
    """The features as a contiguous float32 array, checked as the reference simulator checks them."""
    return np.ascontiguousarray(_as_tensor(X, n_in).numpy())


def _check_threads(threads) -> int:
    if threads is None:
        return ENGINE_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1 (or None), got {threads!r}")
    return int(threads)


def _bounds(B: int, ranges: int) -> np.ndarray:
    ranges = max(1, min(ranges, B))
    return np.linspace(0, B, ranges + 1).round().astype(np.int64)


def _run_parallel(threads: int, fn):
    """Run ``fn`` with numba using ``threads`` threads (restored afterwards)."""
    if threads <= 1:
        return fn()
    import numba

    with _lock:
        prev = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            return fn()
        finally:
            numba.set_num_threads(prev)


def simulate(
    net: SpikingNetwork,
    X: np.ndarray | torch.Tensor,
    T: int,
    *,
    probes: Probes | None = None,
    seed: int = 0,
    steps: Sequence[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int | None = ENGINE_THREADS,
    generator: torch.Generator | None = None,
) -> SimResult:
    """Simulate ``net`` on standardized features ``X`` ([n, n_in]) for ``T`` steps (fast path).

    Arguments and result as :func:`spikejet.snn.simulate.simulate`. ``threads``:
    cores the jets are spread over (default 1). ``generator``: the torch
    generator of the Poisson encoder (default: a new one seeded with ``seed``);
    with the same generator state and ``batch_size`` the input events are the
    reference simulator's, event for event. ``batch_size`` only bounds memory
    (and, for Poisson inputs, the order of the random draws, as in the reference).
    """
    T, threads, batch_size, probes, rec = _check_args(net, T, threads, batch_size, probes, steps)
    Xn = _features(X, net.n_inputs)
    n = Xn.shape[0]
    K = _kernels()
    plan = _plan(net)
    out = _Outputs.empty(net, plan, T, n, rec, probes)
    gen = None
    if plan.enc == K.ENC_POISSON:
        gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    ranges = 2 * threads if threads > 1 else 1
    for start in range(0, n, batch_size):
        xb = Xn[start:start + batch_size]
        _run_batch(net, plan, xb, T, gen, threads, ranges, out, start)
    return out.result(net, plan, T, n, rec)


def _check_args(net, T, threads, batch_size, probes, steps):
    """Validated (T, threads, batch_size, probes, recorded steps) of :func:`simulate`."""
    if not isinstance(net, SpikingNetwork):
        raise ModelError(f"expected a SpikingNetwork, got {type(net).__name__}")
    T = check_timesteps(T)
    threads = _check_threads(threads)
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    probes = probes or Probes()
    if probes.wants_traces:
        raise ConfigError("the engine records no traces (output, membrane, raster); use "
                          "spikejet.snn.simulate.simulate for those")
    for t in probes.score_steps:
        if not 1 <= t <= T:
            raise ConfigError(f"score step {t} is outside 1..{T}")
    return T, threads, int(batch_size), probes, _check_steps(steps, T)


@dataclass
class _Outputs:
    """The result arrays of one :func:`simulate` call, filled batch by batch."""

    rec_row: np.ndarray
    score_row: np.ndarray
    sst: np.ndarray
    predictions: np.ndarray
    scores: np.ndarray
    scores_at: np.ndarray
    want_jet: bool
    jet: np.ndarray
    spk_tot: np.ndarray
    in_tot: np.ndarray

    @classmethod
    def empty(cls, net, plan, T: int, n: int, rec: np.ndarray, probes: Probes) -> _Outputs:
        C, n_in, L = net.n_outputs, net.n_inputs, len(net.layers)
        rec_row = np.full(T + 1, -1, dtype=np.int64)
        rec_row[rec] = np.arange(len(rec))
        sst = np.asarray(probes.score_steps, dtype=np.int64)
        score_row = np.full(T + 1, -1, dtype=np.int64)
        score_row[sst] = np.arange(len(sst))
        pred_dtype = np.uint8 if C <= np.iinfo(np.uint8).max else np.int64
        want_jet = bool(probes.jet_spikes)
        return cls(
            rec_row=rec_row, score_row=score_row, sst=sst,
            predictions=np.empty((len(rec), n), dtype=pred_dtype),
            scores=np.empty((n, C), dtype=np.float32),
            scores_at=np.empty((len(sst), n, C), dtype=np.float32),
            want_jet=want_jet, jet=np.zeros((n if want_jet else 1, L), dtype=np.float64),
            spk_tot=np.zeros((T, int(sum(plan.sizes))), dtype=np.float64),
            in_tot=np.zeros((T, n_in), dtype=np.float64),
        )

    def result(self, net, plan, T: int, n: int, rec: np.ndarray) -> SimResult:
        spikes_per_step = tuple(
            np.ascontiguousarray(self.spk_tot[:, o:o + s]) for o, s in zip(plan.offs.tolist(), plan.sizes, strict=True)
        )
        return SimResult(
            T=T, dt=net.dt, n_jets=n, steps=rec, predictions=self.predictions, scores=self.scores,
            scores_at={int(t): self.scores_at[i] for i, t in enumerate(self.sst.tolist())},
            layer_names=net.layer_names, layer_sizes=plan.sizes, spikes_per_step=spikes_per_step,
            input_events_per_step=self.in_tot if net.encoding.spiking else None,
            fan_out=plan.fan, input_macs=plan.input_macs, sizes=net.sizes,
            spiking=tuple(layer.spiking for layer in net.layers), jets=None,
            jet_spikes=self.jet if self.want_jet else None,
        )


def _encode(plan, enc, xb: np.ndarray, T: int, gen) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(constant current, spike probabilities, signs, Poisson spikes) of one batch, per encoding."""
    K = _kernels()
    n_in = xb.shape[1]
    cur0, prob, sgn, fired = _DUMMY_F2, np.zeros((1, n_in), np.float32), _DUMMY_F2, _DUMMY_U3
    with torch.no_grad():
        if plan.enc == K.ENC_CURRENT:
            cur0 = xb  # the kernel computes W0 x once per jet (as torch.addmm does)
        else:
            xt = torch.from_numpy(xb)
            pt = torch.clamp(xt.abs() / enc.scale, max=1.0)
            prob = pt.numpy()
            sgn = torch.sign(xt).numpy()
            if plan.enc == K.ENC_POISSON:
                ft = torch.empty((T, xb.shape[0], n_in), dtype=torch.bool)
                for t in range(T):
                    torch.lt(torch.rand(pt.shape, generator=gen), pt, out=ft[t])
                fired = ft.numpy().view(np.uint8)
    return cur0, prob, sgn, fired


def _run_batch(net, plan, xb: np.ndarray, T: int, gen, threads: int, ranges: int, out: _Outputs,
               start: int) -> None:
    """Run one batch through the generated or the generic kernel and store its results in ``out``."""
    K = _kernels()
    B, C, n_in, L = xb.shape[0], net.n_outputs, net.n_inputs, len(net.layers)
    cur0, prob, sgn, fired = _encode(plan, net.encoding, xb, T, gen)
    bounds = _bounds(B, ranges)
    R = len(bounds) - 1
    ntot = out.spk_tot.shape[1]
    cnt = np.zeros((R, T, ntot), dtype=np.float64)
    in_cnt = np.zeros((R, T, n_in), dtype=np.float64)
    pred_b = np.empty((out.predictions.shape[0], B), dtype=out.predictions.dtype)
    sc_b = np.empty((B, C), dtype=np.float32)
    sat_b = np.empty((len(out.sst), B, C), dtype=np.float32)
    want_jet = out.want_jet
    jet_b = np.zeros((B if want_jet else 1, L), dtype=np.float64)
    gk = _codegen().kernel(plan, C) if GENERATED_KERNELS and plan.enc == K.ENC_CURRENT else None
    if gk is not None:  # the kernel generated for this network's shape (same arithmetic)
        gargs = (T, xb, plan.ws.reshape(-1), plan.bias.reshape(-1), plan.vinit.reshape(-1), plan.th,
                 plan.dsyn, plan.dmem, plan.out_value, plan.fa, plan.fb, out.rec_row, out.score_row, pred_b,
                 sc_b, sat_b, cnt, jet_b, want_jet)
        if R == 1:
            gk[0](0, B, *gargs[:-3], cnt[0], jet_b, want_jet)
        else:
            _run_parallel(threads, lambda f=gk[1], gargs=gargs, bounds=bounds: f(bounds, *gargs))
    else:
        args = (T, plan.enc, cur0, prob, sgn, fired, plan.ws, plan.bias, plan.kinds, plan.th, plan.sub,
                plan.dsyn, plan.dmem, plan.gain, plan.vinit, plan.p16, plan.p64, plan.offs,
                plan.out_value, plan.ro, plan.fa, plan.fb, out.rec_row, out.score_row, pred_b, sc_b, sat_b,
                cnt, in_cnt, jet_b, want_jet)
        _run_parallel(threads, lambda args=args, bounds=bounds: K.run_float(bounds, *args))
    out.predictions[:, start:start + B] = pred_b
    out.scores[start:start + B] = sc_b
    out.scores_at[:, start:start + B] = sat_b
    if want_jet:
        out.jet[start:start + B] = jet_b
    out.spk_tot += cnt.sum(axis=0)
    out.in_tot += in_cnt.sum(axis=0)


_DUMMY_F2 = np.zeros((1, 1), np.float32)
_DUMMY_U3 = np.zeros((1, 1, 1), np.uint8)


# -------------------------------------------------------------- streaming


def merge_results(results: Sequence[SimResult]) -> SimResult:
    """One result from results over consecutive chunks of jets (predictions and scores
    concatenated in order, counts added). All chunks must share T, steps and network."""
    results = list(results)
    if not results:
        raise ConfigError("no results to merge")
    first = results[0]
    if len(results) == 1:
        return first
    for r in results[1:]:
        if r.T != first.T or not np.array_equal(r.steps, first.steps) or r.layer_sizes != first.layer_sizes:
            raise ConfigError("results to merge must come from the same network, T and recorded steps")
        if set(r.scores_at) != set(first.scores_at):
            raise ConfigError("results to merge must keep scores at the same steps")
    has_in = first.input_events_per_step is not None
    has_jet = first.jet_spikes is not None
    return SimResult(
        T=first.T, dt=first.dt, n_jets=sum(r.n_jets for r in results), steps=first.steps,
        predictions=np.concatenate([r.predictions for r in results], axis=1),
        scores=np.concatenate([r.scores for r in results]),
        scores_at={t: np.concatenate([r.scores_at[t] for r in results]) for t in first.scores_at},
        layer_names=first.layer_names, layer_sizes=first.layer_sizes,
        spikes_per_step=tuple(sum(r.spikes_per_step[i] for r in results)
                              for i in range(len(first.spikes_per_step))),
        input_events_per_step=sum(r.input_events_per_step for r in results) if has_in else None,
        fan_out=first.fan_out, input_macs=first.input_macs, sizes=first.sizes, spiking=first.spiking,
        jet_spikes=np.concatenate([r.jet_spikes for r in results]) if has_jet else None,
    )


@dataclass(frozen=True, eq=False)
class ChunkedResult:
    """What :func:`simulate_chunks` accumulated: the merged result, labels, chunk sizes."""

    result: SimResult
    labels: np.ndarray | None
    chunk_sizes: tuple[int, ...]

    @property
    def scores(self) -> np.ndarray:
        return self.result.scores

    def accuracy_at(self, t: int | None = None) -> float:
        if self.labels is None:
            raise ConfigError("the chunks carried no labels")
        return self.result.accuracy_at(self.labels, t)


def simulate_chunks(
    net: SpikingNetwork,
    chunks: Iterable[np.ndarray | tuple[np.ndarray, np.ndarray]],
    T: int,
    *,
    seed: int = 0,
    steps: Sequence[int] | None = None,
    probes: Probes | None = None,
    threads: int | None = ENGINE_THREADS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress=None,
) -> ChunkedResult:
    """Evaluate ``net`` over an iterator of chunks of (standardized) features.

    Each chunk is ``X`` [n_i, n_in] or ``(X, y)``; only one chunk's inputs are in
    memory at a time, and what is kept is what the metrics need: per-jet scores
    and predictions at the recorded steps (20 + len(steps) bytes per jet for 5
    classes, against 64 bytes of features), labels, and summed counts. One
    Poisson generator (seeded by ``seed``) runs through all chunks, so with chunk
    sizes that are multiples of ``batch_size`` the result equals one
    :func:`simulate` call on the concatenated features. ``progress``: called
    with the number of jets of each finished chunk (e.g. a tqdm bar's ``update``).
    """
    gen = torch.Generator().manual_seed(int(seed)) if net.encoding.kind == "poisson" else None
    results: list[SimResult] = []
    labels: list[np.ndarray] = []
    sizes: list[int] = []
    has_labels: bool | None = None
    for chunk in _iter_chunks(chunks):
        X, y = chunk
        if has_labels is None:
            has_labels = y is not None
        elif has_labels != (y is not None):
            raise ConfigError("either every chunk carries labels or none does")
        r = simulate(net, X, T, probes=probes, seed=seed, steps=steps, batch_size=batch_size,
                     threads=threads, generator=gen)
        if y is not None:
            y = np.asarray(y)
            if y.shape != (r.n_jets,):
                raise ConfigError(f"chunk labels have shape {y.shape}, expected ({r.n_jets},)")
            labels.append(y)
        results.append(r)
        sizes.append(r.n_jets)
        if progress is not None:
            progress(r.n_jets)
    if not results:
        raise ConfigError("no chunks to evaluate")
    return ChunkedResult(result=merge_results(results),
                         labels=np.concatenate(labels) if has_labels else None,
                         chunk_sizes=tuple(sizes))


def _iter_chunks(chunks) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    for c in chunks:
        if isinstance(c, tuple):
            if len(c) != 2:
                raise ConfigError("a chunk is X or a pair (X, y)")
            yield c[0], c[1]
        else:
            yield c, None
