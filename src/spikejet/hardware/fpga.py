"""The FPGA alternative: the MLP in hls4ml-style fixed point, bit for bit, and published FPGA figures.

The trigger community deploys the 16-64-32-32-5 MLP on FPGAs with hls4ml. This module is
spikejet's own emulation of what hls4ml's ``io_parallel`` / ``Latency`` dense layers compute
(hls4ml 1.3.0, Vivado/Vitis backends, ``granularity="model"``: one precision for every type),
checked against hls4ml's own ``compile()`` C++ emulation in ``tests/test_fpga.py``.

Arithmetic of one dense layer, as the hls4ml templates (``nnet_dense_latency.h``) do it::

    mult[i, j] = accum_t(x[i] * w[i, j])        exact product, then converted to accum_t
    acc[j]     = accum_t(b[j]) + sum_i mult[i, j]   (each += converts to accum_t)
    y[j]       = result_t(acc[j])
    relu: y = y if y > 0 else 0, converted to the activation's result type

Every conversion quantizes and overflows by the target type's modes: ``ap_fixed<W,I>``
defaults to ``AP_TRN`` (round towards minus infinity: floor) and ``AP_WRAP`` (two's-complement
wrap-around) [VivadoHLS]; ``AP_RND`` (round half up) and ``AP_SAT`` (clip) are supported too.
A fixed-point value is an integer code ``k`` times the LSB ``2**-F`` with ``F = W - I``
fractional bits; all arithmetic here is on int64 codes. With ``AP_TRN`` the per-product floor
commutes with the sum (the accumulator is already on the grid) and wrapping is modular, so the
order of the additions does not matter; with ``AP_SAT`` on the accumulator it does, and the
sum runs in hls4ml's order (bias first, then inputs ``0..n_in-1``).

Inputs are converted from float to ``input_t`` directly (hls4ml's bridge casts the float);
weights and biases take the route hls4ml gives them: written as decimal text with as many
decimals as the type has fractional bits (:data:`WEIGHT_TEXT`), read back as a double and cast.

Published figures for this network on an FPGA are in :data:`PUBLISHED` with their sources;
no FPGA synthesis runs here (it needs vendor tools), so latency, resources and power are cited,
never measured, and where a figure is not published the entry says so.

Sources:

* [VivadoHLS] Xilinx UG902 "Vivado Design Suite User Guide: High-Level Synthesis",
  "Arbitrary Precision Fixed-Point Data Types" (ap_fixed<W,I,Q,O,N>; default Q = AP_TRN,
  O = AP_WRAP).
* [Duarte2018] J. Duarte et al., "Fast inference of deep neural networks in FPGAs for particle
  physics", JINST 13 (2018) P07027, arXiv:1804.06913 -- the 16-64-32-32-5 jet-substructure MLP.
* [Coelho2021] C. N. Coelho Jr. et al., "Automatic heterogeneous quantization of deep neural
  networks for low-latency inference on the edge for particle detectors", Nature Machine
  Intelligence 3 (2021) 675-686, arXiv:2006.10159 -- the same jet network, QKeras + hls4ml.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "FixedType",
    "FixedPrecision",
    "FixedPointMLP",
    "DEFAULT_PRECISION",
    "PUBLISHED",
    "PublishedFigure",
    "fpga_metrics",
    "fpga_extra",
    "weight_text_value",
]

#: hls4ml's default precision (``config_from_pytorch_model(default_precision=...)``).
DEFAULT_PRECISION = "ap_fixed<16,6>"
#: Quantization modes supported: floor (the ap_fixed default) and round half towards +inf.
QUANTIZATION_MODES = ("AP_TRN", "AP_RND")
#: Overflow modes supported: two's-complement wrap (the ap_fixed default) and saturation.
OVERFLOW_MODES = ("AP_WRAP", "AP_SAT")
#: Widest type accepted: a product of two codes (2 x 24 bits) plus the sum of up to 2**14
#: of them stays inside int64 with margin.
MAX_WIDTH = 24
#: Jets per chunk of the emulation (bounds the [jets, n_in, n_out] int64 product array).
CHUNK = 2048
#: How hls4ml writes a weight or bias: decimal text with this many decimals ("fractional bits":
#: ``max(0, W - I)``, hls4ml 1.3.0 ``WeightVariable.update_precision``), parsed back as a double.
WEIGHT_TEXT = "fractional bits"

_TYPE_RE = re.compile(
    r"^\s*ap_(u?)fixed\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(AP_\w+)\s*)?(?:,\s*(AP_\w+)\s*)?>\s*$")


@dataclass(frozen=True)
class FixedType:
    """``ap_fixed<width, integer, quantization, overflow>`` (``ap_ufixed`` when not signed)."""

    width: int
    integer: int
    signed: bool = True
    quantization: str = "AP_TRN"
    overflow: str = "AP_WRAP"

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, int) or not 1 <= self.width <= MAX_WIDTH:
            raise ConfigError(f"fixed-point width must be an integer in 1..{MAX_WIDTH}, got {self.width!r}")
        if isinstance(self.integer, bool) or not isinstance(self.integer, int) or abs(self.integer) > 2 * MAX_WIDTH:
            raise ConfigError(f"fixed-point integer bits must be an integer in -{2 * MAX_WIDTH}..{2 * MAX_WIDTH}, "
                              f"got {self.integer!r}")
        if self.quantization not in QUANTIZATION_MODES:
            raise ConfigError(f"quantization mode {self.quantization!r} is not supported; use one of "
                              f"{', '.join(QUANTIZATION_MODES)}")
        if self.overflow not in OVERFLOW_MODES:
            raise ConfigError(f"overflow mode {self.overflow!r} is not supported; use one of {', '.join(OVERFLOW_MODES)}")

    @classmethod
    def parse(cls, text: str | FixedType) -> FixedType:
        """``"ap_fixed<16,6>"``, ``"ap_fixed<8,3,AP_RND,AP_SAT>"``, ``"ap_ufixed<8,0>"``."""
        if isinstance(text, FixedType):
            return text
        m = _TYPE_RE.match(str(text))
        if not m:
            raise ConfigError(f"not an ap_fixed type: {text!r}; write e.g. 'ap_fixed<16,6>'")
        u, w, i, q, o = m.groups()
        return cls(int(w), int(i), signed=not u, quantization=q or "AP_TRN", overflow=o or "AP_WRAP")

    def __str__(self) -> str:
        modes = "" if (self.quantization, self.overflow) == ("AP_TRN", "AP_WRAP") else \
            f",{self.quantization},{self.overflow}"
        return f"ap_{'' if self.signed else 'u'}fixed<{self.width},{self.integer}{modes}>"

    @property
    def frac(self) -> int:
        """Fractional bits ``F = W - I``; the LSB is ``2**-F``."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, -self.frac)

    @property
    def code_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def code_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def overflow_codes(self, k: np.ndarray) -> np.ndarray:
        """Codes outside the range wrapped (two's complement, modulo ``2**W``) or clipped."""
        k = np.asarray(k, dtype=np.int64)
        if self.overflow == "AP_SAT":
            return np.clip(k, self.code_min, self.code_max)
        span = np.int64(1) << self.width
        return (k - self.code_min) % span + self.code_min

    def from_codes(self, k: np.ndarray, frac_in: int) -> np.ndarray:
        """Convert codes with ``frac_in`` fractional bits to this type (quantize, then overflow)."""
        k = np.asarray(k, dtype=np.int64)
        shift = int(frac_in) - self.frac
        if shift > 0:
            if self.quantization == "AP_RND":
                k = k + (np.int64(1) << (shift - 1))
            k = k >> shift  # arithmetic shift: floor
        elif shift < 0:
            k = k << (-shift)
        return self.overflow_codes(k)

    def from_float(self, x: np.ndarray) -> np.ndarray:
        """Codes of real values (float32 or float64) converted to this type."""
        scaled = np.ldexp(np.asarray(x, dtype=np.float64), self.frac)  # exact: a power of two
        if not np.isfinite(scaled).all():
            raise ConfigError("cannot convert NaN/inf to a fixed-point type")
        if self.quantization == "AP_RND":
            scaled = scaled + 0.5
        return self.overflow_codes(np.floor(scaled).astype(np.int64))

    def to_float(self, k: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(k, dtype=np.float64), -self.frac)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Real values -> the nearest representable values by this type's rules (float64)."""
        return self.to_float(self.from_float(x))


def weight_text_value(w: np.ndarray, t: FixedType) -> np.ndarray:
    """The double that hls4ml's C++ reads for a weight or bias of type ``t``: the value printed
    with ``max(0, F)`` decimals (:data:`WEIGHT_TEXT`) and parsed back (float64)."""
    decimals = max(0, t.frac)
    flat = np.asarray(w, dtype=np.float32).ravel()
    return np.array([float(f"{float(v):.{decimals}f}") for v in flat], dtype=np.float64).reshape(np.shape(w))


@dataclass(frozen=True)
class FixedPrecision:
    """The types of one hls4ml model: input, weights, biases, accumulators, layer results,
    ReLU outputs (``uniform(p)``: all of them ``p``, as hls4ml's ``granularity="model"``)."""

    input: FixedType
    weight: FixedType
    bias: FixedType
    accum: FixedType
    result: FixedType
    activation: FixedType

    @classmethod
    def uniform(cls, precision: str | FixedType = DEFAULT_PRECISION, **override: str | FixedType) -> FixedPrecision:
        t = FixedType.parse(precision)
        kinds = ("input", "weight", "bias", "accum", "result", "activation")
        bad = set(override) - set(kinds)
        if bad:
            raise ConfigError(f"unknown fixed-point type name(s) {sorted(bad)}; use {', '.join(kinds)}")
        return cls(**{k: FixedType.parse(override.get(k, t)) for k in kinds})

    def to_dict(self) -> dict[str, str]:
        return {k: str(getattr(self, k)) for k in ("input", "weight", "bias", "accum", "result", "activation")}


def _dense(a: np.ndarray, frac_a: int, wk: np.ndarray, bk: np.ndarray, p: FixedPrecision) -> np.ndarray:
    """One hls4ml dense layer on codes ``a`` [n, in] (``frac_a`` fractional bits) -> result codes."""
    acc0 = p.accum.from_codes(bk, p.bias.frac)                      # accum_t(bias)
    out = np.empty((a.shape[0], wk.shape[1]), dtype=np.int64)
    for s in range(0, a.shape[0], CHUNK):
        prod = a[s:s + CHUNK, :, None] * wk[None, :, :]              # exact products [n, in, out]
        mult = p.accum.from_codes(prod, frac_a + p.weight.frac)      # mult[] is accum_t
        if p.accum.overflow == "AP_SAT":                             # saturation: hls4ml's order
            acc = np.broadcast_to(acc0, (mult.shape[0], mult.shape[2])).copy()
            for i in range(mult.shape[1]):
                acc = p.accum.overflow_codes(acc + mult[:, i, :])
        else:                                                        # wrap is modular: sum, wrap
            acc = p.accum.overflow_codes(acc0[None, :] + mult.sum(axis=1))
        out[s:s + CHUNK] = p.result.from_codes(acc, p.accum.frac)
    return out


@dataclass(frozen=True, eq=False)
class FixedPointMLP:
    """A ReLU MLP in fixed point: weight/bias codes per layer and the model's types.

    ``weights[l]`` is ``[in, out]`` int64 codes (weight type), ``biases[l]`` ``[out]`` (bias type).
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    precision: FixedPrecision
    sizes: tuple[int, ...] = field(default=())

    @classmethod
    def from_arrays(cls, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray],
                    precision: FixedPrecision | str = DEFAULT_PRECISION) -> FixedPointMLP:
        """From float weights ``[out, in]`` (``nn.Linear`` layout) and biases, quantized the way
        hls4ml loads them (:func:`weight_text_value`, then the type's rules)."""
        p = precision if isinstance(precision, FixedPrecision) else FixedPrecision.uniform(precision)
        if len(weights) != len(biases) or not weights:
            raise ConfigError("give one bias per weight matrix, at least one layer")
        wk, bk = [], []
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            w = np.asarray(w, dtype=np.float32)
            b = np.asarray(b, dtype=np.float32)
            if w.ndim != 2 or b.shape != (w.shape[0],) or (wk and wk[-1].shape[1] != w.shape[1]):
                raise ConfigError(f"layer {i}: weight {w.shape} and bias {b.shape} do not chain")
            wk.append(p.weight.from_float(weight_text_value(w, p.weight)).T.copy())
            bk.append(p.bias.from_float(weight_text_value(b, p.bias)))
        sizes = (wk[0].shape[0], *(w.shape[1] for w in wk))
        return cls(tuple(wk), tuple(bk), p, sizes)

    @classmethod
    def from_mlp(cls, model: Any, precision: FixedPrecision | str = DEFAULT_PRECISION) -> FixedPointMLP:
        """From a :class:`spikejet.ann.model.MLP` (its ``linears``, ReLU between them)."""
        ws = [lin.weight.detach().cpu().numpy() for lin in model.linears]
        bs = [lin.bias.detach().cpu().numpy() for lin in model.linears]
        return cls.from_arrays(ws, bs, precision)

    def predict_codes(self, X: np.ndarray) -> np.ndarray:
        """Output codes (result type) for standardized features ``X`` [n, in]."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ConfigError(f"features must be [n, {self.sizes[0]}], got shape {X.shape}")
        p = self.precision
        a, frac = p.input.from_float(X), p.input.frac
        last = len(self.weights) - 1
        for li, (wk, bk) in enumerate(zip(self.weights, self.biases, strict=True)):
            a, frac = _dense(a, frac, wk, bk, p), p.result.frac
            if li < last:  # ReLU: y if y > 0 else 0, into the activation's type
                a, frac = p.activation.from_codes(np.maximum(a, 0), frac), p.activation.frac
        return a

    def predict_logits(self, X: np.ndarray) -> np.ndarray:
        """The network's outputs as real numbers (what hls4ml's ``predict`` returns)."""
        return self.precision.result.to_float(self.predict_codes(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Softmax of the fixed-point outputs, in float64 (the softmax is not on the FPGA here)."""
        z = self.predict_logits(X)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- published figures


@dataclass(frozen=True)
class PublishedFigure:
    """One published FPGA figure for the jet MLP: what, the value as published, and where."""

    quantity: str
    value: str
    source: str
    note: str = ""


#: What the literature says about this network on an FPGA. Values are quoted from the papers'
#: abstracts (the parts of the papers that could be checked for this project); a figure not
#: published there is said to be so, never filled in.
PUBLISHED: tuple[PublishedFigure, ...] = (
    PublishedFigure(
        "latency", "\"a latency on the scale of 100 ns\"",
        "Duarte et al. 2018, JINST 13 P07027 (arXiv:1804.06913), abstract",
        "16-64-32-32-5 jet-substructure MLP, hls4ml, Xilinx Kintex UltraScale; the paper maps latency "
        "and resources versus precision and reuse factor in its figures"),
    PublishedFigure(
        "resources", "\"we fit well within the available resources of modern FPGAs\"",
        "Duarte et al. 2018, JINST 13 P07027 (arXiv:1804.06913), abstract",
        "DSP/LUT/FF usage versus fixed-point width and reuse factor are shown in the paper's figures; "
        "no single number is quoted in the abstract"),
    PublishedFigure(
        "latency", "\"nanosecond inference\"",
        "Coelho et al. 2021, Nature Machine Intelligence 3, 675 (arXiv:2006.10159), abstract",
        "the same jet network quantized with QKeras/AutoQKeras, hls4ml, Xilinx VU9P (Fig. 3)"),
    PublishedFigure(
        "resources", "\"a resource consumption reduced by a factor of 50\"",
        "Coelho et al. 2021, Nature Machine Intelligence 3, 675 (arXiv:2006.10159), abstract",
        "heterogeneously quantized versus the 16-bit model"),
    PublishedFigure(
        "power / energy per inference", "not published",
        "Duarte et al. 2018 and Coelho et al. 2021 (abstracts)",
        "neither abstract gives a power or an energy per inference for the FPGA implementation; "
        "Coelho et al. rank models by an estimated energy (QTools) without a per-inference joule figure "
        "in the abstract"),
)

#: The latency the comparison carries for the FPGA model, and where it comes from.
LATENCY_NS = 100.0
LATENCY_SOURCE = ("order of magnitude published for the 16-64-32-32-5 jet MLP in hls4ml: \"a latency on the "
                  "scale of 100 ns\" (Duarte et al. 2018, JINST 13 P07027, abstract); not synthesized here")
ENERGY_SOURCE = ("not published: no power or energy per inference is given for this network on an FPGA in "
                 "Duarte et al. 2018 or Coelho et al. 2021 (abstracts); none is estimated here")


def fpga_extra(fx: FixedPointMLP) -> dict[str, Any]:
    """The FPGA model's metrics beyond the scores: precision, MACs, the cited latency and energy sources."""
    sizes = fx.sizes
    return {
        "precision": fx.precision.to_dict(),
        "macs_per_inference": float(sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))),
        "latency_ns": LATENCY_NS,
        "latency_source": LATENCY_SOURCE,
        "energy_per_inference_j": None,
        "energy_source": ENERGY_SOURCE,
    }


def fpga_metrics(model: Any, X: np.ndarray, y: np.ndarray, *, class_names: Sequence[str], seed: int,
                 precision: FixedPrecision | str = DEFAULT_PRECISION) -> dict[str, Any]:
    """The FPGA model's metrics entry: the MLP ``model`` in fixed point on standardized ``X``.

    Accuracy, AUC and rejection from :func:`spikejet.evaluate.metrics.evaluate_scores` on the
    softmax of the fixed-point outputs, plus the cited latency and energy (``None``: not
    published) with their sources, the precision and the MACs of one inference.
    """
    from ..evaluate.metrics import evaluate_scores

    fx = model if isinstance(model, FixedPointMLP) else FixedPointMLP.from_mlp(model, precision)
    entry = evaluate_scores(y, fx.predict_proba(X), class_names=class_names, seed=seed)
    entry.update(fpga_extra(fx))
    return entry
