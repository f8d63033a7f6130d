"""Train any ``nn.Module`` that maps standardized features to logits.

Adam, mini-batches, early stopping on the validation loss with the best weights
restored, learning-rate decay on plateau, optional L1 weight penalty and class
weights: the one training loop (:func:`spikejet.snn.train.fit.fit`) with the ANN's
options. Same seed + same inputs + same config = the same weights.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config.sections import AnnConfig
from ..errors import DataError
from ..snn.train.fit import FitOptions, Plateau, TrainHistory, fit

__all__ = [
    "TrainHistory",
    "train_ann",
    "l1_penalty",
    "balanced_class_weights",
]

def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of |w| over the weight matrices (parameters with >= 2 dims; biases excluded)."""
    terms = [p.abs().sum() for p in model.parameters() if p.ndim >= 2]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights ``n / (k * count_c)`` (0 for classes absent from ``y``)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    with np.errstate(divide="ignore"):
        w = np.where(counts > 0, len(y) / (n_classes * counts), 0.0)
    return w


def as_xy_tensors(X: np.ndarray, y: np.ndarray, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated float32 feature and int64 label tensors of one data set (DataError if unusable)."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise DataError(f"{what}: features must be [n, k] and labels [n], got {X.shape} and {y.shape}")
    if X.shape[0] == 0:
        raise DataError(f"{what}: no jets; the split left this set empty, use more jets")
    if not np.isfinite(X).all():
        raise DataError(f"{what}: features contain NaN or inf; clean the data (a file's bad rows: 'spikejet data convert FILE clean.h5 --drop-invalid')")
    return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32)), torch.as_tensor(y.astype(np.int64))


def train_ann(
    model: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    cfg: AnnConfig,
    *,
    seed: int,
    progress: bool = True,
) -> TrainHistory:
    """Train ``model`` in place; return its history. The best-validation-loss weights are kept.

    ``model`` maps standardized float32 features to logits of ``n_classes`` outputs;
    the labels are 0..n_classes-1. Initialize the model (under ``torch.manual_seed``)
    before calling: this function seeds only the batch order.
    """
    Xt, yt = as_xy_tensors(X_train, y_train, "training set")
    Xv, yv = as_xy_tensors(X_val, y_val, "validation set")
    with torch.no_grad():
        n_out = int(model(Xt[:1]).shape[1])
    if int(yt.max()) >= n_out or int(yv.max()) >= n_out:
        raise DataError(f"labels go up to {max(int(yt.max()), int(yv.max()))} but the model has {n_out} outputs")

    weight = None
    if cfg.class_weights:
        weight = torch.as_tensor(balanced_class_weights(yt.numpy(), n_out), dtype=torch.float32)

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ce = F.cross_entropy(model(Xt[idx]), yt[idx], weight=weight)
        return (ce + cfg.l1 * l1_penalty(model) if cfg.l1 > 0 else ce), ce

    def val_score() -> tuple[float, float, float]:
        with torch.no_grad():
            vlogits = model(Xv)
            vloss = float(F.cross_entropy(vlogits, yv))
            return vloss, vloss, float((vlogits.argmax(1) == yv).double().mean())

    schedule = None
    if cfg.lr_decay_factor < 1.0:
        schedule = Plateau(factor=cfg.lr_decay_factor, patience=cfg.lr_decay_patience, min_lr=cfg.min_learning_rate,
                           threshold=cfg.min_delta, threshold_mode="abs")
    opts = FitOptions(
        epochs=cfg.max_epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size, patience=cfg.patience,
        seed=seed, min_delta=cfg.min_delta, schedule=schedule, deterministic=True, desc="train ANN",
        diverged="training diverged (validation loss is not finite); lower ann.learning_rate "
                 "or check that the features are standardized",
        progress=progress,
    )
    return fit(model, list(model.parameters()), batch_loss, val_score, Xt.shape[0], opts)
