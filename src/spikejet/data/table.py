"""JetTable: the one in-memory form of a labelled jet sample."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .schema import CLASS_NAMES, FEATURE_NAMES


@dataclass(frozen=True)
class JetTable:
    """Features ``X`` (float32, [n, 16]), integer labels ``y`` (g,q,w,z,t = 0..4).

    ``extra`` holds optional per-jet columns (``pt``, ``eta``, ``mass``, ``weight``...),
    each a 1-D array of length n. ``particles`` optionally holds per-particle
    values, float32 ``[n, P, k]`` with ``particle_fields`` naming the k columns
    (e.g. :data:`~spikejet.data.schema.PARTICLE_FIELDS`) and ``particle_mask``
    (bool ``[n, P]``) marking the real particles (padding is False and zero).
    Construction validates shapes, dtypes and values: NaN/inf features and labels
    outside 0..4 raise :class:`DataError`.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...] = FEATURE_NAMES
    class_names: tuple[str, ...] = CLASS_NAMES
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    particles: np.ndarray | None = None
    particle_mask: np.ndarray | None = None
    particle_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        X = np.asarray(self.X)
        y = np.asarray(self.y)
        if X.ndim != 2:
            raise DataError(f"{self._where()}features must be a 2-D array, got shape {X.shape}")
        if X.shape[1] != len(self.feature_names):
            raise DataError(
                f"{self._where()}{X.shape[1]} feature columns but {len(self.feature_names)} names"
            )
        if y.shape != (X.shape[0],):
            raise DataError(f"{self._where()}labels have shape {y.shape}, expected ({X.shape[0]},)")
        if X.shape[0] == 0:
            raise DataError(f"{self._where()}the table is empty (0 jets); give a file with jets")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{self._where()}labels must be integers 0..{len(self.class_names) - 1}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.int64)
        bad = ~np.isfinite(X).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DataError(
                f"{self._where()}{rows.size} jets have NaN/inf features (first rows: "
                f"{', '.join(map(str, rows[:5]))}); remove those rows first"
            )
        out = (y < 0) | (y >= len(self.class_names))
        if out.any():
            rows = np.flatnonzero(out)
            raise DataError(
                f"{self._where()}{rows.size} labels outside 0..{len(self.class_names) - 1} "
                f"(first rows: {', '.join(map(str, rows[:5]))})"
            )
        extra = {}
        for k, v in self.extra.items():
            v = np.asarray(v)
            if v.shape[:1] != (X.shape[0],):
                raise DataError(f"{self._where()}extra column {k!r} has {v.shape[0]} rows, expected {X.shape[0]}")
            extra[k] = v
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "extra", extra)
        self._check_particles(X.shape[0])

    def _check_particles(self, n: int) -> None:
        parts, mask = self.particles, self.particle_mask
        if parts is None:
            if mask is not None or self.particle_fields:
                raise DataError(f"{self._where()}particle_mask/particle_fields given without particles")
            object.__setattr__(self, "particle_fields", ())
            return
        parts = np.ascontiguousarray(parts, dtype=np.float32)
        if parts.ndim != 3 or parts.shape[0] != n:
            raise DataError(f"{self._where()}particles must be [n={n}, P, k], got shape {parts.shape}")
        names = tuple(str(f) for f in self.particle_fields)
        if len(names) != parts.shape[2] or len(set(names)) != len(names) or any(not f or "/" in f for f in names):
            raise DataError(
                f"{self._where()}particle_fields must be {parts.shape[2]} distinct names without '/', got {names}"
            )
        if mask is None:
            raise DataError(f"{self._where()}particles need a particle_mask [n, P] (True = real particle)")
        mask = np.asarray(mask)
        if mask.shape != parts.shape[:2] or mask.dtype != np.bool_:
            raise DataError(
                f"{self._where()}particle_mask must be bool {parts.shape[:2]}, got {mask.dtype} {mask.shape}"
            )
        if not np.isfinite(parts).all():
            raise DataError(f"{self._where()}particles contain NaN/inf values")
        object.__setattr__(self, "particles", parts)
        object.__setattr__(self, "particle_mask", np.ascontiguousarray(mask))
        object.__setattr__(self, "particle_fields", names)

    @property
    def has_particles(self) -> bool:
        return self.particles is not None

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> np.ndarray:
        """Jets per class, in class order."""
        return np.bincount(self.y, minlength=self.n_classes)

    def subset(self, index: np.ndarray) -> JetTable:
        """Rows ``index`` (integer indices or boolean mask) as a new table."""
        idx = np.asarray(index)
        return JetTable(
            X=self.X[idx],
            y=self.y[idx],
            feature_names=self.feature_names,
            class_names=self.class_names,
            extra={k: v[idx] for k, v in self.extra.items()},
            source=self.source,
            particles=None if self.particles is None else self.particles[idx],
            particle_mask=None if self.particle_mask is None else self.particle_mask[idx],
            particle_fields=self.particle_fields,
        )

    def without_particles(self) -> JetTable:
        """The same table without the per-particle arrays."""
        return JetTable(
            X=self.X, y=self.y, feature_names=self.feature_names, class_names=self.class_names,
            extra=self.extra, source=self.source,
        )
