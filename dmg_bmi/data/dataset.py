"""The package's NetCDF dataset: daily forcings and targets per basin, static attributes, units everywhere.

File layout (NetCDF-4, written with netCDF4; see docs/dataset_format.md):

- dimensions `basin` (B) and `time` (T, contiguous days);
- `basin(basin)`: string ids; `time(time)`: int, `units = "days since 1970-01-01"`, `calendar = "standard"`;
- dynamic variables `(basin, time)` float64 with `units` and `role` = `"forcing"` or `"target"`
  (NaN = missing), e.g. forcings `P` (mm d-1), `T` (degC), `PET` (mm d-1), `prcp`, `tmean`, `srad`, ...
  and target `streamflow` (mm d-1);
- static variables `(basin)` float64 with `units` and `role = "attribute"`, always including `lat`
  (degrees_north), `lon` (degrees_east), `area_km2` (km2) and `elevation_m` (m);
- global attributes: `dmg_bmi_format = "hydro-dataset-1"`, `input_derivation` (JSON of
  `dmg_bmi.forcing.InputDerivation`: how P, T and PET were derived), plus free-form `title`, `source`, ... .

In memory: `HydroDataset.forcings(names) -> [B, T, F]`, `attributes(names) -> [B, A]`,
`target(name) -> [B, T]`.

Reading a file conforms it to the dataset variables table (`dmg_bmi.data.variables`): a variable the table
knows whose `units` differ from the table's is converted (UDUNITS-2, `dmg_bmi.units`) or refused naming the
file, the variable and both units; a value outside its valid range, or tmin above tmax, is refused naming the
file, the variable, the value, the basin, the date and the range; so is a vapour pressure `vp` above
saturation at `tmax` (`dmg_bmi.data.variables.check_saturation`). A `dmg_bmi_format` other than this one's,
a time `calendar` other than standard/gregorian/proleptic_gregorian, and an empty basin id or one holding a
path separator are refused naming the file.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dmg_bmi.atomic import atomic_netcdf
from dmg_bmi.data.netcdf_read import check_calendar, check_ids, open_netcdf
from dmg_bmi.data.variables import check_attribute, check_order, check_range, check_saturation, conform
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.forcing import InputDerivation

FORMAT_TAG = "hydro-dataset-1"
REQUIRED_ATTRIBUTES = ("lat", "lon", "area_km2", "elevation_m")
_EPOCH = np.datetime64("1970-01-01", "D")


def to_day(value: Any, what: str = "date") -> np.datetime64:
    """A date (str 'YYYY-MM-DD', datetime.date, numpy datetime64) as numpy datetime64[D]."""
    try:
        if isinstance(value, dt.datetime):
            value = value.date()
        return np.datetime64(value, "D")
    except (ValueError, TypeError):
        raise InputError(f"{what}: {value!r} is not a date (expected YYYY-MM-DD)") from None


def day_of_year(dates: np.ndarray) -> np.ndarray:
    """Day of year (1 = 1 January, ..366) of each datetime64[D] of `dates`, int64, same shape."""
    return (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1


NAMES_KEY = "basin_names"  # global attribute: JSON object basin id -> station name (e.g. CAMELS gauge_name)


@dataclass
class HydroDataset:
    """Daily data for B basins over T contiguous days.

    `dynamic[name]` is `[B, T]` float64, `static[name]` is `[B]` float64; `units[name]` holds the units of
    every variable; `targets` lists which dynamic variables are targets (the rest are forcings);
    `metadata` holds global attributes (str values; `basin_names`, a JSON object id -> station name, is read
    by `names`); `origin` names the source (e.g. the file) in errors.
    """

    basins: np.ndarray
    dates: np.ndarray
    dynamic: dict[str, np.ndarray]
    static: dict[str, np.ndarray]
    units: dict[str, str]
    targets: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    origin: str = field(default="dataset", compare=False)  # where the data came from, named in errors

    def __post_init__(self):
        self.basins = np.asarray([str(b) for b in self.basins], dtype=object)
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        self.targets = tuple(self.targets)
        b, t = self.basins.size, self.dates.size
        if len(set(self.basins)) != b:
            ids, counts = np.unique(self.basins.astype(str), return_counts=True)
            raise InputError(f"{self.origin}: duplicate basin id(s) {ids[counts > 1].tolist()}")
        if t > 1 and np.any(np.diff(self.dates).astype(np.int64) != 1):
            raise InputError("dataset: the time axis must be contiguous days")
        for name, a in self.dynamic.items():
            self.dynamic[name] = a = np.asarray(a, dtype=np.float64)
            if a.shape != (b, t):
                raise InputError(f"dataset: dynamic variable {name!r} has shape {a.shape}, expected {(b, t)}")
        for name, a in self.static.items():
            self.static[name] = a = np.asarray(a, dtype=np.float64)
            if a.shape != (b,):
                raise InputError(f"dataset: static variable {name!r} has shape {a.shape}, expected {(b,)}")
        for name in self.targets:
            if name not in self.dynamic:
                raise InputError(f"dataset: target {name!r} is not a dynamic variable")
        for name in (*self.dynamic, *self.static):
            if name not in self.units:
                raise InputError(f"dataset: variable {name!r} has no units")

    # ----------------------------------------------------------------- names and access
    @property
    def n_basins(self) -> int:
        return int(self.basins.size)

    @property
    def n_time(self) -> int:
        return int(self.dates.size)

    @property
    def forcing_names(self) -> list[str]:
        return [n for n in self.dynamic if n not in self.targets]

    @property
    def target_names(self) -> list[str]:
        return list(self.targets)

    @property
    def attribute_names(self) -> list[str]:
        return list(self.static)

    @property
    def doy(self) -> np.ndarray:
        """Day of year (1..366) of each date, `[T]` int."""
        return day_of_year(self.dates)

    @property
    def derivation(self) -> InputDerivation | None:
        """How P, T and PET in this file were derived (from the `input_derivation` global attribute)."""
        raw = self.metadata.get("input_derivation")
        return parse_derivation(raw, self.origin) if raw else None

    def _missing(self, name: str, kind: str, available: list[str]) -> InputError:
        return InputError(f"{kind} {name!r} is not in the dataset; available {kind}s: {available}")

    @property
    def names(self) -> dict[str, str]:
        """Station names of the basins that have one (`{id: name}`, from the `basin_names` global attribute;
        {} without it). A value that is not a JSON object of strings raises InputError naming the source."""
        raw = self.metadata.get(NAMES_KEY)
        if not raw:
            return {}
        try:
            names = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"{self.origin}: global attribute {NAMES_KEY!r} is not JSON ({exc})") from None
        if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
            raise InputError(f"{self.origin}: global attribute {NAMES_KEY!r} must map basin ids to names")
        ids = set(self.basins)
        return {str(b): v for b, v in names.items() if str(b) in ids}

    def forcings(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """Forcing variables stacked as `[B, T, F]` float64 in the order of `names`."""
        for n in names:
            if n not in self.dynamic or n in self.targets:
                raise self._missing(n, "forcing", self.forcing_names)
        return np.stack([self.dynamic[n] for n in names], axis=-1) if names else np.zeros(
            (self.n_basins, self.n_time, 0))

    def attributes(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """Static attributes stacked as `[B, A]` float64 in the order of `names`: what a model reads, so a
        missing (NaN) value raises InputError naming `origin`, the attribute and the basins."""
        for n in names:
            if n not in self.static:
                raise self._missing(n, "attribute", self.attribute_names)
            gaps = [str(b) for b in self.basins[np.isnan(self.static[n])]]
            if gaps:
                raise InputError(f"{self.origin}: attribute {n!r} is missing (NaN) at basin(s) {gaps[:5]}"
                                 f"{f' and {len(gaps) - 5} more' if len(gaps) > 5 else ''}; the model needs "
                                 "it: fill it in, or leave those basins out (data.basins)")
        return np.stack([self.static[n] for n in names], axis=-1) if names else np.zeros((self.n_basins, 0))

    def target(self, name: str) -> np.ndarray:
        """A target variable `[B, T]` float64 (NaN = missing)."""
        if name not in self.targets:
            raise self._missing(name, "target", self.target_names)
        return self.dynamic[name]

    def add_dynamic(self, name: str, data: np.ndarray, units: str, target: bool = False) -> None:
        """Add (or replace) a `[B, T]` forcing or target variable."""
        data = np.asarray(data, dtype=np.float64)
        if data.shape != (self.n_basins, self.n_time):
            expected = (self.n_basins, self.n_time)
            raise InputError(f"dataset: {name!r} has shape {data.shape}, expected {expected}")
        self.dynamic[name] = data
        self.units[name] = units
        if target and name not in self.targets:
            self.targets = (*self.targets, name)

    def conform(self, where: str) -> HydroDataset:
        """Convert every variable the dataset variables table knows to its units, then check every value
        against its valid range (static attributes the table does not know: finite or NaN, |x| <= 1e12) and
        tmin <= tmax, and vapour pressure not above saturation at tmax (`check_saturation`); errors name
        `where` (e.g. the file), the variable, the value, the basin and the date. Returns self."""
        for data in (self.dynamic, self.static):
            for name in data:
                data[name], self.units[name] = conform(name, data[name], self.units[name], where)

        def at_day(index) -> str:
            return f"at basin {self.basins[index[0]]!r} on {self.dates[index[1]]}"

        def at_basin(index) -> str:
            return f"at basin {self.basins[index[0]]!r}"

        for name, values in self.static.items():
            check_attribute(name, values, where, at_basin)
        for name, values in self.dynamic.items():
            check_range(name, values, where, at_day)
        check_order("tmin", "tmax", self.dynamic, where, at_day)
        check_saturation("vp", "tmax" if "tmax" in self.dynamic else "tmean", self.dynamic, where, at_day)
        return self

    # ----------------------------------------------------------------- selection
    def sel_period(self, start: Any, end: Any) -> HydroDataset:
        """The days `start..end` (inclusive); a period outside the data raises InputError naming the dates."""
        s, e = to_day(start, "period start"), to_day(end, "period end")
        if e < s:
            raise InputError(f"period end {e} is before start {s}")
        if self.n_time == 0 or s < self.dates[0] or e > self.dates[-1]:
            have = f"{self.dates[0]}..{self.dates[-1]}" if self.n_time else "no dates"
            raise InputError(f"period {s}..{e} is outside the data ({have})")
        i0 = int((s - self.dates[0]).astype(np.int64))
        i1 = int((e - self.dates[0]).astype(np.int64)) + 1
        return self._subset(slice(None), slice(i0, i1))

    def sel_basins(self, basins: list[str] | tuple[str, ...]) -> HydroDataset:
        """The given basins, in the given order; unknown ids raise InputError naming them."""
        index = {b: i for i, b in enumerate(self.basins)}
        missing = [str(b) for b in basins if str(b) not in index]
        if missing:
            raise InputError(f"basin(s) {missing} not in the dataset ({self.n_basins} basins, e.g. "
                             f"{list(self.basins[:5])})")
        return self._subset(np.array([index[str(b)] for b in basins], dtype=np.int64), slice(None))

    def site_rows(self) -> dict[str, dict[str, float]]:
        """{basin: {static attribute: value}} (`lat` degrees north, `area_km2` km2, the rest in the dataset's
        units), non-finite values left out: the site table the ngen writers read (`dmg-bmi bmi-config`)."""
        return {str(b): {name: float(v[i]) for name, v in self.static.items() if np.isfinite(v[i])}
                for i, b in enumerate(self.basins)}

    def _subset(self, bi, ti) -> HydroDataset:
        return HydroDataset(
            basins=self.basins[bi], dates=self.dates[ti],
            dynamic={k: v[bi][:, ti].copy() for k, v in self.dynamic.items()},
            static={k: v[bi].copy() for k, v in self.static.items()},
            units=dict(self.units), targets=self.targets, metadata=dict(self.metadata), origin=self.origin,
        )

    # ----------------------------------------------------------------- file I/O
    def save(self, path: str | Path) -> Path:
        """Write the NetCDF file atomically (`atomic.atomic_netcdf`: a failed write names `path`)."""
        path = Path(path)
        with atomic_netcdf(path) as nc:
            nc.set_auto_mask(False)
            nc.createDimension("basin", self.n_basins)
            nc.createDimension("time", self.n_time)
            v = nc.createVariable("basin", str, ("basin",))
            v.long_name = "basin id"
            v[:] = self.basins
            v = nc.createVariable("time", "i4", ("time",))
            v.units, v.calendar, v.standard_name = "days since 1970-01-01", "standard", "time"
            v[:] = (self.dates - _EPOCH).astype(np.int64)
            for name, data in self.dynamic.items():
                v = nc.createVariable(name, "f8", ("basin", "time"), zlib=True, complevel=1)
                v.units = self.units[name]
                v.role = "target" if name in self.targets else "forcing"
                v[:] = data
            for name, data in self.static.items():
                v = nc.createVariable(name, "f8", ("basin",))
                v.units = self.units[name]
                v.role = "attribute"
                v[:] = data
            nc.setncatts({**self.metadata, "dmg_bmi_format": FORMAT_TAG})
        return path

    @classmethod
    def load(cls, path: str | Path) -> HydroDataset:
        """Read a file written by `save` (or any NetCDF with this layout), conformed (see `conform`)."""
        path = Path(path)
        with open_netcdf(path, "dataset") as nc:
            for need in ("basin", "time"):
                if need not in nc.variables:
                    raise InputError(f"dataset {path}: variable {need!r} is missing")
            tag = getattr(nc, "dmg_bmi_format", FORMAT_TAG)
            if tag != FORMAT_TAG:
                raise InputError(f"dataset {path}: format {tag!r} is not {FORMAT_TAG!r} (global attribute "
                                 "'dmg_bmi_format')")
            tvar = nc.variables["time"]
            check_calendar(tvar, path, "dataset")
            m = re.fullmatch(r"\s*days since (\d{4}-\d{2}-\d{2})(?:[ T]00:00(?::00)?)?\s*",
                             getattr(tvar, "units", ""))
            if not m:
                raise InputError(f"dataset {path}: time units must be 'days since YYYY-MM-DD', got "
                                 f"{getattr(tvar, 'units', None)!r}")
            dates = np.datetime64(m.group(1), "D") + np.asarray(tvar[:]).astype(np.int64)
            basins = [str(b) for b in nc.variables["basin"][:]]
            check_ids(basins, path, "dataset", "basin")
            dynamic, static, units, targets = {}, {}, {}, []
            for name, var in nc.variables.items():
                if name in ("basin", "time"):
                    continue
                if not hasattr(var, "units"):
                    raise InputError(f"dataset {path}: variable {name!r} has no 'units' attribute")
                units[name] = var.units
                if var.dimensions == ("basin", "time"):
                    dynamic[name] = np.asarray(var[:], dtype=np.float64)
                    if getattr(var, "role", "forcing") == "target":
                        targets.append(name)
                elif var.dimensions == ("basin",):
                    static[name] = np.asarray(var[:], dtype=np.float64)
                else:
                    raise InputError(f"dataset {path}: variable {name!r} has dimensions {var.dimensions}, "
                                     "expected (basin, time) or (basin,)")
            meta = {k: str(nc.getncattr(k)) for k in nc.ncattrs() if k != "dmg_bmi_format"}
        where = f"dataset {path}"
        if "input_derivation" in meta:
            parse_derivation(meta["input_derivation"], where)
        return cls(basins=basins, dates=dates, dynamic=dynamic, static=static, units=units,
                   targets=tuple(targets), metadata=meta, origin=where).conform(where)


def parse_derivation(raw: str, where: str) -> InputDerivation:
    """The `input_derivation` global attribute (a JSON object of `InputDerivation` fields, `pet_method`
    required, the others defaulted) as one; malformed JSON, another JSON type, no `pet_method`, an unknown
    key or a bad value raise InputError naming `where` (the file) and the attribute."""
    what = f"{where}: global attribute 'input_derivation'"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON ({exc.msg} at character {exc.pos}): "
                         f"{raw[:80]!r}") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a JSON object, got {type(data).__name__}: {raw[:80]!r}")
    if "pet_method" not in data:
        raise InputError(f"{what} lacks the key 'pet_method': {raw[:80]!r}")
    try:
        return InputDerivation.from_dict(data)
    except (ConfigError, TypeError) as exc:
        raise InputError(f"{what}: {exc}") from None
