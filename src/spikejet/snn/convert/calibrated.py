"""The calibrated conversion: searched thresholds, half-threshold start, membrane read-out and
optional bias calibration, no retraining. See :mod:`spikejet.snn.convert` for the method."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from ...config.sections import ConvertConfig
from ..network import SpikingNetwork
from ..neurons import IFParams
from .common import (
    HALF_THRESHOLD,
    MAX_NORM_JETS,
    _norm_subset,
    _normalized_layers,
    activation_kind,
    ann_activations,
    ann_layers,
    calibrate_biases,
    choose_scales,
    converted_network,
)


def convert_calibrated(
    model: nn.Module,
    X_norm: np.ndarray,
    cfg: ConvertConfig | None = None,
    *,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    seed: int = 0,
) -> SpikingNetwork:
    """Calibrated thresholds (``cfg.percentile``: one, or the best of several by :func:`choose_scales`
    at ``cfg.search_steps``), half-threshold start, membrane read-out, bias calibration at
    ``cfg.calibration_steps``."""
    cfg = cfg or ConvertConfig()
    search_steps, calibration_steps = cfg.search_steps, cfg.calibration_steps
    kind = activation_kind(model)
    Xn = _norm_subset(X_norm, MAX_NORM_JETS, seed)
    layers = ann_layers(model)
    acts = ann_activations(model, Xn)
    search: dict[str, float] = {}
    if kind == "qcfs":
        scales = [float(a.lam.detach()) for a in model.activations]
        chosen: float | None = None
    else:
        scales, chosen, search = choose_scales(model, Xn, list(cfg.percentile), search_steps, acts=acts)
    neuron = IFParams(threshold=1.0, reset="subtract", v_init=HALF_THRESHOLD)
    neurons = [neuron] * (len(layers) - 1) + [None]
    spec = _normalized_layers(layers, scales, neurons, out_scale=1.0)
    net = converted_network(spec, "membrane", cfg, {"class_names": class_names, "feature_names": feature_names,
                                                        "scaler": scaler},
                             {"method": "calibrated", "percentile": chosen, "percentile_search": search,
              "search_steps": int(search_steps), "scales": scales, "norm_jets": int(Xn.shape[0]),
              "calibration_steps": calibration_steps})
    if calibration_steps:
        net = calibrate_biases(net, Xn, acts, scales, int(calibration_steps))
    return net
