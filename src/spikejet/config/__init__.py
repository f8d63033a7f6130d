"""Run configuration: a tree of frozen dataclasses, one preset table, YAML at the edge.

Resolution order (later wins)::

    dataclass defaults < preset < YAML file < command-line flags < --quick overlay

(``--quick`` wins for the few values it sets: subset size, epochs, bootstrap count;
everything is validated before it is applied).

* :mod:`spikejet.config.sections` -- every section (torch-free frozen dataclasses; the
  only home of each default);
* :mod:`spikejet.config.presets` -- the one preset table (``default``, ``seed-2019``)
  and the ``--quick`` overlay;
* this module -- :class:`RunConfig`, :func:`resolve_config`, YAML in/out.

``RunConfig`` holds ``data``, ``ann`` and ``evaluate`` as typed fields and every other
section in ``sections`` (reach it as ``cfg.convert`` or ``cfg.section("convert")``).
:func:`register_section` adds a section from outside the package (a plugin, a test).

Every user error (unknown key, wrong type, bad value, unknown preset) raises
:class:`~spikejet.errors.ConfigError` naming the key and what to do.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .presets import DEFAULT_PRESET, PRESET_NAMES, PRESETS, QUICK
from .sections import (
    ANN_TASKS,
    DEFAULT_HIDDEN,
    AnnConfig,
    CnnImageConfig,
    ConvertConfig,
    DataConfig,
    EvalConfig,
    FpgaConfig,
    HardwareConfig,
    InteractionConfig,
    ParticlesConfig,
    PileupConfig,
    PileupSnnConfig,
    SnnImageConfig,
    SnnInteractionConfig,
    SnnParticlesConfig,
    SnnRateConfig,
    SnnSurrogateConfig,
    check,
)

__all__ = [
    "PRESET_NAMES",
    "PRESETS",
    "QUICK",
    "DEFAULT_SEED",
    "ANN_TASKS",
    "DEFAULT_HIDDEN",
    "DataConfig",
    "AnnConfig",
    "EvalConfig",
    "ConvertConfig",
    "SnnRateConfig",
    "SnnSurrogateConfig",
    "HardwareConfig",
    "ParticlesConfig",
    "SnnParticlesConfig",
    "InteractionConfig",
    "SnnInteractionConfig",
    "PileupConfig",
    "PileupSnnConfig",
    "CnnImageConfig",
    "SnnImageConfig",
    "RunConfig",
    "SECTIONS",
    "register_section",
    "registered_sections",
    "resolve_config",
    "load_config_file",
    "config_to_yaml",
]

DEFAULT_SEED = 1
MAX_SEED = 2**32 - 1


# --------------------------------------------------------------------------- registry


#: The built-in sections, in the order of the stages that use them (config.yaml keeps it).
_BUILTIN_SECTIONS: dict[str, type] = {"data": DataConfig, "ann": AnnConfig, "evaluate": EvalConfig}
SECTIONS: dict[str, type] = {
    **_BUILTIN_SECTIONS,
    "convert": ConvertConfig,
    "snn_rate": SnnRateConfig,
    "snn_surrogate": SnnSurrogateConfig,
    "loihi": HardwareConfig,
    "fpga": FpgaConfig,
    "ann_particles": ParticlesConfig,
    "snn_particles": SnnParticlesConfig,
    "ann_interaction": InteractionConfig,
    "snn_interaction": SnnInteractionConfig,
    "cnn_image": CnnImageConfig,
    "snn_image": SnnImageConfig,
    "pileup": PileupConfig,
    "pileup_snn": PileupSnnConfig,
}


@dataclass(frozen=True)
class _SectionSpec:
    name: str
    cls: type
    presets: dict[str, dict[str, Any]]
    quick: dict[str, Any]


#: Sections registered from outside the package (:func:`register_section`).
_SECTIONS: dict[str, _SectionSpec] = {}
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
    if name in SECTIONS or name in _TOP_KEYS or not name.isidentifier():
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
    return {**SECTIONS, **{k: s.cls for k, s in _SECTIONS.items()}}


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
        check(self.preset in PRESET_NAMES, "preset", f"unknown preset {self.preset!r}; choose one of {', '.join(PRESET_NAMES)}")
        check(
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


class _DuplicateKey(Exception):
    pass


def _unique_key_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """``yaml.safe_load`` that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(f"key {key!r} appears twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


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
        data = yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except _DuplicateKey as exc:
        raise ConfigError(f"config file {p}: {exc}; keep one") from None
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
