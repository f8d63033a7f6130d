"""Loihi 2's integer model of the spiking deep sets against its float model, per input setting.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_loihi_deepsets.py --model runs/<default run>/snn_particles.pt

Maps the model file's network with ``hardware.loihi.deepsets.map_deepsets`` for every
(input bits, clip) pair and runs the integer model on a seeded subset of the run's test jets
(``split.npz`` beside the model; the particles from the run's data source): accuracy, the
fraction of jets with the float network's class, the per-layer ``limited_by`` of the mapper and
the jet-feature synapse group's exponent (docs/particles.md, "Where the integer model lost").
With ``--float-rounding`` it also scores the float network with its inputs rounded onto each
setting's grid, with its weights on the mapper's grids (``SpikingDeepSets.layer_weights``, the
quantization-aware training's rounding) and with both: where the integer model's loss comes from
(docs/particles.md, "Quantization-aware training")."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _machine import torch_machine


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="snn_particles.pt of a run")
    ap.add_argument("--jets", type=int, default=3000, help="seeded subset of the test jets")
    ap.add_argument("--settings", nargs="+", default=["10:8", "12:8", "12:4", "10:4"],
                    help="input bits:clip pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--float-rounding", action="store_true",
                    help="also the float network with rounded inputs, rounded weights and both")
    args = ap.parse_args(argv)

    import numpy as np

    from spikejet.data import load
    from spikejet.errors import HardwareError
    from spikejet.hardware.loihi.deepsets import map_deepsets, simulate_deepsets
    from spikejet.hardware.loihi.mapping import InputQuantization
    from spikejet.models.file import load_bundle
    from spikejet.snn.particle import evaluate_spiking_deepsets

    print("machine:", torch_machine())
    b = load_bundle(args.model)
    split = np.load(Path(args.model).with_name("split.npz"))
    table = load(b.config["data"]["source"], particles=True)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(split["test"], min(args.jets, len(split["test"])), replace=False))
    inputs = b._particle_inputs(table.subset(rows))
    y = table.y[rows]
    T = int(b.arch["predict"]["T"])
    f = evaluate_spiking_deepsets(b.model, inputs, T)["logits"].argmax(1)
    print(f"{args.model}: {len(rows)} test jets, T = {T}, float {np.mean(f == y) * 100:.2f} %; largest "
          f"standardized |feature|: particles {np.abs(inputs[0]).max():.1f}"
          + (f", jet {np.abs(inputs[2]).max():.1f}" if len(inputs) > 2 else ""))
    for setting in args.settings:
        bits, clip = setting.split(":")
        t0 = time.perf_counter()
        if args.float_rounding:
            iq = InputQuantization(bits=int(bits), clip=float(clip))
            rounded = [iq.quantize(a).astype(np.float32) * np.float32(iq.step) if k != 1 else a
                       for k, a in enumerate(inputs)]  # inputs[1]: the mask
            accs = []
            for on_grid, x in ((False, rounded), (True, inputs), (True, rounded)):
                b.model.qat_global_step = iq.step if on_grid else None
                accs.append(np.mean(evaluate_spiking_deepsets(b.model, x, T)["logits"].argmax(1) == y) * 100)
            b.model.qat_global_step = None
            print(f"{bits} bits, clip {clip}: float with rounded inputs {accs[0]:.2f} %, with weights on the "
                  f"mapper's grids {accs[1]:.2f} %, both {accs[2]:.2f} %", flush=True)
        try:
            mp = map_deepsets(b.model, n_particles=inputs[0].shape[1], T=T, input_bits=int(bits),
                              input_clip=float(clip))
        except HardwareError as exc:
            print(f"{bits} bits, clip {clip}: cannot be mapped ({exc})")
            continue
        q = simulate_deepsets(mp, *inputs, T)["logits"].argmax(1)
        g = mp.report().get("global_synapses")  # absent before the jet features got their own group
        print(f"{bits} bits, clip {clip}: Loihi 2 {np.mean(q == y) * 100:.2f} %, same class as float "
              f"{np.mean(q == f) * 100:.1f} %, limited_by {[r.limited_by for r in mp.quantization]}, "
              f"jet-feature group {g} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
