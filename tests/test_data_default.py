from __future__ import annotations

import logging
import urllib.error
from types import SimpleNamespace

import numpy as np
import pytest

import spikejet.data.default as default_mod
from spikejet.data import (
    CLASS_NAMES,
    FEATURE_NAMES,
    JetTable,
    default_sample_path,
    fetch_openml,
    load,
    load_default,
    write,
)
from spikejet.errors import DataError


@pytest.fixture
def table(rng) -> JetTable:
    X = rng.normal(size=(25, 16))
    X[:, 15] = np.round(np.abs(X[:, 15]) * 10)  # j_multiplicity is a count
    return JetTable(X, np.arange(25) % 5)


def test_default_sample_path_inside_package():
    p = default_sample_path()
    assert p.name == "jets.h5" and p.parent.name == "default" and p.parent.parent.name == "data"


def test_load_default_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(default_mod, "default_sample_path", lambda: tmp_path / "default" / "jets.h5")
    with pytest.raises(DataError, match="default sample .* is missing"):
        load_default()
    with pytest.raises(DataError, match="is missing"):
        load("default")


def test_load_default_and_load(monkeypatch, tmp_path, table):
    p = tmp_path / "default" / "jets.h5"
    write(table, p, provenance={"generator": "test"})
    (p.parent / "provenance.json").write_text('{"generator": "test"}')
    monkeypatch.setattr(default_mod, "default_sample_path", lambda: p)
    for t in (load_default(), load("default"), load(str(p))):
        np.testing.assert_array_equal(t.X, table.X)
    assert default_mod.default_provenance() == {"generator": "test"}


class _FakeSklearn:
    """Stands in for sklearn.datasets.fetch_openml (tests never touch the network)."""

    def __init__(self, bunch=None, exc=None):
        self.bunch, self.exc, self.calls = bunch, exc, []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.exc is not None:
            raise self.exc
        return self.bunch


def _bunch(rng, n=30, extra_col=False):
    names = list(reversed(FEATURE_NAMES)) + (["j_index"] if extra_col else [])
    data = rng.normal(size=(n, len(names)))
    data[:, 0] = np.round(np.abs(data[:, 0]) * 10)  # j_multiplicity (names are reversed) is a count
    target = np.array([CLASS_NAMES[i % 5] for i in range(n)], dtype=object)
    return SimpleNamespace(data=data, feature_names=names, target=target)


def test_fetch_openml_reorders_columns(monkeypatch, rng, tmp_path, caplog):
    import sklearn.datasets

    bunch = _bunch(rng, extra_col=True)
    fake = _FakeSklearn(bunch)
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake)
    with caplog.at_level(logging.WARNING, logger="spikejet.data"):
        t = fetch_openml(data_home=tmp_path)
    assert fake.calls[0]["data_id"] == 42468 and fake.calls[0]["data_home"] == str(tmp_path)
    # column j_zlogz is the last of the 16 reversed names (index 15)
    np.testing.assert_allclose(t.X[:, 0], bunch.data[:, 15].astype(np.float32), rtol=0, atol=0)
    assert t.y.tolist() == [i % 5 for i in range(30)]
    assert "j_index" in caplog.text
    assert t.source == "openml:42468"


@pytest.mark.parametrize(
    "exc", [urllib.error.URLError("no route to host"), TimeoutError("timed out"), OSError("offline")]
)
def test_fetch_openml_offline_is_dataerror(monkeypatch, exc):
    import sklearn.datasets

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", _FakeSklearn(exc=exc))
    with pytest.raises(DataError, match="could not fetch OpenML dataset 42468.*--data FILE"):
        fetch_openml()
    with pytest.raises(DataError, match="could not fetch"):
        load("openml")
