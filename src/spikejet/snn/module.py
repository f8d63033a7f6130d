"""The ``nn.Module`` face of a spiking network, and the builders of its model-file entries.

:mod:`spikejet.models.file` finds the builders through ``ARCH_MODULES`` (``"snn"`` ->
:func:`build`, the legacy ``"snn_synaptic"`` -> :func:`build_legacy_synaptic`); this module
imports nothing of the model-file format, so the two never import each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ModelError
from .network import SpikingNetwork

__all__ = ["ARCH_TYPE", "LEGACY_SYNAPTIC_ARCH", "SpikingModule", "build", "build_legacy_synaptic"]

ARCH_TYPE = "snn"
#: Architecture name of the rate stage's model files before synapses joined the network spec.
LEGACY_SYNAPTIC_ARCH = "snn_synaptic"


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
        from .engine import simulate_fast as simulate

        res = simulate(self.network, x, self.timesteps, steps=[self.timesteps])
        return torch.from_numpy(res.scores)

    def extra_repr(self) -> str:
        sizes = [self.spec["layers"][0]["n_in"]] + [ls["n_out"] for ls in self.spec["layers"]]
        return f"{'-'.join(map(str, sizes))}, T={self.timesteps}"


def build(arch: Mapping[str, Any]) -> nn.Module:
    """The module of an ``snn`` model-file entry (``spec``, ``timesteps``)."""
    if "spec" not in arch or "timesteps" not in arch:
        raise ModelError("snn model entry needs 'spec' and 'timesteps'")
    return SpikingModule(arch["spec"], arch["timesteps"])


def build_legacy_synaptic(arch: Mapping[str, Any]) -> nn.Module:
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
