"""The ``report`` stage: figures for everything the run made, and the self-contained report.html."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..config import config_to_yaml
from ..run.context import StageContext, StageResult
from ..run.rundir import REPORT_FILE, now

__all__ = ["report_stage"]


def _history_dict(h: Any) -> dict[str, Any]:
    return h.to_dict() if hasattr(h, "to_dict") else dict(h)


def report_figures(ctx: StageContext) -> None:
    """Data summary, training curves, confusion matrices and one ROC panel per scored model."""
    from ..report.figures.run import (
        plot_confusions,
        plot_data_summary,
        plot_roc,
        plot_training,
        plot_trigger_rocs,
    )
    from ..report.tables import stage_title

    table = ctx.table
    if table is not None:
        ctx.add_figure(
            "data_summary",
            plot_data_summary(table.X, table.y, feature_names=table.feature_names,
                              class_names=table.class_names, split_counts=ctx.data.summary.get("split_counts")),
            "Jets per class in each split, and key features per class (all jets used).",
            section="data",
        )
    if ctx.histories:
        ctx.add_figure(
            "training",
            plot_training({stage_title(k): _history_dict(h) for k, h in ctx.histories.items()}),
            "Training curves; the dashed line marks the epoch whose weights were kept.",
            section="training",
        )
    metrics = {k: m for k, m in ctx.metrics.items() if "per_class_accuracy" in m}  # the scored models
    by_classes: dict[tuple[str, ...], list[str]] = {}
    for stage, m in metrics.items():
        by_classes.setdefault(tuple(m["per_class_accuracy"]), []).append(stage)
    for i, (classes, stages) in enumerate(by_classes.items()):
        ctx.add_figure(
            "confusion" if i == 0 else f"confusion_{len(classes)}class",
            plot_confusions({stage_title(s): metrics[s]["confusion_matrix"] for s in stages},
                            class_names=classes,
                            accuracies={stage_title(s): metrics[s]["accuracy"] for s in stages}),
            "Normalized confusion matrices on the test set (rows: true class, in %).",
            section="confusion",
        )
    rocs = {k: v for k, v in ctx.rocs.items() if tuple(v) == tuple(ctx.rocs.get("ann", v))}
    if len(rocs) > 1:
        ctx.add_figure(
            "trigger_roc",
            plot_trigger_rocs(rocs, {k: stage_title(k) for k in rocs}),
            "Per class: background rejection (1 / background efficiency) versus signal efficiency of the ANN "
            "and every spiking model on the same test jets (one-vs-rest, class probabilities), and below each "
            "model's rejection over the ANN's.",
            section="roc",
        )
    for stage, curves in ctx.rocs.items():
        ctx.add_figure(
            f"roc_{stage}",
            plot_roc(curves, auc=metrics[stage]["auc"], title=stage_title(stage)),
            f"{stage_title(stage)}: one-vs-rest ROC curve per class on the test set.",
            section="roc",
        )


def report_stage(ctx: StageContext, cfg: Any = None) -> StageResult:
    from ..report.html import write_report

    report_figures(ctx)
    run_cfg = ctx.config
    metrics = {k: dict(v) for k, v in ctx.metrics.items()}
    nb = ctx.results.get("neurobench")
    neurobench = dict(nb.entry) if nb is not None and nb.entry else None
    pu = ctx.results.get("pileup")
    pileup = dict(pu.entry) if pu is not None and pu.entry else None
    timings = dict(ctx.timings)

    def write(path):
        write_report(
            path,
            title="spikejet run report",
            metrics=metrics,
            figures=ctx.committed_figures(),
            data_summary=dict(ctx.data.summary),
            config_yaml=config_to_yaml(run_cfg),
            timings=timings,
            meta={"spikejet": __version__, "preset": run_cfg.preset, "seed": run_cfg.seed,
                  "quick": run_cfg.quick, "created": now()},
            interval=run_cfg.evaluate.interval,
            neurobench=neurobench,
            pileup=pileup,
        )

    ctx.save(REPORT_FILE, write)
    return ctx.result
