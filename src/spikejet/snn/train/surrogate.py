"""Surrogate-gradient spiking networks: IF/LIF layers unrolled over T steps, trainable by BPTT.

The spike is a Heaviside step of the normalized membrane ``x = (v - theta) / theta``
(``spike = 1`` where ``v >= theta``, exactly the comparison of
:mod:`spikejet.snn.neurons`). Its derivative is replaced in the backward pass by
a smooth *surrogate* ``sigma'(x)`` of peak 1 and width ``1 / slope``:

* ``"fast_sigmoid"``: ``sigma'(x) = 1 / (1 + slope |x|)^2`` (Zenke & Ganguli's
  SuperSpike form), primitive ``sigma(x) = x / (1 + slope |x|)`` (+ 1/2 shift);
* ``"arctan"``: ``sigma'(x) = 1 / (1 + (pi slope x / 2)^2)``, primitive
  ``sigma(x) = arctan(pi slope x / 2) * 2 / (pi slope)``.

``surrogate_primitive`` is the function whose derivative the backward pass uses;
a *relaxed* network (``relaxed=True``) uses it in the forward pass as well, so
that its autograd gradient can be checked against finite differences
(``tests/test_train_surrogate.py``): this checks the whole unrolled graph
(leak, reset, thresholds, read-out) that the hard network's gradient uses.

:class:`SurrogateNet` is a dense feed-forward network with the semantics of
:class:`~spikejet.snn.network.SpikingNetwork` (``current`` encoding: the first
layer's ``W0 x + b0`` is a constant input current; ``z_l = W_l s_{l-1} + b_l``
every step; IF ``v <- v + z`` or LIF ``v <- beta v + z``; spike; reset by
subtraction or to zero), with per-layer trainable thresholds and leaks, a
non-spiking membrane read-out (mean output current over T) or a spike-count
read-out, and optional quantization-aware training (8-bit weights on a per-layer
symmetric grid, thresholds an integer number of weight steps, 12-bit leaks) for
the layers that run on the chip (all but the off-chip first layer).
:meth:`SurrogateNet.to_network` exports the exact float network that
:func:`spikejet.snn.simulate.simulate` runs (same arithmetic, same spikes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...ann.train import as_xy_tensors as _xy
from ...config.sections import SnnSurrogateConfig
from ...errors import ConfigError, DataError, ModelError
from ...runtime import seeded_rows
from ..encoding import Encoding
from ..network import Layer, SpikingNetwork, count_ann_macs
from ..neurons import (
    RESETS,
    IFParams,
    IFState,
    LIFParams,
    LIFState,
    TensorParams,
    if_step,
    lif_step,
)
from ..readout import Readout
from .fit import Cosine, FitOptions, TrainHistory, fit
from .qat import DECAY_BITS, WEIGHT_QMAX, fake_quantize

__all__ = [
    "SURROGATES",
    "NEURONS",
    "READOUTS",
    "surrogate_grad",
    "surrogate_primitive",
    "spike",
    "SpikeFunction",
    "fake_quantize",
    "SurrogateOptions",
    "SurrogateNet",
    "SurrogateOutput",
    "SurrogateEval",
    "evaluate_surrogate",
    "train_surrogate",
    "loss_steps",
    "readout_objective",
    "distilled_cross_entropy",
    "soft_targets",
    "MAX_VAL_JETS",
]

#: Jets of the validation set scored after every surrogate epoch (bounds the cost).
MAX_VAL_JETS = 10000

#: Surrogate derivatives of the spike.
SURROGATES: tuple[str, ...] = ("fast_sigmoid", "arctan")
#: Neuron models a surrogate network trains.
NEURONS: tuple[str, ...] = ("if", "lif")
#: Read-outs: mean current of a non-spiking output layer, or output spike counts.
READOUTS: tuple[str, ...] = ("membrane", "count")
#: Smallest threshold a trainable threshold may reach (keeps v / theta finite).
MIN_THRESHOLD = 1e-3
#: Leak factors are kept inside [MIN_LEAK, MAX_LEAK] (1 = no leak).
MIN_LEAK = 0.05
MAX_LEAK = 1.0 - 1e-4


# --------------------------------------------------------------------------- the spike


def _check_surrogate(kind: str, slope: float) -> None:
    if kind not in SURROGATES:
        raise ConfigError(f"surrogate must be one of {', '.join(SURROGATES)}; got {kind!r}")
    if not (math.isfinite(float(slope)) and float(slope) > 0):
        raise ConfigError(f"surrogate slope must be a positive number, got {slope!r}")


def surrogate_grad(x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
    """The surrogate derivative ``sigma'(x)`` (peak 1 at ``x = 0``)."""
    if kind == "fast_sigmoid":
        return 1.0 / (1.0 + slope * x.abs()) ** 2
    if kind == "arctan":
        return 1.0 / (1.0 + (0.5 * math.pi * slope * x) ** 2)
    raise ConfigError(f"surrogate must be one of {', '.join(SURROGATES)}; got {kind!r}")


def surrogate_primitive(x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:
    """A smooth step whose derivative is :func:`surrogate_grad` (range ``1/2 +- 1/(2 slope)``-ish)."""
    if kind == "fast_sigmoid":
        return 0.5 + x / (1.0 + slope * x.abs())
    if kind == "arctan":
        return 0.5 + torch.atan(0.5 * math.pi * slope * x) * (2.0 / (math.pi * slope))
    raise ConfigError(f"surrogate must be one of {', '.join(SURROGATES)}; got {kind!r}")


class SpikeFunction(torch.autograd.Function):
    """Heaviside ``x >= 0`` forward, ``sigma'(x)`` backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kind: str, slope: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.kind = kind
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.kind, ctx.slope), None, None


def spike(x: torch.Tensor, kind: str = "fast_sigmoid", slope: float = 5.0, *, relaxed: bool = False) -> torch.Tensor:
    """Spikes of the normalized membrane ``x``: hard step with surrogate gradient, or the smooth primitive."""
    _check_surrogate(kind, slope)
    if relaxed:
        return surrogate_primitive(x, kind, float(slope))
    return SpikeFunction.apply(x, kind, float(slope))


# --------------------------------------------------------------------------- the network

_SECTION = SnnSurrogateConfig()  # the defaults of SurrogateOptions (their one home is the section)


@dataclass(frozen=True)
class SurrogateOptions:
    """Everything that defines a surrogate network besides its weights.

    ``neuron``: ``"if"`` or ``"lif"``; ``reset``: ``"subtract"`` or ``"zero"``;
    ``readout``: ``"membrane"`` (non-spiking output layer, loss on the mean
    current over T) or ``"count"`` (spiking output layer, loss on spike counts);
    ``surrogate``/``slope``: the spike's surrogate derivative;
    ``learn_threshold``/``learn_leak``: train the per-layer threshold / LIF leak;
    ``leak``: the initial LIF leak factor per step (``beta = exp(-dt/tau_mem)``);
    ``v_init``: membrane at t = 0 as a fraction of the threshold (1/2 rounds
    spike counts instead of flooring them); ``quantize``: quantization-aware
    training of the on-chip layers; ``detach_reset``: no gradient through the
    reset (the usual choice, snnTorch's default). The defaults are those of the
    ``snn_surrogate`` config section (:class:`SnnSurrogateConfig`), which is their one home.
    """

    neuron: str = _SECTION.neuron
    reset: str = _SECTION.reset
    readout: str = _SECTION.readout
    surrogate: str = _SECTION.surrogate
    slope: float = _SECTION.slope
    learn_threshold: bool = _SECTION.learn_threshold
    learn_leak: bool = _SECTION.learn_leak
    leak: float = _SECTION.leak
    v_init: float = _SECTION.v_init
    quantize: bool = _SECTION.quantize
    detach_reset: bool = True
    dt: float = _SECTION.dt

    @classmethod
    def from_config(cls, cfg: SnnSurrogateConfig, *, detach_reset: bool = True) -> SurrogateOptions:
        """The network-defining part of the ``snn_surrogate`` section."""
        return cls(**{f: getattr(cfg, f) for f in cls.__dataclass_fields__ if f != "detach_reset"},
                   detach_reset=detach_reset)

    def __post_init__(self) -> None:
        if self.neuron not in NEURONS:
            raise ConfigError(f"surrogate neuron must be one of {', '.join(NEURONS)}; got {self.neuron!r}")
        if self.reset not in RESETS:
            raise ConfigError(f"reset must be one of {', '.join(RESETS)}; got {self.reset!r}")
        if self.readout not in READOUTS:
            raise ConfigError(f"surrogate read-out must be one of {', '.join(READOUTS)}; got {self.readout!r}")
        _check_surrogate(self.surrogate, self.slope)
        if not MIN_LEAK <= float(self.leak) <= MAX_LEAK:
            raise ConfigError(f"leak (decay of the membrane per step) must be in [{MIN_LEAK}, {MAX_LEAK}], "
                              f"got {self.leak!r}")
        if not (math.isfinite(float(self.v_init)) and 0.0 <= float(self.v_init) < 1.0):
            raise ConfigError(f"v_init (fraction of the threshold) must be in [0, 1), got {self.v_init!r}")
        if not (math.isfinite(float(self.dt)) and float(self.dt) > 0):
            raise ConfigError(f"dt must be a positive number of seconds, got {self.dt!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass
class SurrogateOutput:
    """What one forward pass returns.

    ``logits``: ``[B, C]`` (mean output current, or output spike counts);
    ``spikes``: per spiking layer, spike counts per jet and neuron over T ``[B, n_l]``;
    ``synops``: synaptic operations per jet (spikes times fan-out), ``[B]``.
    """

    logits: torch.Tensor
    spikes: list[torch.Tensor]
    synops: torch.Tensor
    #: The read-out at earlier steps ``t`` (mean current over 1..t, or spike counts up to t), as asked.
    logits_at: dict[int, torch.Tensor] = field(default_factory=dict)


class SurrogateNet(nn.Module):
    """A feed-forward IF/LIF network unrolled over T steps (see the module docstring).

    ``sizes``: layer widths, input first (``(16, 64, 32, 32, 5)``). Parameters:
    ``linears`` (one ``nn.Linear`` per layer), ``log_threshold`` (one per
    spiking layer), ``leak_logit`` (one per spiking layer, LIF only).
    """

    def __init__(self, sizes: Sequence[int], options: SurrogateOptions | None = None, *,
                 thresholds: Sequence[float] | None = None) -> None:
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 3 or any(s < 1 for s in sizes):
            raise ConfigError(f"a surrogate network needs >= 1 hidden layer; sizes {list(sizes)}")
        self.sizes = sizes
        self.options = options or SurrogateOptions()
        o = self.options
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        n_spiking = len(sizes) - 1 if o.readout == "count" else len(sizes) - 2
        self.n_spiking = n_spiking
        th = [1.0] * n_spiking if thresholds is None else [float(t) for t in thresholds]
        if len(th) != n_spiking or not all(math.isfinite(t) and t > 0 for t in th):
            raise ConfigError(f"need {n_spiking} positive thresholds, got {list(th)}")
        self.log_threshold = nn.Parameter(torch.log(torch.tensor(th, dtype=torch.float32)),
                                          requires_grad=o.learn_threshold)
        leak = min(max(float(o.leak), MIN_LEAK), MAX_LEAK)
        logit = math.log(leak / (1.0 - leak))
        self.leak_logit = nn.Parameter(torch.full((n_spiking,), logit, dtype=torch.float32),
                                       requires_grad=o.neuron == "lif" and o.learn_leak)

    # ------------------------------------------------------------------ parameters
    @property
    def n_layers(self) -> int:
        return len(self.linears)

    def weight_step(self, i: int) -> torch.Tensor:
        """The 8-bit grid step of layer ``i``'s weights: ``max|W| / 127``."""
        w = self.linears[i].weight
        return (w.detach().abs().max() / WEIGHT_QMAX).clamp_min(1e-12)

    def _quantized(self, i: int) -> bool:
        # the first layer runs off-chip (host, float arithmetic): not quantized
        return self.options.quantize and i > 0

    def weight(self, i: int) -> torch.Tensor:
        w = self.linears[i].weight
        if not self._quantized(i):
            return w
        return fake_quantize(w, self.weight_step(i), lo=-WEIGHT_QMAX, hi=WEIGHT_QMAX)

    def thresholds(self) -> torch.Tensor:
        """Per spiking layer threshold (on the weight grid of the layer under QAT)."""
        th = self.log_threshold.exp().clamp_min(MIN_THRESHOLD)
        if not self.options.quantize:
            return th
        out = []
        for i in range(self.n_spiking):
            if self._quantized(i):
                step = self.weight_step(i)
                out.append(fake_quantize(th[i], step, lo=1.0))
            else:
                out.append(th[i])
        return torch.stack(out)

    def leaks(self) -> torch.Tensor:
        """Per spiking layer membrane decay per step (1 for IF)."""
        if self.options.neuron == "if":
            return torch.ones(self.n_spiking, dtype=self.leak_logit.dtype)
        beta = torch.sigmoid(self.leak_logit).clamp(MIN_LEAK, MAX_LEAK)
        if self.options.quantize:
            unity = 2 ** DECAY_BITS
            d = fake_quantize((1.0 - beta) * unity, 1.0, lo=1.0, hi=unity - 1)
            beta = 1.0 - d / unity
        return beta

    def fan_out(self) -> list[torch.Tensor]:
        """Synapses leaving each neuron of each spiking layer (non-zero weights of the next layer)."""
        out = []
        for i in range(self.n_spiking):
            if i + 1 < self.n_layers:
                w = self.weight(i + 1).detach()
                out.append((w != 0).sum(0).to(w.dtype))
            else:  # spiking output layer: nothing downstream
                out.append(torch.zeros(self.sizes[i + 1], dtype=self.linears[i].weight.dtype))
        return out

    # ------------------------------------------------------------------ forward
    def _spike_fn(self, relaxed: bool):
        """The spike of :mod:`.neurons`' step functions: the hard step of the normalized membrane
        ``(v - theta) / theta`` with the surrogate derivative (or its smooth primitive)."""
        o = self.options

        def spike_fn(v: torch.Tensor, th: torch.Tensor) -> torch.Tensor:
            return spike((v - th) / th, o.surrogate, o.slope, relaxed=relaxed)

        return spike_fn

    def forward(self, x: torch.Tensor, T: int, *, relaxed: bool = False,
                with_spikes: bool = True, readout_at: Sequence[int] = ()) -> SurrogateOutput:
        """Run ``T`` steps on standardized features ``x`` ``[B, n_in]``; ``readout_at``: earlier steps
        whose running read-out is returned too (``logits_at``)."""
        T = int(T)
        if T < 1:
            raise ConfigError(f"T must be >= 1, got {T}")
        at = {int(t) for t in readout_at}
        if not all(1 <= t <= T for t in at):
            raise ConfigError(f"read-out steps must be in 1..{T}, got {sorted(at)}")
        logits_at: dict[int, torch.Tensor] = {}
        o = self.options
        B = x.shape[0]
        Ws = [self.weight(i) for i in range(self.n_layers)]
        bs = [lin.bias for lin in self.linears]
        ths = self.thresholds()
        betas = self.leaks()
        lif = o.neuron == "lif"
        layer_step = lif_step if lif else if_step
        spike_fn = self._spike_fn(relaxed)
        z0 = F.linear(x, Ws[0], bs[0])
        v0 = [(ths[i] * o.v_init).expand(B, self.sizes[i + 1]) for i in range(self.n_spiking)]
        states: list[Any] = ([LIFState(i=x.new_zeros(()), v=v) for v in v0] if o.neuron == "lif"
                             else [IFState(v=v) for v in v0])
        counts = [x.new_zeros(B, self.sizes[i + 1]) for i in range(self.n_spiking)]
        acc = x.new_zeros(B, self.sizes[-1])
        L = self.n_layers
        for t in range(1, T + 1):
            s = None
            for i in range(L):
                z = z0 if i == 0 else F.linear(s, Ws[i], bs[i])
                if i >= self.n_spiking:  # non-spiking membrane read-out
                    acc = acc + z
                    break
                # the parameters are indexed afresh every step, as the graph has always done: one
                # select per use keeps the order in which autograd sums the threshold gradients
                params = TensorParams(threshold=ths[i], reset=o.reset, decay_mem=betas[i] if lif else 1.0)
                s, states[i] = layer_step(z, states[i], params, spike_fn=spike_fn, detach_reset=o.detach_reset)
                if with_spikes:
                    counts[i] = counts[i] + s
            if o.readout == "count":
                acc = acc + s
            if t in at and t < T:
                logits_at[t] = acc / t if o.readout == "membrane" else acc
        logits = acc / T if o.readout == "membrane" else acc
        if T in at:
            logits_at[T] = logits
        fan = self.fan_out()
        synops = x.new_zeros(B)
        if with_spikes:
            for c, f in zip(counts, fan, strict=True):
                synops = synops + c @ f
        return SurrogateOutput(logits=logits, spikes=counts, synops=synops, logits_at=logits_at)

    # ------------------------------------------------------------------ init / export
    @classmethod
    def from_mlp(cls, model: nn.Module, X: np.ndarray, options: SurrogateOptions | None = None, *,
                 percentile: float = 99.9, seed: int = 0) -> SurrogateNet:
        """Start from a trained ReLU MLP: each spiking layer's threshold is the ``percentile`` of its
        non-zero ANN activations on ``X`` (``lambda_l``), and a spike of layer ``l`` stands for the
        activation ``lambda_l``, so layer ``l + 1`` gets the weights ``W_{l+1} * lambda_l`` (and its
        own bias): at large T the spike rates times ``lambda_l`` approximate the ANN's activations
        clipped at ``lambda_l``, and the membrane read-out its logits."""
        from ..convert import activation_scales, ann_activations, ann_layers

        layers = ann_layers(model)
        sizes = (layers[0][0].shape[1], *(w.shape[0] for w, _ in layers))
        opts = options or SurrogateOptions()
        Xs = np.asarray(X, dtype=np.float32)
        if Xs.shape[0] > 20000:
            Xs = Xs[seeded_rows(Xs.shape[0], 20000, seed)]
        acts = ann_activations(model, Xs)
        scales = activation_scales(acts[:-1], percentile, nonzero=True)
        if opts.readout == "count":
            scales = scales + activation_scales([np.maximum(acts[-1], 0.0)], percentile, nonzero=True)
        net = cls(sizes, opts, thresholds=scales)
        with torch.no_grad():
            prev = 1.0
            for i, (dst, (w, b)) in enumerate(zip(net.linears, layers, strict=True)):
                # a spike of layer i-1 stands for the activation scales[i-1] of the ANN
                dst.weight.copy_(torch.from_numpy(w) * prev)
                dst.bias.copy_(torch.from_numpy(b))
                prev = scales[i] if i < len(scales) else 1.0
        return net

    @classmethod
    def from_network(cls, net: SpikingNetwork, options: SurrogateOptions | None = None) -> SurrogateNet:
        """Start from a spiking network (e.g. the QCFS-converted one): its weights, biases, per-layer
        thresholds, initial membranes (as a fraction of the threshold) and read-out; LIF leaks start
        at its decays (at ``options.leak`` if it is IF and ``options.neuron`` is ``lif``). ``neuron``,
        ``reset`` and the training options come from ``options``: with the network's own neuron and
        reset the module computes exactly what the network does."""
        import dataclasses

        if net.encoding.kind != "current":
            raise ModelError("a surrogate network starts from a network with the 'current' encoding")
        if net.readout.kind not in ("membrane", "count"):
            raise ModelError(f"cannot start a surrogate network from a {net.readout.kind!r} read-out "
                             "(membrane or count)")
        spiking = [ly for ly in net.layers if ly.spiking]
        if not all(isinstance(ly.neuron, IFParams | LIFParams) for ly in spiking):
            raise ModelError("a surrogate network starts from a network of IF or LIF layers")
        if any(isinstance(ly.neuron, LIFParams) and ly.neuron.tau_syn != 0 for ly in spiking):
            raise ModelError("a surrogate network has no synaptic current filter (LIF tau_syn must be 0)")
        v_frac = {round(ly.neuron.v_init / ly.neuron.threshold, 6) for ly in spiking}
        if len(v_frac) != 1:
            raise ModelError("every layer must start at the same fraction of its threshold")
        opts = dataclasses.replace(
            options or SurrogateOptions(),
            readout="membrane" if net.readout.kind == "membrane" else "count",
            v_init=float(v_frac.pop()), dt=net.dt,
        )
        out = cls(net.sizes, opts, thresholds=[ly.neuron.threshold for ly in spiking])
        with torch.no_grad():
            for dst, ly in zip(out.linears, net.layers, strict=True):
                dst.weight.copy_(torch.from_numpy(np.array(ly.weight)))
                dst.bias.copy_(torch.from_numpy(np.array(ly.bias)))
            beta = torch.tensor([min(max(ly.neuron.decay_mem if isinstance(ly.neuron, LIFParams) else opts.leak,
                                         MIN_LEAK), MAX_LEAK) for ly in spiking])
            out.leak_logit.copy_(torch.log(beta / (1 - beta)))
        return out

    def to_network(self, *, class_names: Sequence[str] = (), feature_names: Sequence[str] = (),
                   scaler: dict | None = None, meta: dict | None = None) -> SpikingNetwork:
        """The float :class:`SpikingNetwork` that simulates exactly like this module's forward pass."""
        o = self.options
        with torch.no_grad():
            ths = [float(t) for t in self.thresholds().tolist()]
            betas = [float(b) for b in self.leaks().tolist()]
            layers = []
            for i in range(self.n_layers):
                w = self.weight(i).detach().numpy().astype(np.float32)
                b = self.linears[i].bias.detach().numpy().astype(np.float32)
                neuron = None
                if i < self.n_spiking:
                    th = np.float32(ths[i])
                    v0 = float(np.float32(th) * np.float32(o.v_init))
                    if o.neuron == "if":
                        neuron = IFParams(threshold=float(th), reset=o.reset, v_init=v0)
                    else:
                        neuron = LIFParams.from_decays(0.0, float(np.float32(betas[i])), threshold=float(th),
                                                       reset=o.reset, dt=o.dt, v_init=v0)
                layers.append(Layer(w, b, neuron, name=f"fc{i}"))
        if not all(np.isfinite(ly.weight).all() for ly in layers):
            raise ModelError("the surrogate network has non-finite weights; training diverged")
        m = {"method": "surrogate", "options": o.to_dict(), "thresholds": ths,
             "leaks": betas if o.neuron == "lif" else None}
        m.update(meta or {})
        return SpikingNetwork(
            tuple(layers),
            encoding=Encoding("current"),
            readout=Readout("membrane" if o.readout == "membrane" else "count"),
            dt=o.dt,
            class_names=tuple(class_names),
            feature_names=tuple(feature_names),
            scaler=scaler,
            meta=m,
        )


# =========================================================================== training


@dataclass
class SurrogateEval:
    """Scores of a surrogate network at T: accuracy, cross entropy, synops and spikes per jet."""

    accuracy: float
    loss: float
    synops: float
    spikes: float


@torch.no_grad()
def evaluate_surrogate(net: SurrogateNet, X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, T: int,
                       *, batch_size: int = 8192) -> SurrogateEval:
    """Accuracy, cross entropy and mean synops / spikes per jet of the training-time model."""
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32)) if not isinstance(X, torch.Tensor) else X
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64)) if not isinstance(y, torch.Tensor) else y
    net.eval()
    correct = loss = synops = spikes = 0.0
    for s in range(0, Xt.shape[0], batch_size):
        out = net(Xt[s:s + batch_size], T)
        yb = yt[s:s + batch_size]
        correct += float((out.logits.argmax(1) == yb).sum())
        loss += float(F.cross_entropy(out.logits, yb, reduction="sum"))
        synops += float(out.synops.sum())
        spikes += float(sum(c.sum() for c in out.spikes))
    n = Xt.shape[0]
    return SurrogateEval(accuracy=correct / n, loss=loss / n, synops=synops / n, spikes=spikes / n)


def readout_objective(out: SurrogateOutput, y: torch.Tensor, steps: Sequence[int],
                      teacher_log_probs: torch.Tensor | None = None, *, distill_weight: float = 0.0,
                      temperature: float = 1.0) -> torch.Tensor:
    """The read-out's part of the objective: the mean over ``steps`` of the cross entropy of the
    running read-out ``out.logits_at[t]`` (with a teacher: ``(1 - a) CE + a t^2 KL(teacher || student)``
    at temperature ``t``, ``a = distill_weight``; ``teacher_log_probs`` are the teacher's
    log-softmax at that temperature)."""
    total = out.logits.new_zeros(())
    for t in steps:
        term = distilled_cross_entropy(out.logits_at[int(t)], y, teacher_log_probs,
                                       distill_weight=distill_weight, temperature=temperature)
        total = total + term / len(steps)
    return total


def distilled_cross_entropy(logits: torch.Tensor, y: torch.Tensor, teacher_log_probs: torch.Tensor | None = None,
                            *, distill_weight: float = 0.0, temperature: float = 1.0) -> torch.Tensor:
    """The cross entropy of ``logits``, or with a teacher ``(1 - a) CE + a t^2 KL(teacher || student)``
    at temperature ``t`` (``a = distill_weight``; ``teacher_log_probs``: the teacher's log-softmax at
    ``t``, :func:`soft_targets`) -- the one distillation objective of every spiking trainer."""
    ce = F.cross_entropy(logits, y)
    if teacher_log_probs is None or distill_weight <= 0:
        return ce
    kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), teacher_log_probs, log_target=True,
                  reduction="batchmean")
    return (1.0 - distill_weight) * ce + distill_weight * temperature**2 * kl


def loss_steps(cfg: SnnSurrogateConfig) -> tuple[int, ...]:
    """The steps whose running read-out enters the loss: ``loss_timesteps`` below T and T itself."""
    T = int(cfg.timesteps)
    return tuple(sorted({int(t) for t in cfg.loss_timesteps if int(t) < T} | {T}))


def soft_targets(teacher_logits, distill_weight: float, temperature: float, shape: tuple[int, int]):
    """The teacher's log-probabilities at ``temperature`` (None without distillation); checks the
    weight, the temperature and the logits' shape."""
    if not 0.0 <= distill_weight <= 1.0:
        raise ConfigError(f"distillation weight must be in [0, 1], got {distill_weight}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"distillation temperature must be positive, got {temperature}")
    if distill_weight <= 0:
        return None
    if teacher_logits is None:
        raise ConfigError("distillation needs the teacher's logits on the training jets")
    soft = torch.as_tensor(np.asarray(teacher_logits, dtype=np.float32))
    if tuple(soft.shape) != shape:
        raise DataError(f"teacher logits must have shape {shape}, got {tuple(soft.shape)}")
    return F.log_softmax(soft / temperature, dim=1)


def train_surrogate(
    net: SurrogateNet,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: SnnSurrogateConfig | None = None,
    *,
    teacher_logits: np.ndarray | None = None,
    seed: int = 0,
    progress: bool = False,
) -> TrainHistory:
    """Train ``net`` in place by backpropagation through ``cfg.timesteps`` steps.

    Settings from the ``snn_surrogate`` section ``cfg`` (default: its defaults, the pipeline's):
    ``timesteps``, ``epochs``, ``learning_rate``, ``batch_size``, ``patience``,
    ``synops_penalty``, ``distill_weight``, ``temperature``.

    Objective: cross entropy of the read-out at T (with ``loss_timesteps``: the mean of the
    cross entropies of the running read-out at those steps and at T, so that the network is
    also good when read early) plus ``synops_penalty`` times the
    mean synaptic operations per jet divided by the equivalent ANN's MACs
    (so ``synops_penalty = 0.1`` costs 0.1 for a network as busy as the ANN).
    With ``teacher_logits`` (e.g. the ANN's logits on ``X_train``) and
    ``distill_weight = a > 0`` the cross entropy becomes ``(1 - a) CE + a t^2
    KL(teacher || student)`` at temperature ``t`` (knowledge distillation).
    Cosine-annealed Adam; the weights with the best validation objective are
    kept. Returns the history (losses are cross entropies; the best epoch minimizes the
    validation objective).
    """
    cfg = cfg or SnnSurrogateConfig()
    synops_penalty, distill_weight, temperature = cfg.synops_penalty, cfg.distill_weight, cfg.temperature
    Xt, yt = _xy(X_train, y_train, "training set")
    Xv, yv = _xy(X_val, y_val, "validation set")
    if Xt.shape[1] != net.sizes[0]:
        raise DataError(f"the network takes {net.sizes[0]} features, the data have {Xt.shape[1]}")
    if int(max(yt.max(), yv.max())) >= net.sizes[-1]:
        raise DataError(f"labels go up to {int(max(yt.max(), yv.max()))} but the network has {net.sizes[-1]} outputs")
    if not (math.isfinite(synops_penalty) and synops_penalty >= 0):
        raise ConfigError(f"synops penalty must be >= 0, got {synops_penalty}")
    if Xv.shape[0] > MAX_VAL_JETS:
        idx = torch.from_numpy(seeded_rows(Xv.shape[0], MAX_VAL_JETS, seed))
        Xv, yv = Xv[idx], yv[idx]
    soft = soft_targets(teacher_logits, distill_weight, temperature, (Xt.shape[0], net.sizes[-1]))
    macs = float(count_ann_macs(net.sizes))
    T = int(cfg.timesteps)
    steps = loss_steps(cfg)

    def batch_loss(idx):
        out = net(Xt[idx], T, readout_at=steps)
        yb = yt[idx]
        ce = F.cross_entropy(out.logits, yb)
        obj = readout_objective(out, yb, steps, None if soft is None else soft[idx],
                                distill_weight=distill_weight, temperature=temperature)
        if synops_penalty > 0:
            obj = obj + synops_penalty * out.synops.mean() / macs
        return obj, ce

    def val_score():
        ev = evaluate_surrogate(net, Xv, yv, T)
        early = [evaluate_surrogate(net, Xv, yv, t).loss for t in steps if t != T]
        vloss = (ev.loss + sum(early)) / len(steps)
        return vloss + synops_penalty * ev.synops / macs, ev.loss, ev.accuracy

    params = [p for p in net.parameters() if p.requires_grad]
    desc = f"train SNN (surrogate, T={T})"
    opts = FitOptions(epochs=cfg.epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size,
                      patience=cfg.patience, seed=seed, min_delta=1e-5, schedule=Cosine(), desc=desc,
                      diverged=f"{desc}: training diverged (validation loss is not finite); lower the learning rate",
                      progress=progress)
    return fit(net, params, batch_loss, val_score, Xt.shape[0], opts)
