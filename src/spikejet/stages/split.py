"""The ``split`` stage: stratified split, standardizer fit on the training rows, test set as a file."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import DataConfig
from ..run.context import StageContext, StageResult
from ..run.rundir import SPLIT_FILE, TEST_SET_FILE

__all__ = ["split_stage"]


def split_stage(ctx: StageContext, cfg: DataConfig) -> StageResult:
    from ..data import Standardizer, split, write

    table = ctx.data.table
    sp = split(table.y, seed=ctx.seed_for("split"), val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction)
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
