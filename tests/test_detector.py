"""The simplified detector (physics/detector.py): presets, tracks, cells, smearing, randomness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikejet.errors import ConfigError
from spikejet.physics import detector as det

CMS = det.DETECTORS["cms"]


def _particle(pt: float, eta: float, phi: float, charge: float, pid: int, mass: float = 0.0) -> list[float]:
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    e = math.sqrt(px * px + py * py + pz * pz + mass * mass)
    return [px, py, pz, e, charge, pid]


@pytest.fixture
def rng():
    return np.random.default_rng(12)


def test_presets_and_unknown_name():
    assert det.detector_model("none") is None
    assert det.detector_model("cms") is CMS
    assert det.DETECTOR_NAMES == ("none", "cms", "threshold")
    with pytest.raises(ConfigError, match="unknown detector"):
        det.detector_model("atlas")
    with pytest.raises(ConfigError, match="track_pt_min"):
        det.DetectorModel(name="bad", track_pt_min=-1.0)


def test_photon_becomes_one_smeared_ecal_cell(rng):
    p = np.array([_particle(100.0, 0.1, 0.3, 0.0, 22)])
    out = det.simulate(p, CMS, rng)
    assert out.shape == (1, 6)
    px, py, pz, e, q, pid = out[0]
    assert pid == det.PDG_PHOTON and q == 0.0
    assert abs(e * e - px * px - py * py - pz * pz) < 1e-6 * e * e  # massless
    eta = math.asinh(pz / math.hypot(px, py))
    assert abs(eta - 0.1) <= CMS.ecal_deta / 2 + 1e-9
    assert abs(math.atan2(py, px) - 0.3) <= math.pi / CMS.ecal_nphi + 1e-9
    # ECAL resolution at 100 GeV, eta 0.1: about 1.4 %; 6 sigma
    assert abs(e / p[0, 3] - 1.0) < 0.09


def test_neutral_hadrons_in_one_tower_merge(rng):
    p = np.array([_particle(50.0, 0.50, 1.00, 0.0, 2112, 0.94), _particle(30.0, 0.51, 1.01, 0.0, 130, 0.5)])
    out = det.simulate(p, CMS, rng)
    assert out.shape == (1, 6) and out[0, 5] == det.PDG_NEUTRAL_HADRON


def test_calorimeter_response_is_unbiased(rng):
    p = np.array([_particle(20.0, 0.3 + 0.5 * i / 400, 0.1 * i, 0.0, 22) for i in range(400)])
    out = det.simulate(p, CMS, rng)
    assert out.shape[0] == 400
    ratio = out[:, 3].sum() / p[:, 3].sum()
    assert ratio == pytest.approx(1.0, abs=0.01)


def test_tracks_keep_charge_pid_and_efficiency(rng):
    n = 2000
    p = np.array([_particle(10.0, 0.2, 2 * math.pi * i / n - math.pi + 1e-3, 1.0, 211, 0.1396) for i in range(n)])
    out = det.simulate(p, CMS, rng)
    tracks = out[out[:, 4] != 0]
    assert set(tracks[:, 5]) == {211.0}
    eff = len(tracks) / n
    assert eff == pytest.approx(CMS.track_eff_high[0], abs=0.02)
    # untracked pions end in the HCAL (10 GeV > 1 GeV threshold)
    assert np.all(out[out[:, 4] == 0, 5] == det.PDG_NEUTRAL_HADRON)


def test_below_threshold_or_outside_acceptance(rng):
    soft = np.array([_particle(0.05, 0.0, 0.0, -1.0, -211, 0.1396)])  # below tracking and HCAL threshold
    far = np.array([_particle(5.0, 3.5, 0.0, 0.0, 22)])  # beyond the calorimeters
    assert det.simulate(soft, CMS, rng).shape == (0, 6)
    assert det.simulate(far, CMS, rng).shape == (0, 6)
    assert det.simulate(np.zeros((0, 6)), CMS, rng).shape == (0, 6)
    strict = det.DetectorModel(name="strict", track_pt_min=20.0)
    out = det.simulate(np.array([_particle(10.0, 0.0, 0.0, 1.0, 211, 0.1396)]), strict, rng)
    assert out.shape == (1, 6) and out[0, 4] == 0.0  # not tracked: an HCAL tower


def test_same_generator_state_same_output():
    p = np.array([_particle(5.0 + i, 0.01 * i, 0.05 * i, (-1.0) ** i * (i % 3 == 0), 211 if i % 3 == 0 else 22)
                  for i in range(50)])
    a = det.simulate(p, CMS, np.random.default_rng(5))
    b = det.simulate(p, CMS, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_threshold_preset_keeps_hard_particles_unchanged(rng):
    p = np.array([_particle(0.9, 0.0, 0.0, 1.0, 211, 0.1396), _particle(1.2, 0.5, 1.0, 0.0, 22),
                  _particle(30.0, -1.0, 2.0, 0.0, 2112, 0.94), _particle(5.0, 3.2, 0.0, -1.0, -211, 0.1396)])
    out = det.simulate(p, det.DETECTORS["threshold"], rng)
    np.testing.assert_array_equal(out, p[1:3])
