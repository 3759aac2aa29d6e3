"""Forcing maths: unit conversions, PET methods and the hourly-AORC -> daily-model-input derivation.

Every function is pure and works on numpy arrays (float64) or, where noted, torch tensors; scalars
broadcast. Radiation and PET formulas follow FAO-56 (Allen et al. 1998, Irrigation and Drainage Paper 56).

Daily variable names used across the package (the dataset format and the BMI use the same names):

| name   | units    | meaning                                                   |
| ------ | -------- | --------------------------------------------------------- |
| `prcp` | mm d-1   | precipitation                                             |
| `tmean`, `tmin`, `tmax` | degC | daily mean / minimum / maximum air temperature     |
| `srad` | W m-2    | incoming shortwave radiation, mean over the 24-h day      |
| `vp`   | Pa       | actual vapour pressure                                    |
| `pres` | Pa       | surface air pressure                                      |
| `lrad` | W m-2    | incoming longwave radiation, 24-h mean                    |
| `wind` | m s-1    | wind speed at 10 m                                        |
| `pet`  | mm d-1   | potential evapotranspiration given as forcing (pet_method 'forcing') |
| `P`, `T`, `PET` | mm d-1, degC, mm d-1 | the physics inputs (= prcp, tmean, derived PET) |
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from dmg_bmi.core.variables import BY_NAME
from dmg_bmi.data.variables import dataset_variables
from dmg_bmi.errors import ConfigError, InputError

LAMBDA_MJ_KG = 2.45  # latent heat of vaporization, MJ kg-1 (FAO-56)
SIGMA_MJ = 4.903e-9  # Stefan-Boltzmann constant, MJ K-4 m-2 d-1
GSC_MJ_MIN = 0.0820  # solar constant, MJ m-2 min-1
CFS_TO_M3S = 0.028316846592  # one cubic foot per second in m3 s-1
SECONDS_PER_DAY = 86400.0


# Scalar backend: the same formulas on Python floats (one BMI catchment per call) without numpy overhead.
_MATH = SimpleNamespace(sin=math.sin, cos=math.cos, tan=math.tan, arccos=math.acos, sqrt=math.sqrt,
                        exp=math.exp)


def _prep(*xs):
    """Return (namespace, converted inputs): torch if any input is a tensor, Python floats with `math` if all
    are scalars, else numpy float64 arrays."""
    scalar = True
    for x in xs:
        if type(x) is float or type(x) is int:
            continue
        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
            return torch, [torch.as_tensor(v, dtype=dtype, device=x.device) for v in xs]
        if scalar and not (isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0)):
            scalar = False
    if scalar:
        return _MATH, [float(x) for x in xs]
    return np, [np.asarray(x, dtype=np.float64) for x in xs]


def _clip(x, lo=None, hi=None):
    """Clip to [lo, hi] (either may be None); NaN stays NaN. Cheaper than np.clip; torch- and float-aware."""
    if isinstance(x, float):
        if lo is not None and x < lo:
            x = lo
        return hi if hi is not None and x > hi else x
    if isinstance(x, torch.Tensor):
        return torch.clamp(x, lo, hi)
    if lo is not None:
        x = np.maximum(x, lo)
    return x if hi is None else np.minimum(x, hi)


# --------------------------------------------------------------------------- unit conversions

def cfs_to_mm_per_day(q_cfs, area_km2):
    """Streamflow ft3 s-1 -> basin depth mm d-1 over `area_km2` (km2)."""
    _, (q, a) = _prep(q_cfs, area_km2)
    return q * CFS_TO_M3S * SECONDS_PER_DAY / (a * 1e6) * 1000.0


def kelvin_to_celsius(t_k):
    """Temperature K -> degC."""
    return t_k - 273.15


def precip_rate_to_mm_per_day(rate_mm_s):
    """Precipitation rate mm s-1 (= kg m-2 s-1 of water) -> mm d-1."""
    return rate_mm_s * SECONDS_PER_DAY


def vapour_pressure_from_specific_humidity(q_kg_kg, pressure_pa):
    """Vapour pressure (Pa) from specific humidity (kg kg-1) and pressure (Pa): e = qp/(0.622 + 0.378q)."""
    return q_kg_kg * pressure_pa / (0.622 + 0.378 * q_kg_kg)


def w_m2_to_mj_m2_day(flux_w_m2):
    """A daily-mean energy flux W m-2 -> daily total MJ m-2 d-1."""
    return flux_w_m2 * (SECONDS_PER_DAY / 1e6)


def wind_speed(u_m_s, v_m_s):
    """Wind speed (m s-1) from its x (u) and y (v) components (m s-1)."""
    xp, (u, v) = _prep(u_m_s, v_m_s)
    return xp.sqrt(u * u + v * v)


def saturation_vapour_pressure_kpa(t_c):
    """Saturation vapour pressure (kPa) at air temperature t_c (degC), FAO-56 eq. 11.

    A temperature outside the possible range (`dataset_variables()["T"]`, e.g. a value in K given as degC, or
    the reverse) raises InputError (the formula overflows near -237 degC); NaN passes; tensors are not
    checked (their data was checked when loaded).
    """
    xp, (t,) = _prep(t_c)
    if xp is not torch:
        lo, hi = dataset_variables()["T"].valid_range
        t_min, t_max = (t, t) if xp is _MATH else (np.fmin.reduce(t, axis=None, initial=np.inf),
                                                    np.fmax.reduce(t, axis=None, initial=-np.inf))
        if t_min < lo or t_max > hi:
            bad = t_min if t_min < lo else t_max
            raise InputError(f"air temperature {bad:.6g} degC is outside the allowed range [{lo:g}, {hi:g}] "
                             "degC (a value in K given as degC?)")
    return 0.6108 * xp.exp(17.27 * t / (t + 237.3))


def pressure_from_elevation(elevation_m):
    """Standard atmospheric pressure (Pa) at elevation (m), FAO-56 eq. 7."""
    _, (z,) = _prep(elevation_m)
    return 101.3e3 * ((293.0 - 0.0065 * z) / 293.0) ** 5.26


# --------------------------------------------------------------------------- astronomy (FAO-56)

def _solar(lat_deg, doy):
    """(xp, phi rad, inverse relative distance dr, declination rad, sunset hour angle rad)."""
    xp, (lat, j) = _prep(lat_deg, doy)
    phi = lat * (np.pi / 180.0)
    dr = 1.0 + 0.033 * xp.cos(2.0 * np.pi * j / 365.0)
    decl = 0.409 * xp.sin(2.0 * np.pi * j / 365.0 - 1.39)
    ws = xp.arccos(_clip(-xp.tan(phi) * xp.tan(decl), -1.0, 1.0))  # clip: polar day / night
    return xp, phi, dr, decl, ws


def extraterrestrial_radiation(lat_deg, doy):
    """Daily extraterrestrial radiation Ra (MJ m-2 d-1) at latitude (deg, N positive), day of year 1..366."""
    xp, phi, dr, decl, ws = _solar(lat_deg, doy)
    return (24.0 * 60.0 / np.pi) * GSC_MJ_MIN * dr * (
        ws * xp.sin(phi) * xp.sin(decl) + xp.cos(phi) * xp.cos(decl) * xp.sin(ws)
    )


def daylight_hours(lat_deg, doy):
    """Astronomical day length N (h) at latitude (deg) on day of year (1..366), FAO-56 eq. 34."""
    _, _, _, _, ws = _solar(lat_deg, doy)
    return ws * (24.0 / np.pi)


# --------------------------------------------------------------------------- PET methods

def pet_hargreaves(tmin_c, tmax_c, lat_deg, doy):
    """Hargreaves-Samani reference ET (mm d-1), FAO-56 eq. 52.

    ET0 = 0.0023 (Tmean + 17.8) sqrt(Tmax - Tmin) Ra / lambda, with Tmean = (Tmax + Tmin)/2 (degC) and Ra from
    `extraterrestrial_radiation` (MJ m-2 d-1, divided by lambda = 2.45 MJ kg-1). Clipped at 0.
    Raises InputError if tmax == tmin on every day (e.g. CAMELS NLDAS/Maurer files) because the method
    needs the diurnal range; a single value is not checked.
    """
    xp, (tmin, tmax, lat, j) = _prep(tmin_c, tmax_c, lat_deg, doy)
    rng = tmax - tmin
    size = rng.numel() if xp is torch else np.size(rng)
    if size > 1 and bool((abs(rng) < 1e-6).all()):
        raise InputError(
                "pet_method 'hargreaves' needs tmax - tmin, but tmax == tmin on every day (as in the CAMELS "
                "NLDAS/Maurer files); use pet_method 'hamon' or 'priestley_taylor', or forcing with real "
                "tmin/tmax (e.g. Daymet)"
            )
    ra = extraterrestrial_radiation(lat, j)
    tmean = 0.5 * (tmax + tmin)
    pet = 0.0023 * (tmean + 17.8) * xp.sqrt(_clip(rng, 0.0, None)) * ra / LAMBDA_MJ_KG
    return _clip(pet, 0.0, None)


def pet_hamon(tmean_c, lat_deg, doy):
    """Hamon PET (mm d-1): PET = 29.8 N e_s(T) / (T + 273.2).

    N is the astronomical day length (h, FAO-56 eq. 34 from latitude deg and day of year), e_s the
    saturation vapour pressure (kPa) at the daily mean temperature `tmean_c` (degC). This is Hamon (1961) in
    the form of Haith & Shoemaker (1987), identical to 0.1651 (N/12) rho_sat with rho_sat in g m-3.
    """
    xp, (t, lat, j) = _prep(tmean_c, lat_deg, doy)
    n = daylight_hours(lat, j)
    return _clip(29.8 * n * saturation_vapour_pressure_kpa(t) / (t + 273.2), 0.0, None)


def net_radiation(srad_w_m2, tmin_c, tmax_c, vp_pa, lat_deg, doy, elevation_m=0.0, albedo=0.23):
    """Daily net radiation Rn (MJ m-2 d-1) = (1 - albedo) Rs - Rnl, FAO-56 eqs. 37-40.

    `srad_w_m2`: incoming shortwave, 24-h mean (W m-2); `tmin_c`, `tmax_c` (degC); `vp_pa` actual vapour
    pressure (Pa); `elevation_m` (m) sets the clear-sky Rso = (0.75 + 2e-5 z) Ra. Net longwave (eq. 39):
    Rnl = sigma (Tmax_K^4 + Tmin_K^4)/2 (0.34 - 0.14 sqrt(ea_kPa)) (1.35 Rs/Rso - 0.35), with Rs/Rso kept in
    [0.3, 1] (ASCE-EWRI 2005: the cloudiness factor stays in [0.05, 1], so Rnl never turns negative).
    """
    xp, (srad, tmin, tmax, ea_pa, z, lat, j) = _prep(srad_w_m2, tmin_c, tmax_c, vp_pa, elevation_m, lat_deg,
                                                     doy)
    rs = w_m2_to_mj_m2_day(srad)
    rso = (0.75 + 2e-5 * z) * extraterrestrial_radiation(lat, j)
    ratio = _clip(rs / _clip(rso, 1e-6, None), 0.3, 1.0)
    ea = _clip(ea_pa / 1000.0, 0.0, None)
    t4 = 0.5 * ((tmax + 273.16) ** 4 + (tmin + 273.16) ** 4)
    rnl = SIGMA_MJ * t4 * (0.34 - 0.14 * xp.sqrt(ea)) * (1.35 * ratio - 0.35)
    return (1.0 - albedo) * rs - rnl


def pet_priestley_taylor(srad_w_m2, tmean_c, vp_pa, lat_deg, doy, elevation_m=None, pressure_pa=None,
                         tmin_c=None, tmax_c=None, albedo=0.23, alpha=1.26):
    """Priestley-Taylor PET (mm d-1) = alpha Delta/(Delta + gamma) Rn / lambda, soil heat flux G = 0 (daily).

    Inputs: `srad_w_m2` incoming shortwave, mean over 24 h (W m-2); `tmean_c` (degC); `vp_pa` actual vapour
    pressure (Pa); `lat_deg`, `doy`; air pressure from `pressure_pa` (Pa) or else from `elevation_m` (m,
    FAO-56 eq. 7). Rn from `net_radiation` with albedo 0.23 (grass reference) and FAO-56 net longwave;
    Tmin/Tmax default to tmean; Rso uses elevation 0 when only pressure is given. alpha = 1.26.
    Delta: FAO-56 eq. 13; psychrometric gamma = 0.665e-3 P_kPa (eq. 8).
    Negative values (net radiation loss, winter) clip to 0.
    """
    if elevation_m is None and pressure_pa is None:
        raise InputError("pet_method 'priestley_taylor' needs 'elevation_m' or 'pressure_pa'")
    tmin_c = tmean_c if tmin_c is None else tmin_c
    tmax_c = tmean_c if tmax_c is None else tmax_c
    z_in = 0.0 if elevation_m is None else elevation_m
    rn = net_radiation(srad_w_m2, tmin_c, tmax_c, vp_pa, lat_deg, doy, z_in, albedo)
    xp, (t, z, rn) = _prep(tmean_c, z_in, rn)
    p_pa = pressure_from_elevation(z) if pressure_pa is None else _prep(pressure_pa, t)[1][0]
    es = saturation_vapour_pressure_kpa(t)
    delta = 4098.0 * es / (t + 237.3) ** 2
    gamma = 0.665e-3 * p_pa / 1000.0
    return _clip(alpha * delta / (delta + gamma) * rn / LAMBDA_MJ_KG, 0.0, None)


def pet_from_forcing(pet_mm_day):
    """PET (mm d-1) given as forcing (e.g. δHBV 2.0's PET_hargreaves column), passed through unchanged."""
    return pet_mm_day


PET_METHODS = {
    "forcing": (pet_from_forcing, ("pet_mm_day",), ()),
    "hargreaves": (pet_hargreaves, ("tmin_c", "tmax_c", "lat_deg", "doy"), ()),
    "hamon": (pet_hamon, ("tmean_c", "lat_deg", "doy"), ()),
    "priestley_taylor": (
        pet_priestley_taylor,
        ("srad_w_m2", "tmean_c", "vp_pa", "lat_deg", "doy"),
        ("elevation_m", "pressure_pa", "tmin_c", "tmax_c", "albedo", "alpha"),
    ),
}


def compute_pet(method: str, **inputs):
    """PET (mm d-1) by `method` ('hargreaves', 'hamon', 'priestley_taylor', or 'forcing': the daily `pet`
    variable as given).

    `inputs` may hold more variables than the method needs (extras are ignored), so a caller can pass every
    daily variable it has. Required names per method are in `PET_METHODS`; a missing one raises InputError
    naming it, an unknown method raises ConfigError listing the valid ones.
    """
    if method not in PET_METHODS:
        raise ConfigError(f"unknown pet_method {method!r}; valid: {sorted(PET_METHODS)}")
    fn, required, optional = PET_METHODS[method]
    missing = [k for k in required if inputs.get(k) is None]
    if missing == ["pet_mm_day"]:
        raise InputError("pet_method 'forcing' reads PET as a forcing: the dataset needs a daily variable "
                         "'pet' (mm d-1); in the BMI it is the input water_potential_evaporation_flux "
                         "(mm h-1)")
    if missing:
        given = sorted(k for k, v in inputs.items() if v is not None)
        raise InputError(f"pet_method {method!r} needs input(s) {missing}; got {given}")
    kwargs = {k: inputs[k] for k in required + optional if inputs.get(k) is not None}
    return fn(**kwargs)


# --------------------------------------------------------------------------- the input derivation

@dataclasses.dataclass(frozen=True)
class InputDerivation:
    """How the physics inputs P, T, PET are derived from raw forcing; recorded in checkpoints.

    pet_method: 'hamon' | 'hargreaves' | 'priestley_taylor' | 'forcing' (PET is a forcing: the daily `pet`,
    mm d-1, of a dataset; the BMI input `water_potential_evaporation_flux`, mm h-1); albedo and pt_alpha
    apply to Priestley-Taylor.
    """

    pet_method: str = "hamon"
    albedo: float = 0.23
    pt_alpha: float = 1.26

    def __post_init__(self):
        if self.pet_method not in PET_METHODS:
            raise ConfigError(f"pet_method: unknown {self.pet_method!r}; valid: {sorted(PET_METHODS)}")
        if not 0.0 <= self.albedo < 1.0:
            raise ConfigError(f"albedo must be in [0, 1), got {self.albedo}")
        if not self.pt_alpha > 0.0:
            raise ConfigError(f"pt_alpha must be > 0, got {self.pt_alpha}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputDerivation:
        """Build from a mapping; unknown keys raise ConfigError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"input derivation: unknown key(s) {unknown}; valid keys are {sorted(names)}")
        return cls(**dict(data))

    def pet(self, daily: Mapping[str, Any], lat_deg, doy):
        """PET (mm d-1) from daily variables named as in this module's table (plus `elevation_m`)."""
        return compute_pet(
            self.pet_method, tmin_c=daily.get("tmin"), tmax_c=daily.get("tmax"), tmean_c=daily.get("tmean"),
            srad_w_m2=daily.get("srad"), vp_pa=daily.get("vp"), pressure_pa=daily.get("pres"),
            elevation_m=daily.get("elevation_m"), pet_mm_day=daily.get("pet"), lat_deg=lat_deg, doy=doy,
            albedo=self.albedo,
            alpha=self.pt_alpha,
        )

    def model_inputs(self, daily: Mapping[str, Any], lat_deg, doy) -> dict[str, Any]:
        """The physics inputs {'P': mm d-1, 'T': degC, 'PET': mm d-1} from daily `prcp`, `tmean`, ... ."""
        for name in ("prcp", "tmean"):
            if daily.get(name) is None:
                raise InputError(f"daily forcing {name!r} is missing; got {sorted(daily)}")
        return {"P": daily["prcp"], "T": daily["tmean"], "PET": self.pet(daily, lat_deg, doy)}


def derivation_record(derivation: InputDerivation) -> dict[str, dict[str, Any]]:
    """How each physics input is made from raw daily forcings, as recorded in the checkpoint."""
    return {
        "P": {"method": "prcp"},
        "T": {"method": "tmean"},
        "PET": {"method": derivation.pet_method, "albedo": derivation.albedo,
                "pt_alpha": derivation.pt_alpha},
    }


def derivation_from_record(record: dict[str, dict[str, Any]]) -> InputDerivation:
    """Inverse of `derivation_record` (defaults to Hamon when the checkpoint has no PET entry)."""
    pet = dict(record.get("PET") or {"method": "hamon"})
    return InputDerivation(pet_method=pet.pop("method"), **pet)


def as_derivation(spec: InputDerivation | Mapping[str, Any] | str) -> InputDerivation:
    """Accept an InputDerivation, its dict form, or a bare PET method name."""
    if isinstance(spec, InputDerivation):
        return spec
    if isinstance(spec, str):
        return InputDerivation(pet_method=spec)
    return InputDerivation.from_dict(spec)


# CSDMS names of the ngen AORC forcings (bmi-ngen.md 4.7) and their units.
AORC_PRECIP = "atmosphere_water__liquid_equivalent_precipitation_rate"  # mm s-1
AORC_TEMP = "land_surface_air__temperature"  # K
AORC_SPFH = "atmosphere_air_water~vapor__relative_saturation"  # kg kg-1 (specific humidity)
AORC_PRES = "land_surface_air__pressure"  # Pa
AORC_SWDOWN = "land_surface_radiation~incoming~shortwave__energy_flux"  # W m-2
AORC_LWDOWN = "land_surface_radiation~incoming~longwave__energy_flux"  # W m-2
AORC_U = "land_surface_wind__x_component_of_velocity"  # m s-1
AORC_V = "land_surface_wind__y_component_of_velocity"  # m s-1
AORC_PET = "water_potential_evaporation_flux"  # mm h-1 (PET given as forcing; not an AORC field)
AORC_UNITS = {
    AORC_PRECIP: "mm s-1", AORC_TEMP: "K", AORC_SPFH: "kg kg-1", AORC_PRES: "Pa",
    AORC_SWDOWN: "W m-2", AORC_LWDOWN: "W m-2", AORC_U: "m s-1", AORC_V: "m s-1", AORC_PET: "mm h-1",
}
# Which AORC fields each derivation needs (P and T always; the rest by PET method).
_AORC_NEEDED = {
    "forcing": (AORC_PRECIP, AORC_TEMP, AORC_PET),
    "hamon": (AORC_PRECIP, AORC_TEMP),
    "hargreaves": (AORC_PRECIP, AORC_TEMP),
    "priestley_taylor": (AORC_PRECIP, AORC_TEMP, AORC_SPFH, AORC_PRES, AORC_SWDOWN),
}


def aorc_required_inputs(spec: InputDerivation | Mapping[str, Any] | str) -> tuple[str, ...]:
    """The AORC CSDMS names `aorc_hourly_to_daily` needs for this derivation."""
    return _AORC_NEEDED[as_derivation(spec).pet_method]


def aorc_hourly_to_daily(hourly: Mapping[str, Any], lat_deg, doy,
                         spec: InputDerivation | Mapping[str, Any] | str = "hamon") -> dict[str, Any]:
    """Daily model inputs from the trailing 24 hourly AORC records.

    `hourly` maps AORC CSDMS names (units in `AORC_UNITS`) to arrays `[24, *batch]` (hour first; e.g. `[24]`
    for one BMI catchment, `[24, days, basins]` for a whole record). `lat_deg` (deg) and `doy` (day of year
    of the daily step, 1..366) broadcast to `batch`. Returns arrays shaped `batch`:
    `P` (mm d-1, mean rate x 86400), `T` (degC, mean of the hourly K values - 273.15), `PET` (mm d-1, by the
    derivation's method from the daily values), and the daily variables `prcp`, `tmean`, `tmin`, `tmax`
    (hourly extremes) plus, when their inputs are present, `vp` (Pa, mean of hourly e(q, p)), `pres` (Pa),
    `srad`, `lrad` (W m-2, 24-h means), `wind` (m s-1, mean hourly speed) and `pet` (mm d-1, mean hourly
    PET rate x 24). Missing required fields raise
    InputError naming them; NaN in any hour propagates to the day; an hourly temperature outside the BMI
    input's range (`dmg_bmi.core.variables`, 180..340 K) raises InputError naming it, its value and hour (the
    BMI checks every input when it is set; this guards every other caller).
    """
    spec = as_derivation(spec)
    missing = [k for k in _AORC_NEEDED[spec.pet_method] if hourly.get(k) is None]
    if missing:
        raise InputError(f"AORC forcing {missing} needed for pet_method {spec.pet_method!r} is missing")
    present = [k for k in hourly if hourly[k] is not None]
    xp, arrays = _prep(*[hourly[k] for k in present])
    h = dict(zip(present, arrays, strict=True))
    for name, a in h.items():
        if a.ndim == 0 or a.shape[0] != 24:
            raise InputError(f"AORC forcing {name!r}: expected 24 hourly values on axis 0, got shape "
                             f"{tuple(a.shape)}")

    def mean(a):
        return float(a.sum()) / 24.0 if a.ndim == 1 and xp is np else a.sum(0) * (1.0 / 24.0)

    t_k = h[AORC_TEMP]
    t_lo, t_hi = (t_k.amin(dim=0), t_k.amax(dim=0)) if xp is torch else (t_k.min(0), t_k.max(0))
    _check_temperature_k(t_k, t_lo, t_hi)
    daily = {
        "prcp": precip_rate_to_mm_per_day(mean(h[AORC_PRECIP])),
        "tmean": kelvin_to_celsius(mean(t_k)),
        "tmin": kelvin_to_celsius(t_lo),
        "tmax": kelvin_to_celsius(t_hi),
    }
    if h.get(AORC_PRES) is not None:
        daily["pres"] = mean(h[AORC_PRES])
        if h.get(AORC_SPFH) is not None:
            daily["vp"] = mean(vapour_pressure_from_specific_humidity(h[AORC_SPFH], h[AORC_PRES]))
    for key, name in ((AORC_SWDOWN, "srad"), (AORC_LWDOWN, "lrad")):
        if h.get(key) is not None:
            daily[name] = mean(h[key])
    if h.get(AORC_U) is not None and h.get(AORC_V) is not None:
        daily["wind"] = mean(wind_speed(h[AORC_U], h[AORC_V]))
    if h.get(AORC_PET) is not None:
        daily["pet"] = mean(h[AORC_PET]) * 24.0  # mean hourly rate (mm h-1) -> mm d-1
    return {**spec.model_inputs(daily, lat_deg, doy), **daily}


def _check_temperature_k(t_k, t_lo, t_hi) -> None:
    """Raise InputError naming the AORC temperature, its value and hour when an hourly value of `t_k`
    `[24, ...]` (extremes `t_lo`, `t_hi` over the hours) is outside the BMI input's range; NaN passes."""
    lo, hi = BY_NAME[AORC_TEMP].valid_range
    if (t_lo < lo or t_hi > hi) if t_k.ndim == 1 else bool(((t_lo < lo) | (t_hi > hi)).any()):
        t = np.asarray(t_k.cpu() if isinstance(t_k, torch.Tensor) else t_k, dtype=np.float64)
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax((t < lo) | (t > hi))), t.shape))
        where = f"hour {index[0]} of the 24-h window" + (f", element {index[1:]}" if len(index) > 1 else "")
        raise InputError(f"{AORC_TEMP} = {t[index]:.6g} K ({where}) is outside the allowed range "
                         f"[{lo:g}, {hi:g}] K")


def aorc_hourly_series_to_daily(hourly: Mapping[str, Any], lat_deg, doy,
                                spec: InputDerivation | Mapping[str, Any] | str = "hamon") -> dict[str, Any]:
    """Vectorised `aorc_hourly_to_daily` over a record: `hourly[name]` is `[days*24, basins]` (or `[days*24]`)
    starting at hour 0 of the first day; `doy` is `[days]` (or `[days, basins]`), `lat_deg` `[basins]`.
    Returns `[days, basins]` arrays (or `[days]`).
    """
    out = {}
    for name, a in hourly.items():
        xp, (arr,) = _prep(a)
        if arr.shape[0] % 24:
            raise InputError(f"AORC forcing {name!r}: {arr.shape[0]} hours is not a whole number of days")
        days = arr.shape[0] // 24
        arr = arr.reshape(days, 24, *arr.shape[1:])
        out[name] = arr.swapaxes(0, 1) if xp is np else arr.transpose(0, 1)
    xp, (d,) = _prep(doy)
    some = next(iter(out.values()), None)
    if some is not None and some.ndim == 3 and d.ndim == 1:
        d = d[:, None]
    return aorc_hourly_to_daily(out, lat_deg, d, spec)
