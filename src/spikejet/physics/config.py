"""GenerateConfig: the frozen, validated description of one event-generation request.

Everything that changes the generated numbers lives here (and nothing else does):
two runs with equal configs produce the same jets, bit for bit. How the work is
executed (number of processes, Dask scheduler, progress bar) is *not* part of the
config, because it does not change the output.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from ..data.schema import CLASS_NAMES
from ..errors import ConfigError, PhysicsError
from .detector import DETECTOR_NAMES
from .pileup import pool_needed
from .timing import DEFAULT_TIMING, TIMING_RESOLUTION_PS, TimingModel

__all__ = [
    "GenerateConfig",
    "SQRT_S_GEV",
    "JET_RADIUS",
    "MAX_JETS_PER_EVENT",
    "MATCH_DELTA_R",
    "MAX_CONSTITUENTS",
    "DEFAULT_CONSTITUENTS",
    "PRODUCTIONS",
    "DETECTOR_CHOICES",
    "LABELLINGS",
    "GENERATOR_VERSION",
    "parse_classes",
]

#: Proton-proton centre-of-mass energy (GeV), LHC Run 2/3.
SQRT_S_GEV = 13000.0
#: Largest jet pT that energy conservation allows: half the collision energy (GeV).
PT_KINEMATIC_LIMIT_GEV = SQRT_S_GEV / 2.0
#: anti-kT distance parameter of the jets (hls4ml dataset: R = 0.8).
JET_RADIUS = 0.8
#: At most the two hardest jets that pass the selection are kept per event.
MAX_JETS_PER_EVENT = 2
#: A jet is labelled when its axis lies within this Delta R (rapidity-phi) of the truth particle.
MATCH_DELTA_R = 0.6
#: Most pT-ordered constituents a request may store per jet (``constituents=N``), and
#: the number ``constituents=True`` (CLI: ``--constituents`` without a number) stores.
MAX_CONSTITUENTS = 200
DEFAULT_CONSTITUENTS = 32
#: Largest |eta| a user may ask for (beyond the acceptance of any LHC tracker/calorimeter
#: used for substructure; jets there are not meaningful for this dataset).
ETA_LIMIT = 5.0
#: Largest master seed accepted (seeds are hashed into Pythia's 1..900000000 range).
MAX_MASTER_SEED = 2**63 - 1
#: How W, Z and top quarks are produced (see docs/physics.md and processes.py).
#: "resonance-wz": W and Z from the heavy resonances, top quarks direct.
PRODUCTIONS: tuple[str, ...] = ("direct", "resonance", "resonance-wz")
#: Detector presets (physics/detector.py); "none" = particle level.
DETECTOR_CHOICES: tuple[str, ...] = DETECTOR_NAMES
#: How jets are labelled: "match" keeps only jets within MATCH_DELTA_R of a truth
#: particle of the class; "event" labels every selected jet by its event's process
#: (each jet still records whether it matched, in ``extra["matched"]``).
LABELLINGS: tuple[str, ...] = ("match", "event")
#: Bump when the event loop, the selection or the Pythia settings change in a way that
#: changes the output: it enters the settings hash, so stale chunks are never reused.
GENERATOR_VERSION = 2

DEFAULT_PT_MIN = 900.0
DEFAULT_PT_MAX = 1100.0
DEFAULT_ETA_MAX = 2.0
DEFAULT_SEED = 2019
DEFAULT_CHUNK_SIZE = 500
DEFAULT_PRODUCTION = "resonance-wz"
DEFAULT_DETECTOR = "none"
DEFAULT_LABELLING = "match"
#: Largest mean pileup accepted (HL-LHC: 140 design, 200 ultimate; beyond 1000 is a typo).
MAX_PILEUP = 1000.0
#: Minimum-bias events generated per chunk for the overlay (docs/pileup.md: at MU = 200
#: a chunk of 50 jets (~35 events) draws ~7000 interactions, each pool event is reused
#: ~3.5 times, each time with its own vertex, rotation and reflection; the pool costs
#: ~4.3 ms per event, ~9 s per chunk, and serves up to MU ~ 1900 in time, ~600 with
#: out-of-time pileup).
DEFAULT_PILEUP_POOL = 2000
#: The settings that only matter with pileup (left out of the settings hash at pileup 0,
#: so that pileup-0 output is byte for byte what it was before pileup existed).
PILEUP_KEYS = ("pileup", "out_of_time", "pileup_pool", "timing_resolution_ps", "timing", "feature_pt_min")
#: With pileup, the 16 features of a jet are computed from its constituents above this pT
#: (GeV; the ``threshold`` detector's 1 GeV, physics/detector.py). The three-point
#: correlators cost O(n^3): at MU = 200 a particle-level jet has ~1000 constituents and its
#: features take ~30 s (measured, benchmarks/bench_pileup.py); above 1 GeV ~0.2 s. Every
#: constituent is still stored in the pileup group. 0 = all constituents.
DEFAULT_FEATURE_PT_MIN = 1.0


def parse_classes(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"g,q,w"`` -> ``("g", "q", "w")`` in canonical class order.

    Raises :class:`ConfigError` for an unknown, repeated or empty class list (``w,w`` is
    refused, not deduplicated: it may be a typo for another class).
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [s.strip().lower() for s in items if s.strip()]
    if not names:
        raise ConfigError(f"no classes given; choose from {','.join(CLASS_NAMES)}")
    unknown = [n for n in names if n not in CLASS_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown class {unknown[0]!r}; choose from {','.join(CLASS_NAMES)} (e.g. --classes g,q,w,z,t)"
        )
    repeated = sorted({n for n in names if names.count(n) > 1}, key=CLASS_NAMES.index)
    if repeated:
        raise ConfigError(
            f"class {repeated[0]!r} is given twice in {','.join(names)}; give each class once "
            f"(choose from {','.join(CLASS_NAMES)})"
        )
    return tuple(c for c in CLASS_NAMES if c in names)


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate. Validated on construction (ConfigError / PhysicsError).

    ``jets_per_class`` jets of each class in ``classes``, anti-kT R=0.8 jets with
    ``pt_min <= pT < pt_max`` (GeV) and ``|eta| < eta_max``, labelled by truth matching.
    The work is cut into chunks of ``chunk_size`` jets, each with its own seed derived
    from ``seed``; ``constituents=N`` also stores the N highest-pT constituents of
    every jet (True = 32); ``production`` chooses how W/Z/top are made, ``detector``
    the detector model (``none`` = particle level), ``labelling`` whether jets must
    match a truth particle (docs/physics.md).
    """

    jets_per_class: int
    classes: tuple[str, ...] = CLASS_NAMES
    pt_min: float = DEFAULT_PT_MIN
    pt_max: float = DEFAULT_PT_MAX
    eta_max: float = DEFAULT_ETA_MAX
    seed: int = DEFAULT_SEED
    chunk_size: int = DEFAULT_CHUNK_SIZE
    constituents: int = 0
    production: str = DEFAULT_PRODUCTION
    detector: str = DEFAULT_DETECTOR
    labelling: str = DEFAULT_LABELLING
    #: mean number of in-time pileup interactions (0: none, no pileup group)
    pileup: float = 0.0
    #: also Poisson(pileup) interactions in each of the crossings at -25 and +25 ns
    out_of_time: bool = False
    pileup_pool: int = DEFAULT_PILEUP_POOL
    timing_resolution_ps: float = TIMING_RESOLUTION_PS
    #: luminous region, tracker and timing-layer geometry (physics/timing.py)
    timing: TimingModel = DEFAULT_TIMING
    #: with pileup: the features use the full jet's constituents above this pT (GeV)
    feature_pt_min: float = DEFAULT_FEATURE_PT_MIN
    _hash: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", parse_classes(self.classes))
        n = self.jets_per_class
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ConfigError(f"--jets-per-class must be a positive integer, got {n!r}")
        c = self.chunk_size
        if isinstance(c, bool) or not isinstance(c, int) or c <= 0:
            raise ConfigError(f"--chunk-size must be a positive integer, got {c!r}")
        s = self.seed
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_MASTER_SEED:
            raise ConfigError(f"--seed must be an integer in 0..{MAX_MASTER_SEED}, got {s!r}")
        lo, hi = float(self.pt_min), float(self.pt_max)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise PhysicsError(f"the pT window must be finite numbers, got [{lo}, {hi}] GeV")
        if lo <= 0.0:
            raise PhysicsError(f"--pt-min must be positive, got {lo:g} GeV")
        if lo >= hi:
            raise PhysicsError(f"empty pT window: --pt-min {lo:g} GeV must be below --pt-max {hi:g} GeV")
        if hi > PT_KINEMATIC_LIMIT_GEV:
            raise PhysicsError(
                f"--pt-max {hi:g} GeV is above sqrt(s)/2 = {PT_KINEMATIC_LIMIT_GEV:g} GeV at "
                f"sqrt(s) = {SQRT_S_GEV / 1000:g} TeV; no jet can be that hard"
            )
        eta = float(self.eta_max)
        if not math.isfinite(eta) or eta <= 0.0 or eta > ETA_LIMIT:
            raise PhysicsError(f"--eta-max must be in (0, {ETA_LIMIT:g}], got {self.eta_max!r}")
        if self.production not in PRODUCTIONS:
            raise ConfigError(
                f"unknown production {self.production!r}; choose from {', '.join(PRODUCTIONS)}"
            )
        object.__setattr__(self, "pt_min", lo)
        object.__setattr__(self, "pt_max", hi)
        object.__setattr__(self, "eta_max", eta)
        if self.detector not in DETECTOR_CHOICES:
            raise ConfigError(f"unknown detector {self.detector!r}; choose from {', '.join(DETECTOR_CHOICES)}")
        if self.labelling not in LABELLINGS:
            raise ConfigError(f"unknown labelling {self.labelling!r}; choose from {', '.join(LABELLINGS)}")
        k = self.constituents
        if isinstance(k, bool):
            k = DEFAULT_CONSTITUENTS if k else 0
        if not isinstance(k, int) or not 0 <= k <= MAX_CONSTITUENTS:
            raise ConfigError(f"--constituents must be an integer in 0..{MAX_CONSTITUENTS}, got {self.constituents!r}")
        object.__setattr__(self, "constituents", k)
        self._check_pileup()

    def _check_pileup(self) -> None:
        mu = self.pileup
        if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu) or not 0 <= mu <= MAX_PILEUP:
            raise ConfigError(f"--pileup must be a number in 0..{MAX_PILEUP:g} (HL-LHC: 140-200), got {mu!r}")
        object.__setattr__(self, "pileup", float(mu))
        pool = self.pileup_pool
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ConfigError(f"--pileup-pool must be a positive integer, got {pool!r}")
        res = self.timing_resolution_ps
        if isinstance(res, bool) or not isinstance(res, (int, float)) or not math.isfinite(res) or res <= 0:
            raise ConfigError(f"--timing-resolution must be a positive number of ps, got {res!r}")
        object.__setattr__(self, "timing_resolution_ps", float(res))
        fmin = self.feature_pt_min
        if isinstance(fmin, bool) or not isinstance(fmin, (int, float)) or not math.isfinite(fmin) or fmin < 0:
            raise ConfigError(f"--feature-pt-min must be a number >= 0 GeV, got {fmin!r}")
        object.__setattr__(self, "feature_pt_min", float(fmin))
        if not isinstance(self.out_of_time, bool) or not isinstance(self.timing, TimingModel):
            raise ConfigError("out_of_time must be True or False and timing a TimingModel")
        if mu == 0:
            if self.out_of_time or pool != DEFAULT_PILEUP_POOL or res != TIMING_RESOLUTION_PS \
                    or self.timing != DEFAULT_TIMING or fmin != DEFAULT_FEATURE_PT_MIN:
                raise ConfigError("--out-of-time, --pileup-pool, --timing-resolution and --feature-pt-min "
                                  "need --pileup MU > 0")
            return
        need = pool_needed(mu, self.out_of_time)
        if pool < need:
            raise ConfigError(f"--pileup-pool {pool} is too small for --pileup {mu:g}"
                              f"{' with --out-of-time' if self.out_of_time else ''}: an event may draw up to "
                              f"{need} distinct interactions; give at least {need}")
        if self.detector != "none":
            raise ConfigError(f"--pileup works at particle level only (--detector none), not --detector {self.detector}")

    @property
    def pt_center(self) -> float:
        return 0.5 * (self.pt_min + self.pt_max)

    def physics_dict(self) -> dict:
        """Everything that determines the content of one chunk (not the jet count)."""
        d = asdict(self)
        d.pop("jets_per_class")
        d.pop("_hash")
        d["generator_version"] = GENERATOR_VERSION
        d["sqrt_s_gev"] = SQRT_S_GEV
        d["jet_radius"] = JET_RADIUS
        d["max_jets_per_event"] = MAX_JETS_PER_EVENT
        d["match_delta_r"] = MATCH_DELTA_R
        # classes do not change a chunk's content (each chunk is one class): leave them
        # out so that adding a class to a run reuses the other classes' chunks.
        d.pop("classes")
        if self.pileup == 0:  # pileup 0: the hash (and every byte) of generation before pileup
            for k in PILEUP_KEYS:
                d.pop(k)
        return d

    def settings_hash(self) -> str:
        """Short hex digest of :meth:`physics_dict` plus the Pythia/FastJet versions."""
        if not self._hash:
            from . import processes

            payload = dict(
                self.physics_dict(),
                versions=processes.tool_versions(),
                feature_code=processes.feature_code_fingerprint(),
            )
            if self.pileup > 0:  # (absent at pileup 0: the hash of generation before pileup)
                payload["pileup_code"] = processes.feature_code_fingerprint(processes.PILEUP_MODULES)
            text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
            object.__setattr__(self, "_hash", hashlib.sha256(text.encode()).hexdigest()[:16])
        return self._hash
