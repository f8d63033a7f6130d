"""The convert_snn stage: config section, metrics entry, model file, figures; and `spikejet convert`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikejet import run as pipeline
from spikejet.cli import main
from spikejet.config import resolve_config
from spikejet.data import JetTable, write
from spikejet.errors import ConfigError
from spikejet.snn.bundle import load_network
from spikejet.snn.simulate import simulate
from spikejet.stages import convert_snn as S

N_JETS = 1500
STAGES = ("load", "split", "train_ann", "evaluate_ann", "convert_snn")


def _table(rng: np.random.Generator) -> JetTable:
    y = rng.integers(0, 5, N_JETS)
    centers = rng.normal(size=(5, 16)) * 1.2
    scales = np.geomspace(0.01, 100.0, 16)
    X = ((centers[y] + rng.normal(size=(N_JETS, 16))) * scales + scales).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]))  # j_multiplicity is a count
    return JetTable(X, y)


@pytest.fixture(scope="module")
def jets_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "jets.h5"
    write(_table(np.random.default_rng(99)), p)
    return p


@pytest.fixture(scope="module")
def stage_run(jets_file, tmp_path_factory):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    cfg = resolve_config(quick=True, seed=3, data_source=str(jets_file))
    out = tmp_path_factory.mktemp("runs") / "r"
    ctx = pipeline.run(cfg, out, progress=False, stages=STAGES)
    yield cfg, out, ctx
    mp.undo()
    torch.set_num_threads(prev)


def test_metrics_entry(stage_run):
    cfg, out, ctx = stage_run
    m = json.loads((out / "metrics.json").read_text())["snn_converted"]
    for key in ("accuracy", "auc", "confusion_matrix", "method", "timesteps", "accuracy_vs_timesteps",
                "firing_rate_hz", "synops_per_inference", "ann_macs", "methods", "reference_ann_accuracy"):
        assert key in m, key
    assert m["method"] == cfg.convert.method == "qcfs"
    assert m["ann_macs"] == 4256
    t_max = cfg.convert.max_timesteps
    curve = m["accuracy_vs_timesteps"]
    assert list(curve) == [str(t) for t in range(1, t_max + 1)]
    T = m["timesteps"]
    assert 1 <= T <= t_max
    # the headline accuracy is the test accuracy of the curve at the headline T
    assert m["accuracy"] == pytest.approx(curve[str(T)], abs=1e-12)
    assert set(m["methods"]) == {"snntoolbox", "calibrated", "qcfs"}
    assert set(m["firing_rate_hz"]) == {"fc0", "fc1", "fc2"}
    assert all(r >= 0 for r in m["firing_rate_hz"].values())
    assert m["synops_per_inference"] == pytest.approx(sum(m["synops_per_layer"].values()))


def test_headline_T_is_smallest_within_gap_on_validation(stage_run):
    cfg, out, ctx = stage_run
    m = ctx.metrics["snn_converted"]
    net = ctx.models["snn_converted"]
    ann = ctx.models["ann"]
    from spikejet.ann.model import predict_logits

    yva = ctx.y["val"]
    ann_val = (predict_logits(ann.model, ctx.X["val"]).argmax(1) == yva).mean()
    t_max = cfg.convert.max_timesteps
    acc = simulate(net, ctx.X["val"], t_max).accuracy(yva)
    ok = np.flatnonzero(acc >= ann_val - cfg.convert.target_gap - 1e-12)
    assert m["timesteps"] == (ok[0] + 1 if ok.size else t_max)


def test_model_file_and_figures(stage_run):
    cfg, out, ctx = stage_run
    net, T, bundle = load_network(out / "snn_converted.pt")
    assert T == ctx.metrics["snn_converted"]["timesteps"]
    assert bundle.kind == "snn_converted"
    X_raw, y = ctx.test_raw()
    pred = bundle.predict_proba(X_raw).argmax(1)
    assert (pred == y).mean() == pytest.approx(ctx.metrics["snn_converted"]["accuracy"], abs=1e-12)
    for name in ("snn_accuracy_vs_timesteps", "snn_firing_rates", "snn_operations"):
        assert (out / "figures" / f"{name}.png").is_file()
    assert "snn_qcfs_ann" in ctx.histories


def test_seed_2019_preset_uses_study_steps():
    cfg = resolve_config(preset="seed-2019")
    assert cfg.convert.method == "snntoolbox"
    assert cfg.convert.timesteps == 200
    assert resolve_config().convert.timesteps is None


@pytest.mark.parametrize(
    "values,match",
    [
        ({"method": "magic"}, "convert.method"),
        ({"compare": ["qcfs", "nope"]}, "convert.compare"),
        ({"timesteps": 0}, "convert.timesteps"),
        ({"timesteps": 500, "max_timesteps": 256}, "convert.timesteps"),
        ({"max_timesteps": 0}, "convert.max_timesteps"),
        ({"target_gap": 0.0}, "convert.target_gap"),
        ({"dt": -1.0}, "convert.dt"),
        ({"percentile": [99.0, 101.0]}, "convert.percentile"),
        ({"percentile": []}, "convert.percentile"),
        ({"search_steps": 0}, "convert.search_steps"),
        ({"qcfs_levels": 0}, "convert.qcfs_levels"),
        ({"calibration_steps": 0}, "convert.calibration_steps"),
        ({"bogus": 1}, "convert.bogus"),
    ],
)
def test_bad_convert_config(values, match):
    with pytest.raises(ConfigError, match=match):
        resolve_config({"convert": values})


def test_method_is_always_compared():
    cfg = resolve_config({"convert": {"method": "calibrated", "compare": ["snntoolbox"]}})
    assert cfg.convert.compare == ("snntoolbox", "calibrated")


def test_curve_points():
    assert S.curve_points(256, (200, 13)) == [1, 2, 4, 8, 13, 16, 32, 64, 128, 200, 256]
    assert S.curve_points(20) == [1, 2, 4, 8, 16, 20]


# ------------------------------------------------------------------ spikejet convert


def test_cli_convert_from_run_directory(stage_run, tmp_path, capsys):
    _, out, ctx = stage_run
    dest = tmp_path / "snn.pt"
    rc = main(["convert", str(out / "ann.pt"), "--method", "calibrated", "--timesteps", "8",
               "--out", str(dest), "--quiet"])
    assert rc == 0
    net, T, bundle = load_network(dest)
    assert T == 8 and net.meta["method"] == "calibrated"
    assert "the run's split" in bundle.meta["normalization_data"]
    assert "T = 8" in capsys.readouterr().out


def test_cli_convert_with_data_file(stage_run, jets_file, tmp_path):
    _, out, _ = stage_run
    dest = tmp_path / "tb.pt"
    assert main(["convert", str(out / "ann.pt"), "--method", "snntoolbox", "--data", str(jets_file),
                 "--out", str(dest), "--quiet"]) == 0
    net, T, _ = load_network(dest)
    assert net.readout.kind == "count" and 1 <= T <= 256


def test_cli_convert_errors(stage_run, tmp_path, capsys):
    _, out, _ = stage_run
    # a spiking model is not an ANN
    assert main(["convert", str(out / "snn_converted.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "takes an ANN" in capsys.readouterr().err
    # an ANN copied away from its run directory needs --data
    lone = tmp_path / "lone" / "ann.pt"
    lone.parent.mkdir()
    lone.write_bytes((out / "ann.pt").read_bytes())
    assert main(["convert", str(lone), "--out", str(tmp_path / "y.pt"), "--quiet"]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["convert", str(out / "ann.pt"), "--timesteps", "0", "--out", str(tmp_path / "z.pt")]) == 2
    assert not (tmp_path / "z.pt").exists()


def test_seed_2019_quick_is_valid_and_round_trips(tmp_path):
    from spikejet.config import config_to_yaml, load_config_file

    cfg = resolve_config(preset="seed-2019", quick=True)
    assert cfg.convert.timesteps == 200 <= cfg.convert.max_timesteps
    p = tmp_path / "c.yaml"
    p.write_text(config_to_yaml(cfg))
    assert resolve_config(load_config_file(p)) == cfg
