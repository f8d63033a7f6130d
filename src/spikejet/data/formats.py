"""Readers and writers for jet tables.

One entry point reads every format users already have (:func:`read`), one writes
the two formats spikejet produces (:func:`write`):

* the own format, HDF5 ``.h5`` (root attribute ``format="spikejet-jets"``), see
  ``docs/data.md`` for its exact layout;
* CSV with the 16 named feature columns and a ``class`` (g,q,w,z,t) or integer
  ``label`` column (the own CSV and OpenML CSV exports);
* OpenML ``hls4ml_lhc_jets_hlf`` exports as ARFF and parquet;
* the Zenodo hls4ml h5 files (dataset ``jets`` with one-hot labels).

Every problem with the input is a :class:`~spikejet.errors.DataError` with one
line that names the file, what is wrong and what to do.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, RowError
from ..io import atomic_path
from .schema import (
    CLASS_LABELS,
    CLASS_NAMES,
    FEATURE_NAMES,
    N_FEATURES,
    ZENODO_FEATURE_COLUMNS,
    ZENODO_LABEL_SLICE,
)
from .table import JetTable

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ReadReport",
    "detect_format",
    "read",
    "read_with_report",
    "read_provenance",
    "write",
]

log = logging.getLogger("spikejet.data")

#: Root attribute ``format`` of the own HDF5 files, and the layout version written.
FORMAT_NAME = "spikejet-jets"
FORMAT_VERSION = 1

#: File name suffixes per reader (compared lower-case).
H5_SUFFIXES = (".h5", ".hdf5", ".hdf")
CSV_SUFFIXES = (".csv", ".csv.gz")
ARFF_SUFFIXES = (".arff",)
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Suffixes :func:`write` accepts.
WRITE_SUFFIXES = (".h5", ".hdf5", ".csv")

#: Magic bytes used to recognise a file whose extension says nothing.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PARQUET_MAGIC = b"PAR1"
ARFF_RELATION = "@relation"
SNIFF_BYTES = 4096

#: Own-format storage: rows per chunk, gzip level, rows per constituent chunk.
CHUNK_ROWS = 4096
CONSTITUENT_CHUNK_ROWS = 256
GZIP_LEVEL = 4
#: Components per constituent: px, py, pz, E (GeV).
CONSTITUENT_COMPONENTS = 4
#: Per-particle arrays (``JetTable.particles``): group name, mask dataset, rows per chunk,
#: and the float storage types ``write(..., particle_float=...)`` accepts. Fields whose
#: values are all integers (charge, PDG id) are stored exactly in the smallest of
#: int8/int16/int32 that holds them, whatever ``particle_float`` says.
PARTICLES_GROUP = "particles"
PARTICLE_MASK = "mask"
PARTICLE_CHUNK_ROWS = 1024
PARTICLE_FLOATS = ("float32", "float16")
_INT_STORAGE = (np.int8, np.int16, np.int32)

#: Label of a row without a class label (internal; such rows never reach a JetTable;
#: a value no file can hold, so that an explicit -1 still reads as a bad label).
UNLABELLED = int(np.iinfo(np.int64).min)
#: Class cells that mean "no label" in tabular files (compared lower-case, after
#: stripping blanks and quotes): empty, ARFF's "?", and spellings of a missing value.
MISSING_LABELS = frozenset({"", "?", "nan", "none", "null", "na"})
#: Tabular label columns.
CLASS_COLUMN = "class"
LABEL_COLUMN = "label"
#: Optional own-format datasets, carried in ``JetTable.extra`` under these keys.
CONSTITUENTS_KEY = "constituents"
N_CONSTITUENTS_KEY = "n_constituents"
#: Zenodo ``jetFeatureNames`` entries kept as extra columns (name in file -> extra key).
ZENODO_EXTRA_COLUMNS = {"j_pt": "pt", "j_eta": "eta", "j_mass": "mass"}
#: How many row numbers / values an error message lists.
FIRST_SHOWN = 5

#: Accepted spellings of class labels in tabular files: g, j_g or the index 0 (as text).
_LABEL_OF = (
    {name: i for i, name in enumerate(CLASS_NAMES)}
    | {name: i for i, name in enumerate(CLASS_LABELS)}
    | {str(i): i for i in range(len(CLASS_NAMES))}
)


@dataclass(frozen=True)
class ReadReport:
    """What :func:`read_with_report` did besides returning the table.

    ``n_read`` rows were in the file, ``n_dropped`` of them were dropped for
    NaN/inf features (only with ``drop_invalid=True``; ``dropped_rows`` holds the
    first few row numbers), ``ignored_columns`` were present but not used.
    ``n_unlabelled`` rows had no class label (they are dropped with
    ``drop_unlabelled=True``; otherwise reading fails); ``n_duplicates`` rows
    repeat an earlier row exactly (same 16 features and label; kept unless
    ``drop_duplicates=True``, which keeps the first copy), counted after the
    invalid and unlabelled rows were dropped.
    """

    path: str
    format: str
    n_read: int
    n_dropped: int = 0
    dropped_rows: tuple[int, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    provenance: dict[str, Any] | None = None
    n_unlabelled: int = 0
    unlabelled_rows: tuple[int, ...] = ()
    n_duplicates: int = 0
    duplicates_dropped: bool = False

    def quirks(self) -> dict[str, Any]:
        """The public files' known quirks in this file: counts and what was done with them."""
        return {
            "rows_read": self.n_read,
            "rows_without_label": self.n_unlabelled,
            "rows_without_label_dropped": self.n_unlabelled > 0,
            "duplicate_rows": self.n_duplicates,
            "duplicate_rows_dropped": self.duplicates_dropped and self.n_duplicates > 0,
            "rows_with_nan_or_inf_dropped": self.n_dropped,
        }

    def messages(self) -> list[str]:
        """Human-readable notes (empty when nothing needs saying)."""
        out = []
        if self.n_dropped:
            out.append(
                f"{self.path}: dropped {self.n_dropped} of {self.n_read} jets with NaN/inf or impossible "
                f"features (first rows: {_rows(self.dropped_rows)})"
            )
        if self.n_unlabelled:
            out.append(
                f"{self.path}: dropped {self.n_unlabelled} of {self.n_read} rows without a class label "
                f"(first rows: {_rows(self.unlabelled_rows)})"
            )
        if self.n_duplicates:
            what = "dropped (first copies kept)" if self.duplicates_dropped else (
                "kept; pass --drop-duplicates (drop_duplicates=True) to drop them")
            out.append(f"{self.path}: {self.n_duplicates} rows repeat an earlier row exactly: {what}")
        if self.ignored_columns:
            out.append(
                f"{self.path}: ignored {len(self.ignored_columns)} column(s) that are not "
                f"features or labels: {', '.join(self.ignored_columns)}"
            )
        return out


@dataclass(frozen=True)
class RowPolicy:
    """What a reader does with the public files' problem rows (see :func:`read`)."""

    drop_invalid: bool = False
    drop_unlabelled: bool = False
    drop_duplicates: bool = False


def _rows(rows: Any) -> str:
    return ", ".join(str(int(r)) for r in list(rows)[:FIRST_SHOWN])


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for sfx in CSV_SUFFIXES + H5_SUFFIXES + ARFF_SUFFIXES + PARQUET_SUFFIXES:
        if name.endswith(sfx):
            return sfx
    return p.suffix.lower()


# --------------------------------------------------------------------------- detection


def detect_format(path: str | os.PathLike[str]) -> str:
    """Return ``"h5"``, ``"csv"``, ``"arff"`` or ``"parquet"`` for ``path``.

    The extension decides; a file with an unknown extension is recognised by its
    content (HDF5 signature, parquet magic, ARFF ``@relation``) or refused.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file; check the path (or use 'default' for the embedded sample)")
    if p.is_dir():
        raise DataError(f"{p}: is a directory; give a jet file (.h5, .csv, .arff or .parquet)")
    sfx = _suffix(p)
    if sfx in H5_SUFFIXES:
        return "h5"
    if sfx in CSV_SUFFIXES:
        return "csv"
    if sfx in ARFF_SUFFIXES:
        return "arff"
    if sfx in PARQUET_SUFFIXES:
        return "parquet"
    with open(p, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(HDF5_SIGNATURE):
        return "h5"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    text = head.decode("utf-8", errors="replace").lstrip()
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("%")), "")
    if first.lower().startswith(ARFF_RELATION):
        return "arff"
    raise DataError(
        f"{p}: unknown file type {sfx or '(no extension)'!s}; spikejet reads .h5/.hdf5 "
        f"(own or Zenodo hls4ml), .csv, .arff and .parquet"
    )


# --------------------------------------------------------------------------- reading


def read(
    path: str | os.PathLike[str],
    *,
    drop_invalid: bool = False,
    drop_unlabelled: bool = False,
    drop_duplicates: bool = False,
    constituents: bool = False,
    particles: bool = False,
) -> JetTable:
    """Read a jet table from any supported file (see the module docstring).

    NaN/inf feature rows raise :class:`DataError` unless ``drop_invalid`` is true;
    then they are dropped and a warning on the ``spikejet.data`` logger says how
    many. Rows without a class label (an empty, ``?`` or NaN class cell, or an
    all-zero one-hot row in the Zenodo files) raise :class:`DataError` unless
    ``drop_unlabelled`` is true; exact duplicate rows (same features and label)
    are counted and kept unless ``drop_duplicates`` is true (the first copy stays).
    Columns that are neither features nor labels are ignored, with a warning.
    ``constituents=True`` also loads the optional constituent arrays of own h5
    files into ``table.extra["constituents"]`` / ``["n_constituents"]`` (the layout
    of spikejet <= 0.1); ``particles=True`` loads the per-particle arrays
    (``particles/`` group) into ``table.particles`` / ``particle_mask`` /
    ``particle_fields`` (float32, whatever the storage type).
    """
    table, report = read_with_report(
        path, drop_invalid=drop_invalid, drop_unlabelled=drop_unlabelled, drop_duplicates=drop_duplicates,
        constituents=constituents, particles=particles,
    )
    for msg in report.messages():
        log.warning(msg)
    return table


def read_with_report(
    path: str | os.PathLike[str],
    *,
    drop_invalid: bool = False,
    drop_unlabelled: bool = False,
    drop_duplicates: bool = False,
    constituents: bool = False,
    particles: bool = False,
) -> tuple[JetTable, ReadReport]:
    """Like :func:`read`, but return the :class:`ReadReport` instead of logging it."""
    p = Path(path)
    fmt = detect_format(p)
    rows = RowPolicy(drop_invalid, drop_unlabelled, drop_duplicates)
    if fmt == "h5":
        return _read_h5(p, drop_invalid=rows, constituents=constituents, particles=particles)
    if fmt == "csv":
        cols, n = _read_csv_columns(p)
    elif fmt == "parquet":
        cols, n = _read_parquet_columns(p)
    else:
        cols, n = _read_arff_columns(p)
    return _from_columns(cols, n, p, fmt, drop_invalid=rows)


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``provenance`` dict stored in an own h5 file; None for files without one
    (other formats, Zenodo files, own files written without provenance)."""
    import h5py

    p = Path(path)
    if detect_format(p) != "h5":
        return None
    try:
        with h5py.File(p, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME:
                return None
            return _provenance(f, p)
    except OSError as exc:
        raise DataError(f"{p}: the HDF5 file is corrupt or truncated ({_short(exc)}); re-create it") from exc


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _assemble(
    X: np.ndarray,
    y: np.ndarray,
    p: Path,
    fmt: str,
    *,
    drop_invalid: bool | RowPolicy,
    extra: Mapping[str, np.ndarray] | None = None,
    ignored: tuple[str, ...] = (),
    provenance: dict[str, Any] | None = None,
    particles: tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None = None,
) -> tuple[JetTable, ReadReport]:
    """Common tail of every reader: unlabelled rows, NaN/inf and duplicate policies,
    label range, JetTable.

    ``drop_invalid`` is a :class:`RowPolicy` (a plain bool: only NaN/inf rows may be
    dropped); label :data:`UNLABELLED` marks a row without a class label.
    ``particles`` is (values [n, P, k], mask [n, P], field names) or None."""
    policy = drop_invalid if isinstance(drop_invalid, RowPolicy) else RowPolicy(bool(drop_invalid))
    n = int(X.shape[0])
    if n == 0:
        raise DataError(f"{p}: the table is empty (0 jets); give a file with jets")
    extra = dict(extra or {})
    unlabelled = np.flatnonzero(y == UNLABELLED)
    if unlabelled.size and not policy.drop_unlabelled:
        raise RowError(
            f"{p}: {unlabelled.size} of {n} rows have no class label (first rows: {_rows(unlabelled)})",
            "drop_unlabelled",
        )
    _check_int_labels(np.where(y == UNLABELLED, 0, y), p)
    X = _numeric_features(X, p)
    invalid, problems = invalid_rows(X, among=y != UNLABELLED)
    X = as_float32(X)
    dropped: np.ndarray = np.flatnonzero(invalid)
    if dropped.size and not policy.drop_invalid:
        raise RowError(f"{p}: {', '.join(problems)}", "drop_invalid")
    keep = ~(invalid | (y == UNLABELLED))
    if not keep.any():
        if dropped.size == n:
            raise DataError(f"{p}: all {n} jets have NaN/inf or impossible features ({', '.join(problems)}); "
                            "nothing is left to read")
        raise DataError(f"{p}: all {n} rows lack a label or have NaN/inf or impossible features; "
                        "nothing is left to read")
    rows_kept = np.flatnonzero(keep)
    first = _first_copies(X[rows_kept], y[rows_kept])
    n_dup = int(rows_kept.size - first.size)
    if n_dup and policy.drop_duplicates:
        rows_kept = rows_kept[first]
    if rows_kept.size != n:
        X, y = X[rows_kept], y[rows_kept]
        extra = {k: v[rows_kept] for k, v in extra.items()}
        if particles is not None:
            particles = (particles[0][rows_kept], particles[1][rows_kept], particles[2])
    parts, mask, fields = particles if particles is not None else (None, None, ())
    table = JetTable(
        X=X, y=y, extra=extra, source=str(p), particles=parts, particle_mask=mask, particle_fields=fields
    )
    report = ReadReport(
        path=str(p),
        format=fmt,
        n_read=n,
        n_dropped=int(dropped.size),
        dropped_rows=tuple(int(r) for r in dropped[:FIRST_SHOWN]),
        ignored_columns=ignored,
        provenance=provenance,
        n_unlabelled=int(unlabelled.size),
        unlabelled_rows=tuple(int(r) for r in unlabelled[:FIRST_SHOWN]),
        n_duplicates=n_dup,
        duplicates_dropped=policy.drop_duplicates,
    )
    return table, report


#: Column of the one count among the features: j_multiplicity, constituents per jet.
MULTIPLICITY = FEATURE_NAMES.index("j_multiplicity")
#: The largest float32 (features are stored and used as float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _numeric_features(X: Any, p: Path) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise DataError(f"{p}: the features are not numeric ({X.dtype}); fix the file")
    return X


def as_float32(X: np.ndarray) -> np.ndarray:
    """``X`` as contiguous float32; values beyond float32 become inf without a RuntimeWarning
    (:func:`invalid_rows` names them first)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(X, dtype=np.float32)


def invalid_rows(
    X: np.ndarray, *, among: np.ndarray | None = None, offset: int = 0, rows_label: str = "first rows"
) -> tuple[np.ndarray, list[str]]:
    """Rows of ``X`` (features in schema order, any numeric dtype) that no jet can have, and
    one phrase per kind of problem: NaN/inf, finite values that overflow float32 (named as
    such, not as inf), a negative or non-integer ``j_multiplicity`` (a count).

    ``among``: only these rows count (e.g. the labelled ones); ``offset`` is added to the
    row numbers shown."""
    X = np.asarray(X)
    n = X.shape[0]
    among = np.ones(n, dtype=bool) if among is None else np.asarray(among, dtype=bool)
    if X.dtype.kind in "iub":
        finite = np.ones(X.shape, dtype=bool)
    else:
        finite = np.isfinite(X)
    phrases: list[str] = []
    bad = np.zeros(n, dtype=bool)

    def add(mask: np.ndarray, what: str) -> None:
        nonlocal bad
        mask = mask & among & ~bad
        if mask.any():
            rows = np.flatnonzero(mask)
            shown = ", ".join(str(int(r) + offset) for r in rows[:FIRST_SHOWN])
            phrases.append(f"{rows.size} jets have {what} ({rows_label}: {shown})")
            bad |= mask

    add(~finite.all(axis=1), "NaN/inf features")
    if X.dtype.kind == "f" and X.dtype.itemsize > 4:
        with np.errstate(over="ignore", invalid="ignore"):  # rounds to inf in float32: overflows
            big = finite & np.isinf(X.astype(np.float32))
        big &= among[:, None]
        if big.any():
            r, c = np.argwhere(big)[0]
            cols = [FEATURE_NAMES[j] for j in np.flatnonzero(big.any(axis=0))]
            add(big.any(axis=1), f"feature values that overflow float32 (|x| > {FLOAT32_MAX:.3g}: "
                                 f"{', '.join(cols[:FIRST_SHOWN])}; e.g. {FEATURE_NAMES[c]} = {float(X[r, c]):g})")
    if X.shape[1] > MULTIPLICITY:
        m = X[:, MULTIPLICITY]
        ok = finite[:, MULTIPLICITY]
        with np.errstate(invalid="ignore"):
            add(ok & (m < 0), "a negative j_multiplicity (a count of constituents)")
            add(ok & (m != np.round(m)), "a non-integer j_multiplicity (a count of constituents)")
    return bad, phrases


def _first_copies(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sorted row indices of the first copy of every distinct (features, label) row.

    Rows are compared bit for bit (float32 features as stored, then the label)."""
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    key = np.empty((X.shape[0], X.shape[1] + 1), dtype=np.int64)
    key[:, :-1] = np.ascontiguousarray(X, dtype=np.float32).view(np.int32)
    key[:, -1] = y
    _, first = np.unique(key, axis=0, return_index=True)
    return np.sort(first)


def _check_int_labels(y: np.ndarray, p: Path) -> None:
    out = (y < 0) | (y >= len(CLASS_NAMES))
    if out.any():
        values = np.unique(y[out])
        raise DataError(
            f"{p}: {int(out.sum())} labels are not class indices 0..{len(CLASS_NAMES) - 1} "
            f"(values: {', '.join(map(str, values[:FIRST_SHOWN].tolist()))}; first rows: "
            f"{_rows(np.flatnonzero(out))})"
        )


# --- tabular formats (CSV, parquet, ARFF) -----------------------------------------


def _labels_from_strings(values: np.ndarray, p: Path) -> np.ndarray:
    """Map class strings (g,q,w,z,t or j_g..j_t, quotes and blanks stripped) to 0..4."""
    cleaned = np.array(
        ["" if v is None else str(v).strip().strip("'\"").strip() for v in values.tolist()], dtype=object
    )
    uniq, inverse = np.unique(cleaned.astype(str), return_inverse=True)
    unknown = [u for u in uniq.tolist() if u not in _LABEL_OF and u.lower() not in MISSING_LABELS]
    if unknown:
        n_bad = int(np.isin(cleaned.astype(str), unknown).sum())
        shown = ", ".join(repr(u) for u in unknown[:FIRST_SHOWN])
        raise DataError(
            f"{p}: {n_bad} rows have unknown class labels ({shown}); the classes are "
            f"{', '.join(CLASS_NAMES)}"
        )
    lut = np.array([_LABEL_OF.get(u, UNLABELLED) for u in uniq.tolist()], dtype=np.int64)
    return lut[inverse.reshape(-1)]


def _labels_from_numbers(values: np.ndarray, column: str, p: Path) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    missing = np.isnan(v)
    v = np.where(missing, UNLABELLED, v)
    bad = ~np.isfinite(v) | (v != np.round(v))
    if bad.any():
        raise DataError(
            f"{p}: column {column!r} must hold integer class indices 0..{len(CLASS_NAMES) - 1}; "
            f"{int(bad.sum())} rows do not (first rows: {_rows(np.flatnonzero(bad))})"
        )
    return v.astype(np.int64)


def _from_columns(
    cols: dict[str, Any], n: int, p: Path, fmt: str, *, drop_invalid: bool | RowPolicy
) -> tuple[JetTable, ReadReport]:
    """Build a table from named columns (each a callable returning a numpy array)."""
    names = list(cols)
    missing = [f for f in FEATURE_NAMES if f not in cols]
    if missing:
        raise DataError(
            f"{p}: missing feature column(s) {', '.join(missing)}; a jet table needs the 16 "
            f"hls4ml features by name (found columns: {', '.join(names) or 'none'})"
        )
    if CLASS_COLUMN in cols:
        label_col = CLASS_COLUMN
    elif LABEL_COLUMN in cols:
        label_col = LABEL_COLUMN
    else:
        raise DataError(
            f"{p}: no label column; add a {CLASS_COLUMN!r} column (g,q,w,z,t) or an integer "
            f"{LABEL_COLUMN!r} column (0..4) (found columns: {', '.join(names)})"
        )
    if n == 0:
        raise DataError(f"{p}: the table is empty (0 jets); give a file with jets")
    ignored = tuple(c for c in names if c not in FEATURE_NAMES and c != label_col)
    X = np.empty((n, N_FEATURES), dtype=np.float64)  # narrowed in _assemble, after the range checks
    for j, name in enumerate(FEATURE_NAMES):
        col = cols[name]()
        if col.dtype.kind not in "fiub":
            raise DataError(f"{p}: feature column {name!r} is not numeric ({col.dtype}); fix the file")
        X[:, j] = col
    raw = cols[label_col]()
    if raw.dtype.kind in "iuf":
        y = _labels_from_numbers(raw, label_col, p)
    else:
        y = _labels_from_strings(raw, p)
    return _assemble(X, y, p, fmt, drop_invalid=drop_invalid, ignored=ignored)


def _arrow_columns(table: Any, p: Path) -> dict[str, Any]:
    """Column getters for a pyarrow table: numbers as float64 (nulls -> NaN), else strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def getter(name: str):
        def get() -> np.ndarray:
            col = table.column(name)
            typ = col.type
            if pa.types.is_dictionary(typ):
                col = pc.cast(col, pa.string())
                typ = col.type
            if pa.types.is_integer(typ) and col.null_count == 0 and name in (CLASS_COLUMN, LABEL_COLUMN):
                return col.to_numpy()
            if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
                return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            if pa.types.is_null(typ):  # a column of empty cells
                return np.full(len(col), np.nan)
            if pa.types.is_string(typ) or pa.types.is_large_string(typ):
                return np.asarray(col.to_pylist(), dtype=object)
            return np.asarray(col.to_pylist(), dtype=object)

        return get

    return {name: getter(name) for name in table.column_names}


def _read_csv_columns(p: Path) -> tuple[dict[str, Any], int]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty (0 bytes); give a CSV with a header and jets")
    # Features are parsed as float64 (never as integers, which would lose -0.0) and
    # narrowed to float32 later: the shortest float32 decimal form reads back exactly.
    types = {name: pa.float64() for name in FEATURE_NAMES} | {CLASS_COLUMN: pa.string()}
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    try:
        table = pacsv.read_csv(p, convert_options=convert)
        names = table.column_names  # decodes the header: may fail on bytes that are not UTF-8
    except (pa.ArrowInvalid, pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot parse as CSV ({_short(exc)}); fix the file") from exc
    _check_duplicate_names(names, p)
    return _arrow_columns(table, p), table.num_rows


def _read_parquet_columns(p: Path) -> tuple[dict[str, Any], int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if p.stat().st_size == 0:
        raise DataError(f"{p}: the parquet file is empty (0 bytes), corrupt or truncated; re-export it")
    try:
        table = pq.read_table(p)
        names = table.column_names
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{p}: the parquet file is corrupt or truncated ({_short(exc)}); re-export it"
        ) from exc
    _check_duplicate_names(names, p)
    return _arrow_columns(table, p), table.num_rows


def _check_duplicate_names(names: list[str], p: Path) -> None:
    seen: set[str] = set()
    dups = sorted({n for n in names if n in seen or seen.add(n)})
    if dups:
        raise DataError(f"{p}: duplicate column name(s) {', '.join(dups)}; each column must be unique")


def _read_arff_columns(p: Path) -> tuple[dict[str, Any], int]:
    from scipy.io import arff

    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty (0 bytes); give an ARFF file with a header and jets")
    try:
        data, meta = arff.loadarff(p)
    except Exception as exc:  # scipy's parser fails on damaged files in many ways (StopIteration at EOF, ...)
        what = _short(exc) if not isinstance(exc, StopIteration) else "the file ends inside the header"
        raise DataError(f"{p}: cannot parse as ARFF ({what}); fix or re-export the file") from exc
    cols: dict[str, Any] = {}
    for name, kind in zip(meta.names(), meta.types(), strict=True):
        if kind == "nominal":
            cols[name] = lambda name=name: np.array(
                [v.decode() if isinstance(v, bytes) else str(v) for v in data[name].tolist()],
                dtype=object,
            )
        else:
            cols[name] = lambda name=name: np.asarray(data[name])
    return cols, int(data.shape[0])


# --- HDF5 (own format and Zenodo hls4ml) --------------------------------------------


def _strings(values: Any) -> tuple[str, ...]:
    arr = np.atleast_1d(np.asarray(values))
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in arr.tolist())


def _read_h5(
    p: Path, *, drop_invalid: bool | RowPolicy, constituents: bool, particles: bool = False
) -> tuple[JetTable, ReadReport]:
    import h5py

    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataError(
            f"{p}: cannot open as HDF5: the file is corrupt, truncated or not HDF5 ({_short(exc)})"
        ) from exc
    try:
        with f:
            if f.attrs.get("format") is not None:
                return _read_own_h5(
                    f, p, drop_invalid=drop_invalid, constituents=constituents, particles=particles
                )
            if "jets" in f:
                return _read_zenodo_h5(f, p, drop_invalid=drop_invalid)
            raise DataError(
                f"{p}: HDF5 file is neither a spikejet jet file (root attribute "
                f"format={FORMAT_NAME!r}) nor a Zenodo hls4ml file (dataset 'jets'); it holds: "
                f"{', '.join(list(f.keys())[:10]) or 'nothing'}"
            )
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise DataError(
            f"{p}: the HDF5 file is corrupt or truncated ({_short(exc)}); re-create or re-download it"
        ) from exc


def _provenance(f: Any, p: Path) -> dict[str, Any] | None:
    raw = f.attrs.get("provenance")
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        prov = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}: the 'provenance' attribute is not valid JSON ({exc})") from exc
    if not isinstance(prov, dict):
        raise DataError(f"{p}: the 'provenance' attribute must be a JSON object")
    return prov


def _names_mismatch(found: tuple[str, ...], expected: tuple[str, ...]) -> str:
    if len(found) != len(expected):
        return f"{len(found)} names, expected {len(expected)}"
    diffs = [f"#{i} {a!r} (expected {b!r})" for i, (a, b) in enumerate(zip(found, expected, strict=True)) if a != b]
    return "; ".join(diffs[:FIRST_SHOWN])


def _read_particles(f: Any, p: Path, n: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    g = f[PARTICLES_GROUP]
    if "fields" not in g.attrs or PARTICLE_MASK not in g:
        raise DataError(f"{p}: the '{PARTICLES_GROUP}' group lacks its 'fields' attribute or '{PARTICLE_MASK}'")
    fields = _strings(g.attrs["fields"])
    missing = [name for name in fields if name not in g]
    if missing or not fields:
        raise DataError(f"{p}: '{PARTICLES_GROUP}' lacks the field dataset(s) {', '.join(missing) or '(none listed)'}")
    mask = np.asarray(g[PARTICLE_MASK][()]).astype(bool)
    if mask.ndim != 2 or mask.shape[0] != n:
        raise DataError(f"{p}: '{PARTICLES_GROUP}/{PARTICLE_MASK}' has shape {mask.shape}, expected ({n}, P)")
    values = np.empty(mask.shape + (len(fields),), dtype=np.float32)
    for i, name in enumerate(fields):
        v = np.asarray(g[name][()])
        if v.shape != mask.shape:
            raise DataError(f"{p}: '{PARTICLES_GROUP}/{name}' has shape {v.shape}, expected {mask.shape}")
        values[..., i] = v
    return values, mask, fields


def _read_own_h5(
    f: Any, p: Path, *, drop_invalid: bool | RowPolicy, constituents: bool, particles: bool = False
) -> tuple[JetTable, ReadReport]:
    fmt = _strings(f.attrs["format"])[0]
    if fmt != FORMAT_NAME:
        raise DataError(f"{p}: HDF5 'format' attribute is {fmt!r}, expected {FORMAT_NAME!r}")
    version = int(np.asarray(f.attrs.get("format_version", -1)))
    if version > FORMAT_VERSION:
        raise DataError(
            f"{p}: written in spikejet-jets format version {version}, this spikejet reads up to "
            f"{FORMAT_VERSION}; upgrade spikejet"
        )
    if version < 1:
        raise DataError(f"{p}: missing or invalid 'format_version' attribute ({version})")
    for attr, expected in (("feature_names", FEATURE_NAMES), ("class_names", CLASS_NAMES)):
        if attr not in f.attrs:
            raise DataError(f"{p}: missing root attribute {attr!r}; the file is not a complete spikejet file")
        found = _strings(f.attrs[attr])
        if found != expected:
            raise DataError(f"{p}: attribute {attr!r} does not match spikejet's: {_names_mismatch(found, expected)}")
    for name in ("X", "y"):
        if name not in f:
            raise DataError(f"{p}: missing dataset {name!r}; the file is not a complete spikejet file")
    X = np.asarray(f["X"][()])
    y = np.asarray(f["y"][()])
    if X.ndim != 2 or X.shape[1] != N_FEATURES:
        raise DataError(f"{p}: dataset 'X' has shape {X.shape}, expected (n, {N_FEATURES})")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise DataError(f"{p}: dataset 'y' has shape {y.shape} / dtype {y.dtype}, expected ({X.shape[0]},) integers")
    extra: dict[str, np.ndarray] = {}
    if "extra" in f:
        for name in sorted(f["extra"]):
            extra[name] = np.asarray(f["extra"][name][()])
    if constituents and CONSTITUENTS_KEY in f:
        extra[CONSTITUENTS_KEY] = np.asarray(f[CONSTITUENTS_KEY][()])
        if N_CONSTITUENTS_KEY in f:
            extra[N_CONSTITUENTS_KEY] = np.asarray(f[N_CONSTITUENTS_KEY][()])
    for name, v in extra.items():
        if v.shape[:1] != (X.shape[0],):
            raise DataError(f"{p}: dataset {name!r} has {v.shape[:1]} rows, expected {X.shape[0]}")
    parts = _read_particles(f, p, X.shape[0]) if particles and PARTICLES_GROUP in f else None
    return _assemble(
        X, y.astype(np.int64), p, "spikejet-h5", drop_invalid=drop_invalid, extra=extra,
        provenance=_provenance(f, p), particles=parts,
    )


def _read_zenodo_h5(f: Any, p: Path, *, drop_invalid: bool | RowPolicy) -> tuple[JetTable, ReadReport]:
    jets = f["jets"]
    if jets.ndim != 2:
        raise DataError(f"{p}: dataset 'jets' has shape {jets.shape}, expected a 2-D (jets x columns) array")
    ncol = int(jets.shape[1])
    n_labels = len(CLASS_LABELS)
    min_cols = max(ZENODO_FEATURE_COLUMNS) + 1 + n_labels + 1
    if ncol < min_cols:
        raise DataError(
            f"{p}: dataset 'jets' has {ncol} columns, the hls4ml layout needs at least {min_cols} "
            f"(features in columns {ZENODO_FEATURE_COLUMNS[0]}..{ZENODO_FEATURE_COLUMNS[-1]}, "
            f"one-hot labels in the last 6 but one)"
        )
    label_cols = tuple(range(ncol)[ZENODO_LABEL_SLICE])
    names: tuple[str, ...] | None = None
    if "jetFeatureNames" in f:
        names = _strings(f["jetFeatureNames"][()])
        if len(names) != ncol:
            raise DataError(f"{p}: 'jetFeatureNames' has {len(names)} names but 'jets' has {ncol} columns")
        wrong = [
            f"column {c} is {names[c]!r} (expected {e!r})"
            for c, e in zip(ZENODO_FEATURE_COLUMNS + label_cols, FEATURE_NAMES + CLASS_LABELS, strict=True)
            if names[c] != e
        ]
        if wrong:
            raise DataError(
                f"{p}: 'jetFeatureNames' does not match the hls4ml layout: {'; '.join(wrong[:FIRST_SHOWN])}"
                + (f" (and {len(wrong) - FIRST_SHOWN} more)" if len(wrong) > FIRST_SHOWN else "")
            )
    data = np.asarray(jets[()])
    if data.dtype.kind not in "fiub":
        raise DataError(f"{p}: dataset 'jets' holds {data.dtype} values, expected numbers; the file is damaged")
    if data.shape[0] == 0:
        raise DataError(f"{p}: the table is empty (0 jets); give a file with jets")
    X = data[:, list(ZENODO_FEATURE_COLUMNS)]  # narrowed in _assemble, after the range checks
    onehot = data[:, list(label_cols)]
    none_hot = np.all(onehot == 0, axis=1)
    good = np.all((onehot == 0) | (onehot == 1), axis=1) & ((onehot.sum(axis=1) == 1) | none_hot)
    if not good.all():
        rows = np.flatnonzero(~good)
        raise DataError(
            f"{p}: {rows.size} rows are not exactly one-hot in the label columns "
            f"{', '.join(CLASS_LABELS)} (first rows: {_rows(rows)}); the file is damaged"
        )
    y = np.where(none_hot, UNLABELLED, np.argmax(onehot, axis=1)).astype(np.int64)
    extra: dict[str, np.ndarray] = {}
    if names is not None:
        for col_name, key in ZENODO_EXTRA_COLUMNS.items():
            if col_name in names:
                extra[key] = as_float32(data[:, names.index(col_name)])
    return _assemble(X, y, p, "zenodo-h5", drop_invalid=drop_invalid, extra=extra)


# --------------------------------------------------------------------------- writing


def write(
    table: JetTable,
    path: str | os.PathLike[str],
    *,
    provenance: Mapping[str, Any] | None = None,
    particle_float: str = "float32",
) -> None:
    """Write ``table`` atomically as own HDF5 (``.h5``/``.hdf5``) or CSV (``.csv``).

    The same table (and provenance) always gives a byte-identical file. HDF5
    keeps ``extra`` columns (under ``extra/``), the optional constituents
    (``table.extra["constituents"]`` [n, k, 4] float32 with
    ``table.extra["n_constituents"]``), the per-particle arrays of
    ``table.particles`` (group ``particles/``: one [n, P] dataset per field, stored
    as ``particle_float`` (float32 or float16) or, for integer-valued fields, as the
    smallest integer type that holds them; plus ``mask``) and ``provenance`` (a JSON
    object). CSV keeps only the 16 features and the ``class`` column.
    """
    if particle_float not in PARTICLE_FLOATS:
        raise DataError(f"particle_float must be one of {', '.join(PARTICLE_FLOATS)}, got {particle_float!r}")
    if not isinstance(table, JetTable):
        raise DataError(f"can only write a JetTable, got {type(table).__name__}")
    p = Path(path)
    sfx = _suffix(p)
    if table.feature_names != FEATURE_NAMES or table.class_names != CLASS_NAMES:
        raise DataError(
            f"{p}: the table does not use spikejet's 16 features and 5 classes; "
            f"features: {_names_mismatch(table.feature_names, FEATURE_NAMES) or 'ok'}, "
            f"classes: {_names_mismatch(table.class_names, CLASS_NAMES) or 'ok'}"
        )
    if sfx in (".h5", ".hdf5"):
        _write_h5(table, p, provenance, particle_float)
    elif sfx == ".csv":
        if provenance:
            log.info("%s: CSV keeps no provenance; write .h5 to keep it", p)
        _write_csv(table, p)
    else:
        raise DataError(f"{p}: cannot write {sfx or '(no extension)'} files; use .h5 (own format) or .csv")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def _particle_storage(v: np.ndarray, particle_float: str, p: Path, name: str) -> np.ndarray:
    """The array as stored: exact integers when every value is one, else the float type."""
    if v.size and np.all(v == np.round(v)):
        for dt in _INT_STORAGE:
            info = np.iinfo(dt)
            if v.min() >= info.min and v.max() <= info.max:
                return v.astype(dt)
    if particle_float == "float16":
        big = np.abs(v) > np.finfo(np.float16).max
        if big.any():
            raise DataError(
                f"{p}: particle field {name!r} has values up to {float(np.abs(v).max()):g}, beyond float16; "
                "write it with particle_float='float32'"
            )
        return v.astype(np.float16)
    return v.astype(np.float32)


def _write_h5(
    table: JetTable, p: Path, provenance: Mapping[str, Any] | None, particle_float: str = "float32"
) -> None:
    import h5py

    from .. import __version__

    n = len(table)
    extra = dict(table.extra)
    cons = extra.pop(CONSTITUENTS_KEY, None)
    n_cons = extra.pop(N_CONSTITUENTS_KEY, None)
    if (cons is None) != (n_cons is None):
        raise DataError(
            f"{p}: give both extra[{CONSTITUENTS_KEY!r}] and extra[{N_CONSTITUENTS_KEY!r}], or neither"
        )
    if cons is not None:
        cons = np.asarray(cons)
        if cons.ndim != 3 or cons.shape[2] != CONSTITUENT_COMPONENTS:
            raise DataError(f"{p}: constituents must have shape (n, k, 4) (px,py,pz,E), got {cons.shape}")
        n_cons = np.asarray(n_cons)
        if n_cons.shape != (n,) or n_cons.dtype.kind not in "iu":
            raise DataError(f"{p}: n_constituents must be {n} integers, got {n_cons.shape} {n_cons.dtype}")
        if n_cons.size and (n_cons.min() < 0 or n_cons.max() > cons.shape[1]):
            raise DataError(f"{p}: n_constituents must lie in 0..{cons.shape[1]}")
    if table.particles is not None and PARTICLE_MASK in table.particle_fields:
        raise DataError(f"{p}: a particle field may not be called {PARTICLE_MASK!r} (the mask's dataset name)")
    for name, v in extra.items():
        if np.asarray(v).dtype.kind not in "biuf":
            raise DataError(f"{p}: extra column {name!r} is not numeric ({np.asarray(v).dtype}); cannot store it")
        if "/" in name or not name:
            raise DataError(f"{p}: extra column name {name!r} is not a valid dataset name")
    prov_text = None
    if provenance is not None:
        try:
            prov_text = json.dumps(dict(provenance), sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise DataError(f"provenance must be JSON-serializable: {exc}") from exc

    def chunks(shape: tuple[int, ...], rows: int) -> tuple[int, ...]:
        return (max(1, min(shape[0], rows)),) + tuple(shape[1:])

    def dataset(group: Any, name: str, data: np.ndarray, rows: int = CHUNK_ROWS) -> None:
        group.create_dataset(
            name, data=data, chunks=chunks(data.shape, rows), compression="gzip",
            compression_opts=GZIP_LEVEL, shuffle=True, track_times=False,
        )

    str_dt = h5py.string_dtype()
    with atomic_path(p) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT_NAME
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        f.attrs.create("feature_names", np.array(FEATURE_NAMES, dtype=object), dtype=str_dt)
        f.attrs.create("class_names", np.array(CLASS_NAMES, dtype=object), dtype=str_dt)
        f.attrs["spikejet_version"] = __version__
        if prov_text is not None:
            f.attrs["provenance"] = prov_text
        dataset(f, "X", np.ascontiguousarray(table.X, dtype=np.float32))
        dataset(f, "y", table.y.astype(np.int8))
        if extra:
            g = f.create_group("extra")
            for name in sorted(extra):
                dataset(g, name, np.ascontiguousarray(extra[name]))
        if cons is not None:
            dataset(f, CONSTITUENTS_KEY, np.ascontiguousarray(cons, dtype=np.float32), CONSTITUENT_CHUNK_ROWS)
            dataset(f, N_CONSTITUENTS_KEY, n_cons.astype(np.int16))
        if table.particles is not None:
            g = f.create_group(PARTICLES_GROUP)
            g.attrs.create("fields", np.array(table.particle_fields, dtype=object), dtype=str_dt)
            for i, name in enumerate(table.particle_fields):
                stored = _particle_storage(table.particles[..., i], particle_float, p, name)
                dataset(g, name, np.ascontiguousarray(stored), PARTICLE_CHUNK_ROWS)
            dataset(g, PARTICLE_MASK, table.particle_mask.astype(np.uint8), PARTICLE_CHUNK_ROWS)


def _write_csv(table: JetTable, p: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = [pc.cast(pa.array(table.X[:, j]), pa.string()) for j in range(N_FEATURES)]
    cols.append(pa.array(np.asarray(CLASS_NAMES, dtype=object)[table.y]))
    lines = pc.binary_join_element_wise(*cols, ",")
    header = ",".join((*FEATURE_NAMES, CLASS_COLUMN))
    body = "\n".join(lines.to_pylist())
    with atomic_path(p) as tmp:
        tmp.write_text(header + "\n" + body + "\n", encoding="utf-8")
