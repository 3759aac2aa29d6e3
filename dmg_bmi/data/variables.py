"""The dataset variables table: name, units, the values the Earth (or PCSE) allows, and why.

The `DataVariable` record, the site location every dataset shares (`SITE_VARIABLES`), and the checks every
reader applies; each domain contributes its own entries (`Domain.dataset_variables`, with their sources:
`dmg_bmi.domains.hydrology.variables`, `dmg_bmi.domains.crop.variables`), a plugin domain too, and
`dataset_variables()` merges them through the domain registry. Every reader and builder takes expected
units and valid ranges from that table only: the hydrology dataset (`dmg_bmi.data.dataset`, CAMELS, the
twin), the crop dataset and WOFOST weather (`dmg_bmi.domains.crop.dataset`, `dmg_bmi.domains.crop.pcse`,
`dmg_bmi.domains.crop.weather`), and docs/dataset_format.md, which a test keeps equal to it. A variable
whose file units differ from the table's is converted to them when UDUNITS can (`dmg_bmi.units`; water
fluxes may be given as mass, 1 kg m-2 = 1 mm) and refused otherwise; a value outside `valid_range` (NaN is
"missing", not out of range) raises InputError naming the variable, the value, where it is, and the range.
Names not in the table are kept as they come, unchecked, except static attributes: `check_attribute`
refuses an infinite value or |value| > 1e12 (a fill value) for any name.

Ranges are wide enough for every record and narrow enough to catch a units slip or a fill value. Sources
here (each domain's in its module):
- Geography: latitude -90..90, longitude -180..360 (CF allows 0..360).
- Humidity: vapour pressure at most (1 + `DAILY_SATURATION_TOLERANCE`) x the saturated vapour pressure
  over water at the day's maximum temperature (Goudriaan 1977, as PCSE's Penman). A daily mean vapour
  pressure cannot exceed saturation at the day's warmest hour; the 25 % allows for daily means against a
  temperature that is itself a daily mean (CAMELS NLDAS/Maurer files have tmax == tmin: up to 16 % above on
  the developer set's basins; PCSE's cases reach 2.6 %). A units slip (hPa as Pa, kPa as hPa) is far above.
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


SITE_VARIABLES: tuple[DataVariable, ...] = (  # every dataset's site location
    DataVariable("lat", "degrees_north", (-90.0, 90.0), "latitude"),
    DataVariable("lon", "degrees_east", (-180.0, 360.0), "longitude"),
)


_SITE_BY_NAME = {v.name: v for v in SITE_VARIABLES}  # the core's part of the merged table


def dataset_variables() -> Mapping[str, DataVariable]:
    """{name: DataVariable} (read-only): `SITE_VARIABLES` and every registered domain's `dataset_variables`
    (ConfigError naming both domains where two define one name differently)."""
    from dmg_bmi import domains

    return domains.merged("dataset_variables", _SITE_BY_NAME)


def units_table(variables) -> dict[str, str]:
    """{name: units} of `SITE_VARIABLES` and `variables` (a domain's `DataVariable`s), for its readers."""
    return {v.name: v.units for v in (*SITE_VARIABLES, *variables)}


def first_bad(bad: np.ndarray) -> tuple[tuple[int, ...], int]:
    """(the index of the first True of `bad`, in C order; how many are True), for an error naming both."""
    return np.unravel_index(int(np.argmax(bad)), bad.shape), int(bad.sum())


def units_of(name: str, default: str) -> str:
    """The table's units of `name`, or `default` for a name the table does not know."""
    var = dataset_variables().get(name)
    return var.units if var else default


def conform(name: str, values, units: str, where: str) -> tuple[np.ndarray, str]:
    """`(values, units)` in the table's units for `name` (converted when they differ; unknown names as
    given). Units that do not convert raise InputError naming `where` (e.g. the file), the variable, the
    units found and the units expected."""
    var = dataset_variables().get(name)
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
    var = dataset_variables().get(name)
    if var is None:
        return
    lo, hi = var.valid_range
    a = np.asarray(values, dtype=np.float64)
    bad = (a < lo) | (a > hi)
    if bad.any():
        index, count = first_bad(bad)
        more = f" ({count} values out of range)" if count > 1 else ""
        raise InputError(f"{where}: {name} = {a[index]:.6g} {var.units} {locate(index)} is outside the "
                         f"allowed range [{lo:g}, {hi:g}] {var.units}{more}")


ATTRIBUTE_LIMIT = 1e12  # |value| of any static attribute, in its units: beyond it is a corrupt number


def check_attribute(name: str, values, where: str, locate: Callable[[tuple[int, ...]], str]) -> None:
    """Raise InputError if a static attribute `name` (in the table's units) is impossible: outside its valid
    range for a name the table knows (`check_range`), else infinite or |value| > `ATTRIBUTE_LIMIT` (a fill
    value or corrupt number). NaN is missing, as everywhere; `locate(index)` describes where (the basin)."""
    if name in dataset_variables():
        check_range(name, values, where, locate)
        return
    a = np.asarray(values, dtype=np.float64)
    bad = np.isinf(a) | (np.abs(a) > ATTRIBUTE_LIMIT)
    if bad.any():
        index, count = first_bad(bad)
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
        index, count = first_bad(bad)
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
    u = dataset_variables()[vp].units
    pa = _PA_PER[u]
    e = np.asarray(arrays[vp], dtype=np.float64)
    temp = np.asarray(arrays[t], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        limit = (1.0 + tolerance) * saturation_vp_pa(temp) / pa
    bad = e > limit
    if bad.any():
        index, count = first_bad(bad)
        more = f"; {count} such values" if count > 1 else ""
        rh = 100.0 * e[index] * pa / saturation_vp_pa(temp[index])
        raise InputError(f"{where}: {vp} = {e[index]:.6g} {u} {locate(index)} is above saturation at {t} = "
                         f"{temp[index]:.6g} degC (relative humidity {rh:.0f} %; at most "
                         f"{100 * (1 + tolerance):.0f} % is allowed{more})")


def __getattr__(name: str):
    """`DATASET_VARIABLES`, the 0.1 name of the merged table (`dataset_variables()`; see dmg_bmi.moved)."""
    if name == "DATASET_VARIABLES":
        return dataset_variables()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
