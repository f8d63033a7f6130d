"""Pileup mitigation on a pileup sample: the event reference, per-track inputs, cut baselines,
cleaning and the jets' features after cleaning (issue 14; docs/pileup.md).

The pieces the ``pileup`` stage puts together, all pure numpy on a
:class:`spikejet.data.pileup.PileupSample`:

- :func:`reference_vertex`: the event's reference (z, t), estimated from the jet's hardest
  tracks as a trigger would (no truth);
- :func:`track_inputs`: per charged constituent ``dt_ps``, ``dz_mm`` (track minus reference),
  ``pt``, ``eta`` and the truth ``is_pv``;
- :func:`cut_scores`: the timing-window cut and the same without timing, as scores whose
  threshold sweeps the ROC (``|dt| < k sigma_t and |dz| < m sigma_z`` with the best ``k/m`` ratio);
- :func:`thinned_mask`: a lower pileup from the same events by dropping whole pileup
  interactions at random (Poisson thinning: MU' = MU * keep);
- :func:`cleaned_features`: the 16 features and the mMDT mass of every jet after removing the
  constituents a method rejects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.schema import FEATURE_NAMES
from ..errors import DataError

__all__ = [
    "TrackInputs",
    "reference_vertex",
    "track_inputs",
    "cut_scores",
    "best_cut",
    "thinned_mask",
    "cleaned_features",
    "four_momenta",
    "subset",
    "constituent_rows",
    "track_resolution",
    "reconstructed",
    "mass_resolution",
    "REFERENCE_TRACKS",
]

#: The event reference is the median (z0, t) of this many hardest timed tracks of the jet.
REFERENCE_TRACKS = 4
MASS_INDEX = FEATURE_NAMES.index("j_mass_mmdt")


@dataclass(frozen=True)
class TrackInputs:
    """Per charged constituent (one row per track of every jet, in constituent order)."""

    jet: np.ndarray  # (n,) int: the jet the track belongs to
    index: np.ndarray  # (n,) int: the track's index in the flat constituent arrays
    dt_ps: np.ndarray  # (n,) float: track time - reference time (NaN: no time)
    dz_mm: np.ndarray  # (n,) float: track z0 - reference z
    pt: np.ndarray
    eta: np.ndarray
    sigma_z_mm: np.ndarray  # (n,) the track's z0 resolution (known to a reconstruction)
    is_pv: np.ndarray  # (n,) bool truth: from the hard interaction

    def __len__(self) -> int:
        return int(self.dt_ps.size)

    def take(self, rows: np.ndarray) -> TrackInputs:
        return TrackInputs(**{k: getattr(self, k)[rows] for k in self.__dataclass_fields__})


def _pt(sample: Any) -> np.ndarray:
    return np.asarray(sample.pt, np.float64)


def four_momenta(sample: Any) -> np.ndarray:
    """(N, 4) px, py, pz, E of every constituent (GeV)."""
    pt, eta, phi = _pt(sample), sample.eta, sample.phi
    e = np.maximum(np.asarray(sample.e, np.float64), pt * np.cosh(eta))  # float16 storage: keep E >= |p|
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), e], axis=1)


def constituent_rows(sample: Any, jets: np.ndarray) -> np.ndarray:
    """Flat constituent indices of the jets ``jets``, jet by jet (the order :func:`subset` keeps)."""
    off = np.asarray(sample.offsets, dtype=np.int64)
    jets = np.asarray(jets, dtype=np.int64)
    if jets.size == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([np.arange(off[j], off[j + 1]) for j in jets])


def subset(sample: Any, jets: np.ndarray) -> Any:
    """The :class:`~spikejet.data.pileup.PileupSample` of the jets ``jets`` (in that order)."""
    from dataclasses import replace

    jets = np.asarray(jets, dtype=np.int64)
    off = np.asarray(sample.offsets, dtype=np.int64)
    idx = constituent_rows(sample, jets)
    new_off = np.r_[0, np.cumsum(off[jets + 1] - off[jets])]
    return replace(sample, y=np.asarray(sample.y)[jets], offsets=new_off,
                   jets={k: np.asarray(v)[jets] for k, v in sample.jets.items()},
                   constituents={k: np.asarray(v)[idx] for k, v in sample.constituents.items()})


def reference_vertex(sample: Any, n_tracks: int = REFERENCE_TRACKS) -> tuple[np.ndarray, np.ndarray]:
    """(z_ref mm, t_ref ps) per jet: the median z0 and time of the jet's ``n_tracks`` hardest tracks
    that have a time (z0 of the hardest tracks when none has a time; NaN when the jet has no track).

    The hardest tracks of a TeV jet come from the hard interaction almost always (tests and
    docs/pileup.md measure the reference's resolution against the truth vertex).
    """
    off = np.asarray(sample.offsets, dtype=np.int64)
    pt, z0, t = _pt(sample), np.asarray(sample.z0_mm, np.float64), np.asarray(sample.t_ps, np.float64)
    n = off.size - 1
    z_ref, t_ref = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        lo, hi = off[i], off[i + 1]
        tracks = lo + np.flatnonzero(np.isfinite(z0[lo:hi]))
        if tracks.size == 0:
            continue
        tracks = tracks[np.argsort(-pt[tracks], kind="stable")]
        timed = tracks[np.isfinite(t[tracks])][:n_tracks]
        use = timed if timed.size else tracks[:n_tracks]
        z_ref[i] = float(np.median(z0[use]))
        if timed.size:
            t_ref[i] = float(np.median(t[timed]))
    return z_ref, t_ref


def track_resolution(sample: Any) -> np.ndarray:
    """Per constituent z0 resolution (mm) of the generator's tracking model (NaN for non-tracks)."""
    from .timing import DEFAULT_TIMING, TimingModel, sigma_z0_mm

    settings = dict(getattr(sample, "settings", {}) or {}).get("timing") or {}
    known = {k: v for k, v in settings.items() if k in TimingModel.__dataclass_fields__}
    model = TimingModel(**known) if known else DEFAULT_TIMING
    out = np.full(np.shape(sample.pt), np.nan)
    trk = np.isfinite(np.asarray(sample.z0_mm, np.float64))
    pt = np.asarray(sample.pt, np.float64)[trk]
    out[trk] = sigma_z0_mm(np.maximum(pt, 1e-6), sample.eta[trk], model)
    return out


def reconstructed(sample: Any, neutral_pt_min: float) -> np.ndarray:
    """Constituents a detector reconstructs: every track, and untracked particles with pT >= the threshold."""
    tracked = np.isfinite(np.asarray(sample.z0_mm, np.float64))
    return tracked | (np.asarray(sample.pt, np.float64) >= neutral_pt_min)


def track_inputs(sample: Any, z_ref: np.ndarray, t_ref: np.ndarray, sigma_z_mm: np.ndarray) -> TrackInputs:
    """Every track of every jet (finite z0) with its time and z0 relative to the jet's reference.

    ``sigma_z_mm`` is the flat per-constituent z0 resolution (the generator's model).
    """
    off = np.asarray(sample.offsets, dtype=np.int64)
    z0 = np.asarray(sample.z0_mm, np.float64)
    idx = np.flatnonzero(np.isfinite(z0))
    jet = np.searchsorted(off, idx, side="right") - 1
    t = np.asarray(sample.t_ps, np.float64)[idx]
    return TrackInputs(
        jet=jet, index=idx,
        dt_ps=t - t_ref[jet], dz_mm=z0[idx] - z_ref[jet],
        pt=_pt(sample)[idx], eta=sample.eta[idx],
        sigma_z_mm=np.asarray(sigma_z_mm, np.float64)[idx],
        is_pv=np.asarray(sample.origin)[idx] == 0,
    )


def cut_scores(tracks: TrackInputs, sigma_t_ps: float, ratio: float | None) -> np.ndarray:
    """PV-likeness of each track for a window cut: ``-max(|dz|/sigma_z, |dt|/(ratio sigma_t))``.

    A threshold ``-c`` on the score is the cut ``|dz| < c sigma_z and |dt| < c ratio sigma_t``;
    sweeping ``c`` gives the cut's ROC. Tracks without a time are cut on ``dz`` alone, as is
    every track for ``ratio=None`` (the same cut without timing).
    """
    sz = np.abs(tracks.dz_mm) / tracks.sigma_z_mm
    if ratio is None:
        return -sz
    st = np.abs(tracks.dt_ps) / (ratio * sigma_t_ps)
    return -np.where(np.isfinite(st), np.maximum(sz, st), sz)


def best_cut(tracks: TrackInputs, sigma_t_ps: float, efficiency: float) -> tuple[float, Any]:
    """The best window cut on ``tracks``: the (k, m) of ``|dt| < k sigma_t and |dz| < m sigma_z`` with the
    least pileup at ``efficiency`` PV efficiency (the exhaustive grid of
    :func:`spikejet.evaluate.pileup.best_timing_cut`); returns (k / m, the cut). The ratio fixes the
    shape of the window whose size :func:`cut_scores` then sweeps."""
    from ..evaluate.pileup import best_timing_cut

    cut = best_timing_cut(tracks.dt_ps / sigma_t_ps, tracks.dz_mm / tracks.sigma_z_mm, tracks.is_pv, efficiency)
    return cut.k / cut.m, cut


def thinned_mask(sample: Any, keep: float, rng: np.random.Generator) -> np.ndarray:
    """Constituent mask of the same events at pileup ``keep * MU``: every pileup interaction of
    every event is kept with probability ``keep`` (a Poisson(MU) count thinned with probability
    ``keep`` is Poisson(keep * MU)); the hard interaction is always kept."""
    if not 0.0 <= keep <= 1.0:
        raise DataError(f"the pileup thinning fraction must be in [0, 1], got {keep}")
    off = np.asarray(sample.offsets, dtype=np.int64)
    origin = np.asarray(sample.origin, dtype=np.int64)
    jet = np.repeat(np.arange(off.size - 1), np.diff(off))
    # one draw per (jet, interaction): the same interaction is kept or dropped as a whole
    n_int = int(np.abs(origin).max(initial=0)) + 1
    key = jet * (2 * n_int + 1) + (origin + n_int)
    uniq, inv = np.unique(key, return_inverse=True)
    kept = rng.random(uniq.size) < keep
    return (origin == 0) | kept[inv]


def cleaned_features(sample: Any, keep: np.ndarray) -> np.ndarray:
    """The 16 features (n_jets, 16) of every jet from its constituents with ``keep`` True."""
    from .features import jet_features_batch

    off = np.asarray(sample.offsets, dtype=np.int64)
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (off[-1],):
        raise DataError(f"the constituent mask has shape {keep.shape}, expected ({off[-1]},)")
    p4 = four_momenta(sample)
    counts = np.add.reduceat(keep.astype(np.int64), off[:-1]) if off[-1] else np.zeros(off.size - 1, np.int64)
    counts = np.where(np.diff(off) > 0, counts, 0)
    if (counts == 0).any():
        raise DataError(f"{int((counts == 0).sum())} jets have no constituent left after cleaning")
    new_off = np.r_[0, np.cumsum(counts)]
    return jet_features_batch((p4[keep], new_off))


def mass_resolution(m: np.ndarray, m_true: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, dict[str, float]]:
    """Per class: the mean and the robust width (half the 16-84 % interval) of (m - m_true) in GeV."""
    out: dict[str, dict[str, float]] = {}
    d = np.asarray(m, np.float64) - np.asarray(m_true, np.float64)
    for c in range(n_classes):
        dc = d[np.asarray(y) == c]
        if dc.size == 0:
            continue
        lo, med, hi = np.percentile(dc, [16, 50, 84])
        out[str(c)] = {"shift_gev": float(med), "width_gev": float(0.5 * (hi - lo)), "n": int(dc.size)}
    return out
