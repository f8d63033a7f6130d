"""What every conversion method shares: reading the ANN, activation percentiles, normalized layers,
the threshold search and bias calibration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ...config.sections import ConvertConfig
from ...errors import ConfigError, ModelError
from ...runtime import seeded_rows
from ..network import Layer, SpikingNetwork
from ..neurons import IFParams
from ..readout import Readout

_DEFAULTS = ConvertConfig()
#: SNN Toolbox's default normalization percentile (the convert section's default).
SNNTOOLBOX_PERCENTILE = _DEFAULTS.snntoolbox_percentile
#: Candidate threshold percentiles of the calibrated method (the best is chosen on training jets).
CALIBRATED_PERCENTILES: tuple[float, ...] = _DEFAULTS.percentile
#: Steps at which the candidates are compared (the issue's few-step target).
SEARCH_STEPS = _DEFAULTS.search_steps
#: Training jets simulated per candidate.
SEARCH_JETS = 5000
#: Initial membrane, as a fraction of the threshold, of the low-latency methods.
HALF_THRESHOLD = 0.5
#: QCFS quantization levels by default (conversion error vanishes at T = levels).
QCFS_LEVELS = _DEFAULTS.qcfs_levels
#: Smallest trainable QCFS threshold (keeps x / lambda finite).
QCFS_MIN_THRESHOLD = 1e-3
#: Jets used to measure activations (percentiles) and calibrate biases.
MAX_NORM_JETS = 20000


#: Activation types a converter accepts, keyed by module type -> a short name.
_ACTIVATIONS: dict[type, str] = {nn.ReLU: "relu"}


def register_activation(cls: type, name: str) -> None:
    """Let the converters read ANNs with activation ``cls`` (the QCFS module registers itself)."""
    _ACTIVATIONS[cls] = name


def _linears_and_acts(model: nn.Module) -> tuple[list[nn.Linear], list[nn.Module]]:
    if not (hasattr(model, "linears") and hasattr(model, "activations")):
        raise ModelError(
            f"cannot convert a {type(model).__name__}: expected spikejet.ann.model.MLP "
            "(dense layers in .linears, activations in .activations)"
        )
    lins = list(model.linears)
    acts = list(model.activations)
    if not lins or not all(isinstance(m, nn.Linear) for m in lins):
        raise ModelError("every layer of the ANN must be nn.Linear to convert it")
    if len(acts) != len(lins) - 1:
        raise ModelError(f"{len(lins)} dense layers need {len(lins) - 1} activations, found {len(acts)}")
    for i, a in enumerate(acts):
        if type(a) not in _ACTIVATIONS:
            raise ModelError(
                f"activation {i} is {type(a).__name__}; conversion supports "
                f"{', '.join(t.__name__ for t in _ACTIVATIONS)}"
            )
    return lins, acts


def activation_kind(model: nn.Module) -> str:
    """``"relu"`` or ``"qcfs"`` (all hidden activations must be of one kind)."""
    _, acts = _linears_and_acts(model)
    kinds = {_ACTIVATIONS[type(a)] for a in acts}
    if len(kinds) != 1:
        raise ModelError(f"mixed activations {sorted(kinds)}; convert a network with one activation kind")
    return kinds.pop()


def ann_layers(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight [out, in], bias [out]) of every dense layer, float32 copies."""
    lins, _ = _linears_and_acts(model)
    out = []
    for lin in lins:
        w = lin.weight.detach().cpu().numpy().astype(np.float32, copy=True)
        b = (lin.bias.detach().cpu().numpy() if lin.bias is not None else np.zeros(w.shape[0])).astype(np.float32)
        out.append((w, b))
    return out


@torch.no_grad()
def ann_activations(model: nn.Module, X: np.ndarray, batch: int = 65536) -> list[np.ndarray]:
    """Post-activation outputs of every hidden layer, then the logits (float32)."""
    lins, acts = _linears_and_acts(model)
    was = model.training
    model.eval()
    try:
        Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
        outs: list[list[np.ndarray]] = [[] for _ in lins]
        for s in range(0, Xt.shape[0], batch):
            h = Xt[s:s + batch]
            for i, lin in enumerate(lins):
                h = lin(h)
                if i < len(acts):
                    h = acts[i](h)
                outs[i].append(h.numpy())
        return [np.concatenate(o) for o in outs]
    finally:
        model.train(was)


def activation_scales(acts: Sequence[np.ndarray], percentile: float, *, nonzero: bool = True) -> list[float]:
    """Per-layer scale: the ``percentile`` of (non-zero) activations; 1 for a silent layer."""
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile must be in (0, 100], got {percentile}")
    out = []
    for a in acts:
        v = a[a > 0] if nonzero else a.ravel()
        s = float(np.percentile(v, percentile)) if v.size else 1.0
        out.append(s if s > 0 else 1.0)
    return out


def _norm_subset(X: np.ndarray, max_jets: int, seed: int) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ModelError(f"normalization data must be a non-empty [n, features] array, got {X.shape}")
    if not np.isfinite(X).all():
        raise ModelError("normalization data contain NaN/inf; standardize and clean them first")
    if X.shape[0] <= max_jets:
        return X
    return X[seeded_rows(X.shape[0], max_jets, seed)]


def converted_network(spec, readout: str, cfg: ConvertConfig, names: dict, meta: dict) -> SpikingNetwork:
    """The converted network: ``spec`` layers, a constant-current input, the ``readout`` kind,
    ``cfg.dt`` and the names (``class_names``, ``feature_names``, ``scaler``) every method records."""
    from ..encoding import Encoding

    return SpikingNetwork(spec, encoding=Encoding("current"), readout=Readout(readout), dt=cfg.dt,
                          class_names=tuple(names["class_names"]), feature_names=tuple(names["feature_names"]),
                          scaler=names["scaler"], meta=meta)


def _normalized_layers(
    layers: Sequence[tuple[np.ndarray, np.ndarray]],
    scales: Sequence[float],
    neurons: Sequence[IFParams | None],
    out_scale: float,
) -> tuple[Layer, ...]:
    """Scale weights/biases so that every spiking layer has threshold 1 and unit spikes."""
    prev = 1.0
    out = []
    n = len(layers)
    for i, (w, b) in enumerate(layers):
        lam = scales[i] if i < n - 1 else out_scale
        out.append(Layer(w * (prev / lam), b / lam, neurons[i], name=f"fc{i}"))
        prev = lam
    return tuple(out)


def choose_scales(
    model: nn.Module,
    X: np.ndarray,
    percentiles: Sequence[float],
    steps: int,
    *,
    acts: Sequence[np.ndarray] | None = None,
    max_jets: int = SEARCH_JETS,
) -> tuple[list[float], float, dict[str, float]]:
    """Threshold calibration: the activation percentile whose converted network agrees best
    with the ANN's classes after ``steps`` steps, on (up to ``max_jets`` of) ``X``.

    A low percentile clips the largest activations but gives every neuron more
    spikes per step (finer rate resolution at small T); a high one does the
    opposite. Heavy-tailed jet features make the trade-off data dependent, so it
    is measured. No labels are used. Returns (scales, chosen percentile,
    {percentile: agreement}); ties go to the higher percentile.
    """
    from ..simulate import simulate

    cands = sorted({float(p) for p in percentiles})
    if not cands:
        raise ConfigError("give at least one percentile to choose from")
    if steps < 1:
        raise ConfigError(f"search steps must be >= 1, got {steps}")
    acts = list(acts) if acts is not None else ann_activations(model, X)
    layers = ann_layers(model)
    Xs = X[:max_jets]
    target = acts[-1][:max_jets].argmax(1)
    neuron = IFParams(threshold=1.0, reset="subtract", v_init=HALF_THRESHOLD)
    neurons = [neuron] * (len(layers) - 1) + [None]
    table: dict[str, float] = {}
    best: tuple[float, float, list[float]] | None = None
    for p in cands:
        scales = activation_scales(acts[:-1], p, nonzero=True)
        if len(cands) == 1:
            return scales, p, table
        net = SpikingNetwork(_normalized_layers(layers, scales, neurons, out_scale=1.0), readout=Readout("membrane"))
        agree = float((simulate(net, Xs, steps, steps=[steps]).predictions_at(steps) == target).mean())
        table[f"{p:g}"] = agree
        if best is None or agree >= best[0]:
            best = (agree, p, scales)
    assert best is not None
    return best[2], best[1], table


def calibrate_biases(
    net: SpikingNetwork,
    X: np.ndarray,
    acts: Sequence[np.ndarray],
    scales: Sequence[float],
    steps: int,
) -> SpikingNetwork:
    """Shift each layer's bias by the mean rate error of its neurons at ``steps`` steps.

    Layer by layer (earlier layers already corrected), the mean over jets of the
    ANN activation in threshold units, ``clip(a / lambda, 0, 1)``, is compared
    with the SNN's mean spikes per step; the difference is added to the bias (one
    unit of bias per step is one unit of rate for an IF neuron with reset by
    subtraction). The non-spiking output layer gets the mean logit difference.
    """
    from ..simulate import simulate

    if steps < 1:
        raise ConfigError(f"calibration steps must be >= 1, got {steps}")
    layers = list(net.layers)
    for i in range(len(layers)):
        cur = net.replace(layers=tuple(layers))
        res = simulate(cur, X, steps, steps=[steps])
        if layers[i].spiking:
            target = np.clip(acts[i] / scales[i], 0.0, 1.0).mean(axis=0)
            got = res.spikes_per_step[i].sum(axis=0) / (X.shape[0] * steps)
        else:
            target = acts[i].mean(axis=0)
            got = res.scores.mean(axis=0)
        shift = (target - got).astype(np.float32)
        layers[i] = Layer(layers[i].weight, layers[i].bias + shift, layers[i].neuron, name=layers[i].name)
    meta = dict(net.meta)
    meta["calibrated_at_steps"] = int(steps)
    return net.replace(layers=tuple(layers), meta=meta)


