"""Two workers (``jobs=2``, :mod:`spikejet.run.parallel`): the particle-level stages in a second
process give the same files, numbers and order as one process; its failure fails the run."""

from __future__ import annotations

import hashlib
import json

import pytest

from spikejet import run as pipeline
from spikejet.cli import main
from spikejet.config import resolve_config
from spikejet.errors import ConfigError
from spikejet.run.parallel import STAGING_DIR, Worker, plan
from spikejet.run.registry import default_stage_names, with_needs
from spikejet.runtime import default_jobs

#: The ANN beside the deep sets and their spiking twin: a main lane and a worker-1 lane.
STAGES = ["train_ann", "snn_particles"]


@pytest.fixture(scope="module")
def cfg():
    return resolve_config(None, quick=True)


def _digests(root):
    """sha256 of every file a run writes that holds no wall-clock time (run.json, histories, the report do)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("run.json", "report.html") and not p.name.startswith("history_")}


def test_plan_splits_only_where_both_workers_have_work(cfg):
    wanted = default_stage_names()
    two = plan(wanted, cfg, 2)
    assert two is not None and two.side == ("ann_particles", "snn_particles")
    assert set(two.main) | set(two.side) == set(wanted) and "report" == two.main[-1]
    assert plan(wanted, cfg, 1) is None
    assert plan(with_needs(["snn_particles", "report"], cfg), cfg, 2) is None  # the main worker would only wait
    assert plan(with_needs(["train_ann", "report"], cfg), cfg, 2) is None  # nothing for the second
    assert default_jobs() in (1, 2)


def test_two_workers_write_what_one_writes(cfg, tmp_path):
    one = pipeline.run(cfg, tmp_path / "one", progress=False, stages=STAGES, jobs=1)
    two = pipeline.run(cfg, tmp_path / "two", progress=False, stages=STAGES, jobs=2)
    assert (one.workers, two.workers) == (1, 2)
    a, b = _digests(tmp_path / "one"), _digests(tmp_path / "two")
    assert {"metrics.json", "snn_particles.pt", "snn_particles.nir", "predictions/snn_particles_test.npz",
            "ann_particles.pt", "ann.pt"} <= set(a)
    assert a == b  # metrics, predictions, model and NIR files: the same bytes
    assert list(two.metrics) == list(one.metrics) and list(one.metrics)[-2:] == ["ann_particles", "snn_particles"]
    assert list(two.timings) == list(one.timings)
    assert [f.name for f in two.figures] == [f.name for f in one.figures]
    assert all(f.path.is_file() and f.path.parent.parent == tmp_path / "two" for f in two.figures)
    assert type(two.models["snn_particles"]) is type(one.models["snn_particles"])
    manifest = json.loads((tmp_path / "two" / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["workers"] == 2
    assert 0 < manifest["wall_seconds"] < sum(manifest["stage_seconds"].values()) + 60
    assert set(manifest["artifacts"]) >= set(b)
    assert not (tmp_path / "two" / STAGING_DIR).exists()


def test_a_failure_in_the_second_worker_fails_the_run(tmp_path, capsys):
    # distillation needs the deep sets, which a random start does not train: the worker's stage fails
    bad = {"snn_particles": {"init": "random", "distill_weight": 0.5}}
    cfg = resolve_config(bad, quick=True)
    with pytest.raises(ConfigError, match="distills the ann_particles deep sets"):
        pipeline.run(cfg, tmp_path / "r", progress=False, stages=STAGES, jobs=2)
    manifest = json.loads((tmp_path / "r" / "run.json").read_text())
    assert manifest["status"] == "failed: snn_particles"
    assert not (tmp_path / "r" / STAGING_DIR).exists()
    assert not (tmp_path / "r" / "snn_particles.pt").exists()
    (tmp_path / "bad.yaml").write_text("snn_particles:\n  init: random\n  distill_weight: 0.5\n")
    capsys.readouterr()
    rc = main(["run", "--quick", "--quiet", "--config", str(tmp_path / "bad.yaml"), "--only", "train_ann,snn_particles",
               "--jobs", "2", "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "distills the ann_particles deep sets" in err[0]


def test_stopping_the_second_worker_ends_it_and_leaves_nothing(cfg, tmp_path):
    tmp_path.joinpath("r").mkdir()
    w = Worker(cfg, tmp_path / "r", ["ann_particles"], progress=False, runner=pipeline.run)
    w.stop()
    assert not w.proc.is_alive() and not (tmp_path / "r" / STAGING_DIR).exists()


@pytest.mark.parametrize("jobs", ["0", "3"])
def test_jobs_out_of_range_is_one_line(tmp_path, capsys, jobs):
    rc = main(["run", "--quick", "--jobs", jobs, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--jobs must be 1 or 2" in err[0]
    assert not (tmp_path / "r").exists()
