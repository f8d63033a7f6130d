"""Directly trained SNNs on one sample: the study's rate method, the surrogate method, the targets.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_train_snn.py                      # default sample, everything
    .venv/bin/python benchmarks/bench_train_snn.py --data jets.h5 --parts main,tsweep
    .venv/bin/python benchmarks/bench_train_snn.py --quick               # small subset, smoke check

Parts (``--parts``, comma separated; default all):

``main``    ``spikejet run`` (default preset) up to the SNN stages: ANN, conversion, rate and
            surrogate stages; prints the comparison table, stage seconds, the surrogate's
            accuracy and synaptic operations versus T, the penalty sweep, and the converted
            SNN's synaptic operations at the surrogate's accuracy.
``study``   the ``seed-2019`` preset's rate method (the study's protocol): accuracy without and
            with 5 ms synaptic filters, read at the end (the study's way) and averaged over the
            presentation, next to the study's 46.83 % / 65.08 %, and the firing rates.
``tsweep``  the surrogate stage's settings trained at T = 4, 8, 16 on the main run's split and
            ANN: test accuracy, gap to the ANN, synaptic operations, and the converted (QCFS)
            SNN's operations at the same accuracy -- the issue's target.
``qat``     the surrogate stage's settings with reset by subtraction or to zero, with and without
            quantization-aware training, each run on the float simulator and on the Loihi
            integer model (loihi1 and loihi2 profiles, first layer off-chip) on every test jet.
``timing``  seconds per training epoch and peak memory of surrogate training at T = 8..64
            on the full training split (one torch thread).

Prints the machine and every number; writes ``bench_train_snn.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from _machine import torch_machine

PARTS = ("main", "study", "tsweep", "qat", "timing")
#: The issue's target: within this many points (fraction) of the ANN at T <= TARGET_T.
TARGET_GAP = 0.005
TARGET_T = 16


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.2f} %"


def _run(preset: str, args, out: Path, stages: tuple[str, ...]):
    from spikejet.config import resolve_config
    from spikejet.run import run

    over: dict = {"data": {"max_jets": args.max_jets}} if args.max_jets else {}
    cfg = resolve_config(preset=preset, seed=args.seed, quick=args.quick or None, data_source=args.data,
                         overrides=over or None)
    t0 = time.perf_counter()
    ctx = run(cfg, out, overwrite=True, progress=False, stages=list(stages))
    ctx.data_summary = ctx.data.summary
    return cfg, ctx, time.perf_counter() - t0


def _teacher(ctx, cfg):
    """The ANN's logits on the training jets when the section distils (what the stage passes)."""
    if not cfg.distill_weight:
        return None
    from spikejet.ann.model import predict_logits

    return predict_logits(ctx.models["ann"].model, ctx.X["train"])


def part_main(args, out: Path, results: dict):
    from spikejet.report.tables import format_comparison

    stages = ("load", "split", "train_ann", "evaluate_ann", "convert_snn", "snn_rate", "snn_surrogate")
    cfg, ctx, sec = _run("default", args, out / "main", stages)
    print(f"\n== main: spikejet run (preset default) on {ctx.data_summary['n_jets']} jets, {sec:.0f} s")
    print(format_comparison(ctx.metrics))
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in ctx.timings.items()))
    s = ctx.metrics["snn_surrogate"]
    ann = ctx.metrics["ann"]["accuracy"]
    print(f"surrogate ({s['neuron']}, T = {s['timesteps']}): {_pct(s['accuracy'])} (ANN {_pct(ann)}, gap "
          f"{(ann - s['accuracy']) * 100:+.2f} points), {s['synops_per_inference']:.0f} synops/jet, "
          f"{s['spikes_per_inference']:.0f} spikes/jet, rates {', '.join(f'{k} {v:.0f} Hz' for k, v in s['firing_rate_hz'].items())}")
    print("  T: accuracy / synops  " + "  ".join(
        f"{p['timesteps']}: {p['accuracy'] * 100:.2f} / {p['synops']:.0f}" for p in s["accuracy_vs_synops"]["trained_vs_timesteps"]))
    print("  penalty sweep: " + "  ".join(
        f"{p['synops_penalty']:g}: {p['accuracy'] * 100:.2f} % / {p['synops']:.0f}" for p in s["accuracy_vs_synops"]["penalty_sweep"]))
    same = s.get("converted_at_same_accuracy")
    if same:
        print(f"  converted ({same['method']}) at {same['accuracy'] * 100:.2f} %: "
              f"T = {same['timesteps']}, {same['synops'] if same['synops'] is None else round(same['synops'])} synops/jet")
    r = ctx.metrics["snn_rate"]
    print(f"rate ({r['neuron']}, T = {r['timesteps']}): {_pct(r['accuracy'])}; " + ", ".join(
        f"{k} {v * 100:.2f} %" for k, v in r["accuracy_by_variant"].items()) + f"; {r['synops_per_inference']:.0f} synops/jet")
    results["main"] = {"n_jets": ctx.data_summary["n_jets"], "seconds": sec, "stage_seconds": ctx.timings,
                       "metrics": {k: {kk: vv for kk, vv in v.items() if kk not in ("confusion_matrix",)}
                                   for k, v in ctx.metrics.items()}}
    return ctx


def part_study(args, out: Path, results: dict) -> None:
    stages = ("load", "split", "train_ann", "evaluate_ann", "snn_rate")
    cfg, ctx, sec = _run("seed-2019", args, out / "study", stages)
    r = ctx.metrics["snn_rate"]
    rc = cfg.snn_rate
    print(f"\n== study: seed-2019 rate method ({rc.neuron}, max rate {rc.max_rate:g} Hz, amplitude {rc.amplitude:g}, "
          f"T = {rc.timesteps} x {rc.dt * 1e3:g} ms, filter {rc.synapse_tau}), {sec:.0f} s")
    print(f"ANN (seed-2019) {_pct(ctx.metrics['ann']['accuracy'])}; rate model {_pct(r['rate_model_accuracy'])}; "
          f"rates of the rate model {', '.join(f'{k} {v:.0f} Hz' for k, v in r['rate_model_firing_rate_hz'].items())}")
    for k, v in r["accuracy_by_variant"].items():
        print(f"  {k:22s} {v * 100:.2f} %")
    print(f"study: without filter 46.83 %, with filter 65.08 %; ours (read at the end): "
          f"{_pct(r['accuracy_without_filter'])}, {_pct(r['accuracy_with_filter'])}")
    print(f"spiking rates (with filter): {', '.join(f'{k} {v:.0f} Hz' for k, v in r['firing_rate_hz'].items())}; "
          f"{r['synops_per_inference']:.0f} synops/jet")
    results["study"] = {"seconds": sec, "ann_accuracy": ctx.metrics["ann"]["accuracy"],
                        "snn_rate": {k: v for k, v in r.items() if k != "confusion_matrix"}}


def _start(ctx, opts, seed: int):
    """The surrogate stage's starting network for ``ctx`` (its config's ``init``)."""
    import torch

    from spikejet.snn.train.surrogate import SurrogateNet

    cfg = ctx.config.snn_surrogate
    torch.manual_seed(seed)
    if cfg.init == "converted":
        return SurrogateNet.from_network(ctx.models["snn_converted"], opts)
    if cfg.init == "ann":
        return SurrogateNet.from_mlp(ctx.models["ann"].model, ctx.X["train"], opts, percentile=cfg.percentile)
    return SurrogateNet(ctx.models["snn_converted"].sizes, opts)


def _options(cfg, **changes):
    import dataclasses

    from spikejet.snn.train.surrogate import SurrogateOptions

    opts = SurrogateOptions.from_config(cfg)
    return dataclasses.replace(opts, **changes)


def _train(ctx, net, T: int, seed: int) -> float:
    from spikejet.runtime import torch_threads
    from spikejet.snn.train.surrogate import train_surrogate

    cfg = ctx.config.snn_surrogate
    t0 = time.perf_counter()
    with torch_threads(1):
        train_surrogate(net, ctx.X["train"], ctx.y["train"], ctx.X["val"], ctx.y["val"],
                        dataclasses.replace(cfg, timesteps=T, max_timesteps=max(T, cfg.max_timesteps)), seed=seed,
                        teacher_logits=_teacher(ctx, cfg))
    return time.perf_counter() - t0


def part_qat(args, ctx, results: dict) -> None:
    from spikejet.hardware.loihi.evaluate import evaluate_on_loihi
    from spikejet.snn.simulate import simulate

    cfg = ctx.config.snn_surrogate
    T = cfg.timesteps
    Xte, yte = ctx.X["test"], ctx.y["test"]
    print(f"\n== qat: surrogate at T = {T}, float simulator vs the Loihi integer model ({len(yte)} test jets)")
    rows = []
    for reset in ("subtract", "zero"):
        for quantize in (False, True):
            net = _start(ctx, _options(cfg, reset=reset, quantize=quantize), args.seed)
            sec = _train(ctx, net, T, args.seed)
            snn = net.to_network()
            res = simulate(snn, Xte, T, steps=[T])
            row = {"reset": reset, "quantize": quantize, "float_accuracy": res.accuracy_at(yte, T),
                   "synops": float(res.synops_per_inference(T).sum()), "train_seconds": sec}
            for prof in ("loihi1", "loihi2"):
                ev = evaluate_on_loihi(snn, Xte, yte, timesteps=T, profile=prof, curve=False, seed=args.seed,
                                       first_layer_offchip=True)
                row[prof] = {"accuracy": ev.extra["accuracy_vs_timesteps"][str(T)],
                             "agreement_with_float": ev.extra["agreement_with_float"],
                             "reset_changed": ev.extra["reset_changed"]}
            rows.append(row)
            print(f"  reset {reset:8s} QAT {'on ' if quantize else 'off'}: float {row['float_accuracy'] * 100:.2f} %, "
                  f"{row['synops']:.0f} synops/jet; " + "; ".join(
                      f"{p} {row[p]['accuracy'] * 100:.2f} % (same class as float for "
                      f"{row[p]['agreement_with_float'] * 100:.1f} %{', reset changed to zero' if row[p]['reset_changed'] else ''})"
                      for p in ("loihi1", "loihi2")))
    results["qat"] = rows


def part_tsweep(args, ctx, results: dict) -> None:
    import numpy as np

    from spikejet.snn.simulate import simulate

    cfg = ctx.config.snn_surrogate
    ann = ctx.metrics["ann"]["accuracy"]
    Xte, yte = ctx.X["test"], ctx.y["test"]
    conv = ctx.models.get("snn_converted")
    conv_res = simulate(conv, Xte, 256) if conv is not None else None
    conv_acc = conv_res.accuracy(yte) if conv_res is not None else None
    print(f"\n== tsweep: surrogate settings of the default preset (init {cfg.init}) at T = 4, 8, 16 "
          f"(ANN {_pct(ann)})")
    rows = []
    for T in (4, 8, 16):
        net = _start(ctx, _options(cfg), args.seed)
        sec = _train(ctx, net, T, args.seed)
        res = simulate(net.to_network(), Xte, T, steps=[T])
        acc = res.accuracy_at(yte, T)
        syn = float(res.synops_per_inference(T).sum())
        row = {"timesteps": T, "accuracy": acc, "gap_points": (ann - acc) * 100, "synops": syn,
               "spikes": float(res.spikes_per_inference(T).sum()), "train_seconds": sec}
        if conv_acc is not None:
            ok = np.flatnonzero(conv_acc >= acc - 1e-12)
            row["converted_T"] = int(ok[0]) + 1 if ok.size else None
            row["converted_synops"] = float(conv_res.synops_per_inference(int(ok[0]) + 1).sum()) if ok.size else None
        rows.append(row)
        print(f"  T = {T:2d}: {acc * 100:.2f} % (gap {row['gap_points']:+.2f} points), {syn:.0f} synops/jet, "
              f"{row['spikes']:.0f} spikes/jet, trained in {sec:.0f} s; converted ({conv.meta.get('method') if conv else '-'}) "
              f"at this accuracy: T = {row.get('converted_T')}, {row.get('converted_synops')} synops/jet")
    best = [r for r in rows if r["timesteps"] <= TARGET_T and r["gap_points"] <= TARGET_GAP * 100]
    verdict = (f"met: T = {best[0]['timesteps']} within {TARGET_GAP * 100:g} points" if best
               else f"not met: no T <= {TARGET_T} within {TARGET_GAP * 100:g} points of the ANN")
    print(f"  target (within {TARGET_GAP * 100:g} points of the ANN at T <= {TARGET_T}): {verdict}")
    results["tsweep"] = {"ann_accuracy": ann, "rows": rows, "target": verdict}


def _graph_bytes(T: int, batch: int) -> int:
    """Bytes the autograd graph of one batch keeps for the backward pass over T steps (sum of the
    saved tensors; storage shared between them is counted once per use, so an upper bound)."""
    import torch

    from spikejet.snn.train.surrogate import SurrogateNet, SurrogateOptions

    torch.manual_seed(0)
    net = SurrogateNet((16, 64, 32, 32, 5), SurrogateOptions(quantize=True))
    x, y = torch.randn(batch, 16), torch.randint(0, 5, (batch,))
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x, T)
        loss = torch.nn.functional.cross_entropy(out.logits, y) + 1e-5 * out.synops.mean()
    loss.backward()
    return total


def part_timing(args, ctx, results: dict) -> None:
    from spikejet.runtime import torch_threads
    from spikejet.snn.train.surrogate import train_surrogate

    Xtr, ytr, Xva, yva = ctx.X["train"], ctx.y["train"], ctx.X["val"], ctx.y["val"]
    cfg = ctx.config.snn_surrogate
    print(f"\n== timing: one surrogate training epoch on {len(Xtr)} jets (batch {cfg.batch_size}, "
          f"penalty {cfg.synops_penalty:g}, 1 thread; validation on 2,000 jets)")
    rows = []
    for T in (8, 16, 32, 64):
        net = _start(ctx, _options(cfg), 0)
        with torch_threads(1):
            t0 = time.perf_counter()
            one = dataclasses.replace(cfg, timesteps=T, max_timesteps=max(T, cfg.max_timesteps), epochs=1)
            train_surrogate(net, Xtr, ytr, Xva[:2000], yva[:2000], one, seed=0, teacher_logits=_teacher(ctx, cfg))
            sec = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        graph = _graph_bytes(T, cfg.batch_size)
        rows.append({"timesteps": T, "seconds_per_epoch": sec, "peak_rss_mib": rss, "graph_bytes": graph,
                     "graph_bytes_per_jet_step": graph / (cfg.batch_size * T)})
        print(f"  T = {T:2d}: {sec:.1f} s per epoch; the autograd graph of one batch keeps {graph / 2**20:.1f} MiB "
              f"({graph / (cfg.batch_size * T):.0f} bytes per jet and step); process peak so far {rss:.0f} MiB")
    results["timing"] = rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="default")
    ap.add_argument("--max-jets", type=int, default=None, help="seeded subset of the data")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the --quick settings of spikejet run")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--out", default=None, help="folder for the run directories and the JSON (default: temporary)")
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise SystemExit(f"unknown part {bad[0]!r}; parts are {', '.join(PARTS)}")

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_train_snn_"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {torch_machine()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    results: dict = {"machine": torch_machine(), "argv": sys.argv}
    ctx = None
    if any(p in parts for p in ("main", "tsweep", "qat", "timing")):
        ctx = part_main(args, out, results)
    if "study" in parts:
        part_study(args, out, results)
    if "tsweep" in parts:
        part_tsweep(args, ctx, results)
    if "qat" in parts:
        part_qat(args, ctx, results)
    if "timing" in parts:
        part_timing(args, ctx, results)
    (out / "bench_train_snn.json").write_text(json.dumps(results, indent=1, default=float))
    print(f"\nresults: {out / 'bench_train_snn.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
