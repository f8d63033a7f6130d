"""The pileup study's pieces (physics.mitigation) on hand-made samples, and the stage on the embedded one."""

from __future__ import annotations

import numpy as np
import pytest

from spikejet.data.pileup import PileupSample
from spikejet.errors import DataError
from spikejet.physics import mitigation as M


def _sample(rng, n_jets=40, n_pv=20, n_pu_int=30, per_int=3, sigma_t=35.0):
    """Jets of PV particles at (z, t) = (0.3 mm, 10 ps) plus pileup interactions spread in z and t."""
    cons = {k: [] for k in ("pt", "eta_rel", "phi_rel", "e", "charge", "pid", "origin", "z0_mm", "t_ps")}
    offsets = [0]
    for _ in range(n_jets):
        origins = np.r_[np.zeros(n_pv, int), np.repeat(np.arange(1, n_pu_int + 1), per_int)]
        vz = np.r_[0.3, rng.normal(0, 50, n_pu_int)][origins]
        vt = np.r_[10.0, rng.normal(0, 180, n_pu_int)][origins]
        n = origins.size
        pt = np.where(origins == 0, rng.uniform(5, 100, n), rng.uniform(0.3, 3, n))
        charged = rng.random(n) < 0.65
        tracked = charged & (pt >= 0.5)
        timed = tracked & (pt >= 0.7)
        cons["pt"].append(pt)
        cons["eta_rel"].append(rng.normal(0, 0.3, n))
        cons["phi_rel"].append(rng.normal(0, 0.3, n))
        cons["e"].append(pt * 1.5)
        cons["charge"].append(np.where(charged, 1, 0))
        cons["pid"].append(np.where(charged, 211, 22))
        cons["origin"].append(origins)
        cons["z0_mm"].append(np.where(tracked, vz + rng.normal(0, 0.05, n), np.nan))
        cons["t_ps"].append(np.where(timed, vt + rng.normal(0, sigma_t, n), np.nan))
        offsets.append(offsets[-1] + n)
    cons = {k: np.concatenate(v).astype(np.float32 if k not in ("charge", "pid", "origin") else np.int32)
            for k, v in cons.items()}
    jets = {"jet_pt": np.full(n_jets, 1000.0), "jet_eta": np.zeros(n_jets), "jet_phi": np.zeros(n_jets),
            "jet_mass": np.full(n_jets, 80.0), "hard_pt": np.full(n_jets, 1000.0), "hard_mass": np.full(n_jets, 80.0),
            "pv_z_mm": np.full(n_jets, 0.3), "pv_t_ps": np.full(n_jets, 10.0), "n_pileup": np.full(n_jets, n_pu_int)}
    y = np.arange(n_jets) % 5
    return PileupSample("mem", ("g", "q", "w", "z", "t"), y, np.asarray(offsets), jets, cons,
                        {"mu": float(n_pu_int), "timing_resolution_ps": sigma_t})


@pytest.fixture(scope="module")
def sample():
    return _sample(np.random.default_rng(3))


def test_reference_vertex_finds_the_hard_vertex(sample) -> None:
    z, t = M.reference_vertex(sample)
    assert np.all(np.abs(z - 0.3) < 0.2)  # the hardest tracks are the PV's
    assert np.all(np.abs(t - 10.0) < 60.0)


def test_track_inputs_are_every_track_relative_to_the_reference(sample) -> None:
    z, t = M.reference_vertex(sample)
    tr = M.track_inputs(sample, z, t, M.track_resolution(sample))
    assert len(tr) == int(np.isfinite(sample.z0_mm).sum())
    assert np.array_equal(tr.is_pv, sample.origin[tr.index] == 0)
    assert np.allclose(tr.dz_mm, sample.z0_mm[tr.index] - z[tr.jet])
    # a track without a time has NaN dt, never a made-up one
    assert np.array_equal(np.isnan(tr.dt_ps), np.isnan(sample.t_ps[tr.index]))
    assert np.all(tr.sigma_z_mm > 0)


def test_cut_scores_are_the_window_cut(sample) -> None:
    z, t = M.reference_vertex(sample)
    tr = M.track_inputs(sample, z, t, M.track_resolution(sample))
    s = M.cut_scores(tr, 35.0, 2.0)
    c = 3.0
    inside = (np.abs(tr.dz_mm) < c * tr.sigma_z_mm) & (~np.isfinite(tr.dt_ps) | (np.abs(tr.dt_ps) < c * 2.0 * 35.0))
    assert np.array_equal(s > -c, inside)
    assert np.array_equal(M.cut_scores(tr, 35.0, None) > -c, np.abs(tr.dz_mm) < c * tr.sigma_z_mm)
    ratio, cut = M.best_cut(tr, 35.0, 0.9)
    assert ratio == pytest.approx(cut.k / cut.m) and cut.pv_efficiency >= 0.9 and cut.rejection > 1.0


def test_thinning_drops_whole_interactions_with_the_right_rate(sample) -> None:
    rng = np.random.default_rng(0)
    keep = M.thinned_mask(sample, 0.25, rng)
    assert keep[sample.origin == 0].all()
    jet = sample.jet_index
    fractions = []
    for i in range(len(sample)):
        o, k = sample.origin[jet == i], keep[jet == i]
        for v in np.unique(o[o != 0]):
            assert k[o == v].all() or not k[o == v].any()  # all or nothing per interaction
            fractions.append(k[o == v][0])
    assert abs(np.mean(fractions) - 0.25) < 0.05
    with pytest.raises(DataError):
        M.thinned_mask(sample, 1.5, rng)


def test_cleaned_features_equal_the_features_of_the_kept_particles(sample) -> None:
    from spikejet.physics.features import jet_features

    keep = sample.origin == 0
    X = M.cleaned_features(sample, keep)
    p4 = M.four_momenta(sample)
    off = sample.offsets
    for i in (0, 7):
        rows = np.arange(off[i], off[i + 1])
        assert np.allclose(X[i], jet_features(p4[rows][keep[rows]]))
    assert X[:, -1].tolist() == [20.0] * len(sample)  # multiplicity: the PV particles
    with pytest.raises(DataError, match="no constituent left"):
        M.cleaned_features(sample, np.zeros_like(keep))


def test_subset_keeps_jets_and_their_constituents(sample) -> None:
    sub = M.subset(sample, np.array([3, 1]))
    assert len(sub) == 2 and sub.y.tolist() == [3, 1]
    assert np.array_equal(sub.pt, np.r_[sample.constituents_of(3)["pt"], sample.constituents_of(1)["pt"]])


def test_mass_resolution() -> None:
    out = M.mass_resolution(np.array([81.0, 79.0, 90.0, 10.0]), np.array([80.0, 80.0, 80.0, 10.0]),
                            np.array([2, 2, 2, 0]), 5)
    assert out["0"]["width_gev"] == 0.0 and out["2"]["n"] == 3 and out["2"]["shift_gev"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- the stage (quick, embedded sample)


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    from spikejet.cli import main
    from spikejet.data.pileup import pileup_sample_path

    if not pileup_sample_path().is_file():
        pytest.skip("the embedded pileup sample is not installed")
    outs = []
    for i in range(2):
        out = tmp_path_factory.mktemp(f"pu{i}") / "run"
        assert main(["run", "--quick", "--only", "pileup", "--quiet", "--out", str(out)]) == 0
        outs.append(out)
    return outs


def test_stage_writes_the_keys_the_checks_read(quick_runs) -> None:
    import json

    m = json.loads((quick_runs[0] / "metrics.json").read_text())["pileup"]
    assert set(m["pu_rejection_at_95_pv"]) == {"snn", "timing_cut", "no_timing", "mlp"}
    assert all(v is None or v > 1.0 for v in m["pu_rejection_at_95_pv"].values())
    assert set(m["accuracy_vs_mu"]) == {"raw", "snn", "timing_cut", "truth"}
    for curve in m["accuracy_vs_mu"].values():
        assert set(curve) == {"0", "140", "200"} and all(0.0 <= a <= 1.0 for a in curve.values())
    assert m["accuracy_vs_mu"]["truth"]["0"] == m["accuracy_vs_mu"]["raw"]["0"]  # MU = 0: nothing to clean
    assert m["timesteps"] == 12 and m["snn"]["chip_steps_per_particle"] <= 16
    # the chip model and the NIR file give the float network's rejection
    assert m["snn"]["loihi_rejection"] == pytest.approx(m["pu_rejection_at_95_pv"]["snn"], rel=1e-9)
    assert m["snn"]["nir_rejection"] == pytest.approx(m["pu_rejection_at_95_pv"]["snn"], rel=1e-9)
    assert (quick_runs[0] / "pileup_snn.nir").is_file()
    wp = m["test_working_point"]["pv_efficiency"]
    assert all(0.85 < v <= 1.0 for v in wp.values())  # thresholds from the training tracks hold on the test ones
    assert "Pileup and timing" in (quick_runs[0] / "report.html").read_text()


def test_stage_is_reproducible(quick_runs) -> None:
    a, b = ((o / "metrics.json").read_bytes() for o in quick_runs)
    assert a == b


def test_missing_sample_and_bad_values_are_one_line(tmp_path, capsys) -> None:
    from spikejet.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"pileup:\n  data: {tmp_path / 'nope.h5'}\n")
    assert main(["run", "--quick", "--only", "pileup", "--quiet", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
    cfg.write_text("pileup:\n  mus: [0, 300]\n")
    assert main(["run", "--quick", "--only", "pileup", "--quiet", "--config", str(cfg), "--out", str(tmp_path / "s")]) == 2
    assert "above the sample's pileup" in capsys.readouterr().err
