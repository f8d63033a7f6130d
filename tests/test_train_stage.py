"""The snn_rate and snn_surrogate stages: config sections and presets, metrics entries, model
files that `spikejet evaluate` reproduces, figures, and `spikejet train-snn`."""

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
from spikejet.models.file import load_bundle
from spikejet.snn.bundle import load_network
from spikejet.snn.simulate import simulate

N_JETS = 1500
STAGES = ("load", "split", "train_ann", "evaluate_ann", "convert_snn", "snn_rate", "snn_surrogate")
#: Small settings so that the whole chain runs in seconds.
OVERRIDES = {
    "snn_rate": {"timesteps": 40, "epochs": 3},
    "snn_surrogate": {"timesteps": 4},
    "convert": {"max_timesteps": 16},
}


def _table(rng: np.random.Generator) -> JetTable:
    y = rng.integers(0, 5, N_JETS)
    centers = rng.normal(size=(5, 16)) * 1.2
    scales = np.geomspace(0.01, 100.0, 16)
    X = ((centers[y] + rng.normal(size=(N_JETS, 16))) * scales + scales).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]))  # j_multiplicity is a count
    return JetTable(X, y)


@pytest.fixture(scope="module")
def patched_stages():
    mp = pytest.MonkeyPatch()
    yield
    mp.undo()


@pytest.fixture(scope="module")
def jets_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "jets.h5"
    write(_table(np.random.default_rng(41)), p)
    return p


@pytest.fixture(scope="module")
def stage_run(jets_file, tmp_path_factory, patched_stages):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg = resolve_config(quick=True, seed=3, data_source=str(jets_file), overrides=OVERRIDES)
    out = tmp_path_factory.mktemp("runs") / "r"
    ctx = pipeline.run(cfg, out, progress=False, stages=STAGES)
    print("stage seconds:", {k: round(v, 2) for k, v in ctx.timings.items()})
    yield cfg, out, ctx
    torch.set_num_threads(prev)


def test_rate_metrics_entry(stage_run):
    cfg, out, ctx = stage_run
    m = json.loads((out / "metrics.json").read_text())["snn_rate"]
    for key in ("accuracy", "auc", "timesteps", "accuracy_vs_timesteps", "firing_rate_hz", "synops_per_inference",
                "accuracy_without_filter", "accuracy_with_filter", "rate_model_accuracy", "study_accuracy",
                "rate_model_firing_rate_hz", "ann_macs"):
        assert key in m, key
    rc = cfg.snn_rate
    assert m["timesteps"] == rc.timesteps == 40
    assert list(m["accuracy_vs_timesteps"]) == [str(t) for t in range(1, 41)]
    head = m["accuracy_with_filter"] if rc.synapse_tau is not None else m["accuracy_without_filter"]
    assert m["accuracy"] == pytest.approx(head, abs=1e-12)
    assert m["accuracy"] == pytest.approx(m["accuracy_vs_timesteps"]["40"], abs=1e-12)
    assert m["study_accuracy"] == {"without_filter": 0.4683, "with_filter": 0.6508}
    assert set(m["firing_rate_hz"]) == {"fc0", "fc1", "fc2"}
    assert m["synops_per_inference"] == pytest.approx(sum(m["synops_per_layer"].values()))
    assert m["accuracy"] > 0.5  # separable toy data


def test_surrogate_metrics_entry(stage_run):
    cfg, out, ctx = stage_run
    m = json.loads((out / "metrics.json").read_text())["snn_surrogate"]
    sc = cfg.snn_surrogate
    assert m["timesteps"] == sc.timesteps == 4
    assert list(m["accuracy_vs_timesteps"]) == [str(t) for t in range(1, sc.max_timesteps + 1)]
    assert m["accuracy"] == pytest.approx(m["accuracy_vs_timesteps"]["4"], abs=1e-12)
    sweep = m["accuracy_vs_synops"]["penalty_sweep"]
    assert sorted(p["synops_penalty"] for p in sweep) == sorted({sc.synops_penalty, *sc.sweep_penalties})
    assert [p["synops"] for p in sweep] == sorted(p["synops"] for p in sweep)
    trained = {p["timesteps"]: p for p in m["accuracy_vs_synops"]["trained_vs_timesteps"]}
    assert trained[4]["synops"] == pytest.approx(m["synops_per_inference"])
    assert trained[sc.max_timesteps]["synops"] > trained[4]["synops"]  # more steps, more spikes
    conv = m["converted_at_same_accuracy"]
    assert conv is not None and conv["method"] == cfg.convert.method
    assert m["accuracy"] > 0.5


def test_model_files_reproduce_metrics_and_load(stage_run, tmp_path):
    cfg, out, ctx = stage_run
    X, y = ctx.test_raw()
    for stage in ("snn_rate", "snn_surrogate"):
        bundle = load_bundle(out / f"{stage}.pt")
        assert bundle.kind == stage
        acc = float((bundle.predict_proba(X).argmax(1) == y).mean())
        assert acc == pytest.approx(ctx.metrics[stage]["accuracy"], abs=1e-12), stage
    net, T, _ = load_network(out / "snn_surrogate.pt")
    assert T == cfg.snn_surrogate.timesteps
    res = simulate(net, ctx.X["test"], T, steps=[T])
    assert res.accuracy_at(ctx.y["test"], T) == pytest.approx(ctx.metrics["snn_surrogate"]["accuracy"], abs=1e-12)
    # `spikejet evaluate` on the run's test file gives the run's number
    ev = pipeline.evaluate_model_file(out / "snn_rate.pt", out / "test.h5", tmp_path / "ev", progress=False)
    assert ev.metrics["snn_rate"]["accuracy"] == pytest.approx(ctx.metrics["snn_rate"]["accuracy"], abs=1e-12)


def test_same_seed_same_numbers(stage_run, tmp_path):
    cfg, out, ctx = stage_run
    again = pipeline.run(cfg, tmp_path / "again", progress=False, stages=STAGES)
    first = json.loads((out / "metrics.json").read_text())
    second = json.loads((tmp_path / "again" / "metrics.json").read_text())
    for stage in ("snn_rate", "snn_surrogate"):
        assert first[stage] == second[stage], stage
    a, _, _ = load_network(out / "snn_surrogate.pt")
    b, _, _ = load_network(tmp_path / "again" / "snn_surrogate.pt")
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
    assert again.metrics["snn_surrogate"]["accuracy"] == ctx.metrics["snn_surrogate"]["accuracy"]


def test_histories_and_figures(stage_run):
    cfg, out, ctx = stage_run
    for stage in ("snn_rate", "snn_surrogate"):
        h = json.loads((out / f"history_{stage}.json").read_text())
        assert len(h["train_loss"]) >= 1 and 1 <= h["best_epoch"] <= len(h["train_loss"])
        for fig in ("output_activity", "raster", "rate_histograms"):
            assert (out / "figures" / f"{stage}_{fig}.png").stat().st_size > 1000
    for fig in ("snn_methods_accuracy_vs_timesteps", "snn_accuracy_vs_synops"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    names = [f.name for f in ctx.figures]
    assert names.count("snn_methods_accuracy_vs_timesteps") == 1  # drawn by both stages, kept once


def test_seed_2019_preset_is_the_study_protocol():
    cfg = resolve_config(preset="seed-2019")
    r = cfg.snn_rate
    assert (r.neuron, r.timesteps, r.dt, r.synapse_tau, r.readout) == ("spiking_relu", 100, 0.001, 0.005, "last")
    assert (r.max_rate, r.amplitude, r.rate_band_hz, r.init) == (100.0, 0.01, (100.0, 200.0), "random")
    d = resolve_config(preset="default")
    assert d.snn_surrogate.timesteps <= 16


@pytest.mark.parametrize(
    "values, match",
    [
        ({"snn_rate": {"neuron": "lif"}}, "snn_rate.neuron"),
        ({"snn_rate": {"synapse_tau": -0.005}}, "snn_rate.synapse_tau"),
        ({"snn_rate": {"rate_band_hz": [200, 100]}}, "snn_rate.rate_band_hz"),
        ({"snn_rate": {"readout": "max"}}, "snn_rate.readout"),
        ({"snn_surrogate": {"surrogate": "sigmoid"}}, "snn_surrogate.surrogate"),
        ({"snn_surrogate": {"timesteps": 100, "max_timesteps": 64}}, "snn_surrogate.timesteps"),
        ({"snn_surrogate": {"leak": 1.5}}, "snn_surrogate.leak"),
        ({"snn_surrogate": {"sweep_penalties": [-1]}}, "snn_surrogate.sweep_penalties"),
        ({"snn_surrogate": {"max_train_jets": 5}}, "snn_surrogate.max_train_jets"),
        ({"snn_surrogate": {"slop": 2}}, "snn_surrogate.slop"),
    ],
)
def test_bad_config(values, match):
    with pytest.raises(ConfigError, match=match.replace(".", r"\.")):
        resolve_config(values)


def test_cli_train_snn(jets_file, tmp_path, capsys, patched_stages):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("snn_rate: {timesteps: 20, epochs: 2, neuron: if, synapse_tau: null}\n")
    out = tmp_path / "run"
    rc = main(["train-snn", "--method", "rate", "--data", str(jets_file), "--quick", "--quiet", "--out", str(out),
               "--config", str(cfg_file)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "SNN (rate, if)" in text and "T = 20" in text
    assert (out / "snn_rate.pt").is_file() and not (out / "snn_surrogate.pt").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert set(m) == {"ann", "snn_rate"}


def test_cli_train_snn_surrogate_runs_the_conversion_it_starts_from(jets_file, tmp_path, capsys, patched_stages):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("snn_surrogate: {timesteps: 4, sweep_penalties: []}\nconvert: {compare: [qcfs]}\n")
    out = tmp_path / "run"
    rc = main(["train-snn", "--method", "surrogate", "--data", str(jets_file), "--quick", "--quiet", "--out", str(out),
               "--config", str(cfg_file)])
    assert rc == 0
    assert "SNN (surrogate, if)" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert set(m) == {"ann", "snn_converted", "snn_surrogate"}
    assert m["snn_surrogate"]["converted_at_same_accuracy"]["method"] == "qcfs"


def test_cli_train_snn_errors(jets_file, tmp_path, capsys, patched_stages):
    with pytest.raises(SystemExit) as exc:
        main(["train-snn", "--method", "slayer", "--data", str(jets_file)])
    assert exc.value.code == 2
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text("snn_surrogate: {neuron: izhikevich}\n")
    rc = main(["train-snn", "--method", "surrogate", "--data", str(jets_file), "--config", str(bad), "--quiet",
               "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spikejet: error: config value snn_surrogate.neuron")


def test_library_called_with_the_sections_gives_the_stages_results(stage_run):
    """train_rate / train_surrogate take their config sections: called with the run's sections they
    reproduce the stages' numbers exactly (library defaults are the pipeline's defaults)."""
    from spikejet.ann.model import predict_logits, task_labels
    from spikejet.snn.train.rate import (
        rate_evaluation_network,
        rate_network,
        rate_neuron,
        train_rate,
    )
    from spikejet.snn.train.surrogate import SurrogateNet, SurrogateOptions, train_surrogate

    cfg, out, ctx = stage_run
    m = json.loads((out / "metrics.json").read_text())
    names = ctx.table.class_names
    Xtr, Xva, Xte = ctx.X["train"], ctx.X["val"], ctx.X["test"]
    ytr, yva, yte = (task_labels(cfg.ann.task, ctx.y[k], names) for k in ("train", "val", "test"))

    rcfg = cfg.section("snn_rate")
    seed = ctx.seed_for("snn_rate")
    torch.manual_seed(seed)
    init = ctx.models["ann"].model if rcfg.init == "ann" else None
    model, _ = train_rate(Xtr, ytr, Xva, yva, rcfg, sizes=(Xtr.shape[1], *cfg.ann.hidden, len(names)), init=init,
                          seed=seed)
    net = rate_evaluation_network(rate_network(model, rate_neuron(rcfg), dt=rcfg.dt), rcfg.synapse_tau, rcfg.readout)
    res = simulate(net, Xte, rcfg.timesteps)
    assert res.accuracy_at(yte) == m["snn_rate"]["accuracy"]

    scfg = cfg.section("snn_surrogate")
    seed = ctx.seed_for("snn_surrogate")
    assert scfg.init == "converted" and (scfg.max_train_jets is None or scfg.max_train_jets >= len(Xtr))
    torch.manual_seed(seed)
    snet = SurrogateNet.from_network(ctx.models["snn_converted"], SurrogateOptions.from_config(scfg))
    # distillation (the default preset's) takes the ANN's logits on the training jets, as the stage gives them
    teacher = predict_logits(ctx.models["ann"].model, Xtr) if scfg.distill_weight > 0 else None
    train_surrogate(snet, Xtr, ytr, Xva, yva, scfg, teacher_logits=teacher, seed=seed)
    trained = snet.to_network()
    assert list(trained.meta["thresholds"]) == m["snn_surrogate"]["thresholds"]
    head = simulate(trained, Xte, scfg.timesteps, steps=[scfg.timesteps])
    assert head.accuracy_at(yte, scfg.timesteps) == m["snn_surrogate"]["accuracy"]
