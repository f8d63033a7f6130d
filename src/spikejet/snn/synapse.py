"""Synapses: the filter on a layer's input connection, part of the network spec.

A layer with a :class:`Synapse` receives, each step, the synaptic current ``c`` of its
input connection and adds its bias after it::

    c <- a c + (1 - a) W u          (a = exp(-dt / tau); first-order low-pass, Nengo's ``Lowpass``)
    z  = c + b

``tau = 0`` is an instantaneous synapse (``c = W u``): no filter, but the current is still
formed before the bias is added, which is Nengo's order (the bias is a neuron property and is
not filtered). A layer without a synapse gets ``z = W u + b`` in one fused step. The two orders
are the same sum, rounded differently in float32; the spec says which one a network uses so that
a saved network simulates bit for bit the same.

The low-pass arithmetic is :func:`spikejet.snn.readout.lowpass`, shared with the filtered read-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from .readout import filter_decay, lowpass

__all__ = ["SYNAPSES", "Synapse", "SynapseState", "synapse_init", "synapse_step", "synapse_to_dict",
           "synapse_from_dict"]

#: Synapse kinds (one today: the exponential low-pass).
SYNAPSES: tuple[str, ...] = ("exp",)


@dataclass(frozen=True)
class Synapse:
    """Exponential synapse with time constant ``tau`` seconds (0: instantaneous, no filter)."""

    tau: float = 0.005
    kind: str = "exp"

    def __post_init__(self) -> None:
        if self.kind not in SYNAPSES:
            raise ConfigError(f"synapse kind must be one of {', '.join(SYNAPSES)}; got {self.kind!r}")
        try:
            tau = float(self.tau)
        except (TypeError, ValueError):
            raise ConfigError(f"synapse tau must be a number of seconds, got {self.tau!r}") from None
        if not math.isfinite(tau) or tau < 0:
            raise ConfigError(f"synapse tau must be >= 0 seconds (0 = no filter), got {self.tau!r}")
        object.__setattr__(self, "tau", tau)

    @property
    def filtered(self) -> bool:
        return self.tau > 0

    def decay(self, dt: float) -> float:
        """Per-step decay ``a`` of the current (0 for an instantaneous synapse)."""
        return filter_decay(self.tau, dt) if self.filtered else 0.0


@dataclass(frozen=True)
class SynapseState:
    c: torch.Tensor


def synapse_init(shape: tuple[int, ...], *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> SynapseState:
    return SynapseState(c=torch.zeros(shape, dtype=dtype, device=device))


def synapse_step(drive: torch.Tensor, state: SynapseState, synapse: Synapse,
                 dt: float) -> tuple[torch.Tensor, SynapseState]:
    """The current of this step for the weighted input ``drive = W u``."""
    if not synapse.filtered:
        return drive, SynapseState(c=drive)
    c = lowpass(state.c, drive, synapse.decay(dt))
    return c, SynapseState(c=c)


def synapse_to_dict(synapse: Synapse | None) -> dict[str, Any] | None:
    return None if synapse is None else {"kind": synapse.kind, "tau": synapse.tau}


def synapse_from_dict(d: Any) -> Synapse | None:
    if d is None:
        return None
    if not isinstance(d, dict) or set(d) - {"kind", "tau"}:
        raise ConfigError(f"synapse entry must be a mapping with 'kind' and 'tau'; got {d!r}")
    return Synapse(**d)
