"""Figures of the spiking stages: accuracy versus time steps, firing rates, operations.

Plain inputs only (curves, per-layer numbers from ``metrics.json``); nothing here
simulates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..style import hep_style, new_figure

__all__ = ["plot_accuracy_vs_timesteps", "plot_firing_rates", "plot_operations", "METHOD_COLORS"]

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
