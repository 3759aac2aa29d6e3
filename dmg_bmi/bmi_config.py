"""The per-catchment BMI init config: a typed YAML schema (see bmi_configs/README.md).

Paths inside the file (checkpoints, initial and final state) are resolved against the YAML file's folder,
never the working directory. Times are UTC ``YYYY-MM-DD hh:mm:ss`` (a time with an offset, ``...Z`` or
``...+05:00``, is converted to UTC); `end_time` is the start of the last step, like ngen's realization
`time.end_time`, so the BMI end time is ``end - start + time_step``. The YAML is read by
`dmg_bmi.core.config.load_yaml`, so an unquoted `catchment_id: 01022500` keeps its leading zero.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from dmg_bmi.core.config import from_dict
from dmg_bmi.core.config import load_yaml as read_yaml
from dmg_bmi.core.payload import room_after
from dmg_bmi.errors import ConfigError

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SECONDS_PER_DAY = 86400


def parse_time(value: str, key: str) -> datetime:
    """A UTC time ``YYYY-MM-DD hh:mm:ss`` (or an ISO date) as a naive UTC datetime; a time with an offset
    (``Z``, ``+05:00``) is converted to UTC. Errors name `key`."""
    try:
        time = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not a time like '2015-12-01 00:00:00'") from None
    return time.astimezone(timezone.utc).replace(tzinfo=None) if time.tzinfo is not None else time


def check_time_step(seconds: int, key: str) -> None:
    """A model step must be a whole number of hours dividing a day (3600 ... 86400 s); errors name `key`."""
    if seconds <= 0 or seconds % 3600 or SECONDS_PER_DAY % seconds:
        raise ConfigError(f"{key} must be a whole number of hours dividing 86400 s (3600 ... 86400), "
                          f"got {seconds}")


def latitude_needed(pet_method: str) -> bool:
    """Whether a hydrology checkpoint deriving PET by `pet_method` reads the catchment latitude (degrees
    north): every method but 'forcing', which takes PET as the input water_potential_evaporation_flux."""
    from dmg_bmi.forcing import PET_METHODS

    return "lat_deg" in PET_METHODS[pet_method][1]


@dataclasses.dataclass
class Member:
    """One ensemble member: a checkpoint file and its weight in the average."""

    checkpoint: str
    weight: float = 1.0

    def validate(self, prefix: str = "") -> None:
        if self.weight < 0:
            raise ConfigError(f"{prefix}.weight must be >= 0, got {self.weight}")


@dataclasses.dataclass
class BmiConfig:
    """Everything one catchment instance needs; field defaults are the documented defaults."""

    checkpoint: str | None = None  # one member; or use `members`
    members: list[Member] = dataclasses.field(default_factory=list)
    catchment_id: str = ""
    area_km2: float | None = None  # catchment area; may come later from ngen model_params
    latitude: float | None = None  # degrees north, for PET (not with pet_method 'forcing'); or model_params
    attributes: dict[str, float] = dataclasses.field(default_factory=dict)
    start_time: str = "2000-01-01 00:00:00"
    end_time: str = "2000-12-31 23:00:00"
    time_step: int = 3600  # s: 3600 (ngen hourly) ... 86400 (daily); whole hours dividing a day
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    backend: Literal["auto", "numpy", "torch"] = "auto"
    initial_state: str | None = None  # a state file (DeltaModelBmi.save_state); its time must be start_time
    final_state: str | None = None  # finalize() writes the state here (the next run's initial_state)
    nan_policy: Literal["error", "hold_last"] = "error"
    crop_calendar: dict[str, Any] | None = None  # δWOFOST only: the field's PCSE CropCalendar keys

    def validate(self, prefix: str = "") -> None:
        if (self.checkpoint is None) == (not self.members):
            raise ConfigError("give exactly one of 'checkpoint' (one model) or 'members' (an ensemble)")
        check_time_step(self.time_step, "time_step")
        start, end = self.start, self.end
        if end < start:
            raise ConfigError(f"end_time {self.end_time!r} is before start_time {self.start_time!r}")
        if not room_after(end, self.time_step):
            raise ConfigError(f"end_time {self.end_time!r}: the run's last {self.time_step}-s step and the "
                              "day ngen may run past it end after the year 9999, the last a time can hold")
        if self.area_km2 is not None and self.area_km2 <= 0:
            raise ConfigError(f"area_km2 must be > 0, got {self.area_km2}")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise ConfigError(f"latitude must be in [-90, 90], got {self.latitude}")
        if sum(m.weight for m in self.members) == 0 and self.members:
            raise ConfigError("members: the weights sum to 0")

    @property
    def start(self) -> datetime:
        return parse_time(self.start_time, "start_time")

    @property
    def end(self) -> datetime:
        return parse_time(self.end_time, "end_time")

    @property
    def end_seconds(self) -> float:
        """BMI end time: seconds from start to the end of the last step."""
        return (self.end - self.start).total_seconds() + self.time_step


def load_bmi_config(path: str | Path) -> tuple[BmiConfig, Path]:
    """Read and validate a BMI YAML; returns the config and the folder its paths are relative to."""
    path = Path(path)
    data = read_yaml(path)
    try:
        cfg = from_dict(BmiConfig, data)
    except ConfigError as exc:
        if isinstance(data, dict) and "checkpoint" not in data and "members" not in data:
            raise ConfigError(f"{path}: {exc}. This is not a dmg_bmi BMI config (it names no 'checkpoint'); "
                              "write one per catchment with `dmg-bmi bmi-config` or `dmg-bmi realization` "
                              "(schema: bmi_configs/README.md)") from None
        raise ConfigError(f"{path}: {exc}") from None
    return cfg, path.resolve().parent


def member_paths(cfg: BmiConfig, base: Path) -> tuple[list[Path], list[float]]:
    """Checkpoint paths (resolved against `base`) and normalized weights of the ensemble."""
    members = [Member(cfg.checkpoint)] if cfg.checkpoint is not None else cfg.members
    paths = [(base / m.checkpoint).resolve() for m in members]
    total = sum(m.weight for m in members)
    return paths, [m.weight / total for m in members]


def resolve(base: Path, value: str | None) -> Path | None:
    """`value` resolved against `base` (None stays None)."""
    return None if value is None else (base / value).resolve()
