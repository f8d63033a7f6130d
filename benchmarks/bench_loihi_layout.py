"""Loihi layouts of one spiking model: input bits of the on-chip first layer, study layout vs whole network on chip.

Takes a spiking model file (e.g. the default run's surrogate SNN) and the test
jets beside it (``test.h5``) or ``--test FILE``, and runs
:func:`spikejet.hardware.loihi.evaluate.evaluate_on_loihi` on the Loihi 2
integer model at the model's headline T (or ``--timesteps``):

* **input bits**: the whole network on the chip, the features sent once as
  graded spikes of ``--input-bits`` bits each (clip ``--input-clip``): accuracy,
  the share of jets decided as by the float SNN, the clipped share of features;
* **layouts**: the 2019 study's layout (first layer on the host, charged to the
  host CPU, as the seed-2019 preset does) against the whole network on the chip
  (``--layout-bits`` graded input, the little host work charged to an ARM core,
  the ``loihi`` stage's default): accuracy, chip / I/O / host / system energy per
  inference and the system's ratio to the ANN of the same sizes on a GPU, plus
  the on-chip counts behind the chip energy and the synaptic operations the
  issue's 1/5 target would allow at this T.

These are the tables of docs/hardware.md ("Input bits", "The whole network on
the chip (issue 10)").

    .venv/bin/python benchmarks/bench_loihi_layout.py --model runs/x/snn_surrogate.pt
    .venv/bin/python benchmarks/bench_loihi_layout.py --model runs/x/snn_surrogate.pt --input-bits 6 8 10 12 \\
        --json layout.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _machine import torch_machine
from bench_loihi import load_model_and_jets

#: The issue's target: the system's energy per inference at most this share of the ANN's on a GPU.
MAX_SYSTEM_RATIO_TO_ANN_GPU = 0.2


def _nj(j: float) -> str:
    return f"{j * 1e9:.1f} nJ" if j < 1e-6 else f"{j * 1e6:.2f} µJ"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="spiking model file")
    ap.add_argument("--test", help="test jets (default: test.h5 beside the model)")
    ap.add_argument("--timesteps", type=int, help="T (default: the model's headline T)")
    ap.add_argument("--input-bits", type=int, nargs="+", default=[6, 8, 10, 12], help="input bits to sweep")
    ap.add_argument("--input-clip", type=float, default=8.0)
    ap.add_argument("--layout-bits", type=int, default=10, help="input bits of the on-chip layout row")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    args = ap.parse_args(argv)

    import torch

    from spikejet.hardware.energy import LOIHI_J_PER_NEURON, LOIHI_J_PER_SYNOP
    from spikejet.hardware.loihi.evaluate import evaluate_on_loihi

    torch.set_num_threads(1)
    print(f"machine: {torch_machine()}")
    net, X, y, info = load_model_and_jets(args.model, args.test)
    T_model, test = info["T"], info["test"]
    T = args.timesteps or T_model
    print(f"model: {args.model}; {'-'.join(map(str, net.sizes))}, {type(net.layers[0].neuron).__name__} neurons, "
          f"reset {getattr(net.layers[0].neuron, 'reset', '?')}, read-out {net.readout.kind}; T = {T} "
          f"(headline {T_model})")
    print(f"test jets: {test}; Loihi 2 integer model, delay-bias compensation on")

    def ev(**kw):
        t0 = time.perf_counter()
        e = evaluate_on_loihi(net, X, y, timesteps=T, profile="loihi2", curve=False, seed=args.seed,
                              input_clip=args.input_clip, **kw).extra
        e["seconds"] = time.perf_counter() - t0
        return e

    out: dict = {"machine": torch_machine(), "model": args.model, "test": test, "T": T, "input_bits": {}}
    print(f"\n## input bits (whole network on chip, graded input once, clip +-{args.input_clip:g})\n")
    print("| input bits | accuracy | gap to float | same class as float | clipped features |")
    print("|---|---|---|---|---|")
    for bits in sorted(set(args.input_bits) | {args.layout_bits}):
        e = ev(first_layer_offchip=False, input_bits=bits, host_device="arm")
        out["input_bits"][bits] = e
        acc = e["accuracy_vs_timesteps"][str(T)]
        print(f"| {bits} | {acc * 100:.2f} % | {e['accuracy_gap_to_float'] * 100:+.2f} | "
              f"{e['agreement_with_float'] * 100:.1f} % | {e['input_quantization']['clipped_fraction'] * 100:.3f} % |"
              f"  ({e['seconds']:.0f} s)")
    float_acc = out["input_bits"][args.layout_bits]["float_accuracy"]
    print(f"float SNN: {float_acc * 100:.2f} %")

    study = ev(first_layer_offchip=True, host_device="cpu")
    chip = out["input_bits"][args.layout_bits]
    out["layouts"] = {"study": study, "on_chip": chip}
    ann_gpu = chip["ann_energy_per_inference_j"]["gpu"]
    print(f"\n## layouts (Loihi 2, T = {T}; float SNN {float_acc * 100:.2f} %; ANN of the same sizes on a GPU "
          f"{_nj(ann_gpu)}, {chip['ann_macs']:.0f} MACs)\n")
    print("| layout | off-chip layers | accuracy | same class | chip | I/O | host work | system | / ANN GPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, e in (("study: first layer on the host CPU", study),
                    (f"whole network on chip, {args.layout_bits}-bit graded input", chip)):
        io, br = e["io_per_inference"], e["system_energy_breakdown_j"]
        io_what = (f"{e['input_events_per_inference']:.0f} spikes" if e["input_mode"] == "offchip"
                   else f"{io['messages_in']:.1f} messages")
        print(f"| {name} | {e['off_chip_layers']} | {e['accuracy_vs_timesteps'][str(T)] * 100:.2f} % | "
              f"{e['agreement_with_float'] * 100:.1f} % | {_nj(e['energy_per_inference_j']['loihi'])} | "
              f"{_nj(io['energy_j'])} ({io_what}, {io['bits_in']:.0f} bits in, {io['bits_out']:.0f} out) | "
              f"{_nj(br['host'])} ({io['host_ops']:.0f} ops, {br['host_device']}) | "
              f"{_nj(e['system_energy_per_inference_j'])} | {e['system_energy_ratio_to_ann_gpu']:.3f} |")
    for name, e in (("study", study), ("on chip", chip)):
        by = ", ".join(f"{d} {_nj(j)} = {j / ann_gpu:.3f} x" for d, j in e["system_energy_by_host_device_j"].items())
        print(f"system energy by host device, {name}: {by}")
    res = chip["resources"]
    nu, syn = chip["neuron_updates_per_inference"], chip["synops_per_inference"]
    fan = net.sizes[1]
    print(f"on chip ({args.layout_bits} bits): {res['compartments']} compartments x {chip['latency']['steps']} steps "
          f"(T + {chip['latency']['delay_steps']} axon delays) = {nu:.0f} neuron updates = "
          f"{_nj(nu * LOIHI_J_PER_NEURON)}; {syn:.0f} synaptic operations = {_nj(syn * LOIHI_J_PER_SYNOP)} "
          f"({chip['input_events_per_inference'] * fan:.0f} of them the {chip['input_events_per_inference']:.1f} "
          f"graded input spikes' fan-out to {fan}); {chip['spikes_per_inference']:.1f} spikes")
    budget = MAX_SYSTEM_RATIO_TO_ANN_GPU * ann_gpu
    rest = chip["system_energy_per_inference_j"] - syn * LOIHI_J_PER_SYNOP
    allowed = (budget - rest) / LOIHI_J_PER_SYNOP
    ok = chip["system_energy_ratio_to_ann_gpu"] <= MAX_SYSTEM_RATIO_TO_ANN_GPU
    print(f"target: system <= {MAX_SYSTEM_RATIO_TO_ANN_GPU} x the ANN on a GPU = {_nj(budget)}: "
          f"{chip['system_energy_ratio_to_ann_gpu']:.3f} x -> {'met' if ok else 'NOT met'}; at this T it allows "
          f"<= {allowed:.0f} synaptic operations per jet on the chip (input included; {syn:.0f} now)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
