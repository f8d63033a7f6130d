"""The embedded default sample and source resolution (``default`` / ``openml`` / a file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from .formats import read
from .table import JetTable

__all__ = [
    "DEFAULT_SOURCE",
    "OPENML_SOURCE",
    "default_sample_path",
    "default_provenance",
    "load_default",
    "load",
]

#: Names that :func:`load` resolves without a file.
DEFAULT_SOURCE = "default"
OPENML_SOURCE = "openml"
#: The embedded sample and its provenance, inside the installed package.
DEFAULT_DIR_NAME = "default"
DEFAULT_FILE_NAME = "jets.h5"
PROVENANCE_FILE_NAME = "provenance.json"


def default_sample_path() -> Path:
    """Path of the embedded default sample (``spikejet/data/default/jets.h5``); it may not exist."""
    return Path(__file__).resolve().with_name(DEFAULT_DIR_NAME) / DEFAULT_FILE_NAME


def _missing(path: Path) -> DataError:
    return DataError(
        f"the embedded default sample {path} is missing; reinstall spikejet (or regenerate it "
        f"with the sample generator), or pass your own file with --data FILE"
    )


def load_default(*, drop_invalid: bool = False, particles: bool = False, **rows: bool) -> JetTable:
    """Read the embedded default sample (``particles=True``: with its constituents)."""
    path = default_sample_path()
    if not path.is_file():
        raise _missing(path)
    return read(path, drop_invalid=drop_invalid, particles=particles, **rows)


def default_provenance() -> dict[str, Any] | None:
    """How the default sample was made (``provenance.json`` beside it), or None if absent."""
    path = default_sample_path().with_name(PROVENANCE_FILE_NAME)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); reinstall spikejet") from exc


def load(
    source: str,
    *,
    drop_invalid: bool = False,
    drop_unlabelled: bool = False,
    drop_duplicates: bool = False,
    particles: bool = False,
) -> JetTable:
    """``"default"`` -> the embedded sample, ``"openml"`` -> OpenML 42468 (downloads on first
    use, then sklearn's cache), anything else -> :func:`~spikejet.data.read` of that file.
    A file literally named ``default`` or ``openml`` can be given as ``./default``.
    ``drop_unlabelled`` / ``drop_duplicates``: the public files' quirks (see
    :func:`~spikejet.data.read`); ``particles``: also load per-particle arrays."""
    src = str(source)
    rows = dict(drop_unlabelled=drop_unlabelled, drop_duplicates=drop_duplicates)
    if src == DEFAULT_SOURCE:
        return load_default(drop_invalid=drop_invalid, particles=particles, **rows)
    if src == OPENML_SOURCE:
        from .openml import fetch_openml

        return fetch_openml(drop_invalid=drop_invalid, **rows)
    return read(src, drop_invalid=drop_invalid, particles=particles, **rows)
