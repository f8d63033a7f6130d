"""Atomic file writes: an interrupted run never leaves a half-written artifact.

Every artifact is written to a temporary file in the destination folder and then
renamed into place with :func:`os.replace`, which is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["atomic_path", "json_text", "write_json", "write_text", "write_bytes", "check_name",
           "check_output_dir", "check_output_file"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed
    and ``path`` is left untouched. The temporary name keeps the final suffix so
    that libraries which look at extensions (h5py, pyarrow) behave the same.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sfx = dest.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".part{sfx}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give artifacts the permissions of a normal open().
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def json_text(obj: Any) -> str:
    """``obj`` as indented JSON text (numpy arrays and scalars, paths allowed), newline-terminated."""
    return json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json_text(obj))


#: A name that may become part of a file name: letters, digits, '_', '-', '.', no leading dot.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def check_name(name: Any, what: str = "name") -> str:
    """``name`` if it is safe inside a file name (no separators, no '..'), else ConfigError."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"{what} {name!r} cannot be used in a file name (letters, digits, '_', '-', '.' only); "
            "the file that holds it may be corrupt or crafted"
        )
    return name


def _first_existing(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_creatable(p: Path, flag: str) -> None:
    anc = _first_existing(p.parent if not p.exists() else p)
    if not anc.is_dir():
        raise ConfigError(f"{flag} {p}: {anc} is a file, so nothing can be created below it; choose another {flag}")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {p}: {anc} is not writable; choose a writable place for {flag}")


def check_output_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """Raise ConfigError unless ``path`` is, or can be made as, a writable directory (checked before work)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag} {p} is a file; give a directory")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(f"{flag} {p} is not writable; choose a writable directory")
        return p
    _check_creatable(p, flag)
    return p


def check_output_file(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """Raise ConfigError unless a file can be written at ``path`` (checked before work)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag} {p} is a directory; give a file name")
    if p.exists():
        if not os.access(p.parent, os.W_OK | os.X_OK):
            raise ConfigError(f"{flag} {p}: its folder is not writable; choose another place")
        return p
    _check_creatable(p, flag)
    return p
