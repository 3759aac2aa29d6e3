"""Bad WOFOST inputs get errors that name the parameter, weather variable, field, DVS or dates at fault."""

from __future__ import annotations

import copy

import pytest

from dmg_bmi.domains.crop.pcse import FieldInput, build_batch
from dmg_bmi.domains.crop.pcse.pcse_yaml import Series
from dmg_bmi.domains.crop.pcse.tables import parse_afgen
from dmg_bmi.domains.crop.wofost72 import Calendar, run
from dmg_bmi.errors import InputError


@pytest.fixture(scope="module")
def cases(pp_cases):
    return pp_cases


@pytest.fixture
def harvest_field(cases):
    case = next(c for c in cases if c.calendar["crop_end_type"] == "harvest")
    return FieldInput(case.name, copy.deepcopy(case.params), copy.deepcopy(case.weather), dict(case.calendar))


@pytest.fixture
def maturity_field(cases):
    case = min(
        (c for c in cases if c.calendar["crop_end_type"] == "maturity"), key=lambda c: len(c.weather.dates)
    )
    return FieldInput(case.name, copy.deepcopy(case.params), copy.deepcopy(case.weather), dict(case.calendar))


def test_missing_parameter_is_named(harvest_field):
    del harvest_field.params["SPAN"]
    with pytest.raises(InputError, match=r"SPAN") as err:
        build_batch([harvest_field])
    assert harvest_field.name in str(err.value)


def test_missing_parameter_in_tensor_dict_is_named(maturity_field):
    batch = build_batch([maturity_field])
    params = {k: v for k, v in batch.params.items() if k != "AMAXTB"}
    with pytest.raises(InputError, match=r"AMAXTB"):
        run(params, batch.weather, batch.calendar, batch.lat)


def test_missing_vernalisation_parameter_when_idsl_2(cases):
    case = next(c for c in cases if c.params["IDSL"] >= 2)
    field = FieldInput(case.name, copy.deepcopy(case.params), case.weather, dict(case.calendar))
    del field.params["VERNSAT"]
    with pytest.raises(InputError, match=r"VERNSAT"):
        build_batch([field])


def test_missing_weather_variable_is_named(harvest_field, maturity_field):
    del maturity_field.weather.values["ET0"]
    with pytest.raises(InputError, match=r"ET0") as err:
        build_batch([harvest_field, maturity_field])
    assert maturity_field.name in str(err.value)
    batch = build_batch([harvest_field])
    weather = {k: v for k, v in batch.weather.items() if k != "RAIN"}
    with pytest.raises(InputError, match=r"RAIN"):
        run(batch.params, weather, batch.calendar, batch.lat)


def test_partitioning_not_summing_to_one_names_field_and_dvs(harvest_field, maturity_field):
    flat = list(harvest_field.params["FLTB"])
    table = parse_afgen("FLTB", flat)
    k = len(table) // 2  # raise the leaf fraction at one interior breakpoint
    flat[2 * k + 1] += 0.2
    harvest_field.params["FLTB"] = flat
    batch = build_batch([maturity_field, harvest_field])
    with pytest.raises(InputError, match=rf"{harvest_field.name}.*DVS={table[k, 0]:.4g}"):
        run(batch.params, batch.weather, batch.calendar, batch.lat, field_names=batch.names)


def test_weather_ending_before_harvest_gives_dates(harvest_field):
    w = harvest_field.weather
    cut = len(w.dates) - 30
    harvest_field.weather = Series(w.dates[:cut], {k: v[:cut] for k, v in w.values.items()})
    with pytest.raises(InputError) as err:
        build_batch([harvest_field])
    msg = str(err.value)
    assert str(w.dates[cut - 1]) in msg and str(harvest_field.calendar["crop_end_date"]) in msg


def test_weather_starting_after_sowing_gives_dates(harvest_field):
    w = harvest_field.weather
    harvest_field.weather = Series(w.dates[5:], {k: v[5:] for k, v in w.values.items()})
    with pytest.raises(InputError) as err:
        build_batch([harvest_field])
    assert str(w.dates[5]) in str(err.value) and str(harvest_field.calendar["crop_start_date"]) in str(
        err.value
    )


def test_weather_ending_before_maturity_gives_dates(maturity_field):
    w = maturity_field.weather
    cut = len(w.dates) - 20
    maturity_field.weather = Series(w.dates[:cut], {k: v[:cut] for k, v in w.values.items()})
    batch = build_batch([maturity_field])
    with pytest.raises(InputError) as err:
        run(batch.params, batch.weather, batch.calendar, batch.lat, field_names=batch.names, day0=batch.day0)
    msg = str(err.value)
    assert maturity_field.name in msg and str(w.dates[cut - 1]) in msg and "DVS" in msg


def test_afgen_with_two_breaks_is_rejected():
    with pytest.raises(InputError, match=r"SLATB"):
        parse_afgen("SLATB", [0.0, 1.0, 1.0, 2.0, 0.5, 3.0, 2.0, 4.0])
    assert parse_afgen("X", [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0]).shape == (2, 2)


@pytest.mark.parametrize("flat, match", [
    ([0.0, 1.0, "abc", 2.0], r"table SLATB \(field f1\): item 2 \('abc'\) is not a number"),
    ([0.0, None], r"table SLATB \(field f1\): item 1 \(None\) is not a number"),
    ([[0.0, 1.0], [1.0, 2.0]], r"table SLATB \(field f1\): item 0 \(\[0\.0, 1\.0\]\) is not a number"),
    (3.5, r"table SLATB \(field f1\): expected a flat list of x, y numbers, got 3\.5"),
    ("0 1 1 2", r"table SLATB \(field f1\): expected a flat list of x, y numbers, got '0 1 1 2'"),
])
def test_afgen_items_that_are_not_numbers_are_named(flat, match):
    """Called directly, a table with text, None, nested pairs or a scalar raised a raw ValueError/TypeError
    (or, nested, passed): each is an InputError naming the key and the value."""
    with pytest.raises(InputError, match=match):
        parse_afgen("SLATB", flat, "f1")


def test_bad_calendar_is_rejected(maturity_field):
    batch = build_batch([maturity_field])
    bad = Calendar(
        batch.calendar.end + 1, batch.calendar.end, batch.calendar.emerged, batch.calendar.at_maturity
    )
    with pytest.raises(InputError, match=r"calendar of field 0"):
        run(batch.params, batch.weather, bad, batch.lat)


def test_unknown_calendar_types_are_rejected(maturity_field):
    maturity_field.calendar["crop_start_type"] = "planting"
    with pytest.raises(InputError, match=r"planting"):
        build_batch([maturity_field])
