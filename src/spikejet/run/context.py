"""The typed contract between stages: what a stage sees (:class:`StageContext`) and returns (:class:`StageResult`).

A stage is ``fn(ctx: StageContext, cfg: <its config section>) -> StageResult``. It reads
the run's data (:class:`RunData`) and the results of the stages before it (read-only),
and describes what it made: its model, the test-set scores, its metrics extras, its
history, figures and files (as writers). It writes nothing: the runner commits a
result once the stage has returned, so a failed stage leaves no trace in
``metrics.json``, and no stage can edit another's result.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..runtime import stage_seed
from .score import Scored, score

__all__ = ["Figure", "Scored", "StageResult", "RunData", "StageContext"]  # Scored: from .score


@dataclass(frozen=True)
class Figure:
    """A report figure: a matplotlib figure (or a writer that makes the PNG) and where it goes."""

    name: str
    caption: str
    section: str
    fig: Any = None
    #: Instead of ``fig``: a function that writes the PNG to the path it is given.
    writer: Callable[[Path], Any] | None = None


@dataclass
class StageResult:
    """What one stage made. Only the runner turns it into files."""

    #: The scored model (``metrics.json[stage]`` = ``scored.entry``).
    scored: Scored | None = None
    #: A metrics.json entry that is not a scored model's (``neurobench``).
    entry: dict[str, Any] | None = None
    #: The in-memory model for later stages (a ModelBundle or a spiking model bundle).
    model: Any = None
    #: Training histories by name (objects with ``to_dict()`` or dicts), written as history_<name>.json.
    histories: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    #: Run-directory-relative name -> writer(path) (library writers that write atomically).
    files: dict[str, Callable[[Path], Any]] = field(default_factory=dict)
    #: New or updated run data (the load and split stages).
    data: RunData | None = None
    #: In-memory values later stages may read (never written).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> Mapping[str, Any] | None:
        return None if self.scored is None else self.scored.entry


@dataclass(frozen=True)
class RunData:
    """The jets of the run: the table, the subset used, the split and the standardized features."""

    table: Any = None  # spikejet.data.JetTable
    subset: np.ndarray | None = None
    split: Any = None  # spikejet.data.Split
    scaler: Any = None  # spikejet.data.Standardizer
    X: Mapping[str, np.ndarray] = field(default_factory=dict)
    y: Mapping[str, np.ndarray] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)


def _no_log(msg: str) -> None:
    pass


class StageContext:
    """What a stage sees: config, data, earlier results (read-only) and a result it fills."""

    def __init__(self, *, name: str, key: str, config: RunConfig, data: RunData,
                 results: Mapping[str, StageResult], keys: Mapping[str, str], timings: Mapping[str, float],
                 progress: bool = True, log: Callable[[str], None] = _no_log,
                 figure_paths: Callable[[], Sequence[Any]] | None = None) -> None:
        self.name = name
        #: The name of this stage's model and metrics entry (``ann`` for train_ann and evaluate_ann).
        self.key = key
        self._keys = dict(keys)
        self.config = config
        self.data = data
        self.results = types.MappingProxyType(dict(results))
        self.timings = types.MappingProxyType(dict(timings))
        self.progress = progress
        self.log = log
        self.result = StageResult()
        self._figure_paths = figure_paths

    # ------------------------------------------------------------------ reading

    def seed_for(self, name: str) -> int:
        """A seed for ``name`` derived from the run seed (stable across versions)."""
        return stage_seed(self.config.seed, name)

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng(self.seed_for(name))

    @property
    def table(self) -> Any:
        return self.data.table

    @property
    def X(self) -> Mapping[str, np.ndarray]:  # noqa: N802 (the usual name of a feature matrix)
        return self.data.X

    @property
    def y(self) -> Mapping[str, np.ndarray]:
        return self.data.y

    @property
    def scaler(self) -> Any:
        return self.data.scaler

    @property
    def models(self) -> Mapping[str, Any]:
        """Model key -> model of every earlier stage that made one (and this stage's own, once made)."""
        out = {self._keys[k]: r.model for k, r in self.results.items() if r.model is not None}
        if self.result.model is not None:
            out[self.key] = self.result.model
        return types.MappingProxyType(out)

    @property
    def histories(self) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        for r in self.results.values():
            out.update(r.histories)
        return types.MappingProxyType(out)

    @property
    def metrics(self) -> Mapping[str, Mapping[str, Any]]:
        """Key -> metrics entry of every earlier scored stage, and this stage's own once scored
        (copies: a stage cannot edit them)."""
        out = {self._keys[k]: copy.deepcopy(dict(r.scored.entry)) for k, r in self.results.items()
               if r.scored is not None}
        if self.result.scored is not None:
            out[self.key] = copy.deepcopy(dict(self.result.scored.entry))
        return types.MappingProxyType(out)

    @property
    def rocs(self) -> Mapping[str, Any]:
        """Stage -> ROC curves per class of every earlier scored stage."""
        return types.MappingProxyType(
            {self._keys[k]: r.scored.rocs for k, r in self.results.items() if r.scored is not None})

    def test_raw(self) -> tuple[np.ndarray, np.ndarray]:
        """Raw (unstandardized) test features and labels."""
        idx = self.data.split.test
        return self.data.table.X[idx], self.data.table.y[idx]

    def committed_figures(self) -> list[Any]:
        """The report figures written so far (``ReportFigure`` records), for the report stage."""
        return list(self._figure_paths()) if self._figure_paths is not None else []

    # ------------------------------------------------------------------ filling the result

    def add_metrics(self, stage: str, y_true: np.ndarray, scores: np.ndarray, *, class_names: Sequence[str],
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Score this stage's model on the test set (the one score definition) into the result.

        ``stage`` must be this stage's own name: no stage scores (or edits) another's
        entry. Returns the metrics entry (the score keys, then ``extra``).
        """
        if stage != self.key:
            raise RuntimeError(f"stage {self.name!r} tried to write the metrics of {stage!r}")
        self.result.scored = score(y_true, scores, class_names=class_names, config=self.config, extra=extra)
        return dict(self.result.scored.entry)

    def add_figure(self, name: str, fig: Any, caption: str, *, section: str) -> None:
        self.result.figures = [f for f in self.result.figures if f.name != name]
        self.result.figures.append(Figure(name=name, caption=caption, section=section, fig=fig))

    def add_figure_writer(self, name: str, writer: Callable[[Path], Any], caption: str, *, section: str) -> None:
        self.result.figures = [f for f in self.result.figures if f.name != name]
        self.result.figures.append(Figure(name=name, caption=caption, section=section, writer=writer))

    def save(self, rel: str, writer: Callable[[Path], Any]) -> None:
        """Have the runner write ``rel`` with ``writer(path)`` when the stage has finished."""
        self.result.files[rel] = writer
