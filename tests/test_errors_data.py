"""Bad data files, bad output paths and killed generators (issue 11, the data part).

* readers: random and mutated files in every readable format give a table or a
  SpikejetError, never another exception (hypothesis);
* a CLI matrix: every bad-input class x every command that reads data ends with exit
  code 2 and exactly one ``spikejet: error:`` line, with advice that fits the command;
* ``generate``: a bad scheduler fails at once; killing it leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikejet.cli import main
from spikejet.data import JetTable, read, write
from spikejet.data.schema import (
    CLASS_LABELS,
    CLASS_NAMES,
    FEATURE_NAMES,
    PARTICLE_FIELDS,
    ZENODO_FEATURE_COLUMNS,
)
from spikejet.errors import DataError, SpikejetError

N = 400
QUICK = ["--quick", "--quiet", "--seed", "3"]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _features(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 5
    X = (np.abs(rng.normal(size=(5, 16))[y] + rng.normal(size=(n, 16))) * 3).astype(np.float32)
    X[:, 15] = np.round(X[:, 15] * 5 + 1)  # j_multiplicity is a count
    return X, y


def _csv_text(X: np.ndarray, labels: list[str], names: list[str] | None = None) -> str:
    names = list(FEATURE_NAMES) + ["class"] if names is None else names
    rows = [",".join(names)] + [",".join([*(repr(float(v)) for v in X[i]), labels[i]]) for i in range(len(X))]
    return "\n".join(rows) + "\n"


def _arff_text(X: np.ndarray, labels: list[str]) -> str:
    head = ["@relation jets", *(f"@attribute {f} numeric" for f in FEATURE_NAMES),
            "@attribute class {g,q,w,z,t}", "@data"]
    return "\n".join(head + [",".join([*map(repr, X[i].tolist()), labels[i]]) for i in range(len(X))]) + "\n"


def _zenodo(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    jets = np.zeros((len(X), 59), dtype=np.float64)
    jets[:, list(ZENODO_FEATURE_COLUMNS)] = X
    jets[:, -6:-1] = np.eye(5)[y]
    names = [f"c{i}" for i in range(59)]
    for c, f in zip(ZENODO_FEATURE_COLUMNS, FEATURE_NAMES, strict=True):
        names[c] = f
    names[-6:-1] = CLASS_LABELS
    with h5py.File(path, "w") as f:
        f.create_dataset("jets", data=jets)
        f.create_dataset("jetFeatureNames", data=np.array([s.encode() for s in names]))


def _sources(d: Path, X: np.ndarray, y: np.ndarray) -> dict[str, Path]:
    """One valid file per readable format (and layout)."""
    labels = [CLASS_NAMES[c] for c in y]
    n, P = len(X), 4
    rng = np.random.default_rng(1)
    mask = np.arange(P)[None, :] < rng.integers(1, P + 1, n)[:, None]
    parts = np.zeros((n, P, len(PARTICLE_FIELDS)), dtype=np.float32)
    parts[..., 0] = rng.exponential(20.0, (n, P))
    parts[..., 4] = rng.integers(-1, 2, (n, P))
    parts[~mask] = 0.0
    out = {"own.h5": d / "own.h5", "particles.h5": d / "particles.h5", "jets.csv": d / "jets.csv",
           "jets.parquet": d / "jets.parquet", "jets.arff": d / "jets.arff", "zenodo.h5": d / "zenodo.h5"}
    write(JetTable(X, y, extra={"pt": np.arange(n, dtype=np.float32)}), out["own.h5"], provenance={"a": 1})
    write(JetTable(X, y, particles=parts, particle_mask=mask, particle_fields=PARTICLE_FIELDS),
          out["particles.h5"])
    out["jets.csv"].write_text(_csv_text(X, labels))
    cols = {f: X[:, j].astype(np.float64) for j, f in enumerate(FEATURE_NAMES)}
    pq.write_table(pa.table({**cols, "class": labels}), out["jets.parquet"])
    out["jets.arff"].write_text(_arff_text(X, labels))
    _zenodo(out["zenodo.h5"], X, y)
    return out


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict[str, Path]:
    X, y = _features(np.random.default_rng(7), 30)
    return _sources(tmp_path_factory.mktemp("good"), X, y)


def test_every_source_format_reads(good):
    for name, p in good.items():
        t = read(p, particles=True)
        assert len(t) == 30, name
        assert t.has_particles == (name == "particles.h5")


def _read_or_spikejet_error(p: Path) -> None:
    for particles in (False, True):
        try:
            t = read(p, particles=particles, constituents=particles)
        except SpikejetError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip(), repr(exc)
        else:
            assert isinstance(t, JetTable) and len(t) > 0
            assert np.isfinite(t.X).all()


_MUTATION = st.one_of(
    st.just(("zero", 0, b"")),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(b"")),
    st.tuples(st.just("flip"), st.integers(0, 2**31), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("random"), st.just(0), st.binary(min_size=1, max_size=3000)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["own.h5", "particles.h5", "jets.csv", "jets.parquet", "jets.arff", "zenodo.h5"]),
       mutation=_MUTATION)
def test_mutated_files_read_or_raise_a_spikejet_error(good, tmp_path, name, mutation):
    kind, arg, data = mutation
    raw = bytearray(good[name].read_bytes())
    if kind == "zero":
        raw = bytearray()
    elif kind == "truncate":
        raw = raw[: int(arg * len(raw))]
    elif kind == "flip":
        pos = arg % len(raw)
        raw[pos:pos + len(data)] = data
    else:
        raw = bytearray(data)
    p = tmp_path / f"m-{name}"
    p.write_bytes(bytes(raw))
    _read_or_spikejet_error(p)


_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 3.5e38, -3.0, 0.5, 1e-320]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fmt=st.sampled_from(["csv", "parquet", "arff", "h5", "zenodo"]),
    cells=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 15), _VALUE), max_size=6),
    drop_col=st.one_of(st.none(), st.integers(0, 16)),
    extra_col=st.booleans(),
    label=st.one_of(st.none(), st.sampled_from(["x", "", "?", "7", "-1", "W", "j_w"])),
)
def test_crafted_values_and_columns_read_or_raise(tmp_path, fmt, cells, drop_col, extra_col, label):
    """Wrong, missing and extra columns; NaN/inf/huge/negative values; unknown labels."""
    X, y = _features(np.random.default_rng(3), 10)
    X = X.astype(np.float64)
    for r, c, v in cells:
        X[r, c] = v
    labels = [CLASS_NAMES[c] for c in y]
    if label is not None:
        labels[4] = label
    names = list(FEATURE_NAMES) + ["class"]
    cols = {n: (X[:, j] if j < 16 else np.array(labels, dtype=object)) for j, n in enumerate(names)}
    if drop_col is not None:
        cols.pop(names[drop_col])
    if extra_col:
        cols["j_extra"] = np.ones(len(X))
    p = tmp_path / f"v.{ {'zenodo': 'h5'}.get(fmt, fmt)}"
    if fmt == "csv":
        head = list(cols)
        body = [",".join(str(cols[h][i]) for h in head) for i in range(len(X))]
        p.write_text("\n".join([",".join(head), *body]) + "\n")
    elif fmt == "parquet":
        pq.write_table(pa.table({k: (list(v) if v.dtype == object else v) for k, v in cols.items()}), p)
    elif fmt == "arff":
        head = ["@relation v"] + [f"@attribute {k} " + ("{g,q,w,z,t}" if k == "class" else "numeric")
                                   for k in cols] + ["@data"]
        body = [",".join(str(cols[k][i]) for k in cols) for i in range(len(X))]
        p.write_text("\n".join(head + body) + "\n")
    elif fmt == "h5":
        with h5py.File(p, "w") as f:
            f.attrs["format"] = "spikejet-jets"
            f.attrs["format_version"] = 1
            f.attrs["feature_names"] = np.array([s.encode() for s in FEATURE_NAMES])
            f.attrs["class_names"] = np.array([s.encode() for s in CLASS_NAMES])
            f["X"] = X if drop_col is None else np.delete(X, min(drop_col, 15), axis=1)
            f["y"] = y if label is None else np.where(np.arange(len(y)) == 4, 9, y)
    else:
        _zenodo(p, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no raw numpy warnings before the answer
        _read_or_spikejet_error(p)


def test_impossible_values_are_named(tmp_path):
    X, y = _features(np.random.default_rng(4), 20)
    X = X.astype(np.float64)
    X[2, 14] = 1e308
    X[5, 15] = -3
    X[6, 15] = 2.5
    labels = [CLASS_NAMES[c] for c in y]
    p = tmp_path / "bad.csv"
    p.write_text(_csv_text(X, labels))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(DataError) as info:
            read(p)
    msg = str(info.value)
    assert "overflow float32" in msg and "j_mass_mmdt = 1e+308" in msg and "NaN/inf" not in msg
    assert "1 jets have a negative j_multiplicity" in msg and "(first rows: 5)" in msg
    assert "1 jets have a non-integer j_multiplicity" in msg and "(first rows: 6)" in msg
    t = read(p, drop_invalid=True)
    assert len(t) == 17 and np.isfinite(t.X).all()


def test_float32_max_as_text_is_not_an_overflow(tmp_path):
    """float32's largest value, written as its shortest decimal, reads back exactly."""
    X, y = _features(np.random.default_rng(4), 5)
    X[1, 3] = np.finfo(np.float32).max
    p = tmp_path / "edge.csv"
    p.write_text(_csv_text(X, [CLASS_NAMES[c] for c in y]).replace(repr(float(X[1, 3])), "3.4028235e+38"))
    assert read(p).X[1, 3] == np.finfo(np.float32).max


# --------------------------------------------------------------------------- the CLI matrix


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A complete train-ann run (ann.pt) and a spiking model converted from it (snn.pt)."""
    d = tmp_path_factory.mktemp("models")
    X, y = _features(np.random.default_rng(5), N)
    data = d / "jets.h5"
    write(JetTable(X, y), data)
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train-ann", "--data", str(data), "--out", str(d / "run"), *QUICK]) == 0
        assert main(["convert", str(d / "run" / "ann.pt"), "--out", str(d / "run" / "snn.pt"), "--method",
                     "snntoolbox", "--timesteps", "8", "--quiet"]) == 0
    finally:
        torch.set_num_threads(prev)
    return d / "run"


def _bad_inputs(d: Path, good: dict[str, Path]) -> dict[str, Path]:
    """One file per bad-input class."""
    X, y = _features(np.random.default_rng(6), 30)
    labels = [CLASS_NAMES[c] for c in y]
    out: dict[str, Path] = {}

    def text(name: str, body: str) -> None:
        out[name] = d / name
        out[name].write_text(body)

    for ext in ("csv", "arff", "h5", "parquet"):
        (d / f"zero.{ext}").write_bytes(b"")
        out[f"zero.{ext}"] = d / f"zero.{ext}"
    out["random.h5"] = d / "random.h5"
    out["random.h5"].write_bytes(np.random.default_rng(0).bytes(2000))
    out["random.csv"] = d / "random.csv"
    out["random.csv"].write_bytes(b"\x89\xfe" + np.random.default_rng(1).bytes(500))
    for name in ("own.h5", "jets.parquet", "jets.arff"):
        raw = good[name].read_bytes()
        out[f"truncated-{name}"] = d / f"truncated-{name}"
        out[f"truncated-{name}"].write_bytes(raw[: len(raw) // 2])
    text("truncated.csv", _csv_text(X, labels)[:700])
    text("wrong-columns.csv", _csv_text(X, labels, [f"f{i}" for i in range(16)] + ["class"]))
    Xn = X.copy()
    Xn[3, 2] = np.nan
    text("nan.csv", _csv_text(Xn, labels))
    Xh = X.astype(np.float64)
    Xh[4, 14] = 1e308
    text("huge.csv", _csv_text(Xh, labels))
    Xm = X.copy()
    Xm[1, 15] = -4
    text("negative-multiplicity.csv", _csv_text(Xm, labels))
    text("unknown-labels.csv", _csv_text(X, ["x" if i == 2 else lab for i, lab in enumerate(labels)]))
    text("unlabelled.csv", _csv_text(X, ["" if i == 2 else lab for i, lab in enumerate(labels)]))
    return out


@pytest.fixture(scope="module")
def bad(tmp_path_factory, good):
    return _bad_inputs(tmp_path_factory.mktemp("bad"), good)


#: Every command that reads a data file: argv with {data}, {out} and the models' run folder {run}.
COMMANDS = {
    "data info": ["data", "info", "{data}"],
    "data plot": ["data", "plot", "{data}", "--out", "{out}/f.png"],
    "data convert": ["data", "convert", "{data}", "{out}/c.h5"],
    "train-ann": ["train-ann", "--data", "{data}", "--out", "{out}/r", *QUICK],
    "run": ["run", "--data", "{data}", "--out", "{out}/r", *QUICK],
    "evaluate": ["evaluate", "{run}/ann.pt", "--data", "{data}", "--out", "{out}/e", "--quiet"],
    "deploy": ["deploy", "{run}/snn.pt", "--target", "loihi", "--data", "{data}", "--out", "{out}/d", "--quiet"],
    "convert": ["convert", "{run}/ann.pt", "--data", "{data}", "--out", "{out}/s.pt", "--method", "snntoolbox",
                "--timesteps", "8", "--quiet"],
}
BAD_CLASSES = ["zero.csv", "zero.arff", "zero.h5", "zero.parquet", "random.h5", "random.csv", "truncated-own.h5",
               "truncated-jets.parquet", "truncated-jets.arff", "truncated.csv", "wrong-columns.csv", "nan.csv",
               "huge.csv", "negative-multiplicity.csv", "unknown-labels.csv", "unlabelled.csv"]
#: What the advice for droppable rows says, per command: only 'data' has the flags.
ADVICE = {"data": "pass --drop-", "train-ann": "data: {drop_", "run": "data: {drop_",
          "evaluate": "spikejet data convert FILE clean.h5 --drop-", "deploy": "spikejet data convert FILE clean.h5",
          "convert": "spikejet data convert FILE clean.h5"}


def _argv(cmd: str, **kw: str) -> list[str]:
    return [a.format(**kw) for a in COMMANDS[cmd]]


def _one_error_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("spikejet: error: "), err
    return err[0]


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_bad_data_matrix(cmd, bad, models, tmp_path, capsys, one_torch_thread):
    for name in BAD_CLASSES:
        out = tmp_path / name
        rc = main(_argv(cmd, data=str(bad[name]), out=str(out), run=str(models)))
        line = _one_error_line(capsys)
        assert rc == 2, (cmd, name, line)
        assert str(bad[name]) in line or bad[name].name in line, (cmd, name, line)
        if name in ("nan.csv", "huge.csv", "negative-multiplicity.csv", "unlabelled.csv"):
            assert ADVICE[cmd.split()[0]] in line, (cmd, name, line)
            if not cmd.startswith("data"):
                assert "pass --drop" not in line, (cmd, name, line)
        if name == "huge.csv":
            assert "overflow float32" in line and "NaN/inf" not in line, line
        if name == "negative-multiplicity.csv":
            assert "negative j_multiplicity" in line, line


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_bad_output_paths_matrix(cmd, good, models, tmp_path, capsys, one_torch_thread):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = _argv(cmd, data=str(good["own.h5"]), out=str(blocker), run=str(models))
    if cmd == "data info":
        argv += ["--json", str(blocker / "s.json")]
    assert main(argv) == 2
    assert "is a file" in _one_error_line(capsys)
    assert blocker.read_text() == "x"


def test_existing_directory_where_a_file_is_expected(good, tmp_path, capsys):
    d = tmp_path / "d.h5"
    d.mkdir()
    png = tmp_path / "p.png"
    png.mkdir()
    for argv in (["data", "convert", str(good["own.h5"]), str(d)], ["data", "info", str(good["own.h5"]), "--json",
                 str(d)], ["data", "plot", str(good["own.h5"]), "--out", str(png)],
                 ["generate", "--jets-per-class", "2", "--classes", "q", "--out", str(d), "--quiet"]):
        assert main(argv) == 2, argv
        assert "is a directory" in _one_error_line(capsys)


def test_convert_to_csv_says_what_it_leaves_out(good, tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["data", "convert", str(good["particles.h5"]), str(out)]) == 0
    err = capsys.readouterr().err
    assert "not written: the particles (4 per jet" in err and "the provenance" in err
    assert main(["data", "convert", str(good["own.h5"]), str(tmp_path / "y.csv")]) == 0
    assert "1 extra column(s) (pt)" in capsys.readouterr().err


# --------------------------------------------------------------------------- generate


def test_generate_refuses_csv_and_repeated_classes(tmp_path, capsys):
    base = ["generate", "--jets-per-class", "2", "--quiet"]
    assert main([*base, "--classes", "q", "--out", str(tmp_path / "x.csv")]) == 2
    assert "data convert x.h5 x.csv" in _one_error_line(capsys)
    assert main([*base, "--classes", "w,w", "--out", str(tmp_path / "x.h5")]) == 2
    assert "'w' is given twice" in _one_error_line(capsys)
    assert not list(tmp_path.iterdir())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["not-an-address", "ucx://host:1", "tcp://127.0.0.1:{port}"])
def test_generate_bad_scheduler_fails_at_once(address, tmp_path):
    address = address.format(port=_free_port())
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "spikejet", "generate", "--jets-per-class", "2", "--classes", "q", "--quiet",
         "--out", str(tmp_path / "x.h5"), "--scheduler", address],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=SRC),
    )
    assert time.monotonic() - t0 < 30
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("spikejet: error: "), res.stderr


def _alive(proc) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killing_generate_leaves_no_process_behind(sig, tmp_path):
    psutil = pytest.importorskip("psutil")
    cmd = [sys.executable, "-m", "spikejet", "generate", "--jets-per-class", "400", "--classes", "q,g",
           "--chunk-size", "20", "--workers", "2", "--quiet", "--out", str(tmp_path / "x.h5")]
    # SIGINT at its default in the child: a suite started in the background by a non-interactive shell
    # ignores SIGINT, and the child would inherit that (Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen(cmd, env=dict(os.environ, PYTHONPATH=SRC), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_default_sigint)
    kids: list = []
    try:
        main_proc = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            kids = main_proc.children(recursive=True)
            if len(kids) >= 3:  # the forkserver and two workers (and the resource tracker)
                break
            time.sleep(0.05)
        assert len(kids) >= 3, "generate never started its workers"
        time.sleep(0.5)
        kids = main_proc.children(recursive=True)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.05)
        left = [k.pid for k in kids if _alive(k)]
        assert not left, f"processes left behind after {sig!r}: {left}"
        if sig != signal.SIGKILL:
            assert proc.returncode == 130
    finally:  # never leave this test's own processes running, whatever failed
        for k in kids:
            if _alive(k):
                k.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
