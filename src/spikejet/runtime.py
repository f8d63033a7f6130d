"""The process knobs, in one place: torch threads, deterministic algorithms, seeds, seeded subsets.

Nothing else in spikejet sets threads or derives seeds. Every function restores what
it changed, so calling the library leaves the process as it found it.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import numpy as np

__all__ = [
    "ANN_TORCH_THREADS",
    "torch_threads",
    "single_thread",
    "default_jobs",
    "deterministic",
    "stage_seed",
    "seeded_rows",
]

#: torch intra-op threads for the stages. Their matrices are tiny (batch x 64), so thread
#: hand-off costs more than it gains: on 2 shared cores one thread trained the MLP at
#: 0.16 s/epoch against 3.1 s/epoch with two (benchmarks/bench_run.py --threads).
#: Fixing the count also keeps results independent of the machine's core count.
ANN_TORCH_THREADS = 1


def default_jobs() -> int:
    """Processes ``spikejet run`` uses by default: 2 where the process may use two CPUs or more (the
    particle-level study beside the rest, :mod:`spikejet.run.parallel`; the same results), else 1."""
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 else 1


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count."""
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def single_thread() -> contextlib.AbstractContextManager[None]:
    """The stages' thread setting (:data:`ANN_TORCH_THREADS`)."""
    return torch_threads(ANN_TORCH_THREADS)


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Turn on torch's deterministic algorithms for the block, then restore the setting."""
    import torch

    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


def stage_seed(run_seed: int, name: str) -> int:
    """A seed for ``name`` derived from the run seed (stable across versions and processes)."""
    ss = np.random.SeedSequence([run_seed, zlib.crc32(name.encode("utf-8"))])
    return int(ss.generate_state(1)[0])


def seeded_rows(n: int, k: int, seed: int | np.random.Generator) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``k`` of ``n`` rows (no repeats)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=k, replace=False))
