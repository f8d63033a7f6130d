"""The stage registry: every stage of ``spikejet run`` declared once, in order.

A new stage is one file in :mod:`spikejet.stages` plus one line in :func:`stages`:
its name, its function ``fn(ctx, cfg) -> StageResult``, the stages it needs (a tuple,
or a function of the run config when the need depends on it), its config section and
the key of its model and metrics entry. ``run``, ``train-ann``, ``train-snn``,
``convert`` and ``evaluate`` ask the runner for different stages; the runner adds
what they need.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig
from ..errors import ConfigError

__all__ = ["StageSpec", "stages", "stage_names", "default_stage_names", "get_stage", "with_needs", "GROUPS",
           "Selection", "select_stages"]


@dataclass(frozen=True)
class StageSpec:
    name: str
    fn: Callable[..., Any]
    #: Stages that must run before this one (or a function of the run config giving them).
    needs: tuple[str, ...] | Callable[[RunConfig], tuple[str, ...]] = ()
    #: The config section passed as ``cfg`` (None: the stage takes none).
    section: str | None = None
    #: The name of the stage's model / metrics entry (defaults to the stage name).
    key: str | None = None
    #: Whether a plain ``spikejet run`` runs it (False: opt-in, chosen with ``--only`` or ``stages=``;
    #: stages too slow for the main job's 10 minutes).
    default_run: bool = True
    #: The worker that runs it when a run has two (``jobs=2``, :mod:`spikejet.run.parallel`): 0 the
    #: main process, 1 a second process beside it. A worker-1 stage needs nothing from worker 0 but
    #: the jets (load, split); the runner checks that before it splits a run.
    worker: int = 0

    def needs_for(self, cfg: RunConfig) -> tuple[str, ...]:
        return tuple(self.needs(cfg)) if callable(self.needs) else tuple(self.needs)

    @property
    def entry(self) -> str:
        return self.key or self.name


def _surrogate_needs(cfg: RunConfig) -> tuple[str, ...]:
    base = ("train_ann",)
    return (*base, "convert_snn") if cfg.section("snn_surrogate").init == "converted" else base


def _snn_particles_needs(cfg: RunConfig) -> tuple[str, ...]:
    return ("split", "ann_particles") if cfg.section("snn_particles").init == "ann" else ("split",)


def _snn_interaction_needs(cfg: RunConfig) -> tuple[str, ...]:
    return ("split", "ann_interaction") if cfg.section("snn_interaction").init == "ann" else ("split",)


@functools.cache
def stages() -> tuple[StageSpec, ...]:
    """The main job, in order (imports the stage modules on first use)."""
    from ..stages.convert_snn import convert_stage
    from ..stages.fpga import fpga_stage
    from ..stages.image import cnn_image_stage, snn_image_stage
    from ..stages.interaction import ann_interaction_stage, snn_interaction_stage
    from ..stages.load import load_stage
    from ..stages.loihi import loihi_stage
    from ..stages.neurobench import neurobench_stage
    from ..stages.particles import ann_particles_stage, snn_particles_stage
    from ..stages.pileup import pileup_stage
    from ..stages.report import report_stage
    from ..stages.snn_rate import snn_rate_stage
    from ..stages.snn_surrogate import snn_surrogate_stage
    from ..stages.split import split_stage
    from ..stages.train_ann import evaluate_ann_stage, train_ann_stage

    return (
        StageSpec("load", load_stage, (), "data"),
        StageSpec("split", split_stage, ("load",), "data"),
        StageSpec("train_ann", train_ann_stage, ("split",), "ann", key="ann"),
        StageSpec("evaluate_ann", evaluate_ann_stage, ("train_ann",), "evaluate", key="ann"),
        StageSpec("convert_snn", convert_stage, ("train_ann",), "convert", key="snn_converted"),
        StageSpec("snn_rate", snn_rate_stage, ("train_ann",), "snn_rate"),
        StageSpec("snn_surrogate", snn_surrogate_stage, _surrogate_needs, "snn_surrogate"),
        StageSpec("loihi", loihi_stage, ("split",), "loihi"),
        StageSpec("fpga", fpga_stage, ("train_ann",), "fpga"),
        StageSpec("neurobench", neurobench_stage, ("evaluate_ann",)),
        # the particle-level study on the second worker: about half of the main job's time (README, timing)
        StageSpec("ann_particles", ann_particles_stage, ("split",), "ann_particles", worker=1),
        StageSpec("snn_particles", snn_particles_stage, _snn_particles_needs, "snn_particles", worker=1),
        # opt-in (``--only interaction``): about 10 minutes on 2 shared cores, beyond the main job's budget
        # (docs/particles.md, "Interaction network and its spiking twin")
        StageSpec("ann_interaction", ann_interaction_stage, ("split",), "ann_interaction", default_run=False,
                  worker=1),
        StageSpec("snn_interaction", snn_interaction_stage, _snn_interaction_needs, "snn_interaction",
                  default_run=False, worker=1),
        StageSpec("cnn_image", cnn_image_stage, ("split",), "cnn_image"),
        StageSpec("snn_image", snn_image_stage, ("cnn_image",), "snn_image"),
        StageSpec("pileup", pileup_stage, ("train_ann",), "pileup"),
        StageSpec("report", report_stage, ()),
    )


#: Named groups of stages for ``spikejet run --only`` / ``--skip`` (the one table: a new stage
#: joins a group with one name here). A member not (yet) registered is ignored.
GROUPS: dict[str, tuple[str, ...]] = {
    "particles": ("ann_particles", "snn_particles", "ann_interaction", "snn_interaction", "cnn_image", "snn_image"),
    "interaction": ("ann_interaction", "snn_interaction"),
    "images": ("cnn_image", "snn_image"),
    "pileup": ("pileup",),
    "snn": ("convert_snn", "snn_rate", "snn_surrogate"),
    "hardware": ("loihi", "fpga", "neurobench"),
}


def stage_names() -> list[str]:
    return [s.name for s in stages()]


def default_stage_names() -> list[str]:
    """The stages of a plain ``spikejet run`` (every registered stage but the opt-in ones)."""
    return [s.name for s in stages() if s.default_run]


def get_stage(name: str) -> StageSpec:
    for s in stages():
        if s.name == name:
            return s
    raise ConfigError(f"unknown stage {name!r}; stages are: {', '.join(stage_names())}")


def with_needs(wanted: Sequence[str], cfg: RunConfig) -> list[str]:
    """``wanted`` plus every stage they need (transitively), in registry order."""
    chosen: set[str] = set()

    def add(name: str) -> None:
        if name in chosen:
            return
        spec = get_stage(name)
        chosen.add(name)
        for need in spec.needs_for(cfg):
            add(need)

    for name in wanted:
        add(name)
    return [s.name for s in stages() if s.name in chosen]


@dataclass(frozen=True)
class Selection:
    """The stages a run runs (registry order) and one line per stage skipped because it needs a skipped one."""

    stages: tuple[str, ...]
    notes: tuple[str, ...] = ()


def _expand(names: Sequence[str], flag: str) -> list[str]:
    """Stage names of ``names`` (stages or groups), registered ones only; an unknown name raises."""
    known = set(stage_names())
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if name in known:
            out.append(name)
        elif name in GROUPS:
            out.extend(n for n in GROUPS[name] if n in known)
        else:
            raise ConfigError(f"{flag}: unknown stage or group {name!r}; stages: {', '.join(stage_names())}; "
                              f"groups: {', '.join(GROUPS)}")
    return out


def select_stages(cfg: RunConfig, *, only: Sequence[str] = (), skip: Sequence[str] = ()) -> Selection:
    """The stages of a run: ``only`` these (stages or groups, with what they need, and the report)
    if given, else the default run's (:func:`default_stage_names`); minus ``skip`` and every stage that needs a skipped one (transitively)."""
    wanted = with_needs([*_expand(only, "--only"), "report"], cfg) if only else default_stage_names()
    skipped = set(_expand(skip, "--skip"))
    dropped: dict[str, list[str]] = {}
    kept: list[str] = []
    for name in wanted:  # registry order: a stage's needs come before it
        if name in skipped:
            continue
        lost = [n for n in get_stage(name).needs_for(cfg) if n in skipped or n in dropped]
        if lost:
            dropped[name] = lost
            continue
        kept.append(name)
    if not kept:
        raise ConfigError("--only/--skip leave no stage to run")
    notes = tuple(f"skipping {name} too: it needs {', '.join(lost)}" for name, lost in dropped.items())
    return Selection(tuple(kept), notes)
