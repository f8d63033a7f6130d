"""The particle models' files (issue 13): ann_particles.pt and snn_particles.pt score like the run."""

from __future__ import annotations

import json

import numpy as np
import pytest

SCORE_KEYS = ("accuracy", "accuracy_interval", "auc", "rejection")
CONFIG = {"data": {"max_jets": 600},
          "ann_particles": {"max_train_jets": 200, "epochs": 1, "patience": 1},
          "snn_particles": {"max_train_jets": 200, "epochs": 1, "patience": 1, "timesteps": 4, "loihi": False}}


@pytest.fixture(scope="module")
def particle_run(tmp_path_factory):
    """A small run of both particle stages on the embedded sample, and its test jets with particles."""
    import torch

    from spikejet.config import resolve_config
    from spikejet.data import load, write
    from spikejet.run.runner import run

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("pmodels")
    cfg = resolve_config(CONFIG)
    out = tmp / "run"
    state = run(cfg, out, progress=False, stages=["snn_particles"])  # ann_particles comes with it
    test = load("default", particles=True).subset(state.data.subset).subset(state.data.split.test)
    data = tmp / "test_particles.h5"
    write(test, data)
    return out, test, data


@pytest.mark.parametrize("key", ["ann_particles", "snn_particles"])
def test_particle_model_files_give_the_runs_test_scores(particle_run, key, one_torch_thread):
    from spikejet.data import load
    from spikejet.errors import ModelError
    from spikejet.models.file import PARTICLE_INPUTS, load_bundle

    out, test, data = particle_run
    bundle = load_bundle(out / f"{key}.pt")
    assert bundle.needs_particles and bundle.kind == key and bundle.arch["inputs"] == PARTICLE_INPUTS
    assert set(bundle.arch["particles"]) == {"n_particles", "jet_features", "scaler"}
    saved = np.load(out / "predictions" / f"{key}_test.npz")["scores"]  # stored as float32
    scores = bundle.predict_table(test)
    np.testing.assert_array_equal(scores.astype(saved.dtype), saved)
    # and from the jets written to a file and read back with their particles (what 'spikejet evaluate' does)
    np.testing.assert_array_equal(bundle.predict_table(load(str(data), particles=True)), scores)
    with pytest.raises(ModelError, match="particles"):
        bundle.predict_proba(test.X)


@pytest.mark.parametrize("key", ["ann_particles", "snn_particles"])
def test_evaluate_gives_the_runs_metrics(particle_run, key, tmp_path, one_torch_thread):
    from spikejet.run.runner import evaluate_model_file

    out, _, data = particle_run
    state = evaluate_model_file(out / f"{key}.pt", str(data), tmp_path / "ev", progress=False)
    run_m = json.loads((out / "metrics.json").read_text())[key]
    ev_m = json.loads((state.run_dir / "metrics.json").read_text())[key]
    for k in SCORE_KEYS:
        assert ev_m[k] == run_m[k], k
    if key == "snn_particles":
        assert load_arch_T(out / f"{key}.pt") == run_m["timesteps"]


def load_arch_T(path) -> int:
    from spikejet.models.file import load_bundle

    return load_bundle(path).arch["predict"]["T"]


def test_model_file_bytes_are_the_same_for_the_same_seed(particle_run, tmp_path, one_torch_thread):
    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    out, _, _ = particle_run
    again = tmp_path / "again"
    run(resolve_config(CONFIG), again, progress=False, stages=["ann_particles"])
    assert (again / "ann_particles.pt").read_bytes() == (out / "ann_particles.pt").read_bytes()


def test_data_without_particles_gives_one_line_and_exit_2(particle_run, tmp_path, capsys, one_torch_thread):
    import dataclasses

    from spikejet.cli import main
    from spikejet.data import write

    out, test, _ = particle_run
    plain = tmp_path / "features_only.h5"
    write(dataclasses.replace(test, particles=None, particle_mask=None, particle_fields=()), plain)
    for key in ("ann_particles", "snn_particles"):
        code = main(["evaluate", str(out / f"{key}.pt"), "--data", str(plain), "--out", str(tmp_path / key),
                     "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2
        assert len(err.splitlines()) == 1 and "particles" in err, err
