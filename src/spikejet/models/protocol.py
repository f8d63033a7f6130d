"""The one model protocol: what every model of every stage offers the scoring and the commands.

The ANN, every spiking network and the Loihi integer model are scored the same way: class
probabilities on raw (unstandardized) features, from which accuracy, ROC, AUC and
rejection follow (:func:`spikejet.run.score.score`). :class:`~spikejet.models.file.ModelBundle`
implements it for every model file; a new model family implements it by being saved as a
bundle with its own ``arch["type"]`` (:func:`~spikejet.models.file.register_arch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Model"]


@runtime_checkable
class Model(Protocol):
    """A trained tagger as the scoring sees it."""

    #: The stage that made it (``ann``, ``snn_converted``, ``snn_surrogate``, ...): a safe file-name part.
    kind: str
    #: The model's inputs and outputs, in order.
    feature_names: Sequence[str]
    class_names: Sequence[str]
    #: Standardization applied to raw features before the model (``Standardizer.to_dict()``).
    scaler: Mapping[str, Any]

    def labels(self, y: np.ndarray) -> np.ndarray:
        """The data's labels mapped to this model's classes (its task)."""
        ...

    def predict_proba(self, X_raw: np.ndarray) -> np.ndarray:
        """Class probabilities [n, n_classes] on raw features (rows sum to 1)."""
        ...
