"""Synthetic twin: catchments with attributes, stochastic weather, "true" HBV parameters, simulated flow.

Everything is deterministic given `seed`. For each of `n_basins` catchments:

1. **Attributes** drawn independently and uniformly (`DRAWN_ATTRIBUTES`): `lat` (28-45 degrees_north), `lon`,
   `elevation_m` (0-1500 m), `p_mean` (1.5-5 mm d-1), `p_seasonality` (-0.6..0.6: > 0 summer-wet, < 0
   summer-dry), `slope` (5-150 m km-1), `soil_depth` (0.3-2.5 m), `forest_frac` (0-1), `sand_frac` (5-90
   percent), `permeability` (0-1, drives nothing: a distractor) and `area_km2` (20-2000 km2). Derived from
   the weather: `t_mean` (degC), `pet_mean` (mm d-1), `aridity` (= pet_mean / mean P of the record) and
   `frac_snow` (share of precipitation on days with T < 0 degC).
2. **Weather**: T = t0 - amp cos(2 pi (doy - 20)/365.25) + AR(1) anomaly (sd 2.5 degC, phi 0.7), with
   t0 = 24 - 0.55 (lat - 30) - 6.5e-3 elevation_m and amp = 7 + 0.3 (lat - 30) (degC); wet days from a
   two-state Markov chain (P(wet|wet) = 0.6, wet fraction 0.22 + 0.05 p_mean, at most 0.55) with gamma
   amounts (shape 0.7) whose mean is p_mean (1 - p_seasonality cos(2 pi (doy - 20)/365.25)) / wet fraction;
   PET by Hamon from T and lat.
3. **True parameters** (HBV 1.1p names), each a smooth monotone function of one attribute, inside the
   ParamSpec bounds and spread widely so they stay identifiable:
   parFC = 60 + 540 (soil_depth - 0.3)/2.2 (mm), parBETA = 1 + 4.5 forest_frac,
   parK0 = 0.05 + 0.75 (slope - 5)/145 (d-1), parK1 = 0.01 + 0.39 (sand_frac - 5)/85 (d-1).
   All others are fixed (`FIXED_PARAMS`; routing nearly instantaneous, route_a = route_b = 0).
4. **Flow** from HBV (`physics`, default "hbv_1_1p", one member, routing on) after a spin-up run over the
   first `spinup_years` of the weather, times log-normal noise exp(sigma e - sigma^2/2), sigma = `noise`.
5. **A process HBV lacks** (optional, `abstraction` > 0): a river abstraction for irrigation that takes the
   fraction `abstraction_fraction(T) = abstraction / (1 + exp(-(T - 18 degC) / 2.5 degC))` of the day's
   flow, so warm days lose up to `abstraction` of it (before the noise). No HBV parameter set gives this
   temperature-driven loss of flow; an output correction (`model.correction`) can.

The dataset holds forcings `P`, `T`, `PET` (and the same values as `prcp`, `tmean`), targets `streamflow`
(mm d-1, noisy) and `streamflow_true` (noise-free, after any abstraction), the attributes, and every HBV
parameter as a static variable `true_<name>` (e.g. `true_parFC`, in the ParamSpec units); `true_parameters`
(global attribute) lists the varying ones.

Sizes are bounded (`check_size`) so that a typo cannot exhaust memory: at most `MAX_BASIN_DAYS` basin-days
(about 370 bytes each at peak, so about 2 GB), `MAX_YEARS` years ending by 9999-12-31, and a noise sigma of
at most `MAX_NOISE` (beyond it the flow is mostly 0 or huge: not a usable target).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmg_bmi.core.config import check_count
from dmg_bmi.data.dataset import HydroDataset, day_of_year, to_day
from dmg_bmi.data.variables import units_of
from dmg_bmi.domains.hydrology.variables import DATASET_UNITS
from dmg_bmi.errors import InputError
from dmg_bmi.forcing import InputDerivation, pet_hamon

# Attributes drawn uniformly: name -> (low, high) in the dataset variables table's units
# (`dmg_bmi.domains.hydrology.variables`; "1" for `permeability`, which the table leaves to each dataset).
DRAWN_ATTRIBUTES = {
    "lat": (28.0, 45.0), "lon": (-120.0, -70.0), "elevation_m": (0.0, 1500.0), "p_mean": (1.5, 5.0),
    "slope": (5.0, 150.0), "soil_depth": (0.3, 2.5), "forest_frac": (0.0, 1.0), "sand_frac": (5.0, 90.0),
    "permeability": (0.0, 1.0), "area_km2": (20.0, 2000.0), "p_seasonality": (-0.6, 0.6),
}
DERIVED_UNITS = {k: DATASET_UNITS[k] for k in ("t_mean", "pet_mean", "aridity", "frac_snow")}
# Parameters that do not vary between twins (HBV 1.1p names; units as in the ParamSpecs).
FIXED_PARAMS = {
    "parK2": 0.03, "parLP": 0.6, "parUZL": 10.0, "parPERC": 1.5, "parTT": 0.0, "parCFMAX": 3.5,
    "parCFR": 0.05, "parCWH": 0.1, "parBETAET": 1.0, "parC": 0.05, "parRT": 0.0, "parAC": 0.0,
    "route_a": 0.0, "route_b": 0.0,
}
VARYING_PARAMS = ("parFC", "parBETA", "parK0", "parK1")
MAX_BASIN_DAYS = 5_000_000  # basins x days: ~370 B a basin-day at peak, about 2 GB
MAX_YEARS = 200
MAX_NOISE = 2.0  # log-normal sigma of the flow noise
ABSTRACTION_T50 = 18.0  # degC: the daily mean temperature at which half the `abstraction` is taken
ABSTRACTION_WIDTH = 2.5  # degC: the logistic width of the abstraction's rise with temperature
_LAST_DAY = np.datetime64("9999-12-31", "D")  # dates stay writable as YYYY-MM-DD


def check_size(n_basins: Any, years: Any, start: Any = "2000-01-01", noise: Any = 0.1,
               names: Mapping[str, str] | None = None, abstraction: Any = 0.0) -> np.datetime64:
    """Refuse a twin `make_twin` should not build (module docstring), each culprit named as the caller calls
    it (`names`: argument -> option name, e.g. {"n_basins": "--basins"}); returns the first day."""
    name = {"n_basins": "n_basins", "years": "years", "start": "start", "noise": "noise",
            "abstraction": "abstraction", **(names or {})}
    check_count(n_basins, name["n_basins"], MAX_BASIN_DAYS // 365)
    check_count(years, name["years"], MAX_YEARS)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0.0 <= noise <= MAX_NOISE:
        raise InputError(f"{name['noise']} must be in 0..{MAX_NOISE:g} (log-normal sigma of the flow noise), "
                         f"got {noise!r}")
    if isinstance(abstraction, bool) or not isinstance(abstraction, numbers.Real) or \
            not 0.0 <= abstraction < 1.0:
        raise InputError(f"{name['abstraction']} must be a number in [0, 1) (a share of the flow), got "
                         f"{abstraction!r}")
    first = to_day(start, name["start"])
    end = (first.astype("datetime64[Y]") + years).astype("datetime64[D]")
    if end - 1 > _LAST_DAY:
        raise InputError(f"{name['start']} {first} + {name['years']} {years} ends after {_LAST_DAY}")
    cells = n_basins * int((end - first).astype(np.int64))
    if cells > MAX_BASIN_DAYS:
        raise InputError(f"{name['n_basins']} {n_basins} x {name['years']} {years} is {cells:,} basin-days, "
                         f"more than the twin's {MAX_BASIN_DAYS:,} (about 2 GB of memory): use fewer "
                         "basins or years")
    return first


def fixed_params(physics: str = "hbv_1_1p") -> dict[str, float]:
    """The twin's non-varying parameter values that `physics` has: a ready `model.phy.fixed_params`
    mapping for a recovery experiment that learns only `VARYING_PARAMS`."""
    from dmg_bmi.core.config import PhyConfig
    from dmg_bmi.core.registry import get_physics

    names = {s.name for s in get_physics(physics)(PhyConfig(name=physics, warmup=0)).param_specs()}
    return {k: v for k, v in FIXED_PARAMS.items() if k in names}


def _unit(x: np.ndarray, name: str) -> np.ndarray:
    lo, hi = DRAWN_ATTRIBUTES[name]
    return (x - lo) / (hi - lo)


def true_parameters(attrs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The twin's varying parameters `[B]`: smooth functions of the attributes (module docstring, step 3)."""
    return {
        "parFC": 60.0 + 540.0 * _unit(attrs["soil_depth"], "soil_depth"),
        "parBETA": 1.0 + 4.5 * attrs["forest_frac"],
        "parK0": 0.05 + 0.75 * _unit(attrs["slope"], "slope"),
        "parK1": 0.01 + 0.39 * _unit(attrs["sand_frac"], "sand_frac"),
    }


def weather(attrs: dict[str, np.ndarray], dates: np.ndarray,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Daily `P` (mm d-1), `T` (degC), `PET` (mm d-1), each `[B, T]`, from the drawn attributes."""
    b, n = attrs["lat"].size, dates.size
    doy = day_of_year(dates).astype(np.float64)
    phase = 2.0 * np.pi * (doy - 20.0) / 365.25
    t0 = 24.0 - 0.55 * (attrs["lat"] - 30.0) - 6.5e-3 * attrs["elevation_m"]
    amp = 7.0 + 0.3 * (attrs["lat"] - 30.0)
    anomaly = np.empty((b, n))
    a = rng.normal(0.0, 2.5, b)
    shocks = rng.normal(0.0, 2.5 * np.sqrt(1.0 - 0.7**2), (n, b))
    wet_frac = np.minimum(0.22 + 0.05 * attrs["p_mean"], 0.55)
    p11 = 0.6
    p01 = wet_frac * (1.0 - p11) / (1.0 - wet_frac)
    u = rng.random((n, b))
    wet = np.empty((b, n), dtype=bool)
    state = rng.random(b) < wet_frac
    for i in range(n):
        a = 0.7 * a + shocks[i]
        anomaly[:, i] = a
        state = u[i] < np.where(state, p11, p01)
        wet[:, i] = state
    temp = t0[:, None] - amp[:, None] * np.cos(phase)[None, :] + anomaly
    season = 1.0 - attrs["p_seasonality"][:, None] * np.cos(phase)[None, :]
    mean_wet = (attrs["p_mean"] / wet_frac)[:, None] * season
    shape = 0.7
    amounts = rng.gamma(shape, 1.0, (b, n)) * mean_wet / shape
    prcp = np.where(wet, amounts, 0.0)
    pet = pet_hamon(temp, attrs["lat"][:, None], doy[None, :])
    return {"P": prcp, "T": temp, "PET": np.asarray(pet)}


def _all_params(physics, true: dict[str, np.ndarray], b: int) -> dict[str, np.ndarray]:
    """Every parameter the physics declares, `[B]`: the varying ones, else fixed, else the bound midpoint."""
    out = {}
    for spec in physics.param_specs():
        if spec.name in true:
            value = true[spec.name]
        else:
            value = np.full(b, FIXED_PARAMS.get(spec.name, 0.5 * (spec.lo + spec.hi)))
        if np.any(value < spec.lo) or np.any(value > spec.hi):
            raise InputError(f"twin parameter {spec.name} outside its bounds [{spec.lo}, {spec.hi}]")
        out[spec.name] = value
    return out


def simulate_flow(physics, forcing: dict[str, np.ndarray], params: dict[str, np.ndarray],
                  attrs: dict[str, np.ndarray], spinup_days: int) -> np.ndarray:
    """Noise-free streamflow `[B, T]` (mm d-1) from `physics` (one member) after a spin-up over the first
    `spinup_days` of the forcing (run once, then the whole record again from the spun-up state)."""
    x = torch.as_tensor(np.stack([forcing[n] for n in physics.forcing_names], -1).transpose(1, 0, 2),
                        dtype=torch.float64)
    specs = {s.name: s for s in physics.param_specs()}
    p = {k: torch.as_tensor(v, dtype=torch.float64) if not specs[k].per_member
         else torch.as_tensor(v, dtype=torch.float64)[:, None] for k, v in params.items()}
    phys_attrs = {k: torch.as_tensor(attrs[k], dtype=torch.float64) for k in physics.attribute_names}
    with torch.no_grad():
        state = None
        if spinup_days > 0:
            _, state = physics(x[:spinup_days], p, phys_attrs)
        out, _ = physics(x, p, phys_attrs, state)
    return out["streamflow"].numpy().T.copy()


def abstraction_fraction(temp: np.ndarray, abstraction: float) -> np.ndarray:
    """Share of the day's flow the twin's irrigation abstraction takes (module docstring, step 5), from the
    daily mean temperature `temp` (degC, any shape); `abstraction` in [0, 1) is its warm-day maximum."""
    return abstraction / (1.0 + np.exp(-(np.asarray(temp) - ABSTRACTION_T50) / ABSTRACTION_WIDTH))


def make_twin(n_basins: int = 50, start: Any = "2000-01-01", years: int = 6, seed: int = 0,
              noise: float = 0.1, physics: str = "hbv_1_1p", spinup_years: int = 2,
              abstraction: float = 0.0) -> HydroDataset:
    """Build a synthetic-twin HydroDataset (see the module docstring); deterministic given `seed`.
    `abstraction` in [0, 1): the warm-day share of the flow a river abstraction takes (0: none)."""
    s = check_size(n_basins, years, start, noise, abstraction=abstraction)
    from dmg_bmi.core.config import PhyConfig
    from dmg_bmi.core.registry import get_physics

    rng = np.random.default_rng(seed)
    dates = np.arange(s, (s.astype("datetime64[Y]") + years).astype("datetime64[D]"), dtype="datetime64[D]")
    attrs = {k: rng.uniform(lo, hi, n_basins) for k, (lo, hi) in DRAWN_ATTRIBUTES.items()}
    met = weather(attrs, dates, rng)
    attrs["t_mean"] = met["T"].mean(1)
    attrs["pet_mean"] = met["PET"].mean(1)
    attrs["aridity"] = attrs["pet_mean"] / np.maximum(met["P"].mean(1), 1e-6)
    attrs["frac_snow"] = (met["P"] * (met["T"] < 0.0)).sum(1) / np.maximum(met["P"].sum(1), 1e-6)

    model = get_physics(physics)(PhyConfig(name=physics, nmul=1, routing=True, warmup=0))
    params = _all_params(model, true_parameters(attrs), n_basins)
    spin = min(365 * spinup_years, dates.size)
    flow = simulate_flow(model, met, params, attrs, spin)
    flow *= 1.0 - abstraction_fraction(met["T"], abstraction)
    eps = rng.normal(0.0, 1.0, flow.shape)
    observed = flow * np.exp(noise * eps - 0.5 * noise**2)

    units = {k: units_of(k, "1") for k in (*DRAWN_ATTRIBUTES, *DERIVED_UNITS, "P", "T", "PET", "prcp",
                                            "tmean", "streamflow", "streamflow_true")}
    specs = {sp.name: sp for sp in model.param_specs()}
    static = dict(attrs)
    for name, value in params.items():
        static[f"true_{name}"] = value
        units[f"true_{name}"] = specs[name].units
    dynamic = {"P": met["P"], "T": met["T"], "PET": met["PET"], "prcp": met["P"].copy(),
               "tmean": met["T"].copy(), "streamflow": observed, "streamflow_true": flow}
    meta = {
        "title": "dmg_bmi synthetic twin",
        "source": f"dmg_bmi.domains.hydrology.twin.make_twin(n_basins={n_basins}, years={years}, "
                  f"seed={seed}, noise={noise}, physics={physics!r}, abstraction={abstraction})",
        "input_derivation": json.dumps(InputDerivation(pet_method="hamon").to_dict()),
        "true_parameters": ",".join(VARYING_PARAMS),
    }
    basins = [f"twin{i:04d}" for i in range(n_basins)]
    return HydroDataset(basins, dates, dynamic, static, units, targets=("streamflow", "streamflow_true"),
                        metadata=meta)


def write_twin(path: str | Path, **kwargs) -> Path:
    """`make_twin(**kwargs)` written atomically to `path` (NetCDF; a failed write names `path`)."""
    return make_twin(**kwargs).save(path)
