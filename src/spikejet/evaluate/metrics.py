"""Metrics for every model (ANN, converted SNN, trained SNN, hardware model).

:func:`evaluate_scores` returns exactly one ``metrics.json`` entry::

    accuracy            top-1 accuracy (argmax of the scores)
    accuracy_interval   [lo, hi]: central bootstrap interval (default 68 %)
    per_class_accuracy  {class: fraction of that class tagged correctly}
    confusion_matrix    rows = true class, columns = predicted; each row sums to 1
    auc                 {class: one-vs-rest ROC AUC of that class's score}
    rejection           {class: {"0.5": 1/FPR, "0.1": 1/FPR}} at those signal efficiencies

A value that is undefined on the given sample (a class with no jets; no background
left at a working point, i.e. rejection larger than the number of background jets)
is ``None`` (``null`` in JSON). The ROC curves the report plots come from
:func:`roc_curves` and stay out of ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = [
    "class_probabilities",
    "is_probabilities",
    "METRIC_KEYS",
    "DEFAULT_EFFICIENCIES",
    "evaluate_scores",
    "accuracy_interval",
    "confusion_matrix",
    "roc_curve",
    "roc_curves",
    "rejection_at",
    "rejection_at_efficiency",
]

METRIC_KEYS: tuple[str, ...] = (
    "accuracy",
    "accuracy_interval",
    "per_class_accuracy",
    "confusion_matrix",
    "auc",
    "rejection",
)
DEFAULT_EFFICIENCIES: tuple[float, ...] = (0.5, 0.1)
DEFAULT_N_BOOTSTRAP = 1000
DEFAULT_INTERVAL = 0.68
#: Rows of class probabilities sum to 1 within this (float32 storage included).
PROBABILITY_ATOL = 1e-4


def class_probabilities(readout: np.ndarray) -> np.ndarray:
    """The one score of every model: softmax of its read-out (logits, membrane mean, counts), float64.

    The ANN's logits, every spiking network's read-out and the Loihi model's read-out (in
    the float network's units) become class probabilities the same way, and accuracy, ROC,
    AUC and rejection are computed from these and nothing else.
    """
    z = np.asarray(readout, dtype=np.float64)
    if z.ndim != 2:
        raise DataError(f"a read-out must be [n, classes], got shape {z.shape}")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def is_probabilities(scores: np.ndarray) -> bool:
    s = np.asarray(scores, dtype=np.float64)
    return bool(s.ndim == 2 and np.all(s >= 0) and np.allclose(s.sum(axis=1), 1.0, atol=PROBABILITY_ATOL))


#: Points kept per ROC curve for plotting (the curve is thinned to at most this many).
ROC_PLOT_POINTS = 400


def _check_inputs(y_true: np.ndarray, scores: np.ndarray, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    k = len(class_names)
    if s.ndim != 2 or s.shape[1] != k:
        raise DataError(f"scores must be [n, {k}] (one column per class), got shape {s.shape}")
    if y.shape != (s.shape[0],):
        raise DataError(f"labels must be [n] with n = {s.shape[0]}, got shape {y.shape}")
    if s.shape[0] == 0:
        raise DataError("no jets to evaluate")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k:
        raise DataError(f"labels must be integers 0..{k - 1}")
    if not np.isfinite(s).all():
        raise DataError("scores contain NaN or inf")
    return y.astype(np.int64), s


def accuracy_interval(
    correct: np.ndarray, *, seed: int, n_bootstrap: int = DEFAULT_N_BOOTSTRAP, interval: float = DEFAULT_INTERVAL
) -> tuple[float, float]:
    """Central bootstrap interval of the mean of the 0/1 array ``correct``.

    Resampling n jets with replacement draws each jet with probability 1/n, so the
    number of correct jets in a resample is Binomial(n, accuracy): we draw that
    directly (the same distribution as index resampling, in O(n_bootstrap) time).
    """
    c = np.asarray(correct, dtype=bool)
    n = c.size
    acc = float(c.mean())
    rng = np.random.default_rng(seed)
    boot = rng.binomial(n, acc, size=n_bootstrap) / n
    tail = (1.0 - interval) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail])
    return float(lo), float(hi)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Row-normalized confusion matrix (rows: true class; rows without jets are NaN)."""
    counts = np.zeros((n_classes, n_classes), dtype=np.float64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1.0)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / rows


def roc_curve(is_signal: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(signal efficiency, background efficiency) for every threshold, both ascending.

    Starts at (0, 0) and ends at (1, 1); tied scores form one point.
    """
    sig = np.asarray(is_signal, dtype=bool)
    order = np.argsort(-np.asarray(score), kind="stable")
    s_sorted = np.asarray(score)[order]
    sig_sorted = sig[order]
    # last index of each group of equal scores
    ends = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    tp = np.cumsum(sig_sorted)[ends]
    fp = np.cumsum(~sig_sorted)[ends]
    n_sig = sig.sum()
    n_bkg = sig.size - n_sig
    tpr = np.r_[0.0, tp / n_sig]
    fpr = np.r_[0.0, fp / n_bkg]
    return tpr, fpr


def _auc(tpr: np.ndarray, fpr: np.ndarray) -> float:
    return float(np.trapezoid(tpr, fpr))


def rejection_at(tpr: np.ndarray, fpr: np.ndarray, efficiency: float) -> float | None:
    """1/FPR at the first working point whose signal efficiency reaches ``efficiency``.

    ``None`` when no background jet passes there (rejection beyond what the sample measures).
    """
    i = int(np.searchsorted(tpr, efficiency - 1e-12, side="left"))
    i = min(i, tpr.size - 1)
    f = float(fpr[i])
    return None if f <= 0.0 else 1.0 / f


def _thin(tpr: np.ndarray, fpr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    if tpr.size <= n:
        return tpr, fpr
    idx = np.unique(np.r_[np.linspace(0, tpr.size - 1, n).round().astype(int), 0, tpr.size - 1])
    return tpr[idx], fpr[idx]


def roc_curves(
    y_true: np.ndarray, scores: np.ndarray, *, class_names: Sequence[str], max_points: int = ROC_PLOT_POINTS
) -> dict[str, dict[str, list[float]]]:
    """One-vs-rest ROC curve per class: ``{class: {"tpr": [...], "fpr": [...]}}`` (thinned)."""
    y, s = _check_inputs(y_true, scores, class_names)
    out: dict[str, dict[str, list[float]]] = {}
    for c, name in enumerate(class_names):
        sig = y == c
        if not sig.any() or sig.all():
            continue
        tpr, fpr = _thin(*roc_curve(sig, s[:, c]), max_points)
        out[name] = {"tpr": tpr.tolist(), "fpr": fpr.tolist()}
    return out


def _eff_key(e: float) -> str:
    return f"{e:g}"


def evaluate_scores(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    class_names: Sequence[str],
    seed: int,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    interval: float = DEFAULT_INTERVAL,
    efficiencies: Sequence[float] = DEFAULT_EFFICIENCIES,
) -> dict[str, Any]:
    """The ``metrics.json`` entry of one model: keys :data:`METRIC_KEYS`, JSON-ready values.

    ``scores`` [n, k] are any per-class scores (probabilities, logits, spike counts):
    the prediction is their argmax and each class's ROC uses its own column.
    """
    y, s = _check_inputs(y_true, scores, class_names)
    k = len(class_names)
    pred = s.argmax(axis=1)
    correct = pred == y
    cm = confusion_matrix(y, pred, k)
    lo, hi = accuracy_interval(correct, seed=seed, n_bootstrap=n_bootstrap, interval=interval)
    per_class: dict[str, float | None] = {}
    auc: dict[str, float | None] = {}
    rejection: dict[str, dict[str, float | None]] = {}
    for c, name in enumerate(class_names):
        sig = y == c
        per_class[name] = float(cm[c, c]) if sig.any() else None
        if not sig.any() or sig.all():
            auc[name] = None
            rejection[name] = {_eff_key(e): None for e in efficiencies}
            continue
        tpr, fpr = roc_curve(sig, s[:, c])
        auc[name] = _auc(tpr, fpr)
        rejection[name] = {_eff_key(e): rejection_at(tpr, fpr, e) for e in efficiencies}
    cm_list = [[None if np.isnan(v) else float(v) for v in row] for row in cm]
    return {
        "accuracy": float(correct.mean()),
        "accuracy_interval": [lo, hi],
        "per_class_accuracy": per_class,
        "confusion_matrix": cm_list,
        "auc": auc,
        "rejection": rejection,
    }


def rejection_at_efficiency(scores_signal: np.ndarray, scores_background: np.ndarray,
                            eff: float = 0.95) -> float | None:
    """Background rejection ``1/FPR`` at signal efficiency ``eff`` for a binary score (higher = more
    signal-like): :func:`roc_curve` and :func:`rejection_at` on the two samples (the per-particle
    pileup filter's "pileup rejection at 95 % PV efficiency"; the fraction of pileup removed is
    ``1 - 1/rejection``). ``None`` when no background passes there."""
    sig = np.asarray(scores_signal, dtype=np.float64).ravel()
    bkg = np.asarray(scores_background, dtype=np.float64).ravel()
    if sig.size == 0 or bkg.size == 0:
        raise DataError("rejection needs signal and background scores (one of them is empty)")
    if not (np.isfinite(sig).all() and np.isfinite(bkg).all()):
        raise DataError("scores contain NaN or inf")
    if not 0.0 < float(eff) <= 1.0:
        raise DataError(f"efficiency must be in (0, 1], got {eff}")
    tpr, fpr = roc_curve(np.r_[np.ones(sig.size, bool), np.zeros(bkg.size, bool)], np.r_[sig, bkg])
    return rejection_at(tpr, fpr, float(eff))
