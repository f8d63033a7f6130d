"""The ``convert_snn`` stage of ``spikejet run``: ANN -> SNN conversion, scored like every model.

Config section ``convert`` (:class:`ConvertConfig`, registered here). The stage

1. converts the run's ANN with every method in ``compare`` (the QCFS method
   first fine-tunes a QCFS copy of the ANN on the training split);
2. simulates each converted network once for ``max_timesteps`` steps on the
   validation and test splits (one run gives the accuracy at every T);
3. picks the headline T of the chosen ``method``: ``timesteps`` if set (the
   ``seed-2019`` preset uses the study's 200), otherwise the smallest T whose
   *validation* accuracy is within ``target_gap`` of the ANN's (chosen on
   validation so that the test number is not selected on the test set);
4. writes ``metrics.json["snn_converted"]`` (the usual metrics at that T plus
   ``method``, ``timesteps``, ``accuracy_vs_timesteps``, ``firing_rate_hz``,
   ``synops_per_inference``, ``ann_macs`` ...), the model file
   ``snn_converted.pt`` and three report figures (section ``spiking``).

Only light imports at module level: the config section must register cheaply.
"""

from __future__ import annotations

from typing import Any

from ..config.sections import ConvertConfig
from ..errors import ConfigError
from ..evaluate.metrics import class_probabilities
from ..snn.timesteps import curve_points
from .snn_train import counts_entry

__all__ = ["ConvertConfig", "convert_stage", "STAGE_NAME", "MODEL_FILE", "curve_points"]

STAGE_NAME = "snn_converted"
MODEL_FILE = "snn_converted.pt"
#: The 2019 study's conversion result (SNN Toolbox, 200 steps), drawn on the accuracy-vs-T figure.
STUDY_CONVERSION = ("2019 study (SNN Toolbox)", 200, 0.6972)
#: Gaps (in accuracy, fraction) for which the smallest T reaching them is reported.
REPORTED_GAPS: tuple[float, ...] = (0.01, 0.005, 0.003)
#: Simulation chunk: bounds memory on large splits.
SIM_BATCH = 4096


def _smallest_t(acc, reference: float, gap: float) -> int | None:
    import numpy as np

    ok = np.flatnonzero(np.asarray(acc) >= reference - gap - 1e-12)
    return int(ok[0]) + 1 if ok.size else None


def convert_stage(ctx: Any, cfg: ConvertConfig) -> Any:
    """Convert the run's ANN, simulate, score at the headline T, save the model and figures."""
    from ..runtime import ANN_TORCH_THREADS, torch_threads

    # tiny matrices: one torch thread is fastest and independent of the machine's cores
    with torch_threads(ANN_TORCH_THREADS):
        _convert_stage(ctx, cfg)
    return ctx.result


def _convert_all(ctx: Any, cfg: ConvertConfig, bundle: Any, data: tuple, common: dict, seed: int,
                 ) -> tuple[dict[str, Any], dict[str, float]]:
    """Every method of ``cfg.compare`` converted (QCFS after its fine-tuning); the QCFS ANNs' accuracy."""
    import torch

    from ..ann.model import predict_logits
    from ..snn.convert import convert, finetune_qcfs

    Xtr, ytr, Xva, yva, Xte, yte = data
    nets: dict[str, Any] = {}
    source_acc: dict[str, float] = {}
    for method in cfg.compare:
        if method == "qcfs":
            torch.manual_seed(seed)
            qmodel, hist = finetune_qcfs(bundle.model, Xtr, ytr, Xva, yva, cfg, seed=seed, progress=ctx.progress)
            ctx.result.histories["snn_qcfs_ann"] = hist
            source_acc[method] = float((predict_logits(qmodel, Xte).argmax(1) == yte).mean())
            nets[method] = convert(qmodel, Xtr, "qcfs", cfg, **common)
        else:
            nets[method] = convert(bundle.model, Xtr, method, cfg, **common)
        ctx.log(f"converted ({method}): {'-'.join(map(str, nets[method].sizes))}")
    return nets, source_acc


def _headline_t(cfg: ConvertConfig, val_curve, ann_val: float) -> tuple[int, str]:
    """The headline T and the rule that chose it (on validation jets, never on the test set)."""
    if cfg.timesteps is not None:
        return int(cfg.timesteps), "fixed by convert.timesteps"
    t = _smallest_t(val_curve, ann_val, cfg.target_gap)
    if t is not None:
        return t, f"smallest T with validation accuracy within {cfg.target_gap * 100:g} point(s) of the ANN"
    return cfg.max_timesteps, f"target not met on validation up to T = {cfg.max_timesteps}; using T_max"


def _methods_entry(nets, results, test_curves, source_acc, T_head: int, ann_test: float, points) -> dict:
    out = {}
    for method in nets:
        te = test_curves[method]
        c = results[method].op_counts(T_head)
        out[method] = {
            "accuracy_vs_timesteps": {str(t): float(te[t - 1]) for t in points},
            "timesteps_within_gap": {f"{g * 100:g}": _smallest_t(te, ann_test, g) for g in REPORTED_GAPS},
            "synops_per_inference": c["synops"],
            "spikes_per_inference": c["spikes"],
            "firing_rate_hz": {ly["name"]: ly["firing_rate_hz"] for ly in c["layers"] if ly["spiking"]},
            "source_ann_accuracy": source_acc.get(method, ann_test),
        }
    return out


def _extra(cfg, chosen, T_head, how, res, test_curves, ann_test, source_acc, methods_entry, counts) -> dict:
    return {
        "method": chosen,
        "timesteps": T_head,
        "timesteps_rule": how,
        "dt": cfg.dt,
        "accuracy_vs_timesteps": {str(t): float(a) for t, a in zip(res.steps.tolist(), test_curves[chosen], strict=True)},
        "reference_ann_accuracy": ann_test,
        "source_ann_accuracy": source_acc.get(chosen, ann_test),
        "timesteps_within_gap": methods_entry[chosen]["timesteps_within_gap"],
        **counts_entry(counts),
        "methods": methods_entry,
        "model_file": MODEL_FILE,
    }


def _figures(ctx: Any, cfg: ConvertConfig, *, nets, results, test_curves, methods_entry, counts, chosen: str,
             T_head: int, how: str, ann_test: float, accuracy: float, n_classes: int) -> None:
    from ..report.figures.snn import plot_accuracy_vs_timesteps, plot_firing_rates, plot_operations
    from ..report.tables import stage_title
    from ..snn.network import count_ann_macs

    T_max = cfg.max_timesteps
    res = results[chosen]
    layer_names = list(res.layer_names)
    title = stage_title(STAGE_NAME)
    study = [STUDY_CONVERSION] if n_classes == 5 else []
    ctx.add_figure(
        "snn_accuracy_vs_timesteps",
        plot_accuracy_vs_timesteps(
            {k: {t: float(v[t - 1]) for t in range(1, T_max + 1)} for k, v in test_curves.items()},
            ann_accuracy=ann_test, headline=(chosen, T_head, accuracy), target_gap=cfg.target_gap,
            study=study if T_max >= STUDY_CONVERSION[1] else [],
        ),
        f"{title}: test accuracy versus time steps for each method (one simulation each), the ANN "
        f"(dashed) and the band within {cfg.target_gap * 100:g} point(s) of it; the star is the headline "
        f"({chosen}, T = {T_head}: {how}).",
        section="spiking",
    )
    spiking_layers = [ly["name"] for ly in counts["layers"] if ly["spiking"]]
    ctx.add_figure(
        "snn_firing_rates",
        plot_firing_rates(
            {k: [v["firing_rate_hz"][n] for n in spiking_layers if n in v["firing_rate_hz"]]
             for k, v in methods_entry.items() if set(spiking_layers) <= set(v["firing_rate_hz"])},
            spiking_layers, timesteps=dict.fromkeys(methods_entry, T_head),
        ),
        f"Mean firing rate of each spiking layer over the first {T_head} steps (dt = {cfg.dt * 1e3:g} ms), "
        "averaged over test jets.",
        section="spiking",
    )
    sizes = res.sizes
    macs_layer = [sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1)]
    ctx.add_figure(
        "snn_operations",
        plot_operations(
            {k: [results[k].op_counts(T_head)["layers"][i]["synops"] for i in range(len(layer_names))] for k in nets},
            layer_names, macs_layer,
            synops_vs_t={k: {t: float(results[k].synops_per_inference(t).sum()) for t in curve_points(T_max)}
                          for k in nets},
            ann_macs=count_ann_macs(sizes), timesteps=dict.fromkeys(nets, T_head),
        ),
        f"Synaptic operations per inference (each spike times its fan-out) arriving at each layer at "
        f"T = {T_head}, next to the ANN's multiply-accumulates per layer (left; with a constant-current "
        f"input the first layer's {counts['input_macs']} MACs are done once, off-chip), and the total versus T (right).",
        section="spiking",
    )


def _convert_stage(ctx: Any, cfg: ConvertConfig) -> None:
    from ..ann.model import predict_logits
    from ..snn.bundle import save_network
    from ..snn.engine import simulate_fast as simulate

    bundle = ctx.models.get("ann")
    if bundle is None:
        raise ConfigError("the convert_snn stage needs the ANN: run the train_ann stage first")
    classes = tuple(bundle.class_names)
    Xtr, Xva, Xte = ctx.X["train"], ctx.X["val"], ctx.X["test"]
    ytr, yva, yte = (bundle.labels(ctx.y[k]) for k in ("train", "val", "test"))
    ann_val = float((predict_logits(bundle.model, Xva).argmax(1) == yva).mean())
    ann_test = float(ctx.metrics["ann"]["accuracy"]) if "ann" in ctx.metrics else float(
        (predict_logits(bundle.model, Xte).argmax(1) == yte).mean())
    T_max = cfg.max_timesteps
    seed = ctx.seed_for("convert_snn")
    common = {"class_names": classes, "feature_names": tuple(bundle.feature_names),
              "scaler": dict(bundle.scaler), "seed": seed}
    nets, source_acc = _convert_all(ctx, cfg, bundle, (Xtr, ytr, Xva, yva, Xte, yte), common, seed)
    results, val_curves, test_curves = {}, {}, {}
    for method, net in nets.items():
        res_te = simulate(net, Xte, T_max, seed=seed, batch_size=SIM_BATCH)
        res_va = simulate(net, Xva, T_max, seed=seed, batch_size=SIM_BATCH, steps=None)
        results[method] = res_te
        test_curves[method] = res_te.accuracy(yte)
        val_curves[method] = res_va.accuracy(yva)
    chosen = cfg.method
    T_head, how = _headline_t(cfg, val_curves[chosen], ann_val)
    net, res = nets[chosen], results[chosen]
    head = simulate(net, Xte, T_head, seed=seed, batch_size=SIM_BATCH, steps=[T_head])
    counts = res.op_counts(T_head)
    points = curve_points(T_max, (T_head, STUDY_CONVERSION[1]))
    methods_entry = _methods_entry(nets, results, test_curves, source_acc, T_head, ann_test, points)
    extra = _extra(cfg, chosen, T_head, how, res, test_curves, ann_test, source_acc, methods_entry, counts)
    m = ctx.add_metrics(STAGE_NAME, yte, class_probabilities(head.scores), class_names=classes, extra=extra)
    meta = {"method": chosen, "timesteps_rule": how, "source_ann_accuracy": extra["source_ann_accuracy"]}
    ctx.save(MODEL_FILE, lambda path: save_network(
        path, net, T_head, kind=STAGE_NAME, task=bundle.task,
        data_class_names=bundle.data_class_names, config=ctx.config.to_dict(), meta=meta,
    ))
    ctx.result.model = net
    _figures(ctx, cfg, nets=nets, results=results, test_curves=test_curves, methods_entry=methods_entry,
             counts=counts, chosen=chosen, T_head=T_head, how=how, ann_test=ann_test, accuracy=m["accuracy"],
             n_classes=len(classes))
    ctx.log(
        f"SNN ({chosen}) test accuracy {m['accuracy'] * 100:.2f} % at T = {T_head} "
        f"(ANN {ann_test * 100:.2f} %), {counts['synops']:.0f} synops/jet vs {counts['ann_macs']} ANN MACs"
    )
