"""A saved model is one file: weights + feature scaler + names + config + a format marker.

The file is ``torch.save`` of a plain dict (tensors, strings, numbers, lists, dicts
only), so it loads with ``torch.load(weights_only=True)``: opening a model never
runs code from the file. Layout (``format_version`` 1)::

    {"format": "spikejet-model", "format_version": 1,
     "kind": "ann",                      # which stage made it (later: "snn_converted", ...)
     "task": "multiclass",               # or "top_vs_rest"
     "arch": {"type": "mlp", "sizes": [16, 64, 32, 32, 5]},
     "state_dict": {name: tensor},
     "scaler": Standardizer.to_dict(),   # applied to raw features before the model
     "feature_names": [...], "class_names": [...],   # the model's inputs / outputs
     "data_class_names": [...],          # the labels of the data it was trained on
     "config": RunConfig.to_dict(), "meta": {...}}

Later stages reuse it: register a builder for a new ``arch["type"]`` with
:func:`register_arch` and save with their own ``kind``.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..ann.model import MLP, predict_proba, task_labels
from ..errors import DataError, ModelError, SpikejetError
from ..io import check_name, write_bytes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelBundle",
    "save_bundle",
    "load_bundle",
    "register_arch",
    "apply_scaler",
]

FORMAT = "spikejet-model"
FORMAT_VERSION = 1

_ARCH_BUILDERS: dict[str, Callable[[Mapping[str, Any]], nn.Module]] = {
    "mlp": lambda arch: MLP(tuple(arch["sizes"])),
}


#: The model families: ``arch["type"]`` -> ``"module:builder"``, imported on demand so that
#: loading an ANN does not import the spiking code. A new model family is one builder
#: ``(arch) -> nn.Module`` plus one line here (or a :func:`register_arch` call from a plugin).
ARCH_MODULES: dict[str, str] = {
    "snn": "spikejet.snn.module:build",
    "snn_synaptic": "spikejet.snn.module:build_legacy_synaptic",
    "jet_cnn": "spikejet.ann.particle:build_jet_cnn",
    "deepsets": "spikejet.ann.particle:build_deepsets",
    "interaction_net": "spikejet.ann.particle:build_interaction_net",
    "spiking_deepsets": "spikejet.snn.particle:build",
    "spiking_interaction_net": "spikejet.snn.interaction:build",
    "spiking_cnn": "spikejet.snn.image:build",
}

#: ``arch["inputs"]`` of models on jet images (made from the particles of the data; the others
#: take the 16 raw features).
IMAGE_INPUTS = "jet_image"
#: ``arch["inputs"]`` of models on the particles themselves (``arch["particles"]``: ``n_particles``,
#: ``jet_features`` (the 16 standardized features join, through ``scaler``), the particle ``scaler``).
PARTICLE_INPUTS = "particles"


def register_arch(type_name: str, builder: Callable[[Mapping[str, Any]], nn.Module]) -> None:
    """Let :func:`load_bundle` rebuild modules whose ``arch["type"]`` is ``type_name``.

    A name is registered once: a second, different builder for a taken name raises
    ``ValueError`` (registering the same function again, as a module reload does, is allowed).
    """
    old = _ARCH_BUILDERS.get(type_name)
    if old is not None and getattr(old, "__qualname__", None) != getattr(builder, "__qualname__", None):
        raise ValueError(f"model architecture {type_name!r} is already registered by {old!r}")
    _ARCH_BUILDERS[type_name] = builder


def arch_of(model: nn.Module) -> dict[str, Any]:
    """The ``arch`` entry for a model this module knows how to rebuild."""
    if isinstance(model, MLP):
        return {"type": "mlp", "sizes": list(model.sizes)}
    raise ModelError(
        f"cannot describe a {type(model).__name__} for a bundle; pass arch= and register_arch() a builder"
    )


def _plain(obj: Any) -> Any:
    """numpy values -> Python values, tuples -> lists (weights_only-safe)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def apply_scaler(scaler: Mapping[str, Any], X: np.ndarray) -> np.ndarray:
    """Standardize raw features with a scaler dict (``Standardizer.to_dict()``)."""
    from ..data import Standardizer

    return np.asarray(Standardizer.from_dict(dict(scaler)).transform(X), dtype=np.float32)


@dataclass
class ModelBundle:
    """A model with everything needed to apply it to raw features of a JetTable."""

    model: nn.Module
    scaler: dict[str, Any]
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    data_class_names: tuple[str, ...]
    kind: str = "ann"
    task: str = "multiclass"
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    arch: dict[str, Any] | None = None

    def check_table(self, feature_names: Sequence[str], class_names: Sequence[str], where: str = "data") -> None:
        """Raise :class:`ModelError` if the data's columns or labels do not fit the model."""
        fn = tuple(feature_names)
        if fn != self.feature_names:
            if len(fn) != len(self.feature_names):
                detail = f"{len(fn)} features but the model takes {len(self.feature_names)}"
            else:
                i = next(i for i, (a, b) in enumerate(zip(fn, self.feature_names, strict=True)) if a != b)
                detail = f"column {i} is {fn[i]!r} but the model expects {self.feature_names[i]!r}"
            raise ModelError(f"{where} does not match the model's features: {detail}; give data with the model's feature columns")
        if tuple(class_names) != self.data_class_names:
            raise ModelError(
                f"{where} has classes {list(class_names)} but the model was trained on {list(self.data_class_names)}"
            )

    def labels(self, y: np.ndarray) -> np.ndarray:
        """The data's labels mapped to the model's outputs (identity for multiclass)."""
        return task_labels(self.task, y, self.data_class_names)

    @property
    def needs_particles(self) -> bool:
        """Whether the model reads the jets' particles (or jet images of them) rather than the 16 features."""
        return (self.arch or {}).get("inputs") in (IMAGE_INPUTS, PARTICLE_INPUTS)

    def predict_table(self, table: Any) -> np.ndarray:
        """Class probabilities for the jets of a JetTable: its raw features; for an image model the
        images of its particles (``arch["image"]``: size, radius, particles, channels), scored by the model's
        ``predict_images(images, **arch["predict"])``; for a particle model its particles' inputs
        (``arch["particles"]``), scored by ``predict_particles(inputs, **arch["predict"])``."""
        if not self.needs_particles:
            return self.predict_proba(table.X)
        from ..evaluate.metrics import class_probabilities

        images = self.arch["inputs"] == IMAGE_INPUTS
        if not table.has_particles:
            what = "jet images made from the particles" if images else "the jets' particles"
            raise DataError(f"this model reads {what}: give data with particles (a particle-level file, "
                            "or 'default')")
        predict = dict(self.arch.get("predict", {}))
        if images:
            return class_probabilities(self.model.predict_images(self._images(table), **predict))
        return class_probabilities(self.model.predict_particles(self._particle_inputs(table), **predict))

    def _images(self, table: Any) -> np.ndarray:
        from ..data.particles import recipe_images

        return recipe_images(table, self.arch["image"])

    def _particle_inputs(self, table: Any) -> list[np.ndarray]:
        from ..ann.particle import ParticleScaler, particle_model_inputs
        from ..data import Standardizer

        p = self.arch["particles"]
        jet = Standardizer.from_dict(dict(self.scaler)) if p["jet_features"] else None
        return particle_model_inputs(table, int(p["n_particles"]), ParticleScaler.from_dict(p["scaler"]), jet)

    def predict_proba(self, X_raw: np.ndarray) -> np.ndarray:
        """Class probabilities for raw (unstandardized) features."""
        if self.needs_particles:
            raise ModelError("this model reads the jets' particles: score it with "
                             "predict_table on a JetTable with particles")
        X_raw = np.asarray(X_raw)
        if X_raw.ndim != 2 or X_raw.shape[1] != len(self.feature_names):
            raise DataError(f"features must be [n, {len(self.feature_names)}], got shape {X_raw.shape}")
        return predict_proba(self.model, apply_scaler(self.scaler, X_raw))

    def to_dict(self) -> dict[str, Any]:
        arch = self.arch if self.arch is not None else arch_of(self.model)
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "task": self.task,
            "arch": _plain(arch),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "scaler": _plain(self.scaler),
            "feature_names": list(self.feature_names),
            "class_names": list(self.class_names),
            "data_class_names": list(self.data_class_names),
            "config": _plain(self.config),
            "meta": _plain(self.meta),
        }


def save_bundle(path: str | os.PathLike[str], bundle: ModelBundle) -> Path:
    """Write ``bundle`` to ``path`` atomically; returns the path.

    The payload is serialised in memory first: ``torch.save`` to a file names the zip
    members after the file, and the atomic write's temporary name is random, so writing
    to a path directly would make the same model give different bytes. The payload's containers
    and strings are canonical (:func:`_canonical`) for the same reason: pickle's bytes depend on
    which equal objects are one object.
    """
    payload = _canonical(bundle.to_dict())
    buf = io.BytesIO()
    torch.save(payload, buf)
    dest = Path(path)
    write_bytes(dest, buf.getvalue())
    return dest


def _canonical(obj: Any) -> Any:
    """``obj`` with fresh dicts, lists and tuples and interned strings: its pickle then depends on its
    contents alone, not on which equal strings or containers happened to be shared (a config
    rebuilt in another process, say)."""
    if type(obj) is str:
        return sys.intern(obj)
    if type(obj) is dict:  # not a state dict (an OrderedDict with torch's metadata): kept as it is
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_canonical(v) for v in obj)
    return obj


_REQUIRED = ("kind", "task", "arch", "state_dict", "scaler", "feature_names", "class_names", "data_class_names")


def _reason(exc: BaseException) -> str:
    """One readable line of an exception: its most specific line, whole (no cut)."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    specific = [ln for ln in lines if not ln.startswith("Error(s) in loading")]
    text = (specific or lines or [type(exc).__name__])[0]
    if text.isdigit():  # some readers raise with a bare number (a magic value, an offset)
        text = f"{type(exc).__name__} {text}"
    return text


def _plain_arch(arch: Any) -> str:
    return str(arch)[:200]


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list | tuple) and all(isinstance(s, str) for s in v)


def _check_fields(p: Path, payload: Mapping[str, Any]) -> None:
    """Every field has the type the loader needs (a crafted or damaged file gets ModelError)."""
    def bad(name: str, want: str) -> ModelError:
        return ModelError(f"{p} is a damaged spikejet model file ({name} must be {want}, got "
                          f"{type(payload[name]).__name__})")

    if not isinstance(payload["kind"], str):
        raise bad("kind", "a string")
    try:
        check_name(payload["kind"], "model kind")
    except SpikejetError as exc:
        raise ModelError(f"{p}: {exc}") from None
    if not isinstance(payload["task"], str):
        raise bad("task", "a string")
    if not isinstance(payload["arch"], dict) or not isinstance(payload["arch"].get("type"), str):
        raise bad("arch", "a mapping with a 'type' string")
    if not isinstance(payload["state_dict"], dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload["state_dict"].items()):
        raise bad("state_dict", "a mapping of names to tensors")
    for name in ("feature_names", "class_names", "data_class_names"):
        if not _is_str_list(payload[name]) or not payload[name]:
            raise bad(name, "a non-empty list of strings")
    scaler = payload["scaler"]
    if not isinstance(scaler, dict) or not all(
            isinstance(scaler.get(k), list) and len(scaler[k]) == len(payload["feature_names"])
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in scaler[k])
            for k in ("mean", "scale")):
        raise bad("scaler", "a mapping with 'mean' and 'scale' lists of one number per feature")
    for name in ("config", "meta"):
        if name in payload and not isinstance(payload[name], dict):
            raise bad(name, "a mapping")


def _builder(arch_type: Any) -> Callable[[Mapping[str, Any]], nn.Module] | None:
    if arch_type not in _ARCH_BUILDERS and arch_type in ARCH_MODULES:
        module, _, name = ARCH_MODULES[arch_type].partition(":")
        register_arch(arch_type, getattr(importlib.import_module(module), name))
    return _ARCH_BUILDERS.get(arch_type)


def load_bundle(path: str | os.PathLike[str]) -> ModelBundle:
    """Read a model file written by :func:`save_bundle`; ModelError if it is not one."""
    p = Path(path)
    if p.is_dir():
        raise ModelError(f"model {p} is a directory; give a model file such as {p / 'ann.pt'}")
    if not p.is_file():
        raise ModelError(f"model file {p} does not exist; give a file written by 'spikejet run' or 'train-ann'")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files
        raise ModelError(f"{p} is not a spikejet model file ({_reason(exc)}); give a file written by "
                         "'spikejet run', 'train-ann' or 'convert'") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{p} is not a spikejet model file (no '{FORMAT}' format marker)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{p} has model format version {version!r}; this spikejet reads version {FORMAT_VERSION}"
        )
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ModelError(f"{p} is a damaged spikejet model file (missing {', '.join(missing)})")
    _check_fields(p, payload)
    arch = payload["arch"]
    arch_type = arch.get("type") if isinstance(arch, dict) else None
    builder = _builder(arch_type)
    if builder is None:
        raise ModelError(f"{p}: unknown model architecture {arch!r}; is the stage that made it installed?")
    try:
        model = builder(arch)
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelError(f"{p}: weights do not fit the architecture {_plain_arch(arch)}: {_reason(exc)}; "
                         "the file is damaged or was not written by spikejet") from None
    model.eval()
    return ModelBundle(
        model=model,
        scaler=dict(payload["scaler"]),
        feature_names=tuple(payload["feature_names"]),
        class_names=tuple(payload["class_names"]),
        data_class_names=tuple(payload["data_class_names"]),
        kind=str(payload["kind"]),
        task=str(payload["task"]),
        config=dict(payload.get("config", {})),
        meta=dict(payload.get("meta", {})),
        arch=dict(arch),
    )
