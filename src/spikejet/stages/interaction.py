"""The ``ann_interaction`` and ``snn_interaction`` stages: the interaction network and its spiking twin.

``ann_interaction`` (section :class:`~spikejet.config.sections.InteractionConfig`) trains the
JEDI-style :class:`~spikejet.ann.particle.InteractionNet` on the leading particles (and the jet
features) and writes ``metrics.json["ann_interaction"]`` with ``macs``; ``snn_interaction``
(:class:`~spikejet.config.sections.SnnInteractionConfig`) converts it to a
:class:`~spikejet.snn.interaction.SpikingInteractionNet`, trains that through time in the spiking
particle networks' one loop and writes ``metrics.json["snn_interaction"]`` with ``timesteps``,
``synops_per_inference``, ``spikes_per_inference``, ``input_macs_per_inference`` and
``neuron_updates_per_inference`` (the runner adds the energy from them, as for every spiking
entry), its NIR graph ``snn_interaction.nir`` read back (``nir_accuracy``, ``nir_agreement``;
:mod:`spikejet.interop.nir_interaction`) and Loihi 2's integer model of it (``loihi_accuracy``,
``loihi``; :mod:`spikejet.hardware.loihi.interaction`). Both use the run's split and the particle stages' helpers (:mod:`spikejet.stages.particles`:
inputs, training rows, model files ``ann_interaction.pt`` / ``snn_interaction.pt``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..config.sections import InteractionConfig, SnnInteractionConfig
from ..errors import ConfigError
from ..run.context import StageContext, StageResult
from ..runtime import single_thread
from .particles import (
    INTERACTION_NIR_FILE,
    _ann_recipe,
    _inputs,
    _train_rows,
    bundle_test_scores,
    commit_model,
    commit_spiking,
    interaction_loihi_entry,
    interaction_nir_export,
    model_bundle,
    particle_recipe,
    particle_table,
)

__all__ = ["ann_interaction_stage", "snn_interaction_stage", "mean_macs"]


def mean_macs(model: Any, n_real: np.ndarray) -> float:
    """The model's MACs per jet averaged over the jets (an interaction network's cost is quadratic
    in the number of real particles: the mean of the costs, not the cost of the mean)."""
    n, count = np.unique(np.asarray(n_real, dtype=np.int64), return_counts=True)
    return float(sum(c * model.macs(float(k)) for k, c in zip(n, count, strict=True)) / count.sum())


def _n_global(data: dict[str, list[np.ndarray]]) -> int:
    return int(data["train"][2].shape[1]) if len(data["train"]) > 2 else 0


def ann_interaction_stage(ctx: StageContext, cfg: InteractionConfig) -> StageResult:
    """Train the interaction network on the run's split and score it."""
    import torch

    from ..ann.particle import InteractionNet, ParticleTraining, train_particle_model
    from ..hardware.energy import OpCounts, energy_estimate

    table = particle_table(ctx)
    classes = table.class_names
    rows = _train_rows(ctx, "ann_interaction", cfg.max_train_jets)
    seed = ctx.seed_for("ann_interaction")
    with single_thread():
        data, scaler = _inputs(ctx, table, "interaction", cfg.n_particles, cfg.jet_features, None, rows)
        torch.manual_seed(seed)
        model = InteractionNet(data["train"][0].shape[-1], cfg.edge, cfg.node, cfg.classifier, len(classes),
                               n_global=_n_global(data))
        opts = ParticleTraining(epochs=cfg.epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                                patience=cfg.patience, seed=seed)
        t0 = time.perf_counter()
        hist = train_particle_model(model, data["train"], table.y[rows], data["val"], ctx.y["val"], opts,
                                    progress=ctx.progress, desc="train interaction network")
        seconds = time.perf_counter() - t0
        bundle = model_bundle(ctx, model, "ann_interaction", table,
                              particle_recipe(cfg.n_particles, cfg.jet_features, scaler),
                              meta={"model": "interaction", "epochs": hist.epochs})
        scores = bundle_test_scores(ctx, bundle, table)
    n_real = data["test"][1].sum(1)
    macs = mean_macs(model, n_real)
    # ReLU units evaluated per jet: every edge unit of every real pair, node unit of every real particle
    pairs = float(np.mean(n_real * np.maximum(n_real - 1, 0)))
    updates = (pairs * sum(model.edge_sizes[1:]) + float(n_real.mean()) * sum(model.node_sizes[1:])
               + sum(model.cls_sizes[1:-1]))
    extra = {"model": "interaction", "n_particles": cfg.n_particles, "jet_features": cfg.jet_features,
             "macs": macs, "macs_per_inference": macs, "macs_all_slots": model.macs(cfg.n_particles),
             "mean_real_particles": float(n_real.mean()), "train_jets": int(len(rows)), "epochs": hist.epochs,
             "best_epoch": hist.best_epoch,
             "energy_per_inference_j": energy_estimate(OpCounts(synops=macs, neuron_updates=updates, kind="ann"))}
    m = commit_model(ctx, "ann_interaction", bundle, hist, scores, classes, extra)
    ctx.log(f"ann_interaction ({cfg.n_particles} particles): test accuracy {m['accuracy'] * 100:.2f} %, "
            f"{macs:.0f} MACs per jet, {hist.epochs} epochs on {len(rows)} jets in {seconds:.1f} s")
    return ctx.result


def _snn_start(ctx: StageContext, cfg: SnnInteractionConfig, opts: Any, n_classes: int,
               data: dict[str, list[np.ndarray]]) -> Any:
    """The spiking interaction network before training: converted from ``ann_interaction`` or seeded."""
    from ..snn.interaction import SpikingInteractionNet

    if cfg.init == "ann":
        return SpikingInteractionNet.from_interaction_net(ctx.models["ann_interaction"].model, data["train"], opts,
                                                          percentile=cfg.percentile)
    n_in, n_g = data["train"][0].shape[-1], _n_global(data)
    return SpikingInteractionNet((2 * n_in, *cfg.edge), (n_in + cfg.edge[-1], *cfg.node),
                                 (cfg.node[-1] + n_g, *cfg.classifier, n_classes), n_g, opts)


def _recipe(ctx: StageContext, cfg: SnnInteractionConfig) -> tuple[int, bool, Any]:
    """(n_particles, jet_features, particle scaler): the ann_interaction model file's with ``init: ann``."""
    if cfg.init != "ann":
        return cfg.n_particles, cfg.jet_features, None
    ann = ctx.models.get("ann_interaction")
    if ann is None or ann.arch.get("type") != "interaction_net":
        raise ConfigError("snn_interaction.init = 'ann' needs the ann_interaction stage (or init: random)")
    return _ann_recipe(ann)


def snn_interaction_stage(ctx: StageContext, cfg: SnnInteractionConfig) -> StageResult:
    """Train the spiking interaction network through time and score it at ``timesteps``."""
    import torch

    from ..snn.interaction import evaluate_spiking_interaction, train_spiking_interaction
    from ..snn.particle import SpikingDeepSetsOptions

    table = particle_table(ctx)
    classes = table.class_names
    n_particles, jet_features, ann_scaler = _recipe(ctx, cfg)
    rows = _train_rows(ctx, "snn_interaction", cfg.max_train_jets)
    seed = ctx.seed_for("snn_interaction")
    opts = SpikingDeepSetsOptions(neuron=cfg.neuron, reset=cfg.reset, surrogate=cfg.surrogate, slope=cfg.slope,
                                  v_init=cfg.v_init, leak=cfg.leak)
    T = cfg.timesteps
    with single_thread():
        data, scaler = _inputs(ctx, table, "interaction", n_particles, jet_features, ann_scaler, rows)
        torch.manual_seed(seed)
        net = _snn_start(ctx, cfg, opts, len(classes), data)
        start = evaluate_spiking_interaction(net, data["val"], T)
        t0 = time.perf_counter()
        hist = train_spiking_interaction(net, data["train"], table.y[rows], data["val"], ctx.y["val"], T=T,
                                         epochs=cfg.epochs, learning_rate=cfg.learning_rate,
                                         batch_size=cfg.batch_size, patience=cfg.patience, seed=seed,
                                         progress=ctx.progress)
        seconds = time.perf_counter() - t0
        r = evaluate_spiking_interaction(net, data["test"], T)
        nir_data, nir_extra = interaction_nir_export(net, n_particles, classes, data["test"], ctx.y["test"],
                                                     r["logits"], T)
    # the file's scores are these (predict_particles is evaluate_spiking_interaction on the same inputs
    # and batches; tests/test_particle_model_files.py checks it)
    bundle = model_bundle(ctx, net, "snn_interaction", table, particle_recipe(n_particles, jet_features, scaler),
                          predict={"T": T}, meta={"init": cfg.init, "epochs": hist.epochs})
    extra = {"model": "spiking_interaction_net", "neuron": cfg.neuron, "reset": cfg.reset, "timesteps": T,
             "n_particles": n_particles, "jet_features": jet_features, "init": cfg.init}
    commit_spiking(ctx, "snn_interaction", cfg, net, bundle, hist, data, r, start, extra,
                   nir=(INTERACTION_NIR_FILE, nir_data, nir_extra), loihi=interaction_loihi_entry if cfg.loihi else None,
                   n_train=len(rows), seconds=seconds)
    return ctx.result
