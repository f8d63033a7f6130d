"""The integer Loihi model against Lava's bit-accurate LIF (golden traces).

The fixtures in tests/fixtures/lava/ were recorded by scripts/lava_golden.py
under Python 3.10 with lava-nc 0.10.0 (``bash scripts/lava_golden.sh`` remakes
them). Lava is not needed here: the tests rebuild each network from the
parameters stored next to the traces and demand exact equality of u, v and
spikes at every step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikejet.hardware import loihi as L

FIXTURES = Path(__file__).parent / "fixtures" / "lava"
CASES = ("if_nodecay", "cuba_bias_wexp", "negative_rounding", "overflow", "graded_input")


def _load(case: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{case}.npz") as z:
        return {k: z[k] for k in z.files}


def _network(z: dict[str, np.ndarray], *, axon_delay: int = 1, refractory: int = 0,
             u_init_profile: L.LoihiProfile | None = None) -> L.LoihiNetwork:
    layers = []
    for i in (1, 2):
        cp = L.CompartmentParams(
            du=int(z[f"du{i}"]), dv=int(z[f"dv{i}"]), vth=int(z[f"vth{i}"]),
            bias_mant=z[f"bias_mant{i}"], bias_exp=z[f"bias_exp{i}"], refractory=refractory,
        )
        layers.append(L.LoihiLayer(weight_mant=z[f"w{i}_mant"], weight_exp=int(z[f"weight_exp{i}"]),
                                   compartment=cp, axon_delay=axon_delay, name=f"L{i}"))
    graded = int(z["input_message_bits"]) > 0
    profile = u_init_profile or (L.LOIHI2 if graded else L.LOIHI1)
    return L.LoihiNetwork(tuple(layers), profile=profile)


def _run(z, **kw) -> L.LoihiRun:
    net = _network(z, **kw)
    inputs = z["input"].T[:, None, :]  # [T, batch=1, n_in]
    return L.simulate(net, inputs, record=True)


@pytest.mark.parametrize("case", CASES)
def test_lava_traces_reproduced_exactly(case: str) -> None:
    z = _load(case)
    run = _run(z)
    for i in (1, 2):
        for var in ("u", "v", "s"):
            mine = run.traces[f"{var}{i - 1}"][:, 0, :].astype(np.int64)
            np.testing.assert_array_equal(mine, z[f"{var}{i}"], err_msg=f"{case}: {var}{i}")


@pytest.mark.parametrize("case", CASES)
def test_fixture_is_lava_made_and_nontrivial(case: str) -> None:
    z = _load(case)
    assert str(z["lava_version"]) == "0.10.0"
    assert str(z["python"]).startswith("3.10")
    # Lava's weights are the mantissas shifted by the mixed-sign bit
    for i in (1, 2):
        np.testing.assert_array_equal(
            z[f"w{i}_lava"], z[f"w{i}_mant"].astype(np.int64) << L.WEIGHT_MIXED_SIGN_SHIFT
        )
    # every case makes both layers spike and leaves some neurons silent at some step
    assert z["s1"].sum() > 0 and z["s2"].sum() > 0
    assert z["s1"].mean() < 1.0 and z["s2"].mean() < 1.0


def test_overflow_fixture_exercises_wrap_and_saturation() -> None:
    z = _load("overflow")
    # v reaches the negative saturation bound
    assert (z["v1"] == L.V_MIN).any()
    # and u was pushed past 2**23 at some step: recompute the pre-wrap value
    inp = z["input"].T.astype(np.int64)
    w = z["w1_mant"].astype(np.int64) << L.WEIGHT_MIXED_SIGN_SHIFT
    a = L.shift_by_exponent(inp @ w.T, int(z["weight_exp1"]))
    a = np.vstack([np.zeros((1, a.shape[1]), np.int64), a[:-1]])  # one step axon delay
    u_prev = np.vstack([np.zeros((1, z["u1"].shape[1]), np.int64), z["u1"][:-1]])
    pre = L.decay(u_prev, int(z["du1"]) + L.DU_OFFSET) + (a << L.ACT_SHIFT)
    wrapped = (pre > L.STATE_MAX) | (pre < L.STATE_WRAP_MIN)
    assert wrapped.sum() >= 5
    np.testing.assert_array_equal(L.wrap_state(pre), z["u1"])


def test_negative_fixture_exercises_rounding_toward_zero() -> None:
    z = _load("negative_rounding")
    v = z["v1"][:-1]
    prod = v * (L.DECAY_UNITY - int(z["dv1"]))
    inexact_negative = (prod < 0) & (np.abs(prod) % L.DECAY_UNITY != 0)
    assert inexact_negative.sum() > 50  # floor and toward-zero would disagree here


def test_axon_delay_zero_differs_from_lava() -> None:
    """Deliberate difference: axon_delay=0 (same-step propagation) is not Lava's timing."""
    z = _load("if_nodecay")
    run0 = _run(z, axon_delay=0)
    assert not np.array_equal(run0.traces["s0"][:, 0, :], z["s1"])
    # with no delay anywhere, layer 1 sees input t at step t: Lava's layer-1 trace shifted by one
    np.testing.assert_array_equal(run0.traces["u0"][:-1, 0, :], z["u1"][1:])
    np.testing.assert_array_equal(run0.traces["s0"][:-1, 0, :], z["s1"][1:])


def test_refractory_differs_from_lava_and_only_after_spikes() -> None:
    """Deliberate difference: Lava's fixed-point LIF has no refractory period."""
    z = _load("if_nodecay")
    run = _run(z, refractory=2)
    s = run.traces["s0"][:, 0, :]
    assert not np.array_equal(s, z["s1"])
    # up to the first spike of layer 1 everything is identical
    first = int(np.argmax(z["s1"].any(axis=1)))
    np.testing.assert_array_equal(run.traces["v0"][: first + 1, 0, :], z["v1"][: first + 1])
    # no neuron spikes within 2 steps of its previous spike
    for n in range(s.shape[1]):
        times = np.flatnonzero(s[:, n])
        assert np.all(np.diff(times) > 2)
