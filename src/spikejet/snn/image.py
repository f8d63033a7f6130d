"""A spiking CNN on jet images: IF convolutions with sum pooling, an IF dense layer, a membrane read-out.

The conventional twin is :class:`~spikejet.ann.particle.JetCNN` (3x3 'same' convolutions, ReLU,
2x2 average pooling, a dense hidden layer, the classes). Conversion (QCFS, Bu et al., ICLR 2022,
as :mod:`spikejet.snn.convert.qcfs` does for the MLP): a copy of the CNN with its ReLUs replaced
by quantization-clip-floor-shift activations of ``T`` levels (:func:`qcfs_cnn`) is fine-tuned, then
every activation ``lambda_l * clip(floor(x L / lambda_l + 1/2) / L, 0, 1)`` becomes an IF neuron
with threshold 1 (weights and bias of its layer divided by ``lambda_l``), membrane starting at 1/2,
and the next layer's weights multiplied by ``lambda_l`` (a spike stands for ``lambda_l``). The
average pooling after a spiking convolution becomes *sum* pooling of the spikes with the 1/4 folded
into the next layer's weights (on a chip: every spike of the pooled window reaches the same
synapses; nothing is computed).

One time step ``t = 1..T`` of :class:`SpikingCNN` (the semantics of
:class:`~spikejet.snn.network.SpikingNetwork`, same-step propagation)::

    z_0 = conv_0(image) + b_0            constant input current (``current`` encoding), every step
    s_l = IF(z_l);  p_l = sumpool2x2(s_l);  z_{l+1} = conv_{l+1}(p_l) + b_{l+1}
    z_D = W_D flatten(p_last) + b_D;  s_D = IF(z_D);  out += W_out s_D + b_out
    logits = out / T                     (the ``membrane`` read-out)

Op counts per jet (probes: every layer's spikes): ``synops`` = sum over neurons of spikes x
fan-out, the fan-out of a convolution neuron being the non-zero kernel taps that reach a neuron
of the next layer from its pooled pixel (border taps that fall outside the image are not
synapses); the first convolution's constant current is ``input_macs`` (once per jet).
Memory: with shared convolutional weights a layer stores its kernel once (``Cout Cin 9``
weights); unrolled, every (pre, post) pair is a synapse (:func:`unrolled_network` builds that
dense :class:`SpikingNetwork`, which the float simulator, the Loihi integer model and the energy
model take as they are).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..ann.particle import image_batch
from ..errors import ConfigError, ModelError
from .convert.common import HALF_THRESHOLD
from .convert.qcfs import QCFS

__all__ = ["qcfs_cnn", "SpikingCNN", "CnnRun", "evaluate_spiking_cnn", "unrolled_network", "cnn_layer_shapes",
           "weight_memory", "surrogate_finetune"]

#: Pooling window of every convolution (JetCNN's 2x2 average pooling).
POOL = 2


def _relu_to_qcfs(seq: nn.Sequential, levels: int, thresholds: list[float]) -> None:
    for i, m in enumerate(seq):
        if isinstance(m, nn.ReLU):
            seq[i] = QCFS(levels, thresholds.pop(0))


def _activation_percentiles(model: nn.Module, images: torch.Tensor, percentile: float) -> list[float]:
    """The ``percentile`` of every ReLU's positive outputs on ``images`` (in network order)."""
    acts: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: acts.append(o.detach().flatten()))
             for m in [*model.features, *model.head] if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for h in hooks:
            h.remove()
    out = []
    for a in acts:
        nz = a[a > 0]
        out.append(float(np.percentile(nz.numpy(), percentile)) if nz.numel() else 1.0)
    return out


def qcfs_cnn(model: nn.Module, images: np.ndarray, *, levels: int, percentile: float = 99.9,
             max_jets: int = 5000) -> nn.Module:
    """A copy of a :class:`~spikejet.ann.particle.JetCNN` whose ReLUs are QCFS activations of
    ``levels`` levels, thresholds at the ``percentile`` of the ReLUs' outputs on ``images``."""
    th = _activation_percentiles(model, torch.as_tensor(np.asarray(images[:max_jets])), percentile)
    q = copy.deepcopy(model)
    _relu_to_qcfs(q.features, levels, th)
    _relu_to_qcfs(q.head, levels, th)
    q.qcfs_levels = int(levels)
    return q


@dataclass(frozen=True)
class CnnRun:
    """``logits [n, C]``, ``synops [n]``, ``spikes [n]`` and ``layer_spikes [n, L]`` (the probes)."""

    logits: np.ndarray
    synops: np.ndarray
    spikes: np.ndarray
    layer_spikes: np.ndarray


def _fanout_conv(weight: torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """Fan-out ``[Cin, H, W]`` of every input pixel of a 3x3 'same' convolution: its non-zero
    taps that land on an output pixel inside the image."""
    mask = (weight != 0).to(torch.float32)
    ones = torch.ones(1, weight.shape[0], *out_hw)
    return F.conv_transpose2d(ones, mask, padding=weight.shape[-1] // 2)[0]


class SpikingCNN(nn.Module):
    """Spiking convolutions (threshold 1, membranes from ``v_init``), sum pooling, spiking dense
    layers, a non-spiking output layer. Built by :meth:`from_qcfs` (or from its state dict by
    :func:`build`)."""

    def __init__(self, size: int, channels: Sequence[int], dense: Sequence[int], n_classes: int, *,
                 reset: str = "zero", v_init: float = HALF_THRESHOLD, in_channels: int = 1) -> None:
        super().__init__()
        if reset not in ("zero", "subtract"):
            raise ConfigError(f"reset must be 'zero' or 'subtract', got {reset!r}")
        self.size = int(size)
        self.channels = tuple(int(c) for c in channels)
        self.in_channels = int(in_channels)
        if not self.channels or self.size % (POOL ** len(self.channels)):
            raise ConfigError(f"image size {size} must be divisible by {POOL}^{len(self.channels)}")
        if self.in_channels < 1:
            raise ConfigError(f"in_channels must be at least 1, got {in_channels}")
        self.reset, self.v_init = reset, float(v_init)
        #: ``(kind, slope)`` of the surrogate derivative while training (:func:`surrogate_finetune`); in
        #: eval mode, and always when ``None``, the spike is the plain step (the forward values are the same).
        self.surrogate: tuple[str, float] | None = None
        cins = (self.in_channels, *self.channels[:-1])
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(cins, self.channels, strict=True))
        side = self.size // POOL ** len(self.channels)
        self.dense_sizes = (self.channels[-1] * side * side, *(int(d) for d in dense), int(n_classes))
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(self.dense_sizes[:-1], self.dense_sizes[1:],
                                                                     strict=True))

    @property
    def n_spiking(self) -> int:
        return len(self.convs) + len(self.linears) - 1

    def arch(self) -> dict[str, Any]:
        return {"type": "spiking_cnn", "size": self.size, "channels": list(self.channels),
                "dense": list(self.dense_sizes[1:-1]), "n_classes": self.dense_sizes[-1], "reset": self.reset,
                "v_init": self.v_init, "in_channels": self.in_channels}

    def neuron_shapes(self) -> list[tuple[int, ...]]:
        side, out = self.size, []
        for c in self.channels:
            out.append((c, side, side))
            side //= POOL
        return out + [(n,) for n in self.dense_sizes[1:]]

    def neuron_updates(self, T: int) -> float:
        """Every neuron (output layer included) updated every step."""
        return float(sum(int(np.prod(s)) for s in self.neuron_shapes()) * int(T))

    def input_macs(self) -> float:
        """MACs of the first convolution's constant current, once per jet ('same' padding, all taps)."""
        c = self.convs[0]
        return float(self.size * self.size * c.out_channels * c.in_channels * 9)

    def fanouts(self) -> list[torch.Tensor]:
        """Fan-out of every spiking neuron, in the shape of its layer."""
        out = []
        side = self.size
        for i in range(len(self.convs)):
            pooled = side // POOL
            if i + 1 < len(self.convs):
                f = _fanout_conv(self.convs[i + 1].weight.detach(), (pooled, pooled))
            else:
                w = self.linears[0].weight.detach()
                f = (w != 0).sum(0).to(torch.float32).reshape(self.channels[-1], pooled, pooled)
            out.append(f.repeat_interleave(POOL, 1).repeat_interleave(POOL, 2))
            side = pooled
        for lin in list(self.linears)[1:]:
            out.append((lin.weight.detach() != 0).sum(0).to(torch.float32))
        return out

    def _if(self, z: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = v + z
        if self.training and self.surrogate is not None:
            from .train.surrogate import spike

            s = spike(v - 1.0, *self.surrogate)  # the step forward, sigma'(v - 1) backward
            r = s.detach()  # detached reset, as the other surrogate-trained networks
        else:
            s = r = (v >= 1.0).to(z.dtype)
        v = v - r if self.reset == "subtract" else v * (1.0 - r)
        return s, v

    def forward(self, img: torch.Tensor, T: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits ``[B, C]``, spike counts per neuron of every spiking layer ``list[[B, *shape]]``)."""
        T = int(T)
        if T < 1:
            raise ConfigError(f"T must be >= 1, got {T}")
        img = image_batch(img, self.in_channels, self.size)
        B = img.shape[0]
        z0 = self.convs[0](img)
        shapes = self.neuron_shapes()[:-1]
        vs = [img.new_full((B, *s), self.v_init) for s in shapes]
        counts = [img.new_zeros((B, *s)) for s in shapes]
        out = img.new_zeros(B, self.dense_sizes[-1])
        nc = len(self.convs)
        for _ in range(T):
            z = z0
            for i in range(nc):
                s, vs[i] = self._if(z, vs[i])
                counts[i] += s
                p = F.avg_pool2d(s, POOL) * (POOL * POOL)  # sum pooling
                z = self.convs[i + 1](p) if i + 1 < nc else self.linears[0](p.flatten(1))
            for j in range(1, len(self.linears)):
                s, vs[nc + j - 1] = self._if(z, vs[nc + j - 1])
                counts[nc + j - 1] += s
                z = self.linears[j](s)
            out = out + z
        return out / T, counts

    def predict_images(self, images: np.ndarray, T: int = 8) -> np.ndarray:
        """Read-out logits ``[n, C]`` at ``T`` steps (the scoring path of the stage and of model files)."""
        return evaluate_spiking_cnn(self, images, T).logits

    @classmethod
    def from_qcfs(cls, q: nn.Module, *, reset: str = "zero") -> SpikingCNN:
        """Convert a QCFS :func:`qcfs_cnn` (see the module docstring)."""
        lam = [float(m.lam.detach()) for m in [*q.features, *q.head] if isinstance(m, QCFS)]
        convs = [m for m in q.features if isinstance(m, nn.Conv2d)]
        lins = [m for m in q.head if isinstance(m, nn.Linear)]
        if len(lam) != len(convs) + len(lins) - 1:
            raise ModelError("from_qcfs needs a QCFS CNN (see qcfs_cnn)")
        net = cls(q.size, q.channels, [lin.out_features for lin in lins[:-1]], lins[-1].out_features, reset=reset,
                  in_channels=convs[0].in_channels)
        pool = 1.0 / (POOL * POOL)
        with torch.no_grad():
            for k, (dst, src) in enumerate(zip([*net.convs, *net.linears], [*convs, *lins], strict=True)):
                gain = 1.0 if k == 0 else lam[k - 1] * (pool if k <= len(convs) else 1.0)
                out_scale = lam[k] if k < len(lam) else 1.0
                dst.weight.copy_(src.weight * gain / out_scale)
                dst.bias.copy_(src.bias / out_scale)
        net.eval()
        return net


class _Logits(nn.Module):
    """``net(img, T)``'s logits alone: what the one fit loop trains (the parameters are ``net``'s)."""

    def __init__(self, net: SpikingCNN, T: int) -> None:
        super().__init__()
        self.net, self.T = net, int(T)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img, self.T)[0]


def surrogate_finetune(net: SpikingCNN, images: np.ndarray, y: np.ndarray, val_images: np.ndarray,
                       y_val: np.ndarray, T: int, training: Any, *, surrogate: str = "fast_sigmoid",
                       slope: float = 5.0, progress: bool = False) -> Any:
    """Fine-tune a (converted) spiking CNN in place by backpropagation through its ``T`` steps with the
    surrogate derivative ``surrogate`` / ``slope`` of the spike (threshold 1, detached reset), in the
    one fit loop of the particle models (:func:`~spikejet.ann.particle.train_particle_model`: Adam,
    cosine schedule, early stopping on the validation cross entropy of the plain spiking network,
    best weights restored); returns the history."""
    from ..ann.particle import train_particle_model

    net.surrogate = (surrogate, float(slope))
    try:
        return train_particle_model(_Logits(net, T), [images], y, [val_images], y_val, training,
                                    progress=progress, desc=f"surrogate fine-tuning (T={int(T)})")
    finally:
        net.surrogate = None
        net.eval()


def build(arch: dict[str, Any]) -> SpikingCNN:
    """The model-file builder of ``arch["type"] == "spiking_cnn"`` (files without ``in_channels``: 1)."""
    return SpikingCNN(arch["size"], arch["channels"], arch["dense"], arch["n_classes"], reset=arch["reset"],
                      v_init=arch["v_init"], in_channels=arch.get("in_channels", 1))


@torch.no_grad()
def evaluate_spiking_cnn(net: SpikingCNN, images: np.ndarray, T: int, *, batch_size: int = 1024) -> CnnRun:
    """Run ``net`` for ``T`` steps on ``images [n, in_channels, S, S]`` (``[n, S, S]`` for one channel);
    logits, synops, spikes and per-layer spikes."""
    net.eval()
    fans = net.fanouts()
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    lg, syn, per = [], [], []
    for s in range(0, x.shape[0], batch_size):
        logits, counts = net(x[s:s + batch_size], T)
        lg.append(logits)
        syn.append(sum((c * f).flatten(1).sum(1) for c, f in zip(counts, fans, strict=True)))
        per.append(torch.stack([c.flatten(1).sum(1) for c in counts], 1))
    layer = torch.cat(per).numpy().astype(np.float64)
    return CnnRun(logits=torch.cat(lg).numpy(), synops=torch.cat(syn).numpy().astype(np.float64),
                  spikes=layer.sum(1), layer_spikes=layer)


def cnn_layer_shapes(net: SpikingCNN) -> list[tuple[int, ...]]:
    """Shapes of every layer's neurons (spiking layers, then the output)."""
    return net.neuron_shapes()


@torch.no_grad()
def _dense_of(fn, shape_in: tuple[int, ...]) -> np.ndarray:
    """The matrix ``[out, in]`` of the linear map ``fn`` on inputs of ``shape_in``."""
    n = int(np.prod(shape_in))
    eye = torch.eye(n).reshape(n, *shape_in)
    return fn(eye).reshape(n, -1).T.contiguous().numpy()


@torch.no_grad()
def unrolled_network(net: SpikingCNN, *, class_names: Sequence[str] = (), meta: dict | None = None) -> Any:
    """The same network as a dense :class:`~spikejet.snn.network.SpikingNetwork` (each convolution
    and the sum pooling before it written out as its full weight matrix; flattened images
    ``[n, in_channels * S * S]`` in, channel-major as torch's flatten)."""
    from .encoding import Encoding
    from .network import Layer, SpikingNetwork
    from .neurons import IFParams
    from .readout import Readout

    neuron = IFParams(threshold=1.0, reset=net.reset, v_init=net.v_init)
    layers, shape = [], (net.in_channels, net.size, net.size)
    pool = lambda t: F.avg_pool2d(t, POOL) * (POOL * POOL)  # noqa: E731
    for i, conv in enumerate(net.convs):
        pre = (lambda t: t) if i == 0 else pool
        w = _dense_of(lambda t, c=conv, p=pre: F.conv2d(p(t), c.weight, None, padding=1), shape)
        side = net.size // POOL ** i
        b = conv.bias.detach().repeat_interleave(side * side).numpy()
        layers.append(Layer(weight=w, bias=b, neuron=neuron, name=f"conv{i}"))
        shape = (conv.out_channels, side, side)
    lin0 = net.linears[0]
    w = _dense_of(lambda t: F.linear(pool(t).flatten(1), lin0.weight), shape)
    n_lin = len(net.linears)
    layers.append(Layer(weight=w, bias=lin0.bias.detach().numpy(), neuron=neuron if n_lin > 1 else None,
                        name="dense0"))
    for j in range(1, n_lin):
        lin = net.linears[j]
        layers.append(Layer(weight=lin.weight.detach().numpy(), bias=lin.bias.detach().numpy(),
                            neuron=neuron if j < n_lin - 1 else None, name=f"dense{j}"))
    return SpikingNetwork(layers=tuple(layers), encoding=Encoding(kind="current"), readout=Readout(kind="membrane"),
                          class_names=tuple(class_names), meta=dict(meta or {}))


def weight_memory(net: SpikingCNN) -> dict[str, int]:
    """Synaptic weights stored: with shared convolution kernels (each kernel once) and unrolled
    (every non-zero (pre, post) pair a synapse, as a dense chip layer stores them)."""
    shared = sum(int((c.weight != 0).sum()) for c in net.convs) + sum(int((lin.weight != 0).sum())
                                                                       for lin in net.linears)
    unrolled = 0
    side = net.size
    for i, c in enumerate(net.convs):
        taps = int(_fanout_conv(c.weight.detach(), (side, side)).sum())
        unrolled += taps * (POOL * POOL if i else 1)  # after a pooling: the window's POOL^2 neurons each
        side //= POOL
    pooled_fan = int((net.linears[0].weight != 0).sum()) * POOL * POOL
    unrolled += pooled_fan + sum(int((lin.weight != 0).sum()) for lin in list(net.linears)[1:])
    return {"shared": shared, "unrolled": unrolled}
