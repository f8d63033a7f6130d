"""What each Loihi generation supports: core sizes, reset modes, graded spikes.

``loihi1``: reset to zero, binary spikes, 1,024 compartments per core.
``loihi2``: adds reset by subtraction and graded spikes (integer payloads of up
to 24 bits that the synapses multiply by the weights; Lava's ``Dense`` with
``num_message_bits > 0``, its graded processes use 24-bit ports). Loihi 2
neurons are microcode-programmable, so other resets are possible; this model
implements the two that SNN conversion needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError
from .constants import GRADED_PAYLOAD_BITS, RESETS

__all__ = ["LoihiProfile", "LOIHI1", "LOIHI2", "PROFILES", "get_profile"]

@dataclass(frozen=True)
class LoihiProfile:
    """What one chip generation supports.

    ``compartments_per_core``: Loihi 1 cores hold up to 1,024 compartments
    (Davies et al. 2018); Loihi 2 cores up to 8,192 neurons (1 M neurons over
    128 cores per chip, Intel's Loihi 2 brief, 2021). ``resets``: the reset
    modes the neuron supports. ``graded_payload_bits``: 0 for binary spikes.
    """

    name: str
    compartments_per_core: int
    cores_per_chip: int
    resets: tuple[str, ...]
    graded_payload_bits: int

    def __post_init__(self) -> None:
        if self.compartments_per_core <= 0 or self.cores_per_chip <= 0:
            raise ConfigError(f"profile {self.name!r}: core sizes must be positive")
        bad = set(self.resets) - set(RESETS)
        if bad or not self.resets:
            raise ConfigError(f"profile {self.name!r}: resets must be a subset of {RESETS}")
        if self.graded_payload_bits < 0:
            raise ConfigError(f"profile {self.name!r}: graded_payload_bits must be >= 0")

    @property
    def graded_spikes(self) -> bool:
        return self.graded_payload_bits > 0

    def payload_range(self) -> tuple[int, int]:
        """Allowed input event values (binary spikes: 0..1)."""
        if not self.graded_spikes:
            return 0, 1
        half = 1 << (self.graded_payload_bits - 1)
        return -half, half - 1


LOIHI1 = LoihiProfile(
    name="loihi1", compartments_per_core=1024, cores_per_chip=128,
    resets=("zero",), graded_payload_bits=0,
)
LOIHI2 = LoihiProfile(
    name="loihi2", compartments_per_core=8192, cores_per_chip=128,
    resets=("zero", "subtract"), graded_payload_bits=GRADED_PAYLOAD_BITS,
)
PROFILES: dict[str, LoihiProfile] = {p.name: p for p in (LOIHI1, LOIHI2)}


def get_profile(profile: str | LoihiProfile) -> LoihiProfile:
    if isinstance(profile, LoihiProfile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise ConfigError(
            f"unknown Loihi profile {profile!r}; use one of {', '.join(PROFILES)}"
        ) from None
