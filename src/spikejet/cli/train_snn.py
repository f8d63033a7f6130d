"""spikejet train-snn: train a spiking network directly (rate or surrogate method) into a run directory."""

from __future__ import annotations

import argparse

from .run import add_config_arguments

NAME = "train-snn"
HELP = ("train a spiking network directly: --method rate (the 2019 study's rate training, spiking evaluation) "
        "or surrogate (backpropagation through time); load -> split -> ANN -> SNN, in a run directory")

#: The method -> the pipeline stage that trains it.
METHOD_STAGES = {"rate": "snn_rate", "surrogate": "snn_surrogate"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=tuple(METHOD_STAGES),
                        help="rate: train with the neurons' rate functions, evaluate with spikes (with and without "
                             "synaptic filters; preset seed-2019 = the study's protocol); surrogate: surrogate-"
                             "gradient training through time (config section snn_surrogate)")
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from spikejet import run as pipeline

    from .run import config_from_args, default_out, print_timings

    stage = METHOD_STAGES[args.method]
    cfg = config_from_args(args)
    out = args.out or default_out(cfg) + f"-{args.method}"
    # the ANN is scored as the reference; the registry adds what the stage needs (the surrogate
    # method started from the converted network also runs the conversion)
    ctx = pipeline.run(cfg, out, overwrite=args.overwrite, progress=not args.quiet, stages=("evaluate_ann", stage))
    m = ctx.metrics[stage]
    ann = ctx.metrics.get("ann", {}).get("accuracy")
    ann_txt = f" (ANN {ann * 100:.2f} %)" if ann is not None else ""
    if args.method == "rate":
        print(f"SNN (rate, {m['neuron']}): test accuracy at T = {m['timesteps']}: "
              f"{m['accuracy_without_filter'] * 100:.2f} % without synaptic filter, "
              f"{m['accuracy_with_filter'] * 100:.2f} % with {m['filter_tau_evaluated'] * 1e3:g} ms filters; "
              f"rate model {m['rate_model_accuracy'] * 100:.2f} %{ann_txt}")
    else:
        print(f"SNN (surrogate, {m['neuron']}): test accuracy {m['accuracy'] * 100:.2f} % at T = {m['timesteps']}"
              f"{ann_txt}, {m['synops_per_inference']:.0f} synaptic operations per jet")
    print_timings(ctx.timings)
    print(f"model: {ctx.run_dir / m['model_file']}")
    return 0
