"""spikejet evaluate: score a saved model on a jet file (metrics.json, figures, report)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "evaluate"
HELP = "score a saved model on a jet file: metrics.json, figures and report.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model file written by 'spikejet run' or 'train-ann' (e.g. runs/.../ann.pt)")
    parser.add_argument("--data", metavar="FILE", required=True,
                        help="jets to score: any file spikejet reads (e.g. a run's test.h5), or 'default'")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output directory (default: runs/evaluate-<model>-<data>)")
    parser.add_argument("--seed", type=int, default=None,
                        help="bootstrap seed (default: the seed of the run that made the model)")
    parser.add_argument("--overwrite", action="store_true", help="replace a different result that --out holds")
    parser.add_argument("--chunk-size", type=int, default=None, metavar="N",
                        help="stream a spikejet .h5 in chunks of N jets instead of loading it "
                             "(for files larger than memory; same metrics)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="score the chunks on a Dask cluster: a scheduler address (tcp://host:8786) "
                             "or 'local' (starts 2 local workers); implies chunked reading")
    parser.add_argument("--quiet", action="store_true", help="no stage messages and no progress bar")


def run(args: argparse.Namespace) -> int:
    from spikejet import run as pipeline
    from spikejet.report.tables import format_comparison

    out = args.out or f"runs/evaluate-{Path(args.model).stem}-{Path(args.data).stem}"
    ctx = pipeline.evaluate_model_file(
        args.model, args.data, out, seed=args.seed, overwrite=args.overwrite, progress=not args.quiet,
        chunk_size=args.chunk_size, scheduler=args.scheduler,
    )
    print(format_comparison(ctx.metrics, interval=ctx.config.evaluate.interval))
    print(f"output: {ctx.run_dir}  (metrics: {ctx.run_dir / pipeline.METRICS_FILE})")
    return 0
