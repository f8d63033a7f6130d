"""Inference-engine throughput: spikejet's engine against snnTorch on the same network, side by side.

The 16-64-32-32-5 IF network of ``bench_simulator.py`` (threshold 1, reset by
subtraction, membrane read-out, constant-current input), the same weights, one
thread, in one process. Modes per (batch, T): spikejet engine
(:func:`spikejet.snn.engine.simulate`), spikejet's reference simulator,
snnTorch 1.0 eager and snnTorch with ``torch.compile`` of its step. The modes
run interleaved for ``--rounds`` rounds of ``--seconds`` each; a mode's figure
is the median of its rounds (other jobs share these cores). Then: the engine on
2 cores (and how it scales with the batch), the integer Loihi engine against
the integer model on the same network mapped to Loihi 2, and the fraction of
the CPU's peak the engine reaches.

    .venv/bin/python benchmarks/bench_engine.py                 # full table
    .venv/bin/python benchmarks/bench_engine.py --no-compile    # skip torch.compile

The last line is ``engine speedup vs fastest snnTorch: min X.XXx`` (the smallest
ratio over the batch/T cases).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
from _machine import cpu_model
from bench_simulator import SIZES, SnnTorchNet, make_net

CASES = ((1024, 8), (1024, 16), (1, 8), (1, 16))
#: Peak fp32 arithmetic of one core: Zen 4 (AMD EPYC family 25) issues two 256-bit FMA per
#: cycle (AVX-512 is double-pumped): 16 FMA = 32 FLOP per cycle.
FLOP_PER_CYCLE = 32


def nominal_ghz() -> float:
    """The clock /proc/cpuinfo reports (the VM shows no boost clock; a lower bound on the peak)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000.0
    except OSError:
        pass
    return float("nan")


def rounds(modes: dict, B: int, T: int, n_rounds: int, seconds: float) -> dict[str, list[float]]:
    """Jets/s of each mode in each of ``n_rounds`` interleaved rounds."""
    out: dict[str, list[float]] = {k: [] for k in modes}
    for _ in range(n_rounds):
        for name, f in modes.items():
            n = 0
            t0 = time.perf_counter()
            while True:
                f()
                n += 1
                dt = time.perf_counter() - t0
                if dt >= seconds:
                    break
            out[name].append(n * B / dt)
    return out


def work_per_jet(net, T: int, X: np.ndarray) -> dict[str, float]:
    """Arithmetic per jet: what a dense simulator does, and what the event-driven engine does."""
    from spikejet.snn.engine import simulate

    r = simulate(net, X, T, steps=[T])
    c = r.op_counts()
    s = net.sizes
    dense_step = sum(a * b for a, b in zip(s[1:-1], s[2:], strict=False))  # spiking layers' MACs
    first = s[0] * s[1]
    neurons = sum(s[1:-1])
    return {
        # dense: first layer once + every spiking layer every step, 2 FLOP per MAC
        "dense_flop": 2 * (first + T * dense_step) + 2 * T * (neurons + s[-1]),
        # engine: first layer once (FMA), one add per synaptic event, ~2 FLOP per neuron update
        "engine_flop": 2 * first + c["synops"] + 2 * T * (neurons + s[-1]),
        "synops": c["synops"], "spikes": c["spikes"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case (median taken)")
    ap.add_argument("--seconds", type=float, default=0.3, help="seconds per mode and round")
    ap.add_argument("--no-compile", action="store_true", help="skip snnTorch + torch.compile")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from spikejet.hardware.loihi import map_network, offchip_spikes
    from spikejet.hardware.loihi import simulate as loihi_model
    from spikejet.snn import engine
    from spikejet.snn.engine_loihi import simulate_loihi
    from spikejet.snn.simulate import simulate

    net = make_net()
    snt = SnnTorchNet(net)
    import numba
    import snntorch

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
            "snntorch": snntorch.__version__, "numba": numba.__version__, "nominal_ghz": nominal_ghz()}
    print("machine:", json.dumps(info))

    # agreement and first-call (compilation) time
    Xc = np.random.default_rng(2).normal(size=(2048, SIZES[0])).astype(np.float32)
    t0 = time.perf_counter()
    e = engine.simulate(net, Xc, 64, steps=[64])
    first_call = time.perf_counter() - t0
    ref = simulate(net, Xc, 64, steps=[64])
    same = float((e.predictions_at(64) == ref.predictions_at(64)).mean())
    dscore = float(np.abs(e.scores - ref.scores).max())
    print(f"engine vs reference simulator, 2048 jets, T = 64: same class {same * 100:.2f} %, "
          f"largest score difference {dscore:.2e}; first call {first_call:.2f} s (numba cache)")
    if not args.no_compile:
        snt.compiled = torch.compile(snt.step, dynamic=False)

    res = {"machine": info, "cases": []}
    for B, T in CASES:
        X = np.random.default_rng(B + T).normal(size=(B, SIZES[0])).astype(np.float32)
        Xt = torch.from_numpy(X)
        modes = {
            "spikejet engine": lambda X=X, T=T: engine.simulate(net, X, T, steps=[T], threads=1),
            "spikejet simulator": lambda X=X, T=T: simulate(net, X, T, steps=[T], threads=1),
            "snnTorch eager": lambda Xt=Xt, T=T: snt.run(Xt, T),
        }
        if not args.no_compile:
            snt.run(Xt, T, compiled=True)  # compile for this shape outside the timing
            modes["snnTorch torch.compile"] = lambda Xt=Xt, T=T: snt.run(Xt, T, compiled=True)
        for f in modes.values():
            f()
        r = rounds(modes, B, T, args.rounds, args.seconds)
        med = {k: statistics.median(v) for k, v in r.items()}
        res["cases"].append({"batch": B, "T": T, "jets_per_s": med, "rounds": r})
        print(f"batch {B:5d} T {T:3d}: " + ", ".join(f"{k} {v:,.0f}" for k, v in med.items()), flush=True)

    # ---- multi-core: the engine on 2 cores at growing batches
    scale = []
    for B in (1024, 16384):
        X = np.random.default_rng(B).normal(size=(B, SIZES[0])).astype(np.float32)
        modes = {f"{th} thread{'s' if th > 1 else ''}": (lambda X=X, th=th: engine.simulate(net, X, 16, steps=[16], threads=th))
                 for th in (1, 2)}
        for f in modes.values():
            f()
        r = rounds(modes, B, 16, args.rounds, args.seconds)
        med = {k: statistics.median(v) for k, v in r.items()}
        scale.append({"batch": B, "T": 16, "jets_per_s": med})
    res["multicore"] = scale

    # ---- integer engine vs the integer model (same network mapped to Loihi 2, first layer off-chip)
    Xl = np.random.default_rng(5).normal(size=(1024, SIZES[0])).astype(np.float32)
    mapping = map_network(net, profile="loihi2", n_steps=16)
    chip = mapping.network
    Tl = 16 + chip.total_axon_delay
    spikes = np.stack(list(offchip_spikes(mapping.offchip[0], Xl, 16)))
    a = loihi_model(chip, spikes, n_steps=Tl)
    b = simulate_loihi(chip, spikes, n_steps=Tl)
    identical = bool(np.array_equal(a.scores, b.scores) and a.counts == b.counts)
    r = rounds({"integer model": lambda: loihi_model(chip, spikes, n_steps=Tl),
                "integer engine": lambda: simulate_loihi(chip, spikes, n_steps=Tl)}, 1024, Tl, 3, args.seconds)
    loihi = {k: statistics.median(v) for k, v in r.items()}
    res["loihi"] = {"jets_per_s": loihi, "bit_identical": identical, "steps": Tl}

    # ---- tables
    print()
    names = list(res["cases"][0]["jets_per_s"])
    print("| batch | T | " + " | ".join(names) + " | engine / fastest snnTorch |")
    print("|---|---|" + "---|" * len(names) + "---|")
    ratios = []
    for c in res["cases"]:
        js = c["jets_per_s"]
        best = max(v for k, v in js.items() if k.startswith("snnTorch"))
        ratio = js["spikejet engine"] / best
        ratios.append(ratio)
        c["ratio"] = ratio
        print(f"| {c['batch']} | {c['T']} | " + " | ".join(f"{js[k]:,.0f}" for k in names) + f" | {ratio:.2f}x |")
    print()
    print("engine on 2 cores (T = 16, jets/s):")
    for s in scale:
        one, two = s["jets_per_s"]["1 thread"], s["jets_per_s"]["2 threads"]
        print(f"  batch {s['batch']:6d}: 1 thread {one:,.0f}, 2 threads {two:,.0f} ({two / one:.2f}x)")
    print(f"integer Loihi 2 network (64-32-32-5 on chip, {Tl} steps, batch 1024): model "
          f"{loihi['integer model']:,.0f} jets/s, engine {loihi['integer engine']:,.0f} jets/s "
          f"({loihi['integer engine'] / loihi['integer model']:.1f}x), bit-identical: {identical}")

    # ---- fraction of peak
    ghz = info["nominal_ghz"]
    peak1 = FLOP_PER_CYCLE * ghz * 1e9
    X = np.random.default_rng(1040).normal(size=(1024, SIZES[0])).astype(np.float32)
    for c in res["cases"]:
        if c["batch"] != 1024:
            continue
        w = work_per_jet(net, c["T"], X)
        js = c["jets_per_s"]["spikejet engine"]
        c["work"] = w
        print(f"T = {c['T']:2d}, batch 1024, 1 core: engine {w['engine_flop']:,.0f} FLOP/jet "
              f"({w['synops']:,.0f} synaptic adds) -> {js * w['engine_flop'] / 1e9:.2f} GFLOP/s = "
              f"{js * w['engine_flop'] / peak1 * 100:.1f} % of the {peak1 / 1e9:.0f} GFLOP/s fp32 peak "
              f"({FLOP_PER_CYCLE} FLOP/cycle x {ghz:.2f} GHz); dense-equivalent "
              f"{js * w['dense_flop'] / 1e9:.1f} GFLOP/s = {js * w['dense_flop'] / peak1 * 100:.0f} % of peak")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    print(f"engine speedup vs fastest snnTorch: min {min(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
