"""NIR export and read-back of the spiking deep-sets network (:class:`spikejet.snn.particle.SpikingDeepSets`).

The network is not a chain (two or three inputs, recurrent resets, a pooling that sums over
particles), so it does not go through :func:`spikejet.interop.nir.to_nir`; it reuses that module's
conventions (forward Euler with step ``dt``, NIR's strict threshold ``v > v_threshold`` written as
the largest float32 below spikejet's ``>=`` threshold, the initial membrane as a voltage shift) and
its file helpers. The graph, for ``P = n_particles`` fixed particle slots::

    particles [P, F] -> phi0_affine -> phi0 neurons -> phi1_affine -> ... -> phi{L-1} neurons
    padding   [P, 1] -> phiL_pad (one per phi layer) -> phiL neurons
    phi{L-1} neurons -> pool_flatten [P*n] -> rho0_affine (W_pool tiled P times, rho0 bias) -> rho0 neurons
    jet [n_global]   -> jet_affine (U, bias 0) -> rho0 neurons
    rho0 neurons -> rho1_affine -> ... -> rho{K-1}_affine -> output

(with no hidden read-out layer ``rho0_affine`` and ``jet_affine`` feed ``output``). A node with
several incoming edges sums them (NIR's rule).

Per-particle layers. A NIR ``Affine`` maps a vector; its type is the weight's shape with any leading
axes kept (``weight [P, out, in]`` maps ``[P, in]`` to ``[P, out]``, row by row). The per-particle
layers are written that way: the shared ``[out, in]`` weight repeated for every slot (and the bias
``[P, out]``), so that ``nir.NIRGraph`` and ``nir.read`` type-check the graph (a ``[out, in]`` weight
on a ``[P, in]`` input is a type mismatch for nir 1.0.8, which then refuses to build or read the
graph). The neuron parameters are ``[P, n]``. The read-back checks that all copies are equal.

Spiking layers, reset by subtraction (spikejet's default). NIR's IF resets to ``v_reset``; reset by
subtraction is written exactly as an integrator with a recurrent inhibition::

    z -> {name}_integrator (nir.I, r = 1/dt) -> {name}_threshold (nir.Threshold) -> spikes
                      ^                                                      |
                      +------ {name}_reset (nir.Affine, -theta * identity) <-+

The reset edge closes a cycle and delivers the *previous* step's spikes, so the integrator holds
``u_t = u_{t-1} + z_t - theta s_{t-1}``: spikejet's membrane before its reset (``v_t = u_t - theta
s_t``). Reset to zero: a plain ``nir.IF`` node.

Initial membrane (``v_init * theta``, default half the threshold). NIR nodes start at 0 and have no
initial-state field; the graph holds the voltage shifted by ``-v_init * theta``, which is exact for
both resets: the threshold is ``theta - v_init * theta`` (written ``_below(...)``, NIR's strict
``>``), and for reset to zero ``v_reset = -v_init * theta`` (as :func:`~spikejet.interop.nir.to_nir`
does). A tool that reads the graph therefore computes spikejet's network without knowing
``v_init``; it is also recorded in every neuron node's metadata (``spikejet_v_init``) and in the
``spikejet_spec``. The read-back takes theta from the reset weight (subtraction) or from
``threshold - v_reset`` (zero) and ``v_init`` from the threshold's shift (checked against the spec).

Padded slots. ``padding`` is 1 for a padded slot; ``phiL_pad`` (``Affine [P, n, 1]``, weight ``-B_l``,
bias 0) adds ``-B_l`` to every neuron of a padded slot, every step, with ``B_l = 2 (max(0, max_k
b_lk) + theta_l)``. Why that is enough: a padded slot's features are zero (the graph's input
contract, spikejet's data pipeline pads with zeros), so its phi0 current is ``b_0 - B_0`` and,
by induction (the slot's spikes in the layer below are 0), phi layer ``l`` gets ``b_l - B_l <=
-2 theta_l < 0`` per step (the reset edge adds nothing without spikes). Its shifted membrane is a
sum of non-positive float32 numbers, hence ``<= 0``, and never exceeds the threshold ``theta (1 -
v_init) > 0``: the slot never spikes, as spikejet's masked slots. The read-back refuses a graph
whose padding weights do not satisfy ``b_lk + w_pad_lk <= 0``. (``B_l`` is of the size of the
layer's own biases and threshold: it quantizes like them on fixed-point hardware, unlike ``-1e9``.)

Output: the read-out layer's current every step; the logits are its mean over the T steps.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelError
from .nir import (
    FORMAT,
    FORMAT_VERSION,
    GAIN_SNAP_RTOL,
    _above,
    _below,
    _graph_dt,
    _meta_value,
    _nir,
    _spikejet_spec,
    loop_discretization,
    read_graph,
    write_nir,
)

__all__ = ["SOURCE", "deepsets_to_nir", "deepsets_from_nir", "write_deepsets_nir", "read_deepsets_nir",
           "padding_weight"]

#: ``spikejet_spec["meta"]["source"]`` of a deep-sets export.
SOURCE = "spiking_deepsets"
#: How far the ``v_init`` of one layer (from its threshold's shift, float32 rounding) may lie from another's.
V_INIT_ATOL = 1e-5
_F32 = np.float32

_DISCRETIZATION = loop_discretization("Affine")


# --------------------------------------------------------------------------- structure (writer and reader)


def _layer_names(n_phi: int, n_rho_hidden: int) -> tuple[list[str], list[str]]:
    return [f"phi{i}" for i in range(n_phi)], [f"rho{j}" for j in range(n_rho_hidden)]


def _neuron_keys(name: str, reset: str) -> tuple[str, ...]:
    """The node keys of one spiking layer: (integrating node, spiking node[, reset node])."""
    if reset == "subtract":
        return f"{name}_integrator", f"{name}_threshold", f"{name}_reset"
    return (f"{name}_if", f"{name}_if")


def spiking_structure(keys: list[str], edges: list[tuple[str, str]], name: str, source: str, reset: str) -> str:
    """The node keys and edges of spiking layer ``name`` fed by ``source`` (into ``keys``, ``edges``);
    returns the key of its spikes."""
    ks = _neuron_keys(name, reset)
    keys.extend(dict.fromkeys(ks))
    edges.append((source, ks[0]))
    if reset == "subtract":
        edges.extend([(ks[0], ks[1]), (ks[1], ks[2]), (ks[2], ks[0])])
    return ks[1]


def readout_structure(keys: list[str], edges: list[tuple[str, str]], prev: str, n_layers: int, reset: str,
                      has_jet: bool, prefix: str = "rho") -> None:
    """The sum over particles of the spikes ``prev`` (``pool_flatten``), the read-out MLP of ``n_layers``
    layers named ``{prefix}{j}`` with the jet-level inputs into its first layer, and ``output``."""
    hidden = [f"{prefix}{j}" for j in range(n_layers - 1)]
    keys += ["pool_flatten", f"{prefix}0_affine"]
    edges += [(prev, "pool_flatten"), ("pool_flatten", f"{prefix}0_affine")]
    target = _neuron_keys(hidden[0], reset)[0] if hidden else "output"
    if has_jet:
        edges += [("jet", "jet_affine"), ("jet_affine", target)]
    src = f"{prefix}0_affine"
    for j, name in enumerate(hidden):
        prev = spiking_structure(keys, edges, name, src, reset)
        src = f"{prefix}{j + 1}_affine"
        keys.append(src)
        edges.append((prev, src))
    edges.append((src, "output"))
    keys.append("output")


def _structure(n_phi: int, n_rho: int, reset: str, has_jet: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """(node keys, edges) of the graph of ``n_phi`` per-particle and ``n_rho`` read-out layers."""
    phi, _ = _layer_names(n_phi, n_rho - 1)
    keys = ["particles", "padding"] + (["jet", "jet_affine"] if has_jet else [])
    edges: list[tuple[str, str]] = []
    prev = "particles"
    for name in phi:
        keys += [f"{name}_affine", f"{name}_pad"]
        edges.append((prev, f"{name}_affine"))
        edges.append(("padding", f"{name}_pad"))
        prev = spiking_structure(keys, edges, name, f"{name}_affine", reset)
        edges.append((f"{name}_pad", _neuron_keys(name, reset)[0]))
    readout_structure(keys, edges, prev, n_rho, reset, has_jet)
    return keys, edges


# --------------------------------------------------------------------------- export


def padding_weight(bias: np.ndarray, threshold: float) -> np.float32:
    """``-B_l`` of a per-particle layer (module docstring): ``-2 (max(0, max_k b_k) + theta)`` in float32."""
    return _F32(-2.0 * (max(0.0, float(np.max(bias))) + float(threshold)))


def check_options(net: Any, what: str = "spiking deep-sets network", section: str = "snn_particles") -> None:
    """IF neurons that reset by subtraction or to zero (the neurons the graphs write), else ConfigError."""
    if net.options.neuron != "if":
        raise ConfigError(f"the NIR export of a {what} supports IF neurons only, got "
                          f"{net.options.neuron!r} (set {section}.neuron = 'if')")
    if net.options.reset not in ("subtract", "zero"):
        raise ConfigError(f"the NIR export supports reset 'subtract' or 'zero', got {net.options.reset!r}")


def _check_net(net: Any) -> None:
    from ..snn.particle import SpikingDeepSets

    if not isinstance(net, SpikingDeepSets):
        raise ModelError(f"expected a SpikingDeepSets, got {type(net).__name__}")
    check_options(net)


def _neuron_nodes(nodes: dict[str, Any], name: str, th: np.float32, v0: np.float32, reset: str, v_init: float,
                  lead: tuple[int, ...], n: int, dt: float) -> None:
    """The nodes of spiking layer ``name`` (``lead + (n,)`` neurons, threshold ``th``, initial membrane
    ``v0``) into ``nodes``: ``I -> Threshold`` + the reset Affine for subtraction, an ``IF`` for zero."""
    nir = _nir()
    shape = (*lead, n)
    meta = {"spikejet_layer": name, "spikejet_neuron": "if", "spikejet_reset": reset,
            "spikejet_threshold": float(th), "spikejet_v_init": float(v_init)}
    thr = np.full(shape, _below(float(th - v0)), _F32)
    r = np.full(shape, 1.0 / dt)
    if reset == "subtract":
        ki, ks, kr = _neuron_keys(name, reset)
        nodes[ki] = nir.I(r=r, metadata=meta)
        nodes[ks] = nir.Threshold(threshold=thr, metadata=meta)
        eye = np.broadcast_to(-th * np.eye(n, dtype=_F32), (*lead, n, n)).copy()
        nodes[kr] = nir.Affine(weight=eye, bias=np.zeros(shape, _F32), metadata={"spikejet_layer": name})
    else:
        nodes[f"{name}_if"] = nir.IF(r=r, v_threshold=thr, v_reset=np.full(shape, -v0, _F32), metadata=meta)


def _graph_metadata(net: Any, P: int, class_names: Sequence[str], names: list[str], dt: float, *,
                    source: str = SOURCE, inputs: str | None = None) -> dict[str, Any]:
    """The graph's metadata: format, time step, inputs (``inputs``: their description; default the deep
    sets'), read-out, the initial state and the spec (``source``: the exporter's name)."""
    o = net.options
    G = net.n_global
    if inputs is None:
        F_in = net.phi_sizes[0]
        inputs = (f"particles [{P}, {F_in}]: standardized particle features (zero in padded slots), padding "
                  f"[{P}, 1]: 1 for a padded slot, 0 for a real particle"
                  + (f", jet [{G}]: standardized jet-level features" if G else "") + "; constant every step")
    spec = {
        "encoding": {"kind": "current", "scale": 1.0},
        "readout": {"kind": "membrane"},
        "class_names": list(class_names),
        "layers": [{"name": n} for n in names],
        "n_particles": P,
        "v_init": float(o.v_init),
        "reset": o.reset,
        "meta": {"source": source, "arch": net.arch()},
    }
    return {
        "spikejet_format": FORMAT,
        "spikejet_format_version": FORMAT_VERSION,
        "dt": dt,
        "discretization": _DISCRETIZATION,
        "input": inputs,
        "output": "input current of the non-spiking read-out layer, every step (logits: its mean over the T steps)",
        "readout": json.dumps({"kind": "membrane"}),
        "initial_state": (f"membranes start at v_init * threshold (v_init = {o.v_init:g}); the graph holds the "
                          "voltage shifted by it (thresholds and v_reset lowered by v_init * threshold), so every "
                          "node starts at 0"),
        "semantic_changes": "none",
        "spikejet_spec": json.dumps(spec, sort_keys=True),
    }


def _f32_weights(lin: Any) -> tuple[np.ndarray, np.ndarray]:
    return lin.weight.detach().numpy().astype(_F32), lin.bias.detach().numpy().astype(_F32)


def readout_nodes(nodes: dict[str, Any], lins: Sequence[Any], P: int, n_pool: int, G: int, ths: Sequence[np.float32],
                  v0s: Sequence[np.float32], reset: str, v_init: float, dt: float, prefix: str = "rho") -> None:
    """The nodes of the sum over ``P`` particle slots (``pool_flatten``, the first read-out layer's pooled
    columns tiled ``P`` times), the jet-level inputs (``G``), the read-out MLP ``lins`` (hidden layers
    spiking, thresholds ``ths``, initial membranes ``v0s``) and ``output`` (:func:`readout_structure`)."""
    nir = _nir()
    nodes["pool_flatten"] = nir.Flatten(input_type={"input": np.array([P, n_pool])}, start_dim=0, end_dim=-1)
    w0, b0 = _f32_weights(lins[0])
    nodes[f"{prefix}0_affine"] = nir.Affine(weight=np.tile(w0[:, :n_pool], (1, P)), bias=b0,
                                            metadata={"spikejet_layer": f"{prefix}0", "spikejet_pooling": "sum",
                                                      "n_particles": P})
    if G:
        nodes["jet"] = nir.Input(input_type={"input": np.array([G])})
        nodes["jet_affine"] = nir.Affine(weight=w0[:, n_pool:].copy(), bias=np.zeros(w0.shape[0], _F32),
                                         metadata={"spikejet_layer": f"{prefix}0"})
    for j in range(len(lins) - 1):
        _neuron_nodes(nodes, f"{prefix}{j}", ths[j], v0s[j], reset, v_init, (), lins[j].out_features, dt)
        wj, bj = _f32_weights(lins[j + 1])
        nodes[f"{prefix}{j + 1}_affine"] = nir.Affine(weight=wj, bias=bj, metadata={"spikejet_layer": f"{prefix}{j + 1}"})
    nodes["output"] = nir.Output(output_type={"output": np.array([lins[-1].out_features])})


def deepsets_to_nir(net: Any, n_particles: int, *, class_names: Sequence[str] = ()) -> Any:
    """A ``nir.NIRGraph`` computing what ``net`` (a SpikingDeepSets with IF neurons) computes, for
    ``n_particles`` slots (module docstring). Inputs every step: ``particles [P, F]`` (standardized
    features, zero in padded slots), ``padding [P, 1]`` (1: padded slot), ``jet [n_global]`` (when
    ``n_global > 0``); output: the read-out layer's current (logits: its mean over the T steps).
    LIF neurons: :class:`ConfigError`."""
    import torch

    nir = _nir()
    _check_net(net)
    P = int(n_particles)
    if P < 1 or P != n_particles:
        raise ConfigError(f"n_particles must be a positive integer, got {n_particles!r}")
    from ..snn.neurons import DEFAULT_DT

    dt = float(DEFAULT_DT)
    o = net.options
    reset = o.reset
    with torch.no_grad():
        ths_t = net.thresholds().detach().to(torch.float32)
        v0s = [_F32((ths_t[i] * o.v_init).item()) for i in range(net.n_spiking)]  # as forward computes it
    ths = [_F32(t) for t in ths_t.numpy()]

    def w(lin: Any) -> np.ndarray:
        return lin.weight.detach().numpy().astype(_F32)

    def b(lin: Any) -> np.ndarray:
        return lin.bias.detach().numpy().astype(_F32)

    n_phi, n_rho = len(net.phi), len(net.rho)
    phi_names, rho_names = _layer_names(n_phi, n_rho - 1)
    F_in, G, n_pool = net.phi_sizes[0], net.n_global, net.phi_sizes[-1]
    nodes: dict[str, Any] = {
        "particles": nir.Input(input_type={"input": np.array([P, F_in])}),
        "padding": nir.Input(input_type={"input": np.array([P, 1])}),
    }

    for i, (name, lin) in enumerate(zip(phi_names, net.phi, strict=True)):
        n = lin.out_features
        nodes[f"{name}_affine"] = nir.Affine(weight=np.broadcast_to(w(lin), (P, *lin.weight.shape)).copy(),
                                             bias=np.broadcast_to(b(lin), (P, n)).copy(),
                                             metadata={"spikejet_layer": name})
        pad = padding_weight(b(lin), ths[i])
        nodes[f"{name}_pad"] = nir.Affine(weight=np.full((P, n, 1), pad, _F32), bias=np.zeros((P, n), _F32),
                                          metadata={"spikejet_layer": name, "spikejet_padding": True})
        _neuron_nodes(nodes, name, ths[i], v0s[i], reset, o.v_init, (P,), n, dt)
    readout_nodes(nodes, net.rho, P, n_pool, G, ths[n_phi:], v0s[n_phi:], reset, o.v_init, dt)
    keys, edges = _structure(n_phi, n_rho, reset, bool(G))
    assert sorted(keys) == sorted(nodes), (sorted(keys), sorted(nodes))
    meta = _graph_metadata(net, P, class_names, [*phi_names, *rho_names, f"rho{n_rho - 1}"], dt)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_deepsets_nir(path: str | os.PathLike[str], net: Any, n_particles: int | None = None, *,
                       class_names: Sequence[str] = ()) -> Path:
    """Export ``net`` (a SpikingDeepSets, or a ready ``nir.NIRGraph`` of :func:`deepsets_to_nir`) to a
    ``.nir`` file, atomically (:func:`~spikejet.interop.nir.write_nir`: a temporary file next to it, renamed
    on success)."""
    nir = _nir()
    if isinstance(net, nir.NIRGraph):
        graph = net
    else:
        if n_particles is None:
            raise ConfigError("write_deepsets_nir needs n_particles for a network (the graph has fixed slots)")
        graph = deepsets_to_nir(net, n_particles, class_names=class_names)
    return write_nir(path, graph)  # nir.py's atomic write of a ready graph


# --------------------------------------------------------------------------- import


def _bad(msg: str) -> ModelError:
    return ModelError(f"the NIR graph is not a spiking deep-sets export: {msg}")


def _node(nodes: dict[str, Any], key: str, kind: str) -> Any:
    node = nodes.get(key)
    if node is None:
        raise _bad(f"it has no node {key!r}")
    if type(node).__name__ != kind:
        raise _bad(f"node {key!r} is a {type(node).__name__}, expected {kind}")
    return node


def _f64(node: Any, field: str, key: str) -> np.ndarray:
    a = np.asarray(getattr(node, field), dtype=np.float64)
    if not np.isfinite(a).all():
        raise _bad(f"node {key!r} has non-finite {field}")
    return a


def _one(a: np.ndarray, key: str, field: str) -> float:
    """The one value of ``a`` (every element equal)."""
    if a.size == 0 or not np.all(a == a.flat[0]):
        raise _bad(f"node {key!r}: {field} differs between neurons or slots; spikejet layers share one value")
    return float(a.flat[0])


def _lead(P: int | tuple[int, ...]) -> tuple[int, ...]:
    """The leading (slot) axes of a per-copy node: ``P`` particle slots, or a tuple (the pairs' ``(P, P - 1)``)."""
    return tuple(int(p) for p in P) if isinstance(P, tuple) else (int(P),)


def _shared(a: np.ndarray, P: int | tuple[int, ...], tail: tuple[int, ...], key: str, field: str) -> np.ndarray:
    """The one ``tail``-shaped block of ``a`` (``[*lead, *tail]``, every slot's copy equal; ``tail`` broadcasts)."""
    lead = _lead(P)
    if a.shape == tail:
        return a
    if a.shape != (*lead, *tail):
        raise _bad(f"node {key!r}: {field} has shape {a.shape}, expected {(*lead, *tail)}")
    flat = a.reshape(-1, *tail)
    if not np.all(flat == flat[:1]):
        raise _bad(f"node {key!r}: {field} differs between particle slots (the weights must be shared)")
    return flat[0]


def _input_shape(nodes: dict[str, Any], key: str) -> tuple[int, ...]:
    node = _node(nodes, key, "Input")
    t = node.input_type or {}
    v = next(iter(t.values()), None)
    if v is None:
        raise _bad(f"Input {key!r} has no shape")
    return tuple(int(x) for x in np.asarray(v).reshape(-1))


def _affine(nodes: dict[str, Any], key: str, P: int | tuple[int, ...] | None, n_out: int | None,
            n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight [out, in], bias [out]) of an Affine node; ``P``: per-particle (``[P, out, in]``, copies equal;
    a tuple of leading axes for other copies)."""
    node = _node(nodes, key, "Affine")
    wt, bs = _f64(node, "weight", key), _f64(node, "bias", key)
    out = wt.shape[-2] if n_out is None and wt.ndim >= 2 else n_out
    if P is None:
        if wt.ndim != 2 or wt.shape[1] != n_in or (out is not None and wt.shape[0] != out):
            raise _bad(f"node {key!r}: weight has shape {wt.shape}, expected [{out if out is not None else 'out'}, {n_in}]")
        if bs.shape != (wt.shape[0],):
            raise _bad(f"node {key!r}: bias has shape {bs.shape} for {wt.shape[0]} outputs")
        return wt, bs
    lead = _lead(P)
    if wt.ndim != len(lead) + 2 or wt.shape[-1] != n_in or (out is not None and wt.shape[-2] != out):
        raise _bad(f"node {key!r}: weight has shape {wt.shape}, expected [{', '.join(map(str, lead))}, out, {n_in}]")
    wt = _shared(wt, lead, wt.shape[-2:], key, "weight")
    return wt, _shared(bs, P, (wt.shape[0],), key, "bias")


def _neurons(nodes: dict[str, Any], name: str, reset: str, lead: tuple[int, ...], n: int,
             dt: float) -> tuple[np.float32, float]:
    """(threshold, v_init) of one spiking layer's nodes, with their structure checked."""
    shape = (*lead, n)
    ks = _neuron_keys(name, reset)

    def params(node: Any, key: str, field: str) -> np.ndarray:
        a = _f64(node, field, key)
        if a.shape not in (shape, (n,), ()):
            raise _bad(f"node {key!r}: {field} has shape {a.shape}, expected {shape}")
        return a

    if reset == "subtract":
        integ = _node(nodes, ks[0], "I")
        gain = dt * _one(params(integ, ks[0], "r"), ks[0], "r")
        thr_raw = _one(params(_node(nodes, ks[1], "Threshold"), ks[1], "threshold"), ks[1], "threshold")
        w_r, b_r = _affine(nodes, ks[2], tuple(lead) if lead else None, n, n)
        th = -float(w_r[0, 0])
        if not (th > 0 and np.array_equal(w_r, -th * np.eye(n)) and not b_r.any()):
            raise _bad(f"node {ks[2]!r} must be -threshold * identity with bias 0 (reset by subtraction)")
        th32 = _F32(th)
        v0 = th - float(_above(_F32(thr_raw)))
    else:
        node = _node(nodes, ks[0], "IF")
        gain = dt * _one(params(node, ks[0], "r"), ks[0], "r")
        thr_raw = _one(params(node, ks[0], "v_threshold"), ks[0], "v_threshold")
        v0 = -_one(params(node, ks[0], "v_reset"), ks[0], "v_reset")
        th32 = _F32(float(_above(_F32(thr_raw))) + v0)
        th = float(th32)
    if not math.isclose(gain, 1.0, rel_tol=GAIN_SNAP_RTOL):
        raise _bad(f"layer {name!r}: the integrator gain dt*r is {gain:g}, spikejet's IF adds its input once (1)")
    if not th > 0 or not th > v0:
        raise _bad(f"layer {name!r}: threshold {th:g} and initial membrane {v0:g} are not a spikejet IF layer")
    return th32, v0 / th


def _exact_log_thresholds(net: Any, ths: Sequence[np.float32]) -> None:
    """Set ``net.log_threshold`` so that ``net.thresholds()`` gives ``ths`` in float32 where one float32
    logarithm does (``exp(float32(log th))`` can be one ulp off)."""
    import torch

    target = torch.tensor(np.asarray(ths, dtype=_F32))
    logs = torch.log(target)
    with torch.no_grad():
        for _ in range(3):
            net.log_threshold.copy_(logs)
            got = net.thresholds()
            off = got != target
            if not off.any():
                return
            logs = torch.where(off & (got > target), torch.nextafter(logs, torch.tensor(-math.inf)), logs)
            logs = torch.where(off & (got < target), torch.nextafter(logs, torch.tensor(math.inf)), logs)
        net.log_threshold.copy_(logs)


def _read_structure(graph: Any, spec: dict[str, Any]) -> tuple[dict[str, Any], str, int, int, bool]:
    """(nodes, reset, phi layers, rho layers, has jet input) of a graph whose nodes and edges are
    :func:`deepsets_to_nir`'s shape; else one ModelError line."""
    nodes = dict(graph.nodes)
    if "phi0_if" in nodes:
        reset = "zero"
    elif "phi0_integrator" in nodes:
        reset = "subtract"
    else:
        raise _bad("it has neither 'phi0_integrator' (reset by subtraction) nor 'phi0_if' (reset to zero)")
    if spec.get("reset") not in (None, reset):
        raise _bad(f"its spikejet_spec says reset {spec.get('reset')!r} but its nodes reset by {reset!r}")
    n_phi = 0
    while f"phi{n_phi}_affine" in nodes:
        n_phi += 1
    n_rho = 1
    while f"rho{n_rho}_affine" in nodes:
        n_rho += 1
    has_jet = "jet" in nodes
    keys, edges = _structure(n_phi, n_rho, reset, has_jet)
    missing, extra = sorted(set(keys) - set(nodes)), sorted(set(nodes) - set(keys))
    if missing or extra:
        raise _bad("; ".join(([f"missing nodes {', '.join(missing)}"] if missing else [])
                             + ([f"unexpected nodes {', '.join(extra)}"] if extra else [])))
    got = [(str(a), str(b)) for a, b in graph.edges]
    if len(set(got)) != len(got) or set(got) != set(edges):
        lost, odd = sorted(set(edges) - set(got)), sorted(set(got) - set(edges))
        parts = ([f"missing edges {', '.join(f'{a}->{b}' for a, b in lost)}"] if lost else []) + \
                ([f"unexpected edges {', '.join(f'{a}->{b}' for a, b in odd)}"] if odd else [])
        raise _bad("; ".join(parts) or "duplicate edges")
    _node(nodes, "output", "Output")
    return nodes, reset, n_phi, n_rho, has_jet


def _read_inputs(nodes: dict[str, Any], has_jet: bool) -> tuple[int, int, int]:
    """(particle slots P, features per particle, jet-level inputs) from the Input nodes."""
    shape = _input_shape(nodes, "particles")
    if len(shape) != 2:
        raise _bad(f"Input 'particles' has shape {shape}, expected [P, F]")
    P, F_in = shape
    if _input_shape(nodes, "padding") != (P, 1):
        raise _bad(f"Input 'padding' has shape {_input_shape(nodes, 'padding')}, expected ({P}, 1)")
    G = 0
    if has_jet:
        gs = _input_shape(nodes, "jet")
        if len(gs) != 1:
            raise _bad(f"Input 'jet' has shape {gs}, expected [n_global]")
        G = gs[0]

    return P, F_in, G


def padded_neurons(nodes: dict[str, Any], name: str, reset: str, lead: tuple[int, ...], bias: np.ndarray,
                   step: float) -> tuple[np.float32, float]:
    """(threshold, v_init) of a per-copy spiking layer (:func:`_neurons`) whose ``{name}_pad`` inhibition is
    checked against the layer's ``bias`` (a padded copy must never spike)."""
    n = bias.shape[0]
    wp, bp = _affine(nodes, f"{name}_pad", lead, n, 1)
    th, vi = _neurons(nodes, name, reset, lead, n, step)
    if bp.any() or not np.all(bias + wp[:, 0] <= 0):
        raise _bad(f"node {name + '_pad'!r}: the padding weights must be <= -bias (bias 0), else a padded slot "
                   "can spike")
    return th, vi


def _read_layers(nodes: dict[str, Any], reset: str, n_phi: int, n_rho: int, P: int, F_in: int, G: int,
                 step: float) -> tuple[list[int], list[int], list[tuple[np.ndarray, np.ndarray]], list[np.float32],
                                       list[float]]:
    """(phi sizes, rho sizes, per-layer (weight, bias), thresholds, v_init fractions) from the layers' nodes."""
    phi_names, _ = _layer_names(n_phi, n_rho - 1)
    weights: list[tuple[np.ndarray, np.ndarray]] = []
    ths: list[np.float32] = []
    v_inits: list[float] = []
    sizes = [F_in]
    for name in phi_names:
        wt, bs = _affine(nodes, f"{name}_affine", P, None, sizes[-1])
        n = wt.shape[0]
        th, vi = padded_neurons(nodes, name, reset, (P,), bs, step)
        weights.append((wt, bs))
        ths.append(th)
        v_inits.append(vi)
        sizes.append(n)
    rho_sizes, rho_w, rho_ths, rho_v = read_readout(nodes, reset, n_rho, P, sizes[-1], G, step)
    return sizes, rho_sizes, [*weights, *rho_w], [*ths, *rho_ths], [*v_inits, *rho_v]


def read_readout(nodes: dict[str, Any], reset: str, n_rho: int, P: int, n_pool: int, G: int, step: float,
                 prefix: str = "rho") -> tuple[list[int], list[tuple[np.ndarray, np.ndarray]], list[np.float32],
                                                list[float]]:
    """(read-out sizes, per-layer (weight, bias), thresholds, v_init fractions) of :func:`readout_nodes`'
    nodes, the tiled pooling and the output's shape checked."""
    ths: list[np.float32] = []
    v_inits: list[float] = []
    fl = _node(nodes, "pool_flatten", "Flatten")
    fin = tuple(int(x) for x in np.asarray((fl.input_type or {}).get("input", ())).reshape(-1))
    if fin != (P, n_pool) or int(fl.start_dim) != 0 or int(fl.end_dim) not in (-1, 1):
        raise _bad(f"node 'pool_flatten' must flatten [{P}, {n_pool}] from dim 0 to -1, got {fin} "
                   f"{fl.start_dim}..{fl.end_dim}")
    wt, b0 = _affine(nodes, f"{prefix}0_affine", None, None, P * n_pool)
    blocks = wt.reshape(wt.shape[0], P, n_pool)
    if not np.all(blocks == blocks[:, :1]):
        raise _bad(f"node '{prefix}0_affine': its weight is not one [out, n] block tiled over the particle slots "
                   "(sum pooling)")
    w_rho0 = blocks[:, 0]
    h0 = w_rho0.shape[0]
    if G:
        u, bu = _affine(nodes, "jet_affine", None, h0, G)
        w_rho0 = np.concatenate([w_rho0, u], 1)
        b0 = b0 + bu
    rho_w = [(w_rho0, b0)]
    rho_sizes = [n_pool + G, h0]
    for j in range(n_rho - 1):
        th, vi = _neurons(nodes, f"{prefix}{j}", reset, (), rho_sizes[-1], step)
        ths.append(th)
        v_inits.append(vi)
        wt, bs = _affine(nodes, f"{prefix}{j + 1}_affine", None, None, rho_sizes[-1])
        rho_w.append((wt, bs))
        rho_sizes.append(wt.shape[0])
    out_t = (_node(nodes, "output", "Output").output_type or {}).get("output")
    if out_t is not None and tuple(int(x) for x in np.asarray(out_t).reshape(-1)) != (rho_sizes[-1],):
        raise _bad(f"Output has shape {tuple(np.asarray(out_t).reshape(-1))}, the read-out layer {rho_sizes[-1]}")
    return rho_sizes, rho_w, ths, v_inits


def _read_v_init(v_inits: list[float], spec: dict[str, Any]) -> float:
    """The one initial-membrane fraction of every layer (the spec's exact value when it agrees)."""
    if max(v_inits) - min(v_inits) > V_INIT_ATOL:
        raise _bad(f"its layers start at different fractions of their thresholds ({min(v_inits):g}..{max(v_inits):g})")
    v_init = v_inits[0]
    if "v_init" in spec:
        if abs(float(spec["v_init"]) - v_init) > V_INIT_ATOL:
            raise _bad(f"its spikejet_spec says v_init {spec['v_init']} but its thresholds are shifted by {v_init:g}")
        v_init = float(spec["v_init"])
    elif abs(v_init) <= V_INIT_ATOL:
        v_init = 0.0
    return v_init


def read_header(graph: Any, dt: float | None, source: str) -> tuple[dict[str, Any], float, dict[str, Any]]:
    """(metadata, time step, ``spikejet_spec``) of a graph that a spikejet exporter of ``source`` wrote:
    a ``nir.NIRGraph`` whose spec names no other source (one :class:`ModelError` line otherwise)."""
    if not isinstance(graph, _nir().NIRGraph):
        raise ModelError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    meta = dict(getattr(graph, "metadata", None) or {})
    step = _graph_dt(meta, dt)
    spec = _spikejet_spec(meta)
    named = (spec.get("meta") or {}).get("source")
    if named is not None and named != source:
        raise _bad(f"its spikejet_spec says it is a {named!r} export")
    return meta, step, spec


def deepsets_from_nir(graph: Any, *, dt: float | None = None) -> Any:
    """A :class:`~spikejet.snn.particle.SpikingDeepSets` rebuilt from a graph of :func:`deepsets_to_nir`'s
    shape: weights, biases, thresholds and the initial membrane from the nodes (``v_init``: from the
    threshold's shift, the spec's value when they agree), the surrogate settings (irrelevant to the
    forward pass) from the ``spikejet_spec``. The structure is checked (node types, edges, per-slot
    copies equal, the pooling blocks tiled, the reset weights ``-theta * identity``, the padding weights
    strong enough); anything else is one :class:`ModelError` line. ``net.meta`` gets ``n_particles``
    and ``class_names``."""
    import torch

    from ..snn.particle import SpikingDeepSets, SpikingDeepSetsOptions

    meta, step, spec = read_header(graph, dt, SOURCE)
    nodes, reset, n_phi, n_rho, has_jet = _read_structure(graph, spec)
    P, F_in, G = _read_inputs(nodes, has_jet)
    phi_sizes, rho_sizes, layer_wb, ths, v_inits = _read_layers(nodes, reset, n_phi, n_rho, P, F_in, G, step)
    v_init = _read_v_init(v_inits, spec)
    opts = dict(((spec.get("meta") or {}).get("arch") or {}).get("options") or {})
    opts.update(neuron="if", reset=reset, v_init=v_init)
    try:
        options = SpikingDeepSetsOptions(**opts)
        net = SpikingDeepSets(phi_sizes, rho_sizes, G, options, thresholds=[float(t) for t in ths])
    except (ConfigError, TypeError) as exc:
        raise _bad(f"it does not make a valid network ({exc})") from None
    with torch.no_grad():
        for lin, (wt, bs) in zip([*net.phi, *net.rho], layer_wb, strict=True):
            lin.weight.copy_(torch.as_tensor(wt, dtype=torch.float32))
            lin.bias.copy_(torch.as_tensor(bs, dtype=torch.float32))
    _exact_log_thresholds(net, ths)
    net.meta = {"imported_from": "nir", "n_particles": P, "class_names": list(spec.get("class_names") or []),
                "semantic_changes": _meta_value(meta, "semantic_changes") or "none"}
    net.eval()
    return net


def read_deepsets_nir(path: str | os.PathLike[str], *, dt: float | None = None) -> Any:
    """Read a ``.nir`` file of :func:`deepsets_to_nir`'s shape into a SpikingDeepSets (:func:`deepsets_from_nir`);
    a missing or unreadable file is one ModelError line (:func:`~spikejet.interop.nir.read_graph`)."""
    return deepsets_from_nir(read_graph(path), dt=dt)
