"""NeuroBench's four standard metrics, spikejet's own implementation (no neurobench import).

The definitions are NeuroBench 2.3.0's (``neurobench.metrics``), applied to spikejet's models:

``footprint_bytes``
    bytes of the parameters and buffers of the model (``numel * element_size``): for the MLP its
    ``nn.Linear`` weights and biases, for a :class:`~spikejet.snn.network.SpikingNetwork` its
    float32 weight and bias arrays (neuron constants are not counted, as NeuroBench does not
    count Python attributes).
``connection_sparsity``
    zero weights / all weights of the connection layers (biases excluded).
``activation_sparsity``
    zero activations / all activations, over every activation layer, time step and sample: the
    MLP's ReLU outputs; a spiking network's spikes of every spiking layer at every step (a
    non-spiking output layer has no activation). For neurons that fire at most once per step
    (IF, LIF) the spike count is the number of non-zero activations; a spiking ReLU may fire
    several times in one step, where NeuroBench counts one non-zero and this counts the spikes.
``synaptic operations``
    per sample, ``effective_macs`` (inputs that are not all 0/+-1: the MLP's layers; a spiking
    network's first layer under the ``current`` encoding, evaluated once, as the simulator does),
    ``effective_acs`` (binary inputs: spikes or input events) and ``dense`` (every connection,
    zero inputs included). "Effective" counts one operation per non-zero input per non-zero
    weight leaving it, NeuroBench's ``single_layer_MACs``; for spikes this is spikejet's synops
    count (each spike times its fan-out, :meth:`spikejet.snn.simulate.SimResult.synops_per_inference`).

``tests/test_neurobench.py`` checks these against NeuroBench's own metrics on the same networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "footprint_bytes",
    "connection_sparsity",
    "ann_metrics",
    "snn_metrics",
    "snn_metrics_from_result",
]


def footprint_bytes(model: Any) -> int:
    """Bytes of a model's parameters and buffers (an ``nn.Module``) or of a network's arrays."""
    from ..snn.network import SpikingNetwork

    if isinstance(model, SpikingNetwork):
        return int(sum(ly.weight.nbytes + ly.bias.nbytes for ly in model.layers))
    tensors = list(model.parameters()) + list(model.buffers())
    return int(sum(t.numel() * t.element_size() for t in tensors))


def connection_sparsity(weights: Sequence[np.ndarray]) -> float:
    """Zero weights over all weights of the connection matrices (biases excluded)."""
    ws = [np.asarray(w) for w in weights]
    total = sum(w.size for w in ws)
    if total == 0:
        raise ConfigError("connection_sparsity needs at least one weight")
    return float(sum(int(np.count_nonzero(w == 0)) for w in ws) / total)


def _effective(inputs: np.ndarray, weight: np.ndarray) -> float:
    """Sum over samples of (non-zero inputs) x (non-zero weights leaving each input)."""
    fan_out = np.count_nonzero(weight, axis=0).astype(np.float64)  # weight is [out, in]
    return float((np.asarray(inputs) != 0).sum(axis=0) @ fan_out)


def ann_metrics(model: Any, X: np.ndarray) -> dict[str, Any]:
    """The four metrics of a ReLU MLP (:class:`spikejet.ann.model.MLP`) on standardized ``X``."""
    import torch
    from torch.nn import functional as F

    Xt = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
    n = Xt.shape[0]
    if n == 0:
        raise ConfigError("no samples to measure")
    weights = [lin.weight.detach() for lin in model.linears]
    macs = dense = 0.0
    zeros = acts = 0
    h = Xt
    with torch.no_grad():
        for i, lin in enumerate(model.linears):
            macs += _effective(h.numpy(), weights[i].numpy())
            dense += float(n * weights[i].numel())
            h = lin(h)
            if i < len(model.linears) - 1:
                h = F.relu(h)
                zeros += int((h == 0).sum())
                acts += h.numel()
    return {
        "footprint_bytes": footprint_bytes(model),
        "connection_sparsity": connection_sparsity([w.numpy() for w in weights]),
        "activation_sparsity": zeros / acts if acts else 0.0,
        "synops": {"effective_macs": macs / n, "effective_acs": 0.0, "dense": dense / n},
    }


def snn_metrics_from_result(net: Any, result: Any, X: np.ndarray | None = None) -> dict[str, Any]:
    """The four metrics of a spiking network from a simulation of it (``result``, a SimResult).

    ``X``: the standardized features the simulation ran on; needed under the ``current``
    encoding for the first layer's effective MACs (one evaluation per jet).
    """
    T, n = int(result.T), int(result.n_jets)
    w0 = net.layers[0].weight
    rest = sum(ly.weight.size for ly in net.layers[1:])
    acs = float(result.synops_per_inference().sum())
    if net.encoding.spiking:
        macs, dense = 0.0, float(T * (w0.size + rest))
    else:
        if X is None or np.shape(X)[0] != n:
            raise ConfigError("give the features the simulation ran on (current encoding: first-layer MACs)")
        macs, dense = _effective(X, w0) / n, float(w0.size + T * rest)
    spiking = [i for i, ly in enumerate(net.layers) if ly.spiking]
    spikes = sum(float(result.spikes_per_step[i].sum()) for i in spiking)
    slots = float(sum(net.layers[i].n_out for i in spiking) * T * n)
    return {
        "footprint_bytes": footprint_bytes(net),
        "connection_sparsity": connection_sparsity([ly.weight for ly in net.layers]),
        "activation_sparsity": 1.0 - spikes / slots if slots else 0.0,
        "synops": {"effective_macs": macs, "effective_acs": acs, "dense": dense},
        "timesteps": T,
    }


def snn_metrics(net: Any, X: np.ndarray, T: int, *, seed: int = 0) -> dict[str, Any]:
    """Simulate ``net`` on standardized ``X`` for ``T`` steps and return its four metrics."""
    from ..snn.simulate import simulate

    res = simulate(net, X, T, seed=seed, steps=[int(T)])
    return snn_metrics_from_result(net, res, X)
