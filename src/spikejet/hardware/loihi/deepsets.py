"""The spiking deep sets on Loihi 2: per-particle layers, sum pooling, read-out, all in chip integers.

The float network is :class:`spikejet.snn.particle.SpikingDeepSets` (read by attribute here:
``phi``/``rho`` linear layers, ``thresholds()``, ``options``; this module imports no torch). Its
integer twin, layer by layer, with the mapper of :mod:`~spikejet.hardware.loihi.mapping`
(per-layer voltage scale, 8-bit weight mantissas, 13-bit biases, 17-bit thresholds):

* ``phi[0]``: every real particle's standardized features arrive once as graded spikes
  (Loihi 2, :class:`~spikejet.hardware.loihi.mapping.InputQuantization`, ``input_bits`` bits,
  clipped at ``+-input_clip``); the layer's current holds them (``du = 0``, ``hold_input``), as
  the float model's constant input current;
* ``phi[1:]``: IF compartments fed by the previous per-particle layer's binary spikes;
* pooling: every slot's neuron ``k`` of the last per-particle layer projects onto ``rho[0]``
  with the same weights ``W[:, k]``; the dendritic sum is ``W[:, k]`` times the number of
  slots that spiked, which is how it is computed here (the same integers);
* ``rho[0]`` also receives the 16 jet features as graded spikes every step (its current is
  that step's input, so the constant part must be re-sent), through a synapse group of their
  own: their effective weights (``W x input step``) are ~100x smaller than the pooled columns',
  so on the pooled columns' exponent their 8-bit mantissas would keep 1-2 bits (and none at
  12-bit input); their own weight exponent keeps all 8 (on Loihi the exponent is a property of
  a synapse group, not of the compartment: Davies et al. 2018, "weight exponent" of the synaptic
  format; the dendrite sums the groups);
* the output layer is a non-spiking compartment read by a voltage probe: ``v_T / (s T)`` is the
  float model's mean output current (its logits).

Propagation is within the step (axon delay 0, what the float model computes); IF neurons
reset by subtraction (Loihi 2). Padded slots hold no particle: their spikes are zeroed as in
the float model (on a chip the host sends a jet's real particles only, and an empty slot's
compartments would have their bias gated off).

Resources: a per-particle layer is ``n_particles`` copies of its neurons (one set of
compartments per slot). Its synapses are either one matrix per slot (``synapses``:
Loihi 1's dense synaptic memory, every copy stored) or one shared matrix (``synapses_shared``),
which assumes Loihi 2's shared-weight connectivity (convolution-style weight sharing; Intel,
"Taking Neuromorphic Computing to the Next Level with Loihi 2", technology brief, 2021) holds
a kernel-1 convolution over the particle axis once per core. Both are reported.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ...errors import HardwareError
from .chip import LoihiLayer
from .compartment import compartment_init, compartment_step, synaptic_input
from .constants import WEIGHT_EXP_MAX, WEIGHT_EXP_MIN, WEIGHT_MANT_MAX, WEIGHT_UNIT_SHIFT
from .mapping import (
    DEFAULT_INPUT_BITS,
    DEFAULT_INPUT_CLIP,
    FloatLayer,
    InputQuantization,
    LayerQuantization,
    _to_numpy,
    map_layer,
    weight_mantissas,
)
from .profiles import LoihiProfile, get_profile

__all__ = ["DeepSetsMapping", "map_deepsets", "simulate_deepsets", "deepsets_resources"]


@dataclass(frozen=True)
class DeepSetsMapping:
    """The chip integers of a spiking deep-sets network and how they were chosen."""

    phi: tuple[LoihiLayer, ...]
    rho: tuple[LoihiLayer, ...]
    quantization: tuple[LayerQuantization, ...]
    input: InputQuantization
    global_input: InputQuantization | None
    n_pooled: int
    profile: LoihiProfile
    readout_scale: float
    #: weight exponent of ``rho[0]``'s jet-feature synapse group (columns ``n_pooled:`` of its
    #: mantissas); None without jet features.
    global_weight_exp: int | None = None
    global_weight_rel_rms_err: float = 0.0

    def report(self) -> dict[str, Any]:
        return {"profile": self.profile.name, "input_quantization": self.input.as_dict(),
                "global_input_quantization": None if self.global_input is None else self.global_input.as_dict(),
                "global_synapses": None if self.global_weight_exp is None else {
                    "weight_exp": self.global_weight_exp, "weight_rel_rms_err": self.global_weight_rel_rms_err},
                "layers": [q.as_dict() for q in self.quantization]}


def _neuron(threshold: float, v_init: float) -> SimpleNamespace:
    return SimpleNamespace(kind="if", threshold=float(threshold), reset="subtract", v_init=float(v_init) * threshold)


def map_deepsets(net: Any, *, n_particles: int, T: int, profile: str | LoihiProfile = "loihi2",
                 input_bits: int = DEFAULT_INPUT_BITS, input_clip: float = DEFAULT_INPUT_CLIP) -> DeepSetsMapping:
    """Map the float spiking deep sets ``net`` onto Loihi integers (see the module docstring)."""
    prof = check_mappable(net, profile, "spiking deep sets")
    o = net.options
    ths = [float(t) for t in _to_numpy(net.thresholds())]
    iq = InputQuantization(bits=input_bits, clip=input_clip, mode="graded_once")
    gq = InputQuantization(bits=input_bits, clip=input_clip, mode="graded_every_step") if net.n_global else None
    phi, reports = [], []
    for i, lin in enumerate(net.phi):
        w = _to_numpy(lin.weight).astype(np.float64)
        layer = FloatLayer(weight=w * iq.step if i == 0 else w, bias=_to_numpy(lin.bias),
                           neuron=_neuron(ths[i], o.v_init), name=f"phi{i}")
        chip, q = map_layer(layer, profile=prof, axon_delay=0, max_payload=iq.max_payload if i == 0 else 1,
                            hold_input=i == 0)
        phi.append(chip)
        reports.append(q)
    n_pool = net.phi_sizes[-1]
    rho, rho_reports, g_exp, g_err = map_readout(net.rho, ths[len(net.phi):], o.v_init, n_pool, int(n_particles),
                                                 gq, prof, int(T), "rho")
    reports += rho_reports
    return DeepSetsMapping(phi=tuple(phi), rho=tuple(rho), quantization=tuple(reports), input=iq, global_input=gq,
                           n_pooled=n_pool, profile=prof, readout_scale=reports[-1].scale,
                           global_weight_exp=g_exp, global_weight_rel_rms_err=g_err)


def check_mappable(net: Any, profile: str | LoihiProfile, what: str) -> LoihiProfile:
    """The profile of a spiking particle network's Loihi model (graded input spikes, IF neurons that
    reset by subtraction); else :class:`HardwareError`."""
    prof = get_profile(profile)
    o = net.options
    if o.neuron != "if" or o.reset != "subtract":
        raise HardwareError(f"the Loihi model of the {what} maps IF neurons that reset by subtraction; "
                            f"this network has {o.neuron} neurons with reset {o.reset!r}")
    if not prof.graded_spikes:
        raise HardwareError(f"the particles enter the chip as graded spikes, which {prof.name} does not have; "
                            "use the loihi2 profile")
    return prof


def map_gathering_layer(layer: FloatLayer, n_pool: int, n_slots: int, gq: InputQuantization | None,
                        prof: LoihiProfile, T: int) -> tuple[LoihiLayer, LayerQuantization, int | None, float]:
    """A layer fed by spike counts summed over ``n_slots`` copies (columns ``:n_pool``) and, with
    ``gq``, graded inputs every step through a synapse group of their own (columns ``n_pool:``):
    the deep sets' ``rho[0]`` (pooling over particles + jet features), the interaction network's
    first node layer (aggregation over senders + the particle's features) and first classifier
    layer. Returns (layer, report, the own group's weight exponent or None, its relative rms error)."""
    chip, q = _map_pooling_layer(layer, n_pool, n_slots, gq, prof, T)
    if gq is None:
        return chip, q, None, 0.0
    chip, g_exp, g_err = _own_group(chip, layer.weight[:, n_pool:] * gq.step, n_pool, q.scale)
    return chip, q, g_exp, g_err


def map_readout(lins: Any, ths: list[float], v_init: float, n_pool: int, n_slots: int,
                gq: InputQuantization | None, prof: LoihiProfile, T: int,
                prefix: str) -> tuple[list[LoihiLayer], list[LayerQuantization], int | None, float]:
    """The read-out MLP after a sum over ``n_slots`` copies (the deep sets' ``rho``, the interaction
    network's classifier): its first layer through :func:`map_gathering_layer`, spiking hidden
    layers (thresholds ``ths``), a non-spiking output. Returns (layers, reports, own group's exponent, error)."""
    layers, reports, g_exp, g_err = [], [], None, 0.0
    for j, lin in enumerate(lins):
        w = _to_numpy(lin.weight).astype(np.float64)
        neuron = None if j == len(lins) - 1 else _neuron(ths[j], v_init)
        layer = FloatLayer(weight=w, bias=_to_numpy(lin.bias), neuron=neuron, name=f"{prefix}{j}")
        if j == 0:
            chip, q, g_exp, g_err = map_gathering_layer(layer, n_pool, n_slots, gq, prof, T)
        else:
            chip, q = map_layer(layer, profile=prof, axon_delay=0, n_steps=T)
        layers.append(chip)
        reports.append(q)
    return layers, reports, g_exp, g_err


def _own_group(chip: LoihiLayer, w: np.ndarray, n_pool: int, s: float) -> tuple[LoihiLayer, int, float]:
    """``rho[0]`` with columns ``n_pool:`` (the jet features' effective weights ``w``) as a synapse
    group of their own at the layer's voltage scale ``s``: the smallest exponent whose 8-bit
    mantissa holds ``max|w|``. Returns (layer, that exponent, the group's relative rms error)."""
    wmax = float(np.abs(w).max(initial=0.0))
    if wmax == 0.0:
        return chip, int(chip.weight_exp), 0.0
    e = math.ceil(math.log2(wmax * s / WEIGHT_MANT_MAX)) - WEIGHT_UNIT_SHIFT
    e = int(min(max(e, WEIGHT_EXP_MIN), WEIGHT_EXP_MAX))
    _, m, w_err = weight_mantissas(w, s, e)
    err = float(np.sqrt(np.mean(w_err ** 2)) / np.sqrt(np.mean(w ** 2)))
    mant = np.concatenate([np.asarray(chip.weight_mant, dtype=np.int64)[:, :n_pool], m], axis=1)
    return dataclasses.replace(chip, weight_mant=mant), e, err


def _map_pooling_layer(layer: FloatLayer, n_pool: int, n_particles: int, gq: InputQuantization | None,
                       prof: LoihiProfile, T: int) -> tuple[LoihiLayer, LayerQuantization]:
    """``rho[0]``: pooled spike counts (up to ``n_particles`` per input) beside the graded jet features.

    The mapper bounds the current by ``max|row| x max_payload``; the bound given is the exact
    worst case of these inputs (every slot spiking, every feature at the clip), halved while
    it makes the threshold too coarse to map (the worst case of 64 neurons x 32 slots firing in
    one step is far from what a jet does: the integer simulation wraps the 24-bit current as
    the chip would, so a bound too low shows as lost accuracy; ``limited_by`` reports it).
    """
    w = layer.weight
    if gq is not None:
        w = np.concatenate([w[:, :n_pool], w[:, n_pool:] * gq.step], axis=1)
    layer = FloatLayer(weight=w, bias=layer.bias, neuron=layer.neuron, name=layer.name)
    worst = np.abs(w[:, :n_pool]).sum(1) * n_particles
    if gq is not None:
        worst = worst + np.abs(w[:, n_pool:]).sum(1) * gq.max_payload
    row = float(np.abs(w).sum(1).max(initial=0.0))
    payload = max(int(math.ceil(float(worst.max(initial=0.0)) / row)) if row > 0 else 1, 1)
    while True:
        try:
            return map_layer(layer, profile=prof, axon_delay=0, max_payload=payload, n_steps=T)
        except HardwareError:
            if payload == 1:
                raise
            payload = max(payload // 2, 1)


def simulate_deepsets(mp: DeepSetsMapping, x: np.ndarray, mask: np.ndarray, g: np.ndarray | None, T: int, *,
                      batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Numerical kernel: the integer network on jets ``x [n, P, F]``, ``mask [n, P]``, ``g [n, G]``.

    Returns ``logits [n, C]`` (the read-out voltage over ``s T``), ``synops [n]`` (spikes x
    non-zero fan-out, the pooled layer's fan-out being ``rho[0]``'s pooled columns, and the
    graded inputs' payload events x fan-out apart as ``input_synops``), ``spikes [n]``.
    """
    x, mask = np.asarray(x), np.asarray(mask, dtype=bool)
    n, P, _ = x.shape
    logits, synops, spikes, in_ops = [], [], [], []
    fans = [layer.fan_out_per_input for layer in (*mp.phi[1:], mp.rho[0])]
    fans[-1] = fans[-1][: mp.n_pooled]
    fans += [layer.fan_out_per_input for layer in mp.rho[1:]]
    for s0 in range(0, n, batch_size):
        xb, mb = x[s0:s0 + batch_size], mask[s0:s0 + batch_size]
        B = xb.shape[0]
        q = mp.input.quantize(xb.reshape(B * P, -1)) * mb.reshape(B * P, 1)
        qg = None if mp.global_input is None else mp.global_input.quantize(np.asarray(g)[s0:s0 + batch_size])
        m_flat = mb.reshape(B * P, 1)
        st_phi = [compartment_init((B * P, L.n_out), L.v_init) for L in mp.phi]
        st_rho = [compartment_init((B, L.n_out), L.v_init) for L in mp.rho]
        syn, spk = np.zeros(B), np.zeros(B)
        a_in = synaptic_input(q, mp.phi[0].weight_mant, mp.phi[0].weight_exp, max_payload=mp.input.max_payload)
        inp = ((q != 0) @ mp.phi[0].fan_out_per_input).reshape(B, P).sum(1).astype(np.float64)
        for t in range(T):
            s = None
            for i, L in enumerate(mp.phi):
                a = (a_in if t == 0 else np.zeros_like(a_in)) if i == 0 else \
                    synaptic_input(s, L.weight_mant, L.weight_exp, max_payload=1)
                s, st_phi[i] = compartment_step(a, st_phi[i], L.compartment)
                s = s & m_flat
                c = s.reshape(B, P, -1).sum(1)
                syn += c @ fans[i]
                spk += c.sum(1)
            ev = s.reshape(B, P, -1).sum(1)  # pooled spike counts
            if qg is not None:
                inp = inp + (qg != 0) @ mp.rho[0].fan_out_per_input[mp.n_pooled:]
            readout_step(mp.rho, st_rho, ev, qg, mp.n_pooled, mp.global_input, mp.global_weight_exp,
                         fans[len(mp.phi):], syn, spk)
        logits.append(st_rho[-1].v / (mp.readout_scale * T))
        synops.append(syn)
        spikes.append(spk)
        in_ops.append(inp)
    return {"logits": np.concatenate(logits), "synops": np.concatenate(synops), "spikes": np.concatenate(spikes),
            "input_synops": np.concatenate(in_ops)}


def gathered_input(L: LoihiLayer, ev: np.ndarray, qg: np.ndarray | None, n_pool: int, gq: InputQuantization | None,
                   g_exp: int | None) -> np.ndarray:
    """The dendritic sum of a :func:`map_gathering_layer` layer: the counts ``ev`` through the pooled
    columns' synapse group, + the graded inputs ``qg`` through their own group (exponent ``g_exp``)."""
    a = synaptic_input(ev, L.weight_mant[:, :n_pool], L.weight_exp)
    if qg is not None:
        a = a + synaptic_input(qg, L.weight_mant[:, n_pool:], g_exp, max_payload=gq.max_payload)
    return a


def readout_step(layers: Any, states: list[Any], ev: np.ndarray, qg: np.ndarray | None, n_pool: int,
                 gq: InputQuantization | None, g_exp: int | None, fans: list[np.ndarray], syn: np.ndarray,
                 spk: np.ndarray) -> None:
    """One step of a :func:`map_readout` read-out on the pooled counts ``ev`` (states updated in place;
    the hidden layers' synops and spikes added to ``syn``, ``spk``)."""
    for j, L in enumerate(layers):
        a = gathered_input(L, ev, qg, n_pool, gq, g_exp) if j == 0 else synaptic_input(ev, L.weight_mant, L.weight_exp)
        s2, states[j] = compartment_step(a, states[j], L.compartment)
        if j < len(layers) - 1:
            syn += s2 @ fans[j]
            spk += s2.sum(1)
        ev = s2


def deepsets_resources(mp: DeepSetsMapping, n_particles: int) -> dict[str, Any]:
    """Compartments, synapses (one matrix per slot, or shared) and cores of the mapped network."""
    prof = mp.profile
    rows = []
    for L in mp.phi:
        per = L.synapses
        rows.append({"name": L.name, "compartments": L.n_out * n_particles, "synapses": per * n_particles,
                     "synapses_shared": per})
    for j, L in enumerate(mp.rho):
        pooled = int(np.count_nonzero(L.weight_mant[:, : mp.n_pooled])) if j == 0 else 0
        # every slot's pooled neurons project onto rho[0]: one copy of those columns per slot unless shared
        rows.append({"name": L.name, "compartments": L.n_out, "synapses": L.synapses + pooled * (n_particles - 1),
                     "synapses_shared": L.synapses})
    for r in rows:
        r["cores"] = math.ceil(r["compartments"] / prof.compartments_per_core)
    out = {k: sum(r[k] for r in rows) for k in ("compartments", "synapses", "synapses_shared", "cores")}
    out.update(profile=prof.name, chips=math.ceil(out["cores"] / prof.cores_per_chip), layers=rows,
               compartments_per_core=prof.compartments_per_core)
    return out
