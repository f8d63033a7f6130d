"""The interaction networks' recipe: ``spikejet run --only <stages>`` with some settings replaced.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/interaction_recipe.py --out /tmp/irecipe \\
        --variants base ann_interaction.n_particles=8,snn_interaction.n_particles=8 [--only ann_interaction]

Each variant (comma-separated ``section.key=value``; ``base``: none) is ``spikejet run --only
<--only, default interaction>`` (default preset, seed 1: load, split, ann_interaction and, unless
only that, snn_interaction) into ``OUT/<variant>``; it prints per model the test accuracy, the
per-class AUC, MACs or synops per jet, the best epoch and the stage's seconds (run.json).
docs/particles.md, "Interaction network and its spiking twin".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _machine import torch_machine
from particles_recipe import parse_variant


def _line(key: str, m: dict, seconds: float) -> str:
    auc = " / ".join(f"{m['auc'][c]:.4f}" for c in m["auc"])
    ops = (f"{m['synops_per_inference']:.0f} synops, {m['spikes_per_inference']:.0f} spikes, T = {m['timesteps']}, "
           f"start (val) {m['start_val_accuracy'] * 100:.2f} %" if "synops_per_inference" in m
           else f"{m['macs']:.0f} MACs")
    return (f"  {key}: {m['accuracy'] * 100:.2f} % (AUC {auc}), {ops}, best epoch {m['best_epoch']} of "
            f"{m['epochs']} on {m['train_jets']} jets, {seconds:.1f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=["base"])
    ap.add_argument("--only", default="interaction", help="stages or group to run (default: interaction)")
    args = ap.parse_args(argv)

    from spikejet.config import resolve_config
    from spikejet.run import run
    from spikejet.run.registry import select_stages

    print("machine:", torch_machine(), flush=True)
    for v in args.variants:
        cfg = resolve_config(parse_variant(v), preset="default", seed=1)
        out = args.out / v.replace(",", "_").replace("=", "")
        stages = [s for s in select_stages(cfg, only=args.only.split(",")).stages if s != "report"]
        run(cfg, out, overwrite=True, progress=False, stages=stages)
        m = json.loads((out / "metrics.json").read_text())
        secs = json.loads((out / "run.json").read_text())["stage_seconds"]
        print(f"{v}:", flush=True)
        for key in ("ann_interaction", "snn_interaction"):
            if key in m:
                print(_line(key, m[key], secs[key]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
