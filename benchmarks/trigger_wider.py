"""Issue 10 lever: a wider spiking network under the same operations budget (docs/training.md).

Usage (from the repository root)::

    .venv/bin/python benchmarks/trigger_wider.py --out /tmp/wider --hidden 128,64,64 --penalties 0.05 0.1

The reference is the study's 16-64-32-32-5 MLP of the default run (seed 1) and the budget is in
its multiply-accumulates (4,256 per jet). For each ``--hidden`` widths the script runs ``load,
split, train_ann, evaluate_ann, convert_snn`` with ``ann.hidden`` set to them (the same split and
seeds), and trains the headline recipe (``default`` preset's ``snn_surrogate``) from that wider
QCFS network, distilled from the wider ANN, with the synops penalty given in units of the
*reference* MLP's MACs (the trainer normalizes by the network's own MACs, so the section's
penalty is scaled by ``MACs(wide) / MACs(reference)``). Scores the exported network on the test
jets at T = 4 and 8 against the reference MLP (``trigger_levers.gap_text``) with synops per jet and
their share of the reference MACs.
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
    ap.add_argument("--hidden", nargs="+", default=["128,64,64"], help="comma-separated hidden widths")
    ap.add_argument("--penalties", type=float, nargs="+", default=[0.05],
                    help="synops penalties in units of the reference MLP's MACs")
    args = ap.parse_args(argv)

    import numpy as np

    from spikejet.snn.network import count_ann_macs

    print("machine:", torch_machine())
    cfg, _, ann, X, y, ref, _ = default_start(args.out / "run_reference", args.seed)
    classes = tuple(ann.class_names)
    ref_macs = float(count_ann_macs([X["train"].shape[1], *cfg.ann.hidden, len(classes)]))
    print(f"reference MLP {list(cfg.ann.hidden)}: accuracy {ref['accuracy'] * 100:.2f} %, {ref_macs:.0f} MACs")
    for text in args.hidden:
        hidden = [int(h) for h in text.split(",")]
        wcfg, start, _, wX, wy, wide, teacher = default_start(args.out / f"run_{text.replace(',', '-')}", args.seed,
                                                              {"ann": {"hidden": hidden}})
        if not all(np.array_equal(wX[k], X[k]) and np.array_equal(wy[k], y[k]) for k in ("train", "val", "test")):
            raise SystemExit("the wider run's split differs from the reference run's")
        macs = float(count_ann_macs([X["train"].shape[1], *hidden, len(classes)]))
        print(f"wider MLP {hidden}: accuracy {wide['accuracy'] * 100:.2f} %, {macs:.0f} MACs "
              f"({macs / ref_macs:.2f} x the reference)", flush=True)
        for pen in args.penalties:
            sc = dataclasses.replace(wcfg.snn_surrogate, synops_penalty=pen * macs / ref_macs)
            res, sec, hist, _ = train_and_simulate(start, sc, X, y, teacher)
            for T in (4, 8):
                s = trigger_metrics(y["test"], res.scores if T == 8 else res.scores_at[4], classes, args.seed)
                ops = float(res.synops_per_inference(T).sum())
                print(f"{text} pen {pen:g} T={T} {gap_text(s, ref, classes)} | synops {ops:.0f} "
                      f"({ops / ref_macs * 100:.0f} % of the reference MACs) [{sec:.0f}s, best ep {hist.best_epoch}]",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
