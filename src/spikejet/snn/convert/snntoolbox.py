"""SNN Toolbox's conversion (the 2019 study's path): percentile normalization, IF neurons that
reset by subtraction, a spike-count read-out. See :mod:`spikejet.snn.convert` for the method."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from ...config.sections import ConvertConfig
from ...errors import ModelError
from ..network import SpikingNetwork
from ..neurons import IFParams
from .common import (
    MAX_NORM_JETS,
    _norm_subset,
    _normalized_layers,
    activation_kind,
    activation_scales,
    ann_activations,
    ann_layers,
    converted_network,
)


def convert_snntoolbox(
    model: nn.Module,
    X_norm: np.ndarray,
    cfg: ConvertConfig | None = None,
    *,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    seed: int = 0,
) -> SpikingNetwork:
    """SNN Toolbox's conversion: ``cfg.snntoolbox_percentile`` normalization, IF (subtract), spike counts."""
    cfg = cfg or ConvertConfig()
    percentile = cfg.snntoolbox_percentile
    if activation_kind(model) != "relu":
        raise ModelError("the snntoolbox method converts ReLU networks; this one uses QCFS (use --method qcfs)")
    Xn = _norm_subset(X_norm, MAX_NORM_JETS, seed)
    layers = ann_layers(model)
    acts = ann_activations(model, Xn)
    scales = activation_scales(acts[:-1], percentile, nonzero=True)
    # the output layer as the toolbox's ``softmax_to_relu``: scaled by its own
    # percentile of ReLU(logits), so that the output neurons do not saturate
    out_scale = activation_scales([np.maximum(acts[-1], 0.0)], percentile, nonzero=True)[0]
    neuron = IFParams(threshold=1.0, reset="subtract", v_init=0.0)
    spec = _normalized_layers(layers, scales, [neuron] * len(layers), out_scale=out_scale)
    return converted_network(spec, "count", cfg, {"class_names": class_names, "feature_names": feature_names,
                                                        "scaler": scaler},
                             {"method": "snntoolbox", "percentile": percentile, "scales": scales,
              "output_scale": out_scale, "norm_jets": int(Xn.shape[0])})
