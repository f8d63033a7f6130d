"""spikejet run: the whole study on one command, into a run directory with a report."""

from __future__ import annotations

import argparse
import sys

NAME = "run"
HELP = ("run the whole study (load -> split -> ANN -> ANN->SNN conversion -> rate and surrogate SNN "
        "training -> Loihi model -> report) into a run directory")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by 'run' and 'train-ann'."""
    parser.add_argument("--data", metavar="FILE", default=None,
                        help="jets to use: 'default' (the embedded sample, the default), 'openml', or a file "
                             "(.h5, .csv, .parquet, .arff, Zenodo .h5)")
    parser.add_argument("--config", metavar="FILE.yaml", default=None,
                        help="YAML file with config sections (data:, ann:, evaluate:, ...) over the preset")
    parser.add_argument("--preset", default=None, metavar="NAME",
                        help="starting settings: 'default' (our best) or 'seed-2019' (the 2019 study's)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="run directory (default: runs/<preset>-seed<N>[-quick])")
    parser.add_argument("--quick", action="store_true", default=None,
                        help="small subset and few epochs: the whole chain in seconds (smoke checks)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (same seed + config = same numbers)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a different run that --out holds")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or stage messages")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--only", metavar="STAGES", default="",
                        help="run only these stages or groups (comma-separated; e.g. 'particles'), with the "
                             "stages they need and the report")
    parser.add_argument("--skip", metavar="STAGES", default="",
                        help="skip these stages or groups (comma-separated; e.g. 'particles,fpga'); a stage "
                             "that needs a skipped one is skipped too")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="processes: 2 runs the particle-level study beside the other stages (the same "
                             "results, about half the time on two cores); 1 runs everything in one; default: "
                             "2 where two CPUs are available")


def _names(value: str) -> list[str]:
    return [n for n in (v.strip() for v in value.split(",")) if n]


def config_from_args(args: argparse.Namespace):  # -> RunConfig
    from spikejet.config import load_config_file, resolve_config

    file_values = load_config_file(args.config) if args.config else None
    return resolve_config(file_values, preset=args.preset, seed=args.seed, quick=args.quick, data_source=args.data)


def default_out(cfg) -> str:
    return f"runs/{cfg.preset}-seed{cfg.seed}{'-quick' if cfg.quick else ''}"


def print_timings(timings: dict[str, float], *, wall: float | None = None, workers: int = 1) -> None:
    total = sum(timings.values())
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    tail = f"; {wall:.1f} s wall-clock on {workers} processes" if wall is not None and workers > 1 else ""
    print(f"stages: {parts} (total {total:.1f} s{tail})")


def run(args: argparse.Namespace) -> int:
    from spikejet import run as pipeline
    from spikejet.errors import ConfigError
    from spikejet.report.tables import format_comparison
    from spikejet.run.registry import select_stages
    from spikejet.runtime import default_jobs

    cfg = config_from_args(args)
    out = args.out or default_out(cfg)
    chosen = select_stages(cfg, only=_names(args.only), skip=_names(args.skip))
    for note in chosen.notes:
        print(f"spikejet: {note}", file=sys.stderr)
    stages = None if not (args.only or args.skip) else chosen.stages
    jobs = default_jobs() if args.jobs is None else args.jobs
    if jobs not in (1, 2):
        raise ConfigError(f"--jobs must be 1 or 2 (the run has two kinds of work to overlap), got {jobs}")
    ctx = pipeline.run(cfg, out, overwrite=args.overwrite, progress=not args.quiet, stages=stages, jobs=jobs)
    print(format_comparison(ctx.metrics, interval=cfg.evaluate.interval))
    print_timings(ctx.timings, wall=ctx.wall_seconds, workers=ctx.workers)
    print(f"run directory: {ctx.run_dir}  (report: {ctx.run_dir / pipeline.REPORT_FILE})")
    sys.stdout.flush()
    return 0
