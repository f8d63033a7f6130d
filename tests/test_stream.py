"""Chunked and Dask evaluation (``spikejet evaluate --chunk-size / --scheduler``) give the
in-memory metrics; the chunked reader refuses bad files with one clear error."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from spikejet.ann.model import MLP
from spikejet.cli import main
from spikejet.data import JetTable, write
from spikejet.data.stream import chunk_ranges, iter_chunks, open_h5, read_rows
from spikejet.errors import ConfigError, DataError
from spikejet.models.file import ModelBundle, save_bundle
from spikejet.run import stream as S
from spikejet.snn.bundle import save_network
from spikejet.snn.network import Layer, SpikingNetwork
from spikejet.snn.neurons import IFParams

N_JETS = 700


@pytest.fixture(autouse=True)
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="module")
def jets(tmp_path_factory):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 5, N_JETS)
    X = (rng.normal(size=(5, 16))[y] + rng.normal(size=(N_JETS, 16))).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]) * 10)  # j_multiplicity is a count
    p = tmp_path_factory.mktemp("data") / "jets.h5"
    write(JetTable(X, y), p)
    return p, X, y


def _names():
    from spikejet.data import CLASS_NAMES, FEATURE_NAMES

    return tuple(FEATURE_NAMES), tuple(CLASS_NAMES)


@pytest.fixture(scope="module")
def models(jets, tmp_path_factory):
    _, X, _ = jets
    feats, classes = _names()
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    ann = MLP((16, 12, 5))
    scaler = {"mean": X.mean(0).tolist(), "scale": X.std(0).tolist()}
    save_bundle(d / "ann.pt", ModelBundle(model=ann, scaler=scaler, feature_names=feats, class_names=classes,
                                          data_class_names=classes, kind="ann", config={"seed": 1}))
    rng = np.random.default_rng(1)
    sizes = (16, 24, 12, 5)
    layers = tuple(Layer(rng.normal(0, 0.8, size=(b, a)).astype(np.float32), rng.normal(0.1, 0.1, b).astype(np.float32),
                         IFParams(1.0, "subtract") if i < 2 else None, name=f"fc{i}")
                   for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)))
    net = SpikingNetwork(layers, feature_names=feats, class_names=classes, scaler=scaler)
    save_network(d / "snn.pt", net, 12, config={"seed": 1})
    return {"ann": d / "ann.pt", "snn": d / "snn.pt"}


def _metrics(out):
    m = json.loads((out / "metrics.json").read_text())
    return {k: v for k, v in m.items() if k not in ("timings",)}


@pytest.fixture(scope="module")
def whole(jets, models, tmp_path_factory):
    """The in-memory metrics of each model (computed once: a report takes seconds)."""
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = _evaluate(models[kind], jets[0], tmp_path_factory.mktemp("whole") / kind)
        return cache[kind]

    return get


def _flat(d, path=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flat(v, f"{path}/{k}")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _flat(v, f"{path}[{i}]")
    else:
        yield path, d


def assert_same_metrics(a, b, kind):
    """ANN: identical. SNN: chunks run on the engine, the in-memory run on the reference simulator;
    their scores agree to float32 rounding (docs/snn.md), so counts agree exactly here and the
    AUCs (which rank scores) to 1e-4."""
    if kind == "ann":
        assert a == b
        return
    fa, fb = dict(_flat(a)), dict(_flat(b))
    assert fa.keys() == fb.keys()
    for k, v in fa.items():
        if isinstance(v, float) and ("/auc" in k or "rejection" in k):
            assert v == pytest.approx(fb[k], rel=1e-3, abs=1e-4), k
        else:
            assert v == fb[k], k


def _evaluate(model, data, out, *extra):
    assert main(["evaluate", str(model), "--data", str(data), "--out", str(out), "--quiet", *extra]) == 0
    return _metrics(out)


# ------------------------------------------------------------------------- the reader


def test_chunks_cover_the_file_in_order(jets):
    p, X, y = jets
    lay = open_h5(p)
    assert lay.n_rows == N_JETS and len(lay.feature_names) == 16
    parts = list(iter_chunks(p, 256))
    assert [len(c[1]) for c in parts] == [256, 256, 188]
    np.testing.assert_array_equal(np.concatenate([c[0] for c in parts]), X)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in parts]), y)
    assert chunk_ranges(N_JETS, 300) == [(0, 300), (300, 600), (600, 700)]
    Xr, yr = read_rows(p, 300, 310)
    np.testing.assert_array_equal(Xr, X[300:310])
    np.testing.assert_array_equal(yr, y[300:310])


def test_reader_refuses_bad_files_and_sizes(jets, tmp_path):
    p, X, y = jets
    with pytest.raises(ConfigError, match="chunk size"):
        iter_chunks(p, 0)
    with pytest.raises(DataError, match="no such file"):
        iter_chunks(tmp_path / "missing.h5", 10)
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match="not an HDF5 file"):
        open_h5(tmp_path / "a.csv")
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(DataError, match="corrupt or truncated"):
        open_h5(trunc)
    with h5py.File(tmp_path / "zenodo.h5", "w") as f:
        f["jets"] = np.zeros((3, 4))
    with pytest.raises(DataError, match="Zenodo.*convert"):
        open_h5(tmp_path / "zenodo.h5")
    bad = X.copy()
    bad[450, 3] = np.nan
    write(JetTable(X, y), tmp_path / "nan.h5")
    with h5py.File(tmp_path / "nan.h5", "r+") as f:
        f["X"][450] = bad[450]
    chunks = iter_chunks(tmp_path / "nan.h5", 200)
    next(chunks), next(chunks)
    with pytest.raises(DataError, match=r"NaN/inf features \(rows: 450\)"):
        next(chunks)
    with h5py.File(tmp_path / "nan.h5", "r+") as f:
        del f["y"]
    with pytest.raises(DataError, match="missing dataset 'y'"):
        open_h5(tmp_path / "nan.h5")


# ------------------------------------------------------- chunked == in memory, locally and on Dask


@pytest.mark.parametrize("kind", ["ann", "snn"])
def test_chunked_evaluation_gives_the_in_memory_metrics(jets, models, whole, tmp_path, kind):
    chunked = _evaluate(models[kind], jets[0], tmp_path / "chunked", "--chunk-size", "128")
    assert_same_metrics(chunked, whole(kind), kind)
    assert all("accuracy" in entry for entry in chunked.values())


@pytest.mark.parametrize("kind", ["ann", "snn"])
def test_dask_evaluation_gives_the_same_scores(jets, models, kind):
    from distributed import Client, LocalCluster

    p = jets[0]
    local = S.stream_scores(models[kind], p, chunk_size=100)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster):
        on_dask = S.stream_scores(models[kind], p, chunk_size=100, scheduler=cluster.scheduler_address)
    assert local.n_chunks == on_dask.n_chunks == 7
    np.testing.assert_array_equal(local.labels, on_dask.labels)
    np.testing.assert_array_equal(local.scores, on_dask.scores)
    np.testing.assert_array_equal(local.class_counts, np.bincount(jets[2], minlength=5))
    if kind == "snn":  # the chunks give the engine's one-call result exactly
        from spikejet.snn import engine
        from spikejet.snn.bundle import load_network

        net, T, _ = load_network(models[kind])
        one = engine.simulate(net, net.standardize(jets[1]), T, steps=[T]).scores
        np.testing.assert_array_equal(local.scores, S._softmax(one))


def test_dask_cli_gives_the_in_memory_metrics(jets, models, whole, tmp_path):
    from distributed import LocalCluster

    p = jets[0]
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        on_dask = _evaluate(models["snn"], p, tmp_path / "dask", "--chunk-size", "200",
                            "--scheduler", cluster.scheduler_address)
    assert_same_metrics(on_dask, whole("snn"), "snn")


def test_bad_scheduler_address_is_one_error_line(jets, models, tmp_path):
    cmd = [sys.executable, "-c", "import sys; from spikejet.cli import main; "
           "from spikejet.run import stream; stream.CONNECT_TIMEOUT_S = 1.0; sys.exit(main(sys.argv[1:]))",
           "evaluate", str(models["ann"]), "--data", str(jets[0]), "--out", str(tmp_path / "o"),
           "--quiet", "--scheduler", "tcp://127.0.0.1:9"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("spikejet: error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")


def test_chunked_evaluation_refuses_a_non_h5_file(models, tmp_path, capsys):
    (tmp_path / "j.csv").write_text("a,b\n1,2\n")
    assert main(["evaluate", str(models["ann"]), "--data", str(tmp_path / "j.csv"), "--out",
                 str(tmp_path / "o"), "--quiet", "--chunk-size", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an HDF5 file" in err[0]
