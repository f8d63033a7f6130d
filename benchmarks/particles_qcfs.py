"""QCFS conversion of the deep sets (ANN-speed training instead of BPTT): a measured dead end.

Usage (from the repository root)::

    .venv/bin/python benchmarks/particles_qcfs.py --out /tmp/pqcfs

Runs ``load, split, train_ann, evaluate_ann, ann_particles`` (default preset, seed 1), replaces
the deep sets' ReLUs by QCFS activations (8 levels, thresholds at the 99.9th percentile of the
activations), fine-tunes that copy like the particle model (8 epochs, lr 1e-3), converts it to a
spiking deep sets (IF, thresholds = the QCFS lambdas, membranes at half) with reset by
subtraction and to zero, and scores each on the test jets at T = 4, 8, 16 against the deep sets
(docs/particles.md, "A lever that did not work").
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

from _machine import torch_machine
from bench_trigger import trigger_metrics
from trigger_levers import gap_text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from torch import nn

    from spikejet.ann.particle import ParticleTraining, train_particle_model
    from spikejet.ann.particle import predict_logits as particle_logits
    from spikejet.config import resolve_config
    from spikejet.data import load
    from spikejet.models.file import load_bundle
    from spikejet.run import run
    from spikejet.runtime import single_thread
    from spikejet.snn.convert.qcfs import QCFS
    from spikejet.snn.particle import (
        SpikingDeepSets,
        SpikingDeepSetsOptions,
        evaluate_spiking_deepsets,
    )

    print("machine:", torch_machine())
    cfg = resolve_config(preset="default", seed=1)
    with single_thread():
        state = run(cfg, args.out / "run", overwrite=True, progress=False,
                    stages=["load", "split", "train_ann", "evaluate_ann", "ann_particles"])
    b = load_bundle(args.out / "run" / "ann_particles.pt")
    ds = b.model
    table = load(cfg.data.source, particles=True)
    sp = state.data.split
    D = {k: b._particle_inputs(table.subset(r)) for k, r in (("train", sp.train), ("val", sp.val), ("test", sp.test))}
    Y = {k: table.y[r] for k, r in (("train", sp.train), ("val", sp.val), ("test", sp.test))}
    classes = tuple(table.class_names)
    ref = trigger_metrics(Y["test"], particle_logits(ds, D["test"]), classes, 1)
    print(f"deep sets: accuracy {ref['accuracy'] * 100:.2f} %")

    def show(name, s):
        print(f"{name:40s} {gap_text(s, ref, classes)}", flush=True)

    # thresholds: the 99.9th percentile of each activation's non-zero values on 5,000 training jets
    x, m, g = (torch.as_tensor(a[:5000]) for a in D["train"])
    acts = []
    with torch.no_grad():
        h = x
        for mod in ds.phi:
            h = mod(h)
            if isinstance(mod, nn.ReLU):
                acts.append(h[m.bool()])
        h = torch.cat([(h * m.unsqueeze(-1)).sum(1), g], 1)
        for mod in ds.rho:
            h = mod(h)
            if isinstance(mod, nn.ReLU):
                acts.append(h)
    ths = iter(float(np.percentile(a[a > 0].numpy(), 99.9)) for a in acts)
    q = copy.deepcopy(ds)
    for seq in (q.phi, q.rho):
        for i, mod in enumerate(seq):
            if isinstance(mod, nn.ReLU):
                seq[i] = QCFS(args.levels, next(ths))
    show(f"QCFS deep sets, L = {args.levels}, before fine-tuning", trigger_metrics(
        Y["test"], particle_logits(q, D["test"]), classes, 1))
    t0 = time.perf_counter()
    with single_thread():
        torch.manual_seed(5)
        train_particle_model(q, D["train"], Y["train"], D["val"], Y["val"],
                             ParticleTraining(epochs=args.epochs, learning_rate=1e-3, batch_size=256, patience=4, seed=5))
    show(f"QCFS deep sets fine-tuned ({time.perf_counter() - t0:.0f} s)",
         trigger_metrics(Y["test"], particle_logits(q, D["test"]), classes, 1))
    lams = [float(mod.lam.detach()) for seq in (q.phi, q.rho) for mod in seq if isinstance(mod, QCFS)]
    lin_phi = [mod for mod in q.phi if isinstance(mod, nn.Linear)]
    lin_rho = [mod for mod in q.rho if isinstance(mod, nn.Linear)]
    for reset in ("subtract", "zero"):
        net = SpikingDeepSets(ds.phi_sizes, ds.rho_sizes, ds.n_global,
                              SpikingDeepSetsOptions(neuron="if", reset=reset, v_init=0.5), thresholds=lams)
        with torch.no_grad():  # a spike stands for lambda: the next layer's weights times lambda
            for i, (dst, src) in enumerate(zip(net.phi, lin_phi, strict=True)):
                dst.weight.copy_(src.weight * (lams[i - 1] if i > 0 else 1.0))
                dst.bias.copy_(src.bias)
            for j, (dst, src) in enumerate(zip(net.rho, lin_rho, strict=True)):
                w = src.weight.clone()
                if j == 0:
                    w[:, : ds.phi_sizes[-1]] *= lams[len(lin_phi) - 1]
                else:
                    w *= lams[len(lin_phi) + j - 1]
                dst.weight.copy_(w)
                dst.bias.copy_(src.bias)
        for T in (4, 8, 16):
            with single_thread():
                r = evaluate_spiking_deepsets(net, D["test"], T)
            show(f"spiking, reset {reset}, T = {T} ({r['synops'].mean():.0f} synops)",
                 trigger_metrics(Y["test"], r["logits"], classes, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
