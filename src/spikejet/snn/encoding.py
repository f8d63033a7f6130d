"""Input encoders: how the 16 (standardized) jet features enter the first layer.

* ``"current"``: the features drive the first layer as a constant current every
  step (the first layer's weighted sum ``W0 x + b0`` is computed once, off-chip,
  as the 2019 study did on Loihi). No input spikes.
* ``"poisson"``: signed Poisson rate coding. Feature ``x`` emits, each step, an
  event of value ``sign(x) * scale`` with probability ``min(|x| / scale, 1)``.
* ``"regular"``: deterministic (regular) rate coding with the same mean: an
  accumulator per feature gains ``min(|x| / scale, 1)`` each step and emits an
  event of value ``sign(x) * scale`` each time it reaches 1 (it starts at 1/2, so
  the event count after ``t`` steps is ``|x| t / scale`` rounded to nearest).

For the rate codes the mean of the events equals ``x`` for ``|x| <= scale``;
larger features saturate at one event per step. ``scale`` is chosen at
conversion from the training data (a high percentile of ``|x|``).

Encoders are pure functions ``encoder_init(X, enc) -> state`` and
``encoder_step(state, enc, generator) -> (events, state)``; the simulator uses
the same arithmetic in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError

__all__ = ["ENCODINGS", "Encoding", "EncoderState", "encoder_init", "encoder_step"]

EncodingKind = Literal["current", "poisson", "regular"]
ENCODINGS: tuple[str, ...] = ("current", "poisson", "regular")

#: Initial phase of the regular (deterministic) rate coder: counts round to nearest.
REGULAR_PHASE = 0.5


@dataclass(frozen=True)
class Encoding:
    """How inputs are presented. ``scale`` is the value of one input event (rate codes)."""

    kind: EncodingKind = "current"
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ENCODINGS:
            raise ConfigError(f"input encoding must be one of {', '.join(ENCODINGS)}; got {self.kind!r}")
        s = float(self.scale)
        if not math.isfinite(s) or s <= 0:
            raise ConfigError(f"encoding scale must be a positive number, got {self.scale!r}")
        object.__setattr__(self, "scale", s)

    @property
    def spiking(self) -> bool:
        return self.kind != "current"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> Encoding:
        if not isinstance(d, dict):
            raise ConfigError(f"encoding must be a mapping, got {d!r}")
        return cls(**d)


@dataclass(frozen=True)
class EncoderState:
    """``prob``: events per step (<= 1); ``sign``: +-1 per feature; ``acc``: regular-coder phase."""

    x: torch.Tensor
    prob: torch.Tensor
    sign: torch.Tensor
    acc: torch.Tensor | None


def encoder_init(X: torch.Tensor, enc: Encoding) -> EncoderState:
    prob = torch.clamp(X.abs() / enc.scale, max=1.0)
    sign = torch.sign(X)
    acc = torch.full_like(X, REGULAR_PHASE) if enc.kind == "regular" else None
    return EncoderState(x=X, prob=prob, sign=sign, acc=acc)


def encoder_step(state: EncoderState, enc: Encoding,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, EncoderState]:
    """The input of one step: ``x`` itself (current) or signed events of value ``scale``."""
    if enc.kind == "current":
        return state.x, state
    if enc.kind == "poisson":
        u = torch.rand(state.prob.shape, generator=generator, dtype=state.prob.dtype,
                       device=state.prob.device)
        fired = (u < state.prob).to(state.prob.dtype)
        return fired * state.sign * enc.scale, state
    acc = state.acc + state.prob
    fired = (acc >= 1.0).to(acc.dtype)
    return fired * state.sign * enc.scale, EncoderState(state.x, state.prob, state.sign, acc - fired)
