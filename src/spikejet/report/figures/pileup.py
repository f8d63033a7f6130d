"""Figures of the pileup stage: per-track ROC (pileup rejection vs PV efficiency) and accuracy vs MU.

Plain inputs only (curves and numbers the stage computed).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from ..style import hep_style, new_figure

__all__ = ["plot_pileup_roc", "plot_accuracy_vs_mu", "plot_mass_resolution", "PILEUP_LABELS"]

PILEUP_LABELS: dict[str, str] = {
    "snn": "spiking filter (latency code, axon delays)",
    "timing_cut": "timing + z0 window cut",
    "no_timing": "z0 window cut (no timing)",
    "mlp": "MLP on the same inputs",
    "raw": "no cleaning",
    "truth": "truth (hard interaction only)",
}
_COLORS = {"snn": "#D55E00", "timing_cut": "#0072B2", "no_timing": "#56B4E9", "mlp": "#009E73",
           "raw": "#000000", "truth": "#CC79A7"}


def plot_pileup_roc(rocs: Mapping[str, tuple[np.ndarray, np.ndarray]], *, efficiency: float) -> Figure:
    """1 / pileup efficiency (log) versus PV efficiency, one line per method: ``{method: (tpr, fpr)}``."""
    with hep_style():
        fig = new_figure(6.4, 4.4)
        ax = fig.subplots()
        for name, (tpr, fpr) in rocs.items():
            ok = (fpr > 0) & (tpr > 0.5)
            ax.plot(tpr[ok], 1.0 / fpr[ok], lw=1.6, color=_COLORS.get(name), label=PILEUP_LABELS.get(name, name))
        ax.axvline(efficiency, ls=":", color="0.4", lw=1)
        ax.set_yscale("log")
        ax.set_xlim(0.5, 1.0)
        ax.set_xlabel("primary-vertex track efficiency")
        ax.set_ylabel("pileup track rejection")
        ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_accuracy_vs_mu(acc: Mapping[str, Mapping[str, float]], particle_level: float | None = None) -> Figure:
    """Tagging accuracy (%) versus MU per cleaning: ``{cleaning: {"mu": accuracy}}``."""
    with hep_style():
        fig = new_figure(6.4, 4.4)
        ax = fig.subplots()
        for name, curve in acc.items():
            mus = sorted(curve, key=float)
            ax.plot([float(m) for m in mus], [curve[m] * 100 for m in mus], "-o", ms=4, lw=1.6,
                    color=_COLORS.get(name), label=PILEUP_LABELS.get(name, name))
        if particle_level is not None:
            ax.axhline(particle_level * 100, ls="--", color="0.5", lw=1, label="MU = 0, every particle")
        ax.axhline(20.0, ls=":", color="0.6", lw=1)
        ax.set_xlabel("pileup MU")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=8)
    return fig


def plot_mass_resolution(mass: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
                         class_names: list[str], cleanings: tuple[str, ...] = ("raw", "snn", "timing_cut", "truth")) -> Figure:
    """mMDT mass width (half the 16-84 % interval of m - m_hard, GeV) versus MU, one panel per class:
    ``mass[cleaning][mu][class index] = {"width_gev", "shift_gev", "n"}``."""
    with hep_style():
        fig = new_figure(3.0 * len(class_names), 3.2)
        axes = fig.subplots(1, len(class_names), sharey=True)
        for ci, (ax, cls) in enumerate(zip(axes, class_names, strict=True)):
            for name in cleanings:
                curve = mass.get(name, {})
                mus = sorted(curve, key=float)
                w = [curve[m].get(str(ci), {}).get("width_gev", np.nan) for m in mus]
                ax.plot([float(m) for m in mus], w, "-o", ms=3, lw=1.4, color=_COLORS.get(name),
                        label=PILEUP_LABELS.get(name, name))
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_title(cls)
            ax.set_xlabel("pileup MU")
        axes[0].set_ylabel("mMDT mass width (GeV)")
        axes[-1].legend(fontsize=7)
    return fig
