"""Quantization-aware training of the on-chip layers: Loihi's bit widths and the fake quantizer.

Weights train on a per-layer symmetric grid of ``WEIGHT_BITS`` (Loihi's signed 8-bit mantissa),
thresholds as whole numbers of weight steps, leaks as ``1 - d / 2**DECAY_BITS`` (12-bit decays),
each rounded in the forward pass with a straight-through gradient (:func:`fake_quantize`).
"""

from __future__ import annotations

import torch

# Quantization-aware training uses the chip's grids: the signed 8-bit weight mantissa (WEIGHT_BITS; a layer's
# grid step is max|W| / WEIGHT_QMAX, the largest mantissa) and the 12-bit leak resolution, decay = 1 - d / 2**DECAY_BITS with integer d.
from ...hardware.loihi.constants import DECAY_BITS
from ...hardware.loihi.constants import WEIGHT_MANT_BITS as WEIGHT_BITS
from ...hardware.loihi.constants import WEIGHT_MANT_MAX as WEIGHT_QMAX

__all__ = ["WEIGHT_BITS", "WEIGHT_QMAX", "DECAY_BITS", "fake_quantize"]


def fake_quantize(x: torch.Tensor, step: torch.Tensor | float, *, lo: float | None = None,
                  hi: float | None = None) -> torch.Tensor:
    """``round(x / step) * step`` (clamped to ``[lo, hi]`` steps) with a straight-through gradient."""
    q = torch.round(x / step)
    if lo is not None or hi is not None:
        q = torch.clamp(q, min=lo, max=hi)
    return x + (q * step - x).detach()
