"""Reader for PCSE's YAML files: test cases (full-model and single-module) and parameter sets.

A file holds `AgroManagement` (a PCSE campaign list), `ModelParameters` (flat dict; tables as flat
lists), `WeatherVariables` (daily records in PCSE units: IRRAD J m-2 d-1, TMIN/TMAX/TEMP °C, VAP hPa,
RAIN/E0/ES0/ET0 cm d-1, WIND m s-1, LAT/LON deg), optional `ExternalStates` (daily forced inputs),
`ModelResults` (daily reference values) and `Precision` (absolute tolerance per variable).

Loading checks what the file holds: UTF-8 text without NUL bytes, valid YAML, numbers where numbers
belong, consecutive dates, crop and site parameters in their ranges
(`dmg_bmi.domains.crop.wofost72.params.check_params`) and the site's LAT, LON and ELEV within the dataset
table's lat, lon and elev; errors name the file and the key. The weather's own limits are checked where
the days are used (`dmg_bmi.domains.crop.pcse.batch`, `dmg_bmi.domains.crop.dataset`: `check_weather`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from dmg_bmi.data.variables import check_range
from dmg_bmi.domains.crop.pcse.tables import parse_afgen
from dmg_bmi.domains.crop.wofost72 import params as P
from dmg_bmi.errors import InputError
from dmg_bmi.text import read_text

try:
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@dataclass
class Series:
    """Daily records: `dates` (consecutive `datetime.date`s; empty if the records carry no DAY) and
    `values` {name: float array}."""

    dates: list[dt.date]
    values: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class PcseCase:
    name: str
    params: dict | None
    calendar: dict | None  # the CropCalendar entry plus `campaign_start`
    weather: Series
    results: Series
    precision: dict[str, float]
    external: Series | None


def read_yaml(path: str | Path, what: str = "PCSE file"):
    """The YAML document in `path`; unreadable, non-UTF-8 or malformed text raises InputError naming it."""
    text = read_text(path, what)
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise InputError(f"{what} {path}: malformed YAML{at}: {problem}") from None


def _records(name: str, recs, path) -> Series:
    if not recs:
        return Series([], {})
    if not isinstance(recs, list) or not all(isinstance(r, dict) for r in recs):
        raise InputError(f"{path}: {name} must be a list of records (mappings), got {type(recs).__name__}")
    dates = [r["DAY"] for r in recs] if all("DAY" in r for r in recs) else []  # astro results: by row
    for i, day in enumerate(dates):
        if not isinstance(day, dt.date):
            raise InputError(f"{path}: {name} record {i + 1}, key DAY: {day!r} is not a date (YYYY-MM-DD)")
    keys = sorted({k for r in recs for k in r if k != "DAY"})
    values = {}
    for k in keys:
        col = [r.get(k) for r in recs]
        values[k] = np.array([_number(v, f"{path}: {name} record {i + 1}"
                                      f"{f' ({dates[i]})' if dates else ''}, key {k}")
                              for i, v in enumerate(col)], dtype=float)
    for i in range(1, len(dates)):
        if (dates[i] - dates[i - 1]).days != 1:
            raise InputError(
                f"{path}: {name} records are not consecutive days ({dates[i - 1]} -> {dates[i]})"
            )
    return Series(dates, values)


def _number(value, where: str) -> float:
    """A YAML value as a float (None: NaN, missing); anything else raises InputError naming `where`."""
    if value is None:
        return np.nan
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise InputError(f"{where}: {value!r} is not a number")


def _calendar(agro, path) -> dict | None:
    if not agro:
        return None
    found = []
    for i, campaign in enumerate(agro if isinstance(agro, list) else [agro]):
        if not isinstance(campaign, dict) or not all(isinstance(b, dict | None) for b in campaign.values()):
            raise InputError(f"{path}: AgroManagement campaign {i + 1} must map a start date to a mapping "
                             f"(CropCalendar, TimedEvents, StateEvents), got {campaign!r:.80}")
        for start, body in campaign.items():
            if body and body.get("CropCalendar"):
                if not isinstance(body["CropCalendar"], dict):
                    raise InputError(f"{path}: AgroManagement CropCalendar must be a mapping, got "
                                     f"{body['CropCalendar']!r:.80}")
                found.append(dict(body["CropCalendar"], campaign_start=start))
    if len(found) > 1:
        raise InputError(f"{path}: {len(found)} crop campaigns; only one crop per field is supported")
    return found[0] if found else None


def load_case(path: str | Path) -> PcseCase:
    """Parse one PCSE YAML test file."""
    path = Path(path)
    data = read_yaml(path, "PCSE test file")
    if not isinstance(data, dict) or "WeatherVariables" not in data:
        raise InputError(f"{path}: not a PCSE test file (no WeatherVariables)")
    params = data.get("ModelParameters")
    if params is not None and not isinstance(params, dict):
        raise InputError(f"{path}: ModelParameters must be a mapping, got {type(params).__name__}")
    P.check_params(params or {}, str(path))
    weather = _records("WeatherVariables", data["WeatherVariables"], path)
    _check_site_weather(weather, path)
    precision = data.get("Precision") or {}
    if not isinstance(precision, dict):
        raise InputError(f"{path}: Precision must be a mapping, got {type(precision).__name__}")
    return PcseCase(
        name=path.stem,
        params=params,
        calendar=_calendar(data.get("AgroManagement"), path),
        weather=weather,
        results=_records("ModelResults", data.get("ModelResults"), path),
        precision={k: _number(v, f"{path}: Precision, key {k}") for k, v in precision.items()},
        external=_records("ExternalStates", data["ExternalStates"], path)
        if data.get("ExternalStates")
        else None,
    )


SITE_WEATHER = {"LAT": "lat", "LON": "lon", "ELEV": "elev"}  # weather-record keys -> dataset table names


def _check_site_weather(weather: Series, path: Path) -> None:
    """LAT/LON/ELEV within the dataset table's lat/lon/elev; errors name the file, the key, the value and
    the day."""

    def on_day(index) -> str:
        return f"on {weather.dates[index[0]]}" if weather.dates else f"in record {index[0] + 1}"

    for key, name in SITE_WEATHER.items():
        if key in weather.values:
            check_range(name, weather.values[key], f"{path}: WeatherVariables key {key}", on_day)


def _series_json(s: Series | None):
    if s is None:
        return None
    return {"dates": [d.isoformat() for d in s.dates], "values": {k: v.tolist() for k, v in s.values.items()}}


def _series_from_json(d) -> Series | None:
    if d is None:
        return None
    return Series(
        [dt.date.fromisoformat(x) for x in d["dates"]], {k: np.array(v) for k, v in d["values"].items()}
    )


def _to_json(case: PcseCase) -> dict:
    cal = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in (case.calendar or {}).items()}
    return {
        "name": case.name, "params": case.params, "calendar": cal if case.calendar else None,
        "weather": _series_json(case.weather), "results": _series_json(case.results),
        "precision": case.precision, "external": _series_json(case.external),
    }  # fmt: skip


def _from_json(d: dict) -> PcseCase:
    cal = d["calendar"]
    if cal is not None:
        for k in ("crop_start_date", "crop_end_date", "campaign_start"):
            if isinstance(cal.get(k), str):
                cal[k] = dt.date.fromisoformat(cal[k])
    return PcseCase(
        d["name"], d["params"], cal, _series_from_json(d["weather"]), _series_from_json(d["results"]),
        d["precision"], _series_from_json(d["external"]),
    )  # fmt: skip


def load_case_cached(path: str | Path, cache_dir: str | Path) -> PcseCase:
    """`load_case` through a JSON cache in `cache_dir` (keyed by name, size, mtime): YAML parsing is slow."""
    path = Path(path)
    st = path.stat()
    key = Path(cache_dir) / f"{path.stem}-{st.st_size}-{st.st_mtime_ns}.json"
    if key.exists():
        with open(key, encoding="utf-8") as fh:
            return _from_json(json.load(fh))
    case = load_case(path)
    tmp = key.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(_to_json(case), fh)
    os.replace(tmp, key)
    return case


def load_dir(
    directory: str | Path, pattern: str = "*.yaml", cache_dir: str | Path | None = None
) -> list[PcseCase]:
    """All matching test files in `directory`, sorted by name (optionally through a JSON cache)."""
    paths = sorted(Path(directory).glob(pattern))
    if not paths:
        raise InputError(f"no files matching {pattern!r} in {directory}")
    if cache_dir is None:
        return [load_case(p) for p in paths]
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    return [load_case_cached(p, cache_dir) for p in paths]


def load_params_file(path, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """A PCSE parameter YAML (flat dict, or a test file's `ModelParameters`) -> one-field tensors `[1]`,
    `[1, N, 2]` (tables truncated by PCSE's AFGEN rule). Values are checked by `check_params`; unreadable
    or malformed files raise InputError naming the file."""
    data = read_yaml(path, "WOFOST parameter file")
    if isinstance(data, dict) and "ModelParameters" in data:
        data = data["ModelParameters"]
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of WOFOST parameters")
    P.check_params(data, str(path))
    out = {}
    for name, value in data.items():
        if name in P.TABLES or name == "VERNRTB":
            out[name] = torch.tensor(parse_afgen(name, value or [], str(path)), dtype=dtype)[None]
        elif name in P.SCALARS or name in P.VERN_SCALARS:
            out[name] = torch.tensor([float(value)], dtype=dtype)
    missing = [n for n in P.SCALARS + P.TABLES if n not in out]
    if missing:
        raise InputError(f"{path}: missing WOFOST parameter(s): {', '.join(missing)}")
    return out
