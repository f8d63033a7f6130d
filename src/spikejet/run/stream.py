"""Evaluation of a model file on a jet file larger than memory: chunks, optionally on Dask.

:func:`stream_scores` reads a spikejet ``.h5`` in chunks of rows
(:mod:`spikejet.data.stream`), scores each chunk and keeps only what the
metrics need: the task labels, the class probabilities (float64, 5 per jet)
and the class counts of the data. Each chunk is scored as the in-memory
evaluation scores the whole table (:func:`spikejet.stages.train_ann.evaluate_bundle`:
the bundle's ``predict_proba`` on one torch thread), except that spiking models
run on the inference engine (:mod:`spikejet.snn.engine`) instead of the
reference simulator: the same scores (on the test machine bit for bit, see
``docs/snn.md``), several times faster. Metrics computed from the result are
those of the single-process run.

With ``scheduler`` the chunks become tasks on a Dask cluster: ``"local"``
starts a :class:`distributed.LocalCluster` of :data:`LOCAL_WORKERS` worker
processes for the call; any other value is a scheduler address
(``tcp://host:8786``), reached within :data:`CONNECT_TIMEOUT_S` seconds or a
:class:`~spikejet.errors.ConfigError`. A task gets the model and data paths
and a row range, so workers must see the files at the same (absolute) paths.
Results come back in file order whatever order the tasks finish in.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.schema import CLASS_NAMES
from ..data.stream import (
    DEFAULT_CHUNK_ROWS,
    H5Layout,
    chunk_ranges,
    iter_chunks,
    open_h5,
    read_rows,
)
from ..errors import ConfigError

__all__ = ["StreamResult", "stream_scores", "check_stream_data", "score_chunk", "LOCAL", "LOCAL_WORKERS",
           "CONNECT_TIMEOUT_S", "DEFAULT_CHUNK_ROWS"]

#: ``--scheduler local``: a LocalCluster started for the evaluation.
LOCAL = "local"
#: Worker processes of that cluster (one thread each: the engine runs one core per task).
LOCAL_WORKERS = 2
#: Seconds to reach a scheduler before giving up with one clear error.
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class StreamResult:
    """What a streamed evaluation kept: task labels, class probabilities, data class counts."""

    labels: np.ndarray
    scores: np.ndarray
    class_counts: np.ndarray
    n_chunks: int

    @property
    def n_jets(self) -> int:
        return int(self.labels.shape[0])


def _data_path(data: str | os.PathLike[str]) -> Path:
    from ..data.default import DEFAULT_SOURCE, default_sample_path

    return default_sample_path() if str(data) == DEFAULT_SOURCE else Path(data)


def check_stream_data(bundle: Any, data: str | os.PathLike[str]) -> H5Layout:
    """The layout of ``data`` (a spikejet ``.h5`` or ``default``), checked against the model's
    features and classes; nothing is read but the file's attributes."""
    lay = open_h5(_data_path(data))
    bundle.check_table(lay.feature_names, lay.class_names, where=f"data {data}")
    return lay


# ------------------------------------------------------------------- scoring one chunk


def _softmax(logits: np.ndarray) -> np.ndarray:
    """:func:`spikejet.ann.model.predict_proba`'s softmax, operation for operation."""
    z = np.asarray(logits).astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _spiking_proba(module: Any, scaler: Any, X_raw: np.ndarray, first_row: int) -> np.ndarray:
    """The spiking module's ``predict_proba`` on the engine: the same batches of
    ``PREDICT_BATCH`` rows (counted from the file's first row), each simulated for the
    module's ``timesteps`` with the same seed, so Poisson inputs draw the same events
    whenever the chunk size is a multiple of ``PREDICT_BATCH``."""
    from ..ann.model import PREDICT_BATCH
    from ..models.file import apply_scaler
    from ..snn import engine

    net = module.network
    X = apply_scaler(scaler, X_raw)
    out = []
    i = 0
    n = X.shape[0]
    while i < n:
        j = min(n, i + PREDICT_BATCH - (first_row + i) % PREDICT_BATCH)
        out.append(engine.simulate(net, X[i:j], module.timesteps, steps=[module.timesteps]).scores)
        i = j
    return _softmax(np.concatenate(out))


def score_chunk(bundle: Any, X_raw: np.ndarray, y: np.ndarray, first_row: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(task labels, class probabilities)`` of one chunk (rows from ``first_row`` of the file)."""
    from ..runtime import single_thread
    from ..snn.bundle import SpikingModule

    with single_thread():
        if isinstance(bundle.model, SpikingModule):
            return bundle.labels(y), _spiking_proba(bundle.model, bundle.scaler, X_raw, first_row)
        return bundle.labels(y), bundle.predict_proba(X_raw)


@functools.lru_cache(maxsize=4)
def _bundle(path: str, stamp: tuple[int, int]) -> Any:
    from ..models.file import load_bundle

    return load_bundle(path)


def _load_bundle(path: str) -> Any:
    st = os.stat(path)
    return _bundle(path, (st.st_mtime_ns, st.st_size))


def _score_rows(model_path: str, data_path: str, start: int, stop: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Dask task: rows ``start..stop-1`` -> (labels, probabilities, data class counts)."""
    X, y = read_rows(data_path, start, stop)
    labels, proba = score_chunk(_load_bundle(model_path), X, y, start)
    return labels, proba, np.bincount(y, minlength=len(CLASS_NAMES))


# ----------------------------------------------------------------------- the two paths


def _progress_bar(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="jets", unit_scale=True, desc=desc, disable=not enabled, leave=False)


def stream_scores(model_path: str | os.PathLike[str], data: str | os.PathLike[str], *,
                  chunk_size: int | None = None, scheduler: str | None = None, progress: bool = False,
                  bundle: Any = None) -> StreamResult:
    """Labels and class probabilities of the model file on every jet of ``data`` (a spikejet
    ``.h5`` or ``default``), ``chunk_size`` rows at a time (default :data:`DEFAULT_CHUNK_ROWS`),
    locally or on the Dask cluster ``scheduler`` (an address, or ``"local"``)."""
    size = DEFAULT_CHUNK_ROWS if chunk_size is None else chunk_size
    path = _data_path(data).resolve()
    model = str(Path(model_path).resolve())
    if bundle is None:
        bundle = _load_bundle(model)
    lay = check_stream_data(bundle, path)
    ranges = chunk_ranges(lay.n_rows, size)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if scheduler is None:
        with _progress_bar(lay.n_rows, progress, "evaluate") as bar:
            for (a, _), (X, y) in zip(ranges, iter_chunks(path, size), strict=True):
                labels, proba = score_chunk(bundle, X, y, a)
                parts.append((labels, proba, np.bincount(y, minlength=len(CLASS_NAMES))))
                bar.update(len(y))
    else:
        with _client(scheduler) as client:
            parts = _run_on(client, model, str(path), ranges, lambda n: _progress_bar(n, progress, "evaluate"))
    return StreamResult(labels=np.concatenate([p[0] for p in parts]),
                        scores=np.concatenate([p[1] for p in parts]),
                        class_counts=np.sum([p[2] for p in parts], axis=0),
                        n_chunks=len(parts))


def _run_on(client: Any, model: str, data: str, ranges: list[tuple[int, int]],
            bar: Callable[[int], Any]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    from distributed import as_completed

    futures = client.map(_score_rows, [model] * len(ranges), [data] * len(ranges),
                         [a for a, _ in ranges], [b for _, b in ranges], pure=False)
    rows = {f.key: b - a for f, (a, b) in zip(futures, ranges, strict=True)}
    try:
        with bar(sum(rows.values())) as pb:
            for f in as_completed(futures):
                f.result()  # re-raises a task's error (e.g. a DataError for a bad row range) here
                pb.update(rows[f.key])
        return [f.result() for f in futures]
    finally:
        client.cancel(futures)


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed logs connection failures and cluster start-up; the caller reports errors."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    prev = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, prev, strict=True):
            lg.setLevel(lv)


@contextlib.contextmanager
def _client(scheduler: str) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError(f"--scheduler needs dask.distributed ({exc}); pip install 'dask[distributed]'") from None
    address = str(scheduler).strip()
    if not address:
        raise ConfigError("the scheduler address is empty; give host:port, tcp://host:port or 'local'")
    with _quiet_distributed():
        if address == LOCAL:
            cluster = LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            try:
                with Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
            return
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:  # refused, timed out, bad address, or a peer that is no Dask scheduler
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"cannot reach the Dask scheduler at {address!r} within {CONNECT_TIMEOUT_S:g} s "
                              f"({reason[:160]}); start one ('dask scheduler') or use --scheduler local") from None
        try:
            yield client
        finally:
            client.close()
