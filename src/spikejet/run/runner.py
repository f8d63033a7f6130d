"""The runner: runs registered stages in order and alone writes their results into the run directory.

``spikejet run`` asks for every stage; ``train-ann``, ``train-snn`` and ``convert`` for
some (the runner adds what they need, :func:`~spikejet.run.registry.with_needs`);
``spikejet evaluate`` scores a saved model through :func:`evaluate_model_file`. After each
stage the runner commits its :class:`~spikejet.run.context.StageResult`: the metrics
entry (plus the uniform energy estimate of its model), the test predictions, model
and other files, histories and figures, then rewrites ``run.json``. A stage that fails
leaves nothing in ``metrics.json``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import RunConfig, config_to_yaml
from ..runtime import stage_seed
from .context import RunData, StageContext, StageResult
from .registry import StageSpec, default_stage_names, get_stage, stage_names, with_needs
from .rundir import (
    CONFIG_FILE,
    METRICS_FILE,
    REPORT_FILE,
    RunDir,
    figure_file,
    history_file,
    now,
    predictions_file,
)

__all__ = [
    "RunState",
    "run",
    "run_stage",
    "commit",
    "stage_names",
    "run_fingerprint",
    "evaluate_model_file",
    "METRICS_FILE",
    "REPORT_FILE",
]


def _no_log(msg: str) -> None:
    pass


def _stderr_log(msg: str) -> None:
    print(f"spikejet: {msg}", file=sys.stderr, flush=True)


@dataclass
class RunState:
    """What a run made: the committed results, and views of them for the CLI and tests."""

    config: RunConfig
    rundir: RunDir
    data: RunData = field(default_factory=RunData)
    results: dict[str, StageResult] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: list[Any] = field(default_factory=list)  # spikejet.report.html.ReportFigure
    timings: dict[str, float] = field(default_factory=dict)
    #: Processes the run used (2: :mod:`spikejet.run.parallel`) and its wall-clock seconds.
    workers: int = 1
    wall_seconds: float = 0.0

    @property
    def run_dir(self) -> Path:
        return self.rundir.root

    @property
    def models(self) -> dict[str, Any]:
        return {self.keys[k]: r.model for k, r in self.results.items() if r.model is not None}

    @property
    def histories(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.results.values():
            out.update(r.histories)
        return out

    @property
    def table(self) -> Any:
        return self.data.table

    @property
    def scaler(self) -> Any:
        return self.data.scaler

    @property
    def X(self) -> Mapping[str, Any]:  # noqa: N802
        return self.data.X

    @property
    def y(self) -> Mapping[str, Any]:
        return self.data.y

    @property
    def artifacts(self) -> list[str]:
        return list(self.rundir.artifacts)

    def seed_for(self, name: str) -> int:
        """The seed the run derives for ``name`` (the same a stage gets from its context)."""
        return stage_seed(self.config.seed, name)

    def test_raw(self) -> tuple[Any, Any]:
        """Raw (unstandardized) test features and labels."""
        idx = self.data.split.test
        return self.data.table.X[idx], self.data.table.y[idx]

    def context(self, spec: StageSpec, *, progress: bool, log: Callable[[str], None]) -> StageContext:
        return StageContext(
            name=spec.name, key=spec.entry, config=self.config, data=self.data, results=self.results,
            keys=self.keys, timings=self.timings, progress=progress, log=log,
            figure_paths=lambda: list(self.figures),
        )


# --------------------------------------------------------------------------- committing a result


def _model_sizes(models: Mapping[str, Any]) -> dict[str, Sequence[int]]:
    """Layer sizes of every model (the ANN's MLP, each spiking network) for the energy estimates."""
    from ..errors import ModelError
    from ..hardware.loihi.evaluate import spiking_network_of

    sizes: dict[str, Sequence[int]] = {}
    for key, model in models.items():
        if key == "ann":
            s = getattr(getattr(model, "model", None), "sizes", None)
            if s is not None:
                sizes["ann"] = tuple(s)
            continue
        try:
            sizes[key] = spiking_network_of(model).sizes
        except ModelError:
            continue
    return sizes


def _with_energy(key: str, entry: dict[str, Any], models: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with the energy estimate of its model, computed the same way for every model."""
    from ..hardware.energy import add_energy_estimates

    out = {key: dict(entry)}
    add_energy_estimates(out, _model_sizes(models))
    return out[key]


def run_stage(state: RunState, name: str, *, progress: bool = False,
              log: Callable[[str], None] = _no_log) -> StageResult:
    """Run one registered stage on ``state`` and commit its result (files, metrics, figures)."""
    spec = get_stage(name)
    t0 = time.perf_counter()
    try:
        section = state.config.section(spec.section) if spec.section is not None else None
        result = spec.fn(state.context(spec, progress=progress, log=log), section)
        _commit(state, spec, result)
    finally:
        state.timings[spec.name] = time.perf_counter() - t0
    return result


def commit(state: RunState, name: str, result: StageResult) -> None:
    """Commit ``result`` as the result of the registered stage ``name`` (a stage run elsewhere)."""
    _commit(state, get_stage(name), result)


def _commit(state: RunState, spec: StageSpec, result: StageResult) -> None:
    rd, key = state.rundir, spec.entry
    state.keys[spec.name] = key
    if result.data is not None:
        state.data = result.data
    if result.scored is not None:
        models = {**state.models, **({key: result.model} if result.model is not None else {})}
        entry = _with_energy(key, dict(result.scored.entry), models)
        result.scored = replace(result.scored, entry=entry)
        state.metrics[key] = entry
        rd.write_json(METRICS_FILE, state.metrics)
        sc = result.scored
        rd.write_npz(predictions_file(key), y_true=sc.y_true, scores=sc.scores,
                     class_names=list(sc.class_names))
    if result.entry is not None:
        state.metrics[key] = dict(result.entry)
        rd.write_json(METRICS_FILE, state.metrics)
    for rel, writer in result.files.items():
        if rel == REPORT_FILE:
            continue  # written last, once its figures are
        rd.write_with(rel, writer)
    for name, hist in result.histories.items():
        rd.write_json(history_file(name), hist.to_dict() if hasattr(hist, "to_dict") else dict(hist))
    _commit_figures(state, result)
    if REPORT_FILE in result.files:
        rd.write_with(REPORT_FILE, result.files[REPORT_FILE])
    state.results[spec.name] = result


def _commit_figures(state: RunState, result: StageResult) -> None:
    from ..report.html import ReportFigure

    for fig in result.figures:
        rel = figure_file(fig.name)
        if fig.writer is not None:
            path = state.rundir.write_with(rel, fig.writer)
        else:
            path = state.rundir.save_figure(rel, fig.fig)
        state.figures = [f for f in state.figures if f.name != fig.name]
        state.figures.append(ReportFigure(name=fig.name, path=path, caption=fig.caption, section=fig.section))


# --------------------------------------------------------------------------- run


def _canonical_source(source: str) -> str:
    if source in ("default", "openml"):
        return source
    return str(Path(source).expanduser().resolve())


def run_fingerprint(cfg: RunConfig) -> str:
    """Identity of a run: a hash of the resolved config with the data path made absolute."""
    d = cfg.to_dict()
    d["data"]["source"] = _canonical_source(d["data"]["source"])
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _summary(cfg: RunConfig) -> str:
    return f"preset {cfg.preset}, seed {cfg.seed}{', quick' if cfg.quick else ''}, data {cfg.data.source}"


def run(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    stages: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> RunState:
    """Run ``stages`` (default: the default run's, :func:`~spikejet.run.registry.default_stage_names`;
    in order, with what they need) into ``run_dir``.

    ``run.json`` is rewritten after every stage (``status`` "running", then "complete"
    or "failed: <stage>"); an interrupted run leaves only finished artifacts. ``jobs=2``: the
    worker-1 stages (the particle-level study) run in a second process beside the others, with the
    same results (:mod:`spikejet.run.parallel`).
    """
    from .parallel import Worker, plan

    wanted = default_stage_names() if stages is None else with_needs(list(stages), cfg)
    split = plan(wanted, cfg, int(jobs))
    rd = RunDir(run_dir)
    fp, summary = run_fingerprint(cfg), _summary(cfg)
    rd.prepare(fp, overwrite=overwrite)
    state = RunState(config=cfg, rundir=rd, workers=2 if split else 1)
    logger = log or (_stderr_log if progress else _no_log)
    created = now()
    t_start = time.perf_counter()

    def manifest(status: str) -> None:
        state.wall_seconds = time.perf_counter() - t_start
        rd.write_manifest(status=status, created=created, fingerprint=fp, summary=summary,
                          config=cfg.to_dict(), timings=state.timings,
                          run={"workers": state.workers, "wall_seconds": round(state.wall_seconds, 3)})

    worker = None
    try:
        rd.write_text(CONFIG_FILE, config_to_yaml(cfg))
        manifest("running")
        if split is not None:
            worker = Worker(cfg, rd.root, split.side, progress=progress, runner=run)
        for name in split.main if split is not None else wanted:
            if worker is not None and name == "report":
                _with_worker(worker, manifest, lambda w=worker: w.adopt(state))
                worker = None
            try:
                run_stage(state, name, progress=progress, log=logger)
            except BaseException as exc:
                manifest(f"{_ending(exc)}: {name}")
                raise
            if worker is not None:
                _with_worker(worker, manifest, worker.check)
            manifest("running")
        if worker is not None:
            _with_worker(worker, manifest, lambda w=worker: w.adopt(state))
            worker = None
        manifest("complete")
    finally:
        if worker is not None:
            worker.stop()
        rd.unlock()
    return state


def _with_worker(worker: Any, manifest: Callable[[str], None], action: Callable[[], None]) -> None:
    """``action`` on the second worker; if it raises (the worker's own error, or an interrupt while
    waiting for it), the worker stops and ``run.json`` names its failed stage (or its stages)."""
    try:
        action()
    except BaseException as exc:
        worker.stop()
        manifest(f"{_ending(exc)}: {worker.failed or ', '.join(worker.stages)}")
        raise


def _ending(exc: BaseException) -> str:
    """How a run ended: ``interrupted`` (Ctrl-C, SIGTERM) or ``failed``."""
    return "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"


# --------------------------------------------------------------------------- evaluate a saved model


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def evaluate_model_file(
    model_path: str | Path,
    data: str,
    out_dir: str | Path,
    *,
    seed: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    chunk_size: int | None = None,
    scheduler: str | None = None,
) -> RunState:
    """Score a saved model on every jet of ``data``; write metrics.json, figures, report.html.

    The bootstrap seed and evaluation settings default to those of the run that made
    the model, so evaluating a run's ``test.h5`` reproduces its ``metrics.json`` entry.
    With ``chunk_size`` or ``scheduler`` a spikejet ``.h5`` is streamed in chunks (on a
    Dask cluster with ``scheduler``; :mod:`spikejet.run.stream`), never loaded whole: the
    same metrics.
    """
    from ..stages.report import report_stage

    bundle, kind, cfg, table = _open_evaluation(model_path, data, seed, streamed=chunk_size is not None
                                                or scheduler is not None)
    rd = RunDir(out_dir)
    fp = hashlib.sha256(
        json.dumps([_file_digest(Path(model_path)), _canonical_source(str(data)), cfg.seed,
                    cfg.to_dict()["evaluate"]]).encode("utf-8")
    ).hexdigest()[:16]
    summary = f"evaluate {Path(model_path).name} on {data}, seed {cfg.seed}"
    rd.prepare(fp, overwrite=overwrite)
    logger = log or (_stderr_log if progress else _no_log)
    state = RunState(config=cfg, rundir=rd)
    created = now()

    def manifest(status: str) -> None:
        rd.write_manifest(status=status, created=created, fingerprint=fp, summary=summary,
                          config=cfg.to_dict(), timings=state.timings)

    try:
        manifest("running")
        t0 = time.perf_counter()
        _score_model(state, bundle, kind, model_path, data, table, chunk_size=chunk_size, scheduler=scheduler,
                     progress=progress, log=logger)
        state.timings["evaluate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        report_spec = StageSpec("report", report_stage)
        _commit(state, report_spec, report_stage(state.context(report_spec, progress=progress, log=logger), None))
        state.timings["report"] = time.perf_counter() - t0
        manifest("complete")
    except BaseException as exc:
        manifest(f"{_ending(exc)}: evaluate")
        raise
    finally:
        rd.unlock()
    return state


def _open_evaluation(model_path: str | Path, data: str, seed: int | None, *, streamed: bool):
    """(bundle, its kind, the evaluation config, the jets or None when streamed), every input checked."""
    from ..config import resolve_config
    from ..data import load
    from ..models.file import load_bundle
    from .rundir import check_complete, check_name

    check_complete(Path(model_path).parent, f"model {model_path}")
    bundle = load_bundle(model_path)
    kind = check_name(bundle.kind, "model kind")
    saved = bundle.config if isinstance(bundle.config, dict) else {}
    file_values = {k: saved[k] for k in ("preset", "seed", "quick", "evaluate") if k in saved}
    cfg = resolve_config(file_values, seed=seed, data_source=str(data))
    if streamed:  # a file larger than memory: only its layout is read here
        from .stream import check_stream_data

        check_stream_data(bundle, data)
        return bundle, kind, cfg, None
    table = load(str(data), particles=getattr(bundle, "needs_particles", False))
    bundle.check_table(table.feature_names, table.class_names, where=f"data {data}")
    return bundle, kind, cfg, table


def _score_model(state: RunState, bundle: Any, kind: str, model_path, data, table, *, chunk_size, scheduler,
                 progress: bool, log: Callable[[str], None]) -> None:
    """Score ``bundle`` on the jets (in memory, or streamed) and commit its metrics entry."""
    from ..stages.load import provenance_of
    from ..stages.train_ann import evaluate_bundle

    score_spec = StageSpec("evaluate", lambda ctx, _: ctx.result, key=kind)
    if table is None:
        from .stream import stream_scores

        res = stream_scores(model_path, data, chunk_size=chunk_size, scheduler=scheduler,
                            progress=progress, bundle=bundle)
        y_task, scores, n_jets, counts = res.labels, res.scores, res.n_jets, res.class_counts
        class_names = list(bundle.data_class_names)
    else:
        n_jets, counts, class_names = len(table), table.counts(), list(table.class_names)
        y_task, scores = evaluate_bundle(bundle, table.X, table.y, table)
    state.data = RunData(table=table, summary={
        "source": str(data), "n_jets": n_jets, "class_names": class_names,
        "split_counts": {"evaluated": counts.tolist()}, "provenance": provenance_of(str(data))})
    ctx = state.context(score_spec, progress=progress, log=log)
    m = ctx.add_metrics(kind, y_task, scores, class_names=bundle.class_names)
    ctx.result.model = bundle
    _commit(state, score_spec, ctx.result)
    lo, hi = m["accuracy_interval"]
    log(f"{kind} accuracy on {n_jets} jets: {m['accuracy'] * 100:.2f} % [{lo * 100:.2f}, {hi * 100:.2f}]")


