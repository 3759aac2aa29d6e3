"""δWOFOST under the BMI: the field's crop calendar, its latitude, and daily crop steps publishing outputs.

The calendar (`crop_calendar`, PCSE CropCalendar keys) is checked at initialize against the checkpoint's
crop sets and the run's days; the field's latitude is `attributes.lat` or the config's top-level `latitude`
(both given: they must agree). Outputs are the crop outputs of `dmg_bmi.domains.crop.variables`, in PCSE
units.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from dmg_bmi.domains.base import BmiSession
from dmg_bmi.domains.crop.dataset import CropCalendar
from dmg_bmi.domains.crop.days import CropDays
from dmg_bmi.domains.crop.variables import OUTPUT_NAMES, OUTPUTS
from dmg_bmi.errors import ConfigError, InputError

_CROP_OUTPUTS = tuple((v.internal, v.name) for v in OUTPUTS)


class CropSession(BmiSession):
    """A δWOFOST checkpoint under the BMI; the constructor checks `crop_calendar` (ConfigError naming it)."""

    output_names = OUTPUT_NAMES

    def __init__(self, handler, cfg, origin: datetime):
        super().__init__(handler, cfg, origin)
        if cfg.crop_calendar is None:
            raise ConfigError("crop_calendar: a δWOFOST checkpoint needs the field's crop calendar "
                              "(crop_name, variety_name, crop_start_date, crop_start_type, crop_end_date, "
                              "crop_end_type, max_duration)")
        try:
            calendar = CropCalendar.from_dict(cfg.crop_calendar)
        except InputError as exc:
            raise ConfigError(f"crop_calendar: {exc}") from None
        handler.check_calendar(calendar)
        first, last = origin.date(), (cfg.start + timedelta(seconds=cfg.end_seconds - 1)).date()
        if not first <= calendar.crop_start_date <= last:
            raise ConfigError(f"crop_calendar.crop_start_date {calendar.crop_start_date} is outside the "
                              f"run's forcing {first}..{last} (start_time..end_time)")
        self.calendar = calendar

    def given(self) -> dict[str, float | None]:
        """The site values, with the field's latitude `lat` from the top-level `latitude` if not given."""
        cfg, given = self.cfg, super().given()
        if "lat" not in cfg.attributes:
            given["lat"] = cfg.latitude
        elif cfg.latitude is not None and cfg.latitude != cfg.attributes["lat"]:
            raise ConfigError(f"latitude {cfg.latitude} and attributes.lat {cfg.attributes['lat']} differ")
        return given

    def start(self, attrs, origin, values):
        """Bind the field (attributes, calendar, days from `origin` to the run's end) and create the days."""
        seconds = (self.cfg.start - origin).total_seconds() + float(self.cfg.end_seconds)
        n_days = int(np.ceil(seconds / 86400.0)) + 1  # one spare day for ngen's allow_exceed_end_time
        self.handler.bind(attrs, self.calendar, origin.date(), n_days)
        return CropOutputDays(self.handler, int(self.cfg.time_step), origin, values)


class CropOutputDays(CropDays):
    """`CropDays` that publish the crop outputs into the BMI's arrays (`values`)."""

    def __init__(self, handler, dt: int, start: datetime, values: dict[str, np.ndarray]):
        super().__init__(handler, dt, start)
        self._out_arrays = [(key, values[name]) for key, name in _CROP_OUTPUTS]

    def publish(self) -> None:
        for key, arr in self._out_arrays:
            arr[0] = self.outputs[key]
