"""Units: parse, compare and convert UDUNITS-2 strings with cf-units, never with a hand-written table.

cf-units wraps UDUNITS-2, the library ngen converts forcing columns with and bmi-tester's `gimli.units`
wraps, so a units string means here what it means to them ("mm d-1", "degC", "J m-2 d-1", "kg kg-1", ...).

- `parse(units)` -> a `cf_units.Unit`; strings UDUNITS cannot read, "unknown" and "no_unit" raise InputError.
- `convertible(a, b)` -> whether values in `a` can be expressed in `b`.
- `same(a, b)` -> whether `a` and `b` are one unit spelled two ways ("mm/d", "mm d-1").
- `convert(values, a, b, variable)` -> float64 values in `b`; not convertible raises InputError naming the
  variable and both units.

Two rules on top of UDUNITS:
- UDUNITS reads angles as pure numbers (1 radian = 1), so "degrees_north" would convert to "1" (45 ->
  0.785). A conversion between an angle and a plain number is refused instead.
- `water=True` lets a mass of liquid water per area stand for a depth (1 kg m-2 = 1 mm, density
  1000 kg m-3), so a CF `precipitation_flux` in "kg m-2 s-1" converts to "mm d-1".
"""

from __future__ import annotations

from functools import lru_cache

import cf_units
import numpy as np

from dmg_bmi.errors import InputError

_WATER_DENSITY = "1000 kg m-3"


@lru_cache(maxsize=512)
def _unit(units: str) -> cf_units.Unit | None:
    """The parsed unit, or None where UDUNITS cannot read it or it names no unit."""
    try:
        unit = cf_units.Unit(units)
    except ValueError:
        return None
    return None if unit.is_unknown() or unit.is_no_unit() or unit.is_time_reference() else unit


def parse(units: str, variable: str = "value") -> cf_units.Unit:
    """`units` as a UDUNITS-2 unit; unreadable or empty units raise InputError naming `variable`."""
    unit = _unit(str(units))
    if unit is None:
        raise InputError(f"{variable}: units {units!r} are not UDUNITS-2 units (e.g. 'mm d-1', 'degC', "
                         "'W m-2')")
    return unit


def _is_angle(unit: cf_units.Unit) -> bool:
    return "rad" in unit.definition


def _target(a: cf_units.Unit, b: cf_units.Unit, water: bool) -> cf_units.Unit | None:
    """The unit to convert `a`'s values from so that they come out in `b`: `a` itself, `a` as a depth of
    liquid water (with `water`), or None where no conversion exists."""
    if a.is_convertible(b):
        if a.is_dimensionless() and _is_angle(a) != _is_angle(b):
            return None
        return a
    if water:
        depth = a / parse(_WATER_DENSITY)
        if depth.is_convertible(b):
            return depth
    return None


def convertible(from_units: str, to_units: str, water: bool = False) -> bool:
    """Whether values in `from_units` can be expressed in `to_units` (see the module docstring)."""
    a, b = _unit(str(from_units)), _unit(str(to_units))
    return a is not None and b is not None and _target(a, b, water) is not None


def same(a: str, b: str) -> bool:
    """Whether units `a` and `b` are equal strings, or UDUNITS-2 units that are the same unit spelled two
    ways (`mm/d` and `mm d-1`: values need no conversion)."""
    if a == b:
        return True
    ua, ub = _unit(str(a)), _unit(str(b))
    return ua is not None and ub is not None and ua == ub


def convert(values, from_units: str, to_units: str, variable: str = "value",
            water: bool = False) -> np.ndarray:
    """`values` (any array-like) in `from_units` as float64 in `to_units`; NaN stays NaN.

    Identical strings return the values unchanged (as float64). Units that UDUNITS cannot read, or that do
    not convert, raise InputError naming `variable`, `from_units` and `to_units`.
    """
    x = np.asarray(values, dtype=np.float64)
    if from_units == to_units:
        return x
    a, b = parse(from_units, variable), parse(to_units, variable)
    source = _target(a, b, water)
    if source is None:
        raise InputError(f"{variable}: units {from_units!r} cannot be converted to {to_units!r}")
    return np.asarray(source.convert(x, b), dtype=np.float64)
