"""Pruned synapses: fewer synaptic operations at the accuracy of an unpenalized network?

Usage (from the repository root)::

    .venv/bin/python benchmarks/trigger_pruning.py --out /tmp/prune --sparsity 0 0.5 0.75 --synops-penalty 0

The headline SNN buys its synops (42 % of the ANN's MACs) with a synops penalty, and the penalty
costs the trigger metrics: without it the same recipe is within 0.2 points of the ANN's accuracy
at T = 8 but at 170 % of its MACs (``trigger_graded_hidden.py --levels 1 --synops-penalty 0``).
A synaptic operation is a spike times the *non-zero* synapses of its neuron (a chip stores and
walks only those), so pruning the weights cuts synops without silencing neurons. This lever
prunes, per layer after the first, the given fraction of the converted start network's weights
of smallest magnitude (one shot, the mask fixed), trains the surrogate network with the
``snn_surrogate`` section's recipe (overrides as given) under that mask, and scores its read-out
at T = 4 and 8 against the ANN (``trigger_levers.gap_text``) with synops per jet. The ANN's MACs
stay the dense 16-64-32-32-5 count of the issue's target; an ANN pruned alike would need fewer too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from _machine import torch_machine
from bench_trigger import trigger_metrics
from trigger_levers import default_start, fit_recipe, gap_text, recipe_text


def pruned_net(start, options, sparsity: float, first: bool = False):
    """A :class:`SurrogateNet` from ``start`` whose layers ``1..`` (and 0 with ``first``) keep the
    ``1 - sparsity`` largest-magnitude weights of ``start`` (a fixed mask on every use)."""
    import torch

    from spikejet.snn.train.surrogate import SurrogateNet

    class PrunedNet(SurrogateNet):
        def weight(self, i):
            w = super().weight(i)
            return w * self.masks[i]

    net = PrunedNet.from_network(start, options)
    masks = []
    for i, lin in enumerate(net.linears):
        w = lin.weight.detach().abs()
        if sparsity <= 0 or (i == 0 and not first):
            masks.append(torch.ones_like(w))
            continue
        k = int(round(sparsity * w.numel()))
        cut = w.flatten().kthvalue(k).values if k > 0 else w.min() - 1
        masks.append((w > cut).to(w.dtype))
    net.masks = masks
    return net


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.0, 0.5, 0.75])
    ap.add_argument("--first", action="store_true", help="prune the first layer too")
    ap.add_argument("--synops-penalty", type=float, default=None)
    ap.add_argument("--reset", default=None, help="snn_surrogate.reset (default: the section's)")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from spikejet.runtime import single_thread

    print("machine:", torch_machine())
    cfg, start, ann, X, y, a, teacher = default_start(args.out / "run")
    classes = tuple(ann.class_names)
    print(f"ANN: accuracy {a['accuracy'] * 100:.2f} %, 4256 MACs per jet")
    over = {}
    if args.synops_penalty is not None:
        over["synops_penalty"] = args.synops_penalty
    if args.reset is not None:
        over["reset"] = args.reset
    sc = dataclasses.replace(cfg.snn_surrogate, **over)
    print(recipe_text(sc))
    Xt = torch.as_tensor(X["test"], dtype=torch.float32)
    for sp in args.sparsity:
        net, hist, sec = fit_recipe(pruned_net, start, sc, X, y, teacher, sp, args.first)
        with single_thread():
            net.eval()
            kept = [int((net.weight(i) != 0).sum()) for i in range(net.n_layers)]
            for T in (4, 8):
                with torch.no_grad():
                    out = net(Xt, T)
                sm = trigger_metrics(y["test"], out.logits.numpy().astype(np.float64), classes, 1)
                print(f"sparsity {sp:g}{' (+ layer 0)' if args.first else ''} T = {T} {gap_text(sm, a, classes)} | "
                      f"synops {float(out.synops.mean()):.0f} | synapses kept {kept} [{sec:.0f} s, best epoch "
                      f"{hist.best_epoch}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
