"""The one network spec: a frozen description of a feed-forward spiking network.

``SpikingNetwork`` is what ANN->SNN conversion and direct SNN training produce,
and what the float simulator (:mod:`spikejet.snn.simulate`), the Loihi
fixed-point model and the NIR exporter consume. It holds no torch modules and
no state: only numbers and names.

Semantics of one time step of ``dt`` seconds, layer by layer (``l = 0..L-1``)::

    u_0 = encoder output of the step          (features as current, or events)
    u_l = spike events of layer l-1 times their value (``neuron.spike_value``)
    z_l = W_l @ u_l + b_l                      (the bias is added every step)
          or, with a synapse on layer l's input (:mod:`.synapse`):
    c_l = a_l c_l + (1 - a_l) W_l @ u_l,  z_l = c_l + b_l
    spikes_l, state_l = step(z_l, state_l, neuron_l)

The last layer may be non-spiking (``neuron=None``): it only integrates ``z``
for the ``membrane`` read-out. Weights carry all scaling: converted networks
use threshold 1 and unit spikes, like SNN Toolbox's normalized networks.

Weights are ``[out, in]`` float32 arrays (PyTorch's ``nn.Linear`` layout); the
arrays are copied and made read-only on construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelError
from .encoding import Encoding
from .neurons import DEFAULT_DT, NeuronParams, neuron_from_dict, neuron_to_dict
from .readout import Readout
from .synapse import Synapse, synapse_from_dict, synapse_to_dict

__all__ = ["Layer", "SpikingNetwork", "count_ann_macs"]


def _frozen_array(a: Any, name: str, ndim: int) -> np.ndarray:
    try:
        import torch

        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    arr = np.array(a, dtype=np.float32, copy=True)
    if arr.ndim != ndim:
        raise ModelError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ModelError(f"{name} has NaN/inf values; the network cannot be simulated")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Layer:
    """A dense layer: ``weight`` [out, in], ``bias`` [out], its neurons (``None`` = non-spiking),
    and the synapse of its input connection (``None``: ``z = W u + b`` fused, no filter)."""

    weight: np.ndarray
    bias: np.ndarray
    neuron: NeuronParams | None
    name: str = ""
    synapse: Synapse | None = None

    def __post_init__(self) -> None:
        w = _frozen_array(self.weight, f"layer {self.name or '?'} weight", 2)
        b = _frozen_array(self.bias, f"layer {self.name or '?'} bias", 1)
        if b.shape[0] != w.shape[0]:
            raise ModelError(f"layer {self.name or '?'}: bias has {b.shape[0]} entries for {w.shape[0]} outputs")
        if self.synapse is not None and not isinstance(self.synapse, Synapse):
            raise ModelError(f"layer {self.name or '?'}: synapse must be a snn.synapse.Synapse or None")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def spiking(self) -> bool:
        return self.neuron is not None

    def fan_out(self) -> np.ndarray:
        """Synapses leaving each input unit of this layer (non-zero weights per column)."""
        return np.count_nonzero(self.weight, axis=0).astype(np.int64)


def count_ann_macs(sizes: Sequence[int]) -> int:
    """Multiply-accumulates of one dense ANN inference: ``sum(n_in * n_out)``.

    ``count_ann_macs([16, 64, 32, 32, 5]) == 4256``.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ConfigError(f"layer sizes must be >= 2 positive integers, got {sizes}")
    return int(sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)))


@dataclass(frozen=True, eq=False)
class SpikingNetwork:
    """A feed-forward spiking network with its encoder, read-out and metadata.

    ``scaler``: ``{"mean": [...], "scale": [...]}`` applied by :meth:`standardize`
    to raw features (``None`` when inputs are used as given). ``meta`` records how
    the network was made (method, source model, thresholds, default time steps).
    """

    layers: tuple[Layer, ...]
    encoding: Encoding = field(default_factory=Encoding)
    readout: Readout = field(default_factory=Readout)
    dt: float = DEFAULT_DT
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    scaler: Mapping[str, Any] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise ModelError("a spiking network needs at least one layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ModelError(f"layer {i} is a {type(layer).__name__}, expected snn.network.Layer")
        for i, (a, b) in enumerate(zip(layers[:-1], layers[1:], strict=False)):
            if b.n_in != a.n_out:
                raise ModelError(f"layer {i + 1} expects {b.n_in} inputs but layer {i} has {a.n_out} outputs")
        for i, layer in enumerate(layers[:-1]):
            if not layer.spiking:
                raise ModelError(f"hidden layer {i} has no neurons; only the output layer may be non-spiking")
        dt = float(self.dt)
        if not math.isfinite(dt) or dt <= 0:
            raise ConfigError(f"dt must be a positive number of seconds, got {self.dt!r}")
        for i, layer in enumerate(layers):
            ndt = getattr(layer.neuron, "dt", None)
            if ndt is not None and not math.isclose(ndt, dt, rel_tol=1e-9):
                raise ModelError(f"layer {i} neurons use dt={ndt} but the network uses dt={dt}")
        out = layers[-1]
        if self.readout.kind == "count" and not out.spiking:
            raise ModelError("the 'count' read-out needs a spiking output layer; use 'membrane' or 'filtered'")
        if self.readout.kind in ("membrane", "mean", "last") and out.spiking:
            raise ModelError(f"the {self.readout.kind!r} read-out needs a non-spiking output layer (neuron=None)")
        cn = tuple(self.class_names)
        if cn and len(cn) != out.n_out:
            raise ModelError(f"{len(cn)} class names for {out.n_out} outputs")
        fn = tuple(self.feature_names)
        if fn and len(fn) != layers[0].n_in:
            raise ModelError(f"{len(fn)} feature names for {layers[0].n_in} inputs")
        scaler = None
        if self.scaler is not None:
            try:
                mean = np.asarray(self.scaler["mean"], dtype=np.float64)
                scale = np.asarray(self.scaler["scale"], dtype=np.float64)
            except (KeyError, TypeError):
                raise ModelError("scaler must be a mapping with 'mean' and 'scale' lists") from None
            if mean.shape != (layers[0].n_in,) or scale.shape != (layers[0].n_in,):
                raise ModelError(f"scaler mean/scale must have {layers[0].n_in} entries")
            if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
                raise ModelError("scaler mean/scale must be finite and scale positive")
            scaler = {"mean": mean.tolist(), "scale": scale.tolist()}
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "dt", dt)
        object.__setattr__(self, "class_names", cn)
        object.__setattr__(self, "feature_names", fn)
        object.__setattr__(self, "scaler", scaler)
        object.__setattr__(self, "meta", dict(self.meta))

    # ----------------------------------------------------------------- shape
    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths, input first: e.g. ``(16, 64, 32, 32, 5)``."""
        return (self.layers[0].n_in,) + tuple(layer.n_out for layer in self.layers)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name or f"layer{i}" for i, layer in enumerate(self.layers))

    def ann_macs(self) -> int:
        """The MACs of the equivalent dense ANN (same sizes)."""
        return count_ann_macs(self.sizes)

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """Apply the stored scaler to raw features (identity if there is none)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ModelError(f"features must have shape [n, {self.n_inputs}], got {X.shape}")
        if self.scaler is None:
            return X
        mean = np.asarray(self.scaler["mean"], dtype=np.float32)
        scale = np.asarray(self.scaler["scale"], dtype=np.float32)
        return (X - mean) / scale

    # ------------------------------------------------------------- plain form
    def spec_dict(self) -> dict:
        """Everything but the weight arrays, as plain JSON (weights are ``layers[i]``)."""
        return {
            "layers": [self._layer_dict(layer) for layer in self.layers],
            "encoding": self.encoding.to_dict(),
            "readout": self.readout.to_dict(),
            "dt": self.dt,
            "class_names": list(self.class_names),
            "feature_names": list(self.feature_names),
            "scaler": self.scaler,
            "meta": dict(self.meta),
        }

    @staticmethod
    def _layer_dict(layer: Layer) -> dict:
        d = {"name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out, "neuron": neuron_to_dict(layer.neuron)}
        if layer.synapse is not None:  # absent, not null: specs of networks without synapses are unchanged
            d["synapse"] = synapse_to_dict(layer.synapse)
        return d

    @property
    def has_synapses(self) -> bool:
        return any(layer.synapse is not None for layer in self.layers)

    def with_synapses(self, synapse: Synapse | None) -> SpikingNetwork:
        """A copy with ``synapse`` on the input connection of every layer (``None``: remove them)."""
        return self.replace(layers=tuple(
            Layer(ly.weight, ly.bias, ly.neuron, name=ly.name, synapse=synapse) for ly in self.layers))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], weights: Sequence[np.ndarray],
                  biases: Sequence[np.ndarray]) -> SpikingNetwork:
        """Inverse of :meth:`spec_dict` given the arrays."""
        try:
            lspecs = list(spec["layers"])
            if len(lspecs) != len(weights) or len(weights) != len(biases):
                raise ModelError(f"spec has {len(lspecs)} layers but {len(weights)} weight arrays")
            layers = tuple(
                Layer(weight=w, bias=b, neuron=neuron_from_dict(ls.get("neuron")), name=ls.get("name", ""),
                      synapse=synapse_from_dict(ls.get("synapse")))
                for ls, w, b in zip(lspecs, weights, biases, strict=True)
            )
            return cls(
                layers=layers,
                encoding=Encoding.from_dict(spec["encoding"]),
                readout=Readout.from_dict(spec["readout"]),
                dt=spec["dt"],
                class_names=tuple(spec.get("class_names", ())),
                feature_names=tuple(spec.get("feature_names", ())),
                scaler=spec.get("scaler"),
                meta=spec.get("meta", {}),
            )
        except (KeyError, TypeError) as exc:
            raise ModelError(f"not a spiking-network spec: missing or bad entry {exc}") from None

    def replace(self, **changes: Any) -> SpikingNetwork:
        """A copy with some fields changed (validated again)."""
        import dataclasses

        return dataclasses.replace(self, **changes)
