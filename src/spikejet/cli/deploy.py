"""spikejet deploy: map a spiking model onto Loihi (bit-level integer model) or export it as NIR."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikejet.config.sections import HardwareConfig

NAME = "deploy"
HELP = ("map a spiking model onto Loihi 1/2 (resources, quantization error, integer-model accuracy, energy and "
        "latency per inference) or export it as a NIR graph")

TARGETS = ("loihi", "loihi2", "nir")
#: --target -> Loihi profile.
PROFILE_OF = {"loihi": "loihi1", "loihi2": "loihi2"}
#: Test split that 'spikejet run' writes beside its models (used when --data is not given).
RUN_TEST_SET = "test.h5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="spiking model file (from 'spikejet convert', 'spikejet train-snn' or a run's snn_*.pt)")
    parser.add_argument("--target", required=True, metavar="TARGET",
                        help="loihi (Loihi 1: reset to zero), loihi2 (keeps reset by subtraction) or nir (a .nir file)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output directory (default: deploy-<target> beside MODEL)")
    parser.add_argument("--data", metavar="FILE", default=None,
                        help="jets to evaluate on ('default' = the embedded sample; default: the run's test.h5 "
                             "beside MODEL if there is one)")
    parser.add_argument("--timesteps", type=int, default=None, metavar="T",
                        help="time steps per inference (default: the model file's)")
    parser.add_argument("--max-jets", type=int, default=None, metavar="N",
                        help="evaluate a seeded random subset of N jets (default: all)")
    parser.add_argument("--max-chips", type=int, default=1, metavar="N", help="chips the network may use (default 1)")
    parser.add_argument("--on-chip-input", action="store_true",
                        help="put the first layer on the chip too (needs a spike encoding; default: off-chip, "
                             "as the 2019 study ran it)")
    parser.add_argument("--allow-reset-change", action="store_true",
                        help="nir: write reset-to-zero for layers that reset by subtraction (NIR cannot express "
                             "it; the file records the change). Loihi 1 always resets to zero (reported)")
    parser.add_argument("--quantize", metavar="PROFILE", default=None,
                        help="nir: export the Loihi-mapped network (loihi1 or loihi2): dequantized values, chip "
                             "integers in the metadata")
    parser.add_argument("--time-per-step", type=float, default=None, metavar="SECONDS",
                        help="wall-clock seconds per chip step, for the latency in microseconds (with --time-source)")
    parser.add_argument("--time-source", default="", metavar="TEXT", help="where --time-per-step comes from")
    parser.add_argument("--host-device", default=HardwareConfig.host_device, metavar="DEVICE",
                        help="device charged for the host's work (the off-chip first layer, or quantizing the "
                             f"features and the softmax): cpu, gpu, arm (default {HardwareConfig.host_device}, as loihi.host_device)")
    parser.add_argument("--no-curve", action="store_true", help="skip the accuracy at the powers of two below T")
    parser.add_argument("--no-delay-compensation", action="store_true",
                        help="start every chip layer at its plain initial voltage (default: lowered by the bias it "
                             "integrates before its first input arrives through the axon delays; docs/hardware.md)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Poisson encoder and the subset (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace a different result that --out holds")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")


def _jets(args, bundle, net):
    """(standardized X, labels, where) of the evaluation jets, or None when there are none."""
    import numpy as np

    from spikejet.data import load
    from spikejet.errors import ConfigError
    from spikejet.models.file import apply_scaler

    source = args.data
    if source is None:
        beside = Path(args.model).with_name(RUN_TEST_SET)
        if not beside.is_file():
            return None
        source = str(beside)
    table = load(source)
    bundle.check_table(table.feature_names, table.class_names, where=f"data {source}")
    X, y = apply_scaler(bundle.scaler, table.X), bundle.labels(table.y)
    where = f"{source} ({len(y)} jets)"
    if args.max_jets is not None:
        if args.max_jets < 1:
            raise ConfigError(f"--max-jets must be >= 1, got {args.max_jets}")
        if args.max_jets < len(y):
            rows = np.sort(np.random.default_rng(args.seed).choice(len(y), size=args.max_jets, replace=False))
            X, y = X[rows], y[rows]
            where = f"{source} ({len(y)} of {len(table)} jets, seed {args.seed})"
    return X, y, where


def _check_args(args) -> None:
    from spikejet.errors import ConfigError

    if args.target not in TARGETS:
        raise ConfigError(f"unknown --target {args.target!r}; choose one of {', '.join(TARGETS)}")
    if args.timesteps is not None and not 1 <= args.timesteps <= 100_000:
        raise ConfigError(f"--timesteps must be in 1..100000, got {args.timesteps}")
    if args.max_chips < 1:
        raise ConfigError(f"--max-chips must be >= 1, got {args.max_chips}")
    if args.quantize is not None and args.quantize not in PROFILE_OF.values():
        raise ConfigError(f"--quantize must be loihi1 or loihi2, got {args.quantize!r}")
    if args.quantize is not None and args.target != "nir":
        raise ConfigError("--quantize applies to --target nir only (the loihi targets always quantize)")
    if args.time_per_step is not None and not args.time_source.strip():
        raise ConfigError("--time-per-step needs --time-source saying where the number comes from")
    if args.host_device not in ("cpu", "gpu", "arm"):
        raise ConfigError(f"--host-device must be cpu, gpu or arm, got {args.host_device!r}")


def run(args: argparse.Namespace) -> int:
    import sys

    from spikejet.runtime import ANN_TORCH_THREADS, torch_threads
    from spikejet.snn.bundle import load_network

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"spikejet: {msg}", file=sys.stderr, flush=True)

    _check_args(args)
    net, T_file, bundle = load_network(args.model)
    T = args.timesteps or T_file
    out = _prepare_out(args)
    status = "failed: deploy"
    try:
        with torch_threads(ANN_TORCH_THREADS):
            rc = _nir(args, net, T, bundle, out, log) if args.target == "nir" else _loihi(args, net, T, bundle, out, log)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted: deploy"
        raise
    finally:
        out.write_manifest(status=status, created=out.created, fingerprint=out.fingerprint,
                           summary=f"deploy {Path(args.model).name} --target {args.target}",
                           config={k: v for k, v in vars(args).items() if not k.startswith("_")}, timings={})
        out.unlock()
    return rc


def _prepare_out(args):  # -> RunDir
    """The output directory, checked before any work (the run directory's never-clobber rule)."""
    import hashlib
    import json

    from spikejet.run.rundir import RunDir, now

    out = RunDir(Path(args.out) if args.out else Path(args.model).parent / f"deploy-{args.target}")
    digest = hashlib.sha256(Path(args.model).read_bytes()).hexdigest()
    settings = {k: v for k, v in vars(args).items() if not k.startswith("_") and k not in ("quiet", "overwrite")}
    out.fingerprint = hashlib.sha256(json.dumps([digest, settings], sort_keys=True, default=str)
                                     .encode("utf-8")).hexdigest()[:16]
    out.created = now()
    out.prepare(out.fingerprint, overwrite=args.overwrite)
    return out


# --------------------------------------------------------------------------- loihi targets


def _print_mapping(report: dict) -> None:
    res = report["resources"]
    print(f"{report['profile']}: {res['compartments']} compartments, {res['synapses']} synapses, {res['cores']} "
          f"core(s) on {res['chips']} chip(s); off-chip: {', '.join(report['offchip_layers']) or 'none'}")
    head = f"  {'layer':<8} {'w_exp':>5} {'w step':>9} {'w rms err':>9} {'thr err':>8} {'vth':>6} {'reset':<8} limited by"
    print(head)
    for q in report["layers"]:
        vth = "-" if q["vth_mant"] is None else str(q["vth_mant"])
        reset = q["reset"] + ("*" if q["reset_changed"] else "")
        print(f"  {q['name']:<8} {q['weight_exp']:>5} {q['weight_step']:>9.3g} {q['weight_rel_rms_err'] * 100:>8.2f}% "
              f"{q['threshold_rel_err'] * 100:>7.3f}% {vth:>6} {reset:<8} {q['limited_by']}")
    if any(q["reset_changed"] for q in report["layers"]):
        print("  * reset by subtraction became reset to zero (Loihi 1 cannot subtract)")


def _score_config(bundle):  # -> RunConfig
    """The evaluation settings (bootstrap seed and count) of the run that made the model, as
    ``spikejet evaluate`` uses them: the same model and jets give the same metrics in every command."""
    from spikejet.config import resolve_config

    saved = bundle.config if isinstance(bundle.config, dict) else {}
    return resolve_config({k: saved[k] for k in ("preset", "seed", "quick", "evaluate") if k in saved})


def _print_loihi(ev, profile: str, where: str, loihi_entry: dict, ref: float, T: int) -> None:
    """What the Loihi evaluation measured, one line per quantity."""
    _print_mapping({"profile": profile, "offchip_layers": [ly.name for ly in ev.mapping.offchip],
                    "resources": ev.extra["resources"], "layers": ev.extra["quantization"]})
    e = ev.extra
    print(f"accuracy on {where}: {profile} integer model {loihi_entry['accuracy'] * 100:.2f} %, float SNN "
          f"{e['float_accuracy'] * 100:.2f} % ({e['accuracy_gap_to_float'] * 100:+.2f} points; same class for "
          f"{e['agreement_with_float'] * 100:.1f} % of jets), T = {T}")
    print(f"per inference on chip: {e['spikes_per_inference']:.0f} spikes, {e['synops_per_inference']:.0f} synaptic ops, "
          f"{e['neuron_updates_per_inference']:.0f} neuron updates; off-chip first layer: "
          f"{e['offchip_per_inference']['macs']:.0f} MACs + {e['offchip_per_inference']['neuron_updates']:.0f} updates")
    print("energy per inference: " + ", ".join(f"{d} {j * 1e9:.1f} nJ" for d, j in e["energy_per_inference_j"].items()))
    print("off-chip first layer (host): " + ", ".join(f"{d} {j * 1e9:.1f} nJ"
                                                      for d, j in e["host_energy_per_inference_j"].items()))
    print(f"vs a dense ANN of the same sizes on a GPU ({ref * 1e9:.1f} nJ): chip {e['energy_ratio_to_ann_gpu']:.3f} x, "
          f"chip + host ({e['host_device']}) {e['energy_with_host_ratio_to_ann_gpu']:.3f} x")
    io = e["io_per_inference"]
    print(f"host-chip boundary ({e['off_chip_layers']} layer(s) off-chip, input {io['input_mode']}): "
          f"{io['messages_in']:.0f} messages / {io['bits_in']:.0f} bits in, {io['bits_out']:.0f} bits out, "
          f"{io['energy_j'] * 1e9:.1f} nJ; host work {io['host_ops']:.0f} ops on the {e['host_device']}; system "
          f"{e['system_energy_per_inference_j'] * 1e9:.1f} nJ = {e['system_energy_ratio_to_ann_gpu']:.3f} x the ANN on a GPU")
    lat = e["latency"]
    us = "" if lat["seconds"] is None else f" = {lat['seconds'] * 1e6:.3g} us ({lat['assumption']})"
    print(f"latency: {lat['steps']} steps (T = {T} + {lat['delay_steps']} axon delays){us}")


def _loihi(args, net, T, bundle, out, log) -> int:
    from spikejet.evaluate.metrics import class_probabilities
    from spikejet.hardware.energy import add_energy_estimates, ann_counts, ann_energy, latency
    from spikejet.hardware.loihi import map_network
    from spikejet.hardware.loihi.evaluate import evaluate_on_loihi
    from spikejet.report.figures.energy import plot_energy, plot_energy_table
    from spikejet.report.tables import energy_plot_rows, energy_table_rows
    from spikejet.run.score import score
    from spikejet.snn.simulate import simulate

    profile = PROFILE_OF[args.target]
    # Loihi 1 cannot subtract: its reset to zero is what the chip does (reported per layer); Loihi 2 keeps it
    common = {"profile": profile, "first_layer_offchip": not args.on_chip_input, "max_chips": args.max_chips,
              "allow_reset_change": True}
    jets = _jets(args, bundle, net)
    metrics: dict[str, dict] = {}
    if jets is None:
        mapping = map_network(net, n_steps=T, **common)
        rep = mapping.report()
        lat = latency(T, [ly.axon_delay for ly in mapping.network.layers], time_per_step_s=args.time_per_step,
                      assumption=args.time_source)
        metrics["loihi"] = {"profile": profile, "timesteps": T, "resources": rep["resources"],
                            "quantization": rep["layers"], "latency": {"steps": lat.steps, "seconds": lat.seconds},
                            "note": "no jets given (--data): accuracy and energy need a run on data"}
        _print_mapping(rep)
        print(f"latency: {lat.steps} steps (T = {T} + {lat.delay_steps} axon delays)")
        print("no evaluation jets: give --data FILE (or 'default') for accuracy, spikes and energy")
        out.write_json("metrics.json", metrics)
        print(f"output: {out.root}")
        return 0
    X, y, where = jets
    log(f"evaluating on {where}, T = {T}")
    ev = evaluate_on_loihi(net, X, y, timesteps=T, curve=not args.no_curve, seed=args.seed,
                           compensate_delays=not args.no_delay_compensation,
                           time_per_step_s=args.time_per_step, time_per_step_source=args.time_source,
                           host_device=args.host_device, log=log, **common)
    classes = tuple(bundle.class_names)
    cfg = _score_config(bundle)
    float_entry = dict(score(y, class_probabilities(ev.float_scores), class_names=classes, config=cfg).entry)
    float_entry.update({"timesteps": T, "model_file": str(args.model)})
    loihi_entry = dict(score(y, class_probabilities(ev.scores), class_names=classes, config=cfg).entry)
    loihi_entry.update({"source": str(args.model), "data": where, **ev.extra})
    stage = bundle.kind if bundle.kind != "loihi" else "snn"
    c = simulate(net, X, T, seed=args.seed, steps=[T]).op_counts(T)  # the float SNN's own counts, for its energy row
    float_entry.update({"synops_per_inference": c["synops"], "spikes_per_inference": c["spikes"],
                        "neuron_updates_per_inference": c["neuron_updates"]})
    ac = ann_counts(net.sizes)  # the energy reference: a dense ANN of the same sizes
    metrics["ann"] = {"macs_per_inference": ac.synops, **ann_energy(net.sizes),
                      "note": "a dense ANN of the same layer sizes (energy reference only; not evaluated)"}
    metrics[stage] = float_entry
    metrics["loihi"] = loihi_entry
    add_energy_estimates(metrics, {stage: net.sizes})
    out.write_json("metrics.json", metrics)
    rows = energy_table_rows(metrics)
    ref = metrics["ann"]["energy_per_inference_j"]["gpu"]
    out.save_figure("figures/energy_table.png", plot_energy_table(rows, reference=ref))
    plot_energy(energy_plot_rows(metrics), out.path("figures/energy.png"),
                title=f"energy per inference: {Path(args.model).name} on {profile}")

    _print_loihi(ev, profile, where, loihi_entry, ref, T)
    print(f"output: {out.root}  (metrics: {out.root / 'metrics.json'})")
    return 0


# --------------------------------------------------------------------------- nir target


def _nir(args, net, T, bundle, out, log) -> int:
    import numpy as np

    from spikejet.interop.nir import mapping_to_nir, read_nir, to_nir, write_nir
    from spikejet.snn.simulate import simulate

    if args.quantize is not None:
        from spikejet.hardware.loihi import map_network

        mapping = map_network(net, profile=args.quantize, first_layer_offchip=not args.on_chip_input, n_steps=T,
                              max_chips=args.max_chips, allow_reset_change=True)
        graph = mapping_to_nir(mapping, net, allow_reset_change=args.allow_reset_change)
        path = out.path(f"{Path(args.model).stem}_{args.quantize}.nir")
    else:
        graph = to_nir(net, allow_reset_change=args.allow_reset_change)
        path = out.path(f"{Path(args.model).stem}.nir")
    write_nir(path, graph)
    changes = graph.metadata["semantic_changes"]
    summary = {"file": path.name, "timesteps": T, "dt": net.dt, "quantized": args.quantize,
               "semantic_changes": changes, "nodes": len(graph.nodes)}
    print(f"wrote {path} ({len(graph.nodes)} nodes, dt = {net.dt:g} s, forward-Euler convention; see docs/hardware.md)")
    if changes != "none":
        print(f"semantic changes: {changes}")
    jets = _jets(args, bundle, net)
    if jets is not None:
        X, y, where = jets
        back = read_nir(path)  # the file as written, read back (as the loihi stage's nir_accuracy)
        a = simulate(net, X, T, seed=args.seed, steps=[T])
        b = simulate(back, X, T, seed=args.seed, steps=[T])
        pa, pb = a.predictions_at(T), b.predictions_at(T)
        summary.update({"data": where, "accuracy_model": float((pa == y).mean()),
                        "accuracy_nir": float((pb == y).mean()), "nir_accuracy": float((pb == y).mean()),
                        "agreement": float((pa == pb).mean())})
        print(f"accuracy on {where} at T = {T}: model {summary['accuracy_model'] * 100:.2f} %, {path.name} read "
              f"back by spikejet (nir_accuracy) {summary['nir_accuracy'] * 100:.2f} % (same class for "
              f"{summary['agreement'] * 100:.1f} % of jets)")
        if not np.array_equal(pa, pb) and changes == "none" and args.quantize is None:
            log("warning: the NIR graph decides differently from the model although nothing was changed")
    out.write_json("nir.json", summary)
    print(f"output: {out.root}")
    return 0
