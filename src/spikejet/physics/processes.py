"""Per-class Pythia 8 settings and truth matching.

Two ways to make the W, Z and top jets (docs/physics.md gives the sources):

``direct`` (default, follows the public hls4ml dataset)
    Leading-order 2 -> 2 processes whose outgoing partons / undecayed W, Z, top all
    have pT in a narrow window (+-0.5 %) around the centre of the jet window, as the
    public samples were made (MadGraph parton level with Delta pT / pT = 0.01 around
    1 TeV, then decayed and showered by Pythia 8). To reproduce "decayed by Pythia
    after the hard process" the W/Z/top processes run in two stages: stage A makes
    the undecayed hard process, stage B reads it through the Les Houches interface
    and decays, showers and hadronizes it. Pythia decays resonances read that way
    without spin correlations (isotropically in their rest frame), as it would a
    MadGraph event file with undecayed bosons.

``resonance``
    W, Z and top from the decay of a heavy resonance of mass 2.2 x the window centre:
    Z' -> W+ W- and W' -> W Z with Pythia's longitudinal (Higgs-like) decay angles,
    Z' -> t tbar. Offered for comparison (benchmarks/sample_choice.py).

``resonance-wz``
    W and Z as in ``resonance``, top quarks as in ``direct``.

g and q jets come from QCD 2 -> 2 processes with two outgoing gluons (g) or light
quarks u, d, s, c (q) in both modes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import PhysicsError

__all__ = [
    "ClassProcess",
    "class_process",
    "common_settings",
    "tool_versions",
    "truth_candidates",
    "match_jets",
    "LIGHT_QUARKS",
    "PARTON_PT_HALF_SPREAD",
]

# ---------------------------------------------------------------- PDG codes
PDG_GLUON = 21
PDG_TOP = 6
PDG_Z = 23
PDG_W = 24
PDG_ZPRIME = 32
PDG_WPRIME = 34
#: Light quarks of the q class: d, u, s, c (MadGraph's default 4-flavour "j"; b excluded).
LIGHT_QUARKS: tuple[int, ...] = (1, 2, 3, 4)
#: Quarks W and Z may decay to (hadronic decays only): d, u, s, c, b.
DECAY_QUARKS: tuple[int, ...] = (1, 2, 3, 4, 5)

# ---------------------------------------------------------------- kinematics
#: Half width of the hard-process pT window relative to its centre. The public
#: samples generated partons / undecayed bosons with Delta pT / pT = 0.01 around 1 TeV;
#: we read that as the full width, i.e. +-0.5 %.
PARTON_PT_HALF_SPREAD = 0.005
#: Mass of the heavy resonance in ``resonance`` mode, in units of the centre of the jet
#: window: 2.2 x 1000 GeV = 2200 GeV for the default 900-1100 GeV window, so that the
#: Jacobian peak of the daughters' pT (at M/2) sits at the top of that window. Tied to
#: the centre (not the upper edge), so that widening the window keeps the same events.
RESONANCE_MASS_OVER_PT_CENTER = 2.2
#: The heavy resonance's mass is generated within +-10 % of its pole mass (the
#: parton luminosity otherwise fills the low-mass Breit-Wigner tail with useless events).
RESONANCE_MASS_HALF_RANGE = 0.10
#: W/Z/top masses are limited to |m - m0| < 15 widths (MadGraph's default bwcutoff).
BW_CUTOFF_WIDTHS = 15.0
#: Pole masses and widths (GeV), Pythia 8.3 defaults, to build the mass windows.
M_W, GAMMA_W = 80.385, 2.085
M_Z, GAMMA_Z = 91.1876, 2.4952
M_TOP, GAMMA_TOP = 173.0, 1.4
#: pp tune: Monash 2013 (Pythia's default, named by the public dataset's description).
TUNE_PP_MONASH_2013 = 14


@dataclass(frozen=True)
class ClassProcess:
    """How one class is produced: Pythia settings and which truth particles label a jet.

    ``stage_a`` is empty for one-stage generation; otherwise it makes the undecayed
    hard process and ``main`` reads it through the Les Houches interface.
    """

    name: str
    description: str
    main: tuple[str, ...]
    stage_a: tuple[str, ...] = ()
    truth_ids: frozenset[int] = frozenset()

    @property
    def two_stage(self) -> bool:
        return bool(self.stage_a)


def common_settings(sqrt_s_gev: float) -> tuple[str, ...]:
    """Settings shared by every Pythia instance (beams, tune, quiet)."""
    return (
        f"Beams:eCM = {sqrt_s_gev:.1f}",
        f"Tune:pp = {TUNE_PP_MONASH_2013}",
        "PartonLevel:MPI = on",
        "HadronLevel:all = on",
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Next:numberShowEvent = 0",
        "Next:numberShowProcess = 0",
        "Next:numberShowInfo = 0",
        "Random:setSeed = on",
    )


def _mass_window(pdg: int, m0: float, width: float) -> tuple[str, ...]:
    lo = m0 - BW_CUTOFF_WIDTHS * width
    hi = m0 + BW_CUTOFF_WIDTHS * width
    return (f"{pdg}:mMin = {lo:.4f}", f"{pdg}:mMax = {hi:.4f}")


def _hadronic(pdg: int) -> tuple[str, ...]:
    return (f"{pdg}:onMode = off", f"{pdg}:onIfAny = {' '.join(map(str, DECAY_QUARKS))}")


def _pthat(pt_center: float) -> tuple[str, ...]:
    return (
        f"PhaseSpace:pTHatMin = {pt_center * (1.0 - PARTON_PT_HALF_SPREAD):.4f}",
        f"PhaseSpace:pTHatMax = {pt_center * (1.0 + PARTON_PT_HALF_SPREAD):.4f}",
    )


_BOSON_MASSES = _mass_window(PDG_W, M_W, GAMMA_W) + _mass_window(PDG_Z, M_Z, GAMMA_Z)
_TOP_MASS = _mass_window(PDG_TOP, M_TOP, GAMMA_TOP)
_DECAYS = _hadronic(PDG_W) + _hadronic(PDG_Z)

#: Hard processes of the direct mode, per class.
_DIRECT_HARD: dict[str, tuple[tuple[str, ...], str]] = {
    "g": (("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"), "g g -> g g, q qbar -> g g"),
    "q": (
        ("HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:gg2qqbar = on",
         f"HardQCD:nQuarkNew = {len(LIGHT_QUARKS)}"),
        "q q' -> q q', q qbar -> q' qbar', g g -> q qbar (u, d, s, c)",
    ),
    "w": (("WeakDoubleBoson:ffbar2WW = on",), "q qbar -> W+ W-, W -> q q'"),
    "z": (("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2"), "q qbar -> Z Z, Z -> q qbar"),
    "t": (("Top:gg2ttbar = on", "Top:qqbar2ttbar = on"), "g g / q qbar -> t tbar, t -> W b, W -> q q'"),
}

_TRUTH: dict[str, frozenset[int]] = {
    "g": frozenset({PDG_GLUON}),
    "q": frozenset(LIGHT_QUARKS),
    "w": frozenset({PDG_W}),
    "z": frozenset({PDG_Z}),
    "t": frozenset({PDG_TOP}),
}


def _resonance_hard(cls: str, pt_center: float) -> tuple[tuple[str, ...], str]:
    mass = RESONANCE_MASS_OVER_PT_CENTER * pt_center
    lo, hi = mass * (1.0 - RESONANCE_MASS_HALF_RANGE), mass * (1.0 + RESONANCE_MASS_HALF_RANGE)
    if cls in ("w", "t"):
        zp = (
            "NewGaugeBoson:ffbar2gmZZprime = on",
            "Zprime:gmZmode = 3",
            f"{PDG_ZPRIME}:m0 = {mass:.4f}",
            f"{PDG_ZPRIME}:mMin = {lo:.4f}",
            f"{PDG_ZPRIME}:mMax = {hi:.4f}",
            f"{PDG_ZPRIME}:onMode = off",
        )
        if cls == "w":
            return zp + (
                "Zprime:coup2WW = 1.0",
                "Zprime:anglesWW = 1.0",
                f"{PDG_ZPRIME}:onIfMatch = {PDG_W} -{PDG_W}",
            ), f"q qbar -> Z'({mass:.0f} GeV) -> W+ W- (longitudinal decay angles)"
        return zp + (f"{PDG_ZPRIME}:onIfMatch = {PDG_TOP} -{PDG_TOP}",), (
            f"q qbar -> Z'({mass:.0f} GeV) -> t tbar"
        )
    # z: W' -> W Z; only the Z jet is labelled (the W jet is dropped as unmatched)
    return (
        "NewGaugeBoson:ffbar2Wprime = on",
        f"{PDG_WPRIME}:m0 = {mass:.4f}",
        f"{PDG_WPRIME}:mMin = {lo:.4f}",
        f"{PDG_WPRIME}:mMax = {hi:.4f}",
        "Wprime:coup2WZ = 1.0",
        "Wprime:anglesWZ = 1.0",
        f"{PDG_WPRIME}:onMode = off",
        f"{PDG_WPRIME}:onIfMatch = {PDG_W} {PDG_Z}",
    ), f"q qbar' -> W'({mass:.0f} GeV) -> W Z (longitudinal decay angles), Z jets kept"


@functools.lru_cache(maxsize=64)
def class_process(cls: str, production: str, pt_min: float, pt_max: float, sqrt_s_gev: float) -> ClassProcess:
    """The Pythia settings for class ``cls`` (one of g, q, w, z, t)."""
    if cls not in _TRUTH:
        raise PhysicsError(f"no process for class {cls!r}")
    common = common_settings(sqrt_s_gev)
    center = 0.5 * (pt_min + pt_max)
    truth = _TRUTH[cls]
    if cls in ("g", "q"):
        hard, desc = _DIRECT_HARD[cls]
        return ClassProcess(cls, desc, main=common + hard + _pthat(center), truth_ids=truth)
    if production == "direct" or (production == "resonance-wz" and cls == "t"):
        hard, desc = _DIRECT_HARD[cls]
        stage_a = (
            common
            + hard
            + _pthat(center)
            + _BOSON_MASSES
            + _TOP_MASS
            + ("ProcessLevel:resonanceDecays = off", "PartonLevel:all = off", "HadronLevel:all = off")
        )
        main = common + ("Beams:frameType = 5",) + _BOSON_MASSES + _TOP_MASS + _DECAYS
        return ClassProcess(cls, desc + " (decayed by Pythia after the hard process)", main, stage_a, truth)
    if production in ("resonance", "resonance-wz"):
        hard, desc = _resonance_hard(cls, center)
        main = common + hard + _BOSON_MASSES + _TOP_MASS + _DECAYS
        return ClassProcess(cls, desc, main=main, truth_ids=truth)
    raise PhysicsError(f"unknown production {production!r}")


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict[str, str]:
    """Versions of the generator tools; they enter the settings hash and the provenance."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pythia8mc", "fastjet"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - both are hard dependencies
            out[pkg] = "missing"
    return out


#: Modules whose source determines the feature values (fingerprinted into the settings
#: hash, so that chunks made with older feature code are never merged with newer ones).
FEATURE_MODULES: tuple[str, ...] = (
    "spikejet.physics.features",
    "spikejet.physics.cluster",
    "spikejet.physics.detector",
)


#: Modules whose source determines the pileup overlay and the track measurements (their
#: fingerprint enters the settings hash of pileup runs only).
PILEUP_MODULES: tuple[str, ...] = (
    "spikejet.physics.pileup",
    "spikejet.physics.timing",
    "spikejet.physics.events",
)


def feature_code_fingerprint(modules: tuple[str, ...] = FEATURE_MODULES) -> str:
    """Short sha256 of the source files of ``modules`` (default: the feature code; empty
    modules are skipped)."""
    import hashlib
    import importlib.util

    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        with open(spec.origin, "rb") as fh:
            h.update(name.encode() + b"\0" + fh.read() + b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- truth matching
#: Process-record status codes of outgoing hard particles: 23 = outgoing final parton,
#: -22 = intermediate (a W/Z/top that has decayed), 22 = undecayed intermediate.
_OUTGOING_STATUS = (23, 22, -22)


def truth_candidates(process_record, truth_ids: Iterable[int]) -> np.ndarray:
    """(k, 2) array of (rapidity, phi) of the hard-process particles a jet may match.

    ``process_record`` is ``pythia.process``; particles whose |PDG id| is in
    ``truth_ids`` and that are outgoing (not incoming beams or partons) are returned.
    """
    ids = frozenset(truth_ids)
    out = []
    for i in range(process_record.size()):
        p = process_record[i]
        if abs(p.id()) in ids and p.status() in _OUTGOING_STATUS:
            out.append((p.y(), p.phi()))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def delta_r(y1: np.ndarray, phi1: np.ndarray, y2: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    """Distance in the rapidity-azimuth plane, with phi wrapped into [-pi, pi)."""
    dphi = np.mod(np.asarray(phi1) - np.asarray(phi2) + np.pi, 2.0 * np.pi) - np.pi
    return np.hypot(np.asarray(y1) - np.asarray(y2), dphi)


def match_jets(jet_y: np.ndarray, jet_phi: np.ndarray, candidates: np.ndarray, max_dr: float) -> np.ndarray:
    """Boolean mask: which jets lie within ``max_dr`` of at least one truth candidate."""
    jet_y = np.asarray(jet_y, dtype=np.float64)
    if candidates.size == 0 or jet_y.size == 0:
        return np.zeros(jet_y.shape, dtype=bool)
    dr = delta_r(jet_y[:, None], np.asarray(jet_phi)[:, None], candidates[None, :, 0], candidates[None, :, 1])
    return (dr < max_dr).any(axis=1)
