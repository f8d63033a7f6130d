"""Bad input gets one error line and exit 2; run directories tell the truth (issue 11).

Every fixture is written here: a small jet file, a trained ANN (train-ann on it), crafted
model files and configs.
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikejet.cli import main
from spikejet.data import JetTable, write
from spikejet.errors import ConfigError, ModelError, SpikejetError
from spikejet.models.file import load_bundle, save_bundle
from spikejet.run.rundir import LOCK_FILE, RunDir

N_JETS = 600
QUICK_ANN = ["--quick", "--quiet", "--seed", "2"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _table(n: int, seed: int, n_classes: int = 5) -> JetTable:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = (rng.normal(size=(5, 16))[y] + rng.normal(size=(n, 16))).astype(np.float32)
    X[:, -1] = np.round(np.abs(X[:, -1]) * 10 + 1)  # j_multiplicity is a count
    return JetTable(X, y)


@pytest.fixture(scope="module")
def jets_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "jets.h5"
    write(_table(N_JETS, 5), p)
    return p


@pytest.fixture(scope="module")
def ann_run(jets_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ann"
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    assert main(["train-ann", "--data", str(jets_file), "--out", str(out), *QUICK_ANN]) == 0
    torch.set_num_threads(prev)
    return out


def _one_error_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("spikejet: error: "), err
    return err[0]


# --------------------------------------------------------------------------- output paths


@pytest.mark.parametrize("where", ["below_file", "read_only"])
def test_output_paths_are_checked_before_the_work(where, jets_file, ann_run, tmp_path, capsys):
    if where == "below_file":
        blocker = tmp_path / "file"
        blocker.write_text("x")
        out = blocker / "sub"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere: a read-only directory does not stop it")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        out = ro / "sub"
    commands = [
        ["run", "--data", str(jets_file), "--out", str(out), *QUICK_ANN],
        ["train-ann", "--data", str(jets_file), "--out", str(out), *QUICK_ANN],
        ["evaluate", str(ann_run / "ann.pt"), "--data", str(jets_file), "--out", str(out), "--quiet"],
        ["convert", str(ann_run / "ann.pt"), "--out", str(out / "snn.pt"), "--quiet"],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        line = _one_error_line(capsys)
        assert str(out.parent) in line or str(out) in line, line
    assert not out.exists()


def test_out_naming_a_file_where_a_directory_is_expected(jets_file, tmp_path, capsys):
    f = tmp_path / "f.txt"
    f.write_text("keep me")
    assert main(["train-ann", "--data", str(jets_file), "--out", str(f), *QUICK_ANN]) == 2
    assert "is a file" in _one_error_line(capsys)
    assert f.read_text() == "keep me"


# --------------------------------------------------------------------------- model files


def test_model_files_are_byte_identical_for_the_same_model(ann_run, tmp_path):
    b = load_bundle(ann_run / "ann.pt")
    save_bundle(tmp_path / "a.pt", b)
    save_bundle(tmp_path / "other_name.pt", b)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "other_name.pt").read_bytes()


def test_same_seed_gives_byte_identical_model_files(jets_file, ann_run, tmp_path):
    again = tmp_path / "again"
    assert main(["train-ann", "--data", str(jets_file), "--out", str(again), *QUICK_ANN]) == 0
    assert (again / "ann.pt").read_bytes() == (ann_run / "ann.pt").read_bytes()


def _payload(ann_run):
    return torch.load(ann_run / "ann.pt", weights_only=True)


@pytest.mark.parametrize("field,value", [
    ("feature_names", 7), ("config", "a string"), ("kind", "../../../../tmp/evil"), ("kind", 3),
    ("class_names", []), ("scaler", {"mean": [0.0], "scale": [1.0]}), ("arch", "mlp"),
    ("state_dict", {"linears.0.weight": "nope"}), ("task", None),
])
def test_crafted_model_fields_are_model_errors(field, value, ann_run, tmp_path, jets_file, capsys):
    payload = _payload(ann_run)
    payload[field] = value
    p = tmp_path / "crafted.pt"
    torch.save(payload, p)
    with pytest.raises(ModelError):
        load_bundle(p)
    out = tmp_path / "ev"
    assert main(["evaluate", str(p), "--data", str(jets_file), "--out", str(out), "--quiet"]) == 2
    _one_error_line(capsys)
    assert not (tmp_path / "evil").exists() and not any(tmp_path.parent.glob("**/evil*"))


def test_state_dict_mismatch_names_the_tensor(ann_run, tmp_path):
    payload = _payload(ann_run)
    payload["state_dict"]["linears.0.weight"] = torch.zeros(3, 3)
    p = tmp_path / "m.pt"
    torch.save(payload, p)
    with pytest.raises(ModelError, match=r"size mismatch for linears\.0\.weight"):
        load_bundle(p)


def test_a_directory_as_model(tmp_path):
    with pytest.raises(ModelError, match="is a directory"):
        load_bundle(tmp_path)


def test_foreign_file_message_is_whole(tmp_path):
    p = tmp_path / "x.pt"
    p.write_bytes(b"PK\x03\x04" + os.urandom(300))
    with pytest.raises(ModelError) as info:
        load_bundle(p)
    msg = str(info.value)
    assert "\n" not in msg and "is not a spikejet model file" in msg and not msg.rstrip(")").isdigit()


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=8))
_value = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                         max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(["kind", "task", "arch", "state_dict", "scaler", "feature_names",
                                                "class_names", "data_class_names", "config", "meta", "format",
                                                "format_version"]), _value, max_size=4),
       drop=st.lists(st.sampled_from(["kind", "arch", "scaler", "state_dict"]), max_size=2))
def test_random_model_payloads_load_or_raise_a_spikejet_error(changes, drop, ann_run, tmp_path):
    payload = _payload(ann_run)
    payload.update(changes)
    for k in drop:
        payload.pop(k, None)
    p = tmp_path / "random.pt"
    torch.save(payload, p)
    try:
        b = load_bundle(p)
    except SpikejetError:
        return
    assert b.predict_proba(np.zeros((2, len(b.feature_names)), np.float32)).shape[0] == 2


# --------------------------------------------------------------------------- configs and data


def test_huge_bootstrap_is_refused_before_training(jets_file, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("evaluate:\n  n_bootstrap: 1000000000000\n")
    out = tmp_path / "r"
    assert main(["train-ann", "--data", str(jets_file), "--config", str(cfg), "--out", str(out), *QUICK_ANN]) == 2
    assert "evaluate.n_bootstrap" in _one_error_line(capsys)
    assert not out.exists()


def test_duplicate_yaml_keys_are_refused(jets_file, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ann:\n  learning_rate: 0.1\n  learning_rate: 0.001\n")
    assert main(["train-ann", "--data", str(jets_file), "--config", str(cfg), "--out", str(tmp_path / "r"),
                 *QUICK_ANN]) == 2
    assert "'learning_rate' appears twice" in _one_error_line(capsys)


def test_data_missing_classes_is_an_error(tmp_path, capsys):
    t = _table(400, 3, n_classes=1)
    p = tmp_path / "one_class.h5"
    write(t, p)
    assert main(["train-ann", "--data", str(p), "--out", str(tmp_path / "r"), *QUICK_ANN]) == 2
    line = _one_error_line(capsys)
    assert "no jets of classes q, w, z, t" in line


def test_unexpected_exceptions_get_the_safety_net(monkeypatch, jets_file, tmp_path, capsys):
    from spikejet.cli import train_ann

    def broken(args):
        raise ValueError("something nobody expected")

    monkeypatch.setattr(train_ann, "run", broken)
    assert main(["train-ann", "--data", str(jets_file), "--out", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spikejet: internal error: ValueError") and "report" in err[0]


# --------------------------------------------------------------------------- run directories


def test_a_live_writer_lock_refuses_a_second_writer(tmp_path):
    first = RunDir(tmp_path / "r")
    first.prepare("abc")
    assert (tmp_path / "r" / LOCK_FILE).is_file()
    with pytest.raises(ConfigError, match=f"pid {os.getpid()}"):
        RunDir(tmp_path / "r").prepare("abc")
    first.unlock()
    RunDir(tmp_path / "r").prepare("abc")  # free again


def test_a_dead_writers_lock_is_recognised_and_taken_over(tmp_path):
    import socket
    import subprocess
    import sys

    d = tmp_path / "r"
    d.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (d / LOCK_FILE).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    rd = RunDir(d)
    rd.prepare("abc")
    assert json.loads((d / LOCK_FILE).read_text())["pid"] == os.getpid()
    rd.unlock()
    assert not (d / LOCK_FILE).exists()


def test_interrupted_and_failed_stages_leave_no_metrics_entry(jets_file, tmp_path, monkeypatch):
    from spikejet import run as runner
    from spikejet.config import resolve_config
    from spikejet.run import registry
    from spikejet.run.registry import StageSpec

    cfg = resolve_config(quick=True, seed=2, data_source=str(jets_file))
    base = [registry.get_stage(n) for n in ("load", "split", "train_ann", "evaluate_ann")]
    for exc, status in ((KeyboardInterrupt(), "interrupted: boom"), (RuntimeError("x"), "failed: boom")):
        def boom(ctx, _cfg, exc=exc):
            ctx.add_metrics("boom", np.zeros(3, int), np.full((3, 5), 0.2), class_names=list("gqwzt"))
            raise exc

        stages = (*base, StageSpec("boom", boom, ("evaluate_ann",)))
        monkeypatch.setattr(registry, "stages", lambda stages=stages: stages)
        out = tmp_path / status.split(":")[0]
        with pytest.raises(type(exc)):
            runner.run(cfg, out, progress=False)
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["status"] == status
        assert list(json.loads((out / "metrics.json").read_text())) == ["ann"]
        assert not (out / LOCK_FILE).exists()
        # a reader refuses the incomplete run
        with pytest.raises(ConfigError, match="did not complete"):
            runner.evaluate_model_file(out / "ann.pt", str(jets_file), tmp_path / f"ev-{status[:4]}",
                                       progress=False)


def test_a_killed_run_is_recognised(ann_run, tmp_path, jets_file, capsys):
    d = tmp_path / "killed"
    d.mkdir()
    for f in ann_run.iterdir():
        if f.is_file():
            (d / f.name).write_bytes(f.read_bytes())
    m = json.loads((d / "run.json").read_text())
    m["status"] = "running"
    (d / "run.json").write_text(json.dumps(m))
    assert main(["evaluate", str(d / "ann.pt"), "--data", str(jets_file), "--out", str(tmp_path / "e"),
                 "--quiet"]) == 2
    assert "writer is gone" in _one_error_line(capsys)
