from __future__ import annotations

import numpy as np
import pytest

from spikejet import __version__
from spikejet.cli import main
from spikejet.data import FEATURE_NAMES, JetTable
from spikejet.errors import DataError
from spikejet.io import atomic_path, write_json


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_atomic_path_removes_temp_on_error(tmp_path):
    dest = tmp_path / "a.json"
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_json_roundtrip(tmp_path):
    import json

    write_json(tmp_path / "m.json", {"a": np.float32(1.5), "b": np.arange(3)})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1.5, "b": [0, 1, 2]}


def test_jettable_rejects_nan_with_rows(rng):
    X = rng.normal(size=(10, 16)).astype(np.float32)
    X[3, 2] = np.nan
    X[7, 0] = np.inf
    with pytest.raises(DataError, match=r"2 jets have NaN/inf features \(first rows: 3, 7\)"):
        JetTable(X, np.zeros(10, dtype=int))


def test_jettable_rejects_bad_labels_and_empty(rng):
    with pytest.raises(DataError, match="labels outside"):
        JetTable(rng.normal(size=(3, 16)), np.array([0, 5, 1]))
    with pytest.raises(DataError, match="empty"):
        JetTable(np.zeros((0, 16)), np.zeros(0, dtype=int))


def test_jettable_subset_and_counts(rng):
    t = JetTable(rng.normal(size=(6, 16)), np.array([0, 1, 2, 3, 4, 4]), extra={"pt": np.arange(6.0)})
    assert t.counts().tolist() == [1, 1, 1, 1, 2]
    s = t.subset(np.array([5, 0]))
    assert s.y.tolist() == [4, 0] and s.extra["pt"].tolist() == [5.0, 0.0]
    assert s.feature_names == FEATURE_NAMES


def test_atomic_path_uses_umask_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "p.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o644
