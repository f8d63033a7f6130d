"""The 16 jet-substructure features of the hls4ml dataset, in vectorized numpy.

Definitions (DESIGN.md section 4, docs/features.md), for a jet given as an
(n, 4) array of constituent four-momenta (px, py, pz, E):

* ``j_zlogz`` = sum_i z_i ln z_i with z_i = E_i / E_jet on the *ungroomed*
  jet (E-scheme: E_jet = sum_i E_i; a particle with E_i = 0 contributes 0);
* ``j_multiplicity`` = n, the number of constituents of the ungroomed jet;
* every ``*_mmdt`` feature is computed on the mMDT-groomed jet
  (:func:`spikejet.physics.cluster.mmdt_groom`);
* ``j_mass_mmdt`` = invariant mass of the groomed jet (0 when m^2 < 0 by
  rounding);
* energy correlators use the pt_R measure: energies are pT, angles are
  Delta R_ij = sqrt(Delta y^2 + Delta phi^2). With z_i = pT_i / sum_j pT_j,

      e2^(b)     = sum_{i<j} z_i z_j R_ij^b                        (= ECF(2,b)/ECF(1)^2)
      e3^(b)     = sum_{i<j<k} z_i z_j z_k (R_ij R_ik R_jk)^b      (= ECF(3,b)/ECF(1)^3)
      1e3^(b)    = sum_{i<j<k} z_i z_j z_k (min of the 3 angles)^b
      2e3^(b)    = sum_{i<j<k} z_i z_j z_k (product of the 2 smallest angles)^b

  C1^b = e2^(b); C2^b = e3^(b) / e2^(b)^2; D2^b = e3^(b) / e2^(b)^3;
  D2^(1,b) = e3^(1) / e2^(b)^(3/b); M2^b = 1e3^(b) / e2^(b);
  N2^b = 2e3^(b) / e2^(b)^2.

  D2^b is computed with the same expression as D2^(a,b) at a = b, so
  ``j_d2_b1_mmdt == j_d2_a1_b1_mmdt`` holds bit for bit.

Degenerate values: a ratio whose denominator is 0 (a groomed jet with one
constituent, or with all its constituents at one point in (y, phi) for b > 0)
is set to 0 (fjcontrib returns NaN there). A jet with no constituents raises
:class:`~spikejet.errors.PhysicsError`.

Speed: e3 comes from the trace identity 6 e3 = tr((W Z)^3) with W_ij = R_ij^b
(W_ii = 0) and Z = diag(z); the min/sorted-angle correlators are sums over the
n(n-1)(n-2)/6 triplets, gathered with cached index tables (a jet of n
constituents uses the first C(n,3) rows of one table ordered by the largest
index), so there is no Python loop over pairs or triplets.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from spikejet.data.schema import FEATURE_NAMES, N_FEATURES
from spikejet.errors import PhysicsError
from spikejet.physics.cluster import (
    MMDT_BETA,
    MMDT_R0,
    MMDT_Z_CUT,
    kinematics,
    mmdt_groom,
    mmdt_groom_many,
    validate_constituents,
)

__all__ = [
    "FEATURE_INDEX",
    "jet_features",
    "jet_features_batch",
    "mmdt_groom",
]

#: Column of each feature name in the output of :func:`jet_features`.
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

#: The alpha of the generalized D2 features (j_d2_a1_b*_mmdt).
D2_ALPHA = 1.0
#: Value given to a ratio whose denominator is zero (one-constituent groomed jet).
DEGENERATE_RATIO = 0.0
#: The correlator features in the order _correlator_features returns them: the schema's
#: features between j_zlogz and j_mass_mmdt (one list of names: data.schema.FEATURE_NAMES).
CORRELATOR_NAMES: tuple[str, ...] = FEATURE_NAMES[FEATURE_NAMES.index("j_c1_b0_mmdt"):FEATURE_NAMES.index("j_mass_mmdt")]
N_CORRELATOR_FEATURES = len(CORRELATOR_NAMES)
_COL_ZLOGZ = FEATURE_INDEX["j_zlogz"]
_COL_MASS = FEATURE_INDEX["j_mass_mmdt"]
_COL_MULTIPLICITY = FEATURE_INDEX["j_multiplicity"]
_COLS_CORRELATORS = slice(
    FEATURE_INDEX[CORRELATOR_NAMES[0]], FEATURE_INDEX[CORRELATOR_NAMES[-1]] + 1
)
if FEATURE_NAMES[_COLS_CORRELATORS] != CORRELATOR_NAMES:  # pragma: no cover - schema guard
    raise RuntimeError("spikejet.data.schema.FEATURE_NAMES no longer matches features.py")
#: jet_features_batch works through its input this many jets at a time.
_BATCH_CHUNK_JETS = 4096
#: Jets with up to this many (groomed) constituents use cached triplet index
#: tables (4 int64 arrays of C(n, 3) rows: 21 MB at 160); larger jets build
#: their remaining triplet indices on the fly, chunk by chunk.
_TABLE_N_MAX = 160
#: Size of the cached tables at import; they grow on demand up to _TABLE_N_MAX.
_TABLE_N_INITIAL = 64
#: Triplets processed per vectorized chunk (bounds temporary memory per jet).
_CHUNK_TRIPLETS = 1 << 19


def _n_triplets(n: int) -> int:
    return n * (n - 1) * (n - 2) // 6


def _lower_mask(n: int) -> np.ndarray:
    return np.tri(n, n, -1, dtype=bool)


def _triplet_indices(k0: int, k1: int) -> tuple[np.ndarray, ...]:
    """Index arrays (ij, ik, jk, k) of all triplets i < j < k with k0 <= k < k1.

    Pairs are numbered in colex order, p(i, j) = j (j - 1) / 2 + i, so pair
    indices do not depend on the jet's size. Triplets come ordered by k, then
    by the colex index of (i, j).
    """
    ks = np.arange(max(k0, 2), k1, dtype=np.intp)
    counts = ks * (ks - 1) // 2
    if ks.size == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, empty, empty
    starts = np.cumsum(counts) - counts
    t_k = np.repeat(ks, counts)
    t_ij = np.arange(int(counts.sum()), dtype=np.intp) - np.repeat(starts, counts)
    pair_j, pair_i = np.nonzero(_lower_mask(k1))  # colex order: by j, then i
    base = t_k * (t_k - 1) // 2  # colex index of the pair (0, k)
    t_ik = base + pair_i[t_ij]
    t_jk = base + pair_j[t_ij]
    return t_ij, t_ik, t_jk, t_k


class _IndexTables:
    """Cached triplet index tables valid for every jet of up to ``size`` particles.

    The triplets of the first n particles are the first C(n, 3) rows, so one
    table serves every smaller jet. Growth is guarded by a lock; readers take a
    consistent snapshot with :meth:`snapshot`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: tuple[int, tuple[np.ndarray, ...]] = (0, _triplet_indices(0, 0))
        self.grow(_TABLE_N_INITIAL)

    def grow(self, size: int) -> None:
        size = min(size, _TABLE_N_MAX)
        with self._lock:
            current = self._state[0]
            if size <= current:
                return
            size = min(max(size, 2 * current), _TABLE_N_MAX)
            self._state = (size, _triplet_indices(0, size))

    def snapshot(self) -> tuple[int, tuple[np.ndarray, ...]]:
        return self._state


_TABLES = _IndexTables()


def _triplet_chunks(n: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield index-array chunks that together cover every triplet of n particles."""
    if n > _TABLES.snapshot()[0]:
        _TABLES.grow(n)
    size, tables = _TABLES.snapshot()
    n_tab = min(n, size)
    n_cached = _n_triplets(n_tab)
    for lo in range(0, n_cached, _CHUNK_TRIPLETS):
        hi = min(lo + _CHUNK_TRIPLETS, n_cached)
        yield tuple(t[lo:hi] for t in tables)
    k = n_tab
    while k < n:
        k1 = k + 1
        while k1 < n and _n_triplets(k1 + 1) - _n_triplets(k) <= _CHUNK_TRIPLETS:
            k1 += 1
        yield _triplet_indices(k, k1)
        k = k1


class _SingleThreadBlas:
    """Context manager: numpy's BLAS single-threaded while any caller is inside.

    The n x n products of the trace identity (and the long dot products) are
    small; a multi-threaded BLAS spends more time waking and synchronizing
    threads than computing (measured here: 5-10x slower per jet on a busy
    2-core machine). threadpoolctl (a scikit-learn dependency) sets the limit;
    a reference count under a lock makes concurrent callers (threads) safe: the
    first one in saves and lowers the setting, the last one out restores it.
    Without threadpoolctl the BLAS keeps its own setting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._controller: object | None = None
        self._saved: object | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                try:
                    import threadpoolctl
                except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
                    self._saved = None
                else:
                    if self._controller is None:
                        self._controller = threadpoolctl.ThreadpoolController()
                    self._saved = self._controller.limit(limits=1, user_api="blas")  # type: ignore[attr-defined]
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._saved is not None:
                self._saved.restore_original_limits()  # type: ignore[attr-defined]
                self._saved = None


_single_thread_blas = _SingleThreadBlas()


_LOWER = _lower_mask(_TABLE_N_MAX)


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0.0 else DEGENERATE_RATIO


def _triplet_sums(r1_pairs: np.ndarray, zz: np.ndarray, z: np.ndarray) -> tuple[float, ...]:
    """(1e3^(1), 1e3^(2), 2e3^(1), 2e3^(2)) from pair angles R_ij and z_i z_j (colex order)."""
    e3v1_b1 = e3v1_b2 = e3v2_b1 = e3v2_b2 = 0.0
    for t_ij, t_ik, t_jk, t_k in _triplet_chunks(z.shape[0]):
        a = r1_pairs[t_ij]
        b = r1_pairs[t_ik]
        c = r1_pairs[t_jk]
        zp = zz[t_ij]
        zp *= z[t_k]
        lo = np.minimum(a, b)
        # product of the two smallest of (a, b, c) = min(a b, c min(a, b))
        np.multiply(a, b, out=a)
        np.multiply(c, lo, out=b)
        two = np.minimum(a, b, out=a)
        smallest = np.minimum(lo, c, out=lo)
        w = np.multiply(zp, smallest, out=b)
        e3v1_b1 += float(w.sum())
        e3v1_b2 += float(np.dot(w, smallest))
        w = np.multiply(zp, two, out=c)
        e3v2_b1 += float(w.sum())
        e3v2_b2 += float(np.dot(w, two))
    return e3v1_b1, e3v1_b2, e3v2_b1, e3v2_b2


def _d2(e3_alpha: float, e2_beta: float, alpha: float, beta: float) -> float:
    """D2^(alpha, beta) = e3^(alpha) / e2^(beta)^(3 alpha / beta); D2^b is alpha = beta."""
    return _ratio(e3_alpha, e2_beta ** (3.0 * alpha / beta))


def _correlator_features(pt: np.ndarray, rap: np.ndarray, phi: np.ndarray) -> list[float]:
    """The 13 energy-correlator features (C1 x3, C2 x2, D2 x2, D2(a=1) x2, M2 x2, N2 x2)."""
    n = pt.shape[0]
    pt_sum = float(pt.sum())
    if n < 2 or pt_sum == 0.0:
        return [DEGENERATE_RATIO] * N_CORRELATOR_FEATURES
    z = pt / pt_sum
    drap = rap[:, None] - rap[None, :]
    dphi = np.abs(phi[:, None] - phi[None, :])
    np.subtract(2.0 * math.pi, dphi, out=dphi, where=dphi > math.pi)
    r2 = drap * drap + dphi * dphi  # Delta R^2, zero diagonal
    r1 = np.sqrt(r2)

    lower = _LOWER[:n, :n] if n <= _TABLE_N_MAX else _lower_mask(n)
    r1_pairs = r1[lower]
    zz = (z[:, None] * z[None, :])[lower]
    e2_b0 = float(zz.sum())
    w1 = zz * r1_pairs
    e2_b1 = float(w1.sum())
    e2_b2 = float(np.dot(w1, r1_pairs))

    # e3 from the trace identity: 6 e3 = tr(M^3), M = W diag(z), W_ij = R_ij^b, W_ii = 0.
    m1 = r1 * z[None, :]
    m2 = r2 * z[None, :]
    e3_b1 = float(np.einsum("ij,ji->", m1 @ m1, m1)) / 6.0
    e3_b2 = float(np.einsum("ij,ji->", m2 @ m2, m2)) / 6.0

    e3v1_b1, e3v1_b2, e3v2_b1, e3v2_b2 = _triplet_sums(r1_pairs, zz, z)
    return [
        e2_b0,  # C1 b=0
        e2_b1,  # C1 b=1
        e2_b2,  # C1 b=2
        _ratio(e3_b1, e2_b1 * e2_b1),  # C2 b=1
        _ratio(e3_b2, e2_b2 * e2_b2),  # C2 b=2
        _d2(e3_b1, e2_b1, 1.0, 1.0),  # D2 b=1 (same expression as D2^(a=1, b=1))
        _d2(e3_b2, e2_b2, 2.0, 2.0),  # D2 b=2
        _d2(e3_b1, e2_b1, D2_ALPHA, 1.0),  # D2 a=1 b=1
        _d2(e3_b1, e2_b2, D2_ALPHA, 2.0),  # D2 a=1 b=2
        _ratio(e3v1_b1, e2_b1),  # M2 b=1
        _ratio(e3v1_b2, e2_b2),  # M2 b=2
        _ratio(e3v2_b1, e2_b1 * e2_b1),  # N2 b=1
        _ratio(e3v2_b2, e2_b2 * e2_b2),  # N2 b=2
    ]


def _zlogz(p: np.ndarray, what: str) -> float:
    energy = p[:, 3]
    e_jet = float(energy.sum())
    if e_jet <= 0.0:
        raise PhysicsError(
            f"{what} has zero total energy: z = E_i/E_jet is undefined; drop such jets"
        )
    zf = energy[energy > 0.0] / e_jet
    return float(np.dot(zf, np.log(zf)))


def _features_many(ps: list[np.ndarray], first: int | None = None) -> np.ndarray:
    """The 16 features of validated (n_i, 4) float64 arrays, one row per jet.

    ``first`` is the batch index of ``ps[0]`` for error messages (None: one jet).
    """
    out = np.empty((len(ps), N_FEATURES), dtype=np.float64)
    kin = []
    for i, p in enumerate(ps):
        out[i, _COL_ZLOGZ] = _zlogz(p, "jet" if first is None else f"jet {first + i}")
        out[i, _COL_MULTIPLICITY] = p.shape[0]
        kin.append(kinematics(p))
    kept = mmdt_groom_many(
        [(p, k[1], k[2]) for p, k in zip(ps, kin, strict=True)],
        z_cut=MMDT_Z_CUT,
        beta=MMDT_BETA,
        r0=MMDT_R0,
    )
    for i, (p, (pt, rap, phi), keep) in enumerate(zip(ps, kin, kept, strict=True)):
        if keep.shape[0] != p.shape[0]:
            p, pt, rap, phi = p[keep], pt[keep], rap[keep], phi[keep]
        px, py, pz, e = p.sum(axis=0).tolist()
        m2 = (e + pz) * (e - pz) - (px * px + py * py)
        out[i, _COL_MASS] = math.sqrt(m2) if m2 > 0.0 else 0.0
        out[i, _COLS_CORRELATORS] = _correlator_features(pt, rap, phi)
    return out


def jet_features(constituents: np.ndarray) -> np.ndarray:
    """The 16 hls4ml features of one jet, in the order of ``FEATURE_NAMES``.

    ``constituents`` is an (n, 4) array of (px, py, pz, E) (any units; the mass
    comes out in the same unit). Returns a float64 array of shape (16,).
    Raises :class:`~spikejet.errors.PhysicsError` for an empty jet, a jet with
    zero total energy, or malformed input.
    """
    p = validate_constituents(constituents)
    with _single_thread_blas:
        return _features_many([p])[0]


def _split_flat(flat: object, offsets: object) -> list[np.ndarray]:
    p = np.asarray(flat, dtype=np.float64)
    off = np.asarray(offsets)
    if p.ndim != 2 or p.shape[1] != 4:
        raise PhysicsError(
            f"jet_features_batch: the flat constituent array must have shape (N, 4), got {p.shape}"
        )
    if off.ndim != 1 or off.shape[0] < 1 or not np.issubdtype(off.dtype, np.integer):
        raise PhysicsError(
            "jet_features_batch: offsets must be a 1-d integer array of length n_jets + 1 "
            f"(got dtype {off.dtype}, shape {off.shape})"
        )
    if off[0] != 0 or off[-1] != p.shape[0] or (np.diff(off) < 0).any():
        raise PhysicsError(
            "jet_features_batch: offsets must start at 0, never decrease and end at the "
            f"number of constituents ({p.shape[0]}); got first {off[0]}, last {off[-1]}"
        )
    bounds = off.tolist()
    return [p[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]


def _is_offsets(x: object) -> bool:
    return np.ndim(x) == 1


def jet_features_batch(
    jets: Sequence[np.ndarray] | tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Features of many jets: an (n_jets, 16) float64 array.

    ``jets`` is either a sequence of (n_i, 4) constituent arrays, or a pair
    ``(flat, offsets)`` where ``flat`` is the (N, 4) concatenation of all
    constituents and ``offsets`` the (n_jets + 1,) integer boundaries (jet i is
    ``flat[offsets[i]:offsets[i+1]]``). Row i equals ``jet_features(jet_i)``.
    """
    if (
        isinstance(jets, tuple)
        and len(jets) == 2
        and np.ndim(jets[0]) == 2
        and _is_offsets(jets[1])
    ):
        parts = _split_flat(jets[0], jets[1])
    else:
        try:
            parts = list(jets)
        except TypeError:
            raise PhysicsError(
                "jet_features_batch: pass a sequence of (n_i, 4) arrays or a "
                "(flat (N, 4) array, offsets) pair"
            ) from None
    ps = [validate_constituents(jet, what=f"jet {i}") for i, jet in enumerate(parts)]
    out = np.empty((0, N_FEATURES), dtype=np.float64)
    with _single_thread_blas:
        # bounded chunks keep the memory of the grouped clustering flat for any input size
        chunks = [
            _features_many(ps[lo : lo + _BATCH_CHUNK_JETS], first=lo)
            for lo in range(0, len(ps), _BATCH_CHUNK_JETS)
        ]
    return np.concatenate([out, *chunks]) if chunks else out
