"""The ``pileup`` stage: per-particle pileup rejection with time as time, and tagging under pileup.

On a ``spikejet generate --pileup`` sample (default: the embedded MU = 200 sample,
docs/pileup.md):

1. every track of every jet gets its time and z0 relative to the jet's reference vertex
   (:func:`spikejet.physics.mitigation.reference_vertex`: the hardest timed tracks, no truth);
   the jets are split into training and test jets (stratified, seeded);
2. four per-track methods decide primary vertex (PV) versus pileup: the spiking network with
   axon delays on latency-coded (dt, dz) (:mod:`spikejet.snn.temporal`), the best timing-window
   cut, the same cut without timing and a conventional MLP on the same inputs; each one's pileup
   rejection at ``efficiency`` PV efficiency on the test tracks (``pu_rejection_at_95_pv``);
3. the test jets at every MU of ``mus`` (lower ones by thinning whole interactions) are cleaned by
   each method at its working point (thresholds from the training tracks), their 16 features
   recomputed and scored by the run's ANN (trained at MU = 0): ``accuracy_vs_mu`` and the mMDT mass
   shift and width per class against the hard interaction's jet;
4. the spiking network on the Loihi integer model and through its NIR file, with its operations,
   energy and latency per particle and per event beside the MLP on a GPU and an FPGA-style estimate.

Writes ``metrics.json["pileup"]`` (not a jet-tagger entry) and the report's pileup figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config.sections import PileupConfig
from ..errors import ConfigError, DataError
from ..run.context import StageContext, StageResult

__all__ = ["pileup_stage", "METHODS", "CLEANINGS"]

STAGE_NAME = "pileup"
#: Per-track methods (the keys of ``pu_rejection_at_95_pv``).
METHODS = ("snn", "timing_cut", "no_timing", "mlp")
#: Jet cleanings of the tagging study (the keys of ``accuracy_vs_mu``).
CLEANINGS = ("raw", "snn", "timing_cut", "no_timing", "mlp", "truth")
MASS_INDEX = 14  # j_mass_mmdt in FEATURE_NAMES (physics.mitigation.MASS_INDEX)


def _sample(ctx: StageContext, cfg: PileupConfig) -> Any:
    from pathlib import Path

    from ..data.pileup import pileup_sample_path, read_pileup

    path = Path(cfg.data) if cfg.data else pileup_sample_path()
    if not path.is_file():
        raise DataError(f"pileup sample {path} not found; make one with `spikejet generate --pileup 200 ...` "
                        "and set pileup.data, or skip the stage (--skip pileup)")
    sample = read_pileup(path)
    if cfg.max_jets is not None and len(sample) > cfg.max_jets:
        from ..physics.mitigation import subset
        from ..runtime import seeded_rows

        sample = subset(sample, np.sort(seeded_rows(len(sample), cfg.max_jets, ctx.seed_for("pileup_subset"))))
    return sample


def _split_jets(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified: the first ``fraction`` of every class's shuffled jets train, the rest test."""
    train, test = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        k = int(round(fraction * rows.size))
        train.append(rows[:k])
        test.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _mlp_inputs(tracks: Any, sigma_t: float) -> np.ndarray:
    """The conventional baseline's inputs: what the spiking network sees, as numbers."""
    has_t = np.isfinite(tracks.dt_ps)
    dz = np.clip(tracks.dz_mm / tracks.sigma_z_mm, -50, 50)
    dt = np.clip(np.where(has_t, tracks.dt_ps / sigma_t, 0.0), -50, 50)
    return np.stack([dz, dt, has_t.astype(np.float64), np.log(tracks.pt), np.abs(tracks.eta)], 1).astype(np.float32)


def _mlp(ctx: StageContext, cfg: PileupConfig, train: Any, test: Any, sigma_t: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train the per-track MLP (the one ANN training loop); (train scores, test scores, info)."""
    import dataclasses

    import torch

    from ..ann.model import MLP, predict_proba
    from ..ann.train import train_ann
    from ..runtime import ANN_TORCH_THREADS, torch_threads

    Xtr, Xte = _mlp_inputs(train, sigma_t), _mlp_inputs(test, sigma_t)
    ytr = train.is_pv.astype(np.int64)
    rng = ctx.rng("pileup_mlp")
    val = rng.random(ytr.size) < 0.2
    acfg = dataclasses.replace(ctx.config.ann, max_epochs=cfg.mlp_epochs, batch_size=cfg.mlp_batch_size,
                               learning_rate=cfg.mlp_learning_rate, class_weights=True)
    sizes = (Xtr.shape[1], *cfg.mlp_hidden, 2)
    with torch_threads(ANN_TORCH_THREADS):
        torch.manual_seed(ctx.seed_for("pileup_mlp"))
        model = MLP(sizes)
        train_ann(model, Xtr[~val], ytr[~val], Xtr[val], ytr[val], acfg, seed=ctx.seed_for("pileup_mlp"),
                  progress=False)
        s_tr, s_te = predict_proba(model, Xtr)[:, 1], predict_proba(model, Xte)[:, 1]
    return s_tr, s_te, _mlp_costs(sizes)


def _mlp_costs(sizes: tuple[int, ...]) -> dict[str, Any]:
    """The per-track MLP's MACs and energy per particle: on a GPU (the energy model every model shares)
    and an FPGA-style estimate (int8 MACs at 45 nm, Horowitz 2014: arithmetic only, no memory or I/O,
    a lower bound; no FPGA figure for this network is published)."""
    from ..hardware.energy import ann_counts, energy_per_inference, mac_energy_pj

    c = ann_counts(sizes)
    return {"sizes": list(sizes), "macs_per_particle": int(c.synops),
            "energy_per_particle_j": {"gpu": energy_per_inference(c, "gpu"),
                                      "fpga_style_int8_macs": c.synops * mac_energy_pj("int8") * 1e-12}}


def _rejection(is_pv: np.ndarray, scores: np.ndarray, eff: float) -> tuple[float | None, Any]:
    from ..evaluate.metrics import rejection_at, roc_curve

    tpr, fpr = roc_curve(is_pv, scores)
    return rejection_at(tpr, fpr, eff), (tpr, fpr)


def _threshold(is_pv: np.ndarray, scores: np.ndarray, eff: float) -> float:
    """The score above which ``eff`` of the PV tracks lie (on the training tracks)."""
    pv = np.sort(scores[is_pv])
    return float(pv[int(np.floor((1.0 - eff) * pv.size))]) if pv.size else -np.inf


def pileup_stage(ctx: StageContext, cfg: PileupConfig) -> StageResult:
    from ..physics import mitigation as M

    ann = ctx.models.get("ann")
    if ann is None:
        raise ConfigError("the pileup stage tags jets with the run's ANN: run the train_ann stage first")
    sample = _sample(ctx, cfg)
    sigma_t = float(sample.settings.get("timing_resolution_ps", 35.0))
    z_ref, t_ref = M.reference_vertex(sample)
    tracks = M.track_inputs(sample, z_ref, t_ref, M.track_resolution(sample))
    jets_tr, jets_te = _split_jets(np.asarray(sample.y), cfg.train_fraction, ctx.rng("pileup_split"))
    in_train = np.isin(tracks.jet, jets_tr)
    tr, te = tracks.take(np.flatnonzero(in_train)), tracks.take(np.flatnonzero(~in_train))

    ratio, cut = M.best_cut(tr, sigma_t, cfg.efficiency)
    scores = {"timing_cut": (M.cut_scores(tr, sigma_t, ratio), M.cut_scores(te, sigma_t, ratio)),
              "no_timing": (M.cut_scores(tr, sigma_t, None), M.cut_scores(te, sigma_t, None))}
    s_tr, s_te, mlp_info = _mlp(ctx, cfg, tr, te, sigma_t)
    scores["mlp"] = (s_tr, s_te)
    from ..runtime import ANN_TORCH_THREADS, torch_threads

    with torch_threads(ANN_TORCH_THREADS):  # two threads on the shared cores were 3-4x slower here
        snn = _snn(ctx, tr, te, sigma_t)
    scores["snn"] = (snn.pop("train_scores"), snn.pop("test_scores"))

    rejection, rocs, thresholds = {}, {}, {}
    for m in METHODS:
        rejection[m], rocs[m] = _rejection(te.is_pv, scores[m][1], cfg.efficiency)
        thresholds[m] = _threshold(tr.is_pv, scores[m][0], cfg.efficiency)
    passes = {m: scores[m][1] >= thresholds[m] for m in METHODS}
    tagging = _tagging(ctx, cfg, sample, te, passes, jets_te, ann)
    entry = _entry(cfg, sample, tracks, tr, te, z_ref, t_ref, ratio, cut, rejection, passes, tagging, mlp_info, snn)
    ctx.result.entry = entry
    _figures(ctx, cfg, rocs, rejection, tagging)
    ctx.log(_summary(entry))
    return ctx.result


def _track_pass(n: int, te: Any, passes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per method, a flat constituent mask: False for the test tracks the method calls pileup."""
    out = {}
    for m, ok in passes.items():
        keep = np.ones(n, dtype=bool)
        keep[te.index] = ok
        out[m] = keep
    return out


def _mu_mask(ctx: StageContext, sample: Any, mu: float, mu_sample: float) -> np.ndarray:
    from ..physics.mitigation import thinned_mask

    if mu > mu_sample:
        raise ConfigError(f"config value pileup.mus: {mu:g} is above the sample's pileup {mu_sample:g}; "
                          "lower pileup values are made by thinning, higher ones need a new sample")
    if mu == mu_sample:
        return np.ones(np.shape(sample.origin), dtype=bool)
    return thinned_mask(sample, mu / mu_sample, ctx.rng(f"pileup_thin_{mu:g}"))


def _tagging(ctx: StageContext, cfg: PileupConfig, sample: Any, te: Any, passes: dict[str, np.ndarray],
             jets_te: np.ndarray, ann: Any) -> dict[str, Any]:
    """ANN accuracy and mMDT mass shift/width of the test jets per cleaning and MU."""
    from ..physics import mitigation as M

    rows = M.constituent_rows(sample, jets_te)
    sub = M.subset(sample, jets_te)
    y = ann.labels(np.asarray(sub.y))
    pv = np.asarray(sample.origin) == 0
    reco = M.reconstructed(sample, cfg.neutral_pt_min)
    keep_track = _track_pass(pv.size, te, passes)
    X_true = M.cleaned_features(sub, pv[rows])  # the hard interaction at particle level
    mu_sample = float(sample.settings.get("mu", max(cfg.mus)))
    acc: dict[str, dict[str, float]] = {c: {} for c in CLEANINGS}
    mass: dict[str, dict[str, Any]] = {c: {} for c in CLEANINGS}
    n_const: dict[str, dict[str, float]] = {c: {} for c in CLEANINGS}
    for mu in cfg.mus:
        base = reco & _mu_mask(ctx, sample, mu, mu_sample)
        for c in CLEANINGS:
            mask = base & (pv if c == "truth" else keep_track.get(c, True))
            X = M.cleaned_features(sub, mask[rows])
            key = f"{mu:g}"
            acc[c][key] = float((ann.predict_proba(X).argmax(axis=1) == y).mean())
            mass[c][key] = M.mass_resolution(X[:, MASS_INDEX], X_true[:, MASS_INDEX], y, len(ann.class_names))
            n_const[c][key] = float(X[:, -1].mean())
    particle_level = float((ann.predict_proba(X_true).argmax(axis=1) == y).mean())
    return {"accuracy": acc, "mass": mass, "constituents": n_const, "particle_level_accuracy": particle_level,
            "n_test_jets": int(len(sub)), "class_names": list(ann.class_names)}


def _recovery(acc: dict[str, dict[str, float]], mus: tuple[float, ...]) -> dict[str, float | None]:
    """Per cleaning: the fraction of the accuracy lost from MU = 0 to the highest MU (raw) it recovers."""
    lo, hi = f"{min(mus):g}", f"{max(mus):g}"
    lost = acc["raw"][lo] - acc["raw"][hi]
    return {c: (None if lost <= 0 else (acc[c][hi] - acc["raw"][hi]) / lost) for c in CLEANINGS if c != "raw"}


def _snn(ctx: StageContext, tr: Any, te: Any, sigma_t: float) -> dict[str, Any]:
    """The spiking filter: trained on the training tracks, scored (float, Loihi integer model, NIR
    read-back) on the test tracks, with its operations and energy per particle and per event."""
    from ..interop.nir import graph_bytes, graph_from_bytes
    from ..interop.nir_delay import temporal_from_nir, temporal_to_nir
    from ..io import write_bytes
    from ..snn.temporal import fit_pileup_snn, pv_scores
    from ..snn.temporal_loihi import loihi_pv_scores, pileup_ops

    scfg = ctx.config.section("pileup_snn")
    f_tr, f_te = _features(tr, scfg), _features(te, scfg)
    net = fit_pileup_snn(f_tr, tr.is_pv, scfg, seed=ctx.seed_for("pileup_snn"))
    out: dict[str, Any] = {"train_scores": pv_scores(net, f_tr), "test_scores": pv_scores(net, f_te)}
    loihi_scores, info = loihi_pv_scores(net, f_te)
    info.pop("integer_scores", None)
    out["loihi_rejection"], _ = _rejection(te.is_pv, loihi_scores, scfg.efficiency)
    out["loihi"] = info
    out["ops"] = pileup_ops(net, f_te)
    data = graph_bytes(temporal_to_nir(net))
    ctx.save("pileup_snn.nir", lambda path: write_bytes(path, data))
    back = pv_scores(temporal_from_nir(graph_from_bytes(data)), f_te)  # the written bytes, read back
    out["nir_rejection"], _ = _rejection(te.is_pv, back, scfg.efficiency)
    out["nir_max_abs_score_difference"] = float(np.max(np.abs(back - out["test_scores"]))) if back.size else 0.0
    out["timesteps"] = int(scfg.timesteps)
    out["chip_steps_per_particle"] = int(info["latency_steps"])
    return out


def _features(tracks: Any, scfg: Any) -> Any:
    """The filter's inputs. Its encoder divides dz by its own sigma_z0(pt) model; the sample's tracks
    have the generator's resolution (eta dependent), so dz is handed over rescaled such that the
    encoder's pull is the track's true pull dz / sigma_z(track)."""
    from ..snn.temporal import PileupFeatures, sigma_z0

    dz = tracks.dz_mm / tracks.sigma_z_mm * sigma_z0(tracks.pt, scfg)
    return PileupFeatures(tracks.dt_ps, dz, tracks.pt, tracks.eta)


def _entry(cfg: PileupConfig, sample: Any, tracks: Any, tr: Any, te: Any, z_ref: np.ndarray, t_ref: np.ndarray,
           ratio: float, cut: Any, rejection: dict, passes: dict, tagging: dict, mlp_info: dict, snn: dict) -> dict[str, Any]:
    pv_eff = {m: float(passes[m][te.is_pv].mean()) for m in METHODS}
    pu_eff = {m: float(passes[m][~te.is_pv].mean()) for m in METHODS}
    finite_t = np.isfinite(t_ref)
    return {
        "pu_rejection_at_95_pv": rejection,
        "accuracy_vs_mu": {c: tagging["accuracy"][c] for c in ("raw", "snn", "timing_cut", "truth")},
        "accuracy_vs_mu_all": tagging["accuracy"],
        "recovered_fraction": _recovery(tagging["accuracy"], cfg.mus),
        "timesteps": snn.get("timesteps"),
        "efficiency": cfg.efficiency,
        "test_working_point": {"pv_efficiency": pv_eff, "pu_efficiency": pu_eff},
        "best_cut_time_to_z_ratio": ratio,
        "best_cut_on_training_tracks": {"k_sigma_t": cut.k, "m_sigma_z": cut.m, "rejection": cut.rejection},
        "mass_mmdt_vs_mu": tagging["mass"],
        "class_names": tagging["class_names"],
        "mean_constituents_vs_mu": tagging["constituents"],
        "particle_level_accuracy_mu0": tagging["particle_level_accuracy"],
        "snn": {k: v for k, v in snn.items() if k != "timesteps"},
        "energy_per_particle_j": _energy(snn, mlp_info),
        "mlp": mlp_info,
        "sample": {"path": str(sample.path), "mu": float(sample.settings.get("mu", 0.0)), "jets": int(len(sample)),
                   "test_jets": tagging["n_test_jets"], "tracks": int(len(tracks)), "train_tracks": int(len(tr)),
                   "test_tracks": int(len(te)), "pv_track_fraction": float(tracks.is_pv.mean()),
                   "timed_track_fraction": float(np.isfinite(tracks.dt_ps).mean()),
                   "neutral_pt_min_gev": cfg.neutral_pt_min},
        "reference_vertex": {"z_residual_mm_68": float(np.percentile(np.abs(z_ref - sample.pv_z_mm), 68)),
                             "t_residual_ps_68": (float(np.percentile(np.abs(t_ref - sample.pv_t_ps)[finite_t], 68))
                                                  if finite_t.any() else None),
                             "jets_without_time": int((~finite_t).sum())},
    }


def _energy(snn: dict[str, Any], mlp_info: dict[str, Any]) -> dict[str, Any]:
    """Energy per particle and per bunch crossing (``particles_per_event`` tracks) of the spiking filter
    on Loihi and the MLP on a GPU and in FPGA-style int8 arithmetic."""
    ops = snn.get("ops", {})
    per = {"snn_loihi": ops.get("energy_per_particle_j"), **{f"mlp_{k}": v for k, v in
                                                            mlp_info["energy_per_particle_j"].items()}}
    n = ops.get("particles_per_event")
    return {"per_particle": per, "particles_per_event": n,
            "per_event": {k: (None if v is None or n is None else v * n) for k, v in per.items()}}


def _summary(e: dict[str, Any]) -> str:
    rej = ", ".join(f"{m} {v:.0f}" if v is not None else f"{m} n/a" for m, v in e["pu_rejection_at_95_pv"].items())
    hi = max(e["accuracy_vs_mu"]["raw"], key=float)
    acc = ", ".join(f"{c} {v[hi] * 100:.1f} %" for c, v in e["accuracy_vs_mu"].items())
    return f"pileup: rejection at {e['efficiency']:.0%} PV efficiency: {rej}; tagging at MU = {hi}: {acc}"


def _figures(ctx: StageContext, cfg: PileupConfig, rocs: dict, rejection: dict, tagging: dict) -> None:
    from ..report.figures.pileup import plot_accuracy_vs_mu, plot_mass_resolution, plot_pileup_roc

    ctx.add_figure(
        "pileup_roc", plot_pileup_roc(rocs, efficiency=cfg.efficiency),
        f"Per-track pileup rejection (1 / pileup efficiency) versus primary-vertex efficiency on the test jets' "
        f"tracks; the dotted line marks {cfg.efficiency:.0%}.", section="pileup")
    ctx.add_figure(
        "pileup_accuracy_vs_mu", plot_accuracy_vs_mu(tagging["accuracy"], tagging["particle_level_accuracy"]),
        "Tagging accuracy of the run's ANN (trained at MU = 0) on the test jets versus pileup, per cleaning "
        f"(untracked particles with pT >= {cfg.neutral_pt_min:g} GeV kept in every one; lower MU by thinning "
        "whole interactions of the same events).", section="pileup")
    ctx.add_figure(
        "pileup_mass_resolution", plot_mass_resolution(tagging["mass"], tagging["class_names"]),
        "mMDT jet mass resolution per class versus pileup: half the 16-84 % interval of the cleaned jet's mass "
        "minus the mass of the hard interaction's jet (particle level), test jets.", section="pileup")
