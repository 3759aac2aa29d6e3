"""The last day of framework records, shared by the daily models run under a sub-daily framework step.

With `k = 86400 / dt` framework steps per day (dt in s, a whole number of hours dividing 86400 s), the ring
holds the latest k records (BMI input units, INPUT_NAMES order) at slot `n mod k`, n counting the records
taken; each record stands for `24 / k` hours.
"""

from __future__ import annotations

import numpy as np

from dmg_bmi.errors import InputError
from dmg_bmi.variables import INPUT_NAMES

SECONDS_PER_DAY = 86400


class DayRing:
    """Ring buffer `ring [k, len(INPUT_NAMES)]` of the latest framework records and their count `n`."""

    def __init__(self, dt: int):
        if dt <= 0 or dt % 3600 or SECONDS_PER_DAY % dt:
            raise InputError(f"time step {dt} s must be a whole number of hours that divides 86400 s")
        self.k = SECONDS_PER_DAY // dt
        self._repeat = 24 // self.k  # each record stands for this many hours of the 24-h window
        self.ring = np.zeros((self.k, len(INPUT_NAMES)))
        self.n = 0

    def push(self, record: np.ndarray) -> None:
        """Store one framework record and count it."""
        self.ring[self.n % self.k] = record
        self.n += 1

    def ring_to_arrays(self) -> dict[str, np.ndarray]:
        """The ring and count as named arrays ("ring", "n")."""
        return {"ring": self.ring.copy(), "n": np.array([self.n])}

    def ring_from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore "ring" and "n"; a ring saved with another step count raises InputError."""
        if arrays["ring"].shape != self.ring.shape:
            raise InputError(
                f"state was saved with {arrays['ring'].shape[0]} steps per day, this run has {self.k}"
            )
        self.ring = arrays["ring"].astype(np.float64)
        self.n = int(arrays["n"][0])
