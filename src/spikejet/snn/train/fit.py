"""The one training loop: Adam over seeded mini-batches, early stopping, best weights restored.

It trains the ANN (:func:`spikejet.ann.train.train_ann`), the QCFS fine-tuning (through
``train_ann``), the rate method (:func:`.rate.train_rate`) and the surrogate method
(:func:`.surrogate.train_surrogate`). What used to differ between their loops is explicit in
:class:`FitOptions`: the improvement margin (``min_delta``), the learning-rate schedule
(:class:`Plateau` with its threshold rule, :class:`Cosine` or none) and whether torch's
deterministic algorithms are on.

The caller supplies the arithmetic: ``batch_loss(rows) -> (objective, cross_entropy)`` for a
batch of training rows, and ``val_score() -> (objective, cross_entropy, accuracy)`` on the
validation set. The history's losses are cross entropies (training and validation compare);
the kept weights are those of the lowest validation objective.

Torch-light at import (no model code), so that :mod:`spikejet.ann.train` can use it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import ConfigError
from ...runtime import deterministic

__all__ = ["TrainHistory", "Plateau", "Cosine", "FitOptions", "fit"]


@dataclass
class TrainHistory:
    """Per-epoch curves of one training run (epoch i is index i, starting at epoch 1).

    ``train_loss`` is the mean cross entropy over the epoch's batches (without penalty terms,
    so it compares with ``val_loss``); ``best_epoch`` is the 1-based epoch whose weights were
    restored.
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


@dataclass(frozen=True)
class Plateau:
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement
    (torch's ``ReduceLROnPlateau``; ``threshold``/``threshold_mode`` are its improvement rule)."""

    factor: float = 0.5
    patience: int = 3
    min_lr: float = 1e-6
    threshold: float = 1e-4
    threshold_mode: str = "rel"

    def build(self, opt: Any, epochs: int) -> Any:
        import torch

        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=self.factor, patience=self.patience, threshold=self.threshold,
            threshold_mode=self.threshold_mode, min_lr=self.min_lr)


@dataclass(frozen=True)
class Cosine:
    """Cosine annealing of the learning rate to 0 over the run's epochs."""

    def build(self, opt: Any, epochs: int) -> Any:
        import torch

        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)


@dataclass(frozen=True)
class FitOptions:
    """Everything that defines a run of :func:`fit` besides the model and its loss.

    An epoch improves when its validation objective is below the best so far minus
    ``min_delta``; training stops after ``patience`` epochs without improvement.
    ``schedule``: :class:`Plateau`, :class:`Cosine` or ``None`` (constant rate).
    ``diverged``: the message of the :class:`ConfigError` raised on a non-finite validation loss.
    ``ema``: in (0, 1), validate and keep an exponential moving average of the weights (Polyak
    averaging: after every batch ``avg <- ema avg + (1 - ema) w`` from ``avg = 0``, used as
    ``avg / (1 - ema**steps)``, Adam's bias correction: a weighted mean of the weights after each
    step, whatever the number of steps; training itself goes on from the raw weights); 0: the raw weights.
    """

    epochs: int
    learning_rate: float
    batch_size: int
    patience: int
    seed: int = 0
    min_delta: float = 1e-5
    schedule: Plateau | Cosine | None = None
    deterministic: bool = False
    desc: str = "train"
    diverged: str = "training diverged (validation loss is not finite); lower the learning rate"
    progress: bool = False
    ema: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.ema, int | float) and 0.0 <= self.ema < 1.0):
            raise ConfigError(f"the weight average's decay must be in [0, 1) (0: off), got {self.ema!r}")


class _Average:
    """The moving average of a model's floating-point state (:attr:`FitOptions.ema`) and the swap
    of it into the model for validation."""

    def __init__(self, model: Any, decay: float) -> None:
        self.decay = float(decay)
        self.live = {k: v for k, v in model.state_dict(keep_vars=False).items() if v.is_floating_point()}
        self.avg = {k: v.detach().clone().zero_() for k, v in self.live.items()}
        self.steps = 0

    def update(self) -> None:
        self.steps += 1
        for k, v in self.live.items():
            self.avg[k].mul_(self.decay).add_(v.detach(), alpha=1.0 - self.decay)

    @contextlib.contextmanager
    def swapped_in(self):
        raw = {k: v.detach().clone() for k, v in self.live.items()}
        norm = 1.0 - self.decay ** self.steps
        try:
            for k, v in self.live.items():
                if self.steps:
                    v.data.copy_(self.avg[k] / norm)
            yield
        finally:
            for k, v in self.live.items():
                v.data.copy_(raw[k])


def fit(
    model: Any,
    params: Sequence[Any],
    batch_loss: Callable[[Any], tuple[Any, Any]],
    val_score: Callable[[], tuple[float, float, float]],
    n: int,
    opts: FitOptions,
) -> TrainHistory:
    """Train ``model`` in place on ``n`` training rows; return its history (see the module docstring)."""
    import torch
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(int(opts.seed))
    opt = torch.optim.Adam(params, lr=opts.learning_rate)
    sched = opts.schedule.build(opt, opts.epochs) if opts.schedule is not None else None
    hist = TrainHistory()
    best = math.inf
    best_state = copy.deepcopy(model.state_dict())
    wait = 0
    avg = _Average(model, opts.ema) if opts.ema > 0 else None
    t0 = time.perf_counter()
    bar = tqdm(total=opts.epochs, desc=opts.desc, unit="epoch", disable=not opts.progress, leave=False)
    try:
        with deterministic() if opts.deterministic else contextlib.nullcontext():
            for epoch in range(1, opts.epochs + 1):
                model.train()
                order = torch.randperm(n, generator=gen)
                total = 0.0
                for start in range(0, n, opts.batch_size):
                    idx = order[start:start + opts.batch_size]
                    obj, ce = batch_loss(idx)
                    total += float(ce.detach()) * idx.numel()
                    opt.zero_grad(set_to_none=True)
                    obj.backward()
                    opt.step()
                    if avg is not None:
                        with torch.no_grad():
                            avg.update()
                model.eval()
                with avg.swapped_in() if avg is not None else contextlib.nullcontext():
                    vobj, vce, vacc = val_score()
                    candidate = copy.deepcopy(model.state_dict()) if avg is not None else None
                if not math.isfinite(vobj):
                    raise ConfigError(opts.diverged)
                hist.train_loss.append(total / n)
                hist.val_loss.append(vce)
                hist.val_accuracy.append(vacc)
                hist.learning_rate.append(float(opt.param_groups[0]["lr"]))
                if vobj < best - opts.min_delta:
                    best, wait = vobj, 0
                    best_state = candidate if candidate is not None else copy.deepcopy(model.state_dict())
                    hist.best_epoch = epoch
                else:
                    wait += 1
                if isinstance(opts.schedule, Plateau):
                    sched.step(vobj)
                elif sched is not None:
                    sched.step()
                bar.set_postfix(loss=f"{total / n:.4f}", val=f"{vobj:.4f}", val_acc=f"{vacc:.4f}")
                bar.update(1)
                if wait >= opts.patience:
                    hist.stopped_early = True
                    break
    finally:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    hist.seconds = time.perf_counter() - t0
    return hist
