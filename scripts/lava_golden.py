"""Record golden traces of Lava's bit-accurate Loihi LIF model (test fixtures).

This script runs ONLY under Python 3.10 with ``lava-nc==0.10.0`` (every
lava-nc release requires Python < 3.11, so it cannot live in the project's
3.11 environment). It builds small two-layer networks

    RingBuffer (fixed input spikes or graded payloads)
      -> Dense (int weights, weight_exp) -> LIF (bit-accurate, fixed_pt)
      -> Dense (int weights, weight_exp) -> LIF (bit-accurate, fixed_pt)

runs them with ``Loihi2SimCfg(select_tag="fixed_pt")`` one step at a time and
records, after every step, the current ``u``, the voltage ``v`` and the output
spikes of both LIF layers. Each case is written to
``tests/fixtures/lava/<case>.npz`` together with every parameter needed to
rebuild the same network without Lava. ``tests/test_loihi_lava.py`` replays
the cases through ``spikejet.hardware.loihi`` and demands equality, spike for
spike and value for value.

How to remake the fixtures (from the repository root)::

    bash scripts/lava_golden.sh
    # = make /tmp/lava310 with ~/.pyenv/versions/3.10.13 and lava-nc==0.10.0,
    #   then: /tmp/lava310/bin/python scripts/lava_golden.py --out tests/fixtures/lava

The cases are deterministic (fixed seeds below); rerunning the script must
reproduce the committed files' arrays exactly.

Weight convention: spikejet stores signed 8-bit weight mantissas ``m`` in
[-128, 127]. Lava's mixed-sign Dense takes 9-bit weights in [-256, 255] and
drops their least significant bit (``truncate_weights`` with 8 weight bits),
so the weight handed to Lava is ``2 * m`` and survives that truncation intact.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

LAVA_VERSION = "0.10.0"
MANTISSA_MIN, MANTISSA_MAX = -128, 127
MIXED_SIGN_WEIGHT_FACTOR = 2  # Lava weight = 2 * int8 mantissa (see module doc)

# Each case: input spec + two LIF layers. du, dv, vth are per process (scalars
# in Lava); bias_mant/bias_exp are per neuron.
CASES: list[dict] = [
    {
        # Converted-network setting: u forgets its input every step
        # (du = 4095 -> effective decay 4096/4096), no voltage leak.
        "name": "if_nodecay",
        "seed": 101,
        "steps": 100,
        "n": (8, 6, 4),
        "input": {"kind": "spikes", "p": 0.3},
        "mant_range": ((-60, 128), (-50, 128)),
        "layers": (
            {"du": 4095, "dv": 0, "vth": 200, "weight_exp": 0, "bias": (0, 0), "bias_exp": (0, 0)},
            {"du": 4095, "dv": 0, "vth": 150, "weight_exp": 0, "bias": (0, 0), "bias_exp": (0, 0)},
        ),
    },
    {
        # CUBA LIF with leaks, per-neuron biases with exponents, positive and
        # negative weight exponents.
        "name": "cuba_bias_wexp",
        "seed": 202,
        "steps": 100,
        "n": (8, 6, 4),
        "input": {"kind": "spikes", "p": 0.25},
        "mant_range": ((-80, 128), (-60, 128)),
        "layers": (
            {"du": 1024, "dv": 512, "vth": 1500, "weight_exp": 1,
             "bias": (-300, 300), "bias_exp": (0, 5)},
            {"du": 2048, "dv": 300, "vth": 400, "weight_exp": -1,
             "bias": (-100, 150), "bias_exp": (2, 5)},
        ),
    },
    {
        # Mostly inhibitory drive: negative u and v, so the decays' rounding
        # toward zero (sign-magnitude) and the floor of a negative weight
        # exponent are exercised; du = 0 still decays u by 1/4096 per step
        # because Loihi adds ds_offset = 1 to du.
        "name": "negative_rounding",
        "seed": 303,
        "steps": 80,
        "n": (8, 6, 4),
        "input": {"kind": "spikes", "p": 0.4},
        "mant_range": ((-128, 60), (-128, 90)),
        "layers": (
            {"du": 0, "dv": 700, "vth": 90, "weight_exp": -2,
             "bias": (-200, 600), "bias_exp": (3, 6)},
            {"du": 300, "dv": 1, "vth": 60, "weight_exp": -3,
             "bias": (-50, 100), "bias_exp": (2, 5)},
        ),
    },
    {
        # Overflow: large weights with weight_exp = +7 push u past 2**23 (it
        # wraps) and strong inhibition drives v to the negative saturation
        # bound -(2**23 - 1).
        "name": "overflow",
        "seed": 404,
        "steps": 60,
        "n": (8, 5, 3),
        "input": {"kind": "spikes", "p": 0.5},
        "mant_range": ((-128, 128), (-128, 128)),
        "layers": (
            {"du": 100, "dv": 50, "vth": 131071, "weight_exp": 7,
             "bias": (-4096, 4095), "bias_exp": (7, 7)},
            {"du": 4095, "dv": 0, "vth": 20000, "weight_exp": 6,
             "bias": (0, 0), "bias_exp": (0, 0)},
        ),
    },
    {
        # Graded input spikes (Loihi 2): the input carries integer payloads,
        # Dense with num_message_bits > 0 multiplies them by the weights.
        "name": "graded_input",
        "seed": 505,
        "steps": 80,
        "n": (6, 5, 3),
        "input": {"kind": "graded", "p": 0.5, "max_payload": 15, "message_bits": 8},
        "mant_range": ((-64, 128), (-50, 128)),
        "layers": (
            {"du": 4095, "dv": 200, "vth": 1500, "weight_exp": 0,
             "bias": (0, 50), "bias_exp": (0, 3)},
            {"du": 3000, "dv": 0, "vth": 100, "weight_exp": 0,
             "bias": (0, 0), "bias_exp": (0, 0)},
        ),
    },
]


def make_case_arrays(case: dict) -> dict[str, np.ndarray]:
    """All parameters and the input of one case, from its seed (no Lava needed)."""
    rng = np.random.default_rng(case["seed"])
    n_in, n1, n2 = case["n"]
    steps = case["steps"]
    spec = case["input"]
    active = rng.random((n_in, steps)) < spec["p"]
    if spec["kind"] == "graded":
        payload = rng.integers(1, spec["max_payload"] + 1, size=(n_in, steps))
        inp = np.where(active, payload, 0).astype(np.int32)
    else:
        inp = active.astype(np.int32)
    out: dict[str, np.ndarray] = {
        "input": inp,
        "steps": np.int64(steps),
        "input_message_bits": np.int64(spec.get("message_bits", 0)),
    }
    sizes = ((n1, n_in), (n2, n1))
    for i, (layer, shape, (lo, hi)) in enumerate(
        zip(case["layers"], sizes, case["mant_range"], strict=True), start=1
    ):
        mant = rng.integers(max(lo, MANTISSA_MIN), min(hi, MANTISSA_MAX + 1), size=shape)
        b_lo, b_hi = layer["bias"]
        e_lo, e_hi = layer["bias_exp"]
        out[f"w{i}_mant"] = mant.astype(np.int8)
        out[f"w{i}_lava"] = (MIXED_SIGN_WEIGHT_FACTOR * mant).astype(np.int32)
        out[f"weight_exp{i}"] = np.int64(layer["weight_exp"])
        out[f"du{i}"] = np.int64(layer["du"])
        out[f"dv{i}"] = np.int64(layer["dv"])
        out[f"vth{i}"] = np.int64(layer["vth"])
        out[f"bias_mant{i}"] = rng.integers(b_lo, b_hi + 1, size=shape[0]).astype(np.int32)
        out[f"bias_exp{i}"] = rng.integers(e_lo, e_hi + 1, size=shape[0]).astype(np.int32)
    return out


def run_lava(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run one case in Lava; return u, v, s of both layers, shape [steps, n]."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.utils.weightutils import SignMode

    steps = int(arrays["steps"])
    src = Source(data=arrays["input"])
    lifs, denses, sinks = [], [], []
    for i in (1, 2):
        w = arrays[f"w{i}_lava"]
        dense = Dense(
            weights=w,
            weight_exp=int(arrays[f"weight_exp{i}"]),
            num_weight_bits=8,
            sign_mode=SignMode.MIXED,
            num_message_bits=int(arrays["input_message_bits"]) if i == 1 else 0,
        )
        lif = LIF(
            shape=(w.shape[0],),
            du=int(arrays[f"du{i}"]),
            dv=int(arrays[f"dv{i}"]),
            vth=int(arrays[f"vth{i}"]),
            bias_mant=arrays[f"bias_mant{i}"],
            bias_exp=arrays[f"bias_exp{i}"],
        )
        sink = Sink(shape=(w.shape[0],), buffer=steps)
        dense.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        denses.append(dense)
        lifs.append(lif)
        sinks.append(sink)
    src.s_out.connect(denses[0].s_in)
    lifs[0].s_out.connect(denses[1].s_in)

    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    u = {1: [], 2: []}
    v = {1: [], 2: []}
    try:
        for _ in range(steps):
            lifs[0].run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            for i, lif in zip((1, 2), lifs, strict=True):
                u[i].append(np.asarray(lif.u.get()).copy())
                v[i].append(np.asarray(lif.v.get()).copy())
        spikes = {i: np.asarray(s.data.get()).copy() for i, s in zip((1, 2), sinks, strict=True)}
    finally:
        lifs[0].stop()
    out = {}
    for i in (1, 2):
        out[f"u{i}"] = np.rint(np.array(u[i])).astype(np.int64)
        out[f"v{i}"] = np.rint(np.array(v[i])).astype(np.int64)
        out[f"s{i}"] = np.rint(spikes[i].T).astype(np.int64)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder for <case>.npz")
    parser.add_argument("--case", action="append", help="only these cases (default: all)")
    args = parser.parse_args(argv)

    from importlib.metadata import version

    import lava  # noqa: F401  (fail early with a clear ImportError outside the 3.10 env)

    got = version("lava-nc")
    if got != LAVA_VERSION:
        print(f"warning: lava-nc {got} installed, fixtures were made with {LAVA_VERSION}")
    args.out.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        if args.case and case["name"] not in args.case:
            continue
        arrays = make_case_arrays(case)
        traces = run_lava(arrays)
        meta = {
            "case": np.str_(case["name"]),
            "lava_version": np.str_(got),
            "python": np.str_(platform.python_version()),
            "remake": np.str_("bash scripts/lava_golden.sh"),
        }
        path = args.out / f"{case['name']}.npz"
        tmp = path.with_name(f".{path.stem}.part.npz")
        np.savez_compressed(tmp, **arrays, **traces, **meta)
        tmp.replace(path)
        counts1 = traces["s1"].sum(axis=0).tolist()
        counts2 = traces["s2"].sum(axis=0).tolist()
        print(
            f"{case['name']}: steps={int(arrays['steps'])} spikes L1={counts1} L2={counts2} "
            f"u1 range=[{traces['u1'].min()}, {traces['u1'].max()}] "
            f"v1 range=[{traces['v1'].min()}, {traces['v1'].max()}] -> {path}"
        )
    print(f"python {sys.version.split()[0]}, lava-nc {got}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
