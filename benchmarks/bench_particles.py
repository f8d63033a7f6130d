"""Particle taggers on the default sample: accuracy versus the number of particles, and the baselines.

For n in --particles (default 8 16 32): the deep-sets network (with the 16 jet features, as the
``ann_particles`` stage) and its spiking counterpart started from it (as ``snn_particles``),
trained on the run's split (seed 1) with the stages' own code; then the particles-only deep
sets, the JEDI-style interaction network and the CNN on 16x16 images. Writes a JSON of every
number (accuracy, per-class AUC, MACs or synops, training seconds) and the figure
``accuracy_vs_particles.png``. Validation jets only select epochs; numbers are on the test split.

    PYTHONPATH=src python benchmarks/bench_particles.py --out /tmp/bench_particles [--snn-jets 30000]

The reduced curve of docs/particles.md (about 5 minutes on the shared 2-core VM):

    PYTHONPATH=src python benchmarks/bench_particles.py --out /tmp/bench_particles --ann-jets 20000 \
        --ann-epochs 10 --snn-jets 20000 --snn-epochs 3 --skip-baselines
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _machine import torch_machine


def _run(cfg_over: dict, stages: list[str], out: Path) -> dict:
    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    cfg = resolve_config(cfg_over)
    t0 = time.perf_counter()
    run(cfg, out, progress=False, stages=stages, overwrite=True)
    m = json.loads((out / "metrics.json").read_text())
    keep = ("accuracy", "auc", "rejection", "macs", "synops_per_inference", "timesteps", "loihi_accuracy",
            "train_jets", "epochs", "model", "n_particles", "jet_features")
    res = {k: {f: v[f] for f in keep if f in v} for k, v in m.items() if k in ("ann_particles", "snn_particles")}
    res["seconds"] = time.perf_counter() - t0
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--particles", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--snn-jets", type=int, default=None, help="spiking training jets (default: the stage's)")
    ap.add_argument("--snn-epochs", type=int, default=None)
    ap.add_argument("--ann-jets", type=int, default=None, help="deep-sets training jets (default: the stage's)")
    ap.add_argument("--ann-epochs", type=int, default=None)
    ap.add_argument("--baseline-jets", type=int, default=20000)
    ap.add_argument("--baseline-epochs", type=int, default=10)
    ap.add_argument("--skip-baselines", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": torch_machine(), "curve": {}, "baselines": {}}
    snn = {}
    if args.snn_jets:
        snn["max_train_jets"] = args.snn_jets
    if args.snn_epochs:
        snn["epochs"] = args.snn_epochs
    ann = {k: v for k, v in (("max_train_jets", args.ann_jets), ("epochs", args.ann_epochs)) if v}
    for n in args.particles:
        over = {"ann_particles": {"n_particles": n, **ann}, "snn_particles": snn}
        result["curve"][n] = _run(over, ["snn_particles"], args.out / f"run_p{n}")
        print(n, json.dumps({k: v.get("accuracy") for k, v in result["curve"][n].items() if isinstance(v, dict)}),
              flush=True)
    if not args.skip_baselines:
        for name, sec in (("deepsets_particles_only", {"model": "deepsets", "jet_features": False}),
                          ("interaction", {"model": "interaction", "jet_features": False}),
                          ("cnn", {"model": "cnn", "jet_features": False})):
            sec = {**sec, "max_train_jets": args.baseline_jets, "epochs": args.baseline_epochs}
            result["baselines"][name] = _run({"ann_particles": sec}, ["ann_particles"], args.out / f"run_{name}")
            print(name, result["baselines"][name]["ann_particles"]["accuracy"], flush=True)
    (args.out / "bench_particles.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    _figure(result, args.out / "accuracy_vs_particles.png")


def _figure(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(int(n) for n in result["curve"])
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for key, field, label in (("ann_particles", "accuracy", "deep sets (+16 jet features)"),
                              ("snn_particles", "accuracy", "spiking deep sets, T=8 (float)"),
                              ("snn_particles", "loihi_accuracy", "spiking deep sets, T=8 (Loihi 2 integers)")):
        acc = [result["curve"][n][key].get(field, np.nan) * 100 for n in ns]
        ax.plot(ns, acc, "o-" if field == "accuracy" else "s--", label=label)
    ax.axhline(74.87, color="grey", ls="--", label="16-feature MLP (74.87 %)")
    ax.set_xlabel("leading particles per jet")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xticks(ns)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print("figure", path, np.round([result["curve"][n]["ann_particles"]["accuracy"] for n in ns], 4))


if __name__ == "__main__":
    main()
