"""The embedded default sample: shipped, balanced, with particles and provenance, and regenerable."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from spikejet.cli import main
from spikejet.data import CLASS_NAMES, load_default
from spikejet.data.default import default_provenance, default_sample_path
from spikejet.data.schema import PARTICLE_FIELDS

#: The embedded data (sample + provenance) must stay below this many bytes.
SIZE_BUDGET = 40 * 1024 * 1024
#: Particles stored per jet.
N_PARTICLES = 32


def _config() -> dict:
    prov = default_provenance()
    assert prov is not None
    return prov["file_provenance"]["config"]


def test_default_sample_is_shipped_balanced_and_small():
    path = default_sample_path()
    assert path.is_file()
    size = path.stat().st_size + path.with_name("provenance.json").stat().st_size
    assert size <= SIZE_BUDGET
    table = load_default()
    assert len(table) == 100_000
    assert table.counts().tolist() == [20_000] * 5
    for key in ("pt", "eta", "phi", "mass", "matched", "rank"):
        assert key in table.extra
    cfg = _config()
    assert ((table.extra["pt"] >= cfg["pt_min"]) & (table.extra["pt"] < cfg["pt_max"])).all()
    assert (np.abs(table.extra["eta"]) < cfg["eta_max"]).all()
    assert table.particles is None  # loaded only on request


def test_default_sample_carries_particles():
    table = load_default(particles=True)
    assert table.particles.shape == (100_000, N_PARTICLES, len(PARTICLE_FIELDS))
    assert table.particle_fields == PARTICLE_FIELDS
    mask = table.particle_mask
    n = mask.sum(axis=1)
    # pT-ordered, padded with zeros, as many as the jet has (up to 32)
    assert np.array_equal(n, np.minimum(table.X[:, 15], N_PARTICLES).astype(int))
    pt = table.particles[..., 0]
    assert np.all(np.diff(np.where(mask, pt, -1.0), axis=1) <= 0.0)
    assert np.all(table.particles[~mask] == 0.0)
    real = table.particles[mask]
    assert set(np.unique(real[:, 4])) <= {-1.0, 0.0, 1.0}
    # within the R = 0.8 jet, relative to its axis (anti-kT clusters in rapidity: a soft
    # massive particle can sit further away in pseudorapidity, hence the fraction)
    assert np.abs(real[:, 2]).max() < 0.9
    assert (np.hypot(real[:, 1], real[:, 2]) < 0.85).mean() > 0.998
    # the 32 hardest particles carry most of the jet's pT
    frac = pt.sum(axis=1) / table.extra["pt"]
    assert np.median(frac) > 0.9


def test_provenance_names_command_seeds_versions_and_counts():
    prov = default_provenance()
    assert prov is not None
    assert prov["command"].startswith("spikejet generate --jets-per-class 20000 --seed 2019")
    assert f"--constituents {N_PARTICLES}" in prov["command"]
    assert prov["master_seed"] == 2019
    assert prov["pythia8mc_version"] == "8.317.2" and prov["fastjet_version"] == "3.5.2.0"
    assert prov["counts"] == {c: 20_000 for c in CLASS_NAMES}
    assert hashlib.sha256(default_sample_path().read_bytes()).hexdigest() == prov["sha256"]
    # the sample was made with the generator's defaults (one place: GenerateConfig)
    from spikejet.physics.config import GenerateConfig

    d = GenerateConfig(jets_per_class=1)
    cfg = _config()
    assert (cfg["production"], cfg["detector"], cfg["labelling"]) == (d.production, d.detector, d.labelling)
    assert (cfg["pt_min"], cfg["pt_max"], cfg["eta_max"]) == (d.pt_min, d.pt_max, d.eta_max)


def test_data_info_default_shows_balanced_classes_and_mass_peaks(capsys):
    assert main(["data", "info", "default"]) == 0
    out = capsys.readouterr().out
    assert "20000" in out
    assert "rows without a class label: 0" in out and "duplicate rows" in out
    peaks = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("w", "z", "t"):
            try:
                peaks[parts[0]] = float(parts[1])
            except ValueError:
                pass
    assert abs(peaks["w"] - 80.4) < 5 and abs(peaks["z"] - 91.2) < 5 and abs(peaks["t"] - 172.6) < 10


@pytest.mark.slow
def test_first_w_chunk_regenerates_bit_identically(tmp_path):
    """The default command's first W chunk (500 jets), made again, equals the shipped rows,
    features and particles (as stored: float16 kinematics, exact charge and PDG id)."""
    from spikejet.data import read
    from spikejet.physics.config import GenerateConfig
    from spikejet.physics.generate import generate

    c = _config()
    cfg = GenerateConfig(
        jets_per_class=c["chunk_size"], classes="w", seed=c["seed"], chunk_size=c["chunk_size"],
        pt_min=c["pt_min"], pt_max=c["pt_max"], eta_max=c["eta_max"], production=c["production"],
        detector=c["detector"], labelling=c["labelling"], constituents=c["constituents"],
    )
    generate(cfg, tmp_path / "w.h5", workers=1, quiet=True)
    again = read(tmp_path / "w.h5", particles=True)
    shipped = load_default(particles=True)
    w_rows = np.flatnonzero(shipped.y == CLASS_NAMES.index("w"))[: c["chunk_size"]]
    np.testing.assert_array_equal(again.X, shipped.X[w_rows])
    for key in ("pt", "eta", "phi", "mass", "matched", "rank"):
        np.testing.assert_array_equal(again.extra[key], shipped.extra[key][w_rows])
    np.testing.assert_array_equal(again.particles, shipped.particles[w_rows])
    np.testing.assert_array_equal(again.particle_mask, shipped.particle_mask[w_rows])
    assert again.counts().tolist() == [0, 0, c["chunk_size"], 0, 0]


def test_data_info_json_to_stdout(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    assert main(["data", "info", "default", "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_jets"] == 100_000
    assert summary["rows"]["duplicate_rows"] == 0
    assert list(tmp_path.iterdir()) == []
