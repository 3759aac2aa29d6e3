"""Daily WOFOST weather from hourly NextGen (AORC-style) forcing.

WOFOST (PCSE units) needs, per day: IRRAD (J m-2 d-1), TMIN and TMAX (°C), VAP (hPa), WIND at 2 m (m s-1),
RAIN (cm d-1), and the Penman reference rates E0, ES0 and ET0 (cm d-1). NextGen publishes hourly AORC fields
under CSDMS names (`dmg_bmi.forcing.AORC_*`, units in `dmg_bmi.forcing.AORC_UNITS`): precipitation rate
(mm s-1), 2 m temperature (K), specific humidity (kg kg-1), surface pressure (Pa), shortwave (W m-2) and the
10 m wind components u, v (m s-1).

The hourly -> daily aggregation is `dmg_bmi.forcing.aorc_hourly_series_to_daily` (the one used for HBV too):
daily precipitation `prcp` (mm d-1), `tmin`/`tmax` (°C, hourly extremes), `vp` (Pa, mean of hourly
e = q·p/(0.622 + 0.378q)), `srad` (W m-2, 24-h mean) and `wind` (m s-1, mean hourly speed √(u² + v²) at 10 m).
This module converts those to WOFOST units and adds Penman's rates:
- IRRAD = srad · 86400 s                      (W m-2 daily mean -> J m-2 d-1)
- VAP = vp / 100                              (Pa -> hPa)
- WIND = f₂ · wind, f₂ = 4.87 / ln(67.8·10 − 5.42) = 0.748 (FAO-56 eq. 47 log profile, 10 m -> 2 m over short
  grass); PCSE's `wind10to2` factor log10(2/0.033)/log10(10/0.033) = 0.718 is `wind_profile="pcse"`
- RAIN = prcp / 10                            (mm d-1 -> cm d-1)
- E0, ES0, ET0: Penman (1948, 1956) as PCSE's `penman` (see `penman`); ET0 optionally FAO-56
  Penman-Monteith as PCSE's `penman_monteith` (see `penman_monteith_et0`).
A day is 24 consecutive hourly records starting at 00:00 of that day (UTC), or at `day_start_hour_utc`.
Everything is numpy, vectorised over trailing dimensions (`[24·n, ...] -> [n, ...]`), and is the single
implementation used by the dataset builders and the BMI.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping

import numpy as np

from dmg_bmi import forcing as fc
from dmg_bmi.core.variables import BY_NAME
from dmg_bmi.data.variables import check_order, check_range, check_saturation
from dmg_bmi.domains.crop.variables import DATASET_UNITS, DATASET_VARIABLES
from dmg_bmi.errors import InputError

WEATHER_NAMES = ("IRRAD", "TMIN", "TMAX", "VAP", "WIND", "RAIN", "E0", "ES0", "ET0")
# Units and PCSE's limits of each: `dmg_bmi.domains.crop.variables`.
WEATHER_UNITS = {name: DATASET_UNITS[name] for name in WEATHER_NAMES}
_RANGES = {v.name: v.valid_range for v in DATASET_VARIABLES}
_FROM_AORC = "WOFOST weather from hourly AORC forcing"  # where a bad day is, in errors
# The hourly AORC fields (CSDMS names) the conversion needs.
AORC_INPUTS = (fc.AORC_PRECIP, fc.AORC_TEMP, fc.AORC_SPFH, fc.AORC_PRES, fc.AORC_SWDOWN, fc.AORC_U, fc.AORC_V)
WIND_2M_FACTOR = {
    "fao56": 4.87 / np.log(67.8 * 10.0 - 5.42),  # FAO-56 eq. 47 with z = 10 m
    "pcse": np.log10(2.0 / 0.033) / np.log10(10.0 / 0.033),  # log profile, roughness 0.033 m
}
# Validity ranges PCSE applies to Angstrom coefficients (A, B, A + B).
ANGSTROM_RANGES = {"A": (0.1, 0.4), "B": (0.3, 0.7), "A+B": (0.6, 0.9)}


def check_weather(weather: Mapping[str, np.ndarray], where: str,
                  locate: Callable[[tuple[int, ...]], str]) -> None:
    """Raise InputError at the first daily WOFOST weather value outside PCSE's limits (IRRAD, TMIN, TMAX,
    TEMP, VAP, WIND, RAIN, E0, ES0, ET0: `dmg_bmi.domains.crop.variables`), a day whose TMIN is above TMAX, or
    one whose VAP is above saturation at TMAX (`dmg_bmi.data.variables.check_saturation`).

    `weather[name]` is `[days, ...]`; other names pass; NaN is missing (checked where the days are used).
    The error names `where` (the field or file), the variable, the value, `locate(index)` (the day) and the
    allowed range."""
    for name, values in weather.items():
        check_range(name, values, where, locate)
    check_order("TMIN", "TMAX", weather, where, locate)
    check_saturation("VAP", "TMAX", weather, where, locate)


def irrad_from_srad(srad_w_m2):
    """Daily global radiation IRRAD (J m-2 d-1) from the 24-h mean shortwave flux (W m-2)."""
    return np.asarray(srad_w_m2, dtype=np.float64) * fc.SECONDS_PER_DAY


def wind_2m(wind10_m_s, profile: str = "fao56"):
    """Wind speed at 2 m (m s-1) from the speed at 10 m (m s-1) by a log-profile factor (see module doc)."""
    if profile not in WIND_2M_FACTOR:
        raise InputError(f"wind_profile: {profile!r} is not one of {sorted(WIND_2M_FACTOR)}")
    return WIND_2M_FACTOR[profile] * np.asarray(wind10_m_s, dtype=np.float64)


def angot_radiation(doy: np.ndarray, lat_deg: np.ndarray) -> np.ndarray:
    """Daily extra-terrestrial radiation ANGOT (J m-2 d-1) with PCSE's `astro` geometry.

    DEC = −asin(sin 23.45°·cos(2π(doy+10)/365)); SC = 1370(1 + 0.033 cos(2π·doy/365)) W m-2;
    SINLD = sin φ sin DEC, COSLD = cos φ cos DEC, AOB = SINLD/COSLD clipped to [−1, 1];
    DAYL = 12(1 + 2 asin(AOB)/π) h; DSINB = 3600(DAYL·SINLD + 24·COSLD·√(1 − AOB²)/π) s; ANGOT = SC·DSINB.
    PCSE's declination and solar constant differ slightly from FAO-56's
    (`forcing.extraterrestrial_radiation`), so Penman's sunshine ratio uses this geometry to match PCSE.
    """
    doy = np.asarray(doy, dtype=np.float64)
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    dec = -np.arcsin(np.sin(np.radians(23.45)) * np.cos(2.0 * np.pi * (doy + 10.0) / 365.0))
    sc = 1370.0 * (1.0 + 0.033 * np.cos(2.0 * np.pi * doy / 365.0))
    sinld = np.sin(lat) * np.sin(dec)
    cosld = np.cos(lat) * np.cos(dec)
    aob = np.clip(sinld / cosld, -1.0, 1.0)
    dayl = 12.0 * (1.0 + 2.0 * np.arcsin(aob) / np.pi)
    dsinb = 3600.0 * (dayl * sinld + 24.0 * cosld * np.sqrt(1.0 - aob**2) / np.pi)
    return sc * dsinb


def check_angstrom(a: float, b: float) -> None:
    """Raise InputError unless the Angstrom coefficients lie in PCSE's validity ranges."""
    lo, hi = ANGSTROM_RANGES["A"]
    if not lo <= abs(a) <= hi:
        raise InputError(f"angstrom_a: {a} outside [{lo}, {hi}]")
    lo, hi = ANGSTROM_RANGES["B"]
    if not lo <= abs(b) <= hi:
        raise InputError(f"angstrom_b: {b} outside [{lo}, {hi}]")
    lo, hi = ANGSTROM_RANGES["A+B"]
    if not lo <= abs(a) + abs(b) <= hi:
        raise InputError(f"angstrom_a + angstrom_b: {abs(a) + abs(b)} outside [{lo}, {hi}]")


def penman(doy, lat_deg, elev_m, tmin_c, tmax_c, irrad, vap_hpa, wind2, angstrom_a=0.25, angstrom_b=0.50):
    """Penman (1948, 1956) reference rates E0, ES0, ET0 (cm d-1) from daily weather, as PCSE computes them.

    Inputs: day of year, latitude (deg), elevation (m), TMIN/TMAX (°C), IRRAD (J m-2 d-1), VAP (hPa),
    WIND at 2 m (m s-1), Angstrom A and B (–). Equations (PCSE's constants):
    - T = (TMIN + TMAX)/2; BU = 0.54 + 0.35·limit(0, 1, (TMAX − TMIN − 12)/4)       (wind-function slope)
    - PBAR = 1013·exp(−0.034·ELEV/(T + 273)) mbar; γ = 0.67·PBAR/1013 mbar °C-1
    - SVAP = 6.10588·exp(17.32491·T/(T + 238.102)) mbar (Goudriaan 1977);
      Δ = 238.102·17.32491·SVAP/(T + 238.102)² mbar °C-1
    - VAP := min(VAP, SVAP)
    - RELSSD = limit(0, 1, (IRRAD/ANGOT − |A|)/|B|)  (relative sunshine n/N from the Angstrom formula)
    - RB = σ·86400·(T + 273)⁴·(0.56 − 0.079·√VAP)·(0.1 + 0.9·RELSSD) J m-2 d-1, σ = 5.670373e-8 (Brunt 1932)
    - RN = (IRRAD·(1 − α) − RB)/λ mm d-1, α = 0.05 (water), 0.15 (soil), 0.25 (crop), λ = 2.45e6 J kg-1
    - EA = 0.26·max(0, SVAP − VAP)·(0.5 + BU·WIND) mm d-1;  EAC = same with (1.0 + BU·WIND) for the crop
    - E = max(0, (Δ·RN + γ·EA)/(Δ + γ)) mm d-1 for each surface; returned in cm d-1 (/10).
    """
    check_angstrom(angstrom_a, angstrom_b)
    tmin = np.asarray(tmin_c, dtype=np.float64)
    tmax = np.asarray(tmax_c, dtype=np.float64)
    irrad = np.asarray(irrad, dtype=np.float64)
    wind2 = np.asarray(wind2, dtype=np.float64)
    tmpa = 0.5 * (tmin + tmax)
    bu = 0.54 + 0.35 * np.clip((tmax - tmin - 12.0) / 4.0, 0.0, 1.0)
    pbar = 1013.0 * np.exp(-0.034 * np.asarray(elev_m, dtype=np.float64) / (tmpa + 273.0))
    gamma = 0.67 * pbar / 1013.0
    svap = 6.10588 * np.exp(17.32491 * tmpa / (tmpa + 238.102))
    delta = 238.102 * 17.32491 * svap / (tmpa + 238.102) ** 2
    vap = np.minimum(np.asarray(vap_hpa, dtype=np.float64), svap)
    relssd = np.clip((irrad / angot_radiation(doy, lat_deg) - abs(angstrom_a)) / abs(angstrom_b), 0.0, 1.0)
    stbc = 5.670373e-8 * 86400.0
    rb = stbc * (tmpa + 273.0) ** 4 * (0.56 - 0.079 * np.sqrt(vap)) * (0.1 + 0.9 * relssd)
    deficit = 0.26 * np.maximum(0.0, svap - vap)
    ea = deficit * (0.5 + bu * wind2)
    eac = deficit * (1.0 + bu * wind2)

    def rate(albedo, aero):
        rn = (irrad * (1.0 - albedo) - rb) / 2.45e6
        return np.maximum(0.0, (delta * rn + gamma * aero) / (delta + gamma)) / 10.0

    return rate(0.05, ea), rate(0.15, ea), rate(0.25, eac)


def penman_monteith_et0(doy, lat_deg, elev_m, tmin_c, tmax_c, irrad, vap_hpa, wind2):
    """FAO-56 Penman-Monteith reference ET0 (cm d-1), as PCSE's `penman_monteith` computes it.

    - T = (TMIN + TMAX)/2; PATM = 101.3·((T_K − 0.0065·ELEV)/T_K)^5.26 kPa with T_K = T + 273.16
    - γ = 0.665e-3·PATM kPa °C-1; es(x) = 0.6108·exp(17.27x/(x + 237.3)) kPa; Δ = 4098·es(T)/(T + 237.3)²
    - SVAP = (es(TMAX) + es(TMIN))/2; ea = min(VAP/10, SVAP) kPa
    - RNL = σ'·((TMAX+273.16)⁴ + (TMIN+273.16)⁴)/2·(0.34 − 0.14√ea)·(1.35·IRRAD/RSO − 0.35), σ' = 4.903e-3,
      RSO = (0.75 + 2e-5·ELEV)·ANGOT (clear-sky radiation)
    - RN = (0.77·IRRAD − RNL)/2.45e6 mm d-1 (albedo 0.23, soil heat flux 0)
    - ET0 = max(0, [Δ·RN + γ·900/(T + 273)·WIND·(SVAP − ea)] / (Δ + γ(1 + 0.34·WIND))) mm d-1 -> cm d-1;
      ET0 = 0 where RSO ≤ 0 (polar night). 0.34 = rs/208 with rs = 70 s m-1.
    """
    tmin = np.asarray(tmin_c, dtype=np.float64)
    tmax = np.asarray(tmax_c, dtype=np.float64)
    elev = np.asarray(elev_m, dtype=np.float64)
    irrad = np.asarray(irrad, dtype=np.float64)
    wind2 = np.asarray(wind2, dtype=np.float64)
    tmpa = 0.5 * (tmin + tmax)
    t_k = tmpa + 273.16
    patm = 101.3 * ((t_k - 0.0065 * elev) / t_k) ** 5.26
    gamma = 0.665e-3 * patm

    def es(x):
        return 0.6108 * np.exp(17.27 * x / (x + 237.3))

    delta = 4098.0 * es(tmpa) / (tmpa + 237.3) ** 2
    svap = 0.5 * (es(tmax) + es(tmin))
    ea = np.minimum(np.asarray(vap_hpa, dtype=np.float64) / 10.0, svap)
    rso = (0.75 + 2e-5 * elev) * angot_radiation(doy, lat_deg)
    ok = rso > 0
    ratio = np.where(ok, irrad / np.where(ok, rso, 1.0), 0.0)
    stb = 4.903e-3 * 0.5 * ((tmax + 273.16) ** 4 + (tmin + 273.16) ** 4)
    rnl = stb * (0.34 - 0.14 * np.sqrt(ea)) * (1.35 * ratio - 0.35)
    rn = (0.77 * irrad - rnl) / 2.45e6
    aero = 900.0 / (tmpa + 273.0) * wind2 * (svap - ea)
    et0 = (delta * rn + gamma * aero) / (delta + gamma * (1.0 + 70.0 / 208.0 * wind2))
    return np.where(ok, np.maximum(0.0, et0), 0.0) / 10.0


def day_of_year(start: dt.date, n_days: int) -> np.ndarray:
    """Day of year (1 = 1 January) of `n_days` consecutive days from `start`."""
    days = (start + dt.timedelta(days=i) for i in range(n_days))
    return np.array([d.timetuple().tm_yday for d in days], dtype=np.float64)


def aorc_hourly_to_wofost_daily(
    hourly: Mapping[str, np.ndarray],
    start: dt.date | dt.datetime,
    lat_deg,
    elev_m,
    *,
    angstrom_a: float = 0.25,
    angstrom_b: float = 0.50,
    et0_method: str = "penman",
    wind_profile: str = "fao56",
    day_start_hour_utc: int = 0,
) -> dict[str, np.ndarray]:
    """Convert hourly AORC fields `[24·n, ...]` (first record at `start` 00:00) to daily WOFOST weather.

    `hourly` maps the CSDMS names in `AORC_INPUTS` to arrays; `lat_deg` (deg) and `elev_m` (m) broadcast
    against the trailing dimensions. `day_start_hour_utc` = h > 0 makes days run from h:00 UTC (e.g. 5 for
    local days at UTC−5): the first h and last 24 − h records are dropped, so the result has one day fewer,
    the first being `start`. Returns `{name: [n, ...]}` for every name in `WEATHER_NAMES`, in `WEATHER_UNITS`.
    Missing fields, NaN and partial days raise InputError naming the field (and the hour); so does an hourly
    value outside the BMI input's range (`dmg_bmi.core.variables`, e.g. shortwave below 0 W m-2), and a daily
    value outside PCSE's weather limits or a daily VAP above saturation at TMAX (`check_weather`) names the
    variable and the day.
    """
    missing = [k for k in AORC_INPUTS if hourly.get(k) is None]
    if missing:
        raise InputError(f"hourly forcing lacks {missing}")
    if not 0 <= day_start_hour_utc < 24:
        raise InputError(f"day_start_hour_utc must be in [0, 24), got {day_start_hour_utc}")
    day0 = start.date() if isinstance(start, dt.datetime) else start
    fields = {}
    for name in AORC_INPUTS:
        arr = np.asarray(hourly[name], dtype=np.float64)
        if arr.ndim == 0 or arr.shape[0] == 0 or arr.shape[0] % 24:
            raise InputError(f"{name}: need whole days of hourly values (24·n), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{name}: non-finite value at hour {int(np.argwhere(~np.isfinite(arr))[0][0])}")
        var = BY_NAME[name]
        _check_hourly(name, arr, var.valid_range, var.units, day0)
        fields[name] = arr
    hours = {k: v.shape[0] for k, v in fields.items()}
    if len(set(hours.values())) > 1:
        raise InputError(f"hourly forcing fields cover different numbers of hours: {hours}")
    if day_start_hour_utc:
        fields = {k: v[day_start_hour_utc: v.shape[0] - (24 - day_start_hour_utc)] for k, v in fields.items()}
    n = fields[fc.AORC_TEMP].shape[0] // 24
    doy = day_of_year(day0, n)
    daily = fc.aorc_hourly_series_to_daily(fields, lat_deg, doy, "hamon")
    doy = doy.reshape((n,) + (1,) * (np.ndim(daily["tmin"]) - 1))
    out = daily_to_wofost(daily, doy, lat_deg, elev_m, angstrom_a=angstrom_a, angstrom_b=angstrom_b,
                          et0_method=et0_method, wind_profile=wind_profile)

    def on_day(index) -> str:
        column = f" (column {tuple(int(i) for i in index[1:])})" if len(index) > 1 else ""
        return f"on {day0 + dt.timedelta(days=int(index[0]))}{column}"

    check_weather(out, _FROM_AORC, on_day)
    return out


def daily_to_wofost(daily: Mapping[str, np.ndarray], doy, lat_deg, elev_m, *, angstrom_a: float = 0.25,
                    angstrom_b: float = 0.50, et0_method: str = "penman",
                    wind_profile: str = "fao56") -> dict[str, np.ndarray]:
    """WOFOST weather `{name: [n, ...]}` (`WEATHER_NAMES` order and units) from daily AORC aggregates (`prcp`
    mm d-1, `tmin`/`tmax` °C, `vp` Pa, `srad` W m-2, `wind` m s-1 at 10 m) of days `doy`: the unit
    conversions and Penman of the module docstring (no checks of the result)."""
    if et0_method not in ("penman", "penman_monteith"):
        raise InputError(f"et0_method: {et0_method!r} is not one of ['penman', 'penman_monteith']")
    tmin, tmax = np.asarray(daily["tmin"]), np.asarray(daily["tmax"])
    irrad = irrad_from_srad(daily["srad"])
    vap = np.asarray(daily["vp"]) / 100.0
    wind = wind_2m(daily["wind"], wind_profile)
    rain = np.asarray(daily["prcp"]) / 10.0
    e0, es0, et0 = penman(doy, lat_deg, elev_m, tmin, tmax, irrad, vap, wind, angstrom_a, angstrom_b)
    if et0_method == "penman_monteith":
        et0 = penman_monteith_et0(doy, lat_deg, elev_m, tmin, tmax, irrad, vap, wind)
    return {"IRRAD": irrad, "TMIN": tmin, "TMAX": tmax, "VAP": vap, "WIND": wind, "RAIN": rain,
            "E0": e0, "ES0": es0, "ET0": et0}


def wofost_day(window: np.ndarray, names: tuple[str, ...], date: dt.date, lat_deg: float, elev_m: float,
               **options) -> dict[str, float]:
    """One day's WOFOST weather as floats (`WEATHER_NAMES` plus its day of year `DOY`) from its 24 hourly
    records `window` `[24, len(names)]` (columns: the `AORC_INPUTS` by CSDMS name, in BMI units).

    The BMI's day: exactly `aorc_hourly_to_wofost_daily` of those hours (the same sums over each field's 24
    contiguous hours, the same conversions; tests/test_crop_weather.py), without its hourly checks (the BMI
    checks every input when it is set) and its dictionaries. `options` are its keyword options (not
    `day_start_hour_utc`: the BMI's days start at record 0). A day outside PCSE's limits raises the same
    InputError."""
    h = dict(zip(names, np.ascontiguousarray(window.T), strict=True))  # {name: [24]}, each contiguous
    t_k = h[fc.AORC_TEMP]
    hourly = np.stack([h[fc.AORC_PRECIP], fc.vapour_pressure_from_specific_humidity(h[fc.AORC_SPFH],
                       h[fc.AORC_PRES]), h[fc.AORC_SWDOWN], fc.wind_speed(h[fc.AORC_U], h[fc.AORC_V])])
    prcp, vp, srad, wind = hourly.sum(1, keepdims=True) * (1.0 / 24.0)  # each [1]: the mean of 24 hours
    daily = {"prcp": fc.precip_rate_to_mm_per_day(prcp), "tmin": fc.kelvin_to_celsius(t_k.min(keepdims=True)),
             "tmax": fc.kelvin_to_celsius(t_k.max(keepdims=True)), "vp": vp, "srad": srad, "wind": wind}
    doy = float(date.timetuple().tm_yday)
    out = daily_to_wofost(daily, np.array([doy]), lat_deg, elev_m, **options)
    values = np.concatenate(list(out.values()))
    lo, hi = _limits()
    if not ((values >= lo) & (values <= hi)).all():  # NaN passes, as in check_range
        check_weather(out, _FROM_AORC, lambda index: f"on {date}")
    check_order("TMIN", "TMAX", out, _FROM_AORC, lambda index: f"on {date}")
    check_saturation("VAP", "TMAX", out, _FROM_AORC, lambda index: f"on {date}")
    return {**dict(zip(WEATHER_NAMES, values.tolist(), strict=True)), "DOY": doy}


@functools.cache
def _limits() -> tuple[np.ndarray, np.ndarray]:
    """PCSE's limits of `WEATHER_NAMES` (`dmg_bmi.domains.crop.variables`): (low, high) arrays."""
    ranges = np.array([_RANGES[name] for name in WEATHER_NAMES])
    return ranges[:, 0], ranges[:, 1]


def _check_hourly(name: str, arr: np.ndarray, valid_range: tuple[float, float], units: str,
                       day0: dt.date) -> None:
    """Raise InputError naming the hourly field `name`, its value, the hour (from `day0` 00:00) and the
    allowed range when a value of `arr` `[hours, ...]` is outside `valid_range` (in `units`)."""
    lo, hi = valid_range
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
        when = dt.datetime.combine(day0, dt.time()) + dt.timedelta(hours=index[0])
        column = f", column {index[1:]}" if len(index) > 1 else ""
        raise InputError(f"{name} = {arr[index]:.6g} {units} at hour {index[0]} ({when:%Y-%m-%d %H:%M}"
                         f"{column}) is outside the allowed range [{lo:g}, {hi:g}] {units}")
