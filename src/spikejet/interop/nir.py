"""Export spiking networks to NIR (the Neuromorphic Intermediate Representation) and import them back.

NIR (``nir`` package, https://neuroir.org) describes a network as a graph of
continuous-time nodes: ``Affine`` (``W x + b``), ``IF`` (``dv/dt = R I``),
``LIF`` (``tau dv/dt = (v_leak - v) + R I``), ``CubaLIF`` (a synaptic current
``tau_syn dI/dt = -I + w_in S`` feeding a LIF membrane), plus ``Input`` and
``Output`` markers. A spikejet network is discrete-time; this module maps one
onto the other explicitly, with the step ``dt``.

The convention (stated in the graph's metadata as ``discretization``)
-------------------------------------------------------------------------
Forward Euler with step ``dt``, the input of each node held constant over a
step, spikes sent as unit events in the step they occur. Under it, the NIR
parameters below reproduce spikejet's arithmetic exactly:

=====================================  ==========================================================
spikejet layer (``z = W u + b``)        NIR nodes
=====================================  ==========================================================
IF (``v += z``)                         ``Affine(W, b)`` -> ``IF(r = 1/dt)``
LIF, ``tau_syn = 0`` (``v = b v + z``)  ``Affine`` -> ``LIF(tau = dt/(1-b), r = tau/dt, v_leak)``
LIF (``i = a i + z; v = b v + i``)      ``Affine`` -> ``CubaLIF(tau_syn = dt/(1-a), w_in = tau_syn/dt,
                                        tau_mem = dt/(1-b), r = tau_mem/dt, v_leak)``
LIF without leak, ``tau_syn = 0``       as IF
non-spiking read-out layer              ``Affine`` -> ``Output`` (the graph's output is the
                                        read-out layer's input current of each step)
=====================================  ==========================================================

``a = decay_syn``, ``b = decay_mem`` are spikejet's per-step decays. The NIR
time constants are therefore those whose *Euler* step gives spikejet's
decays; a backend that integrates exactly (``exp(-dt/tau)``) sees slightly
faster decays (relative difference about ``dt / (2 tau)``). snnTorch and norse
both integrate LIF/CubaLIF nodes with Euler. The synaptic and membrane gains
``dt/tau_syn * w_in`` and ``dt/tau_mem * r`` are 1.

What NIR cannot express, and what happens
-----------------------------------------
* **Reset by subtraction.** NIR's IF/LIF/CubaLIF set ``v <- v_reset`` after a
  spike; there is no reset by subtraction. Every ANN->SNN conversion here resets
  by subtraction, so exporting it is refused (:class:`HardwareError`) unless
  ``allow_reset_change=True``, which exports reset-to-zero (the Loihi 1 reset)
  and records the change in the node's metadata (``spikejet_reset_changed``).
  The file then describes a *different* network: measure its accuracy (``spikejet
  deploy --target nir --data ...`` does) before using it. The spiking CNN
  (:func:`cnn_to_nir`) and the spiking deep sets (:mod:`.nir_deepsets`) are
  exported exactly instead: ``I -> Threshold`` with a recurrent edge from the
  Threshold through ``Scale(-theta)`` (an ``Affine(-theta * identity)`` for the
  deep sets) back into the integrator; :func:`cnn_from_nir` reads both forms.
* **Strict threshold.** NIR spikes at ``v > v_threshold``; spikejet at
  ``v >= threshold``. The exported threshold is the largest float32 below
  spikejet's, so that both agree exactly in float32 arithmetic (the import
  undoes it).
* **Initial membrane** (``v_init``, e.g. half the threshold after QCFS
  conversion). NIR nodes start at 0. With reset to zero this is exact after a
  shift of the voltage by ``-v_init``: threshold ``th - v_init``, ``v_reset =
  v_leak = -v_init``. (norse 1.1.0 ignores ``v_reset`` and resets to 0: such
  graphs diverge there.)
* **Multi-spike neurons** (Nengo's spiking ReLU) and a non-leaky LIF with a
  synaptic filter (``tau_mem = inf``, ``tau_syn > 0``): no NIR node; refused.
* **Input encoding and read-out** are not NIR nodes. The graph's input is the
  first layer's input of each step (standardized features for the ``current``
  encoding; signed events of value ``+-scale`` for rate codes) and its output is
  the last layer's spikes (``count`` read-out) or input current (``membrane`` /
  ``filtered``). Both, the feature standardization, names and the class order
  are in the graph metadata (``spikejet_spec``, JSON); NIR readers that do not
  know spikejet can ignore them, and :func:`from_nir` restores them.

Quantized (Loihi-mapped) networks: :func:`mapping_to_nir` exports the float
values the chip's integers stand for (``mantissa * 2**(7 + weight_exp) /
scale`` and so on; :func:`dequantize`), with the integers themselves (weight
mantissas, exponents, ``vth``, bias mantissa/exponent, ``du``/``dv``, the
scale and the axon delay) in each layer's metadata. The axon delays are not
NIR ``Delay`` nodes (few readers support them); a float backend computes the
dequantized network, which differs from the integer model by the chip's
rounding (decays toward zero, weight-exponent floor), its axon delays and its
24-bit saturation (``spikejet.hardware.loihi`` is the bit-exact model).

Both directions dispatch through handler registries: export by spikejet layer
type (its synapse node) and neuron kind (its per-step decays, from which the
IF/LIF/CubaLIF node follows), import by NIR node type (``Affine``/``Linear``:
weight and bias; ``IF``/``LIF``/``CubaLIF``: per-step decays and gain). Every
handler takes ``dt`` explicitly; a type without a handler is refused
(:class:`HardwareError` on export, :class:`ModelError` on import), never
skipped. Resets: spikejet's reset to zero is NIR's ``v_reset``; reset by
subtraction is refused or, with ``allow_reset_change``, changed and recorded.

Import (:func:`from_nir`, :func:`read_nir`) reads a feed-forward chain
``Input -> (Affine|Linear -> IF|LIF|CubaLIF)* -> Affine|Linear ->
[IF|LIF|CubaLIF] -> Output`` under the same Euler convention (any gain is
folded into the weights, per-neuron thresholds are normalized when the layer
allows it) and raises :class:`ModelError` on anything else.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import HardwareError, ModelError
from ..io import atomic_path

__all__ = [
    "NIR_VERSION",
    "read_graph",
    "graph_bytes",
    "graph_from_bytes",
    "FORMAT",
    "FORMAT_VERSION",
    "DISCRETIZATION",
    "to_nir",
    "from_nir",
    "write_nir",
    "read_nir",
    "dequantize",
    "mapping_to_nir",
    "cnn_to_nir",
    "cnn_from_nir",
    "read_cnn_nir",
]

#: The nir package version this module is written and tested against.
NIR_VERSION = "1.0.8"
#: Graph metadata tag of a spikejet export, and its version.
FORMAT = "spikejet-nir"
FORMAT_VERSION = 1
#: How the continuous-time nodes map onto spikejet's steps (graph metadata).
DISCRETIZATION = (
    "forward Euler with step dt (seconds); each node's input is held constant over a step; "
    "spikes are unit events in the step they occur; IF: v += dt*r*I; LIF: v += dt/tau*(v_leak - v + r*I); "
    "CubaLIF: I += dt/tau_syn*(-I + w_in*S), then v += dt/tau_mem*(v_leak - v + r*I)"
)
#: A per-step gain (dt * r, dt/tau * r, ...) this close to 1 is taken as exactly 1
#: on import, so that a spikejet export reads back bit for bit.
GAIN_SNAP_RTOL = 1e-9
#: Relative spread below which per-neuron parameters count as one value.
UNIFORM_RTOL = 1e-6

_F32 = np.float32


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - nir is a dependency
        raise HardwareError(f"NIR export needs the 'nir' package: pip install nir=={NIR_VERSION}") from None
    return nir


# --------------------------------------------------------------------------- threshold helpers


def _below(x: float) -> np.float32:
    """Largest float32 strictly below float32(x): ``v > _below(x)`` <=> ``v >= x`` in float32."""
    return np.nextafter(_F32(x), _F32(-np.inf))


def _above(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_below` (elementwise, float32)."""
    return np.nextafter(np.asarray(x, dtype=_F32), _F32(np.inf))


# --------------------------------------------------------------------------- export handlers
#
# One handler per spikejet layer type (its synapses: the Affine node) and one per
# neuron kind (its per-step decays); the NIR neuron node follows from the decays
# (IF, LIF or CubaLIF, module docstring). Anything without a handler is refused.


#: Layer type -> ``handler(layer, metadata) -> NIR synapse node``.
_LAYER_EXPORTERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {}
#: Neuron kind -> ``handler(neuron) -> (decay_syn, decay_mem)`` per step.
_NEURON_EXPORTERS: dict[str, Callable[[Any], tuple[float, float]]] = {}


def _layer_type(layer: Any) -> str:
    """The export key of a spikejet layer (the dense ``Layer`` has no ``kind``: "dense")."""
    return str(getattr(layer, "kind", "dense"))


def _handler(registry: dict[str, Any], key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a node handler under ``key``; a second handler for one key is a bug."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if key in registry:
            raise ValueError(f"two NIR handlers for {key!r}")
        registry[key] = fn
        return fn

    return register


@_handler(_LAYER_EXPORTERS, "dense")
def _dense_to_affine(layer: Any, meta: dict[str, Any]) -> Any:
    return _nir().Affine(weight=np.array(layer.weight, dtype=_F32), bias=np.array(layer.bias, dtype=_F32),
                         metadata=meta)


@_handler(_NEURON_EXPORTERS, "if")
def _if_decays(neuron: Any) -> tuple[float, float]:
    return 0.0, 1.0


@_handler(_NEURON_EXPORTERS, "lif")
def _lif_decays(neuron: Any) -> tuple[float, float]:
    return float(neuron.decay_syn), float(neuron.decay_mem)


def _full(n: int, value: float, dtype: Any = np.float64) -> np.ndarray:
    return np.full(n, value, dtype=dtype)


def _reset_metadata(neuron: Any, kind: str, name: str, allow_reset_change: bool) -> dict[str, Any]:
    """The neuron node's metadata; refuses a reset NIR cannot express unless the change is allowed."""
    meta: dict[str, Any] = {"spikejet_neuron": kind}
    reset = neuron.reset
    if reset != "zero":
        if not allow_reset_change:
            raise HardwareError(
                f"layer {name!r} resets by {reset!r}, which NIR cannot express (its IF/LIF nodes reset to "
                "v_reset); export with allow_reset_change=True (--allow-reset-change) to write reset-to-zero "
                "instead, a different network whose accuracy you should measure"
            )
        meta["spikejet_reset_changed"] = f"{reset} -> zero"
    return meta


def _neuron_nodes(layer: Any, index: int, dt: float, *, allow_reset_change: bool) -> list[tuple[str, Any]]:
    """NIR node(s) for one layer's neurons (after its Affine), with step ``dt`` seconds."""
    nir = _nir()
    neuron = layer.neuron
    name = layer.name or f"layer{index}"
    n = layer.n_out
    if neuron is None:
        return []
    kind = getattr(neuron, "kind", type(neuron).__name__)
    if kind not in _NEURON_EXPORTERS:
        raise HardwareError(
            f"layer {name!r}: {kind!r} neurons have no NIR node (NIR neurons emit at most one spike "
            f"per step); use {' or '.join(k.upper() for k in _NEURON_EXPORTERS)} neurons"
        )
    meta = _reset_metadata(neuron, kind, name, allow_reset_change)
    v_init = float(getattr(neuron, "v_init", 0.0))
    thr = _full(n, _below(float(neuron.threshold) - v_init), _F32)
    v_reset = _full(n, -v_init)
    a, b = _NEURON_EXPORTERS[kind](neuron)
    if b >= 1.0 and a > 0.0:
        raise HardwareError(
            f"layer {name!r}: a LIF neuron without leak (tau_mem = inf) but with a synaptic filter "
            "(tau_syn > 0) has no single NIR node; give it a finite tau_mem or tau_syn = 0"
        )
    if b >= 1.0:  # integrate-and-fire: v += dt * r * I with r = 1/dt
        node = nir.IF(r=_full(n, 1.0 / dt), v_threshold=thr, v_reset=v_reset, metadata=meta)
        return [(f"{name}_if", node)]
    tau_mem = dt / (1.0 - b)
    if a == 0.0:
        node = nir.LIF(tau=_full(n, tau_mem), r=_full(n, tau_mem / dt), v_leak=_full(n, -v_init),
                       v_threshold=thr, v_reset=v_reset, metadata=meta)
        return [(f"{name}_lif", node)]
    tau_syn = dt / (1.0 - a)
    node = nir.CubaLIF(tau_syn=_full(n, tau_syn), tau_mem=_full(n, tau_mem), r=_full(n, tau_mem / dt),
                       v_leak=_full(n, -v_init), v_threshold=thr, v_reset=v_reset,
                       w_in=_full(n, tau_syn / dt), metadata=meta)
    return [(f"{name}_cubalif", node)]


def _graph_metadata(net: Any, dt: float, changes: Sequence[str]) -> dict[str, Any]:
    spec = net.spec_dict()
    return {
        "spikejet_format": FORMAT,
        "spikejet_format_version": FORMAT_VERSION,
        "dt": dt,
        "discretization": DISCRETIZATION,
        "input": ("standardized features, constant every step" if not net.encoding.spiking
                  else f"signed {net.encoding.kind} rate-coded events of value +-{net.encoding.scale:g}"),
        "output": ("spikes of the output layer" if net.layers[-1].spiking
                   else "input current of the non-spiking read-out layer, every step"),
        "readout": json.dumps(net.readout.to_dict()),
        "semantic_changes": "; ".join(changes) if changes else "none",
        "spikejet_spec": json.dumps(spec, sort_keys=True),
    }


def to_nir(net: Any, *, allow_reset_change: bool = False,
           layer_metadata: Sequence[Mapping[str, Any]] | None = None) -> Any:
    """A ``nir.NIRGraph`` of a :class:`~spikejet.snn.network.SpikingNetwork` (see the module docstring).

    The time step is the network's own ``dt`` (its neurons' per-step decays are
    defined with it); it is passed to every node handler and written to the
    graph's ``dt`` metadata. Raises :class:`HardwareError` for what NIR cannot
    express (reset by subtraction unless ``allow_reset_change``, multi-spike
    neurons, layer types without an exporter). ``layer_metadata``: extra
    metadata per layer, put on its Affine node.
    """
    from ..snn.network import SpikingNetwork

    nir = _nir()
    if not isinstance(net, SpikingNetwork):
        raise ModelError(f"expected a SpikingNetwork, got {type(net).__name__}")
    if layer_metadata is not None and len(layer_metadata) != len(net.layers):
        raise ModelError(f"layer_metadata has {len(layer_metadata)} entries for {len(net.layers)} layers")
    dt = float(net.dt)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([net.n_inputs])})}
    order = ["input"]
    changes = []
    for i, layer in enumerate(net.layers):
        name = layer.name or f"layer{i}"
        exporter = _LAYER_EXPORTERS.get(_layer_type(layer))
        if exporter is None:
            raise HardwareError(f"layer {name!r}: {_layer_type(layer)!r} layers have no NIR export; spikejet "
                                f"exports {', '.join(_LAYER_EXPORTERS)} layers")
        meta = {"spikejet_layer": name}
        if layer_metadata is not None:
            meta.update(layer_metadata[i])
        key = f"{name}_affine"
        if key in nodes:
            raise ModelError(f"two layers are named {name!r}; give the layers unique names")
        nodes[key] = exporter(layer, meta)
        order.append(key)
        for nkey, node in _neuron_nodes(layer, i, dt, allow_reset_change=allow_reset_change):
            nodes[nkey] = node
            order.append(nkey)
            if "spikejet_reset_changed" in node.metadata:
                changes.append(f"layer {name}: reset {node.metadata['spikejet_reset_changed']}")
    nodes["output"] = nir.Output(output_type={"output": np.array([net.n_outputs])})
    order.append("output")
    edges = list(zip(order[:-1], order[1:], strict=True))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_graph_metadata(net, dt, changes))


def write_nir(path: str | os.PathLike[str], net: Any, *, allow_reset_change: bool = False) -> Path:
    """Export ``net`` (a SpikingNetwork, or a ready ``nir.NIRGraph``) to a ``.nir`` file, atomically."""
    nir = _nir()
    graph = net if isinstance(net, nir.NIRGraph) else to_nir(net, allow_reset_change=allow_reset_change)
    dest = Path(path)
    with atomic_path(dest) as tmp:
        nir.write(tmp, graph)
    return dest


# --------------------------------------------------------------------------- quantized export


def dequantize(mapping: Any, source: Any = None) -> Any:
    """The float network that a :class:`~spikejet.hardware.loihi.LoihiMapping`'s integers stand for.

    Per chip layer (scale ``s``): weights ``m * 2**(7 + weight_exp) / s``, biases
    ``bias_mant * 2**bias_exp / s``, threshold ``vth * 2**6 / s``, decays
    ``1 - (du + 1)/4096`` and ``1 - dv/4096``, initial voltage ``v_init / s``;
    the off-chip layers as they are. A first layer on chip fed by split signed
    inputs is folded back onto the features; one fed by graded spikes of the
    quantized features gets its weights back per feature unit (``/ step``) and,
    when the input is sent once and held by the current, the float network's
    constant input (no synaptic filter). The input quantization itself is not a
    NIR concept: it is in the graph metadata (``loihi_input_quantization``). ``source`` (the float network)
    provides names, scaler and metadata.
    """
    from ..hardware.loihi.constants import DECAY_UNITY, DU_OFFSET, VTH_SHIFT, WEIGHT_UNIT_SHIFT
    from ..snn.network import Layer, SpikingNetwork
    from ..snn.neurons import IFParams, LIFParams

    layers = [Layer(weight=fl.weight, bias=fl.bias, neuron=fl.neuron, name=fl.name) for fl in mapping.offchip]
    enc = mapping.encoding
    for k, (chip, q) in enumerate(zip(mapping.network.layers, mapping.quantization, strict=True)):
        s = float(q.scale)
        unit = 2.0 ** (WEIGHT_UNIT_SHIFT + chip.weight_exp)
        w = chip.weight_mant.astype(np.float64) * unit / s
        graded = k == 0 and getattr(mapping, "input", None) is not None
        if k == 0 and not mapping.offchip and enc is not None and enc.spiking:
            n_in = w.shape[1] // 2  # split signed input: [+W*scale, -W*scale]
            w = w[:, :n_in] / float(enc.scale)
        if graded:  # weights per payload unit -> per feature unit
            w = w / float(mapping.input.step)
        comp = chip.compartment
        b = np.asarray(comp.bias_eff, dtype=np.float64) * np.ones(chip.n_out) / s
        v_init = np.unique(np.asarray(chip.v_init, dtype=np.float64)) / s
        if v_init.size != 1:
            raise HardwareError(f"layer {chip.name!r}: per-neuron initial voltages cannot be dequantized")
        if comp.spiking:
            thr = comp.vth * 2**VTH_SHIFT / s
            # a graded input sent once is held by the current (du = 0): the float network's constant input
            ds = 0.0 if graded and mapping.input.mode == "graded_once" else 1.0 - (comp.du + DU_OFFSET) / DECAY_UNITY
            dm = 1.0 - comp.dv / DECAY_UNITY
            if ds == 0.0 and dm == 1.0:
                neuron = IFParams(threshold=thr, reset=comp.reset, v_init=float(v_init[0]))
            else:
                neuron = LIFParams.from_decays(ds, dm, threshold=thr, reset=comp.reset, dt=mapping.dt,
                                               v_init=float(v_init[0]))
        else:
            neuron = None
        layers.append(Layer(weight=w.astype(np.float32), bias=b.astype(np.float32), neuron=neuron,
                            name=chip.name or q.name))
    kw: dict[str, Any] = {"dt": mapping.dt}
    if enc is not None:
        kw["encoding"] = enc
    if mapping.readout is not None:
        kw["readout"] = mapping.readout
    if source is not None:
        kw.update(class_names=source.class_names, feature_names=source.feature_names, scaler=source.scaler,
                  meta={**dict(source.meta), "dequantized_from": mapping.network.profile.name})
    return SpikingNetwork(layers=tuple(layers), **kw)


def mapping_to_nir(mapping: Any, source: Any = None, *, allow_reset_change: bool = False) -> Any:
    """NIR graph of a Loihi-mapped network: dequantized values, integers in the layer metadata."""
    net = dequantize(mapping, source)
    meta: list[dict[str, Any]] = [{"loihi_layer": "off-chip (host, float)"} for _ in mapping.offchip]
    for chip, q in zip(mapping.network.layers, mapping.quantization, strict=True):
        comp = chip.compartment
        meta.append({
            "loihi_layer": "on-chip",
            "loihi_profile": mapping.network.profile.name,
            "loihi_scale": float(q.scale),
            "loihi_weight_mant": np.asarray(chip.weight_mant, dtype=np.int8),
            "loihi_weight_exp": int(chip.weight_exp),
            "loihi_vth_mant": int(comp.vth),
            "loihi_bias_mant": np.asarray(comp.bias_mant, dtype=np.int64) * np.ones(chip.n_out, np.int64),
            "loihi_bias_exp": np.asarray(comp.bias_exp, dtype=np.int64) * np.ones(chip.n_out, np.int64),
            "loihi_du": int(comp.du),
            "loihi_dv": int(comp.dv),
            "loihi_reset": comp.reset,
            "loihi_axon_delay": int(chip.axon_delay),
        })
    graph = to_nir(net, allow_reset_change=allow_reset_change, layer_metadata=meta)
    graph.metadata["loihi_profile"] = mapping.network.profile.name
    graph.metadata["loihi_total_axon_delay"] = int(mapping.network.total_axon_delay)
    graph.metadata["loihi_input_mode"] = mapping.input_mode
    if getattr(mapping, "input", None) is not None:  # the chip sees the features quantized: say how
        graph.metadata["loihi_input_quantization"] = json.dumps(mapping.input.as_dict(), sort_keys=True)
    return graph


# --------------------------------------------------------------------------- import


def _chain(graph: Any, *, collapse_reset_loops: bool = False) -> list[tuple[str, Any]]:
    """The nodes of a feed-forward chain from Input to Output, in order. ``collapse_reset_loops``: read
    every ``I -> Threshold`` pair with its ``Scale`` reset loop as one node (:func:`_collapse_reset_loops`)."""
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ModelError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    nodes, edges = graph.nodes, graph.edges
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ModelError(f"the NIR graph has an edge {a!r} -> {b!r} to a node it does not define")
    if collapse_reset_loops:
        nodes, edges = _collapse_reset_loops(nodes, edges)
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"the NIR graph has {len(inputs)} Input and {len(outputs)} Output nodes; "
                         "spikejet reads graphs with exactly one of each")
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    chain, key, seen = [], inputs[0], set()
    while True:
        if key in seen:
            raise ModelError(f"the NIR graph has a cycle through {key!r}; spikejet reads feed-forward chains")
        seen.add(key)
        chain.append((key, nodes[key]))
        nxt = succ.get(key, [])
        if key == outputs[0]:
            if nxt:
                raise ModelError("the NIR graph's Output node has outgoing edges")
            break
        if len(nxt) != 1:
            raise ModelError(f"NIR node {key!r} has {len(nxt)} successors; spikejet reads feed-forward chains "
                             "(one successor per node)")
        key = nxt[0]
    if len(seen) != len(nodes):
        extra = sorted(set(nodes) - seen)
        raise ModelError(f"NIR nodes {', '.join(extra)} are not on the path from Input to Output")
    return chain


def _meta_value(meta: Mapping[str, Any], key: str) -> Any:
    v = meta.get(key)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return v.item()
    return v


def _arr(node: Any, field: str, n: int) -> np.ndarray:
    a = np.asarray(getattr(node, field), dtype=np.float64)
    if a.shape == ():
        a = np.full(n, float(a))
    if a.ndim > 1 and a.size == n:  # per-neuron values in the shape of a feature map (after a Conv2d)
        a = a.reshape(n)
    if a.shape != (n,):
        raise ModelError(f"NIR {type(node).__name__} parameter {field} has shape {a.shape}; expected ({n},)")
    if not np.isfinite(a).all():
        raise ModelError(f"NIR {type(node).__name__} parameter {field} has non-finite values")
    return a


def _uniform(a: np.ndarray) -> bool:
    return bool(np.allclose(a, a[0], rtol=UNIFORM_RTOL, atol=0.0))


def _euler_decay(tau: np.ndarray, dt: float, what: str) -> float:
    if (tau <= 0).any():
        raise ModelError(f"NIR {what} time constants must be positive")
    decay = 1.0 - dt / tau
    if (decay < 0).any():
        raise ModelError(f"NIR {what} time constant {tau.min():g} s is shorter than dt = {dt:g} s: forward Euler "
                         "is unstable; pass the dt the graph was made for")
    if not _uniform(decay):
        raise ModelError(f"NIR {what} time constants differ between neurons; spikejet layers share one")
    return float(decay[0])


# --------------------------------------------------------------------------- import handlers
#
# One handler per NIR node type: synapse nodes give (weight, bias), neuron nodes
# their per-step dynamics under the Euler convention. Anything else is refused.


#: NIR synapse node type -> ``handler(node, name) -> (weight [out, in], bias [out])``.
_SYNAPSE_IMPORTERS: dict[str, Callable[[Any, str], tuple[np.ndarray, np.ndarray]]] = {}
#: NIR neuron node type -> ``handler(node, n, dt) -> (decay_syn, decay_mem, per-neuron gain)``.
_NEURON_IMPORTERS: dict[str, Callable[[Any, int, float], tuple[float, float, np.ndarray]]] = {}


def _node_type(node: Any) -> str:
    """The NIR type name of a node (``nir_type`` of spikejet's collapsed reset loops, :class:`_SubtractIF`)."""
    return str(getattr(type(node), "nir_type", None) or type(node).__name__)


def _supported() -> str:
    names = [*_SYNAPSE_IMPORTERS, *_NEURON_IMPORTERS]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _weight(node: Any, name: str) -> np.ndarray:
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2:
        raise ModelError(f"NIR node {name!r}: weight must be 2-D [out, in], got shape {w.shape}")
    return w


@_handler(_SYNAPSE_IMPORTERS, "Affine")
def _from_affine(node: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    w = _weight(node, name)
    b = np.asarray(node.bias, dtype=np.float64)
    if b.shape != (w.shape[0],):
        raise ModelError(f"NIR node {name!r}: bias has shape {b.shape} for {w.shape[0]} outputs")
    return w, b


@_handler(_SYNAPSE_IMPORTERS, "Linear")
def _from_linear(node: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    w = _weight(node, name)
    return w, np.zeros(w.shape[0])


@_handler(_NEURON_IMPORTERS, "IF")
def _from_if(node: Any, n: int, dt: float) -> tuple[float, float, np.ndarray]:
    return 0.0, 1.0, dt * _arr(node, "r", n)


@_handler(_NEURON_IMPORTERS, "LIF")
def _from_lif(node: Any, n: int, dt: float) -> tuple[float, float, np.ndarray]:
    tau = _arr(node, "tau", n)
    return 0.0, _euler_decay(tau, dt, "LIF tau"), dt / tau * _arr(node, "r", n)


@_handler(_NEURON_IMPORTERS, "CubaLIF")
def _from_cubalif(node: Any, n: int, dt: float) -> tuple[float, float, np.ndarray]:
    tau_s, tau_m = _arr(node, "tau_syn", n), _arr(node, "tau_mem", n)
    decay_syn = _euler_decay(tau_s, dt, "CubaLIF tau_syn")
    decay_mem = _euler_decay(tau_m, dt, "CubaLIF tau_mem")
    return decay_syn, decay_mem, (dt / tau_s * _arr(node, "w_in", n)) * (dt / tau_m * _arr(node, "r", n))


def _layer_from_nodes(synapse: Any, neuron: Any, dt: float, name: str) -> Any:
    """A spikejet Layer from a synapse node and its neuron node (None: read-out), with step ``dt``."""
    from ..snn.network import Layer
    from ..snn.neurons import IFParams, LIFParams

    w, b = _SYNAPSE_IMPORTERS[_node_type(synapse)](synapse, name)
    if neuron is None:
        return Layer(weight=w, bias=b, neuron=None, name=name)
    n = w.shape[0]
    thr_raw = _arr(neuron, "v_threshold", n)
    v_reset = _arr(neuron, "v_reset", n)
    decay_syn, decay_mem, gain = _NEURON_IMPORTERS[_node_type(neuron)](neuron, n, dt)
    if hasattr(neuron, "v_leak") and not np.allclose(_arr(neuron, "v_leak", n), v_reset, rtol=0, atol=1e-12):
        raise ModelError(f"NIR node {name!r}: v_leak differs from v_reset; spikejet neurons leak towards the "
                         "value they reset to")
    if not np.allclose(gain, 1.0, rtol=GAIN_SNAP_RTOL, atol=0.0):
        w = w * gain[:, None]
        b = b * gain
    # shift the voltage so that it resets to 0: v_sj = v_nir - v_reset
    thr = _above(thr_raw).astype(np.float64) - v_reset
    v_init = -v_reset
    if (thr <= 0).any():
        raise ModelError(f"NIR node {name!r}: thresholds must lie above v_reset")
    if not (_uniform(thr) and _uniform(v_init)):  # normalize every neuron to the first one's threshold
        k = thr[0] / thr
        if not _uniform(v_init * k):
            raise ModelError(f"NIR node {name!r}: per-neuron thresholds and reset values cannot be brought to "
                             "one spikejet threshold")
        w, b, v_init = w * k[:, None], b * k, v_init * k
    th0, vi0 = float(thr[0]), float(v_init[0])
    if decay_syn == 0.0 and decay_mem == 1.0:
        params = IFParams(threshold=th0, reset="zero", v_init=vi0)
    else:
        params = LIFParams.from_decays(decay_syn, decay_mem, threshold=th0, reset="zero", dt=dt, v_init=vi0)
    return Layer(weight=w, bias=b, neuron=params, name=name)


def _graph_dt(meta: Mapping[str, Any], dt: float | None) -> float:
    """The Euler step: the given ``dt``, else the graph's ``dt`` metadata; refused if neither is a positive number."""
    if dt is None:
        dt = _meta_value(meta, "dt")
        if dt is None:
            raise ModelError("the NIR graph does not state its time step (no 'dt' metadata); pass dt= "
                             "(--dt) with the step it was made for")
    try:
        dt = float(dt)
    except (TypeError, ValueError):
        raise ModelError(f"dt must be a number of seconds, got {dt!r}") from None
    if not (math.isfinite(dt) and dt > 0):
        raise ModelError(f"dt must be a positive number of seconds, got {dt!r}")
    return dt


def _layers_from_chain(chain: Sequence[tuple[str, Any]], dt: float,
                       in_shape: tuple[int, ...] | None = None) -> list[Any]:
    """Layers from the nodes between Input and Output: ([reshape]* synapse [-> neuron])*.

    Reshaping nodes (pooling, flatten: :data:`_RESHAPE_IMPORTERS`) are linear maps of the spikes
    before a synapse; they are folded into its weights (``W <- W P``), tracking the feature-map
    shape from the Input node's (``in_shape``)."""
    layers = []
    i = 0
    shape, pending = in_shape, None
    while i < len(chain):
        key, node = chain[i]
        if _node_type(node) in _RESHAPE_IMPORTERS:
            if shape is None:
                raise ModelError(f"NIR node {key!r} ({_node_type(node)}): the shape of its input is not known")
            P, shape = _RESHAPE_IMPORTERS[_node_type(node)](node, key, shape)
            if P is not None:
                pending = P if pending is None else P @ pending
            i += 1
            continue
        if _node_type(node) not in _SYNAPSE_IMPORTERS:
            raise ModelError(f"NIR node {key!r} is a {_node_type(node)} where spikejet expects "
                             f"{' or '.join(_SYNAPSE_IMPORTERS)}; spikejet reads chains of "
                             f"{'/'.join(_SYNAPSE_IMPORTERS)} -> {'/'.join(_NEURON_IMPORTERS)} layers")
        nxt = chain[i + 1][1] if i + 1 < len(chain) else None
        lname = str(_meta_value(dict(node.metadata or {}), "spikejet_layer") or key.removesuffix("_affine"))
        if nxt is not None and _node_type(nxt) in _NEURON_IMPORTERS:
            layer = _layer_from_nodes(node, nxt, dt, lname)
            i += 2
        elif nxt is None:
            layer = _layer_from_nodes(node, None, dt, lname)
            i += 1
        else:
            raise ModelError(f"NIR node {chain[i + 1][0]!r} ({_node_type(nxt)}) is not supported; spikejet reads "
                             f"{_supported()} nodes")
        if pending is not None:
            layer = _fold_input_map(layer, pending, key)
            pending = None
        shape = _SYNAPSE_SHAPES[_node_type(node)](node) if _node_type(node) in _SYNAPSE_SHAPES \
            else (layer.n_out,)
        layers.append(layer)
    if not layers:
        raise ModelError("the NIR graph has no layers between Input and Output")
    return layers


def _spikejet_spec(meta: Mapping[str, Any]) -> dict[str, Any]:
    raw = _meta_value(meta, "spikejet_spec")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        raise ModelError("the NIR graph's spikejet_spec metadata is not valid JSON") from None


def from_nir(graph: Any, *, dt: float | None = None) -> Any:
    """A :class:`~spikejet.snn.network.SpikingNetwork` from a NIR graph (see the module docstring).

    ``dt``: seconds per step of the Euler discretization; default: the graph's
    ``dt`` metadata (spikejet exports carry it). Encoding, read-out, names and
    scaler come from spikejet's metadata when present (defaults otherwise:
    constant-current input; ``membrane`` read-out for a non-spiking last layer,
    ``count`` for a spiking one).
    """
    from ..errors import ConfigError
    from ..snn.encoding import Encoding
    from ..snn.network import Layer, SpikingNetwork
    from ..snn.readout import Readout

    meta = dict(getattr(graph, "metadata", None) or {})
    dt = _graph_dt(meta, dt)
    chain = _chain(graph)
    layers = _layers_from_chain(chain[1:-1], dt, _input_shape(chain[0][1]))  # drop Input and Output
    spec = _spikejet_spec(meta)
    kw: dict[str, Any] = {}
    try:
        if "encoding" in spec:
            kw["encoding"] = Encoding.from_dict(spec["encoding"])
        kw["readout"] = (Readout.from_dict(spec["readout"]) if "readout" in spec
                         else Readout(kind="count" if layers[-1].spiking else "membrane"))
    except ConfigError as exc:
        raise ModelError(f"the NIR graph's spikejet metadata is invalid: {exc}") from None
    if len(spec.get("layers", [])) == len(layers):  # keep the exporter's layer names
        layers = [Layer(weight=ly.weight, bias=ly.bias, neuron=ly.neuron, name=ls.get("name") or ly.name)
                  for ly, ls in zip(layers, spec["layers"], strict=True)]
    for key in ("class_names", "feature_names"):
        if spec.get(key):
            kw[key] = tuple(spec[key])
    if spec.get("scaler") is not None:
        kw["scaler"] = spec["scaler"]
    kw["meta"] = {**dict(spec.get("meta") or {}), "imported_from": "nir",
                  "semantic_changes": _meta_value(meta, "semantic_changes") or "none"}
    try:
        return SpikingNetwork(layers=tuple(layers), dt=dt, **kw)
    except ConfigError as exc:
        raise ModelError(f"the NIR graph does not make a valid spiking network: {exc}") from None


def read_graph(path: str | os.PathLike[str]) -> Any:
    """The ``nir.NIRGraph`` of a ``.nir`` file; a missing or unreadable file is one ModelError line."""
    nir = _nir()
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p} does not exist or is not a file")
    try:
        graph = nir.read(p)
    except Exception as exc:  # h5py/nir raise many types for a foreign file
        raise ModelError(f"{p} is not a readable NIR file ({type(exc).__name__}: {exc})") from None
    return graph


def graph_bytes(graph: Any) -> bytes:
    """The bytes of ``graph`` as a ``.nir`` file (:func:`write_nir` to a temporary file, read back): what
    a stage hands the runner to write, and reads back to check."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="spikejet-nir-") as tmp:
        return write_nir(Path(tmp) / "graph.nir", graph).read_bytes()


def graph_from_bytes(data: bytes) -> Any:
    """The ``nir.NIRGraph`` of ``.nir`` file bytes (:func:`read_graph` on a temporary file)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="spikejet-nir-") as tmp:
        path = Path(tmp) / "graph.nir"
        path.write_bytes(data)
        return read_graph(path)


def read_nir(path: str | os.PathLike[str], *, dt: float | None = None) -> Any:
    """Read a ``.nir`` file into a SpikingNetwork (:func:`from_nir`)."""
    return from_nir(read_graph(path), dt=dt)


# --------------------------------------------------------------------------- convolutional networks
#
# The spiking CNN of :mod:`spikejet.snn.image` exports as Input -> (Conv2d -> neurons -> SumPool2d)* ->
# Flatten -> (Affine -> neurons)* -> Affine -> Output, the neurons an IF node (reset to zero) or
# I -> Threshold with a Scale(-1) loop back into the I (reset by subtraction, exact; cnn_to_nir).
# On import (cnn_from_nir) each loop is collapsed into one layer first. For the generic reader
# (from_nir, IF graphs only), a Conv2d becomes the dense layer it
# computes (its full weight matrix on the flattened feature map, channel-major as torch's flatten),
# and pooling / Flatten nodes are folded into the next synapse (``_layers_from_chain``): the result is
# a dense SpikingNetwork that the float simulator runs as it is.


@_handler(_LAYER_EXPORTERS, "conv2d")
def _conv2d_to_nir(layer: Any, meta: dict[str, Any]) -> Any:
    return _nir().Conv2d(input_shape=tuple(int(v) for v in layer.input_shape),
                         weight=np.array(layer.weight, dtype=_F32), stride=1, padding=int(layer.padding),
                         dilation=1, groups=1, bias=np.array(layer.bias, dtype=_F32), metadata=meta)


def _pair(v: Any, what: str) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, 2)
    if a.size != 2:
        raise ModelError(f"NIR {what} must be one or two integers, got {v!r}")
    return int(a[0]), int(a[1])


def _conv_geometry(node: Any, name: str) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(input H W, stride, padding) of a NIR Conv2d; refused unless dilation 1 and one group."""
    if node.input_shape is None:
        raise ModelError(f"NIR Conv2d {name!r} does not state its input_shape")
    if isinstance(node.padding, str):
        raise ModelError(f"NIR Conv2d {name!r}: padding {node.padding!r} is not supported; give integers")
    if _pair(node.dilation, "dilation") != (1, 1) or int(node.groups) != 1:
        raise ModelError(f"NIR Conv2d {name!r}: spikejet reads dilation 1 and groups 1 only")
    return _pair(node.input_shape, "input_shape"), _pair(node.stride, "stride"), _pair(node.padding, "padding")


def _conv_out_hw(hw: tuple[int, int], k: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> tuple[int, int]:
    return tuple((hw[d] + 2 * pad[d] - k[d]) // stride[d] + 1 for d in range(2))  # type: ignore[return-value]


@_handler(_SYNAPSE_IMPORTERS, "Conv2d")
def _from_conv2d(node: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 4:
        raise ModelError(f"NIR Conv2d {name!r}: weight must be [out, in, kh, kw], got shape {w.shape}")
    (H, W), stride, pad = _conv_geometry(node, name)
    co, ci, kh, kw = w.shape
    Ho, Wo = _conv_out_hw((H, W), (kh, kw), stride, pad)
    dense = np.zeros((co, Ho, Wo, ci, H, W))
    for dy in range(kh):
        for dx in range(kw):
            for oy in range(Ho):
                iy = oy * stride[0] - pad[0] + dy
                if not 0 <= iy < H:
                    continue
                ox = np.arange(Wo)
                ix = ox * stride[1] - pad[1] + dx
                ok = (ix >= 0) & (ix < W)
                dense[:, oy, ox[ok], :, iy, ix[ok]] += w[:, :, dy, dx][None]
    b = np.asarray(node.bias, dtype=np.float64).reshape(-1)
    if b.shape != (co,):
        raise ModelError(f"NIR Conv2d {name!r}: bias has shape {b.shape} for {co} channels")
    return dense.reshape(co * Ho * Wo, ci * H * W), np.repeat(b, Ho * Wo)


def _conv2d_shape(node: Any) -> tuple[int, ...]:
    (H, W), stride, pad = _conv_geometry(node, "conv")
    w = np.asarray(node.weight)
    return (int(w.shape[0]), *_conv_out_hw((H, W), (int(w.shape[2]), int(w.shape[3])), stride, pad))


#: Synapse node type -> its output's feature-map shape (others: a vector of its outputs).
_SYNAPSE_SHAPES: dict[str, Callable[[Any], tuple[int, ...]]] = {"Conv2d": _conv2d_shape}

#: Reshaping node type -> ``handler(node, name, in_shape) -> (matrix [n_out, n_in] or None, out_shape)``.
_RESHAPE_IMPORTERS: dict[str, Callable[[Any, str, tuple[int, ...]], tuple[np.ndarray | None, tuple[int, ...]]]] = {}


def _pool_matrix(node: Any, name: str, shape: tuple[int, ...], weight: float | None) -> tuple[np.ndarray, tuple[int, ...]]:
    if len(shape) != 3:
        raise ModelError(f"NIR pooling node {name!r} needs a [C, H, W] input, got shape {shape}")
    k, s, p = (_pair(node.kernel_size, "kernel_size"), _pair(node.stride, "stride"), _pair(node.padding, "padding"))
    if p != (0, 0):
        raise ModelError(f"NIR pooling node {name!r}: spikejet reads padding 0 only, got {p}")
    C, H, W = shape
    Ho, Wo = _conv_out_hw((H, W), k, s, p)
    P = np.zeros((C, Ho, Wo, C, H, W))
    c = np.arange(C)
    for oy in range(Ho):
        for ox in range(Wo):
            for dy in range(k[0]):
                for dx in range(k[1]):
                    P[c, oy, ox, c, oy * s[0] + dy, ox * s[1] + dx] = 1.0 if weight is None else weight
    return P.reshape(C * Ho * Wo, C * H * W), (C, Ho, Wo)


@_handler(_RESHAPE_IMPORTERS, "SumPool2d")
def _from_sumpool(node: Any, name: str, shape: tuple[int, ...]) -> tuple[np.ndarray | None, tuple[int, ...]]:
    return _pool_matrix(node, name, shape, None)


@_handler(_RESHAPE_IMPORTERS, "AvgPool2d")
def _from_avgpool(node: Any, name: str, shape: tuple[int, ...]) -> tuple[np.ndarray | None, tuple[int, ...]]:
    k = _pair(node.kernel_size, "kernel_size")
    return _pool_matrix(node, name, shape, 1.0 / (k[0] * k[1]))


@_handler(_RESHAPE_IMPORTERS, "Flatten")
def _from_flatten(node: Any, name: str, shape: tuple[int, ...]) -> tuple[np.ndarray | None, tuple[int, ...]]:
    start, end = int(node.start_dim), int(node.end_dim)
    if start != 0 or end not in (-1, len(shape) - 1):
        raise ModelError(f"NIR Flatten {name!r}: spikejet reads a flatten of the whole feature map "
                         f"(start_dim 0, end_dim -1), got {start}..{end}")
    return None, (int(np.prod(shape)),)


def _fold_input_map(layer: Any, P: np.ndarray, name: str) -> Any:
    """``layer`` reading ``P u`` instead of ``u`` (a pooling/flatten before its synapse)."""
    from ..snn.network import Layer

    if P.shape[0] != layer.n_in:
        raise ModelError(f"NIR node {name!r} takes {layer.n_in} inputs but the pooling before it gives {P.shape[0]}")
    return Layer(weight=np.asarray(layer.weight, dtype=np.float64) @ P, bias=layer.bias, neuron=layer.neuron,
                 name=layer.name, synapse=layer.synapse)


def _input_shape(node: Any) -> tuple[int, ...] | None:
    t = getattr(node, "input_type", None) or {}
    v = next(iter(t.values()), None) if isinstance(t, Mapping) else None
    return None if v is None else tuple(int(x) for x in np.asarray(v).reshape(-1))


@dataclass(frozen=True)
class _ConvLayer:
    weight: np.ndarray
    bias: np.ndarray
    input_shape: tuple[int, int]
    padding: int
    kind: str = "conv2d"


def loop_discretization(reset_node: str) -> str:
    """The discretization of a graph whose layers reset by subtraction through ``I -> Threshold`` and a
    recurrent ``reset_node`` (``"Scale"``: the CNN's, ``"Affine"``: the deep sets') back into the I."""
    scale = "Scale: its input times scale, elementwise; " if reset_node == "Scale" else ""
    return (f"{DISCRETIZATION}; I: v += dt*r*I, its output is v; Threshold: 1 where its input > threshold; "
            f"{scale}a node with several incoming edges sums them; an edge that closes a cycle (the reset "
            f"{reset_node} -> integrator) delivers the previous step's value (0 at the first step); every node "
            "starts at 0")


#: The CNN graph's discretization when its layers reset by subtraction (the I -> Threshold -> Scale loops).
CNN_LOOP_DISCRETIZATION = loop_discretization("Scale")


def _cnn_neurons(nodes: dict[str, Any], edges: list[tuple[str, str]], name: str, shape: tuple[int, ...], net: Any,
                 dt: float, allow_reset_change: bool) -> tuple[str, str]:
    """The nodes of one spiking layer of a SpikingCNN (threshold 1, membranes from ``v_init``, the voltage
    shifted by ``-v_init``) into ``nodes`` and ``edges``: (the key its synapse feeds, the key of its spikes).

    Reset by subtraction: ``{name}_integrator`` (I, r = 1/dt) -> ``{name}_threshold`` (Threshold at
    ``1 - v_init``) with the loop ``{name}_threshold -> {name}_reset`` (Scale -1) ``-> {name}_integrator``
    (exact, see :func:`cnn_to_nir`); reset to zero, or subtraction changed by ``allow_reset_change``:
    one IF node ``{name}_if`` (``v_reset = -v_init``)."""
    nir = _nir()
    v0 = float(net.v_init)
    thr = np.full(shape, _below(1.0 - v0), _F32)
    r = np.full(shape, 1.0 / dt)
    if net.reset == "subtract" and not allow_reset_change:
        meta = {"spikejet_layer": name, "spikejet_neuron": "if", "spikejet_reset": "subtract",
                "spikejet_threshold": 1.0, "spikejet_v_init": v0}
        ki, ks, kr = f"{name}_integrator", f"{name}_threshold", f"{name}_reset"
        nodes[ki] = nir.I(r=r, metadata=meta)
        nodes[ks] = nir.Threshold(threshold=thr, metadata=meta)
        nodes[kr] = nir.Scale(scale=np.full(shape, -1.0, _F32), metadata={"spikejet_layer": name})
        edges += [(ki, ks), (ks, kr), (kr, ki)]
        return ki, ks
    meta = _reset_metadata(_Reset(net.reset), "if", name, allow_reset_change)
    nodes[f"{name}_if"] = nir.IF(r=r, v_threshold=thr, v_reset=np.full(shape, -v0), metadata=meta)
    return f"{name}_if", f"{name}_if"


@dataclass(frozen=True)
class _Reset:
    reset: str


def _cnn_graph_metadata(net: Any, dt: float, class_names: Sequence[str], names: Sequence[str],
                        nodes: Mapping[str, Any]) -> dict[str, Any]:
    """The CNN graph's metadata (format, step, input/output, read-out, initial state, changes, spec)."""
    changes = [f"{k}: reset {node.metadata['spikejet_reset_changed']}" for k, node in nodes.items()
               if "spikejet_reset_changed" in getattr(node, "metadata", {})]
    loops = any(_node_type(node) == "Threshold" for node in nodes.values())
    spec = {"encoding": {"kind": "current", "scale": 1.0}, "readout": {"kind": "membrane"},
            "class_names": list(class_names), "layers": [{"name": n} for n in names],
            "meta": {"source": "spiking_cnn", "arch": net.arch()}}
    return {"spikejet_format": FORMAT, "spikejet_format_version": FORMAT_VERSION, "dt": dt,
            "discretization": CNN_LOOP_DISCRETIZATION if loops else DISCRETIZATION,
            "input": (f"the jet image [{net.in_channels}, S, S] (pT channels: unit sum x S; count channels: "
                      "particles per pixel), constant every step"),
            "output": "input current of the non-spiking read-out layer, every step",
            "readout": json.dumps({"kind": "membrane"}),
            "initial_state": (f"membranes start at v_init = {net.v_init:g} (threshold 1); the graph holds the voltage "
                              "shifted by -v_init (thresholds, and v_reset of IF nodes, lowered by v_init), so every "
                              "node starts at 0"),
            "semantic_changes": "; ".join(changes) if changes else "none",
            "spikejet_spec": json.dumps(spec, sort_keys=True)}


def cnn_to_nir(net: Any, *, class_names: Sequence[str] = (), allow_reset_change: bool = False) -> Any:
    """A ``nir.NIRGraph`` of a :class:`~spikejet.snn.image.SpikingCNN`: ``Conv2d -> neurons -> SumPool2d``
    per convolution, ``Flatten``, ``Affine -> neurons`` per hidden dense layer, the read-out ``Affine``.
    Input: the image ``[C, S, S]`` every step (constant current); output: the read-out's input current.

    The neurons of a layer (:func:`_cnn_neurons`): reset to zero is one ``IF`` node; reset by subtraction
    (spikejet's default) is written exactly as ``I -> Threshold`` with a recurrent ``Scale(-1)`` from the
    Threshold back into the integrator. The loop closes a cycle, so it delivers the previous step's
    spikes: the integrator holds ``u_t = u_(t-1) + z_t - s_(t-1)``, spikejet's membrane before its reset,
    minus ``v_init`` (the Threshold is ``1 - v_init``, written as NIR's strict ``>``). ``allow_reset_change``:
    write reset-to-zero IF nodes for a subtracting network instead (a different network; recorded in the
    nodes' ``spikejet_reset_changed`` and the graph's ``semantic_changes``)."""
    from ..snn.neurons import DEFAULT_DT

    nir = _nir()
    dt = float(DEFAULT_DT)
    S = net.size
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([net.in_channels, S, S])})}
    edges: list[tuple[str, str]] = []
    names: list[str] = []
    shapes = net.neuron_shapes()
    prev = "input"
    for i, conv in enumerate(net.convs):
        name = f"conv{i}"
        side = S // 2 ** i
        layer = _ConvLayer(conv.weight.detach().numpy(), conv.bias.detach().numpy(), (side, side), 1)
        nodes[f"{name}_conv"] = _LAYER_EXPORTERS["conv2d"](layer, {"spikejet_layer": name})
        first, spikes = _cnn_neurons(nodes, edges, name, shapes[i], net, dt, allow_reset_change)
        nodes[f"{name}_pool"] = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                              padding=np.array([0, 0]))
        edges += [(prev, f"{name}_conv"), (f"{name}_conv", first), (spikes, f"{name}_pool")]
        prev = f"{name}_pool"
        names.append(name)
    side = S // 2 ** len(net.convs)
    nodes["flatten"] = nir.Flatten(input_type={"input": np.array([net.channels[-1], side, side])}, start_dim=0,
                                   end_dim=-1)
    edges.append((prev, "flatten"))
    prev = "flatten"
    for j, lin in enumerate(net.linears):
        name = f"dense{j}"
        nodes[f"{name}_affine"] = nir.Affine(weight=lin.weight.detach().numpy().astype(_F32),
                                             bias=lin.bias.detach().numpy().astype(_F32),
                                             metadata={"spikejet_layer": name})
        edges.append((prev, f"{name}_affine"))
        prev = f"{name}_affine"
        names.append(name)
        if j < len(net.linears) - 1:
            first, prev_spikes = _cnn_neurons(nodes, edges, name, (lin.out_features,), net, dt, allow_reset_change)
            edges.append((prev, first))
            prev = prev_spikes
    nodes["output"] = nir.Output(output_type={"output": np.array([net.dense_sizes[-1]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_cnn_graph_metadata(net, dt, class_names, names, nodes))


@dataclass(frozen=True)
class _SubtractIF:
    """An ``I -> Threshold`` pair and its ``Scale`` reset loop (keys: integrator, threshold, scale),
    read as one layer of IF neurons that reset by subtraction (:func:`_collapse_reset_loops`)."""

    integrator: Any
    threshold: Any
    scale: Any
    keys: tuple[str, str, str]
    nir_type: ClassVar[str] = "I-Threshold-Scale"


def _collapse_reset_loops(nodes: Mapping[str, Any], edges: Sequence[tuple[str, str]]) -> tuple[dict[str, Any],
                                                                                                list[tuple[str, str]]]:
    """``nodes`` and ``edges`` with every reset-by-subtraction loop (``I -> Threshold``, ``Threshold ->
    Scale -> the same I``) replaced by one :class:`_SubtractIF` under the integrator's key, the
    Threshold's other edges leaving from it: a chain again. A Threshold outside such a loop: ModelError."""
    nodes, edges = dict(nodes), [(str(a), str(b)) for a, b in edges]
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    for ks in [k for k, n in nodes.items() if _node_type(n) == "Threshold"]:
        loops = [k for k in succ.get(ks, []) if _node_type(nodes[k]) == "Scale"]
        ins = pred.get(ks, [])
        if len(loops) != 1 or len(ins) != 1 or _node_type(nodes[ins[0]]) != "I":
            raise ModelError(f"NIR Threshold {ks!r} is not in a reset-by-subtraction loop (one I node into it, one "
                             "Scale node out of it and back into that I); spikejet reads no other Threshold")
        kr, ki = loops[0], ins[0]
        if succ.get(kr) != [ki] or pred.get(kr) != [ks] or succ.get(ki) != [ks]:
            raise ModelError(f"NIR nodes {ki!r}, {ks!r}, {kr!r} are not a reset-by-subtraction loop: the Scale must "
                             "take only the Threshold's spikes and feed only the I, the I only the Threshold")
        nodes[ki] = _SubtractIF(nodes[ki], nodes[ks], nodes[kr], (ki, ks, kr))
        del nodes[ks], nodes[kr]
        loop = {(ki, ks), (ks, kr), (kr, ki)}
        edges = [(ki if a == ks else a, b) for a, b in edges if (a, b) not in loop]
    return nodes, edges


def _gain_is_one(node: Any, field: str, n: int, step: float, key: str) -> None:
    r = _arr(node, field, n)
    if not (_uniform(r) and math.isclose(step * float(r[0]), 1.0, rel_tol=GAIN_SNAP_RTOL)):
        raise ModelError(f"NIR node {key!r}: the integrator gain dt*r must be 1 (spikejet's IF adds its input once)")


def _if_threshold(node: Any, n: int, name: str) -> tuple[float, float]:
    """(threshold, v_init) of an IF node in spikejet's convention (the voltage shifted to reset at 0)."""
    if _node_type(node) != "IF":
        raise ModelError(f"NIR node {name!r} must be an IF node here, got {_node_type(node)}")
    thr = _above(_arr(node, "v_threshold", n)).astype(np.float64) - _arr(node, "v_reset", n)
    v_init = -_arr(node, "v_reset", n)
    if not (_uniform(thr) and _uniform(v_init)) or thr[0] <= 0:
        raise ModelError(f"NIR node {name!r}: spikejet's spiking CNN needs one positive threshold per layer")
    return float(thr[0]), float(v_init[0])


def _loop_threshold(node: _SubtractIF, n: int) -> tuple[float, float]:
    """(threshold theta, v_init) of a reset loop: theta from the Scale (``-theta``, checked against the
    ``spikejet_threshold`` metadata when present), ``v_init`` from the Threshold's shift (``theta - v_init``)."""
    ki, ks, kr = node.keys
    scale = _arr(node.scale, "scale", n)
    theta = -float(scale[0])
    listed = _meta_value(dict(node.threshold.metadata or {}), "spikejet_threshold")
    if not (np.all(scale == scale[0]) and theta > 0) or (listed is not None and float(listed) != theta):
        want = f"-{float(listed):g}" if listed is not None else "one negative value"
        raise ModelError(f"NIR Scale {kr!r}: a reset by subtraction scales the spikes by -threshold ({want}), got "
                         f"{np.unique(scale)[:4].tolist()}")
    thr = _arr(node.threshold, "threshold", n)
    if not np.all(thr == thr[0]):
        raise ModelError(f"NIR Threshold {ks!r}: spikejet's spiking CNN needs one threshold per layer")
    v0 = theta - float(_above(thr[0]))
    if not theta > v0:
        raise ModelError(f"NIR Threshold {ks!r}: threshold {theta - v0:g} is not above 0 (a layer that spikes "
                         "without input)")
    return theta, v0


def _cnn_neuron(node: Any, key: str, step: float) -> tuple[float, float, str, str]:
    """(threshold, initial membrane, reset, reset change) of one spiking layer of a CNN graph: an IF node
    (reset to zero; ``spikejet_reset_changed`` from its metadata) or a :class:`_SubtractIF` loop."""
    if isinstance(node, _SubtractIF):
        n = int(np.prod(np.shape(node.threshold.threshold))) or 1
        _gain_is_one(node.integrator, "r", n, step, node.keys[0])
        return (*_loop_threshold(node, n), "subtract", "")
    n = int(np.prod(np.shape(node.v_threshold))) or 1
    thr, v0 = _if_threshold(node, n, key)
    _gain_is_one(node, "r", n, step, key)
    return thr, v0, "zero", str(_meta_value(dict(node.metadata or {}), "spikejet_reset_changed") or "")


_CNN_NEURONS = ("IF", _SubtractIF.nir_type)


def _cnn_layout(chain: Sequence[tuple[str, Any]]) -> tuple[int, list[Any], list[Any], list[tuple[str, Any]]]:
    """(convolutions, their Conv2d nodes, the Affine nodes, the spiking layers (key, node)) of a CNN chain
    (Input and Output dropped, reset loops collapsed); anything else is one ModelError line."""
    types = [_node_type(n) for _, n in chain]
    n_conv = types.count("Conv2d")
    pattern = ["Conv2d", "|".join(_CNN_NEURONS), "SumPool2d|AvgPool2d"] * n_conv + ["Flatten"]
    if n_conv < 1 or len(types) < len(pattern) + 1 or not all(t in p.split("|") for t, p in zip(types, pattern, strict=False)):
        raise ModelError(f"the NIR graph is not a spiking CNN of Conv2d -> IF (or I -> Threshold with a Scale reset "
                         f"loop) -> SumPool2d blocks, Flatten, Affine layers (nodes: {', '.join(types)})")
    rest = chain[3 * n_conv + 1:]
    kinds = types[3 * n_conv + 1:]
    if len(kinds) % 2 != 1 or set(kinds[0::2]) != {"Affine"} or not set(kinds[1::2]) <= set(_CNN_NEURONS):
        raise ModelError("after Flatten the NIR graph must be (Affine -> IF or I -> Threshold loop)* -> Affine "
                         f"(nodes: {', '.join(kinds)})")
    convs = [chain[3 * i][1] for i in range(n_conv)]
    affines = [n for _, n in rest[0::2]]
    neurons = [chain[3 * i + 1] for i in range(n_conv)] + list(rest[1::2])
    return n_conv, convs, affines, neurons


def _cnn_v_init(v_inits: set[float], resets: set[str], spec: Mapping[str, Any]) -> tuple[float, str]:
    """The one initial-membrane fraction and the one reset of a CNN graph's layers (the spec's exact
    ``v_init`` when it agrees within float32 rounding)."""
    if len(resets) != 1:
        raise ModelError("the NIR graph mixes reset to zero (IF nodes) and by subtraction (I -> Threshold loops); "
                         "a spiking CNN has one reset")
    if len(v_inits) != 1:
        raise ModelError("the NIR graph's spiking layers start at different fractions of their thresholds")
    v_init = v_inits.pop()
    listed = ((spec.get("meta") or {}).get("arch") or {}).get("v_init")
    if isinstance(listed, (int, float)) and abs(float(listed) - v_init) <= 1e-6:
        v_init = float(listed)
    return v_init, resets.pop()


def cnn_from_nir(graph: Any, *, dt: float | None = None) -> Any:
    """A :class:`~spikejet.snn.image.SpikingCNN` from a graph of :func:`cnn_to_nir`'s shape
    (``Conv2d -> neurons -> SumPool2d|AvgPool2d`` blocks, ``Flatten``, ``Affine -> neurons`` layers, a
    read-out ``Affine``; neurons: ``IF`` (reset to zero) or ``I -> Threshold`` with its ``Scale`` loop
    (reset by subtraction), one kind in the whole graph): the structured read-back, simulated with
    shared kernels (:func:`from_nir` gives the same network unrolled into dense layers, for IF graphs).
    Thresholds are folded into the weights (threshold 1); an average pooling's ``1/k^2`` into the next
    layer's weights. Anything else: :class:`ModelError`."""
    import torch

    from ..snn.image import POOL, SpikingCNN

    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ModelError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    meta = dict(getattr(graph, "metadata", None) or {})
    step = _graph_dt(meta, dt)
    chain = _chain(graph, collapse_reset_loops=True)[1:-1]
    n_conv, convs, affines, neurons = _cnn_layout(chain)
    w = [np.asarray(c.weight, dtype=np.float64) for c in convs] + [np.asarray(a.weight, dtype=np.float64) for a in affines]
    b = [np.asarray(c.bias, dtype=np.float64).reshape(-1) for c in convs] + \
        [np.asarray(a.bias, dtype=np.float64).reshape(-1) for a in affines]
    size = _conv_geometry(convs[0], "conv0")[0][0]
    gains = []
    for i in range(n_conv):
        key, pool = chain[3 * i + 2]
        if _pair(pool.kernel_size, "kernel_size") != (POOL, POOL) or _pair(pool.stride, "stride") != (POOL, POOL):
            raise ModelError(f"NIR pooling node {key!r}: spikejet's spiking CNN pools 2x2 with stride 2")
        gains.append(1.0 / (POOL * POOL) if _node_type(pool) == "AvgPool2d" else 1.0)
    v_inits, resets, changes = set(), set(), set()
    for li, (key, node) in enumerate(neurons):
        thr, v0, reset, change = _cnn_neuron(node, key, step)
        w[li], b[li] = w[li] / thr, b[li] / thr
        v_inits.add(round(v0 / thr, 12))
        resets.add(reset)
        changes |= {change} - {""}
        if li < n_conv:
            w[li + 1] = w[li + 1] * gains[li]
    v_init, reset = _cnn_v_init(v_inits, resets, _spikejet_spec(meta))
    net = SpikingCNN(size, [x.shape[0] for x in w[:n_conv]], [a.shape[0] for a in w[n_conv:-1]], w[-1].shape[0],
                     reset=reset, v_init=v_init, in_channels=w[0].shape[1])
    net.meta = {"imported_from": "nir", "reset_changes": sorted(changes),
                "semantic_changes": _meta_value(meta, "semantic_changes") or "none"}
    with torch.no_grad():
        for dst, wi, bi in zip([*net.convs, *net.linears], w, b, strict=True):
            if tuple(dst.weight.shape) != wi.shape:
                raise ModelError(f"NIR weights of shape {wi.shape} do not fit a layer of shape {tuple(dst.weight.shape)}")
            dst.weight.copy_(torch.as_tensor(wi, dtype=torch.float32))
            dst.bias.copy_(torch.as_tensor(bi, dtype=torch.float32))
    net.eval()
    return net


def read_cnn_nir(path: str | os.PathLike[str], *, dt: float | None = None) -> Any:
    """Read a ``.nir`` file of :func:`cnn_to_nir`'s shape into a SpikingCNN (:func:`cnn_from_nir`)."""
    return cnn_from_nir(read_graph(path), dt=dt)
