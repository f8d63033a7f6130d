"""The "loihi" stage: its config section, metrics entry, energy of every model, figures, loihi.nir."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikejet import run as pipeline
from spikejet.ann.model import MLP
from spikejet.config import resolve_config
from spikejet.data.schema import CLASS_NAMES, FEATURE_NAMES
from spikejet.errors import ConfigError, ModelError
from spikejet.evaluate.metrics import class_probabilities
from spikejet.hardware import energy as E
from spikejet.hardware.loihi.evaluate import compensate_delay_bias, evaluate_on_loihi
from spikejet.models.file import ModelBundle
from spikejet.report.tables import energy_table_rows
from spikejet.snn.convert import convert
from spikejet.snn.simulate import simulate
from spikejet.stages import loihi as H

N_TRAIN, N_TEST = 3000, 500
T = 12


def _data(rng: np.random.Generator, n: int):
    y = rng.integers(0, 5, n)
    centers = np.random.default_rng(7).normal(size=(5, 16))
    X = (centers[y] + 1.2 * rng.normal(size=(n, 16))).astype(np.float32)
    return X, y


@pytest.fixture(scope="module")
def models():
    """A small trained ANN and its converted SNN (calibrated: subtract reset, membrane read-out)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(11)
    Xtr, ytr = _data(rng, N_TRAIN)
    torch.manual_seed(0)
    mlp = MLP((16, 64, 32, 32, 5))
    opt = torch.optim.Adam(mlp.parameters(), 1e-2)
    xt, yt = torch.tensor(Xtr), torch.tensor(ytr)
    for _ in range(150):
        idx = torch.randint(0, N_TRAIN, (256,))
        loss = torch.nn.functional.cross_entropy(mlp(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    mlp.eval()
    scaler = {"mean": [0.0] * 16, "scale": [1.0] * 16}
    bundle = ModelBundle(model=mlp, scaler=scaler, feature_names=FEATURE_NAMES, class_names=CLASS_NAMES,
                         data_class_names=CLASS_NAMES)
    net = convert(mlp, Xtr, "calibrated", class_names=CLASS_NAMES, feature_names=FEATURE_NAMES, scaler=scaler)
    Xte, yte = _data(rng, N_TEST)
    yield bundle, net, Xte, yte
    torch.set_num_threads(prev)


def _ctx(tmp_path, models, *, overrides=None, extra_models=None):
    """A run state holding an ANN and a converted SNN (scored), ready for the loihi stage."""
    from spikejet.run.context import RunData, StageResult
    from spikejet.run.rundir import RunDir
    from spikejet.run.score import score

    bundle, net, Xte, yte = models
    # these tests exercise the study's Loihi 1 layout (first layer on the host PC, reset to zero on the chip);
    # the default preset uses loihi2 with the whole network on the chip (tests below)
    cfg = resolve_config(seed=5, data_source="unused.h5",
                         overrides={"loihi": {"profile": "loihi1", "first_layer_offchip": True, "host_device": "cpu",
                                              **dict(overrides or {})}})
    rd = RunDir(tmp_path)
    rd.root.mkdir(parents=True, exist_ok=True)
    state = pipeline.RunState(config=cfg, rundir=rd, data=RunData(X={"test": Xte}, y={"test": yte}))
    with torch.no_grad():
        ann_scores = bundle.model(torch.tensor(Xte)).numpy()
    pipeline.commit(state, "train_ann", StageResult(model=bundle))
    pipeline.commit(state, "evaluate_ann", StageResult(scored=score(yte, class_probabilities(ann_scores), class_names=CLASS_NAMES,
                                                                    config=cfg)))
    res = simulate(net, Xte, T)
    c = res.op_counts(T)
    pipeline.commit(state, "convert_snn", StageResult(model=net, scored=score(
        yte, class_probabilities(res.scores), class_names=CLASS_NAMES, config=cfg, extra={
            "timesteps": T, "synops_per_inference": c["synops"], "spikes_per_inference": c["spikes"],
            "neuron_updates_per_inference": c["neuron_updates"]})))
    for key, (model, entry) in (extra_models or {}).items():  # a model with a stand-in metrics entry
        from spikejet.run.context import Scored

        pipeline.commit(state, key, StageResult(model=model, scored=Scored(
            y_true=yte, scores=res.scores, class_names=CLASS_NAMES, entry=entry)))
    return state


@pytest.fixture(scope="module")
def staged(models, tmp_path_factory):
    ctx = _ctx(tmp_path_factory.mktemp("run"), models)
    pipeline.run_stage(ctx, "loihi")
    return ctx


# --------------------------------------------------------------------------- config


def test_config_section_defaults_and_validation() -> None:
    cfg = resolve_config(data_source="x.h5")
    assert cfg.loihi.profile == "loihi2" and cfg.loihi.sources == ("snn_surrogate", "snn_converted")
    assert resolve_config(data_source="x.h5", preset="seed-2019").loihi.profile == "loihi1"
    assert resolve_config(data_source="x.h5", quick=True).loihi.max_jets == 2000
    for bad, match in [({"profile": "loihi3"}, "loihi.profile"), ({"max_chips": 0}, "loihi.max_chips"),
                       ({"time_per_step_s": 1e-5}, "time_per_step_source"), ({"host_device": "loihi"}, "host_device"),
                       ({"sources": []}, "loihi.sources"), ({"timesteps": 0}, "loihi.timesteps")]:
        with pytest.raises(ConfigError, match=match):
            resolve_config(data_source="x.h5", overrides={"loihi": bad})


# --------------------------------------------------------------------------- the metrics entry


def test_metrics_entry(staged) -> None:
    m = staged.metrics["loihi"]
    for key in ("accuracy", "auc", "confusion_matrix", "timesteps", "accuracy_vs_timesteps", "synops_per_inference",
                "energy_per_inference_j", "latency", "resources", "quantization", "source", "float_accuracy"):
        assert key in m, key
    assert m["source"] == "snn_converted" and m["timesteps"] == T and m["profile"] == "loihi1"
    assert list(m["accuracy_vs_timesteps"]) == ["1", "2", "4", "8", "12"]
    assert m["accuracy"] == pytest.approx(m["accuracy_vs_timesteps"][str(T)], abs=1e-12)
    # the converted net resets by subtraction: loihi1 resets to zero, and says so
    assert m["reset_changed"] is True
    # 16-64-32-32-5 with the first layer off-chip: 69 compartments on 3 cores (docs/hardware.md)
    assert m["resources"]["compartments"] == 69 and m["resources"]["cores"] == 3
    assert m["delay_bias_compensation"] is True
    assert m["latency"] == {"steps": T + 3, "window_steps": T, "delay_steps": 3, "seconds": None,
                            "time_per_step_s": None,
                            "assumption": "no wall-clock time per step known: steps only"}
    on_disk = json.loads((staged.run_dir / "metrics.json").read_text())
    assert on_disk["loihi"]["energy_per_inference_j"] == m["energy_per_inference_j"]


def test_integer_model_stays_close_to_the_float_snn(staged) -> None:
    m = staged.metrics["loihi"]
    assert m["float_accuracy"] == pytest.approx(staged.metrics["snn_converted"]["accuracy"], abs=1e-12)
    # reset to zero instead of subtraction and 8-bit weights: a small loss on this easy sample
    assert abs(m["accuracy_gap_to_float"]) <= 0.03
    assert m["agreement_with_float"] >= 0.9


def test_energy_follows_the_cited_constants(staged) -> None:
    m = staged.metrics["loihi"]
    syn, upd = m["synops_per_inference"], m["neuron_updates_per_inference"]
    # every on-chip compartment (69) is updated at every one of the T + 3 chip steps
    assert upd == 69 * (T + 3)
    loihi_j = syn * (23.6 + 3.5) * 1e-12 + upd * 81e-12
    assert m["energy_per_inference_j"]["loihi"] == pytest.approx(loihi_j, rel=1e-12)
    assert set(m["energy_per_inference_j"]) == set(E.SPIKING_DEVICES)
    # host: the off-chip first layer, 64 x 16 MACs once (constant current) + 64 neuron updates per step
    off = m["offchip_per_inference"]
    assert off["macs"] == 64 * 16 and off["neuron_updates"] == 64 * T
    assert m["host_energy_per_inference_j"]["cpu"] == pytest.approx((1024 + 64 * T) * 8.6e-9, rel=1e-12)
    assert m["energy_with_host_per_inference_j"] == pytest.approx(loihi_j + (1024 + 64 * T) * 8.6e-9, rel=1e-12)
    # the reference: the ANN's whole system on a GPU (its ops + the softmax, 21 float32 values over the link)
    ann_gpu = (4256 + 133 + 14) * 0.3e-9 + (16 + 5) * 32 * E.IO_J_PER_BIT
    assert m["ann_energy_per_inference_j"]["gpu"] == pytest.approx(ann_gpu, rel=1e-12)
    assert m["ann_arithmetic_energy_per_inference_j"]["gpu"] == pytest.approx((4256 + 133) * 0.3e-9, rel=1e-12)
    assert m["energy_ratio_to_ann_gpu"] == pytest.approx(loihi_j / ann_gpu, rel=1e-12)


def test_other_models_gain_energy_estimates(staged) -> None:
    ann = staged.metrics["ann"]
    assert ann["arithmetic_energy_per_inference_j"]["gpu"] == pytest.approx((4256 + 133) * 0.3e-9, rel=1e-12)
    assert ann["energy_per_inference_j"] == E.ann_energy([16, 64, 32, 32, 5])["energy_per_inference_j"]
    assert ann["energy_per_inference_j"] == staged.metrics["loihi"]["ann_energy_per_inference_j"]
    assert ann["macs_per_inference"] == 4256
    snn = staged.metrics["snn_converted"]
    counts = E.snn_counts(snn["synops_per_inference"], snn["neuron_updates_per_inference"], T)
    assert snn["energy_per_inference_j"]["loihi"] == pytest.approx(E.energy_per_inference(counts, "loihi"))
    dense = E.snn_dense_counts([16, 64, 32, 32, 5], T)
    assert snn["energy_per_inference_j"]["gpu"] == pytest.approx(E.energy_per_inference(dense, "gpu"))


def test_add_energy_estimates_leaves_existing_entries_alone() -> None:
    metrics = {"ann": {"energy_per_inference_j": {"gpu": 1.0}},
               "snn_x": {"timesteps": 4, "synops_per_inference": 100.0},
               "other": {"accuracy": 0.5}}
    changed = E.add_energy_estimates(metrics, {"ann": (16, 5), "snn_x": (16, 8, 5)})
    assert changed == ["snn_x"]
    assert metrics["ann"]["energy_per_inference_j"] == {"gpu": 1.0}
    # neuron updates from the sizes when the entry lacks them: (8 + 5) x 4 steps
    assert metrics["snn_x"]["energy_per_inference_j"]["loihi"] == pytest.approx(100 * 27.1e-12 + 52 * 81e-12)
    assert "energy_per_inference_j" not in metrics["other"]


# --------------------------------------------------------------------------- artifacts and report


def test_nir_file_is_the_quantized_network(staged) -> None:
    pytest.importorskip("nir")
    from spikejet.interop.nir import dequantize, read_nir

    m = staged.metrics["loihi"]
    assert m["nir_file"] == H.NIR_FILE and "loihi.nir" in staged.artifacts
    # the off-chip first layer resets by subtraction on the host; NIR cannot say so, and the file records it
    assert m["nir_semantic_changes"] == "layer fc0: reset subtract -> zero"
    back = read_nir(staged.run_dir / H.NIR_FILE)
    assert back.sizes == (16, 64, 32, 32, 5)
    net = staged.models["snn_converted"]
    ref = dequantize(evaluate_on_loihi(net, staged.X["test"][:50], staged.y["test"][:50], timesteps=T,
                                       profile="loihi1", first_layer_offchip=True, curve=False).mapping, net)
    for a, b in zip(back.layers, ref.layers, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        if b.neuron is not None:
            assert a.neuron.reset == "zero"
            assert a.neuron.threshold == pytest.approx(b.neuron.threshold, rel=1e-7)


def test_figures_table_and_report(staged) -> None:
    names = {f.name: f for f in staged.figures}
    for name in ("hardware_energy_table", "hardware_energy", "hardware_accuracy_vs_timesteps"):
        assert name in names and names[name].section == "hardware"
        assert names[name].path.is_file()
    rows = energy_table_rows(staged.metrics)
    models = {r["stage"] for r in rows}
    assert models == {"ann", "snn_converted", "loihi"}
    host = [r for r in rows if r["device"].startswith("loihi + host")]
    assert len(host) == 1 and host[0]["energy_j"] == staged.metrics["loihi"]["energy_with_host_per_inference_j"]
    pipeline.run_stage(staged, "report")
    html = (staged.run_dir / "report.html").read_text()
    assert "<h2>Hardware</h2>" in html and "Loihi fixed-point model" in html
    assert "69.80 %" in html  # the study's Loihi line in the comparison table


def test_stage_is_deterministic(models, tmp_path) -> None:
    a = _ctx(tmp_path / "a", models, overrides={"max_jets": 300, "curve": False})
    b = _ctx(tmp_path / "b", models, overrides={"max_jets": 300, "curve": False})
    pipeline.run_stage(a, "loihi")
    pipeline.run_stage(b, "loihi")
    assert a.metrics["loihi"] == b.metrics["loihi"]
    assert a.metrics["loihi"]["n_jets_evaluated"] == 300
    assert list(a.metrics["loihi"]["accuracy_vs_timesteps"]) == [str(T)]


def test_source_is_picked_by_the_config_key(models, tmp_path) -> None:
    bundle, net, _, _ = models
    ctx = _ctx(tmp_path / "a", models, overrides={"max_jets": 100, "curve": False, "write_nir": False},
               extra_models={"snn_surrogate": (net, {"timesteps": 4})})
    pipeline.run_stage(ctx, "loihi")
    assert ctx.metrics["loihi"]["source"] == "snn_surrogate" and ctx.metrics["loihi"]["timesteps"] == 4
    ctx = _ctx(tmp_path / "b", models, overrides={"sources": ["snn_rate"]})
    with pytest.raises(ConfigError, match="none of its source models"):
        pipeline.run_stage(ctx, "loihi")
    ctx = _ctx(tmp_path / "c", models, overrides={"sources": ["ann"]})
    with pytest.raises(ModelError, match="not a spiking network"):
        pipeline.run_stage(ctx, "loihi")


def test_loihi2_keeps_subtraction_and_skips_the_nir_file(models, tmp_path) -> None:
    ctx = _ctx(tmp_path, models, overrides={"profile": "loihi2", "max_jets": 300, "curve": False,
                                            "allow_reset_change": False, "time_per_step_s": 1e-5,
                                            "time_per_step_source": "assumed for a test"})
    pipeline.run_stage(ctx, "loihi")
    m = ctx.metrics["loihi"]
    assert m["reset_changed"] is False and m["resources"]["cores"] == 3
    assert m["nir_file"] is None and "subtract" in m["nir_note"]
    assert m["latency"]["seconds"] == pytest.approx((T + 3) * 1e-5)
    assert "subtract" in m["loihi1_check"]["not_run"]  # Loihi 1 cannot subtract: said, not faked


# --------------------------------------------------------------------------- delay-bias compensation


def _random_net(rng, neuron):
    from spikejet.snn.network import Layer, SpikingNetwork
    from spikejet.snn.readout import Readout

    sizes = (8, 24, 16, 5)
    layers = [Layer(rng.normal(0, 1.5 / np.sqrt(a), (b, a)), rng.normal(0.05, 0.08, b),
                    None if i == 2 else neuron, f"fc{i}")
              for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False))]
    return SpikingNetwork(tuple(layers), readout=Readout("membrane"))


def test_delay_bias_compensation_equals_a_network_without_delays(rng) -> None:
    """IF layers: starting each chip layer D_k biases lower makes the delayed chip compute exactly what the
    delay-free chip computes (same spikes, same read-out), which plain delays do not."""
    from spikejet.hardware.loihi import map_network, run_mapped
    from spikejet.snn.neurons import IFParams

    net = _random_net(rng, IFParams(threshold=1.0, reset="subtract", v_init=0.5))
    X = rng.normal(0, 1.5, (300, 8)).astype(np.float32)
    T = 6
    delayed = map_network(net, profile="loihi2", n_steps=T, axon_delay=1)
    free = run_mapped(map_network(net, profile="loihi2", n_steps=T, axon_delay=0), X, T)
    comp = compensate_delay_bias(delayed)
    np.testing.assert_array_equal(run_mapped(comp, X, T).scores, free.scores)
    assert not np.array_equal(run_mapped(delayed, X, T).scores, free.scores)
    # layer k (1-based chip layers) integrates k biases before its first input
    for k, (a, b) in enumerate(zip(delayed.network.layers, comp.network.layers, strict=True), start=1):
        np.testing.assert_array_equal(np.asarray(b.v_init), np.asarray(a.v_init) - k * a.compartment.bias_eff)


def test_delay_bias_compensation_for_leaky_neurons_is_close(rng) -> None:
    from spikejet.hardware.loihi import map_network, run_mapped
    from spikejet.snn.neurons import LIFParams

    net = _random_net(rng, LIFParams(tau_mem=0.02, tau_syn=0.0, threshold=0.5, reset="zero"))
    X = rng.normal(0, 1.5, (300, 8)).astype(np.float32)
    T = 8
    free = run_mapped(map_network(net, profile="loihi1", n_steps=T, axon_delay=0), X, T).predictions
    comp = run_mapped(compensate_delay_bias(map_network(net, profile="loihi1", n_steps=T)), X, T).predictions
    assert (comp == free).mean() >= 0.95


# --------------------------------------------------------------------------- the whole network on the chip (default)


def test_default_layout_is_the_whole_network_on_chip() -> None:
    cfg = resolve_config(data_source="x.h5")
    assert cfg.loihi.first_layer_offchip is False and cfg.loihi.profile == "loihi2" and cfg.loihi.input_bits == 10
    study = resolve_config(data_source="x.h5", preset="seed-2019").loihi
    assert study.first_layer_offchip is True and study.profile == "loihi1" and study.host_device == "cpu"
    for bad, match in [({"input_bits": 1}, "loihi.input_bits"), ({"input_bits": 25}, "loihi.input_bits"),
                       ({"input_clip": 0}, "loihi.input_clip")]:
        with pytest.raises(ConfigError, match=match):
            resolve_config(data_source="x.h5", overrides={"loihi": bad})


def test_stage_on_chip_counts_the_system_and_reads_the_nir_file_back(models, tmp_path) -> None:
    pytest.importorskip("nir")
    from spikejet.interop.nir import read_nir
    from spikejet.runtime import stage_seed

    ctx = _ctx(tmp_path, models, overrides={"profile": "loihi2", "first_layer_offchip": False, "host_device": "arm",
                                            "max_jets": 300, "curve": False})
    pipeline.run_stage(ctx, "loihi")
    m = ctx.metrics["loihi"]
    assert m["off_chip_layers"] == 0 and isinstance(m["off_chip_layers"], int)
    assert m["input_mode"] == "graded_once" and m["input_quantization"]["bits"] == 10
    assert m["resources"]["compartments"] == 64 + 32 + 32 + 5
    assert abs(m["accuracy_gap_to_float"]) <= 1 - m["agreement_with_float"] + 1e-12
    b = m["system_energy_breakdown_j"]
    assert m["system_energy_per_inference_j"] == pytest.approx(b["chip"] + b["io"] + b["host"], rel=1e-12)
    assert b["chip"] == m["energy_per_inference_j"]["loihi"] and b["host"] == pytest.approx(46 * 0.9e-9)
    assert m["system_energy_ratio_to_ann_gpu"] == pytest.approx(
        m["system_energy_per_inference_j"] / ctx.metrics["ann"]["energy_per_inference_j"]["gpu"], rel=1e-12)
    # nir_accuracy is the file the runner wrote, read back: the same bytes give the same accuracy here
    back = read_nir(ctx.run_dir / H.NIR_FILE)
    X, y = ctx.X["test"], ctx.y["test"]
    seed = stage_seed(ctx.config.seed, H.STAGE_NAME)
    rows = np.sort(np.random.default_rng(seed).choice(len(y), size=300, replace=False))
    pred = simulate(back, X[rows], T, seed=seed).predictions_at(T)
    assert m["nir_accuracy"] == pytest.approx(float((pred == y[rows]).mean()), abs=0)
    # the converted network resets by subtraction, which NIR cannot say: the file says what changed
    assert "reset subtract -> zero" in m["nir_semantic_changes"]
    # the Loihi 1 cross-check of the same network (first layer on the host, reset to zero)
    c = m["loihi1_check"]
    assert c["first_layer_offchip"] is True and c["reset_changed"] is True
    assert c["gap_to_float"] == pytest.approx(c["accuracy"] - c["float_accuracy"], abs=1e-12)
    assert abs(c["gap_to_float"]) <= 1 - c["agreement_with_float"] + 1e-12
    assert 0.0 < c["accuracy"] <= 1.0


def test_loihi1_check_can_be_turned_off_and_is_absent_on_loihi1(models, staged, tmp_path) -> None:
    assert "loihi1_check" not in staged.metrics["loihi"]  # the stage already runs Loihi 1
    ctx = _ctx(tmp_path, models, overrides={"profile": "loihi2", "first_layer_offchip": False, "host_device": "arm",
                                            "max_jets": 100, "curve": False, "write_nir": False,
                                            "loihi1_check": False})
    pipeline.run_stage(ctx, "loihi")
    assert "loihi1_check" not in ctx.metrics["loihi"]


def test_study_layout_has_one_off_chip_layer(staged) -> None:
    m = staged.metrics["loihi"]
    assert m["off_chip_layers"] == 1 and m["input_mode"] == "offchip"
    assert m["system_energy_breakdown_j"]["host"] == pytest.approx(
        m["host_energy_per_inference_j"]["cpu"] + 14 * 8.6e-9, rel=1e-12)
    assert m["nir_accuracy"] is not None and 0.0 <= m["nir_accuracy"] <= 1.0
