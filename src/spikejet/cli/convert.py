"""spikejet convert: turn a saved ANN into a spiking-network model file."""

from __future__ import annotations

import argparse

NAME = "convert"
HELP = "convert a saved ANN (ann.pt) into a spiking network (one model file; 'spikejet evaluate' scores it)"

#: Steps searched when --timesteps is not given.
SEARCH_MAX_T = 256
#: Accuracy gap to the ANN (fraction) that the automatic T must meet on validation jets.
AUTO_GAP = 0.01
#: Validation fraction held out of --data when the model has no run split beside it.
HOLDOUT_FRACTION = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="ANN model file written by 'spikejet run' or 'train-ann'")
    parser.add_argument("--method", default="qcfs", choices=("snntoolbox", "calibrated", "qcfs"),
                        help="snntoolbox: the 2019 study's path (percentile normalization, IF, spike counts); "
                             "calibrated: half-threshold start and membrane read-out; qcfs: fine-tune with a "
                             "quantized clipped ReLU, then convert (default; see docs/snn.md)")
    parser.add_argument("--out", metavar="FILE", required=True, help="spiking model file to write (e.g. snn.pt)")
    parser.add_argument("--timesteps", type=int, default=None, metavar="T",
                        help=f"default time steps stored in the file (default: the smallest T <= {SEARCH_MAX_T} "
                             f"within {AUTO_GAP * 100:g} point of the ANN on validation jets)")
    parser.add_argument("--data", metavar="FILE", default=None,
                        help="training jets for normalization/fine-tuning (default: the run's data and split "
                             "beside MODEL, i.e. split.npz and the source in its config)")
    parser.add_argument("--percentile", type=float, default=None,
                        help="normalization percentile (default: snntoolbox 99.9; calibrated/qcfs: the best of "
                             "95, 98, 99, 99.5, 99.9, 99.99 by agreement with the ANN on training jets)")
    parser.add_argument("--levels", type=int, default=8, help="QCFS quantization levels (default 8; 4 is better below 10 steps, see docs/snn.md)")
    parser.add_argument("--epochs", type=int, default=30, help="QCFS fine-tuning epochs (default 30)")
    parser.add_argument("--dt", type=float, default=1e-3, help="seconds per time step (default 0.001)")
    parser.add_argument("--seed", type=int, default=0, help="seed of fine-tuning and subsampling (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def _training_data(args, bundle):
    """(X_train_raw, y_train, X_val_raw, y_val, where) for the conversion."""
    from pathlib import Path

    import numpy as np

    from spikejet.data import load, split
    from spikejet.errors import ConfigError, DataError

    if args.data is not None:
        table = load(args.data)
        bundle.check_table(table.feature_names, table.class_names, where=f"--data {args.data}")
        sp = split(table.y, seed=args.seed, val_fraction=HOLDOUT_FRACTION, test_fraction=0.0)
        where = f"{args.data} ({len(sp.train)} train / {len(sp.val)} validation jets, seed {args.seed})"
        return table.X[sp.train], table.y[sp.train], table.X[sp.val], table.y[sp.val], where
    split_file = Path(args.model).with_name("split.npz")
    source = (bundle.config.get("data") or {}).get("source") if isinstance(bundle.config, dict) else None
    if not split_file.is_file() or not source:
        raise ConfigError(
            f"no run split beside {args.model} (expected {split_file} and a data source in the model's config); "
            "give the training jets with --data FILE"
        )
    try:
        with np.load(split_file) as z:
            rows = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{split_file} is not a readable split file: {exc}") from None
    table = load(source)
    if "subset" in rows:
        table = table.subset(rows["subset"])
    if "train" not in rows or "val" not in rows or rows["train"].max(initial=-1) >= len(table):
        raise DataError(f"{split_file} does not match the data {source}; give the training jets with --data FILE")
    bundle.check_table(table.feature_names, table.class_names, where=f"data {source}")
    tr, va = rows["train"], rows["val"]
    return table.X[tr], table.y[tr], table.X[va], table.y[va], f"{source} (the run's split: {len(tr)} train jets)"


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import numpy as np

    from spikejet.ann.model import predict_logits
    from spikejet.errors import ConfigError, ModelError
    from spikejet.models.file import apply_scaler, load_bundle
    from spikejet.runtime import ANN_TORCH_THREADS, torch_threads
    from spikejet.snn.bundle import save_network
    from spikejet.snn.convert import (
        CALIBRATED_PERCENTILES,
        SNNTOOLBOX_PERCENTILE,
        convert,
        finetune_qcfs,
    )
    from spikejet.snn.simulate import simulate

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"spikejet: {msg}", file=sys.stderr, flush=True)

    from spikejet.io import check_output_file
    from spikejet.run.rundir import check_complete

    check_output_file(args.out)
    check_complete(Path(args.model).parent, f"model {args.model}")
    if args.timesteps is not None and not 1 <= args.timesteps <= 100_000:
        raise ConfigError(f"--timesteps must be in 1..100000, got {args.timesteps}")
    if args.levels < 1 or args.epochs < 1:
        raise ConfigError("--levels and --epochs must be at least 1")
    if not args.dt > 0:
        raise ConfigError(f"--dt must be a positive number of seconds, got {args.dt}")
    bundle = load_bundle(args.model)
    if bundle.arch and bundle.arch.get("type") != "mlp":
        raise ModelError(f"{args.model} holds a {bundle.kind} model; 'spikejet convert' takes an ANN (ann.pt)")
    Xtr_raw, ytr_raw, Xva_raw, yva_raw, where = _training_data(args, bundle)
    Xtr, Xva = apply_scaler(bundle.scaler, Xtr_raw), apply_scaler(bundle.scaler, Xva_raw)
    ytr, yva = bundle.labels(ytr_raw), bundle.labels(yva_raw)
    log(f"normalization/training jets: {where}")
    pct = args.percentile if args.percentile is not None else (
        SNNTOOLBOX_PERCENTILE if args.method == "snntoolbox" else CALIBRATED_PERCENTILES)
    common = {"dt": args.dt, "class_names": bundle.class_names, "feature_names": bundle.feature_names,
              "scaler": dict(bundle.scaler), "seed": args.seed}
    with torch_threads(ANN_TORCH_THREADS):
        model = bundle.model
        source_note = ""
        if args.method == "qcfs":
            import torch

            torch.manual_seed(args.seed)
            log(f"fine-tuning a QCFS copy of the ANN ({args.levels} levels, up to {args.epochs} epochs)")
            model, _ = finetune_qcfs(bundle.model, Xtr, ytr, Xva, yva, levels=args.levels, percentile=pct,
                                     epochs=args.epochs, seed=args.seed, progress=not args.quiet)
            net = convert(model, Xtr, "qcfs", **common)
            source_note = f", QCFS ANN {(predict_logits(model, Xva).argmax(1) == yva).mean() * 100:.2f} %"
        elif args.method == "snntoolbox":
            net = convert(model, Xtr, "snntoolbox", percentile=pct, **common)
        else:
            net = convert(model, Xtr, "calibrated", percentile=pct, **common)
        ann_val = float((predict_logits(bundle.model, Xva).argmax(1) == yva).mean())
        T_run = args.timesteps or SEARCH_MAX_T
        res = simulate(net, Xva, T_run)
        acc = res.accuracy(yva)
        if args.timesteps is None:
            ok = np.flatnonzero(acc >= ann_val - AUTO_GAP)
            T = int(ok[0]) + 1 if ok.size else SEARCH_MAX_T
        else:
            T = args.timesteps
    meta = {"method": args.method, "source_model": str(args.model), "normalization_data": where,
            "validation_accuracy": float(acc[T - 1]), "ann_validation_accuracy": ann_val}
    save_network(args.out, net, T, kind="snn_converted", task=bundle.task,
                 data_class_names=bundle.data_class_names, config=bundle.config, meta=meta)
    c = res.op_counts(T)
    print(f"{args.method}: T = {T}, validation accuracy {acc[T - 1] * 100:.2f} % (ANN {ann_val * 100:.2f} %"
          f"{source_note}), {c['synops']:.0f} synops and {c['spikes']:.0f} spikes per jet "
          f"(ANN: {c['ann_macs']} MACs)")
    print(f"wrote {args.out}")
    return 0
