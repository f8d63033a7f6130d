"""Spiking networks in the project's one model-file format (``spikejet.ann.bundle``).

A converted or trained SNN is saved as a :class:`~spikejet.ann.bundle.ModelBundle`
with ``arch = {"type": "snn", "spec": net.spec_dict(), "timesteps": T}`` and the
weights/biases as tensors in ``state_dict`` (``w0, b0, w1, b1, ...``). So

* ``spikejet evaluate snn.pt --data jets.h5`` scores it like any model (the
  module's forward pass simulates ``T`` steps and returns the read-out scores);
* loading never runs code from the file (``torch.load(weights_only=True)``);
* save -> load gives bit-identical weights and parameters, hence identical
  simulation results (``tests/test_snn_bundle.py``).

Importing this module registers the ``"snn"`` architecture with
:func:`spikejet.models.file.register_arch`, and the legacy ``"snn_synaptic"`` one: rate-stage
files written before synapses were part of the network spec load as ordinary spiking networks
with synapses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ModelError
from ..models.file import ModelBundle, load_bundle, register_arch, save_bundle
from .network import SpikingNetwork

__all__ = ["ARCH_TYPE", "SpikingModule", "network_bundle", "save_network", "load_network"]

ARCH_TYPE = "snn"


class SpikingModule(nn.Module):
    """``nn.Module`` face of a :class:`SpikingNetwork`: ``forward(X_std)`` simulates ``timesteps``
    steps and returns the read-out scores ``[n, classes]`` (float32).

    The weights live in buffers ``w{i}``/``b{i}``; :attr:`network` rebuilds the
    frozen spec from them, so a loaded state dict is what gets simulated.
    """

    def __init__(self, spec: Mapping[str, Any], timesteps: int,
                 weights: Sequence[np.ndarray] | None = None, biases: Sequence[np.ndarray] | None = None) -> None:
        super().__init__()
        try:
            T = int(timesteps)
        except (TypeError, ValueError):
            raise ModelError(f"snn timesteps must be an integer, got {timesteps!r}") from None
        if T < 1:
            raise ModelError(f"snn timesteps must be >= 1, got {T}")
        self.spec = dict(spec)
        self.timesteps = T
        try:
            shapes = [(int(ls["n_out"]), int(ls["n_in"])) for ls in self.spec["layers"]]
        except (KeyError, TypeError, ValueError):
            raise ModelError("snn spec has no valid 'layers' list with n_in/n_out") from None
        for i, (o, n) in enumerate(shapes):
            w = np.zeros((o, n), np.float32) if weights is None else np.asarray(weights[i], np.float32)
            b = np.zeros(o, np.float32) if biases is None else np.asarray(biases[i], np.float32)
            self.register_buffer(f"w{i}", torch.from_numpy(w.copy()))
            self.register_buffer(f"b{i}", torch.from_numpy(b.copy()))
        self._n = len(shapes)
        self.network  # noqa: B018 - validate the spec now, not at the first forward pass

    @classmethod
    def from_network(cls, net: SpikingNetwork, timesteps: int) -> SpikingModule:
        return cls(net.spec_dict(), timesteps, [ly.weight for ly in net.layers], [ly.bias for ly in net.layers])

    @property
    def network(self) -> SpikingNetwork:
        ws = [getattr(self, f"w{i}").detach().cpu().numpy() for i in range(self._n)]
        bs = [getattr(self, f"b{i}").detach().cpu().numpy() for i in range(self._n)]
        try:
            return SpikingNetwork.from_spec(self.spec, ws, bs)
        except ConfigError as exc:
            raise ModelError(f"invalid spiking-network spec in the model file: {exc}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .simulate import simulate

        res = simulate(self.network, x, self.timesteps, steps=[self.timesteps])
        return torch.from_numpy(res.scores)

    def extra_repr(self) -> str:
        sizes = [self.spec["layers"][0]["n_in"]] + [ls["n_out"] for ls in self.spec["layers"]]
        return f"{'-'.join(map(str, sizes))}, T={self.timesteps}"


def _build(arch: Mapping[str, Any]) -> nn.Module:
    if "spec" not in arch or "timesteps" not in arch:
        raise ModelError("snn model entry needs 'spec' and 'timesteps'")
    return SpikingModule(arch["spec"], arch["timesteps"])


register_arch(ARCH_TYPE, _build)

#: Architecture name of the rate stage's model files before synapses joined the network spec.
LEGACY_SYNAPTIC_ARCH = "snn_synaptic"


def _build_legacy_synaptic(arch: Mapping[str, Any]) -> nn.Module:
    """An old ``snn_synaptic`` entry (``spec``, ``timesteps``, ``synapse_tau``, ``readout``) as the
    ordinary spiking module it now is: a synapse of ``synapse_tau`` (null: instantaneous) on every
    layer and the read-out ``last`` or ``mean``; it simulates exactly as the old file did."""
    for key in ("spec", "timesteps", "synapse_tau", "readout"):
        if key not in arch:
            raise ModelError(f"{LEGACY_SYNAPTIC_ARCH} model entry needs {key!r}")
    if arch["readout"] not in ("last", "mean"):
        raise ModelError(f"synaptic read-out must be last or mean; got {arch['readout']!r}")
    tau = arch["synapse_tau"]
    if tau is not None and not (isinstance(tau, int | float) and tau > 0):
        raise ModelError(f"synapse tau must be positive or null, got {tau!r}")
    spec = dict(arch["spec"])
    try:
        spec["layers"] = [{**ls, "synapse": {"kind": "exp", "tau": 0.0 if tau is None else float(tau)}}
                          for ls in spec["layers"]]
        spec["readout"] = {**spec["readout"], "kind": arch["readout"]}
    except (KeyError, TypeError):
        raise ModelError(f"{LEGACY_SYNAPTIC_ARCH} model entry has no valid spec") from None
    return SpikingModule(spec, arch["timesteps"])


register_arch(LEGACY_SYNAPTIC_ARCH, _build_legacy_synaptic)


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
