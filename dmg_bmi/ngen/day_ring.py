"""The last day of framework records, shared by the daily models run under a sub-daily framework step.

With `k = 86400 / dt` framework steps per day (dt in s, a whole number of hours dividing 86400 s), the ring
holds the latest k records at slot `n mod k`, n counting the records taken; each record stands for `24 / k`
hours. A record holds one value per input the model reads (`names`: the handler's `input_names`, CSDMS
names in BMI input units), never the forcings it does not read.
"""

from __future__ import annotations

import numpy as np

from dmg_bmi.core.payload import array, record_count
from dmg_bmi.errors import InputError, StateError

SECONDS_PER_DAY = 86400


class DayRing:
    """Ring buffer `ring [k, len(names)]` of the latest framework records and their count `n`."""

    def __init__(self, dt: int, names: tuple[str, ...]):
        if dt <= 0 or dt % 3600 or SECONDS_PER_DAY % dt:
            raise InputError(f"time step {dt} s must be a whole number of hours that divides 86400 s")
        self.k = SECONDS_PER_DAY // dt
        self._repeat = 24 // self.k  # each record stands for this many hours of the 24-h window
        self.names = tuple(names)
        self.ring = np.zeros((self.k, len(self.names)))
        self.n = 0

    def push(self, record: np.ndarray) -> None:
        """Store one framework record (`[len(names)]`, in `names` order) and count it."""
        self.ring[self.n % self.k] = record
        self.n += 1

    def ring_to_arrays(self) -> dict[str, np.ndarray]:
        """The ring and count as named arrays ("ring", "n")."""
        return {"ring": self.ring.copy(), "n": np.array([self.n])}

    def ring_from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        """Restore `prefix` + "ring" and "n"; a missing or malformed array, a ring saved with another step
        count or other inputs raises StateError naming the array and its value."""
        count = record_count(arrays, f"{prefix}n")
        ring = array(arrays, f"{prefix}ring")
        if ring.ndim == 2 and ring.shape[0] != self.k:
            raise StateError(f"state was saved with {ring.shape[0]} steps per day, this run has {self.k}")
        if ring.ndim == 2 and ring.shape[1] != len(self.names):
            raise StateError(f"state holds records of {ring.shape[1]} inputs, this model reads "
                             f"{len(self.names)} ({list(self.names)})")
        if ring.shape != self.ring.shape:
            raise StateError(f"state array {prefix + 'ring'!r} has shape {ring.shape}, expected "
                             f"{self.ring.shape}")
        self.ring = ring
        self.n = count
