"""The one way every model is scored, in every command: test-set class scores -> metrics entry.

``spikejet run``, ``spikejet evaluate`` and ``spikejet deploy`` call :func:`score`; the
metrics (accuracy with its bootstrap interval, per-class accuracy, confusion matrix,
one-vs-rest ROC, AUC and background rejection at fixed signal efficiency) come from
:mod:`spikejet.evaluate.metrics` and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import RunConfig

__all__ = ["Scored", "score"]


@dataclass(frozen=True)
class Scored:
    """A model's test-set score: labels and class probabilities (rows sum to 1)."""

    y_true: np.ndarray
    scores: np.ndarray
    class_names: tuple[str, ...]
    #: The metrics entry computed from them (:func:`score`).
    entry: Mapping[str, Any] = field(default_factory=dict)
    #: ROC curves per class (report).
    rocs: Mapping[str, Any] = field(default_factory=dict)



def score(y_true: np.ndarray, scores: np.ndarray, *, class_names: Sequence[str], config: RunConfig,
          extra: Mapping[str, Any] | None = None) -> Scored:
    """The metrics entry (score keys, then ``extra``) and ROC curves of one model's test scores.

    ``scores`` are class probabilities (:func:`~spikejet.evaluate.metrics.class_probabilities`
    of the model's read-out); anything else is refused, so no model is scored on raw read-out
    columns by mistake.
    """
    from ..evaluate.metrics import evaluate_scores, is_probabilities, roc_curves

    if not is_probabilities(scores):
        raise ValueError("score() takes class probabilities: pass class_probabilities(readout)")
    ev = config.evaluate
    entry = evaluate_scores(
        y_true, scores, class_names=class_names, seed=config.seed,
        n_bootstrap=ev.n_bootstrap, interval=ev.interval, efficiencies=ev.efficiencies,
    )
    entry.update(extra or {})
    return Scored(
        y_true=np.asarray(y_true), scores=np.asarray(scores, dtype=np.float32), class_names=tuple(class_names),
        entry=entry, rocs=roc_curves(y_true, scores, class_names=class_names),
    )
