"""The bucket under the BMI: framework records gathered into calendar days, one bucket step per day.

With `k = 86400 / time_step` records per day, every k-th update completes a day (records `n - k .. n - 1`,
aggregated by the core's `aorc_hourly_to_daily` with the checkpoint's PET derivation) and steps the core
`ModelHandler` once. Until the next day completes the outputs hold that day's: runoff as a depth per
framework step (m) and a volume flux (m3 s-1, with `area_km2`), and the water in the bucket (mm), a variable
of this domain's own table.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from dmg_bmi.bmi_config import latitude_needed
from dmg_bmi.core.handler import ModelHandler
from dmg_bmi.core.payload import array
from dmg_bmi.core.variables import Variable
from dmg_bmi.domains import BmiSession
from dmg_bmi.forcing import aorc_hourly_to_daily
from dmg_bmi.ngen.day_ring import SECONDS_PER_DAY, DayRing

RUNOFF_DEPTH = "land_surface_water__runoff_depth"  # m per framework step
RUNOFF_FLUX = "land_surface_water__runoff_volume_flux"  # m3 s-1
STORAGE = "bucket_water__volume-per-area_storage_density"  # mm, this domain's own output
_OUTPUT_KEYS = ("aet", "runoff", "storage")  # handler outputs kept in a state (mm d-1, mm d-1, mm)


class BucketHandler(ModelHandler):
    """The core handler with the bucket's outputs: runoff and AET (mm d-1), storage (mm)."""

    def summarize(self, member, state, raw, daily):
        return {"runoff": float(raw["streamflow"][0]), "aet": float(raw["AET"][0]),
                "storage": float(raw["S"][0])}

    def stores(self, member, state):
        return {"storage": float(state["phy"]["S"].mean())}


class BucketSession(BmiSession):
    """A bucket checkpoint under the BMI: no config keys of its own; area (and latitude for PET) required."""

    output_names = (RUNOFF_DEPTH, RUNOFF_FLUX, STORAGE)
    variables = (Variable("storage", STORAGE, "mm", "water held in the bucket, mean over nmul", "output"),)

    @property
    def required(self):
        return ("latitude",) * latitude_needed(self.handler.derivation.pet_method) + ("area_km2",)

    def start(self, attrs, origin, values):
        self.handler.set_attributes(attrs)
        return BucketDays(self.handler, int(self.cfg.time_step), origin, values)


class BucketDays(DayRing):
    """The time adapter: one handler step per completed calendar day of records, starting at `start`."""

    def __init__(self, handler: BucketHandler, dt: int, start: datetime, values: dict[str, np.ndarray]):
        super().__init__(dt, handler.input_names)
        self.handler = handler
        self.dt = dt
        self.start = start
        self.latitude = float(values["latitude"][0])  # degrees north (NaN where PET needs none)
        self.state = handler.initial_state()
        self.outputs = {"aet": 0.0, "runoff": 0.0, **handler.describe(self.state)}
        self._area = values["area_km2"]
        self._arrays = (values[RUNOFF_DEPTH], values[RUNOFF_FLUX], values[STORAGE])

    def advance(self, record: np.ndarray) -> dict[str, float]:
        """Take one record (BMI input units); step the bucket when it completes a day."""
        self.push(record)
        if self.n % self.k == 0:
            window = np.repeat(self.ring, self._repeat, axis=0)  # slot 0 is the day's first record
            day = self.start + timedelta(seconds=(self.n - self.k) * self.dt + SECONDS_PER_DAY // 2)
            hourly = {name: window[:, i] for i, name in enumerate(self.names)}
            daily = aorc_hourly_to_daily(hourly, self.latitude, day.timetuple().tm_yday,
                                         self.handler.derivation)
            self.state, self.outputs = self.handler.advance(self.state, daily)
        return self.outputs

    def publish(self) -> None:
        runoff_m_per_s = self.outputs["runoff"] * 1e-3 / SECONDS_PER_DAY
        depth, flux, storage = self._arrays
        depth[0] = runoff_m_per_s * self.dt
        flux[0] = runoff_m_per_s * self._area[0] * 1e6
        storage[0] = self.outputs["storage"]

    def to_arrays(self) -> dict[str, np.ndarray]:
        state = {f"bucket/{key}": value for key, value in self.handler.state_to_arrays(self.state).items()}
        outputs = np.array([self.outputs[key] for key in _OUTPUT_KEYS])
        return {**self.ring_to_arrays(), **state, "outputs": outputs}

    def from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        self.ring_from_arrays(arrays, prefix)
        state = self.handler.state_from_arrays(arrays, f"{prefix}bucket/")
        outputs = array(arrays, f"{prefix}outputs", (len(_OUTPUT_KEYS),))
        self.state, self.outputs = state, dict(zip(_OUTPUT_KEYS, outputs.tolist(), strict=True))
