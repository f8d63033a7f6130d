"""The project's own exception types.

Every error a user can cause (bad file, bad config, bad flag combination) is
raised as one of these with a message that says what is wrong and what to do.
The CLI turns them into one line on stderr and exit code 2.
"""

from __future__ import annotations


class SpikejetError(Exception):
    """Base class of every user-facing error in spikejet."""

    exit_code = 2

    def for_command(self, command: str | None) -> str:
        """The message as the CLI command ``command`` prints it (advice that fits its options)."""
        return str(self)


class DataError(SpikejetError):
    """A data file or table is missing, corrupt or does not follow the schema."""


#: Commands that read data but have no row options: they are told to clean the file first.
_NO_ROW_OPTIONS = ("evaluate", "deploy", "convert", "train-snn")


def row_advice(option: str, command: str | None) -> str:
    """How ``command`` asks a reader to drop the rows ``option`` ('drop_invalid', ...) is about."""
    flag = "--" + option.replace("_", "-")
    if command == "data":
        return f"pass {flag} to drop them"
    if command in ("run", "train-ann"):
        return f"set 'data: {{{option}: true}}' in the --config file to drop them, or fix the file"
    if command in _NO_ROW_OPTIONS:
        return f"fix the file, or drop them with 'spikejet data convert FILE clean.h5 {flag}' and use clean.h5"
    return (f"fix the file, or drop them: {option}=True (spikejet data: {flag}; "
            f"spikejet run/train-ann: config key data.{option})")


class RowError(DataError):
    """Rows a reader drops only on request (``option``: 'drop_invalid' or 'drop_unlabelled').

    ``what`` says what is wrong; the advice depends on the command (:meth:`for_command`):
    ``spikejet data`` has flags, ``run``/``train-ann`` a config key, the other commands neither.
    """

    def __init__(self, what: str, option: str) -> None:
        self.what = what
        self.option = option
        super().__init__(f"{what}; {row_advice(option, None)}")

    def for_command(self, command: str | None) -> str:
        return f"{self.what}; {row_advice(self.option, command)}"

    def __reduce__(self):  # pickles (Dask workers raise it too)
        return (type(self), (self.what, self.option))


class ConfigError(SpikejetError):
    """A configuration value, preset or command-line flag is invalid."""


class ModelError(SpikejetError):
    """A model file is not a spikejet model, or does not fit the data/stage."""


class PhysicsError(SpikejetError):
    """An event-generation request is impossible or a jet cannot be processed."""


class HardwareError(SpikejetError):
    """A network cannot be mapped onto the requested hardware target."""
