"""Time every stage of `spikejet run` and print the ANN's test accuracy and confusion matrix.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_run.py                       # default sample, default preset
    .venv/bin/python benchmarks/bench_run.py --preset seed-2019
    .venv/bin/python benchmarks/bench_run.py --set ann.learning_rate=1e-3 --set ann.l1=0
    .venv/bin/python benchmarks/bench_run.py --threads 2 --repeat 2

Runs ``--only`` (default ``evaluate_ann``: load -> split -> train_ann -> evaluate_ann ->
report, the ANN-only job). Prints the machine, the per-stage seconds (``run.json``'s ``stage_seconds``), the
ANN's test accuracy with its 68 % bootstrap interval, the normalized confusion
matrix, and the training summary. Uses a temporary run directory unless --out is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _machine import torch_machine


def _overrides(pairs: list[str]) -> dict:
    out: dict = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        section, _, name = key.partition(".")
        if not name:
            raise SystemExit(f"--set needs SECTION.KEY=VALUE, got {pair!r}")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--repeat", type=int, default=1, help="run the whole job this many times")
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    ap.add_argument("--only", default="evaluate_ann",
                    help="stages or groups, as `spikejet run --only` (default: evaluate_ann, i.e. "
                         "load -> split -> train_ann -> evaluate_ann -> report)")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from spikejet import run as pipeline
    from spikejet.config import resolve_config
    from spikejet.report.tables import format_comparison
    from spikejet.run.registry import select_stages

    cfg = resolve_config(None, preset=args.preset, seed=args.seed, quick=args.quick or None,
                         data_source=args.data, overrides=_overrides(args.set))
    from spikejet.runtime import ANN_TORCH_THREADS

    print(f"machine: {torch_machine()}; ANN stages use {ANN_TORCH_THREADS} torch thread(s)")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"config: preset {cfg.preset}, seed {cfg.seed}, quick {cfg.quick}, data {cfg.data.source}")
    print("ann: " + json.dumps(cfg.to_dict()["ann"]))
    stages = select_stages(cfg, only=[n for n in args.only.split(",") if n]).stages
    print(f"stages: {', '.join(stages)}")
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(args.out) if args.out else Path(tmp) / "run"
            t0 = time.perf_counter()
            ctx = pipeline.run(cfg, out, progress=False, overwrite=True, stages=stages)
            wall = time.perf_counter() - t0
        print(f"\n--- repeat {i + 1}/{args.repeat}: wall {wall:.1f} s")
        for k, v in ctx.timings.items():
            print(f"  {k:<14} {v:7.2f} s")
        h = ctx.histories["ann"]
        print(f"  ANN training: {h.epochs} epochs, best epoch {h.best_epoch}, {h.seconds:.1f} s "
              f"({h.seconds / max(h.epochs, 1):.2f} s/epoch), stopped early: {h.stopped_early}, "
              f"best val loss {min(h.val_loss):.4f}, val accuracy at best {h.val_accuracy[h.best_epoch - 1] * 100:.2f} %")
    m = ctx.metrics["ann"]
    lo, hi = m["accuracy_interval"]
    print(f"\nANN test accuracy: {m['accuracy'] * 100:.2f} % (68 % interval {lo * 100:.2f} - {hi * 100:.2f} %), "
          f"{ctx.data.split.test.size} test jets")
    classes = list(m["per_class_accuracy"])
    print("confusion matrix (rows: true, columns: predicted, % of true class):")
    print("       " + "".join(f"{c:>8}" for c in classes))
    for c, row in zip(classes, m["confusion_matrix"], strict=True):
        print(f"  {c:<5}" + "".join("     n/a" if v is None else f"{v * 100:8.1f}" for v in row))
    print("AUC per class: " + ", ".join(f"{c} {v * 100:.1f} %" for c, v in m["auc"].items() if v is not None))
    print()
    print(format_comparison(ctx.metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
