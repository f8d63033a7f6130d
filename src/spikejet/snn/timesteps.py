"""The time steps at which curves (accuracy, synaptic operations versus T) are sampled."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["curve_points"]


def curve_points(max_t: int, extra: Iterable[int] = ()) -> list[int]:
    """Powers of two up to ``max_t``, ``max_t`` itself, and the ``extra`` steps that lie in
    ``1..max_t`` (sorted, unique).

    The stages used it two ways: the sampling of one simulation of ``max_t`` steps (no
    ``extra``: the Loihi stage's curve and the synops-versus-T figure), and the reported points
    of an accuracy curve, which add the headline T and the study's T (``extra``). The former
    copies wrote the first as "powers of two below T, and T", the same set.
    """
    max_t = int(max_t)
    pts = {1 << k for k in range(max_t.bit_length()) if (1 << k) <= max_t}
    pts.add(max_t)
    pts.update(int(t) for t in extra if 1 <= int(t) <= max_t)
    return sorted(pts)
