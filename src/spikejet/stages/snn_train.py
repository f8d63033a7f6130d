"""What the two SNN training stages (``snn_rate``, ``snn_surrogate``) share: threads, counts, figures.

The stages themselves are :mod:`spikejet.stages.snn_rate` and :mod:`spikejet.stages.snn_surrogate`.
Their report figures (section ``spiking``): accuracy versus T of every spiking method with the ANN
and the study's numbers, accuracy versus synaptic operations, the output activity of one jet per
class over time (the study's Fig. 7), a spike raster of one jet, and per-layer firing-rate histograms.
"""

from __future__ import annotations

from typing import Any

from ..report.figures.snn import (
    plot_accuracy_vs_synops,
    plot_methods_vs_timesteps,
    plot_output_activity,
    plot_raster,
    plot_rate_histograms,
)

__all__ = [
    "RATE_STAGE",
    "SURROGATE_STAGE",
    "STUDY_RATE",
    "STUDY_POINTS",
    "stage_threads",
    "ann_reference",
    "layer_counts",
    "counts_entry",
    "jet_per_class",
    "stage_figures",
    "summary_figures",
    "converted_curve",
]

RATE_STAGE = "snn_rate"
SURROGATE_STAGE = "snn_surrogate"
#: The study's Nengo-DL results (0.1 s presentation at 1 ms): without and with 5 ms synaptic filters.
STUDY_RATE = {"without_filter": 0.4683, "with_filter": 0.6508}
#: The study's other spiking numbers drawn on the accuracy-versus-T figure: (label, T, accuracy).
STUDY_POINTS: tuple[tuple[str, int, float], ...] = (
    ("study: Nengo-DL, no filter", 100, 0.4683),
    ("study: Nengo-DL, 5 ms filter", 100, 0.6508),
    ("study: SNN Toolbox", 200, 0.6972),
)


def stage_threads(fn):
    """A stage ``fn(ctx)`` run with one torch thread (tiny matrices; results independent of the
    core count), as a registry stage ``(ctx, cfg) -> StageResult``."""

    def wrapped(ctx: Any, cfg: Any = None) -> Any:
        from ..runtime import single_thread

        with single_thread():
            fn(ctx)
        return ctx.result

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


def ann_reference(ctx: Any) -> float | None:
    m = ctx.metrics.get("ann")
    return float(m["accuracy"]) if m else None


def layer_counts(res: Any, T: int) -> dict[str, Any]:
    """The metrics keys of a simulation's operation counts at ``T``."""
    return counts_entry(res.op_counts(T))


def counts_entry(c: dict[str, Any]) -> dict[str, Any]:
    """The metrics keys of one ``SimResult.op_counts(T)`` dict (every spiking stage's entry has them)."""
    return {
        "firing_rate_hz": {ly["name"]: ly["firing_rate_hz"] for ly in c["layers"] if ly["spiking"]},
        "spikes_per_inference": c["spikes"],
        "synops_per_inference": c["synops"],
        "synops_per_layer": {ly["name"]: ly["synops"] for ly in c["layers"]},
        "neuron_updates_per_inference": c["neuron_updates"],
        "input_macs": c["input_macs"],
        "ann_macs": c["ann_macs"],
    }


def jet_per_class(y, n_classes: int) -> list[int]:
    import numpy as np

    out = []
    for c in range(n_classes):
        idx = np.flatnonzero(np.asarray(y) == c)
        if idx.size:
            out.append(int(idx[0]))
    return out


def converted_curve(ctx: Any, X, y, T_max: int, seed: int) -> dict | None:
    """The converted SNN of the run (if any) at every T: accuracy and synops per jet."""
    from ..snn.engine import simulate_fast as simulate
    from ..snn.network import SpikingNetwork

    net = ctx.models.get("snn_converted")
    if not isinstance(net, SpikingNetwork):
        return None
    res = simulate(net, X, T_max, seed=seed)
    acc = res.accuracy(y)
    pts = [{"timesteps": t, "accuracy": float(acc[t - 1]), "synops": float(res.synops_per_inference(t).sum())}
           for t in range(1, T_max + 1)]
    return {"method": str(net.meta.get("method", "converted")), "points": pts}


def stage_figures(ctx: Any, stage: str, probe: Any, labels, classes, head: Any, *, activity_label: str,
                   band) -> None:
    from ..report.tables import stage_title

    title = stage_title(stage)
    T = head.T
    ctx.add_figure(f"{stage}_output_activity", plot_output_activity(probe.output_trace, labels, classes, probe.dt),
                   f"{title}: {activity_label} of the {len(classes)} output neurons over time for one test jet of "
                   "each class (the 2019 study's Fig. 7).", section="spiking")
    ctx.add_figure(f"{stage}_raster", plot_raster(probe.raster, probe.layer_names, jet=0, dt=probe.dt),
                   f"{title}: spikes of every neuron of every spiking layer for one test jet "
                   f"(true class {classes[int(labels[0])]}).", section="spiking")
    rates = [head.neuron_rate_hz(i, T) for i, sp in enumerate(head.spiking) if sp]
    names = [n for n, sp in zip(head.layer_names, head.spiking, strict=True) if sp]
    ctx.add_figure(f"{stage}_rate_histograms", plot_rate_histograms(rates, names, band=band),
                   f"{title}: mean firing rate of each neuron over the test jets at T = {T} "
                   f"(dt = {head.dt * 1e3:g} ms), one histogram per spiking layer.", section="spiking")


def summary_figures(ctx: Any) -> None:
    """Accuracy versus T of every spiking stage so far, and accuracy versus synaptic operations."""
    ann = ann_reference(ctx)
    if ann is None:
        return
    curves: dict[str, dict[int, float]] = {}
    for stage, m in ctx.metrics.items():
        if stage == "snn_converted":
            for meth, e in (m.get("methods") or {}).items():
                curves[f"converted ({meth})"] = {int(t): float(a) for t, a in e["accuracy_vs_timesteps"].items()}
        elif stage in (RATE_STAGE, SURROGATE_STAGE) and "accuracy_vs_timesteps" in m:
            label = "surrogate" if stage == SURROGATE_STAGE else f"rate ({m.get('neuron')})"
            if stage == RATE_STAGE:
                tau = m.get("synapse_tau")
                label += f", {tau * 1e3:g} ms filter" if tau else ", no filter"
            curves[label] = {int(t): float(a) for t, a in m["accuracy_vs_timesteps"].items()}
    five = all(len(m.get("per_class_accuracy", {})) == 5 for m in ctx.metrics.values())
    ctx.add_figure(
        "snn_methods_accuracy_vs_timesteps",
        plot_methods_vs_timesteps(curves, ann_accuracy=ann, study=STUDY_POINTS if five else ()),
        "Test accuracy versus time steps of every spiking method of this run, the ANN (dashed) and the 2019 "
        "study's spiking results (squares; 0.1 s at 1 ms = 100 steps, SNN Toolbox 200 steps).",
        section="spiking",
    )
    sur = ctx.metrics.get(SURROGATE_STAGE)
    if sur is None:
        return
    series: dict[str, list[tuple[float, float, str]]] = {}
    avs = sur["accuracy_vs_synops"]
    series["surrogate, trained network at T = 1, 2, 4, ..."] = [
        (p["synops"], p["accuracy"], f"T={p['timesteps']}" if p["timesteps"] in (4, 8, 16) else "")
        for p in avs["trained_vs_timesteps"]]
    series[f"surrogate, penalty sweep at T = {sur['timesteps']} (labels: penalty)"] = [
        (p["synops"], p["accuracy"], f"{p['synops_penalty']:g}") for p in avs["penalty_sweep"]]
    conv = avs.get("converted_vs_timesteps")
    if conv:
        series[f"converted ({conv['method']}) at T = 1, 2, 4, ..."] = [
            (p["synops"], p["accuracy"], f"T={p['timesteps']}" if p["timesteps"] in (4, 8, 16) else "")
            for p in conv["points"]]
    rate = ctx.metrics.get(RATE_STAGE)
    if rate is not None:
        series[f"rate method ({rate.get('neuron')}, T = {rate['timesteps']})"] = [
            (rate["synops_per_inference"], rate["accuracy"], "")]
    same = sur.get("converted_at_same_accuracy")
    ctx.add_figure(
        "snn_accuracy_vs_synops",
        plot_accuracy_vs_synops(series, ann_accuracy=ann, ann_macs=sur["ann_macs"], converted=same),
        "Test accuracy versus synaptic operations per jet (each spike times its fan-out; the off-chip first "
        "layer's MACs excluded): the surrogate-trained network evaluated at T = 1..max, and copies fine-tuned "
        "with a larger or smaller penalty on synaptic operations (labels: penalty), next to the ANN's "
        "multiply-accumulates per jet.",
        section="spiking",
    )
