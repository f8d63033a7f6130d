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
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError
from ..io import atomic_path, write_json, write_text

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
    "now",
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


def model_file(stage: str) -> str:
    return f"{check_name(stage, 'stage name')}.pt"


def history_file(stage: str) -> str:
    return f"history_{check_name(stage, 'stage name')}.json"


def predictions_file(stage: str) -> str:
    return f"{PREDICTIONS_DIR}/{check_name(stage, 'stage name')}_test.npz"


def figure_file(name: str) -> str:
    return f"{FIGURES_DIR}/{check_name(name, 'figure name')}.png"


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
        if root.exists() and not root.is_dir():
            raise ConfigError(f"--out {root} is a file; give a directory")
        if root.is_dir() and any(root.iterdir()):
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
        root.mkdir(parents=True, exist_ok=True)

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
                       config: Mapping[str, Any], timings: Mapping[str, float]) -> None:
        """(Re)write ``run.json``: what made this directory and which files belong to it."""
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
                "artifacts": list(self.artifacts),
            },
        )
