"""The ``cnn_image`` and ``snn_image`` stages: a CNN and a spiking CNN on jet images.

``cnn_image`` (section :class:`~spikejet.config.sections.CnnImageConfig`) trains
:class:`~spikejet.ann.particle.JetCNN` on ``image_size`` x ``image_size`` images of the run's split
with the channels ``image_channels`` (:func:`spikejet.data.particles.image_inputs`: pT channels =
unit-sum image x image_size, count channels = particles per pixel) and writes ``metrics.json["cnn_image"]`` with ``macs``. ``snn_image``
(:class:`~spikejet.config.sections.SnnImageConfig`) fine-tunes a QCFS copy of it at ``timesteps``
levels, converts it to :class:`~spikejet.snn.image.SpikingCNN`, fine-tunes that spiking network by
surrogate gradients (``surrogate_epochs``; ``converted_accuracy`` beside the result) and measures it: the float spiking
network (``timesteps``, ``synops_per_inference``, per-layer spikes), its Loihi 2 integer model
(``loihi_accuracy`` on a seeded subset, with the chip resources unrolled and with shared
convolution kernels), and its NIR graph read back by spikejet (``nir_accuracy``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..config.sections import CnnImageConfig, SnnImageConfig
from ..data.particles import recipe_images
from ..errors import ConfigError
from ..evaluate.metrics import class_probabilities
from ..io import write_bytes
from ..run.context import StageContext, StageResult
from ..runtime import seeded_rows, single_thread
from .particles import _train_rows, bundle_test_scores, commit_model, model_bundle, particle_table

__all__ = ["cnn_image_stage", "snn_image_stage", "image_bundle", "NIR_FILE"]

#: The spiking CNN's NIR graph in the run directory.
NIR_FILE = "snn_image.nir"


def image_bundle(ctx: StageContext, model: Any, kind: str, image: dict[str, Any], table: Any,
                 predict: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> Any:
    """The model file of an image model (:func:`~spikejet.stages.particles.model_bundle`):
    ``arch["inputs"] = "jet_image"`` with the images' recipe, so that ``spikejet evaluate`` makes the
    same images from the data's particles."""
    from ..models.file import IMAGE_INPUTS

    return model_bundle(ctx, model, kind, table, {"inputs": IMAGE_INPUTS, "image": dict(image)}, predict, meta)


def _training(cfg: Any, epochs: int, seed: int) -> Any:
    from ..ann.particle import ParticleTraining

    return ParticleTraining(epochs=epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                            patience=cfg.patience, seed=seed)


def cnn_image_stage(ctx: StageContext, cfg: CnnImageConfig) -> StageResult:
    """Train the CNN on the run's split and score it on the test jets."""
    import torch

    from ..ann.particle import JetCNN, train_particle_model
    from ..hardware.energy import OpCounts, energy_estimate

    table = particle_table(ctx)
    classes = table.class_names
    rows = _train_rows(ctx, "cnn_image", cfg.max_train_jets)
    seed = ctx.seed_for("cnn_image")
    sp = ctx.data.split
    image = {"size": cfg.image_size, "radius": cfg.image_radius, "n_particles": cfg.n_particles,
             "channels": list(cfg.image_channels)}
    with single_thread():
        img = recipe_images(table, image)
        torch.manual_seed(seed)
        model = JetCNN(cfg.image_size, cfg.channels, cfg.dense, n_classes=len(classes),
                       in_channels=len(cfg.image_channels))
        hist = train_particle_model(model, [img[rows]], table.y[rows], [img[sp.val]], ctx.y["val"],
                                    _training(cfg, cfg.epochs, seed), progress=ctx.progress, desc="train image CNN")
        bundle = image_bundle(ctx, model, "cnn_image", image, table, meta={"epochs": hist.epochs})
        scores = bundle_test_scores(ctx, bundle, table)
    macs = model.macs()
    updates = float(cfg.image_size ** 2 * sum(c / 4 ** i for i, c in enumerate(cfg.channels)) + cfg.dense)
    extra = {"model": "cnn", "image_size": cfg.image_size, "image_channels": list(cfg.image_channels),
             "channels": list(cfg.channels), "dense": cfg.dense,
             "macs": macs, "macs_per_inference": macs, "train_jets": int(len(rows)), "epochs": hist.epochs,
             "best_epoch": hist.best_epoch,
             "energy_per_inference_j": energy_estimate(OpCounts(synops=macs, neuron_updates=updates, kind="ann"))}
    m = commit_model(ctx, "cnn_image", bundle, hist, scores, classes, extra)
    ctx.log(f"cnn_image ({cfg.image_size}x{cfg.image_size}, {'+'.join(cfg.image_channels)}): test accuracy {m['accuracy'] * 100:.2f} %, "
            f"{macs:.0f} MACs per jet, {hist.epochs} epochs on {len(rows)} jets")
    return ctx.result


def _loihi(ctx: StageContext, cfg: SnnImageConfig, dense_net: Any, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The Loihi 2 integer model of the unrolled network on a seeded subset of the test jets."""
    from ..hardware.loihi.evaluate import evaluate_on_loihi

    idx = np.arange(len(y))
    if cfg.loihi_max_jets is not None and len(y) > cfg.loihi_max_jets:
        idx = np.sort(seeded_rows(len(y), cfg.loihi_max_jets, ctx.rng("snn_image_loihi")))
    ev = evaluate_on_loihi(dense_net, X[idx], y[idx], timesteps=cfg.timesteps, profile="loihi2",
                           first_layer_offchip=False, curve=False, seed=ctx.seed_for("snn_image"),
                           input_bits=cfg.input_bits, input_clip=cfg.input_clip)
    pred = np.asarray(ev.scores).argmax(1)
    return {"loihi_accuracy": float((pred == y[idx]).mean()), "loihi_float_accuracy": ev.extra["float_accuracy"],
            "loihi_agreement_with_float": ev.extra["agreement_with_float"], "loihi_jets": int(len(idx)),
            "loihi_synops_per_inference": ev.extra.get("synops_per_inference"),
            "loihi_resources": ev.extra["resources"]}


def _shared_resources(net: Any, unrolled: dict[str, Any]) -> dict[str, Any]:
    """Cores/compartments as unrolled (neurons do not change), synapse memory with shared kernels:
    each convolution's kernel stored once on every core that holds part of the layer.

    Loihi 2 stores convolutional connectivity with shared weights instead of one synapse per
    (pre, post) pair (Intel Labs, "Taking Neuromorphic Computing to the Next Level with Loihi 2",
    technology brief, 2021: convolutional/factorized synapse compression; Orchard et al., "Efficient
    Neuromorphic Signal Processing with Loihi 2", IEEE SiPS 2021, arXiv:2111.03746). How the chip lays a
    shared kernel out per core is not public in detail: the count below is the kernel entries times
    the cores of the layer, a lower bound of the memory; the dense layers stay unrolled (their
    pooling folded in: each of a window's POOL^2 neurons has its own synapses)."""
    from ..snn.image import weight_memory

    layers = unrolled["layers"]
    shared = 0
    for i, row in enumerate(layers):
        if i < len(net.convs):
            shared += int((net.convs[i].weight != 0).sum()) * int(row["cores"])
        else:
            shared += int(row["synapses"])
    mem = weight_memory(net)
    return {"cores": unrolled["cores"], "compartments": unrolled["compartments"],
            "synapses_unrolled": unrolled["synapses"], "synapses_shared": shared,
            "float_weights_shared": mem["shared"], "float_synapses_unrolled": mem["unrolled"]}


def _nir_read_back(data: bytes, images: np.ndarray, T: int) -> np.ndarray:
    """Logits of the ``.nir`` bytes read back by spikejet (:func:`spikejet.interop.nir.cnn_from_nir`)
    and simulated with shared kernels at ``T`` on ``images``."""
    from ..interop.nir import cnn_from_nir, graph_from_bytes
    from ..snn.image import evaluate_spiking_cnn

    back = cnn_from_nir(graph_from_bytes(data))
    return evaluate_spiking_cnn(back, images, T).logits


def snn_image_stage(ctx: StageContext, cfg: SnnImageConfig) -> StageResult:
    """QCFS fine-tune, convert, simulate, map onto Loihi 2 and export to NIR the image CNN."""
    import torch

    from ..ann.particle import predict_logits, train_particle_model
    from ..interop.nir import cnn_to_nir
    from ..snn.image import (
        SpikingCNN,
        evaluate_spiking_cnn,
        qcfs_cnn,
        surrogate_finetune,
        unrolled_network,
    )
    from .loihi import nir_bytes

    src = ctx.models.get("cnn_image")
    if src is None:
        raise ConfigError("the snn_image stage converts the cnn_image stage's CNN: run cnn_image first")
    table = particle_table(ctx)
    rows = _train_rows(ctx, "snn_image", cfg.max_train_jets)
    seed = ctx.seed_for("snn_image")
    sp, T = ctx.data.split, cfg.timesteps
    image = src.arch["image"]
    with single_thread():
        img = recipe_images(table, image)
        torch.manual_seed(seed)
        q = qcfs_cnn(src.model, img[rows], levels=T, percentile=cfg.percentile)
        hist = train_particle_model(q, [img[rows]], table.y[rows], [img[sp.val]], ctx.y["val"],
                                    _training(cfg, cfg.qcfs_epochs, seed), progress=ctx.progress,
                                    desc=f"QCFS fine-tuning (L={T})")
        q_acc = float((predict_logits(q, [img[sp.test]]).argmax(1) == ctx.y["test"]).mean())
        net = SpikingCNN.from_qcfs(q, reset=cfg.reset)
        r = evaluate_spiking_cnn(net, img[sp.test], T)
        method, tuned = "qcfs", {}
        if cfg.surrogate_epochs:
            tuned["converted_accuracy"] = float((r.logits.argmax(1) == ctx.y["test"]).mean())
            sg_rows = _train_rows(ctx, "snn_image_surrogate", cfg.surrogate_max_train_jets)
            opts = replace(_training(cfg, cfg.surrogate_epochs, seed), learning_rate=cfg.surrogate_learning_rate)
            sg = surrogate_finetune(net, img[sg_rows], table.y[sg_rows], img[sp.val], ctx.y["val"], T, opts,
                                    surrogate=cfg.surrogate, slope=cfg.slope, progress=ctx.progress)
            method = "qcfs+surrogate"
            tuned.update(surrogate_epochs=sg.epochs, surrogate_best_epoch=sg.best_epoch,
                         surrogate_train_jets=int(len(sg_rows)))
            r = evaluate_spiking_cnn(net, img[sp.test], T)
        bundle = image_bundle(ctx, net, "snn_image", image, table, predict={"T": T}, meta={"method": method})
        # = bundle_test_scores(ctx, bundle, table): predict_images is evaluate_spiking_cnn, same images and
        # batches (a test checks the model file's scores against these); not simulated twice
        scores = class_probabilities(r.logits)
        X = img[sp.test].reshape(len(sp.test), -1)
        dense = unrolled_network(net, class_names=src.class_names, meta={"stage": "snn_image"})
        hw = _loihi(ctx, cfg, dense, X, ctx.y["test"])
        # the graph is the evaluated network itself: reset by subtraction is written exactly (I -> Threshold
        # with a Scale(-1) loop, interop.nir.cnn_to_nir), reset to zero as IF nodes; read back, it must
        # score as the network (nir_accuracy_gap 0)
        data = nir_bytes(cnn_to_nir(net, class_names=src.class_names))
        nir_logits = _nir_read_back(data, img[sp.test], T)
    acc = float((r.logits.argmax(1) == ctx.y["test"]).mean())
    extra = {
        "model": "spiking_cnn", "neuron": "if", "reset": cfg.reset, "timesteps": T, "method": method, **tuned,
        "synops_per_inference": float(r.synops.mean()), "spikes_per_inference": float(r.spikes.mean()),
        "spikes_per_layer": [float(v) for v in r.layer_spikes.mean(0)],
        "neuron_updates_per_inference": net.neuron_updates(T), "input_macs_per_inference": net.input_macs(),
        "qcfs_accuracy": q_acc, "conversion_gap": acc - q_acc,
        **hw, "resources": _shared_resources(net, hw["loihi_resources"]),
        "nir_accuracy": float((nir_logits.argmax(1) == ctx.y["test"]).mean()), "nir_reset": net.reset,
        "nir_source_accuracy": acc,
        "train_jets": int(len(rows)), "qcfs_epochs": hist.epochs,
    }
    extra["nir_accuracy_gap"] = extra["nir_accuracy"] - extra["nir_source_accuracy"]
    ctx.save(NIR_FILE, lambda path: write_bytes(path, data))
    m = commit_model(ctx, "snn_image", bundle, hist, scores, src.class_names, extra, history="snn_image_qcfs")
    conv = f", converted {tuned['converted_accuracy'] * 100:.2f} %" if tuned else ""
    ctx.log(f"snn_image (T={T}): test accuracy {m['accuracy'] * 100:.2f} % (QCFS CNN {q_acc * 100:.2f} %{conv}), "
            f"{extra['synops_per_inference']:.0f} synops per jet, Loihi {hw['loihi_accuracy'] * 100:.2f} %, "
            f"NIR {extra['nir_accuracy'] * 100:.2f} %")
    return ctx.result
