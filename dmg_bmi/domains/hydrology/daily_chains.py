"""A native-daily model under a sub-daily framework step: phase-shifted daily chains.

With `k = 86400 / dt` framework steps per day (k = 24 for ngen's hourly step, 1 for a daily step), we keep
k independent copies ("chains") of the daily model state. After framework update `n` (1-based), chain
`n mod k` advances one daily step on the trailing 24 h of forcing (the last k records, aggregated by
`dmg_bmi.forcing.aorc_hourly_to_daily`, the trainer's own implementation), so every update reports the
rates of the latest 24 h. A record holds the inputs the handler reads (`handler.input_names`), nothing
else. Chain 0 steps at n = k, 2k, ... on exactly the calendar-aligned windows, so when the run starts at
midnight its outputs equal the offline daily model on daily-aggregated forcing.

Warm-up: a chain steps only on a full 24-h window. From a cold start the first k-1 updates report zero
fluxes (stores show the initial state); hours before a chain's first window are never consumed by that
chain and stay counted in `mass_stored` (as forcing received but not consumed). A state file written by
the BMI restores every chain and the forcing window, so a hot start continues exactly. `start` is the time
of the chains' first record (the state's day axis): a restored run passes the first run's start, so the day
of year of every window (PET) is the unbroken run's.

Mass accounting (mm, per chain, averaged over chains with equal weight): the BMI's reported fluxes are
exactly the chain mean, so `in - out - stored - leaked` closes if the physics conserves water. An output
correction's flux (`correction`, mm/d added to the runoff) is inside `leaked` as water created, and is
published on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from dmg_bmi.core.payload import array
from dmg_bmi.domains.hydrology.handler import STORE_MAX_MM
from dmg_bmi.errors import InputError, StateError
from dmg_bmi.forcing import aorc_hourly_to_daily
from dmg_bmi.ngen.day_ring import DayRing

PRECIP = "atmosphere_water__liquid_equivalent_precipitation_rate"  # mm s-1; summed for ngen::mass_in
SIGNED = ("correction", "leak", "reweighting")  # the outputs that may be negative; the rest are amounts
MASS_TERMS = ("mass_in", "mass_out", "mass_stored", "mass_leaked")


class DailyChains(DayRing):
    """k phase-shifted daily chains of one ModelHandler, fed one framework record per update.

    `dt` s per record; `start` (UTC, naive) is the time of record 0; `latitude` in degrees north (PET)."""

    def __init__(self, handler, dt: int, start: datetime, latitude: float):
        super().__init__(dt, handler.input_names)
        self.handler = handler
        self.dt = dt
        self.start = start
        self.latitude = latitude
        self._fields = list(enumerate(self.names))
        self._precip = self.names.index(PRECIP)
        self._doy_cache = (None, 0)
        s0 = handler.initial_state()
        self.states = [s0] * self.k  # states are immutable structures: sharing the cold start is safe
        first = handler.describe(s0)
        self.fluxes = handler.flux_names
        self.outputs = {**{f: 0.0 for f in self.fluxes}, **first}
        self.store0 = np.full(self.k, first["storage"])
        self.storage = self.store0.copy()
        self.consumed = np.zeros(self.k)
        self.out = np.zeros(self.k)
        self.leak = np.zeros(self.k)
        self.p_received = 0.0
        self._reset_sums()

    # --- stepping -------------------------------------------------------------------------------
    def advance(self, record: np.ndarray) -> dict[str, float]:
        """Take one framework record (BMI input units, `handler.input_names` order); return the outputs."""
        self.push(record)
        self.p_received += float(record[self._precip]) * self.dt
        if self.n < self.k:
            self.outputs = {**self.outputs, **{f: 0.0 for f in self.fluxes}}
            return self.outputs
        c = self.n % self.k
        daily = self.daily_forcing()
        state, out = self.handler.advance(self.states[c], daily)
        self.states[c] = state
        self.consumed[c] += out["precip"]
        self.out[c] += out["runoff"] + out["aet"]
        self.leak[c] += out["leak"]
        self.storage[c] = out["storage"]
        # running chain means, so reading the mass terms every step costs O(1)
        self._sums[0] += out["precip"] / self.k
        self._sums[1] += (out["runoff"] + out["aet"]) / self.k
        self._sums[2] += out["leak"] / self.k
        self._sums[3] += (out["storage"] - self._prev_storage[c]) / self.k
        self._prev_storage[c] = out["storage"]
        self.outputs = out
        return out

    def window_start(self) -> datetime:
        """Start time of the trailing 24-h window after the current update."""
        return self.start + timedelta(seconds=(self.n - self.k) * self.dt)

    def daily_forcing(self) -> dict:
        """The daily model inputs of the trailing window (see `aorc_hourly_to_daily`)."""
        cut = self.n % self.k  # the ring's oldest record
        window = np.concatenate((self.ring[cut:], self.ring[:cut])) if cut else self.ring
        if self._repeat > 1:
            window = np.repeat(window, self._repeat, axis=0)
        hourly = {name: window[:, i] for i, name in self._fields}
        return aorc_hourly_to_daily(hourly, self.latitude, self._doy(), self.handler.derivation)

    def _doy(self) -> int:
        """Day of year of the trailing window's midpoint (its calendar day for midnight-aligned windows)."""
        hour = (self.n - self.k) * self.dt // 3600 + 12
        day = (hour * 60 + self.start.hour * 60 + self.start.minute) // 1440  # calendar days since start's
        if day != self._doy_cache[0]:
            self._doy_cache = (day, (self.start + timedelta(hours=hour)).timetuple().tm_yday)
        return self._doy_cache[1]

    # --- mass balance (mm) ----------------------------------------------------------------------
    def mass_terms(self) -> tuple[float, float, float, float]:
        """ngen mass-balance terms in mm, in MASS_TERMS order (see module docstring)."""
        consumed, out, leak, storage = self._sums
        return self._store0_mean + self.p_received, out, storage + self.p_received - consumed, leak

    def mass(self) -> dict[str, float]:
        """`mass_terms` by name."""
        return dict(zip(MASS_TERMS, self.mass_terms(), strict=True))

    def _reset_sums(self) -> None:
        self._store0_mean = float(self.store0.mean())
        self._prev_storage = self.storage.copy()
        self._sums = [float(self.consumed.mean()), float(self.out.mean()), float(self.leak.mean()),
                      float(self.storage.mean())]

    # --- state ----------------------------------------------------------------------------------
    def warm_start(self, state) -> None:
        """Before the first update: start every chain from the handler `state` (e.g. the end state of an
        offline daily simulation at midnight) instead of the cold start; the mass sums restart from it."""
        if self.n:
            raise InputError("warm_start: the chains have already advanced")
        first = self.handler.describe(state)
        self.states = [state] * self.k
        self.outputs = {**{f: 0.0 for f in self.fluxes}, **first}
        self.store0 = np.full(self.k, first["storage"])
        self.storage = self.store0.copy()
        self._reset_sums()

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to continue exactly, as named float64/int64 arrays."""
        arrays = {
            **self.ring_to_arrays(), "store0": self.store0.copy(),
            "storage": self.storage.copy(), "consumed": self.consumed.copy(), "out": self.out.copy(),
            "leak": self.leak.copy(), "p_received": np.array([self.p_received]),
            "sums": np.array([self._store0_mean, *self._sums]),
            "outputs_keys": np.array(sorted(self.outputs)),
            "outputs": np.array([self.outputs[key] for key in sorted(self.outputs)], dtype=np.float64),
        }
        for c, state in enumerate(self.states):
            for key, value in self.handler.state_to_arrays(state).items():
                arrays[f"chain{c}/{key}"] = value
        return arrays

    def from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        """Restore from `to_arrays` output (keys `prefix` + name); a missing, malformed or non-finite array,
        a negative store or a mismatched step count raises StateError naming the array and its value."""
        self.ring_from_arrays(arrays, prefix)
        per_chain = {name: array(arrays, prefix + name, (self.k,), lo=0.0)  # mm, water amounts
                     for name in ("store0", "storage", "consumed")}
        per_chain.update({name: array(arrays, prefix + name, (self.k,)) for name in ("out", "leak")})
        p_received = array(arrays, prefix + "p_received", (1,), lo=0.0)
        totals = array(arrays, prefix + "sums", (5,))
        keys = array(arrays, prefix + "outputs_keys", (len(self.outputs),), "U")
        if sorted(keys.tolist()) != sorted(self.outputs):
            raise StateError(f"state array {prefix + 'outputs_keys'!r} = {keys.tolist()} is not this model's "
                             f"outputs {sorted(self.outputs)}")
        values = array(arrays, prefix + "outputs", keys.shape)
        for key, value in zip(keys.tolist(), values.tolist(), strict=True):
            lo = -STORE_MAX_MM if key in SIGNED else 0.0
            if not lo <= value <= STORE_MAX_MM:
                raise StateError(f"state array {prefix + 'outputs'!r}: {key} = {value!r} is outside "
                                 f"{lo:g}..{STORE_MAX_MM:g} (mm, or mm d-1 for a flux: no store holds more, "
                                 f"no day moves more)")
        states = [self.handler.state_from_arrays(arrays, f"{prefix}chain{c}/") for c in range(self.k)]
        for name, value in per_chain.items():
            setattr(self, name, value)
        self.p_received = float(p_received[0])
        self._reset_sums()
        self._store0_mean, *self._sums = totals.tolist()
        self.outputs = dict(zip(keys.tolist(), values.tolist(), strict=True))
        self.states = states
