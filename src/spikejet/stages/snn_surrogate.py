"""The ``snn_surrogate`` stage: backpropagation through time with a surrogate spike derivative.

Config section ``snn_surrogate`` (:class:`~spikejet.config.sections.SnnSurrogateConfig`):
started from the run's converted SNN (or the ANN, or at random), with a synaptic-operation
penalty; a penalty sweep gives the accuracy-versus-synaptic-operations curve. Writes
``metrics.json["snn_surrogate"]``, ``snn_surrogate.pt``, its history and figures.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from ..config.sections import SnnSurrogateConfig
from ..errors import ConfigError
from ..evaluate.metrics import class_probabilities
from .snn_train import (
    SURROGATE_STAGE,
    ann_reference,
    converted_curve,
    jet_per_class,
    layer_counts,
    stage_figures,
    stage_threads,
    summary_figures,
)

__all__ = ["snn_surrogate_stage"]


def _start(ctx: Any, cfg: SnnSurrogateConfig, Xtr, n_classes: int, seed: int) -> Any:
    """The network training starts from: the ANN's, the converted SNN's, or random weights."""
    from ..snn.train.surrogate import SurrogateNet, SurrogateOptions

    opts = SurrogateOptions.from_config(cfg)
    if cfg.init == "ann":
        bundle = ctx.models.get("ann")
        if bundle is None:
            raise ConfigError("snn_surrogate.init = 'ann' needs the ANN: run the train_ann stage first (or init: random)")
        return SurrogateNet.from_mlp(bundle.model, Xtr, opts, percentile=cfg.percentile, seed=seed)
    if cfg.init == "converted":
        conv = ctx.models.get("snn_converted")
        if conv is None:
            raise ConfigError("snn_surrogate.init = 'converted' needs the convert_snn stage to run first "
                              "(or init: ann)")
        return SurrogateNet.from_network(conv, opts)
    return SurrogateNet((Xtr.shape[1], *ctx.config.ann.hidden, n_classes), opts)


def _teacher(ctx: Any, cfg: SnnSurrogateConfig, Xtr) -> Any:
    if cfg.distill_weight <= 0:
        return None
    from ..ann.model import predict_logits

    if ctx.models.get("ann") is None:
        raise ConfigError("snn_surrogate.distill_weight > 0 needs the ANN: run the train_ann stage first")
    return predict_logits(ctx.models["ann"].model, Xtr)


def _penalty_sweep(cfg: SnnSurrogateConfig, snet: Any, data: tuple, res: Any, curve, teacher, seed: int,
                   common: dict) -> list[dict[str, Any]]:
    """Copies of the trained network fine-tuned with other synops penalties, at the headline T."""
    from ..snn.engine import simulate_fast as simulate
    from ..snn.train.surrogate import train_surrogate

    Xtr, ytr, Xva, yva, Xte, yte = data
    T = cfg.timesteps
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
    return sweep


def _same_accuracy(converted: dict | None, target: float) -> dict | None:
    """Where the converted SNN first reaches the trained network's accuracy (T and synops)."""
    if converted is None:
        return None
    reach = [p for p in converted["points"] if p["accuracy"] >= target - 1e-12]
    return {"method": converted["method"], "accuracy": target,
            "timesteps": reach[0]["timesteps"] if reach else None,
            "synops": reach[0]["synops"] if reach else None}


def _figures(ctx: Any, net: Any, Xte, yte, classes, head: Any, T_max: int, seed: int) -> None:
    import numpy as np

    from ..snn.readout import Readout
    from ..snn.simulate import Probes, simulate

    jets = jet_per_class(yte, len(classes))
    # the study's Fig. 7 view: the output through a 5 ms filter (the network's own read-out is the mean)
    fnet = net.replace(readout=Readout("filtered", "exp", 0.005))
    probe = simulate(fnet, Xte[jets], T_max, probes=Probes(output=True, raster=True), seed=seed)
    stage_figures(ctx, SURROGATE_STAGE, probe, np.asarray(yte)[jets], classes, head,
                  activity_label="output current through a 5 ms filter", band=None)
    summary_figures(ctx)


@stage_threads
def snn_surrogate_stage(ctx: Any) -> None:
    """Train through time, simulate the exported network, sweep the synops penalty, save, plot."""
    import torch

    from ..ann.model import task_class_names, task_labels
    from ..runtime import seeded_rows
    from ..snn.bundle import save_network
    from ..snn.engine import simulate_fast as simulate
    from ..snn.timesteps import curve_points
    from ..snn.train.surrogate import evaluate_surrogate, train_surrogate

    cfg: SnnSurrogateConfig = ctx.config.section(SURROGATE_STAGE)
    table, task = ctx.table, ctx.config.ann.task
    classes = task_class_names(task, table.class_names)
    ytr, yva, yte = (task_labels(task, ctx.y[k], table.class_names) for k in ("train", "val", "test"))
    Xtr, Xva, Xte = ctx.X["train"], ctx.X["val"], ctx.X["test"]
    seed = ctx.seed_for(SURROGATE_STAGE)
    if cfg.max_train_jets is not None and len(Xtr) > cfg.max_train_jets:
        rows = seeded_rows(len(Xtr), cfg.max_train_jets, seed)
        Xtr, ytr = Xtr[rows], ytr[rows]
    torch.manual_seed(seed)
    snet = _start(ctx, cfg, Xtr, len(classes), seed)
    T, T_max = cfg.timesteps, cfg.max_timesteps
    teacher = _teacher(ctx, cfg, Xtr)
    hist = train_surrogate(snet, Xtr, ytr, Xva, yva, cfg, teacher_logits=teacher, seed=seed, progress=ctx.progress)
    ctx.result.histories[SURROGATE_STAGE] = hist
    common = {"class_names": classes, "feature_names": tuple(table.feature_names), "scaler": ctx.scaler.to_dict()}
    meta = {"timesteps_trained": T, "synops_penalty": cfg.synops_penalty, "init": cfg.init}
    net = snet.to_network(meta=meta, **common)
    res = simulate(net, Xte, T_max, seed=seed)
    curve = res.accuracy(yte)
    head = simulate(net, Xte, T, seed=seed, steps=[T])
    ann_acc = ann_reference(ctx)
    pts = curve_points(T_max, (T,))
    vs_t = [{"timesteps": t, "accuracy": float(curve[t - 1]), "synops": float(res.synops_per_inference(t).sum())}
            for t in pts]
    sweep = _penalty_sweep(cfg, snet, (Xtr, ytr, Xva, yva, Xte, yte), res, curve, teacher, seed, common)
    converted = converted_curve(ctx, Xte, yte, T_max, seed)
    same_acc = _same_accuracy(converted, float(curve[T - 1]))
    extra = {
        "method": "surrogate", "neuron": cfg.neuron, "readout": cfg.readout, "timesteps": T, "dt": cfg.dt,
        "quantized": cfg.quantize,
        "accuracy_vs_timesteps": {str(t): float(a) for t, a in zip(res.steps.tolist(), curve, strict=True)},
        "thresholds": list(net.meta["thresholds"]), "leaks": net.meta["leaks"],
        "validation_accuracy": evaluate_surrogate(snet, Xva, yva, T).accuracy, "reference_ann_accuracy": ann_acc,
        "accuracy_vs_synops": {
            "trained_vs_timesteps": vs_t, "penalty_sweep": sweep,
            "converted_vs_timesteps": None if converted is None else {
                "method": converted["method"],
                "points": [p for p in converted["points"] if p["timesteps"] in set(pts)]},
        },
        "converted_at_same_accuracy": same_acc, "model_file": f"{SURROGATE_STAGE}.pt", **layer_counts(head, T),
    }
    m = ctx.add_metrics(SURROGATE_STAGE, yte, class_probabilities(head.scores), class_names=classes, extra=extra)
    ctx.save(f"{SURROGATE_STAGE}.pt", lambda path: save_network(
        path, net, T, kind=SURROGATE_STAGE, task=task, data_class_names=table.class_names,
        config=ctx.config.to_dict(), meta=meta))
    ctx.result.model = net
    _figures(ctx, net, Xte, yte, classes, head, T_max, seed)
    conv_txt = ""
    if same_acc and same_acc["synops"] is not None:
        conv_txt = f"; converted ({same_acc['method']}) needs {same_acc['synops']:.0f} at T = {same_acc['timesteps']}"
    ctx.log(
        f"SNN (surrogate, {cfg.neuron}) test accuracy {m['accuracy'] * 100:.2f} % at T = {T} "
        f"(ANN {ann_acc * 100 if ann_acc is not None else float('nan'):.2f} %), "
        f"{extra['synops_per_inference']:.0f} synops/jet{conv_txt}"
    )
