"""Mapping a float SNN onto Loihi's integers, with the quantization error per layer.

The arithmetic is in :mod:`~spikejet.hardware.loihi.compartment`, every
constant in :mod:`~spikejet.hardware.loihi.constants`. A float layer is described by its weight [out, in], bias [out]
and neuron parameters (``spikejet.snn.neurons.IFParams`` / ``LIFParams``, or
``None`` for a non-spiking read-out), read by attribute so that any object
with ``kind``, ``threshold``, ``reset``, ``v_init`` (and ``decay_syn``,
``decay_mem`` for LIF) works.

Scale choice, per layer (spikes are unitless, so every layer has its own):
the voltage scale ``s`` (integer v units per float unit) and the weight
exponent are chosen together so that

* the largest |weight| uses the full 8-bit mantissa (127), which fixes
  ``s = 127 * 2**(7 + weight_exp) / max|W|`` -- the ratio of every weight to
  the threshold and the bias is then kept to the mantissa's precision;
* ``weight_exp`` is the largest exponent for which nothing can overflow: the
  threshold ``vth << 6`` stays below ``2**23 >> V_HEADROOM_BITS`` (room for the
  voltage to swing below zero before it saturates), the worst-case current
  (all inputs active, steady state of the synaptic filter) fits in 24 bits,
  every bias fits 13-bit mantissa << 7, and, where a calibration gives the
  largest |v| seen in the float model, that fits too. A larger exponent only
  refines the threshold and bias, never the weights.

Each bias gets the smallest exponent whose mantissa holds it (finest step).
Decays: ``du = round((1 - decay_syn) * 4096) - DU_OFFSET``,
``dv = round((1 - decay_mem) * 4096)``. Float neurons fire at ``v >= thr``,
Loihi at ``v > vth << 6``: on the integer grid that is one least significant
bit, smaller than the threshold's own rounding, which is reported.

Reset: Loihi 1 only resets to zero. A float layer that resets by subtraction is
mapped to reset-to-zero on ``loihi1`` (what the chip would do; reported as
``reset_changed``) unless ``allow_reset_change=False``; ``loihi2`` keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...config.sections import HardwareConfig
from ...errors import ConfigError, HardwareError
from .chip import LoihiLayer, LoihiNetwork
from .compartment import CompartmentParams
from .constants import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    DECAY_MAX,
    DECAY_UNITY,
    DEFAULT_AXON_DELAY,
    DU_OFFSET,
    GRADED_PAYLOAD_BITS,
    STATE_MAX,
    VTH_MAX,
    VTH_SHIFT,
    WEIGHT_EXP_MAX,
    WEIGHT_EXP_MIN,
    WEIGHT_MANT_MAX,
    WEIGHT_MANT_MIN,
    WEIGHT_UNIT_SHIFT,
)
from .profiles import LoihiProfile, get_profile

__all__ = [
    "V_HEADROOM_BITS",
    "MIN_VTH_MANT",
    "DEFAULT_INPUT_BITS",
    "DEFAULT_INPUT_CLIP",
    "INPUT_MODES",
    "InputQuantization",
    "FloatLayer",
    "LayerQuantization",
    "LoihiMapping",
    "float_layers_from",
    "map_layer",
    "map_network",
    "split_signed_input",
    "LayerResources",
    "ResourceReport",
    "resources",
]

#: The threshold (vth << 6) is kept below 2**23 >> V_HEADROOM_BITS, leaving the
#: voltage room to swing 2**V_HEADROOM_BITS - 1 thresholds below zero (an IF
#: neuron without leak drifts far below zero on negative input; the chip clips it
#: at V_MIN, which only matters if it later has to climb back).
V_HEADROOM_BITS = 5
#: A threshold mantissa below this is too coarse (relative step > 1/64); the
#: mapping refuses rather than silently losing the weight/threshold ratio.
MIN_VTH_MANT = 64
#: Bits of each feature's graded payload when the first layer runs on the chip (signed: the
#: payload is in [-(2**(bits-1) - 1), 2**(bits-1) - 1]) and the clip of the standardized
#: features before quantization: the loihi config section's defaults (one home; docs/hardware.md,
#: "Whole network on chip").
DEFAULT_INPUT_BITS: int = HardwareConfig.input_bits
DEFAULT_INPUT_CLIP: float = HardwareConfig.input_clip
#: How the features reach the chip: ``offchip`` (the first layer runs on the host and sends its
#: spikes), ``spikes`` (a rate code: binary spikes every step, split signed axons),
#: ``graded_once`` (Loihi 2: each quantized feature sent once as a graded spike; the first layer's
#: current holds it) or ``graded_every_step`` (the same payload every step, for a first layer with
#: a synaptic filter, whose current must be fed every step).
INPUT_MODES = ("offchip", "spikes", "graded_once", "graded_every_step")


@dataclass(frozen=True)
class InputQuantization:
    """The features as the chip receives them: signed ``bits``-bit integers, ``x ~ payload * step``.

    ``step = clip / (2**(bits-1) - 1)``: one step for every feature (the features are standardized, so
    one grid keeps the first layer's weights to the mantissa's relative precision); values beyond
    ``+-clip`` are clipped. ``mode``: ``graded_once`` or ``graded_every_step`` (:data:`INPUT_MODES`).
    """

    bits: int = DEFAULT_INPUT_BITS
    clip: float = DEFAULT_INPUT_CLIP
    mode: str = "graded_once"

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int | np.integer) or \
                not 2 <= int(self.bits) <= GRADED_PAYLOAD_BITS:
            raise ConfigError(f"input bits must be an integer in 2..{GRADED_PAYLOAD_BITS} (the graded payload), "
                              f"got {self.bits!r}")
        object.__setattr__(self, "bits", int(self.bits))
        if not (isinstance(self.clip, int | float) and math.isfinite(self.clip) and self.clip > 0):
            raise ConfigError(f"input clip must be a positive number, got {self.clip!r}")
        object.__setattr__(self, "clip", float(self.clip))
        if self.mode not in ("graded_once", "graded_every_step"):
            raise ConfigError(f"input mode must be graded_once or graded_every_step, got {self.mode!r}")

    @property
    def max_payload(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def step(self) -> float:
        return self.clip / self.max_payload

    def quantize(self, features: np.ndarray) -> np.ndarray:
        """int64 payloads ``clip(round(x / step), -P, P)`` of float features [batch, n]."""
        x = np.asarray(features, dtype=np.float64)
        return np.clip(np.rint(x / self.step), -self.max_payload, self.max_payload).astype(np.int64)

    def clipped_fraction(self, features: np.ndarray) -> float:
        x = np.asarray(features, dtype=np.float64)
        return float(np.mean(np.abs(x) > self.clip + self.step / 2)) if x.size else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"bits": self.bits, "clip": self.clip, "step": self.step, "mode": self.mode,
                "max_payload": self.max_payload}


@dataclass(frozen=True)
class FloatLayer:
    """A float dense layer: ``weight`` [out, in], ``bias`` [out], ``neuron`` (None = read-out)."""

    weight: np.ndarray
    bias: np.ndarray
    neuron: Any = None
    name: str = ""

    def __post_init__(self) -> None:
        w = _to_numpy(self.weight).astype(np.float64)
        b = _to_numpy(self.bias).astype(np.float64)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise ConfigError(
                f"layer {self.name!r}: weight must be [out, in] and bias [out]; got {w.shape}, {b.shape}"
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise ConfigError(f"layer {self.name!r}: weights and biases must be finite")
        if self.neuron is not None and getattr(self.neuron, "kind", None) not in ("if", "lif"):
            raise HardwareError(
                f"layer {self.name!r}: neuron kind {getattr(self.neuron, 'kind', type(self.neuron).__name__)!r} "
                "has no Loihi compartment mapping; use IF or LIF neurons (a multi-spike neuron such as "
                "Nengo's spiking ReLU needs graded spikes and is not mapped)"
            )
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def float_layers_from(net: Any) -> tuple[FloatLayer, ...]:
    """Float layers of a network object with ``.layers`` of (weight, bias, neuron), or a sequence."""
    layers = getattr(net, "layers", net)
    out = []
    for i, layer in enumerate(layers):
        if isinstance(layer, FloatLayer):
            out.append(layer)
            continue
        try:
            out.append(FloatLayer(weight=layer.weight, bias=layer.bias,
                                  neuron=getattr(layer, "neuron", None),
                                  name=getattr(layer, "name", "") or f"layer{i}"))
        except AttributeError as exc:
            raise ConfigError(f"layer {i} has no weight/bias: {exc}") from None
    if not out:
        raise ConfigError("the network has no layers")
    return tuple(out)


@dataclass(frozen=True)
class LayerQuantization:
    """How one float layer was mapped and what it lost (float units of the layer's voltage)."""

    name: str
    scale: float
    weight_exp: int
    weight_step: float
    weight_max_abs_err: float
    weight_rel_rms_err: float
    weights_clipped: int
    vth_mant: int | None
    threshold_rel_err: float
    bias_max_abs_err: float
    bias_max_step: float
    biases_clipped: int
    du: int
    dv: int
    decay_syn_err: float
    decay_mem_err: float
    reset: str
    reset_changed: bool
    limited_by: str

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _decay_consts(neuron: Any) -> tuple[int, int, float, float, float, float]:
    """(du, dv, decay_syn, decay_mem, decay_syn_q, decay_mem_q)."""
    if neuron is None or neuron.kind == "if":
        ds, dm = 0.0, 1.0
    else:
        ds, dm = float(neuron.decay_syn), float(neuron.decay_mem)
    du = int(np.clip(round((1.0 - ds) * DECAY_UNITY) - DU_OFFSET, 0, DECAY_MAX))
    dv = int(np.clip(round((1.0 - dm) * DECAY_UNITY), 0, DECAY_MAX))
    ds_q = 1.0 - (du + DU_OFFSET) / DECAY_UNITY
    dm_q = 1.0 - dv / DECAY_UNITY
    return du, dv, ds, dm, ds_q, dm_q


def _bias_exps(bias_int: np.ndarray) -> np.ndarray:
    """Smallest exponent per neuron whose 13-bit mantissa holds the bias."""
    need = np.abs(bias_int) / BIAS_MANT_MAX
    with np.errstate(divide="ignore"):
        e = np.ceil(np.log2(np.maximum(need, 1.0)))
    return np.clip(e, 0, BIAS_EXP_MAX).astype(np.int64)



def _choose_scale(name: str, *, wmax: float, row_abs: float, gain: float, bmax: float, thr: float | None,
                  v_abs_max: float | None, v_limit: int) -> tuple[int, float, str]:
    """(weight_exp, scale, what limited it): the largest exponent at which nothing overflows."""
    spiking = thr is not None
    limited_by = "weight_exp max"
    for wexp in range(WEIGHT_EXP_MAX, WEIGHT_EXP_MIN - 1, -1):
        if wmax == 0:  # no weights: scale from the threshold, voltage bound and bias alone
            s = (v_limit / thr) if spiking else STATE_MAX / max(v_abs_max or 0.0, 1e-30)
            if bmax > 0:
                s = min(s, BIAS_MANT_MAX * 2.0**BIAS_EXP_MAX / bmax)
            return 0, s, "no weights"
        s = WEIGHT_MANT_MAX * 2.0 ** (WEIGHT_UNIT_SHIFT + wexp) / wmax
        checks = [("current", row_abs * s * gain <= STATE_MAX),
                  ("bias", bmax * s <= BIAS_MANT_MAX * 2.0**BIAS_EXP_MAX)]
        if spiking:
            checks.append(("threshold", s * thr <= v_limit))
        if v_abs_max is not None:
            checks.append(("voltage", v_abs_max * s <= STATE_MAX))
        failed = [check for check, ok in checks if not ok]
        if not failed:
            return wexp, s, limited_by
        limited_by = "+".join(failed)
    raise HardwareError(
        f"layer {name!r} cannot be mapped: even at weight_exp={WEIGHT_EXP_MIN} the "
        f"{limited_by} would overflow Loihi's registers; rescale the layer (smaller biases or "
        f"fan-in relative to the threshold)"
    )


def weight_mantissas(w: np.ndarray, s: float, wexp: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float weights ``w`` at voltage scale ``s`` and weight exponent ``wexp``: (the unrounded
    mantissas, the signed 8-bit mantissas, the weight error ``m x unit / s - w``)."""
    unit = 2.0 ** (WEIGHT_UNIT_SHIFT + wexp)
    m_float = w * s / unit
    m = np.clip(np.rint(m_float), WEIGHT_MANT_MIN, WEIGHT_MANT_MAX).astype(np.int64)
    return m_float, m, m * unit / s - w


def _threshold(layer: FloatLayer, s: float, wmax: float) -> tuple[int, float, str, int]:
    """(vth mantissa, relative threshold error, reset, integer v_init) of a layer (zeros for a read-out)."""
    neuron = layer.neuron
    if neuron is None:
        return 0, 0.0, "zero", 0
    thr = float(neuron.threshold)
    vth = int(round(s * thr / 2**VTH_SHIFT))
    if vth < MIN_VTH_MANT:
        raise HardwareError(
            f"layer {layer.name!r}: the threshold maps to vth={vth} (< {MIN_VTH_MANT}), too coarse "
            f"to keep the weight/threshold ratio; the weights are {wmax / thr:.3g} x the "
            "threshold -- rescale the layer (threshold balancing) before mapping"
        )
    vth = min(vth, VTH_MAX)
    thr_q = vth * 2**VTH_SHIFT / s
    thr_err = abs(thr_q - thr) / thr
    v_init_int = int(round(float(getattr(neuron, "v_init", 0.0)) * s))
    return vth, thr_err, str(neuron.reset), v_init_int


def _chip_reset(layer: FloatLayer, reset: str, prof: LoihiProfile, allow_reset_change: bool) -> tuple[str, bool]:
    """(the reset the chip runs, whether it differs from the float layer's)."""
    if reset in prof.resets:
        return reset, False
    if not allow_reset_change:
        raise HardwareError(
            f"layer {layer.name!r} resets by {reset!r}, which {prof.name} cannot do; "
            "use the loihi2 profile or allow_reset_change=True"
        )
    return "zero", True


def map_layer(layer: FloatLayer, *, profile: str | LoihiProfile = "loihi1",
              axon_delay: int = DEFAULT_AXON_DELAY, refractory: int = 0,
              v_abs_max: float | None = None, n_steps: int | None = None,
              max_payload: int = 1, allow_reset_change: bool = True,
              v_headroom_bits: int = V_HEADROOM_BITS,
              hold_input: bool = False) -> tuple[LoihiLayer, LayerQuantization]:
    """Integer twin of one float layer and its quantization report.

    ``v_abs_max``: largest |v| the float layer reaches (calibration data), in
    float units; for a non-spiking read-out without it the worst case over
    ``n_steps`` steps is used. ``max_payload``: largest input event value
    (1 for binary spikes). ``v_headroom_bits``: see :data:`V_HEADROOM_BITS`.
    ``hold_input``: the layer receives its input once (graded spikes of constant features) and
    its current holds it: ``du = 0``, the slowest decay the compartment has (``DU_OFFSET`` still
    takes 1/4096 of the current per step, reported as ``decay_syn_err``); needs a layer without
    a synaptic filter (its float current is its input of the step).
    """
    prof = get_profile(profile)
    if not 0 <= int(v_headroom_bits) <= 16:
        raise ConfigError(f"v_headroom_bits must be in [0, 16], got {v_headroom_bits!r}")
    w, b, neuron = layer.weight, layer.bias, layer.neuron
    spiking = neuron is not None
    du, dv, ds, dm, ds_q, dm_q = _decay_consts(neuron)
    gain = 1.0 / max(1.0 - ds_q, 1.0 / DECAY_UNITY)  # steady state of the current filter
    if hold_input:
        if ds != 0.0:
            raise HardwareError(f"layer {layer.name!r} has a synaptic filter: its current cannot hold an input "
                                "sent once; send it every step")
        # the ideal is a current that keeps its value (decay 1); the chip keeps (4096 - 1)/4096 per step
        du, ds, ds_q, gain = 0, 1.0, 1.0 - DU_OFFSET / DECAY_UNITY, 1.0
    wmax = float(np.abs(w).max(initial=0.0))
    row_abs = float(np.abs(w).sum(axis=1).max(initial=0.0)) * max(int(max_payload), 1)
    bmax = float(np.abs(b).max(initial=0.0))
    if not spiking and v_abs_max is None:
        if n_steps is None:
            raise ConfigError(f"layer {layer.name!r}: a non-spiking read-out needs v_abs_max or n_steps "
                              "to choose its scale")
        v_abs_max = n_steps * (row_abs * gain + bmax)
    wexp, s, limited_by = _choose_scale(
        layer.name, wmax=wmax, row_abs=row_abs, gain=gain, bmax=bmax,
        thr=float(neuron.threshold) if spiking else None, v_abs_max=v_abs_max,
        v_limit=STATE_MAX >> int(v_headroom_bits))
    unit = 2.0 ** (WEIGHT_UNIT_SHIFT + wexp)

    m_float, m, w_err = weight_mantissas(w, s, wexp)
    rms_w = float(np.sqrt(np.mean(w**2))) if w.size else 0.0

    b_int = b * s
    be = _bias_exps(b_int)
    bm = np.clip(np.rint(b_int / 2.0**be), -BIAS_MANT_MAX - 1, BIAS_MANT_MAX).astype(np.int64)
    b_q = bm * 2.0**be / s

    vth, thr_err, reset, v_init_int = _threshold(layer, s, wmax)
    reset, reset_changed = _chip_reset(layer, reset, prof, allow_reset_change)
    comp = CompartmentParams(du=du, dv=dv, vth=vth, bias_mant=bm, bias_exp=be,
                             refractory=refractory if spiking else 0, reset=reset, spiking=spiking)
    out = LoihiLayer(weight_mant=m, weight_exp=wexp, compartment=comp, axon_delay=axon_delay,
                     v_init=v_init_int, name=layer.name)
    q = LayerQuantization(
        name=layer.name, scale=float(s), weight_exp=wexp, weight_step=float(unit / s),
        weight_max_abs_err=float(np.abs(w_err).max(initial=0.0)),
        weight_rel_rms_err=float(np.sqrt(np.mean(w_err**2)) / rms_w) if rms_w > 0 else 0.0,
        weights_clipped=int(np.count_nonzero(np.abs(m_float) > WEIGHT_MANT_MAX + 0.5)),
        vth_mant=vth if spiking else None, threshold_rel_err=float(thr_err),
        bias_max_abs_err=float(np.abs(b_q - b).max(initial=0.0)),
        bias_max_step=float((2.0**be).max(initial=1.0) / s),
        biases_clipped=int(np.count_nonzero(np.abs(b_int / 2.0**be) > BIAS_MANT_MAX + 0.5)),
        du=du, dv=dv, decay_syn_err=float(abs(ds_q - ds)), decay_mem_err=float(abs(dm_q - dm)),
        reset=reset, reset_changed=reset_changed, limited_by=limited_by,
    )
    return out, q

@dataclass(frozen=True)
class LoihiMapping:
    """A float SNN mapped onto Loihi: the host (off-chip) layers and the chip network.

    ``encoding`` and ``readout`` are the float network's (``spikejet.snn``
    ``Encoding`` / ``Readout``; None: constant current in, read-out from the
    last layer's kind), ``dt`` its step in seconds.
    """

    offchip: tuple[FloatLayer, ...]
    network: LoihiNetwork
    quantization: tuple[LayerQuantization, ...]
    resources: ResourceReport
    encoding: Any = None
    readout: Any = None
    dt: float = 1e-3
    #: How the features reach the chip when the first layer is on it as graded spikes (else None).
    input: InputQuantization | None = None

    @property
    def input_mode(self) -> str:
        """One of :data:`INPUT_MODES`."""
        if self.offchip:
            return "offchip"
        return "spikes" if self.input is None else self.input.mode

    @property
    def off_chip_layers(self) -> int:
        return len(self.offchip)

    @property
    def input_delay(self) -> int:
        """Steps from the first input event to the read-out layer's dendrites."""
        return self.network.total_axon_delay

    def report(self) -> dict[str, Any]:
        return {
            "profile": self.network.profile.name,
            "offchip_layers": [layer.name for layer in self.offchip],
            "input_mode": self.input_mode,
            "input_quantization": None if self.input is None else self.input.as_dict(),
            "encoding": None if self.encoding is None else self.encoding.to_dict(),
            "readout": None if self.readout is None else self.readout.to_dict(),
            "chip_readout": self.network.readout,
            "total_axon_delay": self.network.total_axon_delay,
            "layers": [q.as_dict() for q in self.quantization],
            "resources": self.resources.as_dict(),
        }


def map_network(net: Any, *, profile: str | LoihiProfile = "loihi1", first_layer_offchip: bool = True,
                axon_delay: int = DEFAULT_AXON_DELAY, refractory: int = 0,
                n_steps: int | None = None, v_abs_max: Sequence[float | None] | None = None,
                max_chips: int = 1, allow_reset_change: bool = True,
                v_headroom_bits: int = V_HEADROOM_BITS, input_bits: int = DEFAULT_INPUT_BITS,
                input_clip: float = DEFAULT_INPUT_CLIP) -> LoihiMapping:
    """Map a float SNN (a ``SpikingNetwork``, or a sequence of layers) onto the chip.

    ``first_layer_offchip`` keeps the first layer on the host in floating point
    (the study's setup) and maps the rest. Otherwise every layer is on the chip:
    a rate-coded input enters as binary spikes on split signed axons
    (:func:`split_signed_input`); a constant-current input (the features
    themselves) enters on ``loihi2`` as graded spikes carrying each feature
    quantized to ``input_bits`` bits (clipped at ``+-input_clip``;
    :class:`InputQuantization`), sent once when the first layer has no synaptic
    filter (its current holds the input, ``du = 0``) and every step otherwise.
    ``loihi1`` has binary spikes only and refuses a constant-current input on chip.
    ``v_abs_max`` gives, per float layer, the largest |v| seen on calibration
    data (None entries: worst-case bounds; a non-spiking read-out then needs
    ``n_steps``). Raises :class:`HardwareError` if a layer cannot be represented
    or the network does not fit ``max_chips`` chips.
    """
    layers = float_layers_from(net)
    prof = get_profile(profile)
    if v_abs_max is not None and len(v_abs_max) != len(layers):
        raise ConfigError(f"v_abs_max has {len(v_abs_max)} entries for {len(layers)} layers")
    start = 1 if first_layer_offchip else 0
    if first_layer_offchip and layers[0].neuron is None:
        raise ConfigError("the first layer is a non-spiking read-out: nothing would run on the chip")
    if len(layers) <= start:
        raise ConfigError("no layer left for the chip: the network has a single (off-chip) layer")
    for layer in layers[start:-1]:
        if layer.neuron is None:
            raise HardwareError(f"hidden layer {layer.name!r} is non-spiking; only the read-out may be")
    encoding = getattr(net, "encoding", None)
    current_input = encoding is None or encoding.kind == "current"
    iq = None
    if not first_layer_offchip and current_input:
        if not prof.graded_spikes:
            raise HardwareError(
                f"a constant-current input cannot enter the chip on {prof.name}, which only receives spikes "
                "(binary); "
                "use the loihi2 profile (graded spikes carry the quantized features) or keep the first layer "
                "off-chip (first_layer_offchip=True)"
            )
        if layers[0].neuron is None:
            raise HardwareError("the first layer is the read-out: nothing would integrate the graded input")
        ds = 0.0 if layers[0].neuron.kind == "if" else float(layers[0].neuron.decay_syn)
        iq = InputQuantization(bits=input_bits, clip=input_clip,
                               mode="graded_once" if ds == 0.0 else "graded_every_step")
    split_input = not first_layer_offchip and not current_input
    mapped, reports = [], []
    for i in range(start, len(layers)):
        layer, max_payload = layers[i], 1
        if i == 0 and split_input:
            layer = split_signed_input(layer, encoding.scale)
        if i == 0 and iq is not None:  # weights per payload unit: W * step
            layer = FloatLayer(weight=layer.weight * iq.step, bias=layer.bias, neuron=layer.neuron, name=layer.name)
            max_payload = iq.max_payload
        chip_layer, q = map_layer(
            layer, profile=prof, axon_delay=axon_delay, refractory=refractory,
            v_abs_max=None if v_abs_max is None else v_abs_max[i], n_steps=n_steps,
            max_payload=max_payload, allow_reset_change=allow_reset_change, v_headroom_bits=v_headroom_bits,
            hold_input=i == 0 and iq is not None and iq.mode == "graded_once",
        )
        mapped.append(chip_layer)
        reports.append(q)
    chip_readout = "voltage" if layers[-1].neuron is None else "count"
    chip = LoihiNetwork(tuple(mapped), profile=prof, readout=chip_readout)
    res = resources(chip, max_chips=max_chips)
    return LoihiMapping(offchip=tuple(layers[:start]), network=chip, quantization=tuple(reports),
                        resources=res, encoding=encoding, readout=getattr(net, "readout", None),
                        dt=float(getattr(net, "dt", 1e-3)), input=iq)


def split_signed_input(layer: FloatLayer, scale: float) -> FloatLayer:
    """The first layer, on chip, fed by a signed rate code (events of value +-scale).

    The chip's input spikes are binary and unsigned, so each feature gets two
    input axons, one for its positive and one for its negative events, with
    weights ``+W * scale`` and ``-W * scale``: [out, 2 * in] (positive axons
    first). Works for both profiles (Loihi 2 could send one signed graded spike
    instead; the synaptic operations are the same).
    """
    w = layer.weight * float(scale)
    return FloatLayer(weight=np.concatenate([w, -w], axis=1), bias=layer.bias,
                      neuron=layer.neuron, name=layer.name)



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
