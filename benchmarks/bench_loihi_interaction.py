"""Loihi 2's integer model and the NIR graph of the spiking interaction network against its float model.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_loihi_interaction.py --model runs/<run>/snn_interaction.pt
    .venv/bin/python benchmarks/bench_loihi_interaction.py --ann runs/<run>/ann_particles.pt --epochs 2

``--model``: the ``snn_interaction`` stage's model file. ``--ann``: an ``ann_particles`` model file of
``model: interaction``, converted (``SpikingInteractionNet.from_interaction_net``, percentile 99.9)
and trained through time for ``--epochs`` on ``--train-jets`` seeded training jets (0: conversion
only). Either way (``split.npz`` beside the file, the particles from the run's data source): on a
seeded subset of the test jets, the float network's accuracy, the integer model's
(``hardware.loihi.interaction``) for every (input bits, clip) setting, the fraction of jets with the
float network's class, the largest logit difference, synops and resources; then the NIR graph's
size and the read-back's largest logit difference (``interop.nir_interaction``). ``--sensitivity``: how
many of the float network's decisions move with its inputs on the chip's grid or its weights x (1 +
0.1 % / 1 % noise) (docs/particles.md, "Loihi 2 and NIR for the spiking interaction network").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _machine import torch_machine


def _network(args, np):
    """(the spiking network, the model file's bundle, split) of ``--model`` or ``--ann``."""
    from spikejet.data import load
    from spikejet.models.file import load_bundle
    from spikejet.snn.interaction import SpikingInteractionNet, train_spiking_interaction

    path = Path(args.model or args.ann)
    b = load_bundle(path)
    split = np.load(path.with_name("split.npz"))
    table = load(b.config["data"]["source"], particles=True)
    if args.model:
        return b.model, b, table, split, int(b.arch["predict"]["T"])
    rng = np.random.default_rng(args.seed + 1)
    tr = np.sort(rng.choice(split["train"], min(max(args.train_jets, 2000), len(split["train"])), replace=False))
    va = np.sort(rng.choice(split["val"], min(3000, len(split["val"])), replace=False))
    train, val = b._particle_inputs(table.subset(tr)), b._particle_inputs(table.subset(va))
    net = SpikingInteractionNet.from_interaction_net(b.model, train)
    if args.epochs and args.train_jets:
        t0 = time.perf_counter()
        train_spiking_interaction(net, [a[: args.train_jets] for a in train], table.y[tr][: args.train_jets], val,
                                  table.y[va], T=args.T, epochs=args.epochs, learning_rate=1e-2, batch_size=256,
                                  patience=4, seed=args.seed)
        print(f"trained {args.epochs} epochs on {args.train_jets} jets in {time.perf_counter() - t0:.0f} s")
    return net, b, table, split, args.T


def _sensitivity(net, inputs, logits, mp, T, np, torch) -> None:
    """How many float decisions move with the inputs on the chip's grid, or the weights perturbed."""
    import copy

    from spikejet.snn.interaction import evaluate_spiking_interaction

    x = inputs[0]
    xq = (mp.input.quantize(x.reshape(-1, x.shape[-1])) * mp.input.step).reshape(x.shape).astype(np.float32)
    fq = evaluate_spiking_interaction(net, [xq, *inputs[1:]], T)["logits"]
    print(f"float, inputs on the {mp.input.bits}-bit grid clipped at {mp.input.clip:g}: same class "
          f"{np.mean(fq.argmax(1) == logits.argmax(1)) * 100:.2f} %")
    for eps in (1e-3, 1e-2):
        other = copy.deepcopy(net)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, w in other.named_parameters():
                if name.endswith("weight"):
                    w.mul_(1 + eps * torch.randn(w.shape, generator=gen))
        fp = evaluate_spiking_interaction(other, inputs, T)["logits"]
        print(f"float, weights x (1 + {eps:g} N(0, 1)): same class {np.mean(fp.argmax(1) == logits.argmax(1)) * 100:.2f} %")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="snn_interaction.pt of a run")
    src.add_argument("--ann", help="ann_particles.pt of a run with ann_particles.model = interaction")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-jets", type=int, default=5000)
    ap.add_argument("--T", type=int, default=4, help="time steps (with --ann)")
    ap.add_argument("--jets", type=int, default=2000, help="seeded subset of the test jets")
    ap.add_argument("--settings", nargs="+", default=["10:8", "12:8"], help="input bits:clip pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sensitivity", action="store_true",
                    help="also: the float network with its inputs on the chip's grid, or its weights perturbed")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from spikejet.hardware.loihi.interaction import (
        interaction_resources,
        map_interaction,
        simulate_interaction,
    )
    from spikejet.interop.nir import graph_bytes, graph_from_bytes
    from spikejet.interop.nir_interaction import interaction_from_nir, interaction_to_nir
    from spikejet.snn.interaction import evaluate_spiking_interaction

    torch.set_num_threads(1)
    print("machine:", torch_machine())
    net, b, table, split, T = _network(args, np)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(split["test"], min(args.jets, len(split["test"])), replace=False))
    inputs, y = b._particle_inputs(table.subset(rows)), table.y[rows]
    P = inputs[0].shape[1]
    f = evaluate_spiking_interaction(net, inputs, T)
    print(f"{len(rows)} test jets, {P} particles, T = {T}, sizes {net.edge_sizes} {net.node_sizes} {net.cls_sizes}: "
          f"float {np.mean(f['logits'].argmax(1) == y) * 100:.2f} %, {f['synops'].mean():.0f} synops")
    for setting in args.settings:
        bits, clip = setting.split(":")
        t0 = time.perf_counter()
        mp = map_interaction(net, n_particles=P, T=T, input_bits=int(bits), input_clip=float(clip))
        q = simulate_interaction(mp, inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None, T)
        res = interaction_resources(mp, P)
        print(f"{bits} bits, clip {clip}: Loihi 2 {np.mean(q['logits'].argmax(1) == y) * 100:.2f} %, same class as "
              f"float {np.mean(q['logits'].argmax(1) == f['logits'].argmax(1)) * 100:.2f} %, max |logit diff| "
              f"{np.abs(q['logits'] - f['logits']).max():.3f}, synops {q['synops'].mean():.0f} (float "
              f"{f['synops'].mean():.0f}), input synops {q['input_synops'].mean():.0f}, limited_by "
              f"{[r.limited_by for r in mp.quantization]} ({time.perf_counter() - t0:.1f} s)", flush=True)
    if args.sensitivity:
        _sensitivity(net, inputs, f["logits"], mp, T, np, torch)
    print(f"resources: {res['compartments']} compartments, {res['cores']} cores, {res['synapses']} synapses "
          f"({res['synapses_shared']} shared)")
    t0 = time.perf_counter()
    data = graph_bytes(interaction_to_nir(net, P, class_names=table.class_names))
    back = evaluate_spiking_interaction(interaction_from_nir(graph_from_bytes(data)), inputs, T)["logits"]
    print(f"NIR: {len(data)} bytes, read back: max |logit diff| {np.abs(back - f['logits']).max():.3g}, same class "
          f"{np.mean(back.argmax(1) == f['logits'].argmax(1)) * 100:.2f} % ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
