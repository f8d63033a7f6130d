"""Spiking neuron models as pure step functions with their analytic rates.

Every model is a triple

* a frozen ``*Params`` dataclass (validated on construction, raises
  :class:`~spikejet.errors.ConfigError`),
* a frozen ``*State`` dataclass of torch tensors and an ``*_init`` function,
* a pure ``*_step(x, state, params) -> (spikes, new_state)`` that never mutates
  its arguments,

plus the analytic ``*_rate(x, params)``: the long-run number of spikes per time
step for a constant input ``x`` (divide by ``dt`` for Hz). Tests check that the
simulated rates match the analytic ones (``tests/test_snn_neurons.py``).

Units: ``x`` is the input added to the neuron in one time step (the synaptic
current of that step, already multiplied by the weights). A spike is an event
of value ``params.spike_value`` for the next layer (1 for IF/LIF, whose scale is
carried by the weights; ``amplitude / dt`` for Nengo's spiking ReLU).

A neuron spikes when its membrane reaches the threshold (``v >= threshold``).
Loihi's own comparison is ``v > threshold``; on its integer grid the difference
is one least significant bit and the hardware model accounts for it.

Reset semantics:

* ``"subtract"``: ``v <- v - threshold`` after a spike (SNN Toolbox's "reset by
  subtraction"; keeps the residual charge, which is what makes rate coding exact
  on average);
* ``"zero"``: ``v <- 0`` after a spike (Loihi 1's reset).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from ..errors import ConfigError

__all__ = [
    "RESETS",
    "SpikeFn",
    "heaviside",
    "TensorParams",
    "IFParams",
    "IFState",
    "LIFParams",
    "LIFState",
    "SpikingReLUParams",
    "SpikingReLUState",
    "NeuronParams",
    "if_init",
    "if_step",
    "if_rate",
    "lif_init",
    "lif_step",
    "lif_rate",
    "spiking_relu_init",
    "spiking_relu_step",
    "spiking_relu_rate",
    "init_state",
    "step",
    "rate",
    "neuron_to_dict",
    "neuron_from_dict",
]

Reset = Literal["subtract", "zero"]
#: The reset modes every spiking model here supports.
RESETS: tuple[str, ...] = ("subtract", "zero")

#: Default simulation step in seconds (the 2019 study used 1 ms).
DEFAULT_DT = 1e-3


def _check_positive(name: str, value: float, *, allow_inf: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(v) or v <= 0 or (math.isinf(v) and not allow_inf):
        what = "a positive number" + (" (or inf)" if allow_inf else "")
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return v


def _check_finite(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return v


def _check_reset(reset: str) -> None:
    if reset not in RESETS:
        raise ConfigError(f"reset must be one of {', '.join(RESETS)}; got {reset!r}")


#: A spike function ``(v, threshold) -> spikes``: which neurons fire this step, as 0/1 in ``v``'s dtype.
#: The simulator uses :func:`heaviside`; the surrogate network passes one whose backward pass is a
#: smooth surrogate derivative (:mod:`spikejet.snn.train.surrogate`), so both run the same step.
SpikeFn = Callable[[torch.Tensor, Any], torch.Tensor]


def heaviside(v: torch.Tensor, threshold: Any) -> torch.Tensor:
    """The hard spike: 1 where ``v >= threshold``."""
    return (v >= threshold).to(v.dtype)


def _fire_and_reset(v: torch.Tensor, threshold: Any, reset: str, spike_fn: SpikeFn = heaviside,
                    detach_reset: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    spikes = spike_fn(v, threshold)
    r = spikes.detach() if detach_reset else spikes
    if reset == "subtract":
        v = v - r * threshold
    else:
        v = v * (1.0 - r)
    return spikes, v


# --------------------------------------------------------------------------- IF


@dataclass(frozen=True)
class IFParams:
    """Non-leaky integrate-and-fire neuron.

    ``threshold`` > 0; ``reset`` in :data:`RESETS`; ``v_init`` is the membrane at
    t = 0 (QCFS-style conversion starts at ``threshold / 2``).
    """

    threshold: float = 1.0
    reset: Reset = "subtract"
    v_init: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _check_positive("IF threshold", self.threshold))
        object.__setattr__(self, "v_init", _check_finite("IF v_init", self.v_init))
        _check_reset(self.reset)

    @property
    def spike_value(self) -> float:
        return 1.0

    kind = "if"


@dataclass(frozen=True)
class IFState:
    v: torch.Tensor


def if_init(shape: tuple[int, ...], params: IFParams, *, dtype: torch.dtype = torch.float32,
            device: torch.device | str | None = None) -> IFState:
    return IFState(v=torch.full(shape, params.v_init, dtype=dtype, device=device))


def if_step(x: torch.Tensor, state: IFState, params: IFParams, *, spike_fn: SpikeFn = heaviside,
            detach_reset: bool = False) -> tuple[torch.Tensor, IFState]:
    """One step: ``v += x``; spike where ``v >= threshold``; reset.

    ``params`` may also be a :class:`TensorParams` (trainable thresholds); ``spike_fn`` decides
    who fires (default the hard comparison), ``detach_reset`` stops gradients through the reset.
    """
    spikes, v = _fire_and_reset(state.v + x, params.threshold, params.reset, spike_fn, detach_reset)
    return spikes, IFState(v=v)


def if_rate(x: np.ndarray | float, params: IFParams) -> np.ndarray:
    """Long-run spikes per step for a constant input ``x`` per step.

    ``subtract``: ``clip(x / threshold, 0, 1)`` (at most one spike per step).
    ``zero``: ``1 / ceil(threshold / x)`` for ``x > 0`` (a spike every k steps).
    """
    x = np.asarray(x, dtype=np.float64)
    th = params.threshold
    if params.reset == "subtract":
        return np.clip(x / th, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.ceil(th / np.where(x > 0, x, np.inf))
        return np.where(x > 0, 1.0 / np.maximum(k, 1.0), 0.0)


# -------------------------------------------------------------------------- LIF


@dataclass(frozen=True)
class LIFParams:
    """Leaky integrate-and-fire neuron with a current-based exponential synapse.

    The Loihi CUBA form, per step of ``dt`` seconds::

        i <- decay_syn * i + x          (synaptic current)
        v <- decay_mem * v + i          (membrane)
        spike if v >= threshold, then reset

    with ``decay_syn = exp(-dt / tau_syn)`` and ``decay_mem = exp(-dt / tau_mem)``.
    ``tau_syn = 0`` means no synaptic filter (the current is the input of the
    step); ``tau_mem = inf`` means no leak. Loihi's 12-bit constants map as
    ``decay = 1 - d / 4096`` (see :meth:`from_decays`).
    """

    tau_mem: float = 0.02
    tau_syn: float = 0.005
    threshold: float = 1.0
    reset: Reset = "zero"
    dt: float = DEFAULT_DT
    v_init: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau_mem", _check_positive("LIF tau_mem", self.tau_mem, allow_inf=True))
        ts = float(self.tau_syn)
        if math.isnan(ts) or ts < 0:
            raise ConfigError(f"LIF tau_syn must be >= 0 seconds (0 = no synaptic filter), got {self.tau_syn!r}")
        object.__setattr__(self, "tau_syn", ts)
        object.__setattr__(self, "threshold", _check_positive("LIF threshold", self.threshold))
        object.__setattr__(self, "dt", _check_positive("LIF dt", self.dt))
        object.__setattr__(self, "v_init", _check_finite("LIF v_init", self.v_init))
        _check_reset(self.reset)

    kind = "lif"

    @property
    def spike_value(self) -> float:
        return 1.0

    @property
    def decay_mem(self) -> float:
        return 1.0 if math.isinf(self.tau_mem) else math.exp(-self.dt / self.tau_mem)

    @property
    def decay_syn(self) -> float:
        return 0.0 if self.tau_syn == 0 else math.exp(-self.dt / self.tau_syn)

    @classmethod
    def from_decays(cls, decay_syn: float, decay_mem: float, *, threshold: float = 1.0,
                    reset: Reset = "zero", dt: float = DEFAULT_DT, v_init: float = 0.0) -> LIFParams:
        """Build from per-step decay factors in [0, 1] (1 = no decay)."""
        for name, d in (("decay_syn", decay_syn), ("decay_mem", decay_mem)):
            if not 0.0 <= float(d) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {d!r}")
        tau_syn = 0.0 if decay_syn == 0 else (math.inf if decay_syn == 1 else -dt / math.log(decay_syn))
        if decay_mem == 0:
            raise ConfigError("decay_mem = 0 forgets the membrane every step; use decay_mem > 0")
        tau_mem = math.inf if decay_mem == 1 else -dt / math.log(decay_mem)
        if math.isinf(tau_syn):
            raise ConfigError("decay_syn = 1 integrates the current forever; use decay_syn < 1")
        return cls(tau_mem=tau_mem, tau_syn=tau_syn, threshold=threshold, reset=reset, dt=dt, v_init=v_init)


@dataclass(frozen=True)
class LIFState:
    i: torch.Tensor
    v: torch.Tensor


def lif_init(shape: tuple[int, ...], params: LIFParams, *, dtype: torch.dtype = torch.float32,
             device: torch.device | str | None = None) -> LIFState:
    return LIFState(i=torch.zeros(shape, dtype=dtype, device=device),
                    v=torch.full(shape, params.v_init, dtype=dtype, device=device))


def lif_step(x: torch.Tensor, state: LIFState, params: LIFParams, *, spike_fn: SpikeFn = heaviside,
             detach_reset: bool = False) -> tuple[torch.Tensor, LIFState]:
    """One CUBA step: decay and add to the current, decay and add to the membrane, fire, reset.

    Without a synaptic filter (``decay_syn == 0``) the current is the input itself. ``params``
    may be a :class:`TensorParams`; ``spike_fn``/``detach_reset`` as in :func:`if_step`.
    """
    i = x if params.decay_syn == 0 else state.i * params.decay_syn + x
    v = state.v * params.decay_mem + i
    spikes, v = _fire_and_reset(v, params.threshold, params.reset, spike_fn, detach_reset)
    return spikes, LIFState(i=i, v=v)


def lif_rate(x: np.ndarray | float, params: LIFParams) -> np.ndarray:
    """Long-run spikes per step for a constant input ``x`` per step.

    The steady current is ``i = x / (1 - decay_syn)``. With ``reset="zero"`` the
    membrane climbs ``v_k = i (1 - b^k) / (1 - b)`` (``b = decay_mem``) and the
    neuron fires every ``k`` steps, ``k`` the first step with ``v_k >= threshold``.
    Without leak and ``reset="subtract"`` the rate is ``clip(i / threshold, 0, 1)``.
    A leaky neuron with reset by subtraction has no closed form (its rate is the
    rotation number of a circle map): that case raises :class:`ConfigError`.
    """
    x = np.asarray(x, dtype=np.float64)
    cur = x / (1.0 - params.decay_syn)
    th = params.threshold
    b = params.decay_mem
    if params.reset == "subtract":
        if b != 1.0:
            raise ConfigError(
                "a leaky LIF with reset='subtract' has no closed-form rate; use reset='zero' "
                "or tau_mem=inf, or measure the rate by simulation"
            )
        return np.clip(cur / th, 0.0, 1.0)
    pos = cur > 0
    safe = np.where(pos, cur, 1.0)
    if b == 1.0:
        k = np.ceil(th / safe)
    else:
        ratio = 1.0 - th * (1.0 - b) / safe
        reach = pos & (ratio > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.ceil(np.log(np.where(reach, ratio, 0.5)) / math.log(b))
        pos = reach
    k = np.maximum(k, 1.0)
    return np.where(pos, 1.0 / k, 0.0)


# ---------------------------------------------------------- Nengo spiking ReLU


@dataclass(frozen=True)
class SpikingReLUParams:
    """Nengo's ``SpikingRectifiedLinear``: a spiking ReLU that may fire several times per step.

    The input ``x`` is in activation units; the neuron's rate is
    ``max_rate * max(x, 0)`` Hz. Per step::

        v <- v + max(x, 0) * max_rate * dt
        n = floor(v); v <- v - n          (n spikes this step)

    The negative part of ``x`` is clipped at every step, as Nengo does: that
    loses inhibitory input (DESIGN.md section 4). Each spike carries the value
    ``amplitude / dt`` so that the spike train's mean is ``amplitude * rate``.
    """

    amplitude: float = 1.0
    max_rate: float = 200.0
    dt: float = DEFAULT_DT

    def __post_init__(self) -> None:
        object.__setattr__(self, "amplitude", _check_positive("spiking ReLU amplitude", self.amplitude))
        object.__setattr__(self, "max_rate", _check_positive("spiking ReLU max_rate", self.max_rate))
        object.__setattr__(self, "dt", _check_positive("spiking ReLU dt", self.dt))

    kind = "spiking_relu"

    @property
    def spike_value(self) -> float:
        return self.amplitude / self.dt

    @property
    def gain(self) -> float:
        """Membrane charge per step for a unit input."""
        return self.max_rate * self.dt


@dataclass(frozen=True)
class SpikingReLUState:
    v: torch.Tensor


def spiking_relu_init(shape: tuple[int, ...], params: SpikingReLUParams, *,
                      dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> SpikingReLUState:
    return SpikingReLUState(v=torch.zeros(shape, dtype=dtype, device=device))


def spiking_relu_step(x: torch.Tensor, state: SpikingReLUState,
                      params: SpikingReLUParams) -> tuple[torch.Tensor, SpikingReLUState]:
    """One step; ``spikes`` holds the number of spikes of each neuron this step."""
    v = state.v + torch.clamp(x, min=0.0) * params.gain
    n = torch.floor(v)
    return n, SpikingReLUState(v=v - n)


def spiking_relu_rate(x: np.ndarray | float, params: SpikingReLUParams) -> np.ndarray:
    """Long-run spikes per step: ``max(x, 0) * max_rate * dt`` (Hz: ``max_rate * max(x, 0)``)."""
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0) * params.gain


# ------------------------------------------------------- trainable (tensor) parameters


@dataclass(frozen=True)
class TensorParams:
    """IF/LIF parameters held as tensors, so that autograd reaches the threshold and the leak.

    What a trainable layer (the surrogate network) hands to :func:`if_step` / :func:`lif_step`
    each forward pass. Not validated: the module that owns the tensors keeps them in range.
    ``decay_mem = 1`` is IF; there is no synaptic current filter (``decay_syn = 0``).
    """

    threshold: torch.Tensor
    reset: str
    decay_mem: torch.Tensor | float = 1.0
    decay_syn: float = 0.0


# ------------------------------------------------------------------- dispatch

NeuronParams = IFParams | LIFParams | SpikingReLUParams

_INIT = {IFParams: if_init, LIFParams: lif_init, SpikingReLUParams: spiking_relu_init}
_STEP = {IFParams: if_step, LIFParams: lif_step, SpikingReLUParams: spiking_relu_step}
_RATE = {IFParams: if_rate, LIFParams: lif_rate, SpikingReLUParams: spiking_relu_rate}
_BY_KIND = {"if": IFParams, "lif": LIFParams, "spiking_relu": SpikingReLUParams}


def _lookup(table: dict, params: object):
    try:
        return table[type(params)]
    except KeyError:
        raise ConfigError(f"unsupported neuron params {type(params).__name__}; "
                          f"use one of {', '.join(t.__name__ for t in table)}") from None


def init_state(shape: tuple[int, ...], params: NeuronParams, **kw):
    """Initial state of any supported neuron model."""
    return _lookup(_INIT, params)(shape, params, **kw)


def step(x: torch.Tensor, state, params: NeuronParams):
    """Step of any supported neuron model (dispatch on the params type)."""
    return _lookup(_STEP, params)(x, state, params)


def rate(x: np.ndarray | float, params: NeuronParams) -> np.ndarray:
    """Analytic long-run spikes per step of any supported neuron model."""
    return _lookup(_RATE, params)(x, params)


def neuron_to_dict(params: NeuronParams | None) -> dict | None:
    """Plain-JSON form ``{"kind": ..., field: value}`` (``None`` for a non-spiking layer)."""
    if params is None:
        return None
    _lookup(_STEP, params)
    d = {"kind": params.kind}
    for f in params.__dataclass_fields__:
        v = getattr(params, f)
        d[f] = "inf" if isinstance(v, float) and math.isinf(v) else v
    return d


def neuron_from_dict(d: dict | None) -> NeuronParams | None:
    if d is None:
        return None
    if not isinstance(d, dict) or d.get("kind") not in _BY_KIND:
        raise ConfigError(f"neuron entry must have kind in {', '.join(_BY_KIND)}; got {d!r}")
    cls = _BY_KIND[d["kind"]]
    kw = {k: (math.inf if v == "inf" else v) for k, v in d.items() if k != "kind"}
    unknown = set(kw) - set(cls.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown {d['kind']} neuron fields: {', '.join(sorted(unknown))}")
    return cls(**kw)
