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
from typing import Annotated, Any, Literal

from pydantic import Field

from dmg_bmi.core.config import from_dict
from dmg_bmi.core.config import load_yaml as read_yaml
from dmg_bmi.core.payload import room_after
from dmg_bmi.core.schema import Float, Int, Str, key, section
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


@section
@dataclasses.dataclass
class Member:
    """One ensemble member: a checkpoint file and its weight in the average."""

    checkpoint: Annotated[Str, key("a trained checkpoint (.pt), relative to this file's folder")]
    weight: Annotated[Float, key("its weight in the mean (the weights are normalised)", ge=0)] = 1.0


@section
@dataclasses.dataclass
class BmiConfig:
    """Everything one catchment instance needs; field defaults are the documented defaults."""

    checkpoint: Annotated[Str | None, key(
        "one trained checkpoint (.pt, from `dmg-bmi train` or `quickstart`), relative to this file's folder; "
        "or `members`")] = None
    members: Annotated[list[Member], key(
        "an ensemble instead of `checkpoint`: the outputs are the weighted mean, so the members must have "
        "the same outputs (e.g. multimodels of the same variants)")] = \
        dataclasses.field(default_factory=list)
    catchment_id: Annotated[Str, key("label only; an unquoted id with leading zeros (01022500) stays as "
                                     "written")] = ""
    area_km2: Annotated[Annotated[Float, Field(gt=0)] | None, key(
        "catchment area: turns the runoff depth into land_surface_water__runoff_volume_flux; or from ngen "
        "model_params", units="km2")] = None
    latitude: Annotated[Annotated[Float, Field(ge=-90, le=90)] | None, key(
        "for the checkpoint's PET method (not with pet_method forcing), or from ngen model_params",
        units="degrees_north")] = None
    attributes: Annotated[dict[Str, Float], key(
        "every static attribute the checkpoint needs, by its training name and in the training table's "
        "units (`dmg-bmi inspect CKPT`); missing ones may come from ngen model_params")] = \
        dataclasses.field(default_factory=dict)
    start_time: Annotated[Str, key("the time of BMI time 0, 'YYYY-MM-DD hh:mm:ss' UTC (an offset is "
                                   "converted); with initial_state, the state's own time")] = \
        "2000-01-01 00:00:00"
    end_time: Annotated[Str, key("the start of the last step, like ngen's time.end_time (same format)")] = \
        "2000-12-31 23:00:00"
    time_step: Annotated[Int, key("the model step: 3600 for ngen's hourly step, 86400 for daily; a whole "
                                  "number of hours dividing a day", units="s")] = 3600
    device: Annotated[Literal["cpu", "cuda", "auto"], key("where the model runs (auto: CUDA if "
                                                          "available)")] = "cpu"
    backend: Annotated[Literal["auto", "numpy", "torch"], key(
        "auto: the float64 numpy path on CPU, torch on CUDA (the same numbers)")] = "auto"
    initial_state: Annotated[Str | None, key(
        "hot start from a state file (save_state, a run's final_state, `simulate --save-state`); its time "
        "must equal start_time")] = None
    final_state: Annotated[Str | None, key("finalize() writes the state here, atomically: the next run's "
                                           "initial_state")] = None
    nan_policy: Annotated[Literal["error", "hold_last"], key(
        "NaN in an input the model reads: raise naming the variable and time, or carry the last valid value "
        "with a warning")] = "error"
    crop_calendar: Annotated[dict[Str, Any] | None, key(
        "crop models only: the field's PCSE CropCalendar (crop_name, variety_name, crop_start_date, "
        "crop_start_type, crop_end_date, crop_end_type, max_duration)")] = None

    def validate(self, prefix: str = "") -> None:
        empty = [k for k, v in (("checkpoint", self.checkpoint), ("initial_state", self.initial_state),
                                ("final_state", self.final_state)) if v is not None and not v.strip()]
        empty += [f"members[{i}].checkpoint" for i, m in enumerate(self.members) if not m.checkpoint.strip()]
        if empty:
            raise ConfigError(f"{', '.join(empty)}: an empty path; give a file (or leave the key out)")
        if (self.checkpoint is None) == (not self.members):
            raise ConfigError("give exactly one of 'checkpoint' (one model) or 'members' (an ensemble)")
        check_time_step(self.time_step, "time_step")
        start, end = self.start, self.end
        if end < start:
            raise ConfigError(f"end_time {self.end_time!r} is before start_time {self.start_time!r}")
        if not room_after(end, self.time_step):
            raise ConfigError(f"end_time {self.end_time!r}: the run's last {self.time_step}-s step and the "
                              "day ngen may run past it end after the year 9999, the last a time can hold")
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
