"""``spikejet data``: inspect, plot, convert and fetch jet samples."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "data"
HELP = "inspect, plot, convert or fetch jet samples (info, plot, convert, fetch)"

SOURCE_HELP = "a jet file (.h5, .csv, .arff, .parquet), 'default' (embedded sample) or 'openml'"


def _row_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drop-invalid", action="store_true", help="drop jets with NaN/inf features (reported)")
    p.add_argument("--drop-unlabelled", action="store_true",
                   help="drop rows without a class label (the public files have some; without this "
                        "option such a file is refused)")
    p.add_argument("--drop-duplicates", action="store_true",
                   help="drop exact duplicate rows, keeping the first copy (without it they are kept "
                        "and counted)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("info", help="counts, per-class feature summaries and mass peaks")
    p.add_argument("source", metavar="FILE|default", help=SOURCE_HELP)
    _row_options(p)
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON ('-': only JSON, on stdout)")

    p = sub.add_parser("plot", help="figure of the 16 feature distributions per class")
    p.add_argument("source", metavar="FILE|default", help=SOURCE_HELP)
    p.add_argument("--out", required=True, metavar="PNG", help="output figure (.png)")
    _row_options(p)

    p = sub.add_parser("convert", help="convert any readable jet file to own .h5 or .csv")
    p.add_argument("input", metavar="IN", help=SOURCE_HELP)
    p.add_argument("output", metavar="OUT", help="output file: .h5 (own format) or .csv")
    _row_options(p)

    p = sub.add_parser("fetch", help="download a public dataset by name (needs network once)")
    p.add_argument("dataset", choices=["openml"], help="openml: OpenML 42468 hls4ml_lhc_jets_hlf")
    p.add_argument("--out", metavar="FILE", help="also write it as own .h5 or .csv")
    p.add_argument("--data-home", metavar="DIR", help="sklearn cache folder (default ~/scikit_learn_data)")


def _note(msg: str) -> None:
    print(f"spikejet: note: {msg}", file=sys.stderr)


def _load(source: str, args: argparse.Namespace, constituents: bool = False):
    """Resolve SOURCE like spikejet.data.load, printing what was dropped or ignored."""
    from spikejet.data import read_with_report
    from spikejet.data.default import DEFAULT_SOURCE, OPENML_SOURCE, _missing, default_sample_path

    rows = dict(drop_invalid=args.drop_invalid, drop_unlabelled=args.drop_unlabelled,
                drop_duplicates=args.drop_duplicates)
    if source == OPENML_SOURCE:
        from spikejet.data import fetch_openml

        table, report = fetch_openml(with_report=True, **rows)
    else:
        path = source
        if source == DEFAULT_SOURCE:
            path = default_sample_path()
            if not path.is_file():
                raise _missing(path)
        table, report = read_with_report(path, constituents=constituents, particles=constituents, **rows)
    for msg in report.messages():
        _note(msg)
    return table, report


def _quirks_text(q: dict) -> str:
    dup = "dropped" if q["duplicate_rows_dropped"] else "kept (--drop-duplicates drops them)"
    lines = [
        "rows of the file (the public files' known quirks)",
        f"  rows read: {q['rows_read']}",
        f"  rows without a class label: {q['rows_without_label']}"
        + (" (dropped, --drop-unlabelled)" if q["rows_without_label"] else ""),
        f"  duplicate rows (same 16 features and label as an earlier row): {q['duplicate_rows']}"
        + (f" ({dup})" if q["duplicate_rows"] else ""),
        f"  rows with NaN/inf features dropped: {q['rows_with_nan_or_inf_dropped']}",
    ]
    return "\n".join(lines) + "\n\n"


def _info(args: argparse.Namespace) -> int:
    from spikejet.data.info import format_summary, summarize
    from spikejet.io import check_output_file, write_json

    if args.json and args.json != "-":
        check_output_file(args.json, "--json")
    table, report = _load(args.source, args)
    summary = summarize(table)
    summary["rows"] = report.quirks()
    if args.json == "-":
        from spikejet.io import json_text

        sys.stdout.write(json_text(summary))
        return 0
    sys.stdout.write(_quirks_text(summary["rows"]) + format_summary(summary))
    if args.json:
        write_json(args.json, summary)
        _note(f"wrote {args.json}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from spikejet.data.info import plot_features
    from spikejet.errors import ConfigError
    from spikejet.io import check_output_file

    if not args.out.lower().endswith(".png"):
        raise ConfigError(f"--out {args.out}: the figure is written as PNG; give a .png file name")
    check_output_file(args.out, "--out")
    table, _ = _load(args.source, args)
    plot_features(table, args.out)
    print(f"wrote {args.out} ({len(table)} jets)")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from spikejet.data import write
    from spikejet.data.formats import WRITE_SUFFIXES, _suffix
    from spikejet.errors import ConfigError
    from spikejet.io import check_output_file

    out_suffix = _suffix(Path(args.output))
    if out_suffix not in WRITE_SUFFIXES:
        raise ConfigError(f"OUT {args.output}: cannot write {out_suffix or '(no extension)'} files; "
                          "use .h5 (own format) or .csv")
    check_output_file(args.output, "OUT")
    table, report = _load(args.input, args, constituents=True)
    prov = dict(report.provenance or {})
    prov["converted_from"] = {
        "source": str(args.input),
        "format": report.format,
        "jets_read": report.n_read,
        "jets_dropped": report.n_dropped,
        "rows_without_label_dropped": report.n_unlabelled,
        "duplicate_rows": report.n_duplicates,
        "duplicate_rows_dropped": report.duplicates_dropped,
    }
    write(table, args.output, provenance=prov)
    if out_suffix == ".csv":
        lost = _csv_losses(table, prov)
        if lost:
            _note(f"{args.output}: CSV keeps only the 16 features and the class; not written: {'; '.join(lost)} "
                  "(convert to .h5 to keep them)")
    print(f"wrote {args.output} ({len(table)} jets)")
    return 0


def _csv_losses(table, provenance: dict) -> list[str]:
    """What a CSV of ``table`` leaves out (particles, extra columns, provenance)."""
    from spikejet.data.formats import CONSTITUENTS_KEY, N_CONSTITUENTS_KEY

    lost = []
    if table.has_particles:
        lost.append(f"the particles ({table.particles.shape[1]} per jet: {', '.join(table.particle_fields)})")
    extra = sorted(k for k in table.extra if k not in (CONSTITUENTS_KEY, N_CONSTITUENTS_KEY))
    if CONSTITUENTS_KEY in table.extra:
        lost.append("the constituents")
    if extra:
        lost.append(f"{len(extra)} extra column(s) ({', '.join(extra)})")
    if provenance:
        lost.append("the provenance")
    return lost


def _fetch(args: argparse.Namespace) -> int:
    from spikejet.data import CLASS_NAMES, fetch_openml, write
    from spikejet.data.openml import OPENML_DATA_ID, OPENML_NAME

    if args.out:
        from spikejet.io import check_output_file

        check_output_file(args.out, "--out")
    table = fetch_openml(data_home=args.data_home)
    counts = ", ".join(f"{n}={k}" for n, k in zip(CLASS_NAMES, table.counts().tolist(), strict=True))
    print(f"OpenML {OPENML_DATA_ID} ({OPENML_NAME}): {len(table)} jets ({counts})")
    if args.out:
        write(table, args.out, provenance={"source": "OpenML", "data_id": OPENML_DATA_ID, "name": OPENML_NAME})
        print(f"wrote {args.out}")
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"info": _info, "plot": _plot, "convert": _convert, "fetch": _fetch}
    return actions[args.data_action](args)
