"""Loihi deployment: integer-model accuracy against the float SNN, energy and latency per inference.

Without ``--model`` it runs the main job's stages load -> split -> train_ann ->
evaluate_ann -> convert_snn on ``--data`` (default: the embedded default
sample) into a run directory, takes the converted network at its headline T
(or at each ``--timesteps``), maps it onto Loihi 1 and Loihi 2 (first layer
off-chip, as the 2019 study ran it) and runs the bit-level integer model on the
run's test split. With ``--model FILE`` it takes any spiking model file instead
(e.g. a surrogate-trained SNN) and the test jets beside it (``test.h5``) or
``--test FILE``.

Printed: the machine; the ANN's, the float SNN's and the integer model's test
accuracy (and the gaps in points); spikes, synaptic operations and neuron
updates per inference on chip and the off-chip first layer's MACs and updates;
energy per inference per device (keras-spiking model, docs/hardware.md) with the
host's first-layer cost stated separately; the ratio to the ANN on a GPU; the
latency in steps; and the issue's two targets:

* the Loihi model's accuracy within 0.5 points of the float SNN it comes from;
* energy per inference on Loihi at most 1/5 of the ANN's on the GPU, at an
  accuracy within 0.5 points of the ANN.

    .venv/bin/python benchmarks/bench_loihi.py                          # default sample, default preset
    .venv/bin/python benchmarks/bench_loihi.py --timesteps 16 32 64
    .venv/bin/python benchmarks/bench_loihi.py --model runs/x/snn_surrogate.pt
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

STAGES = ("load", "split", "train_ann", "evaluate_ann", "convert_snn")
PROFILES = ("loihi1", "loihi2")
#: The issue's targets.
MAX_GAP_TO_FLOAT_POINTS = 0.5
MAX_ENERGY_RATIO_TO_ANN_GPU = 1 / 5
MAX_GAP_TO_ANN_POINTS = 0.5


def _run_stages(data: str, preset: str, seed: int, out: Path, quick: bool):
    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    cfg = resolve_config(preset=preset, seed=seed, data_source=data, quick=quick)
    t0 = time.perf_counter()
    ctx = run(cfg, out, overwrite=True, progress=False, stages=STAGES)
    net = ctx.models["snn_converted"]
    ann = ctx.models["ann"]
    y = ann.labels(ctx.y["test"])
    info = {"source": f"convert_snn stage ({ctx.metrics['snn_converted']['method']}), run {out}",
            "T": int(ctx.metrics["snn_converted"]["timesteps"]), "ann_accuracy": ctx.metrics["ann"]["accuracy"],
            "stage_seconds": {k: round(v, 1) for k, v in ctx.timings.items()},
            "seconds": time.perf_counter() - t0, "test": f"{data}: test split ({len(y)} jets)"}
    return net, ctx.X["test"], y, info


def load_model_and_jets(model: str, test: str | None):
    """A spiking model file and its test jets (``test``, default: test.h5 beside it): (network,
    standardized features, task labels, info with the headline T and the test description)."""
    from spikejet.data import load
    from spikejet.models.file import apply_scaler
    from spikejet.snn.bundle import load_network

    net, T, bundle = load_network(model)
    test = test or str(Path(model).with_name("test.h5"))
    table = load(test)
    bundle.check_table(table.feature_names, table.class_names, where=f"data {test}")
    metrics_file = Path(model).with_name("metrics.json")
    ann_acc = None
    if metrics_file.is_file():
        ann_acc = json.loads(metrics_file.read_text()).get("ann", {}).get("accuracy")
    info = {"source": f"{model} ({bundle.kind})", "T": T, "ann_accuracy": ann_acc,
            "test": f"{test} ({len(table)} jets)"}
    return net, apply_scaler(bundle.scaler, table.X), bundle.labels(table.y), info


def _pct(x) -> str:
    return "n/a" if x is None else f"{x * 100:.2f} %"


def report(profile: str, T: int, ev, info: dict) -> list[str]:
    e = ev.extra
    loihi_acc = e["accuracy_vs_timesteps"][str(T)]
    ann = info["ann_accuracy"]
    comp = "with" if e["delay_bias_compensation"] else "without"
    lines = [f"### {profile}, T = {T} ({comp} delay-bias compensation)", ""]
    lines.append(f"accuracy: ANN {_pct(ann)}, float SNN {_pct(e['float_accuracy'])}, integer model {_pct(loihi_acc)} "
                 f"(gap to float {e['accuracy_gap_to_float'] * 100:+.2f} points, same class for "
                 f"{e['agreement_with_float'] * 100:.2f} % of jets"
                 + ("" if ann is None else f"; gap to ANN {(loihi_acc - ann) * 100:+.2f} points") + ")")
    curve = ", ".join(f"T={t}: {a * 100:.2f}" for t, a in e["accuracy_vs_timesteps"].items())
    lines.append(f"integer model accuracy vs T: {curve}")
    q = "; ".join(f"{x['name']}: w_exp {x['weight_exp']}, w rms err {x['weight_rel_rms_err'] * 100:.2f} %, "
                  f"thr err {x['threshold_rel_err'] * 100:.3f} %, reset {x['reset']}"
                  + (" (changed)" if x["reset_changed"] else "") for x in e["quantization"])
    lines.append(f"quantization: {q}")
    r = e["resources"]
    lines.append(f"resources: {r['compartments']} compartments, {r['synapses']} synapses, {r['cores']} cores, "
                 f"{r['chips']} chip")
    off = e["offchip_per_inference"]
    lines.append(f"per inference on chip: {e['spikes_per_inference']:.1f} spikes, {e['synops_per_inference']:.0f} "
                 f"synaptic ops, {e['neuron_updates_per_inference']:.0f} neuron updates; off-chip first layer: "
                 f"{off['spikes']:.1f} spikes, {off['macs']:.0f} MACs, {off['neuron_updates']:.0f} neuron updates")
    lines.append("energy per inference, chip: " + ", ".join(f"{d} {j * 1e9:.1f} nJ"
                                                         for d, j in e["energy_per_inference_j"].items()))
    lines.append("energy per inference, off-chip first layer (host): "
                 + ", ".join(f"{d} {j * 1e9:.1f} nJ" for d, j in e["host_energy_per_inference_j"].items()))
    ann_e = e["ann_energy_per_inference_j"]
    lines.append("ANN (same sizes, dense): " + ", ".join(f"{d} {j * 1e9:.1f} nJ" for d, j in ann_e.items()))
    chip = e["energy_per_inference_j"]["loihi"]
    gpu = ann_e["gpu"]
    lines.append(f"ratio to the ANN on a GPU: chip {chip / gpu:.3f}; chip + host on cpu "
                 f"{(chip + e['host_energy_per_inference_j']['cpu']) / gpu:.3f}; chip + host on gpu "
                 f"{(chip + e['host_energy_per_inference_j']['gpu']) / gpu:.3f}")
    lines.append(f"latency: {e['latency']['steps']} steps (T = {T} + {e['latency']['delay_steps']} axon delays); "
                 f"{e['latency']['assumption']}")
    gap_f = abs(e["accuracy_gap_to_float"]) * 100
    lines.append(f"target: within {MAX_GAP_TO_FLOAT_POINTS} points of the float SNN: {gap_f:.2f} points -> "
                 f"{'met' if gap_f <= MAX_GAP_TO_FLOAT_POINTS else 'NOT met'}")
    if ann is not None:
        gap_a = (ann - loihi_acc) * 100
        ok = chip / gpu <= MAX_ENERGY_RATIO_TO_ANN_GPU and gap_a <= MAX_GAP_TO_ANN_POINTS
        lines.append(f"target: chip energy <= 1/5 of the ANN on GPU ({chip / gpu:.3f}) at <= "
                     f"{MAX_GAP_TO_ANN_POINTS} points below the ANN ({gap_a:.2f} points below) -> "
                     f"{'met' if ok else 'NOT met'}")
    lines.append(f"({ev.extra['n_jets_evaluated']} jets, {info.get('loihi_seconds', 0):.0f} s)")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default", help="jets for the run (default: the embedded default sample)")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the --quick subset (smoke check)")
    ap.add_argument("--out", default="runs/bench_loihi", help="run directory (without --model)")
    ap.add_argument("--model", help="any spiking model file instead of training + converting")
    ap.add_argument("--test", help="test jets for --model (default: test.h5 beside it)")
    ap.add_argument("--timesteps", type=int, nargs="+", help="T values (default: the model's headline T)")
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=PROFILES)
    ap.add_argument("--max-jets", type=int, default=None, help="evaluate a seeded subset of the test jets")
    ap.add_argument("--no-delay-compensation", action="store_true",
                    help="run the plain chip (no delay-bias compensation; docs/hardware.md)")
    ap.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from spikejet.hardware.loihi.evaluate import evaluate_on_loihi

    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, torch {torch.__version__}, 1 torch thread")
    if args.model:
        net, X, y, info = load_model_and_jets(args.model, args.test)
    else:
        net, X, y, info = _run_stages(args.data, args.preset, args.seed, Path(args.out) / f"{args.preset}-seed{args.seed}",
                                      args.quick)
    if args.max_jets is not None and args.max_jets < len(y):
        rows = np.sort(np.random.default_rng(0).choice(len(y), args.max_jets, replace=False))
        X, y = X[rows], y[rows]
        info["test"] += f", subset of {len(y)}"
    print(f"model: {info['source']}; {'-'.join(map(str, net.sizes))}, "
          f"{type(net.layers[0].neuron).__name__} neurons, reset {getattr(net.layers[0].neuron, 'reset', '?')}, "
          f"read-out {net.readout.kind}; headline T = {info['T']}")
    print(f"test jets: {info['test']}")
    if "stage_seconds" in info:
        print(f"run stages: {info['stage_seconds']} ({info['seconds']:.0f} s)")
    results = {}
    for T in args.timesteps or [info["T"]]:
        for profile in args.profiles:
            t0 = time.perf_counter()
            ev = evaluate_on_loihi(net, X, y, timesteps=T, profile=profile, seed=args.seed, first_layer_offchip=True,
                                   host_device="cpu", compensate_delays=not args.no_delay_compensation)
            info["loihi_seconds"] = time.perf_counter() - t0
            print()
            print("\n".join(report(profile, T, ev, info)))
            results[f"{profile}-T{T}"] = ev.extra
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "results": results}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
