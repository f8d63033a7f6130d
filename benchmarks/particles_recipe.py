"""The spiking deep sets' training recipe: the ``snn_particles`` stage with some of its settings replaced.

Usage (from the repository root)::

    .venv/bin/python benchmarks/particles_recipe.py --out /tmp/precipe \\
        --variants distill_weight=0.5 distill_weight=0.9 epochs=16 timesteps=4,epochs=16 --score-T 8

Each variant (comma-separated ``key=value`` of the ``snn_particles`` section, or ``section.key=value``
of another, e.g. ``ann_particles.epochs=40``; ``base``: none) is
``spikejet run --only snn_particles`` (default preset, seed 1 or ``--seed``: load, split, ann_particles,
snn_particles) into ``OUT/<variant>``; it prints the deep sets' and the spiking network's test
accuracy and per-class AUC at the stage's T, the Loihi 2 integer model's accuracy (5,000 test jets)
and its float twin's on the same jets, synops per jet, the best epoch and the stage's seconds, and,
with ``--score-T``, the saved model file scored at those T on all test jets (a network trained at
T = 4 read at T = 8, say). docs/particles.md, "The training recipe".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _machine import torch_machine


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "null": None}.get(text, text)


def parse_variant(text: str) -> dict:
    """``"epochs=16,ann_particles.epochs=40"`` -> ``{"snn_particles": {"epochs": 16}, "ann_particles":
    {"epochs": 40}}``: a key without a section is the ``snn_particles`` section's (``"base"``: {})."""
    out: dict = {}
    if text == "base":
        return out
    for item in text.split(","):
        key, v = item.split("=", 1)
        section, _, name = key.rpartition(".")
        out.setdefault(section or "snn_particles", {})[name] = _value(v)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=["base"])
    ap.add_argument("--seed", type=int, default=1, help="the run's seed (split, initialisations, batches)")
    ap.add_argument("--score-T", type=int, nargs="*", default=[], help="also score the model file at these T")
    args = ap.parse_args(argv)

    import numpy as np

    from spikejet.config import resolve_config
    from spikejet.data import load
    from spikejet.models.file import load_bundle
    from spikejet.run import run
    from spikejet.runtime import single_thread
    from spikejet.snn.particle import evaluate_spiking_deepsets

    print("machine:", torch_machine())
    for v in args.variants:
        cfg = resolve_config(parse_variant(v), preset="default", seed=args.seed)
        out = args.out / v.replace(",", "_").replace("=", "")
        with single_thread():
            state = run(cfg, out, overwrite=True, progress=False, stages=["snn_particles"])
        m = json.loads((out / "metrics.json").read_text())
        secs = json.loads((out / "run.json").read_text())["stage_seconds"]
        ds, sp = m["ann_particles"], m["snn_particles"]
        auc = " / ".join(f"{sp['auc'][c]:.4f}" for c in sp["auc"])
        lo = (f", Loihi {sp['loihi_accuracy'] * 100:.2f} % (float on the same jets "
              f"{sp['loihi']['float_accuracy_same_jets'] * 100:.2f} %)") if "loihi_accuracy" in sp else ""
        print(f"{v}: deep sets {ds['accuracy'] * 100:.2f} %; spiking at T = {sp['timesteps']} "
              f"{sp['accuracy'] * 100:.2f} % (AUC {auc}){lo}, {sp['synops_per_inference']:.0f} synops, "
              f"best epoch {sp['best_epoch']} of {sp['epochs']}, {secs['snn_particles']:.0f} s", flush=True)
        if args.score_T:
            b = load_bundle(out / "snn_particles.pt")
            table = load(cfg.data.source, particles=True).subset(state.data.split.test)
            inputs = b._particle_inputs(table)
            for T in args.score_T:
                with single_thread():
                    r = evaluate_spiking_deepsets(b.model, inputs, T)
                acc = float(np.mean(r["logits"].argmax(1) == table.y))
                print(f"    read at T = {T}: {acc * 100:.2f} %, {r['synops'].mean():.0f} synops", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
