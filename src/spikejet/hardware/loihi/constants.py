"""Every bit width, shift, offset, range and rounding rule of Loihi's integer compartment, named once.

The one home of these numbers: the compartment step, the mapper, the NIR
export (:func:`spikejet.interop.nir.dequantize`) and quantization-aware training
(:mod:`spikejet.snn.surrogate`) import them from here. The arithmetic they
describe is in :mod:`spikejet.hardware.loihi` (package docstring). No imports:
this module is a leaf of the import graph.
"""

from __future__ import annotations

__all__ = [
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
    "WEIGHT_UNIT_SHIFT",
    "WEIGHT_EXP_MIN",
    "WEIGHT_EXP_MAX",
    "GRADED_PAYLOAD_BITS",
    "DEFAULT_AXON_DELAY",
    "SYNAPTIC_DELAY_BITS",
    "SYNAPTIC_DELAY_MAX",
    "DECAY_ROUNDING",
    "U_OVERFLOW",
    "V_OVERFLOW",
    "WEIGHT_EXP_ROUNDING",
    "RESETS",
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

#: Per-synapse delay: Loihi's synapses hold a weight, a delay and a tag (Davies et al. 2018,
#: IEEE Micro 38(1):82-99, the synapse state the learning engine may also change); a delayed
#: spike is added to the dendritic accumulator's slot of a later step. The field width is an
#: assumption: 6 bits, 0..62 steps, the range commonly quoted for Loihi 1's NxSDK (not stated in
#: the paper). Lava's CPU models (lava-nc 0.10) have no delays in their bit-accurate Dense.
SYNAPTIC_DELAY_BITS = 6
SYNAPTIC_DELAY_MAX = (1 << SYNAPTIC_DELAY_BITS) - 2

# --------------------------------------------------------------- named rules
#: Decays multiply the magnitude and shift right: rounding toward zero.
DECAY_ROUNDING = "toward_zero"
#: The current u wraps around modulo 2**24 (two's complement).
U_OVERFLOW = "wrap"
#: The voltage v saturates at +-(2**23 - 1).
V_OVERFLOW = "saturate"
#: A negative weight exponent shifts the dendritic sum right arithmetically.
WEIGHT_EXP_ROUNDING = "floor"


#: Integer v units of one weight-mantissa LSB at weight_exp = 0: ``(m << 1) << 6``
#: (the mixed-sign bit, then the alignment of the synaptic input into u).
WEIGHT_UNIT_SHIFT = WEIGHT_MIXED_SIGN_SHIFT + ACT_SHIFT

#: Reset modes a compartment can have (Loihi 1: zero; Loihi 2 adds subtraction).
RESETS = ("zero", "subtract")
