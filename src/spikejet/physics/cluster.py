"""Cambridge/Aachen reclustering and modified-mass-drop (mMDT) grooming in numpy.

This is the grooming step of the hls4ml jet-substructure features: the jet's
constituents are reclustered with the Cambridge/Aachen (C/A) algorithm (pairwise
distance Delta R^2 = Delta y^2 + Delta phi^2 in rapidity-azimuth, E-scheme
recombination = four-momentum sum, no beam distance: everything ends in one
jet), and the clustering tree is then walked from the top following the branch
with the larger transverse momentum until a splitting passes the SoftDrop
condition

    min(pT1, pT2) / (pT1 + pT2) > z_cut * (Delta R12 / R0)^beta .

With beta = 0 this is mMDT without a mass-drop requirement, i.e.
fjcontrib's ``SoftDrop(beta=0, symmetry_cut=0.1, R0=1.0)`` with the default
``scalar_z`` symmetry measure and ``larger_pt`` recursion. When the walk
reaches a single particle, that particle is the groomed jet (fjcontrib's
grooming mode). Because the recombination is a plain four-momentum sum, the
groomed jet is a subset of the constituents, and :func:`mmdt_groom` returns the
row indices of that subset.

Kinematic conventions follow FastJet's ``PseudoJet`` exactly (so that the
reclustering makes the same choices as FastJet): azimuth in [0, 2 pi),
rapidity from ``0.5 ln((pT^2 + max(m^2, 0)) / (E + |pz|)^2)`` with the sign of
pz, and a particle with pT = 0 and E = |pz| gets rapidity +-(MAX_RAP + |pz|).

The C/A step loop is a Python loop over the n - 1 merges. A lone jet keeps the
dense n x n distance matrix and takes its argmin per merge (_cluster_one);
many jets are clustered in groups of similar multiplicity with vectorized
nearest-neighbour lists (_Group), so the per-step Python cost is shared by the
group. Both paths apply the same tie rule and the same arithmetic, so a jet's
tree does not depend on the path or on the other jets of its group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from spikejet.errors import PhysicsError

__all__ = [
    "MAX_RAP",
    "MMDT_BETA",
    "MMDT_R0",
    "MMDT_Z_CUT",
    "ca_cluster",
    "kinematics",
    "mmdt_groom",
    "mmdt_groom_many",
    "validate_constituents",
]

#: FastJet's rapidity assigned to a particle along the beam (pT = 0, E = |pz|), plus |pz|.
MAX_RAP = 1.0e5
#: mMDT = SoftDrop(beta=0, z_cut=0.1, R0=1.0), as used for the hls4ml dataset.
MMDT_BETA = 0.0
MMDT_Z_CUT = 0.1
MMDT_R0 = 1.0

_TWO_PI = 2.0 * math.pi
_PI = math.pi
#: Number of four-momentum components per constituent: (px, py, pz, E).
_N_COMPONENTS = 4
#: Jets clustered together in one vectorized group, at most...
_GROUP_MAX_JETS = 128
#: ...and at most this many distance-matrix entries per group (16 MB of float64)...
_GROUP_MAX_ELEMENTS = 1 << 21
#: ...and no jet with fewer particles than this fraction of the group's largest.
_GROUP_SIZE_RATIO = 0.8


def validate_constituents(constituents: object, what: str = "jet") -> np.ndarray:
    """Return ``constituents`` as a C-contiguous (n, 4) float64 array, n >= 1.

    Raises :class:`~spikejet.errors.PhysicsError` for anything that is not a
    non-empty (n, 4) array of finite (px, py, pz, E) values with E >= 0.
    """
    try:
        p = np.ascontiguousarray(constituents, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PhysicsError(
            f"{what}: constituents must be an (n, 4) array of (px, py, pz, E); "
            f"could not convert to float ({exc})"
        ) from None
    if p.ndim != 2 or p.shape[1] != _N_COMPONENTS:
        raise PhysicsError(
            f"{what}: constituents must be an (n, 4) array of (px, py, pz, E), got shape "
            f"{p.shape}; pass one row per particle"
        )
    if p.shape[0] == 0:
        raise PhysicsError(
            f"{what} has no constituents: the substructure features of an empty jet are "
            "undefined; drop empty jets before computing features"
        )
    if not np.isfinite(p).all():
        bad = int(np.flatnonzero(~np.isfinite(p).all(axis=1))[0])
        raise PhysicsError(
            f"{what}: constituent {bad} has a NaN/inf component; fix or drop that particle"
        )
    if (p[:, 3] < 0.0).any():
        bad = int(np.flatnonzero(p[:, 3] < 0.0)[0])
        raise PhysicsError(
            f"{what}: constituent {bad} has negative energy E = {p[bad, 3]:g}; "
            "columns must be (px, py, pz, E)"
        )
    return p


def _rap_phi_scalar(px: float, py: float, pz: float, e: float) -> tuple[float, float]:
    """Rapidity and azimuth of one four-vector, with FastJet's conventions."""
    kt2 = px * px + py * py
    phi = 0.0 if kt2 == 0.0 else math.atan2(py, px)
    if phi < 0.0:
        phi += _TWO_PI
    if phi >= _TWO_PI:
        phi -= _TWO_PI
    if e == abs(pz) and kt2 == 0.0:
        rap = MAX_RAP + abs(pz)
        return (rap if pz >= 0.0 else -rap), phi
    m2 = max(0.0, (e + pz) * (e - pz) - kt2)
    e_plus_pz = e + abs(pz)
    rap = 0.5 * math.log((kt2 + m2) / (e_plus_pz * e_plus_pz))
    return (-rap if pz > 0.0 else rap), phi


def kinematics(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized (pT, rapidity, azimuth) of an (n, 4) array, FastJet's conventions."""
    px, py, pz, e = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    kt2 = px * px + py * py
    phi = np.arctan2(py, px)
    phi[kt2 == 0.0] = 0.0
    phi[phi < 0.0] += _TWO_PI
    phi[phi >= _TWO_PI] -= _TWO_PI
    m2 = np.maximum((e + pz) * (e - pz) - kt2, 0.0)
    e_plus_pz = e + np.abs(pz)
    on_axis = (kt2 == 0.0) & (e == np.abs(pz))
    with np.errstate(divide="ignore", invalid="ignore"):
        rap = 0.5 * np.log((kt2 + m2) / (e_plus_pz * e_plus_pz))
    rap = np.where(pz > 0.0, -rap, rap)
    if on_axis.any():
        rap[on_axis] = np.where(pz[on_axis] >= 0.0, 1.0, -1.0) * (MAX_RAP + np.abs(pz[on_axis]))
    return np.sqrt(kt2), rap, phi


def _pairwise_dr2(rap: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Dense (..., n, n) Delta y^2 + Delta phi^2 (Delta phi folded into [0, pi])."""
    drap = rap[..., :, None] - rap[..., None, :]
    dphi = np.abs(phi[..., :, None] - phi[..., None, :])
    np.subtract(_TWO_PI, dphi, out=dphi, where=dphi > _PI)
    return drap * drap + dphi * dphi


def _dr2_row(rap: np.ndarray, phi: np.ndarray, y: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Delta R^2 of every slot to one new position per row (same arithmetic as above)."""
    drap = rap - y
    dphi = np.abs(phi - f)
    np.subtract(_TWO_PI, dphi, out=dphi, where=dphi > _PI)
    return drap * drap + dphi * dphi


# Both clustering paths below make the same decisions, bit for bit: the pair
# merged is the minimum of the distance matrix, and among exactly equal
# distances the one first in row-major order (smallest first index, then
# smallest second index); the merged pseudo-jet lives on in the smaller slot;
# its rapidity/azimuth come from _rap_phi_scalar; distances use the same
# floating-point operations. A jet's tree therefore does not depend on which
# path, or which group of other jets, was used.


def _cluster_one(
    p: np.ndarray, rap: np.ndarray, phi: np.ndarray
) -> tuple[list[int], list[int], list[list[float]]]:
    """C/A tree of one jet (n >= 2): full-matrix argmin per merge step."""
    n = p.shape[0]
    mom = p.tolist()
    left: list[int] = []
    right: list[int] = []
    dist = _pairwise_dr2(rap, phi)
    np.fill_diagonal(dist, np.inf)
    rap_s = rap.copy()
    phi_s = phi.copy()
    dead = np.zeros(n)  # 0 for live slots, inf for merged-away ones
    slot_node = list(range(n))
    for step in range(n - 1):
        a, b = divmod(int(dist.argmin()), n)  # first minimum in row-major order: a < b
        na, nb = slot_node[a], slot_node[b]
        pa, pb = mom[na], mom[nb]
        merged = [pa[0] + pb[0], pa[1] + pb[1], pa[2] + pb[2], pa[3] + pb[3]]
        mom.append(merged)
        left.append(na)
        right.append(nb)
        slot_node[a] = n + step
        if step == n - 2:
            break
        dead[b] = np.inf
        y, f = _rap_phi_scalar(*merged)
        rap_s[a] = y
        phi_s[a] = f
        row = _dr2_row(rap_s, phi_s, y, f)
        row += dead
        row[a] = np.inf
        dist[a] = row
        dist[:, a] = row
        dist[b] = np.inf
        dist[:, b] = np.inf
    return left, right, mom


class _Group:
    """C/A trees of a group of jets at once (padded to the largest, N particles).

    Jets come sorted by multiplicity (largest first), so the jets still merging
    at step s are a prefix of the group. Node ids are group-wide: 0..N-1 are
    particle slots (particle i of a jet is slot i), N + s is the node made at
    merge step s; the root of a jet with n particles is N + n - 2.

    Each jet keeps, per live slot, its nearest neighbour (first index among
    equal distances) and that distance, not the distance matrix: a merge
    computes the distances of the new pseudo-jet to every slot, kills the
    merged-away slot, and recomputes from (y, phi) only the rows whose
    neighbour was one of the two. A step is O(N) numpy work per jet (memory
    O(N) per jet too) and the Python loop runs over the N - 1 merge steps of
    the group, not over jets.
    """

    def __init__(self, items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        n_jets = len(items)
        ns = [it[0].shape[0] for it in items]
        size = ns[0]
        self.size = size
        rap = np.zeros((n_jets, size))
        phi = np.zeros((n_jets, size))
        mom = np.zeros((n_jets, size, _N_COMPONENTS))
        # 0 for live slots, inf for padding and merged-away slots: adding it masks them exactly.
        pen = np.full((n_jets, size), np.inf)
        for b, (p, y, f) in enumerate(items):
            n = p.shape[0]
            mom[b, :n] = p
            rap[b, :n] = y
            phi[b, :n] = f
            pen[b, :n] = 0.0
        dist = _pairwise_dr2(rap, phi)
        dist += pen[:, :, None]
        dist += pen[:, None, :]
        diag = np.arange(size)
        dist[:, diag, diag] = np.inf
        nn_j = dist.argmin(axis=2)
        nn_d = np.take_along_axis(dist, nn_j[:, :, None], axis=2)[:, :, 0]
        del dist  # from here on, rows are recomputed from (rap, phi) when needed

        slot_node = np.tile(np.arange(size, dtype=np.intp), (n_jets, 1))
        node_mom = np.zeros((n_jets, 2 * size - 1, _N_COMPONENTS))
        node_mom[:, :size] = mom
        left = np.zeros((n_jets, size - 1), dtype=np.intp)
        right = np.zeros_like(left)
        n_active = [sum(1 for n in ns if n - 1 > s) for s in range(size - 1)]
        rows_all = np.arange(n_jets)
        for s in range(size - 1):
            m = n_active[s]
            r = rows_all[:m]
            a = nn_d[:m].argmin(axis=1)  # first row holding the group minimum
            b = nn_j[r, a]  # its first nearest neighbour, so a < b
            merged = mom[r, a] + mom[r, b]
            left[:m, s] = slot_node[r, a]
            right[:m, s] = slot_node[r, b]
            node_mom[:m, size + s] = merged
            mom[r, a] = merged
            slot_node[r, a] = size + s
            pen[r, b] = np.inf
            nn_d[r, b] = np.inf
            yf = np.array([_rap_phi_scalar(*v) for v in merged.tolist()])
            rap[r, a] = yf[:, 0]
            phi[r, a] = yf[:, 1]
            rap_m, phi_m, pen_m = rap[:m], phi[:m], pen[:m]
            row = _dr2_row(rap_m, phi_m, yf[:, :1], yf[:, 1:])
            row += pen_m
            row[r, a] = np.inf
            nn_j_m = nn_j[:m]
            nn_d_m = nn_d[:m]
            a_col = a[:, None]
            # rows whose neighbour was merged away or moved must be recomputed...
            stale = (nn_j_m == a_col) | (nn_j_m == b[:, None])
            stale &= pen_m == 0.0
            stale[r, a] = False
            # ...the others only compare with the new position (ties: first index wins)
            better = (row < nn_d_m) | ((row == nn_d_m) & (a_col < nn_j_m))
            np.copyto(nn_d_m, row, where=better)
            np.copyto(nn_j_m, a_col, where=better)
            ja = row.argmin(axis=1)
            nn_j[r, a] = ja
            nn_d[r, a] = row[r, ja]
            bi, ii = np.nonzero(stale)
            if bi.size:
                sub = _dr2_row(rap[bi], phi[bi], rap[bi, ii][:, None], phi[bi, ii][:, None])
                sub += pen[bi]
                k = np.arange(bi.size)
                sub[k, ii] = np.inf
                jj = sub.argmin(axis=1)
                nn_j[bi, ii] = jj
                nn_d[bi, ii] = sub[k, jj]
        self.left = left
        self.right = right
        self.node_mom = node_mom

    def tree(self, b: int) -> tuple[list[int], list[int], list[list[float]]]:
        """Jet ``b``'s tree with group-wide node ids: (left, right, node four-momenta)."""
        return self.left[b].tolist(), self.right[b].tolist(), self.node_mom[b].tolist()


def _groups(ns: list[int]) -> list[list[int]]:
    """Jet indices (n >= 2 only) in groups of similar size, largest first.

    A group holds at most _GROUP_MAX_JETS jets and _GROUP_MAX_ELEMENTS distance
    entries, and no jet smaller than _GROUP_SIZE_RATIO times the largest (the
    padding of small jets would waste work).
    """
    order = sorted((i for i, n in enumerate(ns) if n >= 2), key=lambda i: -ns[i])
    groups: list[list[int]] = []
    start = 0
    while start < len(order):
        size = ns[order[start]]
        cap = max(1, min(_GROUP_MAX_JETS, _GROUP_MAX_ELEMENTS // (size * size)))
        stop = start + 1
        while (
            stop < len(order) and stop - start < cap and ns[order[stop]] >= _GROUP_SIZE_RATIO * size
        ):
            stop += 1
        groups.append(order[start:stop])
        start = stop
    return groups


def _leaves(node: int, size: int, left: list[int], right: list[int]) -> list[int]:
    """Particle slots under ``node`` (iterative walk over <= 2 n - 1 nodes)."""
    out: list[int] = []
    stack = [node]
    while stack:
        k = stack.pop()
        if k < size:
            out.append(k)
        else:
            stack.append(right[k - size])
            stack.append(left[k - size])
    return out


def _groom_walk(
    n: int,
    size: int,
    left: list[int],
    right: list[int],
    mom: list[list[float]],
    z_cut: float,
    beta: float,
    r0: float,
) -> np.ndarray:
    """Walk one jet's C/A tree from the root; return the kept particle indices."""
    node = size + n - 2
    while node >= size:
        c1, c2 = left[node - size], right[node - size]
        m1, m2 = mom[c1], mom[c2]
        pt2_1 = m1[0] * m1[0] + m1[1] * m1[1]
        pt2_2 = m2[0] * m2[0] + m2[1] * m2[1]
        pt1, pt2 = math.sqrt(pt2_1), math.sqrt(pt2_2)
        pt_sum = pt1 + pt2
        if pt_sum > 0.0:
            sym = min(pt1, pt2) / pt_sum
            if beta == 0.0:
                cut = z_cut
            else:
                y1, f1 = _rap_phi_scalar(*m1)
                y2, f2 = _rap_phi_scalar(*m2)
                dphi = abs(f1 - f2)
                if dphi > _PI:
                    dphi = _TWO_PI - dphi
                dr2 = (y1 - y2) ** 2 + dphi * dphi
                cut = z_cut * (dr2 / (r0 * r0)) ** (0.5 * beta)
            if sym > cut:
                break
        # follow the harder branch (the first one on an exact tie, as fjcontrib does)
        node = c2 if pt2_1 < pt2_2 else c1
    return np.sort(np.asarray(_leaves(node, size, left, right), dtype=np.intp))


def mmdt_groom_many(
    items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    z_cut: float = MMDT_Z_CUT,
    beta: float = MMDT_BETA,
    r0: float = MMDT_R0,
) -> list[np.ndarray]:
    """Groom many validated jets given as (p, rapidity, azimuth); kept rows per jet.

    Jets of similar multiplicity are clustered together (:class:`_Group`); the
    result for a jet does not depend on which other jets it is grouped with.
    """
    ns = [it[0].shape[0] for it in items]
    out: list[np.ndarray] = [np.zeros(1, dtype=np.intp)] * len(items)
    for idx in _groups(ns):
        if len(idx) == 1:
            i = idx[0]
            left, right, mom = _cluster_one(*items[i])
            out[i] = _groom_walk(ns[i], ns[i], left, right, mom, z_cut, beta, r0)
            continue
        group = _Group([items[i] for i in idx])
        for b, i in enumerate(idx):
            left, right, mom = group.tree(b)
            out[i] = _groom_walk(ns[i], group.size, left, right, mom, z_cut, beta, r0)
    return out


def ca_cluster(
    p: np.ndarray, rap: np.ndarray, phi: np.ndarray
) -> tuple[list[int], list[int], np.ndarray]:
    """C/A clustering tree of one jet (E-scheme, no beam distance: one final jet).

    Returns ``(left, right, mom)``: node ids 0..n-1 are the particles, node
    ``n + s`` is made at merge step ``s`` from ``left[s]`` and ``right[s]``;
    ``mom[node]`` is its (px, py, pz, E). The root is node ``2 n - 2``.
    """
    if p.shape[0] == 1:
        return [], [], p.copy()
    left, right, mom = _cluster_one(p, rap, phi)
    return left, right, np.asarray(mom)


def mmdt_groom(
    constituents: np.ndarray,
    z_cut: float = MMDT_Z_CUT,
    beta: float = MMDT_BETA,
    r0: float = MMDT_R0,
) -> np.ndarray:
    """Rows of ``constituents`` kept by SoftDrop grooming (mMDT by default).

    ``constituents`` is an (n, 4) array of (px, py, pz, E). The defaults are the
    hls4ml dataset's mMDT: SoftDrop(beta=0, z_cut=0.1, R0=1.0) on a C/A
    reclustering, following the larger-pT branch; a walk that ends on one
    particle keeps that particle. Returns sorted row indices (int array, length
    >= 1). A pair of branches with pT1 + pT2 = 0 is never "symmetric", so the
    walk goes on into the first branch.
    """
    if not (math.isfinite(z_cut) and z_cut >= 0.0):
        raise PhysicsError(f"mmdt_groom: z_cut must be a finite number >= 0, got {z_cut!r}")
    if not (math.isfinite(beta) and beta >= 0.0):
        raise PhysicsError(f"mmdt_groom: beta must be a finite number >= 0, got {beta!r}")
    if not (math.isfinite(r0) and r0 > 0.0):
        raise PhysicsError(f"mmdt_groom: R0 must be a finite number > 0, got {r0!r}")
    p = validate_constituents(constituents)
    _, rap, phi = kinematics(p)
    return mmdt_groom_many([(p, rap, phi)], z_cut=z_cut, beta=beta, r0=r0)[0]
