"""The "loihi" stage of ``spikejet run``, the evaluation it shares with ``spikejet deploy``,
and the energy/latency table of the report.

Config section ``loihi`` (:class:`HardwareConfig`, registered here). The stage

1. takes the run's spiking model named by ``loihi.sources`` (the first stage
   in that list whose model the run has: the surrogate-trained SNN when it
   exists, else the converted one) and its headline T (``loihi.timesteps``
   overrides);
2. maps it onto the chip (``spikejet.hardware.loihi.map_network``, profile
   ``loihi.profile``, first layer off-chip as the 2019 study ran it) and runs
   the bit-level integer model on the test split, at T and at the powers of
   two below it (accuracy versus T);
3. scores it with ``evaluate_scores`` and writes ``metrics.json["loihi"]``:
   the usual metrics plus ``timesteps``, ``accuracy_vs_timesteps``, the float
   SNN's accuracy on the same jets, ``synops_per_inference`` and spikes (on chip),
   ``energy_per_inference_j`` per spiking device, the off-chip first layer's
   host cost per conventional device (stated separately), the ratio to the
   ANN on a GPU, ``latency`` and the chip ``resources`` and per-layer
   ``quantization``;
4. adds ``energy_per_inference_j`` to the ANN and the other spiking stages
   that lack it (:func:`add_energy_estimates`), writes ``loihi.nir`` (the
   quantized network, when NIR can express it) and two report figures (section
   ``hardware``): the energy/latency table and the Fig. 9-style energy plot.

Only light imports at module level: the config section must register cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.sections import CONVENTIONAL_HOSTS, HardwareConfig
from ..errors import ConfigError, HardwareError, ModelError
from ..snn.timesteps import curve_points

__all__ = [
    "STAGE_NAME",
    "NIR_FILE",
    "HardwareConfig",
    "LoihiEvaluation",
    "loihi_stage",
    "evaluate_on_loihi",
    "compensate_delay_bias",
    "spiking_network_of",
    "curve_points",
    "add_energy_estimates",
    "energy_estimate",
    "energy_table_rows",
    "plot_energy_table",
    "energy_plot_rows",
]

STAGE_NAME = "loihi"
#: The quantized network of the stage, as a NIR graph.
NIR_FILE = "loihi.nir"
#: The ANN device of the energy target ("at most 1/5 of the ANN on a GPU").
REFERENCE_DEVICE = "gpu"
#: Jets run by the integer model at once (memory bound, not speed).
LOIHI_BATCH = 4096


# --------------------------------------------------------------------------- models


def spiking_network_of(model: Any, where: str = "model") -> Any:
    """The SpikingNetwork of a stage's model (a SpikingNetwork, or a spiking model bundle)."""
    from ..snn.bundle import SpikingModule
    from ..snn.network import SpikingNetwork

    if isinstance(model, SpikingNetwork):
        return model
    inner = getattr(model, "model", None)
    if isinstance(inner, SpikingModule):
        return inner.network
    raise ModelError(f"{where} is not a spiking network ({type(model).__name__}); the Loihi model needs one")


# --------------------------------------------------------------------------- energy helpers


def _devices(kind: str) -> tuple[str, ...]:
    from ..hardware.energy import CONVENTIONAL_DEVICES, SPIKING_DEVICES

    return SPIKING_DEVICES if kind == "snn_events" else CONVENTIONAL_DEVICES


def energy_estimate(counts: Any) -> dict[str, float]:
    """Joules per inference on every device that fits the counts' kind."""
    from ..hardware.energy import energy_per_inference

    return {d: energy_per_inference(counts, d) for d in _devices(counts.kind)}


def add_energy_estimates(metrics: Mapping[str, dict[str, Any]],
                         sizes: Mapping[str, Sequence[int]]) -> list[str]:
    """Add ``energy_per_inference_j`` to metrics entries that lack it; return the stages changed.

    ``"ann"``: MACs and neuron updates of the dense network (``sizes["ann"]``) on
    the conventional devices. A spiking stage (``synops_per_inference`` and
    ``timesteps`` present): its event counts on the spiking devices, and, where
    ``sizes[stage]`` is known, every connection every step on the conventional
    ones (``snn_dense_counts``). Entries that have the key are left alone.
    """
    from ..hardware.energy import ann_counts, snn_counts, snn_dense_counts

    changed = []
    for stage, m in metrics.items():
        if not isinstance(m, dict) or "energy_per_inference_j" in m:
            continue
        if stage == "ann":
            if "ann" not in sizes:
                continue
            c = ann_counts(sizes["ann"])
            m["macs_per_inference"] = c.synops
            m["energy_per_inference_j"] = energy_estimate(c)
            changed.append(stage)
            continue
        if "synops_per_inference" not in m or "timesteps" not in m:
            continue
        T = int(m["timesteps"])
        updates = m.get("neuron_updates_per_inference")
        if updates is None and stage in sizes:
            updates = float(sum(sizes[stage][1:]) * T)
        if updates is None:
            continue
        e = energy_estimate(snn_counts(m["synops_per_inference"], updates, T, m.get("spikes_per_inference", 0.0)))
        if stage in sizes:
            e.update(energy_estimate(snn_dense_counts(sizes[stage], T)))
        m["energy_per_inference_j"] = e
        changed.append(stage)
    return changed


# --------------------------------------------------------------------------- delay-bias compensation


def compensate_delay_bias(mapping: Any) -> Any:
    """The mapping with each chip layer's initial voltage lowered by the bias it integrates before its input.

    On the chip every compartment adds its bias from step 0, but layer ``k``'s
    first input arrives only after the axon delays of layers ``0..k`` (``D_k``
    steps): for ``D_k`` steps it integrates its bias alone, which a network
    without delays never does. Starting the voltage at ``v0' = (v0 - b S)/d**D_k``
    (``d`` the voltage decay per step, ``S = 1 + d + ... + d**(D_k - 1)``; for
    IF compartments ``v0 - D_k b``, exact in integers) puts it, when the first
    input arrives, where the delay-free network starts. Per-compartment initial
    voltages are a chip setting (Lava's LIF takes a ``v`` array); the mapping's
    weights, thresholds and biases are unchanged. For leaky compartments it is
    approximate (integer rounding of the decays).
    """
    import dataclasses

    import numpy as np

    from ..hardware.loihi import DECAY_UNITY, DV_OFFSET, V_MAX, V_MIN

    layers, delay = [], 0
    for layer in mapping.network.layers:
        delay += int(layer.axon_delay)
        comp = layer.compartment
        bias = np.asarray(comp.bias_eff, dtype=np.float64) * np.ones(layer.n_out)
        v0 = np.asarray(layer.v_init, dtype=np.float64) * np.ones(layer.n_out)
        d = 1.0 - (comp.dv + DV_OFFSET) / DECAY_UNITY
        if delay == 0 or not bias.any():
            layers.append(layer)
            continue
        if d == 1.0:
            v_new = v0 - delay * bias
        else:
            geo = (1.0 - d**delay) / (1.0 - d)
            v_new = (v0 - bias * geo) / d**delay
        v_new = np.clip(np.rint(v_new), V_MIN, V_MAX).astype(np.int64)
        layers.append(dataclasses.replace(layer, v_init=v_new))
    chip = dataclasses.replace(mapping.network, layers=tuple(layers))
    return dataclasses.replace(mapping, network=chip)


# --------------------------------------------------------------------------- evaluation


@dataclass
class LoihiEvaluation:
    """What :func:`evaluate_on_loihi` measured: the mapping, scores at T and the metrics extras.

    ``mapping`` is what :func:`~spikejet.hardware.loihi.map_network` made; ``chip``
    is what ran (with the delay-bias compensation, if it was asked for).
    """

    mapping: Any
    chip: Any
    timesteps: int
    scores: Any
    float_scores: Any
    extra: dict[str, Any] = field(default_factory=dict)


def evaluate_on_loihi(
    net: Any,
    X: Any,
    y: Any,
    *,
    timesteps: int,
    profile: str = "loihi1",
    first_layer_offchip: bool = True,
    axon_delay: int = 1,
    max_chips: int = 1,
    allow_reset_change: bool = True,
    curve: bool = True,
    seed: int = 0,
    time_per_step_s: float | None = None,
    time_per_step_source: str = "",
    host_device: str = "cpu",
    compensate_delays: bool = True,
    log: Callable[[str], None] | None = None,
) -> LoihiEvaluation:
    """Map ``net`` onto Loihi, run the integer model on standardized ``X`` and measure everything.

    Runs the float SNN on the same jets for reference (same seed: with an
    off-chip first layer both see the same first-layer spikes). Energy: the
    on-chip event counts on each spiking device, the off-chip first layer's
    MACs and neuron updates on each conventional device (the host cost, kept
    separate), the ANN of the same sizes on the conventional devices, and the
    ratios to the ANN on a GPU with and without the host cost.
    ``compensate_delays``: run :func:`compensate_delay_bias` of the mapping.
    """
    import numpy as np

    from ..hardware.energy import (
        OpCounts,
        ann_counts,
        energy_per_inference,
        latency,
        snn_counts,
    )
    from ..hardware.loihi import map_network, run_mapped
    from ..snn.simulate import simulate

    log = log or (lambda msg: None)
    T = int(timesteps)
    if T < 1:
        raise ConfigError(f"timesteps must be >= 1, got {timesteps!r}")
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    mapping = map_network(net, profile=profile, first_layer_offchip=first_layer_offchip, axon_delay=axon_delay,
                          n_steps=T, max_chips=max_chips, allow_reset_change=allow_reset_change)
    res = mapping.resources
    log(f"mapped onto {profile}: {res.compartments} compartments, {res.synapses} synapses, {res.cores} cores "
        f"({len(mapping.offchip)} layer(s) off-chip)")
    chip_mapping = compensate_delay_bias(mapping) if compensate_delays else mapping
    points = curve_points(T) if curve else [T]
    acc_curve: dict[str, float] = {}
    head = None
    for t in points:
        run = run_mapped(chip_mapping, X, t, seed=seed, batch_size=LOIHI_BATCH)
        acc_curve[str(t)] = float((run.predictions == y).mean())
        if t == T:
            head = run
    assert head is not None
    fres = simulate(net, X, T, seed=seed)
    float_curve = fres.accuracy(y)
    float_acc = float(float_curve[T - 1])
    loihi_acc = acc_curve[str(T)]
    log(f"Loihi integer model: {loihi_acc * 100:.2f} % at T = {T} (float SNN {float_acc * 100:.2f} %)")

    per = head.per_inference()
    chip = snn_counts(per["synops"], per["neuron_updates"], T, per["spikes"])
    energy = {d: energy_per_inference(chip, d) for d in _devices("snn_events")}
    host = OpCounts(synops=per["offchip_macs"], neuron_updates=per["offchip_neuron_updates"], kind="ann")
    host_energy = {d: energy_per_inference(host, d) for d in CONVENTIONAL_HOSTS}
    ann = ann_counts(net.sizes)
    ann_energy = {d: energy_per_inference(ann, d) for d in CONVENTIONAL_HOSTS}
    ref = ann_energy[REFERENCE_DEVICE]
    with_host = energy["loihi"] + host_energy[host_device]
    delays = [int(layer.axon_delay) for layer in mapping.network.layers]
    lat = latency(T, delays, time_per_step_s=time_per_step_s, assumption=time_per_step_source)
    quant = mapping.report()
    extra = {
        "profile": profile,
        "timesteps": T,
        "accuracy_vs_timesteps": acc_curve,
        "float_accuracy": float_acc,
        "float_accuracy_vs_timesteps": {str(t): float(float_curve[t - 1]) for t in points},
        "accuracy_gap_to_float": loihi_acc - float_acc,
        "agreement_with_float": float((head.predictions == fres.predictions_at(T)).mean()),
        "n_jets_evaluated": int(X.shape[0]),
        "first_layer_offchip": bool(first_layer_offchip),
        "spikes_per_inference": per["spikes"],
        "synops_per_inference": per["synops"],
        "neuron_updates_per_inference": per["neuron_updates"],
        "input_events_per_inference": per["input_events"],
        "offchip_per_inference": {"spikes": per["offchip_spikes"], "macs": per["offchip_macs"],
                                  "neuron_updates": per["offchip_neuron_updates"]},
        "energy_per_inference_j": energy,
        "host_energy_per_inference_j": host_energy,
        "host_device": host_device,
        "energy_with_host_per_inference_j": with_host,
        "ann_macs": ann.synops,
        "ann_energy_per_inference_j": ann_energy,
        "energy_ratio_to_ann_gpu": energy["loihi"] / ref,
        "energy_with_host_ratio_to_ann_gpu": with_host / ref,
        "energy_model": "keras-spiking: synops x E_synop + neuron updates x E_neuron (docs/hardware.md)",
        "latency": {"steps": lat.steps, "window_steps": lat.window_steps, "delay_steps": lat.delay_steps,
                    "seconds": lat.seconds, "time_per_step_s": lat.time_per_step_s,
                    "assumption": lat.assumption or "no wall-clock time per step known: steps only"},
        "resources": quant["resources"],
        "quantization": quant["layers"],
        "reset_changed": any(q["reset_changed"] for q in quant["layers"]),
        "delay_bias_compensation": bool(compensate_delays),
        "total_axon_delay": quant["total_axon_delay"],
    }
    return LoihiEvaluation(mapping=mapping, chip=chip_mapping, timesteps=T, scores=head.scores, float_scores=fres.scores, extra=extra)


# --------------------------------------------------------------------------- report table and figure


def _title(stage: str) -> str:
    from ..report.tables import stage_title

    return stage_title(stage)


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
            "model": _title(stage),
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


def _fmt_energy(j: float) -> str:
    for unit, scale in (("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if j >= scale:
            return f"{j / scale:.3g} {unit}"
    return f"{j / 1e-12:.3g} pJ"


def plot_energy_table(rows: Sequence[Mapping[str, Any]], *, reference: float | None = None) -> Any:
    """The table as a figure (the HTML report embeds figures): one block of rows per model."""
    from ..report.style import hep_style, new_figure

    header = ["model", "accuracy", "T", "spikes", "synops / MACs", "device", "energy / inference",
              "vs ANN on GPU", "latency [steps]"]
    body = []
    for r in rows:
        acc = "–" if r.get("accuracy") is None else f"{r['accuracy'] * 100:.2f} %"
        body.append([
            r["model"], acc, "–" if r.get("timesteps") is None else str(r["timesteps"]),
            "–" if r.get("spikes") is None else f"{r['spikes']:.0f}",
            "–" if r.get("synops") is None else f"{r['synops']:.0f}",
            r["device"], _fmt_energy(r["energy_j"]),
            "–" if not reference else f"{r['energy_j'] / reference:.3g}",
            "–" if r.get("latency_steps") is None else str(r["latency_steps"]),
        ])
    with hep_style():
        fig = new_figure(8.6, 0.4 + 0.24 * (len(body) + 1))
        ax = fig.subplots()
        ax.axis("off")
        if body:
            table = ax.table(cellText=body, colLabels=header, loc="center", cellLoc="right", colLoc="right")
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            table.auto_set_column_width(list(range(len(header))))
            for (row, _col), cell in table.get_celld().items():
                if row == 0:
                    cell.set_facecolor("#eeeeee")
        else:
            ax.text(0.5, 0.5, "no energy figures", ha="center", va="center")
    return fig


def energy_plot_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for :func:`spikejet.hardware.energy_plot.plot_energy` (model, device, energy_j, accuracy)."""
    return [{"model": r["model"] if not r["device"].startswith("loihi + host") else f"{r['model']} + host",
             "device": "loihi" if r["device"].startswith("loihi + host") else r["device"],
             "energy_j": r["energy_j"], "accuracy": r["accuracy"]}
            for r in energy_table_rows(metrics)]


# --------------------------------------------------------------------------- the stage


def _source(ctx: Any, cfg: HardwareConfig) -> tuple[str, Any]:
    for stage in cfg.sources:
        if stage in ctx.models:
            return stage, spiking_network_of(ctx.models[stage], f"the {stage} model")
    have = [k for k in ctx.models if k != "ann"] or ["none"]
    raise ConfigError(
        f"the loihi stage found none of its source models ({', '.join(cfg.sources)}) in this run "
        f"(spiking models present: {', '.join(have)}); run a spiking stage first or set loihi.sources"
    )


def _stage_sizes(ctx: Any) -> dict[str, Sequence[int]]:
    sizes: dict[str, Sequence[int]] = {}
    for stage, model in ctx.models.items():
        if stage == "ann":
            s = getattr(getattr(model, "model", None), "sizes", None)
            if s is not None:
                sizes["ann"] = tuple(s)
            continue
        try:
            sizes[stage] = spiking_network_of(model).sizes
        except ModelError:
            continue
    return sizes


def loihi_stage(ctx: Any) -> None:
    """Map the run's best spiking model onto Loihi, score it, add energy/latency, figures, loihi.nir."""
    from ..runtime import ANN_TORCH_THREADS, torch_threads

    with torch_threads(ANN_TORCH_THREADS):
        _loihi_stage(ctx)


def _loihi_stage(ctx: Any) -> None:
    import numpy as np

    from ..io import write_json
    from ..report.figures.energy import plot_energy
    from ..report.figures.snn import plot_accuracy_vs_timesteps
    from ..report.html import ReportFigure

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
    ev = evaluate_on_loihi(
        net, X, y, timesteps=int(T), profile=cfg.profile, first_layer_offchip=cfg.first_layer_offchip,
        axon_delay=cfg.axon_delay, max_chips=cfg.max_chips, allow_reset_change=cfg.allow_reset_change,
        curve=cfg.curve, seed=ctx.seed_for(STAGE_NAME), time_per_step_s=cfg.time_per_step_s,
        time_per_step_source=cfg.time_per_step_source, host_device=cfg.host_device,
        compensate_delays=cfg.compensate_delays, log=ctx.log,
    )
    extra = {"source": source, **ev.extra}
    # ---- the quantized network as NIR (when NIR can express it)
    if cfg.write_nir:
        from ..interop.nir import mapping_to_nir, write_nir

        try:  # NIR has no reset by subtraction: the same opt-in as for loihi1 (recorded in the file)
            graph = mapping_to_nir(ev.mapping, net, allow_reset_change=cfg.allow_reset_change)
        except HardwareError as exc:
            extra["nir_file"] = None
            extra["nir_note"] = str(exc)
        else:
            write_nir(ctx.path(NIR_FILE), graph)
            extra["nir_file"] = NIR_FILE
            extra["nir_semantic_changes"] = graph.metadata["semantic_changes"]
            if graph.metadata["semantic_changes"] != "none":
                ctx.log(f"{NIR_FILE}: {graph.metadata['semantic_changes']} (NIR cannot reset by subtraction)")
    m = ctx.add_metrics(STAGE_NAME, y, ev.scores, class_names=classes, extra=extra)

    # ---- energy of the other models, the table and the plot
    changed = add_energy_estimates(ctx.metrics, _stage_sizes(ctx))
    if changed:
        write_json(ctx.path("metrics.json"), ctx.metrics)
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
    fig_path = ctx.path("figures/hardware_energy.png")
    plot_energy(energy_plot_rows(ctx.metrics), fig_path, title="energy per inference (in the spirit of the 2019 study's Fig. 9)")
    ctx.figures = [f for f in ctx.figures if f.name != "hardware_energy"]
    ctx.figures.append(ReportFigure(
        name="hardware_energy", path=fig_path, section="hardware",
        caption="Left: energy per inference per device and model (log scale). Right: test accuracy versus energy.",
    ))
    float_src = ctx.metrics.get(source, {}).get("accuracy")
    curves = {"Loihi integer model": {int(t): a for t, a in ev.extra["accuracy_vs_timesteps"].items()},
              "float SNN (same jets)": {int(t): a for t, a in ev.extra["float_accuracy_vs_timesteps"].items()}}
    ann_acc = ctx.metrics.get("ann", {}).get("accuracy", ev.extra["float_accuracy"])
    ctx.add_figure(
        "hardware_accuracy_vs_timesteps",
        plot_accuracy_vs_timesteps(curves, ann_accuracy=ann_acc, headline=("Loihi integer model", ev.timesteps,
                                                                          m["accuracy"])),
        f"Accuracy of the {cfg.profile} integer model of the {_title(source)} network and of the float network "
        f"on the same {ev.extra['n_jets_evaluated']} test jets versus T.",
        section="hardware",
    )
    res = ev.extra["resources"]
    ctx.log(
        f"Loihi ({cfg.profile}) test accuracy {m['accuracy'] * 100:.2f} % at T = {ev.timesteps} "
        f"(float {ev.extra['float_accuracy'] * 100:.2f} %{'' if float_src is None else f', stage {float_src * 100:.2f} %'}); "
        f"{res['cores']} cores; {ev.extra['energy_per_inference_j']['loihi'] * 1e9:.1f} nJ/inference on chip "
        f"= {ev.extra['energy_ratio_to_ann_gpu']:.3f} x the ANN on a GPU "
        f"({ev.extra['energy_with_host_ratio_to_ann_gpu']:.3f} x with the host's first layer)"
    )
