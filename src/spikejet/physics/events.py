"""The event loop: Pythia 8 events -> anti-kT R=0.8 jets -> selection -> truth labels -> features.

One call of :func:`generate_chunk` produces exactly ``n_jets`` labelled jets of one
class from its own random seed(s); it is a pure function of its arguments (same
arguments -> same numbers), which makes chunks reproducible and resumable.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.schema import CLASS_NAMES, N_FEATURES, PARTICLE_FIELDS
from ..errors import PhysicsError
from .config import (
    JET_RADIUS,
    MATCH_DELTA_R,
    MAX_JETS_PER_EVENT,
    SQRT_S_GEV,
    GenerateConfig,
)
from .detector import detector_model
from .detector import simulate as detector_simulate
from .pileup import OVERLAY_MARGIN, PILEUP_STREAM, PileupPool, draw_overlay, make_pool
from .processes import ClassProcess, class_process, delta_r, match_jets, truth_candidates
from .timing import measure_tracks

__all__ = ["ChunkData", "generate_chunk", "make_source", "cluster_jets", "visible_final_state", "compute_features"]

#: Jets softer than this fraction of pt_min are not even returned by the clustering.
CLUSTER_PT_FLOOR_FRACTION = 0.5
#: Give up when a chunk needs more than this many events per requested jet (the window
#: or the matching then almost never succeeds, e.g. an extreme pT window).
MAX_EVENTS_PER_JET = 200
#: Extra events allowed on top of MAX_EVENTS_PER_JET * n_jets before giving up.
MIN_EVENT_ALLOWANCE = 2000
#: Give up after this many consecutive failed Pythia events.
MAX_CONSECUTIVE_FAILURES = 100
#: Les Houches conventions: incoming / outgoing / decayed status, spin "unknown".
LHA_STATUS_IN, LHA_STATUS_OUT, LHA_STATUS_DECAYED = -1, 1, 2
LHA_SPIN_UNKNOWN = 9.0
#: Process-record status of incoming hard partons.
STATUS_INCOMING_HARD = -21
#: Dummy process code and cross section handed to the Les Houches interface (the
#: stage-B generator never uses cross sections; the events are unweighted).
LHA_PROCESS_CODE = 9999
LHA_STRATEGY_UNWEIGHTED = 3
PDG_PROTON = 2212
#: Third entropy word of the detector's random stream (the first two are the chunk seeds),
#: so that the detector's draws never coincide with another stream's.
DETECTOR_STREAM = 0xDE7EC7
#: The jet of the full (hard + pileup) event that stands for a selected hard jet: the
#: one whose axis is nearest it, if within this Delta R (rapidity-azimuth); else the
#: jet is dropped and counted in ``stats["pileup_unmatched"]``.
PILEUP_MATCH_DELTA_R = 0.4
#: Per-jet columns of the pileup record (ChunkData.pileup) besides the constituents.
PILEUP_JET_KEYS = ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "hard_pt", "hard_mass",
                   "pv_z_mm", "pv_t_ps", "n_pileup", "n_constituents")
PILEUP_CONSTITUENT_KEYS = ("pt", "eta_rel", "phi_rel", "e", "charge", "pid", "origin", "z0_mm", "t_ps")


@dataclass
class ChunkData:
    """The jets of one chunk plus counters. Arrays are row-aligned (n jets)."""

    cls: str
    X: np.ndarray  # (n, 16) float64
    pt: np.ndarray
    eta: np.ndarray
    mass: np.ndarray
    phi: np.ndarray | None = None  # jet azimuth in [-pi, pi)
    matched: np.ndarray | None = None  # (n,) bool: the jet matched a truth particle
    rank: np.ndarray | None = None  # (n,) int: 0 = the hardest jet of its event, 1 = the next...
    particles: np.ndarray | None = None  # (n, P, 6) float32, fields PARTICLE_FIELDS
    n_particles: np.ndarray | None = None  # (n,) int32, number stored (<= P)
    #: with pileup: PILEUP_JET_KEYS (n,) and PILEUP_CONSTITUENT_KEYS (sum n_constituents,)
    pileup: dict[str, np.ndarray] | None = None
    stats: dict = field(default_factory=dict)  # deterministic counters
    timing: dict = field(default_factory=dict)  # seconds; not part of any output file

    @property
    def label(self) -> int:
        return CLASS_NAMES.index(self.cls)

    def __len__(self) -> int:
        return int(self.X.shape[0])


# ---------------------------------------------------------------- FastJet
_BANNER_DONE = False


@contextlib.contextmanager
def _stdout_to_devnull():
    """Redirect file descriptor 1 (C-level stdout) to /dev/null for the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            yield
        finally:
            os.close(devnull)
            sys.stdout.flush()
            os.dup2(saved, 1)
    finally:
        os.close(saved)


def _silence_fastjet_banner() -> None:
    """FastJet prints its banner on the first clustering in a process: do that one quietly."""
    global _BANNER_DONE
    if _BANNER_DONE:
        return
    import fastjet

    with _stdout_to_devnull():
        jd = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS)
        fastjet.ClusterSequence([fastjet.PseudoJet(1.0, 0.0, 1.0, 2.0)], jd).inclusive_jets()
    _BANNER_DONE = True


def visible_final_state(event) -> np.ndarray:
    """(n, 6) px, py, pz, E, charge, PDG id of the final-state particles a detector can see
    (no neutrinos)."""
    rows = [(p.px(), p.py(), p.pz(), p.e(), p.charge(), p.id()) for p in event if p.isFinal() and p.isVisible()]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


@dataclass
class Jet:
    pt: float
    eta: float
    rap: float
    phi: float
    mass: float
    constituents: np.ndarray  # (n, 6) px, py, pz, E, charge, PDG id (input row order)


def cluster_jets(particles: np.ndarray, pt_floor: float) -> list[Jet]:
    """anti-kT R=0.8 jets with pT > ``pt_floor``, hardest first.

    ``particles`` has one row per particle; the first four columns are px, py, pz, E,
    further columns (charge, PDG id) are carried along to the jet's constituents.
    """
    import fastjet

    _silence_fastjet_banner()
    particles = np.asarray(particles, dtype=np.float64)
    pjs = []
    for i, (a, b, c, d) in enumerate(particles[:, :4].tolist()):
        pj = fastjet.PseudoJet(a, b, c, d)
        pj.set_user_index(i)
        pjs.append(pj)
    jd = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS)
    cs = fastjet.ClusterSequence(pjs, jd)
    jets = []
    for j in fastjet.sorted_by_pt(cs.inclusive_jets(pt_floor)):
        idx = np.sort(np.array([c.user_index() for c in j.constituents()], dtype=np.int64))
        cons = particles[idx].reshape(-1, particles.shape[1])
        jets.append(Jet(j.pt(), j.eta(), j.rap(), j.phi_std(), j.m(), cons))
    return jets


# ---------------------------------------------------------------- Pythia sources
def _new_pythia(settings: tuple[str, ...], seed: int):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)  # no banner
    for s in settings + (f"Random:seed = {seed}",):
        if not pythia.readString(s):
            raise PhysicsError(f"Pythia rejected the setting {s!r} (pythia8mc version mismatch?)")
    return pythia


class _HardProcessHandoff:
    """Les Houches hand-off: stage A's undecayed hard process becomes stage B's input.

    Built lazily as a subclass of ``pythia8mc.LHAup`` so that importing this module
    does not import Pythia.
    """

    @staticmethod
    def create(stage_a, sqrt_s_gev: float):
        import pythia8mc

        class Handoff(pythia8mc.LHAup):
            def __init__(self) -> None:
                pythia8mc.LHAup.__init__(self, LHA_STRATEGY_UNWEIGHTED)
                self.failures = 0

            def setInit(self) -> bool:  # noqa: N802 - Pythia's name
                self.setBeamA(PDG_PROTON, 0.5 * sqrt_s_gev)
                self.setBeamB(PDG_PROTON, 0.5 * sqrt_s_gev)
                self.setStrategy(LHA_STRATEGY_UNWEIGHTED)
                self.addProcess(LHA_PROCESS_CODE, 1.0, 0.0, 1.0)
                return True

            def setEvent(self, idProcess: int = 0) -> bool:  # noqa: N802, N803
                while not stage_a.next():
                    self.failures += 1
                    if self.failures > MAX_CONSECUTIVE_FAILURES:
                        return False
                self.failures = 0
                info = stage_a.infoPython()
                ev = stage_a.process
                self.setProcess(LHA_PROCESS_CODE, 1.0, info.QRen(), info.alphaEM(), info.alphaS())
                for i in range(3, ev.size()):  # skip the system and the two beams
                    p = ev[i]
                    if p.status() == STATUS_INCOMING_HARD:
                        st = LHA_STATUS_IN
                    elif p.isFinal():
                        st = LHA_STATUS_OUT
                    else:
                        st = LHA_STATUS_DECAYED
                    m1 = p.mother1() - 2 if p.mother1() >= 3 else 0
                    m2 = p.mother2() - 2 if p.mother2() >= 3 else 0
                    self.addParticle(
                        p.id(), st, m1, m2, p.col(), p.acol(),
                        p.px(), p.py(), p.pz(), p.e(), p.m(), 0.0, LHA_SPIN_UNKNOWN, p.scale(),
                    )
                self.setIdX(info.id1(), info.id2(), info.x1(), info.x2())
                return True

        return Handoff()


class EventSource:
    """One or two Pythia instances that together yield complete events of one class."""

    def __init__(self, proc: ClassProcess, seeds: tuple[int, int], sqrt_s_gev: float = SQRT_S_GEV) -> None:
        self.proc = proc
        self._keep = []
        if proc.two_stage:
            stage_a = _new_pythia(proc.stage_a, seeds[1])
            if not stage_a.init():
                raise PhysicsError(f"Pythia could not initialise the hard process of class {proc.name!r}")
            handoff = _HardProcessHandoff.create(stage_a, sqrt_s_gev)
            main = _new_pythia(proc.main, seeds[0])
            main.setLHAupPtr(handoff)
            self._keep = [stage_a, handoff]  # keep Python references alive
        else:
            main = _new_pythia(proc.main, seeds[0])
        if not main.init():
            raise PhysicsError(
                f"Pythia could not initialise class {proc.name!r} ({proc.description}); "
                "is the pT window reachable at this collision energy?"
            )
        self.pythia = main

    def next(self) -> bool:
        return bool(self.pythia.next())

    @property
    def event(self):
        return self.pythia.event

    @property
    def process(self):
        return self.pythia.process


def make_source(cfg: GenerateConfig, cls: str, seeds: tuple[int, int]) -> EventSource:
    proc = class_process(cls, cfg.production, cfg.pt_min, cfg.pt_max, SQRT_S_GEV)
    return EventSource(proc, seeds)


# ---------------------------------------------------------------- features
def compute_features(constituents: list[np.ndarray]) -> np.ndarray:
    """The 16 hls4ml features of each jet, (n, 16) float64 (spikejet.physics.features)."""
    from .features import jet_features_batch

    return np.asarray(jet_features_batch(constituents), dtype=np.float64).reshape(-1, N_FEATURES)


def _pt_ordered(cons: np.ndarray, n_max: int) -> np.ndarray:
    pt = np.hypot(cons[:, 0], cons[:, 1])
    order = np.argsort(-pt, kind="stable")[:n_max]
    return cons[order]


def particle_fields(jet: Jet, n_max: int) -> np.ndarray:
    """(k, 6) float32 rows (PARTICLE_FIELDS) of the ``n_max`` highest-pT constituents.

    pt and e in GeV; eta_rel = eta - jet eta and phi_rel = phi - jet phi (wrapped into
    [-pi, pi)) relative to the jet axis; charge in units of e; PDG id.
    """
    c = _pt_ordered(jet.constituents, n_max)
    px, py, pz, e = c[:, 0], c[:, 1], c[:, 2], c[:, 3]
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.where(pt > 0, pt, 1.0))
    dphi = np.mod(np.arctan2(py, px) - jet.phi + np.pi, 2.0 * np.pi) - np.pi
    out = np.stack([pt, eta - jet.eta, dphi, e, c[:, 4], c[:, 5]], axis=1)
    return out.astype(np.float32)


# ---------------------------------------------------------------- pileup
@dataclass
class PileupJet:
    """The full-event jet standing for one selected hard jet, with its measurements."""

    jet: Jet  # constituents (n, 9): px, py, pz, E, charge, PDG id, origin, z_v, t_v
    z0_mm: np.ndarray
    t_ps: np.ndarray
    hard_pt: float
    hard_mass: float
    pv_z_mm: float
    pv_t_ps: float
    n_pileup: int


def overlay_event(cfg: GenerateConfig, pool: PileupPool, rng: np.random.Generator, visible: np.ndarray,
                  hard_jets: list, pt_floor: float, speed_cut: bool = True) -> list[PileupJet | None]:
    """Overlay the pileup on one hard event and recluster; one entry per selected hard jet
    (None: no full-event jet within PILEUP_MATCH_DELTA_R of it).

    ``speed_cut``: only pileup particles within R + OVERLAY_MARGIN of a hard jet's axis
    enter the clustering (False: all of them; the same jets, tested)."""
    model = cfg.timing
    pv_z, pv_t = float(rng.normal(0.0, model.sigma_z_mm)), float(rng.normal(0.0, model.sigma_t_ps))
    axes = np.array([[j.rap, j.phi] for j in hard_jets], dtype=np.float64).reshape(-1, 2)
    pu, n_in = draw_overlay(pool, rng, cfg.pileup, cfg.out_of_time, model, axes if speed_cut else None,
                            JET_RADIUS + OVERLAY_MARGIN)
    hard = np.column_stack([visible[:, :6], np.zeros(len(visible)), np.full(len(visible), pv_z),
                            np.full(len(visible), pv_t)])
    full = cluster_jets(np.vstack([hard, pu]), pt_floor)
    used: set[int] = set()
    out: list[PileupJet | None] = []
    for hj in hard_jets:
        dr = delta_r(np.array([f.rap for f in full]), np.array([f.phi for f in full]), hj.rap, hj.phi)
        best = int(np.argmin(dr)) if len(full) else -1
        if best < 0 or dr[best] >= PILEUP_MATCH_DELTA_R or best in used:
            out.append(None)
            continue
        used.add(best)
        c = full[best].constituents
        z0, t = measure_tracks(c[:, :6], c[:, 7], c[:, 8], cfg.timing_resolution_ps, model, rng)
        out.append(PileupJet(full[best], z0, t, hj.pt, hj.mass, pv_z, pv_t, n_in))
    return out


def _pileup_arrays(records: list[PileupJet]) -> dict[str, np.ndarray]:
    """The flat pileup record of a chunk: per-jet and pT-ordered per-constituent arrays."""
    jets: dict[str, list] = {k: [] for k in PILEUP_JET_KEYS}
    cons: dict[str, list] = {k: [] for k in PILEUP_CONSTITUENT_KEYS}
    for r in records:
        j, c = r.jet, r.jet.constituents
        order = np.argsort(-np.hypot(c[:, 0], c[:, 1]), kind="stable")
        rows = particle_fields(Jet(j.pt, j.eta, j.rap, j.phi, j.mass, c[order, :6]), len(c))
        for i, k in enumerate(PARTICLE_FIELDS):
            cons[k].append(rows[:, i])
        cons["origin"].append(c[order, 6].astype(np.int32))
        cons["z0_mm"].append(r.z0_mm[order].astype(np.float32))
        cons["t_ps"].append(r.t_ps[order].astype(np.float32))
        for k, v in (("jet_pt", j.pt), ("jet_eta", j.eta), ("jet_phi", j.phi), ("jet_mass", j.mass),
                     ("hard_pt", r.hard_pt), ("hard_mass", r.hard_mass), ("pv_z_mm", r.pv_z_mm),
                     ("pv_t_ps", r.pv_t_ps), ("n_pileup", r.n_pileup), ("n_constituents", len(c))):
            jets[k].append(v)
    out = {k: np.asarray(v, dtype=np.int32 if k in ("n_pileup", "n_constituents") else np.float64)
           for k, v in jets.items()}
    out.update({k: np.concatenate(v) if v else np.zeros(0, np.float32) for k, v in cons.items()})
    return out


# ---------------------------------------------------------------- the loop
def _jet_columns(kept: list, kept_matched: list, kept_rank: list) -> dict[str, np.ndarray]:
    return {
        "pt": np.array([j.pt for j in kept], dtype=np.float64),
        "eta": np.array([j.eta for j in kept], dtype=np.float64),
        "mass": np.array([j.mass for j in kept], dtype=np.float64),
        "phi": np.array([j.phi for j in kept], dtype=np.float64),
        "matched": np.array(kept_matched, dtype=bool),
        "rank": np.array(kept_rank, dtype=np.int64),
    }


def _keep_jets(cfg: GenerateConfig, jets: list, source: Any, truth_ids: Any, keep_unmatched: bool, n_jets: int,
               kept: list, kept_matched: list, kept_rank: list, stats: dict) -> None:
    """One event's jets: the two hardest in the window, matched to the truth, appended to ``kept``."""
    ranks = [r for r, j in enumerate(jets) if cfg.pt_min <= j.pt < cfg.pt_max and abs(j.eta) < cfg.eta_max]
    ranks = ranks[:MAX_JETS_PER_EVENT]
    passing = [jets[r] for r in ranks]
    if not passing:
        return
    stats["selected"] += len(passing)
    cands = truth_candidates(source.process, truth_ids)
    ok_mask = match_jets(
        np.array([j.rap for j in passing]), np.array([j.phi for j in passing]), cands, MATCH_DELTA_R
    )
    stats["unmatched"] += int((~ok_mask).sum())
    for j, m, r in zip(passing, ok_mask, ranks, strict=True):
        if not (m or keep_unmatched):
            continue
        if len(kept) < n_jets:
            kept.append(j)
            kept_matched.append(bool(m))
            kept_rank.append(r)
        else:
            stats["surplus"] += 1


class _Overlay:
    """The pileup of one chunk: the pool, the random stream and the records of kept jets."""

    def __init__(self, cfg: GenerateConfig, seeds: tuple[int, int]) -> None:
        self.cfg = cfg
        self.pool = make_pool(cfg.pileup_pool, seeds, SQRT_S_GEV, _new_pythia, visible_final_state,
                              MAX_CONSECUTIVE_FAILURES)
        self.rng = np.random.default_rng([int(seeds[0]), int(seeds[1]), PILEUP_STREAM])
        self.records: list[PileupJet] = []

    def event(self, visible: np.ndarray, kept: list, kept_matched: list, kept_rank: list, first: int,
              pt_floor: float, stats: dict) -> None:
        """Overlay the pileup on the event whose selected jets are ``kept[first:]``; jets
        without a full-event counterpart are removed from the kept lists."""
        if len(kept) == first:
            return
        recs = overlay_event(self.cfg, self.pool, self.rng, visible, kept[first:], pt_floor)
        for i in reversed(range(len(recs))):
            if recs[i] is None:
                stats["pileup_unmatched"] = stats.get("pileup_unmatched", 0) + 1
                for lst in (kept, kept_matched, kept_rank):
                    del lst[first + i]
        self.records.extend(r for r in recs if r is not None)


def generate_chunk(cfg: GenerateConfig, cls: str, n_jets: int, seeds: tuple[int, int]) -> ChunkData:
    """Generate exactly ``n_jets`` labelled jets of class ``cls``.

    Per event: take the visible final state (through the detector model of
    ``cfg.detector``, if any), cluster it with anti-kT R=0.8, keep jets with
    ``pt_min <= pT < pt_max`` and ``|eta| < eta_max``, take the two hardest of them,
    and check whether each lies within Delta R < 0.6 of a truth particle of the
    class. With ``labelling="match"`` only matched jets are kept (the others are
    counted in ``stats["unmatched"]``); with ``"event"`` every one is kept. With
    ``cfg.pileup > 0`` the selection is the same (on the hard interaction alone); then
    the pileup is overlaid, the event reclustered and the full-event jets stored
    (docs/pileup.md).
    """
    if n_jets <= 0:
        raise PhysicsError(f"a chunk needs a positive number of jets, got {n_jets}")
    t0 = time.perf_counter()
    source = make_source(cfg, cls, seeds)
    truth_ids = source.proc.truth_ids
    detector = detector_model(cfg.detector)
    det_rng = np.random.default_rng([int(seeds[0]), int(seeds[1]), DETECTOR_STREAM])
    overlay = _Overlay(cfg, seeds) if cfg.pileup > 0 else None
    keep_unmatched = cfg.labelling == "event"
    t_init = time.perf_counter() - t0
    pt_floor = CLUSTER_PT_FLOOR_FRACTION * cfg.pt_min
    max_events = MAX_EVENTS_PER_JET * n_jets + MIN_EVENT_ALLOWANCE

    kept: list[Jet] = []
    kept_matched: list[bool] = []
    kept_rank: list[int] = []
    stats = {"events": 0, "failed_events": 0, "selected": 0, "unmatched": 0, "surplus": 0}
    t_pythia = t_cluster = 0.0
    consecutive_fail = 0
    while len(kept) < n_jets:
        if stats["events"] >= max_events:
            raise PhysicsError(
                f"class {cls!r}: only {len(kept)} of {n_jets} jets after {stats['events']} events; "
                f"the window pT in [{cfg.pt_min:g}, {cfg.pt_max:g}) GeV, |eta| < {cfg.eta_max:g} "
                "is almost never populated; widen it"
            )
        ta = time.perf_counter()
        ok = source.next()
        t_pythia += time.perf_counter() - ta
        stats["events"] += 1
        if not ok:
            stats["failed_events"] += 1
            consecutive_fail += 1
            if consecutive_fail > MAX_CONSECUTIVE_FAILURES:
                raise PhysicsError(f"class {cls!r}: Pythia failed {consecutive_fail} events in a row")
            continue
        consecutive_fail = 0
        tb = time.perf_counter()
        visible = visible_final_state(source.event)
        if detector is not None:
            visible = detector_simulate(visible, detector, det_rng)
        jets = cluster_jets(visible, pt_floor)
        first = len(kept)
        _keep_jets(cfg, jets, source, truth_ids, keep_unmatched, n_jets, kept, kept_matched, kept_rank, stats)
        if overlay is not None:
            overlay.event(visible, kept, kept_matched, kept_rank, first, pt_floor, stats)
        t_cluster += time.perf_counter() - tb
    timing = {"init_s": t_init, "pythia_s": t_pythia, "clustering_s": t_cluster}
    return _chunk_data(cfg, cls, n_jets, kept, kept_matched, kept_rank, overlay, stats, timing, t0)


def _feature_inputs(cfg: GenerateConfig, constituents: np.ndarray, pileup: bool) -> np.ndarray:
    """(n, 4) four-momenta the 16 features are computed from: all constituents, or with
    pileup those above ``cfg.feature_pt_min`` (config.DEFAULT_FEATURE_PT_MIN says why)."""
    p4 = constituents[:, :4]
    if pileup and cfg.feature_pt_min > 0:
        p4 = p4[np.hypot(p4[:, 0], p4[:, 1]) > cfg.feature_pt_min]
    return p4


def _chunk_data(cfg: GenerateConfig, cls: str, n_jets: int, kept: list, kept_matched: list, kept_rank: list,
                overlay: _Overlay | None, stats: dict, timing: dict, t0: float) -> ChunkData:
    """Features, jet columns and (optionally) particles and the pileup record of the kept jets."""
    stored = kept if overlay is None else [r.jet for r in overlay.records]
    tc = time.perf_counter()
    X = compute_features([_feature_inputs(cfg, j.constituents, overlay is not None) for j in stored])
    t_features = time.perf_counter() - tc
    if X.shape != (n_jets, N_FEATURES):
        raise PhysicsError(f"feature code returned shape {X.shape}, expected {(n_jets, N_FEATURES)}")
    data = ChunkData(
        cls=cls,
        X=X,
        **_jet_columns(stored, kept_matched, kept_rank),
        stats=stats,
        timing=dict(timing, features_s=t_features, total_s=time.perf_counter() - t0),
    )
    if cfg.constituents:
        data.particles, data.n_particles = _particles(stored, cfg.constituents)
    if overlay is not None:
        data.pileup = _pileup_arrays(overlay.records)
    return data


def _particles(kept: list, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` leading constituents of every jet (padded with zeros) and how many each has."""
    parts = np.zeros((len(kept), k, len(PARTICLE_FIELDS)), dtype=np.float32)
    npart = np.zeros(len(kept), dtype=np.int32)
    for i, j in enumerate(kept):
        rows = particle_fields(j, k)
        parts[i, : len(rows)] = rows
        npart[i] = len(rows)
    return parts, npart
