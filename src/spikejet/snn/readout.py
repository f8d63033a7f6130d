"""Read-outs: how the output layer's activity becomes class scores at every step.

* ``"count"``: spike count of a spiking output layer; the score at step ``t`` is
  the count divided by ``t`` (spikes per step). SNN Toolbox's read-out.
* ``"membrane"``: a non-spiking output layer integrates its input current; the
  score at step ``t`` is the integral divided by ``t`` (the mean current), which
  tends to the ANN's logits as ``t`` grows.
* ``"filtered"``: the output layer's signal (spike events times their value,
  or the current of a non-spiking layer) through a synaptic filter, like the
  study's Nengo probes: ``"exp"`` (first-order low-pass) or ``"alpha"`` (two
  cascaded low-passes, Nengo's ``Alpha``) with time constant ``tau`` seconds.
  A first-order step is ``y <- a y + (1 - a) u`` with ``a = exp(-dt / tau)``
  (:func:`lowpass`, also the synapses' filter).
* ``"mean"``: the mean current of a non-spiking output layer, like ``"membrane"``, but the
  class at step ``t`` is the argmax of the mean (the integral divided by ``t``) instead of the
  integral: the same order except where the division rounds two scores to a tie. The rate
  method's read-out (the study read Nengo's probes this way).
* ``"last"``: the current of a non-spiking output layer at this step (Nengo's probe read at
  the end of the presentation, the study's read-out with synaptic filters).

Pure functions ``readout_init`` / ``readout_step`` / ``readout_scores`` /
``readout_decision``: the simulator runs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError

__all__ = ["READOUTS", "FILTERS", "Readout", "ReadoutState", "readout_init", "readout_step",
           "readout_scores", "readout_decision", "filter_decay", "lowpass"]

READOUTS: tuple[str, ...] = ("count", "membrane", "filtered", "mean", "last")
FILTERS: tuple[str, ...] = ("exp", "alpha")
#: The study's synaptic filter (Nengo probes): 5 ms.
DEFAULT_TAU = 0.005


@dataclass(frozen=True)
class Readout:
    kind: Literal["count", "membrane", "filtered", "mean", "last"] = "membrane"
    filter: Literal["exp", "alpha"] = "exp"
    tau: float = DEFAULT_TAU

    def __post_init__(self) -> None:
        if self.kind not in READOUTS:
            raise ConfigError(f"read-out must be one of {', '.join(READOUTS)}; got {self.kind!r}")
        if self.filter not in FILTERS:
            raise ConfigError(f"read-out filter must be one of {', '.join(FILTERS)}; got {self.filter!r}")
        tau = float(self.tau)
        if not math.isfinite(tau) or tau <= 0:
            raise ConfigError(f"read-out tau must be a positive number of seconds, got {self.tau!r}")
        object.__setattr__(self, "tau", tau)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "filter": self.filter, "tau": self.tau}

    @classmethod
    def from_dict(cls, d: dict) -> Readout:
        if not isinstance(d, dict):
            raise ConfigError(f"read-out must be a mapping, got {d!r}")
        return cls(**d)


def filter_decay(tau: float, dt: float) -> float:
    """Per-step decay ``exp(-dt / tau)`` of a first-order synaptic filter."""
    return math.exp(-dt / tau)


def lowpass(y: torch.Tensor, u: torch.Tensor, a: float) -> torch.Tensor:
    """One first-order low-pass step ``a y + (1 - a) u`` (the one filter of read-outs and synapses).

    Written as ``add(y * a, u, alpha=1 - a)``: torch fuses the second product into the add,
    and every caller must round the same way for saved networks to replay bit for bit.
    """
    return torch.add(y * a, u, alpha=1.0 - a)


@dataclass(frozen=True)
class ReadoutState:
    """``acc``: integral (count/membrane) or the last filter stage; ``mid``: alpha's first stage."""

    acc: torch.Tensor
    mid: torch.Tensor | None
    t: int


def readout_init(shape: tuple[int, ...], readout: Readout, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> ReadoutState:
    mid = None
    if readout.kind == "filtered" and readout.filter == "alpha":
        mid = torch.zeros(shape, dtype=dtype, device=device)
    return ReadoutState(acc=torch.zeros(shape, dtype=dtype, device=device), mid=mid, t=0)


def readout_step(signal: torch.Tensor, state: ReadoutState, readout: Readout, dt: float) -> ReadoutState:
    """Fold one step of the output layer's signal into the read-out state."""
    if readout.kind == "last":
        return ReadoutState(acc=signal, mid=None, t=state.t + 1)
    if readout.kind != "filtered":
        return ReadoutState(acc=state.acc + signal, mid=None, t=state.t + 1)
    a = filter_decay(readout.tau, dt)
    if readout.filter == "exp":
        return ReadoutState(acc=lowpass(state.acc, signal, a), mid=None, t=state.t + 1)
    mid = lowpass(state.mid, signal, a)
    return ReadoutState(acc=lowpass(state.acc, mid, a), mid=mid, t=state.t + 1)


def readout_scores(state: ReadoutState, readout: Readout) -> torch.Tensor:
    """Class scores now: the mean (count, membrane, mean) or the signal itself (filtered, last)."""
    if readout.kind in ("filtered", "last"):
        return state.acc
    return state.acc / max(state.t, 1)


def readout_decision(state: ReadoutState, readout: Readout) -> torch.Tensor:
    """What the class at this step is the argmax of: the scores for ``mean``, else the state itself
    (for count and membrane the integral: its order is the mean's, without a division)."""
    if readout.kind == "mean":
        return readout_scores(state, readout)
    return state.acc
