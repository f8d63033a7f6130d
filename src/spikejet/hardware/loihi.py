"""Bit-level model of Loihi's integer compartment (CUBA LIF) dynamics.

This is the hardware-constrained twin of the float reference SNN: the same
network, computed the way the chip computes it, on int64 numpy arrays, batched
over jets. It answers, before any chip time is spent, which accuracy a network
keeps under Loihi's fixed-point arithmetic, and how many spikes and synaptic
operations an inference costs.

The arithmetic follows Lava's bit-accurate CPU model of the Loihi LIF neuron
(lava-nc 0.10.0, ``lava/proc/lif/models.py`` ``PyLifModelBitAcc`` and
``lava/proc/dense/models.py`` ``PyDenseModelBitAcc``; read, not copied) and is
checked against traces recorded from it, spike for spike and value for value
(``scripts/lava_golden.py``, ``tests/test_loihi_lava.py``). One step of one
compartment, all integers::

    a   = (sum_j  (m_ij << 1) * s_j)  shifted by weight_exp     # dendrite
    u   = wrap24( decay(u, du + 1) + (a << 6) )                  # current
    v   = sat24 ( decay(v, dv) + u + (bias_mant << bias_exp) )   # voltage
    spike if v > (vth << 6);  then v = 0 (Loihi 1) or v -= vth << 6 (Loihi 2)

with ``decay(x, d) = sign(x) * ((|x| * (4096 - d)) >> 12)`` (rounding toward
zero). Each width, shift, offset and overflow rule is a named constant below.

Where this model deliberately goes beyond Lava's CPU model (both exist on the
chip, Lava's docstring lists them as missing):

* refractory period: ``refractory`` steps after a spike during which the
  voltage is held at its reset value (the current keeps integrating), as in
  Lava's floating-point ``LIFRefractory``; 0 (default) reproduces Lava;
* axon delay: ``axon_delay`` steps between a layer's source spikes and its
  dendrites. Lava's ``Dense`` sends on step t what it accumulated on step t-1,
  i.e. one step per layer; ``axon_delay=1`` (default) reproduces that exactly,
  0 gives same-step propagation (what float SNN simulators do), more delays
  the spikes further;
* the 24-bit current overflow is a true two's-complement wrap; Lava wraps once
  with a slightly different boundary (it keeps +2**23 and maps -2**23 to
  +2**23, and leaves values beyond +-3*2**23 unwrapped). The two agree on every
  value in between (tested).

Weights: a Loihi 1 synaptic weight is 9 bits wide; with mixed signs the sign
takes one bit, so the signed 8-bit mantissa ``m`` sits above an always-zero
least significant bit (Lava truncates that bit), hence ``m << 1`` above. Every
layer here uses mixed-sign weights. The weight exponent is applied to the
accumulated dendritic sum (left shift, or arithmetic right shift that rounds
toward minus infinity), as Lava does.

Profiles: ``loihi1`` (reset to zero, binary spikes, 1,024 compartments per
core) and ``loihi2`` (adds reset by subtraction and graded spikes: integer
payloads of up to 24 bits that the synapses multiply by the weights; Lava's
``Dense`` with ``num_message_bits > 0``, its graded processes use 24-bit
ports). Loihi 2 neurons are microcode-programmable, so other resets are
possible; this model implements the two that SNN conversion needs.

First layer off-chip (as the 2019 study did with Nengo-Loihi, the default of
:func:`map_network`): the first spiking layer sees the 16 real-valued,
standardized jet features. It runs on the host in floating point, with the
float reference's own encoder and neuron step, and only its spikes enter the
chip. Why spikes rather than a quantized input current: the chip's only input
interface is spikes (the study fed them through a host snip, up to 120 per
step), and the feature layer is where 8-bit weights would cost the most
accuracy while being the cheapest layer to compute on the host. Its host cost
(MACs and neuron updates) is reported separately, because the energy model
charges it at CPU/GPU rates. With a rate-coded input (``poisson`` or
``regular`` encoding) the whole network can run on the chip
(``first_layer_offchip=False``): each feature gets two input axons, for its
positive and negative events (:func:`split_signed_input`). A constant-current
input cannot enter the chip and is refused there.

The float -> integer mapping (per-layer scales, quantization report) lives in
:mod:`spikejet.hardware.loihi_map` and is re-exported here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, HardwareError

__all__ = [
    # constants
    "STATE_BITS",
    "STATE_MAX",
    "STATE_WRAP_MIN",
    "V_MIN",
    "V_MAX",
    "DECAY_BITS",
    "DECAY_UNITY",
    "DECAY_MAX",
    "DU_OFFSET",
    "DV_OFFSET",
    "ACT_SHIFT",
    "VTH_SHIFT",
    "VTH_BITS",
    "VTH_MAX",
    "BIAS_MANT_BITS",
    "BIAS_MANT_MIN",
    "BIAS_MANT_MAX",
    "BIAS_EXP_BITS",
    "BIAS_EXP_MAX",
    "WEIGHT_MANT_BITS",
    "WEIGHT_MANT_MIN",
    "WEIGHT_MANT_MAX",
    "WEIGHT_MIXED_SIGN_SHIFT",
    "WEIGHT_EXP_MIN",
    "WEIGHT_EXP_MAX",
    "GRADED_PAYLOAD_BITS",
    "DEFAULT_AXON_DELAY",
    "DECAY_ROUNDING",
    "U_OVERFLOW",
    "V_OVERFLOW",
    "WEIGHT_EXP_ROUNDING",
    # profiles
    "LoihiProfile",
    "LOIHI1",
    "LOIHI2",
    "PROFILES",
    "get_profile",
    # arithmetic
    "decay",
    "wrap_state",
    "saturate_voltage",
    "shift_by_exponent",
    "effective_bias",
    "effective_threshold",
    "synaptic_input",
    # neuron
    "CompartmentParams",
    "CompartmentState",
    "compartment_init",
    "compartment_step",
    # network
    "LoihiLayer",
    "LoihiNetwork",
    "LayerCounts",
    "LoihiRun",
    "simulate",
    # resources
    "LayerResources",
    "ResourceReport",
    "resources",
]

# ----------------------------------------------------------------- bit widths
#: Width of the compartment state registers u (current) and v (voltage).
STATE_BITS = 24
#: Largest value a signed 24-bit state holds, 2**23 - 1.
STATE_MAX = (1 << (STATE_BITS - 1)) - 1
#: Smallest two's-complement 24-bit value, -2**23 (where u wraps to).
STATE_WRAP_MIN = -(1 << (STATE_BITS - 1))
#: v saturates symmetrically at +-(2**23 - 1) (Lava clips to these bounds).
V_MAX = STATE_MAX
V_MIN = -STATE_MAX

#: Decay constants du, dv are unsigned 12-bit: x <- x * (4096 - d) >> 12.
DECAY_BITS = 12
DECAY_UNITY = 1 << DECAY_BITS
DECAY_MAX = DECAY_UNITY - 1
#: Loihi 1 adds a 1-bit offset to du (ds_offset = 1) so that the current can
#: decay fully (4096/4096) in one step; the voltage has none (dm_offset = 0).
DU_OFFSET = 1
DV_OFFSET = 0

#: Synaptic input is MSB-aligned into u by this left shift.
ACT_SHIFT = 6
#: The threshold mantissa is MSB-aligned into v by this left shift.
VTH_SHIFT = 6
#: Threshold mantissa: unsigned 17 bits.
VTH_BITS = 17
VTH_MAX = (1 << VTH_BITS) - 1

#: Bias: signed 13-bit mantissa, unsigned 3-bit exponent, bias = mant << exp.
BIAS_MANT_BITS = 13
BIAS_MANT_MIN = -(1 << (BIAS_MANT_BITS - 1))
BIAS_MANT_MAX = (1 << (BIAS_MANT_BITS - 1)) - 1
BIAS_EXP_BITS = 3
BIAS_EXP_MAX = (1 << BIAS_EXP_BITS) - 1

#: Weights: signed 8-bit mantissa; mixed-sign weights sit one bit up (their
#: 9-bit synaptic weight has a zero LSB), hence the extra shift.
WEIGHT_MANT_BITS = 8
WEIGHT_MANT_MIN = -(1 << (WEIGHT_MANT_BITS - 1))
WEIGHT_MANT_MAX = (1 << (WEIGHT_MANT_BITS - 1)) - 1
WEIGHT_MIXED_SIGN_SHIFT = 1
#: Per-layer weight exponent range (Loihi 1 wgtExp, signed 4 bits).
WEIGHT_EXP_MIN = -8
WEIGHT_EXP_MAX = 7

#: Loihi 2 graded spikes carry signed integer payloads of up to 24 bits.
GRADED_PAYLOAD_BITS = 24

#: One step of axon delay per layer (Lava's Dense buffers one step).
DEFAULT_AXON_DELAY = 1

# --------------------------------------------------------------- named rules
#: Decays multiply the magnitude and shift right: rounding toward zero.
DECAY_ROUNDING = "toward_zero"
#: The current u wraps around modulo 2**24 (two's complement).
U_OVERFLOW = "wrap"
#: The voltage v saturates at +-(2**23 - 1).
V_OVERFLOW = "saturate"
#: A negative weight exponent shifts the dendritic sum right arithmetically.
WEIGHT_EXP_ROUNDING = "floor"

_RESETS = ("zero", "subtract")


# ------------------------------------------------------------------ profiles


@dataclass(frozen=True)
class LoihiProfile:
    """What one chip generation supports.

    ``compartments_per_core``: Loihi 1 cores hold up to 1,024 compartments
    (Davies et al. 2018); Loihi 2 cores up to 8,192 neurons (1 M neurons over
    128 cores per chip, Intel's Loihi 2 brief, 2021). ``resets``: the reset
    modes the neuron supports. ``graded_payload_bits``: 0 for binary spikes.
    """

    name: str
    compartments_per_core: int
    cores_per_chip: int
    resets: tuple[str, ...]
    graded_payload_bits: int

    def __post_init__(self) -> None:
        if self.compartments_per_core <= 0 or self.cores_per_chip <= 0:
            raise ConfigError(f"profile {self.name!r}: core sizes must be positive")
        bad = set(self.resets) - set(_RESETS)
        if bad or not self.resets:
            raise ConfigError(f"profile {self.name!r}: resets must be a subset of {_RESETS}")
        if self.graded_payload_bits < 0:
            raise ConfigError(f"profile {self.name!r}: graded_payload_bits must be >= 0")

    @property
    def graded_spikes(self) -> bool:
        return self.graded_payload_bits > 0

    def payload_range(self) -> tuple[int, int]:
        """Allowed input event values (binary spikes: 0..1)."""
        if not self.graded_spikes:
            return 0, 1
        half = 1 << (self.graded_payload_bits - 1)
        return -half, half - 1


LOIHI1 = LoihiProfile(
    name="loihi1", compartments_per_core=1024, cores_per_chip=128,
    resets=("zero",), graded_payload_bits=0,
)
LOIHI2 = LoihiProfile(
    name="loihi2", compartments_per_core=8192, cores_per_chip=128,
    resets=("zero", "subtract"), graded_payload_bits=GRADED_PAYLOAD_BITS,
)
PROFILES: dict[str, LoihiProfile] = {p.name: p for p in (LOIHI1, LOIHI2)}


def get_profile(profile: str | LoihiProfile) -> LoihiProfile:
    if isinstance(profile, LoihiProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ConfigError(
            f"unknown Loihi profile {profile!r}; use one of {', '.join(PROFILES)}"
        ) from None


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


class _Synapses:
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
    acc = _Synapses(weight_mant).accumulate(events, max_payload)
    return shift_by_exponent(acc, weight_exp)


# -------------------------------------------------------------- compartments


def _int_array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ConfigError(f"{name} must be integers, got {arr.dtype} values")
    return arr.astype(np.int64)


def _check_range(name: str, arr: np.ndarray | int, lo: int, hi: int, what: str) -> None:
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
        _check_range("du", self.du, 0, DECAY_MAX, "unsigned 12-bit decay")
        _check_range("dv", self.dv, 0, DECAY_MAX, "unsigned 12-bit decay")
        _check_range("vth", self.vth, 0, VTH_MAX, "unsigned 17-bit threshold mantissa")
        if self.refractory < 0:
            raise ConfigError(f"refractory must be >= 0 steps, got {self.refractory}")
        bm = _int_array("bias_mant", self.bias_mant)
        be = _int_array("bias_exp", self.bias_exp)
        _check_range("bias_mant", bm, BIAS_MANT_MIN, BIAS_MANT_MAX, "signed 13-bit mantissa")
        _check_range("bias_exp", be, 0, BIAS_EXP_MAX, "unsigned 3-bit exponent")
        bm.setflags(write=False)
        be.setflags(write=False)
        object.__setattr__(self, "bias_mant", bm)
        object.__setattr__(self, "bias_exp", be)
        if self.reset not in _RESETS:
            raise ConfigError(f"reset must be one of {', '.join(_RESETS)}, got {self.reset!r}")

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


# ------------------------------------------------------------------- network


@dataclass(frozen=True)
class LoihiLayer:
    """One on-chip layer: synapses (int8 mantissas, weight exponent) into compartments."""

    weight_mant: np.ndarray
    weight_exp: int
    compartment: CompartmentParams
    axon_delay: int = DEFAULT_AXON_DELAY
    v_init: np.ndarray | int = 0
    name: str = ""

    def __post_init__(self) -> None:
        w = _int_array("weight_mant", self.weight_mant)
        if w.ndim != 2:
            raise ConfigError(f"weight_mant must be 2-D [out, in], got shape {w.shape}")
        _check_range("weight_mant", w, WEIGHT_MANT_MIN, WEIGHT_MANT_MAX, "signed 8-bit mantissa")
        w = w.astype(np.int8)
        w.setflags(write=False)
        object.__setattr__(self, "weight_mant", w)
        if isinstance(self.weight_exp, bool) or not isinstance(self.weight_exp, int | np.integer):
            raise ConfigError(f"weight_exp must be an integer, got {self.weight_exp!r}")
        object.__setattr__(self, "weight_exp", int(self.weight_exp))
        _check_range("weight_exp", self.weight_exp, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX, "weight exponent")
        if not isinstance(self.axon_delay, int | np.integer) or self.axon_delay < 0:
            raise ConfigError(f"axon_delay must be an integer >= 0 steps, got {self.axon_delay!r}")
        object.__setattr__(self, "axon_delay", int(self.axon_delay))
        n = w.shape[0]
        for name in ("bias_mant", "bias_exp"):
            arr = np.asarray(getattr(self.compartment, name))
            if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
                raise ConfigError(f"{name} has shape {arr.shape}; layer {self.name!r} has {n} neurons")
        vi = _int_array("v_init", self.v_init)
        _check_range("v_init", vi, V_MIN, V_MAX, "24-bit voltage")
        object.__setattr__(self, "v_init", vi)

    @property
    def n_in(self) -> int:
        return int(self.weight_mant.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight_mant.shape[0])

    @property
    def synapses(self) -> int:
        """Non-zero synapses (zero mantissas need no synaptic memory)."""
        return int(np.count_nonzero(self.weight_mant))

    @property
    def fan_out_per_input(self) -> np.ndarray:
        """Non-zero outgoing synapses of each input axon, shape [n_in]."""
        return np.count_nonzero(self.weight_mant, axis=0).astype(np.int64)


@dataclass(frozen=True)
class LoihiNetwork:
    """A chain of on-chip layers for one profile.

    ``readout``: "count" (spikes of the last layer, ties broken by its residual
    voltage) or "voltage" (final voltage of a non-spiking last layer).
    """

    layers: tuple[LoihiLayer, ...]
    profile: LoihiProfile = LOIHI1
    readout: str = "count"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "profile", get_profile(self.profile))
        if not self.layers:
            raise ConfigError("a Loihi network needs at least one layer")
        for prev, nxt in zip(self.layers, self.layers[1:], strict=False):
            if prev.n_out != nxt.n_in:
                raise ConfigError(
                    f"layer {nxt.name!r} expects {nxt.n_in} inputs but layer {prev.name!r} "
                    f"has {prev.n_out} neurons"
                )
        for layer in self.layers:
            if layer.compartment.reset not in self.profile.resets:
                raise HardwareError(
                    f"layer {layer.name!r} resets by {layer.compartment.reset!r}, which "
                    f"{self.profile.name} does not support (it supports "
                    f"{', '.join(self.profile.resets)}); use reset='zero' or the loihi2 profile"
                )
        if self.readout not in ("count", "voltage"):
            raise ConfigError(f"readout must be 'count' or 'voltage', got {self.readout!r}")
        if self.readout == "voltage" and self.layers[-1].compartment.spiking:
            raise ConfigError("readout='voltage' needs a non-spiking last layer (spiking=False)")
        if self.readout == "count" and not self.layers[-1].compartment.spiking:
            raise ConfigError("readout='count' needs a spiking last layer")

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    @property
    def total_axon_delay(self) -> int:
        """Steps an input spike needs to reach the last layer's dendrites."""
        return sum(layer.axon_delay for layer in self.layers)


@dataclass(frozen=True)
class LayerCounts:
    """Operation counts of one layer summed over a batch and all steps."""

    name: str
    neurons: int
    spikes: int
    synops: int
    input_events: int
    neuron_updates: int


@dataclass(frozen=True)
class LoihiRun:
    """Result of :func:`simulate` on a batch."""

    n_steps: int
    batch: int
    scores: np.ndarray
    spike_counts: tuple[np.ndarray, ...]
    final_state: tuple[CompartmentState, ...]
    counts: tuple[LayerCounts, ...]
    traces: dict[str, np.ndarray] | None = field(default=None)

    @property
    def predictions(self) -> np.ndarray:
        return np.argmax(self.scores, axis=1)

    def per_inference(self) -> dict[str, float]:
        """Mean spikes, synaptic ops and neuron updates per jet (all on-chip layers)."""
        b = max(self.batch, 1)
        return {
            "spikes": sum(c.spikes for c in self.counts) / b,
            "synops": sum(c.synops for c in self.counts) / b,
            "neuron_updates": sum(c.neuron_updates for c in self.counts) / b,
            "input_events": self.counts[0].input_events / b if self.counts else 0.0,
        }


def _check_events(events: np.ndarray, profile: LoihiProfile, n_in: int, batch: int | None,
                  step: int) -> np.ndarray:
    e = np.asarray(events)
    if e.ndim != 2 or e.shape[1] != n_in or (batch is not None and e.shape[0] != batch):
        raise ConfigError(
            f"input events at step {step} have shape {e.shape}; expected [batch, {n_in}]"
        )
    if e.dtype.kind == "b":
        return e
    if e.dtype.kind == "f":
        if not np.all(e == np.round(e)):
            raise ConfigError("input events must be integers (spikes or graded payloads)")
    lo, hi = profile.payload_range()
    if e.size and (e.min() < lo or e.max() > hi):
        what = "binary spikes (0 or 1)" if not profile.graded_spikes else (
            f"graded payloads of {profile.graded_payload_bits} bits")
        raise HardwareError(
            f"{profile.name} takes {what}; got input events in [{e.min()}, {e.max()}]"
            + ("; use the loihi2 profile for graded spikes" if not profile.graded_spikes else "")
        )
    return e.astype(np.int64)


def simulate(net: LoihiNetwork, inputs: np.ndarray | Iterable[np.ndarray], *,
             n_steps: int | None = None, record: bool = False,
             record_output: bool = False) -> LoihiRun:
    """Run the integer network on a batch.

    ``inputs``: array [T, batch, n_in] or an iterable of per-step arrays
    [batch, n_in] (0/1 spikes, or graded payloads on loihi2). Runs ``n_steps``
    steps (default: the number of input steps); steps past the end of the
    input get no input events, so ``n_steps = T + net.total_axon_delay`` lets
    the last input spikes reach the read-out. ``record=True`` keeps u, v and
    spikes of every layer at every step (``traces['u0']`` ... [steps, batch, n]);
    ``record_output=True`` keeps only the last layer's spikes and voltage
    (``traces['out_s']``, ``traces['out_v']``), enough for windowed or filtered
    read-outs.
    """
    profile = net.profile
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 3:
            raise ConfigError(f"inputs must be [T, batch, n_in], got shape {inputs.shape}")
        source: Iterable[np.ndarray] = iter(inputs)
        n_total = inputs.shape[0] if n_steps is None else n_steps
        batch: int | None = inputs.shape[1]
    else:
        source = iter(inputs)
        n_total = n_steps
        batch = None
    if n_total is None:
        raise ConfigError("n_steps is required when inputs is an iterable")
    if n_total < 0:
        raise ConfigError(f"n_steps must be >= 0, got {n_total}")

    layers = net.layers
    synapses = [_Synapses(layer.weight_mant) for layer in layers]
    states: list[CompartmentState] | None = None
    histories: list[deque[np.ndarray]] = []
    spike_counts: list[np.ndarray] = []
    tallies = [dict(spikes=0, synops=0, input_events=0) for _ in layers]
    fan_out = [layer.fan_out_per_input for layer in layers]
    rec: dict[str, list[np.ndarray]] = {}
    exhausted = False

    for t in range(n_total):
        ext = None
        if not exhausted:
            try:
                ext = next(source)
            except StopIteration:
                exhausted = True
        if ext is not None:
            ext = _check_events(ext, profile, net.n_in, batch, t)
            if batch is None:
                batch = ext.shape[0]
        if batch is None:
            raise ConfigError("inputs are empty: cannot infer the batch size")
        if states is None:
            states = [compartment_init((batch, layer.n_out), layer.v_init) for layer in layers]
            histories = [deque([np.zeros((batch, layer.n_in), np.int64)] * layer.axon_delay)
                         for layer in layers]
            spike_counts = [np.zeros((batch, layer.n_out), np.int64) for layer in layers]
        src = ext if ext is not None else np.zeros((batch, net.n_in), np.int64)
        for i, layer in enumerate(layers):
            hist = histories[i]
            hist.append(src)
            events = hist.popleft()
            nz = events != 0
            tallies[i]["input_events"] += int(np.count_nonzero(nz))
            tallies[i]["synops"] += int((nz.astype(np.float64) @ fan_out[i].astype(np.float64)).sum())
            a = shift_by_exponent(
                synapses[i].accumulate(events, None if i == 0 else 1), layer.weight_exp)
            spikes, states[i] = compartment_step(a, states[i], layer.compartment)
            spike_counts[i] += spikes
            tallies[i]["spikes"] += int(np.count_nonzero(spikes))
            if record_output and i == len(layers) - 1:
                rec.setdefault("out_s", []).append(spikes)
                rec.setdefault("out_v", []).append(states[i].v)
            if record:
                rec.setdefault(f"u{i}", []).append(states[i].u)
                rec.setdefault(f"v{i}", []).append(states[i].v)
                rec.setdefault(f"s{i}", []).append(spikes)
            src = spikes

    if states is None:  # zero steps
        b = batch or 0
        states = [compartment_init((b, layer.n_out), layer.v_init) for layer in layers]
        spike_counts = [np.zeros((b, layer.n_out), np.int64) for layer in layers]
        batch = b
    last = layers[-1]
    if net.readout == "count":
        vth = max(last.compartment.vth_eff, 1)
        frac = np.clip(states[-1].v / vth, 0.0, 0.999)
        scores = spike_counts[-1] + frac
    else:
        scores = states[-1].v.astype(np.float64)
    counts = tuple(
        LayerCounts(
            name=layer.name or f"layer{i}", neurons=layer.n_out,
            spikes=tallies[i]["spikes"], synops=tallies[i]["synops"],
            input_events=tallies[i]["input_events"],
            neuron_updates=layer.n_out * batch * n_total,
        )
        for i, layer in enumerate(layers)
    )
    traces = {k: np.stack(v) for k, v in rec.items()} if (record or record_output) else None
    return LoihiRun(
        n_steps=n_total, batch=batch, scores=scores, spike_counts=tuple(spike_counts),
        final_state=tuple(states), counts=counts, traces=traces,
    )


# ----------------------------------------------------------------- resources


@dataclass(frozen=True)
class LayerResources:
    name: str
    compartments: int
    synapses: int
    max_fan_in: int
    max_fan_out: int
    cores: int


@dataclass(frozen=True)
class ResourceReport:
    profile: str
    layers: tuple[LayerResources, ...]
    compartments: int
    synapses: int
    cores: int
    chips: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "compartments": self.compartments,
            "synapses": self.synapses,
            "cores": self.cores,
            "chips": self.chips,
            "layers": [vars(r) for r in self.layers],
        }


def resources(net: LoihiNetwork, *, max_chips: int = 1) -> ResourceReport:
    """Compartments, synapses, fan-in/out and cores of a network.

    Each layer gets its own cores (``ceil(neurons / compartments_per_core)``),
    as Nengo-Loihi places each block; the synapses of a layer live on the cores
    of its compartments. Raises :class:`HardwareError` when the network needs
    more than ``max_chips`` chips.
    """
    if max_chips < 1:
        raise ConfigError(f"max_chips must be >= 1, got {max_chips}")
    p = net.profile
    rows = []
    for i, layer in enumerate(net.layers):
        nz = layer.weight_mant != 0
        rows.append(LayerResources(
            name=layer.name or f"layer{i}",
            compartments=layer.n_out,
            synapses=int(nz.sum()),
            max_fan_in=int(nz.sum(axis=1).max(initial=0)),
            max_fan_out=int(nz.sum(axis=0).max(initial=0)),
            cores=math.ceil(layer.n_out / p.compartments_per_core),
        ))
    cores = sum(r.cores for r in rows)
    chips = math.ceil(cores / p.cores_per_chip)
    if chips > max_chips:
        biggest = max(rows, key=lambda r: r.compartments)
        raise HardwareError(
            f"the network needs {cores} cores = {chips} {p.name} chips "
            f"({p.compartments_per_core} compartments per core, {p.cores_per_chip} cores per chip) "
            f"but max_chips={max_chips}; shrink the largest layer ({biggest.name}: "
            f"{biggest.compartments} neurons) or allow more chips"
        )
    return ResourceReport(
        profile=p.name, layers=tuple(rows),
        compartments=sum(r.compartments for r in rows),
        synapses=sum(r.synapses for r in rows), cores=cores, chips=chips,
    )


# The float -> integer mapping lives in loihi_map (it needs the names above);
# re-exported here so that ``spikejet.hardware.loihi`` is the one entry point.
from .loihi_map import (  # noqa: E402
    MIN_VTH_MANT,
    V_HEADROOM_BITS,
    FloatLayer,
    LayerQuantization,
    LoihiMapping,
    MappedRun,
    encoded_input_spikes,
    float_layers_from,
    map_layer,
    map_network,
    offchip_spikes,
    run_mapped,
    split_signed_input,
)

__all__ += [
    "MIN_VTH_MANT",
    "V_HEADROOM_BITS",
    "FloatLayer",
    "LayerQuantization",
    "LoihiMapping",
    "MappedRun",
    "encoded_input_spikes",
    "float_layers_from",
    "map_layer",
    "map_network",
    "offchip_spikes",
    "run_mapped",
    "split_signed_input",
]
