"""Issue 10 lever: distil the headline SNN from a stronger teacher than the ANN (docs/training.md).

Usage (from the repository root)::

    .venv/bin/python benchmarks/trigger_teachers.py --out /tmp/teachers

Runs ``load, split, train_ann, evaluate_ann, convert_snn`` (default preset, seed 1), trains
teachers on the same training jets -- a wide MLP 16-256-256-256-5, an ensemble of three such,
and an ensemble of five standard 16-64-32-32-5 MLPs (the run's ANN + four seeds) -- and scores
each against the ANN. Then trains the headline surrogate SNN with the ``default`` preset's recipe
from the run's QCFS network, distilled from the ANN's logits and from each ensemble's
log-probabilities (training seed 11, torch seed 7, as ``trigger_levers.py``), and scores the
exported network at T = 4 and 8 against the ANN: accuracy, AUC difference per class (points),
rejection at 50 % signal efficiency over the ANN's, synaptic operations per jet.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from _machine import torch_machine
from bench_trigger import trigger_metrics
from trigger_levers import default_start, gap_text, train_and_simulate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from spikejet.ann.model import build_mlp, predict_logits
    from spikejet.ann.train import train_ann
    from spikejet.runtime import single_thread

    print("machine:", torch_machine())
    cfg, start, ann, X, y, ref, _ = default_start(args.out / "run", args.seed)
    classes = tuple(ann.class_names)

    def show(name: str, s: dict) -> None:
        print(f"{name:34s} {gap_text(s, ref, classes)}", flush=True)

    def fit(hidden: tuple[int, ...], seed: int):
        c = dataclasses.replace(cfg.ann, hidden=hidden)
        torch.manual_seed(seed)
        m = build_mlp(c, X["train"].shape[1], len(classes))
        with single_thread():
            train_ann(m, X["train"], y["train"], X["val"], y["val"], c, seed=seed, progress=False)
        return m

    def ensemble(models):
        def logits(Xs):
            p = np.mean([torch.softmax(torch.as_tensor(predict_logits(m, Xs)), 1).numpy() for m in models], 0)
            return np.log(p + 1e-12)
        return logits

    show("ANN (reference)", ref)
    wide = [fit((256, 256, 256), s) for s in (3, 31, 32)]
    show("teacher: wide MLP 256x3", trigger_metrics(y["test"], predict_logits(wide[0], X["test"]), classes, args.seed))
    teachers = {"ANN": lambda Xs: predict_logits(ann.model, Xs), "3 wide MLPs": ensemble(wide),
                "5 standard MLPs": ensemble([ann.model] + [fit((64, 32, 32), s) for s in (21, 22, 23, 24)])}
    for name, f in list(teachers.items())[1:]:
        show(f"teacher: {name}", trigger_metrics(y["test"], f(X["test"]), classes, args.seed))
    for name, f in teachers.items():
        res, sec, _, _ = train_and_simulate(start, cfg.snn_surrogate, X, y, f(X["train"]))
        for T in (4, 8):
            s = trigger_metrics(y["test"], res.scores if T == 8 else res.scores_at[4], classes, args.seed)
            show(f"SNN <- {name}, T={T}, {res.synops_per_inference(T).sum():.0f} synops [{sec:.0f}s]", s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
