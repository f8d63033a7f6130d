"""The embedded default sample: shipped, balanced, with provenance, and regenerable."""

from __future__ import annotations

import numpy as np
import pytest

from spikejet.cli import main
from spikejet.data import CLASS_NAMES, load_default
from spikejet.data.default import default_provenance, default_sample_path


def test_default_sample_is_shipped_balanced_and_small():
    path = default_sample_path()
    assert path.is_file()
    assert path.stat().st_size <= 10 * 1024 * 1024
    table = load_default()
    assert len(table) == 100_000
    assert table.counts().tolist() == [20_000] * 5
    for key in ("pt", "eta", "mass"):
        assert key in table.extra
    assert ((table.extra["pt"] >= 900) & (table.extra["pt"] < 1100)).all()
    assert (np.abs(table.extra["eta"]) < 2.0).all()


def test_provenance_names_command_seeds_versions_and_counts():
    prov = default_provenance()
    assert prov is not None
    assert prov["command"].startswith("spikejet generate --jets-per-class 20000 --seed 2019")
    assert prov["master_seed"] == 2019
    assert prov["pythia8mc_version"] == "8.317.2" and prov["fastjet_version"] == "3.5.2.0"
    assert prov["counts"] == {c: 20_000 for c in CLASS_NAMES}
    import hashlib

    assert hashlib.sha256(default_sample_path().read_bytes()).hexdigest() == prov["sha256"]


def test_data_info_default_shows_balanced_classes_and_mass_peaks(capsys):
    assert main(["data", "info", "default"]) == 0
    out = capsys.readouterr().out
    assert "20000" in out
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
    """The default command's first W chunk (500 jets), made again, equals the shipped rows."""
    from spikejet.data import read
    from spikejet.physics.config import GenerateConfig
    from spikejet.physics.generate import generate

    cfg = GenerateConfig(jets_per_class=500, classes="w", seed=2019, chunk_size=500)
    generate(cfg, tmp_path / "w.h5", workers=1, quiet=True)
    again = read(tmp_path / "w.h5")
    shipped = load_default()
    w_rows = np.flatnonzero(shipped.y == CLASS_NAMES.index("w"))[:500]
    np.testing.assert_array_equal(again.X, shipped.X[w_rows])
    np.testing.assert_array_equal(again.extra["pt"], shipped.extra["pt"][w_rows])
    assert again.counts().tolist() == [0, 0, 500, 0, 0]


def test_data_info_json_to_stdout(capsys, tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    assert main(["data", "info", "default", "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_jets"] == 100_000
    assert list(tmp_path.iterdir()) == []
