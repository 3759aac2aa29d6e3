"""Heterogeneous fields (crop parameters, weather, calendar) -> batched tensors for `wofost72_pp`.

Each field brings PCSE-style parameters (a flat dict; tables as flat lists), a daily weather `Series`
(PCSE units) and a PCSE CropCalendar dict. The time axis is either each field's own campaign start
(`align="start"`, the default: day t of every field is t days after its start) or one common date axis
(`align="date"`: day 0 is the earliest start, fields start at their own index and are masked before).
Days a field does not need are padded with its last (or first) weather record; they are masked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import torch

from dmg_bmi.domains.crop.pcse.pcse_yaml import PcseCase, Series
from dmg_bmi.domains.crop.pcse.tables import parse_afgen
from dmg_bmi.domains.crop.weather import check_weather
from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.model import WEATHER_NAMES
from dmg_bmi.domains.crop.wofost72.params import SCALARS, TABLES, VERN_SCALARS
from dmg_bmi.errors import InputError

REQUIRED_WEATHER = ("IRRAD", "TMIN", "TMAX", "E0", "ES0", "ET0", "RAIN")


@dataclass
class FieldInput:
    name: str
    params: dict
    weather: Series
    calendar: dict
    lat: float | None = None  # else from the weather's LAT column


@dataclass
class Batch:
    """Tensors for `model.run`: params {name: [B] or [B, N, 2]}, weather {name: [T, B]}, calendar, lat [B]."""

    names: list[str]
    params: dict[str, torch.Tensor]
    weather: dict[str, torch.Tensor]
    calendar: Calendar
    lat: torch.Tensor
    day0: list[dt.date]  # the date of time index 0, per field

    def day_index(self, b: int, date: dt.date) -> int:
        return (date - self.day0[b]).days


def field_from_case(case: PcseCase) -> FieldInput:
    if case.params is None or case.calendar is None:
        raise InputError(f"{case.name}: needs ModelParameters and a CropCalendar")
    return FieldInput(case.name, case.params, case.weather, case.calendar)


def _param_arrays(f: FieldInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    prm = f.params
    missing = [n for n in SCALARS + TABLES if n not in prm]
    idsl = float(prm.get("IDSL", 0))
    if idsl >= 2:
        missing += [n for n in VERN_SCALARS + ("VERNRTB",) if n not in prm]
    if missing:
        raise InputError(f"field {f.name!r}: missing WOFOST parameter(s): {', '.join(missing)}")
    scal = {}
    for n in SCALARS + VERN_SCALARS:
        try:
            scal[n] = float(prm.get(n, 0.0))
        except (TypeError, ValueError):
            raise InputError(f"field {f.name!r}: parameter {n} = {prm[n]!r} is not a number") from None
    tabs = {n: parse_afgen(n, prm[n], f.name) for n in TABLES}
    tabs["VERNRTB"] = parse_afgen("VERNRTB", prm.get("VERNRTB") or [], f.name)
    return scal, tabs


def _span(f: FieldInput) -> tuple[dt.date, dt.date, bool, bool]:
    """(crop start, last possible day, emerged start, finishes at maturity) from the CropCalendar."""
    cc = f.calendar
    for key in ("crop_start_date", "crop_start_type", "crop_end_type", "max_duration"):
        if cc.get(key) is None:
            raise InputError(f"field {f.name!r}: CropCalendar lacks {key!r}")
    start, start_type, end_type = cc["crop_start_date"], cc["crop_start_type"], cc["crop_end_type"]
    if start_type not in ("sowing", "emergence"):
        raise InputError(f"field {f.name!r}: crop_start_type {start_type!r}; expected sowing or emergence")
    if end_type not in ("maturity", "harvest", "earliest"):
        raise InputError(
            f"field {f.name!r}: crop_end_type {end_type!r}; expected maturity, harvest or earliest"
        )
    end = start + dt.timedelta(days=int(cc["max_duration"]))
    if end_type in ("harvest", "earliest"):
        if cc.get("crop_end_date") is None:
            raise InputError(f"field {f.name!r}: crop_end_type {end_type!r} needs crop_end_date")
        end = min(end, cc["crop_end_date"])
    return start, end, start_type == "emergence", end_type in ("maturity", "earliest")


def _weather_window(f: FieldInput, start: dt.date, end: dt.date, at_maturity: bool) -> tuple[int, int]:
    """Indices of the field's weather rows from crop start to the last needed (or available) day.

    Those days must hold every required variable (no NaN), within PCSE's weather limits, TMIN <= TMAX."""
    w = f.weather
    missing = [n for n in REQUIRED_WEATHER if n not in w.values]
    if missing:
        raise InputError(f"field {f.name!r}: missing weather variable(s): {', '.join(missing)}")
    if not w.dates or w.dates[0] > start or w.dates[-1] < start:
        first, last = (w.dates[0], w.dates[-1]) if w.dates else (None, None)
        raise InputError(f"field {f.name!r}: weather covers {first} .. {last} but the crop starts on {start}")
    if w.dates[-1] < end and not at_maturity:
        raise InputError(
            f"field {f.name!r}: weather covers {w.dates[0]} .. {w.dates[-1]} but the season runs "
            f"{start} .. {end}"
        )
    i0 = (start - w.dates[0]).days
    i1 = min((end - w.dates[0]).days, len(w.dates) - 1)
    for n in REQUIRED_WEATHER:
        bad = ~np.isfinite(w.values[n][i0 : i1 + 1])
        if bad.any():
            day = w.dates[i0 + int(np.argmax(bad))]
            raise InputError(f"field {f.name!r}: weather {n} is missing (NaN) on {day}")
    check_weather({n: v[i0 : i1 + 1] for n, v in w.values.items()}, f"field {f.name!r}",
                  lambda index: f"on {w.dates[i0 + int(index[0])]}")
    return i0, i1


def build_batch(
    fields: list[FieldInput], dtype=torch.float64, align: str = "start", device="cpu", extra_days: int = 0
) -> Batch:
    """Stack fields into tensors; tables are padded by repeating their last pair.

    `extra_days` lengthens the time axis, repeating each field's last weather record (e.g. so that a
    perturbed crop may mature after its weather ends; run such batches with `check=False`).
    """
    if align not in ("start", "date"):
        raise InputError(f"align={align!r}; expected 'start' or 'date'")
    spans = [_span(f) for f in fields]
    windows = [_weather_window(f, *sp[:2], sp[3]) for f, sp in zip(fields, spans, strict=True)]
    t0 = min(sp[0] for sp in spans)
    day0 = [sp[0] if align == "start" else t0 for sp in spans]
    offs = [(sp[0] - d0).days for sp, d0 in zip(spans, day0, strict=True)]
    n_days = extra_days + max(off + (w[1] - w[0]) + 1 for off, w in zip(offs, windows, strict=True))
    wx = {n: np.zeros((n_days, len(fields))) for n in WEATHER_NAMES}
    lats = []
    for b, (f, (i0, i1), off, d0) in enumerate(zip(fields, windows, offs, day0, strict=True)):
        rows = np.clip(np.arange(n_days) - off + i0, 0, i1)  # pad before/after with edge records
        vals = f.weather.values
        for n in REQUIRED_WEATHER:
            wx[n][:, b] = vals[n][rows]
        wx["TEMP"][:, b] = (
            vals["TEMP"][rows] if "TEMP" in vals else 0.5 * (vals["TMIN"][rows] + vals["TMAX"][rows])
        )
        wx["DOY"][:, b] = [(d0 + dt.timedelta(days=int(t))).timetuple().tm_yday for t in range(n_days)]
        lat = f.lat if f.lat is not None else (vals["LAT"][i0] if "LAT" in vals else None)
        if lat is None or not np.isfinite(lat):
            raise InputError(f"field {f.name!r}: no latitude (weather LAT column or FieldInput.lat)")
        lats.append(float(lat))
    scal, tabs = zip(*(_param_arrays(f) for f in fields), strict=True)
    params = {
        n: torch.tensor([s[n] for s in scal], dtype=dtype, device=device) for n in SCALARS + VERN_SCALARS
    }
    for n in TABLES + ("VERNRTB",):
        width = max(t[n].shape[0] for t in tabs)
        padded = [np.concatenate([t[n], np.repeat(t[n][-1:], width - t[n].shape[0], 0)]) for t in tabs]
        params[n] = torch.tensor(np.stack(padded), dtype=dtype, device=device)
    cal = Calendar(
        start=torch.tensor(offs, dtype=torch.long, device=device),
        end=torch.tensor(
            [off + (sp[1] - sp[0]).days for off, sp in zip(offs, spans, strict=True)], device=device
        ),
        emerged=torch.tensor([sp[2] for sp in spans], device=device),
        at_maturity=torch.tensor([sp[3] for sp in spans], device=device),
    )
    weather = {n: torch.tensor(v, dtype=dtype, device=device) for n, v in wx.items()}
    return Batch(
        [f.name for f in fields], params, weather, cal, torch.tensor(lats, dtype=dtype, device=device), day0
    )


def cases_to_batch(
    cases: list[PcseCase], dtype=torch.float64, align: str = "start", extra_days: int = 0
) -> Batch:
    return build_batch([field_from_case(c) for c in cases], dtype=dtype, align=align, extra_days=extra_days)
