"""The run directory: the one object that knows file names, writes artifacts and keeps the manifest.

Layout (every write atomic, every name validated, nothing written outside the root)::

    run.json            manifest: fingerprint, status, per-stage seconds, artifact list
    config.yaml         the resolved config (reading it back gives the same config)
    split.npz           train/val/test row indices (and the subset rows, if any)
    test.h5             the test jets as a spikejet file ('spikejet evaluate' input)
    <stage>.pt          each model stage's model file (spikejet.models.file)
    history_<stage>.json  training curves
    metrics.json        one entry per finished model stage (spikejet.evaluate.metrics)
    predictions/<stage>_test.npz   labels and class probabilities on the test set
    figures/*.png, report.html

Commands other than ``run`` (``evaluate``, ``convert``, ``deploy``) write through the
same object, so they share the never-overwrite-a-foreign-folder rule.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError
from ..io import atomic_path, check_name, check_output_dir, write_json, write_text

__all__ = [
    "RunDir",
    "MANIFEST",
    "METRICS_FILE",
    "CONFIG_FILE",
    "SPLIT_FILE",
    "TEST_SET_FILE",
    "REPORT_FILE",
    "FIGURES_DIR",
    "PREDICTIONS_DIR",
    "model_file",
    "history_file",
    "predictions_file",
    "figure_file",
    "check_name",
    "check_complete",
    "now",
    "LOCK_FILE",
]

MANIFEST = "run.json"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.npz"
TEST_SET_FILE = "test.h5"
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
PREDICTIONS_DIR = "predictions"
MANIFEST_FORMAT = "spikejet-run"
#: The writer's lock: ``{"pid": ..., "host": ...}``; never listed as an artifact.
LOCK_FILE = "run.lock"

def model_file(stage: str) -> str:
    return f"{check_name(stage, 'stage name')}.pt"


def history_file(stage: str) -> str:
    return f"history_{check_name(stage, 'stage name')}.json"


def predictions_file(stage: str) -> str:
    return f"{PREDICTIONS_DIR}/{check_name(stage, 'stage name')}_test.npz"


def figure_file(name: str) -> str:
    return f"{FIGURES_DIR}/{check_name(name, 'figure name')}.png"


def check_complete(root: str | Path, what: str) -> None:
    """Refuse to read ``what`` from a run directory whose run did not complete."""
    m = _read_manifest(Path(root))
    if m is None:
        return  # not a run directory (a file copied elsewhere): nothing to say
    status = str(m.get("status", "?"))
    if status != "complete":
        if status == "running" and _lock_holder(Path(root)) is None:
            status = "running, but its writer is gone (killed)"
        raise ConfigError(
            f"{what} comes from a run that did not complete (run.json status: {status}); "
            "re-run it (same command) or use a complete run"
        )


def _lock_holder(root: Path) -> dict[str, Any] | None:
    """The live writer holding ``root``'s lock, or None (no lock, or its process is gone)."""
    try:
        info = json.loads((root / LOCK_FILE).read_text(encoding="utf-8"))
        pid, host = int(info["pid"]), str(info["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if host != socket.gethostname():
        return info  # cannot tell: assume alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return info
    return info


def now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        d = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return d if isinstance(d, dict) and d.get("format") == MANIFEST_FORMAT else None


class RunDir:
    """A run directory: :meth:`prepare` it, write artifacts through it, keep its manifest."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.artifacts: list[str] = []
        self._locked = False

    # ------------------------------------------------------------------ set-up

    def prepare(self, fingerprint: str, *, overwrite: bool = False) -> None:
        """Create the directory or make it ready for a run with ``fingerprint``; never clobber anything else.

        An existing directory is reused when it is empty, or holds this same run (same
        fingerprint), or a spikejet run that did not complete (failed, interrupted), or
        another spikejet run and ``overwrite`` is set; the old run's artifacts are removed
        first. A non-empty directory that is not a spikejet
        run directory is never touched.
        """
        root = self.root
        check_output_dir(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {root} cannot be made ({exc.strerror}); choose another --out") from None
        self.lock()
        try:
            self._prepare(fingerprint, overwrite)
        except BaseException:
            self.unlock()
            raise

    def _prepare(self, fingerprint: str, overwrite: bool) -> None:
        root = self.root
        if any(p.name != LOCK_FILE for p in root.iterdir()):
            manifest = _read_manifest(root)
            if manifest is None:
                raise ConfigError(
                    f"--out {root} is not empty and is not a spikejet run directory; choose another --out"
                )
            finished = str(manifest.get("status", "")) == "complete"
            if manifest.get("fingerprint") != fingerprint and not overwrite and finished:
                raise ConfigError(
                    f"--out {root} holds a different run ({manifest.get('summary', '?')}, made "
                    f"{manifest.get('created', '?')}); pass --overwrite to replace it or choose another --out"
                )
            self._remove_artifacts(manifest)

    def lock(self) -> None:
        """Take the directory's writer lock; ConfigError if a live process holds it."""
        path = self.root / LOCK_FILE
        info = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _lock_holder(self.root)
                if holder is not None:
                    raise ConfigError(
                        f"--out {self.root} is being written by another spikejet (pid {holder.get('pid')} on "
                        f"{holder.get('host')}); wait for it to finish or choose another --out"
                    ) from None
                path.unlink(missing_ok=True)  # a dead writer's lock
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(info, fh)
            self._locked = True
            return
        raise ConfigError(f"--out {self.root}: cannot take the writer lock {path}; remove it if no spikejet runs")

    def unlock(self) -> None:
        if self._locked:
            (self.root / LOCK_FILE).unlink(missing_ok=True)
            self._locked = False

    def _remove_artifacts(self, manifest: Mapping[str, Any]) -> None:
        root = self.root.resolve()
        for rel in manifest.get("artifacts", []):
            p = (self.root / str(rel)).resolve()
            if p.is_relative_to(root) and p != root and p.is_file():
                p.unlink()
        for sub in (FIGURES_DIR, PREDICTIONS_DIR):
            d = self.root / sub
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()

    # ------------------------------------------------------------------ writing

    def path(self, rel: str) -> Path:
        """``root / rel`` (checked to stay inside the root), recorded as an artifact of this run."""
        parts = Path(rel).parts
        if not parts or Path(rel).is_absolute() or any(p in ("..", "") for p in parts):
            raise ConfigError(f"artifact name {rel!r} would leave the run directory")
        for p in parts:
            check_name(p, "artifact name")
        if rel not in self.artifacts:
            self.artifacts.append(rel)
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, rel: str, obj: Any) -> Path:
        p = self.path(rel)
        write_json(p, obj)
        return p

    def write_text(self, rel: str, text: str) -> Path:
        p = self.path(rel)
        write_text(p, text)
        return p

    def write_npz(self, rel: str, **arrays: Any) -> Path:
        p = self.path(rel)
        with atomic_path(p) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return p

    def write_with(self, rel: str, writer: Callable[[Path], Any]) -> Path:
        """Let a library writer (which writes atomically itself) write ``rel``."""
        p = self.path(rel)
        writer(p)
        return p

    def save_figure(self, rel: str, fig: Any) -> Path:
        from ..report.style import save_figure

        return save_figure(fig, self.path(rel))

    # ------------------------------------------------------------------ manifest

    def write_manifest(self, *, status: str, created: str, fingerprint: str, summary: str,
                       config: Mapping[str, Any], timings: Mapping[str, float],
                       run: Mapping[str, Any] | None = None) -> None:
        """(Re)write ``run.json``: what made this directory and which files belong to it (``run``:
        how the run ran, e.g. its workers and wall-clock seconds, after the stage seconds)."""
        write_json(
            self.root / MANIFEST,
            {
                "format": MANIFEST_FORMAT,
                "spikejet_version": __version__,
                "fingerprint": fingerprint,
                "summary": summary,
                "status": status,
                "created": created,
                "config": dict(config),
                "stage_seconds": dict(timings),
                **dict(run or {}),
                "artifacts": list(self.artifacts),
            },
        )
