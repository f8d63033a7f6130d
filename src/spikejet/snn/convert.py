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

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ModelError
from .encoding import Encoding
from .network import Layer, SpikingNetwork
from .neurons import DEFAULT_DT, IFParams
from .readout import Readout

__all__ = [
    "METHODS",
    "QCFS",
    "ann_layers",
    "ann_activations",
    "activation_scales",
    "convert_snntoolbox",
    "convert_calibrated",
    "convert_qcfs",
    "calibrate_biases",
    "choose_scales",
    "qcfs_model",
    "finetune_qcfs",
    "convert",
]

#: Conversion methods, in the order the report shows them.
METHODS: tuple[str, ...] = ("snntoolbox", "calibrated", "qcfs")
#: SNN Toolbox's default normalization percentile.
SNNTOOLBOX_PERCENTILE = 99.9
#: Candidate threshold percentiles of the calibrated method (the best is chosen on training jets).
CALIBRATED_PERCENTILES: tuple[float, ...] = (95.0, 98.0, 99.0, 99.5, 99.9, 99.99)
#: Steps at which the candidates are compared (the issue's few-step target).
SEARCH_STEPS = 16
#: Training jets simulated per candidate.
SEARCH_JETS = 5000
#: Initial membrane, as a fraction of the threshold, of the low-latency methods.
HALF_THRESHOLD = 0.5
#: QCFS quantization levels by default (conversion error vanishes at T = levels).
QCFS_LEVELS = 8
#: Mini-batch of the QCFS fine-tuning (small batches give the thresholds more updates).
QCFS_BATCH = 256
#: Smallest trainable QCFS threshold (keeps x / lambda finite).
QCFS_MIN_THRESHOLD = 1e-3
#: Jets used to measure activations (percentiles) and calibrate biases.
MAX_NORM_JETS = 20000


# --------------------------------------------------------------------------- QCFS


class QCFS(nn.Module):
    """Quantization-clip-floor-shift activation with a trainable threshold ``lambda``.

    ``forward(x) = lambda * clip(floor(x * L / lambda + 1/2) / L, 0, 1)`` with a
    straight-through gradient for the floor (so ``lambda`` learns the clip level).
    """

    def __init__(self, levels: int = QCFS_LEVELS, threshold: float = 1.0) -> None:
        super().__init__()
        if int(levels) < 1:
            raise ConfigError(f"QCFS levels must be >= 1, got {levels}")
        if not (math.isfinite(float(threshold)) and float(threshold) > 0):
            raise ConfigError(f"QCFS threshold must be positive, got {threshold}")
        self.levels = int(levels)
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    @property
    def lam(self) -> torch.Tensor:
        return self.threshold.abs().clamp_min(QCFS_MIN_THRESHOLD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lam = self.lam
        y = torch.clamp(x / lam, 0.0, 1.0)
        q = torch.floor(y * self.levels + 0.5) / self.levels
        return (y + (q - y).detach()) * lam

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.lam.detach()):.4g}"


# --------------------------------------------------------------------------- reading the ANN

#: Activation types a converter accepts, keyed by module type -> a short name.
_ACTIVATIONS: dict[type, str] = {nn.ReLU: "relu", QCFS: "qcfs"}


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
    idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], size=max_jets, replace=False))
    return X[idx]


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


# --------------------------------------------------------------------------- methods


def convert_snntoolbox(
    model: nn.Module,
    X_norm: np.ndarray,
    *,
    percentile: float = SNNTOOLBOX_PERCENTILE,
    dt: float = DEFAULT_DT,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    seed: int = 0,
) -> SpikingNetwork:
    """SNN Toolbox's conversion: percentile normalization, IF (subtract), spike-count read-out."""
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
    return SpikingNetwork(
        spec,
        encoding=Encoding("current"),
        readout=Readout("count"),
        dt=dt,
        class_names=tuple(class_names),
        feature_names=tuple(feature_names),
        scaler=scaler,
        meta={"method": "snntoolbox", "percentile": percentile, "scales": scales,
              "output_scale": out_scale, "norm_jets": int(Xn.shape[0])},
    )


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
    from .simulate import simulate

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


def convert_calibrated(
    model: nn.Module,
    X_norm: np.ndarray,
    *,
    percentile: float | Sequence[float] = CALIBRATED_PERCENTILES,
    search_steps: int = SEARCH_STEPS,
    calibration_steps: int | None = None,
    dt: float = DEFAULT_DT,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    seed: int = 0,
) -> SpikingNetwork:
    """Calibrated thresholds (a percentile, or the best of several: :func:`choose_scales`),
    half-threshold start, membrane read-out, optional bias calibration."""
    kind = activation_kind(model)
    Xn = _norm_subset(X_norm, MAX_NORM_JETS, seed)
    layers = ann_layers(model)
    acts = ann_activations(model, Xn)
    search: dict[str, float] = {}
    if kind == "qcfs":
        scales = [float(a.lam.detach()) for a in model.activations]
        chosen: float | None = None
    else:
        cands = [percentile] if isinstance(percentile, int | float) else list(percentile)
        scales, chosen, search = choose_scales(model, Xn, cands, search_steps, acts=acts)
    neuron = IFParams(threshold=1.0, reset="subtract", v_init=HALF_THRESHOLD)
    neurons = [neuron] * (len(layers) - 1) + [None]
    spec = _normalized_layers(layers, scales, neurons, out_scale=1.0)
    net = SpikingNetwork(
        spec,
        encoding=Encoding("current"),
        readout=Readout("membrane"),
        dt=dt,
        class_names=tuple(class_names),
        feature_names=tuple(feature_names),
        scaler=scaler,
        meta={"method": "calibrated", "percentile": chosen, "percentile_search": search,
              "search_steps": int(search_steps), "scales": scales, "norm_jets": int(Xn.shape[0]),
              "calibration_steps": calibration_steps},
    )
    if calibration_steps:
        net = calibrate_biases(net, Xn, acts, scales, int(calibration_steps))
    return net


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
    from .simulate import simulate

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


def qcfs_model(model: nn.Module, *, levels: int = QCFS_LEVELS, thresholds: Sequence[float] | None = None) -> nn.Module:
    """A copy of a ReLU MLP with QCFS activations (thresholds: per hidden layer, default 1)."""
    from ..ann.model import MLP

    lins, _ = _linears_and_acts(model)
    sizes = (lins[0].in_features, *(lin.out_features for lin in lins))
    n_hidden = len(sizes) - 2
    th = list(thresholds) if thresholds is not None else [1.0] * n_hidden
    if len(th) != n_hidden:
        raise ConfigError(f"{len(th)} QCFS thresholds for {n_hidden} hidden layers")
    q = MLP(sizes, activation=lambda: QCFS(levels))
    for dst, src in zip(q.linears, lins, strict=True):
        dst.load_state_dict(src.state_dict())
    with torch.no_grad():
        for a, t in zip(q.activations, th, strict=True):
            a.threshold.fill_(float(t))
    return q


def finetune_qcfs(
    model: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    levels: int = QCFS_LEVELS,
    percentile: float | Sequence[float] = CALIBRATED_PERCENTILES,
    epochs: int = 30,
    learning_rate: float = 1e-3,
    batch_size: int = QCFS_BATCH,
    patience: int = 6,
    seed: int = 0,
    progress: bool = False,
) -> tuple[nn.Module, Any]:
    """QCFS copy of a ReLU MLP, fine-tuned; the ReLU model is not changed.

    The thresholds start at an activation percentile; given several, the one
    whose IF conversion agrees best with the ANN at ``T = levels`` steps
    (:func:`choose_scales`). Returns ``(qcfs_model, TrainHistory)``; the chosen
    start is ``qcfs_model.init_percentile``.
    """
    from ..ann.train import train_ann
    from ..config.sections import AnnConfig

    if activation_kind(model) != "relu":
        raise ModelError("QCFS fine-tuning starts from a ReLU network")
    Xn = _norm_subset(X_train, MAX_NORM_JETS, seed)
    cands = [percentile] if isinstance(percentile, int | float) else list(percentile)
    th, chosen, _ = choose_scales(model, Xn, cands, int(levels))
    q = qcfs_model(model, levels=levels, thresholds=th)
    q.init_percentile = chosen
    cfg = AnnConfig(learning_rate=learning_rate, batch_size=batch_size, max_epochs=epochs, patience=patience,
                    lr_decay_factor=0.5, lr_decay_patience=2, min_learning_rate=1e-6)
    hist = train_ann(q, X_train, y_train, X_val, y_val, cfg, seed=seed, progress=progress)
    return q, hist


def convert_qcfs(
    model: nn.Module,
    X_norm: np.ndarray,
    *,
    dt: float = DEFAULT_DT,
    class_names: Sequence[str] = (),
    feature_names: Sequence[str] = (),
    scaler: dict | None = None,
    seed: int = 0,
) -> SpikingNetwork:
    """Convert a QCFS-trained MLP: thresholds ``lambda_l``, membranes at half, membrane read-out."""
    if activation_kind(model) != "qcfs":
        raise ModelError("convert_qcfs needs a QCFS-trained network (see finetune_qcfs)")
    layers = ann_layers(model)
    scales = [float(a.lam.detach()) for a in model.activations]
    levels = [int(a.levels) for a in model.activations]
    init = getattr(model, "init_percentile", None)
    neuron = IFParams(threshold=1.0, reset="subtract", v_init=HALF_THRESHOLD)
    spec = _normalized_layers(layers, scales, [neuron] * (len(layers) - 1) + [None], out_scale=1.0)
    return SpikingNetwork(
        spec,
        encoding=Encoding("current"),
        readout=Readout("membrane"),
        dt=dt,
        class_names=tuple(class_names),
        feature_names=tuple(feature_names),
        scaler=scaler,
        meta={"method": "qcfs", "scales": scales, "levels": levels, "init_percentile": init},
    )


_METHODS: dict[str, Callable[..., SpikingNetwork]] = {
    "snntoolbox": convert_snntoolbox,
    "calibrated": convert_calibrated,
    "qcfs": convert_qcfs,
}


def convert(model: nn.Module, X_norm: np.ndarray, method: str, **kw: Any) -> SpikingNetwork:
    """Dispatch to a conversion method by name (see :data:`METHODS`)."""
    try:
        fn = _METHODS[method]
    except KeyError:
        raise ConfigError(f"unknown conversion method {method!r}; choose one of {', '.join(METHODS)}") from None
    return fn(model, X_norm, **kw)
