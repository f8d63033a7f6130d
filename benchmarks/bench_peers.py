"""The peers: the MLP on an FPGA (hls4ml fixed point) and NeuroBench's metrics, against spikejet.

Usage (from the repository root; hls4ml and neurobench are optional peers, see docs/peers.md)::

    PYTHONPATH=src /work/peers-venv/bin/python benchmarks/bench_peers.py              # default sample
    PYTHONPATH=src python benchmarks/bench_peers.py --precisions "ap_fixed<16,6>" "ap_fixed<8,3>"
    PYTHONPATH=src python benchmarks/bench_peers.py --quick                            # smoke check

Runs ``spikejet run``'s stages load -> split -> train_ann -> evaluate_ann (and, with
``--snn``, convert_snn and snn_surrogate) into a run directory, then prints on the test split:

* the float ANN and the MLP in fixed point at each precision, by spikejet's own emulation
  (:mod:`spikejet.hardware.fpga`) and, where hls4ml is installed, by hls4ml's ``compile()``
  C++: accuracy, per-class AUC and rejection at 50 % signal efficiency (one metrics function,
  softmax probabilities), and how many jets' outputs differ between the two emulations;
* NeuroBench's footprint, connection sparsity, activation sparsity and effective MACs/ACs for
  the ANN and every spiking model, by spikejet's own implementation
  (:mod:`spikejet.evaluate.neurobench`) and, where neurobench is installed, by neurobench.

Prints the machine; writes ``bench_peers.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _machine import torch_machine

PRECISIONS = ("ap_fixed<16,6>", "ap_fixed<10,4>", "ap_fixed<8,3>")
CLASSES_SHOWN = ("w", "z", "t")


def _have(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _row(name: str, m: dict) -> str:
    auc = " ".join(f"{m['auc'][c] * 100:6.2f}" for c in CLASSES_SHOWN)
    rej = " ".join(f"{m['rejection'][c]['0.5']:6.1f}" if m['rejection'][c]['0.5'] else "   n/a"
                   for c in CLASSES_SHOWN)
    return f"| {name:34s} | {m['accuracy'] * 100:6.2f} | {auc} | {rej} |"


def part_fpga(state, precisions, out: Path, results: dict) -> None:
    import numpy as np

    from spikejet.evaluate.metrics import evaluate_scores
    from spikejet.hardware.fpga import FixedPointMLP, fpga_metrics

    ann = state.models["ann"].model
    X, y = state.X["test"], state.y["test"]
    names = list(state.models["ann"].class_names)
    seed = state.seed_for("evaluate_ann")
    print(f"\n## The MLP on an FPGA: {len(y)} test jets; AUC (%) and rejection at 50 % for {CLASSES_SHOWN}\n")
    print(f"| {'model':34s} | acc %  | {'  '.join(f'AUC {c}' for c in CLASSES_SHOWN)} | "
          f"{'  '.join(f'R50 {c}' for c in CLASSES_SHOWN)} |")
    print("|---|---|---|---|")
    from spikejet.ann.model import predict_proba

    ref = evaluate_scores(y, predict_proba(ann, X), class_names=names, seed=seed)
    print(_row("float ANN (torch)", ref))
    results["fpga"] = {"ann": ref}
    hls = _have("hls4ml")
    for p in precisions:
        t0 = time.perf_counter()
        own = fpga_metrics(ann, X, y, class_names=names, seed=seed, precision=p)
        entry = {"own": own, "own_seconds": time.perf_counter() - t0}
        print(_row(f"{p} spikejet emulation", own))
        if hls:
            from spikejet.interop.hls4ml import hls4ml_model, hls4ml_predict

            t0 = time.perf_counter()
            hm = hls4ml_model(ann, p, out / f"hls4ml_{len(entry)}_{abs(hash(p))}")
            entry["hls4ml_compile_seconds"] = time.perf_counter() - t0
            z = hls4ml_predict(hm, X)
            zz = z - z.max(axis=1, keepdims=True)
            theirs = evaluate_scores(y, np.exp(zz) / np.exp(zz).sum(1, keepdims=True), class_names=names, seed=seed)
            diff = FixedPointMLP.from_mlp(ann, p).predict_logits(X) != z
            entry.update(hls4ml=theirs, jets_differing=int(diff.any(axis=1).sum()))
            print(_row(f"{p} hls4ml compile()", theirs))
        results["fpga"][p] = entry
    for p in precisions:
        e = results["fpga"][p]
        extra = (f"hls4ml compile {e['hls4ml_compile_seconds']:.1f} s, jets whose outputs differ from "
                 f"spikejet's emulation: {e['jets_differing']}") if "hls4ml" in e else "hls4ml not installed"
        print(f"- {p}: own emulation {e['own_seconds']:.2f} s; {extra}")
    print(f"- latency carried: {results['fpga'][precisions[0]]['own']['latency_ns']} ns "
          f"({results['fpga'][precisions[0]]['own']['latency_source']})")


def part_neurobench(state, T: int | None, results: dict) -> None:
    from spikejet.evaluate.neurobench import ann_metrics, snn_metrics

    X = state.X["test"]
    rows = {"ann": ("ANN", ann_metrics(state.models["ann"].model, X), state.models["ann"].model, None)}
    for key, bundle in state.models.items():
        module = getattr(bundle, "model", bundle)
        net = getattr(module, "network", None)
        if net is None:  # the ANN, or a model that is not a spiking network
            continue
        steps = int(T or getattr(module, "timesteps", None) or state.metrics[key].get("timesteps"))
        rows[key] = (f"{key} T={steps}", snn_metrics(net, X, steps), net, steps)
    nb = _have("neurobench")
    print(f"\n## NeuroBench metrics per test jet ({len(X)} jets): spikejet's own"
          f"{' | neurobench 2.3.0' if nb else ' (neurobench not installed)'}\n")
    print("| model | footprint B | conn. sparsity | act. sparsity | eff. MACs | eff. ACs | dense |")
    print("|---|---|---|---|---|---|---|")
    results["neurobench"] = {}
    for key, (label, own, model, steps) in rows.items():
        entry = {"own": own}
        lines = [("own", own)]
        if nb:
            from spikejet.interop.neurobench import LayeredSNN, neurobench_metrics

            torch_model = model if steps is None else LayeredSNN(model, steps)
            entry["neurobench"] = neurobench_metrics(torch_model, X)
            lines.append(("neurobench", entry["neurobench"]))
        for who, m in lines:
            s = m["synops"]
            print(f"| {label} ({who}) | {m['footprint_bytes']} | {m['connection_sparsity']:.4f} | "
                  f"{m['activation_sparsity']:.4f} | {s['effective_macs']:.1f} | {s['effective_acs']:.1f} | "
                  f"{s['dense']:.0f} |")
        if steps is not None:
            entry["spikejet_synops_per_inference"] = state.metrics[key].get("synops_per_inference")
        results["neurobench"][key] = entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--snn", action="store_true", help="also train the converted and surrogate SNNs")
    ap.add_argument("--timesteps", type=int, default=None, help="T for the NeuroBench SNN rows (default: the stage's)")
    ap.add_argument("--precisions", nargs="+", default=list(PRECISIONS))
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from spikejet.config import resolve_config
    from spikejet.run.runner import run

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_peers_"))
    print(f"# bench_peers\n\nmachine: {torch_machine()}")
    print(f"peers: hls4ml {'installed' if _have('hls4ml') else 'absent'}, "
          f"neurobench {'installed' if _have('neurobench') else 'absent'}; data {args.data}, seed {args.seed}")
    cfg = resolve_config(preset="default", seed=args.seed, quick=args.quick or None, data_source=args.data)
    stages = ["evaluate_ann"] + (["convert_snn", "snn_surrogate"] if args.snn else [])
    t0 = time.perf_counter()
    state = run(cfg, out / "run", overwrite=True, progress=False, stages=stages)
    print(f"stages {stages}: {time.perf_counter() - t0:.0f} s")
    results: dict = {"machine": torch_machine(), "argv": sys.argv[1:]}
    part_fpga(state, args.precisions, out, results)
    part_neurobench(state, args.timesteps, results)
    (out / "bench_peers.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {out / 'bench_peers.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
