"""Simulator throughput: spikejet's float simulator against snnTorch on the same network.

The 16-64-32-32-5 network (IF neurons, threshold 1, reset by subtraction,
membrane read-out, constant-current input), the same weights and T in the same
process. Modes: spikejet eager; snnTorch eager and with ``torch.compile`` of its
step function (its fastest mode on CPU, PEERS.md). For each (batch, T) the
modes run interleaved for several rounds and the best round counts (other
processes share these cores). Also: time to first result and the peak memory of
a long run (T = 1000): the resident memory added during the run, sampled
every 2 ms, each in a fresh subprocess.

    .venv/bin/python benchmarks/bench_simulator.py               # full table
    .venv/bin/python benchmarks/bench_simulator.py --no-compile  # skip torch.compile (slow to compile)

snnTorch is a benchmark-only extra: ``pip install -c constraints.txt snntorch==1.0.0``.
Prints the machine, versions, a markdown table and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch
from _machine import cpu_model

SIZES = (16, 64, 32, 32, 5)
CASES = ((1024, 16), (1024, 64), (1, 16), (1, 64))
#: Seconds each mode runs per round, and rounds per case.
ROUND_SECONDS = 0.6
ROUNDS = 5
LONG_T = 1000
LONG_BATCH = 1024


def make_net(seed: int = 0):
    """A converted-looking IF network: random ANN weights, percentile-normalized on Gaussian inputs."""
    from spikejet.ann.model import MLP
    from spikejet.snn.convert import convert

    torch.manual_seed(seed)
    ann = MLP(SIZES)
    X = np.random.default_rng(seed).normal(size=(4096, SIZES[0])).astype(np.float32)
    net = convert(ann, X, "calibrated", calibration_steps=None)
    # plain IF with membranes starting at 0, as snnTorch's Leaky starts
    from spikejet.snn.network import Layer
    from spikejet.snn.neurons import IFParams

    layers = tuple(
        Layer(ly.weight, ly.bias, IFParams(1.0, "subtract", 0.0) if ly.neuron else None, name=ly.name)
        for ly in net.layers
    )
    return net.replace(layers=layers)


class SnnTorchNet:
    """The same network in snnTorch: nn.Linear + snn.Leaky(beta=1, threshold=1, reset by subtraction)."""

    def __init__(self, net):
        import snntorch as snn
        from torch import nn

        self.fc = nn.ModuleList()
        for ly in net.layers:
            lin = nn.Linear(ly.n_in, ly.n_out)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.array(ly.weight)))
                lin.bias.copy_(torch.from_numpy(np.array(ly.bias)))
            self.fc.append(lin)
        self.lif = [snn.Leaky(beta=1.0, threshold=1.0, reset_mechanism="subtract") for _ in net.layers[:-1]]
        self.compiled = None

    def step(self, cur0, mems, acc):
        x = cur0
        new = []
        for i, lif in enumerate(self.lif):
            if i:
                x = self.fc[i](x)
            x, m = lif(x, mems[i])
            new.append(m)
        return new, acc + self.fc[-1](x)

    def run(self, X: torch.Tensor, T: int, compiled: bool = False) -> torch.Tensor:
        f = self.compiled if compiled else self.step
        with torch.no_grad():
            cur0 = self.fc[0](X)
            mems = [torch.zeros(X.shape[0], lin.out_features) for lin in self.fc[:-1]]
            acc = torch.zeros(X.shape[0], self.fc[-1].out_features)
            for _ in range(T):
                mems, acc = f(cur0, mems, acc)
        return acc.argmax(1)


def machine() -> dict:
    cpu = cpu_model()
    out = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
           "torch_threads": torch.get_num_threads()}
    try:
        import snntorch

        out["snntorch"] = snntorch.__version__
    except ImportError:
        out["snntorch"] = None
    return out


def throughput(modes: dict, B: int, T: int, X: np.ndarray) -> dict[str, float]:
    """Best jets/s of each mode over interleaved rounds."""
    best = dict.fromkeys(modes, 0.0)
    for _ in range(ROUNDS):
        for name, f in modes.items():
            n = 0
            t0 = time.perf_counter()
            while True:
                f(X, T)
                n += 1
                dt = time.perf_counter() - t0
                if dt >= ROUND_SECONDS:
                    break
            best[name] = max(best[name], n * B / dt)
    return best


_CHILD = r"""
import json, sys, threading, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[4]))
sys.path.insert(0, sys.argv[5])
from bench_simulator import make_net, SnnTorchNet, SIZES

def rss_mib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")

mode, B, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
net = make_net()
X = np.random.default_rng(1).normal(size=(B, SIZES[0])).astype(np.float32)
if mode.startswith("spikejet"):
    from spikejet.snn.simulate import simulate
    steps = [T] if mode == "spikejet" else None
    run = lambda: simulate(net, X, T, steps=steps)
else:
    s = SnnTorchNet(net)
    compiled = mode == "snntorch-compile"
    if compiled:
        s.compiled = torch.compile(s.step, dynamic=False)
    Xt = torch.from_numpy(X)
    run = lambda: s.run(Xt, T, compiled=compiled)
base = rss_mib()
peak = [base]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss_mib())
        time.sleep(0.002)
th = threading.Thread(target=sample, daemon=True)
th.start()
t0 = time.perf_counter()
run()
first = time.perf_counter() - t0
done.set(); th.join()
peak[0] = max(peak[0], rss_mib())
print(json.dumps({"first_s": first, "base_mib": base, "peak_mib": peak[0], "delta_mib": peak[0] - base}))
"""

def child(mode: str, B: int, T: int, threads: int) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", _CHILD, mode, str(B), str(T), str(threads), here],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--no-compile", action="store_true", help="skip snnTorch + torch.compile")
    ap.add_argument("--no-subprocess", action="store_true", help="skip first-result and memory measurements")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from spikejet.snn.simulate import simulate

    net = make_net()
    info = machine()
    print("machine:", json.dumps(info))
    try:
        snt = SnnTorchNet(net)
    except ImportError:
        snt = None
        print("snntorch not installed: pip install -c constraints.txt snntorch==1.0.0 (benchmark-only extra)")

    # agreement of the two simulators on the same weights (snnTorch spikes on v > 1, ours on v >= 1)
    Xc = np.random.default_rng(2).normal(size=(2048, SIZES[0])).astype(np.float32)
    ours_pred = simulate(net, Xc, 64, steps=[64]).predictions_at(64)
    res = {"machine": info, "cases": [], "agreement_T64": None}
    if snt is not None:
        agree = float((snt.run(torch.from_numpy(Xc), 64).numpy() == ours_pred).mean())
        res["agreement_T64"] = agree
        print(f"same class as snnTorch at T = 64: {agree * 100:.2f} % of 2048 jets")
    rates = simulate(net, Xc, 64, steps=[64]).firing_rate_hz()
    print("firing rates (Hz, dt = 1 ms):", ", ".join(f"{r:.0f}" for r in rates[:-1]))

    compile_first = None
    if snt is not None and not args.no_compile:
        snt.compiled = torch.compile(snt.step, dynamic=False)
        t0 = time.perf_counter()
        snt.run(torch.from_numpy(Xc[:1024]), 16, compiled=True)
        compile_first = time.perf_counter() - t0

    for B, T in CASES:
        X = np.random.default_rng(B + T).normal(size=(B, SIZES[0])).astype(np.float32)
        Xt = torch.from_numpy(X)
        modes = {"spikejet (eager)": lambda X, T: simulate(net, X, T, steps=[T], threads=args.threads)}
        if snt is not None:
            modes["snnTorch eager"] = lambda X, T, Xt=Xt: snt.run(Xt, T)
            if not args.no_compile:
                snt.run(Xt, T, compiled=True)  # compile for this shape outside the timing
                modes["snnTorch torch.compile"] = lambda X, T, Xt=Xt: snt.run(Xt, T, compiled=True)
        best = throughput(modes, B, T, X)
        res["cases"].append({"batch": B, "T": T, "jets_per_s": best})
        print(f"batch {B:5d} T {T:3d}: " + ", ".join(f"{k} {v:,.0f} jets/s" for k, v in best.items()), flush=True)

    print()
    names = list(res["cases"][0]["jets_per_s"])
    print("| batch | T | " + " | ".join(names) + " | spikejet / fastest snnTorch |")
    print("|---|---|" + "---|" * len(names) + "---|")
    for c in res["cases"]:
        js = c["jets_per_s"]
        snn_best = max((v for k, v in js.items() if k.startswith("snnTorch")), default=None)
        ratio = f"{js['spikejet (eager)'] / snn_best:.1f}x" if snn_best else "n/a"
        print(f"| {c['batch']} | {c['T']} | " + " | ".join(f"{js[k]:,.0f}" for k in names) + f" | {ratio} |")

    if not args.no_subprocess:
        print()
        print(f"fresh process, batch {LONG_BATCH}: time to first result and peak memory")
        mem = {}
        todo = [("spikejet", 16), ("spikejet", LONG_T), ("spikejet-all-steps", LONG_T)]
        if snt is not None:
            todo += [("snntorch-eager", LONG_T)]
            if not args.no_compile:
                todo += [("snntorch-compile", 16)]
        for mode, T in todo:
            r = child(mode, LONG_BATCH, T, args.threads)
            mem[f"{mode} T={T}"] = r
            if "error" in r:
                print(f"  {mode:20s} T={T:5d}: failed ({r['error']})")
            else:
                print(f"  {mode:20s} T={T:5d}: first result {r['first_s']:.2f} s (imports and network built "
                      f"before), memory +{r['delta_mib']:.1f} MiB during the run (RSS {r['base_mib']:.0f} MiB before)")
        res["fresh_process"] = mem
    if compile_first is not None:
        print(f"snnTorch torch.compile: first call (compilation) {compile_first:.1f} s in this process")
        res["snntorch_compile_first_s"] = compile_first
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
