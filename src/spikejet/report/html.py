"""One self-contained ``report.html``: every figure embedded as a base64 PNG.

The report is assembled from plain inputs (``metrics.json`` content, figure files,
a data summary, the resolved config), never from a trainer or simulator.
Figures are grouped by ``section``; known sections come first in
:data:`SECTION_TITLES` order, others (added by later stages) follow in order of
appearance.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.schema import CLASS_TITLES
from ..io import write_text
from .tables import accuracy_text, comparison_rows, stage_title, study_text, trigger_rows

__all__ = ["ReportFigure", "SECTION_TITLES", "build_report", "write_report"]

SECTION_TITLES: dict[str, str] = {
    "data": "Data",
    "training": "Training",
    "confusion": "Confusion matrices",
    "roc": "ROC curves",
    "spiking": "Spiking networks",
}

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
figure{margin:1em 0}figure img{max-width:100%;height:auto}figcaption{color:#555;font-size:.9em}
.meta{color:#555}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
"""


@dataclass(frozen=True)
class ReportFigure:
    """A PNG file to embed, with its caption and report section."""

    name: str
    path: Path
    caption: str
    section: str


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(Path(path).name)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in header)
    b = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None:
        return "–"
    if pct:
        return f"{float(x) * 100:.2f} %"
    return f"{float(x):.1f}" if isinstance(x, float) else str(x)


def _data_section(summary: Mapping[str, Any]) -> str:
    parts = []
    src = summary.get("source")
    n = summary.get("n_jets")
    parts.append(f"<p>Source: <code>{_e(src)}</code>; {_e(n)} jets used.</p>")
    classes = summary.get("class_names", [])
    splits: Mapping[str, Sequence[int]] = summary.get("split_counts", {})
    if classes and splits:
        rows = [
            [f"{c} ({CLASS_TITLES.get(c, c)})", *(counts[i] for counts in splits.values()),
             sum(counts[i] for counts in splits.values())]
            for i, c in enumerate(classes)
        ]
        rows.append(["all", *(sum(v) for v in splits.values()), sum(sum(v) for v in splits.values())])
        parts.append(_table(["class", *splits.keys(), "total"], rows))
    prov = summary.get("provenance")
    if prov:
        items = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in prov.items() if not isinstance(v, dict | list))
        if items:
            parts.append(f"<details><summary>Provenance of the sample</summary><ul>{items}</ul></details>")
    return "".join(parts)


def _results_section(metrics: Mapping[str, Mapping[str, Any]], interval: float) -> str:
    rows = comparison_rows(metrics)
    out = [
        f"<p>Test-set accuracy with its {interval * 100:g} % bootstrap interval, next to the 2019 study's "
        "number for the same approach.</p>",
        _table(
            ["model", "test accuracy", "T (time steps)", "2019 study"],
            [[r.title, accuracy_text(r), "" if r.timesteps is None else r.timesteps, study_text(r)] for r in rows],
        ),
    ]
    out.append(_trigger_table(metrics))
    for stage, m in metrics.items():
        if not isinstance(m, Mapping) or "auc" not in m:
            continue
        effs = list(next(iter(m["rejection"].values()), {}).keys())
        body = [
            [
                f"{c} ({CLASS_TITLES.get(c, c)})",
                _fmt(m["per_class_accuracy"].get(c), pct=True),
                _fmt(m["auc"].get(c), pct=True),
                *(_fmt(m["rejection"][c].get(e)) for e in effs),
            ]
            for c in m["per_class_accuracy"]
        ]
        head = ["class", "accuracy", "AUC", *(f"rejection at {float(e) * 100:g} % eff." for e in effs)]
        out.append(f"<h3>{_e(stage_title(stage))}: per class</h3>" + _table(head, body))
    out.append(
        "<p class='meta'>Rejection = 1 / background efficiency of the one-vs-rest score at that signal "
        "efficiency; – means no background jet passes (beyond what the test set can measure).</p>"
    )
    return "".join(out)


def _trigger_table(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """Background rejection at 50 % signal efficiency over the ANN's, per class, for every model."""
    rows = trigger_rows(metrics)
    if not rows or "ann" not in metrics:
        return ""
    classes = list(metrics["ann"].get("rejection", {}))
    body = [[r["title"], _fmt(r["mean_auc"], pct=True),
             *("–" if r["ratios"].get(c) is None else f"{r['ratios'][c]:.3f}" for c in classes),
             "" if r["energy_j"] is None else f"{r['energy_j'] * 1e9:.1f} nJ ({r['energy_where']})"]
            for r in rows]
    head = ["model", "AUC (mean over classes)", *(f"rej@50 % / ANN: {c}" for c in classes), "energy per inference"]
    return ("<h3>Trigger metrics: background rejection at 50 % signal efficiency over the ANN's</h3>"
            + _table(head, body)
            + "<p class='meta'>A ratio below 1 lets more background through than the ANN at the same signal "
              "efficiency. Energy: the whole system that decides (Loihi: chip + host-chip I/O + host work; the "
              "ANN on a GPU; a float SNN on the Loihi chip alone).</p>")


def _neurobench_section(nb: Mapping[str, Mapping[str, Any]]) -> str:
    rows = [[stage_title(k), f"{v['footprint_bytes']:,}", f"{v['connection_sparsity']:.3f}",
             f"{v['activation_sparsity']:.3f}", f"{v['synops']['effective_macs']:.0f}",
             f"{v['synops']['effective_acs']:.0f}", f"{v['synops']['dense']:.0f}"] for k, v in nb.items()]
    return ("<h2>NeuroBench metrics</h2>"
            + _table(["model", "footprint (bytes)", "connection sparsity", "activation sparsity",
                      "effective MACs / inference", "effective ACs / inference", "dense ops / inference"], rows)
            + "<p class='meta'>As NeuroBench 2.3.0 defines them (spikejet.evaluate.neurobench, checked against "
              "neurobench in tests/test_neurobench.py), on the test jets at each model's headline T.</p>")


def _pileup_section(pu: Mapping[str, Any]) -> str:
    """The pileup study's two tables: per-track rejection, and tagging accuracy versus MU."""
    rej = pu.get("pu_rejection_at_95_pv", {})
    eff = float(pu.get("efficiency", 0.95))
    rows = [[k, "n/a" if v is None else f"{v:.1f}"] for k, v in rej.items()]
    acc = pu.get("accuracy_vs_mu_all", pu.get("accuracy_vs_mu", {}))
    mus = sorted({m for v in acc.values() for m in v}, key=float)
    rec = pu.get("recovered_fraction", {})
    arows = [[c, *[f"{v[m] * 100:.1f} %" if m in v else "" for m in mus],
              "" if rec.get(c) is None else f"{rec[c] * 100:.0f} %"] for c, v in acc.items()]
    mass = pu.get("mass_mmdt_vs_mu", {})
    names = list(pu.get("class_names", []))
    mrows = [[c, m, *[f"{d.get(str(i), {}).get('width_gev', float('nan')):.1f}" for i in range(len(names))]]
             for c, curve in mass.items() for m, d in sorted(curve.items(), key=lambda kv: float(kv[0]))]
    return ("<h2>Pileup and timing</h2>"
            + _table(["per-track method", f"pileup rejection at {eff:.0%} PV efficiency"], rows)
            + _table(["jet cleaning", *[f"accuracy, MU = {m}" for m in mus], "recovered"], arows)
            + (_table(["jet cleaning", "MU", *[f"mMDT mass width {n} (GeV)" for n in names]], mrows) if names else "")
            + f"<p class='meta'>Spiking filter: T = {_e(pu.get('timesteps'))} steps. 'recovered': the fraction "
              "of the accuracy pileup costs the raw jets (MU = 0 minus the highest MU) that the cleaning recovers.</p>")


def build_report(
    *,
    title: str,
    metrics: Mapping[str, Mapping[str, Any]],
    figures: Sequence[ReportFigure],
    data_summary: Mapping[str, Any] | None = None,
    config_yaml: str = "",
    timings: Mapping[str, float] | None = None,
    meta: Mapping[str, Any] | None = None,
    interval: float = 0.68,
    neurobench: Mapping[str, Mapping[str, Any]] | None = None,
    pileup: Mapping[str, Any] | None = None,
) -> str:
    """The report as one HTML string."""
    sections: dict[str, list[ReportFigure]] = {}
    for f in figures:
        sections.setdefault(f.section, []).append(f)
    order = [s for s in SECTION_TITLES if s in sections or s == "data"] + [s for s in sections if s not in SECTION_TITLES]

    body = [f"<h1>{_e(title)}</h1>"]
    if meta:
        body.append("<p class='meta'>" + " · ".join(f"{_e(k)}: {_e(v)}" for k, v in meta.items()) + "</p>")
    body.append("<h2>Results</h2>" + _results_section(metrics, interval))
    if neurobench:
        body.append(_neurobench_section(neurobench))
    if pileup:
        body.append(_pileup_section(pileup))
    for sec in order:
        body.append(f"<h2>{_e(SECTION_TITLES.get(sec, sec.replace('_', ' ').capitalize()))}</h2>")
        if sec == "data" and data_summary:
            body.append(_data_section(data_summary))
        for f in sections.get(sec, []):
            body.append(f"<figure>{_img(f.path)}<figcaption>{_e(f.caption)}</figcaption></figure>")
    if timings:
        body.append(
            "<h2>Stages</h2>"
            + _table(["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in timings.items()])
        )
    if config_yaml:
        body.append(f"<h2>Configuration</h2><pre>{_e(config_yaml)}</pre>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_report(path: str | os.PathLike[str], **kwargs: Any) -> Path:
    """Build the report (see :func:`build_report`) and write it atomically."""
    dest = Path(path)
    write_text(dest, build_report(**kwargs))
    return dest
