"""Neuron models: simulated rates match the analytic rates; reset semantics are exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikejet.errors import ConfigError
from spikejet.snn import neurons as N

#: Steps used to measure a long-run rate; the count of a periodic neuron is off
#: by at most one period's worth of spikes, so rates agree within ~1/STEPS.
STEPS = 2000

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def _simulate_counts(x: np.ndarray, params, steps: int = STEPS, skip: int = 0) -> np.ndarray:
    xt = torch.as_tensor(x, dtype=torch.float64)
    state = N.init_state(tuple(xt.shape), params, dtype=torch.float64)
    total = torch.zeros_like(xt)
    for t in range(steps):
        spikes, state = N.step(xt, state, params)
        if t >= skip:
            total += spikes
    return total.numpy()


@pytest.mark.parametrize("threshold", [1.0, 0.37, 2.5])
def test_if_subtract_rate_matches_analytic(threshold):
    p = N.IFParams(threshold=threshold, reset="subtract")
    x = np.linspace(-0.5, 1.5, 41) * threshold
    counts = _simulate_counts(x, p)
    expected = N.if_rate(x, p) * STEPS
    # reset by subtraction keeps the residual: the count is floor(sum x / th) exactly (|err| < 1)
    np.testing.assert_allclose(counts, expected, rtol=0, atol=1.0)


def test_if_zero_rate_matches_analytic():
    p = N.IFParams(threshold=1.0, reset="zero")
    # avoid x = 1/k exactly, where floating sums decide the boundary
    x = np.array([-0.2, 0.0, 0.05, 0.13, 0.3, 0.45, 0.7, 0.99, 1.2, 3.0])
    counts = _simulate_counts(x, p)
    period = N.if_rate(x, p)
    np.testing.assert_allclose(counts / STEPS, period, rtol=0, atol=1.0 / STEPS)
    # the rates are 1/ceil(th/x): a spike every 8 steps at x = 0.13, every 3 at 0.45
    assert N.if_rate(0.13, p) == pytest.approx(1 / 8)
    assert N.if_rate(0.45, p) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    "tau_mem,tau_syn",
    [(0.02, 0.005), (0.01, 0.0), (0.1, 0.002), (math.inf, 0.004)],
)
def test_lif_zero_rate_matches_analytic(tau_mem, tau_syn):
    p = N.LIFParams(tau_mem=tau_mem, tau_syn=tau_syn, threshold=1.0, reset="zero", dt=1e-3)
    x = np.linspace(-0.1, 0.6, 36)
    # skip the synaptic current's rise (10 synaptic time constants)
    skip = 200
    counts = _simulate_counts(x, p, steps=STEPS + skip, skip=skip)
    r = N.lif_rate(x, p)
    # one period of slack either way over STEPS steps
    np.testing.assert_allclose(counts / STEPS, r, rtol=0, atol=1.5 / STEPS)
    assert (r[x <= 0] == 0).all()


def test_lif_subtract_without_leak_is_if():
    p = N.LIFParams(tau_mem=math.inf, tau_syn=0.0, reset="subtract", threshold=0.8)
    x = np.linspace(0, 1.0, 11)
    counts = _simulate_counts(x, p)
    np.testing.assert_allclose(counts, N.lif_rate(x, p) * STEPS, rtol=0, atol=1.0)
    q = N.IFParams(threshold=0.8)
    np.testing.assert_array_equal(N.lif_rate(x, p), N.if_rate(x, q))


def test_lif_leaky_subtract_has_no_closed_form():
    with pytest.raises(ConfigError, match="no closed-form"):
        N.lif_rate(0.5, N.LIFParams(tau_mem=0.02, reset="subtract"))


@pytest.mark.parametrize("max_rate,amplitude", [(200.0, 1.0), (1500.0, 0.01), (50.0, 2.0)])
def test_spiking_relu_rate_matches_analytic(max_rate, amplitude):
    p = N.SpikingReLUParams(amplitude=amplitude, max_rate=max_rate, dt=1e-3)
    x = np.linspace(-1.0, 2.0, 31)
    counts = _simulate_counts(x, p)
    # floor-accumulation is exact up to one spike (plus float rounding of the running sum)
    np.testing.assert_allclose(counts, N.spiking_relu_rate(x, p) * STEPS, rtol=0, atol=1.0 + 1e-6)
    hz = N.spiking_relu_rate(x, p) / p.dt
    np.testing.assert_allclose(hz, max_rate * np.maximum(x, 0), rtol=1e-12, atol=1e-9)


def test_spiking_relu_fires_several_spikes_per_step():
    p = N.SpikingReLUParams(max_rate=2500.0, dt=1e-3)  # 2.5 spikes per step at x = 1
    s, st_ = N.spiking_relu_step(torch.tensor([1.0]), N.spiking_relu_init((1,), p), p)
    assert s.item() == 2.0
    assert st_.v.item() == pytest.approx(0.5)
    assert p.spike_value == pytest.approx(1.0 / 1e-3)


def test_spiking_relu_clips_negative_input_every_step():
    # Nengo's behaviour: +1, -1 alternating never cancels, the neuron integrates only the +1s
    p = N.SpikingReLUParams(max_rate=100.0, dt=1e-3)
    state = N.spiking_relu_init((1,), p)
    for x in [1.0, -1.0] * 5:
        _, state = N.spiking_relu_step(torch.tensor([x]), state, p)
    assert state.v.item() == pytest.approx(0.5)


def test_if_reset_subtract_keeps_residual_exactly():
    p = N.IFParams(threshold=1.0, reset="subtract")
    s, st_ = N.if_step(torch.tensor([1.25, 0.5, 1.0]), N.if_init((3,), p), p)
    assert s.tolist() == [1.0, 0.0, 1.0]
    assert st_.v.tolist() == [0.25, 0.5, 0.0]
    # a spike per step at most, the excess stays in the membrane
    s, st_ = N.if_step(torch.tensor([3.0, 0.0, 0.0]), st_, p)
    assert s.tolist() == [1.0, 0.0, 0.0]
    assert st_.v.tolist() == [2.25, 0.5, 0.0]


def test_if_reset_zero_discards_residual_exactly():
    p = N.IFParams(threshold=1.0, reset="zero")
    s, st_ = N.if_step(torch.tensor([1.25, 0.5, -0.25]), N.if_init((3,), p), p)
    assert s.tolist() == [1.0, 0.0, 0.0]
    assert st_.v.tolist() == [0.0, 0.5, -0.25]


def test_lif_step_is_loihi_cuba_form():
    p = N.LIFParams.from_decays(0.5, 0.75, threshold=10.0, reset="zero")
    assert p.decay_syn == pytest.approx(0.5, rel=1e-12)
    assert p.decay_mem == pytest.approx(0.75, rel=1e-12)
    st_ = N.lif_init((1,), p)
    vs = []
    for _ in range(3):
        _, st_ = N.lif_step(torch.tensor([4.0], dtype=torch.float64), st_, p)
        vs.append(st_.v.item())
    # i: 4, 6, 7; v: 4, 0.75*4+6 = 9, 0.75*9+7 = 13.75 -> spike, reset to 0
    assert st_.i.item() == pytest.approx(7.0)
    assert vs == pytest.approx([4.0, 9.0, 0.0])


def test_lif_reset_subtract_keeps_residual():
    p = N.LIFParams.from_decays(0.0, 1.0, threshold=1.0, reset="subtract")
    s, st_ = N.lif_step(torch.tensor([1.5]), N.lif_init((1,), p), p)
    assert s.item() == 1.0 and st_.v.item() == pytest.approx(0.5)


def test_v_init_is_the_initial_membrane():
    p = N.IFParams(threshold=1.0, v_init=0.5)
    s, _ = N.if_step(torch.tensor([0.5, 0.49]), N.if_init((2,), p), p)
    assert s.tolist() == [1.0, 0.0]


def test_step_functions_do_not_mutate_their_arguments():
    for p in (N.IFParams(), N.LIFParams(), N.SpikingReLUParams()):
        x = torch.tensor([0.7, 2.0])
        st0 = N.init_state((2,), p)
        before = {k: v.clone() for k, v in vars(st0).items()}
        for _ in range(3):
            N.step(x, st0, p)
        for k, v in vars(st0).items():
            assert torch.equal(v, before[k])
        assert x.tolist() == pytest.approx([0.7, 2.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda: N.IFParams(threshold=0),
        lambda: N.IFParams(threshold=float("nan")),
        lambda: N.IFParams(reset="bounce"),
        lambda: N.LIFParams(tau_mem=-1),
        lambda: N.LIFParams(tau_syn=-0.1),
        lambda: N.LIFParams(dt=0),
        lambda: N.SpikingReLUParams(max_rate=0),
        lambda: N.SpikingReLUParams(amplitude=-1),
        lambda: N.LIFParams.from_decays(1.5, 0.5),
        lambda: N.IFParams(threshold="high"),
    ],
)
def test_bad_params_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_params_are_frozen():
    p = N.IFParams()
    with pytest.raises(AttributeError):
        p.threshold = 2.0  # type: ignore[misc]


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["if", "lif", "spiking_relu"]),
    th=st.floats(0.01, 100.0),
    tau=st.floats(1e-4, 1.0),
    reset=st.sampled_from(["subtract", "zero"]),
)
def test_neuron_dict_round_trip(kind, th, tau, reset):
    if kind == "if":
        p = N.IFParams(threshold=th, reset=reset, v_init=th / 2)
    elif kind == "lif":
        p = N.LIFParams(tau_mem=tau, tau_syn=tau / 2, threshold=th, reset=reset)
    else:
        p = N.SpikingReLUParams(amplitude=th, max_rate=1 / tau)
    assert N.neuron_from_dict(N.neuron_to_dict(p)) == p


def test_neuron_dict_infinite_tau_round_trip():
    p = N.LIFParams(tau_mem=math.inf)
    d = N.neuron_to_dict(p)
    assert d["tau_mem"] == "inf"
    assert N.neuron_from_dict(d) == p


def test_neuron_from_dict_rejects_unknown():
    with pytest.raises(ConfigError):
        N.neuron_from_dict({"kind": "hh"})
    with pytest.raises(ConfigError, match="unknown"):
        N.neuron_from_dict({"kind": "if", "gain": 2})
