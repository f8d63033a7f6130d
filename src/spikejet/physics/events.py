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

import numpy as np

from ..data.schema import CLASS_NAMES, N_FEATURES
from ..errors import PhysicsError
from .config import (
    JET_RADIUS,
    MATCH_DELTA_R,
    MAX_CONSTITUENTS,
    MAX_JETS_PER_EVENT,
    SQRT_S_GEV,
    GenerateConfig,
)
from .processes import ClassProcess, class_process, match_jets, truth_candidates

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


@dataclass
class ChunkData:
    """The jets of one chunk plus counters. Arrays are row-aligned (n jets)."""

    cls: str
    X: np.ndarray  # (n, 16) float64
    pt: np.ndarray
    eta: np.ndarray
    mass: np.ndarray
    constituents: np.ndarray | None = None  # (n, 100, 4) float32 px, py, pz, E
    n_constituents: np.ndarray | None = None  # (n,) int32, number stored (<= 100)
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
    """(n, 4) px, py, pz, E of the final-state particles that a detector can see (no neutrinos)."""
    rows = [(p.px(), p.py(), p.pz(), p.e()) for p in event if p.isFinal() and p.isVisible()]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


@dataclass
class Jet:
    pt: float
    eta: float
    rap: float
    phi: float
    mass: float
    constituents: np.ndarray  # (n, 4) px, py, pz, E


def cluster_jets(particles: np.ndarray, pt_floor: float) -> list[Jet]:
    """anti-kT R=0.8 jets with pT > ``pt_floor``, hardest first."""
    import fastjet

    _silence_fastjet_banner()
    pjs = [fastjet.PseudoJet(float(a), float(b), float(c), float(d)) for a, b, c, d in particles]
    jd = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_RADIUS)
    cs = fastjet.ClusterSequence(pjs, jd)
    jets = []
    for j in fastjet.sorted_by_pt(cs.inclusive_jets(pt_floor)):
        cons = np.array([[c.px(), c.py(), c.pz(), c.E()] for c in j.constituents()], dtype=np.float64)
        jets.append(Jet(j.pt(), j.eta(), j.rap(), j.phi_std(), j.m(), cons.reshape(-1, 4)))
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


# ---------------------------------------------------------------- the loop
def generate_chunk(cfg: GenerateConfig, cls: str, n_jets: int, seeds: tuple[int, int]) -> ChunkData:
    """Generate exactly ``n_jets`` labelled jets of class ``cls``.

    Per event: cluster the visible final state with anti-kT R=0.8, keep jets with
    ``pt_min <= pT < pt_max`` and ``|eta| < eta_max``, take the two hardest of them,
    and keep each one that lies within Delta R < 0.6 of a truth particle of the class
    (the others are dropped and counted in ``stats["unmatched"]``).
    """
    if n_jets <= 0:
        raise PhysicsError(f"a chunk needs a positive number of jets, got {n_jets}")
    t0 = time.perf_counter()
    source = make_source(cfg, cls, seeds)
    truth_ids = source.proc.truth_ids
    t_init = time.perf_counter() - t0
    pt_floor = CLUSTER_PT_FLOOR_FRACTION * cfg.pt_min
    max_events = MAX_EVENTS_PER_JET * n_jets + MIN_EVENT_ALLOWANCE

    kept: list[Jet] = []
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
        jets = cluster_jets(visible_final_state(source.event), pt_floor)
        passing = [j for j in jets if cfg.pt_min <= j.pt < cfg.pt_max and abs(j.eta) < cfg.eta_max]
        passing = passing[:MAX_JETS_PER_EVENT]
        if passing:
            stats["selected"] += len(passing)
            cands = truth_candidates(source.process, truth_ids)
            ok_mask = match_jets(
                np.array([j.rap for j in passing]), np.array([j.phi for j in passing]), cands, MATCH_DELTA_R
            )
            stats["unmatched"] += int((~ok_mask).sum())
            for j, m in zip(passing, ok_mask, strict=True):
                if not m:
                    continue
                if len(kept) < n_jets:
                    kept.append(j)
                else:
                    stats["surplus"] += 1
        t_cluster += time.perf_counter() - tb

    tc = time.perf_counter()
    X = compute_features([j.constituents for j in kept])
    t_features = time.perf_counter() - tc
    if X.shape != (n_jets, N_FEATURES):
        raise PhysicsError(f"feature code returned shape {X.shape}, expected {(n_jets, N_FEATURES)}")

    data = ChunkData(
        cls=cls,
        X=X,
        pt=np.array([j.pt for j in kept], dtype=np.float64),
        eta=np.array([j.eta for j in kept], dtype=np.float64),
        mass=np.array([j.mass for j in kept], dtype=np.float64),
        stats=stats,
        timing={
            "init_s": t_init,
            "pythia_s": t_pythia,
            "clustering_s": t_cluster,
            "features_s": t_features,
            "total_s": time.perf_counter() - t0,
        },
    )
    if cfg.constituents:
        cons = np.zeros((n_jets, MAX_CONSTITUENTS, 4), dtype=np.float32)
        ncons = np.zeros(n_jets, dtype=np.int32)
        for i, j in enumerate(kept):
            c = _pt_ordered(j.constituents, MAX_CONSTITUENTS)
            cons[i, : len(c)] = c
            ncons[i] = len(c)
        data.constituents = cons
        data.n_constituents = ncons
    return data
