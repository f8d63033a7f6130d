from __future__ import annotations

import hashlib
import logging
import time

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikejet.data import (
    CLASS_LABELS,
    CLASS_NAMES,
    FEATURE_NAMES,
    JetTable,
    read,
    read_provenance,
    read_with_report,
    write,
)
from spikejet.data.formats import detect_format
from spikejet.data.schema import ZENODO_FEATURE_COLUMNS
from spikejet.errors import DataError

N_JETS = 60

#: The 59 column names of the Zenodo hls4ml ``jets`` array.
ZENODO_NAMES = (
    ["j_ptfrac", "j_pt", "j_eta", "j_mass"]
    + [f"j_tau{i}_b{b}" for b in (1, 2) for i in (1, 2, 3)]
    + ["j_tau32_b1", "j_tau32_b2", "j_zlogz"]
    + ["j_c1_b0", "j_c1_b1", "j_c1_b2", "j_c2_b1", "j_c2_b2", "j_d2_b1", "j_d2_b2"]
    + ["j_d2_a1_b1", "j_d2_a1_b2", "j_m2_b1", "j_m2_b2", "j_n2_b1", "j_n2_b2"]
    + [f"j_tau{i}_b{b}_mmdt" for b in (1, 2) for i in (1, 2, 3)]
    + ["j_tau32_b1_mmdt", "j_tau32_b2_mmdt"]
    + list(FEATURE_NAMES[1:14])
    + ["j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1", "j_multiplicity"]
    + list(CLASS_LABELS)
    + ["j_undef"]
)


@pytest.fixture
def table(rng) -> JetTable:
    X = (rng.normal(size=(N_JETS, 16)) * 10).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]))  # j_multiplicity is a count
    y = np.arange(N_JETS) % 5
    return JetTable(X, y, extra={"pt": rng.uniform(900, 1100, N_JETS), "eta": rng.normal(size=N_JETS)})


def _csv_text(X, labels, header=None, extra_cols=None):
    header = header or [*FEATURE_NAMES, "class"]
    extra_cols = extra_cols or {}
    lines = [",".join(header + list(extra_cols))]
    for i in range(len(X)):
        vals = [repr(float(v)) for v in X[i]] + [str(labels[i])]
        vals += [str(v[i]) for v in extra_cols.values()]
        lines.append(",".join(vals))
    return "\n".join(lines) + "\n"


def _write_arff(path, X, labels, relation="hls4ml_lhc_jets_hlf"):
    lines = [f"% exported\n@RELATION {relation}", ""]
    lines += [f"@ATTRIBUTE {n} NUMERIC" for n in FEATURE_NAMES]
    lines += ["@ATTRIBUTE class {g,q,t,w,z}", "", "@DATA"]
    for i in range(len(X)):
        vals = ["?" if np.isnan(v) else repr(float(v)) for v in X[i]]
        lines.append(",".join(vals + [labels[i]]))
    path.write_text("\n".join(lines) + "\n")


def _write_zenodo(path, X, y, *, names=ZENODO_NAMES, onehot=None, with_names=True):
    n = len(X)
    jets = np.zeros((n, len(ZENODO_NAMES)), dtype=np.float32)
    jets[:, list(ZENODO_FEATURE_COLUMNS)] = X
    jets[:, 1] = 1000.0
    jets[:, 2] = 0.5
    jets[:, 3] = 80.0
    if onehot is None:
        onehot = np.eye(5)[y]
    jets[:, -6:-1] = onehot
    with h5py.File(path, "w") as f:
        f.create_dataset("jets", data=jets)
        if with_names:
            f.create_dataset("jetFeatureNames", data=np.array([s.encode() for s in names]))
        f.create_dataset("jetImage", data=np.zeros((n, 4, 4), dtype=np.float32))


def _assert_same(t, X, y):
    np.testing.assert_array_equal(t.X, X)
    np.testing.assert_array_equal(t.y, y)
    assert t.feature_names == FEATURE_NAMES and t.class_names == CLASS_NAMES


# ----------------------------------------------------------------------- own format


def test_h5_roundtrip_with_extra_and_provenance(tmp_path, table):
    p = tmp_path / "jets.h5"
    write(table, p, provenance={"generator": "test", "seed": np.int64(3), "n": 60})
    t, rep = read_with_report(p)
    _assert_same(t, table.X, table.y)
    assert sorted(t.extra) == ["eta", "pt"]
    np.testing.assert_array_equal(t.extra["pt"], table.extra["pt"])
    assert rep.format == "spikejet-h5" and rep.provenance == {"generator": "test", "seed": 3, "n": 60}
    assert read_provenance(p) == rep.provenance
    write(table, tmp_path / "x.csv", provenance={"lost": True})
    assert read_provenance(tmp_path / "x.csv") is None
    write(table, tmp_path / "none.h5")
    assert read_provenance(tmp_path / "none.h5") is None
    with h5py.File(p) as f:
        assert f.attrs["format"] == "spikejet-jets" and int(f.attrs["format_version"]) == 1
        assert f["X"].dtype == np.float32 and f["y"].dtype == np.int8
        assert f["X"].compression == "gzip" and f["X"].shuffle
        assert [s for s in f.attrs["feature_names"]] == list(FEATURE_NAMES)
        assert "spikejet_version" in f.attrs


def test_h5_write_is_byte_identical(tmp_path, table):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write(table, a, provenance={"x": 1, "a": [1, 2]})
    time.sleep(1.1)  # HDF5 object timestamps have one-second resolution
    write(table, b, provenance={"a": [1, 2], "x": 1})
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    c = tmp_path / "c.csv"
    d = tmp_path / "d.csv"
    write(table, c)
    write(table, d)
    assert c.read_bytes() == d.read_bytes()


def test_h5_constituents_roundtrip(tmp_path, table, rng):
    cons = rng.normal(size=(N_JETS, 100, 4)).astype(np.float32)
    ncons = rng.integers(1, 101, N_JETS).astype(np.int16)
    t = JetTable(table.X, table.y, extra={"constituents": cons, "n_constituents": ncons})
    p = tmp_path / "c.h5"
    write(t, p)
    assert "constituents" not in read(p).extra  # only on request
    back = read(p, constituents=True)
    np.testing.assert_array_equal(back.extra["constituents"], cons)
    np.testing.assert_array_equal(back.extra["n_constituents"], ncons)
    with h5py.File(p) as f:
        assert f["constituents"].dtype == np.float32 and f["n_constituents"].dtype == np.int16


def test_h5_write_rejects_bad_constituents(tmp_path, table, rng):
    t = JetTable(table.X, table.y, extra={"constituents": np.zeros((N_JETS, 10, 3))})
    with pytest.raises(DataError, match="n_constituents"):
        write(t, tmp_path / "x.h5")
    t = JetTable(
        table.X, table.y,
        extra={"constituents": np.zeros((N_JETS, 10, 3)), "n_constituents": np.ones(N_JETS, int)},
    )
    with pytest.raises(DataError, match=r"\(n, k, 4\)"):
        write(t, tmp_path / "x.h5")
    assert not list(tmp_path.iterdir())


def test_write_rejects_unknown_extension_and_bad_provenance(tmp_path, table):
    with pytest.raises(DataError, match=r"cannot write \.parquet"):
        write(table, tmp_path / "x.parquet")
    with pytest.raises(DataError, match="JSON"):
        write(table, tmp_path / "x.h5", provenance={"f": object()})
    assert not list(tmp_path.iterdir())


def test_h5_default_sample_size_budget(tmp_path, rng):
    """100k jets of realistic-ish features must stay well under 10 MB."""
    n = 100_000
    X = np.abs(rng.normal(size=(n, 16))).astype(np.float32)
    X[:, 15] = rng.integers(5, 120, n)  # multiplicity is an integer
    t = JetTable(X, rng.integers(0, 5, n), extra={"pt": rng.uniform(900, 1100, n).astype(np.float32)})
    p = tmp_path / "big.h5"
    write(t, p)
    assert p.stat().st_size < 8_000_000


def test_own_h5_bad_attributes(tmp_path, table):
    p = tmp_path / "x.h5"
    write(table, p)
    with h5py.File(p, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(DataError, match="version 99.*upgrade"):
        read(p)
    write(table, p)
    with h5py.File(p, "a") as f:
        names = list(FEATURE_NAMES)
        names[3] = "j_foo"
        f.attrs["feature_names"] = names
    with pytest.raises(DataError, match="#3 'j_foo' \\(expected 'j_c1_b2_mmdt'\\)"):
        read(p)
    write(table, p)
    with h5py.File(p, "a") as f:
        del f["y"]
    with pytest.raises(DataError, match="missing dataset 'y'"):
        read(p)


def test_h5_neither_own_nor_zenodo(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("stuff", data=np.zeros(3))
    with pytest.raises(DataError, match="neither a spikejet jet file.*stuff"):
        read(p)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_h5_is_reported(tmp_path, table, keep):
    p = tmp_path / "x.h5"
    big = JetTable(np.tile(table.X, (50, 1)), np.tile(table.y, 50))
    write(big, p)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match="corrupt|truncated"):
        read(p)


def test_garbage_h5_is_reported(tmp_path):
    p = tmp_path / "x.h5"
    p.write_bytes(b"this is not hdf5 at all" * 10)
    with pytest.raises(DataError, match="corrupt, truncated or not HDF5"):
        read(p)


# ----------------------------------------------------------------------- CSV


def test_csv_roundtrip_exact(tmp_path, table):
    p = tmp_path / "jets.csv"
    write(table, p)
    text = p.read_text()
    assert text.splitlines()[0] == ",".join([*FEATURE_NAMES, "class"])
    t, rep = read_with_report(p)
    _assert_same(t, table.X, table.y)
    assert rep.format == "csv" and rep.ignored_columns == ()


def test_csv_integer_label_column_and_extra_columns_reported(tmp_path, table, caplog):
    p = tmp_path / "x.csv"
    header = [*FEATURE_NAMES, "label"]
    p.write_text(_csv_text(table.X, table.y, header=header, extra_cols={"j_pt": np.ones(N_JETS)}))
    with caplog.at_level(logging.WARNING, logger="spikejet.data"):
        t = read(p)
    _assert_same(t, table.X, table.y)
    assert "ignored 1 column(s)" in caplog.text and "j_pt" in caplog.text


def test_csv_openml_export_with_quotes_and_shuffled_columns(tmp_path, table):
    order = list(reversed(FEATURE_NAMES))
    lines = [",".join(['"class"'] + [f'"{n}"' for n in order])]
    for i in range(N_JETS):
        vals = [repr(float(table.X[i, FEATURE_NAMES.index(n)])) for n in order]
        lines.append(",".join([f'"{CLASS_NAMES[table.y[i]]}"'] + vals))
    p = tmp_path / "openml.csv"
    p.write_text("\n".join(lines) + "\n")
    _assert_same(read(p), table.X, table.y)


def test_csv_missing_columns_named(tmp_path, table):
    header = [*FEATURE_NAMES, "class"]
    header[0] = "zlogz"
    header[14] = "mass"
    p = tmp_path / "x.csv"
    p.write_text(_csv_text(table.X, [CLASS_NAMES[c] for c in table.y], header=header))
    with pytest.raises(DataError, match=r"missing feature column\(s\) j_zlogz, j_mass_mmdt"):
        read(p)


def test_csv_missing_label_column(tmp_path, table):
    p = tmp_path / "x.csv"
    header = [*FEATURE_NAMES, "target"]
    p.write_text(_csv_text(table.X, table.y, header=header))
    with pytest.raises(DataError, match="no label column"):
        read(p)


def test_csv_unknown_class_labels_named(tmp_path, table):
    labels = [CLASS_NAMES[c] for c in table.y]
    labels[4] = "h"
    labels[9] = "top"
    labels[10] = "top"
    p = tmp_path / "x.csv"
    p.write_text(_csv_text(table.X, labels))
    with pytest.raises(DataError, match=r"3 rows have unknown class labels \('h', 'top'\)"):
        read(p)


def test_csv_integer_labels_out_of_range(tmp_path, table):
    labels = table.y.copy()
    labels[2] = 7
    p = tmp_path / "x.csv"
    p.write_text(_csv_text(table.X, labels, header=[*FEATURE_NAMES, "label"]))
    with pytest.raises(DataError, match=r"values: 7; first rows: 2"):
        read(p)


def test_csv_nan_rejected_or_dropped(tmp_path, table, caplog):
    X = table.X.copy()
    X[3, 1] = np.nan
    X[8, 5] = np.inf
    labels = [CLASS_NAMES[c] for c in table.y]
    p = tmp_path / "x.csv"
    p.write_text(_csv_text(X, labels).replace("nan", "NaN"))
    with pytest.raises(DataError, match=r"2 jets have NaN/inf features \(first rows: 3, 8\).*--drop-invalid"):
        read(p)
    t, rep = read_with_report(p, drop_invalid=True)
    assert len(t) == N_JETS - 2 and rep.n_dropped == 2 and rep.dropped_rows == (3, 8)
    assert "dropped 2 of 60 jets" in rep.messages()[0]
    keep = np.setdiff1d(np.arange(N_JETS), [3, 8])
    _assert_same(t, table.X[keep], table.y[keep])
    with caplog.at_level(logging.WARNING, logger="spikejet.data"):
        read(p, drop_invalid=True)
    assert "dropped 2 of 60 jets" in caplog.text


def test_csv_all_invalid(tmp_path, table):
    X = np.full_like(table.X[:3], np.nan)
    p = tmp_path / "x.csv"
    p.write_text(_csv_text(X, ["g", "q", "w"]))
    with pytest.raises(DataError, match="all 3 jets have NaN/inf"):
        read(p, drop_invalid=True)


def test_csv_empty_table_and_empty_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text(",".join([*FEATURE_NAMES, "class"]) + "\n")
    with pytest.raises(DataError, match="empty"):
        read(p)
    p.write_text("")
    with pytest.raises(DataError, match="empty"):
        read(p)


def test_csv_ragged_or_non_numeric(tmp_path, table):
    p = tmp_path / "x.csv"
    text = _csv_text(table.X, ["g"] * N_JETS)
    p.write_text(text + "1,2,3\n")
    with pytest.raises(DataError, match="cannot parse as CSV"):
        read(p)
    lines = text.splitlines()
    lines[5] = "abc" + lines[5][lines[5].index(","):]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="cannot parse as CSV.*invalid value 'abc'"):
        read(p)


# ----------------------------------------------------------------------- parquet


def _parquet(path, X, labels, extra=None):
    cols = {n: pa.array(X[:, j]) for j, n in enumerate(FEATURE_NAMES)}
    cols["class"] = pa.array(labels).dictionary_encode()
    cols.update(extra or {})
    pq.write_table(pa.table(cols), path)


def test_parquet_roundtrip_categorical_class(tmp_path, table, caplog):
    p = tmp_path / "x.parquet"
    _parquet(p, table.X, [CLASS_NAMES[c] for c in table.y], {"__index_level_0__": pa.array(np.arange(N_JETS))})
    t, rep = read_with_report(p)
    _assert_same(t, table.X, table.y)
    assert rep.format == "parquet" and rep.ignored_columns == ("__index_level_0__",)


def test_parquet_missing_columns(tmp_path, table):
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"j_zlogz": table.X[:, 0], "class": ["g"] * N_JETS}), p)
    with pytest.raises(DataError, match="missing feature column.*j_c1_b0_mmdt"):
        read(p)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.9])
def test_parquet_truncated(tmp_path, table, keep):
    p = tmp_path / "x.parquet"
    _parquet(p, table.X, ["g"] * N_JETS)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError, match="corrupt or truncated"):
        read(p)


# ----------------------------------------------------------------------- ARFF


def test_arff_roundtrip(tmp_path, table):
    p = tmp_path / "x.arff"
    _write_arff(p, table.X, [CLASS_NAMES[c] for c in table.y])
    t, rep = read_with_report(p)
    _assert_same(t, table.X, table.y)
    assert rep.format == "arff"


def test_arff_missing_values_and_drop(tmp_path, table):
    X = table.X.copy()
    X[7, 0] = np.nan
    p = tmp_path / "x.arff"
    _write_arff(p, X, [CLASS_NAMES[c] for c in table.y])
    with pytest.raises(DataError, match=r"1 jets have NaN/inf features \(first rows: 7\)"):
        read(p)
    assert len(read(p, drop_invalid=True)) == N_JETS - 1


def test_arff_broken(tmp_path, table):
    p = tmp_path / "x.arff"
    _write_arff(p, table.X[:3], ["g", "q", "x"])  # 'x' is not a declared nominal value
    with pytest.raises(DataError, match="ARFF"):
        read(p)


# ----------------------------------------------------------------------- Zenodo h5


def test_zenodo_h5(tmp_path, table):
    p = tmp_path / "jetImage_7_100p_0_10000.h5"
    _write_zenodo(p, table.X, table.y)
    t, rep = read_with_report(p)
    _assert_same(t, table.X, table.y)
    assert rep.format == "zenodo-h5"
    np.testing.assert_array_equal(t.extra["pt"], np.full(N_JETS, 1000.0, dtype=np.float32))
    assert sorted(t.extra) == ["eta", "mass", "pt"]


def test_zenodo_h5_without_names(tmp_path, table):
    p = tmp_path / "jetConstituentList_0.h5"
    _write_zenodo(p, table.X, table.y, with_names=False)
    t = read(p)
    _assert_same(t, table.X, table.y)
    assert t.extra == {}


def test_zenodo_h5_name_mismatch_is_named(tmp_path, table):
    names = list(ZENODO_NAMES)
    names[48] = "j_mass_trim"
    names[12] = "j_zlog"
    p = tmp_path / "z.h5"
    _write_zenodo(p, table.X, table.y, names=names)
    with pytest.raises(DataError, match=r"column 12 is 'j_zlog' \(expected 'j_zlogz'\); column 48 is 'j_mass_trim'"):
        read(p)


def test_zenodo_h5_not_one_hot(tmp_path, table):
    onehot = np.eye(5)[table.y]
    onehot[4] = 0  # no class: a row without a label, not a damaged one (test_data_quirks.py)
    onehot[11, :2] = 1  # two classes
    onehot[30, table.y[30]] = 0.5
    p = tmp_path / "z.h5"
    _write_zenodo(p, table.X, table.y, onehot=onehot)
    with pytest.raises(DataError, match=r"2 rows are not exactly one-hot.*first rows: 11, 30"):
        read(p)


def test_zenodo_h5_too_few_columns(tmp_path):
    p = tmp_path / "z.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("jets", data=np.zeros((4, 20)))
    with pytest.raises(DataError, match="20 columns"):
        read(p)


def test_zenodo_h5_nan_features(tmp_path, table):
    X = table.X.copy()
    X[2, 14] = np.nan
    p = tmp_path / "z.h5"
    _write_zenodo(p, X, table.y)
    with pytest.raises(DataError, match=r"first rows: 2\)"):
        read(p)
    t, rep = read_with_report(p, drop_invalid=True)
    assert rep.n_dropped == 1 and len(t) == N_JETS - 1 and len(t.extra["pt"]) == N_JETS - 1


# ----------------------------------------------------------------------- dispatch


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read(tmp_path / "nope.h5")
    with pytest.raises(DataError, match="directory"):
        read(tmp_path)


def test_unknown_extension(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("hello\n")
    with pytest.raises(DataError, match=r"unknown file type \.txt"):
        read(p)


def test_content_sniffing_for_unknown_extensions(tmp_path, table):
    write(table, tmp_path / "a.h5")
    (tmp_path / "a.h5").rename(tmp_path / "a.bin")
    assert detect_format(tmp_path / "a.bin") == "h5"
    _assert_same(read(tmp_path / "a.bin"), table.X, table.y)
    _parquet(tmp_path / "b.dat", table.X, ["g"] * N_JETS)
    assert detect_format(tmp_path / "b.dat") == "parquet"
    _write_arff(tmp_path / "c", table.X, ["g"] * N_JETS)
    assert detect_format(tmp_path / "c") == "arff"


def test_csv_duplicate_columns(tmp_path, table):
    p = tmp_path / "x.csv"
    header = [*FEATURE_NAMES, "class", "j_zlogz"]
    p.write_text(_csv_text(table.X, ["g"] * N_JETS, header=header[:-1], extra_cols={"j_zlogz": np.zeros(N_JETS)}))
    with pytest.raises(DataError, match="duplicate column name.*j_zlogz"):
        read(p)


def test_csv_gz(tmp_path, table):
    import gzip

    p = tmp_path / "x.csv.gz"
    p.write_bytes(gzip.compress(_csv_text(table.X, [CLASS_NAMES[c] for c in table.y]).encode()))
    _assert_same(read(p), table.X, table.y)


def test_write_rejects_non_table_and_foreign_names(tmp_path, table):
    with pytest.raises(DataError, match="JetTable"):
        write(table.X, tmp_path / "x.h5")  # type: ignore[arg-type]
    names = tuple(f"f{i}" for i in range(16))
    other = JetTable(table.X, table.y, feature_names=names)
    with pytest.raises(DataError, match="16 features"):
        write(other, tmp_path / "x.h5")


_finite_f32 = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(st.tuples(st.lists(_finite_f32, min_size=16, max_size=16), st.integers(0, 4)), min_size=1, max_size=40),
    suffix=st.sampled_from([".h5", ".csv"]),
)
def test_roundtrip_property(tmp_path, data, suffix):
    X = np.array([row for row, _ in data], dtype=np.float32)
    X[:, 15] = np.minimum(np.round(np.abs(X[:, 15])), 1e6)  # j_multiplicity is a count
    y = np.array([lab for _, lab in data])
    p = tmp_path / f"rt{suffix}"
    write(JetTable(X, y), p)
    t = read(p)
    # bit-for-bit, including -0.0 and subnormals
    np.testing.assert_array_equal(t.X.view(np.uint32), X.view(np.uint32))
    np.testing.assert_array_equal(t.y, y)


def test_parquet_non_numeric_feature(tmp_path, table):
    cols = {n: pa.array(table.X[:, j]) for j, n in enumerate(FEATURE_NAMES)}
    cols["j_multiplicity"] = pa.array(["many"] * N_JETS)
    cols["class"] = pa.array(["g"] * N_JETS)
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table(cols), p)
    with pytest.raises(DataError, match="'j_multiplicity' is not numeric"):
        read(p)


def test_arff_quoted_names_and_values(tmp_path, table):
    """OpenML writes quoted attribute names and nominal values."""
    lines = ["@relation 'hls4ml_lhc_jets_hlf'"] + [f"@attribute '{n}' real" for n in FEATURE_NAMES]
    lines += ["@attribute 'class' {'g','q','t','w','z'}", "@data"]
    lines += [",".join([*map(repr, map(float, table.X[i])), f"'{CLASS_NAMES[table.y[i]]}'"]) for i in range(N_JETS)]
    p = tmp_path / "openml.arff"
    p.write_text("\n".join(lines) + "\n")
    _assert_same(read(p), table.X, table.y)
