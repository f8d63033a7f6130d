"""Summaries of a jet table (counts, per-class feature statistics, mMDT mass peaks)
and the figure of the 16 feature distributions per class."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import atomic_path
from .schema import CLASS_TITLES
from .table import JetTable

__all__ = [
    "SUMMARY_QUANTILES",
    "EXPECTED_MASS_PEAKS_GEV",
    "summarize",
    "mass_peaks",
    "format_summary",
    "plot_features",
]

#: Quantiles reported per feature and class.
SUMMARY_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
#: The groomed-mass feature whose per-class mode is reported.
MASS_FEATURE = "j_mass_mmdt"
#: Histogram for the mass mode: range and bin width in GeV. Jets groomed down to
#: one constituent have mass 0 exactly; they are left out of the mode.
MASS_PEAK_RANGE_GEV = (0.0, 300.0)
MASS_PEAK_BIN_GEV = 2.5
#: The histogram is smoothed with a moving average over this many bins (12.5 GeV)
#: before its fullest bin is taken, so that bin-to-bin noise does not move the mode.
MASS_PEAK_SMOOTH_BINS = 5
#: Resonance masses the W, Z and top peaks should sit near (PDG 2024, GeV).
EXPECTED_MASS_PEAKS_GEV: dict[str, float] = {"w": 80.4, "z": 91.2, "t": 172.6}

#: Figure layout: 4x4 panels, bins per panel, central quantile range shown per feature.
PLOT_GRID = (4, 4)
PLOT_BINS = 50
PLOT_RANGE_QUANTILES = (0.005, 0.995)
PLOT_SIZE_INCHES = (16.0, 14.0)
PLOT_DPI = 100
PLOT_TITLE_FONTSIZE = 15
PLOT_MARGINS = {"left": 0.05, "right": 0.985, "bottom": 0.05, "top": 0.955, "wspace": 0.28, "hspace": 0.3}


def _qname(q: float) -> str:
    return f"q{round(q * 100):02d}"


def mass_peaks(
    table: JetTable,
    *,
    bin_gev: float = MASS_PEAK_BIN_GEV,
    range_gev: tuple[float, float] = MASS_PEAK_RANGE_GEV,
) -> dict[str, float | None]:
    """Per class, the centre (GeV) of the fullest bin of the ``j_mass_mmdt`` histogram
    (``bin_gev`` bins over ``range_gev``, smoothed by a moving average over
    :data:`MASS_PEAK_SMOOTH_BINS` bins).

    Jets with mass exactly 0 are left out; a class without jets in range gives None.
    """
    if MASS_FEATURE not in table.feature_names:
        raise DataError(f"the table has no {MASS_FEATURE!r} feature; cannot find mass peaks")
    if not bin_gev > 0 or not range_gev[1] > range_gev[0]:
        raise DataError(f"mass-peak histogram needs bin_gev > 0 and a non-empty range, got {bin_gev}, {range_gev}")
    mass = table.X[:, table.feature_names.index(MASS_FEATURE)]
    n_bins = int(round((range_gev[1] - range_gev[0]) / bin_gev))
    edges = np.linspace(range_gev[0], range_gev[1], n_bins + 1)
    out: dict[str, float | None] = {}
    for c, name in enumerate(table.class_names):
        m = mass[(table.y == c) & (mass > 0)]
        hist, _ = np.histogram(m, bins=edges)
        if hist.sum() == 0:
            out[name] = None
            continue
        kernel = np.ones(MASS_PEAK_SMOOTH_BINS) / MASS_PEAK_SMOOTH_BINS
        smooth = np.convolve(hist, kernel, mode="same")
        best = np.flatnonzero(np.isclose(smooth, smooth.max(), rtol=1e-12, atol=0))
        k = int(best[np.argmax(hist[best])])  # ties: the fullest raw bin
        out[name] = float(0.5 * (edges[k] + edges[k + 1]))
    return out


def summarize(table: JetTable) -> dict[str, Any]:
    """JSON-ready summary: counts per class, per-feature per-class statistics, mass peaks."""
    counts = table.counts()
    features: dict[str, dict[str, dict[str, float] | None]] = {}
    for j, feat in enumerate(table.feature_names):
        per_class: dict[str, dict[str, float] | None] = {}
        for c, name in enumerate(table.class_names):
            x = table.X[table.y == c, j].astype(np.float64)
            if x.size == 0:
                per_class[name] = None
                continue
            stats = {"mean": float(x.mean()), "std": float(x.std())}
            for q, v in zip(SUMMARY_QUANTILES, np.quantile(x, SUMMARY_QUANTILES), strict=True):
                stats[_qname(q)] = float(v)
            per_class[name] = stats
        features[feat] = per_class
    summary: dict[str, Any] = {
        "source": table.source,
        "n_jets": len(table),
        "counts": {name: int(counts[c]) for c, name in enumerate(table.class_names)},
        "features": features,
    }
    if MASS_FEATURE in table.feature_names:
        summary["mass_peaks_gev"] = mass_peaks(table)
        summary["mass_peak_bin_gev"] = MASS_PEAK_BIN_GEV
    return summary


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align_left: int = 1) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < align_left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}"


def format_summary(summary: dict[str, Any]) -> str:
    """Plain-text tables of :func:`summarize`'s result."""
    counts = summary["counts"]
    n = summary["n_jets"]
    parts = [f"source: {summary['source'] or '(in memory)'}", f"jets: {n}", ""]
    rows = [
        [name, CLASS_TITLES.get(name, name), str(k), f"{100.0 * k / n:.1f}"]
        for name, k in counts.items()
    ]
    parts += ["jets per class", _text_table(["class", "name", "jets", "%"], rows, align_left=2), ""]
    if "mass_peaks_gev" in summary:
        rows = []
        for name, peak in summary["mass_peaks_gev"].items():
            exp = EXPECTED_MASS_PEAKS_GEV.get(name)
            rows.append([name, _num(peak), "-" if exp is None else f"{exp:g}"])
        parts += [
            f"{MASS_FEATURE} peak per class (mode of a {summary['mass_peak_bin_gev']:g} GeV histogram, "
            f"smoothed over {MASS_PEAK_SMOOTH_BINS} bins, mass 0 left out)",
            _text_table(["class", "peak GeV", "expected GeV"], rows),
            "",
        ]
    stat_names = ["mean", "std", *(_qname(q) for q in SUMMARY_QUANTILES)]
    rows = []
    for feat, per_class in summary["features"].items():
        for name, stats in per_class.items():
            rows.append([feat, name, *(_num(None if stats is None else stats[s]) for s in stat_names)])
    parts += ["features per class", _text_table(["feature", "class", *stat_names], rows, align_left=2)]
    return "\n".join(parts) + "\n"


def _style_context() -> Any:
    """mplhep's ROOT style when it loads offline, else matplotlib's defaults."""
    import contextlib

    import matplotlib.style

    try:
        import mplhep

        return matplotlib.style.context(mplhep.style.ROOT)
    except Exception:  # any style problem falls back to plain matplotlib
        return contextlib.nullcontext()


def _edges(x: np.ndarray, bins: int) -> np.ndarray:
    """Bin edges over the central quantile range; integer-valued columns get bins
    centred on integers (a whole number of values per bin) to avoid aliasing."""
    lo, hi = (float(v) for v in np.quantile(x, PLOT_RANGE_QUANTILES))
    if np.all(x == np.round(x)):
        lo, hi = np.floor(lo), np.ceil(hi)
        step = max(1.0, np.ceil((hi - lo + 1) / bins))
        return np.arange(lo - 0.5, hi + 0.5 + step, step)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def plot_features(table: JetTable, out: str | os.PathLike[str], *, bins: int = PLOT_BINS) -> None:
    """Write a PNG with the normalized distribution of each feature per class (4x4 grid)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if bins < 1:
        raise DataError(f"bins must be positive, got {bins}")
    rows_, cols_ = PLOT_GRID
    if len(table.feature_names) > rows_ * cols_:
        raise DataError(f"the figure has room for {rows_ * cols_} features, the table has {len(table.feature_names)}")
    with _style_context():
        # Fixed margins: a layout engine would draw the 16 tick-heavy panels twice.
        fig = Figure(figsize=PLOT_SIZE_INCHES, dpi=PLOT_DPI)
        FigureCanvasAgg(fig)
        axes = fig.subplots(rows_, cols_, gridspec_kw=PLOT_MARGINS).ravel()
        for j, feat in enumerate(table.feature_names):
            ax = axes[j]
            x = table.X[:, j]
            edges = _edges(x, bins)
            lo, hi = float(edges[0]), float(edges[-1])
            for c, name in enumerate(table.class_names):
                xc = x[table.y == c]
                if xc.size == 0:
                    continue
                ax.hist(
                    np.clip(xc, lo, hi), bins=edges, density=True, histtype="step",
                    linewidth=1.4, label=CLASS_TITLES.get(name, name),
                )
            ax.set_xlabel(feat, fontsize=11)
            ax.tick_params(labelsize=9)
        for ax in axes[len(table.feature_names):]:
            ax.set_visible(False)
        axes[0].set_ylabel("normalized", fontsize=11)
        axes[0].legend(fontsize=9, frameon=False)
        title = os.path.basename(table.source) if table.source else "jets"
        fig.suptitle(
            f"{title}: {len(table)} jets, feature distributions per class "
            "(central 99 % range, overflow in the edge bins)",
            fontsize=PLOT_TITLE_FONTSIZE,
        )
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png", dpi=PLOT_DPI)
