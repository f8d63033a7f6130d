"""NIR export and read-back of the pileup filter (:class:`spikejet.snn.temporal.TemporalNet`) with ``Delay`` nodes.

The network is not a chain (every input fans out through D delays), so it does not go through
:func:`spikejet.interop.nir.to_nir`'s chain; it reuses that module's neuron-node handler (the
same Euler convention, the same threshold rule) and its import handlers. The graph::

    input (4) -> delay_d (nir.Delay, d * dt seconds) -> syn_d (Linear W[:, :, d]; syn_0 an
    Affine with the hidden bias) -> hidden (LIF or IF, reset to 0) -> readout (Affine w_out,
    b_out) -> output

for ``d = 0..D-1``; a node with several incoming edges sums them (NIR's rule). The graph's
output is the read-out's value at each step; the PV score is its sum over the T steps. The
input is the latency code (:func:`spikejet.snn.temporal.encode`): its settings are the graph's
``spikejet_pileup_config`` metadata (JSON), with ``dt``, the channel names and the read-out rule.

norse 1.1.0's ``from_nir`` has no handler for ``nir.Delay`` (its import handles Affine, Conv2d,
Flatten, Linear, IF, LIF, CubaLIF and SumPool2d), so norse cannot run this graph.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..config.sections import PileupSnnConfig
from ..errors import ConfigError, ModelError
from ..io import atomic_path
from .nir import _NEURON_IMPORTERS, _above, _arr, _meta_value, _neuron_nodes, _nir

__all__ = ["FORMAT", "FORMAT_VERSION", "temporal_to_nir", "temporal_from_nir", "export_nir", "read_nir_net",
           "read_nir_scores"]

FORMAT = "spikejet-nir-pileup"
FORMAT_VERSION = 1
#: Seconds per step written to the graph (the project's step, spikejet.snn.neurons.DEFAULT_DT).
_READOUT = "the PV score is the sum over the T steps of the output (the read-out Affine of the hidden spikes)"


def temporal_to_nir(net: Any) -> Any:
    """A ``nir.NIRGraph`` of a TemporalNet (module docstring)."""
    from ..snn.neurons import DEFAULT_DT, LIFParams
    from ..snn.temporal import CHANNELS
    from ..snn.temporal_loihi import effective_weights

    nir = _nir()
    dt = DEFAULT_DT
    W, b, w_out, b_out = effective_weights(net)
    H, C, D = W.shape
    f32 = np.float32
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([C])})}
    edges = []
    for d in range(D):
        nodes[f"delay_{d}"] = nir.Delay(delay=np.full(C, d * dt))
        nodes[f"syn_{d}"] = (nir.Affine(weight=W[:, :, d].astype(f32), bias=b.astype(f32)) if d == 0
                             else nir.Linear(weight=W[:, :, d].astype(f32)))
        edges += [("input", f"delay_{d}"), (f"delay_{d}", f"syn_{d}"), (f"syn_{d}", "hidden")]
    neuron = LIFParams.from_decays(0.0, net.leak, threshold=1.0, reset="zero", dt=dt)
    layer = dataclasses.make_dataclass("L", ["neuron", "name", "n_out"])(neuron, "hidden", H)
    (_, nodes["hidden"]), = _neuron_nodes(layer, 0, dt, allow_reset_change=False)
    nodes["readout"] = nir.Affine(weight=w_out[None, :].astype(f32), bias=np.array([b_out], dtype=f32))
    nodes["output"] = nir.Output(output_type={"output": np.array([1])})
    edges += [("hidden", "readout"), ("readout", "output")]
    meta = {"spikejet_format": FORMAT, "spikejet_format_version": FORMAT_VERSION, "dt": dt,
            "channels": json.dumps(list(CHANNELS)), "readout": _READOUT,
            "spikejet_pileup_config": json.dumps(dataclasses.asdict(net.cfg), sort_keys=True)}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def export_nir(net: Any, path: str | os.PathLike[str]) -> Path:
    """Write the TemporalNet ``net`` to the NIR file ``path`` (atomically); return the path."""
    nir = _nir()
    graph = temporal_to_nir(net)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return Path(path)


def _config(meta: dict[str, Any]) -> PileupSnnConfig:
    if _meta_value(meta, "spikejet_format") != FORMAT:
        raise ModelError(f"not a spikejet pileup-filter NIR graph (spikejet_format is not {FORMAT!r})")
    try:
        return PileupSnnConfig(**json.loads(_meta_value(meta, "spikejet_pileup_config")))
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelError(f"the graph's spikejet_pileup_config metadata is invalid: {exc}") from None


def _delay_weights(graph: Any, dt: float, cfg: PileupSnnConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(W [H, 4, D], b_hid)`` from the Delay -> Linear/Affine pairs of the graph."""
    nir = _nir()
    succ = {a: b for a, b in graph.edges}
    W: dict[int, np.ndarray] = {}
    bias = None
    for key, node in graph.nodes.items():
        if not isinstance(node, nir.Delay):
            continue
        steps = np.asarray(node.delay, dtype=np.float64) / dt
        d = int(round(float(steps[0])))
        if not np.allclose(steps, d, atol=1e-6) or not 0 <= d < cfg.n_delays or d in W:
            raise ModelError(f"NIR node {key!r}: delays {steps.tolist()} steps do not fit 0..{cfg.n_delays - 1}")
        syn = graph.nodes.get(succ.get(key, ""))
        if not isinstance(syn, nir.Linear | nir.Affine):
            raise ModelError(f"NIR node {key!r} must feed a Linear or Affine node")
        W[d] = np.asarray(syn.weight, dtype=np.float64)
        if isinstance(syn, nir.Affine):
            bias = np.asarray(syn.bias, dtype=np.float64) if bias is None else bias + syn.bias
    if sorted(W) != list(range(cfg.n_delays)):
        raise ModelError(f"the graph has delays {sorted(W)}; expected 0..{cfg.n_delays - 1}")
    w = np.stack([W[d] for d in range(cfg.n_delays)], axis=-1)
    return w, np.zeros(w.shape[0]) if bias is None else bias


def temporal_from_nir(graph: Any) -> Any:
    """The TemporalNet of a graph written by :func:`temporal_to_nir` (its leak, threshold 1 and
    reset to zero are checked; anything else is refused with :class:`ModelError`)."""
    import torch

    from ..snn.temporal import TemporalNet

    meta = dict(graph.metadata or {})
    cfg = _config(meta)
    dt = float(_meta_value(meta, "dt"))
    W, b = _delay_weights(graph, dt, cfg)
    hid, ro = graph.nodes.get("hidden"), graph.nodes.get("readout")
    if hid is None or type(hid).__name__ not in _NEURON_IMPORTERS or ro is None:
        raise ModelError("the graph needs a 'hidden' IF/LIF node and a 'readout' Affine node")
    H = W.shape[0]
    _, decay_mem, gain = _NEURON_IMPORTERS[type(hid).__name__](hid, H, dt)
    thr = _above(_arr(hid, "v_threshold", H)).astype(np.float64) - _arr(hid, "v_reset", H)
    if not (np.allclose(gain, 1.0) and np.allclose(thr, 1.0, rtol=1e-6)):
        raise ModelError("the hidden node's gain and threshold must be 1 (as spikejet writes them)")
    net = TemporalNet(cfg)
    if abs(net.leak - decay_mem) > 1e-9:
        raise ModelError(f"the hidden node's leak {decay_mem} differs from the config's {net.leak}")
    with torch.no_grad():
        net.w_in.copy_(torch.from_numpy(W))
        net.b_hid.copy_(torch.from_numpy(b))
        net.w_out.copy_(torch.from_numpy(np.asarray(ro.weight, dtype=np.float64)[0]))
        net.b_out.copy_(torch.tensor(float(np.asarray(ro.bias)[0])))
    return net.eval()


def read_nir_net(path: str | os.PathLike[str]) -> Any:
    """Read a pileup-filter NIR file into a TemporalNet."""
    from .nir import read_graph

    return temporal_from_nir(read_graph(path))


def read_nir_scores(path: str | os.PathLike[str], features: Any) -> np.ndarray:
    """PV scores of ``features`` by the network read back from the NIR file ``path``."""
    from ..snn.temporal import pv_scores

    return pv_scores(read_nir_net(path), features)
