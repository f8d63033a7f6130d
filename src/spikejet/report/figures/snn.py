"""Figures of the spiking stages: accuracy versus time steps, firing rates, operations.

Plain inputs only (curves, per-layer numbers from ``metrics.json``); nothing here
simulates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..style import hep_style, new_figure

__all__ = [
    "plot_accuracy_vs_timesteps",
    "plot_firing_rates",
    "plot_operations",
    "plot_methods_vs_timesteps",
    "plot_accuracy_vs_synops",
    "plot_output_activity",
    "plot_raster",
    "plot_rate_histograms",
    "METHOD_COLORS",
]

#: Colours of the conversion methods (Okabe-Ito), others cycle through the rest.
METHOD_COLORS: dict[str, str] = {
    "snntoolbox": "#D55E00",
    "calibrated": "#009E73",
    "qcfs": "#0072B2",
}
_OTHER_COLORS = ("#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
#: The firing-rate band the 2019 study aimed at on Loihi (Hz).
STUDY_RATE_BAND_HZ = (100.0, 200.0)


def _color(name: str, i: int) -> str:
    return METHOD_COLORS.get(name, _OTHER_COLORS[i % len(_OTHER_COLORS)])


def plot_accuracy_vs_timesteps(
    curves: Mapping[str, Mapping[int, float]],
    *,
    ann_accuracy: float,
    headline: tuple[str, int, float] | None = None,
    target_gap: float | None = None,
    study: Sequence[tuple[str, int, float]] = (),
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Accuracy (%) versus T on a log axis, one line per method, with the ANN's line.

    ``curves``: ``{method: {T: accuracy}}``; ``headline``: (method, T, accuracy)
    marked with a star; ``target_gap``: shaded band below the ANN;
    ``study``: (label, T, accuracy) reference points (e.g. the 2019 study).
    """
    labels = dict(labels or {})
    with hep_style():
        fig = new_figure(6.4, 4.4)
        ax = fig.subplots()
        t_max = 1
        for i, (name, curve) in enumerate(curves.items()):
            ts = np.array(sorted(int(t) for t in curve))
            acc = np.array([curve[t] for t in ts]) * 100
            t_max = max(t_max, int(ts.max()))
            ax.plot(ts, acc, "-", marker="o" if len(ts) <= 16 else None, ms=3, lw=1.6,
                    color=_color(name, i), label=labels.get(name, name))
        ax.axhline(ann_accuracy * 100, color="k", ls="--", lw=1.2, label=f"ANN {ann_accuracy * 100:.2f} %")
        if target_gap:
            ax.axhspan((ann_accuracy - target_gap) * 100, ann_accuracy * 100, color="0.85", alpha=0.6, lw=0,
                       label=f"within {target_gap * 100:g} point{'s' if target_gap != 0.01 else ''}")
        for lab, t, a in study:
            ax.plot([t], [a * 100], "s", color="0.3", ms=6)
            ax.annotate(lab, (t, a * 100), textcoords="offset points", xytext=(-4, 8), ha="right", va="bottom",
                        fontsize=8, color="0.3")
        if headline is not None:
            name, t, a = headline
            ax.plot([t], [a * 100], "*", ms=13, color=_color(name, 0), mec="k", mew=0.6, zorder=5,
                    label=f"headline: T = {t}, {a * 100:.2f} %")
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, t_max)
        ax.set_xlabel("time steps T")
        ax.set_ylabel("test accuracy [%]")
        lo = min([ann_accuracy * 100 - 15] + [a * 100 for _, _, a in study])
        ax.set_ylim(max(lo, 0), ann_accuracy * 100 + 3)
        ax.legend(loc="lower right")
    return fig


def plot_firing_rates(
    rates_hz: Mapping[str, Sequence[float]],
    layer_names: Sequence[str],
    *,
    band_hz: tuple[float, float] | None = STUDY_RATE_BAND_HZ,
    timesteps: Mapping[str, int] | None = None,
) -> Figure:
    """Mean firing rate per spiking layer (Hz), one group of bars per method."""
    n = len(layer_names)
    pos = np.arange(n)
    with hep_style():
        fig = new_figure(6.4, 4.0)
        ax = fig.subplots()
        k = max(len(rates_hz), 1)
        width = 0.8 / k
        for i, (name, r) in enumerate(rates_hz.items()):
            lab = name if not timesteps or name not in timesteps else f"{name} (T = {timesteps[name]})"
            ax.bar(pos + (i - (k - 1) / 2) * width, np.asarray(r, dtype=float), width, color=_color(name, i), label=lab)
        if band_hz is not None:
            ax.axhspan(*band_hz, color="0.85", alpha=0.6, lw=0, label=f"study's target {band_hz[0]:g}-{band_hz[1]:g} Hz")
        ax.set_xticks(pos, list(layer_names))
        ax.set_ylabel("mean firing rate [Hz]")
        ax.legend()
    return fig


def plot_operations(
    synops_per_layer: Mapping[str, Sequence[float]],
    layer_names: Sequence[str],
    ann_macs_per_layer: Sequence[float],
    *,
    synops_vs_t: Mapping[str, Mapping[int, float]] | None = None,
    ann_macs: float | None = None,
    timesteps: Mapping[str, int] | None = None,
) -> Figure:
    """Left: synaptic operations per inference per layer vs the ANN's MACs.
    Right (if given): total synops per inference versus T with the ANN's MACs line."""
    two = bool(synops_vs_t)
    n = len(layer_names)
    pos = np.arange(n)
    with hep_style():
        fig = new_figure(11.0 if two else 6.4, 4.0)
        axes = fig.subplots(1, 2 if two else 1, squeeze=False)[0]
        ax = axes[0]
        k = len(synops_per_layer) + 1
        width = 0.8 / k
        ax.bar(pos - (k - 1) / 2 * width, ann_macs_per_layer, width, color="0.5", label="ANN MACs")
        for i, (name, s) in enumerate(synops_per_layer.items()):
            lab = name if not timesteps or name not in timesteps else f"{name} synops (T = {timesteps[name]})"
            ax.bar(pos + (i + 1 - (k - 1) / 2) * width, np.asarray(s, dtype=float), width,
                   color=_color(name, i), label=lab)
        ax.set_xticks(pos, list(layer_names))
        ax.set_ylabel("operations per inference")
        ax.legend()
        if two:
            ax = axes[1]
            for i, (name, curve) in enumerate(synops_vs_t.items()):
                ts = np.array(sorted(int(t) for t in curve))
                ax.plot(ts, [curve[t] for t in ts], "-o", ms=3, color=_color(name, i), label=name)
            if ann_macs is not None:
                ax.axhline(ann_macs, color="k", ls="--", lw=1.2, label=f"ANN {ann_macs:,.0f} MACs")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("time steps T")
            ax.set_ylabel("synaptic operations per inference")
            ax.legend()
    return fig


# --------------------------------------------------------------------------- the training stages' figures


def plot_methods_vs_timesteps(curves, *, ann_accuracy: float, study=()) -> Any:
    """Accuracy (%) versus T (log axis) for every method, the ANN line and the study's points."""
    import numpy as np


    colors = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
    with hep_style():
        fig = new_figure(9.0, 4.8)
        ax = fig.subplots()
        t_max = 1
        lo = ann_accuracy * 100 - 20
        for i, (name, curve) in enumerate(curves.items()):
            ts = np.array(sorted(curve))
            acc = np.array([curve[t] for t in ts]) * 100
            t_max = max(t_max, int(ts.max()))
            ax.plot(ts, acc, "-", marker="o" if len(ts) <= 16 else None, ms=3, lw=1.5, color=colors[i % len(colors)],
                    label=name)
        ax.axhline(ann_accuracy * 100, color="k", ls="--", lw=1.2, label=f"ANN {ann_accuracy * 100:.2f} %")
        for j, (lab, t, a) in enumerate(study):
            ax.plot([t], [a * 100], "s", color="0.35", ms=6, label="2019 study" if j == 0 else None)
            ax.annotate(lab.replace("study: ", ""), (t, a * 100), textcoords="offset points", xytext=(-6, 4),
                        ha="right", fontsize=7)
            t_max = max(t_max, t)
            lo = min(lo, a * 100 - 3)
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, t_max * 1.1)
        ax.set_ylim(max(lo, 0), ann_accuracy * 100 + 3)
        ax.set_xlabel("time steps T")
        ax.set_ylabel("test accuracy [%]")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
    return fig


def plot_accuracy_vs_synops(series, *, ann_accuracy: float, ann_macs: float, converted: dict | None = None) -> Any:
    """Accuracy (%) versus synaptic operations per jet (log axis), one line per series of
    ``(synops, accuracy, label)`` points (empty labels are not written)."""
    import numpy as np


    colors = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
    lo = ann_accuracy * 100 - 6.0
    with hep_style():
        fig = new_figure(9.0, 4.8)
        ax = fig.subplots()
        xs = [ann_macs]
        for i, (name, pts) in enumerate(series.items()):
            pts = sorted(pts)
            x = np.maximum([p[0] for p in pts], 1.0)
            yv = np.array([p[1] for p in pts]) * 100
            ax.plot(x, yv, "-o" if len(pts) > 1 else "D", ms=4, lw=1.4, color=colors[i % len(colors)], label=name)
            xs += [float(v) for v, a in zip(x, yv, strict=True) if a >= lo]
            for xx, yy, (_, _, lab) in zip(x, yv, pts, strict=True):
                if lab and yy >= lo:
                    ax.annotate(lab, (xx, yy), textcoords="offset points", xytext=(4, -10), fontsize=7,
                                color=colors[i % len(colors)])
        if converted and converted.get("synops") is not None:
            ax.plot([converted["synops"]], [converted["accuracy"] * 100], "X", ms=9, color="#009E73", mec="k",
                    mew=0.6, label=f"converted ({converted['method']}) at the surrogate's accuracy: "
                                   f"T = {converted['timesteps']}")
            xs.append(converted["synops"])
        ax.axvline(ann_macs, color="0.4", ls=":", lw=1.2, label=f"ANN: {ann_macs:,.0f} MACs per jet")
        ax.axhline(ann_accuracy * 100, color="k", ls="--", lw=1.2, label=f"ANN {ann_accuracy * 100:.2f} %")
        ax.set_xscale("log")
        ax.set_xlim(min(xs) / 1.5, max(xs) * 1.5)
        ax.set_ylim(lo, ann_accuracy * 100 + 1.0)
        ax.set_xlabel("synaptic operations per jet")
        ax.set_ylabel("test accuracy [%]")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
    return fig


def plot_output_activity(trace, labels, classes, dt: float) -> Any:
    """One panel per jet: the output neurons' (filtered) activity over time (``trace`` ``[T, k, C]``)."""
    import numpy as np


    colors = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
    T, k, C = trace.shape
    t_ms = np.arange(1, T + 1) * dt * 1e3
    with hep_style():
        fig = new_figure(2.6 * max(k, 1), 3.0)
        axes = fig.subplots(1, max(k, 1), squeeze=False, sharey=True)[0]
        for j in range(k):
            ax = axes[j]
            for c in range(C):
                ax.plot(t_ms, trace[:, j, c], lw=1.2, color=colors[c % len(colors)], label=classes[c])
            ax.set_title(f"true class: {classes[int(labels[j])]}", fontsize=9)
            ax.set_xlabel("time [ms]")
        axes[0].set_ylabel("output activity")
        axes[-1].legend(fontsize=7)
    return fig


def plot_raster(raster: dict, layer_names, *, jet: int, dt: float) -> Any:
    """Spike raster of one jet: every spiking layer's neurons stacked (``raster[l]`` ``[T, k, n_l]``)."""
    import numpy as np


    colors = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
    with hep_style():
        fig = new_figure(6.8, 4.2)
        ax = fig.subplots()
        offset = 0
        ticks, names = [], []
        for li, r in sorted(raster.items()):
            sp = r[:, jet, :]
            if not sp.any() and li == max(raster):
                continue
            t_idx, n_idx = np.nonzero(sp)
            ax.scatter((t_idx + 1) * dt * 1e3, n_idx + offset, s=4, marker="|", color=colors[li % len(colors)])
            ticks.append(offset + sp.shape[1] / 2)
            names.append(layer_names[li])
            offset += sp.shape[1] + 2
        ax.set_yticks(ticks, names)
        ax.set_xlabel("time [ms]")
        ax.set_ylabel("neuron")
    return fig


def plot_rate_histograms(rates, names, *, band=None) -> Any:
    """Histogram of per-neuron mean firing rates (Hz), one panel per spiking layer."""
    import numpy as np


    n = max(len(rates), 1)
    with hep_style():
        fig = new_figure(2.8 * n, 3.0)
        axes = fig.subplots(1, n, squeeze=False)[0]
        top = max([float(np.max(r)) for r in rates if len(r)] + [1.0])
        bins = np.linspace(0, top * 1.02, 21)
        for ax, r, name in zip(axes, rates, names, strict=False):
            ax.hist(r, bins=bins, color="#0072B2", zorder=2)
            if band:
                ax.axvspan(*band, color="0.88", lw=0, zorder=0, label=f"target band {band[0]:g}-{band[1]:g} Hz")
                ax.legend(fontsize=7)
            ax.set_title(f"{name}: mean {float(np.mean(r)):.0f} Hz", fontsize=9)
            ax.set_xlabel("firing rate [Hz]")
        axes[0].set_ylabel("neurons")
    return fig
