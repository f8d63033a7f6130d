"""Directly trained SNNs on one sample: the study's rate method, the surrogate method, the targets.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_train_snn.py                      # default sample, everything
    .venv/bin/python benchmarks/bench_train_snn.py --data jets.h5 --parts main,tsweep
    .venv/bin/python benchmarks/bench_train_snn.py --quick               # small subset, smoke check

Parts (``--parts``, comma separated; default all):

``main``    ``spikejet run`` (default preset) up to the SNN stages: ANN, conversion, rate and
            surrogate stages; prints the comparison table, stage seconds, the surrogate's
            accuracy and synaptic operations versus T, the penalty sweep, and the converted
            SNN's synaptic operations at the surrogate's accuracy.
``study``   the ``seed-2019`` preset's rate method (the study's protocol): accuracy without and
            with 5 ms synaptic filters, read at the end (the study's way) and averaged over the
            presentation, next to the study's 46.83 % / 65.08 %, and the firing rates.
``tsweep``  the surrogate stage's settings trained at T = 4, 8, 16 on the main run's split and
            ANN: test accuracy, gap to the ANN, synaptic operations, and the converted (QCFS)
            SNN's operations at the same accuracy -- the issue's target.
``timing``  seconds per training epoch and peak memory of surrogate training at T = 8..64
            on the full training split (one torch thread).

Prints the machine and every number; writes ``bench_train_snn.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

PARTS = ("main", "study", "tsweep", "timing")
#: The issue's target: within this many points (fraction) of the ANN at T <= TARGET_T.
TARGET_GAP = 0.005
TARGET_T = 16


def _machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}; {os.cpu_count()} logical CPUs; Python {platform.python_version()}; torch {torch.__version__} "
            f"({torch.get_num_threads()} threads); {platform.system()} {platform.release()}")


def _with_snn_stages():
    """The pipeline with the conversion and direct-training stages (inserted if not listed yet)."""
    from spikejet import pipeline
    from spikejet.snn import stage as conv
    from spikejet.snn import train_stage as ts

    have = set(pipeline.stage_names())
    extra = [pipeline.Stage(n, f) for n, f in (("convert_snn", conv.convert_stage), ("snn_rate", ts.snn_rate_stage),
                                                ("snn_surrogate", ts.snn_surrogate_stage)) if n not in have]
    if extra:
        pipeline.STAGES[:] = pipeline.STAGES[:-1] + extra + pipeline.STAGES[-1:]
    return pipeline


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.2f} %"


def _run(preset: str, args, out: Path, stages: tuple[str, ...]):
    from spikejet.config import resolve_config

    pipeline = _with_snn_stages()
    over: dict = {"data": {"max_jets": args.max_jets}} if args.max_jets else {}
    if args.quick and preset == "seed-2019":
        over["convert"] = {"timesteps": None}  # the study's 200 steps exceed --quick's 64
    cfg = resolve_config(preset=preset, seed=args.seed, quick=args.quick or None, data_source=args.data,
                         overrides=over or None)
    t0 = time.perf_counter()
    ctx = pipeline.run(cfg, out, overwrite=True, progress=False, stages=stages)
    return cfg, ctx, time.perf_counter() - t0


def part_main(args, out: Path, results: dict):
    from spikejet.report.tables import format_comparison

    stages = ("load", "split", "train_ann", "evaluate_ann", "convert_snn", "snn_rate", "snn_surrogate")
    cfg, ctx, sec = _run("default", args, out / "main", stages)
    print(f"\n== main: spikejet run (preset default) on {ctx.data_summary['n_jets']} jets, {sec:.0f} s")
    print(format_comparison(ctx.metrics))
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in ctx.timings.items()))
    s = ctx.metrics["snn_surrogate"]
    ann = ctx.metrics["ann"]["accuracy"]
    print(f"surrogate ({s['neuron']}, T = {s['timesteps']}): {_pct(s['accuracy'])} (ANN {_pct(ann)}, gap "
          f"{(ann - s['accuracy']) * 100:+.2f} points), {s['synops_per_inference']:.0f} synops/jet, "
          f"{s['spikes_per_inference']:.0f} spikes/jet, rates {', '.join(f'{k} {v:.0f} Hz' for k, v in s['firing_rate_hz'].items())}")
    print("  T: accuracy / synops  " + "  ".join(
        f"{p['timesteps']}: {p['accuracy'] * 100:.2f} / {p['synops']:.0f}" for p in s["accuracy_vs_synops"]["trained_vs_timesteps"]))
    print("  penalty sweep: " + "  ".join(
        f"{p['synops_penalty']:g}: {p['accuracy'] * 100:.2f} % / {p['synops']:.0f}" for p in s["accuracy_vs_synops"]["penalty_sweep"]))
    same = s.get("converted_at_same_accuracy")
    if same:
        print(f"  converted ({same['method']}) at {same['accuracy'] * 100:.2f} %: "
              f"T = {same['timesteps']}, {same['synops'] if same['synops'] is None else round(same['synops'])} synops/jet")
    r = ctx.metrics["snn_rate"]
    print(f"rate ({r['neuron']}, T = {r['timesteps']}): {_pct(r['accuracy'])}; " + ", ".join(
        f"{k} {v * 100:.2f} %" for k, v in r["accuracy_by_variant"].items()) + f"; {r['synops_per_inference']:.0f} synops/jet")
    results["main"] = {"n_jets": ctx.data_summary["n_jets"], "seconds": sec, "stage_seconds": ctx.timings,
                       "metrics": {k: {kk: vv for kk, vv in v.items() if kk not in ("confusion_matrix",)}
                                   for k, v in ctx.metrics.items()}}
    return ctx


def part_study(args, out: Path, results: dict) -> None:
    stages = ("load", "split", "train_ann", "evaluate_ann", "snn_rate")
    cfg, ctx, sec = _run("seed-2019", args, out / "study", stages)
    r = ctx.metrics["snn_rate"]
    rc = cfg.snn_rate
    print(f"\n== study: seed-2019 rate method ({rc.neuron}, max rate {rc.max_rate:g} Hz, amplitude {rc.amplitude:g}, "
          f"T = {rc.timesteps} x {rc.dt * 1e3:g} ms, filter {rc.synapse_tau}), {sec:.0f} s")
    print(f"ANN (seed-2019) {_pct(ctx.metrics['ann']['accuracy'])}; rate model {_pct(r['rate_model_accuracy'])}; "
          f"rates of the rate model {', '.join(f'{k} {v:.0f} Hz' for k, v in r['rate_model_firing_rate_hz'].items())}")
    for k, v in r["accuracy_by_variant"].items():
        print(f"  {k:22s} {v * 100:.2f} %")
    print(f"study: without filter 46.83 %, with filter 65.08 %; ours (read at the end): "
          f"{_pct(r['accuracy_without_filter'])}, {_pct(r['accuracy_with_filter'])}")
    print(f"spiking rates (with filter): {', '.join(f'{k} {v:.0f} Hz' for k, v in r['firing_rate_hz'].items())}; "
          f"{r['synops_per_inference']:.0f} synops/jet")
    results["study"] = {"seconds": sec, "ann_accuracy": ctx.metrics["ann"]["accuracy"],
                        "snn_rate": {k: v for k, v in r.items() if k != "confusion_matrix"}}


def part_tsweep(args, ctx, results: dict) -> None:
    import numpy as np
    import torch

    from spikejet.ann.train import torch_threads
    from spikejet.snn.simulate import simulate
    from spikejet.snn.surrogate import SurrogateNet, SurrogateOptions
    from spikejet.snn.train import train_surrogate

    cfg = ctx.config.snn_surrogate
    ann = ctx.metrics["ann"]["accuracy"]
    Xtr, ytr, Xva, yva, Xte, yte = (ctx.X["train"], ctx.y["train"], ctx.X["val"], ctx.y["val"], ctx.X["test"],
                                    ctx.y["test"])
    conv = ctx.models.get("snn_converted")
    conv_res = simulate(conv, Xte, 256) if conv is not None else None
    conv_acc = conv_res.accuracy(yte) if conv_res is not None else None
    print(f"\n== tsweep: surrogate settings of the default preset at T = 4, 8, 16 (ANN {_pct(ann)})")
    rows = []
    opts = SurrogateOptions(neuron=cfg.neuron, reset=cfg.reset, readout=cfg.readout, surrogate=cfg.surrogate,
                            slope=cfg.slope, learn_threshold=cfg.learn_threshold, learn_leak=cfg.learn_leak,
                            leak=cfg.leak, v_init=cfg.v_init, quantize=cfg.quantize, dt=cfg.dt)
    for T in (4, 8, 16):
        with torch_threads(1):
            torch.manual_seed(args.seed)
            net = SurrogateNet.from_mlp(ctx.models["ann"].model, Xtr, opts, percentile=cfg.percentile)
            t0 = time.perf_counter()
            train_surrogate(net, Xtr, ytr, Xva, yva, timesteps=T, epochs=cfg.epochs, learning_rate=cfg.learning_rate,
                            batch_size=cfg.batch_size, patience=cfg.patience, synops_penalty=cfg.synops_penalty,
                            seed=args.seed)
            sec = time.perf_counter() - t0
            res = simulate(net.to_network(), Xte, T, steps=[T])
        acc = res.accuracy_at(yte, T)
        syn = float(res.synops_per_inference(T).sum())
        row = {"timesteps": T, "accuracy": acc, "gap_points": (ann - acc) * 100, "synops": syn,
               "spikes": float(res.spikes_per_inference(T).sum()), "train_seconds": sec}
        if conv_acc is not None:
            ok = np.flatnonzero(conv_acc >= acc - 1e-12)
            row["converted_T"] = int(ok[0]) + 1 if ok.size else None
            row["converted_synops"] = float(conv_res.synops_per_inference(int(ok[0]) + 1).sum()) if ok.size else None
        rows.append(row)
        print(f"  T = {T:2d}: {acc * 100:.2f} % (gap {row['gap_points']:+.2f} points), {syn:.0f} synops/jet, "
              f"{row['spikes']:.0f} spikes/jet, trained in {sec:.0f} s; converted ({conv.meta.get('method') if conv else '-'}) "
              f"at this accuracy: T = {row.get('converted_T')}, {row.get('converted_synops')} synops/jet")
    best = [r for r in rows if r["timesteps"] <= TARGET_T and r["gap_points"] <= TARGET_GAP * 100]
    verdict = (f"met: T = {best[0]['timesteps']} within {TARGET_GAP * 100:g} points" if best
               else f"not met: no T <= {TARGET_T} within {TARGET_GAP * 100:g} points of the ANN")
    print(f"  target (within {TARGET_GAP * 100:g} points of the ANN at T <= {TARGET_T}): {verdict}")
    results["tsweep"] = {"ann_accuracy": ann, "rows": rows, "target": verdict}


def part_timing(args, ctx, results: dict) -> None:
    import torch

    from spikejet.ann.train import torch_threads
    from spikejet.snn.surrogate import SurrogateNet, SurrogateOptions
    from spikejet.snn.train import train_surrogate

    Xtr, ytr, Xva, yva = ctx.X["train"], ctx.y["train"], ctx.X["val"], ctx.y["val"]
    cfg = ctx.config.snn_surrogate
    print(f"\n== timing: one surrogate training epoch on {len(Xtr)} jets (batch {cfg.batch_size}, 1 thread)")
    rows = []
    for T in (8, 16, 32, 64):
        with torch_threads(1):
            torch.manual_seed(0)
            net = SurrogateNet.from_mlp(ctx.models["ann"].model, Xtr, SurrogateOptions(neuron=cfg.neuron))
            t0 = time.perf_counter()
            train_surrogate(net, Xtr, ytr, Xva[:2000], yva[:2000], timesteps=T, epochs=1,
                            batch_size=cfg.batch_size, seed=0)
            sec = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append({"timesteps": T, "seconds_per_epoch": sec, "peak_rss_mib": rss})
        print(f"  T = {T:2d}: {sec:.1f} s per epoch, peak memory of the process {rss:.0f} MiB")
    results["timing"] = rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default")
    ap.add_argument("--max-jets", type=int, default=None, help="seeded subset of the data")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the --quick settings of spikejet run")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--out", default=None, help="folder for the run directories and the JSON (default: temporary)")
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise SystemExit(f"unknown part {bad[0]!r}; parts are {', '.join(PARTS)}")

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_train_snn_"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {_machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    results: dict = {"machine": _machine(), "argv": sys.argv}
    ctx = None
    if "main" in parts or "tsweep" in parts or "timing" in parts:
        ctx = part_main(args, out, results)
    if "study" in parts:
        part_study(args, out, results)
    if "tsweep" in parts:
        part_tsweep(args, ctx, results)
    if "timing" in parts:
        part_timing(args, ctx, results)
    (out / "bench_train_snn.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\nresults: {out / 'bench_train_snn.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
