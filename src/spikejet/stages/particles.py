"""The ``ann_particles`` and ``snn_particles`` stages: taggers on the jets' constituents.

``ann_particles`` (section :class:`~spikejet.config.sections.ParticlesConfig`) trains the
conventional particle model -- deep sets by default, or the JEDI-style interaction network, or
the CNN on jet images -- and writes ``metrics.json["ann_particles"]`` with ``macs``.
``snn_particles`` (:class:`~spikejet.config.sections.SnnParticlesConfig`) trains the spiking
deep-sets network through time (started from the conventional one by default) and writes
``metrics.json["snn_particles"]`` with ``timesteps`` and ``synops_per_inference``, and its NIR graph
``snn_particles.nir`` read back (``nir_accuracy``; :mod:`spikejet.interop.nir_deepsets`). Both use
the run's split; the particles are read from the run's source when the load stage did not
keep them. Each writes its model file (``ann_particles.pt``, ``snn_particles.pt``: the one
bundle format, ``arch["inputs"] = "particles"`` with the inputs' recipe, or ``"jet_image"``
for the CNN), which ``spikejet evaluate`` scores from a file's particles with the run's numbers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..config.sections import ParticlesConfig, SnnParticlesConfig
from ..errors import ConfigError, DataError
from ..evaluate.metrics import class_probabilities
from ..io import write_bytes
from ..run.context import StageContext, StageResult
from ..run.rundir import model_file
from ..runtime import seeded_rows, single_thread

__all__ = ["ann_particles_stage", "snn_particles_stage", "particle_table", "model_bundle", "particle_recipe",
           "bundle_test_scores", "commit_model", "commit_spiking", "interaction_loihi_entry", "interaction_nir_export"]


def model_bundle(ctx: StageContext, model: Any, kind: str, table: Any, inputs: dict[str, Any],
                 predict: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> Any:
    """The model file of a model on the jets' particles: the one bundle format, ``arch`` = the
    model's ``arch()`` + ``inputs`` (``{"inputs": PARTICLE_INPUTS or IMAGE_INPUTS, <its recipe>}``)
    + ``predict`` (the scoring options), so that ``spikejet evaluate`` rebuilds the same inputs."""
    from .. import __version__
    from ..models.file import ModelBundle

    arch = {**model.arch(), **inputs, "predict": dict(predict or {})}
    return ModelBundle(model=model, scaler=ctx.scaler.to_dict(), feature_names=table.feature_names,
                       class_names=table.class_names, data_class_names=table.class_names, kind=kind,
                       config=ctx.config.to_dict(), meta={"spikejet_version": __version__, **(meta or {})},
                       arch=arch)


def particle_recipe(n_particles: int, jet_features: bool, scaler: Any) -> dict[str, Any]:
    """``inputs`` of :func:`model_bundle` for a model on particles (``scaler``: the ParticleScaler)."""
    from ..models.file import PARTICLE_INPUTS

    return {"inputs": PARTICLE_INPUTS, "particles": {"n_particles": int(n_particles),
                                                     "jet_features": bool(jet_features),
                                                     "scaler": scaler.to_dict()}}


def bundle_test_scores(ctx: StageContext, bundle: Any, table: Any) -> np.ndarray:
    """Class probabilities on the test jets through the path ``spikejet evaluate`` takes."""
    from .train_ann import evaluate_bundle

    return evaluate_bundle(bundle, None, ctx.y["test"], table.subset(ctx.data.split.test))[1]


def commit_model(ctx: StageContext, key: str, bundle: Any, hist: Any, scores: np.ndarray, class_names: Any,
                 extra: dict[str, Any], *, history: str | None = None) -> dict[str, Any]:
    """The end of a stage that trained a model file's model (the particle and image stages): its
    metrics entry from ``scores`` on the test jets, its model file ``<key>.pt``, the result's model
    and training history (saved as ``history`` or ``key``). Returns the metrics entry."""
    from ..models.file import save_bundle

    m = ctx.add_metrics(key, ctx.y["test"], scores, class_names=class_names, extra=extra)
    ctx.save(model_file(key), lambda path: save_bundle(path, bundle))
    ctx.result.model = bundle
    ctx.result.histories[history or key] = hist
    return m


def particle_table(ctx: StageContext) -> Any:
    """The run's jets with their particles (re-read from the source, same subset, if needed)."""
    table = ctx.table
    if table.has_particles:
        return table
    from ..data import load

    cfg = ctx.config.data
    full = load(cfg.source, drop_invalid=cfg.drop_invalid, drop_unlabelled=cfg.drop_unlabelled,
                drop_duplicates=cfg.drop_duplicates, particles=True)
    if not full.has_particles:
        raise DataError(f"the jets of {cfg.source} have no particles; the particle stages need them "
                        "(generate with --constituents, or read a particle-level file)")
    if ctx.data.subset is not None:
        full = full.subset(ctx.data.subset)
    if len(full) != len(table) or not np.array_equal(full.y, table.y):
        raise DataError("re-reading the particles gave other jets than the load stage's")
    return full


def _train_rows(ctx: StageContext, name: str, max_jets: int | None) -> np.ndarray:
    tr = ctx.data.split.train
    if max_jets is None or len(tr) <= max_jets:
        return tr
    return np.sort(tr[seeded_rows(len(tr), max_jets, ctx.rng(name))])


def _inputs(ctx: StageContext, table: Any, kind: str, n_particles: int, jet_features: bool,
            scaler: Any, train_rows: np.ndarray, cfg: Any = None) -> tuple[dict[str, list[np.ndarray]], Any]:
    """Model inputs per split (train rows, val, test) and the fitted particle scaler."""
    from ..ann.particle import ParticleScaler, particle_model_inputs
    from ..data.particles import particle_inputs, recipe_images

    sp = ctx.data.split
    rows = {"train": train_rows, "val": sp.val, "test": sp.test}
    if kind == "cnn":
        img = recipe_images(table, _recipe(cfg, None)["image"])  # the pT image, as its model file makes it
        return {k: [img[r]] for k, r in rows.items()}, None
    x, m = particle_inputs(table, n_particles)
    if scaler is None:
        scaler = ParticleScaler.fit(x[train_rows], m[train_rows])
    parts = particle_model_inputs(table, n_particles, scaler, ctx.scaler if jet_features else None, raw=(x, m))
    return {k: [p[r] for p in parts] for k, r in rows.items()}, scaler


def _build(kind: str, cfg: ParticlesConfig, n_in: int, n_classes: int) -> Any:
    from ..ann.particle import DeepSets, InteractionNet, JetCNN

    if kind == "deepsets":
        return DeepSets(n_in, cfg.phi, cfg.rho, n_classes, cfg.pool, n_global=16 if cfg.jet_features else 0)
    if kind == "interaction":
        if cfg.jet_features:
            raise ConfigError("ann_particles.model = interaction takes particles only: set jet_features: false")
        return InteractionNet(n_in, n_classes=n_classes)
    return JetCNN(cfg.image_size, n_classes=n_classes)


def _recipe(cfg: ParticlesConfig, scaler: Any) -> dict[str, Any]:
    """The model file's inputs of ``ann_particles``: particles, or jet images for the CNN."""
    from ..models.file import IMAGE_INPUTS

    if cfg.model == "cnn":
        return {"inputs": IMAGE_INPUTS, "image": {"size": cfg.image_size, "radius": cfg.image_radius,
                                                  "n_particles": cfg.n_particles}}
    return particle_recipe(cfg.n_particles, cfg.jet_features, scaler)


def ann_particles_stage(ctx: StageContext, cfg: ParticlesConfig) -> StageResult:
    """Train the conventional particle model on the run's split and score it."""
    import torch

    from ..ann.particle import ParticleTraining, train_particle_model
    from ..hardware.energy import OpCounts, energy_estimate

    table = particle_table(ctx)
    classes = table.class_names
    rows = _train_rows(ctx, "ann_particles", cfg.max_train_jets)
    seed = ctx.seed_for("ann_particles")
    with single_thread():
        data, scaler = _inputs(ctx, table, cfg.model, cfg.n_particles, cfg.jet_features, None, rows, cfg)
        torch.manual_seed(seed)
        n_in = data["train"][0].shape[-1]
        model = _build(cfg.model, cfg, n_in, len(classes))
        opts = ParticleTraining(epochs=cfg.epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                                patience=cfg.patience, seed=seed)
        t0 = time.perf_counter()
        hist = train_particle_model(model, data["train"], table.y[rows], data["val"], ctx.y["val"], opts,
                                    progress=ctx.progress, desc=f"train {cfg.model}")
        seconds = time.perf_counter() - t0
        bundle = model_bundle(ctx, model, "ann_particles", table, _recipe(cfg, scaler),
                              meta={"model": cfg.model, "epochs": hist.epochs})
        scores = bundle_test_scores(ctx, bundle, table)
    n_real = float(np.mean(data["test"][1].sum(1))) if cfg.model != "cnn" else 0.0
    macs = model.macs(n_real)
    macs_dense = model.macs(cfg.n_particles)
    updates = float(sum(getattr(model, "phi_sizes", (0, 0))[1:]) * n_real)
    energy = energy_estimate(OpCounts(synops=macs, neuron_updates=updates, kind="ann"))
    extra = {"model": cfg.model, "n_particles": cfg.n_particles, "jet_features": cfg.jet_features,
             "macs": macs, "macs_per_inference": macs, "macs_all_slots": macs_dense,
             "mean_real_particles": n_real, "train_jets": int(len(rows)), "epochs": hist.epochs,
             "best_epoch": hist.best_epoch, "energy_per_inference_j": energy}
    m = commit_model(ctx, "ann_particles", bundle, hist, scores, classes, extra)
    ctx.log(f"ann_particles ({cfg.model}, {cfg.n_particles} particles): test accuracy {m['accuracy'] * 100:.2f} %, "
            f"{macs:.0f} MACs per jet, {hist.epochs} epochs on {len(rows)} jets in {seconds:.1f} s")
    return ctx.result


def _ann_recipe(ann: Any) -> tuple[int, bool, Any]:
    """(n_particles, jet_features, ParticleScaler) of the ann_particles model file's inputs."""
    from ..ann.particle import ParticleScaler

    p = ann.arch.get("particles")
    if p is None:
        raise ConfigError("snn_particles.init = 'ann' needs the ann_particles stage with model: deepsets "
                          "(or init: random)")
    return int(p["n_particles"]), bool(p["jet_features"]), ParticleScaler.from_dict(p["scaler"])


def _snn_start(ctx: StageContext, cfg: SnnParticlesConfig, opts: Any, n_classes: int, data_train) -> Any:
    from ..snn.particle import SpikingDeepSets

    ann = ctx.models.get("ann_particles")
    if cfg.init == "ann":
        if ann is None or ann.arch["type"] != "deepsets":
            raise ConfigError("snn_particles.init = 'ann' needs the ann_particles stage with model: deepsets "
                              "(or init: random)")
        return SpikingDeepSets.from_deepsets(ann.model, data_train, opts, percentile=cfg.percentile)
    n_in = data_train[0].shape[-1]
    n_g = 16 if cfg.jet_features else 0
    return SpikingDeepSets((n_in, *cfg.phi), (cfg.phi[-1] + n_g, *cfg.rho, n_classes), n_g, opts)


#: The spiking deep sets' NIR graph (:mod:`spikejet.interop.nir_deepsets`), in the run directory.
NIR_FILE = "snn_particles.nir"


def _nir_export(net: Any, n_particles: int, classes: Any, test: list[np.ndarray], y: np.ndarray,
                logits: np.ndarray, T: int, *, to_nir: Any = None, from_nir: Any = None,
                file: str = NIR_FILE) -> tuple[bytes, dict[str, Any]]:
    """The ``.nir`` bytes of ``net`` (``to_nir``; default the deep sets'
    :func:`~spikejet.interop.nir_deepsets.deepsets_to_nir`) and the read-back check: the bytes read by
    spikejet (``from_nir``; default :func:`~spikejet.interop.nir_deepsets.deepsets_from_nir`) and
    simulated at ``T`` on the test jets; ``nir_accuracy`` and the fraction of jets whose decision is
    the model's. ``file``: the run directory's name of the bytes."""
    from ..interop import nir_deepsets
    from ..interop.nir import graph_bytes, graph_from_bytes
    from ..snn.particle import evaluate_spiking_particles

    to_nir = to_nir or nir_deepsets.deepsets_to_nir
    from_nir = from_nir or nir_deepsets.deepsets_from_nir
    data = graph_bytes(to_nir(net, n_particles, class_names=classes))
    back = evaluate_spiking_particles(from_nir(graph_from_bytes(data)), test, T)["logits"]
    return data, {
        "nir_file": file, "nir_semantic_changes": "none", "nir_accuracy": float(np.mean(back.argmax(1) == y)),
        "nir_agreement": float(np.mean(back.argmax(1) == logits.argmax(1))),
        "nir_max_abs_logit_diff": float(np.max(np.abs(back - logits))),
        "nir_read_back": f"the written {file} bytes read by {from_nir.__module__}.{from_nir.__name__}, "
                         "simulated at T (spikejet.snn.particle, float) on the same test jets",
    }


#: The spiking interaction network's NIR graph (:mod:`spikejet.interop.nir_interaction`), in the run directory.
INTERACTION_NIR_FILE = "snn_interaction.nir"


def interaction_nir_export(net: Any, n_particles: int, classes: Any, test: list[np.ndarray], y: np.ndarray,
                           logits: np.ndarray, T: int) -> tuple[bytes, dict[str, Any]]:
    """:func:`_nir_export` of a spiking interaction network (``snn_interaction.nir``, read back by
    :func:`~spikejet.interop.nir_interaction.interaction_from_nir`): the bytes and ``nir_*`` metrics."""
    from ..interop.nir_interaction import interaction_from_nir, interaction_to_nir

    return _nir_export(net, n_particles, classes, test, y, logits, T, to_nir=interaction_to_nir,
                       from_nir=interaction_from_nir, file=INTERACTION_NIR_FILE)


def _teacher_logits(ann: Any, cfg: SnnParticlesConfig, train: list[np.ndarray]) -> np.ndarray:
    """The ``ann_particles`` deep sets' logits on the training jets (the distillation teacher)."""
    from ..ann.particle import predict_logits

    if ann is None or ann.arch["type"] != "deepsets" or cfg.init != "ann":
        raise ConfigError("snn_particles.distill_weight > 0 distills the ann_particles deep sets: it needs that "
                          "stage with model: deepsets and snn_particles.init: ann (or distill_weight: 0)")
    return predict_logits(ann.model, train)


def _input_grid(cfg: Any) -> Any:
    """The graded input spikes of a spiking particle stage's integer model: its section's
    ``input_bits`` / ``input_clip``, or the ``loihi`` section's defaults where it has none."""
    from ..hardware.loihi.mapping import DEFAULT_INPUT_BITS, DEFAULT_INPUT_CLIP, InputQuantization

    return InputQuantization(bits=getattr(cfg, "input_bits", DEFAULT_INPUT_BITS),
                             clip=getattr(cfg, "input_clip", DEFAULT_INPUT_CLIP))


def _loihi_entry(ctx: StageContext, cfg: Any, net: Any, test: list[np.ndarray],
                 float_logits: np.ndarray, n_particles: int, classes: tuple[str, ...], *, key: str = "snn_particles",
                 hw: tuple[Any, Any, Any] | None = None) -> dict[str, Any]:
    """``loihi_accuracy`` and ``loihi``: Loihi 2's integer model of ``net`` scored on (a seeded subset
    of) the test jets with the run's one score, its op counts, energy and resources. ``hw``: the
    (map, simulate, resources) functions of the network's integer model (default the deep sets');
    ``key``: the stage (its seeded subset ``{key}_loihi`` and its log line); ``cfg``: the stage's
    section (``timesteps``, ``loihi_max_jets``)."""
    from ..hardware.energy import energy_estimate, snn_counts
    from ..hardware.loihi import deepsets
    from ..run.score import score

    map_fn, simulate, resources = hw or (deepsets.map_deepsets, deepsets.simulate_deepsets,
                                         deepsets.deepsets_resources)
    T = cfg.timesteps
    y = ctx.y["test"]
    rows = np.arange(len(y))
    if cfg.loihi_max_jets is not None and len(y) > cfg.loihi_max_jets:
        rows = np.sort(seeded_rows(len(y), cfg.loihi_max_jets, ctx.rng(f"{key}_loihi")))
    grid = _input_grid(cfg)
    mp = map_fn(net, n_particles=n_particles, T=T, input_bits=grid.bits, input_clip=grid.clip)
    x, mask, *g = (a[rows] for a in test)
    q = simulate(mp, x, mask, g[0] if g else None, T)  # g: the jet-level inputs, if any
    e = score(y[rows], class_probabilities(q["logits"]), class_names=classes, config=ctx.config).entry
    same = score(y[rows], class_probabilities(float_logits[rows]), class_names=classes, config=ctx.config).entry
    n_real = test[1][rows].sum(1).astype(np.float64)
    updates = float(np.mean(net.neuron_updates(n_real, T)))
    synops = float(q["synops"].mean())
    res = resources(mp, n_particles)
    res.pop("layers")
    loihi = {
        "profile": mp.profile.name, "jets": int(len(rows)), "accuracy": e["accuracy"],
        "accuracy_interval": e["accuracy_interval"], "auc": e["auc"], "rejection": e["rejection"],
        "float_accuracy_same_jets": same["accuracy"], "input_quantization": mp.input.as_dict(),
        # the jet features' own synapse group (rho[0]'s "quantization" entry rounds every column on the pooled step)
        "global_synapses": mp.report()["global_synapses"],
        "agreement_with_float": float(np.mean(q["logits"].argmax(1) == float_logits[rows].argmax(1))),
        "synops_per_inference": synops, "spikes_per_inference": float(q["spikes"].mean()),
        "input_synops_per_inference": float(q["input_synops"].mean()), "neuron_updates_per_inference": updates,
        "energy_per_inference_j": energy_estimate(snn_counts(synops + float(q["input_synops"].mean()), updates, T,
                                                             float(q["spikes"].mean()))),
        "resources": res,
        "quantization": [{k: v for k, v in qd.as_dict().items() if k in ("name", "weight_exp", "vth_mant",
                                                                          "weight_rel_rms_err", "limited_by")}
                         for qd in mp.quantization],
    }
    ctx.log(f"{key} on Loihi 2's integer model: accuracy {e['accuracy'] * 100:.2f} % on {len(rows)} test "
            f"jets (float {same['accuracy'] * 100:.2f} % on the same), {synops:.0f} synops per jet, "
            f"{res['cores']} cores, {res['synapses']} synapses ({res['synapses_shared']} shared)")
    return {"loihi_accuracy": e["accuracy"], "loihi": loihi}


def interaction_loihi_entry(ctx: StageContext, cfg: Any, net: Any, test: list[np.ndarray], float_logits: np.ndarray,
                            n_particles: int, classes: tuple[str, ...]) -> dict[str, Any]:
    """:func:`_loihi_entry` of a spiking interaction network (:mod:`spikejet.hardware.loihi.interaction`;
    ``cfg``: the ``snn_interaction`` section, with ``timesteps`` and ``loihi_max_jets``)."""
    from ..hardware.loihi import interaction

    return _loihi_entry(ctx, cfg, net, test, float_logits, n_particles, classes, key="snn_interaction",
                        hw=(interaction.map_interaction, interaction.simulate_interaction,
                            interaction.interaction_resources))


def commit_spiking(ctx: StageContext, key: str, cfg: Any, net: Any, bundle: Any, hist: Any, data: dict[str, Any],
                   r: dict[str, np.ndarray], start: dict[str, np.ndarray], extra: dict[str, Any], *,
                   nir: tuple[str, bytes, dict[str, Any]], loihi: Any, n_train: int, seconds: float) -> dict[str, Any]:
    """The end of a spiking particle stage (``snn_particles``, ``snn_interaction``): ``extra`` + the op
    counts of ``r`` (the test jets' simulation) and the start's validation accuracy, the NIR read-back
    entries, with ``loihi`` (an :func:`_loihi_entry`-like function, or None) the integer model's; the NIR
    file ``nir[0]`` written, the metrics entry and model file committed, one log line."""
    T = extra["timesteps"]
    n_real = data["test"][1].sum(1).astype(np.float64)
    extra = {
        **extra,
        "synops_per_inference": float(r["synops"].mean()), "spikes_per_inference": float(r["spikes"].mean()),
        "neuron_updates_per_inference": float(np.mean(net.neuron_updates(n_real, T))),
        "input_macs_per_inference": float(np.mean(net.input_macs(n_real))),
        "start_val_accuracy": float((start["logits"].argmax(1) == ctx.y["val"]).mean()),
        "train_jets": int(n_train), "epochs": hist.epochs, "best_epoch": hist.best_epoch,
        **nir[2],
    }
    if loihi is not None:
        extra.update(loihi(ctx, cfg, net, data["test"], r["logits"], extra["n_particles"], bundle.class_names))
    ctx.save(nir[0], lambda path: write_bytes(path, nir[1]))
    m = commit_model(ctx, key, bundle, hist, class_probabilities(r["logits"]), bundle.class_names, extra)
    ctx.log(f"{key} (T={T}): test accuracy {m['accuracy'] * 100:.2f} %, {extra['synops_per_inference']:.0f} synops "
            f"per jet, {hist.epochs} epochs on {n_train} jets in {seconds:.1f} s")
    return m


def snn_particles_stage(ctx: StageContext, cfg: SnnParticlesConfig) -> StageResult:
    """Train the spiking deep-sets network through time and score it at ``timesteps``."""
    import torch

    from ..snn.particle import (
        SpikingDeepSetsOptions,
        evaluate_spiking_deepsets,
        train_spiking_deepsets,
    )

    table = particle_table(ctx)
    classes = table.class_names
    ann = ctx.models.get("ann_particles")
    from_ann = cfg.init == "ann" and ann is not None
    n_particles, jet_features, ann_scaler = _ann_recipe(ann) if from_ann else (cfg.n_particles, cfg.jet_features, None)
    rows = _train_rows(ctx, "snn_particles", cfg.max_train_jets)
    seed = ctx.seed_for("snn_particles")
    opts = SpikingDeepSetsOptions(neuron=cfg.neuron, reset=cfg.reset, surrogate=cfg.surrogate, slope=cfg.slope,
                                  v_init=cfg.v_init, leak=cfg.leak)
    T = cfg.timesteps
    with single_thread():
        data, scaler = _inputs(ctx, table, "deepsets", n_particles, jet_features, ann_scaler, rows)
        torch.manual_seed(seed)
        net = _snn_start(ctx, cfg, opts, len(classes), data["train"])
        macs_ref = float(ann.model.macs(n_particles)) if from_ann else 1.0
        teacher = _teacher_logits(ann, cfg, data["train"]) if cfg.distill_weight > 0 else None
        start = evaluate_spiking_deepsets(net, data["val"], T)
        t0 = time.perf_counter()
        hist = train_spiking_deepsets(net, data["train"], table.y[rows], data["val"], ctx.y["val"], T=T,
                                      epochs=cfg.epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                                      patience=cfg.patience, seed=seed, synops_penalty=cfg.synops_penalty,
                                      macs=macs_ref, teacher_logits=teacher, distill_weight=cfg.distill_weight,
                                      temperature=cfg.temperature, progress=ctx.progress,
                                      qat_global_step=_input_grid(cfg).step if cfg.quantize else None,
                                      ema=cfg.ema)
        seconds = time.perf_counter() - t0
        r = evaluate_spiking_deepsets(net, data["test"], T)
        nir_data, nir_extra = _nir_export(net, n_particles, classes, data["test"], ctx.y["test"], r["logits"], T)
    # the file's scores are these (predict_particles is evaluate_spiking_deepsets on the same inputs and
    # batches; a test checks it): the test jets are not simulated twice
    bundle = model_bundle(ctx, net, "snn_particles", table, particle_recipe(n_particles, jet_features, scaler),
                          predict={"T": T}, meta={"init": cfg.init, "epochs": hist.epochs})
    extra = {"model": "spiking_deepsets", "neuron": cfg.neuron, "reset": cfg.reset, "timesteps": T,
             "n_particles": n_particles, "jet_features": jet_features, "init": cfg.init,
             "distill_weight": cfg.distill_weight, "temperature": cfg.temperature, "quantize": cfg.quantize}
    loihi = _loihi_entry if cfg.loihi else None
    commit_spiking(ctx, "snn_particles", cfg, net, bundle, hist, data, r, start, extra,
                   nir=(NIR_FILE, nir_data, nir_extra), loihi=loihi, n_train=len(rows), seconds=seconds)
    return ctx.result
