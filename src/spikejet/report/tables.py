"""The comparison table: each model's accuracy next to the 2019 study's number; the energy table's rows.

Rows follow :data:`STAGE_ORDER`; stages not listed there (added by later issues
without editing this file) follow in the order they appear in ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..data.schema import CLASS_NAMES

__all__ = [
    "STUDY_2019",
    "STAGE_TITLES",
    "STAGE_ORDER",
    "ComparisonRow",
    "comparison_rows",
    "format_comparison",
    "energy_table_rows",
    "energy_plot_rows",
    "mean_auc",
    "rejection_ratios",
    "system_energy",
    "trigger_rows",
]

#: The 2019 study's 5-class test accuracies, per spikejet stage (DESIGN.md section 4).
STUDY_2019: dict[str, tuple[tuple[str, float], ...]] = {
    "ann": (("Keras MLP 16-64-32-32-5, Adam lr 1e-4, batch 1024", 0.752),),
    "snn_converted": (("SNN Toolbox conversion, IF, reset by subtraction, 200 steps", 0.6972),),
    "snn_rate": (
        ("Nengo-DL rate-trained spiking ReLU, no synaptic filter", 0.4683),
        ("Nengo-DL, synaptic filter tau = 5 ms", 0.6508),
    ),
    "snn_surrogate": (),
    "loihi": (("Nengo-Loihi on Loihi, first layer off-chip", 0.698),),
    "fpga": (),
}
#: Display names of the model stages.
STAGE_TITLES: dict[str, str] = {
    "ann": "ANN (MLP)",
    "snn_converted": "ANN->SNN conversion",
    "snn_rate": "SNN, rate-based training",
    "snn_surrogate": "SNN, surrogate-gradient training",
    "loihi": "Loihi fixed-point model",
    "fpga": "MLP on an FPGA (hls4ml fixed point)",
    "ann_particles": "Particle model (deep sets)",
    "snn_particles": "Spiking deep sets (particles)",
    "ann_interaction": "Interaction network (particles)",
    "snn_interaction": "Spiking interaction network (particles)",
    "cnn_image": "CNN on jet images",
    "snn_image": "Spiking CNN on jet images",
}
#: Titles of auxiliary trainings (curves only; not model rows of the comparison table).
STAGE_TITLES_AUX: dict[str, str] = {"snn_qcfs_ann": "QCFS fine-tuning (for conversion)",
                                     "snn_image_qcfs": "QCFS fine-tuning of the image CNN (for conversion)"}
STAGE_ORDER: tuple[str, ...] = tuple(STAGE_TITLES)


@dataclass(frozen=True)
class ComparisonRow:
    stage: str
    title: str
    accuracy: float
    interval: tuple[float, float] | None
    timesteps: int | None
    #: (study's approach, its accuracy) pairs; empty when the study has no number.
    study: tuple[tuple[str, float], ...]
    #: False when the model is not a 5-class g/q/w/z/t tagger (study numbers do not apply).
    comparable: bool


def stage_title(stage: str) -> str:
    return STAGE_TITLES.get(stage) or STAGE_TITLES_AUX.get(stage, stage)


def comparison_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[ComparisonRow]:
    """One row per model stage in ``metrics`` (a ``metrics.json`` dict)."""
    order = [s for s in STAGE_ORDER if s in metrics] + [s for s in metrics if s not in STAGE_ORDER]
    rows = []
    for stage in order:
        m = metrics[stage]
        if not isinstance(m, Mapping) or "accuracy" not in m:
            continue
        iv = m.get("accuracy_interval")
        classes = tuple(m.get("per_class_accuracy", {}))
        rows.append(
            ComparisonRow(
                stage=stage,
                title=stage_title(stage),
                accuracy=float(m["accuracy"]),
                interval=(float(iv[0]), float(iv[1])) if iv else None,
                timesteps=m.get("timesteps"),
                study=STUDY_2019.get(stage, ()),
                comparable=classes == CLASS_NAMES,
            )
        )
    return rows


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def accuracy_text(row: ComparisonRow) -> str:
    s = _pct(row.accuracy)
    if row.interval:
        lo, hi = row.interval
        s += f" (+{(hi - row.accuracy) * 100:.2f}/-{(row.accuracy - lo) * 100:.2f})"
    return s


def study_text(row: ComparisonRow) -> str:
    if not row.comparable:
        return "n/a (not the 5-class task)"
    if not row.study:
        return "no published result"
    return "; ".join(f"{_pct(v)} ({label})" for label, v in row.study)


#: The trigger convention's working point of the summary columns (signal efficiency).
SUMMARY_EFFICIENCY = "0.5"
#: The model every other is compared with, and the device of its energy.
REFERENCE_MODEL = "ann"


def mean_auc(m: Mapping[str, Any]) -> float | None:
    aucs = [a for a in (m.get("auc") or {}).values() if a is not None]
    return float(sum(aucs) / len(aucs)) if aucs else None


def rejection_ratios(m: Mapping[str, Any], ref: Mapping[str, Any] | None,
                     efficiency: str = SUMMARY_EFFICIENCY) -> dict[str, float | None]:
    """Per class: the model's background rejection at ``efficiency`` over the reference model's."""
    out: dict[str, float | None] = {}
    if not ref:
        return out
    for cls, r in (m.get("rejection") or {}).items():
        a, b = r.get(efficiency), (ref.get("rejection") or {}).get(cls, {}).get(efficiency)
        out[cls] = None if a is None or not b else float(a) / float(b)
    return out


def system_energy(stage: str, m: Mapping[str, Any]) -> tuple[float | None, str]:
    """(joules per inference of the whole system that decides, where): the Loihi system (chip + I/O +
    host work), the ANN's system on a GPU (arithmetic + softmax + link I/O), a float SNN on Loihi
    (chip only: its host is not modelled)."""
    if m.get("system_energy_per_inference_j") is not None:
        return float(m["system_energy_per_inference_j"]), "loihi system"
    e = m.get("energy_per_inference_j")
    gpu = "gpu system" if "arithmetic_energy_per_inference_j" in m else "gpu"  # the ANN's entry is its whole system
    if isinstance(e, Mapping):
        for dev, label in (("gpu", gpu), ("loihi", "loihi chip")) if stage == REFERENCE_MODEL else (
                ("loihi", "loihi chip"), ("gpu", gpu)):
            if e.get(dev) is not None:
                return float(e[dev]), label
    return None, ""


def trigger_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per model: mean AUC, rejection at 50 % per class and over the ANN's, the worst ratio, system energy."""
    ref = metrics.get(REFERENCE_MODEL)
    out = []
    for row in comparison_rows(metrics):
        m = metrics[row.stage]
        ratios = rejection_ratios(m, ref)
        known = [r for r in ratios.values() if r is not None]
        energy, where = system_energy(row.stage, m)
        out.append({"stage": row.stage, "title": row.title, "mean_auc": mean_auc(m), "ratios": ratios,
                    "worst_ratio": min(known) if known else None, "energy_j": energy, "energy_where": where})
    return out


def _energy_text(j: float | None, where: str) -> str:
    if j is None:
        return ""
    for unit, s in (("uJ", 1e-6), ("nJ", 1e-9)):
        if j >= s:
            return f"{j / s:.3g} {unit} ({where})"
    return f"{j / 1e-12:.3g} pJ ({where})"


def format_comparison(metrics: Mapping[str, Mapping[str, Any]], *, interval: float = 0.68) -> str:
    """The terminal table: model, accuracy with interval, T, mean AUC, rejection at 50 % over the ANN's
    (the worst class), system energy per inference, the study's numbers."""
    rows = comparison_rows(metrics)
    trig = {r["stage"]: r for r in trigger_rows(metrics)}
    header = ("model", f"test accuracy ({interval * 100:g} % interval)", "T", "AUC (mean)",
              "rej@50% / ANN (worst class)", "energy / inference", "2019 study")

    def ratio_text(r: dict[str, Any]) -> str:
        if r["worst_ratio"] is None:
            return ""
        worst = min((k for k, v in r["ratios"].items() if v is not None), key=lambda k: r["ratios"][k])
        return f"{r['worst_ratio']:.3f} ({worst})"

    body = [
        (r.title, accuracy_text(r), "" if r.timesteps is None else str(r.timesteps),
         "" if trig[r.stage]["mean_auc"] is None else f"{trig[r.stage]['mean_auc'] * 100:.2f} %",
         ratio_text(trig[r.stage]), _energy_text(trig[r.stage]["energy_j"], trig[r.stage]["energy_where"]),
         study_text(r))
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(b) for b in body]
    return "\n".join(out)


# --------------------------------------------------------------------------- energy and latency


def energy_table_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, device) for every metrics entry with ``energy_per_inference_j``.

    Columns: model, device, accuracy, T, spikes, synops (MACs for the ANN),
    energy_j, latency_steps, latency_us. The Loihi entry adds a row
    ``loihi + host (<device>)`` with the off-chip first layer's cost.
    """
    rows = []
    for stage, m in metrics.items():
        if not isinstance(m, Mapping) or "energy_per_inference_j" not in m:
            continue
        lat = m.get("latency") or {}
        T = m.get("timesteps")
        steps = lat.get("steps", T)
        secs = lat.get("seconds")
        base = {
            "stage": stage,
            "model": stage_title(stage),
            "accuracy": m.get("accuracy"),
            "timesteps": T,
            "spikes": m.get("spikes_per_inference"),
            "synops": m.get("synops_per_inference", m.get("macs_per_inference")),
            "latency_steps": steps,
            "latency_us": None if secs is None else secs * 1e6,
        }
        for device, joules in m["energy_per_inference_j"].items():
            rows.append({**base, "device": device, "energy_j": float(joules)})
        if "energy_with_host_per_inference_j" in m:
            rows.append({**base, "device": f"loihi + host ({m.get('host_device', 'cpu')})",
                         "energy_j": float(m["energy_with_host_per_inference_j"])})
    return rows


def energy_plot_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for :func:`spikejet.report.figures.energy.plot_energy` (model, device, energy_j, accuracy)."""
    return [{"model": r["model"] if not r["device"].startswith("loihi + host") else f"{r['model']} + host",
             "device": "loihi" if r["device"].startswith("loihi + host") else r["device"],
             "energy_j": r["energy_j"], "accuracy": r["accuracy"]}
            for r in energy_table_rows(metrics)]
