from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from spikejet.cli import main
from spikejet.data import FEATURE_NAMES, JetTable, write
from spikejet.models.file import load_bundle, save_bundle

N_JETS = 1500
#: This issue's stages; later issues' stages are tested in their own files.
BASE = ("load", "split", "train_ann", "evaluate_ann", "report")


def _base_stages(mp: pytest.MonkeyPatch) -> None:
    from spikejet.run import registry

    base = tuple(s for s in registry.stages() if s.name in BASE)
    mp.setattr(registry, "stages", lambda: base)


@pytest.fixture(autouse=True)
def one_thread_base_stages(monkeypatch):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    _base_stages(monkeypatch)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="module")
def jets(tmp_path_factory):
    rng = np.random.default_rng(77)
    y = rng.integers(0, 5, N_JETS)
    X = (rng.normal(size=(5, 16))[y] + rng.normal(size=(N_JETS, 16))).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]) * 10)  # j_multiplicity is a count
    p = tmp_path_factory.mktemp("data") / "jets.h5"
    write(JetTable(X, y), p)
    return p


@pytest.fixture(scope="module")
def run_dir(jets, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "quick"
    with pytest.MonkeyPatch.context() as mp:
        _base_stages(mp)
        assert main(["run", "--data", str(jets), "--quick", "--quiet", "--seed", "3", "--out", str(out)]) == 0
    return out


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("spikejet: error: ")
    return err[0]


def test_run_prints_comparison_table(jets, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "--data", str(jets), "--quick", "--quiet", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "ANN (MLP)" in stdout and "75.20 %" in stdout and "2019 study" in stdout
    assert "stages: load" in stdout and str(out) in stdout
    assert (out / "report.html").is_file()


def test_evaluate_command_reproduces_run_metrics(run_dir, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", str(run_dir / "ann.pt"), "--data", str(run_dir / "test.h5"), "--out", str(out),
                 "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text()) == json.loads((run_dir / "metrics.json").read_text())
    assert (out / "figures" / "roc_ann.png").is_file()
    assert "ANN (MLP)" in capsys.readouterr().out


def test_train_ann_command(jets, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train-ann", "--data", str(jets), "--quick", "--quiet", "--out", str(out),
                 "--preset", "seed-2019"]) == 0
    assert "validation accuracy" in capsys.readouterr().out
    bundle = load_bundle(out / "ann.pt")
    assert bundle.config["ann"]["learning_rate"] == pytest.approx(1e-4, rel=1e-12, abs=0)
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        ("ann:\n  learnig_rate: 0.001\n", "unknown config key ann.learnig_rate"),
        ("ann:\n  learning_rate: -0.001\n", "ann.learning_rate: must be a positive number"),
        ("ann:\n  batch_size: 0\n", "ann.batch_size: must be at least 1, got 0"),
        ("preset: turbo\n", "unknown preset 'turbo'"),
    ],
)
def test_bad_config_file_is_one_line_exit_2(jets, tmp_path, capsys, yaml_text, match):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    rc = main(["run", "--data", str(jets), "--quick", "--quiet", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert match in _error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_unknown_preset_flag(jets, tmp_path, capsys):
    assert main(["run", "--data", str(jets), "--preset", "seed-2020", "--out", str(tmp_path / "o")]) == 2
    assert "unknown preset 'seed-2020'; choose one of default, seed-2019" in _error_line(capsys)


def test_out_dir_with_a_different_run_is_refused(jets, run_dir, capsys):
    before = (run_dir / "metrics.json").read_bytes()
    rc = main(["run", "--data", str(jets), "--quick", "--quiet", "--seed", "4", "--out", str(run_dir)])
    assert rc == 2
    line = _error_line(capsys)
    assert "holds a different run (preset default, seed 3, quick" in line and "--overwrite" in line
    assert (run_dir / "metrics.json").read_bytes() == before


def test_overwrite_flag_replaces_a_run(jets, tmp_path, capsys):
    out = tmp_path / "o"
    args = ["train-ann", "--data", str(jets), "--quick", "--quiet", "--out", str(out)]
    assert main([*args, "--seed", "1"]) == 0
    assert main([*args, "--seed", "2"]) == 2
    assert main([*args, "--seed", "2", "--overwrite"]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["seed"] == 2


def test_evaluate_rejects_a_file_that_is_not_a_model(jets, tmp_path, capsys):
    fake = tmp_path / "model.pt"
    fake.write_bytes(b"PK\x03\x04 definitely not a torch zip")
    assert main(["evaluate", str(fake), "--data", str(jets), "--out", str(tmp_path / "e")]) == 2
    assert "is not a spikejet model file" in _error_line(capsys)
    assert main(["evaluate", str(jets), "--data", str(jets), "--out", str(tmp_path / "e")]) == 2
    assert "is not a spikejet model file" in _error_line(capsys)


def test_evaluate_rejects_data_whose_features_do_not_match(run_dir, jets, tmp_path, capsys):
    # a file without one of the model's feature columns
    csv = tmp_path / "renamed.csv"
    cols = list(FEATURE_NAMES)
    cols[5] = "j_tau21"
    rows = [",".join([*cols, "class"])] + [",".join(["0.5"] * 16 + ["g"])] * 3
    csv.write_text("\n".join(rows) + "\n")
    assert main(["evaluate", str(run_dir / "ann.pt"), "--data", str(csv), "--out", str(tmp_path / "e1")]) == 2
    assert "j_c2_b2_mmdt" in _error_line(capsys)
    # a model trained on other feature names than the data's
    b = load_bundle(run_dir / "ann.pt")
    b.feature_names = tuple(f"x{i}" for i in range(16))
    other = save_bundle(tmp_path / "other.pt", b)
    assert main(["evaluate", str(other), "--data", str(jets), "--out", str(tmp_path / "e2")]) == 2
    line = _error_line(capsys)
    assert "does not match the model's features: column 0 is 'j_zlogz' but the model expects 'x0'" in line
    assert not (tmp_path / "e2").exists()


def test_missing_data_file(tmp_path, capsys):
    assert main(["run", "--data", str(tmp_path / "none.h5"), "--quick", "--out", str(tmp_path / "o")]) == 2
    _error_line(capsys)


def test_help_does_not_import_torch():
    code = ("import sys; from spikejet.cli import build_parser; build_parser(); "
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
