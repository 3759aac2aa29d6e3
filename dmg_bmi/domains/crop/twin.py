"""Crop synthetic twin: sites with attributes, daily weather, "true" WOFOST parameters, noisy observations.

Everything is deterministic given `seed`. For `n_sites` sites, each with `fields_per_site` fields:

1. **Site attributes** drawn uniformly: `lat` (38-58 degrees_north), `lon` (-5..25 degrees_east),
   `elev` (0-800 m), and three latent indices in [0, 1]: `cultivar_index`, `soil_index`, `seed_index`.
2. **Weather** per site and year (WOFOST units, `weather.WEATHER_NAMES`):
   TEMP = t0 − amp·cos(2π(doy − 15)/365) + AR(1) anomaly (sd 2.5 °C, φ 0.75) with t0 = 17 − 0.45(lat − 38)
   − 6.5e-3·elev and amp = 8 + 0.15(lat − 38) (°C); wet days from a two-state Markov chain (P(wet|dry) 0.25,
   P(wet|wet) 0.6) with gamma amounts (shape 0.8, mean 0.5 cm); atmospheric transmission 0.62 on dry and
   0.35 on wet days (± 0.08 uniform), IRRAD = ANGOT·transmission; diurnal range 11 °C dry / 6 °C wet,
   TMIN/TMAX = TEMP ∓ range/2; VAP = saturation pressure at TMIN times U(0.8, 1.0) (hPa); WIND gamma
   (shape 4, mean 2.5 m s-1); E0, ES0, ET0 by `weather.penman`.
3. **Fields**: a crop drawn from `crops` (each a PCSE reference case giving the parameter set, with the twin's
   own calendar in `CROPS`), a year in `years`, the crop's start date shifted by U(−10, +10) days. The
   field's day axis starts on its crop start date. The parameter sets are stored in the file (its
   `crop_params` attribute, variety `<crop>_twin`), so a training config needs no parameter files.
4. **True parameters**: each varying parameter is the crop's reference value times a factor that is a
   smooth function of the site attributes (`true_factors`):
   TSUM1 × (0.8 + 0.4·cultivar_index + 0.04·(lat − 48)/10), SPAN × (0.75 + 0.5·soil_index),
   TDWI × (0.5 + 1.0·seed_index) · (1 − 0.1·elev/800). Stored as attributes `true_<name>` and
   `true_factor_<name>`.
5. **Observations** from WOFOST (`simulate`): LAI every 7-10 days (15 % log-normal noise, 20 % dropped),
   DVS on the same days (± 0.03), TAGP and TWSO every ~21 days (10 % noise), and TWSO on the last season day
   (5 % noise). NaN where unobserved.
6. **Heat stress** (`heat_stress=True`, `make-sample-data --kind crop --heat-stress`): a process WOFOST 7.2
   PP lacks. Every temperature is `HEAT_WARMING` (6 °C) warmer (t0 above), so that hot days are common
   (TMAX above 30 °C on ~20 % of the crop days), and the truth multiplies each day's gross assimilation by
   `heat_reduction(TMAX) = 1 − 0.8 / (1 + exp(−(TMAX − 31) / 1.5))` (0.99 at 25 °C, 0.6 at 31 °C, 0.23 at
   36 °C): the curve a learned process at WOFOST's `assimilation_reduction` hook should recover. The file
   records it (its `heat_stress` attribute).
7. **A daily AMAX factor from the weather** (`daily_amax=True`, `make-sample-data --kind crop --daily-amax`):
   the true AMAXTB_SCALE varies by day with a 10-day moving water balance of the field's weather,
   w_t = w_{t−1} + (RAIN_t − ET0_t − w_{t−1}) / 10 (cm d-1, w = 0 before day 0), as
   `0.4 + 0.8 / (1 + exp(−(w + 0.17) / 0.08))` (0.44 after a dry spell, 0.8 at the twin's median w,
   1.17 after a wet one): a parameter whose value depends on the season's weather, which only a network
   over the weather (`model.phy.dynamic_params`, an LSTM) can follow. The file records it (`daily_amax`).

Sizes are bounded (`check_size`) so that a typo cannot exhaust memory: at most `MAX_FIELDS` fields (about
140 kB each at peak, so about 2 GB; 5000 sites of `FIELDS_PER_SITE` fields).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmg_bmi.core.config import check_count
from dmg_bmi.data.dataset import day_of_year
from dmg_bmi.data.variables import units_of
from dmg_bmi.domains.crop.dataset import OBS_UNITS, PARAMS_KEY, CropCalendar, CropDataset
from dmg_bmi.domains.crop.delta import (
    PHYSICS_WEATHER,
    WofostPhysics,
    base_params,
    load_parameter_set,
    physics_attrs,
    physics_weather,
)
from dmg_bmi.domains.crop.weather import WEATHER_NAMES, angot_radiation, penman
from dmg_bmi.domains.crop.wofost72.params import UNITS
from dmg_bmi.errors import InputError

# Site attributes drawn uniformly: name -> (low, high), in the units of `dmg_bmi.data.variables` ("1" for the
# latent indices, which the table does not know).
SITE_ATTRIBUTES = {
    "lat": (38.0, 58.0), "lon": (-5.0, 25.0), "elev": (0.0, 800.0),
    "cultivar_index": (0.0, 1.0), "soil_index": (0.0, 1.0), "seed_index": (0.0, 1.0),
}
VARYING_PARAMS = ("TSUM1", "SPAN", "TDWI")
HEAT_KEY = "heat_stress"  # the dataset attribute recording a heat-stress truth (module doc, step 6)
HEAT_WARMING = 6.0  # degC added to the heat-stress twin's temperatures
HEAT_CURVE = (0.8, 31.0, 1.5)  # depth, midpoint (degC), width (degC) of heat_reduction
DAILY_KEY = "daily_amax"  # the dataset attribute recording a daily AMAX truth (module doc, step 7)
DAILY_AMAX = (10.0, 0.4, 0.8, -0.17, 0.08)  # time scale (d), floor, depth, midpoint, width (cm d-1)
OBSERVED = ("LAI", "DVS", "TAGP", "TWSO")
FIELDS_PER_SITE = 3  # the default
MAX_FIELDS = 15_000  # sites x fields per site: ~140 kB a field at peak, about 2 GB


@dataclasses.dataclass(frozen=True)
class TwinCrop:
    """A twin crop: the PCSE reference case with its parameters, and the twin's calendar rule."""

    case: str  # PCSE PP reference case number, e.g. "13"
    start_type: str
    start_month_day: tuple[int, int]
    end_type: str
    end_month_day: tuple[int, int] | None
    max_duration: int


CROPS = {
    "Grain maize": TwinCrop("13", "emergence", (5, 10), "maturity", None, 200),
    "Spring barley": TwinCrop("33", "emergence", (4, 20), "maturity", None, 150),
    "Potato": TwinCrop("41", "sowing", (4, 16), "harvest", (9, 30), 200),
}


def true_factors(attrs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The twin's parameter factors (multipliers of each crop's reference value) from site attributes."""
    return {
        "TSUM1": 0.8 + 0.4 * attrs["cultivar_index"] + 0.04 * (attrs["lat"] - 48.0) / 10.0,
        "SPAN": 0.75 + 0.5 * attrs["soil_index"],
        "TDWI": (0.5 + 1.0 * attrs["seed_index"]) * (1.0 - 0.1 * attrs["elev"] / 800.0),
    }


def heat_reduction(tmax):
    """The heat-stress twin's true factor on gross assimilation at TMAX (°C; numpy array or tensor, same
    shape out): `1 − depth / (1 + exp(−(TMAX − mid) / width))`, `HEAT_CURVE` (module doc, step 6)."""
    depth, mid, width = HEAT_CURVE
    if isinstance(tmax, torch.Tensor):
        return 1.0 - depth * torch.sigmoid((tmax - mid) / width)
    return 1.0 - depth / (1.0 + np.exp(-(np.asarray(tmax) - mid) / width))


def _heat_process(x: torch.Tensor) -> torch.Tensor:
    """The truth at WOFOST's `assimilation_reduction` hook (inputs TMAX, TMIN, DVS): heat_reduction(TMAX)."""
    return heat_reduction(x[..., 0])


def true_process(ds: CropDataset):
    """The twin's true process at WOFOST's `assimilation_reduction` hook (a function of `[..., 3]` tensors
    TMAX, TMIN, DVS), or None for a dataset without a heat-stress truth (its `heat_stress` attribute)."""
    return _heat_process if HEAT_KEY in ds.metadata else None


def true_daily(ds: CropDataset) -> dict[str, np.ndarray] | None:
    """The twin's true daily parameters {"AMAXTB_SCALE": `[T, N]`} from its weather (module doc, step 7), or
    None for a dataset without a daily truth (its `daily_amax` attribute)."""
    if DAILY_KEY not in ds.metadata:
        return None
    x = physics_weather(ds)  # [T, N, F], WOFOST units
    balance = x[..., PHYSICS_WEATHER.index("RAIN")] - x[..., PHYSICS_WEATHER.index("ET0")]
    tau, floor, depth, mid, width = DAILY_AMAX
    w, moving = np.zeros(balance.shape[1]), np.empty_like(balance)
    for t, b in enumerate(balance):
        w = w + (b - w) / tau
        moving[t] = w
    return {"AMAXTB_SCALE": floor + depth / (1.0 + np.exp(-(moving - mid) / width))}


def _svp_hpa(t_c):
    return 6.108 * np.exp(17.27 * t_c / (t_c + 237.3))


def site_weather(rng: np.random.Generator, lat: float, elev: float, year: int, n_days: int,
                 warming: float = 0.0) -> np.ndarray:
    """Synthetic daily weather `[n_days, len(WEATHER_NAMES)]` from 1 January of `year` (module doc, 2), every
    temperature `warming` °C warmer."""
    start = np.datetime64(f"{year}-01-01", "D")
    doy = day_of_year(start + np.arange(n_days))
    t0 = 17.0 - 0.45 * (lat - 38.0) - 6.5e-3 * elev + warming
    amp = 8.0 + 0.15 * (lat - 38.0)
    anomaly = np.zeros(n_days)
    noise = rng.normal(0.0, 2.5 * np.sqrt(1 - 0.75**2), n_days)
    wet = np.zeros(n_days, dtype=bool)
    u = rng.uniform(size=n_days)
    for i in range(1, n_days):
        anomaly[i] = 0.75 * anomaly[i - 1] + noise[i]
        wet[i] = u[i] < (0.6 if wet[i - 1] else 0.25)
    temp = t0 - amp * np.cos(2 * np.pi * (doy - 15) / 365.0) + anomaly
    rain = np.where(wet, rng.gamma(0.8, 0.5 / 0.8, n_days), 0.0)
    transmission = np.where(wet, 0.35, 0.62) + rng.uniform(-0.08, 0.08, n_days)
    irrad = angot_radiation(doy, lat) * transmission
    dtr = np.where(wet, 6.0, 11.0)
    tmin, tmax = temp - dtr / 2, temp + dtr / 2
    vap = _svp_hpa(tmin) * rng.uniform(0.8, 1.0, n_days)
    wind = rng.gamma(4.0, 2.5 / 4.0, n_days)
    e0, es0, et0 = penman(doy, lat, elev, tmin, tmax, irrad, vap, wind)
    cols = {"IRRAD": irrad, "TMIN": tmin, "TMAX": tmax, "VAP": vap, "WIND": wind, "RAIN": rain,
            "E0": e0, "ES0": es0, "ET0": et0}
    return np.stack([cols[n] for n in WEATHER_NAMES], axis=-1)


def _calendar(crop: str, spec: TwinCrop, year: int, shift: int) -> CropCalendar:
    start = dt.date(year, *spec.start_month_day) + dt.timedelta(days=shift)
    end = dt.date(year, *spec.end_month_day) + dt.timedelta(days=shift) if spec.end_month_day else None
    return CropCalendar(crop_name=crop, variety_name=f"{crop}_twin", crop_start_date=start,
                        crop_start_type=spec.start_type, crop_end_date=end, crop_end_type=spec.end_type,
                        max_duration=spec.max_duration)


def check_size(n_sites: Any, fields_per_site: Any, names: Mapping[str, str] | None = None) -> None:
    """Refuse counts below 1 and a twin of more than `MAX_FIELDS` fields, each culprit named as the caller
    calls it (`names`: argument -> option name, e.g. {"n_sites": "--sites"})."""
    name = {"n_sites": "n_sites", "fields_per_site": "fields_per_site", **(names or {})}
    check_count(fields_per_site, name["fields_per_site"], MAX_FIELDS)
    check_count(n_sites, name["n_sites"], MAX_FIELDS // fields_per_site)


def make_layout(n_sites: int = 40, fields_per_site: int = FIELDS_PER_SITE,
                crops: tuple[str, ...] = tuple(CROPS), years: tuple[int, ...] = (2015, 2016, 2017, 2018),
                seed: int = 0, heat_stress: bool = False, daily_amax: bool = False) -> CropDataset:
    """Sites, weather, calendars and true parameters (no observations yet: `observations` has 0 columns);
    `heat_stress`: the warmer weather and heat-stress truth of module doc step 6; `daily_amax`: the daily
    AMAX factor of step 7."""
    unknown = [c for c in crops if c not in CROPS]
    if unknown:
        raise InputError(f"crop twin: unknown crop(s) {unknown}; available: {sorted(CROPS)}")
    check_size(n_sites, fields_per_site)
    rng = np.random.default_rng(seed)
    site_attrs = {k: rng.uniform(lo, hi, n_sites) for k, (lo, hi) in SITE_ATTRIBUTES.items()}
    n_days = max(int(_calendar(c, CROPS[c], 2001, 0).season_length) for c in crops)
    fields, sites, starts, weather, calendars, rows = [], [], [], [], [], []
    for s in range(n_sites):
        site_weather_by_year: dict[int, np.ndarray] = {}
        for f in range(fields_per_site):
            crop = crops[int(rng.integers(len(crops)))]
            year = int(years[int(rng.integers(len(years)))])
            if year not in site_weather_by_year:
                lat, elev = site_attrs["lat"][s], site_attrs["elev"][s]
                site_weather_by_year[year] = site_weather(rng, lat, elev, year, 366,
                                                          HEAT_WARMING if heat_stress else 0.0)
            cal = _calendar(crop, CROPS[crop], year, int(rng.integers(-10, 11)))
            i0 = (cal.crop_start_date - dt.date(year, 1, 1)).days
            w = np.full((n_days, len(WEATHER_NAMES)), np.nan)
            piece = site_weather_by_year[year][i0:i0 + n_days]
            w[: piece.shape[0]] = piece
            fields.append(f"site{s:03d}_f{f}")
            sites.append(f"site{s:03d}")
            starts.append(np.datetime64(cal.crop_start_date, "D"))
            weather.append(w)
            calendars.append(cal)
            rows.append(s)
    rows = np.asarray(rows)
    attrs = {k: v[rows] for k, v in site_attrs.items()}
    factors = true_factors(attrs)
    names = list(SITE_ATTRIBUTES) + [f"crop_{c.replace(' ', '_').lower()}" for c in crops]
    units = [units_of(k, "1") for k in SITE_ATTRIBUTES] + ["1"] * len(crops)
    heat = {HEAT_KEY: (f"weather +{HEAT_WARMING:g} degC; gross assimilation x (1 - {HEAT_CURVE[0]:g} / "
                       f"(1 + exp(-(TMAX - {HEAT_CURVE[1]:g}) / {HEAT_CURVE[2]:g})))")} if heat_stress else {}
    if daily_amax:
        tau, floor, depth, mid, width = DAILY_AMAX
        heat[DAILY_KEY] = (f"AMAXTB_SCALE = {floor:g} + {depth:g} / (1 + exp(-(w - {mid:g}) / {width:g})), "
                           f"w: {tau:g}-day moving mean of RAIN - ET0 (cm d-1)")
    columns = [attrs[k] for k in SITE_ATTRIBUTES]
    columns += [np.array([cal.crop_name == c for cal in calendars], dtype=float) for c in crops]
    for p in VARYING_PARAMS:
        names.append(f"true_factor_{p}")
        units.append("1")
        columns.append(factors[p])
    return CropDataset(
        fields=fields, sites=sites, weather_start=np.asarray(starts), weather=np.stack(weather),
        attributes=np.stack(columns, axis=-1), attribute_names=tuple(names), attribute_units=tuple(units),
        calendars=calendars, observations=np.zeros((len(fields), n_days, 0)),
        metadata={"title": "dmg_bmi crop synthetic twin", "seed": str(seed),
                  "crop_cases": ",".join(f"{c}={CROPS[c].case}" for c in crops), **heat},
    )


def sample_observations(rng: np.random.Generator, truth: dict[str, np.ndarray], first: np.ndarray,
                        last: np.ndarray) -> np.ndarray:
    """Sparse noisy observations `[N, T, len(OBSERVED)]` from noise-free daily states `truth[name] [N, T]`
    between each field's first and last (inclusive) season day (module doc, step 5)."""
    n, t = truth["LAI"].shape
    obs = np.full((n, t, len(OBSERVED)), np.nan)
    j = {name: k for k, name in enumerate(OBSERVED)}
    for i in range(n):
        f0, f1 = int(first[i]), min(int(last[i]), t - 1)
        lai_days = f0 + np.cumsum(rng.integers(7, 11, 40))
        lai_days = lai_days[(lai_days < f1) & (rng.uniform(size=lai_days.size) > 0.2)]
        bio_days = f0 + np.cumsum(rng.integers(18, 25, 15))
        bio_days = bio_days[bio_days < f1]
        lai = truth["LAI"][i, lai_days]
        obs[i, lai_days, j["LAI"]] = lai * np.exp(rng.normal(0, 0.15, lai.size) - 0.15**2 / 2)
        obs[i, lai_days, j["DVS"]] = truth["DVS"][i, lai_days] + rng.normal(0, 0.03, lai.size)
        for name in ("TAGP", "TWSO"):
            v = truth[name][i, bio_days]
            obs[i, bio_days, j[name]] = v * np.exp(rng.normal(0, 0.10, v.size) - 0.10**2 / 2)
        obs[i, f1, j["TWSO"]] = truth["TWSO"][i, f1] * np.exp(rng.normal(0, 0.05) - 0.05**2 / 2)
    return obs


def parameter_sets(crops: tuple[str, ...], pcse_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The twin's crop parameter sets {crop: {"<crop>_twin": params}} from PCSE reference cases."""
    root = Path(pcse_dir)
    return {c: {f"{c}_twin": load_parameter_set(
        root / f"test_potentialproduction_wofost72_{CROPS[c].case}.yaml", f"crop twin {c}")} for c in crops}


def simulate(layout: CropDataset, sets, seed: int = 0) -> tuple[CropDataset, dict[str, np.ndarray]]:
    """Run WOFOST with the true parameters and add sparse noisy observations and `true_<name>` attributes.

    The dataset carries `sets` (its `crop_params` attribute), so training on it needs no parameter files.
    A layout made with `heat_stress` runs with the true heat reduction (`heat_reduction`), one made with
    `daily_amax` with the true daily AMAX factor (`true_daily`).
    Returns the dataset and the noise-free daily truth `{name: [N, T]}` (DVS, LAI, TAGP, TWSO, ACTIVE).
    """
    base = base_params(sets, layout.calendars)
    factors = layout.attribute_array([f"true_factor_{p}" for p in VARYING_PARAMS])
    params = dict(base)
    for k, p in enumerate(VARYING_PARAMS):
        params[p] = base[p] * torch.as_tensor(factors[:, k])
    x = torch.as_tensor(physics_weather(layout))
    attrs = {k: torch.as_tensor(v) for k, v in physics_attrs(layout).items()}
    process = true_process(layout)
    daily = {k: torch.as_tensor(v) for k, v in (true_daily(layout) or {}).items()}
    with torch.no_grad():
        out, _ = WofostPhysics()(x, params, attrs, process=process, daily=daily or None)
    truth = {k: out[k].numpy().T.copy() for k in (*OBSERVED, "ACTIVE")}
    active = truth["ACTIVE"] > 0.5
    first = np.argmax(active, axis=1)
    last = active.shape[1] - 1 - np.argmax(active[:, ::-1], axis=1)
    obs = sample_observations(np.random.default_rng([seed, 1]), truth, first, last)
    names = layout.attribute_names + tuple(f"true_{p}" for p in VARYING_PARAMS)
    units = layout.attribute_units + tuple(UNITS[p] for p in VARYING_PARAMS)
    values = np.concatenate([layout.attributes, np.stack([params[p].numpy() for p in VARYING_PARAMS], 1)], 1)
    ds = dataclasses.replace(layout, attributes=values, attribute_names=names, attribute_units=units,
                             observations=obs, obs_names=OBSERVED,
                             obs_units=tuple(OBS_UNITS[n] for n in OBSERVED),
                             metadata={**layout.metadata, PARAMS_KEY: json.dumps(sets)})
    return ds, truth


def make_crop_twin(path: str | Path, pcse_dir: str | Path, n_sites: int = 40,
                   fields_per_site: int = FIELDS_PER_SITE, crops: tuple[str, ...] = tuple(CROPS),
                   seed: int = 0, heat_stress: bool = False, daily_amax: bool = False) -> CropDataset:
    """Generate the whole twin (layout, WOFOST truth, observations; `heat_stress`, `daily_amax`: module doc
    steps 6 and 7) and save it atomically to `path` (a failed write names `path`)."""
    layout = make_layout(n_sites, fields_per_site, crops, seed=seed, heat_stress=heat_stress,
                         daily_amax=daily_amax)
    ds, _ = simulate(layout, parameter_sets(crops, pcse_dir), seed)
    ds.save(path)
    return ds
