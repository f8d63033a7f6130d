"""The project's own exception types.

Every error a user can cause (bad file, bad config, bad flag combination) is
raised as one of these with a message that says what is wrong and what to do.
The CLI turns them into one line on stderr and exit code 2.
"""

from __future__ import annotations


class SpikejetError(Exception):
    """Base class of every user-facing error in spikejet."""

    exit_code = 2


class DataError(SpikejetError):
    """A data file or table is missing, corrupt or does not follow the schema."""


class ConfigError(SpikejetError):
    """A configuration value, preset or command-line flag is invalid."""


class ModelError(SpikejetError):
    """A model file is not a spikejet model, or does not fit the data/stage."""


class PhysicsError(SpikejetError):
    """An event-generation request is impossible or a jet cannot be processed."""


class HardwareError(SpikejetError):
    """A network cannot be mapped onto the requested hardware target."""
