"""``spikejet run --only`` / ``--skip``: stage and group names, what a skip takes with it, bad names."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spikejet.cli import main
from spikejet.config import resolve_config
from spikejet.data import JetTable, write
from spikejet.errors import ConfigError
from spikejet.run.registry import GROUPS, default_stage_names, get_stage, select_stages, stage_names


@pytest.fixture
def cfg():
    return resolve_config(None, quick=True)


def test_skip_a_group_and_what_needs_it(cfg):
    sel = select_stages(cfg, skip=["particles"])
    assert "ann_particles" not in sel.stages and "snn_particles" not in sel.stages
    assert "train_ann" in sel.stages and sel.stages[-1] == "report"
    assert sel.notes == ()  # nothing else needs the particle stages
    # skipping the ANN skips everything built on it, one line each
    sel = select_stages(cfg, skip=["train_ann"])
    for name in ("evaluate_ann", "convert_snn", "snn_rate", "snn_surrogate", "fpga", "neurobench"):
        assert name not in sel.stages
    assert "ann_particles" in sel.stages and "loihi" in sel.stages
    assert "skipping evaluate_ann too: it needs train_ann" in sel.notes
    assert "skipping neurobench too: it needs evaluate_ann" in sel.notes  # transitively
    # snn_particles needs ann_particles (init: ann) but not with init: random
    assert "skipping snn_particles too: it needs ann_particles" in select_stages(cfg, skip=["ann_particles"]).notes
    rnd = resolve_config({"snn_particles": {"init": "random"}}, quick=True)
    assert "snn_particles" in select_stages(rnd, skip=["ann_particles"]).stages


def test_only_adds_needs_and_the_report(cfg):
    sel = select_stages(cfg, only=["particles"])
    images = tuple(n for n in ("cnn_image", "snn_image") if n in stage_names())  # registered by another issue
    assert sel.stages == ("load", "split", "ann_particles", "snn_particles", "ann_interaction", "snn_interaction",
                          *images, "report")
    assert select_stages(cfg, only=["snn_particles"], skip=["report"]).stages[-1] == "snn_particles"
    assert select_stages(cfg).stages == tuple(default_stage_names())
    # opt-in stages (too slow for the main job) run only when asked for
    opt_in = [n for n in stage_names() if not get_stage(n).default_run]
    assert not set(opt_in) & set(select_stages(cfg).stages)
    assert select_stages(cfg, only=["interaction"]).stages == ("load", "split", "ann_interaction", "snn_interaction",
                                                              "report")
    # group members not registered (yet) are ignored, registered ones kept in registry order
    assert set(GROUPS["particles"]) - set(stage_names()) <= {"cnn_image", "snn_image"}


@pytest.mark.parametrize("flag", ["only", "skip"])
def test_unknown_name_is_refused(cfg, flag):
    with pytest.raises(ConfigError, match=f"--{flag}: unknown stage or group 'partciles'"):
        select_stages(cfg, **{flag: ["partciles"]})
    with pytest.raises(ConfigError, match="leave no stage"):
        select_stages(cfg, skip=["load", "report"])


def test_cli_only_and_skip(tmp_path, capsys):
    rng = np.random.default_rng(5)
    y = rng.integers(0, 5, 600)
    X = (rng.normal(size=(5, 16))[y] + rng.normal(size=(600, 16))).astype(np.float32)
    X[:, 15] = np.round(np.abs(X[:, 15]) * 10)  # j_multiplicity is a count
    data = tmp_path / "jets.h5"
    write(JetTable(X, y), data)
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["run", "--data", str(data), "--quick", "--quiet", "--only", "train_ann", "--skip", "evaluate_ann",
                   "--out", str(tmp_path / "r")])
    finally:
        torch.set_num_threads(prev)
    assert rc == 0
    assert (tmp_path / "r" / "ann.pt").is_file() and not (tmp_path / "r" / "metrics.json").exists()  # not scored
    assert json.loads((tmp_path / "r" / "run.json").read_text())["stage_seconds"].keys() == {"load", "split", "train_ann",
                                                                                          "report"}
    capsys.readouterr()
    assert main(["run", "--data", str(data), "--quick", "--skip", "trainann", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--skip: unknown stage or group 'trainann'" in err[0]
    assert not (tmp_path / "x").exists()
