"""`spikejet deploy MODEL --target loihi|loihi2|nir`: outputs, numbers, and every bad input as one line + exit 2."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from spikejet.ann.model import MLP
from spikejet.cli import main
from spikejet.data import JetTable, write
from spikejet.data.schema import CLASS_NAMES, FEATURE_NAMES
from spikejet.hardware.loihi.evaluate import evaluate_on_loihi
from spikejet.models.file import ModelBundle, save_bundle
from spikejet.snn.bundle import save_network
from spikejet.snn.convert import convert
from spikejet.snn.network import Layer, SpikingNetwork
from spikejet.snn.neurons import IFParams
from spikejet.snn.readout import Readout

T = 10
N_JETS = 600


def _data(rng, n):
    y = rng.integers(0, 5, n)
    X = (np.random.default_rng(3).normal(size=(5, 16))[y] + 1.2 * rng.normal(size=(n, 16))).astype(np.float32)
    X = X * 4.0 + 2.0
    X[:, 15] = np.round(np.abs(X[:, 15]) * 10)  # j_multiplicity is a count
    return X, y  # raw features; the model's scaler standardizes them


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("deploy")
    rng = np.random.default_rng(5)
    Xtr, ytr = _data(rng, 2000)
    scaler = {"mean": [2.0] * 16, "scale": [4.0] * 16}
    Xs = (Xtr - 2.0) / 4.0
    torch.manual_seed(1)
    mlp = MLP((16, 64, 32, 32, 5))
    opt = torch.optim.Adam(mlp.parameters(), 1e-2)
    for _ in range(120):
        idx = torch.randint(0, 2000, (256,))
        loss = torch.nn.functional.cross_entropy(mlp(torch.tensor(Xs[idx])), torch.tensor(ytr[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    mlp.eval()
    net = convert(mlp, Xs, "calibrated", class_names=CLASS_NAMES, feature_names=FEATURE_NAMES, scaler=scaler)
    run = d / "run"
    run.mkdir()
    save_network(run / "snn.pt", net, T, kind="snn_converted")
    save_bundle(d / "ann.pt", ModelBundle(model=mlp, scaler=scaler, feature_names=FEATURE_NAMES,
                                          class_names=CLASS_NAMES, data_class_names=CLASS_NAMES))
    Xte, yte = _data(rng, N_JETS)
    write(JetTable(Xte, yte), d / "jets.h5")
    yield {"dir": d, "snn": run / "snn.pt", "ann": d / "ann.pt", "jets": d / "jets.h5", "net": net,
           "X": (Xte - 2.0) / 4.0, "y": yte}
    torch.set_num_threads(prev)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("spikejet: error: ")
    return err[0]


def test_loihi_target_writes_metrics_figures_and_prints_the_numbers(files, tmp_path, capsys) -> None:
    out = tmp_path / "o"
    rc = main(["deploy", str(files["snn"]), "--target", "loihi", "--data", str(files["jets"]), "--out", str(out),
               "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert list(m) == ["ann", "snn_converted", "loihi"]
    lo = m["loihi"]
    assert lo["profile"] == "loihi1" and lo["timesteps"] == T and lo["reset_changed"] is True
    assert lo["resources"]["compartments"] == 69
    # the same numbers as the stage's evaluation function on the same jets and seed
    ev = evaluate_on_loihi(files["net"], files["X"], files["y"], timesteps=T, profile="loihi1",
                           first_layer_offchip=True, host_device="cpu")
    assert lo["accuracy"] == pytest.approx(float((ev.scores.argmax(1) == files["y"]).mean()), abs=1e-12)
    assert lo["energy_per_inference_j"] == pytest.approx(ev.extra["energy_per_inference_j"], rel=1e-12)
    assert m["snn_converted"]["accuracy"] == pytest.approx(ev.extra["float_accuracy"], abs=1e-12)
    # the ANN's whole system on a GPU: 4,389 ops + 14 softmax ops at 0.3 nJ, 21 float32 values over the link
    assert m["ann"]["energy_per_inference_j"]["gpu"] == pytest.approx((4389 + 14) * 0.3e-9 + 21 * 32 * 2.6e-9 / 64,
                                                                     rel=1e-12)
    assert m["ann"]["arithmetic_energy_per_inference_j"]["gpu"] == pytest.approx(4389 * 0.3e-9, rel=1e-12)
    assert "loihi" in m["snn_converted"]["energy_per_inference_j"]
    for fig in ("energy_table.png", "energy.png"):
        assert (out / "figures" / fig).is_file()
    assert f"loihi1 integer model {lo['accuracy'] * 100:.2f} %" in text
    assert "latency: 13 steps (T = 10 + 3 axon delays)" in text
    assert "reset by subtraction became reset to zero" in text


def test_loihi2_keeps_subtraction_and_uses_the_runs_test_set(files, tmp_path, capsys) -> None:
    shutil.copy(files["jets"], files["snn"].with_name("test.h5"))
    try:
        out = tmp_path / "o"
        assert main(["deploy", str(files["snn"]), "--target", "loihi2", "--out", str(out), "--quiet", "--no-curve",
                     "--max-jets", "200", "--time-per-step", "1e-5", "--time-source", "assumed"]) == 0
    finally:
        files["snn"].with_name("test.h5").unlink()
    m = json.loads((out / "metrics.json").read_text())["loihi"]
    assert m["profile"] == "loihi2" and m["reset_changed"] is False
    assert m["n_jets_evaluated"] == 200 and "test.h5 (200 of 600 jets" in m["data"]
    assert list(m["accuracy_vs_timesteps"]) == [str(T)]
    assert m["latency"]["seconds"] == pytest.approx(13e-5)
    assert "us (assumed)" in capsys.readouterr().out


def test_loihi_without_data_reports_the_mapping_only(files, tmp_path, capsys) -> None:
    out = tmp_path / "o"
    assert main(["deploy", str(files["snn"]), "--target", "loihi", "--out", str(out), "--timesteps", "20"]) == 0
    text = capsys.readouterr().out
    assert "69 compartments" in text and "give --data" in text
    m = json.loads((out / "metrics.json").read_text())["loihi"]
    assert m["timesteps"] == 20 and m["latency"]["steps"] == 23 and "accuracy" not in m


def test_nir_target_refuses_subtraction_then_exports_with_the_change(files, tmp_path, capsys) -> None:
    pytest.importorskip("nir")
    out = tmp_path / "o"
    assert main(["deploy", str(files["snn"]), "--target", "nir", "--out", str(out)]) == 2
    assert "--allow-reset-change" in _error_line(capsys)
    assert not out.exists() or not list(out.glob("*.nir"))
    assert main(["deploy", str(files["snn"]), "--target", "nir", "--out", str(out), "--allow-reset-change",
                 "--data", str(files["jets"]), "--quiet"]) == 0
    text = capsys.readouterr().out
    s = json.loads((out / "nir.json").read_text())
    assert s["file"] == "snn.nir" and (out / "snn.nir").is_file()
    assert "reset subtract -> zero" in s["semantic_changes"] and "semantic changes" in text
    assert 0 <= s["accuracy_nir"] <= 1 and s["accuracy_model"] > 0.5
    from spikejet.interop.nir import read_nir

    assert read_nir(out / "snn.nir").sizes == files["net"].sizes


def test_nir_target_quantized(files, tmp_path, capsys) -> None:
    pytest.importorskip("nir")
    out = tmp_path / "o"
    assert main(["deploy", str(files["snn"]), "--target", "nir", "--quantize", "loihi1", "--out", str(out),
                 "--allow-reset-change"]) == 0
    import nir

    g = nir.read(out / "snn_loihi1.nir")
    assert g.metadata["loihi_profile"] == "loihi1"
    assert "loihi_weight_mant" in g.nodes["fc1_affine"].metadata


def _huge(tmp_path):
    """130 chip layers of one neuron each: 130 cores > the 128 of one chip."""
    layers = [Layer(np.ones((1, 16)), np.zeros(1), IFParams(), "in")]
    layers += [Layer(np.ones((1, 1)), np.zeros(1), IFParams(), f"l{i}") for i in range(130)]
    net = SpikingNetwork(tuple(layers), feature_names=FEATURE_NAMES, readout=Readout("count"))
    p = tmp_path / "huge.pt"
    save_network(p, net, 4)
    return p


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (lambda f, t: ["deploy", str(f["snn"]), "--target", "truenorth"], "unknown --target 'truenorth'"),
        (lambda f, t: ["deploy", str(f["ann"]), "--target", "loihi"], "not a spiking network"),
        (lambda f, t: ["deploy", str(f["jets"]), "--target", "loihi"], ""),
        (lambda f, t: ["deploy", str(t / "missing.pt"), "--target", "loihi"], ""),
        (lambda f, t: ["deploy", str(_huge(t)), "--target", "loihi", "--out", str(t / "o")], "130 cores = 2 loihi1 chips"),
        (lambda f, t: ["deploy", str(f["snn"]), "--target", "loihi", "--quantize", "loihi1"], "--quantize applies"),
        (lambda f, t: ["deploy", str(f["snn"]), "--target", "loihi", "--timesteps", "0"], "--timesteps"),
        (lambda f, t: ["deploy", str(f["snn"]), "--target", "loihi", "--time-per-step", "1e-5"], "--time-source"),
        (lambda f, t: ["deploy", str(f["snn"]), "--target", "loihi", "--on-chip-input", "--out", str(t / "o")],
         "constant-current input cannot enter the chip"),
        (lambda f, t: ["deploy", str(f["snn"]), "--target", "loihi", "--data", str(t / "nope.h5")], ""),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, capsys, argv, match) -> None:
    assert main(argv(files, tmp_path)) == 2
    assert match in _error_line(capsys)


def test_data_whose_features_do_not_match(files, tmp_path, capsys) -> None:
    net = files["net"].replace(feature_names=tuple(f"x{i}" for i in range(16)))
    save_network(tmp_path / "renamed.pt", net, T)
    assert main(["deploy", str(tmp_path / "renamed.pt"), "--target", "loihi", "--data", str(files["jets"]),
                 "--out", str(tmp_path / "o")]) == 2
    assert "does not match the model's features" in _error_line(capsys)
