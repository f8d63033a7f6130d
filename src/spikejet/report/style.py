"""Figure style: matplotlib's Agg canvas with mplhep's neutral ROOT style.

No pyplot, no global backend switch: figures are ``matplotlib.figure.Figure``
objects drawn on an Agg canvas, and the style is applied only inside
:func:`hep_style`. If mplhep or its fonts are unavailable the plots fall back to
matplotlib's defaults (a warning-free, offline fallback).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io import write_bytes

__all__ = ["hep_style", "new_figure", "figure_png", "save_figure", "DPI"]

#: Resolution of saved PNG figures.
DPI = 110
#: rcParams applied on top of the HEP style (smaller fonts suit multi-panel report figures).
_OVERRIDES: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.dpi": DPI,
}
#: Environment variable to turn the mplhep style off (``SPIKEJET_PLAIN_PLOTS=1``).
PLAIN_ENV = "SPIKEJET_PLAIN_PLOTS"


def _base_style() -> Any:
    if os.environ.get(PLAIN_ENV):
        return "default"
    try:
        import mplhep

        return mplhep.style.ROOT
    except Exception:  # mplhep missing or broken: plain matplotlib
        return "default"


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """Apply the HEP style for the block; silence missing-font chatter."""
    import matplotlib.style

    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ff]ont.*")
            warnings.filterwarnings("ignore", message=".*[Gg]lyph.*")
            with matplotlib.style.context([_base_style(), _OVERRIDES]):
                yield
    finally:
        fm_log.setLevel(level)


def new_figure(width: float, height: float) -> Figure:
    """A Figure on an Agg canvas (call inside :func:`hep_style`)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    with hep_style():
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write the figure as PNG atomically; returns the path."""
    dest = Path(path)
    write_bytes(dest, figure_png(fig))
    return dest
