"""The ``split`` stage: stratified split, standardizer fit on the training rows, test set as a file."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import DataConfig
from ..errors import DataError
from ..run.context import StageContext, StageResult
from ..run.rundir import SPLIT_FILE, TEST_SET_FILE

__all__ = ["split_stage"]


def check_classes(table, sp) -> None:
    """Every class of the data must have jets in every split: a tagger trained or scored without
    some classes reports numbers that mean nothing (a one-class sample scores 100 %)."""
    for name in ("train", "val", "test"):
        counts = np.bincount(table.y[getattr(sp, name)], minlength=table.n_classes)
        missing = [c for c, n in zip(table.class_names, counts, strict=True) if n == 0]
        if missing:
            raise DataError(
                f"the {name} split has no jets of class{'es' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"({len(table)} jets, per class: "
                + ", ".join(f"{c} {int(n)}" for c, n in zip(table.class_names, np.bincount(
                    table.y, minlength=table.n_classes), strict=True))
                + "); give data with jets of every class (or fewer classes in the file)"
            )


def split_stage(ctx: StageContext, cfg: DataConfig) -> StageResult:
    from ..data import Standardizer, split, write

    table = ctx.data.table
    sp = split(table.y, seed=ctx.seed_for("split"), val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction)
    check_classes(table, sp)
    scaler = Standardizer.fit(table.X[sp.train])
    X, y = {}, {}
    for name in ("train", "val", "test"):
        idx = getattr(sp, name)
        X[name] = scaler.transform(table.X[idx])
        y[name] = table.y[idx]
    arrays = {"train": sp.train, "val": sp.val, "test": sp.test}
    if ctx.data.subset is not None:
        arrays["subset"] = ctx.data.subset

    def write_split(path):
        from ..io import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    provenance = {"made_by": "spikejet run", "source": cfg.source, "rows": "test split of split.npz",
                  "seed": ctx.config.seed}
    ctx.save(SPLIT_FILE, write_split)
    ctx.save(TEST_SET_FILE, lambda path: write(table.subset(sp.test), path, provenance=provenance))
    summary = dict(ctx.data.summary)
    summary["split_counts"] = {
        k: np.bincount(table.y[v], minlength=table.n_classes).tolist() for k, v in arrays.items() if k != "subset"
    }
    ctx.result.data = dataclasses.replace(ctx.data, split=sp, scaler=scaler, X=X, y=y, summary=summary)
    ctx.log("split: " + ", ".join(f"{k} {v}" for k, v in sp.sizes.items()))
    return ctx.result
