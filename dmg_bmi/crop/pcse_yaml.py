"""Reader for PCSE's YAML test files (full-model and single-module cases).

A file holds `AgroManagement` (a PCSE campaign list), `ModelParameters` (flat dict; tables as flat
lists), `WeatherVariables` (daily records in PCSE units: IRRAD J m-2 d-1, TMIN/TMAX/TEMP °C, VAP hPa,
RAIN/E0/ES0/ET0 cm d-1, WIND m s-1, LAT/LON deg), optional `ExternalStates` (daily forced inputs),
`ModelResults` (daily reference values) and `Precision` (absolute tolerance per variable).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from dmg_bmi.errors import InputError

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


def _records(name: str, recs, path) -> Series:
    if not recs:
        return Series([], {})
    dates = [r["DAY"] for r in recs] if all("DAY" in r for r in recs) else []  # astro results: by row
    keys = sorted({k for r in recs for k in r if k != "DAY"})
    values = {}
    for k in keys:
        col = [r.get(k) for r in recs]
        values[k] = np.array([np.nan if v is None else float(v) for v in col], dtype=float)
    for i in range(1, len(dates)):
        if (dates[i] - dates[i - 1]).days != 1:
            raise InputError(
                f"{path}: {name} records are not consecutive days ({dates[i - 1]} -> {dates[i]})"
            )
    return Series(dates, values)


def _calendar(agro, path) -> dict | None:
    if not agro:
        return None
    found = []
    for campaign in agro:
        for start, body in campaign.items():
            if body and body.get("CropCalendar"):
                found.append(dict(body["CropCalendar"], campaign_start=start))
    if len(found) > 1:
        raise InputError(f"{path}: {len(found)} crop campaigns; only one crop per field is supported")
    return found[0] if found else None


def load_case(path: str | Path) -> PcseCase:
    """Parse one PCSE YAML test file."""
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_Loader)
    if not isinstance(data, dict) or "WeatherVariables" not in data:
        raise InputError(f"{path}: not a PCSE test file (no WeatherVariables)")
    return PcseCase(
        name=path.stem,
        params=data.get("ModelParameters"),
        calendar=_calendar(data.get("AgroManagement"), path),
        weather=_records("WeatherVariables", data["WeatherVariables"], path),
        results=_records("ModelResults", data.get("ModelResults"), path),
        precision={k: float(v) for k, v in (data.get("Precision") or {}).items()},
        external=_records("ExternalStates", data["ExternalStates"], path)
        if data.get("ExternalStates")
        else None,
    )


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
