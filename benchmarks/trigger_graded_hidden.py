"""Graded spikes in the hidden layers (Loihi 2 payloads): does the T <= 8 gap to the ANN close?

Usage (from the repository root)::

    .venv/bin/python benchmarks/trigger_graded_hidden.py --out /tmp/graded --levels 1 2 4

The headline SNN's hidden neurons send binary spikes: at T steps a neuron can say T + 1 things,
and the trigger-metric gap of docs/training.md is that rate code's resolution (at T = 16-32 the
same network matches the ANN). Loihi 2 neurons can send a graded spike, an integer payload that
multiplies the weights (Intel, "Taking Neuromorphic Computing to the Next Level with Loihi 2",
technology brief, 2021; Lava's ``num_message_bits``). This lever gives every hidden neuron a
payload of up to ``K`` per step: an IF neuron with reset by subtraction that sends
``min(floor(v / theta), K)`` and subtracts that many thresholds (``K = 1``: the usual binary IF;
the surrogate gradient is the sum of the ``K`` shifted binary spikes' surrogates), so at T steps
it can say ``K T + 1`` things. A graded spike is one message however large its payload.

Runs ``load, split, train_ann, evaluate_ann, convert_snn`` (default preset, seed 1), then trains
the surrogate network with the ``snn_surrogate`` section's recipe (reset by subtraction: a
payload above 1 needs it) for each ``K`` and scores its read-out at T = 2, 4, 8 against the
ANN (``trigger_levers.gap_text``), with synaptic events per jet (messages x fan-out) and the
payload-weighted count (what binary spikes would need for the same information).
Float model only: the Loihi integer model, the simulator and NIR do not implement graded hidden
spikes (NIR has no graded spikes at all).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from _machine import torch_machine
from bench_trigger import trigger_metrics
from trigger_levers import default_start, fit_recipe, gap_text, recipe_text


def graded_net(start, options, K: int, per_message: bool):
    """A :class:`SurrogateNet` from ``start`` whose spiking layers send payloads ``0..K`` per step;
    ``per_message``: its ``synops`` (and so the penalty) count messages x fan-out, not payload x fan-out."""
    from spikejet.snn.train.surrogate import SurrogateNet, spike

    class GradedNet(SurrogateNet):
        def _spike_fn(self, relaxed: bool):
            o = self.options

            def spike_fn(v, th):
                first = spike((v - th) / th, o.surrogate, o.slope, relaxed=relaxed)
                s = first
                for k in range(2, K + 1):
                    s = s + spike((v - k * th) / th, o.surrogate, o.slope, relaxed=relaxed)
                self._messages.append(first)  # one message per non-zero payload
                return s

            return spike_fn

        def forward(self, x, T, **kw):
            self._messages = []
            out = super().forward(x, T, **kw)
            if self.per_message:  # synops = messages x fan-out (what the penalty then weighs)
                fan, L = self.fan_out(), self.n_spiking
                syn = x.new_zeros(x.shape[0])
                for i, m in enumerate(self._messages):
                    syn = syn + m @ fan[i % L]
                out = dataclasses.replace(out, synops=syn)
            self._messages = []
            return out

    net = GradedNet.from_network(start, options)
    net.per_message = per_message
    return net


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4], help="largest payload K per step")
    ap.add_argument("--train-T", type=int, default=None, help="snn_surrogate.timesteps (default: the section's)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--per-message", action="store_true", help="the synops penalty weighs messages x fan-out "
                    "(a graded spike is one message), not payload x fan-out")
    ap.add_argument("--synops-penalty", type=float, default=None, help="snn_surrogate.synops_penalty "
                    "(default: the section's; it weighs the payload-weighted count)")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from spikejet.runtime import single_thread

    print("machine:", torch_machine())
    cfg, start, ann, X, y, a, teacher = default_start(args.out / "run")
    classes = tuple(ann.class_names)
    print(f"ANN: accuracy {a['accuracy'] * 100:.2f} %")
    over = {"reset": "subtract"}
    if args.train_T is not None:
        over["timesteps"] = args.train_T
        over["loss_timesteps"] = tuple(t for t in cfg.snn_surrogate.loss_timesteps if t < args.train_T)
    if args.epochs is not None:
        over["epochs"] = args.epochs
    if args.synops_penalty is not None:
        over["synops_penalty"] = args.synops_penalty
    sc = dataclasses.replace(cfg.snn_surrogate, **over)
    print(recipe_text(sc))
    Xt = torch.as_tensor(X["test"], dtype=torch.float32)
    for K in args.levels:
        net, hist, sec = fit_recipe(graded_net, start, sc, X, y, teacher, K, args.per_message)
        with single_thread():
            net.eval()
            for T in (2, 4, 8):
                with torch.no_grad():
                    net.per_message = True
                    events = float(net(Xt, T).synops.mean())
                    net.per_message = False
                    out = net(Xt, T)
                net.per_message = args.per_message
                sm = trigger_metrics(y["test"], out.logits.numpy().astype(np.float64), classes, 1)
                print(f"K = {K} T = {T} {gap_text(sm, a, classes)} | synaptic events {events:.0f} "
                      f"(payload-weighted {float(out.synops.mean()):.0f}) [{sec:.0f} s, best epoch {hist.best_epoch}]",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
