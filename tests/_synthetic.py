"""Small synthetic data sets shared by the tests of the spiking trainers."""

from __future__ import annotations

import numpy as np


def blobs(rng: np.random.Generator, n: int, d: int = 6, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``k`` Gaussian classes in ``d`` dimensions, each shifted along two axes: learnable, not trivial."""
    centers = np.zeros((k, d))
    for c in range(k):
        centers[c, c] = 2.0
        centers[c, (c + 3) % d] = -1.0
    y = rng.integers(0, k, size=n)
    X = rng.normal(size=(n, d)) + centers[y]
    return X.astype(np.float32), y.astype(np.int64)
