"""Chunked reading of spikejet's own HDF5 jet files, for files larger than memory.

:func:`open_h5` checks a file's layout (the checks of :func:`spikejet.data.read`
on an own ``.h5``: format name and version, feature and class names, datasets
``X`` [n, 16] float and ``y`` [n] integers) without reading its rows;
:func:`iter_chunks` then yields ``(X, y)`` chunks of ``chunk_size`` rows, read
one at a time from the datasets (h5py reads only the HDF5 chunks a slice
touches), and :func:`read_rows` reads one row range (what a Dask task reads).
Every row range is checked like a whole table is checked: NaN/inf features and
labels outside the classes raise :class:`~spikejet.errors.DataError` naming the
file and the row numbers in the file.

Only spikejet's own ``.h5`` is streamed; convert other formats with
``spikejet data convert FILE out.h5``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, RowError
from .formats import FORMAT_NAME, FORMAT_VERSION, HDF5_SIGNATURE, as_float32, invalid_rows
from .schema import CLASS_NAMES, FEATURE_NAMES, N_FEATURES

__all__ = ["H5Layout", "open_h5", "chunk_ranges", "iter_chunks", "read_rows", "DEFAULT_CHUNK_ROWS"]

#: Rows per chunk when none is given (64 KiB of features per 1,024 rows).
DEFAULT_CHUNK_ROWS = 65536
#: How many row numbers an error lists.
_SHOWN = 5


@dataclass(frozen=True)
class H5Layout:
    """What :func:`open_h5` found: the file, its row count and names."""

    path: Path
    n_rows: int
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    version: int


def _strings(values: Any) -> tuple[str, ...]:
    arr = np.atleast_1d(np.asarray(values))
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in arr.tolist())


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _open(p: Path):
    import h5py

    if not p.exists():
        raise DataError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise DataError(f"{p}: is a directory; give a spikejet .h5 jet file")
    with open(p, "rb") as fh:
        head = fh.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE:
        raise DataError(f"{p}: not an HDF5 file; chunked evaluation reads spikejet .h5 files "
                        f"(convert with 'spikejet data convert {p.name} jets.h5')")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise DataError(f"{p}: cannot open as HDF5: the file is corrupt or truncated ({_short(exc)})") from exc


def _layout(f: Any, p: Path) -> H5Layout:
    fmt = f.attrs.get("format")
    if fmt is None:
        what = "a Zenodo hls4ml file" if "jets" in f else "not a spikejet jet file"
        raise DataError(f"{p}: {what} (no root attribute format={FORMAT_NAME!r}); chunked evaluation "
                        f"reads spikejet .h5 files (convert with 'spikejet data convert {p.name} jets.h5')")
    if _strings(fmt)[0] != FORMAT_NAME:
        raise DataError(f"{p}: HDF5 'format' attribute is {_strings(fmt)[0]!r}, expected {FORMAT_NAME!r}")
    try:
        version = int(np.asarray(f.attrs.get("format_version", -1)))
    except (TypeError, ValueError):
        version = -1
    if version > FORMAT_VERSION:
        raise DataError(f"{p}: written in {FORMAT_NAME} format version {version}, this spikejet reads up to "
                        f"{FORMAT_VERSION}; upgrade spikejet")
    if version < 1:
        raise DataError(f"{p}: missing or invalid 'format_version' attribute ({version})")
    names = {}
    for attr, expected in (("feature_names", FEATURE_NAMES), ("class_names", CLASS_NAMES)):
        if attr not in f.attrs:
            raise DataError(f"{p}: missing root attribute {attr!r}; the file is not a complete spikejet file")
        found = _strings(f.attrs[attr])
        if found != tuple(expected):
            raise DataError(f"{p}: attribute {attr!r} does not match spikejet's ({len(found)} names: "
                            f"{', '.join(found[:_SHOWN])}...)")
        names[attr] = found
    for name in ("X", "y"):
        if name not in f or not hasattr(f[name], "shape"):
            raise DataError(f"{p}: missing dataset {name!r}; the file is not a complete spikejet file")
    X, y = f["X"], f["y"]
    if len(X.shape) != 2 or X.shape[1] != N_FEATURES or X.dtype.kind != "f":
        raise DataError(f"{p}: dataset 'X' has shape {X.shape} / dtype {X.dtype}, expected (n, {N_FEATURES}) floats")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise DataError(f"{p}: dataset 'y' has shape {y.shape} / dtype {y.dtype}, expected ({X.shape[0]},) integers")
    if X.shape[0] == 0:
        raise DataError(f"{p}: the table is empty (0 jets); give a file with jets")
    return H5Layout(path=p, n_rows=int(X.shape[0]), feature_names=names["feature_names"],
                    class_names=names["class_names"], version=version)


def open_h5(path: str | os.PathLike[str]) -> H5Layout:
    """Check that ``path`` is a complete spikejet ``.h5`` jet file; its layout (rows are not read)."""
    p = Path(path)
    f = _open(p)
    try:
        with f:
            return _layout(f, p)
    except DataError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise DataError(f"{p}: the HDF5 file is corrupt or truncated ({_short(exc)}); re-create it") from exc


def _check_size(chunk_size: Any) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise ConfigError(f"chunk size must be a positive number of rows, got {chunk_size!r}")
    return int(chunk_size)


def chunk_ranges(n_rows: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0..n_rows`` in chunks of ``chunk_size`` rows (last one shorter)."""
    size = _check_size(chunk_size)
    return [(a, min(a + size, n_rows)) for a in range(0, n_rows, size)]


def _rows(f: Any, p: Path, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.asarray(f["X"][start:stop])
        y = np.asarray(f["y"][start:stop]).astype(np.int64)
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise DataError(f"{p}: cannot read rows {start}..{stop - 1}: the file is corrupt or truncated "
                        f"({_short(exc)})") from exc
    bad, problems = invalid_rows(X, offset=start, rows_label="rows")
    if bad.any():
        raise RowError(f"{p}, rows {start}..{stop - 1}: {', '.join(problems)}", "drop_invalid")
    X = as_float32(X)
    out = np.flatnonzero((y < 0) | (y >= len(CLASS_NAMES)))
    if out.size:
        rows = ", ".join(str(start + int(r)) for r in out[:_SHOWN])
        raise DataError(f"{p}: {out.size} labels in rows {start}..{stop - 1} are not class indices "
                        f"0..{len(CLASS_NAMES) - 1} (rows: {rows})")
    return X, y


def read_rows(path: str | os.PathLike[str], start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start..stop-1`` of a spikejet ``.h5``: ``(X float32 [k, 16], y int64 [k])``, checked."""
    p = Path(path)
    f = _open(p)
    with f:
        lay = _layout(f, p)
        if not 0 <= start < stop <= lay.n_rows:
            raise ConfigError(f"{p}: row range {start}..{stop} is outside 0..{lay.n_rows}")
        return _rows(f, p, int(start), int(stop))


def iter_chunks(path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK_ROWS
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(X, y)`` chunks of ``chunk_size`` rows of a spikejet ``.h5``, in file order.

    The layout is checked before the first chunk (so a bad file fails at once);
    the file stays open while the iterator runs and closes when it ends or is
    dropped. Only one chunk is in memory at a time.
    """
    size = _check_size(chunk_size)
    p = Path(path)
    f = _open(p)
    try:
        lay = _layout(f, p)
    except BaseException:
        f.close()
        raise
    return _gen(f, p, lay.n_rows, size)


def _gen(f: Any, p: Path, n: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with f:
        for a in range(0, n, size):
            yield _rows(f, p, a, min(a + size, n))
