"""Stratified train/validation/test split and feature standardization.

Both are deterministic: the same labels and seed give the same split; the same
training rows give the same standardizer. Fit the :class:`Standardizer` on the
training rows only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ModelError

__all__ = ["Split", "split", "Standardizer"]

#: A column whose standard deviation is at most this fraction of max(|mean|, 1) counts
#: as constant (float32 resolution) and gets scale 1, so it maps to 0 instead of blowing up.
CONSTANT_REL_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class Split:
    """Sorted, disjoint integer row indices that together cover ``0..n-1``."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    val_fraction: float
    test_fraction: float

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            arr = np.array(getattr(self, name), dtype=np.int64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.size), "val": int(self.val.size), "test": int(self.test.size)}

    def __repr__(self) -> str:
        return f"Split(seed={self.seed}, sizes={self.sizes})"


def _check_fraction(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}") from exc
    if not (0.0 <= v < 1.0):
        raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
    return v


def split(
    y: np.ndarray, *, seed: int, val_fraction: float = 0.2, test_fraction: float = 0.2
) -> Split:
    """Split rows stratified by class label.

    In every class, ``round(n_c * test_fraction)`` rows go to test and
    ``round(n_c * val_fraction)`` to validation, drawn with
    ``numpy.random.default_rng(seed)``; the rest go to train.
    """
    vf = _check_fraction("val_fraction", val_fraction)
    tf = _check_fraction("test_fraction", test_fraction)
    if vf + tf >= 1.0:
        raise ConfigError(
            f"val_fraction + test_fraction must be below 1 (got {vf} + {tf}); leave rows for training"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    labels = np.asarray(y)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"split needs a 1-D integer label array, got shape {labels.shape} dtype {labels.dtype}")
    if labels.size == 0:
        raise DataError("cannot split an empty label array (0 jets)")
    rng = np.random.default_rng(int(seed))
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(np.floor(idx.size * tf + 0.5))
        n_val = min(int(np.floor(idx.size * vf + 0.5)), idx.size - n_test)
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    out = {k: np.sort(np.concatenate(v)) for k, v in parts.items()}
    if out["train"].size == 0:
        raise DataError(f"only {labels.size} jets: nothing is left for training; give more jets")
    for name, frac in (("val", vf), ("test", tf)):
        if frac > 0 and out[name].size == 0:
            raise DataError(
                f"only {labels.size} jets: the {name} split is empty with {name}_fraction={frac}; "
                "give more jets"
            )
    return Split(**out, seed=int(seed), val_fraction=vf, test_fraction=tf)


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-feature ``(x - mean) / scale`` with float32 ``mean`` and ``scale``."""

    mean: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        mean = np.array(self.mean, dtype=np.float32).reshape(-1)
        scale = np.array(self.scale, dtype=np.float32).reshape(-1)
        if mean.shape != scale.shape or mean.size == 0:
            raise ModelError(f"standardizer mean and scale must be equal-length vectors, got {mean.shape} and {scale.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ModelError("standardizer mean must be finite and scale finite and positive")
        mean.setflags(write=False)
        scale.setflags(write=False)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "scale", scale)

    @property
    def n_features(self) -> int:
        return int(self.mean.size)

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Mean and standard deviation per column (computed in float64); constant columns get scale 1."""
        A = np.asarray(X, dtype=np.float64)
        if A.ndim != 2 or A.shape[0] == 0:
            raise DataError(f"Standardizer.fit needs a non-empty 2-D array, got shape {A.shape}")
        if not np.isfinite(A).all():
            raise DataError("Standardizer.fit got NaN/inf values; clean or drop those jets first")
        mean = A.mean(axis=0)
        std = A.std(axis=0)
        constant = std <= CONSTANT_REL_TOL * np.maximum(np.abs(mean), 1.0)
        scale = np.where(constant, 1.0, std)
        return cls(mean=mean, scale=scale)

    def _check(self, X: np.ndarray) -> np.ndarray:
        A = np.asarray(X, dtype=np.float32)
        if A.ndim != 2 or A.shape[1] != self.n_features:
            raise DataError(f"expected a 2-D array with {self.n_features} features, got shape {A.shape}")
        return A

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardized copy of ``X`` as float32."""
        return ((self._check(X) - self.mean) / self.scale).astype(np.float32, copy=False)

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform` (float32)."""
        return (self._check(Z) * self.scale + self.mean).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready form; :meth:`from_dict` restores it exactly."""
        return {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Standardizer:
        if not isinstance(d, Mapping) or "mean" not in d or "scale" not in d:
            raise ModelError("standardizer entry must be an object with 'mean' and 'scale' lists")
        try:
            return cls(mean=np.asarray(d["mean"], dtype=np.float32), scale=np.asarray(d["scale"], dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise ModelError(f"standardizer 'mean'/'scale' must be lists of numbers ({exc})") from exc
