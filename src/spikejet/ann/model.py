"""The conventional network: a plain PyTorch MLP whose layers a converter can read.

``MLP(sizes=(16, 64, 32, 32, 5))`` is the study's 16-64-32-32-5 ReLU network. It
maps standardized features to logits (softmax is applied by the loss and by
:func:`predict_proba`, never inside the module), so an ANN->SNN converter can read
``model.linears`` (every ``nn.Linear`` in order) and swap the activation factory
for its own clipped or quantized activation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..config.sections import AnnConfig
from ..errors import ConfigError

__all__ = ["MLP", "build_mlp", "task_class_names", "predict_logits", "predict_proba"]

#: The signal class of the binary top-vs-rest tagger and its label names.
TOP_CLASS = "t"
TOP_VS_REST_CLASSES: tuple[str, str] = ("rest", "t")
#: Rows per forward pass in batched inference (bounds memory on large files).
PREDICT_BATCH = 65536


class MLP(nn.Module):
    """Fully connected network ``sizes[0] -> ... -> sizes[-1]``, activation between layers.

    ``linears`` holds the ``nn.Linear`` layers in order; ``activations`` one module per
    hidden layer (none after the output layer: the network returns logits).
    """

    def __init__(
        self,
        sizes: Sequence[int] = (16, 64, 32, 32, 5),
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ConfigError(f"MLP sizes must be at least two positive widths, got {list(sizes)}")
        self.sizes = sizes
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.activations = nn.ModuleList(activation() for _ in range(len(sizes) - 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, lin in enumerate(self.linears):
            x = lin(x)
            if i < len(self.activations):
                x = self.activations[i](x)
        return x

    def extra_repr(self) -> str:
        return "-".join(map(str, self.sizes))


def task_class_names(task: str, class_names: Sequence[str]) -> tuple[str, ...]:
    """Output class names for ``task`` given the data's class names."""
    if task == "multiclass":
        return tuple(class_names)
    if task == "top_vs_rest":
        if TOP_CLASS not in class_names:
            raise ConfigError(f"ann.task top_vs_rest needs a {TOP_CLASS!r} class; the data has {list(class_names)}")
        return TOP_VS_REST_CLASSES
    raise ConfigError(f"unknown ann.task {task!r}")


def task_labels(task: str, y: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Map the data's labels to the task's labels (top_vs_rest: 1 for top, else 0)."""
    if task == "multiclass":
        return np.asarray(y, dtype=np.int64)
    task_class_names(task, class_names)
    return (np.asarray(y) == list(class_names).index(TOP_CLASS)).astype(np.int64)


def build_mlp(cfg: AnnConfig, n_features: int, n_classes: int) -> MLP:
    """The MLP that ``cfg`` describes (``n_classes`` outputs of the task)."""
    assert cfg.hidden is not None  # resolved in AnnConfig.__post_init__
    return MLP((n_features, *cfg.hidden, n_classes))


@torch.no_grad()
def predict_logits(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Logits of ``model`` on standardized features ``X`` (float32), in eval mode, batched."""
    was_training = model.training
    model.eval()
    try:
        Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
        outs = [model(Xt[i : i + PREDICT_BATCH]) for i in range(0, Xt.shape[0], PREDICT_BATCH)]
        return torch.cat(outs).numpy() if outs else np.zeros((0, 0), dtype=np.float32)
    finally:
        model.train(was_training)


def predict_proba(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """Softmax class probabilities (float64 rows summing to 1): :func:`~spikejet.evaluate.metrics.class_probabilities`."""
    from ..evaluate.metrics import class_probabilities

    return class_probabilities(predict_logits(model, X))
