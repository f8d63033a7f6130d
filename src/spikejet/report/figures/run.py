"""The report's figures. Each function returns a ``Figure``; nothing here trains or simulates.

Inputs are plain data (arrays, dicts from ``metrics.json`` and ``roc_curves``,
``TrainHistory.to_dict()``), so the same functions serve every model stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ...data.schema import CLASS_TITLES
from ..style import hep_style, new_figure

__all__ = ["plot_data_summary", "plot_training", "plot_confusions", "plot_roc", "plot_trigger_rocs", "CLASS_COLORS"]

#: One colour per class (colour-blind friendly "Okabe-Ito" palette), in class order g,q,w,z,t.
CLASS_COLORS: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
SPLIT_COLORS: dict[str, str] = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868"}
#: Features drawn in the data summary (when present), with axis labels.
SUMMARY_FEATURES: dict[str, str] = {
    "j_mass_mmdt": "groomed jet mass $m_{mMDT}$ [GeV]",
    "j_multiplicity": "constituent multiplicity",
    "j_zlogz": r"$\sum z \ln z$",
}
HIST_BINS = 40
#: Quantiles bounding the summary histograms (ignore far tails).
HIST_RANGE_QUANTILES = (0.001, 0.995)
CONFUSION_CELL_INCHES = 0.62
#: Confusion matrices per row before wrapping.
CONFUSION_MAX_COLUMNS = 3
#: y-range factor above the tallest bar, leaving room for the legend.
LEGEND_HEADROOM = 1.3


def _title(name: str) -> str:
    return CLASS_TITLES.get(name, name)


def _color(i: int) -> str:
    return CLASS_COLORS[i % len(CLASS_COLORS)]


def plot_data_summary(
    X: np.ndarray,
    y: np.ndarray,
    *,
    feature_names: Sequence[str],
    class_names: Sequence[str],
    split_counts: Mapping[str, Sequence[int]] | None = None,
) -> Figure:
    """Jets per class (per split if given) and a few key feature distributions per class."""
    feats = [f for f in SUMMARY_FEATURES if f in feature_names]
    with hep_style():
        fig = new_figure(4.2 * (1 + len(feats)), 3.6)
        axes = fig.subplots(1, 1 + len(feats), squeeze=False)[0]
        ax = axes[0]
        k = len(class_names)
        pos = np.arange(k)
        if split_counts:
            width = 0.8 / len(split_counts)
            for j, (name, counts) in enumerate(split_counts.items()):
                ax.bar(pos + (j - (len(split_counts) - 1) / 2) * width, counts, width,
                       label=name, color=SPLIT_COLORS.get(name))
            top = max((max(c) for c in split_counts.values() if len(c)), default=1)
            ax.set_ylim(0, top * LEGEND_HEADROOM)
            ax.legend(ncol=len(split_counts), loc="upper center")
        else:
            ax.bar(pos, np.bincount(y, minlength=k), 0.7, color=[_color(i) for i in range(k)])
        ax.set_xticks(pos, list(class_names))
        ax.set_ylabel("jets")
        ax.set_title("jets per class")
        for ax, f in zip(axes[1:], feats, strict=True):
            col = np.asarray(X)[:, list(feature_names).index(f)]
            lo, hi = np.quantile(col, HIST_RANGE_QUANTILES)
            if hi <= lo:
                hi = lo + 1.0
            bins = np.linspace(lo, hi, HIST_BINS + 1)
            for c, name in enumerate(class_names):
                sel = col[y == c]
                if sel.size:
                    ax.hist(sel, bins=bins, density=True, histtype="step", lw=1.5,
                            color=_color(c), label=_title(name))
            ax.set_xlabel(SUMMARY_FEATURES[f])
            ax.set_ylabel("density")
        if feats:
            axes[1].legend()
    return fig


def plot_training(histories: Mapping[str, Mapping[str, Any]]) -> Figure:
    """Loss (train, validation) and validation accuracy per epoch, one row per model."""
    with hep_style():
        fig = new_figure(9.0, 3.3 * max(1, len(histories)))
        axes = fig.subplots(max(1, len(histories)), 2, squeeze=False)
        for row, (label, h) in zip(axes, histories.items(), strict=False):
            ep = np.arange(1, len(h["train_loss"]) + 1)
            a0, a1 = row
            a0.plot(ep, h["train_loss"], label="train", color=SPLIT_COLORS["train"])
            a0.plot(ep, h["val_loss"], label="validation", color=SPLIT_COLORS["val"])
            a1.plot(ep, np.asarray(h["val_accuracy"]) * 100, color=SPLIT_COLORS["val"], label="validation")
            best = h.get("best_epoch", 0)
            for a in (a0, a1):
                if best:
                    a.axvline(best, ls="--", color="0.5", lw=1, label=f"best epoch {best}")
                a.set_xlabel("epoch")
            a0.set_ylabel("cross entropy")
            a1.set_ylabel("accuracy [%]")
            a0.set_title(f"{label}: loss")
            a1.set_title(f"{label}: validation accuracy")
            a0.legend()
            a1.legend(loc="lower right")
    return fig


def plot_confusions(
    matrices: Mapping[str, Sequence[Sequence[float | None]]],
    *,
    class_names: Sequence[str],
    accuracies: Mapping[str, float] | None = None,
) -> Figure:
    """Normalized confusion matrices side by side (rows: true class), values in percent."""
    n = max(1, len(matrices))
    k = len(class_names)
    side = max(3.2, CONFUSION_CELL_INCHES * k + 1.4)
    ncols = min(n, CONFUSION_MAX_COLUMNS)
    nrows = -(-n // ncols)
    with hep_style():
        fig = new_figure(side * ncols + 0.8, side * nrows)
        grid = fig.subplots(nrows, ncols, squeeze=False)
        axes = list(grid.ravel())
        for ax in axes[n:]:
            ax.set_visible(False)
        axes = axes[:n]
        ticks = [_title(c) for c in class_names]
        im = None
        for ax, (label, cm) in zip(axes, matrices.items(), strict=False):
            m = np.array([[np.nan if v is None else v for v in row] for row in cm], dtype=float) * 100
            im = ax.imshow(m, vmin=0, vmax=100, cmap="Blues", origin="upper")
            for i in range(k):
                for j in range(k):
                    if np.isfinite(m[i, j]):
                        ax.text(j, i, f"{m[i, j]:.1f}", ha="center", va="center", fontsize=8,
                                color="white" if m[i, j] > 55 else "black")
            ax.set_xticks(range(k), ticks, rotation=35, ha="right")
            ax.set_yticks(range(k), ticks)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.minorticks_off()
            acc = (accuracies or {}).get(label)
            ax.set_title(label if acc is None else f"{label} ({acc * 100:.1f} %)")
        if im is not None:
            fig.colorbar(im, ax=list(grid.ravel()), shrink=0.8, label="fraction of true class [%]")
    return fig


def plot_roc(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    auc: Mapping[str, float | None] | None = None,
    title: str = "",
) -> Figure:
    """One-vs-rest ROC per class: signal efficiency vs background efficiency (log scale)."""
    with hep_style():
        fig = new_figure(5.2, 4.4)
        ax = fig.subplots()
        for c, (name, cv) in enumerate(curves.items()):
            tpr = np.asarray(cv["tpr"])
            fpr = np.asarray(cv["fpr"])
            keep = fpr > 0
            a = (auc or {}).get(name)
            lbl = _title(name) + ("" if a is None else f" (AUC {a * 100:.1f} %)")
            ax.plot(tpr[keep], fpr[keep], color=_color(c), lw=1.6, label=lbl)
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_xlabel("signal efficiency")
        ax.set_ylabel("background efficiency")
        if title:
            ax.set_title(title)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower right")
    return fig


#: Signal efficiencies of the trigger-convention ROC panels (rejection is unmeasurable near 0).
TRIGGER_EFF_GRID = np.linspace(0.05, 0.99, 95)
MODEL_COLORS: tuple[str, ...] = ("#000000", "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")


def _rejection_on_grid(cv: Mapping[str, Sequence[float]], grid: np.ndarray) -> np.ndarray:
    tpr, fpr = np.asarray(cv["tpr"], float), np.asarray(cv["fpr"], float)
    f = np.interp(grid, tpr, fpr)
    with np.errstate(divide="ignore"):
        return np.where(f > 0, 1.0 / np.maximum(f, 1e-300), np.nan)


def plot_trigger_rocs(rocs: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
                      titles: Mapping[str, str], *, reference: str = "ann") -> Figure:
    """Per class: background rejection (1 / background efficiency, log scale) versus signal efficiency of
    every model overlaid, and below it each model's rejection over the reference model's (the ANN)."""
    models = list(rocs)
    classes = list(next(iter(rocs.values())))
    grid = TRIGGER_EFF_GRID
    with hep_style():
        fig = new_figure(3.1 * len(classes), 5.0)
        axes = fig.subplots(2, len(classes), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}, squeeze=False)
        for j, cls in enumerate(classes):
            top, bot = axes[0, j], axes[1, j]
            ref = _rejection_on_grid(rocs[reference][cls], grid) if reference in rocs else None
            for i, model in enumerate(models):
                rej = _rejection_on_grid(rocs[model][cls], grid)
                col = MODEL_COLORS[i % len(MODEL_COLORS)]
                top.plot(grid, rej, color=col, lw=1.4, label=titles.get(model, model))
                if ref is not None:
                    bot.plot(grid, rej / ref, color=col, lw=1.2)
            top.set_yscale("log")
            top.set_title(_title(cls))
            top.grid(True, which="major", alpha=0.3)
            bot.axhline(1.0, color="grey", lw=0.8, ls="--")
            bot.set_ylim(0.5, 1.5)
            bot.set_xlabel("signal efficiency")
            bot.grid(True, alpha=0.3)
            if j == 0:
                top.set_ylabel("background rejection")
                bot.set_ylabel(f"ratio to {titles.get(reference, reference)}")
        axes[0, -1].legend(loc="upper right", fontsize="x-small")
    return fig
