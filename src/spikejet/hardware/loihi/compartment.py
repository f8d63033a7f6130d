"""The integer compartment (Loihi CUBA LIF): the arithmetic of one step, its synaptic input, its state.

One step of one compartment, all integers (constants in
:mod:`~spikejet.hardware.loihi.constants`)::

    a   = (sum_j  (m_ij << 1) * s_j)  shifted by weight_exp     # dendrite
    u   = wrap24( decay(u, du + 1) + (a << 6) )                  # current
    v   = sat24 ( decay(v, dv) + u + (bias_mant << bias_exp) )   # voltage
    spike if v > (vth << 6);  then v = 0 (Loihi 1) or v -= vth << 6 (Loihi 2)

with ``decay(x, d) = sign(x) * ((|x| * (4096 - d)) >> 12)`` (rounding toward
zero). :func:`compartment_step` is a pure function of (input, state, params).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ConfigError
from .constants import (
    ACT_SHIFT,
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    BIAS_MANT_MIN,
    DECAY_BITS,
    DECAY_MAX,
    DECAY_UNITY,
    DU_OFFSET,
    DV_OFFSET,
    RESETS,
    STATE_BITS,
    STATE_MAX,
    STATE_WRAP_MIN,
    V_MAX,
    V_MIN,
    VTH_MAX,
    VTH_SHIFT,
    WEIGHT_MIXED_SIGN_SHIFT,
)

__all__ = [
    "decay",
    "wrap_state",
    "saturate_voltage",
    "shift_by_exponent",
    "effective_bias",
    "effective_threshold",
    "Synapses",
    "synaptic_input",
    "CompartmentParams",
    "CompartmentState",
    "compartment_init",
    "compartment_step",
]

# ---------------------------------------------------------------- arithmetic


def decay(x: np.ndarray, d: int | np.ndarray) -> np.ndarray:
    """``x * (4096 - d) >> 12`` on the magnitude, sign restored (rounds toward zero).

    ``d`` is the effective decay constant (0 = no decay, 4096 = forget all).
    """
    x = np.asarray(x, dtype=np.int64)
    if np.ndim(d) == 0:  # the common scalar case: two exact shortcuts
        if int(d) == 0:
            return x.copy()
        if int(d) == DECAY_UNITY:
            return np.zeros_like(x)
    prod = x * (DECAY_UNITY - np.asarray(d, dtype=np.int64))
    return np.sign(prod) * (np.abs(prod) >> DECAY_BITS)


def wrap_state(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap into the signed 24-bit range (the current's overflow)."""
    x = np.asarray(x, dtype=np.int64)
    if x.size == 0 or (x.max() <= STATE_MAX and x.min() >= STATE_WRAP_MIN):
        return x
    span = 1 << STATE_BITS
    return ((x - STATE_WRAP_MIN) % span) + STATE_WRAP_MIN


def saturate_voltage(x: np.ndarray) -> np.ndarray:
    """Clip into [V_MIN, V_MAX] (the voltage's overflow)."""
    return np.clip(np.asarray(x, dtype=np.int64), V_MIN, V_MAX)


def shift_by_exponent(x: np.ndarray, exp: int) -> np.ndarray:
    """``x << exp`` for exp >= 0, arithmetic ``x >> -exp`` (floor) otherwise."""
    x = np.asarray(x, dtype=np.int64)
    return np.left_shift(x, exp) if exp >= 0 else np.right_shift(x, -exp)


def effective_bias(bias_mant: np.ndarray | int, bias_exp: np.ndarray | int) -> np.ndarray:
    """Bias added to v each step: ``bias_mant << bias_exp``."""
    return np.left_shift(np.asarray(bias_mant, dtype=np.int64), np.asarray(bias_exp, dtype=np.int64))


def effective_threshold(vth: int) -> int:
    """Threshold compared with v: ``vth << 6``."""
    return int(vth) << VTH_SHIFT


class Synapses:
    """A layer's weights prepared once for exact integer accumulation through BLAS.

    ``(m << 1)`` as float32 (and float64) [n_in, n_out]; a step's sum is exact in
    float32 while every |partial sum| < 2**24 and in float64 below 2**53.
    """

    def __init__(self, weight_mant: np.ndarray):
        w = np.asarray(weight_mant, dtype=np.int64) << WEIGHT_MIXED_SIGN_SHIFT
        self.wt64 = np.ascontiguousarray(w.T, dtype=np.float64)
        self.wt32 = self.wt64.astype(np.float32)
        self.row_abs = float(np.abs(w).sum(axis=1).max(initial=0))

    def accumulate(self, events: np.ndarray, max_abs_event: int | None = None) -> np.ndarray:
        e = np.asarray(events)
        if max_abs_event is None:
            max_abs_event = int(np.abs(e).max(initial=0)) if e.dtype.kind != "b" else 1
        bound = self.row_abs * max(int(max_abs_event), 1)
        if bound < 2.0**24:
            out = e.astype(np.float32) @ self.wt32
        elif bound < 2.0**53:
            out = e.astype(np.float64) @ self.wt64
        else:  # pragma: no cover - impossible with 24-bit payloads and 9-bit weights
            return e.astype(np.int64) @ self.wt64.astype(np.int64)
        return np.rint(out).astype(np.int64)


def synaptic_input(events: np.ndarray, weight_mant: np.ndarray, weight_exp: int,
                   *, max_payload: int | None = None) -> np.ndarray:
    """Dendritic accumulation of one step: ``shift(sum_j (m_ij << 1) * e_j, weight_exp)``.

    ``events`` [batch, n_in] are 0/1 spikes or graded integer payloads;
    ``weight_mant`` [n_out, n_in] int8 mantissas. Returns int64 [batch, n_out].
    ``max_payload``: a bound on |events| (default: measured).
    """
    acc = Synapses(weight_mant).accumulate(events, max_payload)
    return shift_by_exponent(acc, weight_exp)


# -------------------------------------------------------------- compartments


def int_array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ConfigError(f"{name} must be integers, got {arr.dtype} values")
    return arr.astype(np.int64)


def check_range(name: str, arr: np.ndarray | int, lo: int, hi: int, what: str) -> None:
    a = np.asarray(arr)
    if a.size and (a.min() < lo or a.max() > hi):
        raise ConfigError(
            f"{name} must be in [{lo}, {hi}] ({what}); got values in [{a.min()}, {a.max()}]"
        )


@dataclass(frozen=True)
class CompartmentParams:
    """Integer parameters of one layer of compartments (Loihi CUBA LIF).

    ``du``, ``dv``: 12-bit decay constants (the hardware adds DU_OFFSET to du);
    ``vth``: 17-bit threshold mantissa; ``bias_mant`` (13-bit signed) and
    ``bias_exp`` (3-bit) per neuron or scalar; ``refractory``: steps with the
    voltage held after a spike; ``reset``: "zero" or "subtract";
    ``spiking=False`` disables the threshold (a compartment read by a voltage
    probe, as a non-spiking read-out layer is).
    """

    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray | int = 0
    bias_exp: np.ndarray | int = 0
    refractory: int = 0
    reset: str = "zero"
    spiking: bool = True

    def __post_init__(self) -> None:
        for name in ("du", "dv", "vth", "refractory"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ConfigError(f"{name} must be an integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        check_range("du", self.du, 0, DECAY_MAX, "unsigned 12-bit decay")
        check_range("dv", self.dv, 0, DECAY_MAX, "unsigned 12-bit decay")
        check_range("vth", self.vth, 0, VTH_MAX, "unsigned 17-bit threshold mantissa")
        if self.refractory < 0:
            raise ConfigError(f"refractory must be >= 0 steps, got {self.refractory}")
        bm = int_array("bias_mant", self.bias_mant)
        be = int_array("bias_exp", self.bias_exp)
        check_range("bias_mant", bm, BIAS_MANT_MIN, BIAS_MANT_MAX, "signed 13-bit mantissa")
        check_range("bias_exp", be, 0, BIAS_EXP_MAX, "unsigned 3-bit exponent")
        bm.setflags(write=False)
        be.setflags(write=False)
        object.__setattr__(self, "bias_mant", bm)
        object.__setattr__(self, "bias_exp", be)
        if self.reset not in RESETS:
            raise ConfigError(f"reset must be one of {', '.join(RESETS)}, got {self.reset!r}")

    @property
    def vth_eff(self) -> int:
        return effective_threshold(self.vth)

    @property
    def bias_eff(self) -> np.ndarray:
        return effective_bias(self.bias_mant, self.bias_exp)


@dataclass(frozen=True)
class CompartmentState:
    """u, v and the remaining refractory steps, int64 arrays of one shape."""

    u: np.ndarray
    v: np.ndarray
    refrac: np.ndarray


def compartment_init(shape: tuple[int, ...], v_init: np.ndarray | int = 0) -> CompartmentState:
    """Zero current, voltage ``v_init`` (broadcast), not refractory."""
    v = np.broadcast_to(np.asarray(v_init, dtype=np.int64), shape).copy()
    return CompartmentState(u=np.zeros(shape, np.int64), v=v, refrac=np.zeros(shape, np.int64))


def compartment_step(a_in: np.ndarray, state: CompartmentState,
                     params: CompartmentParams) -> tuple[np.ndarray, CompartmentState]:
    """One step of the integer compartment; pure (never mutates its arguments).

    ``a_in``: the dendritic sum of the step (output of :func:`synaptic_input`).
    Returns the boolean spikes and the new state.
    """
    a = np.asarray(a_in, dtype=np.int64)
    u = wrap_state(decay(state.u, params.du + DU_OFFSET) + np.left_shift(a, ACT_SHIFT))
    v_new = saturate_voltage(decay(state.v, params.dv + DV_OFFSET) + u + params.bias_eff)
    if params.refractory == 0 and not state.refrac.any():
        held = None
        v, refrac = v_new, state.refrac
    else:
        held = state.refrac > 0
        v = np.where(held, state.v, v_new)
        refrac = np.where(held, state.refrac - 1, 0)
    if params.spiking:
        spikes = v > params.vth_eff
        if held is not None:
            spikes &= ~held
        if params.reset == "zero":
            v = np.where(spikes, 0, v)
        else:
            v = np.where(spikes, v - params.vth_eff, v)
        if params.refractory:
            refrac = np.where(spikes, params.refractory, refrac)
    else:
        spikes = np.zeros(v.shape, dtype=bool)
    return spikes, CompartmentState(u=u, v=v, refrac=refrac)
