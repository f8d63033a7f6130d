"""Pileup generation: the pool's cost and multiplicity, the overlay's sizes, and a file's summary.

    .venv/bin/python benchmarks/bench_pileup.py pool [--events 200] [--mu 200]
        minimum-bias pool: ms per event (init excluded), visible particles per event and
        per unit of rapidity at |y| < 0.5; one overlay at MU: pileup particles in the
        event, and within R + 0.4 of a random jet axis (what enters the clustering)
    .venv/bin/python benchmarks/bench_pileup.py file FILE.h5
        a file written by 'spikejet generate --pileup MU': constituents per jet (hard /
        pileup; charged timed / charged untimed / neutral), jet pT and mass shift from
        the pileup (full - hard), and the generation time per jet from its provenance
        chunk timings (when the chunks were kept: --chunks DIR)

Numbers depend on the load of the machine: rerun on an idle one before quoting.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _machine import cpu_model


def bench_pool(n_events: int, mu: float) -> None:
    from spikejet.physics import events
    from spikejet.physics.config import JET_RADIUS, SQRT_S_GEV
    from spikejet.physics.pileup import OVERLAY_MARGIN, draw_overlay
    from spikejet.physics.timing import DEFAULT_TIMING

    t0 = time.perf_counter()
    events.make_pool(1, (1, 2), SQRT_S_GEV, events._new_pythia, events.visible_final_state, 100)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    pool = events.make_pool(n_events, (1, 2), SQRT_S_GEV, events._new_pythia, events.visible_final_state, 100)
    t_pool = time.perf_counter() - t0 - t_init
    central = (np.abs(pool.rap) < 0.5).sum() / n_events
    print(f"pool: {1000 * t_pool / n_events:.1f} ms/event (init {t_init:.1f} s excluded); "
          f"{len(pool.rows) / n_events:.0f} visible particles/event at |y| < 6.5, {central:.1f} per unit y at |y| < 0.5")
    rng = np.random.default_rng(0)
    if mu > 0 and n_events >= mu * 1.5:
        full, _ = draw_overlay(pool, rng, mu, False, DEFAULT_TIMING, None, 0.0)
        rng = np.random.default_rng(0)
        near, _ = draw_overlay(pool, rng, mu, False, DEFAULT_TIMING, np.array([[0.5, 1.0]]), JET_RADIUS + OVERLAY_MARGIN)
        print(f"overlay at MU = {mu:g}: {len(full)} pileup particles; {len(near)} within "
              f"R + {OVERLAY_MARGIN} of one jet axis at y = 0.5")


def bench_file(path: Path, chunks: Path | None) -> None:
    from spikejet.data.pileup import read_pileup

    s = read_pileup(path)
    n = len(s)
    jet = s.jet_index
    pu = s.origin != 0
    charged = s.charge != 0
    timed = charged & np.isfinite(s.t_ps)

    def per_jet(mask: np.ndarray) -> float:
        return float(np.bincount(jet[mask], minlength=n).mean())

    print(f"{path}: {n} jets ({', '.join(f'{c}={int((s.y == i).sum())}' for i, c in enumerate(s.class_names))}), "
          f"MU = {s.settings.get('mu')}, {path.stat().st_size / 1e6:.2f} MB")
    print(f"constituents per jet: {s.n_constituents.mean():.0f} (hard {per_jet(~pu):.0f}, pileup {per_jet(pu):.0f}); "
          f"charged timed {per_jet(timed):.0f}, charged untimed {per_jet(charged & ~timed):.0f}, "
          f"neutral {per_jet(~charged):.0f}; hard charged timed {per_jet(timed & ~pu):.0f}")
    dpt, dm = s.jet_pt - s.hard_pt, s.jet_mass - s.hard_mass
    print(f"pileup shift: pT {dpt.mean():+.0f} GeV (rms {dpt.std():.0f}), mass {dm.mean():+.0f} GeV "
          f"(rms {dm.std():.0f}); hard mass {np.median(s.hard_mass):.0f} -> full {np.median(s.jet_mass):.0f} GeV (median)")
    if chunks is not None:
        times, jets = [], 0
        for f in sorted(chunks.glob("*.npz")):
            with np.load(f, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
            times.append(meta["timing"]["total_s"])
            jets += meta["n"]
        print(f"chunks: {len(times)}, {np.mean(times):.0f} s per chunk (min {min(times):.0f}, max {max(times):.0f}), "
              f"{sum(times) / jets:.2f} s per jet (worker wall time, including the pool)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("pool")
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--mu", type=float, default=100.0)
    f = sub.add_parser("file")
    f.add_argument("path", type=Path)
    f.add_argument("--chunks", type=Path, default=None)
    args = ap.parse_args(argv)
    print(f"machine: {cpu_model()}")
    if args.what == "pool":
        bench_pool(args.events, args.mu)
    else:
        bench_file(args.path, args.chunks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
