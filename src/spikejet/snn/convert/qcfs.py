"""QCFS (quantization-clip-floor-shift, Bu et al. 2022): fine-tune a QCFS copy of the ANN, then
convert it with thresholds ``lambda_l``, membranes at half and a membrane read-out. See
:mod:`spikejet.snn.convert` for the method."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ...config.sections import ConvertConfig
from ...errors import ConfigError, ModelError
from ..network import SpikingNetwork
from ..neurons import IFParams
from .common import (
    HALF_THRESHOLD,
    MAX_NORM_JETS,
    QCFS_LEVELS,
    QCFS_MIN_THRESHOLD,
    _linears_and_acts,
    _norm_subset,
    _normalized_layers,
    activation_kind,
    ann_layers,
    choose_scales,
    converted_network,
    register_activation,
)

#: Mini-batch of the QCFS fine-tuning (small batches give the thresholds more updates).
QCFS_BATCH = ConvertConfig().qcfs_batch_size


class QCFS(nn.Module):
    """Quantization-clip-floor-shift activation with a trainable threshold ``lambda``.

    ``forward(x) = lambda * clip(floor(x * L / lambda + 1/2) / L, 0, 1)`` with a
    straight-through gradient for the floor (so ``lambda`` learns the clip level).
    """

    def __init__(self, levels: int = QCFS_LEVELS, threshold: float = 1.0) -> None:
        super().__init__()
        if int(levels) < 1:
            raise ConfigError(f"QCFS levels must be >= 1, got {levels}")
        if not (math.isfinite(float(threshold)) and float(threshold) > 0):
            raise ConfigError(f"QCFS threshold must be positive, got {threshold}")
        self.levels = int(levels)
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    @property
    def lam(self) -> torch.Tensor:
        return self.threshold.abs().clamp_min(QCFS_MIN_THRESHOLD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.lam
        y = torch.clamp(x / lam, 0.0, 1.0)
        q = torch.floor(y * self.levels + 0.5) / self.levels
        return (y + (q - y).detach()) * lam

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.lam.detach()):.4g}"


register_activation(QCFS, "qcfs")


def qcfs_model(model: nn.Module, *, levels: int = QCFS_LEVELS, thresholds: Sequence[float] | None = None) -> nn.Module:
    """A copy of a ReLU MLP with QCFS activations (thresholds: per hidden layer, default 1)."""
    from ...ann.model import MLP

    lins, _ = _linears_and_acts(model)
    sizes = (lins[0].in_features, *(lin.out_features for lin in lins))
    n_hidden = len(sizes) - 2
    th = list(thresholds) if thresholds is not None else [1.0] * n_hidden
    if len(th) != n_hidden:
        raise ConfigError(f"{len(th)} QCFS thresholds for {n_hidden} hidden layers")
    q = MLP(sizes, activation=lambda: QCFS(levels))
    for dst, src in zip(q.linears, lins, strict=True):
        dst.load_state_dict(src.state_dict())
    with torch.no_grad():
        for a, t in zip(q.activations, th, strict=True):
            a.threshold.fill_(float(t))
    return q


def finetune_qcfs(
    model: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: ConvertConfig | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
) -> tuple[nn.Module, Any]:
    """QCFS copy of a ReLU MLP, fine-tuned; the ReLU model is not changed.

    ``cfg``: ``qcfs_levels``, ``percentile``, ``qcfs_epochs``, ``qcfs_learning_rate``,
    ``qcfs_batch_size``, ``qcfs_patience``. The thresholds start at an activation percentile;
    given several, the one whose IF conversion agrees best with the ANN at ``T = levels`` steps
    (:func:`choose_scales`). Returns ``(qcfs_model, TrainHistory)``; the chosen start is
    ``qcfs_model.init_percentile``. The fine-tuning is :func:`spikejet.ann.train.train_ann`.
    """
    from ...ann.train import train_ann
    from ...config.sections import AnnConfig

    cfg = cfg or ConvertConfig()
    levels = cfg.qcfs_levels
    if activation_kind(model) != "relu":
        raise ModelError("QCFS fine-tuning starts from a ReLU network")
    Xn = _norm_subset(X_train, MAX_NORM_JETS, seed)
    th, chosen, _ = choose_scales(model, Xn, list(cfg.percentile), int(levels))
    q = qcfs_model(model, levels=levels, thresholds=th)
    q.init_percentile = chosen
    ann_cfg = AnnConfig(learning_rate=cfg.qcfs_learning_rate, batch_size=cfg.qcfs_batch_size,
                        max_epochs=cfg.qcfs_epochs, patience=cfg.qcfs_patience, lr_decay_factor=0.5,
                        lr_decay_patience=2, min_learning_rate=1e-6)
    hist = train_ann(q, X_train, y_train, X_val, y_val, ann_cfg, seed=seed, progress=progress)
    return q, hist


def convert_qcfs(
    model: nn.Module,
    X_norm: np.ndarray,
    cfg: ConvertConfig | None = None,
    *,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    seed: int = 0,
) -> SpikingNetwork:
    """Convert a QCFS-trained MLP: thresholds ``lambda_l``, membranes at half, membrane read-out."""
    cfg = cfg or ConvertConfig()
    if activation_kind(model) != "qcfs":
        raise ModelError("convert_qcfs needs a QCFS-trained network (see finetune_qcfs)")
    layers = ann_layers(model)
    scales = [float(a.lam.detach()) for a in model.activations]
    levels = [int(a.levels) for a in model.activations]
    init = getattr(model, "init_percentile", None)
    neuron = IFParams(threshold=1.0, reset="subtract", v_init=HALF_THRESHOLD)
    spec = _normalized_layers(layers, scales, [neuron] * (len(layers) - 1) + [None], out_scale=1.0)
    return converted_network(spec, "membrane", cfg, {"class_names": class_names, "feature_names": feature_names,
                                                        "scaler": scaler},
                             {"method": "qcfs", "scales": scales, "levels": levels, "init_percentile": init})
