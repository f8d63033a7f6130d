"""Named fixed-point rules of the Loihi model, profiles, resources, regression trace.

Regenerate the regression fixture (only after a deliberate change of the
model, and say so in the commit) with::

    .venv/bin/python tests/test_loihi.py --regen
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from spikejet.errors import ConfigError, HardwareError
from spikejet.hardware import loihi as L

REGRESSION = Path(__file__).parent / "fixtures" / "lava" / "spikejet_regression_loihi2.npz"


def _one(du=0, dv=0, vth=100, bias=0, bias_exp=0, **kw) -> L.CompartmentParams:
    return L.CompartmentParams(du=du, dv=dv, vth=vth, bias_mant=bias, bias_exp=bias_exp, **kw)


def _state(u=0, v=0, refrac=0) -> L.CompartmentState:
    return L.CompartmentState(u=np.array([u], np.int64), v=np.array([v], np.int64),
                              refrac=np.array([refrac], np.int64))


# ----------------------------------------------------------------- constants


def test_named_widths_have_the_documented_values() -> None:
    assert L.STATE_MAX == 2**23 - 1 and L.STATE_WRAP_MIN == -(2**23)
    assert (L.V_MIN, L.V_MAX) == (-(2**23) + 1, 2**23 - 1)
    assert L.DECAY_UNITY == 4096 and L.DECAY_MAX == 4095
    assert (L.DU_OFFSET, L.DV_OFFSET) == (1, 0)
    assert L.ACT_SHIFT == L.VTH_SHIFT == 6
    assert L.VTH_MAX == 131071
    assert (L.BIAS_MANT_MIN, L.BIAS_MANT_MAX, L.BIAS_EXP_MAX) == (-4096, 4095, 7)
    assert (L.WEIGHT_MANT_MIN, L.WEIGHT_MANT_MAX) == (-128, 127)
    assert L.LOIHI1.compartments_per_core == 1024 and L.LOIHI1.cores_per_chip == 128


# ------------------------------------------------------------------- decays


def test_decay_rounds_toward_zero_for_both_signs() -> None:
    # 1001 * 2048 / 4096 = 500.5
    np.testing.assert_array_equal(L.decay(np.array([1001, -1001]), 2048), [500, -500])
    # floor would give -501 for the negative value; toward zero gives -500
    assert int(np.floor(-1001 * 2048 / 4096)) == -501
    # 7 * 4095 / 4096 = 6.998 -> 6 ; -7 -> -6
    np.testing.assert_array_equal(L.decay(np.array([7, -7]), 1), [6, -6])
    # d = 0 keeps, d = 4096 forgets
    np.testing.assert_array_equal(L.decay(np.array([-12345, 12345]), 0), [-12345, 12345])
    np.testing.assert_array_equal(L.decay(np.array([-12345, 12345]), 4096), [0, 0])


def test_du_offset_makes_4095_forget_the_current_and_0_leak() -> None:
    p_forget = _one(du=4095)
    _, s = L.compartment_step(np.array([0]), _state(u=1000), p_forget)
    assert s.u[0] == 0
    p_keep = _one(du=0)  # effective 1/4096 decay: 1000 * 4095 >> 12 = 999
    _, s = L.compartment_step(np.array([0]), _state(u=1000), p_keep)
    assert s.u[0] == 999


def test_order_u_before_v_within_a_step() -> None:
    # the new u (decayed + input << 6) is added to v in the same step
    p = _one(du=4095, dv=0, vth=1000)
    _, s = L.compartment_step(np.array([3]), _state(), p)
    assert s.u[0] == 3 << L.ACT_SHIFT
    assert s.v[0] == 3 << L.ACT_SHIFT


# ---------------------------------------------------------------- overflow


def test_current_wraps_modulo_2_pow_24() -> None:
    np.testing.assert_array_equal(
        L.wrap_state(np.array([2**23 - 1, 2**23, 2**23 + 5, -(2**23), -(2**23) - 1, 3 * 2**23 + 2])),
        [2**23 - 1, -(2**23), -(2**23) + 5, -(2**23), 2**23 - 1, -(2**23) + 2],
    )
    p = _one(du=4095, vth=L.VTH_MAX)
    # input (2**17) << 6 = 2**23 wraps to -2**23
    _, s = L.compartment_step(np.array([2**17]), _state(), p)
    assert s.u[0] == -(2**23)


def test_voltage_saturates_at_24_bit_bounds() -> None:
    p = _one(du=4095, dv=0, vth=L.VTH_MAX)
    _, s = L.compartment_step(np.array([-100_000]), _state(v=-8_000_000), p)
    assert s.v[0] == L.V_MIN == -(2**23) + 1
    # positive side: saturated value is above the largest threshold, so it spikes
    p_ns = _one(du=4095, dv=0, vth=L.VTH_MAX, spiking=False)
    _, s = L.compartment_step(np.array([100_000]), _state(v=8_000_000), p_ns)
    assert s.v[0] == L.V_MAX


# ---------------------------------------------------------- threshold/bias


def test_threshold_is_vth_shifted_by_6_and_strict() -> None:
    p = _one(du=4095, dv=0, vth=10)  # effective 640
    assert p.vth_eff == 640
    spk, s = L.compartment_step(np.array([0]), _state(v=640), p)
    assert not spk[0] and s.v[0] == 640  # equal does not spike
    spk, s = L.compartment_step(np.array([0]), _state(v=641), p)
    assert spk[0] and s.v[0] == 0  # above spikes, Loihi 1 reset to zero


def test_bias_is_mantissa_shifted_by_exponent_added_every_step() -> None:
    p = _one(du=4095, dv=0, vth=L.VTH_MAX, bias=-3, bias_exp=5)
    assert p.bias_eff.item() == -96
    _, s = L.compartment_step(np.array([0]), _state(v=1000), p)
    assert s.v[0] == 1000 - 96


def test_weight_exponent_and_mixed_sign_shift() -> None:
    ev = np.array([[1, 1, 0]])
    w = np.array([[3, -5, 100]], np.int8)
    # (3 - 5) << 1 = -4
    assert L.synaptic_input(ev, w, 0)[0, 0] == -4
    assert L.synaptic_input(ev, w, 2)[0, 0] == -16
    # negative exponent: arithmetic shift of the sum, floor: -4 >> 3 = -1 (not 0)
    assert L.synaptic_input(ev, w, -3)[0, 0] == -1
    # graded payloads multiply the weights
    assert L.synaptic_input(np.array([[2, 0, 3]]), w, 0, max_payload=3)[0, 0] == 2 * 6 + 3 * 200


# ----------------------------------------------------------- reset/refrac


def test_reset_by_subtraction_keeps_residual() -> None:
    p = _one(du=4095, dv=0, vth=10, reset="subtract")
    spk, s = L.compartment_step(np.array([0]), _state(v=700), p)
    assert spk[0] and s.v[0] == 700 - 640


def test_refractory_holds_voltage_for_exactly_n_steps_and_current_keeps_integrating() -> None:
    p = _one(du=0, dv=0, vth=10, refractory=3)
    st = _state(v=700)
    spikes, vs, us = [], [], []
    for _ in range(6):
        spk, st = L.compartment_step(np.array([20]), st, p)
        spikes.append(bool(spk[0]))
        vs.append(int(st.v[0]))
        us.append(int(st.u[0]))
    # step 0 spikes (700 + 1280 > 640), steps 1..3 are held at 0, step 4 integrates
    # the accumulated current and spikes again, step 5 is held again
    assert spikes == [True, False, False, False, True, False]
    assert vs[1:4] == [0, 0, 0]
    assert us[1] > us[0] and us[3] > us[2]  # u integrates during the refractory period


def test_non_spiking_compartment_never_spikes() -> None:
    p = _one(du=4095, dv=0, vth=0, spiking=False)
    spk, s = L.compartment_step(np.array([50]), _state(), p)
    assert not spk.any() and s.v[0] == 50 << 6


def test_step_is_pure() -> None:
    p = _one(du=100, dv=100, vth=1, refractory=2)
    st = _state(u=500, v=5000, refrac=0)
    before = (st.u.copy(), st.v.copy(), st.refrac.copy())
    L.compartment_step(np.array([7]), st, p)
    for a, b in zip(before, (st.u, st.v, st.refrac), strict=True):
        np.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kw",
    [
        dict(du=4096), dict(du=-1), dict(dv=5000), dict(vth=2**17), dict(vth=-1),
        dict(bias_mant=4096), dict(bias_mant=-4097), dict(bias_exp=8), dict(bias_exp=-1),
        dict(refractory=-1), dict(reset="bogus"), dict(du=1.5),
    ],
)
def test_compartment_params_reject_out_of_range(kw) -> None:
    base = dict(du=0, dv=0, vth=1)
    base.update(kw)
    with pytest.raises(ConfigError):
        L.CompartmentParams(**base)


def test_layer_and_network_validation() -> None:
    cp = _one()
    with pytest.raises(ConfigError, match="signed 8-bit"):
        L.LoihiLayer(weight_mant=np.array([[128]]), weight_exp=0, compartment=cp)
    with pytest.raises(ConfigError, match="weight exponent"):
        L.LoihiLayer(weight_mant=np.array([[1]]), weight_exp=8, compartment=cp)
    with pytest.raises(ConfigError, match="axon_delay"):
        L.LoihiLayer(weight_mant=np.array([[1]]), weight_exp=0, compartment=cp, axon_delay=-1)
    a = L.LoihiLayer(weight_mant=np.ones((3, 2)), weight_exp=0, compartment=cp, name="a")
    b = L.LoihiLayer(weight_mant=np.ones((2, 4)), weight_exp=0, compartment=cp, name="b")
    with pytest.raises(ConfigError, match="expects 4 inputs"):
        L.LoihiNetwork((a, b))
    sub = L.LoihiLayer(weight_mant=np.ones((3, 2)), weight_exp=0,
                       compartment=_one(reset="subtract"), name="s")
    with pytest.raises(HardwareError, match="loihi2"):
        L.LoihiNetwork((sub,), profile="loihi1")
    L.LoihiNetwork((sub,), profile="loihi2")
    with pytest.raises(ConfigError, match="unknown Loihi profile"):
        L.get_profile("loihi3")


def test_loihi1_rejects_graded_input_loihi2_takes_it() -> None:
    layer = L.LoihiLayer(weight_mant=np.ones((1, 2)), weight_exp=0, compartment=_one(du=4095))
    x = np.array([[[3, 0]]])
    with pytest.raises(HardwareError, match="binary spikes"):
        L.simulate(L.LoihiNetwork((layer,), profile="loihi1"), x)
    run = L.simulate(L.LoihiNetwork((layer,), profile="loihi2"), x, n_steps=2, record=True)
    assert run.traces["u0"][1, 0, 0] == (3 * 2) << L.ACT_SHIFT


# ------------------------------------------------------------- axon delays


def _chain(delays, n=3, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    n_in = 4
    for i, d in enumerate(delays):
        w = rng.integers(20, 100, size=(n, n_in))
        layers.append(L.LoihiLayer(weight_mant=w, weight_exp=0, axon_delay=d, name=f"l{i}",
                                   compartment=_one(du=4095, dv=0, vth=150)))
        n_in = n
    return L.LoihiNetwork(tuple(layers))


def test_axon_delay_shifts_each_layer_by_its_delay(rng) -> None:
    x = (rng.random((30, 2, 4)) < 0.5).astype(np.int64)
    base = L.simulate(_chain([0, 0, 0]), x, n_steps=40, record=True)
    for delays in ([1, 1, 1], [2, 0, 3]):
        run = L.simulate(_chain(delays), x, n_steps=40, record=True)
        cum = np.cumsum(delays)
        for i, shift in enumerate(cum):
            s0 = base.traces[f"s{i}"]
            s1 = run.traces[f"s{i}"]
            np.testing.assert_array_equal(s1[shift:], s0[: 40 - shift])
            assert not s1[:shift].any()
    assert _chain([1, 1, 1]).total_axon_delay == 3


def test_counts_synops_are_input_events_times_fanout() -> None:
    w = np.array([[1, 0, 2], [0, 0, 3]])  # fan-out of inputs: 1, 0, 2
    layer = L.LoihiLayer(weight_mant=w, weight_exp=0, axon_delay=0,
                         compartment=_one(du=4095, vth=L.VTH_MAX))
    x = np.array([[[1, 1, 1]], [[0, 1, 0]], [[0, 0, 1]]])  # T=3, batch 1
    run = L.simulate(L.LoihiNetwork((layer,)), x)
    c = run.counts[0]
    assert c.input_events == 5
    assert c.synops == (1 + 0 + 2) + 0 + 2
    assert c.neuron_updates == 2 * 3
    assert run.per_inference()["synops"] == 5


def test_batch_rows_are_independent(rng) -> None:
    net = _chain([1, 1])
    x = (rng.random((25, 5, 4)) < 0.4).astype(np.int64)
    full = L.simulate(net, x, record=True)
    for b in range(5):
        one = L.simulate(net, x[:, b : b + 1], record=True)
        for k in ("u1", "v1", "s1"):
            np.testing.assert_array_equal(full.traces[k][:, b], one.traces[k][:, 0])


def test_iterable_input_equals_array_input(rng) -> None:
    net = _chain([1, 1])
    x = (rng.random((12, 3, 4)) < 0.4).astype(np.int64)
    a = L.simulate(net, x, n_steps=15)
    b = L.simulate(net, (x[t] for t in range(12)), n_steps=15)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.counts == b.counts


# ---------------------------------------------------------------- resources


def test_resources_count_cores_and_raise_when_too_big() -> None:
    cp = _one()
    big = L.LoihiLayer(weight_mant=np.ones((2050, 3)), weight_exp=0, compartment=cp, name="big")
    small = L.LoihiLayer(weight_mant=np.eye(5, 2050), weight_exp=0, compartment=cp, name="small")
    rep = L.resources(L.LoihiNetwork((big, small)))
    assert [r.cores for r in rep.layers] == [3, 1]
    assert rep.cores == 4 and rep.chips == 1
    assert rep.compartments == 2055
    assert rep.synapses == 2050 * 3 + 5
    assert rep.layers[0].max_fan_in == 3 and rep.layers[0].max_fan_out == 2050
    assert rep.layers[1].max_fan_in == 1
    huge = L.LoihiLayer(weight_mant=np.zeros((1024 * 129, 1)), weight_exp=0, compartment=cp, name="huge")
    with pytest.raises(HardwareError, match=r"129 cores = 2 loihi1 chips.*huge"):
        L.resources(L.LoihiNetwork((huge,)))
    assert L.resources(L.LoihiNetwork((huge,)), max_chips=2).chips == 2
    assert L.resources(L.LoihiNetwork((huge,), profile="loihi2")).cores == 17


# --------------------------------------------------------------- regression


def _regression_network() -> tuple[L.LoihiNetwork, np.ndarray]:
    """Loihi 2 features Lava's fixed-point LIF lacks: subtract reset, refractory, delay 2."""
    rng = np.random.default_rng(2024)
    w1 = rng.integers(-70, 128, size=(6, 5))
    w2 = rng.integers(-90, 128, size=(3, 6))
    l1 = L.LoihiLayer(
        weight_mant=w1, weight_exp=1, axon_delay=2, name="h",
        compartment=L.CompartmentParams(du=600, dv=200, vth=900, bias_mant=rng.integers(-50, 80, 6),
                                        bias_exp=3, refractory=1, reset="subtract"),
    )
    l2 = L.LoihiLayer(
        weight_mant=w2, weight_exp=0, axon_delay=1, name="o", v_init=100,
        compartment=L.CompartmentParams(du=4095, dv=0, vth=300, reset="subtract"),
    )
    x = rng.integers(0, 4, size=(50, 2, 5)) * (rng.random((50, 2, 5)) < 0.5)
    return L.LoihiNetwork((l1, l2), profile="loihi2"), x


def _regression_traces() -> dict[str, np.ndarray]:
    net, x = _regression_network()
    run = L.simulate(net, x, n_steps=55, record=True)
    return {k: v.astype(np.int64) for k, v in run.traces.items()}


def test_regression_trace_of_own_model() -> None:
    ref = np.load(REGRESSION)
    got = _regression_traces()
    assert sorted(ref.files) == sorted(got)
    for k in got:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    assert got["s0"].sum() > 0 and got["s1"].sum() > 0


if __name__ == "__main__" and "--regen" in sys.argv:
    from spikejet.io import atomic_path

    with atomic_path(REGRESSION) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **_regression_traces())
    print(f"wrote {REGRESSION}")
