"""Distilling the spiking deep sets from the deep sets: the ``snn_particles`` stage at several
(distill_weight, temperature) settings, the rest of its recipe unchanged.

Usage (from the repository root)::

    .venv/bin/python benchmarks/particles_distill.py --out /tmp/pdistill --variants 0:2 0.5:2 0.9:2

Each variant is ``spikejet run --only snn_particles`` (default preset, seed 1: load, split,
ann_particles, snn_particles) with ``snn_particles: {distill_weight: a, temperature: t}``, into
``OUT/a<a>_t<t>``; it prints the deep sets' and the spiking network's test accuracy and per-class
AUC, the Loihi 2 integer model's accuracy (5,000 test jets), synops per jet, the best epoch and the
stage's seconds (docs/particles.md, "Distillation").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _machine import torch_machine


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=["0:2", "0.5:2", "0.9:2"],
                    help="distill_weight:temperature pairs")
    ap.add_argument("--epochs", type=int, default=None, help="snn_particles.epochs (default: the stage's)")
    args = ap.parse_args(argv)

    from spikejet.config import resolve_config
    from spikejet.run import run
    from spikejet.runtime import single_thread

    print("machine:", torch_machine())
    for v in args.variants:
        a, t = (float(x) for x in v.split(":"))
        sec = {"distill_weight": a, "temperature": t}
        if args.epochs is not None:
            sec["epochs"] = args.epochs
        cfg = resolve_config({"snn_particles": sec}, preset="default", seed=1)
        out = args.out / (f"a{a:g}_t{t:g}" + ("" if args.epochs is None else f"_e{args.epochs}"))
        with single_thread():
            run(cfg, out, overwrite=True, progress=False, stages=["snn_particles"])
        m = json.loads((out / "metrics.json").read_text())
        secs = json.loads((out / "run.json").read_text())["stage_seconds"]
        ds, sp = m["ann_particles"], m["snn_particles"]
        auc = " / ".join(f"{sp['auc'][c]:.4f}" for c in sp["auc"])
        print(f"a = {a:g}, t = {t:g}: deep sets {ds['accuracy'] * 100:.2f} %; spiking {sp['accuracy'] * 100:.2f} % "
              f"(AUC {auc}), Loihi {sp['loihi_accuracy'] * 100:.2f} % (float on the same jets "
              f"{sp['loihi']['float_accuracy_same_jets'] * 100:.2f} %), {sp['synops_per_inference']:.0f} synops, "
              f"best epoch {sp['best_epoch']} of {sp['epochs']}, {secs['snn_particles']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
