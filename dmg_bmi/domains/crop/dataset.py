"""The crop dataset: daily WOFOST weather, attributes, crop calendars and sparse observations per field.

File layout (NetCDF-4, global attribute `dmg_bmi_format = "crop-dataset-1"`):

- dimensions `field` (N), `day` (T), `weather_var` (V), `attribute` (A), `obs_var` (O);
- `field(field)`, `site(field)`: string ids (several fields may share a site);
- `weather_start(field)`: int, `units = "days since 1970-01-01"`: the date of day index 0 *of that field*
  (each field has its own day axis, so fields of different years and seasons share one file);
- `weather(field, day, weather_var)` float64 in WOFOST units, NaN past the field's coverage;
  `weather_var(weather_var)` names, `weather_units(weather_var)` units (see `weather.WEATHER_UNITS`);
- `attributes(field, attribute)` float64, `attribute(attribute)` names, `attribute_units(attribute)`;
  `lat` (degrees_north), `lon` (degrees_east) and `elev` (m) are required attributes (the physics needs them);
- calendar per field: `crop_name`, `variety_name`, `crop_start_type` (sowing|emergence), `crop_end_type`
  (maturity|harvest|earliest) strings; `crop_start_date`, `crop_end_date` int days since 1970-01-01
  (`crop_end_date` = -99999 when absent, allowed only for `maturity`); `max_duration` int (d, 1..1000);
- `observations(field, day, obs_var)` float64 on the same per-field day axis, NaN where unobserved;
  `obs_var(obs_var)` names (e.g. LAI, TAGP, TWSO, DVS), `obs_units(obs_var)`;
- optional global attribute `crop_params`: JSON `{crop: {variety: {PCSE name: value}}}`, the crop parameter
  sets the fields were made with (the crop twin writes it), used when a training config gives no
  `model.phy.options.crop_params`.

In memory: `CropDataset` with arrays `weather [N, T, V]`, `attributes [N, A]`, `observations [N, T, O]`
and a list of `CropCalendar`.

Reading a file or PCSE cases conforms the data to the dataset variables table (`dmg_bmi.data.variables`):
units converted by UDUNITS-2 or refused naming both; weather within PCSE's own limits with TMIN <= TMAX,
attributes and observations within their valid ranges, or InputError naming the file, the variable, the
value, the field, the date and the range.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dmg_bmi.atomic import atomic_netcdf
from dmg_bmi.core.config import check_keys
from dmg_bmi.data.dataset import day_of_year
from dmg_bmi.data.netcdf_read import check_ids, open_netcdf
from dmg_bmi.data.variables import check_attribute, check_range, conform, units_of
from dmg_bmi.domains.crop.variables import DATASET_UNITS
from dmg_bmi.domains.crop.weather import WEATHER_NAMES, WEATHER_UNITS, check_weather
from dmg_bmi.errors import InputError

FORMAT_TAG = "crop-dataset-1"
# Units (and valid ranges) of the required attributes and the observable WOFOST outputs:
# `dmg_bmi.domains.crop.variables`.
REQUIRED_ATTRIBUTES = {name: DATASET_UNITS[name] for name in ("lat", "lon", "elev")}
OBS_UNITS = {name: DATASET_UNITS[name]
             for name in ("LAI", "TAGP", "TWSO", "TWLV", "TWST", "TWRT", "DVS", "RD", "TRA")}
START_TYPES = ("sowing", "emergence")
END_TYPES = ("maturity", "harvest", "earliest")
PARAMS_KEY = "crop_params"  # global attribute: the embedded crop parameter sets (JSON)
_EPOCH = dt.date(1970, 1, 1)
_NO_DATE = -99999
MAX_SEASON_DAYS = 1000  # the longest `max_duration` (d): over 3x PCSE's default 300, past any annual crop


def _as_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]").item()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{what}: {value!r} is not a date (expected YYYY-MM-DD)") from None


def _season_days(value: Any) -> int:
    """`max_duration` as whole days in 1..MAX_SEASON_DAYS (an int, or a float holding one); anything else
    (a bool, a string, 2.7) raises InputError naming the key and value."""
    whole = isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating))
                                                     and float(value).is_integer())
    if isinstance(value, (bool, np.bool_)) or not whole:
        raise InputError(f"max_duration: {value!r} is not a whole number of days")
    if not 1 <= value <= MAX_SEASON_DAYS:
        raise InputError(f"max_duration: {value!r} days is outside 1..{MAX_SEASON_DAYS} (a season of one "
                         "annual crop)")
    return int(value)


@dataclasses.dataclass(frozen=True)
class CropCalendar:
    """One field's crop calendar (PCSE `CropCalendar` keys); dates are `datetime.date`."""

    crop_name: str
    variety_name: str
    crop_start_date: dt.date
    crop_start_type: str = "emergence"
    crop_end_date: dt.date | None = None
    crop_end_type: str = "maturity"
    max_duration: int = 300

    def __post_init__(self):
        object.__setattr__(self, "crop_start_date", _as_date(self.crop_start_date, "crop_start_date"))
        if self.crop_end_date is not None:
            object.__setattr__(self, "crop_end_date", _as_date(self.crop_end_date, "crop_end_date"))
        if self.crop_start_type not in START_TYPES:
            raise InputError(f"crop_start_type: {self.crop_start_type!r} is not one of {list(START_TYPES)}")
        if self.crop_end_type not in END_TYPES:
            raise InputError(f"crop_end_type: {self.crop_end_type!r} is not one of {list(END_TYPES)}")
        if self.crop_end_type != "maturity" and self.crop_end_date is None:
            raise InputError(f"crop_end_date is required when crop_end_type is {self.crop_end_type!r}")
        if self.crop_end_date is not None and self.crop_end_date <= self.crop_start_date:
            raise InputError(f"crop_end_date {self.crop_end_date} is not after crop_start_date "
                             f"{self.crop_start_date}")
        object.__setattr__(self, "max_duration", _season_days(self.max_duration))

    @property
    def season_end(self) -> dt.date:
        """The last simulated day (PCSE): end date for harvest/earliest, else start + max_duration."""
        if self.crop_end_type == "maturity" or self.crop_end_date is None:
            return self.crop_start_date + dt.timedelta(days=int(self.max_duration))
        return self.crop_end_date

    @property
    def season_length(self) -> int:
        """Days from crop start to season end, both included."""
        return (self.season_end - self.crop_start_date).days + 1

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CropCalendar:
        """From a PCSE-style CropCalendar mapping; unknown keys raise InputError naming them."""
        check_keys(cls, data, "crop calendar", InputError)
        for key in ("crop_name", "variety_name", "crop_start_date"):
            if data.get(key) is None:
                raise InputError(f"crop calendar: missing key {key!r}")
        return cls(**{k: v for k, v in data.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping with ISO date strings (YAML/JSON friendly)."""
        out = dataclasses.asdict(self)
        out["crop_start_date"] = self.crop_start_date.isoformat()
        out["crop_end_date"] = self.crop_end_date.isoformat() if self.crop_end_date else None
        return out


@dataclasses.dataclass
class CropDataset:
    """N fields, each with its own daily axis of T days starting at `weather_start[i]`."""

    fields: np.ndarray
    sites: np.ndarray
    weather_start: np.ndarray
    weather: np.ndarray
    attributes: np.ndarray
    attribute_names: tuple[str, ...]
    attribute_units: tuple[str, ...]
    calendars: list[CropCalendar]
    observations: np.ndarray
    obs_names: tuple[str, ...] = ()
    obs_units: tuple[str, ...] = ()
    weather_names: tuple[str, ...] = WEATHER_NAMES
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.fields = np.asarray([str(f) for f in self.fields], dtype=object)
        self.sites = np.asarray([str(s) for s in self.sites], dtype=object)
        self.weather_start = np.asarray(self.weather_start, dtype="datetime64[D]")
        self.weather = np.asarray(self.weather, dtype=np.float64)
        self.attributes = np.asarray(self.attributes, dtype=np.float64)
        self.observations = np.asarray(self.observations, dtype=np.float64)
        self.attribute_names, self.attribute_units = tuple(self.attribute_names), tuple(self.attribute_units)
        self.obs_names, self.obs_units = tuple(self.obs_names), tuple(self.obs_units)
        self.weather_names = tuple(self.weather_names)
        self.calendars = [c if isinstance(c, CropCalendar) else CropCalendar.from_dict(c)
                          for c in self.calendars]
        n = self.fields.size
        if len(set(self.fields)) != n:
            ids, counts = np.unique(self.fields.astype(str), return_counts=True)
            raise InputError(f"crop dataset: duplicate field id(s) {ids[counts > 1].tolist()}")
        nv = len(self.weather_names)
        if self.weather.ndim != 3 or self.weather.shape[0] != n or self.weather.shape[2] != nv:
            raise InputError(f"crop dataset: weather has shape {self.weather.shape}, expected "
                             f"({n}, days, {len(self.weather_names)})")
        for name in WEATHER_NAMES:
            if name not in self.weather_names:
                raise InputError(f"crop dataset: weather variable {name!r} ({WEATHER_UNITS[name]}) missing")
        checks = ((self.sites.shape, (n,), "sites"), (self.weather_start.shape, (n,), "weather_start"),
                  (self.attributes.shape, (n, len(self.attribute_names)), "attributes"),
                  ((len(self.attribute_units),), (len(self.attribute_names),), "attribute_units"),
                  ((len(self.calendars),), (n,), "calendars"),
                  (self.observations.shape, (n, self.n_days, len(self.obs_names)), "observations"),
                  ((len(self.obs_units),), (len(self.obs_names),), "obs_units"))
        for got, want, what in checks:
            if tuple(got) != tuple(want):
                raise InputError(f"crop dataset: {what} has shape {tuple(got)}, expected {tuple(want)}")
        for name, units in REQUIRED_ATTRIBUTES.items():
            if name not in self.attribute_names:
                raise InputError(f"crop dataset: required attribute {name!r} ({units}) is missing")
        bad = np.argwhere(~np.isfinite(self.attributes))
        if bad.size:
            i, j = bad[0]
            raise InputError(f"crop dataset: attribute {self.attribute_names[j]!r} of field "
                             f"{self.fields[i]!r} is not finite")

    # ----------------------------------------------------------------- access
    @property
    def n_fields(self) -> int:
        return int(self.fields.size)

    @property
    def n_days(self) -> int:
        return int(self.weather.shape[1])

    def weather_array(self, names: Sequence[str] = WEATHER_NAMES) -> np.ndarray:
        """Weather `[N, T, len(names)]` in WOFOST units, in the order of `names`."""
        index = {n: i for i, n in enumerate(self.weather_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise InputError(f"weather variable(s) {missing} not in the dataset "
                             f"(have {list(self.weather_names)})")
        return self.weather[:, :, [index[n] for n in names]]

    def attribute_array(self, names: Sequence[str]) -> np.ndarray:
        """Attributes `[N, len(names)]`; names not in the dataset raise InputError naming them."""
        index = {n: i for i, n in enumerate(self.attribute_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise InputError(f"attribute(s) {missing} not in the dataset (have {list(self.attribute_names)})")
        return self.attributes[:, [index[n] for n in names]]

    def observation_array(self, names: Sequence[str]) -> np.ndarray:
        """Observations `[N, T, len(names)]` (NaN = unobserved)."""
        index = {n: i for i, n in enumerate(self.obs_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise InputError(f"observation(s) {missing} not in the dataset (have {list(self.obs_names)})")
        return self.observations[:, :, [index[n] for n in names]]

    def dates(self) -> np.ndarray:
        """Calendar date of every (field, day): `[N, T]` datetime64[D]."""
        return self.weather_start[:, None] + np.arange(self.n_days)

    def day_of_year(self) -> np.ndarray:
        """Day of year (1..366) of every (field, day): `[N, T]` int."""
        return day_of_year(self.dates())

    def start_index(self) -> np.ndarray:
        """Day index of each field's crop_start_date on its own axis, `[N]` int."""
        starts = np.array([c.crop_start_date for c in self.calendars], dtype="datetime64[D]")
        return (starts - self.weather_start).astype(np.int64)

    def season_length(self) -> np.ndarray:
        """Days from crop start to the season end (inclusive), `[N]` int."""
        return np.array([c.season_length for c in self.calendars], dtype=np.int64)

    def parameter_sets(self) -> dict[str, dict[str, dict[str, Any]]] | None:
        """The crop parameter sets embedded under the `crop_params` attribute ({crop: {variety: {name:
        value}}}), or None when the file has none. InputError when the attribute is not such a JSON
        mapping."""
        text = self.metadata.get(PARAMS_KEY)
        if text is None:
            return None
        try:
            sets = json.loads(text)
        except ValueError as exc:
            raise InputError(f"crop dataset attribute {PARAMS_KEY!r} is not JSON: {exc}") from exc
        if not isinstance(sets, dict) or not all(isinstance(v, dict) for v in sets.values()):
            raise InputError(f"crop dataset attribute {PARAMS_KEY!r}: expected a JSON mapping "
                             "{crop: {variety: {parameter: value}}}")
        return sets

    def subset(self, index) -> CropDataset:
        """The fields at `index` (ints or a boolean mask), in that order."""
        idx = np.arange(self.n_fields)[index]
        return dataclasses.replace(
            self, fields=self.fields[idx], sites=self.sites[idx], weather_start=self.weather_start[idx],
            weather=self.weather[idx], attributes=self.attributes[idx],
            calendars=[self.calendars[i] for i in idx], observations=self.observations[idx],
            metadata=dict(self.metadata))

    # ----------------------------------------------------------------- checks
    def conform(self, where: str) -> CropDataset:
        """Convert the attributes and observations the dataset variables table knows to its units, then
        check weather (PCSE's limits, TMIN <= TMAX), attributes and observations against their valid ranges.

        Weather is taken to be in WOFOST units (`load` converts a file's). Errors name `where` (e.g. the
        file), the variable, the value, the field, the date and the allowed range. Returns self."""
        for values, names, units_attr in ((self.attributes, self.attribute_names, "attribute_units"),
                                          (self.observations, self.obs_names, "obs_units")):
            units = list(getattr(self, units_attr))
            for j, name in enumerate(names):
                values[..., j], units[j] = conform(name, values[..., j], units[j], where)
            setattr(self, units_attr, tuple(units))

        def on_day(index) -> str:
            return f"at field {self.fields[index[0]]!r} on {self.weather_start[index[0]] + int(index[1])}"

        def at_field(index) -> str:
            return f"at field {self.fields[index[0]]!r}"

        check_weather({n: self.weather[:, :, k] for k, n in enumerate(self.weather_names)}, where, on_day)
        for j, name in enumerate(self.attribute_names):
            check_attribute(name, self.attributes[:, j], where, at_field)
        for j, name in enumerate(self.obs_names):
            check_range(name, self.observations[:, :, j], where, on_day)
        return self

    def validate(self, varieties: Mapping[str, Collection[str]] | None = None,
                 attributes: Sequence[str] = ()) -> None:
        """Check calendars against the weather and known crops; errors name the field and the value.

        Weather must cover the season without gaps: through the end date for harvest/earliest; for
        maturity, from the start to where the weather ends (the physics reports a crop not mature by then).

        `varieties` maps each known crop name to its known variety names (e.g. from the crop parameter
        sets in the config); `attributes` lists attribute names the model needs.
        """
        self.attribute_array(attributes)
        valid = np.all(np.isfinite(self.weather), axis=2)
        for i, cal in enumerate(self.calendars):
            fid = self.fields[i]
            if varieties is not None:
                if cal.crop_name not in varieties:
                    raise InputError(f"field {fid!r}: unknown crop {cal.crop_name!r}; known crops: "
                                     f"{sorted(varieties)}")
                if cal.variety_name not in varieties[cal.crop_name]:
                    raise InputError(f"field {fid!r}: unknown variety {cal.variety_name!r} of crop "
                                     f"{cal.crop_name!r}; known: {sorted(varieties[cal.crop_name])}")
            have = np.flatnonzero(valid[i])
            first = self.weather_start[i] + (have[0] if have.size else 0)
            last = self.weather_start[i] + (have[-1] if have.size else -1)
            span = f"{first}..{last}" if have.size else "no valid days"
            start = np.datetime64(cal.crop_start_date, "D")
            end = np.datetime64(cal.season_end, "D")
            if cal.crop_end_type == "maturity":  # ends at maturity: the physics checks it is reached in time
                end = min(end, last)
            if not have.size or start < first or start > last:
                raise InputError(f"field {fid!r}: crop_start_date {cal.crop_start_date} is outside its "
                                 f"weather ({span})")
            i0 = int((start - self.weather_start[i]).astype(int))
            i1 = int((end - self.weather_start[i]).astype(int))
            if end > last or not valid[i, i0:i1 + 1].all():
                if end > last:
                    where = f"weather ends {last}"
                else:
                    gap = self.weather_start[i] + i0 + int(np.argmin(valid[i, i0:i1 + 1]))
                    where = f"missing weather on {gap}"
                raise InputError(f"field {fid!r}: season {cal.crop_start_date}..{cal.season_end} "
                                 f"({cal.crop_end_type}) is not covered by its weather ({where})")

    # ----------------------------------------------------------------- file I/O
    def save(self, path: str | Path) -> Path:
        """Write the NetCDF file atomically (`atomic.atomic_netcdf`: a failed write names `path`)."""
        path = Path(path)
        days_units = "days since 1970-01-01"
        with atomic_netcdf(path) as nc:
            nc.set_auto_mask(False)
            for dim, size in (("field", self.n_fields), ("day", self.n_days),
                              ("weather_var", len(self.weather_names)),
                              ("attribute", len(self.attribute_names)), ("obs_var", len(self.obs_names))):
                nc.createDimension(dim, size)

            def strings(name, dim, values, long_name):
                v = nc.createVariable(name, str, (dim,))
                v.long_name = long_name
                if len(values):
                    v[:] = np.asarray(values, dtype=object)

            def ints(name, values, units, long_name):
                v = nc.createVariable(name, "i4", ("field",))
                v.units, v.long_name = units, long_name
                v[:] = np.asarray(values, dtype=np.int64)

            strings("field", "field", self.fields, "field id")
            strings("site", "field", self.sites, "site id")
            ints("weather_start", (self.weather_start - np.datetime64(_EPOCH, "D")).astype(np.int64),
                 days_units, "date of day index 0 of this field")
            strings("weather_var", "weather_var", self.weather_names, "weather variable")
            wunits = [units_of(n, "") for n in self.weather_names]
            strings("weather_units", "weather_var", wunits, "units of each weather variable")
            v = nc.createVariable("weather", "f8", ("field", "day", "weather_var"), zlib=True)
            v.long_name = "daily weather in WOFOST (PCSE) units; NaN past the field's coverage"
            v[:] = self.weather
            strings("attribute", "attribute", self.attribute_names, "attribute name")
            strings("attribute_units", "attribute", self.attribute_units, "units of each attribute")
            v = nc.createVariable("attributes", "f8", ("field", "attribute"))
            v.long_name = "static field/site attributes"
            v[:] = self.attributes
            for key in ("crop_name", "variety_name", "crop_start_type", "crop_end_type"):
                strings(key, "field", [getattr(c, key) for c in self.calendars], f"crop calendar {key}")
            epoch = np.datetime64(_EPOCH, "D")
            ints("crop_start_date", [(np.datetime64(c.crop_start_date, "D") - epoch).astype(int)
                                     for c in self.calendars], days_units, "crop start date")
            ints("crop_end_date", [(np.datetime64(c.crop_end_date, "D") - epoch).astype(int)
                                   if c.crop_end_date else _NO_DATE for c in self.calendars],
                 days_units, f"crop end date ({_NO_DATE} = none)")
            ints("max_duration", [c.max_duration for c in self.calendars], "d", "maximum season length")
            strings("obs_var", "obs_var", self.obs_names, "observed variable")
            strings("obs_units", "obs_var", self.obs_units, "units of each observed variable")
            v = nc.createVariable("observations", "f8", ("field", "day", "obs_var"), zlib=True)
            v.long_name = "sparse observations on the field's day axis; NaN = unobserved"
            v[:] = self.observations
            nc.setncatts({**self.metadata, "dmg_bmi_format": FORMAT_TAG})
        return path

    @classmethod
    def load(cls, path: str | Path) -> CropDataset:
        """Read a file written by `save`, conformed (see `conform`); missing variables raise InputError naming
        them, weather in other units is converted to WOFOST's (or refused naming both units)."""
        path = Path(path)
        need = ("field", "site", "weather_start", "weather_var", "weather_units", "weather", "attribute",
                "attribute_units", "attributes", "crop_name", "variety_name", "crop_start_type",
                "crop_end_type",
                "crop_start_date", "crop_end_date", "max_duration", "obs_var", "obs_units", "observations")
        with open_netcdf(path, "crop dataset") as nc:
            missing = [k for k in need if k not in nc.variables]
            if missing:
                raise InputError(f"crop dataset {path}: variable(s) {missing} missing")
            if getattr(nc, "dmg_bmi_format", None) != FORMAT_TAG:
                raise InputError(f"crop dataset {path}: dmg_bmi_format is "
                                 f"{getattr(nc, 'dmg_bmi_format', None)!r}, expected {FORMAT_TAG!r}")

            def strings(name):
                return [str(s) for s in nc.variables[name][:]] if nc.variables[name].size else []

            fields = strings("field")
            check_ids(fields, path, "crop dataset", "field")  # field ids name output files
            wnames, wunits = strings("weather_var"), strings("weather_units")
            weather = np.asarray(nc.variables["weather"][:], dtype=np.float64)
            for k, (name, units) in enumerate(zip(wnames, wunits, strict=True)):
                weather[:, :, k] = conform(name, weather[:, :, k], units, f"crop dataset {path}")[0]
            epoch = np.datetime64(_EPOCH, "D")

            def date(days):
                return None if int(days) == _NO_DATE else (epoch + int(days)).item()

            cols = {k: strings(k) for k in ("crop_name", "variety_name", "crop_start_type", "crop_end_type")}
            starts, ends = nc.variables["crop_start_date"][:], nc.variables["crop_end_date"][:]
            durations = nc.variables["max_duration"][:]
            calendars = [CropCalendar(crop_name=cols["crop_name"][i], variety_name=cols["variety_name"][i],
                                      crop_start_date=date(starts[i]),
                                      crop_start_type=cols["crop_start_type"][i],
                                      crop_end_date=date(ends[i]), crop_end_type=cols["crop_end_type"][i],
                                      max_duration=int(durations[i])) for i in range(len(starts))]
            meta = {k: str(nc.getncattr(k)) for k in nc.ncattrs() if k != "dmg_bmi_format"}
            return cls(fields=fields, sites=strings("site"),
                       weather_start=epoch + np.asarray(nc.variables["weather_start"][:], dtype=np.int64),
                       weather=weather, weather_names=tuple(wnames),
                       attributes=np.asarray(nc.variables["attributes"][:]),
                       attribute_names=tuple(strings("attribute")),
                       attribute_units=tuple(strings("attribute_units")),
                       calendars=calendars, observations=np.asarray(nc.variables["observations"][:]),
                       obs_names=tuple(strings("obs_var")), obs_units=tuple(strings("obs_units")),
                       metadata=meta).conform(f"crop dataset {path}")


def from_pcse_cases(paths: Sequence[str | Path]) -> tuple[CropDataset, list[dict[str, Any]]]:
    """A `CropDataset` from PCSE reference test files (YAML), and each case's `ModelParameters`.

    Files are read by `dmg_bmi.domains.crop.pcse.pcse_yaml.load_case` (which names the file and key of a bad
    value).
    Weather comes from `WeatherVariables` (PCSE units), the calendar from the campaign's `CropCalendar`,
    attributes `lat`/`lon`/`elev` from the first weather record, and observations from `ModelResults`
    (every day: DVS, LAI, TAGP, TWSO, TWLV, TWST, TWRT, RD, TRA). Field ids are file stems.
    """
    from dmg_bmi.domains.crop.pcse.pcse_yaml import load_case

    cases = [load_case(p) for p in paths]
    for path, case in zip(paths, cases, strict=True):
        lacks = [k for k, ok in (("an AgroManagement CropCalendar", case.calendar),
                                 ("ModelParameters", case.params),
                                 ("WeatherVariables with DAY", case.weather.dates)) if not ok]
        lacks += [f"WeatherVariables key {k!r}" for k in (*WEATHER_NAMES, "LAT", "LON", "ELEV")
                  if k not in case.weather.values]
        if lacks:
            raise InputError(f"{path}: PCSE test file lacks {', '.join(lacks)}")
    obs_names = ("DVS", "LAI", "TAGP", "TWSO", "TWLV", "TWST", "TWRT", "RD", "TRA")
    n_days = max(len(c.weather.dates) for c in cases)
    weather = np.full((len(cases), n_days, len(WEATHER_NAMES)), np.nan)
    obs = np.full((len(cases), n_days, len(obs_names)), np.nan)
    starts, calendars, attrs = [], [], []
    for i, case in enumerate(cases):
        w, day0 = case.weather, case.weather.dates[0]
        starts.append(np.datetime64(day0, "D"))
        weather[i, :len(w.dates)] = np.stack([w.values[n] for n in WEATHER_NAMES], axis=-1)
        for t, day in enumerate(case.results.dates):
            if not w.dates[0] <= day <= w.dates[-1]:
                raise InputError(f"{paths[i]}: ModelResults day {day} is outside the weather "
                                 f"({w.dates[0]}..{w.dates[-1]})")
            obs[i, (day - day0).days] = [case.results.values[n][t] if n in case.results.values else np.nan
                                         for n in obs_names]
        calendars.append(CropCalendar.from_dict({k: v for k, v in case.calendar.items()
                                                 if k != "campaign_start"}))
        attrs.append([w.values[k][0] for k in ("LAT", "LON", "ELEV")])
    ds = CropDataset(fields=[c.name for c in cases], sites=[f"{a[0]:.4f},{a[1]:.4f}" for a in attrs],
                     weather_start=np.asarray(starts), weather=weather, attributes=np.asarray(attrs),
                     attribute_names=tuple(REQUIRED_ATTRIBUTES),
                     attribute_units=tuple(REQUIRED_ATTRIBUTES.values()), calendars=calendars,
                     observations=obs, obs_names=obs_names, obs_units=tuple(OBS_UNITS[n] for n in obs_names),
                     metadata={"source": "PCSE reference cases"})
    return ds.conform(f"PCSE cases in {Path(paths[0]).parent}"), [dict(c.params) for c in cases]
