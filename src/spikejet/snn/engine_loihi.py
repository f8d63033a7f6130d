"""The inference engine for the integer Loihi model: compiled, event-driven, bit-exact.

``simulate_loihi(net, inputs, ...)`` takes the same arguments as
:func:`spikejet.hardware.loihi.simulate` and returns the same
:class:`~spikejet.hardware.loihi.LoihiRun` (scores, spike counts, final u/v/
refractory state, per-layer spikes / synaptic operations / input events /
neuron updates, optional traces), bit for bit: the integer arithmetic is the
model's own (int64 state, 12-bit decays rounding toward zero, u wrapping and v
saturating at 24 bits, weight exponent shifts, axon delays, refractory
periods, both resets) done per jet inside one compiled call, with the spikes of
a layer handed on as 64-bit masks and the next layer's dendritic sum built from
the weight rows of the set bits (integers: any order gives the same sum).
``tests/test_engine.py`` checks it against the model on random networks and
against the Lava golden traces in ``tests/fixtures/lava``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import ConfigError

# The one place this module touches the hardware package (it may become a package
# of its own): the model's classes and named constants.
from ..hardware import loihi as _L  # noqa: I001

__all__ = ["simulate_loihi"]


def _pad(n: int, to: int) -> int:
    return max(to, -(-n // to) * to)


def _events(inputs, net, n_steps):
    """Input events as int64 [T_in, batch, n_in] (validated as the model validates them)."""
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 3:
            raise ConfigError(f"inputs must be [T, batch, n_in], got shape {inputs.shape}")
        e = inputs
        n_total = inputs.shape[0] if n_steps is None else n_steps
    else:
        if n_steps is None:
            raise ConfigError("n_steps is required when inputs is an iterable")
        steps = []
        for t, x in enumerate(inputs):
            if t >= n_steps:
                break
            x = np.asarray(x)
            if x.ndim != 2 or x.shape[1] != net.n_in or (steps and x.shape[0] != steps[0].shape[0]):
                raise ConfigError(f"input events at step {t} have shape {x.shape}; expected [batch, {net.n_in}]")
            steps.append(x)
        if not steps:
            raise ConfigError("inputs are empty: cannot infer the batch size")
        e = np.stack(steps)
        n_total = n_steps
    if n_total < 0:
        raise ConfigError(f"n_steps must be >= 0, got {n_total}")
    if e.shape[2] != net.n_in:
        raise ConfigError(f"input events have shape {e.shape}; expected [T, batch, {net.n_in}]")
    if e.dtype.kind == "b":
        return e.astype(np.int64), n_total
    _L.check_event_values(e, net.profile)
    return np.ascontiguousarray(e.astype(np.int64)), n_total


def _pack(net, B: int) -> dict[str, np.ndarray]:
    """The integer network as the kernel's padded arrays (weights, compartment constants, start state)."""
    from . import _kernels as K

    layers = net.layers
    L = len(layers)
    sizes = [ly.n_out for ly in layers]
    p64 = np.array([_pad(n, K.MASK_BITS) for n in sizes], np.int64)
    p16 = np.array([_pad(n, K.ROW_PAD) for n in sizes], np.int64)
    pmax = int(p64.max())
    rmax = max(max(ly.n_in for ly in layers), int(p64.max()))
    ws = np.zeros((L, rmax, int(p16.max())), np.int64)
    fan = np.zeros((L, rmax), np.int64)
    bias = np.zeros((L, pmax), np.int64)
    per_jet_vinit = any(np.ndim(ly.v_init) == 2 for ly in layers)
    vinit = np.zeros((L, B if per_jet_vinit else 1, pmax), np.int64)
    for i, ly in enumerate(layers):
        w = ly.weight_mant.astype(np.int64) << _L.WEIGHT_MIXED_SIGN_SHIFT
        ws[i, :ly.n_in, :ly.n_out] = w.T
        fan[i, :ly.n_in] = ly.fan_out_per_input
        bias[i, :ly.n_out] = np.broadcast_to(ly.compartment.bias_eff, (ly.n_out,))
        vinit[i, :, :ly.n_out] = np.broadcast_to(np.asarray(ly.v_init, np.int64), (vinit.shape[1], ly.n_out))
    cp = [ly.compartment for ly in layers]
    return {
        "sizes": sizes, "p16": p16, "p64": p64, "pmax": pmax, "ws": ws, "fan": fan, "bias": bias, "vinit": vinit,
        "wexp": np.array([ly.weight_exp for ly in layers], np.int64),
        "delay": np.array([ly.axon_delay for ly in layers], np.int64),
        "fu": np.array([_L.DECAY_UNITY - (c.du + _L.DU_OFFSET) for c in cp], np.int64),
        "fv": np.array([_L.DECAY_UNITY - (c.dv + _L.DV_OFFSET) for c in cp], np.int64),
        "vth": np.array([c.vth_eff for c in cp], np.int64),
        "spiking": np.array([c.spiking for c in cp], np.bool_),
        "sub": np.array([c.reset == "subtract" for c in cp], np.bool_),
        "refr": np.array([c.refractory for c in cp], np.int64),
        "n_real": np.array(sizes, np.int64),
        "consts": np.array([_L.DECAY_BITS, _L.ACT_SHIFT, 1 << (_L.STATE_BITS - 1), (1 << _L.STATE_BITS) - 1,
                            _L.V_MAX], np.int64),
    }


def simulate_loihi(net, inputs: np.ndarray | Iterable[np.ndarray], *, n_steps: int | None = None,
                   record: bool = False, record_output: bool = False, threads: int = 1):
    """Run the integer network on a batch: :func:`spikejet.hardware.loihi.simulate`, compiled.

    Same arguments and result (``threads``: cores the jets are spread over).
    """
    if not isinstance(net, _L.LoihiNetwork):
        raise ConfigError(f"expected a LoihiNetwork, got {type(net).__name__}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer >= 1, got {threads!r}")
    from . import _kernels as K
    from .engine import _bounds, _run_parallel

    ext, n_total = _events(inputs, net, n_steps)
    B = ext.shape[1]
    L = len(net.layers)
    pk = _pack(net, B)
    pmax = pk["pmax"]
    spike_counts = np.zeros((L, B, pmax), np.int64)
    fu_out = np.zeros((L, B, pmax), np.int64)
    fv_out = np.zeros((L, B, pmax), np.int64)
    fr_out = np.zeros((L, B, pmax), np.int64)
    rec = 2 if record else (1 if record_output else 0)
    shape = ((L if record else 1), n_total, B, pmax) if rec else (1, 1, 1, 1)
    tr_u, tr_v, tr_s = np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.uint8)
    bounds = _bounds(B, 2 * threads if threads > 1 else 1)
    tallies = np.zeros((len(bounds) - 1, L, 3), np.int64)
    if B > 0 and n_total > 0:
        args = (n_total, ext, pk["ws"], pk["wexp"], pk["delay"], pk["fu"], pk["fv"], pk["vth"], pk["spiking"],
                pk["sub"], pk["refr"], pk["bias"], pk["vinit"], pk["fan"], pk["p16"], pk["p64"], pk["n_real"],
                pk["consts"], spike_counts, fu_out, fv_out, fr_out, tallies, rec, tr_u, tr_v, tr_s)
        _run_parallel(threads, lambda: K.run_loihi(bounds, *args))
    else:
        vinit = pk["vinit"]
        for i, ly in enumerate(net.layers):
            fv_out[i, :, :ly.n_out] = vinit[i, 0 if vinit.shape[1] == 1 else slice(None), :ly.n_out]
    return _result(net, pk["sizes"], n_total, B, tallies.sum(axis=0), (spike_counts, fu_out, fv_out, fr_out),
                   (rec, record, record_output, tr_u, tr_v, tr_s))


def _result(net, sizes, n_total: int, B: int, tally, state_arrays, rec_arrays):
    spike_counts, fu_out, fv_out, fr_out = state_arrays
    rec, record, record_output, tr_u, tr_v, tr_s = rec_arrays
    layers = net.layers
    L = len(layers)
    counts_ = tuple(np.ascontiguousarray(spike_counts[i, :, :n]) for i, n in enumerate(sizes))
    states = tuple(
        _L.CompartmentState(u=np.ascontiguousarray(fu_out[i, :, :n]), v=np.ascontiguousarray(fv_out[i, :, :n]),
                            refrac=np.ascontiguousarray(fr_out[i, :, :n]))
        for i, n in enumerate(sizes)
    )
    last = layers[-1]
    if net.readout == "count":
        vth_last = max(last.compartment.vth_eff, 1)
        scores = counts_[-1] + np.clip(states[-1].v / vth_last, 0.0, 0.999)
    else:
        scores = states[-1].v.astype(np.float64)
    counts = tuple(
        _L.LayerCounts(name=ly.name or f"layer{i}", neurons=ly.n_out, spikes=int(tally[i, 0]),
                       synops=int(tally[i, 1]), input_events=int(tally[i, 2]),
                       neuron_updates=ly.n_out * B * n_total)
        for i, ly in enumerate(layers)
    )
    traces = None
    if rec:
        traces = {}
        if record:
            for i, n in enumerate(sizes):
                traces[f"u{i}"] = tr_u[i, :, :, :n]
                traces[f"v{i}"] = tr_v[i, :, :, :n]
                traces[f"s{i}"] = tr_s[i, :, :, :n].astype(bool)
        if record_output:
            j = L - 1 if record else 0
            traces["out_s"] = tr_s[j, :, :, :sizes[-1]].astype(bool)
            traces["out_v"] = tr_v[j, :, :, :sizes[-1]]
    return _L.LoihiRun(n_steps=n_total, batch=B, scores=scores, spike_counts=counts_, final_state=states,
                       counts=counts, traces=traces)
