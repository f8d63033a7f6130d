"""Energy-per-inference figures: the Fig. 9-style plot of the 2019 study, and the energy/latency table.

Left: energy per inference (log scale) on each device, one bar group per
device and one bar per model. Right: accuracy against energy per inference,
one marker per (model, device). Input: rows from
:func:`spikejet.hardware.energy.cost_rows` (several models concatenated).
:func:`plot_energy_table` draws the rows of
:func:`spikejet.report.tables.energy_table_rows` as a table figure (the HTML
report embeds figures). Kept apart from :mod:`spikejet.hardware.energy` so
that the energy model itself never imports matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...io import atomic_path

__all__ = ["plot_energy", "plot_energy_table"]

#: Figure size in inches (two panels side by side).
FIGSIZE = (13.0, 4.6)
DPI = 130


def plot_energy(rows: Sequence[dict], path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write the figure to ``path`` (PNG/PDF/SVG by suffix), atomically; return the path."""
    if not rows:
        raise ConfigError("no energy rows to plot")
    for key in ("model", "device", "energy_j"):
        if any(key not in r for r in rows):
            raise ConfigError(f"every energy row needs {key!r} (use energy.cost_rows)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    models = list(dict.fromkeys(r["model"] for r in rows))
    devices = list(dict.fromkeys(r["device"] for r in rows))
    table = {(r["model"], r["device"]): r for r in rows}
    fig, (ax_e, ax_a) = plt.subplots(1, 2, figsize=FIGSIZE)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(devices))
    for k, model in enumerate(models):
        vals = [table[(model, d)]["energy_j"] if (model, d) in table else np.nan for d in devices]
        ax_e.bar(x + (k - (len(models) - 1) / 2) * width, vals, width, label=model)
    ax_e.set_xticks(x, devices)
    ax_e.set_yscale("log")
    ax_e.set_ylabel("energy per inference [J]")
    ax_e.set_title("energy per inference (keras-spiking model)")
    ax_e.legend(fontsize="small")
    ax_e.grid(axis="y", which="both", alpha=0.3)

    markers = "osD^v<>p*h"
    have_acc = False
    legends = []
    for k, model in enumerate(models):
        for j, d in enumerate(devices):
            r = table.get((model, d))
            if r is None or r.get("accuracy") is None:
                continue
            have_acc = True
            ax_a.scatter(r["energy_j"], 100.0 * r["accuracy"], marker=markers[j % len(markers)],
                         color=f"C{k}")
    ax_a.set_xscale("log")
    ax_a.set_xlabel("energy per inference [J]")
    ax_a.set_ylabel("accuracy [%]")
    ax_a.set_title("accuracy vs energy")
    ax_a.grid(alpha=0.3, which="both")
    if have_acc:
        # colour = model, marker = device: two short legends beside the panel instead of one per point
        from matplotlib.lines import Line2D

        model_handles = [Line2D([], [], marker="o", ls="", color=f"C{k}", label=m) for k, m in enumerate(models)]
        device_handles = [Line2D([], [], marker=markers[j % len(markers)], ls="", color="0.3", label=d)
                          for j, d in enumerate(devices)]
        first = ax_a.legend(handles=model_handles, fontsize="x-small", loc="upper left",
                            bbox_to_anchor=(1.02, 1.0), title="model", title_fontsize="x-small")
        ax_a.add_artist(first)
        legends.append(first)
        second = ax_a.legend(handles=device_handles, fontsize="x-small", loc="lower left",
                    bbox_to_anchor=(1.02, 0.0), title="device", title_fontsize="x-small")
        legends.append(second)
    else:
        ax_a.text(0.5, 0.5, "no accuracies given", ha="center", va="center", transform=ax_a.transAxes)
    if title:
        legends.append(fig.suptitle(title))
    fig.tight_layout()
    dest = Path(path)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, dpi=DPI, format=dest.suffix.lstrip(".") or "png", bbox_inches="tight",
                    bbox_extra_artists=legends)
    plt.close(fig)
    return dest


def _fmt_energy(j: float) -> str:
    for unit, scale in (("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if j >= scale:
            return f"{j / scale:.3g} {unit}"
    return f"{j / 1e-12:.3g} pJ"


def plot_energy_table(rows: Sequence[Mapping[str, Any]], *, reference: float | None = None) -> Any:
    """The table as a figure (the HTML report embeds figures): one block of rows per model."""
    from ..style import hep_style, new_figure

    header = ["model", "accuracy", "T", "spikes", "synops / MACs", "device", "energy / inference",
              "vs ANN on GPU", "latency [steps]"]
    body = []
    for r in rows:
        acc = "–" if r.get("accuracy") is None else f"{r['accuracy'] * 100:.2f} %"
        body.append([
            r["model"], acc, "–" if r.get("timesteps") is None else str(r["timesteps"]),
            "–" if r.get("spikes") is None else f"{r['spikes']:.0f}",
            "–" if r.get("synops") is None else f"{r['synops']:.0f}",
            r["device"], _fmt_energy(r["energy_j"]),
            "–" if not reference else f"{r['energy_j'] / reference:.3g}",
            "–" if r.get("latency_steps") is None else str(r["latency_steps"]),
        ])
    with hep_style():
        fig = new_figure(8.6, 0.4 + 0.24 * (len(body) + 1))
        ax = fig.subplots()
        ax.axis("off")
        if body:
            table = ax.table(cellText=body, colLabels=header, loc="center", cellLoc="right", colLoc="right")
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            table.auto_set_column_width(list(range(len(header))))
            for (row, _col), cell in table.get_celld().items():
                if row == 0:
                    cell.set_facecolor("#eeeeee")
        else:
            ax.text(0.5, 0.5, "no energy figures", ha="center", va="center")
    return fig
