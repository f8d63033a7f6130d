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
    from ..hardware.fpga import FixedPointMLP, fpga_extra

    bundle = ctx.models.get("ann")
    if bundle is None:
        raise ConfigError("the fpga stage needs the ANN: run the train_ann stage first")
    fx = FixedPointMLP.from_mlp(bundle.model, cfg.precision)
    extra = {k: v for k, v in fpga_extra(fx).items() if v is not None}  # no energy figure is published
    m = ctx.add_metrics("fpga", bundle.labels(ctx.y["test"]), fx.predict_proba(ctx.X["test"]),
                        class_names=bundle.class_names, extra=extra)
    ctx.log(f"FPGA ({cfg.precision}) test accuracy {m['accuracy'] * 100:.2f} %")
    return ctx.result


