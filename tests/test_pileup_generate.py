"""spikejet generate --pileup: overlay, labels, track z0 and time, reproducibility, the reader.

Pythia runs are tiny: a handful of events at small MU with a pool of a few dozen
minimum-bias events; the 16 features are replaced by the cheap stand-in of
test_generate.py where only the engineering is tested.
"""

from __future__ import annotations

import hashlib
import math

import h5py
import numpy as np
import pytest

from spikejet.cli import main
from spikejet.data import read
from spikejet.data.pileup import CONSTITUENT_FIELDS, JET_FIELDS, read_pileup
from spikejet.errors import ConfigError, DataError
from spikejet.physics import events
from spikejet.physics import generate as gen
from spikejet.physics.config import GenerateConfig
from spikejet.physics.pileup import PileupPool, draw_overlay, pool_needed
from spikejet.physics.timing import C_MM_PER_PS, DEFAULT_TIMING, measure_tracks
from test_generate import _stub_features

SEEDS = (12345, 678)
#: Small pileup runs: MU = 4 from a pool of 20 minimum-bias events.
SMALL = dict(classes=("q",), pileup=4.0, pileup_pool=20)
#: The pileup-0 chunk of q jets (seeds SEEDS, 3 jets, 8 constituents, stub features) made by
#: the code on main before pileup existed (commit c6d182a), and its physics settings.
MAIN_CHUNK_SHA256 = "03f7fe49cd7416b9bb315745f00fc93c85b32a499b2c583d17c40d5edaaaa9a8"
MAIN_PHYSICS_KEYS = {"chunk_size", "constituents", "detector", "eta_max", "generator_version", "jet_radius",
                     "labelling", "match_delta_r", "max_jets_per_event", "production", "pt_max", "pt_min",
                     "seed", "sqrt_s_gev"}


def _chunk_sha(d) -> str:
    h = hashlib.sha256()
    for a in (d.X, d.pt, d.eta, d.mass, d.phi, d.matched, d.rank, d.particles, d.n_particles):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.fixture
def stub_features(monkeypatch):
    monkeypatch.setattr(events, "compute_features", _stub_features)


@pytest.fixture(scope="module")
def small_chunk():
    """A 3-jet q chunk at MU = 4 and the pileup-0 chunk of the same seeds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(events, "compute_features", _stub_features)
        pu = events.generate_chunk(GenerateConfig(jets_per_class=3, **SMALL), "q", 3, SEEDS)
        plain = events.generate_chunk(GenerateConfig(jets_per_class=3, classes=("q",)), "q", 3, SEEDS)
    return pu, plain


# ---------------------------------------------------------------- pileup 0 unchanged
def test_pileup_zero_is_the_generation_of_main(stub_features):
    cfg = GenerateConfig(jets_per_class=3, classes=("q",), chunk_size=3, constituents=8)
    assert set(cfg.physics_dict()) == MAIN_PHYSICS_KEYS
    assert _chunk_sha(events.generate_chunk(cfg, "q", 3, SEEDS)) == MAIN_CHUNK_SHA256
    assert GenerateConfig(jets_per_class=3, pileup=200).settings_hash() != cfg.settings_hash()


def test_every_pileup_setting_enters_the_hash():
    base = GenerateConfig(jets_per_class=1, pileup=10)
    others = [dict(pileup=11), dict(out_of_time=True), dict(pileup_pool=3000), dict(timing_resolution_ps=50.0),
              dict(feature_pt_min=0.0)]
    hashes = {GenerateConfig(jets_per_class=1, **dict(dict(pileup=10), **o)).settings_hash() for o in others}
    assert len(hashes) == len(others) and base.settings_hash() not in hashes


# ---------------------------------------------------------------- the physics of a small chunk
def test_same_hard_jets_at_every_mu(small_chunk):
    pu, plain = small_chunk
    rec = pu.pileup
    np.testing.assert_array_equal(rec["hard_pt"], plain.pt)
    assert pu.stats["events"] == plain.stats["events"] and "pileup_unmatched" not in pu.stats
    assert (pu.pt > rec["hard_pt"]).all()  # pileup only adds particles (massless-ish: pT adds up)
    np.testing.assert_array_equal(pu.pt, rec["jet_pt"])
    # features from the full jet's constituents above feature_pt_min (stub feature 0: their number)
    above = np.bincount(np.repeat(np.arange(3), rec["n_constituents"]), weights=rec["pt"] > 1.0)
    assert (pu.X[:, 0] == above).all() and (above < rec["n_constituents"]).all()


def test_origin_labels(small_chunk):
    rec = small_chunk[0].pileup
    off = np.concatenate([[0], np.cumsum(rec["n_constituents"])])
    for i in range(len(off) - 1):
        o = rec["origin"][off[i]:off[i + 1]]
        assert (o == 0).sum() > 5 and (o > 0).any()
        assert o.min() >= 0 and o.max() <= rec["n_pileup"][i]  # in time only: 0..n_pileup


def test_nan_patterns(small_chunk):
    rec = small_chunk[0].pileup
    charged = rec["charge"] != 0
    z0, t = rec["z0_mm"], rec["t_ps"]
    assert np.isnan(z0[~charged]).all() and np.isnan(t[~charged]).all()  # neutrals: no track
    soft = charged & (rec["pt"] < DEFAULT_TIMING.track_pt_min)
    assert soft.any() and np.isnan(z0[soft]).all() and np.isnan(t[soft]).all()
    eta = rec["eta_rel"] + np.repeat(rec["jet_eta"], rec["n_constituents"])
    # barrel: tracked, but below the pT that reaches r = 1.148 m in 3.8 T (0.65 GeV): no time
    loopers = charged & (rec["pt"] > 0.52) & (rec["pt"] < 0.63) & (np.abs(eta) < 1.4)
    assert np.isfinite(z0[loopers]).all() and np.isnan(t[loopers]).all()
    timed = charged & (rec["pt"] > 1.0) & ((np.abs(eta) < 1.4) | ((np.abs(eta) > 1.7) & (np.abs(eta) < 2.9)))
    assert timed.any() and np.isfinite(t[timed]).all() and np.isfinite(z0[timed]).all()


def test_hard_tracks_point_at_the_hard_vertex(small_chunk):
    rec = small_chunk[0].pileup
    jet = np.repeat(np.arange(len(rec["jet_pt"])), rec["n_constituents"])
    pions = (rec["origin"] == 0) & (np.abs(rec["pid"]) == 211) & np.isfinite(rec["t_ps"])
    dz = rec["z0_mm"][pions] - rec["pv_z_mm"][jet[pions]]
    dt = rec["t_ps"][pions] - rec["pv_t_ps"][jet[pions]]
    assert pions.sum() > 10
    assert np.abs(dz).max() < 2.0 and np.abs(dt).max() < 6 * 35.0  # resolution-sized residuals
    assert dt.std() > 10.0  # ... and the resolution is applied


# ---------------------------------------------------------------- track measurements
def _tracks(n, pid_mass, pt, eta=0.5):
    phi = np.zeros(n)
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + pid_mass**2)
    return np.column_stack([pt * np.cos(phi), pt * np.sin(phi), np.full(n, pt * np.sinh(eta)), np.full(n, e),
                            np.ones(n), np.full(n, 211.0)])


def test_time_resolution_and_the_pion_mass_hypothesis():
    rng = np.random.default_rng(1)
    n = 4000
    zv, tv = np.full(n, 10.0), np.full(n, 100.0)
    z0, t = measure_tracks(_tracks(n, 0.13957039, 5.0), zv, tv, 35.0, DEFAULT_TIMING, rng)
    assert abs(np.mean(t) - 100.0) < 3.0 and abs(np.std(t) - 35.0) < 2.5
    assert abs(np.mean(z0) - 10.0) < 0.01
    # a slow proton measured as a pion arrives later than a pion would: t comes out late
    _, tp = measure_tracks(_tracks(n, 0.938272, 1.0), zv, tv, 35.0, DEFAULT_TIMING, rng)
    path = DEFAULT_TIMING.btl_radius_mm * np.cosh(0.5)  # ~straight at 1 GeV: a lower bound
    late = path / C_MM_PER_PS * (math.sqrt(1 + (0.938272 / np.cosh(0.5)) ** 2) - 1.0)
    assert np.mean(tp) - 100.0 > 0.9 * late > 100.0


# ---------------------------------------------------------------- the overlay
def _toy_pool(n_events):
    """Event i holds i + 1 particles (so the sizes tell which pool event was drawn)."""
    rng = np.random.default_rng(0)
    sizes = np.arange(1, n_events + 1)
    rows = np.column_stack([rng.normal(size=(sizes.sum(), 3)), np.full(sizes.sum(), 100.0),
                            np.ones(sizes.sum()), np.full(sizes.sum(), 211.0)])
    off = np.concatenate([[0], np.cumsum(sizes)])
    rap = 0.5 * np.log((rows[:, 3] + rows[:, 2]) / (rows[:, 3] - rows[:, 2]))
    return PileupPool(rows, off, rap, np.arctan2(rows[:, 1], rows[:, 0]))


def test_overlay_vertices_and_no_repeats_within_an_event():
    pool = _toy_pool(400)
    rng = np.random.default_rng(5)
    zs, ts = [], []
    for _ in range(10):
        rows, n_in = draw_overlay(pool, rng, 30.0, True, DEFAULT_TIMING, None, 1.2)
        origins, counts = np.unique(rows[:, 6], return_counts=True)
        assert len(set(counts.tolist())) == len(counts)  # distinct pool events
        assert n_in == (origins > 0).sum() and (origins < 0).any()
        first = np.unique(rows[:, 6], return_index=True)[1]
        oot = rows[first, 6] < 0
        assert np.all(np.abs(np.abs(rows[first][oot, 8]) - 25_000.0) < 1500.0)  # +-25 ns crossings
        zs.append(rows[first][~oot, 7])
        ts.append(rows[first][~oot, 8])
    assert abs(np.std(np.concatenate(zs)) - 50.0) < 7.0 and abs(np.std(np.concatenate(ts)) - 180.0) < 25.0


def test_pool_size_rule():
    assert pool_needed(200, False) < GenerateConfig(jets_per_class=1).pileup_pool
    assert pool_needed(200, True) > 3 * 200


@pytest.fixture(scope="module")
def hard_events():
    """Two hard q events (visible particles and their selected jets) and a minimum-bias pool."""
    cfg = GenerateConfig(jets_per_class=1, classes=("q",), pileup=25.0, pileup_pool=60)
    pool = events.make_pool(60, SEEDS, events.SQRT_S_GEV, events._new_pythia, events.visible_final_state, 100)
    source = events.make_source(cfg, "q", (11, 22))
    floor = events.CLUSTER_PT_FLOOR_FRACTION * cfg.pt_min
    out = []
    while len(out) < 2:
        assert source.next()
        visible = events.visible_final_state(source.event)
        hard = [j for j in events.cluster_jets(visible, floor) if abs(j.eta) < cfg.eta_max][:2]
        if hard:
            out.append((visible, hard))
    return cfg, pool, floor, out


@pytest.mark.parametrize("event", range(2))
def test_speed_cut_gives_the_jets_of_the_full_clustering(hard_events, event):
    cfg, pool, floor, evs = hard_events
    visible, hard = evs[event]
    fast = events.overlay_event(cfg, pool, np.random.default_rng(event), visible, hard, floor, speed_cut=True)
    full = events.overlay_event(cfg, pool, np.random.default_rng(event), visible, hard, floor, speed_cut=False)
    assert len(fast) == len(full) == len(hard)
    for a, b in zip(fast, full, strict=True):
        assert (a.jet.constituents[:, 6] > 0).sum() > 20
        np.testing.assert_array_equal(a.jet.constituents, b.jet.constituents)
        np.testing.assert_array_equal(a.t_ps, b.t_ps)


def test_out_of_time_chunk(stub_features):
    """--out-of-time: interactions of the -25/+25 ns crossings in the jets, labelled negative, their
    tracks' times (when they have one) near +-25 ns."""
    cfg = GenerateConfig(jets_per_class=1, classes=("q",), pileup=8.0, out_of_time=True, pileup_pool=60)
    rec = events.generate_chunk(cfg, "q", 1, SEEDS).pileup
    oot = rec["origin"] < 0
    assert oot.any() and (rec["origin"] > 0).any()
    t = rec["t_ps"][oot & np.isfinite(rec["t_ps"]) & (np.abs(rec["pid"]) == 211)]
    assert t.size and np.all(np.abs(np.abs(t) - 25_000.0) < 1500.0)


def test_tasks_pickle_for_workers_and_dask():
    import pickle

    cfg = GenerateConfig(jets_per_class=2, chunk_size=1, pileup=50.0, out_of_time=True, pileup_pool=400)
    task = gen.plan_chunks(cfg)[0]
    back = pickle.loads(pickle.dumps(task))
    assert back == task and back.cfg.settings_hash() == cfg.settings_hash() and back.filename == task.filename


# ---------------------------------------------------------------- files: reproducible, resumable, readable
@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("pu") / "pu.h5"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(events, "compute_features", _stub_features)
        gen.generate(GenerateConfig(jets_per_class=2, chunk_size=1, **SMALL), out, workers=1, quiet=True,
                     keep_chunks=True)
    return out


def test_same_seeds_same_bytes_and_resume(small_file, tmp_path, stub_features):
    """A rerun that regenerates one of the two chunks and reuses the other writes the same bytes."""
    import shutil

    cfg = GenerateConfig(jets_per_class=2, chunk_size=1, **SMALL)
    out = tmp_path / "again.h5"
    shutil.copytree(gen.chunk_dir_for(small_file), gen.chunk_dir_for(out))
    chunks = sorted(gen.chunk_dir_for(out).glob("*.npz"))
    assert len(chunks) == 2
    chunks[1].unlink()
    res = gen.generate(cfg, out, workers=1, quiet=True)
    assert res.chunks_reused == 1 and out.read_bytes() == small_file.read_bytes()
    assert len(np.unique(read_pileup(out).origin)) > 2


def test_reader(small_file):
    s = read_pileup(small_file)
    assert len(s) == 2 and s.class_names[s.y[0]] == "q" and s.settings["mu"] == 4.0
    assert s.offsets[-1] == len(s.origin) == s.n_constituents.sum()
    c = s.constituents_of(1)
    assert set(c) == set(CONSTITUENT_FIELDS) and len(c["pt"]) == s.n_constituents[1]
    assert (np.diff(c["pt"]) <= 0).all()  # pT-ordered
    p4 = s.four_momenta_of(0)
    # absolute coordinates: the stored relative ones + the jet axis, the same per jet and flat
    lo, hi = int(s.offsets[0]), int(s.offsets[1])
    np.testing.assert_allclose(s.eta[lo:hi], c0 := s.constituents_of(0)["eta_rel"].astype(np.float64) + s.jet_eta[0])
    np.testing.assert_allclose(np.arctan2(p4[:, 1], p4[:, 0]), np.angle(np.exp(1j * s.phi[lo:hi])))
    np.testing.assert_allclose(p4[:, 2], s.pt[lo:hi].astype(np.float64) * np.sinh(c0))
    assert abs(np.hypot(p4[:, 0].sum(), p4[:, 1].sum()) - s.jet_pt[0]) < 1e-2 * s.jet_pt[0]
    table = read(small_file)  # the ordinary reader: a jet table of the full-event jets
    np.testing.assert_allclose(table.extra["pt"], s.jet_pt)


def _copy_without(src, dst, name):
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "a") as f:
        del f[name]


@pytest.mark.parametrize("field", ["pileup", "pileup/t_ps", "pileup/offsets", "pileup/pv_z_mm"])
def test_reader_errors_are_one_line(small_file, tmp_path, field):
    bad = tmp_path / "bad.h5"
    _copy_without(small_file, bad, field)
    with pytest.raises(DataError, match=field.split("/")[-1]) as info:
        read_pileup(bad)
    assert "\n" not in str(info.value)


def test_reader_refuses_wrong_shapes_and_non_files(small_file, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(small_file.read_bytes())
    with h5py.File(bad, "a") as f:
        del f["pileup/origin"]
        f["pileup"].create_dataset("origin", data=np.zeros(3, np.int16))
    with pytest.raises(DataError, match="origin.*shape"):
        read_pileup(bad)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="cannot open as HDF5"):
        read_pileup(tmp_path / "junk.h5")
    with pytest.raises(DataError, match="no such file"):
        read_pileup(tmp_path / "missing.h5")
    assert set(JET_FIELDS) >= {"pv_z_mm", "pv_t_ps", "n_pileup"}


# ---------------------------------------------------------------- bad requests
@pytest.mark.parametrize("extra, words", [
    (["--pileup", "-1"], "--pileup"),
    (["--pileup", "2000"], "--pileup"),
    (["--pileup", "nan"], "--pileup"),
    (["--pileup", "5", "--pileup-pool", "0"], "--pileup-pool"),
    (["--pileup", "200", "--pileup-pool", "100"], "too small"),
    (["--pileup", "200", "--out-of-time", "--pileup-pool", "700"], "too small"),
    (["--pileup", "5", "--timing-resolution", "0"], "--timing-resolution"),
    (["--out-of-time"], "need --pileup"),
    (["--pileup", "5", "--detector", "cms"], "particle level"),
    (["--pileup", "5", "--feature-pt-min", "-1"], "--feature-pt-min"),
])
def test_bad_pileup_requests_exit_2(extra, words, tmp_path, capsys):
    argv = ["generate", "--jets-per-class", "5", "--out", str(tmp_path / "x.h5"), "--quiet", *extra]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikejet: error: ") and words in lines[0], lines
    assert not (tmp_path / "x.h5").exists()


def test_config_rejects_bad_types():
    with pytest.raises(ConfigError):
        GenerateConfig(jets_per_class=1, pileup=True)
    with pytest.raises(ConfigError):
        GenerateConfig(jets_per_class=1, pileup=5, pileup_pool=2.5)


def test_cli_defaults_match_config():
    from spikejet.cli import generate as cli_gen
    from spikejet.physics import config, timing

    assert cli_gen.DEFAULT_PILEUP_POOL == config.DEFAULT_PILEUP_POOL
    assert cli_gen.DEFAULT_TIMING_RESOLUTION_PS == timing.TIMING_RESOLUTION_PS
    assert cli_gen.DEFAULT_FEATURE_PT_MIN == config.DEFAULT_FEATURE_PT_MIN


# ---------------------------------------------------------------- the embedded study sample
def test_embedded_pileup_sample():
    import json

    from spikejet.data.pileup import PILEUP_PROVENANCE_FILE_NAME, pileup_sample_path

    path = pileup_sample_path()
    prov = json.loads(path.with_name(PILEUP_PROVENANCE_FILE_NAME).read_text())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == prov["sha256"]
    assert sum(f.stat().st_size for f in path.parent.iterdir() if f.is_file()) <= 40 * 1024 * 1024
    s = read_pileup(path)
    assert s.settings["mu"] == 200.0 and not s.settings["out_of_time"]
    assert np.bincount(s.y, minlength=5).tolist() == [prov["counts"][c] for c in s.class_names]
    cfg = prov["file_provenance"]["config"]
    assert ((s.hard_pt >= cfg["pt_min"]) & (s.hard_pt < cfg["pt_max"])).all()
    assert (s.jet_pt > s.hard_pt).all() and abs(np.mean(s.n_pileup) - 200.0) < 3.0
    pu = s.origin != 0
    assert 0.8 < pu.mean() < 0.98 and (s.origin >= 0).all()
    assert np.isnan(s.t_ps[s.charge == 0]).all() and np.isfinite(s.t_ps).mean() > 0.05
    # pileup vertices spread as the luminous region (50 mm, 180 ps): their tracks' z0 and t
    jet = s.jet_index
    z = s.z0_mm[pu & np.isfinite(s.z0_mm)]
    t = s.t_ps[pu & np.isfinite(s.t_ps) & (np.abs(s.pid) == 211)]
    assert 40.0 < np.std(z) < 60.0 and 150.0 < np.std(t) < 230.0
    hard = ~pu & np.isfinite(s.t_ps) & (np.abs(s.pid) == 211)
    assert np.std(s.t_ps[hard] - s.pv_t_ps[jet[hard]]) < 50.0  # the hard tracks: the resolution only
    table = read(path)  # an ordinary jet table of the full-event jets
    assert len(table) == len(s) and np.isfinite(table.X).all()
