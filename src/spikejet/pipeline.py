"""The main job: an ordered list of stages that fill a :class:`RunContext` and a run directory.

Each stage is a function ``stage(ctx: RunContext) -> None`` that reads what earlier
stages left in ``ctx`` and writes its own artifact into ``ctx.run_dir``. A later
stage is one function plus one line in :data:`STAGES` (before ``report``)::

    def convert_snn(ctx):
        ann = ctx.models["ann"]
        ...
        ctx.add_metrics("snn_converted", y, scores, class_names=..., extra={"timesteps": T})
        ctx.add_figure("accuracy_vs_t", fig, "accuracy vs time steps", section="spiking")

Run directory (every write atomic)::

    run.json            manifest: fingerprint, status, per-stage seconds, artifact list
    config.yaml         the resolved config (reading it back gives the same config)
    split.npz           train/val/test row indices (and the subset rows, if any)
    test.h5             the test jets as a spikejet file ('spikejet evaluate' input)
    ann.pt              the ANN model bundle (spikejet.ann.bundle)
    history_ann.json    training curves
    metrics.json        one entry per model stage (spikejet.evaluate.metrics)
    predictions/<stage>_test.npz   labels and scores on the test set
    figures/*.png, report.html
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sys
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import __version__
from .config import RunConfig, config_to_yaml
from .errors import ConfigError, DataError
from .hardware.stage import loihi_stage  # importing a stage module registers its config section
from .io import atomic_path, write_json, write_text
from .snn.stage import convert_stage
from .snn.train_stage import snn_rate_stage, snn_surrogate_stage

__all__ = [
    "Stage",
    "STAGES",
    "RunContext",
    "run",
    "stage_names",
    "run_fingerprint",
    "prepare_run_dir",
    "evaluate_bundle",
    "MANIFEST",
]

MANIFEST = "run.json"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.npz"
TEST_SET_FILE = "test.h5"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
PREDICTIONS_DIR = "predictions"


def _model_file(stage: str) -> str:
    return f"{stage}.pt"


# --------------------------------------------------------------------------- context


def _no_log(msg: str) -> None:
    pass


@dataclass
class RunContext:
    """Everything the stages share. Stages add to it; nothing here is global."""

    config: RunConfig
    run_dir: Path
    progress: bool = True
    log: Callable[[str], None] = _no_log
    table: Any = None  # JetTable
    subset: np.ndarray | None = None  # rows of the source used (None: all)
    split: Any = None  # spikejet.data.Split
    scaler: Any = None  # spikejet.data.Standardizer
    X: dict[str, np.ndarray] = field(default_factory=dict)  # standardized features per split
    y: dict[str, np.ndarray] = field(default_factory=dict)  # labels per split
    models: dict[str, Any] = field(default_factory=dict)  # stage -> ModelBundle (or stage's own type)
    #: stage -> TrainHistory (or any object/dict with train_loss, val_loss, val_accuracy, best_epoch)
    histories: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # metrics.json content
    rocs: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> roc_curves(...)
    figures: list[Any] = field(default_factory=list)  # spikejet.report.html.ReportFigure
    timings: dict[str, float] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)  # run-dir-relative paths written
    data_summary: dict[str, Any] = field(default_factory=dict)

    def seed_for(self, stage: str) -> int:
        """A seed for ``stage`` derived from the run seed (stable across versions)."""
        ss = np.random.SeedSequence([self.config.seed, zlib.crc32(stage.encode("utf-8"))])
        return int(ss.generate_state(1)[0])

    def rng(self, stage: str) -> np.random.Generator:
        return np.random.default_rng(self.seed_for(stage))

    def path(self, name: str) -> Path:
        """``run_dir / name``, recorded as an artifact of this run."""
        if name not in self.artifacts:
            self.artifacts.append(name)
        p = self.run_dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def test_raw(self) -> tuple[np.ndarray, np.ndarray]:
        """Raw (unstandardized) test features and labels."""
        idx = self.split.test
        return self.table.X[idx], self.table.y[idx]

    def add_metrics(
        self,
        stage: str,
        y_true: np.ndarray,
        scores: np.ndarray,
        *,
        class_names: Sequence[str],
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Score a model on the test set, store ``metrics[stage]`` and rewrite metrics.json.

        ``extra`` holds stage-specific keys (spiking stages: ``timesteps``,
        ``accuracy_vs_timesteps``, ``firing_rate_hz``, ``synops_per_inference``,
        ``energy_per_inference_j``).
        """
        from .evaluate.metrics import evaluate_scores, roc_curves

        ev = self.config.evaluate
        entry = evaluate_scores(
            y_true, scores, class_names=class_names, seed=self.config.seed,
            n_bootstrap=ev.n_bootstrap, interval=ev.interval, efficiencies=ev.efficiencies,
        )
        entry.update(extra or {})
        self.metrics[stage] = entry
        self.rocs[stage] = roc_curves(y_true, scores, class_names=class_names)
        write_json(self.path(METRICS_FILE), self.metrics)
        with atomic_path(self.path(f"{PREDICTIONS_DIR}/{stage}_test.npz")) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, y_true=np.asarray(y_true), scores=np.asarray(scores, dtype=np.float32),
                     class_names=np.asarray(list(class_names)))
        return entry

    def add_figure(self, name: str, fig: Any, caption: str, *, section: str) -> Path:
        """Save a matplotlib Figure as ``figures/<name>.png`` and list it in the report."""
        from .report.html import ReportFigure
        from .report.style import save_figure

        p = save_figure(fig, self.path(f"{FIGURES_DIR}/{name}.png"))
        self.figures = [f for f in self.figures if f.name != name]
        self.figures.append(ReportFigure(name=name, path=p, caption=caption, section=section))
        return p


# --------------------------------------------------------------------------- stages


def load_data(ctx: RunContext) -> None:
    """Read the jets; with ``data.max_jets`` keep a seeded random subset."""
    from .data import load

    cfg = ctx.config.data
    table = load(
        cfg.source, drop_invalid=cfg.drop_invalid, drop_unlabelled=cfg.drop_unlabelled,
        drop_duplicates=cfg.drop_duplicates,
    )
    n_all = len(table)
    if cfg.max_jets is not None and n_all > cfg.max_jets:
        ctx.subset = np.sort(ctx.rng("load").choice(n_all, size=cfg.max_jets, replace=False))
        table = table.subset(ctx.subset)
    ctx.table = table
    ctx.data_summary = {
        "source": cfg.source,
        "n_jets": len(table),
        "n_jets_in_source": n_all,
        "class_names": list(table.class_names),
        "provenance": _provenance(cfg.source),
    }
    ctx.log(f"loaded {len(table)} jets from {cfg.source}" + (f" (subset of {n_all})" if ctx.subset is not None else ""))


def _provenance(source: str) -> dict[str, Any] | None:
    from .data import default_provenance, read_provenance

    try:
        if source == "default":
            prov = default_provenance()
        elif Path(source).suffix.lower() in (".h5", ".hdf5"):
            prov = read_provenance(source)
        else:
            return None
    except DataError:
        return None
    return dict(prov) if isinstance(prov, Mapping) else None


def split_and_scale(ctx: RunContext) -> None:
    """Stratified split, standardizer fit on the training rows, test set written to a file."""
    from .data import Standardizer, split, write

    cfg = ctx.config.data
    table = ctx.table
    sp = split(table.y, seed=ctx.seed_for("split"), val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction)
    scaler = Standardizer.fit(table.X[sp.train])
    ctx.split, ctx.scaler = sp, scaler
    for name in ("train", "val", "test"):
        idx = getattr(sp, name)
        ctx.X[name] = scaler.transform(table.X[idx])
        ctx.y[name] = table.y[idx]
    arrays = {"train": sp.train, "val": sp.val, "test": sp.test}
    if ctx.subset is not None:
        arrays["subset"] = ctx.subset
    with atomic_path(ctx.path(SPLIT_FILE)) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    write(
        table.subset(sp.test),
        ctx.path(TEST_SET_FILE),
        provenance={"made_by": "spikejet run", "source": cfg.source, "rows": "test split of split.npz",
                    "seed": ctx.config.seed},
    )
    ctx.data_summary["split_counts"] = {
        k: np.bincount(table.y[v], minlength=table.n_classes).tolist() for k, v in arrays.items() if k != "subset"
    }
    ctx.log("split: " + ", ".join(f"{k} {v}" for k, v in sp.sizes.items()))


def train_ann_stage(ctx: RunContext) -> None:
    """Train the ANN (seeded init and batch order) and save its bundle."""
    import torch

    from .ann.bundle import ModelBundle, save_bundle
    from .ann.model import build_mlp, task_class_names, task_labels
    from .ann.train import ANN_TORCH_THREADS, torch_threads, train_ann

    cfg = ctx.config.ann
    table = ctx.table
    classes = task_class_names(cfg.task, table.class_names)
    y_train = task_labels(cfg.task, ctx.y["train"], table.class_names)
    y_val = task_labels(cfg.task, ctx.y["val"], table.class_names)
    seed = ctx.seed_for("train_ann")
    torch.manual_seed(seed)
    model = build_mlp(cfg, len(table.feature_names), len(classes))
    with torch_threads(ANN_TORCH_THREADS):
        hist = train_ann(model, ctx.X["train"], y_train, ctx.X["val"], y_val, cfg, seed=seed, progress=ctx.progress)
    bundle = ModelBundle(
        model=model,
        scaler=ctx.scaler.to_dict(),
        feature_names=table.feature_names,
        class_names=classes,
        data_class_names=table.class_names,
        kind="ann",
        task=cfg.task,
        config=ctx.config.to_dict(),
        meta={"spikejet_version": __version__, "best_epoch": hist.best_epoch, "epochs": hist.epochs},
    )
    save_bundle(ctx.path(_model_file("ann")), bundle)
    write_json(ctx.path("history_ann.json"), hist.to_dict())
    ctx.models["ann"] = bundle
    ctx.histories["ann"] = hist
    ctx.log(
        f"ANN {'-'.join(map(str, model.sizes))}: {hist.epochs} epochs, best {hist.best_epoch}, "
        f"val accuracy {hist.val_accuracy[hist.best_epoch - 1] * 100:.2f} %, {hist.seconds:.1f} s"
    )


def evaluate_bundle(bundle: Any, X_raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(task labels, class probabilities) of a model bundle on raw features — the one path
    shared by ``spikejet run`` and ``spikejet evaluate``, so both give the same numbers."""
    from .ann.train import ANN_TORCH_THREADS, torch_threads

    with torch_threads(ANN_TORCH_THREADS):
        return bundle.labels(y), bundle.predict_proba(X_raw)


def evaluate_ann(ctx: RunContext) -> None:
    """Score the ANN on the test set."""
    bundle = ctx.models["ann"]
    X, y = ctx.test_raw()
    y_task, scores = evaluate_bundle(bundle, X, y)
    m = ctx.add_metrics("ann", y_task, scores, class_names=bundle.class_names)
    lo, hi = m["accuracy_interval"]
    ctx.log(f"ANN test accuracy {m['accuracy'] * 100:.2f} % [{lo * 100:.2f}, {hi * 100:.2f}]")


def write_report(ctx: RunContext) -> None:
    """Figures for everything in ``ctx`` and the self-contained report.html."""
    from .report.html import write_report as _write
    from .report.plots import plot_confusions, plot_data_summary, plot_roc, plot_training
    from .report.tables import stage_title

    table = ctx.table
    if table is not None:
        ctx.add_figure(
            "data_summary",
            plot_data_summary(table.X, table.y, feature_names=table.feature_names,
                              class_names=table.class_names, split_counts=ctx.data_summary.get("split_counts")),
            "Jets per class in each split, and key features per class (all jets used).",
            section="data",
        )
    if ctx.histories:
        ctx.add_figure(
            "training",
            plot_training({stage_title(k): h.to_dict() if hasattr(h, "to_dict") else dict(h)
                           for k, h in ctx.histories.items()}),
            "Training curves; the dashed line marks the epoch whose weights were kept.",
            section="training",
        )
    by_classes: dict[tuple[str, ...], list[str]] = {}
    for stage, m in ctx.metrics.items():
        by_classes.setdefault(tuple(m["per_class_accuracy"]), []).append(stage)
    for i, (classes, stages) in enumerate(by_classes.items()):
        ctx.add_figure(
            "confusion" if i == 0 else f"confusion_{len(classes)}class",
            plot_confusions({stage_title(s): ctx.metrics[s]["confusion_matrix"] for s in stages},
                            class_names=classes,
                            accuracies={stage_title(s): ctx.metrics[s]["accuracy"] for s in stages}),
            "Normalized confusion matrices on the test set (rows: true class, in %).",
            section="confusion",
        )
    for stage, curves in ctx.rocs.items():
        ctx.add_figure(
            f"roc_{stage}",
            plot_roc(curves, auc=ctx.metrics[stage]["auc"], title=stage_title(stage)),
            f"{stage_title(stage)}: one-vs-rest ROC curve per class on the test set.",
            section="roc",
        )
    cfg = ctx.config
    _write(
        ctx.path(REPORT_FILE),
        title="spikejet run report",
        metrics=ctx.metrics,
        figures=ctx.figures,
        data_summary=ctx.data_summary,
        config_yaml=config_to_yaml(cfg),
        timings=ctx.timings,
        meta={"spikejet": __version__, "preset": cfg.preset, "seed": cfg.seed,
              "quick": cfg.quick, "created": _now()},
        interval=cfg.evaluate.interval,
    )


class Stage(NamedTuple):
    name: str
    run: Callable[[RunContext], None]


#: The main job, in order. Later stages go before "report".
STAGES: list[Stage] = [
    Stage("load", load_data),
    Stage("split", split_and_scale),
    Stage("train_ann", train_ann_stage),
    Stage("evaluate_ann", evaluate_ann),
    Stage("convert_snn", convert_stage),
    Stage("snn_rate", snn_rate_stage),
    Stage("snn_surrogate", snn_surrogate_stage),
    Stage("loihi", loihi_stage),
    Stage("report", write_report),
]


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


# --------------------------------------------------------------------------- run directory


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canonical_source(source: str) -> str:
    if source in ("default", "openml"):
        return source
    return str(Path(source).expanduser().resolve())


def run_fingerprint(cfg: RunConfig) -> str:
    """Identity of a run: a hash of the resolved config with the data path made absolute."""
    d = cfg.to_dict()
    d["data"]["source"] = _canonical_source(d["data"]["source"])
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _read_manifest(run_dir: Path) -> dict[str, Any] | None:
    p = run_dir / MANIFEST
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return d if isinstance(d, dict) and d.get("format") == "spikejet-run" else None


def _remove_artifacts(run_dir: Path, manifest: Mapping[str, Any]) -> None:
    root = run_dir.resolve()
    for rel in manifest.get("artifacts", []):
        p = (run_dir / str(rel)).resolve()
        if p.is_relative_to(root) and p != root and p.is_file():
            p.unlink()
    for sub in (FIGURES_DIR, PREDICTIONS_DIR):
        d = run_dir / sub
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def prepare_run_dir(run_dir: Path, fingerprint: str, *, overwrite: bool = False) -> None:
    """Create ``run_dir`` or make it ready for a run with ``fingerprint``; never clobber anything else.

    An existing directory is reused when it is empty, or holds this same run (same
    fingerprint), or holds another spikejet run and ``overwrite`` is set; the old
    run's artifacts are removed first. A non-empty directory that is not a spikejet
    run directory is never touched.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir} is a file; give a directory")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        manifest = _read_manifest(run_dir)
        if manifest is None:
            raise ConfigError(
                f"--out {run_dir} is not empty and is not a spikejet run directory; choose another --out"
            )
        if manifest.get("fingerprint") != fingerprint and not overwrite:
            raise ConfigError(
                f"--out {run_dir} holds a different run ({manifest.get('summary', '?')}, made "
                f"{manifest.get('created', '?')}); pass --overwrite to replace it or choose another --out"
            )
        _remove_artifacts(run_dir, manifest)
    run_dir.mkdir(parents=True, exist_ok=True)


def _summary(cfg: RunConfig) -> str:
    return f"preset {cfg.preset}, seed {cfg.seed}{', quick' if cfg.quick else ''}, data {cfg.data.source}"


def write_manifest(ctx: RunContext, status: str, created: str, *, fingerprint: str, summary: str) -> None:
    """(Re)write ``run.json``: what made this directory and which files belong to it."""
    write_json(
        ctx.run_dir / MANIFEST,
        {
            "format": "spikejet-run",
            "spikejet_version": __version__,
            "fingerprint": fingerprint,
            "summary": summary,
            "status": status,
            "created": created,
            "config": ctx.config.to_dict(),
            "stage_seconds": ctx.timings,
            "artifacts": ctx.artifacts,
        },
    )


def _stderr_log(msg: str) -> None:
    print(f"spikejet: {msg}", file=sys.stderr, flush=True)


def run(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    stages: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> RunContext:
    """Run ``stages`` (default: all of :data:`STAGES`, in order) into ``run_dir``.

    ``run.json`` is rewritten after every stage (``status`` "running", then "complete"
    or "failed: <stage>"); an interrupted run leaves only finished artifacts.
    """
    known = stage_names()
    wanted = known if stages is None else list(stages)
    bad = [s for s in wanted if s not in known]
    if bad:
        raise ConfigError(f"unknown stage {bad[0]!r}; stages are: {', '.join(known)}")
    rd = Path(run_dir)
    fp, summary = run_fingerprint(cfg), _summary(cfg)
    prepare_run_dir(rd, fp, overwrite=overwrite)
    ctx = RunContext(config=cfg, run_dir=rd, progress=progress, log=log or (_stderr_log if progress else _no_log))
    created = _now()

    def manifest(status: str) -> None:
        write_manifest(ctx, status, created, fingerprint=fp, summary=summary)

    write_text(ctx.path(CONFIG_FILE), config_to_yaml(cfg))
    manifest("running")
    for stage in STAGES:
        if stage.name not in wanted:
            continue
        t0 = time.perf_counter()
        try:
            stage.run(ctx)
        except BaseException:
            ctx.timings[stage.name] = time.perf_counter() - t0
            manifest(f"failed: {stage.name}")
            raise
        ctx.timings[stage.name] = time.perf_counter() - t0
        manifest("running")
    manifest("complete")
    return ctx


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
) -> RunContext:
    """Score a saved model on every jet of ``data``; write metrics.json, figures, report.html.

    The bootstrap seed and evaluation settings default to those of the run that made
    the model, so evaluating a run's ``test.h5`` reproduces its ``metrics.json`` entry.
    """
    from .ann.bundle import load_bundle
    from .config import resolve_config
    from .data import load

    bundle = load_bundle(model_path)
    saved = bundle.config if isinstance(bundle.config, dict) else {}
    file_values = {k: saved[k] for k in ("preset", "seed", "quick", "evaluate") if k in saved}
    cfg = resolve_config(file_values, seed=seed, data_source=str(data))
    table = load(str(data))
    bundle.check_table(table.feature_names, table.class_names, where=f"data {data}")

    rd = Path(out_dir)
    fp = hashlib.sha256(
        json.dumps([_file_digest(Path(model_path)), _canonical_source(str(data)), cfg.seed,
                    cfg.to_dict()["evaluate"]]).encode("utf-8")
    ).hexdigest()[:16]
    summary = f"evaluate {Path(model_path).name} on {data}, seed {cfg.seed}"
    prepare_run_dir(rd, fp, overwrite=overwrite)
    ctx = RunContext(config=cfg, run_dir=rd, progress=progress, log=log or (_stderr_log if progress else _no_log))
    created = _now()
    write_manifest(ctx, "running", created, fingerprint=fp, summary=summary)
    t0 = time.perf_counter()
    ctx.table = table
    ctx.data_summary = {"source": str(data), "n_jets": len(table), "class_names": list(table.class_names),
                        "split_counts": {"evaluated": table.counts().tolist()}, "provenance": _provenance(str(data))}
    y_task, scores = evaluate_bundle(bundle, table.X, table.y)
    m = ctx.add_metrics(bundle.kind, y_task, scores, class_names=bundle.class_names)
    ctx.timings["evaluate"] = time.perf_counter() - t0
    lo, hi = m["accuracy_interval"]
    ctx.log(f"{bundle.kind} accuracy on {len(table)} jets: {m['accuracy'] * 100:.2f} % [{lo * 100:.2f}, {hi * 100:.2f}]")
    t0 = time.perf_counter()
    write_report(ctx)
    ctx.timings["report"] = time.perf_counter() - t0
    write_manifest(ctx, "complete", created, fingerprint=fp, summary=summary)
    return ctx
