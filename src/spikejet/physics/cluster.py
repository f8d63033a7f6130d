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

The C/A step loop is a Python loop over the n - 1 merges; each merge updates
one row and column of the dense n x n distance matrix with numpy, so a jet
costs O(n) numpy calls and O(n^3) cheap element operations.
"""

from __future__ import annotations

import math

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
    "mmdt_groom_kinematics",
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
    """Dense matrix of Delta y^2 + Delta phi^2 (Delta phi folded into [0, pi])."""
    drap = rap[:, None] - rap[None, :]
    dphi = np.abs(phi[:, None] - phi[None, :])
    np.subtract(_TWO_PI, dphi, out=dphi, where=dphi > _PI)
    return drap * drap + dphi * dphi


def ca_cluster(
    p: np.ndarray, rap: np.ndarray, phi: np.ndarray
) -> tuple[list[int], list[int], list[tuple[float, float, float, float]]]:
    """Cluster all particles into one jet with C/A (E-scheme, no beam distance).

    Returns ``(left, right, mom)``: node ids 0..n-1 are the particles, node
    ``n + s`` is created at merge step ``s`` from ``left[s]`` and ``right[s]``;
    ``mom[node]`` is its (px, py, pz, E). The root is node ``2 n - 2``.
    """
    n = p.shape[0]
    mom: list[tuple[float, float, float, float]] = [tuple(row) for row in p.tolist()]
    left: list[int] = []
    right: list[int] = []
    if n == 1:
        return left, right, mom
    dist = _pairwise_dr2(rap, phi)
    np.fill_diagonal(dist, np.inf)
    rap_s = rap.copy()
    phi_s = phi.copy()
    # 0 for live slots, inf for merged-away ones: adding it masks dead slots exactly.
    dead = np.zeros(n)
    slot_node = list(range(n))
    for step in range(n - 1):
        flat = int(dist.argmin())
        a, b = divmod(flat, n)  # a < b: the first minimum of a symmetric matrix
        na, nb = slot_node[a], slot_node[b]
        pa, pb = mom[na], mom[nb]
        merged = (pa[0] + pb[0], pa[1] + pb[1], pa[2] + pb[2], pa[3] + pb[3])
        new = n + step
        mom.append(merged)
        left.append(na)
        right.append(nb)
        slot_node[a] = new
        if step == n - 2:
            break
        dead[b] = np.inf
        ra, pha = _rap_phi_scalar(*merged)
        rap_s[a] = ra
        phi_s[a] = pha
        drap = rap_s - ra
        dphi = np.abs(phi_s - pha)
        np.subtract(_TWO_PI, dphi, out=dphi, where=dphi > _PI)
        row = drap * drap + dphi * dphi
        row += dead
        row[a] = np.inf
        dist[a] = row
        dist[:, a] = row
        dist[b] = np.inf
        dist[:, b] = np.inf
    return left, right, mom


def _leaves(node: int, n: int, left: list[int], right: list[int]) -> list[int]:
    """Particle indices under ``node`` (iterative walk over <= 2 n - 1 nodes)."""
    out: list[int] = []
    stack = [node]
    while stack:
        k = stack.pop()
        if k < n:
            out.append(k)
        else:
            stack.append(right[k - n])
            stack.append(left[k - n])
    return out


def mmdt_groom_kinematics(
    p: np.ndarray,
    rap: np.ndarray,
    phi: np.ndarray,
    z_cut: float = MMDT_Z_CUT,
    beta: float = MMDT_BETA,
    r0: float = MMDT_R0,
) -> np.ndarray:
    """:func:`mmdt_groom` for a validated array whose rapidity/azimuth are known."""
    n = p.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.intp)
    left, right, mom = ca_cluster(p, rap, phi)
    node = 2 * n - 2
    while node >= n:
        c1, c2 = left[node - n], right[node - n]
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
    return np.sort(np.asarray(_leaves(node, n, left, right), dtype=np.intp))


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
    return mmdt_groom_kinematics(p, rap, phi, z_cut=z_cut, beta=beta, r0=r0)
