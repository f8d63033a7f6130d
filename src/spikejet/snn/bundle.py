"""Spiking networks in the project's one model-file format (``spikejet.ann.bundle``).

A converted or trained SNN is saved as a :class:`~spikejet.ann.bundle.ModelBundle`
with ``arch = {"type": "snn", "spec": net.spec_dict(), "timesteps": T}`` and the
weights/biases as tensors in ``state_dict`` (``w0, b0, w1, b1, ...``). So

* ``spikejet evaluate snn.pt --data jets.h5`` scores it like any model (the
  module's forward pass simulates ``T`` steps and returns the read-out scores);
* loading never runs code from the file (``torch.load(weights_only=True)``);
* save -> load gives bit-identical weights and parameters, hence identical
  simulation results (``tests/test_snn_bundle.py``).

The module and its builders live in :mod:`spikejet.snn.module` (the legacy ``"snn_synaptic"``
rate-stage files, written before synapses were part of the network spec, load as ordinary
spiking networks with synapses).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelError
from ..models.file import ModelBundle, load_bundle, save_bundle
from .module import ARCH_TYPE, SpikingModule
from .network import SpikingNetwork

__all__ = ["ARCH_TYPE", "SpikingModule", "network_bundle", "save_network", "load_network"]



def _identity_scaler(n: int) -> dict[str, list[float]]:
    return {"mean": [0.0] * n, "scale": [1.0] * n}


def network_bundle(
    net: SpikingNetwork,
    timesteps: int,
    *,
    kind: str = "snn_converted",
    task: str = "multiclass",
    data_class_names: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> ModelBundle:
    """A :class:`ModelBundle` holding ``net`` and its default number of steps."""
    if not isinstance(net, SpikingNetwork):
        raise ModelError(f"expected a SpikingNetwork, got {type(net).__name__}")
    if int(timesteps) < 1:
        raise ConfigError(f"timesteps must be >= 1, got {timesteps}")
    module = SpikingModule.from_network(net, int(timesteps))
    classes = net.class_names or tuple(str(i) for i in range(net.n_outputs))
    features = net.feature_names or tuple(f"x{i}" for i in range(net.n_inputs))
    return ModelBundle(
        model=module,
        scaler=dict(net.scaler) if net.scaler is not None else _identity_scaler(net.n_inputs),
        feature_names=tuple(features),
        class_names=tuple(classes),
        data_class_names=tuple(data_class_names) if data_class_names is not None else tuple(classes),
        kind=kind,
        task=task,
        config=dict(config or {}),
        meta=dict(meta or {}),
        arch={"type": ARCH_TYPE, "spec": module.spec, "timesteps": module.timesteps},
    )


def save_network(path: str | os.PathLike[str], net: SpikingNetwork, timesteps: int, **kw: Any) -> Path:
    """Write ``net`` (with its default ``timesteps``) as one model file, atomically."""
    return save_bundle(path, network_bundle(net, timesteps, **kw))


def load_network(path: str | os.PathLike[str]) -> tuple[SpikingNetwork, int, ModelBundle]:
    """Read a spiking model file: ``(network, default timesteps, bundle)``."""
    bundle = load_bundle(path)
    if not isinstance(bundle.model, SpikingModule):
        raise ModelError(
            f"{path} holds a {bundle.kind} model ({type(bundle.model).__name__}), not a spiking network; "
            "convert it first with 'spikejet convert'"
        )
    return bundle.model.network, bundle.model.timesteps, bundle
