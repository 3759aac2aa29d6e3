"""dmg_bmi.units: UDUNITS-2 strings (through cf-units) parsed, compared and converted, or refused by name."""

import re

import numpy as np
import pytest

from dmg_bmi import units
from dmg_bmi.errors import InputError


@pytest.mark.parametrize(("values", "a", "b", "expected"), [
    ([0.001, 0.0025], "m d-1", "mm d-1", [1.0, 2.5]),
    ([0.5, 2.0], "mm h-1", "mm d-1", [12.0, 48.0]),
    ([273.15, 300.0, 213.15], "K", "degC", [0.0, 26.85, -60.0]),
    ([1.0], "MJ m-2 d-1", "J m-2 d-1", [1e6]),
    ([100.0], "W m-2", "J m-2 d-1", [8.64e6]),
    ([1013.0], "hPa", "Pa", [101300.0]),
    ([35.0], "percent", "1", [0.35]),
    ([2.5], "cm d-1", "mm d-1", [25.0]),
])
def test_convert_known_pairs(values, a, b, expected):
    np.testing.assert_allclose(units.convert(values, a, b, "x"), expected, rtol=1e-12, atol=1e-12)
    assert units.convertible(a, b)


def test_convert_keeps_nan_and_returns_float64():
    out = units.convert(np.array([np.nan, 273.15], dtype=np.float32), "K", "degC", "T")
    assert out.dtype == np.float64 and np.isnan(out[0]) and abs(out[1]) < 1e-4
    same = units.convert([1.0, 2.0], "mm d-1", "mm d-1", "P")
    np.testing.assert_array_equal(same, [1.0, 2.0])


def test_not_convertible_names_the_variable_and_both_units():
    assert not units.convertible("W m-2", "degC")
    with pytest.raises(InputError, match=r"T: units 'W m-2' cannot be converted to 'degC'"):
        units.convert([1.0], "W m-2", "degC", "T")


def test_angles_do_not_convert_to_plain_numbers():
    # UDUNITS reads a radian as 1, so "1" -> "degrees_north" would multiply by 57.3; refused instead
    assert units.convertible("degrees", "degrees_north")
    assert not units.convertible("1", "degrees_north")
    assert not units.convertible("degrees_north", "percent")
    with pytest.raises(InputError, match=r"lat: units '1' cannot be converted to 'degrees_north'"):
        units.convert([45.0], "1", "degrees_north", "lat")


def test_water_mass_flux_converts_only_when_asked():
    assert not units.convertible("kg m-2 s-1", "mm d-1")
    assert units.convertible("kg m-2 s-1", "mm d-1", water=True)
    np.testing.assert_allclose(units.convert([1.0 / 86400.0], "kg m-2 s-1", "mm d-1", "P", water=True), [1.0])
    np.testing.assert_allclose(units.convert([3.0], "kg m-2", "mm", "swe", water=True), [3.0])
    with pytest.raises(InputError, match="'kg m-2 s-1' cannot be converted"):
        units.convert([1.0], "kg m-2 s-1", "mm d-1", "P")


@pytest.mark.parametrize("bad", ["", "unknown", "-", "log10(m2)", "bananas"])
def test_unreadable_units_are_refused(bad):
    assert not units.convertible(bad, "m")
    with pytest.raises(InputError, match=re.escape(f"P: units {bad!r} are not UDUNITS-2 units")):
        units.parse(bad, "P")
    with pytest.raises(InputError, match="are not UDUNITS-2 units"):
        units.convert([1.0], bad, "mm d-1", "P")


def test_parse_understands_the_packages_units():
    for text in ("mm d-1", "degC", "J m-2 d-1", "kg kg-1", "m3 s-1", "kg ha-1", "degrees_north", "m2 m-2"):
        assert str(units.parse(text)) == text
