"""The ``snn_rate`` and ``snn_surrogate`` stages of ``spikejet run``, their config and figures.

Config sections (registered here, light imports only):

* ``snn_rate`` (:class:`SnnRateConfig`): the 2019 study's method -- train with the
  neurons' analytic rates, evaluate with spikes, with and without an
  exponential synaptic filter on every connection. The ``seed-2019`` preset
  is the study's protocol (spiking ReLU, off-chip first layer, 0.1 s at
  1 ms, 100 Hz maximum rate, amplitude 0.01, 5 ms filters, read at the end).
* ``snn_surrogate`` (:class:`SnnSurrogateConfig`): backpropagation through
  time with a surrogate spike derivative, started from the run's ANN, with a
  synaptic-operation penalty; a penalty sweep gives the accuracy-versus-
  synaptic-operations curve.

Each stage writes ``metrics.json["snn_rate" | "snn_surrogate"]`` (the usual
metrics at the headline T, plus ``timesteps``, ``accuracy_vs_timesteps``,
``firing_rate_hz``, ``synops_per_inference`` ...), the model file
``snn_rate.pt`` / ``snn_surrogate.pt`` (``spikejet evaluate`` scores it), its
training history, and report figures (section ``spiking``): accuracy versus T
of every spiking method with the ANN and the study's numbers, accuracy versus
synaptic operations, the output activity of one jet per class over time (the
study's Fig. 7), a spike raster of one jet, and per-layer firing-rate histograms.
"""

from __future__ import annotations

from typing import Any

from ..config.sections import SnnRateConfig, SnnSurrogateConfig
from ..errors import ConfigError

__all__ = [
    "RATE_STAGE",
    "SURROGATE_STAGE",
    "SnnRateConfig",
    "SnnSurrogateConfig",
    "snn_rate_stage",
    "snn_surrogate_stage",
    "STUDY_RATE",
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


# =========================================================================== helpers


def _threads(fn):
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


def _ann_reference(ctx: Any) -> float | None:
    m = ctx.metrics.get("ann")
    return float(m["accuracy"]) if m else None


def _layer_counts(res: Any, T: int) -> dict[str, Any]:
    c = res.op_counts(T)
    return {
        "firing_rate_hz": {ly["name"]: ly["firing_rate_hz"] for ly in c["layers"] if ly["spiking"]},
        "spikes_per_inference": c["spikes"],
        "synops_per_inference": c["synops"],
        "synops_per_layer": {ly["name"]: ly["synops"] for ly in c["layers"]},
        "neuron_updates_per_inference": c["neuron_updates"],
        "input_macs": c["input_macs"],
        "ann_macs": c["ann_macs"],
    }


def _jet_per_class(y, n_classes: int) -> list[int]:
    import numpy as np

    out = []
    for c in range(n_classes):
        idx = np.flatnonzero(np.asarray(y) == c)
        if idx.size:
            out.append(int(idx[0]))
    return out


# =========================================================================== rate stage


@_threads
def snn_rate_stage(ctx: Any) -> None:
    """Train with rates, evaluate with spikes (with and without synaptic filters), save, plot."""
    import numpy as np
    import torch

    from ..ann.model import predict_logits, task_class_names, task_labels
    from ..snn.bundle import save_network
    from ..snn.simulate import Probes, simulate
    from ..snn.train.rate import (
        STUDY_SYNAPSE_TAU,
        rate_activations_hz,
        rate_evaluation_network,
        rate_network,
        rate_neuron,
        train_rate,
    )

    cfg: SnnRateConfig = ctx.config.section(RATE_STAGE)
    table = ctx.table
    task = ctx.config.ann.task
    classes = task_class_names(task, table.class_names)
    ytr, yva, yte = (task_labels(task, ctx.y[k], table.class_names) for k in ("train", "val", "test"))
    Xtr, Xva, Xte = ctx.X["train"], ctx.X["val"], ctx.X["test"]
    sizes = (Xtr.shape[1], *ctx.config.ann.hidden, len(classes))
    seed = ctx.seed_for(RATE_STAGE)
    neuron = rate_neuron(cfg)
    init = None
    if cfg.init == "ann":
        bundle = ctx.models.get("ann")
        if bundle is None:
            raise ConfigError("snn_rate.init = 'ann' needs the ANN: run the train_ann stage first (or init: random)")
        init = bundle.model
    band = tuple(cfg.rate_band_hz) or None
    torch.manual_seed(seed)
    model, hist = train_rate(Xtr, ytr, Xva, yva, cfg, sizes=sizes, init=init, seed=seed, progress=ctx.progress)
    ctx.result.histories[RATE_STAGE] = hist
    rate_acc = float((predict_logits(model, Xte).argmax(1) == yte).mean())
    rate_hz = [float(r.mean()) for r in rate_activations_hz(model, Xte, cfg.dt)]
    common = {"dt": cfg.dt, "class_names": classes, "feature_names": tuple(table.feature_names),
              "scaler": ctx.scaler.to_dict()}
    net = rate_network(model, neuron, meta={"method": "rate", "neuron": cfg.neuron, "synapse_tau": cfg.synapse_tau,
                                            "readout": cfg.readout}, **common)
    T = cfg.timesteps
    variants = {}
    for name, tau in (("without_filter", None), ("with_filter", cfg.synapse_tau or STUDY_SYNAPSE_TAU)):
        for ro in ("last", "mean"):
            variants[(name, ro)] = simulate(rate_evaluation_network(net, tau, ro), Xte, T)
    head_name = "with_filter" if cfg.synapse_tau is not None else "without_filter"
    head = variants[(head_name, cfg.readout)]
    acc = {k: v.accuracy(yte) for k, v in variants.items()}
    ann_acc = _ann_reference(ctx)
    extra = {
        "method": "rate",
        "neuron": cfg.neuron,
        "timesteps": T,
        "dt": cfg.dt,
        "presentation_s": T * cfg.dt,
        "synapse_tau": cfg.synapse_tau,
        "readout": cfg.readout,
        "accuracy_vs_timesteps": {str(t): float(a) for t, a in zip(head.steps.tolist(), acc[(head_name, cfg.readout)],
                                                                   strict=True)},
        "accuracy_without_filter": float(acc[("without_filter", cfg.readout)][-1]),
        "accuracy_with_filter": float(acc[("with_filter", cfg.readout)][-1]),
        "accuracy_by_variant": {f"{n}/{ro}": float(a[-1]) for (n, ro), a in acc.items()},
        "filter_tau_evaluated": cfg.synapse_tau or 0.005,
        "rate_model_accuracy": rate_acc,
        "rate_model_firing_rate_hz": {f"fc{i}": r for i, r in enumerate(rate_hz)},
        "rate_band_hz": list(cfg.rate_band_hz),
        "study_accuracy": dict(STUDY_RATE) if len(classes) == 5 else None,
        "reference_ann_accuracy": ann_acc,
        "model_file": f"{RATE_STAGE}.pt",
        **_layer_counts(head, T),
    }
    m = ctx.add_metrics(RATE_STAGE, yte, head.scores, class_names=classes, extra=extra)
    rate_net = rate_evaluation_network(net, cfg.synapse_tau, cfg.readout)
    ctx.save(f"{RATE_STAGE}.pt", lambda path: save_network(
        path, rate_net, T, kind=RATE_STAGE, task=task, data_class_names=table.class_names,
        config=ctx.config.to_dict(), meta={"method": "rate", "rate_model_accuracy": rate_acc}))
    ctx.result.model = net

    # ---- figures
    jets = _jet_per_class(yte, len(classes))
    tau_fig = cfg.synapse_tau or STUDY_SYNAPSE_TAU
    probe = simulate(rate_evaluation_network(net, tau_fig, "last"), Xte[jets], T, probes=Probes(output=True, raster=True))
    _stage_figures(ctx, RATE_STAGE, probe, np.asarray(yte)[jets], classes, head,
                   activity_label=f"output with {tau_fig * 1e3:g} ms synaptic filters", band=band)
    _summary_figures(ctx)
    ctx.log(
        f"SNN (rate, {cfg.neuron}) test accuracy at T = {T}: {extra['accuracy_without_filter'] * 100:.2f} % without "
        f"filter, {extra['accuracy_with_filter'] * 100:.2f} % with {tau_fig * 1e3:g} ms filters "
        f"(rate model {rate_acc * 100:.2f} %; study 46.83 % / 65.08 %); headline {m['accuracy'] * 100:.2f} %"
    )


# =========================================================================== surrogate stage


@_threads
def snn_surrogate_stage(ctx: Any) -> None:
    """Train through time, simulate the exported network, sweep the synops penalty, save, plot."""
    import copy
    import dataclasses

    import numpy as np
    import torch

    from ..ann.model import task_class_names, task_labels
    from ..runtime import seeded_rows
    from ..snn.bundle import save_network
    from ..snn.readout import Readout
    from ..snn.simulate import Probes, simulate
    from ..snn.timesteps import curve_points
    from ..snn.train.surrogate import (
        SurrogateNet,
        SurrogateOptions,
        evaluate_surrogate,
        train_surrogate,
    )

    cfg: SnnSurrogateConfig = ctx.config.section(SURROGATE_STAGE)
    table = ctx.table
    task = ctx.config.ann.task
    classes = task_class_names(task, table.class_names)
    ytr, yva, yte = (task_labels(task, ctx.y[k], table.class_names) for k in ("train", "val", "test"))
    Xtr, Xva, Xte = ctx.X["train"], ctx.X["val"], ctx.X["test"]
    seed = ctx.seed_for(SURROGATE_STAGE)
    if cfg.max_train_jets is not None and len(Xtr) > cfg.max_train_jets:
        rows = seeded_rows(len(Xtr), cfg.max_train_jets, seed)
        Xtr, ytr = Xtr[rows], ytr[rows]
    opts = SurrogateOptions.from_config(cfg)
    torch.manual_seed(seed)
    if cfg.init == "ann":
        bundle = ctx.models.get("ann")
        if bundle is None:
            raise ConfigError("snn_surrogate.init = 'ann' needs the ANN: run the train_ann stage first (or init: random)")
        snet = SurrogateNet.from_mlp(bundle.model, Xtr, opts, percentile=cfg.percentile, seed=seed)
    elif cfg.init == "converted":
        conv = ctx.models.get("snn_converted")
        if conv is None:
            raise ConfigError("snn_surrogate.init = 'converted' needs the convert_snn stage to run first "
                              "(or init: ann)")
        snet = SurrogateNet.from_network(conv, opts)
    else:
        snet = SurrogateNet((Xtr.shape[1], *ctx.config.ann.hidden, len(classes)), opts)
    T = cfg.timesteps
    teacher = None
    if cfg.distill_weight > 0:
        from ..ann.model import predict_logits

        if ctx.models.get("ann") is None:
            raise ConfigError("snn_surrogate.distill_weight > 0 needs the ANN: run the train_ann stage first")
        teacher = predict_logits(ctx.models["ann"].model, Xtr)
    hist = train_surrogate(snet, Xtr, ytr, Xva, yva, cfg, teacher_logits=teacher, seed=seed, progress=ctx.progress)
    ctx.result.histories[SURROGATE_STAGE] = hist
    common = {"class_names": classes, "feature_names": tuple(table.feature_names), "scaler": ctx.scaler.to_dict()}
    meta = {"timesteps_trained": T, "synops_penalty": cfg.synops_penalty, "init": cfg.init}
    net = snet.to_network(meta=meta, **common)
    T_max = cfg.max_timesteps
    res = simulate(net, Xte, T_max, seed=seed)
    curve = res.accuracy(yte)
    head = simulate(net, Xte, T, seed=seed, steps=[T])
    ann_acc = _ann_reference(ctx)

    # accuracy versus synaptic operations: the trained network at every T, and the penalty sweep at T
    pts = curve_points(T_max, (T,))
    vs_t = [{"timesteps": t, "accuracy": float(curve[t - 1]), "synops": float(res.synops_per_inference(t).sum())}
            for t in pts]
    sweep = [{"synops_penalty": cfg.synops_penalty, "timesteps": T, "accuracy": float(curve[T - 1]),
              "synops": float(res.synops_per_inference(T).sum())}]
    for k, pen in enumerate(cfg.sweep_penalties):
        if pen == cfg.synops_penalty:
            continue
        s2 = copy.deepcopy(snet)
        sweep_cfg = dataclasses.replace(cfg, epochs=cfg.sweep_epochs, patience=cfg.sweep_epochs, synops_penalty=pen)
        train_surrogate(s2, Xtr, ytr, Xva, yva, sweep_cfg, teacher_logits=teacher, seed=seed + 1 + k, progress=False)
        r2 = simulate(s2.to_network(**common), Xte, T, seed=seed, steps=[T])
        sweep.append({"synops_penalty": pen, "timesteps": T, "accuracy": r2.accuracy_at(yte, T),
                      "synops": float(r2.synops_per_inference(T).sum())})
    sweep.sort(key=lambda d: d["synops"])
    converted = _converted_curve(ctx, Xte, yte, T_max, seed)
    same_acc = None
    if converted is not None:
        target = float(curve[T - 1])
        reach = [p for p in converted["points"] if p["accuracy"] >= target - 1e-12]
        same_acc = {"method": converted["method"], "accuracy": target,
                    "timesteps": reach[0]["timesteps"] if reach else None,
                    "synops": reach[0]["synops"] if reach else None}
    val_ev = evaluate_surrogate(snet, Xva, yva, T)
    extra = {
        "method": "surrogate",
        "neuron": cfg.neuron,
        "readout": cfg.readout,
        "timesteps": T,
        "dt": cfg.dt,
        "quantized": cfg.quantize,
        "accuracy_vs_timesteps": {str(t): float(a) for t, a in zip(res.steps.tolist(), curve, strict=True)},
        "thresholds": list(net.meta["thresholds"]),
        "leaks": net.meta["leaks"],
        "validation_accuracy": val_ev.accuracy,
        "reference_ann_accuracy": ann_acc,
        "accuracy_vs_synops": {
            "trained_vs_timesteps": vs_t,
            "penalty_sweep": sweep,
            "converted_vs_timesteps": None if converted is None else {
                "method": converted["method"],
                "points": [p for p in converted["points"] if p["timesteps"] in set(pts)]},
        },
        "converted_at_same_accuracy": same_acc,
        "model_file": f"{SURROGATE_STAGE}.pt",
        **_layer_counts(head, T),
    }
    m = ctx.add_metrics(SURROGATE_STAGE, yte, head.scores, class_names=classes, extra=extra)
    ctx.save(f"{SURROGATE_STAGE}.pt", lambda path: save_network(
        path, net, T, kind=SURROGATE_STAGE, task=task, data_class_names=table.class_names,
        config=ctx.config.to_dict(), meta=meta))
    ctx.result.model = net

    jets = _jet_per_class(yte, len(classes))
    # the study's Fig. 7 view: the output through a 5 ms filter (the network's own read-out is the mean)
    fnet = net.replace(readout=Readout("filtered", "exp", 0.005))
    probe = simulate(fnet, Xte[jets], T_max, probes=Probes(output=True, raster=True), seed=seed)
    _stage_figures(ctx, SURROGATE_STAGE, probe, np.asarray(yte)[jets], classes, head,
                   activity_label="output current through a 5 ms filter", band=None)
    _summary_figures(ctx)
    conv_txt = ""
    if same_acc and same_acc["synops"] is not None:
        conv_txt = f"; converted ({same_acc['method']}) needs {same_acc['synops']:.0f} at T = {same_acc['timesteps']}"
    ctx.log(
        f"SNN (surrogate, {cfg.neuron}) test accuracy {m['accuracy'] * 100:.2f} % at T = {T} "
        f"(ANN {ann_acc * 100 if ann_acc is not None else float('nan'):.2f} %), "
        f"{extra['synops_per_inference']:.0f} synops/jet{conv_txt}"
    )


def _converted_curve(ctx: Any, X, y, T_max: int, seed: int) -> dict | None:
    """The converted SNN of the run (if any) at every T: accuracy and synops per jet."""
    from ..snn.network import SpikingNetwork
    from ..snn.simulate import simulate

    net = ctx.models.get("snn_converted")
    if not isinstance(net, SpikingNetwork):
        return None
    res = simulate(net, X, T_max, seed=seed)
    acc = res.accuracy(y)
    pts = [{"timesteps": t, "accuracy": float(acc[t - 1]), "synops": float(res.synops_per_inference(t).sum())}
           for t in range(1, T_max + 1)]
    return {"method": str(net.meta.get("method", "converted")), "points": pts}


# =========================================================================== figures


def _stage_figures(ctx: Any, stage: str, probe: Any, labels, classes, head: Any, *, activity_label: str,
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


def _summary_figures(ctx: Any) -> None:
    """Accuracy versus T of every spiking stage so far, and accuracy versus synaptic operations."""
    ann = _ann_reference(ctx)
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


def plot_methods_vs_timesteps(curves, *, ann_accuracy: float, study=()) -> Any:
    """Accuracy (%) versus T (log axis) for every method, the ANN line and the study's points."""
    import numpy as np

    from ..report.style import hep_style, new_figure

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

    from ..report.style import hep_style, new_figure

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

    from ..report.style import hep_style, new_figure

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

    from ..report.style import hep_style, new_figure

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

    from ..report.style import hep_style, new_figure

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
