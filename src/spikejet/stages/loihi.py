"""The "loihi" stage of ``spikejet run``.

Config section ``loihi`` (:class:`~spikejet.config.sections.HardwareConfig`). The stage

1. takes the run's spiking model named by ``loihi.sources`` (the first stage
   in that list whose model the run has: the surrogate-trained SNN when it
   exists, else the converted one) and its headline T (``loihi.timesteps``
   overrides);
2. maps it onto the chip and runs the bit-level integer model on the test
   split, at T and at the powers of two below it (accuracy versus T), through
   :func:`spikejet.hardware.loihi.evaluate.evaluate_on_loihi` (which
   ``spikejet deploy`` runs too; profile ``loihi.profile``, first layer
   on the chip by default: the features enter as graded spikes, ``loihi.first_layer_offchip``
   runs the first layer on the host as the 2019 study did);
3. scores it with ``evaluate_scores`` and writes ``metrics.json["loihi"]``:
   the usual metrics plus ``timesteps``, ``accuracy_vs_timesteps``, the float
   SNN's accuracy on the same jets, ``synops_per_inference`` and spikes (on chip),
   ``energy_per_inference_j`` per spiking device, the off-chip first layer's
   host cost per conventional device (stated separately), the ratio to the
   ANN on a GPU, ``latency`` and the chip ``resources`` and per-layer
   ``quantization``; ``off_chip_layers``, ``io_per_inference`` (what crosses the host-chip
   boundary) and ``system_energy_per_inference_j`` (chip + I/O + host work);
4. writes ``loihi.nir`` and reads the same bytes back (``nir_accuracy``: the graph as spikejet
   reads it, simulated on the same jets);
5. (every model's entry gets its ``energy_per_inference_j`` from the runner,
   :func:`spikejet.hardware.energy.add_energy_estimates`, the same way for all) writes
   ``loihi.nir`` (the quantized network, when NIR can express it) and the
   report figures (section ``hardware``): the energy/latency table
   (:func:`spikejet.report.figures.energy.plot_energy_table`), the Fig. 9-style
   energy plot and the accuracy versus T.

"""

from __future__ import annotations

from typing import Any

from ..config.sections import HardwareConfig
from ..errors import ConfigError, HardwareError
from ..evaluate.metrics import class_probabilities

__all__ = [
    "STAGE_NAME",
    "NIR_FILE",
    "HardwareConfig",
    "loihi_stage",
]

STAGE_NAME = "loihi"
#: The quantized network of the stage, as a NIR graph.
NIR_FILE = "loihi.nir"


# --------------------------------------------------------------------------- the stage


def _source(ctx: Any, cfg: HardwareConfig) -> tuple[str, Any]:
    from ..hardware.loihi.evaluate import spiking_network_of

    for stage in cfg.sources:
        if stage in ctx.models:
            return stage, spiking_network_of(ctx.models[stage], f"the {stage} model")
    have = [k for k in ctx.models if k != "ann"] or ["none"]
    raise ConfigError(
        f"the loihi stage found none of its source models ({', '.join(cfg.sources)}) in this run "
        f"(spiking models present: {', '.join(have)}); run a spiking stage first or set loihi.sources"
    )


def loihi_stage(ctx: Any, cfg: HardwareConfig | None = None) -> Any:
    """Map the run's best spiking model onto Loihi, score it, add energy/latency, figures, loihi.nir."""
    from ..runtime import ANN_TORCH_THREADS, torch_threads

    with torch_threads(ANN_TORCH_THREADS):
        _loihi_stage(ctx)
    return ctx.result


def nir_bytes(graph: Any) -> bytes:
    """The bytes of ``graph`` as a ``.nir`` file: the runner writes exactly these bytes as ``loihi.nir``."""
    from ..interop.nir import graph_bytes

    return graph_bytes(graph)


def nir_read_back_accuracy(data: bytes, X: Any, y: Any, T: int, *, seed: int) -> dict[str, Any]:
    """Accuracy of a ``.nir`` file's bytes read back by spikejet (:func:`spikejet.interop.nir.read_nir`)
    and simulated (:func:`spikejet.snn.simulate.simulate`) at T on the jets ``X``, ``y``: the class of the
    largest score (= the largest softmax probability, as every model is scored)."""
    import numpy as np

    from ..interop.nir import from_nir, graph_from_bytes
    from ..snn.engine import simulate_fast as simulate

    back = from_nir(graph_from_bytes(data))
    pred = simulate(back, X, int(T), seed=seed, steps=[int(T)]).predictions_at(int(T))
    return {"nir_accuracy": float((pred == np.asarray(y)).mean()), "nir_predictions": pred}


def _write_nir(ctx: Any, cfg: HardwareConfig, mapping: Any, net: Any, X: Any, y: Any, T: int) -> dict[str, Any]:
    """Write the quantized network as NIR when NIR can express it, read the same bytes back and score
    them on the stage's jets; the metrics keys that say what happened."""
    from ..interop.nir import mapping_to_nir
    from ..io import write_bytes

    try:  # NIR has no reset by subtraction: the same opt-in as for loihi1 (recorded in the file)
        graph = mapping_to_nir(mapping, net, allow_reset_change=cfg.allow_reset_change)
    except HardwareError as exc:
        return {"nir_file": None, "nir_note": str(exc), "nir_accuracy": None}
    data = nir_bytes(graph)
    ctx.save(NIR_FILE, lambda path: write_bytes(path, data))
    back = nir_read_back_accuracy(data, X, y, T, seed=ctx.seed_for(STAGE_NAME))
    if graph.metadata["semantic_changes"] != "none":
        ctx.log(f"{NIR_FILE}: {graph.metadata['semantic_changes']} (NIR cannot reset by subtraction)")
    ctx.log(f"{NIR_FILE} read back by spikejet: {back['nir_accuracy'] * 100:.2f} % on the same jets")
    return {"nir_file": NIR_FILE, "nir_semantic_changes": graph.metadata["semantic_changes"],
            "nir_accuracy": back["nir_accuracy"],
            "nir_read_back": "the written loihi.nir bytes read by spikejet.interop.nir.read_nir, simulated at T "
                             "(spikejet.snn.simulate, float) on the same test jets",
            "_nir_predictions": back["nir_predictions"]}


def _loihi1_check(ctx: Any, cfg: HardwareConfig, net: Any, X: Any, y: Any, T: int) -> dict[str, Any]:
    """The same network on the Loihi 1 integer model (first layer on the host, reset to zero): its
    accuracy, the float network's on the same jets, and how often the two pick the same class."""
    from dataclasses import replace

    from ..errors import HardwareError

    try:
        ev = _evaluate(ctx, replace(cfg, profile="loihi1", first_layer_offchip=True, curve=False), net, X, y, T)
    except HardwareError as exc:  # e.g. reset by subtraction with allow_reset_change false
        return {"not_run": str(exc)}
    acc = float((ev.scores.argmax(axis=1) == y).mean())
    out = {"accuracy": acc, "float_accuracy": float(ev.extra["float_accuracy"]),
           "gap_to_float": acc - float(ev.extra["float_accuracy"]),
           "agreement_with_float": float(ev.extra["agreement_with_float"]),
           "reset_changed": bool(ev.extra.get("reset_changed", False)),
           "first_layer_offchip": True}
    ctx.log(f"Loihi 1 check: {acc * 100:.2f} % (float {out['float_accuracy'] * 100:.2f} %)")
    return out


def _evaluate(ctx: Any, cfg: HardwareConfig, net: Any, X: Any, y: Any, T: int, log: Any = None) -> Any:
    """The network on the chip model ``cfg`` describes, on the jets ``X``, ``y`` at ``T``."""
    from ..hardware.loihi.evaluate import evaluate_on_loihi

    return evaluate_on_loihi(
        net, X, y, timesteps=int(T), profile=cfg.profile, first_layer_offchip=cfg.first_layer_offchip,
        axon_delay=cfg.axon_delay, max_chips=cfg.max_chips, allow_reset_change=cfg.allow_reset_change,
        curve=cfg.curve, seed=ctx.seed_for(STAGE_NAME), time_per_step_s=cfg.time_per_step_s,
        time_per_step_source=cfg.time_per_step_source, host_device=cfg.host_device,
        compensate_delays=cfg.compensate_delays, input_bits=cfg.input_bits, input_clip=cfg.input_clip,
        **({} if log is None else {"log": log}),
    )


def _loihi_stage(ctx: Any) -> None:
    import numpy as np

    from ..hardware.energy import REFERENCE_DEVICE
    from ..report.figures.energy import plot_energy, plot_energy_table
    from ..report.figures.snn import plot_accuracy_vs_timesteps
    from ..report.tables import energy_plot_rows, energy_table_rows, stage_title

    cfg: HardwareConfig = ctx.config.section("loihi")
    source, net = _source(ctx, cfg)
    src_metrics = ctx.metrics.get(source, {})
    T = cfg.timesteps or src_metrics.get("timesteps")
    if T is None:
        raise ConfigError(f"the {source} stage recorded no 'timesteps'; set loihi.timesteps")
    ann = ctx.models.get("ann")
    X, y_raw = ctx.X["test"], ctx.y["test"]
    y = ann.labels(y_raw) if hasattr(ann, "labels") else np.asarray(y_raw)
    if cfg.max_jets is not None and len(y) > cfg.max_jets:
        rows = np.sort(ctx.rng(STAGE_NAME).choice(len(y), size=cfg.max_jets, replace=False))
        X, y = X[rows], y[rows]
    classes = net.class_names or (tuple(ann.class_names) if ann is not None else tuple(str(i) for i in range(net.n_outputs)))
    ev = _evaluate(ctx, cfg, net, X, y, T, log=ctx.log)
    extra = {"source": source, **ev.extra}
    if cfg.loihi1_check and cfg.profile != "loihi1":
        extra["loihi1_check"] = _loihi1_check(ctx, cfg, net, X, y, int(T))
    if cfg.write_nir:
        nir_extra = _write_nir(ctx, cfg, ev.mapping, net, X, y, int(T))
        nir_pred = nir_extra.pop("_nir_predictions", None)
        if nir_pred is not None:
            nir_extra["nir_agreement_with_loihi"] = float((nir_pred == ev.scores.argmax(axis=1)).mean())
        extra.update(nir_extra)
    m = ctx.add_metrics(STAGE_NAME, y, class_probabilities(ev.scores), class_names=classes, extra=extra)

    # ---- the energy table and plot (every model's entry carries its own estimate: the runner adds it)
    rows = energy_table_rows(ctx.metrics)
    ref = ctx.metrics.get("ann", {}).get("energy_per_inference_j", {}).get(REFERENCE_DEVICE)
    ctx.add_figure(
        "hardware_energy_table", plot_energy_table(rows, reference=ref),
        "Energy per inference (keras-spiking model: synaptic operations x energy per synop + neuron updates x "
        "energy per update; docs/hardware.md cites every constant) and latency per model and device. Spiking "
        "models on spiking devices count events; on CPU/GPU/ARM every connection every step. 'loihi + host' adds "
        f"the off-chip first layer on the {cfg.host_device}. Latency = T + the axon delays, in steps "
        f"({'no wall-clock time per step is known' if cfg.time_per_step_s is None else cfg.time_per_step_source}).",
        section="hardware",
    )
    plot_rows = energy_plot_rows(ctx.metrics)
    ctx.add_figure_writer(
        "hardware_energy",
        lambda path: plot_energy(plot_rows, path, title="energy per inference (in the spirit of the 2019 study's Fig. 9)"),
        "Left: energy per inference per device and model (log scale). Right: test accuracy versus energy.",
        section="hardware",
    )
    float_src = ctx.metrics.get(source, {}).get("accuracy")
    curves = {"Loihi integer model": {int(t): a for t, a in ev.extra["accuracy_vs_timesteps"].items()},
              "float SNN (same jets)": {int(t): a for t, a in ev.extra["float_accuracy_vs_timesteps"].items()}}
    ann_acc = ctx.metrics.get("ann", {}).get("accuracy", ev.extra["float_accuracy"])
    ctx.add_figure(
        "hardware_accuracy_vs_timesteps",
        plot_accuracy_vs_timesteps(curves, ann_accuracy=ann_acc, headline=("Loihi integer model", ev.timesteps,
                                                                          m["accuracy"])),
        f"Accuracy of the {cfg.profile} integer model of the {stage_title(source)} network and of the float network "
        f"on the same {ev.extra['n_jets_evaluated']} test jets versus T.",
        section="hardware",
    )
    res = ev.extra["resources"]
    ctx.log(
        f"Loihi ({cfg.profile}) test accuracy {m['accuracy'] * 100:.2f} % at T = {ev.timesteps} "
        f"(float {ev.extra['float_accuracy'] * 100:.2f} %{'' if float_src is None else f', stage {float_src * 100:.2f} %'}); "
        f"{res['cores']} cores; {ev.extra['energy_per_inference_j']['loihi'] * 1e9:.1f} nJ/inference on chip "
        f"= {ev.extra['energy_ratio_to_ann_gpu']:.3f} x the ANN on a GPU; {ev.extra['off_chip_layers']} layer(s) "
        f"off-chip; system (chip + I/O + host on {cfg.host_device}) "
        f"{ev.extra['system_energy_per_inference_j'] * 1e9:.1f} nJ = {ev.extra['system_energy_ratio_to_ann_gpu']:.3f} x"
    )
