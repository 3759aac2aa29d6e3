"""The one table of dataset variables: name, units, the values the Earth (or PCSE) allows, and why.

Every reader and builder takes expected units and valid ranges from `DATASET_VARIABLES` only: the hydrology
dataset (`dmg_bmi.data.dataset`, CAMELS, the twin), the crop dataset and WOFOST weather
(`dmg_bmi.domains.crop.dataset`, `dmg_bmi.domains.crop.pcse`, `dmg_bmi.domains.crop.weather`), and
docs/dataset_format.md, which a test keeps equal to it. A variable whose file units differ from the table's is
converted to them when UDUNITS can (`dmg_bmi.units`; water fluxes may be given as mass, 1 kg m-2 = 1 mm) and
refused otherwise; a value outside `valid_range` (NaN is "missing", not out of range) raises InputError naming
the variable, the value, where it is, and the range. Names not in the table are kept as they come, unchecked,
except static attributes: `check_attribute` refuses an infinite value or |value| > 1e12 (a fill value) for any
name.

Ranges are wide enough for every record and narrow enough to catch a units slip or a fill value. Sources:
- Weather records: WMO Archive of Weather and Climate Extremes (https://wmo.asu.edu): 24-h rainfall
  1825 mm (Foc-Foc, La Reunion, 1966); temperature -89.2 degC (Vostok, 1983) and 56.7 degC (Death Valley,
  1913); wettest year 26 461 mm (Cherrapunji, 1860-61, 72 mm d-1).
- Temperature, pressure, longwave, wind and PET follow the BMI inputs' ranges (`dmg_bmi.variables`):
  180..340 K (= -93.15..66.85 degC), 30..110 kPa, 0..700 W m-2, 110 m s-1, 5 mm h-1 (120 mm d-1).
- Shortwave, 24-h mean: at most the top-of-atmosphere daily mean, which peaks at about 560 W m-2 at a pole
  near its summer solstice.
- Vapour pressure: PCSE's VAP limit 199.3 hPa (saturation at 60 degC).
- Streamflow: world envelope of observed floods (Herschy 2003, "World catalogue of maximum observed
  floods", IAHS 284): below about 30 m3 s-1 km-2 (2600 mm d-1) outside tiny basins.
- Geography: latitude -90..90, longitude -180..360 (CF allows 0..360); elevation from the Dead Sea shore
  (-430 m) to Everest (8849 m); areas up to the Amazon basin's ~7e6 km2.
- CAMELS attributes (Addor et al. 2017, HESS 21, 5293): by definition (fractions 0..1, percentages 0..100,
  days per year 0..366, day of water year 0..366); soil depth at most 50 m (Pelletier et al. 2016 cap);
  rooting depth at most 70 m (Canadell et al. 1996, deepest root 68 m); hydraulic conductivity at most
  1 m s-1 (clean gravel, Freeze & Cherry 1979); log10 permeability -25..-5 m2 (Gleeson et al. 2011 span
  -20..-10); leaf area index at most 20 (Asner et al. 2003); mean flow at most the wettest year's rain.
- WOFOST weather: PCSE's own limits, `pcse.base.weather.WeatherDataContainer.ranges` (PCSE 6.0): IRRAD
  0..40e6 J m-2 d-1, TMIN/TMAX/TEMP -50..60 degC, VAP 0.06..199.3 hPa, RAIN 0..25 cm d-1, E0/ES0/ET0
  0..2.5 cm d-1, WIND 0..100 m s-1, ELEV -300..6000 m. PCSE refuses weather outside them, so the model
  that reproduces it does too (a -60 degC day is refused as WOFOST weather, accepted as HBV forcing).
- Humidity: vapour pressure at most (1 + `DAILY_SATURATION_TOLERANCE`) x the saturated vapour pressure
  over water at the day's maximum temperature (Goudriaan 1977, as PCSE's Penman). A daily mean vapour
  pressure cannot exceed saturation at the day's warmest hour; the 25 % allows for daily means against a
  temperature that is itself a daily mean (CAMELS NLDAS/Maurer files have tmax == tmin: up to 16 % above on
  the developer set's basins; PCSE's cases reach 2.6 %). A units slip (hPa as Pa, kPa as hPa) is far above.
- Crop observations: DVS -0.1 (sowing) .. DVSEND (2.0 in PCSE's crops), with room for noisy estimates;
  biomass at most 100 t ha-1 (above any recorded annual dry-matter yield); rooting depth at most 10 m;
  transpiration at most ET0's 2.5 cm d-1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from dmg_bmi.errors import InputError


@dataclass(frozen=True)
class DataVariable:
    """One dataset variable: `name`, expected `units` (UDUNITS), `valid_range` in them, meaning.

    `water`: a depth or depth rate of liquid water, which a file may also give as a mass (kg m-2 = mm)."""

    name: str
    units: str
    valid_range: tuple[float, float]
    description: str
    water: bool = False


_T_RANGE = (-93.15, 66.85)  # the BMI's 180..340 K in degC (tests check it against dmg_bmi.variables)
_FLOW_RANGE = (0.0, 3000.0)
_V = DataVariable
_VARIABLES: tuple[DataVariable, ...] = (
    # --- hydrology forcings (daily) ---
    _V("P", "mm d-1", (0.0, 2000.0), "physics precipitation input (= prcp)", True),
    _V("T", "degC", _T_RANGE, "physics temperature input (= tmean)"),
    _V("PET", "mm d-1", (0.0, 120.0), "physics potential ET, derived by `input_derivation`", True),
    _V("prcp", "mm d-1", (0.0, 2000.0), "precipitation", True),
    _V("tmean", "degC", _T_RANGE, "daily mean air temperature"),
    _V("tmin", "degC", _T_RANGE, "daily minimum air temperature"),
    _V("tmax", "degC", _T_RANGE, "daily maximum air temperature"),
    _V("srad", "W m-2", (0.0, 600.0), "incoming shortwave radiation, mean over 24 h"),
    _V("lrad", "W m-2", (0.0, 700.0), "incoming longwave radiation, mean over 24 h"),
    _V("vp", "Pa", (0.0, 19930.0), "actual vapour pressure"),
    _V("pres", "Pa", (30000.0, 110000.0), "surface air pressure"),
    _V("wind", "m s-1", (0.0, 110.0), "wind speed at 10 m"),
    _V("dayl", "s", (0.0, 86400.0), "day length"),
    _V("swe", "mm", (0.0, 20000.0), "snow water equivalent (CAMELS forcing column)", True),
    _V("pet", "mm d-1", (0.0, 120.0), "potential ET given as forcing ('forcing' PET)", True),
    # --- hydrology targets ---
    _V("streamflow", "mm d-1", _FLOW_RANGE, "observed streamflow", True),
    _V("streamflow_true", "mm d-1", _FLOW_RANGE, "the twin's noise-free streamflow", True),
    # --- attributes: always present, and the twin's ---
    _V("lat", "degrees_north", (-90.0, 90.0), "latitude"),
    _V("lon", "degrees_east", (-180.0, 360.0), "longitude"),
    _V("area_km2", "km2", (1e-4, 1e7), "catchment area"),
    _V("elevation_m", "m", (-500.0, 9000.0), "mean elevation"),
    _V("p_mean", "mm d-1", (0.0, 100.0), "mean daily precipitation", True),
    _V("pet_mean", "mm d-1", (0.0, 30.0), "mean daily potential ET", True),
    _V("t_mean", "degC", _T_RANGE, "mean air temperature"),
    _V("aridity", "1", (0.0, 1000.0), "pet_mean / p_mean"),
    _V("p_seasonality", "1", (-3.0, 3.0), "precipitation seasonality (Addor et al. 2017)"),
    _V("frac_snow", "1", (0.0, 1.0), "fraction of precipitation falling below 0 degC"),
    _V("slope", "m km-1", (0.0, 2000.0), "mean slope"),
    _V("soil_depth", "m", (0.0, 50.0), "soil depth"),
    _V("forest_frac", "1", (0.0, 1.0), "forest fraction"),
    # --- CAMELS v2.0 attributes (Addor et al. 2017, tables 1-5) ---
    _V("gauge_lat", "degrees_north", (-90.0, 90.0), "gauge latitude"),
    _V("gauge_lon", "degrees_east", (-180.0, 360.0), "gauge longitude"),
    _V("elev_mean", "m", (-500.0, 9000.0), "catchment mean elevation"),
    _V("slope_mean", "m km-1", (0.0, 2000.0), "catchment mean slope"),
    _V("area_gages2", "km2", (1e-4, 1e7), "catchment area (GAGES-II)"),
    _V("area_geospa_fabric", "km2", (1e-4, 1e7), "catchment area (geospatial fabric)"),
    _V("high_prec_freq", "d yr-1", (0.0, 366.0), "frequency of high-precipitation days"),
    _V("high_prec_dur", "d", (0.0, 36525.0), "mean duration of high-precipitation events"),
    _V("low_prec_freq", "d yr-1", (0.0, 366.0), "frequency of dry days"),
    _V("low_prec_dur", "d", (0.0, 36525.0), "mean duration of dry periods"),
    _V("q_mean", "mm d-1", (0.0, 100.0), "mean daily discharge", True),
    _V("runoff_ratio", "1", (0.0, 10.0), "q_mean / p_mean"),
    _V("slope_fdc", "1", (0.0, 100.0), "slope of the flow duration curve"),
    _V("baseflow_index", "1", (0.0, 1.0), "baseflow / total flow"),
    _V("stream_elas", "1", (-100.0, 100.0), "streamflow precipitation elasticity"),
    _V("q5", "mm d-1", _FLOW_RANGE, "5 % flow quantile (low flow)", True),
    _V("q95", "mm d-1", _FLOW_RANGE, "95 % flow quantile (high flow)", True),
    _V("high_q_freq", "d yr-1", (0.0, 366.0), "frequency of high-flow days"),
    _V("high_q_dur", "d", (0.0, 36525.0), "mean duration of high-flow events"),
    _V("low_q_freq", "d yr-1", (0.0, 366.0), "frequency of low-flow days"),
    _V("low_q_dur", "d", (0.0, 36525.0), "mean duration of low-flow events"),
    _V("zero_q_freq", "percent", (0.0, 100.0), "frequency of days with zero flow"),
    _V("hfd_mean", "d", (0.0, 366.0), "mean half-flow date (day of the water year)"),
    _V("soil_depth_pelletier", "m", (0.0, 50.0), "depth to bedrock (Pelletier)"),
    _V("soil_depth_statsgo", "m", (0.0, 50.0), "soil depth (STATSGO)"),
    _V("soil_porosity", "1", (0.0, 1.0), "volumetric porosity"),
    _V("soil_conductivity", "cm h-1", (0.0, 360000.0), "saturated hydraulic conductivity"),
    _V("max_water_content", "m", (0.0, 50.0), "maximum water content"),
    _V("sand_frac", "percent", (0.0, 100.0), "sand fraction"),
    _V("silt_frac", "percent", (0.0, 100.0), "silt fraction"),
    _V("clay_frac", "percent", (0.0, 100.0), "clay fraction"),
    _V("water_frac", "percent", (0.0, 100.0), "fraction of the top 1.5 m that is water"),
    _V("organic_frac", "percent", (0.0, 100.0), "organic fraction"),
    _V("other_frac", "percent", (0.0, 100.0), "fraction of other material"),
    _V("frac_forest", "1", (0.0, 1.0), "forest fraction"),
    _V("lai_max", "m2 m-2", (0.0, 20.0), "maximum monthly leaf area index"),
    _V("lai_diff", "m2 m-2", (0.0, 20.0), "difference of maximum and minimum monthly LAI"),
    _V("gvf_max", "1", (0.0, 1.0), "maximum monthly green vegetation fraction"),
    _V("gvf_diff", "1", (0.0, 1.0), "difference of maximum and minimum monthly GVF"),
    _V("dom_land_cover_frac", "1", (0.0, 1.0), "fraction of the dominant land cover"),
    _V("root_depth_50", "m", (0.0, 70.0), "depth above which 50 % of roots are"),
    _V("root_depth_99", "m", (0.0, 70.0), "depth above which 99 % of roots are"),
    _V("glim_1st_class_frac", "1", (0.0, 1.0), "fraction of the dominant geologic class"),
    _V("glim_2nd_class_frac", "1", (0.0, 1.0), "fraction of the second geologic class"),
    _V("carbonate_rocks_frac", "1", (0.0, 1.0), "fraction of carbonate sedimentary rocks"),
    _V("geol_porostiy", "1", (0.0, 1.0), "subsurface porosity (CAMELS' spelling)"),
    _V("geol_permeability", "log10(m2)", (-25.0, -5.0), "subsurface permeability"),
    # --- WOFOST weather (PCSE units) and the crop sites' elevation ---
    _V("IRRAD", "J m-2 d-1", (0.0, 40e6), "daily global radiation"),
    _V("TMIN", "degC", (-50.0, 60.0), "daily minimum temperature"),
    _V("TMAX", "degC", (-50.0, 60.0), "daily maximum temperature"),
    _V("TEMP", "degC", (-50.0, 60.0), "daily mean temperature (optional)"),
    _V("VAP", "hPa", (0.06, 199.3), "mean daily vapour pressure"),
    _V("WIND", "m s-1", (0.0, 100.0), "mean daily wind speed at 2 m"),
    _V("RAIN", "cm d-1", (0.0, 25.0), "daily rainfall", True),
    _V("E0", "cm d-1", (0.0, 2.5), "Penman open-water evaporation", True),
    _V("ES0", "cm d-1", (0.0, 2.5), "Penman bare-soil evaporation", True),
    _V("ET0", "cm d-1", (0.0, 2.5), "Penman reference-crop evapotranspiration", True),
    _V("elev", "m", (-300.0, 6000.0), "crop site elevation (PCSE's ELEV)"),
    # --- crop observations (WOFOST outputs) ---
    _V("DVS", "1", (-0.5, 3.0), "development stage"),
    _V("LAI", "m2 m-2", (0.0, 20.0), "leaf area index"),
    _V("TAGP", "kg ha-1", (0.0, 1e5), "total above-ground production"),
    _V("TWSO", "kg ha-1", (0.0, 1e5), "storage-organ dry weight"),
    _V("TWLV", "kg ha-1", (0.0, 1e5), "leaf dry weight"),
    _V("TWST", "kg ha-1", (0.0, 1e5), "stem dry weight"),
    _V("TWRT", "kg ha-1", (0.0, 1e5), "root dry weight"),
    _V("RD", "cm", (0.0, 1000.0), "rooting depth"),
    _V("TRA", "cm d-1", (0.0, 2.5), "crop transpiration", True),
)
DATASET_VARIABLES: dict[str, DataVariable] = {v.name: v for v in _VARIABLES}


def units_of(name: str, default: str) -> str:
    """The table's units of `name`, or `default` for a name the table does not know."""
    var = DATASET_VARIABLES.get(name)
    return var.units if var else default


def conform(name: str, values, units: str, where: str) -> tuple[np.ndarray, str]:
    """`(values, units)` in the table's units for `name` (converted when they differ; unknown names as
    given). Units that do not convert raise InputError naming `where` (e.g. the file), the variable, the
    units found and the units expected."""
    var = DATASET_VARIABLES.get(name)
    if var is None or units == var.units:
        return np.asarray(values, dtype=np.float64), units
    # cf-units is imported only where units differ: the ranges alone (forcing.py, the BMI) need none
    from dmg_bmi import units as un

    if not un.convertible(units, var.units, water=var.water):
        raise InputError(f"{where}: variable {name!r} has units {units!r}, expected {var.units!r} (or units "
                         "UDUNITS-2 converts to them)")
    return un.convert(values, units, var.units, name, water=var.water), var.units


def check_range(name: str, values, where: str, locate: Callable[[tuple[int, ...]], str]) -> None:
    """Raise InputError if a value of `name` (in the table's units) lies outside its valid range.

    NaN is missing, not out of range; infinities are out of range. `locate(index)` describes where the
    first offending element is (e.g. "at basin '01013500' on 2001-03-04"); names not in the table pass."""
    var = DATASET_VARIABLES.get(name)
    if var is None:
        return
    lo, hi = var.valid_range
    a = np.asarray(values, dtype=np.float64)
    bad = (a < lo) | (a > hi)
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), a.shape)
        count = int(bad.sum())
        more = f" ({count} values out of range)" if count > 1 else ""
        raise InputError(f"{where}: {name} = {a[index]:.6g} {var.units} {locate(index)} is outside the "
                         f"allowed range [{lo:g}, {hi:g}] {var.units}{more}")


ATTRIBUTE_LIMIT = 1e12  # |value| of any static attribute, in its units: beyond it is a corrupt number


def check_attribute(name: str, values, where: str, locate: Callable[[tuple[int, ...]], str]) -> None:
    """Raise InputError if a static attribute `name` (in the table's units) is impossible: outside its valid
    range for a name the table knows (`check_range`), else infinite or |value| > `ATTRIBUTE_LIMIT` (a fill
    value or corrupt number). NaN is missing, as everywhere; `locate(index)` describes where (the basin)."""
    if name in DATASET_VARIABLES:
        check_range(name, values, where, locate)
        return
    a = np.asarray(values, dtype=np.float64)
    bad = np.isinf(a) | (np.abs(a) > ATTRIBUTE_LIMIT)
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), a.shape)
        count = int(bad.sum())
        more = f" ({count} such values)" if count > 1 else ""
        raise InputError(f"{where}: attribute {name} = {a[index]:.6g} {locate(index)} is not a plausible "
                         f"attribute value (not finite or |value| > {ATTRIBUTE_LIMIT:g}; {name} is not in "
                         f"the dataset variables table, so only this generic check applies){more}")


def check_order(low: str, high: str, arrays: Mapping[str, np.ndarray], where: str,
                locate: Callable[[tuple[int, ...]], str]) -> None:
    """Raise InputError where `arrays[low]` exceeds `arrays[high]` (e.g. tmin above tmax); either absent
    passes, NaN passes."""
    if low not in arrays or high not in arrays:
        return
    lo, hi = np.asarray(arrays[low], dtype=np.float64), np.asarray(arrays[high], dtype=np.float64)
    bad = lo > hi
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), bad.shape)
        count = int(bad.sum())
        more = f"; {count} such values" if count > 1 else ""
        u = units_of(low, "")
        raise InputError(f"{where}: {low} = {lo[index]:.6g} {u} is above {high} = {hi[index]:.6g} {u} "
                         f"{locate(index)} ({low} must not exceed {high}{more})")


DAILY_SATURATION_TOLERANCE = 0.25  # fraction above saturation at tmax a daily vapour pressure may reach
_PA_PER = {"Pa": 1.0, "hPa": 100.0}  # the table's vapour-pressure units in Pa


def saturation_vp_pa(t_c):
    """Saturated vapour pressure over water (Pa) at `t_c` (degC): Goudriaan (1977), PCSE's Penman SVAP."""
    t = np.asarray(t_c, dtype=np.float64)
    return 610.588 * np.exp(17.32491 * t / (t + 238.102))


def check_saturation(vp: str, t: str, arrays: Mapping[str, np.ndarray], where: str,
                     locate: Callable[[tuple[int, ...]], str],
                     tolerance: float = DAILY_SATURATION_TOLERANCE) -> None:
    """Raise InputError where vapour pressure `arrays[vp]` (table units) exceeds (1 + `tolerance`) x
    saturation at temperature `arrays[t]` (degC), naming `where`, both values, `locate(index)` (the day) and
    the relative humidity; either absent passes, NaN passes."""
    if vp not in arrays or t not in arrays:
        return
    pa = _PA_PER[DATASET_VARIABLES[vp].units]
    e = np.asarray(arrays[vp], dtype=np.float64)
    temp = np.asarray(arrays[t], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        limit = (1.0 + tolerance) * saturation_vp_pa(temp) / pa
    bad = e > limit
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), bad.shape)
        count = int(bad.sum())
        more = f"; {count} such values" if count > 1 else ""
        rh = 100.0 * e[index] * pa / saturation_vp_pa(temp[index])
        u = DATASET_VARIABLES[vp].units
        raise InputError(f"{where}: {vp} = {e[index]:.6g} {u} {locate(index)} is above saturation at {t} = "
                         f"{temp[index]:.6g} degC (relative humidity {rh:.0f} %; at most "
                         f"{100 * (1 + tolerance):.0f} % is allowed{more})")
