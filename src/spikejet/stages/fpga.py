"""The ``fpga`` stage: the run's MLP as the trigger community deploys it today, in hls4ml fixed point.

The ANN quantized to ``fpga.precision`` (hls4ml's ap_fixed rules, bit for bit with hls4ml
1.3.0's ``compile()``: :mod:`spikejet.hardware.fpga`, tests/test_fpga.py), scored on the test
jets like every model, with the published latency and its source (no energy per inference
is published for this network: the entry says so).
"""

from __future__ import annotations

from ..config.sections import FpgaConfig
from ..errors import ConfigError
from ..run.context import StageContext, StageResult

__all__ = ["fpga_stage"]


def fpga_stage(ctx: StageContext, cfg: FpgaConfig) -> StageResult:
    from ..hardware.fpga import ENERGY_SOURCE, LATENCY_NS, LATENCY_SOURCE, FixedPointMLP

    bundle = ctx.models.get("ann")
    if bundle is None:
        raise ConfigError("the fpga stage needs the ANN: run the train_ann stage first")
    fx = FixedPointMLP.from_mlp(bundle.model, cfg.precision)
    y = bundle.labels(ctx.y["test"])
    sizes = fx.sizes
    m = ctx.add_metrics("fpga", y, fx.predict_proba(ctx.X["test"]), class_names=bundle.class_names, extra={
        "precision": fx.precision.to_dict(),
        "macs_per_inference": float(sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))),
        "latency_ns": LATENCY_NS,
        "latency_source": LATENCY_SOURCE,
        "energy_source": ENERGY_SOURCE,
    })
    ctx.log(f"FPGA ({cfg.precision}) test accuracy {m['accuracy'] * 100:.2f} %")
    return ctx.result


