"""Throughput of the 16 hls4ml jet-substructure features (spikejet.physics.features).

Measures jets per second of ``jet_features_batch`` (and of per-jet
``jet_features`` calls) on

* Pythia 8 jets: pp at 13 TeV, HardQCD with pTHat > 800 GeV plus top pairs,
  anti-kT R = 0.8 on visible final-state particles (tests/_pythia_jets.py);
* synthetic collimated jets with fixed constituent counts typical of 1 TeV jets
  (30 to 120 particles; random pT and (y, phi), so the grooming keeps most of
  them: a pessimistic case for the O(n^3) correlators).

Each number is the best of ``--repeat`` runs, single process. Prints the
machine so that anyone can rerun and compare:

    .venv/bin/python benchmarks/bench_features.py            # ~1-2 minutes
    .venv/bin/python benchmarks/bench_features.py --quick    # ~20 s
    .venv/bin/python benchmarks/bench_features.py --quick --fjcontrib   # + agreement
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from spikejet.physics.cluster import kinematics, mmdt_groom_many  # noqa: E402
from spikejet.physics.features import jet_features, jet_features_batch  # noqa: E402

#: Constituent counts of the synthetic jets.
SYNTHETIC_SIZES = (30, 50, 80, 120)
#: Jets to extrapolate to (the task's requirement: 100,000 jets in minutes).
TARGET_JETS = 100_000


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (
        f"{platform.platform()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | load avg {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} | "
        f"Python {platform.python_version()} | numpy {np.__version__}"
    )


def synthetic_jets(rng: np.random.Generator, n: int, count: int) -> list[np.ndarray]:
    out = []
    for _ in range(count):
        pt = rng.exponential(20.0, size=n) + 0.5
        y = 0.3 + rng.normal(0.0, 0.2, size=n)
        phi = 1.0 + rng.normal(0.0, 0.2, size=n)
        out.append(
            np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(y), pt * np.cosh(y)], 1)
        )
    return out


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def report(label: str, jets: list[np.ndarray], repeat: int, per_jet: bool) -> None:
    n = np.array([len(j) for j in jets])
    jet_features_batch(jets[:8])  # warm the index tables
    t_batch = best_of(lambda: jet_features_batch(jets), repeat)
    items = [(j, *kinematics(j)[1:]) for j in jets]
    t_groom = best_of(lambda: mmdt_groom_many(items), repeat)
    groomed = np.array([len(k) for k in mmdt_groom_many(items)])
    line = (
        f"{label:<28} jets {len(jets):5d}  n mean {n.mean():6.1f} (max {n.max():3d})  "
        f"groomed mean {groomed.mean():6.1f}  batch {len(jets) / t_batch:8.0f} jets/s "
        f"({1e3 * t_batch / len(jets):6.3f} ms/jet, of which C/A+grooming "
        f"{1e3 * t_groom / len(jets):6.3f})"
    )
    if per_jet:
        t_single = best_of(lambda: [jet_features(j) for j in jets], repeat)
        line += f"  per-jet calls {len(jets) / t_single:8.0f} jets/s"
    print(line)
    print(
        f"{'':<28} -> {TARGET_JETS:,} such jets: {TARGET_JETS * t_batch / len(jets) / 60:.1f} min "
        "on one core"
    )


def fjcontrib_agreement(jets: list[np.ndarray]) -> None:
    """Print the largest relative deviation from FastJet's fjcontrib, per feature."""
    from _pythia_jets import fjcontrib_reference
    from spikejet.physics.features import FEATURE_INDEX, mmdt_groom

    groomed, reference = fjcontrib_reference(jets)
    same = sum(
        np.array_equal(
            fj[np.lexsort(fj.T)], jet[mmdt_groom(jet)][np.lexsort(jet[mmdt_groom(jet)].T)]
        )
        for jet, fj in zip(jets, groomed, strict=True)
    )
    got = jet_features_batch(jets)
    print(f"fjcontrib check: identical groomed constituent sets for {same}/{len(jets)} jets")
    for name, ref in reference.items():
        ref = np.where(np.isnan(ref), 0.0, ref)
        mine = got[:, FEATURE_INDEX[name]]
        rel = np.abs(mine - ref) / np.maximum(np.abs(ref), np.finfo(float).tiny)
        print(f"  {name:<18} max |ours - fjcontrib| / |fjcontrib| = {rel.max():.1e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and jets")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument(
        "--fjcontrib", action="store_true", help="also print the agreement with FastJet fjcontrib"
    )
    args = parser.parse_args(argv)

    print("machine:", machine())
    from _pythia_jets import pythia_jets

    n_qcd, n_top, n_syn = (30, 8, 64) if args.quick else (150, 40, 256)
    t0 = time.perf_counter()
    jets = pythia_jets(n_qcd_events=n_qcd, n_top_events=n_top, seed=args.seed)
    print(f"generated {len(jets)} Pythia jets in {time.perf_counter() - t0:.1f} s")
    report("Pythia QCD + top jets", jets, args.repeat, per_jet=True)
    if args.fjcontrib:
        fjcontrib_agreement(jets)

    rng = np.random.default_rng(args.seed)
    for n in SYNTHETIC_SIZES:
        report(f"synthetic, n = {n}", synthetic_jets(rng, n, n_syn), args.repeat, per_jet=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
