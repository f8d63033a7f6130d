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
zero). Each width, shift, offset and overflow rule is a named constant in
:mod:`~spikejet.hardware.loihi.constants`.

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

The package, bottom up (each module imports only those above it):

==================  =============================================================
``constants``       every bit width, shift, offset, range and rounding rule
``profiles``        ``loihi1`` / ``loihi2``: core sizes, resets, graded spikes
``compartment``     the integer arithmetic, the synaptic input and one pure
                    compartment step ``(input, state, params) -> (spikes, state)``
``chip``            on-chip layers, the network of them, :func:`simulate`
``mapping``         float SNN -> chip integers (per-layer scales, quantization
                    report), chip resources
``host``            the off-chip first layer and the chip's input spikes
``inference``       :func:`run_mapped`: host + chip + the float network's read-out
``evaluate``        accuracy, energy and latency of a mapped network against the
                    float one (shared by the ``loihi`` stage and ``spikejet
                    deploy``; not re-exported here: it needs the float simulator)
==================  =============================================================

This package re-exports the chip model (everything but ``evaluate``), so that
``spikejet.hardware.loihi`` stays the one entry point of the integer model.
"""

from __future__ import annotations

from . import chip, compartment, constants, host, inference, mapping, profiles

# The package's names are its modules' __all__ lists (each name is listed once, in its module).
from .chip import *  # noqa: F403
from .compartment import *  # noqa: F403
from .constants import *  # noqa: F403
from .host import *  # noqa: F403
from .inference import *  # noqa: F403
from .mapping import *  # noqa: F403
from .profiles import *  # noqa: F403

__all__ = [
    *constants.__all__,
    *profiles.__all__,
    *compartment.__all__,
    *chip.__all__,
    *mapping.__all__,
    *host.__all__,
    *inference.__all__,
]
