"""The ``train_ann`` and ``evaluate_ann`` stages: the study's MLP, trained and scored."""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..config import AnnConfig, EvalConfig
from ..run.context import StageContext, StageResult
from ..run.rundir import model_file
from ..runtime import single_thread

__all__ = ["train_ann_stage", "evaluate_ann_stage", "evaluate_bundle"]


def train_ann_stage(ctx: StageContext, cfg: AnnConfig) -> StageResult:
    """Train the ANN (seeded init and batch order); the runner saves its model file and history."""
    import torch

    from ..ann.model import build_mlp, task_class_names, task_labels
    from ..ann.train import train_ann
    from ..models.file import ModelBundle, save_bundle

    table = ctx.table
    classes = task_class_names(cfg.task, table.class_names)
    y_train = task_labels(cfg.task, ctx.y["train"], table.class_names)
    y_val = task_labels(cfg.task, ctx.y["val"], table.class_names)
    seed = ctx.seed_for("train_ann")
    torch.manual_seed(seed)
    model = build_mlp(cfg, len(table.feature_names), len(classes))
    with single_thread():
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
    ctx.save(model_file("ann"), lambda path: save_bundle(path, bundle))
    ctx.result.model = bundle
    ctx.result.histories["ann"] = hist
    ctx.log(
        f"ANN {'-'.join(map(str, model.sizes))}: {hist.epochs} epochs, best {hist.best_epoch}, "
        f"val accuracy {hist.val_accuracy[hist.best_epoch - 1] * 100:.2f} %, {hist.seconds:.1f} s"
    )
    return ctx.result


def evaluate_bundle(bundle, X_raw: np.ndarray, y: np.ndarray, table=None) -> tuple[np.ndarray, np.ndarray]:
    """(task labels, class probabilities) of a model bundle on raw features (or, for a model on jet
    images, on ``table``'s particles) -- the one path shared by ``spikejet run`` and ``spikejet
    evaluate``, so both give the same numbers."""
    with single_thread():
        if getattr(bundle, "needs_particles", False):
            return bundle.labels(y), bundle.predict_table(table)
        return bundle.labels(y), bundle.predict_proba(X_raw)


def evaluate_ann_stage(ctx: StageContext, cfg: EvalConfig) -> StageResult:
    """Score the ANN on the test set."""
    bundle = ctx.models["ann"]
    X, y = ctx.test_raw()
    y_task, scores = evaluate_bundle(bundle, X, y)
    m = ctx.add_metrics("ann", y_task, scores, class_names=bundle.class_names)
    lo, hi = m["accuracy_interval"]
    ctx.log(f"ANN test accuracy {m['accuracy'] * 100:.2f} % [{lo * 100:.2f}, {hi * 100:.2f}]")
    return ctx.result
