"""spikejet generate: physics of tiny runs, reproducibility, resume, Dask, bad requests.

Pythia runs here are tiny (a few jets per chunk); the engineering tests replace the
16 features by a cheap deterministic stand-in so that they do not depend on the
feature code's speed, and they share one reference output (module fixture).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikejet.cli import main
from spikejet.data.schema import CLASS_NAMES, N_FEATURES
from spikejet.errors import ConfigError, PhysicsError
from spikejet.physics import events
from spikejet.physics import generate as gen
from spikejet.physics.config import (
    DEFAULT_CONSTITUENTS,
    MATCH_DELTA_R,
    SQRT_S_GEV,
    GenerateConfig,
    parse_classes,
)
from spikejet.physics.processes import class_process, match_jets

TINY_SEED = 7
#: The engineering runs: one class (the cheapest to initialise), 2 chunks of 2 jets.
TINY = dict(jets_per_class=4, classes=("q",), chunk_size=2, seed=TINY_SEED)


def _stub_features(constituents: list[np.ndarray]) -> np.ndarray:
    """Deterministic 16 numbers per jet that depend on its constituents."""
    out = np.zeros((len(constituents), N_FEATURES))
    for i, c in enumerate(constituents):
        pt = np.hypot(c[:, 0], c[:, 1])
        out[i, 0] = len(c)
        out[i, 1] = pt.sum()
        out[i, 2] = c[:, 3].sum()
        out[i, 3] = pt.max()
    return out


@pytest.fixture
def stub_features(monkeypatch):
    monkeypatch.setattr(events, "compute_features", _stub_features)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> bytes:
    """Bytes of an uninterrupted single-process run of TINY."""
    out = tmp_path_factory.mktemp("ref") / "jets.h5"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(events, "compute_features", _stub_features)
        res = gen.generate(GenerateConfig(**TINY), out, workers=1, quiet=True)
    assert res.counts == {"q": 4}
    assert not gen.chunk_dir_for(out).exists()  # merged, chunks removed
    return out.read_bytes()


# ---------------------------------------------------------------- physics
@pytest.mark.parametrize("cls", CLASS_NAMES)
def test_tiny_run_each_class(cls):
    """Real Pythia + FastJet + real features: labelled jets inside the window."""
    pytest.importorskip("spikejet.physics.features")
    cfg = GenerateConfig(jets_per_class=2, classes=(cls,), constituents=True)
    data = events.generate_chunk(cfg, cls, 2, (1234, 5678))
    assert len(data) == 2 and data.label == CLASS_NAMES.index(cls)
    assert np.all((data.pt >= cfg.pt_min) & (data.pt < cfg.pt_max))
    assert np.all(np.abs(data.eta) < cfg.eta_max)
    assert data.X.shape == (2, N_FEATURES) and np.isfinite(data.X).all()
    assert np.all(data.mass > 0.0) and data.matched.all()
    # multiplicity feature counts the constituents; the stored ones are pT-ordered
    assert np.array_equal(np.minimum(data.X[:, 15], DEFAULT_CONSTITUENTS), data.n_particles)
    parts = data.particles[0, : data.n_particles[0]]
    assert np.all(np.diff(parts[:, 0]) <= 0.0)
    # near the jet axis (R = 0.8 in rapidity; eta_rel is in pseudorapidity, so a little
    # more for massive particles), charges are -1/0/+1, PDG ids those of stable particles
    assert np.all(np.hypot(parts[:, 1], parts[:, 2]) < 1.0)
    assert set(np.unique(parts[:, 4])) <= {-1.0, 0.0, 1.0}
    assert set(np.abs(parts[:, 5]).astype(int)) <= {11, 13, 22, 130, 211, 321, 2112, 2212, 3112, 3222, 3312, 3334}
    s = data.stats
    assert s["selected"] == s["unmatched"] + 2 + s["surplus"] and s["events"] >= 1


def test_resonance_settings_are_accepted_by_pythia():
    import pythia8mc

    for cls in ("w", "z", "t"):
        proc = class_process(cls, "resonance", 900.0, 1100.0, SQRT_S_GEV)
        p = pythia8mc.Pythia("", False)
        assert all(p.readString(s) for s in proc.main), cls
        assert not proc.two_stage


def test_direct_bosons_use_two_stage_handoff():
    for cls in ("w", "z", "t"):
        proc = class_process(cls, "direct", 900.0, 1100.0, SQRT_S_GEV)
        assert proc.two_stage
        assert "ProcessLevel:resonanceDecays = off" in proc.stage_a
        assert "Beams:frameType = 5" in proc.main
    # hard-process pT window: +-0.5 % around the centre of the jet window
    g = class_process("g", "direct", 900.0, 1100.0, SQRT_S_GEV)
    assert "PhaseSpace:pTHatMin = 995.0000" in g.main and "PhaseSpace:pTHatMax = 1005.0000" in g.main


def test_match_jets_wraps_phi_and_uses_cut():
    cands = np.array([[0.0, np.pi - 0.05]])
    jet_y = np.array([0.0, 0.0, 0.0])
    jet_phi = np.array([-np.pi + 0.05, 0.0, np.pi - 0.05 - (MATCH_DELTA_R + 1e-6)])
    assert match_jets(jet_y, jet_phi, cands, MATCH_DELTA_R).tolist() == [True, False, False]
    assert match_jets(jet_y, jet_phi, np.zeros((0, 2)), MATCH_DELTA_R).tolist() == [False] * 3


# ---------------------------------------------------------------- chunks and seeds
@settings(max_examples=50, deadline=None)
@given(master=st.integers(0, 2**63 - 1), cls=st.sampled_from(CLASS_NAMES), index=st.integers(0, 10**6))
def test_chunk_seeds_in_pythia_range_and_deterministic(master, cls, index):
    a = gen.chunk_seeds(master, cls, index)
    assert a == gen.chunk_seeds(master, cls, index)
    assert all(1 <= s <= gen.PYTHIA_SEED_MAX for s in a)


def test_chunk_plan_order_sizes_and_hash():
    cfg = GenerateConfig(jets_per_class=5, classes="t,g", chunk_size=2)
    tasks = gen.plan_chunks(cfg)
    assert [(t.cls, t.index, t.n) for t in tasks] == [
        ("g", 0, 2), ("g", 1, 2), ("g", 2, 1), ("t", 0, 2), ("t", 1, 2), ("t", 2, 1)
    ]
    seeds = {t.seeds for t in tasks}
    assert len(seeds) == len(tasks)
    other = GenerateConfig(jets_per_class=5, classes="t,g", chunk_size=2, pt_min=950.0)
    assert {t.filename for t in tasks}.isdisjoint({t.filename for t in gen.plan_chunks(other)})
    # more jets: the full chunks keep their names (and are reused)
    more = gen.plan_chunks(GenerateConfig(jets_per_class=7, classes="t,g", chunk_size=2))
    assert tasks[0].filename == more[0].filename and tasks[2].filename != more[2].filename


# ---------------------------------------------------------------- reproducibility, resume, dask
def test_same_seed_same_bytes(reference, tmp_path, stub_features):
    out = tmp_path / "again.h5"
    gen.generate(GenerateConfig(**TINY), out, workers=1, quiet=True)
    assert out.read_bytes() == reference


def test_interrupt_then_resume_gives_same_bytes(reference, tmp_path, stub_features, monkeypatch):
    out = tmp_path / "jets.h5"
    real = events.generate_chunk
    calls = []

    def interrupted(cfg, cls, n, seeds):
        calls.append(cls)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(cfg, cls, n, seeds)

    monkeypatch.setattr(events, "generate_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(GenerateConfig(**TINY), out, workers=1, quiet=True)
    chunk_dir = gen.chunk_dir_for(out)
    finished = sorted(p.name for p in chunk_dir.glob("*.npz") if not p.name.startswith("."))
    assert len(finished) == 1 and not out.exists()
    # a killed writer may leave a temporary file; a chunk copied half-way must not count
    (chunk_dir / ".q-00001-n2-xx.part.npz").write_bytes(b"PK\x03\x04 half")
    tasks = gen.plan_chunks(GenerateConfig(**TINY))
    (chunk_dir / tasks[1].filename).write_bytes((chunk_dir / finished[0]).read_bytes()[:100])

    monkeypatch.setattr(events, "generate_chunk", real)
    res = gen.generate(GenerateConfig(**TINY), out, workers=1, quiet=True)
    assert res.chunks_reused == 1 and res.chunks_total == 2
    assert not list(chunk_dir.parent.glob(".*part*"))
    assert out.read_bytes() == reference


def test_dask_local_cluster_gives_same_bytes(reference, tmp_path, stub_features):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask.h5"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        res = gen.generate(GenerateConfig(**TINY), out, scheduler=cluster.scheduler_address, quiet=True)
    assert res.counts == {"q": 4}
    assert out.read_bytes() == reference


def test_fastjet_banner_is_silenced():
    code = (
        "import numpy as np\n"
        "from spikejet.physics.events import cluster_jets\n"
        "p = np.array([[100.0, 0.0, 10.0, 100.6], [90.0, 5.0, 12.0, 91.0]])\n"
        "print(len(cluster_jets(p, 1.0)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "1\n"


# ---------------------------------------------------------------- bad requests
@pytest.mark.parametrize(
    "extra, words",
    [
        (["--pt-min", "1100", "--pt-max", "900"], "empty pT window"),
        (["--pt-min", "1000", "--pt-max", "1000"], "empty pT window"),
        (["--pt-min", "-5"], "must be positive"),
        (["--pt-max", "7000"], "sqrt(s)/2"),
        (["--jets-per-class", "0"], "positive integer"),
        (["--jets-per-class", "-3"], "positive integer"),
        (["--classes", "g,x"], "unknown class 'x'"),
        (["--classes", "w,w"], "class 'w' is given twice"),
        (["--eta-max", "0"], "--eta-max"),
        (["--eta-max", "nan"], "--eta-max"),
        (["--chunk-size", "0"], "--chunk-size"),
        (["--workers", "0"], "--workers"),
        (["--constituents", "-1"], "--constituents"),
        (["--constituents", "201"], "--constituents"),
    ],
)
def test_bad_requests_exit_2_with_one_line(extra, words, tmp_path, capsys):
    argv = ["generate", "--jets-per-class", "5", "--out", str(tmp_path / "x.h5"), "--quiet", *extra]
    # argparse keeps the last value of a repeated option
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spikejet: error: ") and words in lines[0], err
    assert not (tmp_path / "x.h5").exists()


def test_new_choices_validated_and_hashed():
    base = GenerateConfig(jets_per_class=1)
    with pytest.raises(ConfigError, match="unknown detector"):
        GenerateConfig(jets_per_class=1, detector="delphes")
    with pytest.raises(ConfigError, match="unknown labelling"):
        GenerateConfig(jets_per_class=1, labelling="all")
    with pytest.raises(ConfigError, match="--constituents"):
        GenerateConfig(jets_per_class=1, constituents=2.5)
    assert GenerateConfig(jets_per_class=1, constituents=True).constituents == DEFAULT_CONSTITUENTS
    assert GenerateConfig(jets_per_class=1, constituents=False).constituents == 0
    hashes = {
        GenerateConfig(jets_per_class=1, **kw).settings_hash()
        for kw in ({}, {"detector": "cms" if base.detector == "none" else "none"},
                   {"labelling": "event" if base.labelling == "match" else "match"},
                   {"production": "direct" if base.production != "direct" else "resonance"},
                   {"constituents": 8})
    }
    assert len(hashes) == 5


def test_resonance_wz_takes_bosons_from_resonances_and_top_direct():
    for cls in ("w", "z"):
        assert not class_process(cls, "resonance-wz", 900.0, 1100.0, SQRT_S_GEV).two_stage
    top = class_process("t", "resonance-wz", 900.0, 1100.0, SQRT_S_GEV)
    assert top.two_stage and top == class_process("t", "direct", 900.0, 1100.0, SQRT_S_GEV)
    # the resonance mass follows the window centre: 2.2 x 1000 GeV for 900-1100 and 700-1300
    for lo, hi in ((900.0, 1100.0), (700.0, 1300.0)):
        assert "32:m0 = 2200.0000" in class_process("w", "resonance", lo, hi, SQRT_S_GEV).main


def test_detector_and_event_labelling_tiny_run():
    """Real Pythia + the cms detector: candidates are tracks or ECAL/HCAL cells."""
    cfg = GenerateConfig(jets_per_class=2, classes=("q",), detector="cms", labelling="event", constituents=64)
    data = events.generate_chunk(cfg, "q", 2, (4321, 8765))
    assert len(data) == 2 and data.matched.dtype == bool and data.rank.min() >= 0
    assert int((~data.matched).sum()) <= data.stats["unmatched"]
    parts = data.particles[0, : data.n_particles[0]]
    neutral = parts[parts[:, 4] == 0, 5]
    assert set(np.unique(neutral)) <= {22.0, 130.0}
    assert np.all(parts[parts[:, 4] != 0, 5] != 0)
    # the particle level of the same events has more constituents (cells merge, thresholds cut)
    plain = events.generate_chunk(GenerateConfig(jets_per_class=2, classes=("q",)), "q", 2, (4321, 8765))
    assert data.X[:, 15].sum() < plain.X[:, 15].sum()


def test_cli_passes_the_new_options(tmp_path, monkeypatch):
    from spikejet.cli import generate as cli_gen

    seen = {}

    def fake_generate(cfg, out, **kw):
        seen["cfg"] = cfg
        raise SystemExit(0)

    monkeypatch.setattr(gen, "generate", fake_generate)
    argv = ["generate", "--jets-per-class", "3", "--out", str(tmp_path / "x.h5"), "--detector", "cms",
            "--labelling", "event", "--production", "resonance-wz", "--constituents"]
    with pytest.raises(SystemExit):
        main(argv)
    cfg = seen["cfg"]
    assert (cfg.detector, cfg.labelling, cfg.production, cfg.constituents) == (
        "cms", "event", "resonance-wz", cli_gen.DEFAULT_CONSTITUENTS)
    with pytest.raises(SystemExit):
        main([*argv[:-1], "--constituents", "12"])
    assert seen["cfg"].constituents == 12


def test_config_errors_are_typed():
    with pytest.raises(PhysicsError):
        GenerateConfig(jets_per_class=1, pt_min=float("inf"))
    with pytest.raises(ConfigError):
        GenerateConfig(jets_per_class=1, production="madgraph")
    with pytest.raises(ConfigError):
        GenerateConfig(jets_per_class=1, seed=-1)
    assert parse_classes("T, g ,q") == ("g", "q", "t")
    with pytest.raises(ConfigError, match="'g' is given twice"):
        parse_classes("T, g ,g")


def test_cli_defaults_match_config():
    from spikejet.cli import generate as cli_gen
    from spikejet.physics import config

    assert cli_gen.DEFAULT_PT_MIN == config.DEFAULT_PT_MIN
    assert cli_gen.DEFAULT_PT_MAX == config.DEFAULT_PT_MAX
    assert cli_gen.DEFAULT_ETA_MAX == config.DEFAULT_ETA_MAX
    assert cli_gen.DEFAULT_SEED == config.DEFAULT_SEED
    assert cli_gen.DEFAULT_CHUNK_SIZE == config.DEFAULT_CHUNK_SIZE
    assert cli_gen.PRODUCTIONS == config.PRODUCTIONS
    assert cli_gen.DETECTORS == config.DETECTOR_CHOICES
    assert cli_gen.LABELLINGS == config.LABELLINGS
    assert cli_gen.DEFAULT_PRODUCTION == GenerateConfig(jets_per_class=1).production
    assert cli_gen.DEFAULT_DETECTOR == GenerateConfig(jets_per_class=1).detector
    assert cli_gen.DEFAULT_LABELLING == GenerateConfig(jets_per_class=1).labelling
    assert cli_gen.DEFAULT_CONSTITUENTS == config.DEFAULT_CONSTITUENTS
    assert cli_gen.MAX_CONSTITUENTS == config.MAX_CONSTITUENTS


def test_out_must_not_be_a_directory(tmp_path):
    with pytest.raises(ConfigError):
        gen.generate(GenerateConfig(jets_per_class=1), Path(tmp_path), quiet=True)


def test_constituents_reach_the_file(tmp_path, stub_features):
    from spikejet.data import read, read_provenance

    out = tmp_path / "cons.h5"
    n_keep = 100  # more than a light-quark jet has (~60), so all constituents are stored
    cfg = GenerateConfig(jets_per_class=2, classes=("q",), chunk_size=2, seed=TINY_SEED, constituents=n_keep)
    res = gen.generate(cfg, out, workers=1, quiet=True)
    assert read(out).particles is None  # only on request
    table = read(out, particles=True)
    parts, mask = table.particles, table.particle_mask
    assert table.particle_fields == ("pt", "eta_rel", "phi_rel", "e", "charge", "pid")
    assert parts.shape == (2, n_keep, 6) and parts.dtype == np.float32 and mask.dtype == bool
    ncons = mask.sum(axis=1)
    assert np.array_equal(ncons, np.minimum(table.X[:, 0], n_keep))  # stub: X[:,0] = n
    assert np.all(parts[~mask] == 0.0) and np.all(mask[:, :1])
    # the stored jet pT is the pT of the summed constituents (float16 storage: 5e-4)
    k = 0
    pt, eta = parts[k, mask[k], 0].astype(np.float64), parts[k, mask[k], 1] + table.extra["eta"][k]
    phi = parts[k, mask[k], 2] + table.extra["phi"][k]
    px, py = (pt * np.cos(phi)).sum(), (pt * np.sin(phi)).sum()
    assert np.hypot(px, py) == pytest.approx(table.extra["pt"][k], rel=2e-3)
    assert np.abs(eta).max() < 3.0
    with h5py.File(out) as f:
        assert f["particles/pt"].dtype == np.float16 and f["particles/pid"].dtype == np.int16
        assert f["particles/charge"].dtype == np.int8
    prov = read_provenance(out)
    assert prov["counts"] == {"q": 2} and prov["config"]["constituents"] == n_keep
    assert table.extra["matched"].tolist() == [1, 1]
    assert prov["settings_hash"] == cfg.settings_hash() == res.provenance["settings_hash"]
