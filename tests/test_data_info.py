from __future__ import annotations

import json

import numpy as np
import pytest

from spikejet.data import FEATURE_NAMES, JetTable
from spikejet.data.info import format_summary, mass_peaks, plot_features, summarize
from spikejet.errors import DataError

#: Peak positions and widths (GeV) of the synthetic groomed-mass distributions per class.
PEAKS = np.array([30.0, 15.0, 80.4, 91.2, 172.6])
WIDTHS = np.array([25.0, 12.0, 6.0, 6.0, 12.0])
N_JETS = 10_000
MASS = FEATURE_NAMES.index("j_mass_mmdt")


@pytest.fixture
def peaked(rng) -> JetTable:
    y = np.arange(N_JETS) % 5
    X = np.abs(rng.normal(size=(N_JETS, 16))).astype(np.float32)
    X[:, MASS] = np.abs(rng.normal(PEAKS[y], WIDTHS[y]))
    X[:, 15] = rng.poisson(40, N_JETS)
    X[:50, MASS] = 0.0  # groomed to one constituent
    return JetTable(X, y, source="peaked.h5")


def test_mass_peaks_find_resonances(peaked):
    peaks = mass_peaks(peaked)
    for name, expected in (("w", 80.4), ("z", 91.2), ("t", 172.6)):
        assert peaks[name] == pytest.approx(expected, abs=5.0)


def test_mass_peaks_ignore_zero_mass_and_empty_class(rng):
    X = np.zeros((20, 16), dtype=np.float32)
    X[10:, MASS] = 50.0
    y = np.array([0] * 10 + [1] * 10)
    peaks = mass_peaks(JetTable(X, y))
    assert peaks["g"] is None and peaks["w"] is None
    assert peaks["q"] == pytest.approx(51.25)  # centre of the [50, 52.5) bin


def test_summarize_counts_and_stats(peaked):
    s = summarize(peaked)
    assert s["n_jets"] == N_JETS and s["counts"] == {c: N_JETS // 5 for c in "gqwzt"}
    w = s["features"]["j_mass_mmdt"]["w"]
    x = peaked.X[peaked.y == 2, MASS].astype(np.float64)
    assert w["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert w["q50"] == pytest.approx(np.median(x), rel=1e-12)
    assert w["q05"] < w["q25"] < w["q50"] < w["q75"] < w["q95"]
    json.dumps(s)  # JSON-ready


def test_summarize_missing_class_is_none(rng):
    t = JetTable(rng.normal(size=(4, 16)), np.array([0, 0, 1, 1]))
    s = summarize(t)
    assert s["features"]["j_zlogz"]["t"] is None and s["counts"]["t"] == 0
    text = format_summary(s)
    assert "top quark" in text


def test_format_summary_text(peaked):
    text = format_summary(summarize(peaked))
    lines = text.splitlines()
    assert any(ln.startswith("w ") and "80.4" in ln for ln in lines)
    assert sum(ln.startswith("j_zlogz") for ln in lines) == 5
    assert "peaked.h5" in lines[0]


def test_plot_features_writes_png(tmp_path, peaked):
    out = tmp_path / "f" / "feat.png"
    plot_features(peaked, out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["feat.png"]


def test_plot_features_bad_bins(tmp_path, peaked):
    with pytest.raises(DataError, match="bins"):
        plot_features(peaked, tmp_path / "x.png", bins=0)
