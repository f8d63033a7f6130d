"""Train any ``nn.Module`` that maps standardized features to logits.

Adam, mini-batches, early stopping on the validation loss with the best weights
restored, learning-rate decay on plateau, optional L1 weight penalty and class
weights. Same seed + same inputs + same config = the same weights.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config.sections import AnnConfig
from ..errors import ConfigError, DataError
from ..runtime import deterministic

__all__ = [
    "TrainHistory",
    "train_ann",
    "l1_penalty",
    "balanced_class_weights",
]

@dataclass
class TrainHistory:
    """Per-epoch curves of one training run (epoch i is index i, starting at epoch 1).

    ``train_loss`` is the mean cross entropy over the epoch's batches (without the L1
    term, so it compares with ``val_loss``); ``best_epoch`` is the 1-based epoch whose
    weights were restored.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainHistory:
        return cls(**d)


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
        raise DataError(f"{what}: features contain NaN or inf; clean the data (or --drop-invalid)")
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
    from tqdm.auto import tqdm

    Xt, yt = as_xy_tensors(X_train, y_train, "training set")
    Xv, yv = as_xy_tensors(X_val, y_val, "validation set")
    with torch.no_grad():
        n_out = int(model(Xt[:1]).shape[1])
    if int(yt.max()) >= n_out or int(yv.max()) >= n_out:
        raise DataError(f"labels go up to {max(int(yt.max()), int(yv.max()))} but the model has {n_out} outputs")

    weight = None
    if cfg.class_weights:
        weight = torch.as_tensor(balanced_class_weights(yt.numpy(), n_out), dtype=torch.float32)

    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    sched = None
    if cfg.lr_decay_factor < 1.0:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt,
            mode="min",
            factor=cfg.lr_decay_factor,
            patience=cfg.lr_decay_patience,
            threshold=cfg.min_delta,
            threshold_mode="abs",
            min_lr=cfg.min_learning_rate,
        )

    hist = TrainHistory()
    best_loss = math.inf
    best_state = copy.deepcopy(model.state_dict())
    wait = 0
    n = Xt.shape[0]
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.max_epochs, desc="train ANN", unit="epoch", disable=not progress, leave=False)
    try:
        with deterministic():
            for epoch in range(1, cfg.max_epochs + 1):
                model.train()
                order = torch.randperm(n, generator=gen)
                total = 0.0
                for start in range(0, n, cfg.batch_size):
                    idx = order[start : start + cfg.batch_size]
                    logits = model(Xt[idx])
                    loss = F.cross_entropy(logits, yt[idx], weight=weight)
                    total += float(loss.detach()) * idx.numel()
                    if cfg.l1 > 0:
                        loss = loss + cfg.l1 * l1_penalty(model)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                model.eval()
                with torch.no_grad():
                    vlogits = model(Xv)
                    vloss = float(F.cross_entropy(vlogits, yv))
                    vacc = float((vlogits.argmax(1) == yv).double().mean())
                hist.train_loss.append(total / n)
                hist.val_loss.append(vloss)
                hist.val_accuracy.append(vacc)
                hist.learning_rate.append(float(opt.param_groups[0]["lr"]))
                if not math.isfinite(vloss):
                    raise ConfigError(
                        "training diverged (validation loss is not finite); lower ann.learning_rate "
                        "or check that the features are standardized"
                    )
                if vloss < best_loss - cfg.min_delta:
                    best_loss = vloss
                    best_state = copy.deepcopy(model.state_dict())
                    hist.best_epoch = epoch
                    wait = 0
                else:
                    wait += 1
                if sched is not None:
                    sched.step(vloss)
                bar.set_postfix(loss=f"{total / n:.4f}", val_loss=f"{vloss:.4f}", val_acc=f"{vacc:.4f}")
                bar.update(1)
                if wait >= cfg.patience:
                    hist.stopped_early = True
                    break
    finally:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    hist.seconds = time.perf_counter() - t0
    return hist
