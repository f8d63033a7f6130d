"""A spiking interaction network: the spiking twin of :class:`~spikejet.ann.particle.InteractionNet`.

The semantics conventions are those of :mod:`spikejet.snn.particle` (the spiking deep sets). Per
time step ``t = 1..T``:

* edges, one set of neurons per ordered pair ``(i, j)`` of real particles, ``i != j`` (``i`` the
  receiver, ``j`` the sender): the first edge layer's ``W_r x_i + W_s x_j + b`` is a constant
  input current (the per-particle projections ``W_r x``, ``W_s x`` are computed once per jet:
  ``input_macs``); every further edge layer gets ``W_l s_{l-1,ij} + b_l``; IF ``v <- v + z`` or LIF
  ``v <- beta v + z``, spike where ``v >= theta_l``, reset by subtraction or to zero (the neuron
  code of :mod:`spikejet.snn.particle`: :func:`~spikejet.snn.neurons.if_step`,
  :func:`~spikejet.snn.neurons.lif_step`, the fused IF kernel). Pairs with a padded particle and
  the diagonal ``i = j`` hold no neurons: their spikes are 0;
* aggregation at the receiver: ``agg_i = sum_j s_last,ij`` -- on a chip this costs nothing, every
  pair's neuron ``k`` projects with the same weights ``W_e[:, k]`` onto node layer 0 of its
  receiver (weight sharing, like the deep sets' sum pooling);
* nodes, per real particle: node layer 0 takes ``W_x x_i + b`` (a constant input current,
  ``input_macs``) ``+ W_e agg_i``; further node layers ``W_l s_{l-1,i} + b_l``; all spiking;
* the spikes of the last node layer are summed over the real particles into the classifier: its
  first layer takes ``W pooled_t + U g + b`` (``g``: optional jet-level inputs, a constant current),
  spiking hidden layers, and a non-spiking output layer whose mean current over T is the
  read-out (the logits).

Synaptic operations per jet: every spike times the fan-out of its neuron (the non-zero weights of
the next layer; for the last edge layer, node layer 0's ``W_e`` columns; for the last node layer,
the classifier's pooled columns), as :class:`~spikejet.snn.particle.SpikingDeepSets` counts them.
:meth:`SpikingInteractionNet.from_interaction_net` starts from a trained ``InteractionNet``
(thresholds at a percentile of its activations); training is the spiking particle networks' one
loop (:func:`~spikejet.snn.particle.train_spiking_particles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .particle import (
    SpikingDeepSetsOptions,
    SpikingOutput,
    SpikingParticleNet,
    evaluate_spiking_particles,
    fan_out,
    percentile_thresholds,
    train_spiking_particles,
)

__all__ = ["SpikingInteractionNet", "evaluate_spiking_interaction", "train_spiking_interaction", "build"]


def _linears(sizes: Sequence[int]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def pair_mask(mask: torch.Tensor) -> torch.Tensor:
    """``[B, P, P, 1]``: 1 for an ordered pair (receiver ``i``, sender ``j``) of real particles, ``i != j``."""
    m = mask.to(torch.float32) if not mask.is_floating_point() else mask
    P = m.shape[1]
    return (m.unsqueeze(2) * m.unsqueeze(1) * (1.0 - torch.eye(P, dtype=m.dtype))).unsqueeze(-1)


class SpikingInteractionNet(SpikingParticleNet):
    """``edge_sizes`` (``2 F`` first, as :class:`~spikejet.ann.particle.InteractionNet`), ``node_sizes``
    (``F + edge_sizes[-1]`` first), ``cls_sizes`` (``node_sizes[-1] + n_global`` first, classes
    last). Spiking layers, in order: every edge layer, every node layer, every hidden classifier
    layer (``thresholds`` in that order)."""

    title = "spiking interaction network"
    #: Jets per scoring batch (the membranes of a batch are ``[B, P, P, h]``).
    eval_batch_size = 512

    def __init__(self, edge_sizes: Sequence[int], node_sizes: Sequence[int], cls_sizes: Sequence[int],
                 n_global: int = 0, options: SpikingDeepSetsOptions | None = None, *,
                 thresholds: Sequence[float] | None = None) -> None:
        super().__init__()
        self.edge_sizes = tuple(int(s) for s in edge_sizes)
        self.node_sizes = tuple(int(s) for s in node_sizes)
        self.cls_sizes = tuple(int(s) for s in cls_sizes)
        self.n_global = int(n_global)
        if len(self.edge_sizes) < 2 or len(self.node_sizes) < 2 or len(self.cls_sizes) < 2:
            raise ConfigError("a spiking interaction network needs >= 1 edge, >= 1 node and >= 1 classifier layer")
        if self.edge_sizes[0] % 2:
            raise ConfigError(f"the edge input ({self.edge_sizes[0]}) is [x_i, x_j]: twice the particle features")
        self.n_in = self.edge_sizes[0] // 2
        if self.node_sizes[0] != self.n_in + self.edge_sizes[-1]:
            raise ConfigError(f"the node input ({self.node_sizes[0]}) must be the particle features ({self.n_in}) "
                              f"+ the last edge width ({self.edge_sizes[-1]})")
        if self.cls_sizes[0] != self.node_sizes[-1] + self.n_global:
            raise ConfigError(f"the classifier input ({self.cls_sizes[0]}) must be the last node width "
                              f"({self.node_sizes[-1]}) + n_global ({self.n_global})")
        self.n_classes = self.cls_sizes[-1]
        h0 = self.edge_sizes[1]
        self.recv = nn.Linear(self.n_in, h0)
        self.send = nn.Linear(self.n_in, h0, bias=False)
        self.edge = _linears(self.edge_sizes[1:])
        self.node = _linears(self.node_sizes)
        self.classifier = _linears(self.cls_sizes)
        self.n_edge, self.n_node = len(self.edge_sizes) - 1, len(self.node_sizes) - 1
        self._init_neurons(self.n_edge + self.n_node + len(self.cls_sizes) - 2, options, thresholds)

    # ------------------------------------------------------------------ counts

    def neuron_updates(self, n_real: torch.Tensor | float, T: int) -> Any:
        """Neuron updates per jet: every edge neuron of every real ordered pair, every node neuron of
        every real particle and every classifier neuron (output included), every step."""
        pairs = n_real * (n_real - 1)
        return (pairs * sum(self.edge_sizes[1:]) + n_real * sum(self.node_sizes[1:]) + sum(self.cls_sizes[1:])) * T

    def input_macs(self, n_real: torch.Tensor | float) -> Any:
        """MACs of the constant input currents, once per jet: the two per-particle projections of
        the first edge layer (``2 F h0`` per real particle), node layer 0's ``W_x x_i`` (``F n0``
        per real particle) and the jet-level inputs' ``U g``. (The ``W_r x_i + W_s x_j`` sums per pair
        are additions, not counted, as in :meth:`InteractionNet.macs <spikejet.ann.particle.InteractionNet.macs>`.)"""
        return (n_real * self.n_in * (2 * self.edge_sizes[1] + self.node_sizes[1])
                + self.n_global * self.cls_sizes[1])

    def fan_outs(self, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
        """Per spiking layer, every neuron's non-zero weights downstream (the synops of one spike)."""
        fans = [fan_out(lin, dtype) for lin in self.edge]
        fans.append(fan_out(self.node[0].weight[:, self.n_in:], dtype))  # the aggregated edges' columns
        fans += [fan_out(lin, dtype) for lin in self.node[1:]]
        fans.append(fan_out(self.classifier[0].weight[:, : self.node_sizes[-1]], dtype))  # the pooled columns
        fans += [fan_out(lin, dtype) for lin in self.classifier[1:]]
        return fans

    def arch(self) -> dict:
        """The model file's ``arch`` (thresholds and leaks are in the weights)."""
        return {"type": "spiking_interaction_net", "edge_sizes": list(self.edge_sizes),
                "node_sizes": list(self.node_sizes), "cls_sizes": list(self.cls_sizes),
                "n_global": self.n_global, "options": asdict(self.options)}

    # ------------------------------------------------------------------ simulation

    def _constant_currents(self, x: torch.Tensor, g: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """The currents that do not change over the steps: the first edge layer's ``[B, P, P, h0]``,
        node layer 0's ``W_x x + b`` ``[B, P, n0]`` and the classifier's ``U g + b`` (or its bias)."""
        z_edge = self.recv(x).unsqueeze(2) + self.send(x).unsqueeze(1)  # receiver i, sender j
        z_node = F.linear(x, self.node[0].weight[:, : self.n_in], self.node[0].bias)
        c0 = self.classifier[0]
        z_cls = c0.bias if g is None else F.linear(g, c0.weight[:, self.node_sizes[-1]:], c0.bias)
        return z_edge, z_node, z_cls

    def forward(self, x: torch.Tensor, mask: torch.Tensor, g: torch.Tensor | None = None, *,
                T: int = 8, relaxed: bool = False, count: bool = True) -> SpikingOutput:
        """Read-out and, with ``count``, synaptic operations and spikes per jet (zeros without)."""
        T = self.checked_call(T, g)
        B, P, _ = x.shape
        m = mask.to(x.dtype).unsqueeze(-1)  # [B, P, 1]
        pm = pair_mask(mask.to(x.dtype))  # [B, P, P, 1]
        n_e, n_n = self.n_edge, self.n_node
        step = self.layer_steps([(B, P, P, h) for h in self.edge_sizes[1:]] + [(B, P, h) for h in self.node_sizes[1:]]
                                + [(B, h) for h in self.cls_sizes[1:-1]], x, relaxed)
        fans = self.fan_outs(x.dtype)
        z_edge, z_node, z_cls = self._constant_currents(x, g if self.n_global else None)
        w_agg = self.node[0].weight[:, self.n_in:]
        w_pool = self.classifier[0].weight[:, : self.node_sizes[-1]]
        acc, synops, spikes = x.new_zeros(B, self.n_classes), x.new_zeros(B), x.new_zeros(B)

        def counted(k: int, s: torch.Tensor) -> None:
            nonlocal synops, spikes
            if count:
                c = s.reshape(B, -1, s.shape[-1]).sum(1)  # [B, n_k]: spikes per neuron over pairs / particles
                synops = synops + c @ fans[k]
                spikes = spikes + c.sum(1)

        for _ in range(T):
            s = None
            for k in range(n_e):
                s = step(k, z_edge if k == 0 else self.edge[k - 1](s), pm)
                counted(k, s)
            z = z_node + F.linear(s.sum(2), w_agg)  # the edges aggregated at their receiver
            for k in range(n_n):
                s = step(n_e + k, z if k == 0 else self.node[k](s), m)
                counted(n_e + k, s)
            z = F.linear(s.sum(1), w_pool) + z_cls
            for j in range(1, len(self.classifier)):
                k = n_e + n_n + j - 1
                s = step(k, z, None)
                counted(k, s)
                z = self.classifier[j](s)
            acc = acc + z
        return SpikingOutput(logits=acc / T, synops=synops, spikes=spikes)

    # ------------------------------------------------------------------ conversion

    @classmethod
    def from_interaction_net(cls, model: nn.Module, inputs: Sequence[np.ndarray],
                             options: SpikingDeepSetsOptions | None = None, *, percentile: float = 99.9,
                             max_jets: int = 2000) -> SpikingInteractionNet:
        """Start from a trained :class:`~spikejet.ann.particle.InteractionNet`: spiking layer ``l``'s
        threshold ``lambda_l`` is the ``percentile`` of its non-zero ReLU activations on (the first
        ``max_jets`` jets of) ``inputs`` (real pairs / real particles only), and every weight that
        reads layer ``l``'s spikes is scaled by ``lambda_l`` (a spike stands for the activation
        ``lambda_l``): edge layer ``l + 1``, node layer 0's aggregated-edge columns, node layer
        ``l + 1``, the classifier's pooled columns, classifier layer ``j + 1``. Constant-current
        columns (``W_r``, ``W_s``, ``W_x``, ``U``) and biases are copied."""
        lin = _ann_linears(model)
        x, mask, *rest = (torch.as_tensor(np.asarray(a)[:max_jets]) for a in inputs)
        g = rest[0] if rest and getattr(model, "n_global", 0) else None
        th = percentile_thresholds(_ann_activations(model, x, mask, g), percentile)
        net = cls(model.edge_sizes, model.node_sizes, model.cls_sizes, getattr(model, "n_global", 0), options,
                  thresholds=th)
        n_e, n_n, F_, h_n = net.n_edge, net.n_node, net.n_in, net.node_sizes[-1]
        feeds = ([(net.edge[k], lin["edge"][k], th[k], None) for k in range(n_e - 1)]
                 + [(net.node[0], lin["node"][0], th[n_e - 1], slice(F_, None))]
                 + [(net.node[k], lin["node"][k], th[n_e + k - 1], None) for k in range(1, n_n)]
                 + [(net.classifier[0], lin["cls"][0], th[n_e + n_n - 1], slice(0, h_n))]
                 + [(net.classifier[j], lin["cls"][j], th[n_e + n_n + j - 1], None)
                    for j in range(1, len(net.classifier))])
        with torch.no_grad():
            net.recv.load_state_dict(model.recv.state_dict())
            net.send.load_state_dict(model.send.state_dict())
            for dst, src, lam, cols in feeds:
                w = src.weight.clone()
                w[:, cols if cols is not None else slice(None)] *= lam
                dst.weight.copy_(w)
                dst.bias.copy_(src.bias)
        return net


def _ann_linears(model: nn.Module) -> dict[str, list[nn.Linear]]:
    """The Linear layers of an ``InteractionNet``: edge layers after the first, node, classifier."""
    def of(seq: nn.Module) -> list[nn.Linear]:
        return [m for m in seq.modules() if isinstance(m, nn.Linear)]

    return {"edge": of(model.edge_rest), "node": of(model.node), "cls": of(model.classifier)}


@torch.no_grad()
def _ann_activations(model: nn.Module, x: torch.Tensor, mask: torch.Tensor,
                     g: torch.Tensor | None) -> list[torch.Tensor]:
    """Per spiking layer, the ANN's ReLU activations: edge layers on real pairs, node layers on
    real particles, hidden classifier layers per jet (the order of the spiking layers)."""
    lin = _ann_linears(model)
    m = mask.to(x.dtype)
    pm = pair_mask(m)[..., 0].bool()  # [B, P, P]
    h = F.relu(model.recv(x).unsqueeze(2) + model.send(x).unsqueeze(1))
    acts = [h[pm]]
    for layer in lin["edge"]:
        h = F.relu(layer(h))
        acts.append(h[pm])
    h = torch.cat([x, (h * pm.unsqueeze(-1).to(x.dtype)).sum(2)], -1)
    for layer in lin["node"]:
        h = F.relu(layer(h))
        acts.append(h[mask.bool()])
    h = (h * m.unsqueeze(-1)).sum(1)
    if g is not None:
        h = torch.cat([h, g], 1)
    for layer in lin["cls"][:-1]:
        h = F.relu(layer(h))
        acts.append(h)
    return acts


#: The spiking interaction network's scoring (``logits``, ``synops``, ``spikes`` at ``T`` steps, in
#: batches of ``eval_batch_size`` jets) and training: the spiking particle networks' one path and loop.
evaluate_spiking_interaction = evaluate_spiking_particles
train_spiking_interaction = train_spiking_particles


def build(arch: dict) -> SpikingInteractionNet:
    """The model-file builder of ``arch["type"] == "spiking_interaction_net"``."""
    return SpikingInteractionNet(arch["edge_sizes"], arch["node_sizes"], arch["cls_sizes"], arch["n_global"],
                                 SpikingDeepSetsOptions(**arch["options"]))
