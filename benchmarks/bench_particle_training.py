"""Where the time of the ``snn_particles`` / ``snn_interaction`` stages goes, and what the fused IF kernel saves.

On the default sample (the run's split, seed 1): the time to build the particle inputs, the
share of padded slots, then per batch of spiking deep-sets training (forward and backward,
BPTT over T steps, started from a seeded deep-sets network) for

* ``autograd``: every IF step through autograd's graph, synops counted (the stage before issue 13
  phase 2),
* ``fused``: the IF step through the fused kernel (``spikejet.snn.particle._IFSubtractStep``), no
  counting in training (the stage now; the same numbers),

at batch 256 and T = 4, 8, and a profile of the operators of one fused batch. One torch thread.
Timings are medians of ``--batches`` batches; the machine's load is printed beside them (the
shared VM runs other work: compare the variants within one run, not across runs).

``--model interaction``: the same for the interaction networks at ``--particles`` leading
particles (default 8 and 16): the conventional ``InteractionNet`` (forward + backward per batch)
and the ``SpikingInteractionNet`` converted from it, fused and autograd, at T = 4.

    PYTHONPATH=src python benchmarks/bench_particle_training.py [--batches 5] [--jets 2048]
    PYTHONPATH=src python benchmarks/bench_particle_training.py --model interaction [--particles 8 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from _machine import torch_machine


def _inputs(n_jets: int, n_particles: int = 32):
    from spikejet.config import resolve_config
    from spikejet.run.registry import get_stage
    from spikejet.run.runner import run
    from spikejet.stages.particles import _inputs as stage_inputs
    from spikejet.stages.particles import particle_table

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        st = run(resolve_config(None), os.path.join(tmp, "run"), progress=False, stages=["split"])
        t1 = time.perf_counter()
        ctx = st.context(get_stage("snn_particles"), progress=False, log=print)
        table = particle_table(ctx)
        data, _ = stage_inputs(ctx, table, "deepsets", n_particles, True, None, ctx.data.split.train)
        t2 = time.perf_counter()
        y = table.y[ctx.data.split.train]
    print(f"load + split {t1 - t0:.1f} s; particle inputs (all splits) {t2 - t1:.1f} s")
    x, m, g = (a[:n_jets] for a in data["train"])
    real = data["train"][1].sum(1)
    print(f"training jets {len(real)}: mean real particles {real.mean():.2f} of {n_particles} "
          f"({100 * (1 - real.mean() / n_particles):.1f} % padded slots), "
          f"{100 * (real == n_particles).mean():.1f} % of jets full")
    return x, m, g, y[:n_jets]


def _time(net, tensors, y, *, batch: int, T: int, n: int, count: bool) -> tuple[float, float]:
    import torch.nn.functional as F

    fwd, bwd = [], []
    for i in range(n):
        sl = slice((i * batch) % (len(y) - batch), (i * batch) % (len(y) - batch) + batch)
        t0 = time.perf_counter()
        out = net(*(t[sl] for t in tensors), T=T, count=count)
        t1 = time.perf_counter()
        net.zero_grad()
        F.cross_entropy(out.logits, y[sl]).backward()
        fwd.append(t1 - t0)
        bwd.append(time.perf_counter() - t1)
    return float(np.median(fwd)), float(np.median(bwd))


def _ann_time(model, tensors, y, *, batch: int, n: int) -> tuple[float, float]:
    import torch.nn.functional as F

    fwd, bwd = [], []
    for i in range(n):
        sl = slice((i * batch) % (len(y) - batch), (i * batch) % (len(y) - batch) + batch)
        t0 = time.perf_counter()
        out = model(*(t[sl] for t in tensors))
        t1 = time.perf_counter()
        model.zero_grad()
        F.cross_entropy(out, y[sl]).backward()
        fwd.append(t1 - t0)
        bwd.append(time.perf_counter() - t1)
    return float(np.median(fwd)), float(np.median(bwd))


def interaction(args) -> None:
    """Per batch of 256: the interaction network and its spiking twin at T = 4, per particle count."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from spikejet.ann.particle import InteractionNet
    from spikejet.snn.interaction import SpikingInteractionNet

    n_epoch = 60000
    for n_p in args.particles:
        x, m, g, y = _inputs(args.jets, n_p)
        torch.manual_seed(0)
        ann = InteractionNet(x.shape[-1], n_global=16)
        net = SpikingInteractionNet.from_interaction_net(ann, [x, m, g])
        tensors = [torch.as_tensor(a) for a in (x, m, g)]
        yt = torch.as_tensor(y.astype(np.int64))
        f, b = _ann_time(ann, tensors, yt, batch=256, n=args.batches)
        print(f"P={n_p} InteractionNet batch 256: forward {f * 1e3:6.1f} ms, backward {b * 1e3:6.1f} ms "
              f"-> {(f + b) / 256 * n_epoch:5.1f} s per epoch of {n_epoch} jets (load {os.getloadavg()[0]:.1f})")
        for name, fused, count in (("autograd", False, True), ("fused", True, False)):
            net.fused = fused
            f, b = _time(net, tensors, yt, batch=256, T=4, n=args.batches, count=count)
            print(f"P={n_p} spiking T=4 batch 256 {name:8s}: forward {f * 1e3:6.1f} ms, backward {b * 1e3:6.1f} ms "
                  f"-> {(f + b) / 256 * n_epoch:5.1f} s per epoch (load {os.getloadavg()[0]:.1f})")
    net.fused = True
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _time(net, tensors, yt, batch=256, T=4, n=2, count=False)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--jets", type=int, default=2048)
    ap.add_argument("--model", choices=("deepsets", "interaction"), default="deepsets")
    ap.add_argument("--particles", type=int, nargs="+", default=[8, 16])
    args = ap.parse_args()
    import torch

    if args.model == "interaction":
        torch.set_num_threads(1)
        print(torch_machine())
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        return interaction(args)

    from spikejet.ann.particle import DeepSets
    from spikejet.snn.particle import SpikingDeepSets

    torch.set_num_threads(1)
    print(torch_machine())
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    x, m, g, y = _inputs(args.jets)
    torch.manual_seed(0)
    net = SpikingDeepSets.from_deepsets(DeepSets(x.shape[-1], (64, 64), (64,), 5, n_global=16), [x, m, g])
    tensors = [torch.as_tensor(a) for a in (x, m, g)]
    yt = torch.as_tensor(y.astype(np.int64))
    n_epoch = 60000
    for T in (8, 4):
        for name, fused, count in (("autograd", False, True), ("fused", True, False)):
            net.fused = fused
            f, b = _time(net, tensors, yt, batch=256, T=T, n=args.batches, count=count)
            print(f"T={T} batch 256 {name:8s}: forward {f * 1e3:6.1f} ms, backward {b * 1e3:6.1f} ms per batch "
                  f"-> {(f + b) / 256 * n_epoch:5.1f} s per epoch of {n_epoch} jets "
                  f"(load {os.getloadavg()[0]:.1f})")
    from torch.profiler import ProfilerActivity, profile

    net.fused = True
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _time(net, tensors, yt, batch=256, T=8, n=2, count=False)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
