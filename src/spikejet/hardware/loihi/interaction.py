"""The spiking interaction network on Loihi 2: pair layers, aggregation, node layers, pooling, classifier.

The float network is :class:`spikejet.snn.interaction.SpikingInteractionNet` (read by attribute:
``recv``/``send``/``edge``/``node``/``classifier`` linear layers, ``thresholds()``, ``options``;
this module imports no torch). Its integer twin uses the deep sets' pieces
(:mod:`~spikejet.hardware.loihi.deepsets`: the checks, :func:`~.deepsets.map_gathering_layer`,
:func:`~.deepsets.map_readout`, :func:`~.deepsets.readout_step`) and the mapper of
:mod:`~spikejet.hardware.loihi.mapping`:

* edge layer 0, one set of compartments per ordered pair ``(i, j)`` of slots, ``i != j``: every
  real particle's standardized features arrive once as graded spikes (``graded_once``, as the deep
  sets' ``phi[0]``); particle ``i``'s input axons reach the pairs where it is the receiver through
  one synapse group (``W_r``) and the pairs where it is the sender through another (``W_s``), both
  on the pair compartments, whose dendrite sums the two groups. The two groups are mapped together
  as one ``[h0, 2F]`` layer (one voltage scale and weight exponent; its worst-case current is the
  sum of both groups' at full payload), each group's accumulation shifted by that exponent and the
  two added. The current holds the input (``du = 0``, ``hold_input``): ``W_r x_i + W_s x_j + b``
  constant over the steps, as the float model's;
* edge layers 1..: IF compartments per pair fed by the same pair's binary spikes;
* aggregation at the receiver: pair ``(i, j)``'s last-edge neuron ``k`` projects onto node layer
  0 of particle ``i`` with the same weights ``W_e[:, k]`` for every sender ``j`` (the sum over
  senders is the fan-in; computed as ``W_e`` times the counts, the same integers);
* node layer 0 also needs ``W_x x_i``, a constant part of a current that changes every step (the
  aggregated spikes): a compartment without a synaptic filter takes its current afresh every step,
  so the particle's features are re-sent every step as graded spikes (``graded_every_step``)
  through a synapse group of its own with its own weight exponent -- exactly the deep sets'
  ``rho[0]`` with its jet features (:func:`~.deepsets.map_gathering_layer`);
* node layers 1..: IF compartments per particle slot; the sum over particles and the classifier
  are the deep sets' read-out (:func:`~.deepsets.map_readout`: the pooled counts, the jet-level
  inputs as graded spikes every step in their own group, a non-spiking output read by a voltage
  probe: ``v_T / (s T)`` is the float model's mean output current).

Propagation within the step (axon delay 0), reset by subtraction (Loihi 2). Pairs with a padded
slot and padded particles hold no neurons: their spikes are zeroed, as in the float model. (On a
chip, unlike the deep sets' empty slot -- whose compartments get no input at all --, a pair with one
real particle still receives that particle's graded spike: the host would configure the jet's
multiplicity, or drive the empty slot's pair compartments below threshold through an inhibitory
synapse group of a per-slot "empty" axon; the model does what either achieves.)

Resources: a pair layer is ``n_particles (n_particles - 1)`` copies of its neurons, a node layer
``n_particles`` copies. Synapses as :func:`~.deepsets.deepsets_resources` counts them: one matrix per
copy (``synapses``: node layer 0's aggregated columns stored once per sender, the classifier's
pooled columns once per slot), or one shared matrix (``synapses_shared``, Loihi 2's shared-weight
connectivity; the same caveat as the deep sets').

Synaptic operations: spikes x non-zero fan-out (the last edge layer's: node layer 0's aggregated
columns; the last node layer's: the classifier's pooled columns); graded input events x fan-out
apart as ``input_synops``: each real particle's non-zero payloads once onto the ``n_real - 1``
pairs where it is the receiver (``W_r`` group) and the ``n_real - 1`` where it is the sender
(``W_s`` group), its payloads every step onto its node layer 0 (``W_x`` group), the jet-level
inputs every step onto the classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import DataError
from .chip import LoihiLayer
from .compartment import compartment_init, compartment_step, synaptic_input
from .deepsets import (
    _neuron,
    check_mappable,
    gathered_input,
    map_gathering_layer,
    map_readout,
    readout_step,
)
from .mapping import (
    DEFAULT_INPUT_BITS,
    DEFAULT_INPUT_CLIP,
    FloatLayer,
    InputQuantization,
    LayerQuantization,
    _to_numpy,
    map_layer,
)
from .profiles import LoihiProfile

__all__ = ["InteractionMapping", "map_interaction", "simulate_interaction", "interaction_resources"]


@dataclass(frozen=True)
class InteractionMapping:
    """The chip integers of a spiking interaction network and how they were chosen."""

    #: ``edge[0].weight_mant`` is ``[h0, 2F]``: the receiver group (columns ``:F``), the sender group (``F:``).
    edge: tuple[LoihiLayer, ...]
    #: ``node[0].weight_mant`` is ``[n0, h_e + F]``: the aggregated edges (``:h_e``), the features' own group.
    node: tuple[LoihiLayer, ...]
    cls: tuple[LoihiLayer, ...]
    quantization: tuple[LayerQuantization, ...]
    input: InputQuantization
    node_input: InputQuantization
    global_input: InputQuantization | None
    n_features: int
    n_agg: int
    n_pooled: int
    profile: LoihiProfile
    readout_scale: float
    node_weight_exp: int | None = None
    node_weight_rel_rms_err: float = 0.0
    global_weight_exp: int | None = None
    global_weight_rel_rms_err: float = 0.0

    def report(self) -> dict[str, Any]:
        def group(e: int | None, err: float) -> dict[str, Any] | None:
            return None if e is None else {"weight_exp": e, "weight_rel_rms_err": err}

        return {"profile": self.profile.name, "input_quantization": self.input.as_dict(),
                "node_input_quantization": self.node_input.as_dict(),
                "global_input_quantization": None if self.global_input is None else self.global_input.as_dict(),
                "node_feature_synapses": group(self.node_weight_exp, self.node_weight_rel_rms_err),
                "global_synapses": group(self.global_weight_exp, self.global_weight_rel_rms_err),
                "layers": [q.as_dict() for q in self.quantization]}


def _w(lin: Any) -> np.ndarray:
    return _to_numpy(lin.weight).astype(np.float64)


def map_interaction(net: Any, *, n_particles: int, T: int, profile: str | LoihiProfile = "loihi2",
                    input_bits: int = DEFAULT_INPUT_BITS,
                    input_clip: float = DEFAULT_INPUT_CLIP) -> InteractionMapping:
    """Map the float spiking interaction network ``net`` onto Loihi integers (module docstring)."""
    prof = check_mappable(net, profile, "spiking interaction network")
    v0 = net.options.v_init
    ths = [float(t) for t in _to_numpy(net.thresholds())]
    P, T, F = int(n_particles), int(T), net.n_in
    iq = InputQuantization(bits=input_bits, clip=input_clip, mode="graded_once")
    nq = InputQuantization(bits=input_bits, clip=input_clip, mode="graded_every_step")
    gq = InputQuantization(bits=input_bits, clip=input_clip, mode="graded_every_step") if net.n_global else None
    n_e, n_n = net.n_edge, net.n_node
    w0 = np.concatenate([_w(net.recv), _w(net.send)], axis=1) * iq.step  # per payload unit
    first = FloatLayer(weight=w0, bias=_to_numpy(net.recv.bias), neuron=_neuron(ths[0], v0), name="edge0")
    chip, q = map_layer(first, profile=prof, axon_delay=0, max_payload=iq.max_payload, hold_input=True)
    edge, reports = [chip], [q]
    for k, lin in enumerate(net.edge, start=1):
        chip, q = map_layer(FloatLayer(weight=_w(lin), bias=_to_numpy(lin.bias), neuron=_neuron(ths[k], v0),
                                       name=f"edge{k}"), profile=prof, axon_delay=0)
        edge.append(chip)
        reports.append(q)
    h_e = net.edge_sizes[-1]
    wn = _w(net.node[0])
    node0 = FloatLayer(weight=np.concatenate([wn[:, F:], wn[:, :F]], axis=1), bias=_to_numpy(net.node[0].bias),
                       neuron=_neuron(ths[n_e], v0), name="node0")  # [aggregated edges | features]
    chip, q, n_exp, n_err = map_gathering_layer(node0, h_e, max(P - 1, 0), nq, prof, T)
    node, reports = [chip], [*reports, q]
    for k in range(1, n_n):
        lin = net.node[k]
        chip, q = map_layer(FloatLayer(weight=_w(lin), bias=_to_numpy(lin.bias), neuron=_neuron(ths[n_e + k], v0),
                                       name=f"node{k}"), profile=prof, axon_delay=0)
        node.append(chip)
        reports.append(q)
    n_pool = net.node_sizes[-1]
    cls, cls_reports, g_exp, g_err = map_readout(net.classifier, ths[n_e + n_n:], v0, n_pool, P, gq, prof, T, "cls")
    reports += cls_reports
    return InteractionMapping(edge=tuple(edge), node=tuple(node), cls=tuple(cls), quantization=tuple(reports),
                              input=iq, node_input=nq, global_input=gq, n_features=F, n_agg=h_e, n_pooled=n_pool,
                              profile=prof, readout_scale=reports[-1].scale, node_weight_exp=n_exp,
                              node_weight_rel_rms_err=n_err, global_weight_exp=g_exp, global_weight_rel_rms_err=g_err)


def _fans(mp: InteractionMapping) -> list[np.ndarray]:
    """Per spiking layer, the non-zero fan-out of each neuron (the synops of one spike)."""
    fans = [L.fan_out_per_input for L in mp.edge[1:]]
    fans.append(mp.node[0].fan_out_per_input[: mp.n_agg])
    fans += [L.fan_out_per_input for L in mp.node[1:]]
    fans.append(mp.cls[0].fan_out_per_input[: mp.n_pooled])
    return fans + [L.fan_out_per_input for L in mp.cls[1:]]


def _pair_mask(mb: np.ndarray) -> np.ndarray:
    """``[B, P, P, 1]``: an ordered pair (receiver, sender) of real particles, receiver != sender."""
    P = mb.shape[1]
    return (mb[:, :, None] & mb[:, None, :] & ~np.eye(P, dtype=bool))[..., None]


def _input_events(mp: InteractionMapping, q: np.ndarray, mb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(edge layer 0's dendritic sum ``[B, P, P, h0]`` of the step the inputs arrive, the synops of
    that delivery per jet): each particle's graded spikes through the receiver and sender groups."""
    B, P, F = q.shape
    L = mp.edge[0]
    flat = q.reshape(B * P, F)
    a_r = synaptic_input(flat, L.weight_mant[:, :F], L.weight_exp, max_payload=mp.input.max_payload)
    a_s = synaptic_input(flat, L.weight_mant[:, F:], L.weight_exp, max_payload=mp.input.max_payload)
    a = a_r.reshape(B, P, 1, -1) + a_s.reshape(B, 1, P, -1)
    fan = L.fan_out_per_input
    per_particle = ((flat != 0) @ (fan[:F] + fan[F:])).reshape(B, P)  # one pair as receiver + one as sender
    n_partners = np.maximum(mb.sum(1) - 1, 0)
    return a, per_particle.sum(1) * n_partners


def _spiking(layers: Any, states: list[Any], first: np.ndarray, fans: list[np.ndarray], mask: np.ndarray,
             syn: np.ndarray, spk: np.ndarray) -> np.ndarray:
    """One step of a chain of per-copy layers (``first``: layer 0's dendritic sum, ``[..., n]`` with the
    copies in the middle axes); spikes times ``mask``; synops and spikes per jet added in place."""
    s = None
    for i, L in enumerate(layers):
        a = first if i == 0 else synaptic_input(s.reshape(-1, s.shape[-1]), L.weight_mant, L.weight_exp,
                                                max_payload=1).reshape(*s.shape[:-1], -1)
        s, states[i] = compartment_step(a, states[i], L.compartment)
        s = s & mask
        c = s.reshape(s.shape[0], -1, s.shape[-1]).sum(1)
        syn += c @ fans[i]
        spk += c.sum(1)
    return s


def _simulate_batch(mp: InteractionMapping, x: np.ndarray, mb: np.ndarray, g: np.ndarray | None,
                    T: int) -> tuple[np.ndarray, ...]:
    B, P, F = x.shape
    q = mp.input.quantize(x.reshape(B * P, F)).reshape(B, P, F) * mb[..., None]
    qn = mp.node_input.quantize(x.reshape(B * P, F)) * mb.reshape(B * P, 1)
    qg = None if mp.global_input is None else mp.global_input.quantize(g)
    pm, m = _pair_mask(mb), mb[..., None]
    fans, n_e, n_n = _fans(mp), len(mp.edge), len(mp.node)
    st_e = [compartment_init((B, P, P, L.n_out), L.v_init) for L in mp.edge]
    st_n = [compartment_init((B, P, L.n_out), L.v_init) for L in mp.node]
    st_c = [compartment_init((B, L.n_out), L.v_init) for L in mp.cls]
    syn, spk = np.zeros(B), np.zeros(B)
    a_in, inp = _input_events(mp, q, mb)
    inp = inp.astype(np.float64)
    own = mp.node[0].fan_out_per_input[mp.n_agg:]
    for t in range(T):
        s = _spiking(mp.edge, st_e, a_in if t == 0 else np.zeros_like(a_in), fans[:n_e], pm, syn, spk)
        agg = s.sum(2).reshape(B * P, -1)  # at the receiver: counts over the senders
        a0 = gathered_input(mp.node[0], agg, qn, mp.n_agg, mp.node_input, mp.node_weight_exp).reshape(B, P, -1)
        inp = inp + ((qn != 0) @ own).reshape(B, P).sum(1)
        s = _spiking(mp.node, st_n, a0, fans[n_e:n_e + n_n], m, syn, spk)
        if qg is not None:
            inp = inp + (qg != 0) @ mp.cls[0].fan_out_per_input[mp.n_pooled:]
        readout_step(mp.cls, st_c, s.sum(1), qg, mp.n_pooled, mp.global_input, mp.global_weight_exp,
                     fans[n_e + n_n:], syn, spk)
    return st_c[-1].v / (mp.readout_scale * T), syn, spk, inp


def simulate_interaction(mp: InteractionMapping, x: np.ndarray, mask: np.ndarray, g: np.ndarray | None, T: int, *,
                         batch_size: int = 256) -> dict[str, np.ndarray]:
    """Numerical kernel: the integer network on jets ``x [n, P, F]``, ``mask [n, P]``, ``g [n, G]``.

    Returns ``logits [n, C]`` (the read-out voltage over ``s T``), ``synops [n]`` (spikes x non-zero
    fan-out), ``input_synops [n]`` (graded input events x fan-out, module docstring), ``spikes [n]``.
    """
    x, mask = np.asarray(x), np.asarray(mask, dtype=bool)
    if mp.global_input is not None and g is None:
        raise DataError("this network takes jet-level inputs (g)")
    outs = [_simulate_batch(mp, x[s:s + batch_size], mask[s:s + batch_size],
                            None if mp.global_input is None else np.asarray(g)[s:s + batch_size], int(T))
            for s in range(0, x.shape[0], batch_size)]
    return {k: np.concatenate([o[i] for o in outs]) for i, k in enumerate(("logits", "synops", "spikes",
                                                                           "input_synops"))}


def interaction_resources(mp: InteractionMapping, n_particles: int) -> dict[str, Any]:
    """Compartments, synapses (one matrix per copy, or shared) and cores of the mapped network."""
    prof, P = mp.profile, int(n_particles)
    pairs = P * (P - 1)
    rows = []
    for L in mp.edge:
        rows.append({"name": L.name, "compartments": L.n_out * pairs, "synapses": L.synapses * pairs,
                     "synapses_shared": L.synapses})
    for k, L in enumerate(mp.node):
        per = L.synapses
        if k == 0:  # every sender's pair projects onto its receiver: the aggregated columns once per sender
            nz_agg = int(np.count_nonzero(L.weight_mant[:, :mp.n_agg]))
            per += nz_agg * (max(P - 1, 0) - 1)
        rows.append({"name": L.name, "compartments": L.n_out * P, "synapses": per * P, "synapses_shared": L.synapses})
    for j, L in enumerate(mp.cls):
        pooled = int(np.count_nonzero(L.weight_mant[:, :mp.n_pooled])) if j == 0 else 0
        rows.append({"name": L.name, "compartments": L.n_out, "synapses": L.synapses + pooled * (P - 1),
                     "synapses_shared": L.synapses})
    for r in rows:
        r["cores"] = math.ceil(r["compartments"] / prof.compartments_per_core)
    out = {k: sum(r[k] for r in rows) for k in ("compartments", "synapses", "synapses_shared", "cores")}
    out.update(profile=prof.name, chips=math.ceil(out["cores"] / prof.cores_per_chip), layers=rows,
               compartments_per_core=prof.compartments_per_core, pairs=pairs)
    return out
