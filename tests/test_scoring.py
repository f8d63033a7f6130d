"""One score for every model in every command (issue 10, point 1).

A small run through the Loihi stage, then the same model files scored by ``spikejet
evaluate`` and ``spikejet deploy`` on the run's test jets: the metrics (accuracy, its
interval, confusion matrix, AUC, rejection) are identical, and the stored predictions are
the class probabilities they were computed from.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikejet import run as runner
from spikejet.cli import main
from spikejet.config import resolve_config
from spikejet.data import JetTable, write
from spikejet.evaluate.metrics import (
    METRIC_KEYS,
    class_probabilities,
    evaluate_scores,
    is_probabilities,
)

N_JETS = 1500


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    rng = np.random.default_rng(11)
    y = rng.integers(0, 5, N_JETS)
    X = (rng.normal(size=(5, 16))[y] * 0.5 + rng.normal(size=(N_JETS, 16))).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]) * 10)  # j_multiplicity is a count
    data = tmp_path_factory.mktemp("data") / "jets.h5"
    write(JetTable(X, y), data)
    cfg = resolve_config(quick=True, seed=4, data_source=str(data),
                         overrides={"loihi": {"max_jets": None, "curve": False},
                                    "convert": {"compare": ["qcfs"], "max_timesteps": 16}})
    out = tmp_path_factory.mktemp("runs") / "r"
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    runner.run(cfg, out, progress=False, stages=["evaluate_ann", "snn_surrogate", "loihi", "fpga", "neurobench", "report"])
    torch.set_num_threads(prev)
    return out


def _scores_of(entry):
    return {k: entry[k] for k in METRIC_KEYS}


def test_softmax_is_the_one_probability():
    z = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    p = class_probabilities(z)
    assert is_probabilities(p) and np.allclose(p[0], np.exp(z[0]) / np.exp(z[0]).sum())
    assert not is_probabilities(z)
    with pytest.raises(ValueError, match="class probabilities"):
        from spikejet.run.score import score

        score(np.zeros(2, int), z[:, :2], class_names=["a", "b"], config=resolve_config())


@pytest.mark.parametrize("stage", ["ann", "snn_surrogate", "loihi"])
def test_stored_predictions_are_the_probabilities_scored(run_dir, stage):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with np.load(run_dir / "predictions" / f"{stage}_test.npz") as z:
        assert is_probabilities(z["scores"])
        again = evaluate_scores(z["y_true"], z["scores"].astype(np.float64), class_names=list(z["class_names"]),
                                seed=4, n_bootstrap=resolve_config(quick=True).evaluate.n_bootstrap)
    assert again["accuracy"] == metrics[stage]["accuracy"]
    for cls, auc in metrics[stage]["auc"].items():
        assert abs(again["auc"][cls] - auc) < 1e-6  # float32 storage of the probabilities


@pytest.mark.parametrize("stage", ["ann", "snn_surrogate", "snn_converted"])
def test_evaluate_gives_the_runs_metrics(run_dir, stage, tmp_path):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    out = tmp_path / "ev"
    assert main(["evaluate", str(run_dir / f"{stage}.pt"), "--data", str(run_dir / "test.h5"), "--out", str(out),
                 "--quiet"]) == 0
    ev = json.loads((out / "metrics.json").read_text())
    assert _scores_of(ev[stage]) == _scores_of(metrics[stage])


def test_deploy_gives_the_runs_loihi_metrics(run_dir, tmp_path):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cfg = resolve_config(quick=True)
    assert cfg.loihi.profile == "loihi2" and not cfg.loihi.first_layer_offchip
    out = tmp_path / "dep"
    assert main(["deploy", str(run_dir / "snn_surrogate.pt"), "--target", "loihi2", "--on-chip-input",
                 "--data", str(run_dir / "test.h5"), "--no-curve", "--out", str(out), "--quiet"]) == 0
    dep = json.loads((out / "metrics.json").read_text())
    assert _scores_of(dep["loihi"]) == _scores_of(metrics["loihi"])
    assert _scores_of(dep["snn_surrogate"])["accuracy"] == metrics["loihi"]["float_accuracy"]


def test_trigger_convention_in_the_table_and_the_report(run_dir):
    from spikejet.report.tables import format_comparison, rejection_ratios, trigger_rows

    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = {r["stage"]: r for r in trigger_rows(metrics)}
    assert set(rows) == {"ann", "snn_converted", "snn_surrogate", "loihi", "fpga"}
    assert all(v == 1.0 for v in rows["ann"]["ratios"].values() if v is not None)
    r = rejection_ratios(metrics["snn_surrogate"], metrics["ann"])
    for cls, ratio in r.items():
        a, b = metrics["snn_surrogate"]["rejection"][cls]["0.5"], metrics["ann"]["rejection"][cls]["0.5"]
        assert ratio is None or ratio == pytest.approx(a / b)
    assert rows["loihi"]["energy_j"] == metrics["loihi"]["system_energy_per_inference_j"]
    assert rows["ann"]["energy_j"] == metrics["ann"]["energy_per_inference_j"]["gpu"]
    text = format_comparison(metrics)
    assert "AUC (mean)" in text and "rej@50% / ANN" in text and "loihi system" in text
    html = (run_dir / "report.html").read_text()
    assert "Trigger metrics" in html and "trigger_roc" in html
    assert (run_dir / "figures" / "trigger_roc.png").is_file()


def test_neurobench_entry_agrees_with_the_own_synops_counter(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    nb = metrics["neurobench"]
    assert set(nb) == {"ann", "snn_converted", "snn_surrogate"}
    assert nb["ann"]["synops"]["dense"] == 4256 and nb["ann"]["synops"]["effective_acs"] == 0
    for stage in ("snn_converted", "snn_surrogate"):
        assert nb[stage]["timesteps"] == metrics[stage]["timesteps"]
        assert nb[stage]["synops"]["effective_acs"] == pytest.approx(metrics[stage]["synops_per_inference"])
        assert 0 <= nb[stage]["activation_sparsity"] <= 1


def test_fpga_entry_is_scored_like_every_model(run_dir, tmp_path):
    from spikejet.hardware.fpga import FixedPointMLP
    from spikejet.models.file import load_bundle

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"accuracy", "auc", "rejection", "latency_ns", "latency_source"} <= set(metrics["fpga"])
    bundle = load_bundle(run_dir / "ann.pt")
    from spikejet.data import read

    test = read(run_dir / "test.h5")
    from spikejet.models.file import apply_scaler

    proba = FixedPointMLP.from_mlp(bundle.model, "ap_fixed<16,6>").predict_proba(apply_scaler(bundle.scaler, test.X))
    assert float((proba.argmax(1) == test.y).mean()) == metrics["fpga"]["accuracy"]


def test_a_bad_fpga_precision_is_a_config_error():
    from spikejet.errors import ConfigError

    with pytest.raises(ConfigError, match="fpga.precision"):
        resolve_config(overrides={"fpga": {"precision": "int8"}})


def test_the_keys_issue_10_names(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    for stage in ("ann", "snn_surrogate", "loihi"):
        assert {"accuracy", "auc", "rejection", "ann_macs"} <= set(m[stage]), stage
        assert "0.5" in m[stage]["rejection"]["w"]
    for stage in ("snn_surrogate", "loihi"):
        assert m[stage]["timesteps"] >= 1 and m[stage]["synops_per_inference"] > 0
    assert isinstance(m["loihi"]["off_chip_layers"], int) and m["loihi"]["off_chip_layers"] == 0
    assert m["loihi"]["system_energy_per_inference_j"] > 0 and 0 <= m["loihi"]["nir_accuracy"] <= 1
    assert m["ann"]["energy_per_inference_j"]["gpu"] > 0
