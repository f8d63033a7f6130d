"""The conventional per-particle pileup cuts the spiking filter is compared with (issue 14).

* the dz-only cut ``|dz| < m sigma_z0(pt)``: a score ``-|dz / sigma_z0|`` whose ROC gives the
  rejection at any PV efficiency;
* the timing cut ``|dt| < k sigma_t and |dz| < m sigma_z0`` (a track without a time passes the
  time part): :func:`best_timing_cut` scans (k, m) on a grid and keeps the pair with the highest
  pileup rejection among those whose PV efficiency reaches the target.

Torch-free; the pulls are computed by the caller (``spikejet.snn.temporal.pulls``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .metrics import rejection_at_efficiency

__all__ = ["CUT_GRID_K", "CUT_GRID_M", "TimingCut", "dz_cut_rejection", "best_timing_cut"]

#: The grids of k (time, in sigma_t) and m (z, in sigma_z0) scanned by :func:`best_timing_cut`.
CUT_GRID_K: tuple[float, ...] = tuple(np.round(np.arange(0.5, 8.01, 0.1), 2))
CUT_GRID_M: tuple[float, ...] = tuple(np.round(np.arange(0.5, 8.01, 0.1), 2))


@dataclass(frozen=True)
class TimingCut:
    """The best (k, m) pair: its PV efficiency, pileup efficiency and rejection (1 / pileup efficiency)."""

    k: float
    m: float
    pv_efficiency: float
    pu_efficiency: float

    @property
    def rejection(self) -> float | None:
        return None if self.pu_efficiency <= 0 else 1.0 / self.pu_efficiency


def _check(pull_t: np.ndarray, pull_z: np.ndarray, is_pv: np.ndarray) -> tuple[np.ndarray, ...]:
    t = np.asarray(pull_t, dtype=np.float64)
    z = np.asarray(pull_z, dtype=np.float64)
    y = np.asarray(is_pv, dtype=bool)
    if not (t.shape == z.shape == y.shape and t.ndim == 1):
        raise DataError(f"pulls and labels must be 1-D of one length, got {t.shape}, {z.shape}, {y.shape}")
    if not y.any() or y.all():
        raise DataError("the cuts need primary-vertex and pileup particles")
    if not np.isfinite(z).all():
        raise DataError("the z pulls have NaN or inf values")
    return t, z, y


def dz_cut_rejection(pull_z: np.ndarray, is_pv: np.ndarray, eff: float = 0.95) -> float | None:
    """Pileup rejection (1/FPR) of the cut ``|dz| < m sigma_z0`` at PV efficiency ``eff``."""
    _, z, y = _check(np.zeros_like(np.asarray(pull_z, dtype=np.float64)), pull_z, is_pv)
    score = -np.abs(z)
    return rejection_at_efficiency(score[y], score[~y], eff)


def best_timing_cut(pull_t: np.ndarray, pull_z: np.ndarray, is_pv: np.ndarray, eff: float = 0.95,
                    *, grid_k: tuple[float, ...] = CUT_GRID_K, grid_m: tuple[float, ...] = CUT_GRID_M) -> TimingCut:
    """The (k, m) of ``|dt| < k sigma_t and |dz| < m sigma_z0`` with the lowest pileup efficiency among
    the pairs whose PV efficiency is at least ``eff`` (NaN time pulls pass the time part)."""
    t, z, y = _check(pull_t, pull_z, is_pv)
    at = np.where(np.isfinite(t), np.abs(t), 0.0)
    az = np.abs(z)
    best: TimingCut | None = None
    for m in grid_m:
        zpass = az < m
        for k in grid_k:
            ok = zpass & (at < k)
            e_pv = float(ok[y].mean())
            if e_pv < eff:
                continue
            e_pu = float(ok[~y].mean())
            if best is None or e_pu < best.pu_efficiency:
                best = TimingCut(k=float(k), m=float(m), pv_efficiency=e_pv, pu_efficiency=e_pu)
    if best is None:
        raise DataError(f"no cut on the grid reaches a PV efficiency of {eff}; widen the grid")
    return best
