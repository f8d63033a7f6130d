"""Quantization-aware training of the on-chip layers: Loihi's bit widths and the fake quantizer.

Weights train on a per-layer symmetric grid of ``WEIGHT_BITS`` (Loihi's signed 8-bit mantissa),
thresholds as whole numbers of weight steps, leaks as ``1 - d / 2**DECAY_BITS`` (12-bit decays),
each rounded in the forward pass with a straight-through gradient (:func:`fake_quantize`).
"""

from __future__ import annotations

import torch

# ---- the one import point of the hardware constants (Loihi's bit widths). When
# spikejet.hardware.loihi.constants lands, replace the two lines below by:
#   from ...hardware.loihi.constants import DECAY_BITS, WEIGHT_BITS  # noqa: F401
WEIGHT_BITS, DECAY_BITS = 8, 12  # LOIHI-CONSTANTS: Loihi's signed 8-bit weight mantissa, 12-bit decays

__all__ = ["WEIGHT_BITS", "DECAY_BITS", "fake_quantize"]


def fake_quantize(x: torch.Tensor, step: torch.Tensor | float, *, lo: float | None = None,
                  hi: float | None = None) -> torch.Tensor:
    """``round(x / step) * step`` (clamped to ``[lo, hi]`` steps) with a straight-through gradient."""
    q = torch.round(x / step)
    if lo is not None or hi is not None:
        q = torch.clamp(q, min=lo, max=hi)
    return x + (q * step - x).detach()
