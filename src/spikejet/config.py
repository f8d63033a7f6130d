"""Run configuration: a tree of frozen dataclasses, presets, YAML at the edge.

Resolution order (later wins)::

    dataclass defaults < preset < YAML file < command-line flags < --quick overlay

(``--quick`` wins for the few values it sets: subset size, epochs, bootstrap count;
everything is validated before it is applied).

``RunConfig`` holds the sections every run has (``data``, ``ann``, ``evaluate``) as
typed fields. Later stages add their own section without touching this file::

    @register_section("convert", presets={"seed-2019": {"timesteps": 200}},
                      quick={"timesteps": 32})
    @dataclass(frozen=True)
    class ConvertConfig:
        timesteps: int = 64
        def __post_init__(self): ...   # raise ConfigError on bad values

and reach it as ``cfg.convert`` (or ``cfg.section("convert")``). The module that
defines the section must be imported before a config is resolved; the pipeline
imports every stage module, and :func:`resolve_config` imports the pipeline.

Every user error (unknown key, wrong type, bad value, unknown preset) raises
:class:`~spikejet.errors.ConfigError` naming the key and what to do.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "PRESET_NAMES",
    "DEFAULT_SEED",
    "DataConfig",
    "AnnConfig",
    "EvalConfig",
    "RunConfig",
    "register_section",
    "registered_sections",
    "resolve_config",
    "load_config_file",
    "config_to_yaml",
]

#: The presets a run can start from.
PRESET_NAMES: tuple[str, ...] = ("default", "seed-2019")
DEFAULT_PRESET = "default"
DEFAULT_SEED = 1
#: Tasks the ANN can be trained for.
ANN_TASKS: tuple[str, ...] = ("multiclass", "top_vs_rest")
#: Hidden layer widths per task when ``ann.hidden`` is not given.
#: multiclass: the study's 16-64-32-32-5 network; top_vs_rest: one hidden layer
#: (the study's binary tagger of its Fig. 4 right; its width is our choice).
DEFAULT_HIDDEN: dict[str, tuple[int, ...]] = {"multiclass": (64, 32, 32), "top_vs_rest": (32,)}
MAX_SEED = 2**32 - 1


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"config value {key}: {msg}")


def _finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


# --------------------------------------------------------------------------- sections


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
        _check(bool(self.source), "data.source", "must be 'default' or a file path")
        _check(0 < self.val_fraction < 1, "data.val_fraction", f"must be in (0, 1), got {self.val_fraction}")
        _check(0 < self.test_fraction < 1, "data.test_fraction", f"must be in (0, 1), got {self.test_fraction}")
        _check(
            self.val_fraction + self.test_fraction < 1,
            "data.val_fraction + data.test_fraction",
            f"must be below 1 to leave jets for training, got {self.val_fraction + self.test_fraction}",
        )
        _check(
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
        _check(self.task in ANN_TASKS, "ann.task", f"unknown task {self.task!r}; choose one of {', '.join(ANN_TASKS)}")
        hidden = DEFAULT_HIDDEN[self.task] if self.hidden is None else tuple(self.hidden)
        _check(len(hidden) >= 1, "ann.hidden", "needs at least one hidden layer width")
        _check(all(h >= 1 for h in hidden), "ann.hidden", f"widths must be positive, got {list(hidden)}")
        object.__setattr__(self, "hidden", hidden)
        _check(_finite_positive(self.learning_rate), "ann.learning_rate", f"must be a positive number, got {self.learning_rate}")
        _check(self.batch_size >= 1, "ann.batch_size", f"must be at least 1, got {self.batch_size}")
        _check(self.max_epochs >= 1, "ann.max_epochs", f"must be at least 1, got {self.max_epochs}")
        _check(self.patience >= 1, "ann.patience", f"must be at least 1, got {self.patience}")
        _check(math.isfinite(self.min_delta) and self.min_delta >= 0, "ann.min_delta", f"must be >= 0, got {self.min_delta}")
        _check(0 < self.lr_decay_factor <= 1, "ann.lr_decay_factor", f"must be in (0, 1], got {self.lr_decay_factor}")
        _check(self.lr_decay_patience >= 0, "ann.lr_decay_patience", f"must be >= 0, got {self.lr_decay_patience}")
        _check(
            math.isfinite(self.min_learning_rate) and 0 <= self.min_learning_rate <= self.learning_rate,
            "ann.min_learning_rate",
            f"must be in [0, learning_rate], got {self.min_learning_rate}",
        )
        _check(math.isfinite(self.l1) and self.l1 >= 0, "ann.l1", f"must be >= 0, got {self.l1}")


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
        _check(self.n_bootstrap >= 10, "evaluate.n_bootstrap", f"must be at least 10, got {self.n_bootstrap}")
        _check(0 < self.interval < 1, "evaluate.interval", f"must be in (0, 1), got {self.interval}")
        effs = tuple(float(e) for e in self.efficiencies)
        _check(len(effs) >= 1, "evaluate.efficiencies", "needs at least one efficiency")
        _check(all(0 < e <= 1 for e in effs), "evaluate.efficiencies", f"must be in (0, 1], got {list(effs)}")
        object.__setattr__(self, "efficiencies", effs)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class _SectionSpec:
    name: str
    cls: type
    presets: dict[str, dict[str, Any]]
    quick: dict[str, Any]


_SECTIONS: dict[str, _SectionSpec] = {}
_BUILTIN_SECTIONS: dict[str, type] = {"data": DataConfig, "ann": AnnConfig, "evaluate": EvalConfig}
_TOP_KEYS: tuple[str, ...] = ("preset", "seed", "quick")


def register_section(
    name: str,
    *,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    quick: Mapping[str, Any] | None = None,
) -> Callable[[type], type]:
    """Class decorator: make a frozen config dataclass the run config's section ``name``.

    ``presets`` maps preset names to overrides of the section's defaults; ``quick``
    holds the overrides ``--quick`` applies. Registering the same class twice (module
    reload) is allowed; a different class under a taken name raises ``ValueError``.
    """
    if name in _BUILTIN_SECTIONS or name in _TOP_KEYS or not name.isidentifier():
        raise ValueError(f"config section name {name!r} is reserved or not an identifier")
    for p in presets or {}:
        if p not in PRESET_NAMES:
            raise ValueError(f"section {name!r}: unknown preset {p!r}")

    def deco(cls: type) -> type:
        if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise TypeError(f"config section {name!r} must be a frozen dataclass")
        old = _SECTIONS.get(name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"config section {name!r} is already registered by {old.cls.__qualname__}")
        _SECTIONS[name] = _SectionSpec(
            name, cls, {k: dict(v) for k, v in (presets or {}).items()}, dict(quick or {})
        )
        return cls

    return deco


def registered_sections() -> dict[str, type]:
    """Every section name -> its dataclass (built-in first, then registered)."""
    return {**_BUILTIN_SECTIONS, **{k: s.cls for k, s in _SECTIONS.items()}}


# --------------------------------------------------------------------------- run config


@dataclass(frozen=True)
class RunConfig:
    """The resolved configuration of one run."""

    preset: str = DEFAULT_PRESET
    seed: int = DEFAULT_SEED
    quick: bool = False
    data: DataConfig = field(default_factory=DataConfig)
    ann: AnnConfig = field(default_factory=AnnConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    #: Registered sections (see :func:`register_section`), by name.
    sections: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.preset in PRESET_NAMES, "preset", f"unknown preset {self.preset!r}; choose one of {', '.join(PRESET_NAMES)}")
        _check(
            isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed <= MAX_SEED,
            "seed",
            f"must be an integer in 0..{MAX_SEED}, got {self.seed!r}",
        )
        object.__setattr__(self, "sections", types.MappingProxyType(dict(self.sections)))

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered sections as attributes.
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"RunConfig has no section {name!r}")

    def section(self, name: str) -> Any:
        if name in _BUILTIN_SECTIONS:
            return getattr(self, name)
        try:
            return self.sections[name]
        except KeyError:
            raise ConfigError(f"config has no section {name!r}; is its stage module imported?") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, not tuples) — what ``config.yaml`` holds."""
        out: dict[str, Any] = {"preset": self.preset, "seed": self.seed, "quick": self.quick}
        present = set(_BUILTIN_SECTIONS) | set(self.sections)
        for name in registered_sections():
            if name in present:
                out[name] = _plain(dataclasses.asdict(self.section(name)))
        return out

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- presets

#: Per-preset overrides of the built-in sections. ``default`` holds our best settings
#: (chosen by measurement on the default sample, see docs/run.md); ``seed-2019`` the
#: study's (Keras MLP, Adam lr 1e-4, batch 1024).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Measured on the default sample (docs/run.md, "Choosing the default preset"): every
    # learning rate from 1e-3 to 1e-2, L1 0 to 1e-4 and batch 256 or 1024 reached the
    # same validation accuracy within 0.2 points; 3e-3 without L1 had the lowest
    # validation loss and stops early after about 80 epochs (about 20 s on 2 cores).
    "default": {
        "ann": {
            "learning_rate": 3e-3,
            "batch_size": 1024,
            "max_epochs": 150,
            "patience": 10,
            "lr_decay_factor": 0.5,
            "lr_decay_patience": 3,
            "l1": 0.0,
        },
    },
    # The study's optimizer settings; with lr 1e-4 early stopping ends near epoch 390 on
    # the default sample (about 70 s on 2 cores), so 500 epochs bound it.
    "seed-2019": {
        "ann": {
            "learning_rate": 1e-4,
            "batch_size": 1024,
            "max_epochs": 500,
            "patience": 10,
            "lr_decay_factor": 1.0,
            "l1": 0.0,
        },
    },
}

#: What ``--quick`` overrides: a small subset and few epochs, the whole chain in seconds.
QUICK: dict[str, dict[str, Any]] = {
    "data": {"max_jets": 10000},
    "ann": {"max_epochs": 8, "batch_size": 256, "patience": 3, "lr_decay_patience": 1},
    "evaluate": {"n_bootstrap": 200},
}


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# --------------------------------------------------------------------------- building


def _type_error(key: str, want: str, value: Any) -> ConfigError:
    return ConfigError(f"config value {key}: expected {want}, got {value!r}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert one YAML value against a field annotation (a small, strict subset)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _coerce(value, rest[0], key)
        raise TypeError(f"unsupported config annotation {tp!r} for {key}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise _type_error(key, "a list", value)
        item = args[0]
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise _type_error(key, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _type_error(key, "an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool):
            raise _type_error(key, "a number", value)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                raise _type_error(key, "a number", value) from None
        raise _type_error(key, "a number", value)
    if tp is str:
        if not isinstance(value, str):
            raise _type_error(key, "a string", value)
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config annotation {tp!r} for {key}")


def _build_section(cls: type, values: Mapping[str, Any], name: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"config section {name!r} must be a mapping of keys to values, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in values if k not in names]
    if unknown:
        raise ConfigError(
            f"unknown config key {name}.{unknown[0]}; valid keys in {name!r}: {', '.join(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{name}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def _ensure_stage_modules() -> None:
    """Import the pipeline so that every stage module has registered its section."""
    importlib.import_module("spikejet.pipeline")


def resolve_config(
    file_values: Mapping[str, Any] | None = None,
    *,
    preset: str | None = None,
    seed: int | None = None,
    quick: bool | None = None,
    data_source: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Build the run's config: defaults < preset < file < flags/overrides < quick.

    Every value is validated before ``quick`` replaces it, so a bad file fails the
    same way with and without ``--quick``.
    """
    _ensure_stage_modules()
    file_values = dict(file_values or {})
    sections = registered_sections()
    for k in file_values:
        if k not in _TOP_KEYS and k not in sections:
            raise ConfigError(
                f"unknown config key {k!r}; valid top-level keys: {', '.join((*_TOP_KEYS, *sections))}"
            )
    preset_name = preset if preset is not None else file_values.get("preset", DEFAULT_PRESET)
    if preset_name not in PRESET_NAMES:
        raise ConfigError(f"unknown preset {preset_name!r}; choose one of {', '.join(PRESET_NAMES)}")
    is_quick = bool(quick) if quick is not None else _coerce(file_values.get("quick", False), bool, "quick")

    values: dict[str, Any] = {name: {} for name in sections}
    values = _merge(values, PRESETS.get(preset_name, {}))
    for name, spec in _SECTIONS.items():
        values[name] = _merge(values[name], spec.presets.get(preset_name, {}))
    values = _merge(values, {k: v for k, v in file_values.items() if k in sections})
    if data_source is not None:
        values = _merge(values, {"data": {"source": data_source}})
    if overrides:
        values = _merge(values, overrides)
    if is_quick:
        # validate what the user gave before --quick replaces some of it
        for name, cls in sections.items():
            _build_section(cls, values.get(name, {}), name)
        values = _merge(values, QUICK)
        for name, spec in _SECTIONS.items():
            values[name] = _merge(values[name], spec.quick)

    built = {name: _build_section(cls, values.get(name, {}), name) for name, cls in sections.items()}
    seed_value = seed if seed is not None else file_values.get("seed", DEFAULT_SEED)
    return RunConfig(
        preset=preset_name,
        seed=seed_value,
        quick=is_quick,
        data=built.pop("data"),
        ann=built.pop("ann"),
        evaluate=built.pop("evaluate"),
        sections=built,
    )


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a plain dict (``yaml.safe_load``), or raise ConfigError."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist; give a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a mapping of sections (data:, ann:, ...), got {type(data).__name__}")
    return data


def config_to_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML text; reading it back resolves to the same config."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _flow_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)

    _Dumper.add_representer(list, _flow_list)
    header = "# spikejet resolved run config: `spikejet run --config THIS_FILE` repeats the run\n"
    return header + yaml.dump(cfg.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
