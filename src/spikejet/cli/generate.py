"""spikejet generate: labelled jets from Pythia 8 + FastJet into spikejet's HDF5 format."""

from __future__ import annotations

import argparse

NAME = "generate"
HELP = "generate labelled jets (g, q, W, Z, top) with Pythia 8 + FastJet"

# Defaults are repeated here (not imported) so that `spikejet --help` stays light;
# tests/test_generate.py checks that they agree with spikejet.physics.config.
DEFAULT_PT_MIN = 900.0
DEFAULT_PT_MAX = 1100.0
DEFAULT_ETA_MAX = 2.0
DEFAULT_SEED = 2019
DEFAULT_CHUNK_SIZE = 500
PRODUCTIONS = ("direct", "resonance", "resonance-wz")
DETECTORS = ("none", "cms", "threshold")
LABELLINGS = ("match", "event")
DEFAULT_PRODUCTION = "resonance-wz"
DEFAULT_DETECTOR = "none"
DEFAULT_LABELLING = "match"
#: What ``--constituents`` without a number stores, and the largest N.
DEFAULT_CONSTITUENTS = 32
MAX_CONSTITUENTS = 200
DEFAULT_PILEUP_POOL = 2000
DEFAULT_TIMING_RESOLUTION_PS = 35.0
DEFAULT_FEATURE_PT_MIN = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jets-per-class", type=int, required=True, metavar="N", help="jets of each class")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="output file (spikejet HDF5)")
    parser.add_argument("--classes", default="g,q,w,z,t", help="comma-separated classes (default: g,q,w,z,t)")
    parser.add_argument("--pt-min", type=float, default=DEFAULT_PT_MIN, help="jet pT lower edge, GeV (default: %(default)s)")
    parser.add_argument("--pt-max", type=float, default=DEFAULT_PT_MAX, help="jet pT upper edge, GeV (default: %(default)s)")
    parser.add_argument("--eta-max", type=float, default=DEFAULT_ETA_MAX, help="jet |eta| limit (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="master seed (default: %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, metavar="K",
                        help="jets per chunk; finished chunks survive an interrupt (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="local worker processes (default: all cores)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the chunks on this dask.distributed scheduler (e.g. tcp://host:8786)")
    parser.add_argument("--constituents", type=int, nargs="?", const=DEFAULT_CONSTITUENTS, default=0,
                        metavar="N",
                        help=f"also store the N highest-pT constituents of every jet (pt, eta_rel, phi_rel, "
                             f"e, charge, pid; padded and masked); N defaults to {DEFAULT_CONSTITUENTS}, "
                             f"at most {MAX_CONSTITUENTS}")
    parser.add_argument("--production", choices=PRODUCTIONS, default=DEFAULT_PRODUCTION,
                        help="how W/Z/top are produced: direct 2->2 (q qbar -> WW/ZZ, tt) or from a heavy "
                             "resonance (Z' -> WW, W' -> WZ, Z' -> tt) (default: %(default)s; docs/physics.md)")
    parser.add_argument("--detector", choices=DETECTORS, default=DEFAULT_DETECTOR,
                        help="none: particle level; cms: simplified CMS-like detector (tracker + smeared "
                             "ECAL/HCAL cells, Delphes CMS card); threshold: particle level, only particles "
                             "with pT > 1 GeV (default: %(default)s)")
    parser.add_argument("--labelling", choices=LABELLINGS, default=DEFAULT_LABELLING,
                        help="match: keep jets matched to the truth particle (Delta R < 0.6); event: label "
                             "every selected jet by its process (default: %(default)s)")
    parser.add_argument("--pileup", type=float, default=0.0, metavar="MU",
                        help="overlay Poisson(MU) minimum-bias interactions on every event and store the "
                             "per-constituent origin, track z0 and time in the file's pileup/ group "
                             "(HL-LHC: 140-200; default: %(default)s = none; docs/pileup.md)")
    parser.add_argument("--out-of-time", action="store_true",
                        help="also Poisson(MU) interactions in the crossings at -25 and +25 ns")
    parser.add_argument("--pileup-pool", type=int, default=DEFAULT_PILEUP_POOL, metavar="N",
                        help="minimum-bias events generated per chunk and reused, each time with its own "
                             "vertex, rotation and reflection (default: %(default)s)")
    parser.add_argument("--timing-resolution", type=float, default=DEFAULT_TIMING_RESOLUTION_PS, metavar="PS",
                        help="per-track time resolution in ps (CMS MTD: 30-40 at the start of HL-LHC; "
                             "default: %(default)s)")
    parser.add_argument("--feature-pt-min", type=float, default=DEFAULT_FEATURE_PT_MIN, metavar="GEV",
                        help="with --pileup: compute the 16 features from the constituents above this pT "
                             "(all are stored; 0 = all, ~30 s per jet at MU 200) (default: %(default)s)")
    parser.add_argument("--keep-chunks", action="store_true", help="keep <out>.chunks/ after merging")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def run(args: argparse.Namespace) -> int:
    from ..physics.config import GenerateConfig
    from ..physics.generate import generate

    cfg = GenerateConfig(
        jets_per_class=args.jets_per_class,
        classes=args.classes,
        pt_min=args.pt_min,
        pt_max=args.pt_max,
        eta_max=args.eta_max,
        seed=args.seed,
        chunk_size=args.chunk_size,
        constituents=args.constituents,
        production=args.production,
        detector=args.detector,
        labelling=args.labelling,
        pileup=args.pileup,
        out_of_time=args.out_of_time,
        pileup_pool=args.pileup_pool,
        timing_resolution_ps=args.timing_resolution,
        feature_pt_min=args.feature_pt_min,
    )
    res = generate(
        cfg,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        quiet=args.quiet,
        keep_chunks=args.keep_chunks,
    )
    if not args.quiet:
        n = sum(res.counts.values())
        per = ", ".join(f"{c}={k}" for c, k in res.counts.items())
        unmatched = sum(s.get("unmatched", 0) for s in res.stats.values())
        what = "kept (--labelling event)" if args.labelling == "event" else "dropped"
        print(
            f"wrote {res.path}: {n} jets ({per}); {unmatched} unmatched jets {what}; "
            f"{res.chunks_reused}/{res.chunks_total} chunks reused; {res.wall_s:.1f} s"
        )
    return 0
