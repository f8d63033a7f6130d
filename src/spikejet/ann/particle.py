"""Conventional networks on a jet's constituents and on its image, and their training.

* :class:`DeepSets` -- a particle-flow / deep-sets network (Komiske, Metodiev & Thaler,
  JHEP 01 (2019) 121): one MLP ``phi`` shared by every particle, a sum (or mean) over the
  real particles, an MLP ``rho`` on the pooled vector;
* :class:`InteractionNet` -- an interaction network in the JEDI-net style (Moreno et al.,
  Eur. Phys. J. C 80 (2020) 58), small: an edge MLP ``f_R`` on every ordered pair of real
  particles, the edges summed at their receiver, a node MLP ``f_O`` on (particle, summed
  edges), a sum over particles (optionally joined by jet-level inputs) and a classifier MLP ``phi_C``;
* :class:`JetCNN` -- a small CNN on the jet image (two 3x3 convolutions with 2x2 average
  pooling, then a dense layer).

Inputs: particles ``x [B, P, F]`` with ``mask [B, P]`` (True = real), images ``[B, S, S]``.
Each model counts its multiply-accumulates per jet (``macs(n_real)``: the per-particle
parts scale with the number of real particles; the dense cost at the full ``P`` is the
hardware number, as an FPGA processes every slot).

:func:`train_particle_model` trains any of them with the one fit loop
(:func:`spikejet.snn.train.fit.fit`), :func:`predict_logits` scores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DataError

__all__ = [
    "DeepSets",
    "InteractionNet",
    "JetCNN",
    "build_jet_cnn",
    "image_batch",
    "build_deepsets",
    "build_interaction_net",
    "particle_model_inputs",
    "mlp",
    "mlp_macs",
    "ParticleScaler",
    "ParticleTraining",
    "train_particle_model",
    "predict_logits",
]


def mlp(sizes: Sequence[int], *, last_relu: bool) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (and after the last if ``last_relu``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if last_relu or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def mlp_macs(sizes: Sequence[int]) -> int:
    return int(sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)))


class DeepSets(nn.Module):
    """``rho([pool_p phi(x_p), g])`` over the real particles; ``pool``: ``sum`` or ``mean``.

    ``n_global`` jet-level inputs ``g`` (e.g. the 16 standardized features: the stored particles
    are the leading 32, so the jet's full multiplicity is only there) join the pooled vector;
    0: particles only (``forward(x, mask)``)."""

    def __init__(self, n_in: int, phi: Sequence[int] = (64, 64), rho: Sequence[int] = (64,),
                 n_classes: int = 5, pool: str = "sum", n_global: int = 0) -> None:
        super().__init__()
        if pool not in ("sum", "mean"):
            raise ConfigError(f"deep-sets pooling must be 'sum' or 'mean', got {pool!r}")
        if not phi:
            raise ConfigError("a deep-sets network needs at least one per-particle layer")
        self.phi_sizes = (int(n_in), *map(int, phi))
        self.n_global = int(n_global)
        self.rho_sizes = (self.phi_sizes[-1] + self.n_global, *map(int, rho), int(n_classes))
        self.pool = pool
        self.phi = mlp(self.phi_sizes, last_relu=True)
        self.rho = mlp(self.rho_sizes, last_relu=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        h = self.phi(x) * mask.unsqueeze(-1).to(x.dtype)
        pooled = h.sum(1)
        if self.pool == "mean":
            pooled = pooled / mask.sum(1, keepdim=True).clamp_min(1).to(x.dtype)
        if self.n_global:
            if g is None:
                raise DataError(f"this deep-sets network takes {self.n_global} jet-level inputs")
            pooled = torch.cat([pooled, g], 1)
        return self.rho(pooled)

    def macs(self, n_real: float) -> float:
        return float(n_real) * mlp_macs(self.phi_sizes) + mlp_macs(self.rho_sizes)

    def arch(self) -> dict:
        return {"type": "deepsets", "n_in": self.phi_sizes[0], "phi": list(self.phi_sizes[1:]),
                "rho": list(self.rho_sizes[1:-1]), "n_classes": self.rho_sizes[-1], "pool": self.pool,
                "n_global": self.n_global}

    def predict_particles(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Logits ``[n, C]`` of ``[x, mask(, g)]`` (the one scoring path of the stage and of model files)."""
        return predict_logits(self, inputs)


class InteractionNet(nn.Module):
    """A small JEDI-net: edges ``f_R([x_i, x_j])`` for every ordered pair of real particles ``i != j``,
    ``e_i = sum_j f_R([x_i, x_j])``, nodes ``f_O([x_i, e_i])``, ``phi_C([sum_i f_O, g])``.

    The first layer of ``f_R`` is linear in the concatenation, so it is computed as
    ``W_r x_i + W_s x_j`` from per-particle projections (``2 P F h`` MACs instead of
    ``P (P - 1) 2 F h``; the rest of ``f_R`` runs on every pair). ``n_global`` jet-level inputs
    ``g`` (the 16 standardized features, as :class:`DeepSets`) join the pooled vector; 0:
    particles only (``forward(x, mask)``)."""

    def __init__(self, n_in: int, edge: Sequence[int] = (32, 16), node: Sequence[int] = (32, 32),
                 classifier: Sequence[int] = (32,), n_classes: int = 5, n_global: int = 0) -> None:
        super().__init__()
        if not edge or not node:
            raise ConfigError("an interaction network needs edge and node layers")
        F_ = int(n_in)
        self.n_in = F_
        self.n_global = int(n_global)
        self.edge_sizes = (2 * F_, *map(int, edge))
        self.node_sizes = (F_ + self.edge_sizes[-1], *map(int, node))
        self.cls_sizes = (self.node_sizes[-1] + self.n_global, *map(int, classifier), int(n_classes))
        h0 = self.edge_sizes[1]
        self.recv = nn.Linear(F_, h0)
        self.send = nn.Linear(F_, h0, bias=False)
        self.edge_rest = mlp(self.edge_sizes[1:], last_relu=True) if len(self.edge_sizes) > 2 else nn.Identity()
        self.node = mlp(self.node_sizes, last_relu=True)
        self.classifier = mlp(self.cls_sizes, last_relu=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        m = mask.to(x.dtype)
        P = x.shape[1]
        pair = m.unsqueeze(2) * m.unsqueeze(1) * (1.0 - torch.eye(P, dtype=x.dtype))  # [B, i, j]
        h = F.relu(self.recv(x).unsqueeze(2) + self.send(x).unsqueeze(1))  # [B, i, j, h0]
        e = self.edge_rest(h) * pair.unsqueeze(-1)
        agg = e.sum(2)  # at the receiver i
        o = self.node(torch.cat([x, agg], -1)) * m.unsqueeze(-1)
        pooled = o.sum(1)
        if self.n_global:
            if g is None:
                raise DataError(f"this interaction network takes {self.n_global} jet-level inputs")
            pooled = torch.cat([pooled, g], 1)
        return self.classifier(pooled)

    def macs(self, n_real: float) -> float:
        n = float(n_real)
        pairs = n * max(n - 1.0, 0.0)
        h0 = self.edge_sizes[1]
        return (2 * n * self.n_in * h0 + pairs * mlp_macs(self.edge_sizes[1:])
                + n * mlp_macs(self.node_sizes) + mlp_macs(self.cls_sizes))

    def arch(self) -> dict:
        return {"type": "interaction_net", "n_in": self.n_in, "edge": list(self.edge_sizes[1:]),
                "node": list(self.node_sizes[1:]), "classifier": list(self.cls_sizes[1:-1]),
                "n_classes": self.cls_sizes[-1], "n_global": self.n_global}

    def predict_particles(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Logits ``[n, C]`` of ``[x, mask(, g)]``."""
        return predict_logits(self, inputs)


class JetCNN(nn.Module):
    """3x3 'same' convolutions with ReLU and 2x2 average pooling, a dense layer, the classes, on images
    ``[n, in_channels, size, size]`` (``[n, size, size]`` when ``in_channels`` is 1)."""

    def __init__(self, size: int = 16, channels: Sequence[int] = (8, 16), dense: int = 32,
                 n_classes: int = 5, in_channels: int = 1) -> None:
        super().__init__()
        self.size = int(size)
        self.channels = tuple(int(c) for c in channels)
        self.in_channels = int(in_channels)
        if self.size % (2 ** len(self.channels)):
            raise ConfigError(f"image size {size} must be divisible by 2^{len(self.channels)} (one pooling per conv)")
        if self.in_channels < 1:
            raise ConfigError(f"in_channels must be at least 1, got {in_channels}")
        convs: list[nn.Module] = []
        cin = self.in_channels
        for c in self.channels:
            convs += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2)]
            cin = c
        self.features = nn.Sequential(*convs)
        side = self.size // 2 ** len(self.channels)
        self.head_sizes = (cin * side * side, int(dense), int(n_classes))
        self.head = mlp(self.head_sizes, last_relu=False)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image_batch(img, self.in_channels, self.size)).flatten(1))

    def arch(self) -> dict:
        return {"type": "jet_cnn", "size": self.size, "channels": list(self.channels),
                "dense": self.head_sizes[1], "n_classes": self.head_sizes[2], "in_channels": self.in_channels}

    def predict_images(self, images: np.ndarray) -> np.ndarray:
        """Logits ``[n, C]`` of images ``[n, in_channels, S, S]`` (or ``[n, S, S]`` for one channel; the one
        scoring path of the stage and of model files)."""
        return predict_logits(self, [np.asarray(images, dtype=np.float32)])

    def macs(self, n_real: float = 0.0) -> float:
        macs, cin, side = 0, self.in_channels, self.size
        for c in self.channels:
            macs += side * side * cin * c * 9
            side //= 2
            cin = c
        return float(macs + mlp_macs(self.head_sizes))


def build_jet_cnn(arch: dict) -> JetCNN:
    """The model-file builder of ``arch["type"] == "jet_cnn"`` (files without ``in_channels``: 1)."""
    return JetCNN(arch["size"], arch["channels"], arch["dense"], arch["n_classes"], arch.get("in_channels", 1))


def image_batch(img: torch.Tensor, in_channels: int, size: int) -> torch.Tensor:
    """A batch of images as ``[B, in_channels, size, size]`` (``[B, size, size]`` taken as one channel);
    any other shape is one DataError line."""
    if img.ndim == 3 and in_channels == 1:
        img = img.unsqueeze(1)
    if img.ndim != 4 or tuple(img.shape[1:]) != (in_channels, size, size):
        raise DataError(f"images must be [n, {in_channels}, {size}, {size}], got shape {tuple(img.shape)}")
    return img


def build_deepsets(arch: dict) -> DeepSets:
    """The model-file builder of ``arch["type"] == "deepsets"``."""
    return DeepSets(arch["n_in"], arch["phi"], arch["rho"], arch["n_classes"], arch["pool"], arch["n_global"])


def build_interaction_net(arch: dict) -> InteractionNet:
    """The model-file builder of ``arch["type"] == "interaction_net"``."""
    return InteractionNet(arch["n_in"], arch["edge"], arch["node"], arch["classifier"], arch["n_classes"],
                          arch.get("n_global", 0))


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ParticleScaler:
    """Per-feature mean and scale over the real particles of the training jets (padding stays 0)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, mask: np.ndarray) -> ParticleScaler:
        real = np.asarray(x, dtype=np.float64)[np.asarray(mask, dtype=bool)]
        if real.shape[0] == 0:
            raise DataError("no real particles to fit the particle scaler on")
        mean = real.mean(0)
        std = real.std(0)
        std = np.where(std > 1e-6 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def transform(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = (np.asarray(x, dtype=np.float32) - self.mean) / self.scale
        out[~np.asarray(mask, dtype=bool)] = 0.0
        return out.astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> ParticleScaler:
        return cls(np.asarray(d["mean"], dtype=np.float32), np.asarray(d["scale"], dtype=np.float32))


def particle_model_inputs(table, n_particles: int, scaler: ParticleScaler, jet_scaler=None, *,
                          raw: tuple[np.ndarray, np.ndarray] | None = None) -> list[np.ndarray]:
    """The inputs of a particle model on ``table``'s jets: ``[x, mask]`` of the ``n_particles`` leading
    particles (:func:`spikejet.data.particles.particle_inputs`, scaled by ``scaler``) and, with
    ``jet_scaler`` (a :class:`~spikejet.data.Standardizer`), the standardized jet features ``g``.
    ``raw``: ``particle_inputs``' arrays when already made. The one recipe of the stages and of
    model files."""
    from ..data.particles import particle_inputs

    x, m = raw if raw is not None else particle_inputs(table, n_particles)
    parts = [scaler.transform(x, m), m]
    if jet_scaler is not None:
        parts.append(np.asarray(jet_scaler.transform(table.X), dtype=np.float32))
    return parts


@dataclass(frozen=True)
class ParticleTraining:
    """The recipe of :func:`train_particle_model` (the stages take it from their config section)."""

    epochs: int = 20
    learning_rate: float = 2e-3
    batch_size: int = 256
    patience: int = 5
    seed: int = 0
    max_val_jets: int = 10000


@torch.no_grad()
def predict_logits(model: nn.Module, inputs: Sequence[np.ndarray | torch.Tensor], *,
                   batch_size: int = 2048) -> np.ndarray:
    """Logits ``[n, C]`` of ``model(*inputs)``, in batches."""
    model.eval()
    ts = [torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a for a in inputs]
    n = ts[0].shape[0]
    out = [model(*(t[s:s + batch_size] for t in ts)) for s in range(0, n, batch_size)]
    return torch.cat(out).numpy()


def train_particle_model(model: nn.Module, train: Sequence[np.ndarray], y_train: np.ndarray,
                         val: Sequence[np.ndarray], y_val: np.ndarray, opts: ParticleTraining | None = None,
                         *, progress: bool = False, desc: str = "train particle model"):
    """Train ``model(*inputs) -> logits`` in place with the one fit loop (Adam, cosine schedule,
    early stopping on the validation cross entropy, best weights restored); returns the history."""
    from ..runtime import seeded_rows
    from ..snn.train.fit import Cosine, FitOptions, fit

    o = opts or ParticleTraining()
    tr = [torch.as_tensor(np.asarray(a)) for a in train]
    yt = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
    va = [np.asarray(a) for a in val]
    yv = np.asarray(y_val, dtype=np.int64)
    if len(yv) > o.max_val_jets:
        idx = seeded_rows(len(yv), o.max_val_jets, o.seed)
        va, yv = [a[idx] for a in va], yv[idx]
    vt = [torch.as_tensor(a) for a in va]
    yvt = torch.as_tensor(yv)

    def batch_loss(idx):
        ce = F.cross_entropy(model(*(t[idx] for t in tr)), yt[idx])
        return ce, ce

    def val_score():
        logits = torch.as_tensor(predict_logits(model, vt))
        ce = float(F.cross_entropy(logits, yvt))
        return ce, ce, float((logits.argmax(1) == yvt).float().mean())

    fo = FitOptions(epochs=o.epochs, learning_rate=o.learning_rate, batch_size=o.batch_size,
                    patience=o.patience, seed=o.seed, schedule=Cosine(), desc=desc, progress=progress)
    torch.manual_seed(o.seed)
    return fit(model, [p for p in model.parameters() if p.requires_grad], batch_loss, val_score,
               int(yt.shape[0]), fo)
