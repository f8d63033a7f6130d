"""NIR export and read-back of the spiking interaction network (:class:`spikejet.snn.interaction.SpikingInteractionNet`).

The conventions, node kinds and helpers are the spiking deep sets' (:mod:`spikejet.interop.nir_deepsets`:
forward Euler with step ``dt``, NIR's strict threshold written as the largest float32 below spikejet's,
the initial membrane as a voltage shift, reset by subtraction as ``I -> Threshold`` with the recurrent
``Affine(-theta identity)``, per-copy layers as Affines with the shared weight repeated per copy,
padded copies inhibited by an ``Affine`` from a padding input, the sum over particles as
``pool_flatten`` + an Affine with the pooled columns tiled). For ``P = n_particles`` slots, pairs are
laid out ``[P, P - 1]``: receiver ``i``, and its ``k``-th sender ``j = k + (k >= i)`` (every other
slot in increasing order; :func:`pair_senders`)::

    receivers [P, P-1, F]    -> edge0_recv (Affine, W_r, bias b) ---+
    senders   [P, P-1, F]    -> edge0_send (Affine, W_s, bias 0) ---+-> edge0 neurons -> edge1_affine -> ...
    pair_padding [P, P-1, 1] -> edgeK_pad (one per edge layer)  -----+
    edge{last} neurons -> aggregate_flatten [P, (P-1) h] -> node0_edges (W_e tiled P-1 times) --+
    particles [P, F]   -> node0_affine (W_x, bias) ---------------------------------------------+-> node0 neurons
    padding   [P, 1]   -> nodeK_pad (one per node layer) -> nodeK neurons -> node1_affine -> ...
    node{last} neurons -> pool_flatten [P n] -> cls0_affine (W_pool tiled P times, bias) -> cls0 neurons
    jet [n_global]     -> jet_affine (U, bias 0) -> cls0 neurons
    cls0 neurons -> cls1_affine -> ... -> output

Why the pairs are an input. A NIR ``Affine`` keeps its input's leading axes and ``Flatten`` only merges
axes, so no node of nir 1.0.8 turns a ``[P, F]`` input into a ``[P, P - 1, ...]`` pair layout (a dense
selection Affine from the flattened particles would be a ``[P (P-1) h0, P F]`` matrix per projection and
the pair layers after it dense block-diagonal matrices: hundreds of MB). And a pair with one padded slot
must not spike although its real partner's ``W_r x_i`` (or ``W_s x_j``) is unbounded: a linear
inhibition cannot bound it, zero features can. So the host lays the pairs out
(:func:`interaction_nir_inputs`: ``receivers[i, k] = x_i``, ``senders[i, k] = x_j``, both zero unless
both slots are real; ``pair_padding[i, k] = 1`` unless both are), which is a copy, not arithmetic:
the receiver and sender projections ``W_r x_i + W_s x_j + b`` are the graph's two Affines (on Loihi:
the two synapse groups from the particles' graded spikes, :mod:`spikejet.hardware.loihi.interaction`).

Padded pairs and particles: the deep sets' proof holds copy by copy (features zero; the layer below
silent; for node layer 0, every pair of a padded receiver is padded, so its aggregated input is 0): the
inhibition ``-2 (max(0, max b) + theta)`` keeps the copy's shifted membrane ``<= 0``. The aggregation
at the receiver (sum over senders) and the pooling over particles are Affines whose weights are one
block tiled over the summed copies (the read-back checks the tiling).

Output: the classifier's output current every step; the logits are its mean over the T steps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelError
from . import nir_deepsets as nd
from .nir import _meta_value, _nir, read_graph, write_nir

__all__ = ["SOURCE", "interaction_to_nir", "interaction_from_nir", "write_interaction_nir", "read_interaction_nir",
           "interaction_nir_inputs", "pair_senders"]

#: ``spikejet_spec["meta"]["source"]`` of an interaction-network export.
SOURCE = "spiking_interaction"
_F32 = np.float32
_DS_BAD = str(nd._bad(""))
_BAD = "the NIR graph is not a spiking interaction-network export: "


def pair_senders(P: int) -> np.ndarray:
    """``[P, P - 1]``: the sender slot of pair ``(i, k)`` -- every slot but ``i``, in increasing order."""
    k = np.arange(P - 1)[None, :]
    return k + (k >= np.arange(P)[:, None])


def interaction_nir_inputs(x: np.ndarray, mask: np.ndarray, g: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The graph's inputs (every step) of jets ``x [B, P, F]``, ``mask [B, P]`` (and ``g [B, G]``): the
    particles and padding as the deep sets', the pairs' receiver and sender features (zero unless both
    slots are real) and ``pair_padding`` (module docstring)."""
    x, mask = np.asarray(x, dtype=_F32), np.asarray(mask, dtype=bool)
    snd = pair_senders(x.shape[1])
    pm = (mask[:, :, None] & mask[:, snd])[..., None]  # [B, P, P-1, 1]
    out = {"particles": np.where(mask[..., None], x, 0).astype(_F32),
           "padding": (~mask)[..., None].astype(_F32),
           "receivers": np.where(pm, x[:, :, None, :], 0).astype(_F32),
           "senders": np.where(pm, x[:, snd, :], 0).astype(_F32),
           "pair_padding": (~pm).astype(_F32)}
    if g is not None:
        out["jet"] = np.asarray(g, dtype=_F32)
    return out


# --------------------------------------------------------------------------- structure (writer and reader)


def _names(n_edge: int, n_node: int) -> tuple[list[str], list[str]]:
    return [f"edge{k}" for k in range(n_edge)], [f"node{k}" for k in range(n_node)]



def _padded_chain(keys: list[str], edges: list[tuple[str, str]], names: Sequence[str], prev: str | None,
                  first: str, second_input: str, padding: str, reset: str) -> str:
    """The keys and edges of a chain of padded spiking layers ``names`` (the edge layers or the node layers):
    layer 0 driven by ``first`` and ``second_input``, layer ``k > 0`` by ``<name>_affine`` of the previous
    layer's output, each with its ``<name>_pad`` Affine of the ``padding`` input. Returns the last output."""
    for k, name in enumerate(names):
        src = first if k == 0 else f"{name}_affine"
        if k:
            keys.append(src)
            edges.append((prev, src))
        keys.append(f"{name}_pad")
        edges.append((padding, f"{name}_pad"))
        prev = nd.spiking_structure(keys, edges, name, src, reset)
        target = nd._neuron_keys(name, reset)[0]
        edges += [(f"{name}_pad", target)] + ([(second_input, target)] if k == 0 else [])
    return prev

def _structure(n_edge: int, n_node: int, n_cls: int, reset: str,
               has_jet: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """(node keys, edges) of the graph of ``n_edge`` pair, ``n_node`` node and ``n_cls`` classifier layers."""
    edge, node = _names(n_edge, n_node)
    keys = ["particles", "padding", "receivers", "senders", "pair_padding"] + (["jet", "jet_affine"] if has_jet else [])
    edges: list[tuple[str, str]] = []
    keys += ["edge0_recv", "edge0_send"]
    edges += [("receivers", "edge0_recv"), ("senders", "edge0_send")]
    prev = _padded_chain(keys, edges, edge, None, "edge0_recv", "edge0_send", "pair_padding", reset)
    keys += ["aggregate_flatten", "node0_edges", "node0_affine"]
    edges += [(prev, "aggregate_flatten"), ("aggregate_flatten", "node0_edges"), ("particles", "node0_affine")]
    prev = _padded_chain(keys, edges, node, prev, "node0_affine", "node0_edges", "padding", reset)
    nd.readout_structure(keys, edges, prev, n_cls, reset, has_jet, prefix="cls")
    return keys, edges


# --------------------------------------------------------------------------- export


def _check_net(net: Any) -> None:
    from ..snn.interaction import SpikingInteractionNet

    if not isinstance(net, SpikingInteractionNet):
        raise ModelError(f"expected a SpikingInteractionNet, got {type(net).__name__}")
    nd.check_options(net, "spiking interaction network", "snn_interaction")


def _per_copy(nodes: dict[str, Any], key: str, w: np.ndarray, b: np.ndarray | None, lead: tuple[int, ...],
              layer: str, **meta: Any) -> None:
    """An Affine applying ``w`` (``[out, in]``) to every copy (``lead`` axes; bias ``b`` or 0)."""
    n = w.shape[0]
    bias = np.zeros(n, _F32) if b is None else b
    nodes[key] = _nir().Affine(weight=np.broadcast_to(w, (*lead, *w.shape)).copy(),
                               bias=np.broadcast_to(bias, (*lead, n)).copy(), metadata={"spikejet_layer": layer, **meta})


def _spiking_copies(nodes: dict[str, Any], name: str, bias: np.ndarray, th: np.float32, v0: np.float32, reset: str,
                    v_init: float, lead: tuple[int, ...], dt: float) -> None:
    """A per-copy spiking layer's padding inhibition and neuron nodes."""
    n = bias.shape[0]
    nodes[f"{name}_pad"] = _nir().Affine(weight=np.full((*lead, n, 1), nd.padding_weight(bias, th), _F32),
                                         bias=np.zeros((*lead, n), _F32),
                                         metadata={"spikejet_layer": name, "spikejet_padding": True})
    nd._neuron_nodes(nodes, name, th, v0, reset, v_init, lead, n, dt)


def _wb(lin: Any) -> tuple[np.ndarray, np.ndarray | None]:
    b = None if lin.bias is None else lin.bias.detach().numpy().astype(_F32)
    return lin.weight.detach().numpy().astype(_F32), b


def _pair_and_node_nodes(nodes: dict[str, Any], net: Any, P: int, ths: list[np.float32], v0s: list[np.float32],
                         dt: float) -> None:
    """The edge layers on the ``[P, P - 1]`` pairs, the aggregation at the receiver and the node layers."""
    nir, o, F, pairs = _nir(), net.options, net.n_in, (P, P - 1)
    (w_r, b_r), (w_s, _) = _wb(net.recv), _wb(net.send)
    _per_copy(nodes, "edge0_recv", w_r, b_r, pairs, "edge0", spikejet_projection="receiver")
    _per_copy(nodes, "edge0_send", w_s, None, pairs, "edge0", spikejet_projection="sender")
    _spiking_copies(nodes, "edge0", b_r, ths[0], v0s[0], o.reset, o.v_init, pairs, dt)
    for k, lin in enumerate(net.edge, start=1):
        w, b = _wb(lin)
        _per_copy(nodes, f"edge{k}_affine", w, b, pairs, f"edge{k}")
        _spiking_copies(nodes, f"edge{k}", b, ths[k], v0s[k], o.reset, o.v_init, pairs, dt)
    h_e, n_e = net.edge_sizes[-1], net.n_edge
    nodes["aggregate_flatten"] = nir.Flatten(input_type={"input": np.array([P, P - 1, h_e])}, start_dim=1, end_dim=2)
    w0, b0 = _wb(net.node[0])
    _per_copy(nodes, "node0_edges", np.tile(w0[:, F:], (1, P - 1)), None, (P,), "node0",
              spikejet_aggregation="sum over senders")
    _per_copy(nodes, "node0_affine", np.ascontiguousarray(w0[:, :F]), b0, (P,), "node0")
    _spiking_copies(nodes, "node0", b0, ths[n_e], v0s[n_e], o.reset, o.v_init, (P,), dt)
    for k in range(1, net.n_node):
        w, b = _wb(net.node[k])
        _per_copy(nodes, f"node{k}_affine", w, b, (P,), f"node{k}")
        _spiking_copies(nodes, f"node{k}", b, ths[n_e + k], v0s[n_e + k], o.reset, o.v_init, (P,), dt)


def _inputs_text(P: int, F: int, G: int) -> str:
    return (f"particles [{P}, {F}]: standardized particle features (zero in padded slots), padding [{P}, 1]: 1 for "
            f"a padded slot, 0 for a real particle; receivers and senders [{P}, {P - 1}, {F}]: the features of "
            f"pair (i, k)'s receiver i and sender j = k + (k >= i), zero unless both slots are real; pair_padding "
            f"[{P}, {P - 1}, 1]: 0 for a pair of real particles, else 1"
            + (f"; jet [{G}]: standardized jet-level features" if G else "") + "; constant every step")


def interaction_to_nir(net: Any, n_particles: int, *, class_names: Sequence[str] = ()) -> Any:
    """A ``nir.NIRGraph`` computing what ``net`` (a SpikingInteractionNet with IF neurons) computes, for
    ``n_particles >= 2`` slots (module docstring; its inputs: :func:`interaction_nir_inputs`). LIF
    neurons: :class:`ConfigError`."""
    import torch

    from ..snn.neurons import DEFAULT_DT

    nir = _nir()
    _check_net(net)
    P = int(n_particles)
    if P < 2 or P != n_particles:
        raise ConfigError(f"n_particles must be an integer >= 2 (pairs need two slots), got {n_particles!r}")
    dt, o, F, G = float(DEFAULT_DT), net.options, net.n_in, net.n_global
    with torch.no_grad():
        ths_t = net.thresholds().detach().to(torch.float32)
        v0s = [_F32((ths_t[i] * o.v_init).item()) for i in range(net.n_spiking)]  # as forward computes it
    ths = [_F32(t) for t in ths_t.numpy()]
    nodes: dict[str, Any] = {
        "particles": nir.Input(input_type={"input": np.array([P, F])}),
        "padding": nir.Input(input_type={"input": np.array([P, 1])}),
        "receivers": nir.Input(input_type={"input": np.array([P, P - 1, F])}),
        "senders": nir.Input(input_type={"input": np.array([P, P - 1, F])}),
        "pair_padding": nir.Input(input_type={"input": np.array([P, P - 1, 1])}),
    }
    _pair_and_node_nodes(nodes, net, P, ths, v0s, dt)
    k0 = net.n_edge + net.n_node
    nd.readout_nodes(nodes, net.classifier, P, net.node_sizes[-1], G, ths[k0:], v0s[k0:], o.reset, o.v_init, dt,
                     prefix="cls")
    n_cls = len(net.classifier)
    keys, edges = _structure(net.n_edge, net.n_node, n_cls, o.reset, bool(G))
    assert sorted(keys) == sorted(nodes), (sorted(keys), sorted(nodes))
    edge, node = _names(net.n_edge, net.n_node)
    names = [*edge, *node, *(f"cls{j}" for j in range(n_cls))]
    meta = nd._graph_metadata(net, P, class_names, names, dt, source=SOURCE, inputs=_inputs_text(P, F, G))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_interaction_nir(path: str | os.PathLike[str], net: Any, n_particles: int | None = None, *,
                          class_names: Sequence[str] = ()) -> Path:
    """Export ``net`` (a SpikingInteractionNet, or a ready graph of :func:`interaction_to_nir`) to a ``.nir``
    file, atomically (:func:`~spikejet.interop.nir.write_nir`)."""
    if isinstance(net, _nir().NIRGraph):
        return write_nir(path, net)
    if n_particles is None:
        raise ConfigError("write_interaction_nir needs n_particles for a network (the graph has fixed slots)")
    return write_nir(path, interaction_to_nir(net, n_particles, class_names=class_names))


# --------------------------------------------------------------------------- import


def _read_structure(graph: Any, spec: dict[str, Any]) -> tuple[dict[str, Any], str, int, int, int, bool]:
    """(nodes, reset, edge, node and classifier layers, has jet input) of a graph of :func:`interaction_to_nir`'s
    shape (node keys and edges compared), else one ModelError line."""
    nodes = dict(graph.nodes)
    reset = "zero" if "edge0_if" in nodes else "subtract" if "edge0_integrator" in nodes else None
    if reset is None:
        raise nd._bad("it has neither 'edge0_integrator' (reset by subtraction) nor 'edge0_if' (reset to zero)")
    if spec.get("reset") not in (None, reset):
        raise nd._bad(f"its spikejet_spec says reset {spec.get('reset')!r} but its nodes reset by {reset!r}")
    counts = []
    for prefix in ("edge", "node", "cls"):
        n = 1
        while f"{prefix}{n}_affine" in nodes:
            n += 1
        counts.append(n)
    has_jet = "jet" in nodes
    keys, edges = _structure(*counts, reset, has_jet)
    missing, extra = sorted(set(keys) - set(nodes)), sorted(set(nodes) - set(keys))
    if missing or extra:
        raise nd._bad("; ".join(([f"missing nodes {', '.join(missing)}"] if missing else [])
                                + ([f"unexpected nodes {', '.join(extra)}"] if extra else [])))
    got = [(str(a), str(b)) for a, b in graph.edges]
    if len(set(got)) != len(got) or set(got) != set(edges):
        lost, odd = sorted(set(edges) - set(got)), sorted(set(got) - set(edges))
        parts = ([f"missing edges {', '.join(f'{a}->{b}' for a, b in lost)}"] if lost else []) + \
                ([f"unexpected edges {', '.join(f'{a}->{b}' for a, b in odd)}"] if odd else [])
        raise nd._bad("; ".join(parts) or "duplicate edges")
    nd._node(nodes, "output", "Output")
    return nodes, reset, *counts, has_jet


def _read_inputs(nodes: dict[str, Any], has_jet: bool) -> tuple[int, int, int]:
    """(P, F, G) from the deep sets' inputs, the pair inputs' shapes checked against them."""
    P, F, G = nd._read_inputs(nodes, has_jet)
    for key, want in (("receivers", (P, P - 1, F)), ("senders", (P, P - 1, F)), ("pair_padding", (P, P - 1, 1))):
        if nd._input_shape(nodes, key) != want:
            raise nd._bad(f"Input {key!r} has shape {nd._input_shape(nodes, key)}, expected {want}")
    if P < 2:
        raise nd._bad(f"it has {P} particle slot(s); pairs need two")
    return P, F, G


def _no_bias(nodes: dict[str, Any], key: str, b: np.ndarray) -> None:
    if b.any():
        raise nd._bad(f"node {key!r} must have bias 0 (the layer's bias is in its other Affine)")


def _read_pairs_nodes(nodes: dict[str, Any], reset: str, n_e: int, n_n: int, P: int, F: int,
                      step: float) -> tuple[list[int], list[int], list[np.ndarray], list[np.float32], list[float]]:
    """(edge sizes, node sizes, [W_r, b, W_s, then (weight, bias) per later layer], thresholds, v_inits)."""
    pairs, ths, v_inits = (P, P - 1), [], []

    def spiking(name: str, lead: tuple[int, ...], bias: np.ndarray) -> None:
        th, vi = nd.padded_neurons(nodes, name, reset, lead, bias, step)
        ths.append(th)
        v_inits.append(vi)

    w_r, b_r = nd._affine(nodes, "edge0_recv", pairs, None, F)
    w_s, b_s = nd._affine(nodes, "edge0_send", pairs, w_r.shape[0], F)
    _no_bias(nodes, "edge0_send", b_s)
    spiking("edge0", pairs, b_r)
    params, edge = [w_r, b_r, w_s], [2 * F, w_r.shape[0]]
    for k in range(1, n_e):
        w, b = nd._affine(nodes, f"edge{k}_affine", pairs, None, edge[-1])
        spiking(f"edge{k}", pairs, b)
        params += [w, b]
        edge.append(w.shape[0])
    h_e = edge[-1]
    fl = nd._node(nodes, "aggregate_flatten", "Flatten")
    fin = tuple(int(x) for x in np.asarray((fl.input_type or {}).get("input", ())).reshape(-1))
    if fin != (P, P - 1, h_e) or int(fl.start_dim) != 1 or int(fl.end_dim) not in (-1, 2):
        raise nd._bad(f"node 'aggregate_flatten' must flatten [{P}, {P - 1}, {h_e}] from dim 1 to 2, got {fin} "
                      f"{fl.start_dim}..{fl.end_dim}")
    w_x, b0 = nd._affine(nodes, "node0_affine", P, None, F)
    w_agg, b_agg = nd._affine(nodes, "node0_edges", P, w_x.shape[0], (P - 1) * h_e)
    _no_bias(nodes, "node0_edges", b_agg)
    blocks = w_agg.reshape(w_agg.shape[0], P - 1, h_e)
    if not np.all(blocks == blocks[:, :1]):
        raise nd._bad("node 'node0_edges': its weight is not one [out, n] block tiled over the senders (sum at "
                      "the receiver)")
    spiking("node0", (P,), b0)
    params += [np.concatenate([w_x, blocks[:, 0]], 1), b0]
    node = [F + h_e, w_x.shape[0]]
    for k in range(1, n_n):
        w, b = nd._affine(nodes, f"node{k}_affine", P, None, node[-1])
        spiking(f"node{k}", (P,), b)
        params += [w, b]
        node.append(w.shape[0])
    return edge, node, params, ths, v_inits


def _read(graph: Any, dt: float | None) -> tuple[Any, ...]:
    meta, step, spec = nd.read_header(graph, dt, SOURCE)
    nodes, reset, n_e, n_n, n_c, has_jet = _read_structure(graph, spec)
    P, F, G = _read_inputs(nodes, has_jet)
    edge, node, params, ths, v_inits = _read_pairs_nodes(nodes, reset, n_e, n_n, P, F, step)
    cls, cls_wb, cls_ths, cls_v = nd.read_readout(nodes, reset, n_c, P, node[-1], G, step, prefix="cls")
    v_init = nd._read_v_init([*v_inits, *cls_v], spec)
    return meta, spec, reset, P, G, edge, node, cls, params, cls_wb, [*ths, *cls_ths], v_init


def interaction_from_nir(graph: Any, *, dt: float | None = None) -> Any:
    """A :class:`~spikejet.snn.interaction.SpikingInteractionNet` rebuilt from a graph of
    :func:`interaction_to_nir`'s shape (weights, biases, thresholds, the initial membrane from the nodes; the
    surrogate settings from the ``spikejet_spec``), its structure checked (node types, edges, copies equal,
    the aggregation and pooling blocks tiled, the reset and padding weights); anything else is one
    :class:`ModelError` line. ``net.meta`` gets ``n_particles`` and ``class_names``."""
    import torch

    from ..snn.interaction import SpikingInteractionNet
    from ..snn.particle import SpikingDeepSetsOptions

    try:
        meta, spec, reset, P, G, edge, node, cls, params, cls_wb, ths, v_init = _read(graph, dt)
    except ModelError as exc:
        raise ModelError(str(exc).replace(_DS_BAD, _BAD)) from None
    opts = dict(((spec.get("meta") or {}).get("arch") or {}).get("options") or {})
    opts.update(neuron="if", reset=reset, v_init=v_init)
    try:
        net = SpikingInteractionNet(edge, node, cls, G, SpikingDeepSetsOptions(**opts), thresholds=[float(t) for t in ths])
    except (ConfigError, TypeError) as exc:
        raise ModelError(f"{_BAD}it does not make a valid network ({exc})") from None
    w_r, b_r, w_s, *rest = params
    tensors = [(net.recv.weight, w_r), (net.recv.bias, b_r), (net.send.weight, w_s)]
    pairs = [(rest[i], rest[i + 1]) for i in range(0, len(rest), 2)]
    for lin, (w, b) in zip([*net.edge, *net.node, *net.classifier], [*pairs, *cls_wb], strict=True):
        tensors += [(lin.weight, w), (lin.bias, b)]
    with torch.no_grad():
        for dst, src in tensors:
            dst.copy_(torch.as_tensor(src, dtype=torch.float32))
    nd._exact_log_thresholds(net, ths)
    net.meta = {"imported_from": "nir", "n_particles": P, "class_names": list(spec.get("class_names") or []),
                "semantic_changes": _meta_value(meta, "semantic_changes") or "none"}
    return net.eval()


def read_interaction_nir(path: str | os.PathLike[str], *, dt: float | None = None) -> Any:
    """Read a ``.nir`` file of :func:`interaction_to_nir`'s shape into a SpikingInteractionNet
    (:func:`interaction_from_nir`); a missing or unreadable file is one ModelError line."""
    return interaction_from_nir(read_graph(path), dt=dt)
