"""The ``snn_rate`` stage: the 2019 study's method -- train with the neurons' analytic rates,
evaluate with spikes, with and without an exponential synaptic filter on every connection.

Config section ``snn_rate`` (:class:`~spikejet.config.sections.SnnRateConfig`); the
``seed-2019`` preset is the study's protocol (spiking ReLU, 0.1 s at 1 ms, 100 Hz maximum
rate, amplitude 0.01, 5 ms filters, read at the end). Writes ``metrics.json["snn_rate"]``
(the usual metrics at the headline T plus ``timesteps``, ``accuracy_vs_timesteps``, the
accuracy with and without filters, ``firing_rate_hz``, ``synops_per_inference`` ...),
``snn_rate.pt`` (the evaluated network, synapses included), its history and figures.
"""

from __future__ import annotations

from typing import Any

from ..config.sections import SnnRateConfig
from ..errors import ConfigError
from ..evaluate.metrics import class_probabilities
from .snn_train import (
    RATE_STAGE,
    STUDY_RATE,
    ann_reference,
    jet_per_class,
    layer_counts,
    stage_figures,
    stage_threads,
    summary_figures,
)

__all__ = ["snn_rate_stage"]


def _train(ctx: Any, cfg: SnnRateConfig, classes, ytr, yva, seed: int) -> tuple[Any, Any]:
    import torch

    from ..snn.train.rate import train_rate

    Xtr, Xva = ctx.X["train"], ctx.X["val"]
    sizes = (Xtr.shape[1], *ctx.config.ann.hidden, len(classes))
    init = None
    if cfg.init == "ann":
        bundle = ctx.models.get("ann")
        if bundle is None:
            raise ConfigError("snn_rate.init = 'ann' needs the ANN: run the train_ann stage first (or init: random)")
        init = bundle.model
    torch.manual_seed(seed)
    return train_rate(Xtr, ytr, Xva, yva, cfg, sizes=sizes, init=init, seed=seed, progress=ctx.progress)


def _variants(net: Any, Xte, cfg: SnnRateConfig) -> dict[tuple[str, str], Any]:
    """The network simulated without and with synaptic filters, read at the last step and as the mean."""
    from ..snn.engine import simulate_fast as simulate
    from ..snn.train.rate import STUDY_SYNAPSE_TAU, rate_evaluation_network

    variants = {}
    for name, tau in (("without_filter", None), ("with_filter", cfg.synapse_tau or STUDY_SYNAPSE_TAU)):
        for ro in ("last", "mean"):
            variants[(name, ro)] = simulate(rate_evaluation_network(net, tau, ro), Xte, cfg.timesteps)
    return variants


def _extra(cfg: SnnRateConfig, head: Any, acc: dict, head_name: str, rate_acc: float, rate_hz, classes,
           ann_acc) -> dict[str, Any]:
    T = cfg.timesteps
    return {
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
        **layer_counts(head, T),
    }


@stage_threads
def snn_rate_stage(ctx: Any) -> None:
    """Train with rates, evaluate with spikes (with and without synaptic filters), save, plot."""
    import numpy as np

    from ..ann.model import predict_logits, task_class_names, task_labels
    from ..snn.bundle import save_network
    from ..snn.simulate import Probes, simulate
    from ..snn.train.rate import (
        STUDY_SYNAPSE_TAU,
        rate_activations_hz,
        rate_evaluation_network,
        rate_network,
        rate_neuron,
    )

    cfg: SnnRateConfig = ctx.config.section(RATE_STAGE)
    table, task = ctx.table, ctx.config.ann.task
    classes = task_class_names(task, table.class_names)
    ytr, yva, yte = (task_labels(task, ctx.y[k], table.class_names) for k in ("train", "val", "test"))
    Xte = ctx.X["test"]
    model, hist = _train(ctx, cfg, classes, ytr, yva, ctx.seed_for(RATE_STAGE))
    ctx.result.histories[RATE_STAGE] = hist
    rate_acc = float((predict_logits(model, Xte).argmax(1) == yte).mean())
    rate_hz = [float(r.mean()) for r in rate_activations_hz(model, Xte, cfg.dt)]
    net = rate_network(model, rate_neuron(cfg), meta={"method": "rate", "neuron": cfg.neuron,
                                                      "synapse_tau": cfg.synapse_tau, "readout": cfg.readout},
                       dt=cfg.dt, class_names=classes, feature_names=tuple(table.feature_names),
                       scaler=ctx.scaler.to_dict())
    T = cfg.timesteps
    variants = _variants(net, Xte, cfg)
    head_name = "with_filter" if cfg.synapse_tau is not None else "without_filter"
    head = variants[(head_name, cfg.readout)]
    acc = {k: v.accuracy(yte) for k, v in variants.items()}
    extra = _extra(cfg, head, acc, head_name, rate_acc, rate_hz, classes, ann_reference(ctx))
    m = ctx.add_metrics(RATE_STAGE, yte, class_probabilities(head.scores), class_names=classes, extra=extra)
    rate_net = rate_evaluation_network(net, cfg.synapse_tau, cfg.readout)
    ctx.save(f"{RATE_STAGE}.pt", lambda path: save_network(
        path, rate_net, T, kind=RATE_STAGE, task=task, data_class_names=table.class_names,
        config=ctx.config.to_dict(), meta={"method": "rate", "rate_model_accuracy": rate_acc}))
    ctx.result.model = net

    jets = jet_per_class(yte, len(classes))
    tau_fig = cfg.synapse_tau or STUDY_SYNAPSE_TAU
    probe = simulate(rate_evaluation_network(net, tau_fig, "last"), Xte[jets], T, probes=Probes(output=True, raster=True))
    stage_figures(ctx, RATE_STAGE, probe, np.asarray(yte)[jets], classes, head,
                  activity_label=f"output with {tau_fig * 1e3:g} ms synaptic filters", band=tuple(cfg.rate_band_hz) or None)
    summary_figures(ctx)
    ctx.log(
        f"SNN (rate, {cfg.neuron}) test accuracy at T = {T}: {extra['accuracy_without_filter'] * 100:.2f} % without "
        f"filter, {extra['accuracy_with_filter'] * 100:.2f} % with {tau_fig * 1e3:g} ms filters "
        f"(rate model {rate_acc * 100:.2f} %; study 46.83 % / 65.08 %); headline {m['accuracy'] * 100:.2f} %"
    )
