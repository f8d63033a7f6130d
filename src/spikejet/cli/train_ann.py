"""spikejet train-ann: only the ANN stage (load -> split -> train), into a run directory."""

from __future__ import annotations

import argparse

from .run import add_config_arguments

NAME = "train-ann"
HELP = "train the ANN only (load -> split -> train) and save the model bundle in a run directory"

#: The stage this command asks for (the runner adds load and split).
STAGES = ("train_ann",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from spikejet import run as pipeline

    from .run import config_from_args, default_out, print_timings

    cfg = config_from_args(args)
    out = args.out or default_out(cfg)
    ctx = pipeline.run(cfg, out, overwrite=args.overwrite, progress=not args.quiet, stages=STAGES)
    hist = ctx.histories["ann"]
    print(
        f"ANN: {hist.epochs} epochs, best epoch {hist.best_epoch}, validation accuracy "
        f"{hist.val_accuracy[hist.best_epoch - 1] * 100:.2f} %"
    )
    print_timings(ctx.timings)
    print(f"model: {ctx.run_dir / 'ann.pt'}")
    return 0
