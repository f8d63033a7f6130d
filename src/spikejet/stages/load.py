"""The ``load`` stage: read the jets; with ``data.max_jets`` keep a seeded random subset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import DataConfig
from ..errors import DataError
from ..run.context import RunData, StageContext, StageResult
from ..runtime import seeded_rows

__all__ = ["load_stage", "provenance_of"]


def load_stage(ctx: StageContext, cfg: DataConfig) -> StageResult:
    from ..data import load

    table = load(cfg.source, drop_invalid=cfg.drop_invalid, drop_unlabelled=cfg.drop_unlabelled,
                 drop_duplicates=cfg.drop_duplicates)
    n_all = len(table)
    subset = None
    if cfg.max_jets is not None and n_all > cfg.max_jets:
        subset = seeded_rows(n_all, cfg.max_jets, ctx.rng("load"))
        table = table.subset(subset)
    summary = {
        "source": cfg.source,
        "n_jets": len(table),
        "n_jets_in_source": n_all,
        "class_names": list(table.class_names),
        "provenance": provenance_of(cfg.source),
    }
    ctx.log(f"loaded {len(table)} jets from {cfg.source}" + (f" (subset of {n_all})" if subset is not None else ""))
    ctx.result.data = RunData(table=table, subset=subset, summary=summary)
    return ctx.result


def provenance_of(source: str) -> dict[str, Any] | None:
    """The provenance record of a jet source (the default sample, a spikejet h5 file), if it has one."""
    from ..data import default_provenance, read_provenance

    try:
        if source == "default":
            prov = default_provenance()
        elif Path(source).suffix.lower() in (".h5", ".hdf5"):
            prov = read_provenance(source)
        else:
            return None
    except DataError:
        return None
    return dict(prov) if isinstance(prov, Mapping) else None
