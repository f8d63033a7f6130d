"""The measurements that chose the headline SNN's training recipe (docs/training.md, "The trigger recipe").

Usage (from the repository root)::

    .venv/bin/python benchmarks/trigger_levers.py --out /tmp/levers                 # every variant
    .venv/bin/python benchmarks/trigger_levers.py --out /tmp/levers --only zero,recipe

Runs ``load, split, train_ann, evaluate_ann, convert_snn`` once (default preset, seed 1; with
``--qcfs-levels 4`` also a 4-level conversion), then trains the surrogate network from the
converted (QCFS) network with the ``snn_surrogate`` section's settings replaced as each
variant says, and scores the exported network on the test split at T = 4 and 8 from
softmax(read-out) against the ANN's softmax: accuracy, AUC difference per class (points),
rejection at 50 % signal efficiency over the ANN's, synaptic operations per jet.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from _machine import torch_machine
from bench_trigger import trigger_metrics

BASE = {"epochs": 25, "learning_rate": 1e-3, "distill_weight": 0.0, "synops_penalty": 0.03, "loss_timesteps": ()}
RECIPE = {"reset": "zero", "loss_timesteps": (4,), "epochs": 50, "learning_rate": 3e-3, "distill_weight": 0.9,
          "synops_penalty": 0.05}
#: name -> (overrides of the section, QCFS levels of the start network)
VARIANTS: dict[str, tuple[dict, int]] = {
    "subtract": ({**BASE, "reset": "subtract"}, 8),
    "zero": ({**BASE, "reset": "zero"}, 8),
    "zero-kd0.5": ({**BASE, "reset": "zero", "distill_weight": 0.5}, 8),
    "zero-kd0.9": ({**BASE, "reset": "zero", "distill_weight": 0.9}, 8),
    "zero-L48-q4": ({**BASE, "reset": "zero", "loss_timesteps": (4,)}, 4),
    "zero-L48": ({**BASE, "reset": "zero", "loss_timesteps": (4,)}, 8),
    "zero-L48-q4-50ep": ({**BASE, "reset": "zero", "loss_timesteps": (4,), "epochs": 50}, 4),
    "zero-L48-50ep-kd0.9": ({**BASE, "reset": "zero", "loss_timesteps": (4,), "epochs": 50, "distill_weight": 0.9}, 8),
    "zero-L48-50ep-lr3e-3": ({**BASE, "reset": "zero", "loss_timesteps": (4,), "epochs": 50, "learning_rate": 3e-3}, 8),
    "zero-L48-50ep-pen0.1": ({**BASE, "reset": "zero", "loss_timesteps": (4,), "epochs": 50, "synops_penalty": 0.1}, 8),
    "zero-L48-50ep-lr3e-3-kd0.9": ({**RECIPE, "synops_penalty": 0.03}, 8),
    "recipe": (RECIPE, 8),
    "recipe-kd-t1": ({**RECIPE, "temperature": 1.0}, 8),
    "recipe-kd-t4": ({**RECIPE, "temperature": 4.0}, 8),
    "recipe-L2468": ({**RECIPE, "loss_timesteps": (2, 4, 6)}, 8),
    # the learning rate and early stopping (2 December 2026, third session; the particle recipe's lesson: lr 1e-3 -> 1e-2)
    "recipe-nostop": ({**RECIPE, "patience": 50}, 8),
    "recipe-lr1e-3-nostop": ({**RECIPE, "learning_rate": 1e-3, "patience": 50}, 8),
    "recipe-lr6e-3": ({**RECIPE, "learning_rate": 6e-3}, 8),
    "recipe-lr1e-2": ({**RECIPE, "learning_rate": 1e-2}, 8),
    "recipe-lr1e-2-nostop": ({**RECIPE, "learning_rate": 1e-2, "patience": 50}, 8),
}


def gap_text(s: dict, ref: dict, classes) -> str:
    """``acc A (gap) dAUC <class><pt> ... | R50 ratio <class><ratio> ...`` of scores ``s`` against ``ref``."""
    dauc = " ".join(f"{c}{(s['auc'][c] - ref['auc'][c]) * 100:+.2f}" for c in classes)
    rr = " ".join(f"{c}{s['rejection'][c]['0.5'] / ref['rejection'][c]['0.5']:.2f}" for c in classes)
    return (f"acc {s['accuracy'] * 100:.2f} ({(s['accuracy'] - ref['accuracy']) * 100:+.2f}) "
            f"dAUC {dauc} | R50 ratio {rr}")


def train_and_simulate(start, sc, X: dict, y: dict, teacher):
    """The surrogate SNN trained from the network ``start`` with section ``sc`` (torch seed 7,
    training seed 11; ``teacher`` logits used when ``sc`` distils), simulated on the test jets for
    8 steps with the read-out at 4 kept. Returns (simulation result, training seconds, history,
    the exported network)."""

    from spikejet.runtime import single_thread
    from spikejet.snn.simulate import Probes, simulate
    from spikejet.snn.train.surrogate import SurrogateNet

    net, hist, sec = fit_recipe(SurrogateNet.from_network, start, sc, X, y, teacher)
    with single_thread():
        snn = net.to_network()
        res = simulate(snn, X["test"], 8, seed=1, steps=[4, 8], probes=Probes(score_steps=(4,)))
    return res, sec, hist, snn


def fit_recipe(make_net, start, sc, X: dict, y: dict, teacher, *args):
    """``make_net(start, SurrogateOptions.from_config(sc), *args)`` (torch seed 7) trained with
    section ``sc`` (training seed 11, ``teacher`` logits when ``sc`` distils), one torch thread.
    Returns (network, history, training seconds)."""
    import torch

    from spikejet.runtime import single_thread
    from spikejet.snn.train.surrogate import SurrogateOptions, train_surrogate

    with single_thread():
        torch.manual_seed(7)
        net = make_net(start, SurrogateOptions.from_config(sc), *args)
        t0 = time.perf_counter()
        hist = train_surrogate(net, X["train"], y["train"], X["val"], y["val"], sc,
                               teacher_logits=teacher if sc.distill_weight > 0 else None, seed=11)
        return net, hist, time.perf_counter() - t0


def recipe_text(sc) -> str:
    """One line of the settings of section ``sc`` that a lever changes."""
    return (f"recipe: T {sc.timesteps}, loss steps {sc.loss_timesteps}, {sc.epochs} epochs, lr {sc.learning_rate}, "
            f"distill {sc.distill_weight} (t = {sc.temperature}), synops penalty {sc.synops_penalty}, reset {sc.reset}")


def default_start(out: Path, seed: int = 1, overrides: dict | None = None):
    """``load, split, train_ann, evaluate_ann, convert_snn`` of the default preset (with ``overrides``)
    into ``out``: (the run's config, the converted network, the ANN bundle, X, y, the ANN's trigger
    metrics on the test jets, the ANN's logits on the training jets -- the distillation teacher)."""
    from spikejet.ann.model import predict_logits
    from spikejet.config import resolve_config
    from spikejet.models.file import load_bundle
    from spikejet.run import run
    from spikejet.runtime import single_thread
    from spikejet.snn.bundle import load_network

    cfg = resolve_config(preset="default", seed=seed, overrides=overrides)
    with single_thread():
        state = run(cfg, out, overwrite=True, progress=False,
                    stages=["load", "split", "train_ann", "evaluate_ann", "convert_snn"])
    start = load_network(out / "snn_converted.pt")[0]
    ann = load_bundle(out / "ann.pt")
    X, y = state.data.X, state.data.y
    ref = trigger_metrics(y["test"], predict_logits(ann.model, X["test"]), tuple(ann.class_names), seed)
    return cfg, start, ann, X, y, ref, predict_logits(ann.model, X["train"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=None, help="comma-separated variant names (default: all)")
    args = ap.parse_args(argv)

    names = list(VARIANTS) if args.only is None else args.only.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    print("machine:", torch_machine())
    starts = {}
    for levels in sorted({VARIANTS[n][1] for n in names}):
        cfg, starts[levels], ann, X, y, a, teacher = default_start(
            args.out / f"run_q{levels}", args.seed, {"convert": {"qcfs_levels": levels, "compare": ["qcfs"]}})
    classes = tuple(ann.class_names)
    print(f"ANN: accuracy {a['accuracy'] * 100:.2f} %")
    for name in names:
        over, levels = VARIANTS[name]
        sc = dataclasses.replace(cfg.snn_surrogate, **over)
        res, sec, hist, _ = train_and_simulate(starts[levels], sc, X, y, teacher)
        for T in (4, 8):
            s = trigger_metrics(y["test"], res.scores if T == 8 else res.scores_at[4], classes, args.seed)
            print(f"{name:28s} T={T} {gap_text(s, a, classes)} | synops {res.synops_per_inference(T).sum():.0f} "
                  f"[{sec:.0f}s, best ep {hist.best_epoch}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
