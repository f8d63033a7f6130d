"""The image taggers alone on a sample: load, split, ``cnn_image``, ``snn_image`` through the runner.

Runs only those stages (``spikejet.run.runner.run(stages=["snn_image"])`` adds what it needs, as
``train-ann``/``train-snn`` ask for theirs) with the preset's settings, and prints the stage times,
the machine and its load, and the numbers of docs/particles.md ("Jet images"):

    PYTHONPATH=src python benchmarks/bench_image.py --out /tmp/bench_image [--quick] [--seed 1]
        [--set cnn_image.epochs=6 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import yaml
from _machine import torch_machine

KEYS = ("accuracy", "auc", "rejection", "macs", "timesteps", "synops_per_inference", "spikes_per_inference",
        "spikes_per_layer", "qcfs_accuracy", "conversion_gap", "loihi_accuracy", "loihi_float_accuracy",
        "loihi_agreement_with_float", "loihi_jets", "resources", "nir_accuracy", "nir_source_accuracy",
        "nir_accuracy_gap", "neuron_updates_per_inference", "input_macs_per_inference",
        "energy_per_inference_j", "train_jets", "epochs", "best_epoch", "qcfs_epochs")


def _overrides(pairs: list[str]) -> dict:
    out: dict = {}
    for p in pairs:
        key, _, value = p.partition("=")
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], help="section.key=value overrides")
    args = ap.parse_args()
    import torch

    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    torch.set_num_threads(1)
    cfg = resolve_config(_overrides(args.set), quick=args.quick, seed=args.seed)
    load = os.getloadavg()
    t0 = time.perf_counter()
    state = run(cfg, args.out, progress=False, stages=["snn_image"], overwrite=True)
    m = json.loads((args.out / "metrics.json").read_text())
    res = {k: {f: m[k][f] for f in KEYS if f in m[k]} for k in ("cnn_image", "snn_image")}
    res["stage_seconds"] = {k: round(v, 1) for k, v in state.timings.items()}
    res["seconds"] = round(time.perf_counter() - t0, 1)
    res["machine"] = torch_machine()
    res["load_average_before_after"] = [round(load[0], 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
