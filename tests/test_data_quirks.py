"""The public files' quirks: rows without a class label and duplicate rows.

Every test writes its own small file; nothing is downloaded.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from spikejet.cli import main
from spikejet.data import CLASS_LABELS, CLASS_NAMES, FEATURE_NAMES, read, read_with_report
from spikejet.data.schema import ZENODO_FEATURE_COLUMNS
from spikejet.errors import DataError

N = 40


@pytest.fixture
def features(rng) -> np.ndarray:
    X = (rng.normal(size=(N, 16)) * 10).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]))  # j_multiplicity is a count
    return X


def _labels() -> list[str]:
    return [CLASS_NAMES[i % 5] for i in range(N)]


def _write_csv(path, X, labels) -> None:
    lines = [",".join([*FEATURE_NAMES, "class"])]
    lines += [",".join([*(repr(float(v)) for v in X[i]), labels[i]]) for i in range(len(X))]
    path.write_text("\n".join(lines) + "\n")


def _quirky_csv(tmp_path, X):
    """Rows 3 and 17 have no class; rows 30 and 31 repeat rows 5 and 6; row 32 repeats row 30."""
    labels = _labels()
    labels[3], labels[17] = "", "?"
    X = X.copy()
    X[30], X[31], X[32] = X[5], X[6], X[5]
    labels[30], labels[31], labels[32] = labels[5], labels[6], labels[5]
    p = tmp_path / "quirky.csv"
    _write_csv(p, X, labels)
    return p


def test_unlabelled_rows_are_refused_by_default(tmp_path, features):
    p = _quirky_csv(tmp_path, features)
    with pytest.raises(DataError, match=r"2 of 40 rows have no class label \(first rows: 3, 17\).*--drop-unlabelled"):
        read(p)


def test_unlabelled_dropped_and_duplicates_counted_or_dropped(tmp_path, features):
    p = _quirky_csv(tmp_path, features)
    t, rep = read_with_report(p, drop_unlabelled=True)
    assert len(t) == N - 2 and rep.n_unlabelled == 2 and rep.unlabelled_rows == (3, 17)
    assert rep.n_duplicates == 3 and not rep.duplicates_dropped
    assert any("without a class label" in m for m in rep.messages())
    assert any("repeat an earlier row" in m and "kept" in m for m in rep.messages())
    t2, rep2 = read_with_report(p, drop_unlabelled=True, drop_duplicates=True)
    assert len(t2) == N - 5 and rep2.n_duplicates == 3 and rep2.duplicates_dropped
    # the first copies stay, in file order
    keep = [i for i in range(N) if i not in (3, 17, 30, 31, 32)]
    np.testing.assert_array_equal(t2.X, features[keep])
    assert rep2.quirks() == {
        "rows_read": N, "rows_without_label": 2, "rows_without_label_dropped": True,
        "duplicate_rows": 3, "duplicate_rows_dropped": True, "rows_with_nan_or_inf_dropped": 0,
    }


def test_same_features_different_label_is_not_a_duplicate(tmp_path, features):
    labels = _labels()
    X = features.copy()
    X[1] = X[0]  # labels g and q differ
    p = tmp_path / "conflict.csv"
    _write_csv(p, X, labels)
    _, rep = read_with_report(p)
    assert rep.n_duplicates == 0


def test_extra_columns_follow_the_dropped_rows(tmp_path, features):
    from spikejet.data import JetTable, write

    y = np.arange(N) % 5
    X = features.copy()
    X[10] = X[0]
    y[10] = y[0]
    pt = np.arange(N, dtype=np.float32)
    p = tmp_path / "own.h5"
    write(JetTable(X, y, extra={"pt": pt}), p)
    t = read(p, drop_duplicates=True)
    assert len(t) == N - 1 and 10.0 not in t.extra["pt"]


def test_zenodo_rows_without_one_hot_label(tmp_path, features):
    n_cols = max(ZENODO_FEATURE_COLUMNS) + 1 + 6
    jets = np.zeros((N, n_cols), dtype=np.float32)
    jets[:, list(ZENODO_FEATURE_COLUMNS)] = features
    onehot = np.eye(5)[np.arange(N) % 5]
    onehot[[2, 9]] = 0.0
    jets[:, -6:-1] = onehot
    p = tmp_path / "zenodo.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("jets", data=jets)
    with pytest.raises(DataError, match="2 of 40 rows have no class label"):
        read(p)
    t = read(p, drop_unlabelled=True)
    assert len(t) == N - 2


def test_arff_question_mark_class(tmp_path, features):
    lines = ["@RELATION hls4ml_lhc_jets_hlf", ""]
    lines += [f"@ATTRIBUTE {n} NUMERIC" for n in FEATURE_NAMES]
    lines += ["@ATTRIBUTE class {g,q,t,w,z}", "", "@DATA"]
    for i in range(N):
        lines.append(",".join([*(repr(float(v)) for v in features[i]), "?" if i == 7 else _labels()[i]]))
    p = tmp_path / "x.arff"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="1 of 40 rows have no class label"):
        read(p)
    assert len(read(p, drop_unlabelled=True)) == N - 1


def test_numeric_label_column_nan_is_unlabelled_but_minus_one_is_bad(tmp_path, features):
    lines = [",".join([*FEATURE_NAMES, "label"])]
    for i in range(N):
        lab = "" if i == 4 else str(i % 5)
        lines.append(",".join([*(repr(float(v)) for v in features[i]), lab]))
    p = tmp_path / "num.csv"
    p.write_text("\n".join(lines) + "\n")
    assert len(read(p, drop_unlabelled=True)) == N - 1
    lines[6] = lines[6].rsplit(",", 1)[0] + ",-1"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="not class indices"):
        read(p, drop_unlabelled=True)


def test_data_info_reports_quirks_and_options(tmp_path, features, capsys):
    p = _quirky_csv(tmp_path, features)
    assert main(["data", "info", str(p)]) == 2  # refused without --drop-unlabelled
    assert "--drop-unlabelled" in capsys.readouterr().err
    assert main(["data", "info", str(p), "--drop-unlabelled"]) == 0
    cap = capsys.readouterr()
    assert "rows without a class label: 2 (dropped" in cap.out
    assert "duplicate rows (same 16 features and label as an earlier row): 3 (kept" in cap.out
    assert "jets: 38" in cap.out
    assert main(["data", "info", str(p), "--drop-unlabelled", "--drop-duplicates", "--json", "-"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_jets"] == 35
    assert summary["rows"]["duplicate_rows"] == 3 and summary["rows"]["duplicate_rows_dropped"] is True


def test_convert_records_what_was_dropped(tmp_path, features):
    from spikejet.data import read_provenance

    p = _quirky_csv(tmp_path, features)
    out = tmp_path / "clean.h5"
    assert main(["data", "convert", str(p), str(out), "--drop-unlabelled", "--drop-duplicates"]) == 0
    prov = read_provenance(out)["converted_from"]
    assert prov["rows_without_label_dropped"] == 2 and prov["duplicate_rows"] == 3
    assert prov["duplicate_rows_dropped"] is True
    assert len(read(out)) == N - 5


def test_class_labels_constant_is_the_zenodo_order():
    assert CLASS_LABELS == ("j_g", "j_q", "j_w", "j_z", "j_t")
