"""The spiking pileup filter against the timing cut, the dz-only cut and a small MLP (issue 14).

On issue 14's synthetic model (``spikejet.snn.temporal.synthetic_pileup``; or, with --sample, the
charged constituents of a generated pileup file read by ``spikejet.data.pileup.read_pileup``):
for each T in --timesteps, the SNN (trained on the training particles, seed 0) and its Loihi
integer model; the best timing cut ``|dt| < k sigma_t and |dz| < m sigma_z0`` (k, m chosen on the
training particles, applied to the test particles); the dz-only cut; an MLP 3-32-32-2 on the SNN's
inputs as numbers (time pull or 0, has-time flag, z pull; pulls clipped at +-50). Pileup rejection = 1 / pileup efficiency at 95 % PV efficiency, on
the test particles. Writes a JSON of every number.

    PYTHONPATH=src python benchmarks/bench_pileup_snn.py --out /tmp/bench_pileup_snn.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
from _machine import torch_machine


def _mlp_inputs(f, cfg):
    from spikejet.snn.temporal import pulls

    pt_, pz = pulls(f, cfg)
    timed = np.isfinite(pt_)
    return np.stack([np.where(timed, np.clip(pt_, -50, 50), 0.0), timed.astype(float),
                     np.clip(pz, -50, 50)], axis=1).astype(np.float32)


def _mlp(f, y, ft, cfg, seed=0):
    import torch

    from spikejet.ann.model import MLP
    from spikejet.ann.train import train_ann
    from spikejet.config.sections import AnnConfig

    X, Xt = _mlp_inputs(f, cfg), _mlp_inputs(ft, cfg)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(X))
    nv = len(X) // 5
    torch.manual_seed(seed)
    model = MLP((3, 32, 32, 2))
    train_ann(model, ((X - mu) / sd)[perm[nv:]], y[perm[nv:]].astype(np.int64), ((X - mu) / sd)[perm[:nv]],
              y[perm[:nv]].astype(np.int64), AnnConfig(hidden=(32, 32), max_epochs=30, patience=5, batch_size=512),
              seed=seed, progress=False)
    with torch.no_grad():
        lg = model(torch.from_numpy((Xt - mu) / sd)).double().numpy()
    return lg[:, 1] - lg[:, 0], model.sizes


def _cuts(f, y, ft, yt, cfg):
    from spikejet.evaluate.pileup import best_timing_cut, dz_cut_rejection
    from spikejet.snn.temporal import pulls

    cut = best_timing_cut(*pulls(f, cfg), y, cfg.efficiency)  # chosen on the training particles
    t, z = pulls(ft, cfg)
    ok = (np.abs(z) < cut.m) & (~np.isfinite(t) | (np.abs(np.nan_to_num(t, nan=0.0)) < cut.k))
    e_pv, e_pu = float(ok[yt].mean()), float(ok[~yt].mean())
    return {"timing_cut": {"k": cut.k, "m": cut.m, "pv_eff_test": e_pv, "pu_eff_test": e_pu,
                           "rejection_test": 1 / e_pu if e_pu else None},
            "dz_cut_rejection": dz_cut_rejection(z, yt, cfg.efficiency)}


def _snn(f, y, ft, yt, cfg):
    from spikejet.evaluate.metrics import rejection_at_efficiency
    from spikejet.snn.temporal import fit_pileup_snn, pv_scores
    from spikejet.snn.temporal_loihi import loihi_pv_scores, pileup_ops

    t0 = time.perf_counter()
    net = fit_pileup_snn(f, y, cfg, seed=0)
    secs = time.perf_counter() - t0
    s = pv_scores(net, ft)
    sc, info = loihi_pv_scores(net, ft)
    ops = pileup_ops(net, ft)
    return {"rejection": rejection_at_efficiency(s[yt], s[~yt], cfg.efficiency),
            "loihi_rejection": rejection_at_efficiency(sc[yt], sc[~yt], cfg.efficiency),
            "loihi_frac_equal": info["frac_equal"], "loihi_max_abs_diff": info["max_abs_diff"],
            "latency_steps": info["latency_steps"], "resources": info["resources"],
            "train_seconds": secs, "best_epoch": net.history.best_epoch,
            "ops": {k: v for k, v in ops.items() if k != "energy_breakdown_per_particle_j"}}


def main() -> None:
    import torch

    from spikejet.config.sections import PileupSnnConfig
    from spikejet.evaluate.metrics import rejection_at_efficiency
    from spikejet.hardware.energy import ann_counts, energy_per_inference
    from spikejet.snn.temporal import synthetic_pileup

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--timesteps", type=int, nargs="+", default=[8, 12, 16])
    ap.add_argument("--train", type=int, default=60000)
    ap.add_argument("--test", type=int, default=200000)
    ap.add_argument("--epochs", type=int, default=PileupSnnConfig.epochs)
    ap.add_argument("--hidden", type=int, default=PileupSnnConfig.hidden)
    args = ap.parse_args()
    torch.set_num_threads(1)
    f, y = synthetic_pileup(args.train, seed=1)
    ft, yt = synthetic_pileup(args.test, seed=2)
    base = PileupSnnConfig(epochs=args.epochs, hidden=args.hidden)
    res = {"machine": torch_machine(), "train": args.train, "test": args.test, "pv_test": int(yt.sum()),
           "config": dataclasses.asdict(base), **_cuts(f, y, ft, yt, base)}
    m, sizes = _mlp(f, y, ft, base)
    res["mlp"] = {"sizes": list(sizes), "rejection": rejection_at_efficiency(m[yt], m[~yt], base.efficiency),
                  "gpu_j_per_particle": energy_per_inference(ann_counts(sizes), "gpu")}
    res["snn"] = {}
    for T in args.timesteps:
        cfg = dataclasses.replace(base, timesteps=T, n_delays=min(base.n_delays, T))
        res["snn"][str(T)] = _snn(f, y, ft, yt, cfg)
        print(T, json.dumps({k: res["snn"][str(T)][k] for k in ("rejection", "loihi_rejection", "latency_steps")}))
    print(json.dumps({k: v for k, v in res.items() if k not in ("snn", "config")}, indent=1))
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
