from __future__ import annotations

import json
import urllib.error

import h5py
import numpy as np
import pytest

import spikejet.data.default as default_mod
from spikejet.cli import main
from spikejet.data import CLASS_NAMES, FEATURE_NAMES, JetTable, read, read_provenance, write

MASS = FEATURE_NAMES.index("j_mass_mmdt")


@pytest.fixture
def table(rng) -> JetTable:
    n = 500
    y = np.arange(n) % 5
    X = np.abs(rng.normal(size=(n, 16))).astype(np.float32)
    X[:, MASS] = np.abs(rng.normal(np.array([30, 15, 80, 91, 175])[y], 5))
    X[:, 15] = np.round(X[:, 15] * 10)  # j_multiplicity is a count
    return JetTable(X, y, extra={"pt": rng.uniform(900, 1100, n)})


@pytest.fixture
def h5file(tmp_path, table):
    p = tmp_path / "jets.h5"
    write(table, p, provenance={"generator": "test"})
    return p


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("spikejet: error: ")
    return err[0]


def test_info_prints_counts_peaks_and_writes_json(h5file, tmp_path, capsys):
    js = tmp_path / "s.json"
    assert main(["data", "info", str(h5file), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "jets: 500" in out and "W boson" in out
    summary = json.loads(js.read_text())
    assert summary["counts"] == {c: 100 for c in CLASS_NAMES}
    assert summary["mass_peaks_gev"]["w"] == pytest.approx(80, abs=5)


def test_info_default(monkeypatch, h5file, capsys):
    monkeypatch.setattr(default_mod, "default_sample_path", lambda: h5file)
    assert main(["data", "info", "default"]) == 0
    assert "jets: 500" in capsys.readouterr().out


def test_info_default_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(default_mod, "default_sample_path", lambda: tmp_path / "jets.h5")
    assert main(["data", "info", "default"]) == 2
    assert "is missing" in _one_line_error(capsys)


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("nope.h5", None, "no such file"),
        ("x.txt", "hello", "unknown file type"),
        ("x.csv", ",".join(FEATURE_NAMES[1:]) + ",class\n" + "1," * 15 + "g", "missing feature column"),
        ("x.h5", "garbage", "corrupt"),
    ],
)
def test_info_bad_input_one_line(tmp_path, capsys, name, content, match):
    p = tmp_path / name
    if content is not None:
        p.write_text(content)
    assert main(["data", "info", str(p)]) == 2
    assert match in _one_line_error(capsys)


def test_info_drop_invalid_reports(tmp_path, table, capsys):
    X = table.X.copy()
    X[[4, 9, 200], 3] = np.nan
    p = tmp_path / "x.csv"
    lines = [",".join([*FEATURE_NAMES, "class"])]
    lines += [",".join([*map(repr, map(float, X[i])), CLASS_NAMES[table.y[i]]]) for i in range(len(X))]
    p.write_text("\n".join(lines) + "\n")
    assert main(["data", "info", str(p)]) == 2
    assert "3 jets have NaN/inf features (first rows: 4, 9, 200)" in _one_line_error(capsys)
    assert main(["data", "info", str(p), "--drop-invalid"]) == 0
    cap = capsys.readouterr()
    assert "dropped 3 of 500 jets" in cap.err and "jets: 497" in cap.out


def test_plot(h5file, tmp_path, capsys):
    out = tmp_path / "figs" / "features.png"
    assert main(["data", "plot", str(h5file), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["data", "plot", str(h5file), "--out", str(tmp_path / "f.pdf")]) == 2
    assert ".png" in _one_line_error(capsys)


def test_convert_h5_to_csv_and_back(h5file, tmp_path, table, capsys):
    csv = tmp_path / "out.csv"
    back = tmp_path / "back.h5"
    assert main(["data", "convert", str(h5file), str(csv)]) == 0
    assert main(["data", "convert", str(csv), str(back)]) == 0
    t = read(back)
    np.testing.assert_array_equal(t.X, table.X)
    np.testing.assert_array_equal(t.y, table.y)
    prov = read_provenance(back)
    assert prov["converted_from"]["format"] == "csv" and prov["converted_from"]["jets_read"] == 500


def test_convert_keeps_constituents_and_provenance(tmp_path, table, rng):
    cons = rng.normal(size=(len(table), 100, 4)).astype(np.float32)
    t = JetTable(table.X, table.y, extra={"constituents": cons, "n_constituents": np.full(len(table), 100)})
    src = tmp_path / "a.h5"
    write(t, src, provenance={"generator": "pythia"})
    dst = tmp_path / "b.h5"
    assert main(["data", "convert", str(src), str(dst)]) == 0
    with h5py.File(dst) as f:
        np.testing.assert_array_equal(f["constituents"][()], cons)
    prov = read_provenance(dst)
    assert prov["generator"] == "pythia" and prov["converted_from"]["format"] == "spikejet-h5"


def test_convert_bad_output(h5file, tmp_path, capsys):
    assert main(["data", "convert", str(h5file), str(tmp_path / "x.json")]) == 2
    assert "use .h5" in _one_line_error(capsys)
    assert not (tmp_path / "x.json").exists()


def test_fetch_openml_offline(monkeypatch, capsys):
    import sklearn.datasets

    def offline(**kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    assert main(["data", "fetch", "openml"]) == 2
    assert "could not fetch OpenML dataset 42468" in _one_line_error(capsys)


def test_fetch_openml_writes_out(monkeypatch, tmp_path, rng, capsys):
    from types import SimpleNamespace

    import sklearn.datasets

    bunch = SimpleNamespace(
        data=np.abs(np.round(rng.normal(size=(20, 16)) * 10)), feature_names=list(FEATURE_NAMES),
        target=np.array([CLASS_NAMES[i % 5] for i in range(20)], dtype=object),
    )
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda **kw: bunch)
    out = tmp_path / "openml.h5"
    assert main(["data", "fetch", "openml", "--out", str(out)]) == 0
    assert "20 jets (g=4, q=4, w=4, z=4, t=4)" in capsys.readouterr().out
    assert len(read(out)) == 20 and read_provenance(out)["data_id"] == 42468


def test_data_requires_action(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data"])
    assert exc.value.code == 2
