from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from spikejet import run as pipeline
from spikejet.config import load_config_file, resolve_config
from spikejet.data import JetTable, read, write
from spikejet.errors import ConfigError
from spikejet.evaluate.metrics import METRIC_KEYS, class_probabilities
from spikejet.run import registry
from spikejet.run.registry import StageSpec

N_JETS = 2500
RUN_SEED = 4
#: This issue's stages; later issues insert theirs before "report" (not exercised here).
BASE = ("load", "split", "train_ann", "evaluate_ann", "report")
NO_REPORT = BASE[:-1]


def synthetic_table(rng: np.random.Generator, n: int = N_JETS) -> JetTable:
    """Class-dependent Gaussian features with physics-like scales (learnable, not separable)."""
    y = rng.integers(0, 5, n)
    centers = rng.normal(size=(5, 16))
    scales = np.geomspace(0.01, 100.0, 16)
    X = ((centers[y] + rng.normal(size=(n, 16))) * scales + scales).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]))  # j_multiplicity is a count
    return JetTable(X, y)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def jets_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "jets.h5"
    write(synthetic_table(np.random.default_rng(2024)), p)
    return p


@pytest.fixture(scope="module")
def quick_run(jets_file, tmp_path_factory):
    torch.set_num_threads(1)
    cfg = resolve_config(quick=True, seed=RUN_SEED, data_source=str(jets_file))
    out = tmp_path_factory.mktemp("runs") / "r1"
    ctx = pipeline.run(cfg, out, progress=False, stages=BASE)
    return cfg, out, ctx


def test_run_directory_holds_every_artifact(quick_run):
    cfg, out, ctx = quick_run
    for name in (
        "run.json",
        "config.yaml",
        "split.npz",
        "test.h5",
        "ann.pt",
        "history_ann.json",
        "metrics.json",
        "report.html",
        "predictions/ann_test.npz",
    ):
        assert (out / name).is_file(), name
    assert {p.name for p in (out / "figures").iterdir()} == {
        "data_summary.png",
        "training.png",
        "confusion.png",
        "roc_ann.png",
    }
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert list(manifest["stage_seconds"]) == list(BASE)
    assert set(manifest["artifacts"]) >= {"ann.pt", "metrics.json", "figures/roc_ann.png"}
    assert not [p for p in out.rglob("*.part*")]


def test_metrics_json_entry(quick_run):
    _, out, _ = quick_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["ann"]
    # the score keys, then the energy estimate the runner adds to every model's entry
    assert tuple(metrics["ann"]) == (*METRIC_KEYS, "macs_per_inference", "ann_macs", "energy_per_inference_j",
                                     "arithmetic_energy_per_inference_j", "system_energy_breakdown_j", "energy_model")
    assert metrics["ann"]["accuracy"] > 0.4  # chance 0.2; 8 quick epochs on learnable blobs
    lo, hi = metrics["ann"]["accuracy_interval"]
    assert lo < metrics["ann"]["accuracy"] < hi


def test_config_yaml_resolves_to_the_same_config(quick_run):
    cfg, out, _ = quick_run
    assert resolve_config(load_config_file(out / "config.yaml")) == cfg


def test_split_is_disjoint_and_test_file_matches(quick_run, jets_file):
    _, out, ctx = quick_run
    with np.load(out / "split.npz") as z:
        tr, va, te = z["train"], z["val"], z["test"]
        assert "subset" not in z  # 2500 jets < quick max_jets
    assert (
        np.intersect1d(tr, va).size
        == np.intersect1d(tr, te).size
        == np.intersect1d(va, te).size
        == 0
    )
    assert tr.size + va.size + te.size == N_JETS
    full = read(jets_file)
    test = read(out / "test.h5")
    np.testing.assert_array_equal(test.X, full.X[te])
    np.testing.assert_array_equal(test.y, full.y[te])
    # the scaler was fitted on the training rows only
    np.testing.assert_allclose(
        ctx.scaler.mean, full.X[tr].astype(np.float64).mean(0), rtol=1e-5, atol=1e-6
    )


def test_same_seed_same_metrics_other_seed_differs(quick_run, jets_file, tmp_path):
    cfg, out, _ = quick_run
    pipeline.run(cfg, tmp_path / "again", progress=False, stages=NO_REPORT)
    assert (tmp_path / "again" / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()
    pipeline.run(
        cfg.replace(seed=RUN_SEED + 1), tmp_path / "other", progress=False, stages=NO_REPORT
    )
    assert (tmp_path / "other" / "metrics.json").read_bytes() != (out / "metrics.json").read_bytes()


def test_evaluate_reproduces_the_run_test_metrics(quick_run, tmp_path):
    _, out, _ = quick_run
    ctx = pipeline.evaluate_model_file(
        out / "ann.pt", str(out / "test.h5"), tmp_path / "ev", progress=False
    )
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text()) == json.loads(
        (out / "metrics.json").read_text()
    )
    assert (tmp_path / "ev" / "report.html").is_file()
    assert {f.name for f in ctx.figures} >= {"confusion", "roc_ann"}


def test_a_later_stage_is_one_function_and_one_line(quick_run, monkeypatch, tmp_path):
    cfg, _, _ = quick_run

    def fake_snn(ctx, cfg):
        X, y = ctx.test_raw()
        noisy = ctx.models["ann"].predict_proba(X) + ctx.rng("fake_snn").normal(0, 0.3, (len(y), 5))
        scores = class_probabilities(noisy)
        ctx.add_metrics(
            "snn_converted",
            y,
            scores,
            class_names=ctx.table.class_names,
            extra={"timesteps": 64, "accuracy_vs_timesteps": {"64": 0.5}},
        )
        return ctx.result

    stages = list(registry.stages())
    stages.insert(registry.stage_names().index("report"),
                  StageSpec("fake_snn", fake_snn, ("evaluate_ann",), key="snn_converted"))
    monkeypatch.setattr(registry, "stages", lambda: tuple(stages))
    ctx = pipeline.run(cfg, tmp_path / "ext", progress=False, stages=(*BASE, "fake_snn"))
    metrics = json.loads((tmp_path / "ext" / "metrics.json").read_text())
    assert list(metrics) == ["ann", "snn_converted"]
    assert metrics["snn_converted"]["timesteps"] == 64
    html = (tmp_path / "ext" / "report.html").read_text()
    assert "ANN-&gt;SNN conversion" in html and "69.72 %" in html
    assert "roc_snn_converted" in {f.name for f in ctx.figures}


def test_run_directory_safety(quick_run, tmp_path):
    cfg, out, _ = quick_run
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="is not empty and is not a spikejet run directory"):
        pipeline.run(cfg, foreign, progress=False, overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "precious"
    # another config into an existing run directory: refused unless overwrite
    other = cfg.replace(seed=cfg.seed + 10)
    with pytest.raises(ConfigError, match="holds a different run .*pass --overwrite"):
        pipeline.run(other, out, progress=False, stages=["load"])
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_overwrite_replaces_old_artifacts_and_same_run_reruns(quick_run, tmp_path):
    cfg, _, _ = quick_run
    d = tmp_path / "r"
    pipeline.run(cfg, d, progress=False, stages=NO_REPORT)
    (d / "notes.txt").write_text("mine")
    pipeline.run(cfg.replace(seed=99), d, progress=False, overwrite=True, stages=["load", "split"])
    assert not (d / "ann.pt").exists() and not (d / "metrics.json").exists()
    assert (d / "notes.txt").read_text() == "mine"  # files the run did not write are kept
    pipeline.run(
        cfg.replace(seed=99), d, progress=False, stages=["load", "split"]
    )  # same run: fine


def test_failed_stage_is_recorded(quick_run, monkeypatch, tmp_path):
    cfg, _, _ = quick_run

    def boom(ctx, cfg):
        raise ConfigError("bad thing")

    load = registry.get_stage("load")
    monkeypatch.setattr(registry, "stages", lambda: (load, StageSpec("boom", boom)))
    with pytest.raises(ConfigError, match="bad thing"):
        pipeline.run(cfg, tmp_path / "f", progress=False)
    assert json.loads((tmp_path / "f" / "run.json").read_text())["status"] == "failed: boom"


def test_unknown_stage_name(quick_run, tmp_path):
    with pytest.raises(ConfigError, match="unknown stage 'trian_ann'"):
        pipeline.run(quick_run[0], tmp_path / "x", stages=["trian_ann"], progress=False)


def test_top_vs_rest_and_subset(jets_file, tmp_path):
    cfg = resolve_config(
        {"ann": {"task": "top_vs_rest"}, "data": {"max_jets": 1500}},
        quick=False,
        seed=RUN_SEED,
        data_source=str(jets_file),
        overrides={"ann": {"max_epochs": 3}, "evaluate": {"n_bootstrap": 50}},
    )
    assert cfg.data.max_jets == 1500
    ctx = pipeline.run(cfg, tmp_path / "tvr", progress=False, stages=BASE)
    m = json.loads((tmp_path / "tvr" / "metrics.json").read_text())["ann"]
    assert list(m["per_class_accuracy"]) == ["rest", "t"]
    assert ctx.models["ann"].model.sizes == (16, 32, 2)
    with np.load(tmp_path / "tvr" / "split.npz") as z:
        assert z["subset"].size == 1500
        assert z["train"].size + z["val"].size + z["test"].size == 1500
    assert "n/a (not the 5-class task)" in (tmp_path / "tvr" / "report.html").read_text()
    assert (
        yaml.safe_load((tmp_path / "tvr" / "config.yaml").read_text())["ann"]["task"]
        == "top_vs_rest"
    )
