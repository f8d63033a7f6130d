"""ANN -> SNN conversion: ReLU (or QCFS) MLPs become integrate-and-fire networks.

Three methods, each a function ``(model, X_train, ...) -> SpikingNetwork``:

``snntoolbox``
    Data-based normalization as SNN Toolbox does it (the 2019 study's path):
    each hidden layer's scale ``lambda_l`` is the 99.9th percentile of the ANN's
    *non-zero* activations of that layer on training data; weights become
    ``W_l * lambda_{l-1} / lambda_l`` and biases ``b_l / lambda_l``. Every
    layer, the output layer included, is IF with threshold 1, reset by
    subtraction, membrane starting at 0; the class is the output layer's spike
    count (ties go to the first class). Inputs are a constant current. The
    toolbox keeps scale 1 for a softmax output layer and samples its spikes at
    random from the softmax of the membrane; we use a deterministic IF output
    layer scaled by the percentile of ReLU(logits) instead (the toolbox's
    ``softmax_to_relu`` path). With scale 1 and deterministic IF outputs, logits
    above 1 saturate at one spike per step and tie: a lasting loss of several
    points that the toolbox's random sampling does not have.

``calibrated``
    The same network with three changes that remove most of the conversion
    error at small T, and no retraining: membranes start at half the threshold
    (spike counts round instead of floor, as in QCFS), the output layer is a
    non-spiking membrane read-out (the mean current tends to the ANN logits; no
    spike-count ties), and, optionally, each layer's bias is shifted by the mean
    difference between the ANN activation and the SNN's rate on training jets
    at ``calibration_steps`` ("light" bias calibration, Li et al. 2021).

``qcfs``
    Quantization-clip-floor-shift training (Bu et al. 2022): the ANN is
    fine-tuned with the activation ``lambda * clip(floor(x L / lambda + 1/2) / L,
    0, 1)`` (``L`` levels, ``lambda`` trainable per layer, straight-through
    gradient), starting from the ReLU ANN's weights; then converted with
    threshold ``lambda_l``, membranes at ``lambda_l / 2`` and a membrane
    read-out. At ``T = L`` steps an IF neuron with a constant input reproduces
    the quantized activation exactly, so the conversion error vanishes in
    expectation.

All networks are normalized (threshold 1, unit spikes; the scales live in the
weights) and use ``dt`` seconds per step. ``docs/snn.md`` gives the measured
accuracy of each method versus T.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from ...config.sections import ConvertConfig
from ...errors import ConfigError
from ..network import SpikingNetwork
from .calibrated import convert_calibrated
from .common import (
    CALIBRATED_PERCENTILES,
    HALF_THRESHOLD,
    MAX_NORM_JETS,
    QCFS_LEVELS,
    QCFS_MIN_THRESHOLD,
    SEARCH_JETS,
    SEARCH_STEPS,
    SNNTOOLBOX_PERCENTILE,
    activation_kind,
    activation_scales,
    ann_activations,
    ann_layers,
    calibrate_biases,
    choose_scales,
)
from .qcfs import QCFS, QCFS_BATCH, convert_qcfs, qcfs_model
from .qcfs import finetune_qcfs as _finetune_qcfs
from .snntoolbox import convert_snntoolbox

__all__ = [
    "METHODS",
    "QCFS",
    "ann_layers",
    "ann_activations",
    "activation_kind",
    "activation_scales",
    "convert_snntoolbox",
    "convert_calibrated",
    "convert_qcfs",
    "calibrate_biases",
    "choose_scales",
    "qcfs_model",
    "finetune_qcfs",
    "convert",
    "register_method",
    "config_with",
    "CALIBRATED_PERCENTILES",
    "SNNTOOLBOX_PERCENTILE",
    "SEARCH_STEPS",
    "SEARCH_JETS",
    "HALF_THRESHOLD",
    "QCFS_LEVELS",
    "QCFS_BATCH",
    "QCFS_MIN_THRESHOLD",
    "MAX_NORM_JETS",
]

#: A conversion method: ``(model, X_norm, cfg, *, class_names, feature_names, scaler, seed) -> network``.
Converter = Callable[..., SpikingNetwork]

_METHODS: dict[str, Converter] = {}


def register_method(name: str, fn: Converter) -> None:
    """Add a conversion method under ``name`` (refuses a name that is taken)."""
    if name in _METHODS:
        raise ConfigError(f"conversion method {name!r} is already registered")
    _METHODS[name] = fn


register_method("snntoolbox", convert_snntoolbox)
register_method("calibrated", convert_calibrated)
register_method("qcfs", convert_qcfs)

#: Conversion methods, in the order the report shows them.
METHODS: tuple[str, ...] = tuple(_METHODS)

#: Keyword names of the library's per-call overrides -> the convert section's fields.
_OVERRIDES = {
    "dt": "dt", "search_steps": "search_steps", "calibration_steps": "calibration_steps",
    "levels": "qcfs_levels", "epochs": "qcfs_epochs", "learning_rate": "qcfs_learning_rate",
    "batch_size": "qcfs_batch_size", "patience": "qcfs_patience",
}


def config_with(cfg: ConvertConfig | None, method: str | None = None, **overrides: Any) -> ConvertConfig:
    """The convert section with per-call overrides (``percentile`` means the method's own one:
    ``snntoolbox_percentile`` for snntoolbox, the candidate list otherwise). Validated again."""
    cfg = cfg or ConvertConfig()
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "percentile":
            if method == "snntoolbox":
                changes["snntoolbox_percentile"] = float(value)
            else:
                changes["percentile"] = (value,) if isinstance(value, int | float) else tuple(value)
        elif key in _OVERRIDES:
            changes[_OVERRIDES[key]] = value
        else:
            raise ConfigError(f"unknown conversion option {key!r}; give one of percentile, {', '.join(_OVERRIDES)}")
    return dataclasses.replace(cfg, **changes) if changes else cfg


def convert(model: nn.Module, X_norm: np.ndarray, method: str, cfg: ConvertConfig | None = None, *,
            class_names=(), feature_names=(), scaler: dict | None = None, seed: int = 0,
            **overrides: Any) -> SpikingNetwork:
    """Convert with the method registered as ``method`` (see :data:`METHODS`), configured by the
    convert section ``cfg`` (default: its defaults, the pipeline's) and per-call ``overrides``."""
    try:
        fn = _METHODS[method]
    except KeyError:
        raise ConfigError(f"unknown conversion method {method!r}; choose one of {', '.join(_METHODS)}") from None
    cfg = config_with(cfg, method, **overrides)
    return fn(model, X_norm, cfg, class_names=class_names, feature_names=feature_names, scaler=scaler, seed=seed)


def finetune_qcfs(model: nn.Module, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                  y_val: np.ndarray, cfg: ConvertConfig | None = None, *, seed: int = 0, progress: bool = False,
                  **overrides: Any):
    """:func:`spikejet.snn.convert.qcfs.finetune_qcfs` with per-call overrides (``levels``,
    ``percentile``, ``epochs``, ``learning_rate``, ``batch_size``, ``patience``) of the section."""
    return _finetune_qcfs(model, X_train, y_train, X_val, y_val, config_with(cfg, "qcfs", **overrides),
                          seed=seed, progress=progress)
