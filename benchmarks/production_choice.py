"""How the W/Z/top production choice changes the standard MLP's accuracy.

Generates a modest sample (``--jets`` per class) twice: W, Z and top jets once from
direct 2 -> 2 production (``direct``, the default, as in the public hls4ml samples)
and once from heavy-resonance decays (``resonance``: Z' -> WW, W' -> WZ with
longitudinal decay angles, Z' -> tt). g and q jets are the same processes in both
modes, so they are generated once and shared. Then a 16-64-32-32-5 ReLU MLP is
trained on each (standardized on the training split, Adam, batch 256, early
stopping on the validation loss) for several seeds, and the test accuracies are
printed with the per-class recall and two diagnostics of the W/Z jets: the share
whose groomed (mMDT) mass is below 50 GeV (one prong groomed away) and the share
classified as q.

    .venv/bin/python benchmarks/production_choice.py [--jets 3000] [--workers 2]
        [--seeds 3] [--workdir /tmp/spikejet-production-choice]

Generated files are kept in --workdir, so a rerun only trains.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

#: Fractions of the sample used for training / validation (the rest is the test set).
TRAIN_FRACTION, VAL_FRACTION = 0.6, 0.2
LEARNING_RATE = 1e-3
BATCH_SIZE = 256
MAX_EPOCHS = 300
PATIENCE = 15
HIDDEN = (64, 32, 32)
#: A W/Z jet whose groomed mass is below this (GeV) has lost one prong to the grooming.
ONE_PRONG_MASS_GEV = 50.0
MASS_MMDT_COLUMN = 14
SEED = 2019


def _generate(classes: str, production: str, jets: int, workers: int, out: Path, seed: int):
    from spikejet.physics.config import GenerateConfig
    from spikejet.physics.generate import generate

    if out.exists():
        return 0.0
    cfg = GenerateConfig(jets_per_class=jets, classes=classes, production=production, seed=seed,
                         chunk_size=max(1, min(500, jets // max(1, workers))))
    t0 = time.perf_counter()
    generate(cfg, out, workers=workers, quiet=False)
    return time.perf_counter() - t0


def _train_eval(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[float, np.ndarray, np.ndarray]:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    n_tr, n_va = int(TRAIN_FRACTION * len(y)), int(VAL_FRACTION * len(y))
    tr, va, te = idx[:n_tr], idx[n_tr:n_tr + n_va], idx[n_tr + n_va:]
    mu, sd = X[tr].mean(0), X[tr].std(0)
    sd[sd == 0] = 1.0
    Z = ((X - mu) / sd).astype(np.float32)
    torch.manual_seed(seed)
    layers, width = [], Z.shape[1]
    for h in HIDDEN:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers, nn.Linear(width, 5))
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    lossf = nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(Z[tr]), torch.from_numpy(y[tr])
    Xv, yv = torch.from_numpy(Z[va]), torch.from_numpy(y[va])
    best, best_state, bad = np.inf, None, 0
    gen = torch.Generator().manual_seed(seed)
    for _ in range(MAX_EPOCHS):
        model.train()
        perm = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(yt), BATCH_SIZE):
            b = perm[i:i + BATCH_SIZE]
            opt.zero_grad()
            lossf(model(Xt[b]), yt[b]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            vl = float(lossf(model(Xv), yv))
        if vl < best - 1e-5:
            best, bad = vl, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= PATIENCE:
                break
    model.load_state_dict(best_state)
    with torch.no_grad():
        pred = model(torch.from_numpy(Z[te])).argmax(1).numpy()
    return float((pred == y[te]).mean()), y[te], pred


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jets", type=int, default=3000, help="jets per class")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per sample")
    ap.add_argument("--workdir", default="/tmp/spikejet-production-choice")
    args = ap.parse_args(argv)

    from spikejet.data import read
    from spikejet.data.schema import CLASS_NAMES

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    files = {
        "qcd": work / f"gq_{args.jets}.h5",
        "direct": work / f"wzt_direct_{args.jets}.h5",
        "resonance": work / f"wzt_resonance_{args.jets}.h5",
    }
    gen_s = {
        "qcd": _generate("g,q", "direct", args.jets, args.workers, files["qcd"], SEED),
        "direct": _generate("w,z,t", "direct", args.jets, args.workers, files["direct"], SEED),
        "resonance": _generate("w,z,t", "resonance", args.jets, args.workers, files["resonance"], SEED),
    }
    qcd = read(files["qcd"])
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"machine: {platform.node()} | {cpu} | {len(os.sched_getaffinity(0))} cores | "
          f"generation wall s: " + ", ".join(f"{k}={v:.0f}" for k, v in gen_s.items() if v))
    print(f"{args.jets} jets/class, split {TRAIN_FRACTION}/{VAL_FRACTION}/{1 - TRAIN_FRACTION - VAL_FRACTION:.1f}, "
          f"MLP 16-{'-'.join(map(str, HIDDEN))}-5 ReLU, Adam lr {LEARNING_RATE}, batch {BATCH_SIZE}, "
          f"early stopping (patience {PATIENCE}), {args.seeds} seeds")
    for mode in ("direct", "resonance"):
        bos = read(files[mode])
        X = np.concatenate([qcd.X, bos.X]).astype(np.float64)
        y = np.concatenate([qcd.y, bos.y]).astype(np.int64)
        wz = np.isin(y, [CLASS_NAMES.index("w"), CLASS_NAMES.index("z")])
        one_prong = float((X[wz, MASS_MMDT_COLUMN] < ONE_PRONG_MASS_GEV).mean())
        accs, recalls, wz_as_q = [], [], []
        for s in range(args.seeds):
            acc, yt, pred = _train_eval(X, y, SEED + s)
            accs.append(acc)
            recalls.append([float((pred[yt == c] == c).mean()) for c in range(5)])
            m = np.isin(yt, [2, 3])
            wz_as_q.append(float((pred[m] == CLASS_NAMES.index("q")).mean()))
        rec = np.mean(recalls, axis=0)
        print(f"{mode:>9}: accuracy {100 * np.mean(accs):.2f} +- {100 * np.std(accs):.2f} % "
              f"(seeds: {', '.join(f'{100 * a:.2f}' for a in accs)}) | recall "
              + " ".join(f"{c}={100 * r:.1f}" for c, r in zip(CLASS_NAMES, rec, strict=True))
              + f" | W/Z with m_mMDT < {ONE_PRONG_MASS_GEV:g} GeV: {100 * one_prong:.1f} %"
              f" | W/Z classified q: {100 * np.mean(wz_as_q):.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
