"""Kernels generated per network shape for the float engine (:mod:`spikejet.snn.engine`).

The generic kernel (:func:`spikejet.snn._kernels._float_range`) reads the layer
count, sizes, neuron kinds, resets and read-out from arrays at run time; its
inner loops branch on them every step and it keeps more live values than the
registers hold. For the common case (constant-current input, IF/LIF hidden
layers, an IF/LIF or non-spiking output layer, layers of at most 128 neurons)
this module writes the kernel's Python source with all of that as literals:
the layers unrolled, every offset a constant, one :func:`neurons_vec` call per
64 neurons and one register row sum per mask word, nothing but the jet loop,
the step loop and the rows of the spikes left to branch on. The arithmetic is
the generic kernel's, operation for operation (so the results are identical).

Each shape's source is written (atomically) as a small module into a cache
folder (:func:`_cache_dir`) and imported, so that numba caches its machine code
on disk like the generic kernels': a shape compiles once (2-4 s), later
processes load it in milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from . import _kernels as K

__all__ = ["supports", "kernel"]

_CACHE: dict[tuple, object] = {}
_LOCK = threading.Lock()


def key(plan, C: int) -> tuple | None:
    """The shape a generated kernel is specialised to, or None where only the generic kernel runs."""
    kinds = [int(k) for k in plan.kinds]
    L = len(kinds)
    if plan.enc != K.ENC_CURRENT or L < 2:
        return None
    if any(k not in (K.K_IF, K.K_LIF) for k in kinds[:-1]) or kinds[-1] == K.K_SRELU:
        return None
    p16 = [int(p) for p in plan.p16]
    if max(p16) > 128:
        return None
    return (tuple(kinds), tuple(bool(s) for s in plan.sub), tuple(p16), tuple(int(p) for p in plan.p64),
            tuple(int(o) for o in plan.offs), int(plan.ws.shape[1]), int(plan.ws.shape[2]),
            int(plan.bias.shape[1]), int(plan.ro), C, bool(plan.out_value != np.float32(1.0)))


def supports(plan, C: int) -> bool:
    return key(plan, C) is not None


def _jets(w, k: tuple, J: int, loop: str) -> None:
    """The loop over jets, ``J`` jets side by side per iteration (their chains interleave)."""
    # Numerical kernel (its generator): the lines it writes are the kernel's unrolled layers.
    kinds, subs, p16, p64, offs, R, S, P, ro, C, scaled = k
    L = len(kinds)
    out_spiking = kinds[-1] != K.K_NONE
    N = L * P  # state floats per jet
    js = range(J)
    w(f"    {loop}")
    for j in js:
        w(f"        jb{j} = b + {j}")
    w(f"        for i in range({J * N}):")
    w(f"            v[i] = vinit[i % {N}]")
    w("            c[i] = zero")
    w(f"        for i in range({J * C}):")
    w("            acc[i] = zero")
    w("            mid[i] = zero")
    # the constant first-layer current W0 x (+ b0, rounded once as every step would round it)
    for j in js:
        w(f"        dense_fma(xf, jb{j} * n_in, n_in, wf, {S}, z, {j * N}, {p16[0] // 16})")
    w(f"        for i in range({p16[0]}):")
    for j in js:
        w(f"            z[{j * N} + i] = z[{j * N} + i] + bf[i]")
    w("        for t in range(T):")
    w("            cb = t * NT")
    for li in range(L):
        kd = kinds[li]
        last = li == L - 1
        if kd == K.K_NONE:  # non-spiking output: its input current is the signal
            w(f"            for i in range({C}):")
            for j in js:
                w(f"                sig[{j * C} + i] = z[{j * N + li * P} + i] + bf[{li * P} + i]")
            break
        ng_total = p16[li] // 16
        nblk = p64[li] // 64
        hasb = li > 0
        for j in js:
            for blk in range(nblk):
                ng = min(4, ng_total - 4 * blk)
                if ng <= 0:
                    w(f"            m{blk}_{j} = uint64(0)")
                    continue
                off = li * P + 64 * blk
                w(f"            m{blk}_{j} = neurons_vec({kd}, {subs[li]}, {hasb}, {ng}, v, {j * N + off}, "
                  f"z, {j * N + off}, bf, {off}, c, {j * N + off}, th{li}, ds{li}, dm{li})")
        w("            if want_jet:")
        for j in js:
            w(f"                jet[jb{j}, {li}] += " + " + ".join(f"popcount(m{blk}_{j})" for blk in range(nblk)))
        if not last:
            ln = li + 1
            for j in js:
                for blk in range(nblk):
                    w(f"            mask_rowsum(m{blk}_{j}, wf, {(ln * R + blk * 64) * S}, {S}, z, "
                      f"{j * N + ln * P}, cf, cb + {offs[li] + blk * 64}, {p16[ln] // 16}, {blk == 0})")
        else:  # spiking output layer: its spikes are the signal
            for j in js:
                for blk in range(nblk):
                    for q in range(min(64, C - 64 * blk)):
                        i = 64 * blk + q
                        w(f"            f = (m{blk}_{j} >> uint64({q})) & uint64(1)")
                        w(f"            sig[{j * C + i}] = onef if f else zero")
                        w(f"            cf[cb + {offs[li] + i}] += np.float64(f)")
    # read-out
    w(f"            for i in range({J * C}):")
    if ro == K.RO_SUM:
        w("                acc[i] += sig[i]")
    else:
        if out_spiking and scaled:
            w("                sig[i] = sig[i] * out_value")
        if ro == K.RO_EXP:
            w("                acc[i] = acc[i] * fa + sig[i] * fb")
        else:
            w("                mid[i] = mid[i] * fa + sig[i] * fb")
            w("                acc[i] = acc[i] * fa + mid[i] * fb")
    w("            tt = t + 1")
    w("            r = rec_row[tt]")
    w("            if r >= 0:")
    for j in js:
        w("                best = 0")
        w(f"                for i in range(1, {C}):")
        w(f"                    if acc[{j * C} + i] > acc[{j * C} + best]:")
        w("                        best = i")
        w(f"                pred[r, jb{j}] = best")
    w("            r = score_row[tt]")
    w("            if r >= 0:")
    w(f"                for i in range({C}):")
    for j in js:
        w(f"                    scores_at[r, jb{j}, i] = "
          + (f"acc[{j * C} + i] / np.float32(tt)" if ro == K.RO_SUM else f"acc[{j * C} + i]"))
    w(f"        for i in range({C}):")
    for j in js:
        w(f"            scores[jb{j}, i] = " + (f"acc[{j * C} + i] / np.float32(T)" if ro == K.RO_SUM
                                             else f"acc[{j * C} + i]"))


#: Jets simulated side by side in the generated kernel's main loop.
JETS = 4


def source(k: tuple) -> str:
    """The Python source of the kernel for shape ``k`` (see :func:`key`)."""
    kinds, subs, p16, p64, offs, R, S, P, ro, C, scaled = k
    L = len(kinds)
    o: list[str] = []
    w = o.append
    w("def kern(b0, b1, T, x, wf, bf, vinit, th, ds, dm, out_value, fa, fb, rec_row, score_row,")
    w("         pred, scores, scores_at, cnt, jet, want_jet):")
    w("    NT = cnt.shape[1]")
    w("    n_in = x.shape[1]")
    w(f"    v = np.zeros({JETS * L * P}, np.float32)")
    w(f"    c = np.zeros({JETS * L * P}, np.float32)")
    w(f"    z = np.zeros({JETS * L * P}, np.float32)")
    w(f"    acc = np.zeros({JETS * C}, np.float32)")
    w(f"    mid = np.zeros({JETS * C}, np.float32)")
    w(f"    sig = np.zeros({JETS * C}, np.float32)")
    w("    xf = x.reshape(-1)")
    w("    cf = cnt.reshape(-1)")
    w("    zero = np.float32(0.0)")
    w("    onef = np.float32(1.0)")
    for li in range(L):
        w(f"    th{li} = th[{li}]; ds{li} = ds[{li}]; dm{li} = dm[{li}]")
    w(f"    bm = b0 + (b1 - b0) // {JETS} * {JETS}")
    _jets(w, k, JETS, f"for b in range(b0, bm, {JETS}):")
    if JETS > 1:
        _jets(w, k, 1, "for b in range(bm, b1):")
    w("")
    w("def kern_parallel(bounds, T, x, wf, bf, vinit, th, ds, dm, out_value, fa, fb, rec_row, score_row,")
    w("                  pred, scores, scores_at, cnt, jet, want_jet):")
    w("    for r in prange(bounds.shape[0] - 1):")
    w("        kern(bounds[r], bounds[r + 1], T, x, wf, bf, vinit, th, ds, dm, out_value, fa, fb, rec_row,")
    w("             score_row, pred, scores, scores_at, cnt[r], jet, want_jet)")
    return "\n".join(o) + "\n"


_HEADER = """\
# Generated by spikejet.snn._codegen for one network shape; rebuilt when missing. Do not edit.
import numpy as np
from numba import njit, prange, uint64

from spikejet.snn._kernels import dense_fma, mask_rowsum, neurons_vec, popcount

_OPTS = dict(boundscheck=False, nogil=True, error_model="numpy", cache=True)

"""


def _cache_dir() -> Path:
    """Where generated kernel modules live (numba caches their machine code next to them):
    ``$SPIKEJET_KERNEL_DIR``, else this package's ``__pycache__`` (where numba already caches the
    generic kernels), else a per-user folder in the temp directory."""
    env = os.environ.get("SPIKEJET_KERNEL_DIR")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parent / "__pycache__" / "spikejet_generated",
                   Path(tempfile.gettempdir()) / f"spikejet-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}"]
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise OSError("no writable folder for the engine's generated kernels; set SPIKEJET_KERNEL_DIR")


def module_source(k: tuple) -> str:
    body = source(k)
    body = body.replace("def kern(", "@njit(**_OPTS)\ndef kern(", 1)
    body = body.replace("def kern_parallel(", "@njit(parallel=True, **_OPTS)\ndef kern_parallel(", 1)
    return _HEADER + body


def _load(k: tuple):
    text = module_source(k)
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    name = f"spikejet_kernel_{digest}"
    path = _cache_dir() / f"{name}.py"
    if not path.is_file() or path.read_text() != text:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)  # atomic: a concurrent process sees the old file or the whole new one
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # numba's disk cache finds the module's globals by its name
    spec.loader.exec_module(mod)
    return mod.kern, mod.kern_parallel


def kernel(plan, C: int):
    """``(kern, kern_parallel)`` compiled for this plan's shape (built on first use, then cached
    in the process and, as numba's on-disk cache of a generated module, across processes)."""
    k = key(plan, C)
    if k is None:
        return None
    hit = _CACHE.get(k)
    if hit is not None:
        return hit
    with _LOCK:
        hit = _CACHE.get(k)
        if hit is None:
            hit = _CACHE[k] = _load(k)
        return hit
