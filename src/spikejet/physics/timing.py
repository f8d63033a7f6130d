"""Tracks, their z0 and their time at a CMS-like MIP timing layer (docs/pileup.md).

Every number is a field of :class:`TimingModel`, with its source:

* Luminous region of HL-LHC (CMS MTD TDR, CERN-LHCC-2019-003, sect. 1): the
  collisions of one crossing spread along the beam with an rms of about 4.5-5 cm and
  in time with an rms of 180-200 ps; for Gaussian bunches of rms length
  sigma_b = 7.55 cm (HL-LHC TDR, CERN-2017-007-M, table 1-1) colliding head on,
  sigma_z = sigma_b / sqrt(2) = 53 mm and sigma_t = sigma_b / (sqrt(2) c) = 178 ps;
  we take 50 mm and 180 ps. Bunches are 25 ns apart.
* Tracker (CMS Phase-2 tracker TDR, CERN-LHCC-2017-009): acceptance |eta| < 4.0;
  z0 resolution sigma(z0) = a cosh(eta) (+) b cosh(eta)^(3/2) / pT (the standard
  hit-precision (+) multiple-scattering form for z0), with a = 20 um and
  b = 100 um GeV, our reading of the TDR's z0-resolution-vs-eta figure for
  muons of pT = 1, 10, 100 GeV (about 0.1 mm at pT = 1 GeV, |eta| = 0; 1.5 mm at
  pT = 1 GeV, |eta| = 2.5; 30 um at 100 GeV, |eta| = 0). Tracks with pT < 0.5 GeV
  are not reconstructed (a round figure of the Phase-2 tracking threshold).
  Efficiency 100 % (not modelled).
* Timing layer (CMS MTD TDR): barrel BTL, a cylinder at r = 1.148 m (inner
  surface of the tracker support tube) covering |eta| < 1.48 (|z| < 2.6 m); endcap
  ETL, two disks at |z| = 3.0 m covering 1.6 < |eta| < 3.0 (radii 0.315-1.2 m).
  30-40 ps per track at the start of HL-LHC, 30-60 ps over its life: default
  35 ps, the same in both regions. ATLAS HGTD (CERN-LHCC-2020-007) would cover
  2.4 < |eta| < 4.0 with 30-50 ps.
* Solenoid 3.8 T: helix radius R = pT / (0.3 B) (m, GeV, T); a track reaches the
  barrel layer only if 2R > r (pT > 0.66 GeV; the TDR quotes 0.7 GeV).

A time measurement: the particle's helix path length L from its vertex to the
layer, beta = p / E from its true momentum and mass, t_hit = t_vertex + L / (beta c),
smeared by the resolution; the reconstruction then corrects back to the vertex
assuming the pion mass (L known from the track): t = t_hit - L / (beta_pi c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["TimingModel", "DEFAULT_TIMING", "TIMING_RESOLUTION_PS", "C_MM_PER_PS", "measure_tracks"]

#: Speed of light in mm per ps.
C_MM_PER_PS = 0.299792458
#: Charged pion mass (GeV, PDG 2024): the mass a reconstruction assumes for a track.
M_PION_GEV = 0.13957039
#: Curvature constant: R[m] = pT[GeV] / (0.299792458 * B[T]).
CURVATURE_GEV_PER_T_M = 0.299792458
#: Default per-track time resolution (ps), CMS MTD TDR: 30-40 ps at the start of HL-LHC.
TIMING_RESOLUTION_PS = 35.0
#: Bunch spacing of the LHC (ns): out-of-time crossings at -25 and +25 ns.
BUNCH_SPACING_PS = 25_000.0


@dataclass(frozen=True)
class TimingModel:
    """Luminous region, tracker and timing layer (units: mm, ps, GeV, T); module docstring."""

    #: luminous region rms along the beam (mm) and in time (ps)
    sigma_z_mm: float = 50.0
    sigma_t_ps: float = 180.0
    #: tracker acceptance and pT threshold
    track_eta_max: float = 4.0
    track_pt_min: float = 0.5
    #: z0 resolution sigma = a cosh(eta) (+) b cosh(eta)^1.5 / pT
    z0_res_a_mm: float = 0.020
    z0_res_b_mm_gev: float = 0.100
    #: solenoid field (T)
    field_t: float = 3.8
    #: barrel timing layer: radius, half length (mm), |eta| acceptance
    btl_radius_mm: float = 1148.0
    btl_half_length_mm: float = 2600.0
    btl_eta_max: float = 1.48
    #: endcap timing layer: disk |z|, inner and outer radius (mm), |eta| acceptance
    etl_z_mm: float = 3000.0
    etl_r_min_mm: float = 315.0
    etl_r_max_mm: float = 1200.0
    etl_eta_min: float = 1.6
    etl_eta_max: float = 3.0

    def __post_init__(self) -> None:
        for name, v in self.__dict__.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"timing model: {name} must be a positive number, got {v!r}")
        if not self.etl_eta_min < self.etl_eta_max or not self.etl_r_min_mm < self.etl_r_max_mm:
            raise ConfigError("timing model: the endcap layer's eta and radius ranges must not be empty")


DEFAULT_TIMING = TimingModel()


def sigma_z0_mm(pt: np.ndarray, eta: np.ndarray, m: TimingModel) -> np.ndarray:
    ch = np.cosh(eta)
    return np.hypot(m.z0_res_a_mm * ch, m.z0_res_b_mm_gev * ch**1.5 / pt)


def _path_to_layer(p: np.ndarray, z_v: np.ndarray, m: TimingModel) -> np.ndarray:
    """Helix path length (mm) from the vertex to the timing layer; NaN when it is not reached.

    ``p``: (n, 4) px, py, pz, E of charged particles in the tracker acceptance.
    """
    pt = np.hypot(p[:, 0], p[:, 1])
    ptot = np.sqrt(pt * pt + p[:, 2] ** 2)
    eta = np.arcsinh(p[:, 2] / pt)
    radius = 1000.0 * pt / (CURVATURE_GEV_PER_T_M * m.field_t)  # helix radius, mm
    cot = p[:, 2] / pt  # dz / ds_transverse
    path = np.full(pt.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        # barrel: transverse arc to radius r is R * 2 asin(r / 2R)
        barrel = (np.abs(eta) < m.btl_eta_max) & (2.0 * radius > m.btl_radius_mm)
        s_t = radius * 2.0 * np.arcsin(np.minimum(m.btl_radius_mm / (2.0 * radius), 1.0))
        z_hit = z_v + s_t * cot
        barrel &= np.abs(z_hit) < m.btl_half_length_mm
        path = np.where(barrel, s_t * ptot / pt, path)
        # endcap: transverse arc until |z| = etl_z; radial distance there 2R |sin(s_t / 2R)|
        aeta = np.abs(eta)
        s_t = (np.sign(p[:, 2]) * m.etl_z_mm - z_v) / cot
        turn = s_t / radius
        rho = 2.0 * radius * np.abs(np.sin(0.5 * turn))
        endcap = (aeta > m.etl_eta_min) & (aeta < m.etl_eta_max) & (turn < math.pi)
        endcap &= (rho > m.etl_r_min_mm) & (rho < m.etl_r_max_mm)
        path = np.where(endcap, s_t * ptot / pt, path)
    return path


def measure_tracks(p: np.ndarray, z_v: np.ndarray, t_v: np.ndarray, resolution_ps: float,
                   m: TimingModel, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Measured track z0 (mm) and vertex time (ps) of particles ``p`` (n, 6: px, py, pz, E,
    charge, PDG id) produced at vertices (``z_v`` mm, ``t_v`` ps); NaN where none.

    Draws exactly 2 n normal numbers from ``rng`` (so the stream does not depend on
    which particles are tracks)."""
    n = p.shape[0]
    noise = rng.standard_normal((2, n))
    pt = np.hypot(p[:, 0], p[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(p[:, 2] / pt)
    track = (p[:, 4] != 0) & (pt >= m.track_pt_min) & (np.abs(eta) < m.track_eta_max)
    z0 = np.full(n, np.nan)
    t = np.full(n, np.nan)
    if not track.any():
        return z0, t
    q = p[track]
    z0[track] = z_v[track] + noise[0, track] * sigma_z0_mm(pt[track], eta[track], m)
    path = _path_to_layer(q, z_v[track], m)
    ptot = np.sqrt(np.sum(q[:, :3] ** 2, axis=1))
    beta = ptot / q[:, 3]
    beta_pi = ptot / np.sqrt(ptot * ptot + M_PION_GEV**2)
    t_hit = t_v[track] + path / (beta * C_MM_PER_PS) + noise[1, track] * resolution_ps
    t[track] = t_hit - path / (beta_pi * C_MM_PER_PS)
    return z0, t
