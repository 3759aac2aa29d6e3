"""δWOFOST under a framework step of 1-24 h: buffer one day of forcing, then step WOFOST once.

With `k = 86400 / dt` framework steps per day, updates n = k, 2k, ... (1-based) close day d = n/k − 1, which
covers `[start + d·24 h, start + (d+1)·24 h)`: its k records (each repeated 24/k times to make 24 hourly
values) go through `weather.wofost_day` (exactly the dataset builders' conversion, with
the checkpoint's options, the field's latitude and elevation), and the crop advances one day. Between day
closes the outputs hold the latest day's values. Day d is calendar date `start.date() + d` (day of year for
Penman and WOFOST), so a run starting at 00:00 UTC has UTC days; day 0 is the first day of the state's day
axis (the run's first day, or for a hot start the first run's), and the crop calendar's dates are day
indices from it. A record holds the inputs the handler reads (`handler.input_names`), nothing else.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from dmg_bmi.core.payload import array, check_range
from dmg_bmi.domains.crop.handler import CROP_STATE_MAX
from dmg_bmi.domains.crop.weather import wofost_day
from dmg_bmi.errors import InputError
from dmg_bmi.ngen.day_ring import DayRing


class CropDays(DayRing):
    """Daily δWOFOST fed one framework record per update (see the module docstring).

    `dt` s per record; `start` (UTC, naive) is the time of record 0, its date day 0."""

    def __init__(self, handler, dt: int, start: datetime):
        super().__init__(dt, handler.input_names)
        self.handler = handler
        self.start = start.date()
        self.state = handler.initial_state()
        self.outputs = dict.fromkeys(("DVS", "LAI", "TAGP", "TWSO", "TWLV", "TWST", "TWRT", "RD", "TRA"), 0.0)
        self.weather: dict[str, float] = {}

    def advance(self, record: np.ndarray) -> dict[str, float]:
        """Take one record (BMI units, `handler.input_names` order); step the crop when a day is complete."""
        self.push(record)
        if self.n % self.k == 0:
            day = self.n // self.k - 1
            if day >= self.handler.n_days:
                self.n -= 1
                raise InputError(f"update past the run's end: day {day} from {self.start}, but the crop model"
                                 f" holds {self.handler.n_days} days (start_time..end_time + 1 day)")
            self.weather = self.daily_weather(day)
            self.state, self.outputs = self.handler.advance(self.state, self.weather)
        return self.outputs

    def daily_weather(self, day: int) -> dict[str, float]:
        """WOFOST weather of day `day` from the buffered records (plus its day of year, `DOY`)."""
        window = np.repeat(self.ring, self._repeat, axis=0) if self._repeat > 1 else self.ring
        attrs = self.handler.attrs
        return wofost_day(window, self.names, self.start + timedelta(days=day), attrs["lat"], attrs["elev"],
                          **self.handler.weather_options)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to continue exactly, as named arrays."""
        arrays = {**self.ring_to_arrays(),
                  "outputs": np.array([self.outputs[k] for k in self.outputs], dtype=np.float64)}
        arrays.update({f"crop/{k}": v for k, v in self.handler.state_to_arrays(self.state).items()})
        return arrays

    def from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        """Restore from `to_arrays` output (keys `prefix` + name); a missing, malformed or non-finite array or
        a mismatched step count raises StateError naming the array and its value."""
        self.ring_from_arrays(arrays, prefix)
        values = array(arrays, prefix + "outputs", (len(self.outputs),))
        check_range(prefix + "outputs", np.abs(values), None, CROP_STATE_MAX,
                    f" in magnitude (outputs {list(self.outputs)}: ten times any crop on Earth)")
        self.state = self.handler.state_from_arrays(arrays, prefix + "crop/")
        self.outputs = dict(zip(self.outputs, values.tolist(), strict=True))
