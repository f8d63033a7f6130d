"""Every config section of a run: frozen dataclasses validated in ``__post_init__``.

Torch-free and light: importing this module imports nothing heavy. Each section is the
single home of its defaults; library functions take the section (``train_surrogate(X, y,
cfg=SnnSurrogateConfig())``), so calling the library gives what ``spikejet run`` gives.
Preset and ``--quick`` overrides live in :mod:`spikejet.config.presets`.

One validation idiom: :func:`check` (or :func:`bad`) raises
:class:`~spikejet.errors.ConfigError` "config value <section>.<key>: <what is wrong>".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

#: Tasks the ANN can be trained for.
ANN_TASKS: tuple[str, ...] = ("multiclass", "top_vs_rest")
#: Hidden layer widths per task when ``ann.hidden`` is not given.
#: multiclass: the study's 16-64-32-32-5 network; top_vs_rest: one hidden layer
#: (the study's binary tagger of its Fig. 4 right; its width is our choice).
DEFAULT_HIDDEN: dict[str, tuple[int, ...]] = {"multiclass": (64, 32, 32), "top_vs_rest": (32,)}
#: Conversion methods (the registry of :mod:`spikejet.snn.convert` holds exactly these; a test checks).
CONVERT_METHODS: tuple[str, ...] = ("snntoolbox", "calibrated", "qcfs")
#: Most bootstrap resamples: the interval draws one binomial number per resample (8 bytes each), so
#: 1e12 resamples asked for 8 TB; 100,000 fix a 68 % interval's ends to far below its width.
MAX_BOOTSTRAP = 100_000
#: Largest number of time steps any stage may simulate.
MAX_STEPS = 4096
#: Spiking stages whose models the loihi stage may take, best first.
DEFAULT_SOURCES: tuple[str, ...] = ("snn_surrogate", "snn_converted")
LOIHI_PROFILES: tuple[str, ...] = ("loihi1", "loihi2")
CONVENTIONAL_HOSTS: tuple[str, ...] = ("cpu", "gpu", "arm")
_RATE_NEURONS = ("spiking_relu", "if")
_SYN_READOUTS = ("last", "mean")
_SURR_NEURONS = ("if", "lif")
_RESETS = ("subtract", "zero")
_SURR_READOUTS = ("membrane", "count")
_SURROGATES = ("fast_sigmoid", "arctan")
_INITS = ("ann", "random")
_SURR_INITS = ("ann", "converted", "random")


def bad(key: str, msg: str) -> ConfigError:
    """The one error of a bad config value: ``key`` is ``section.name``."""
    return ConfigError(f"config value {key}: {msg}")


def check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise bad(key, msg)


def _finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def _positive(section: str, key: str, value: float) -> None:
    check(_finite_positive(value), f"{section}.{key}", f"must be a positive number, got {value}")


def _band(section: str, band: tuple[float, ...]) -> tuple[float, ...]:
    band = tuple(float(b) for b in band)
    if band and not (len(band) == 2 and 0 <= band[0] < band[1] and math.isfinite(band[1])):
        raise bad(f"{section}.rate_band_hz",
                  f"must be [low, high] Hz with 0 <= low < high, or [] for none; got {list(band)}")
    return band


@dataclass(frozen=True)
class DataConfig:
    """Which jets to use and how to split them (fractions of the whole sample)."""

    source: str = "default"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    drop_invalid: bool = False
    #: The public files' quirks: drop rows without a class label (else reading fails)
    #: and exact duplicate rows (else they are kept and counted); docs/data.md.
    drop_unlabelled: bool = False
    drop_duplicates: bool = False
    #: Use a seeded random subset of at most this many jets (``None``: all).
    max_jets: int | None = None

    def __post_init__(self) -> None:
        check(bool(self.source), "data.source", "must be 'default' or a file path")
        check(0 < self.val_fraction < 1, "data.val_fraction", f"must be in (0, 1), got {self.val_fraction}")
        check(0 < self.test_fraction < 1, "data.test_fraction", f"must be in (0, 1), got {self.test_fraction}")
        check(
            self.val_fraction + self.test_fraction < 1,
            "data.val_fraction + data.test_fraction",
            f"must be below 1 to leave jets for training, got {self.val_fraction + self.test_fraction}",
        )
        check(
            self.max_jets is None or self.max_jets >= 100,
            "data.max_jets",
            f"must be at least 100 (or null for all jets), got {self.max_jets}",
        )


@dataclass(frozen=True)
class AnnConfig:
    """The conventional network and its training recipe."""

    task: str = "multiclass"
    #: Hidden layer widths; ``None`` picks the task's default (:data:`DEFAULT_HIDDEN`).
    hidden: tuple[int, ...] | None = None
    learning_rate: float = 1e-3
    batch_size: int = 1024
    max_epochs: int = 100
    #: Early stopping: epochs without a validation-loss improvement before stopping.
    patience: int = 10
    #: An improvement must lower the validation loss by more than this.
    min_delta: float = 1e-4
    #: Learning-rate decay on plateau: factor and patience (epochs).
    lr_decay_factor: float = 0.5
    lr_decay_patience: int = 3
    min_learning_rate: float = 1e-6
    #: L1 penalty on weights (not biases), added to the training loss.
    l1: float = 0.0
    #: Weight the loss by inverse class frequency of the training set.
    class_weights: bool = False

    def __post_init__(self) -> None:
        check(self.task in ANN_TASKS, "ann.task", f"unknown task {self.task!r}; choose one of {', '.join(ANN_TASKS)}")
        hidden = DEFAULT_HIDDEN[self.task] if self.hidden is None else tuple(self.hidden)
        check(len(hidden) >= 1, "ann.hidden", "needs at least one hidden layer width")
        check(all(h >= 1 for h in hidden), "ann.hidden", f"widths must be positive, got {list(hidden)}")
        object.__setattr__(self, "hidden", hidden)
        check(_finite_positive(self.learning_rate), "ann.learning_rate", f"must be a positive number, got {self.learning_rate}")
        check(self.batch_size >= 1, "ann.batch_size", f"must be at least 1, got {self.batch_size}")
        check(self.max_epochs >= 1, "ann.max_epochs", f"must be at least 1, got {self.max_epochs}")
        check(self.patience >= 1, "ann.patience", f"must be at least 1, got {self.patience}")
        check(math.isfinite(self.min_delta) and self.min_delta >= 0, "ann.min_delta", f"must be >= 0, got {self.min_delta}")
        check(0 < self.lr_decay_factor <= 1, "ann.lr_decay_factor", f"must be in (0, 1], got {self.lr_decay_factor}")
        check(self.lr_decay_patience >= 0, "ann.lr_decay_patience", f"must be >= 0, got {self.lr_decay_patience}")
        check(
            math.isfinite(self.min_learning_rate) and 0 <= self.min_learning_rate <= self.learning_rate,
            "ann.min_learning_rate",
            f"must be in [0, learning_rate], got {self.min_learning_rate}",
        )
        check(math.isfinite(self.l1) and self.l1 >= 0, "ann.l1", f"must be >= 0, got {self.l1}")


@dataclass(frozen=True)
class EvalConfig:
    """How every model is scored (the same for ANN, SNN and hardware models)."""

    #: Bootstrap resamples for the accuracy interval.
    n_bootstrap: int = 1000
    #: Central probability of the accuracy interval (0.68: "1 sigma").
    interval: float = 0.68
    #: Signal efficiencies at which background rejection (1/FPR) is quoted.
    efficiencies: tuple[float, ...] = (0.5, 0.1)

    def __post_init__(self) -> None:
        check(10 <= self.n_bootstrap <= MAX_BOOTSTRAP, "evaluate.n_bootstrap",
              f"must be in 10..{MAX_BOOTSTRAP}, got {self.n_bootstrap}")
        check(0 < self.interval < 1, "evaluate.interval", f"must be in (0, 1), got {self.interval}")
        effs = tuple(float(e) for e in self.efficiencies)
        check(len(effs) >= 1, "evaluate.efficiencies", "needs at least one efficiency")
        check(all(0 < e <= 1 for e in effs), "evaluate.efficiencies", f"must be in (0, 1], got {list(effs)}")
        object.__setattr__(self, "efficiencies", effs)



@dataclass(frozen=True)
class ConvertConfig:
    """ANN -> SNN conversion settings (see docs/snn.md for the measured choice of ``method``)."""

    #: The method whose network is the stage's model: snntoolbox, calibrated or qcfs.
    method: str = "qcfs"
    #: Methods converted and drawn side by side (``method`` is always included).
    compare: tuple[str, ...] = CONVERT_METHODS
    #: Headline time steps; ``None``: the smallest T within ``target_gap`` of the ANN (on validation).
    timesteps: int | None = None
    #: Steps simulated (the accuracy-vs-T curve runs 1..max_timesteps).
    max_timesteps: int = 256
    #: Accuracy gap to the ANN (fraction: 0.01 = one point) that the headline T must meet.
    target_gap: float = 0.01
    #: Seconds per step (the study: 1 ms); firing rates in Hz use it.
    dt: float = 0.001
    #: Normalization percentile of the snntoolbox method (SNN Toolbox's default).
    snntoolbox_percentile: float = 99.9
    #: Candidate threshold percentiles of the calibrated method and of the QCFS start; the one
    #: whose SNN agrees best with the ANN (calibrated: at ``search_steps``, QCFS: at ``qcfs_levels``
    #: steps) on training jets is used. One value: used as is.
    percentile: tuple[float, ...] = (95.0, 98.0, 99.0, 99.5, 99.9, 99.99)
    #: Steps at which the calibrated method compares its candidate thresholds.
    search_steps: int = 16
    #: Bias calibration steps of the calibrated method (``None``: no calibration).
    calibration_steps: int | None = None
    #: QCFS quantization levels (conversion error vanishes at T = levels).
    qcfs_levels: int = 8
    #: QCFS fine-tuning epochs, learning rate, mini-batch and early-stopping patience.
    qcfs_epochs: int = 30
    qcfs_learning_rate: float = 1e-3
    qcfs_batch_size: int = 256
    qcfs_patience: int = 6

    def __post_init__(self) -> None:

        if self.method not in CONVERT_METHODS:
            raise bad("convert.method", f"unknown method {self.method!r}; choose one of {', '.join(CONVERT_METHODS)}")
        compare = tuple(self.compare)
        for m in compare:
            if m not in CONVERT_METHODS:
                raise bad("convert.compare", f"unknown method {m!r}; choose from {', '.join(CONVERT_METHODS)}")
        if self.method not in compare:
            compare = (*compare, self.method)
        object.__setattr__(self, "compare", tuple(dict.fromkeys(compare)))
        if not 1 <= self.max_timesteps <= MAX_STEPS:
            raise bad("convert.max_timesteps", f"must be in 1..{MAX_STEPS}, got {self.max_timesteps}")
        if self.timesteps is not None and not 1 <= self.timesteps <= self.max_timesteps:
            raise bad("convert.timesteps", f"must be in 1..max_timesteps ({self.max_timesteps}) or null, got {self.timesteps}")
        if not (math.isfinite(self.target_gap) and 0 < self.target_gap < 1):
            raise bad("convert.target_gap", f"must be in (0, 1) (0.01 = one point), got {self.target_gap}")
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise bad("convert.dt", f"must be a positive number of seconds, got {self.dt}")
        pct = tuple(float(v) for v in self.percentile)
        object.__setattr__(self, "percentile", pct)
        for key, vals in (("snntoolbox_percentile", (self.snntoolbox_percentile,)), ("percentile", pct)):
            if not vals:
                raise bad(f"convert.{key}", "needs at least one percentile")
            for v in vals:
                if not (math.isfinite(v) and 0 < v <= 100):
                    raise bad(f"convert.{key}", f"must be in (0, 100], got {v}")
        if not 1 <= self.search_steps <= MAX_STEPS:
            raise bad("convert.search_steps", f"must be in 1..{MAX_STEPS}, got {self.search_steps}")
        if self.qcfs_batch_size < 1:
            raise bad("convert.qcfs_batch_size", f"must be >= 1, got {self.qcfs_batch_size}")
        if self.calibration_steps is not None and not 1 <= self.calibration_steps <= MAX_STEPS:
            raise bad("convert.calibration_steps", f"must be in 1..{MAX_STEPS} or null, got {self.calibration_steps}")
        if not 1 <= self.qcfs_levels <= 1024:
            raise bad("convert.qcfs_levels", f"must be in 1..1024, got {self.qcfs_levels}")
        if self.qcfs_epochs < 1:
            raise bad("convert.qcfs_epochs", f"must be >= 1, got {self.qcfs_epochs}")
        if not (math.isfinite(self.qcfs_learning_rate) and self.qcfs_learning_rate > 0):
            raise bad("convert.qcfs_learning_rate", f"must be a positive number, got {self.qcfs_learning_rate}")
        if self.qcfs_patience < 1:
            raise bad("convert.qcfs_patience", f"must be >= 1, got {self.qcfs_patience}")




@dataclass(frozen=True)
class SnnRateConfig:
    """Rate-based training with spiking evaluation (the study's Nengo-DL method)."""

    #: Hidden neurons: ``spiking_relu`` (Nengo's SpikingRectifiedLinear, the study's) or ``if``.
    neuron: str = "spiking_relu"
    #: Spiking ReLU: rate ``max_rate * max(x, 0)`` Hz; each spike carries ``amplitude / dt``.
    max_rate: float = 100.0
    amplitude: float = 0.01
    #: Time steps of the presentation (the study: 0.1 s at dt = 1 ms = 100 steps); the headline T.
    timesteps: int = 100
    dt: float = 0.001
    #: Exponential synaptic filter on every connection at evaluation (seconds); null: none.
    #: Both variants are always evaluated; this one is the stage's model.
    synapse_tau: float | None = 0.005
    #: How the output becomes a class at step t: ``last`` (the output of that step, as the study read
    #: Nengo's probe) or ``mean`` (mean output over the presentation so far).
    readout: str = "last"
    #: Firing-rate band (Hz) that a penalty pulls every hidden neuron's mean rate into; [] for none.
    rate_band_hz: tuple[float, ...] = (100.0, 200.0)
    #: Weight of the band penalty (squared distance in units of the band's top, averaged over neurons).
    rate_weight: float = 1.0
    #: ``random`` (seeded) or ``ann``: start from the run's ANN weights.
    init: str = "random"
    epochs: int = 60
    learning_rate: float = 1e-3
    batch_size: int = 1024
    patience: int = 8

    def __post_init__(self) -> None:
        s = "snn_rate"
        if self.neuron not in _RATE_NEURONS:
            raise bad(f"{s}.neuron", f"unknown neuron {self.neuron!r}; choose one of {', '.join(_RATE_NEURONS)}")
        for key in ("max_rate", "amplitude", "dt", "learning_rate"):
            _positive(s, key, getattr(self, key))
        if not 1 <= self.timesteps <= MAX_STEPS:
            raise bad(f"{s}.timesteps", f"must be in 1..{MAX_STEPS}, got {self.timesteps}")
        if self.synapse_tau is not None:
            _positive(s, "synapse_tau", self.synapse_tau)
        if self.readout not in _SYN_READOUTS:
            raise bad(f"{s}.readout", f"unknown read-out {self.readout!r}; choose one of {', '.join(_SYN_READOUTS)}")
        object.__setattr__(self, "rate_band_hz", _band(s, self.rate_band_hz))
        if not (math.isfinite(self.rate_weight) and self.rate_weight >= 0):
            raise bad(f"{s}.rate_weight", f"must be >= 0, got {self.rate_weight}")
        if self.init not in _INITS:
            raise bad(f"{s}.init", f"unknown init {self.init!r}; choose one of {', '.join(_INITS)}")
        for key in ("epochs", "batch_size", "patience"):
            if getattr(self, key) < 1:
                raise bad(f"{s}.{key}", f"must be at least 1, got {getattr(self, key)}")




@dataclass(frozen=True)
class SnnSurrogateConfig:
    """Surrogate-gradient training through time (see docs/training.md for the measured choices)."""

    #: ``if`` or ``lif`` neurons (LIF: ``v <- leak * v + z``), reset ``subtract`` or ``zero``. Zero is
    #: the reset NIR, Loihi 1 and Loihi 2 compute, so the exported and on-chip networks are the
    #: trained one (docs/training.md, "The trigger recipe").
    neuron: str = "if"
    reset: str = "zero"
    #: ``membrane`` (non-spiking output layer, loss on its mean current) or ``count`` (output spikes).
    readout: str = "membrane"
    #: Surrogate derivative of the spike (``fast_sigmoid`` or ``arctan``) and its slope.
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0
    #: Train the per-layer threshold / the LIF leak (else fixed at their start values).
    learn_threshold: bool = True
    learn_leak: bool = True
    #: Initial LIF leak factor per step (1 = no leak).
    leak: float = 0.95
    #: Membrane at t = 0 as a fraction of the threshold.
    v_init: float = 0.5
    #: Quantization-aware training: 8-bit weights, thresholds in weight steps, 12-bit leaks (on-chip layers).
    quantize: bool = True
    #: Time steps unrolled in training; the headline T.
    timesteps: int = 8
    #: Earlier steps whose running read-out also enters the loss (mean over these and T; () = T only;
    #: steps from ``timesteps`` on add nothing): (4,) trains the network to be good at T = 4 and at
    #: T = 8 (docs/training.md).
    loss_timesteps: tuple[int, ...] = (4,)
    #: Steps simulated for the accuracy-versus-T curve.
    max_timesteps: int = 64
    #: ``ann`` (thresholds at the ``percentile`` of the ANN's activations), ``converted`` (the run's
    #: converted SNN of the ``convert_snn`` stage; ``neuron``/``reset``/``v_init`` follow it) or ``random``.
    init: str = "converted"
    percentile: float = 99.9
    epochs: int = 25
    learning_rate: float = 1e-3
    batch_size: int = 512
    patience: int = 8
    #: Penalty on synaptic operations per jet, in units of the ANN's MACs per jet.
    synops_penalty: float = 0.03
    #: Knowledge distillation from the ANN: weight in [0, 1] of the KL term (0: off) and its temperature.
    distill_weight: float = 0.0
    temperature: float = 2.0
    #: Train on a seeded subset of at most this many jets (null: all training jets).
    max_train_jets: int | None = None
    #: Penalties of the accuracy-versus-synops sweep (fine-tuned copies of the trained network).
    sweep_penalties: tuple[float, ...] = (0.003, 0.01, 0.1, 0.3)
    sweep_epochs: int = 4
    dt: float = 0.001

    def __post_init__(self) -> None:
        s = "snn_surrogate"
        for key, allowed in (("neuron", _SURR_NEURONS), ("reset", _RESETS), ("readout", _SURR_READOUTS),
                             ("surrogate", _SURROGATES), ("init", _SURR_INITS)):
            if getattr(self, key) not in allowed:
                raise bad(f"{s}.{key}", f"unknown value {getattr(self, key)!r}; choose one of {', '.join(allowed)}")
        for key in ("slope", "learning_rate", "dt"):
            _positive(s, key, getattr(self, key))
        if not 0.05 <= self.leak <= 1.0 - 1e-4:
            raise bad(f"{s}.leak", f"must be in [0.05, 0.9999] (decay of the membrane per step), got {self.leak}")
        if not (math.isfinite(self.v_init) and 0 <= self.v_init < 1):
            raise bad(f"{s}.v_init", f"must be in [0, 1) (fraction of the threshold), got {self.v_init}")
        if not 1 <= self.max_timesteps <= MAX_STEPS:
            raise bad(f"{s}.max_timesteps", f"must be in 1..{MAX_STEPS}, got {self.max_timesteps}")
        if not 1 <= self.timesteps <= self.max_timesteps:
            raise bad(f"{s}.timesteps", f"must be in 1..max_timesteps ({self.max_timesteps}), got {self.timesteps}")
        if not (math.isfinite(self.percentile) and 0 < self.percentile <= 100):
            raise bad(f"{s}.percentile", f"must be in (0, 100], got {self.percentile}")
        for key in ("epochs", "batch_size", "patience", "sweep_epochs"):
            if getattr(self, key) < 1:
                raise bad(f"{s}.{key}", f"must be at least 1, got {getattr(self, key)}")
        steps = tuple(self.loss_timesteps)
        if not all(isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= self.max_timesteps for t in steps):
            raise bad(f"{s}.loss_timesteps",
                      f"must be whole steps in 1..max_timesteps ({self.max_timesteps}), got {list(steps)}")
        object.__setattr__(self, "loss_timesteps", steps)
        if not (math.isfinite(self.synops_penalty) and self.synops_penalty >= 0):
            raise bad(f"{s}.synops_penalty", f"must be >= 0, got {self.synops_penalty}")
        if not (math.isfinite(self.distill_weight) and 0 <= self.distill_weight <= 1):
            raise bad(f"{s}.distill_weight", f"must be in [0, 1], got {self.distill_weight}")
        _positive(s, "temperature", self.temperature)
        if self.max_train_jets is not None and self.max_train_jets < 100:
            raise bad(f"{s}.max_train_jets", f"must be at least 100 (or null for all), got {self.max_train_jets}")
        pens = tuple(float(p) for p in self.sweep_penalties)
        if not all(math.isfinite(p) and p >= 0 for p in pens):
            raise bad(f"{s}.sweep_penalties", f"must be >= 0, got {list(pens)}")
        object.__setattr__(self, "sweep_penalties", pens)




#: The default preset deploys on Loihi 2, which keeps reset by subtraction (with the surrogate
#: stage's 8-bit QAT the integer model then equals the float SNN); seed-2019 uses the study's Loihi 1.
@dataclass(frozen=True)
class HardwareConfig:
    """Settings of the "loihi" stage (docs/hardware.md)."""

    #: Stages whose spiking model is deployed, in order of preference (the first the run has).
    sources: tuple[str, ...] = DEFAULT_SOURCES
    #: Chip generation: loihi1 (reset to zero only) or loihi2 (keeps reset by subtraction).
    profile: str = "loihi2"
    #: Time steps; ``None``: the source stage's headline T.
    timesteps: int | None = None
    #: Keep the first layer on the host in float (the 2019 study's setup; the seed-2019 preset). False:
    #: the whole network on the chip, the features sent as graded spikes (Loihi 2) or a rate code.
    first_layer_offchip: bool = False
    #: Bits of each feature's graded payload when the first layer is on the chip (docs/hardware.md:
    #: 10 bits keep the accuracy of the float SNN on the default sample; 6 lose 5 points).
    input_bits: int = 10
    #: Standardized features are clipped to +-input_clip before quantization.
    input_clip: float = 8.0
    #: Axon delay of every chip layer, in steps (Loihi: 1).
    axon_delay: int = 1
    #: Turn reset by subtraction into reset to zero where the target cannot subtract (loihi1: what the
    #: chip does; the NIR file: recorded in its metadata) instead of refusing.
    allow_reset_change: bool = True
    #: Chips the network may use.
    max_chips: int = 1
    #: Test jets run on the integer model (``None``: all; a seeded random subset otherwise).
    max_jets: int | None = None
    #: Also measure the accuracy at the powers of two below T (one run each).
    curve: bool = True
    #: Wall-clock seconds per chip step for the latency in microseconds (``None``: steps only).
    time_per_step_s: float | None = None
    #: Where ``time_per_step_s`` comes from (required with it).
    time_per_step_source: str = ""
    #: Conventional device charged for the host's work (the off-chip first layer, or the quantization of
    #: the features and the softmax of the read-out) in the "with host" and system totals. ARM: the
    #: nearest figure to the embedded cores beside the chip that do the little host work left when the
    #: whole network is on the chip; the seed-2019 preset charges the study's host PC (cpu).
    host_device: str = "arm"
    #: Write the quantized network as ``loihi.nir`` when NIR can express it.
    write_nir: bool = True
    #: Start each chip layer's voltage below its initial value by the bias it integrates before its
    #: first input arrives through the axon delays (:func:`compensate_delay_bias`).
    compensate_delays: bool = True
    #: Also run the same network on the Loihi 1 integer model (first layer on the host, reset to zero,
    #: as that chip requires) and record its gap to the float network (``loihi["loihi1_check"]``).
    loihi1_check: bool = True

    def __post_init__(self) -> None:

        sources = tuple(self.sources)
        if not sources or not all(isinstance(s, str) and s for s in sources):
            raise bad("loihi.sources", f"must be a non-empty list of stage names, got {list(self.sources)!r}")
        object.__setattr__(self, "sources", sources)
        if self.profile not in LOIHI_PROFILES:
            raise bad("loihi.profile", f"unknown profile {self.profile!r}; choose one of {', '.join(LOIHI_PROFILES)}")
        if self.timesteps is not None and not 1 <= self.timesteps <= 100_000:
            raise bad("loihi.timesteps", f"must be in 1..100000 or null, got {self.timesteps}")
        if not 0 <= self.axon_delay <= 62:
            raise bad("loihi.axon_delay", f"must be in 0..62 steps, got {self.axon_delay}")
        if self.max_chips < 1:
            raise bad("loihi.max_chips", f"must be >= 1, got {self.max_chips}")
        if self.max_jets is not None and self.max_jets < 1:
            raise bad("loihi.max_jets", f"must be >= 1 or null, got {self.max_jets}")
        if self.time_per_step_s is not None:
            if not (math.isfinite(self.time_per_step_s) and self.time_per_step_s > 0):
                raise bad("loihi.time_per_step_s", f"must be a positive number of seconds or null, got {self.time_per_step_s}")
            if not self.time_per_step_source.strip():
                raise bad("loihi.time_per_step_source", "say where time_per_step_s comes from (a measurement, a paper)")
        _input_grid("loihi", self)
        if self.profile == "loihi1" and not self.first_layer_offchip:
            raise bad("loihi.first_layer_offchip", "Loihi 1 receives only binary spikes, so the features cannot enter "
                      "the chip: set first_layer_offchip: true (the study's layout) or profile: loihi2")
        if self.host_device not in CONVENTIONAL_HOSTS:
            raise bad("loihi.host_device", f"must be one of {', '.join(CONVENTIONAL_HOSTS)}, got {self.host_device!r}")




@dataclass(frozen=True)
class FpgaConfig:
    """The ``fpga`` stage: the MLP in hls4ml fixed point (docs/peers.md)."""

    #: hls4ml's type for every quantity (granularity "model"): ap_fixed<W,I[,Q,O]> (hls4ml 1.3.0's default).
    precision: str = "ap_fixed<16,6>"

    def __post_init__(self) -> None:
        from ..hardware.fpga import FixedType  # numpy only: the config stays torch-free

        try:
            FixedType.parse(self.precision)
        except ConfigError as exc:
            raise bad("fpga.precision", str(exc)) from None


#: Conventional particle models (``ann_particles.model``).
PARTICLE_MODELS: tuple[str, ...] = ("deepsets", "interaction", "cnn")


def _widths(section: str, key: str, widths: tuple[int, ...], allow_empty: bool = False) -> tuple[int, ...]:
    w = tuple(int(v) for v in widths)
    check((allow_empty or len(w) >= 1) and all(v >= 1 for v in w), f"{section}.{key}",
          f"must be a list of positive layer widths, got {list(widths)}")
    return w


def _train_recipe(s: str, cfg) -> None:
    for key in ("epochs", "batch_size", "patience"):
        check(getattr(cfg, key) >= 1, f"{s}.{key}", f"must be at least 1, got {getattr(cfg, key)}")
    _positive(s, "learning_rate", cfg.learning_rate)
    check(cfg.max_train_jets is None or cfg.max_train_jets >= 100, f"{s}.max_train_jets",
          f"must be at least 100 (or null for all training jets), got {cfg.max_train_jets}")
    check(1 <= cfg.n_particles <= 1024, f"{s}.n_particles", f"must be in 1..1024, got {cfg.n_particles}")


def _input_grid(s: str, cfg) -> None:
    """``input_bits`` (Loihi 2's graded payload: 2..24) and ``input_clip`` (positive) of a section."""
    check(isinstance(cfg.input_bits, int) and not isinstance(cfg.input_bits, bool) and 2 <= cfg.input_bits <= 24,
          f"{s}.input_bits", f"must be an integer in 2..24 (Loihi 2's graded payload), got {cfg.input_bits!r}")
    c = cfg.input_clip
    check(isinstance(c, int | float) and not isinstance(c, bool) and _finite_positive(c), f"{s}.input_clip",
          f"must be a positive number, got {c!r}")


def _spiking_particle_net(s: str, cfg) -> None:
    """The neuron, time-step, start and integer-model settings of a spiking particle network's section."""
    for key, allowed in (("neuron", _SURR_NEURONS), ("reset", _RESETS), ("surrogate", _SURROGATES),
                         ("init", ("ann", "random"))):
        check(getattr(cfg, key) in allowed, f"{s}.{key}",
              f"unknown value {getattr(cfg, key)!r}; choose one of {', '.join(allowed)}")
    _positive(s, "slope", cfg.slope)
    check(0 <= cfg.v_init < 1, f"{s}.v_init", f"must be in [0, 1), got {cfg.v_init}")
    check(0.05 <= cfg.leak <= 1.0 - 1e-4, f"{s}.leak", f"must be in [0.05, 0.9999], got {cfg.leak}")
    check(1 <= cfg.timesteps <= MAX_STEPS, f"{s}.timesteps", f"must be in 1..{MAX_STEPS}, got {cfg.timesteps}")
    check(0 < cfg.percentile <= 100, f"{s}.percentile", f"must be in (0, 100], got {cfg.percentile}")
    check(cfg.loihi_max_jets is None or cfg.loihi_max_jets >= 10, f"{s}.loihi_max_jets",
          f"must be null or >= 10, got {cfg.loihi_max_jets}")


@dataclass(frozen=True)
class ParticlesConfig:
    """The ``ann_particles`` stage: a conventional tagger on the jets' constituents (docs/particles.md)."""

    #: ``deepsets`` (shared per-particle MLP, sum over particles, MLP), ``interaction`` (JEDI-net
    #: style) or ``cnn`` (on the jet image).
    model: str = "deepsets"
    #: Leading particles used (the default sample stores 32).
    n_particles: int = 32
    #: The 16 standardized jet features join the pooled vector (the stored particles are the
    #: leading 32: the jet's full multiplicity is only in the features).
    jet_features: bool = True
    #: Deep sets: per-particle widths (``phi``), read-out widths (``rho``), pooling.
    phi: tuple[int, ...] = (64, 64)
    rho: tuple[int, ...] = (64,)
    pool: str = "sum"
    #: Jet images (cnn): pixels per side over +-image_radius.
    image_size: int = 16
    image_radius: float = 0.8
    #: Train on a seeded subset of at most this many training jets (null: all).
    max_train_jets: int | None = None
    epochs: int = 20
    #: 1e-2 (deep sets 78.62 %) beat 5e-3 (78.40 %) and 2e-3 (77.88 %, the default until 2 December
    #: 2026) in the same 20 epochs (docs/particles.md, "A tuned deep sets baseline").
    learning_rate: float = 1e-2
    batch_size: int = 256
    patience: int = 5

    def __post_init__(self) -> None:
        s = "ann_particles"
        check(self.model in PARTICLE_MODELS, f"{s}.model",
              f"unknown model {self.model!r}; choose one of {', '.join(PARTICLE_MODELS)}")
        check(self.pool in ("sum", "mean"), f"{s}.pool", f"must be 'sum' or 'mean', got {self.pool!r}")
        object.__setattr__(self, "phi", _widths(s, "phi", self.phi))
        object.__setattr__(self, "rho", _widths(s, "rho", self.rho, allow_empty=True))
        check(4 <= self.image_size <= 128 and self.image_size % 4 == 0, f"{s}.image_size",
              f"must be a multiple of 4 in 4..128, got {self.image_size}")
        _positive(s, "image_radius", self.image_radius)
        _train_recipe(s, self)


@dataclass(frozen=True)
class SnnParticlesConfig:
    """The ``snn_particles`` stage: the spiking deep-sets tagger (docs/particles.md)."""

    neuron: str = "if"
    reset: str = "subtract"
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0
    v_init: float = 0.5
    leak: float = 0.95
    #: Time steps (trained and scored). T = 4 for 24 epochs beats T = 8 for 8 epochs in about the same
    #: time (76.59 against 76.23 %, every AUC higher, half the synops; docs/particles.md, "The training recipe").
    timesteps: int = 4
    #: ``ann``: start from the ``ann_particles`` deep-sets network (thresholds at ``percentile`` of
    #: its activations; its sizes, particles and jet features), ``random``: seeded, sizes below.
    init: str = "ann"
    #: 99 against 99.9 (docs/particles.md, "The start's thresholds"; float / Loihi's integers): seed 1 78.43 /
    #: 78.35 % against 78.20 / 78.03 %, seed 2 78.22 / 77.90 against 77.81 / 77.78, seed 3 77.96 / 77.67 against
    #: 77.87 / 77.86 (better in float at every seed, on the integers at two of three); 99.5 and 98 no better.
    percentile: float = 99.0
    n_particles: int = 32
    jet_features: bool = True
    phi: tuple[int, ...] = (64, 64)
    rho: tuple[int, ...] = (64,)
    #: Penalty on synaptic operations per jet, in units of the conventional network's MACs.
    synops_penalty: float = 0.0
    #: Knowledge distillation from the ``ann_particles`` network (its logits on the training jets):
    #: weight in [0, 1] of the KL term (0: off) and its temperature (``snn_surrogate``'s objective).
    #: From the tuned deep sets (78.62 %): 0 -> 77.95 % float / 77.69 % on Loihi's integers, 0.5 ->
    #: 78.25 / 77.83 %, 0.9 -> 78.10 / 78.02 % (docs/particles.md, "A tuned deep sets baseline").
    distill_weight: float = 0.9
    temperature: float = 2.0
    #: All training jets for at most 24 epochs at T = 4 (early stopping, patience 4), lr 1e-2 (1e-3 gave
    #: 76.59 %, 3e-3 77.88 %, 5e-3 78.00 %, 1e-2 78.36 %): about 250 s of the main job (docs/particles.md).
    max_train_jets: int | None = None
    epochs: int = 24
    learning_rate: float = 1e-2
    batch_size: int = 256
    patience: int = 4
    #: Score Loihi 2's integer model of the trained network (``snn_particles["loihi"]``,
    #: ``hardware.loihi.deepsets``) on a seeded subset of at most ``loihi_max_jets`` test jets
    #: (null: all, the default: the same jets as every other model; the integer simulation took 2.7 ms
    #: per jet on one core at load 6 at T = 8, docs/particles.md).
    loihi: bool = True
    loihi_max_jets: int | None = None
    #: Quantization-aware training for that integer model: the weights train on the grids the Loihi
    #: mapper gives them (8-bit mantissas: max|W| / 127 per layer; the jet features' own synapse group
    #: on its own step), rounded in the forward pass with a straight-through gradient, and the trained
    #: network keeps the rounded weights (its model and NIR files hold the chip's weights).
    #: docs/particles.md ("Quantization-aware training"): seed 2 78.80 / 78.70 % (float / integers)
    #: against 78.40 / 78.41 % without, seed 1 78.00 / 78.00 against 77.98 / 78.11.
    quantize: bool = True
    #: Loihi 2 graded input spikes of the integer model: bits per standardized feature (particles and
    #: jet features) and their clip. docs/particles.md ("Quantization-aware training", seed 2): 10 bits
    #: clipped at 8 lose 0.24 points on the integers (78.16 against 78.40 % float), 12 at 16 none (78.41 %).
    input_bits: int = 12
    input_clip: float = 16.0
    #: Decay per batch of the moving average of the weights that is validated and kept (Polyak
    #: averaging; 0: the raw weights). docs/particles.md ("Quantization-aware training"), on Loihi's
    #: integers below the deep sets at seeds 1 / 2 / 3: 0.998 -> 0.46 / 0.39 / 0.51, 0 -> 0.62 / 0.28 / 0.56.
    ema: float = 0.998

    def __post_init__(self) -> None:
        s = "snn_particles"
        _spiking_particle_net(s, self)
        _input_grid(s, self)
        check(isinstance(self.ema, int | float) and not isinstance(self.ema, bool) and 0 <= self.ema < 1,
              f"{s}.ema", f"must be in [0, 1) (0: off), got {self.ema!r}")
        check(math.isfinite(self.synops_penalty) and self.synops_penalty >= 0, f"{s}.synops_penalty",
              f"must be >= 0, got {self.synops_penalty}")
        check(math.isfinite(self.distill_weight) and 0 <= self.distill_weight <= 1, f"{s}.distill_weight",
              f"must be in [0, 1], got {self.distill_weight}")
        _positive(s, "temperature", self.temperature)
        object.__setattr__(self, "phi", _widths(s, "phi", self.phi))
        object.__setattr__(self, "rho", _widths(s, "rho", self.rho))
        _train_recipe(s, self)


def _interaction_sizes(s: str, cfg) -> None:
    object.__setattr__(cfg, "edge", _widths(s, "edge", cfg.edge))
    object.__setattr__(cfg, "node", _widths(s, "node", cfg.node))
    object.__setattr__(cfg, "classifier", _widths(s, "classifier", cfg.classifier, allow_empty=True))
    # pairs grow as P^2: the [batch, P, P, width] edge tensors of 1024 particles would not fit
    check(cfg.n_particles <= 128, f"{s}.n_particles",
          f"must be at most 128 for an interaction network (its edges grow as P^2), got {cfg.n_particles}")


@dataclass(frozen=True)
class InteractionConfig:
    """The ``ann_interaction`` stage: the JEDI-style interaction network on the leading particles
    (``ann.particle.InteractionNet``; docs/particles.md, "Interaction network and its spiking twin")."""

    #: Leading particles (edges on every ordered pair of real ones: the cost grows as P^2). 16: 75.97 %,
    #: 169,089 MACs; 8: 74.11 %, 52,636 MACs (docs/particles.md, "Interaction network and its spiking twin").
    n_particles: int = 16
    #: The 16 standardized jet features join the pooled vector (as the deep sets'): +3.1 points at 16
    #: particles, +5.3 at 8 (72.91 / 68.86 % without).
    jet_features: bool = True
    #: Widths of the edge MLP f_R (on [x_i, x_j]), the node MLP f_O (on [x_i, e_i]), the classifier's hidden layers.
    edge: tuple[int, ...] = (32, 16)
    node: tuple[int, ...] = (32, 32)
    classifier: tuple[int, ...] = (32,)
    max_train_jets: int | None = None
    epochs: int = 20
    learning_rate: float = 2e-3
    batch_size: int = 256
    patience: int = 5

    def __post_init__(self) -> None:
        s = "ann_interaction"
        _interaction_sizes(s, self)
        _train_recipe(s, self)


@dataclass(frozen=True)
class SnnInteractionConfig:
    """The ``snn_interaction`` stage: the spiking interaction network (``snn.interaction``), trained
    through time from the ``ann_interaction`` network (docs/particles.md)."""

    neuron: str = "if"
    reset: str = "subtract"
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0
    v_init: float = 0.5
    leak: float = 0.95
    timesteps: int = 4
    #: ``ann``: start from the ``ann_interaction`` network (thresholds at ``percentile`` of its
    #: activations; its sizes, particles and jet features), ``random``: seeded, the sizes below.
    init: str = "ann"
    percentile: float = 99.9
    n_particles: int = 16
    jet_features: bool = True
    edge: tuple[int, ...] = (32, 16)
    node: tuple[int, ...] = (32, 32)
    classifier: tuple[int, ...] = (32,)
    #: All training jets for 8 epochs at T = 4, lr 1e-2 (3e-3 at 8 particles: 71.70 against 74.02 %):
    #: about 40-60 s per epoch at 16 particles on the shared 2 cores, so the stages are opt-in.
    max_train_jets: int | None = None
    epochs: int = 8
    learning_rate: float = 1e-2
    batch_size: int = 256
    patience: int = 4
    #: Score Loihi 2's integer model of the trained network (``snn_interaction["loihi"]``,
    #: ``hardware.loihi.interaction``) on a seeded subset of at most ``loihi_max_jets`` test jets
    #: (null: all; the pair layers make the integer simulation slow, so 5,000 by default).
    loihi: bool = True
    loihi_max_jets: int | None = 5000

    def __post_init__(self) -> None:
        s = "snn_interaction"
        _spiking_particle_net(s, self)
        _interaction_sizes(s, self)
        _train_recipe(s, self)


@dataclass(frozen=True)
class PileupConfig:
    """The ``pileup`` stage: per-particle pileup rejection and jet tagging under pileup (docs/pileup.md)."""

    #: The pileup sample (a ``spikejet generate --pileup`` file); ``None``: the embedded MU = 200 sample.
    data: str | None = None
    #: Pileup values of the tagging study: the sample's own MU and lower ones by Poisson thinning of
    #: whole interactions (0 = the hard interaction alone).
    mus: tuple[float, ...] = (0.0, 140.0, 200.0)
    #: Primary-vertex efficiency of the working point (rejection and the cleaning threshold).
    efficiency: float = 0.95
    #: Untracked particles (neutrals, charged below the tracking threshold or outside the tracker) count
    #: as reconstructed when their pT is at least this (GeV): the Delphes CMS card's HCAL cell
    #: threshold, 1 GeV (physics/detector.py cites it); no per-particle method can clean them.
    neutral_pt_min: float = 1.0
    #: Fraction of the jets whose tracks train the per-track models (the rest are the test jets).
    train_fraction: float = 0.5
    #: The conventional per-track baseline: hidden widths, epochs, batch, learning rate.
    mlp_hidden: tuple[int, ...] = (32, 16)
    mlp_epochs: int = 20
    mlp_batch_size: int = 512
    mlp_learning_rate: float = 3e-3
    #: Jets used (``None``: all; a seeded stratified subset otherwise).
    max_jets: int | None = None

    def __post_init__(self) -> None:
        s = "pileup"
        mus = tuple(float(m) for m in self.mus)
        check(len(mus) > 0 and all(math.isfinite(m) and 0 <= m <= 1000 for m in mus), f"{s}.mus",
              f"must be pileup values in 0..1000, got {list(self.mus)}")
        object.__setattr__(self, "mus", tuple(sorted(set(mus))))
        check(0.5 <= self.efficiency < 1.0, f"{s}.efficiency", f"must be in [0.5, 1), got {self.efficiency}")
        check(math.isfinite(self.neutral_pt_min) and self.neutral_pt_min >= 0, f"{s}.neutral_pt_min",
              f"must be >= 0 GeV, got {self.neutral_pt_min}")
        check(0.1 <= self.train_fraction <= 0.9, f"{s}.train_fraction", f"must be in [0.1, 0.9], got {self.train_fraction}")
        check(all(isinstance(h, int) and h >= 1 for h in self.mlp_hidden), f"{s}.mlp_hidden",
              f"must be positive integers, got {list(self.mlp_hidden)}")
        object.__setattr__(self, "mlp_hidden", tuple(self.mlp_hidden))
        check(isinstance(self.mlp_epochs, int) and self.mlp_epochs >= 1, f"{s}.mlp_epochs", f"must be >= 1, got {self.mlp_epochs}")
        check(isinstance(self.mlp_batch_size, int) and self.mlp_batch_size >= 1, f"{s}.mlp_batch_size",
              f"must be >= 1, got {self.mlp_batch_size}")
        _positive(s, "mlp_learning_rate", self.mlp_learning_rate)
        check(self.max_jets is None or (isinstance(self.max_jets, int) and self.max_jets >= 10), f"{s}.max_jets",
              f"must be >= 10 or null, got {self.max_jets}")


#: Surrogate derivatives the pileup filter may train with (those of :mod:`spikejet.snn.train.surrogate`).
_PILEUP_SURROGATES = _SURROGATES
#: Longest synaptic delay (steps) the pileup filter may use: Loihi's delay field
#: (:data:`spikejet.hardware.loihi.constants.SYNAPTIC_DELAY_MAX`, repeated here because config/ is a leaf).
PILEUP_MAX_DELAY = 62


@dataclass(frozen=True)
class PileupSnnConfig:
    """The spiking per-particle pileup filter that uses time as time (issue 14; docs/pileup_snn.md).

    Each charged particle's time (relative to the event's reference) and z0 (relative to the
    reference vertex) become spike times in a window of ``timesteps`` steps (a latency code,
    the reference at the middle step); a LIF layer fed through per-synapse delays
    ``0..n_delays-1`` decides primary vertex versus pileup.
    """

    #: Time steps of the window (the encoder's and the hidden layer's); the chip adds one step
    #: (the hidden -> read-out axon delay), so T <= 15 keeps the decision within 16 chip steps.
    timesteps: int = 12
    #: Synaptic delays 0..n_delays-1 per input (one learned weight per delay).
    n_delays: int = 6
    #: Hidden LIF neurons.
    hidden: int = 16
    #: Membrane decay per step of the hidden neurons (1 = no leak); put on Loihi's 12-bit grid.
    leak: float = 0.875
    #: Half-window in units of the per-track resolution: a pull of +-window_sigma maps to the
    #: window's first/last step; beyond it (or without a measurement) no spike.
    #: 3 sigma measured better than 4 (finer steps; docs/pileup_snn.md).
    window_sigma_t: float = 3.0
    window_sigma_z: float = 3.0
    #: Per-track time resolution (ps): the CMS MIP Timing Detector's 30-40 ps per track at the
    #: start of HL-LHC (CMS-TDR-020, DESIGN.md section 4); issue 14's synthetic model uses 35 ps.
    sigma_t_ps: float = 35.0
    #: Per-track z0 resolution, sigma_z0(pt) = a (+) b / pt (quadrature): issue 14's synthetic model
    #: (a = 0.05 mm, b = 0.5 mm GeV), an assumption of the order of an LHC silicon tracker's.
    sigma_z0_mm: float = 0.05
    sigma_z0_pt_mm_gev: float = 0.5
    #: Surrogate derivative of the spike and its slope (as the snn_surrogate section's).
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0
    #: Quantization-aware training: 8-bit weights on a per-layer grid (Loihi's mantissa).
    quantize: bool = True
    epochs: int = 60
    learning_rate: float = 5e-3
    batch_size: int = 512
    patience: int = 10
    #: Fraction of the training particles held out for early stopping (seeded).
    val_fraction: float = 0.2
    #: Train on a seeded subset of at most this many particles (null: all).
    max_train_particles: int | None = None
    #: PV efficiency at which the pileup rejection is quoted.
    efficiency: float = 0.95
    #: Charged particles per bunch crossing for the energy per event: 200 collisions x
    #: dN_ch/deta ~ 5.5 (CMS, PLB 751 (2015) 143: 5.49 at 13 TeV, |eta| < 0.5) x 8 units of eta
    #: (|eta| < 4, the timing layers' reach) ~ 8,800.
    particles_per_event: int = 8800

    def __post_init__(self) -> None:
        s = "pileup_snn"
        check(isinstance(self.timesteps, int) and 2 <= self.timesteps <= 64, f"{s}.timesteps",
              f"must be a whole number of steps in 2..64, got {self.timesteps!r}")
        check(isinstance(self.n_delays, int) and 1 <= self.n_delays <= min(self.timesteps, PILEUP_MAX_DELAY + 1),
              f"{s}.n_delays", f"must be in 1..min(timesteps, {PILEUP_MAX_DELAY + 1}), got {self.n_delays!r}")
        check(isinstance(self.hidden, int) and 1 <= self.hidden <= 1024, f"{s}.hidden",
              f"must be in 1..1024 neurons, got {self.hidden!r}")
        check(math.isfinite(self.leak) and 0.05 <= self.leak <= 1.0, f"{s}.leak",
              f"must be in [0.05, 1] (decay of the membrane per step), got {self.leak}")
        for key in ("window_sigma_t", "window_sigma_z", "sigma_t_ps", "sigma_z0_mm", "sigma_z0_pt_mm_gev",
                    "slope", "learning_rate"):
            _positive(s, key, getattr(self, key))
        check(self.surrogate in _PILEUP_SURROGATES, f"{s}.surrogate",
              f"unknown value {self.surrogate!r}; choose one of {', '.join(_PILEUP_SURROGATES)}")
        for key in ("epochs", "batch_size", "patience", "particles_per_event"):
            check(isinstance(getattr(self, key), int) and getattr(self, key) >= 1, f"{s}.{key}",
                  f"must be a whole number >= 1, got {getattr(self, key)!r}")
        check(math.isfinite(self.val_fraction) and 0 < self.val_fraction < 1, f"{s}.val_fraction",
              f"must be in (0, 1), got {self.val_fraction}")
        check(self.max_train_particles is None or self.max_train_particles >= 100, f"{s}.max_train_particles",
              f"must be at least 100 (or null for all), got {self.max_train_particles}")
        check(math.isfinite(self.efficiency) and 0 < self.efficiency < 1, f"{s}.efficiency",
              f"must be in (0, 1), got {self.efficiency}")
def _image_geometry(s: str, cfg) -> None:
    n_pool = len(cfg.channels)
    check(cfg.image_size >= 2 ** n_pool and cfg.image_size % (2 ** n_pool) == 0 and cfg.image_size <= 128,
          f"{s}.image_size", f"must be a multiple of 2^{n_pool} (one 2x2 pooling per convolution) in "
          f"{2 ** n_pool}..128, got {cfg.image_size}")
    _positive(s, "image_radius", cfg.image_radius)


def _image_channels(s: str, names) -> tuple[str, ...]:
    from ..data.particles import IMAGE_CHANNELS  # numpy only: the config stays torch-free

    key = f"{s}.image_channels"
    check(isinstance(names, (list, tuple)) and len(names) >= 1, key,
          f"must be a non-empty list of channel names ({', '.join(IMAGE_CHANNELS)}), got {names!r}")
    for n in names:
        check(n in IMAGE_CHANNELS, key, f"unknown channel {n!r}; choose among {', '.join(IMAGE_CHANNELS)}")
    check(len(set(names)) == len(names), key, f"lists a channel twice: {list(names)}")
    return tuple(names)


@dataclass(frozen=True)
class CnnImageConfig:
    """The ``cnn_image`` stage: a small CNN on jet images (docs/particles.md, "Jet images")."""

    #: Pixels per side over +-image_radius (eta, phi around the pT centroid), from the leading
    #: ``n_particles`` particles. docs/particles.md ("Jet images"): at 16 pixels a radius of 0.3
    #: (0.0375 per pixel; the outer particles fall off) gave 63.7 % against 53.6 % at 0.8 (5 epochs on
    #: 20,000 jets); 32 pixels over 0.8 gave 62.9 % at 4x the MACs.
    image_size: int = 16
    image_radius: float = 0.3
    n_particles: int = 32
    #: The image's channels (``spikejet.data.particles.IMAGE_CHANNELS``): ``pt`` (all particles), ``charged_pt``,
    #: ``neutral_pt`` (pT channels: each divided by the total pT in the window, times image_size),
    #: ``count``, ``charged_count``, ``neutral_count`` (particles per pixel, not scaled). The default is the
    #: colour image of Komiske, Metodiev, Schwartz, JHEP 01 (2017) 110. docs/particles.md ("Colour
    #: channels", benchmarks/bench_image.py, 20,000 training jets): 65.44 % against 62.62 % for ``["pt"]``
    #: (snn_image 63.04 % against 59.35 %); charged/neutral pT alone 63.31 %, a fourth (neutral count)
    #: channel 65.15 %.
    image_channels: tuple[str, ...] = ("charged_pt", "neutral_pt", "charged_count")
    #: Output channels of each 3x3 'same' convolution (each followed by ReLU and 2x2 average pooling),
    #: then one dense hidden layer of ``dense`` units.
    channels: tuple[int, ...] = (8, 16)
    dense: int = 32
    #: Train on a seeded subset of at most this many training jets (null: all). docs/particles.md ("Colour
    #: channels"): all 60,000 of the default sample gave 66.82 % against 65.44 % on 20,000 (3 channels);
    #: 10 epochs on all 66.00/67.22 % (20,000/all jets) at twice the time, over the stages' 60 s budget.
    max_train_jets: int | None = None
    epochs: int = 6
    #: 1e-2 beat 3e-3 by 1.8 points in the same exploration.
    learning_rate: float = 1e-2
    batch_size: int = 256
    patience: int = 3

    def __post_init__(self) -> None:
        s = "cnn_image"
        object.__setattr__(self, "channels", _widths(s, "channels", self.channels))
        object.__setattr__(self, "image_channels", _image_channels(s, self.image_channels))
        check(self.dense >= 1, f"{s}.dense", f"must be at least 1, got {self.dense}")
        _image_geometry(s, self)
        _train_recipe(s, self)


@dataclass(frozen=True)
class SnnImageConfig:
    """The ``snn_image`` stage: the spiking CNN converted from ``cnn_image`` (docs/particles.md)."""

    #: IF neurons' reset. docs/particles.md ("Jet images"): by subtraction the conversion keeps the QCFS
    #: network's accuracy (59.35 % vs 59.51 %), to zero it loses 5.7 points; Loihi 2 does both.
    #: ``snn_image.nir`` is the stage's network with either reset (by subtraction written exactly as
    #: NIR I -> Threshold with a Scale(-1) reset loop; to zero as IF nodes).
    reset: str = "subtract"
    #: Time steps (QCFS levels: the clip-floor activations are trained to what T steps can count).
    #: docs/particles.md ("Colour channels"): T = 16 gave 65.66 % against 63.82 % at T = 8 (lr 1e-3) at twice
    #: the synops, energy and latency per jet: kept at 8.
    timesteps: int = 8
    #: QCFS fine-tuning of a copy of the CNN before conversion: thresholds start at ``percentile``
    #: of its activations.
    percentile: float = 99.9
    qcfs_epochs: int = 2
    #: docs/particles.md ("Colour channels", 3 channels, the CNN on all jets): QCFS fine-tuning on all
    #: training jets at lr 1e-2 gave 64.95 % (1e-3: 63.82 %, 3e-3: 64.47 %; 1e-3 on 10,000 jets: 63.06 %).
    learning_rate: float = 1e-2
    batch_size: int = 256
    patience: int = 2
    max_train_jets: int | None = None
    #: Surrogate-gradient fine-tuning of the converted spiking CNN itself (BPTT through its T steps, the
    #: spike's derivative ``surrogate`` / ``slope``, threshold 1, detached reset) on a seeded subset of at
    #: most ``surrogate_max_train_jets`` training jets; 0 epochs: the converted network as it is. Default run
    #: (docs/particles.md, "Surrogate-gradient fine-tuning"): 3 epochs on 40,000 jets at lr 1e-3 give 66.04 %
    #: against 65.11 % converted (best epoch 3 of 3).
    surrogate_epochs: int = 3
    surrogate_learning_rate: float = 1e-3
    surrogate_max_train_jets: int | None = 40000
    surrogate: str = "fast_sigmoid"
    slope: float = 5.0
    #: Test jets run on the Loihi integer model (null: all; a seeded subset otherwise).
    loihi_max_jets: int | None = 1000
    #: Loihi 2 graded input spikes: bits per pixel; pixels (unit-sum image x image_size) clipped here.
    input_bits: int = 10
    input_clip: float = 16.0

    def __post_init__(self) -> None:
        s = "snn_image"
        check(self.reset in _RESETS, f"{s}.reset", f"unknown value {self.reset!r}; choose one of {', '.join(_RESETS)}")
        check(isinstance(self.timesteps, int) and 1 <= self.timesteps <= 64, f"{s}.timesteps",
              f"must be in 1..64, got {self.timesteps}")
        check(0 < self.percentile <= 100, f"{s}.percentile", f"must be in (0, 100], got {self.percentile}")
        for key in ("qcfs_epochs", "batch_size", "patience"):
            check(getattr(self, key) >= 1, f"{s}.{key}", f"must be at least 1, got {getattr(self, key)}")
        _positive(s, "learning_rate", self.learning_rate)
        for key in ("max_train_jets", "surrogate_max_train_jets"):
            n = getattr(self, key)
            check(n is None or n >= 100, f"{s}.{key}", f"must be at least 100 (or null for all training jets), got {n}")
        check(self.loihi_max_jets is None or self.loihi_max_jets >= 1, f"{s}.loihi_max_jets",
              f"must be >= 1 or null, got {self.loihi_max_jets}")
        check(isinstance(self.surrogate_epochs, int) and self.surrogate_epochs >= 0, f"{s}.surrogate_epochs",
              f"must be an integer >= 0 (0: no fine-tuning), got {self.surrogate_epochs}")
        _positive(s, "surrogate_learning_rate", self.surrogate_learning_rate)
        check(self.surrogate in _SURROGATES, f"{s}.surrogate",
              f"unknown value {self.surrogate!r}; choose one of {', '.join(_SURROGATES)}")
        _positive(s, "slope", self.slope)
        _input_grid(s, self)
