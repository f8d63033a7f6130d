"""Conversion accuracy: each ANN->SNN method versus time steps, against its ANN.

Runs the main job's stages load -> split -> train_ann -> evaluate_ann ->
convert_snn (the run's own config: ``--preset``, ``--seed``, ``--data``) into a
run directory, then prints from its ``metrics.json``:

* test accuracy of the ANN and of every conversion method at T = 1, 2, 4, ... 256
  (and the gap to the ANN in points);
* the smallest T within 1, 0.5 and 0.3 points of the ANN;
* synaptic operations and spikes per jet at the headline T, against the ANN's MACs.

    .venv/bin/python benchmarks/bench_convert.py                    # default sample, default preset
    .venv/bin/python benchmarks/bench_convert.py --seeds 1 2 3      # several seeds (split + init)
    .venv/bin/python benchmarks/bench_convert.py --data jets.h5 --preset seed-2019

The issue's targets: within 1 point of the ANN at T <= 16, within 0.3 points at T <= 64.
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
#: The issue's targets: (T, largest allowed gap to the ANN in points).
TARGETS = ((16, 1.0), (64, 0.3))


def run_one(data: str, preset: str, seed: int, out: Path, quick: bool) -> dict:
    import torch

    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    torch.set_num_threads(1)
    cfg = resolve_config(preset=preset, seed=seed, data_source=data, quick=quick)
    t0 = time.perf_counter()
    ctx = run(cfg, out, overwrite=True, progress=False, stages=STAGES)
    return {"metrics": ctx.metrics, "seconds": time.perf_counter() - t0, "timings": ctx.timings,
            "n_test": int(len(ctx.y["test"]))}


def table(m: dict) -> list[str]:
    snn = m["snn_converted"]
    ann = snn["reference_ann_accuracy"]
    methods = snn["methods"]
    ts = sorted({int(t) for v in methods.values() for t in v["accuracy_vs_timesteps"]})
    head = "| T | " + " | ".join(f"{k} (gap)" for k in methods) + " |"
    lines = [f"ANN test accuracy {ann * 100:.2f} %", "", head, "|---|" + "---|" * len(methods)]
    for t in ts:
        cells = []
        for v in methods.values():
            a = v["accuracy_vs_timesteps"].get(str(t))
            cells.append("" if a is None else f"{a * 100:.2f} ({(a - ann) * 100:+.2f})")
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines += ["", "| method | source ANN | T within 1 / 0.5 / 0.3 points | synops/jet | spikes/jet | firing Hz |",
              "|---|---|---|---|---|---|"]
    for k, v in methods.items():
        g = v["timesteps_within_gap"]
        rates = ", ".join(f"{r:.0f}" for r in v["firing_rate_hz"].values())
        lines.append(f"| {k} | {v['source_ann_accuracy'] * 100:.2f} | {g['1']} / {g['0.5']} / {g['0.3']} | "
                     f"{v['synops_per_inference']:,.0f} | {v['spikes_per_inference']:,.0f} | {rates} |")
    lines += ["", f"headline ({snn['method']}): {snn['accuracy'] * 100:.2f} % at T = {snn['timesteps']} "
                  f"({snn['timesteps_rule']}); ops counted at T = {snn['timesteps']}; "
                  f"ANN {snn['ann_macs']} MACs; constant-current first layer {snn['input_macs']} MACs"]
    for t, gap in TARGETS:
        for k, v in methods.items():
            a = v["accuracy_vs_timesteps"].get(str(t))
            if a is not None:
                ok = (ann - a) * 100 <= gap
                lines.append(f"target T = {t}, gap <= {gap} point: {k} {(a - ann) * 100:+.2f} -> "
                             f"{'met' if ok else 'NOT met'}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default", help="jets (default: the embedded default sample)")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--out", default="runs/bench_convert", help="run directories go under here")
    ap.add_argument("--quick", action="store_true", help="the --quick subset (smoke check)")
    ap.add_argument("--json", metavar="FILE", help="also write all metrics as JSON")
    args = ap.parse_args(argv)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    allm = {}
    for seed in args.seeds:
        r = run_one(args.data, args.preset, seed, Path(args.out) / f"{args.preset}-seed{seed}", args.quick)
        allm[seed] = r
        print(f"\n## data {args.data}, preset {args.preset}, seed {seed} ({r['n_test']} test jets, "
              f"{r['seconds']:.0f} s: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["timings"].items()) + ")\n")
        print("\n".join(table(r["metrics"])))
    if len(args.seeds) > 1:
        import numpy as np

        print("\n## mean over seeds: gap to the ANN in points (std)")
        methods = list(next(iter(allm.values()))["metrics"]["snn_converted"]["methods"])
        for t in (4, 8, 16, 32, 64, 256):
            row = []
            for k in methods:
                gaps = []
                for r in allm.values():
                    s = r["metrics"]["snn_converted"]
                    a = s["methods"][k]["accuracy_vs_timesteps"].get(str(t))
                    if a is not None:
                        gaps.append((a - s["reference_ann_accuracy"]) * 100)
                row.append(f"{k} {np.mean(gaps):+.2f} ({np.std(gaps):.2f})" if gaps else f"{k} n/a")
            print(f"T = {t:3d}: " + ", ".join(row))
    if args.json:
        Path(args.json).write_text(json.dumps({str(k): v["metrics"] for k, v in allm.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
