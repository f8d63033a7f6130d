"""Pileup: a pool of minimum-bias interactions overlaid on the hard events (docs/pileup.md).

The pool is ``pileup_pool`` Pythia ``SoftQCD:inelastic`` events at the hard events'
sqrt(s), generated once per chunk from the chunk's seeds (its own Pythia seed).
Each hard event draws N ~ Poisson(MU) distinct pool events (in-time; with
``out_of_time`` also Poisson(MU) for each of the crossings at -25 and +25 ns), all
distinct within the event. Each gets a vertex (z, t) from the luminous region, a
random azimuthal rotation and, with probability 1/2, a reflection eta -> -eta, so
that reusing a pool event does not repeat its geometry.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from ..errors import PhysicsError
from .timing import BUNCH_SPACING_PS, TimingModel

__all__ = ["PileupPool", "make_pool", "draw_overlay", "pool_seed", "pool_needed"]

#: Only pileup particles within this rapidity-azimuth distance of a selected hard jet's
#: axis enter the clustering: R (0.8) + 0.4 (anti-kT hard jets absorb everything within R
#: of their axis; the margin covers the axis shift the pileup causes; tested against the
#: full clustering in tests/test_pileup_generate.py).
OVERLAY_MARGIN = 0.4
#: The pool keeps particles with |y| below this (jets have |eta| < 5 at most, plus R + margin).
POOL_RAPIDITY_MAX = 6.5
#: A pool must hold at least mean + this many standard deviations (+ 1) interactions per
#: event; a Poisson draw beyond it (probability < 1e-9) is an error, never truncated.
POOL_SIGMAS = 6.0
#: The third entropy word of the pileup's random stream (vertices, draws, measurements).
PILEUP_STREAM = 0x9117E
PYTHIA_SEED_MAX = 900_000_000
#: Pythia minimum bias: all inelastic processes (non-diffractive + diffractive).
MINBIAS_SETTINGS = ("SoftQCD:inelastic = on",)
#: Columns of the overlay rows: px, py, pz, E, charge, PDG id, origin, z_v (mm), t_v (ps).
N_OVERLAY_COLUMNS = 9


def pool_needed(mu: float, out_of_time: bool) -> int:
    """Smallest pool that serves one event of mean ``mu`` (x3 with out-of-time) interactions."""
    total = mu * (3 if out_of_time else 1)
    return int(math.ceil(total + POOL_SIGMAS * math.sqrt(total) + 1)) if total > 0 else 0


def pool_seed(seeds: tuple[int, int]) -> int:
    digest = hashlib.sha256(f"spikejet.pileup.pool:{seeds[0]}:{seeds[1]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % PYTHIA_SEED_MAX + 1


@dataclass(frozen=True)
class PileupPool:
    """``n`` minimum-bias events: flat (N, 6) rows px, py, pz, E, charge, PDG id, with
    event ``i`` in ``rows[offsets[i]:offsets[i+1]]``; ``rap`` and ``phi`` per row."""

    rows: np.ndarray
    offsets: np.ndarray
    rap: np.ndarray
    phi: np.ndarray

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)


def _rapidity(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log((p[:, 3] + p[:, 2]) / (p[:, 3] - p[:, 2]))


def make_pool(n: int, seeds: tuple[int, int], sqrt_s_gev: float, new_pythia, visible_final_state,
              max_failures: int) -> PileupPool:
    """``n`` Pythia SoftQCD:inelastic events (visible final state, |y| < POOL_RAPIDITY_MAX).

    ``new_pythia(settings, seed)`` and ``visible_final_state(event)`` are the event loop's
    (physics.events), handed in so that this module does not import it."""
    from .processes import common_settings

    pythia = new_pythia(common_settings(sqrt_s_gev) + MINBIAS_SETTINGS, pool_seed(seeds))
    if not pythia.init():
        raise PhysicsError("Pythia could not initialise the minimum-bias (SoftQCD:inelastic) pileup pool")
    events, fails = [], 0
    while len(events) < n:
        if not pythia.next():
            fails += 1
            if fails > max_failures:
                raise PhysicsError(f"the pileup pool: Pythia failed {fails} minimum-bias events in a row")
            continue
        fails = 0
        v = visible_final_state(pythia.event)
        events.append(v[np.abs(_rapidity(v)) < POOL_RAPIDITY_MAX])
    rows = np.concatenate(events) if events else np.zeros((0, 6))
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in events])]).astype(np.int64)
    return PileupPool(rows, offsets, _rapidity(rows), np.arctan2(rows[:, 1], rows[:, 0]))


def _interactions(rng: np.random.Generator, mu: float, out_of_time: bool) -> tuple[np.ndarray, np.ndarray]:
    """Origin label and crossing time offset (ps) of every pileup interaction of one event."""
    n_in = int(rng.poisson(mu))
    origin = [np.arange(1, n_in + 1)]
    offset = [np.zeros(n_in)]
    if out_of_time:
        n_early, n_late = int(rng.poisson(mu)), int(rng.poisson(mu))
        origin.append(-np.arange(1, n_early + n_late + 1))
        offset.append(np.concatenate([np.full(n_early, -BUNCH_SPACING_PS), np.full(n_late, BUNCH_SPACING_PS)]))
    return np.concatenate(origin).astype(np.int64), np.concatenate(offset)


def draw_overlay(pool: PileupPool, rng: np.random.Generator, mu: float, out_of_time: bool,
                 model: TimingModel, axes: np.ndarray | None, max_dr: float) -> tuple[np.ndarray, int]:
    """The pileup of one event: (rows, n_in_time). ``rows`` (n, 9): px, py, pz, E, charge,
    PDG id, origin, z_v, t_v of every pileup particle within ``max_dr`` (rapidity-azimuth)
    of one of ``axes`` ((k, 2) rapidity, azimuth; None: every particle).

    The draws from ``rng`` (counts, pool events, vertices, rotations, reflections) do not
    depend on ``axes``, so the filtered and unfiltered overlays are the same particles."""
    origin, offset = _interactions(rng, mu, out_of_time)
    k = origin.shape[0]
    if k > len(pool):
        raise PhysicsError(f"an event drew {k} pileup interactions but the pool holds {len(pool)}; "
                           "raise --pileup-pool")
    pick = rng.choice(len(pool), size=k, replace=False)
    z_v = rng.normal(0.0, model.sigma_z_mm, k)
    t_v = rng.normal(0.0, model.sigma_t_ps, k) + offset
    rot = rng.uniform(-math.pi, math.pi, k)
    flip = rng.random(k) < 0.5
    lo, hi = pool.offsets[pick], pool.offsets[pick + 1]
    counts = hi - lo
    idx = np.arange(int(counts.sum())) + np.repeat(lo - (np.cumsum(counts) - counts), counts)
    inter = np.repeat(np.arange(k), counts)
    phi = np.mod(pool.phi[idx] + rot[inter] + math.pi, 2.0 * math.pi) - math.pi
    sign = np.where(flip[inter], -1.0, 1.0)
    rap = pool.rap[idx] * sign
    if axes is not None and len(axes):
        dphi = np.mod(phi[:, None] - axes[None, :, 1] + math.pi, 2.0 * math.pi) - math.pi
        near = (np.hypot(rap[:, None] - axes[None, :, 0], dphi) < max_dr).any(axis=1)
        idx, inter, phi, sign = idx[near], inter[near], phi[near], sign[near]
    src = pool.rows[idx]
    pt = np.hypot(src[:, 0], src[:, 1])
    rows = np.empty((idx.shape[0], N_OVERLAY_COLUMNS))
    rows[:, 0], rows[:, 1] = pt * np.cos(phi), pt * np.sin(phi)
    rows[:, 2], rows[:, 3] = src[:, 2] * sign, src[:, 3]
    rows[:, 4], rows[:, 5] = src[:, 4], src[:, 5]
    rows[:, 6], rows[:, 7], rows[:, 8] = origin[inter], z_v[inter], t_v[inter]
    return rows, int((origin > 0).sum())
