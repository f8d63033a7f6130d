"""Jet-generation speed per class and where the time goes (Pythia vs clustering vs features).

Runs one chunk per class in this process (no worker pool) and prints jets/s and the
share of the chunk's wall time spent in Pythia (``pythia.next()``), in reading the
final state + FastJet anti-kT clustering + selection + truth matching, in the 16
features, and in initialisation. Prints the machine it ran on.

    .venv/bin/python benchmarks/bench_generate.py [--jets 200] [--classes g,q,w,z,t]
        [--production direct|resonance|resonance-wz] [--detector none|cms] [--seed 1]

Numbers depend on the load of the machine: rerun on an idle one before quoting.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from _machine import cpu_model


def machine() -> str:
    cpu = cpu_model()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.node()} | {cpu} | {cores} cores | load(1 min) {load:.2f} | Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jets", type=int, default=200, help="jets per class (one chunk)")
    ap.add_argument("--classes", default="g,q,w,z,t")
    ap.add_argument("--production", default=None, choices=("direct", "resonance", "resonance-wz"),
                    help="default: GenerateConfig's")
    ap.add_argument("--detector", default=None, choices=("none", "cms"), help="default: GenerateConfig's")
    ap.add_argument("--constituents", type=int, default=0, help="particles stored per jet")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from spikejet.physics import events
    from spikejet.physics.config import GenerateConfig
    from spikejet.physics.generate import chunk_seeds
    from spikejet.physics.processes import tool_versions

    choices = {k: v for k, v in (("production", args.production), ("detector", args.detector)) if v}
    cfg = GenerateConfig(jets_per_class=args.jets, classes=args.classes, seed=args.seed, chunk_size=args.jets,
                         constituents=args.constituents, **choices)
    print(f"machine: {machine()}")
    print(f"tools: {tool_versions()}  production={cfg.production}  detector={cfg.detector}  window=[{cfg.pt_min:g},{cfg.pt_max:g}) GeV"
          f"  |eta|<{cfg.eta_max:g}  jets/class={args.jets}")
    head = f"{'class':>5} {'jets/s':>7} {'ms/jet':>7} {'events':>7} {'jets/evt':>8} {'unmatched':>9} " \
           f"{'pythia':>7} {'cluster':>7} {'features':>8} {'init':>6}"
    print(head)
    tot = {"pythia_s": 0.0, "clustering_s": 0.0, "features_s": 0.0, "init_s": 0.0, "total_s": 0.0}
    n_all = 0
    for cls in cfg.classes:
        t0 = time.perf_counter()
        d = events.generate_chunk(cfg, cls, args.jets, chunk_seeds(cfg.seed, cls, 0))
        wall = time.perf_counter() - t0
        tm = d.timing
        for k in tot:
            tot[k] += tm[k]
        n_all += len(d)
        share = {k: 100.0 * tm[k] / tm["total_s"] for k in ("pythia_s", "clustering_s", "features_s", "init_s")}
        kept = len(d) + d.stats["surplus"]
        print(f"{cls:>5} {len(d) / wall:7.1f} {1e3 * wall / len(d):7.1f} {d.stats['events']:7d} "
              f"{kept / d.stats['events']:8.2f} {d.stats['unmatched']:9d} "
              f"{share['pythia_s']:6.1f}% {share['clustering_s']:6.1f}% {share['features_s']:7.1f}% "
              f"{share['init_s']:5.1f}%")
    share = {k: 100.0 * tot[k] / tot["total_s"] for k in ("pythia_s", "clustering_s", "features_s", "init_s")}
    print(f"{'all':>5} {n_all / tot['total_s']:7.1f} {1e3 * tot['total_s'] / n_all:7.1f} {'':>7} {'':>8} {'':>9} "
          f"{share['pythia_s']:6.1f}% {share['clustering_s']:6.1f}% {share['features_s']:7.1f}% "
          f"{share['init_s']:5.1f}%")
    print("(cluster = read final state + FastJet anti-kT + selection + truth matching; one process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
