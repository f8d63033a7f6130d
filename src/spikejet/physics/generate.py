"""Chunked, reproducible, resumable jet generation on local processes or a Dask cluster.

The request (a :class:`GenerateConfig`) is cut into chunks: per class, chunks of
``chunk_size`` jets, chunk ``i`` seeded from (master seed, class, i). Every finished
chunk is written atomically to ``<out>.chunks/`` under a name that carries the
settings hash, so

* a rerun of the same command skips finished chunks (resume after an interrupt),
* a half-written chunk never looks finished (atomic rename; stale ``.part`` files
  are removed at the start of a run),
* a rerun with different settings never reuses a stale chunk (different hash).

The output file is merged from the chunks in a fixed order (class order g,q,w,z,t,
then chunk index), so the same seed and settings give the same bytes however the
chunks were scheduled, interrupted or distributed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.schema import CLASS_NAMES
from ..errors import ConfigError, DataError
from ..io import atomic_path, check_output_dir, check_output_file
from .config import SQRT_S_GEV, GenerateConfig
from .events import PILEUP_CONSTITUENT_KEYS, PILEUP_JET_KEYS, ChunkData
from .processes import class_process, feature_code_fingerprint, tool_versions

__all__ = [
    "ChunkTask",
    "GenerateResult",
    "generate",
    "plan_chunks",
    "chunk_seeds",
    "chunk_dir_for",
    "default_workers",
]

#: Pythia's Random:seed must lie in 1..900000000.
PYTHIA_SEED_MAX = 900_000_000
#: Format version of the chunk files (bump when their layout changes).
CHUNK_FORMAT = 2
#: How the merged file stores the particles' float fields (pt, eta_rel, phi_rel, e):
#: float16 keeps 11 significant bits (relative 5e-4; 2.4e-4 in angle near the jet
#: axis) and halves the file; charge and PDG id are stored exactly as integers.
PARTICLE_STORAGE = "float16"
CHUNK_SUFFIX = ".npz"
#: Prefix of the pileup record's arrays in a chunk file.
PILEUP_PREFIX = "pileup_"
PART_MARKER = ".part"
#: Per-jet columns of the merged file (float32, ``extra/``): the (detector-level)
#: jet's pT (GeV), pseudorapidity, azimuth and mass (GeV); plus ``matched`` (uint8: the
#: jet lies within Delta R < 0.6 of a truth particle) and ``rank`` (uint8: 0 = the hardest
#: jet of its event).
JET_COLUMNS = ("pt", "eta", "phi", "mass")
#: What ``--out`` may end with: only HDF5 keeps the provenance and the particles (a CSV
#: would silently lose both; ``spikejet data convert`` makes one, with a note).
OUT_SUFFIXES = (".h5", ".hdf5")


def chunk_seeds(master_seed: int, cls: str, index: int) -> tuple[int, int]:
    """Two Pythia seeds in 1..900000000 for chunk ``index`` of class ``cls``.

    Derived by hashing (master seed, class, index), so chunks are independent of each
    other and of the order in which they run. The second seed drives the hard-process
    generator of two-stage classes.
    """
    digest = hashlib.sha256(f"spikejet.generate:{master_seed}:{cls}:{index}".encode()).digest()
    a = int.from_bytes(digest[:8], "big") % PYTHIA_SEED_MAX + 1
    b = int.from_bytes(digest[8:16], "big") % PYTHIA_SEED_MAX + 1
    return a, b


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: ``n`` jets of class ``cls``, chunk number ``index``."""

    cfg: GenerateConfig
    cls: str
    index: int
    n: int
    seeds: tuple[int, int]

    @property
    def filename(self) -> str:
        return f"{self.cls}-{self.index:05d}-n{self.n}-{self.cfg.settings_hash()}{CHUNK_SUFFIX}"


def plan_chunks(cfg: GenerateConfig) -> list[ChunkTask]:
    """All chunks of a request, in merge order (class order, then chunk index)."""
    tasks = []
    for cls in cfg.classes:
        n_chunks = math.ceil(cfg.jets_per_class / cfg.chunk_size)
        for i in range(n_chunks):
            n = min(cfg.chunk_size, cfg.jets_per_class - i * cfg.chunk_size)
            tasks.append(ChunkTask(cfg, cls, i, n, chunk_seeds(cfg.seed, cls, i)))
    return tasks


def chunk_dir_for(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".chunks")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------- chunk files
def _save_chunk(path: Path, task: ChunkTask, data: ChunkData) -> None:
    meta = {
        "format": CHUNK_FORMAT,
        "settings_hash": task.cfg.settings_hash(),
        "cls": task.cls,
        "index": task.index,
        "n": task.n,
        "seeds": list(task.seeds),
        "stats": data.stats,
        "timing": data.timing,
    }
    arrays = {
        "X": data.X,
        "pt": data.pt,
        "eta": data.eta,
        "phi": data.phi,
        "mass": data.mass,
        "matched": data.matched,
        "rank": data.rank,
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    if data.particles is not None:
        arrays["particles"] = data.particles
        arrays["n_particles"] = data.n_particles
    if data.pileup is not None:
        arrays.update({PILEUP_PREFIX + k: v for k, v in data.pileup.items()})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _load_chunk(path: Path, task: ChunkTask) -> ChunkData | None:
    """The chunk at ``path`` if it is complete and belongs to ``task``, else None."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if (
                meta.get("format") != CHUNK_FORMAT
                or meta.get("settings_hash") != task.cfg.settings_hash()
                or meta.get("cls") != task.cls
                or meta.get("index") != task.index
                or meta.get("n") != task.n
            ):
                return None
            data = ChunkData(
                cls=task.cls,
                X=z["X"],
                pt=z["pt"],
                eta=z["eta"],
                phi=z["phi"],
                mass=z["mass"],
                matched=z["matched"],
                rank=z["rank"],
                stats=meta["stats"],
                timing=meta["timing"],
            )
            if task.cfg.constituents:
                data.particles = z["particles"]
                data.n_particles = z["n_particles"]
            if task.cfg.pileup > 0:
                data.pileup = {k: z[PILEUP_PREFIX + k] for k in PILEUP_JET_KEYS + PILEUP_CONSTITUENT_KEYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if len(data) != task.n:
        return None
    return data


def _remove_stale_parts(chunk_dir: Path) -> int:
    n = 0
    for p in chunk_dir.glob(f".*{PART_MARKER}*"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            n += 1
    return n


# ---------------------------------------------------------------- executors
def _run_task(task: ChunkTask) -> ChunkData:
    """Worker entry point (top level so that it pickles)."""
    from . import events

    return events.generate_chunk(task.cfg, task.cls, task.n, task.seeds)


def _run_inline(tasks: list[ChunkTask]) -> Iterator[tuple[ChunkTask, ChunkData]]:
    for t in tasks:
        yield t, _run_task(t)


#: How often a worker checks that the process that started it is still alive (seconds).
WATCHDOG_PERIOD_S = 0.5
#: Linux prctl option: a signal the kernel sends when the parent process dies.
_PR_SET_PDEATHSIG = 1


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process reused the pid
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(pid, 0) is all we know


def _watch_parent(main_pid: int) -> None:  # pragma: no cover - runs in the workers
    while _alive(main_pid):
        time.sleep(WATCHDOG_PERIOD_S)
    os._exit(1)


def _worker_init(main_pid: int) -> None:  # pragma: no cover - runs in the workers
    """Make a worker die with the generate process, however that one ends (kill -9 included).

    The kernel kills the worker when its parent (the forkserver) dies (prctl
    PR_SET_PDEATHSIG, Linux), and a daemon thread ends it within
    :data:`WATCHDOG_PERIOD_S` once the main process is gone."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the main process, which stops us
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if not _alive(main_pid):
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(main_pid,), name="spikejet-watchdog", daemon=True).start()


def _run_processes(tasks: list[ChunkTask], workers: int) -> Iterator[tuple[ChunkTask, ChunkData]]:
    """Run ``tasks`` on local worker processes; the workers never outlive this process:
    an interrupt (Ctrl-C, SIGTERM) or an error terminates them, and they end themselves
    when this process is killed (see :func:`_worker_init`)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx,
                               initializer=_worker_init, initargs=(os.getpid(),))
    finished = False
    try:
        futures = {pool.submit(_run_task, t): t for t in tasks}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
        finished = True
    finally:
        if not finished:  # do not wait for the running chunks: stop the workers now
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)


#: Seconds to wait for the Dask scheduler's port to answer before giving up.
CONNECT_TIMEOUT_S = 5.0


def check_scheduler(address: str) -> None:
    """ConfigError unless ``address`` is a tcp/tls ``HOST:PORT`` where a Dask scheduler answers
    within :data:`CONNECT_TIMEOUT_S` (checked with a plain socket and one 'identity' message
    before any Dask client exists, so a bad address fails at once and leaves no client to
    time out at exit). An ``inproc://`` address (a scheduler in this process) is left to
    the Dask client."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    hint = "give tcp://HOST:PORT of a running 'dask scheduler' (e.g. tcp://127.0.0.1:8786)"
    try:
        scheme, loc = parse_address(address)
        if scheme == "inproc":  # a scheduler in this very process (LocalCluster(processes=False))
            return
        if scheme not in ("tcp", "tls"):
            raise ValueError(f"scheme {scheme!r} is not supported (tcp or tls)")
        host, port = parse_host_port(loc)
        if not host:
            raise ValueError("no host")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--scheduler {address!r} is not a scheduler address ({exc}); {hint}") from exc
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc}); "
                          f"start it or check the address: {hint}") from exc
    import asyncio

    try:  # something answers: ask it who it is, in Dask's protocol, with a deadline
        kind = asyncio.run(asyncio.wait_for(_identity(address), 2 * CONNECT_TIMEOUT_S))
    except Exception as exc:  # a foreign server answers garbage: any failure means "not a scheduler"
        kind = f"no answer in Dask's protocol: {type(exc).__name__}"
    if kind != "Scheduler":
        raise ConfigError(f"{address} answers, but not as a Dask scheduler ({kind}); {hint}")


async def _identity(address: str) -> str:
    from distributed.comm import connect

    comm = await connect(address, timeout=CONNECT_TIMEOUT_S)
    try:
        await comm.write({"op": "identity", "reply": True})
        reply = await comm.read()
    finally:
        comm.abort()
    return str(reply.get("type")) if isinstance(reply, dict) else type(reply).__name__


def _run_dask(tasks: list[ChunkTask], scheduler) -> Iterator[tuple[ChunkTask, ChunkData]]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise ConfigError("--scheduler needs dask.distributed; pip install 'dask[distributed]'") from exc
    own = isinstance(scheduler, str)
    if own:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S * 4:g}s", set_as_default=False)
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from exc
    else:
        client = scheduler
    try:
        futures = {}
        for t in tasks:
            key = f"spikejet-generate-{t.cfg.settings_hash()}-{t.cls}-{t.index}-{t.n}-{t.cfg.seed}"
            futures[client.submit(_run_task, t, key=key, pure=False)] = t
        for fut in as_completed(list(futures), loop=client.loop):
            yield futures[fut], fut.result()
    finally:
        left = [f for f in futures if not f.done()]
        if left:
            client.cancel(left)
        if own:
            client.close()


# ---------------------------------------------------------------- result
@dataclass
class GenerateResult:
    path: Path
    counts: dict[str, int]
    stats: dict[str, dict[str, int]]
    provenance: dict
    chunks_total: int
    chunks_reused: int
    wall_s: float
    timing: dict[str, float] = field(default_factory=dict)


def _aggregate(datas: Iterable[ChunkData], key: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for d in datas:
        agg = out.setdefault(d.cls, {})
        for k, v in getattr(d, key).items():
            agg[k] = agg.get(k, 0) + v
    return out


def _provenance(cfg: GenerateConfig, tasks: list[ChunkTask], stats: dict, counts: dict) -> dict:
    """Everything needed to regenerate the file; deterministic (no dates, no timings)."""
    processes = {
        c: class_process(c, cfg.production, cfg.pt_min, cfg.pt_max, SQRT_S_GEV).description for c in cfg.classes
    }
    return {
        "generator": "spikejet generate",
        "spikejet_version": __version__,
        "settings_hash": cfg.settings_hash(),
        "config": dict(cfg.physics_dict(), jets_per_class=cfg.jets_per_class, classes=list(cfg.classes)),
        "tools": tool_versions(),
        "feature_code_sha256": feature_code_fingerprint(),
        "processes": processes,
        "chunk_seeds": {c: [list(t.seeds) for t in tasks if t.cls == c] for c in cfg.classes},
        "counts": counts,
        "stats": stats,
    }


def _merge(cfg: GenerateConfig, tasks: list[ChunkTask], chunks: dict[tuple[str, int], ChunkData], out: Path):
    from ..data import write  # the own HDF5 format (data layer)
    from ..data.schema import PARTICLE_FIELDS
    from ..data.table import JetTable

    ordered = [chunks[(t.cls, t.index)] for t in tasks]
    X = np.concatenate([d.X for d in ordered]).astype(np.float32)
    y = np.concatenate([np.full(len(d), CLASS_NAMES.index(d.cls), dtype=np.int64) for d in ordered])
    extra = {k: np.concatenate([getattr(d, k) for d in ordered]).astype(np.float32) for k in JET_COLUMNS}
    extra["matched"] = np.concatenate([d.matched for d in ordered]).astype(np.uint8)
    extra["rank"] = np.concatenate([d.rank for d in ordered]).astype(np.uint8)
    parts = mask = None
    if cfg.constituents:
        parts = np.concatenate([d.particles for d in ordered]).astype(np.float32)
        n_parts = np.concatenate([d.n_particles for d in ordered]).astype(np.int64)
        if parts.shape[1:] != (cfg.constituents, len(PARTICLE_FIELDS)):
            raise DataError(
                f"particle array has shape {parts.shape}, expected [n, {cfg.constituents}, {len(PARTICLE_FIELDS)}]"
            )
        mask = np.arange(parts.shape[1])[None, :] < n_parts[:, None]
    counts = {c: int(sum(len(d) for d in ordered if d.cls == c)) for c in cfg.classes}
    stats = _aggregate(ordered, "stats")
    prov = _provenance(cfg, tasks, stats, counts)
    table = JetTable(
        X=X, y=y, extra=extra, source=str(out), particles=parts, particle_mask=mask,
        particle_fields=PARTICLE_FIELDS if parts is not None else (),
    )
    if cfg.pileup > 0:
        _write_with_pileup(cfg, table, ordered, out, prov)
    else:
        write(table, out, provenance=prov, particle_float=PARTICLE_STORAGE)
    return counts, stats, prov, _aggregate(ordered, "timing")


def _pileup_settings(cfg: GenerateConfig) -> dict:
    """The settings stored with the pileup group (what a reader needs to interpret it)."""
    from dataclasses import asdict

    return {"mu": cfg.pileup, "out_of_time": cfg.out_of_time, "pileup_pool": cfg.pileup_pool,
            "timing_resolution_ps": cfg.timing_resolution_ps, "timing": asdict(cfg.timing)}


def _write_with_pileup(cfg: GenerateConfig, table, ordered: list[ChunkData], out: Path, prov: dict) -> None:
    """The jet table plus the ``pileup/`` group, written together atomically."""
    import h5py

    from ..data import write
    from ..data.pileup import write_pileup_group

    recs = [d.pileup for d in ordered]
    n_cons = np.concatenate([r["n_constituents"] for r in recs]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_cons)]).astype(np.int64)
    jets = {k: np.concatenate([r[k] for r in recs]) for k in PILEUP_JET_KEYS if k != "n_constituents"}
    cons = {k: np.concatenate([r[k] for r in recs]) for k in PILEUP_CONSTITUENT_KEYS}
    with atomic_path(out) as tmp:
        write(table, tmp, provenance=prov, particle_float=PARTICLE_STORAGE)
        with h5py.File(tmp, "a") as f:
            write_pileup_group(f, jets, cons, offsets, _pileup_settings(cfg))


def _check_outputs(out: Path, scheduler, workers) -> None:
    """Every argument of :func:`generate` checked before any work (one clear line each)."""
    if out.exists() and out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name such as jets.h5")
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise ConfigError(
            f"--out {out}: generate writes spikejet HDF5 (.h5), the only format that keeps the "
            f"provenance (settings, seeds, tool versions) and the particles; write {out.with_suffix('.h5').name} "
            f"and convert it with 'spikejet data convert {out.with_suffix('.h5').name} {out.name}' if you need "
            f"{out.suffix or 'another format'}"
        )
    check_output_file(out, "--out")
    check_output_dir(chunk_dir_for(out), "--out (its chunk folder)")
    if isinstance(scheduler, str):
        check_scheduler(scheduler)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"--workers must be a positive integer, got {workers!r}")


def generate(
    cfg: GenerateConfig,
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler=None,
    quiet: bool = False,
    keep_chunks: bool = False,
) -> GenerateResult:
    """Generate ``cfg`` into the HDF5 file ``out`` (spikejet's own format).

    ``workers``: local processes (default: all cores; 1 runs in this process).
    ``scheduler``: a dask.distributed scheduler address (or a ``Client``); then the
    chunks run on that cluster and ``workers`` is ignored. Finished chunks are kept in
    ``<out>.chunks/`` until the merge succeeds (and afterwards with ``keep_chunks``).
    """
    t0 = time.perf_counter()
    out = Path(out)
    _check_outputs(out, scheduler, workers)
    n_workers = default_workers() if workers is None else workers
    chunk_dir = chunk_dir_for(out)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(chunk_dir)

    tasks = plan_chunks(cfg)
    done: dict[tuple[str, int], ChunkData] = {}
    pending: list[ChunkTask] = []
    for t in tasks:
        data = _load_chunk(chunk_dir / t.filename, t)
        if data is None:
            pending.append(t)
        else:
            done[(t.cls, t.index)] = data
    reused = len(done)

    from tqdm.auto import tqdm

    total = sum(t.n for t in tasks)
    bar = tqdm(
        total=total,
        initial=sum(len(d) for d in done.values()),
        unit="jet",
        desc="generate",
        disable=quiet,
        dynamic_ncols=True,
        smoothing=0.1,
    )
    try:
        if pending:
            if scheduler is not None:
                stream = _run_dask(pending, scheduler)
            elif n_workers == 1 or len(pending) == 1:
                stream = _run_inline(pending)
            else:
                stream = _run_processes(pending, n_workers)
            with contextlib.closing(stream):  # stops the workers at once on any way out
                for task, data in stream:
                    _save_chunk(chunk_dir / task.filename, task, data)
                    done[(task.cls, task.index)] = data
                    bar.update(len(data))
    finally:
        bar.close()

    counts, stats, prov, timing = _merge(cfg, tasks, done, out)
    if not keep_chunks:
        shutil.rmtree(chunk_dir, ignore_errors=True)
    return GenerateResult(
        path=out,
        counts=counts,
        stats=stats,
        provenance=prov,
        chunks_total=len(tasks),
        chunks_reused=reused,
        wall_s=time.perf_counter() - t0,
        timing={k: float(sum(v.get(k, 0.0) for v in timing.values())) for k in
                ("init_s", "pythia_s", "clustering_s", "features_s", "total_s")},
    )
