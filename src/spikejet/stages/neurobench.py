"""The ``neurobench`` stage: NeuroBench's four efficiency metrics for the ANN and every spiking model.

Footprint, connection sparsity, activation sparsity and synaptic operations (effective
MACs and ACs, and the dense count) as NeuroBench 2.3.0 defines them
(:mod:`spikejet.evaluate.neurobench`; ``tests/test_neurobench.py`` checks them against
neurobench itself where it is installed), on the run's test jets, at each spiking model's
headline T. Writes ``metrics.json["neurobench"]`` = ``{model: {...}}`` (not a model entry).
"""

from __future__ import annotations

from typing import Any

from ..run.context import StageContext, StageResult
from ..runtime import single_thread

__all__ = ["neurobench_stage"]

#: The spiking models measured, when the run has them (the Loihi model is the surrogate SNN on chip).
SPIKING = ("snn_converted", "snn_rate", "snn_surrogate")


def neurobench_stage(ctx: StageContext, cfg: Any = None) -> StageResult:
    from ..evaluate.neurobench import ann_metrics, snn_metrics
    from ..snn.network import SpikingNetwork

    X = ctx.X["test"]
    entry: dict[str, Any] = {}
    with single_thread():
        ann = ctx.models.get("ann")
        if ann is not None:
            entry["ann"] = ann_metrics(ann.model, X)
        for key in SPIKING:
            net, m = ctx.models.get(key), ctx.metrics.get(key)
            if isinstance(net, SpikingNetwork) and m is not None and "timesteps" in m:
                entry[key] = snn_metrics(net, X, int(m["timesteps"]), seed=ctx.seed_for(key))
    ctx.result.entry = entry
    ctx.log("NeuroBench metrics: " + ", ".join(
        f"{k} {v['synops']['effective_macs'] + v['synops']['effective_acs']:.0f} ops" for k, v in entry.items()))
    return ctx.result
