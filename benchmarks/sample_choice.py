"""Which generation choices reproduce the public hls4ml dataset's per-class behaviour?

Generates (once, into --workdir) small samples that differ in one physics choice at
a time, trains the project's standard MLP on each (spikejet's own split,
standardizer, 16-64-32-32-5 network and trainer with the default ``AnnConfig``,
as ``spikejet train-ann`` does) for several seeds, and prints one Markdown table:
test accuracy, per-class one-vs-rest AUC and true-positive rate at 10 % false-
positive rate, next to the public dataset's numbers (DNN on the 16 features,
mean of 9 folds; issue 12, from jmduarte/JEDInet-code ROCcurvesPlots.ipynb).

The choices (docs/physics.md, "Choosing the default sample"):

* W/Z/top production: ``direct`` (q qbar -> WW/ZZ, gg/qq -> tt at pT ~ 1 TeV, decayed
  isotropically after the hard process), ``resonance`` (Z' -> WW, W' -> WZ with
  longitudinal decay angles, Z' -> tt) or ``resonance-wz`` (W/Z from the resonances,
  top direct);
* detector: ``none`` (particle level), ``cms`` (tracker + ECAL/HCAL cells with
  Delphes' CMS-card resolutions, physics/detector.py) or ``threshold`` (particle
  level, only particles with pT > 1 GeV);
* labelling: ``match`` (jet within Delta R < 0.6 of the truth particle) or ``event``
  (every selected jet labelled by its event's process);
* jet selection: the two hardest jets of an event in the 900-1100 GeV window
  (default), the wider 700-1300 GeV window, or only the hardest jet of each event.

The detector samples are generated with ``labelling="event"`` and the wide window,
so the ``match`` rows are their matched subset (same events), the ``event`` row is
all of them, and the 900-1100 GeV rows are a pT subset. With a different number of
jets per class in a row the classes are not exactly balanced (the row's test-jet
count is printed).

    .venv/bin/python benchmarks/sample_choice.py [--jets 4000] [--workers 2]
        [--seeds 3] [--workdir /tmp/spikejet-sample-choice]
    .venv/bin/python benchmarks/sample_choice.py --default [--seeds 3]
        # the same MLP and row on the embedded default sample (no generation)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Public dataset, DNN on the 16 features: one-vs-rest AUC and TPR at 10 % FPR per class.
PUBLIC_AUC = {"g": 0.9384, "q": 0.9026, "w": 0.9537, "z": 0.9459, "t": 0.9620}
PUBLIC_TPR10 = {"g": 0.830, "q": 0.715, "w": 0.855, "z": 0.833, "t": 0.917}
PUBLIC_ACCURACY = 0.752  # the 2019 study's Keras MLP on OpenML 42468
#: Working point of the TPR column.
FPR_POINT = 0.10
VAL_FRACTION = TEST_FRACTION = 0.2
SEED = 2019
CLASSES = ("g", "q", "w", "z", "t")

#: Jet pT window of the detector samples (GeV): wide, so that narrower windows are subsets;
#: its centre (1000 GeV) fixes the hard process, as for the default 900-1100 GeV window.
WIDE_WINDOW = (700.0, 1300.0)
DEFAULT_WINDOW = (900.0, 1100.0)

#: Sample files: name -> (classes, GenerateConfig keyword arguments).
SAMPLES: dict[str, tuple[str, dict]] = {
    "gq_none": ("g,q", dict(production="direct", detector="none", labelling="match")),
    "wzt_direct_none": ("w,z,t", dict(production="direct", detector="none", labelling="match")),
    "wzt_resonance_none": ("w,z,t", dict(production="resonance", detector="none", labelling="match")),
    "gq_cms": ("g,q", dict(production="direct", detector="cms", labelling="event",
                           pt_min=WIDE_WINDOW[0], pt_max=WIDE_WINDOW[1])),
    "wzt_direct_cms": ("w,z,t", dict(production="direct", detector="cms", labelling="event",
                                     pt_min=WIDE_WINDOW[0], pt_max=WIDE_WINDOW[1])),
    "wzt_resonance_cms": ("w,z,t", dict(production="resonance", detector="cms", labelling="event",
                                        pt_min=WIDE_WINDOW[0], pt_max=WIDE_WINDOW[1])),
    "gq_threshold": ("g,q", dict(production="direct", detector="threshold", labelling="event",
                                 pt_min=WIDE_WINDOW[0], pt_max=WIDE_WINDOW[1])),
    "wzt_direct_threshold": ("w,z,t", dict(production="direct", detector="threshold", labelling="event",
                                           pt_min=WIDE_WINDOW[0], pt_max=WIDE_WINDOW[1])),
    "wzt_resonance_threshold": ("w,z,t", dict(production="resonance", detector="threshold", labelling="event",
                                              pt_min=WIDE_WINDOW[0], pt_max=WIDE_WINDOW[1])),
}


@dataclass(frozen=True)
class Variant:
    """One row: which classes come from which sample file, and the selection applied."""

    name: str
    sources: tuple[tuple[str, str], ...]
    matched_only: bool = True
    window: tuple[float, float] = DEFAULT_WINDOW
    leading_only: bool = False


_QCD_NONE = (("gq_none", "g,q"),)
_QCD_CMS = (("gq_cms", "g,q"),)
_QCD_THR = (("gq_threshold", "g,q"),)
_WZT_DIRECT_NONE = (("wzt_direct_none", "w,z,t"),)
_RES_WZ_NONE = (("wzt_resonance_none", "w,z"), ("wzt_direct_none", "t"))
_RES_WZ_CMS = (("wzt_resonance_cms", "w,z"), ("wzt_direct_cms", "t"))
_RES_WZ_THR = (("wzt_resonance_threshold", "w,z"), ("wzt_direct_threshold", "t"))
VARIANTS = (
    # production (particle level, matched jets, two hardest jets in 900-1100 GeV)
    Variant("direct, particle level (old default)", _QCD_NONE + _WZT_DIRECT_NONE),
    Variant("resonance, particle level", _QCD_NONE + (("wzt_resonance_none", "w,z,t"),)),
    Variant("resonance-wz (W/Z resonance, top direct), particle level", _QCD_NONE + _RES_WZ_NONE),
    # detector
    Variant("direct, cms detector", _QCD_CMS + (("wzt_direct_cms", "w,z,t"),)),
    Variant("resonance-wz, cms detector", _QCD_CMS + _RES_WZ_CMS),
    Variant("direct, threshold detector (pT > 1 GeV)", _QCD_THR + (("wzt_direct_threshold", "w,z,t"),)),
    Variant("resonance-wz, threshold detector", _QCD_THR + _RES_WZ_THR),
    # labelling and selection
    # (on direct production: with W' -> WZ, labelling by event would call the W jets Z)
    Variant("direct, threshold detector, every jet labelled by its event",
            _QCD_THR + (("wzt_direct_threshold", "w,z,t"),), matched_only=False),
    Variant("resonance-wz, threshold detector, jet pT 700-1300 GeV", _QCD_THR + _RES_WZ_THR, window=WIDE_WINDOW),
    Variant("resonance-wz, threshold detector, only the hardest jet of each event", _QCD_THR + _RES_WZ_THR,
            leading_only=True),
)


def _generate(name: str, jets: int, workers: int, work: Path) -> float:
    from spikejet.physics.config import GenerateConfig
    from spikejet.physics.generate import generate

    out = work / f"{name}.h5"
    if out.exists():
        return 0.0
    classes, kwargs = SAMPLES[name]
    cfg = GenerateConfig(jets_per_class=jets, classes=classes, seed=SEED, chunk_size=500, **kwargs)
    t0 = time.perf_counter()
    generate(cfg, out, workers=workers, quiet=True)
    return time.perf_counter() - t0


def _table(variant: Variant, work: Path):
    from spikejet.data import read
    from spikejet.physics.config import parse_classes

    X, y = [], []
    for name, classes in variant.sources:
        t = read(work / f"{name}.h5")
        keep = np.isin(t.y, [CLASSES.index(c) for c in parse_classes(classes)])
        if variant.matched_only and "matched" in t.extra:
            keep &= t.extra["matched"].astype(bool)
        keep &= (t.extra["pt"] >= variant.window[0]) & (t.extra["pt"] < variant.window[1])
        if variant.leading_only:
            keep &= t.extra["rank"] == 0
        X.append(t.X[keep])
        y.append(t.y[keep])
    return np.concatenate(X), np.concatenate(y)


def tpr_at_fpr(is_signal: np.ndarray, score: np.ndarray, fpr_point: float = FPR_POINT) -> float:
    """Signal efficiency at background efficiency ``fpr_point`` (linear interpolation on the ROC)."""
    from spikejet.evaluate.metrics import roc_curve

    tpr, fpr = roc_curve(is_signal, score)
    return float(np.interp(fpr_point, fpr, tpr))


def train_eval(X: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """The standard MLP on one split: accuracy, per-class AUC and TPR at 10 % FPR."""
    import torch

    from spikejet.ann.model import build_mlp, predict_proba
    from spikejet.ann.train import train_ann
    from spikejet.config import AnnConfig
    from spikejet.data import Standardizer, split
    from spikejet.evaluate.metrics import evaluate_scores

    torch.set_num_threads(1)
    sp = split(y, seed=seed, val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION)
    std = Standardizer.fit(X[sp.train])
    cfg = AnnConfig()
    torch.manual_seed(seed)
    model = build_mlp(cfg, X.shape[1], len(CLASSES))
    train_ann(model, std.transform(X[sp.train]), y[sp.train], std.transform(X[sp.val]), y[sp.val],
              cfg, seed=seed, progress=False)
    proba = predict_proba(model, std.transform(X[sp.test]))
    yt = y[sp.test]
    m = evaluate_scores(yt, proba, class_names=CLASSES, seed=seed, n_bootstrap=1)
    tpr = {c: tpr_at_fpr(yt == i, proba[:, i]) for i, c in enumerate(CLASSES)}
    return {"accuracy": m["accuracy"], "auc": m["auc"], "tpr": tpr, "n_test": int(yt.size)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jets", type=int, default=4000, help="jets per class per sample")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="training seeds (split + initialisation)")
    ap.add_argument("--workdir", default="/tmp/spikejet-sample-choice")
    ap.add_argument("--default", action="store_true", help="evaluate the embedded default sample instead")
    args = ap.parse_args(argv)

    from _machine import torch_machine

    if args.default:
        from spikejet.data import load_default

        t = load_default()
        print(f"machine: {torch_machine()}")
        print(_HEAD)
        print(_public_row())
        print(_row("embedded default sample", t.X, t.y, args.seeds), flush=True)
        return 0

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    gen_s = {name: _generate(name, args.jets, args.workers, work) for name in SAMPLES}
    print(f"machine: {torch_machine()}")
    made = ", ".join(f"{k} {v:.0f} s" for k, v in gen_s.items() if v)
    print(f"{args.jets} jets per class per sample; generation: {made or 'all samples reused'}")
    print(f"standard MLP (AnnConfig defaults), split {1 - VAL_FRACTION - TEST_FRACTION:.1f}/{VAL_FRACTION}/"
          f"{TEST_FRACTION}, {args.seeds} seeds (split and initialisation); mean over seeds, "
          "+- = spread (std) over seeds\n")
    print(_HEAD)
    print(_public_row())
    for v in VARIANTS:
        X, y = _table(v, work)
        print(_row(v.name, X, y, args.seeds), flush=True)
    return 0


_HEAD = ("| choice | test jets | accuracy | AUC g / q / W / Z / t | TPR at 10 % FPR g / q / W / Z / t |\n"
         "|---|---|---|---|---|")


def _public_row() -> str:
    return (f"| public dataset (DNN, 9 folds) | | {100 * PUBLIC_ACCURACY:.1f} % (2019 study) | "
            + " / ".join(f"{PUBLIC_AUC[c]:.4f}" for c in CLASSES) + " | "
            + " / ".join(f"{PUBLIC_TPR10[c]:.3f}" for c in CLASSES) + " |")


def _row(name: str, X: np.ndarray, y: np.ndarray, seeds: int) -> str:
    res = [train_eval(X.astype(np.float64), y, SEED + s) for s in range(seeds)]
    acc = np.array([r["accuracy"] for r in res])
    auc = {c: np.mean([r["auc"][c] for r in res]) for c in CLASSES}
    tpr = {c: np.mean([r["tpr"][c] for r in res]) for c in CLASSES}
    return (f"| {name} | {res[0]['n_test']} | {100 * acc.mean():.2f} +- {100 * acc.std():.2f} % | "
            + " / ".join(f"{auc[c]:.4f}" for c in CLASSES) + " | "
            + " / ".join(f"{tpr[c]:.3f}" for c in CLASSES) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
