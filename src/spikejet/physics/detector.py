"""A parametrised simplified detector: tracker + segmented, smeared calorimeters.

The public hls4ml samples were made "through a simplified detector" (JetNet's
description, see docs/physics.md); the description gives no parameters, so the
one preset here (``cms``) takes every number from Delphes' CMS card
(``cards/delphes_card_CMS.tcl`` of Delphes 3.5, J. de Favereau et al.,
JHEP 02 (2014) 057), which itself cites the CMS performance papers named next to
each constant below. It is a particle-flow-like picture:

* **Tracker** (|eta| < 2.5, 3.8 T): a charged particle with pT above the tracking
  threshold is reconstructed with the card's efficiency (charged hadrons) and
  its pT smeared with the card's resolution (CMS tracking, arXiv:1405.6569);
  direction and mass are kept. A reconstructed track keeps its charge and PDG id
  (Delphes' eflow tracks do the same).
* **Calorimeters** (|eta| < 3.0): every other visible particle (neutral, or charged
  but not tracked) deposits its energy in a cell: photons, electrons and
  positrons in the ECAL (cells of 0.0174 x 1 degree), hadrons in the HCAL (towers
  of 0.087 x 5 degrees). The summed energy of each cell is smeared with the
  card's resolution (log-normal, as Delphes 3 does, so that it stays positive) and
  the cell is kept if it passes the card's energy threshold (ECAL 0.5 GeV, HCAL
  1.0 GeV) and its significance cut (``EnergySignificanceMin = 2``: the smeared
  energy must exceed twice the resolution at that energy, which in effect raises
  the HCAL threshold to about 9 GeV and the ECAL one to about 0.8 GeV). A cell becomes a massless candidate at the cell centre, with PDG id
  22 (ECAL) or 130 (HCAL) and charge 0, the CMS particle-flow convention for
  photons and neutral hadrons. Tracked particles leave nothing in the
  calorimeters (ideal energy-flow subtraction).
* Muons are tracked like any charged particle and leave no calorimeter energy;
  neutrinos are never seen; the
  forward calorimeter (|eta| > 3) is not modelled (jets with |eta| < 2 and
  R = 0.8 reach |eta| = 2.8).

The second preset (``threshold``) is an idealised detector: perfect resolution and
granularity, but only particles with pT above 1 GeV are seen (a typical reconstruction
threshold for tracks and calorimeter clusters). Its 1 GeV is not taken from a card:
it is the threshold at which the particle-level constituent multiplicity of our jets
matches the public hls4ml files' (docs/physics.md, "Choosing the default sample").

All randomness comes from the ``numpy.random.Generator`` passed in, so the output
is a pure function of (particles, model, generator state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = [
    "DetectorModel",
    "DETECTORS",
    "DETECTOR_NAMES",
    "detector_model",
    "simulate",
    "PDG_PHOTON",
    "PDG_NEUTRAL_HADRON",
]

#: PDG ids given to calorimeter cells (CMS particle-flow: photons 22, neutral hadrons 130).
PDG_PHOTON = 22
PDG_NEUTRAL_HADRON = 130
PDG_MUON = 13
#: |PDG id| of particles that shower electromagnetically (photon, electron).
_EM_IDS = (11, 22)
#: The card's ECAL resolution has its eta shape up to |eta| = 2.5 and beyond that the
#: forward form sqrt((0.107 E)^2 + 2.08^2 E).
ECAL_ENDCAP_ETA_MAX = 2.5
ECAL_FORWARD_RES = (0.107, 2.08)
#: Input columns of :func:`simulate`: px, py, pz, E (GeV), charge (e), PDG id.
N_COLUMNS = 6


@dataclass(frozen=True)
class DetectorModel:
    """Every number of the simplified detector (units: GeV, radians).

    Resolutions: ``sigma(E) = f(eta) * sqrt((c E)^2 + s^2 E + n^2)`` with constant
    term ``c``, stochastic term ``s`` and noise term ``n``; tracks:
    ``sigma(pT) / pT = sqrt(a^2 + (b pT)^2)``.
    """

    name: str
    #: False: no tracker/calorimeter model; every visible particle with pT above
    #: ``particle_pt_min`` and |eta| < ``calo_eta_max`` is kept unchanged
    smearing: bool = True
    particle_pt_min: float = 0.0
    # tracker
    track_eta_max: float = 2.5
    #: tracking threshold: charged particles below it are not tracked (they reach the calorimeter)
    track_pt_min: float = 0.1
    #: efficiency for threshold < pT <= 1 GeV and pT > 1 GeV, barrel (|eta| <= 1.5) / endcap
    track_eff_low: tuple[float, float] = (0.70, 0.60)
    track_eff_high: tuple[float, float] = (0.95, 0.85)
    #: (a, b) of sigma(pT)/pT for |eta| <= 0.5, 0.5-1.5, 1.5-2.5 (charged hadrons)
    track_res: tuple[tuple[float, float], ...] = ((0.01, 1.5e-4), (0.015, 2.5e-4), (0.025, 5.5e-4))
    # calorimeters
    calo_eta_max: float = 3.0
    ecal_deta: float = 0.0174
    ecal_nphi: int = 360
    #: (constant, stochastic, noise) of the ECAL (energy shape from arXiv:1502.02701)
    ecal_res: tuple[float, float, float] = (0.008, 0.11, 0.40)
    ecal_e_min: float = 0.5
    #: a cell is kept only if its smeared energy exceeds this many sigma (card: 2.0)
    ecal_significance_min: float = 2.0
    hcal_deta: float = 0.087
    hcal_nphi: int = 72
    #: (constant, stochastic, noise) of the HCAL
    hcal_res: tuple[float, float, float] = (0.050, 1.50, 0.0)
    hcal_e_min: float = 1.0
    hcal_significance_min: float = 2.0

    def __post_init__(self) -> None:
        for name in ("track_eta_max", "ecal_deta", "hcal_deta", "calo_eta_max"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"detector {self.name!r}: {name} must be positive, got {v!r}")
        if not (math.isfinite(self.particle_pt_min) and self.particle_pt_min >= 0):
            raise ConfigError(f"detector {self.name!r}: particle_pt_min must be >= 0 GeV, got {self.particle_pt_min!r}")
        if not (math.isfinite(self.track_pt_min) and self.track_pt_min >= 0):
            raise ConfigError(f"detector {self.name!r}: track_pt_min must be >= 0 GeV, got {self.track_pt_min!r}")
        for e in self.track_eff_low + self.track_eff_high:
            if not 0.0 <= e <= 1.0:
                raise ConfigError(f"detector {self.name!r}: tracking efficiencies must be in [0, 1], got {e!r}")
        if self.ecal_nphi < 1 or self.hcal_nphi < 1:
            raise ConfigError(f"detector {self.name!r}: the number of phi cells must be positive")


#: The detector presets. ``none`` = particle level (every visible final-state particle).
DETECTORS: dict[str, DetectorModel | None] = {
    "none": None,
    "cms": DetectorModel(name="cms"),
    "threshold": DetectorModel(name="threshold", smearing=False, particle_pt_min=1.0),
}
DETECTOR_NAMES: tuple[str, ...] = tuple(DETECTORS)


def detector_model(name: str) -> DetectorModel | None:
    """The preset called ``name`` (None for ``none``); ConfigError for an unknown name."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown detector {name!r}; choose from {', '.join(DETECTOR_NAMES)}") from None


def _eta_phi(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    px, py, pz = p[:, 0], p[:, 1], p[:, 2]
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / np.where(pt > 0, pt, 1.0), np.sign(pz) * 1e10))
    return pt, eta, np.arctan2(py, px)


def _log_normal(rng: np.random.Generator, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Positive values with the given mean and standard deviation (Delphes 3's LogNormal)."""
    s2 = np.log1p((sigma / mean) ** 2)
    return np.exp(rng.normal(np.log(mean) - 0.5 * s2, np.sqrt(s2)))


def _ecal_eta_factor(aeta: np.ndarray) -> np.ndarray:
    """The card's eta shape of the ECAL resolution (arXiv:1306.2016)."""
    return np.where(aeta <= 1.5, 1.0 + 0.64 * aeta**2, 2.16 + 5.6 * (aeta - 2.0) ** 2)


def _resolution(
    energy: np.ndarray, eta: np.ndarray, res: tuple[float, float, float], is_ecal: bool
) -> np.ndarray:
    """sigma(E) of a cell: the card's formula for the ECAL (with its eta shape) or the HCAL."""
    c, s, n = res
    sigma = np.sqrt((c * energy) ** 2 + s * s * energy + n * n)
    if not is_ecal:
        return sigma
    ac = np.abs(eta)
    forward = np.sqrt((ECAL_FORWARD_RES[0] * energy) ** 2 + ECAL_FORWARD_RES[1] ** 2 * energy)
    return np.where(ac <= ECAL_ENDCAP_ETA_MAX, sigma * _ecal_eta_factor(ac), forward)


def _cells(
    e: np.ndarray, eta: np.ndarray, phi: np.ndarray, deta: float, nphi: int, eta_max: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum energies per (eta, phi) cell; return cell energy, centre eta, centre phi (sorted by cell)."""
    n_eta = int(math.ceil(2.0 * eta_max / deta))
    ieta = np.clip(np.floor((eta + eta_max) / deta).astype(np.int64), 0, n_eta - 1)
    dphi = 2.0 * math.pi / nphi
    iphi = np.floor((phi + math.pi) / dphi).astype(np.int64) % nphi
    key = ieta * nphi + iphi
    uniq, inv = np.unique(key, return_inverse=True)
    energy = np.bincount(inv, weights=e, minlength=uniq.size)
    c_eta = -eta_max + ((uniq // nphi) + 0.5) * deta
    c_phi = -math.pi + ((uniq % nphi) + 0.5) * dphi
    return energy, c_eta, c_phi


def _massless(e: np.ndarray, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    pt = e / np.cosh(eta)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), e], axis=1)


def simulate(particles: np.ndarray, model: DetectorModel, rng: np.random.Generator) -> np.ndarray:
    """Detector-level candidates from visible final-state particles.

    ``particles``: (n, 6) float64 rows (px, py, pz, E, charge, PDG id). Returns the
    same layout: reconstructed tracks first (in input order), then ECAL cells, then
    HCAL cells (each in cell order).
    """
    p = np.asarray(particles, dtype=np.float64).reshape(-1, N_COLUMNS)
    if p.shape[0] == 0:
        return p.copy()
    pt, eta, phi = _eta_phi(p)
    aeta = np.abs(eta)
    if not model.smearing:
        return p[(pt > model.particle_pt_min) & (aeta < model.calo_eta_max)].copy()
    charged = p[:, 4] != 0.0
    # --- tracker
    in_tracker = charged & (aeta < model.track_eta_max) & (pt > model.track_pt_min)
    barrel = aeta <= 1.5
    eff = np.where(
        pt > 1.0,
        np.where(barrel, model.track_eff_high[0], model.track_eff_high[1]),
        np.where(barrel, model.track_eff_low[0], model.track_eff_low[1]),
    )
    u = rng.random(p.shape[0])
    tracked = in_tracker & (u < eff)
    t = p[tracked].copy()
    if t.shape[0]:
        a_eta = aeta[tracked]
        bins = np.digitize(a_eta, (0.5, 1.5))
        ab = np.asarray(model.track_res, dtype=np.float64)[bins]
        tpt = pt[tracked]
        rel = np.sqrt(ab[:, 0] ** 2 + (ab[:, 1] * tpt) ** 2)
        scale = np.maximum(1.0 + rel * rng.standard_normal(t.shape[0]), 0.0)
        t[:, :3] *= scale[:, None]
        mass2 = np.maximum(p[tracked, 3] ** 2 - (p[tracked, :3] ** 2).sum(axis=1), 0.0)
        t[:, 3] = np.sqrt((t[:, :3] ** 2).sum(axis=1) + mass2)
        keep = scale > 0.0
        t = t[keep]
    # --- calorimeters
    # muons pass the calorimeters as minimum-ionising particles (the card's energy fraction 0)
    calo = ~tracked & (aeta < model.calo_eta_max) & (np.abs(p[:, 5]) != PDG_MUON)
    em = calo & np.isin(np.abs(p[:, 5]).astype(np.int64), _EM_IDS)
    had = calo & ~em
    out = [t]
    for mask, deta, nphi, res, e_min, sig_min, pdg, is_ecal in (
        (em, model.ecal_deta, model.ecal_nphi, model.ecal_res, model.ecal_e_min, model.ecal_significance_min,
         PDG_PHOTON, True),
        (had, model.hcal_deta, model.hcal_nphi, model.hcal_res, model.hcal_e_min, model.hcal_significance_min,
         PDG_NEUTRAL_HADRON, False),
    ):
        if not mask.any():
            continue
        energy, c_eta, c_phi = _cells(p[mask, 3], eta[mask], phi[mask], deta, nphi, model.calo_eta_max)
        smeared = _log_normal(rng, energy, _resolution(energy, c_eta, res, is_ecal))
        # Delphes evaluates the significance with the resolution at the smeared energy
        ok = (smeared > e_min) & (smeared > sig_min * _resolution(smeared, c_eta, res, is_ecal))
        if not ok.any():
            continue
        cand = _massless(smeared[ok], c_eta[ok], c_phi[ok])
        cols = np.zeros((cand.shape[0], N_COLUMNS))
        cols[:, :4] = cand
        cols[:, 5] = pdg
        out.append(cols)
    return np.concatenate(out, axis=0) if len(out) > 1 else out[0]
