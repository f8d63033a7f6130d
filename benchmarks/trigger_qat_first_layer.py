"""Issue 10 lever: quantization-aware training of the first layer too, when it runs on the chip.

Usage (from the repository root)::

    .venv/bin/python benchmarks/trigger_qat_first_layer.py --out /tmp/qat0

The surrogate SNN's QAT leaves layer 0 in float (``SurrogateNet._quantized``: written for the
study's off-chip first layer). With the whole network on Loihi 2 (graded 10-bit input) layer 0
runs in chip integers too. This trains the default recipe from the run's QCFS network twice
(``trigger_levers.py``'s seeds) -- as it is, and with layer 0 on the 8-bit grid as well (the
method patched for this script only) -- and scores each float network and its Loihi 2 integer
model with the whole network on the chip on the test jets (docs/hardware.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _machine import torch_machine
from trigger_levers import default_start, train_and_simulate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import numpy as np

    from spikejet.hardware.loihi.evaluate import evaluate_on_loihi
    from spikejet.runtime import single_thread
    from spikejet.snn.train.surrogate import SurrogateNet

    print("machine:", torch_machine())
    cfg, start, _, X, y, _, teacher = default_start(args.out / "run")
    as_is = SurrogateNet._quantized
    try:
        for name, first_layer in (("QAT of layers 1-3 (the recipe)", False), ("QAT of layers 0-3", True)):
            SurrogateNet._quantized = (lambda self, i: self.options.quantize) if first_layer else as_is
            res, sec, _, snn = train_and_simulate(start, cfg.snn_surrogate, X, y, teacher)
            with single_thread():
                ev = evaluate_on_loihi(snn, X["test"], y["test"], timesteps=8, profile="loihi2", curve=False, seed=1)
            f = res.scores.argmax(1)
            q = ev.scores.argmax(1)
            print(f"{name}: float {np.mean(f == y['test']) * 100:.2f} % | Loihi 2, whole network on chip "
                  f"{np.mean(q == y['test']) * 100:.2f} % (same class {np.mean(q == f) * 100:.1f} %) | system "
                  f"{ev.extra['system_energy_per_inference_j'] * 1e9:.1f} nJ = "
                  f"{ev.extra['system_energy_ratio_to_ann_gpu']:.3f} x [{sec:.0f} s]", flush=True)
    finally:
        SurrogateNet._quantized = as_is
    return 0


if __name__ == "__main__":
    sys.exit(main())
