"""Command-line interface: thin, parses arguments and calls stage functions.

Each subcommand lives in ``spikejet.cli.<module>`` and defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports happen inside
``run`` so that ``spikejet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from .. import __version__
from ..errors import SpikejetError

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "generate",
    "data",
    "train_ann",
    "evaluate",
    "convert",
    "train_snn",
    "deploy",
)


def _load_commands() -> list:
    mods = []
    for name in COMMAND_MODULES:
        try:
            mods.append(importlib.import_module(f"spikejet.cli.{name}"))
        except ModuleNotFoundError as exc:  # a command not written yet
            if exc.name != f"spikejet.cli.{name}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikejet",
        description="Spiking neural networks for real-time jet tagging at the LHC.",
    )
    parser.add_argument("--version", action="version", version=f"spikejet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _load_commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


#: Exit code of an unexpected exception (a bug, never a user error: those exit with 2).
INTERNAL_ERROR = 3


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: run.json says "interrupted", locks are released


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            rc = int(args._run(args) or 0)
        for w in caught:  # library warnings after the result, one line each (never before an error)
            print(f"spikejet: note: {w.category.__name__}: {str(w.message).splitlines()[0]}", file=sys.stderr)
        return rc
    except SpikejetError as exc:
        text = " ".join(exc.for_command(getattr(args, "command", None)).split())
        print(f"spikejet: error: {text or type(exc).__name__}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("spikejet: interrupted; finished artifacts are kept, nothing half-written was left", file=sys.stderr)
        return 130
    except Exception as exc:  # the safety net: no known bad input reaches it
        print(f"spikejet: internal error: {type(exc).__name__}: {_one_line(exc)}; this is a bug in spikejet, "
              "please report it with the command you ran", file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
