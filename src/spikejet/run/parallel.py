"""Two workers for one run: the stages of worker 1 (the particle-level study) in a second process.

Every stage runs on one torch thread (:data:`spikejet.runtime.ANN_TORCH_THREADS`) and draws its
seeds from the run seed and its own name alone, so a stage gives the same numbers whichever
process runs it: a run with ``jobs=2`` writes the same ``metrics.json``, predictions and model
files as with ``jobs=1`` (tests/test_parallel_run.py), on two cores in about half the time.

How: a second process (``spawn``: a fresh interpreter that gets the config and nothing else) runs
the worker-1 stages (:attr:`~spikejet.run.registry.StageSpec.worker`) with what they need (load
and split, recomputed: the same jets) as a run of its own in the hidden staging directory
``RUN/.worker1``, without progress bars; its stage messages go to stderr as the main process's do.
The main process runs the other stages meanwhile, then waits for it, moves its files into the
run directory and adopts its results (metrics entries, histories, figures, models; not the
stages' in-memory ``extra``), in registry order, as if it had run them itself; the report comes
last. The staging directory is removed whatever happens. A failure in either process ends the
run with that error (``run.json``: ``failed: <stage>``); an interrupt or the end of the main
process ends the second one.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..io import atomic_path
from .context import Figure, StageResult
from .registry import get_stage, stage_names, with_needs

__all__ = ["Plan", "plan", "Worker", "STAGING_DIR", "SHARED_STAGES"]

#: The second worker's run directory, inside the run's (removed when the run ends).
STAGING_DIR = ".worker1"
#: The stages both workers run (the jets; cheap, and the same in both).
SHARED_STAGES = ("load", "split")
#: What the second worker writes that the main one writes too (never adopted).
_SHARED_FILES = ("config.yaml", "metrics.json", "split.npz", "test.h5", "report.html")
_PAYLOAD = "worker1.pkl"


@dataclass(frozen=True)
class Plan:
    """Which stages each worker runs (registry order; the shared ones in ``main`` only)."""

    main: tuple[str, ...]
    side: tuple[str, ...]


def plan(wanted: Sequence[str], cfg: RunConfig, jobs: int) -> Plan | None:
    """The two workers' stages for a run of ``wanted`` (registry order, needs included), or None
    to run them in one process: ``jobs`` < 2, no worker-1 stage, nothing for the main worker to do
    meanwhile, or a dependency between the two sides beyond the shared stages."""
    if jobs < 2:
        return None
    side = [n for n in wanted if get_stage(n).worker == 1]
    main = [n for n in wanted if n not in side]
    if not side or all(n in (*SHARED_STAGES, "report") for n in main):
        return None
    if not set(with_needs(side, cfg)) - set(side) <= set(SHARED_STAGES):
        return None
    if any(set(get_stage(n).needs_for(cfg)) & set(side) for n in main):
        return None
    from ..config import resolve_config

    if resolve_config(cfg.to_dict()) != cfg:  # the second process gets the config as its plain dict
        return None
    return Plan(tuple(main), tuple(side))


class Worker:
    """The second process of a run: started at once, polled between the main worker's stages,
    joined (:meth:`adopt`) before the report, stopped (:meth:`stop`) whatever happens."""

    def __init__(self, cfg: RunConfig, root: Path, stages: Sequence[str], *, progress: bool,
                 runner: Callable[..., Any]) -> None:
        """``runner``: :func:`spikejet.run.runner.run` (handed over by reference, a module-level
        function the fresh interpreter imports)."""
        import multiprocessing as mp

        self.stages = tuple(stages)
        self.dir = Path(root) / STAGING_DIR
        #: The stage the second worker failed in, once known.
        self.failed: str | None = None
        self._payload: dict[str, Any] | None = None
        shutil.rmtree(self.dir, ignore_errors=True)
        self.proc = mp.get_context("spawn").Process(
            target=_worker_main, args=(runner, cfg.to_dict(), str(self.dir), self.stages, progress, os.getpid()),
            name="spikejet-worker1", daemon=True)
        self.proc.start()

    def check(self) -> None:
        """Raise the second worker's error now if it has already failed (the run stops early)."""
        if not self.proc.is_alive():
            self._result()

    def _result(self) -> dict[str, Any]:
        """The payload of the finished second worker (waits for it); its error raised."""
        if self._payload is None:
            self.proc.join()
            try:
                with open(self.dir / _PAYLOAD, "rb") as fh:
                    self._payload = pickle.load(fh)
            except (OSError, pickle.UnpicklingError, EOFError):
                self._payload = {"error": RuntimeError(
                    f"the second worker (stages {', '.join(self.stages)}) ended without a result "
                    f"(exit code {self.proc.exitcode})"), "failed": ", ".join(self.stages)}
        if "error" in self._payload:
            self.failed = str(self._payload["failed"])
            raise self._payload["error"]
        return self._payload

    def adopt(self, state: Any) -> None:
        """Wait for the second worker, then move its files into the run directory and its results
        into ``state`` (a :class:`~spikejet.run.runner.RunState`), in registry order; its error if it failed."""
        payload = self._result()
        rd = state.rundir
        clash = [a for a in payload["artifacts"] if a in rd.artifacts and a not in _SHARED_FILES]
        if clash:
            raise RuntimeError(f"both workers wrote {', '.join(clash)}")
        for rel in payload["artifacts"]:
            if rel not in _SHARED_FILES:
                os.replace(self.dir / rel, rd.path(rel))
        from ..report.html import ReportFigure
        from .rundir import METRICS_FILE

        for name in self.stages:
            state.results[name] = payload["results"][name]
            state.keys[name] = payload["keys"][name]
            state.timings[name] = payload["timings"][name]
        state.metrics.update(payload["metrics"])
        state.figures.extend(ReportFigure(name=n, path=rd.root / rel, caption=c, section=s)
                             for n, rel, c, s in payload["figures"])
        _registry_order(state)
        rd.write_json(METRICS_FILE, state.metrics)
        self.stop()
        for category, message in payload["warnings"]:
            warnings.warn(message, category, stacklevel=2)

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()
        shutil.rmtree(self.dir, ignore_errors=True)


def _registry_order(state: Any) -> None:
    """Results, keys, timings, metrics entries and figures in the order one process would have made them."""
    rank = {n: i for i, n in enumerate(stage_names())}
    end = len(rank)
    state.results = dict(sorted(state.results.items(), key=lambda kv: rank.get(kv[0], end)))
    state.keys = {n: state.keys[n] for n in state.results if n in state.keys}
    state.timings = dict(sorted(state.timings.items(), key=lambda kv: rank.get(kv[0], end)))
    key_rank: dict[str, int] = {}
    fig_rank: dict[str, int] = {}
    for name, result in state.results.items():
        key_rank.setdefault(state.keys.get(name, name), rank.get(name, end))
        for f in result.figures:
            fig_rank[f.name] = rank.get(name, end)
    state.metrics = dict(sorted(state.metrics.items(), key=lambda kv: key_rank.get(kv[0], end)))
    order = {id(f): i for i, f in enumerate(state.figures)}
    state.figures = sorted(state.figures, key=lambda f: (fig_rank.get(f.name, end), order[id(f)]))


# --------------------------------------------------------------------------- the second process


def _portable(result: StageResult) -> StageResult:
    """What the main process needs of a committed result (its files are written, its figures saved)."""
    figs = [Figure(name=f.name, caption=f.caption, section=f.section) for f in result.figures]
    return replace(result, files={}, figures=figs, extra={}, data=None)


def _portable_error(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _watch_parent(pid: int) -> None:
    """End this process when the main one is gone (killed without a chance to stop it)."""
    def loop() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != pid:
                os._exit(3)

    threading.Thread(target=loop, name="spikejet-parent-watch", daemon=True).start()


def _failed_stage(staging: Path, default: str) -> str:
    import json

    try:
        status = str(json.loads((staging / "run.json").read_text(encoding="utf-8"))["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return default
    return status.split(": ", 1)[1] if ": " in status else default


def _worker_log(msg: str) -> None:
    """A stage line of the second worker on the shared stderr; on a terminal it first clears the
    line, where the main worker's progress bar may stand (the bar redraws below it)."""
    clear = "\r\x1b[2K" if sys.stderr.isatty() else ""
    print(f"{clear}spikejet: {msg}", file=sys.stderr, flush=True)


def _worker_main(runner: Callable[..., Any], config: dict[str, Any], staging: str, stages: Sequence[str],
                 progress: bool, parent: int) -> None:
    """The second process: run ``stages`` into ``staging``, leave the payload for :meth:`Worker.adopt`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops this one
    _watch_parent(parent)
    from ..config import resolve_config

    root = Path(staging)
    payload: dict[str, Any]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            state = runner(resolve_config(config), root, progress=False, stages=list(stages),
                           log=_worker_log if progress else None)
        keys = {n: state.keys[n] for n in stages}
        own = {f.name for n in stages for f in state.results[n].figures}
        payload = {
            "results": {n: _portable(state.results[n]) for n in stages},
            "keys": keys,
            "metrics": {k: state.metrics[k] for k in keys.values() if k in state.metrics},
            "timings": {n: state.timings[n] for n in stages},
            "figures": [(f.name, str(Path(f.path).relative_to(root)), f.caption, f.section)
                        for f in state.figures if f.name in own],
            "artifacts": list(state.rundir.artifacts),
            "warnings": _portable_warnings(caught),
        }
    except BaseException as exc:  # noqa: BLE001 -- handed to the main process, which raises it
        payload = {"error": _portable_error(exc), "failed": _failed_stage(root, stages[0])}
    with atomic_path(root / _PAYLOAD) as tmp, open(tmp, "wb") as fh:
        pickle.dump(payload, fh)


def _portable_warnings(caught: Sequence[warnings.WarningMessage]) -> list[tuple[type[Warning], str]]:
    out = []
    for w in caught:
        cat = w.category if isinstance(w.category, type) else UserWarning
        try:
            pickle.dumps(cat)
        except Exception:
            cat = UserWarning
        out.append((cat, str(w.message)))
    return out
