"""Crop dataset: NetCDF round trip, per-field day axes, calendar checks with clear errors."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from dmg_bmi.domains.crop.dataset import CropCalendar, CropDataset
from dmg_bmi.domains.crop.weather import WEATHER_NAMES
from dmg_bmi.errors import InputError


def _dataset(n_days=40):
    rng = np.random.default_rng(0)
    weather = rng.uniform(0.1, 1.0, (3, n_days, len(WEATHER_NAMES)))
    weather[..., WEATHER_NAMES.index("TMAX")] += 1.0  # TMAX above TMIN on every day, as PCSE requires
    weather[2, 30:] = np.nan  # field c: weather covers 30 days only
    obs = np.full((3, n_days, 2), np.nan)
    obs[0, 10, 0], obs[1, 20, 1] = 1.5, 3000.0
    calendars = [
        CropCalendar("maize", "m1", dt.date(2010, 5, 3), "emergence", None, "maturity", 20),
        CropCalendar("wheat", "w1", "2010-10-05", "sowing", "2010-11-01", "harvest", 60),
        dict(crop_name="maize", variety_name="m2", crop_start_date="2011-01-02", crop_start_type="sowing",
             crop_end_date="2011-01-20", crop_end_type="earliest", max_duration=100),
    ]
    return CropDataset(
        fields=["a", "b", "c"], sites=["s1", "s1", "s2"],
        weather_start=np.array(["2010-05-01", "2010-10-01", "2010-12-31"], dtype="datetime64[D]"),
        weather=weather,
        attributes=[[50.0, 5.0, 10.0, 0.3], [50.0, 5.0, 10.0, 0.3], [40.0, -3.0, 600.0, 0.1]],
        attribute_names=("lat", "lon", "elev", "clay"),
        attribute_units=("degrees_north", "degrees_east", "m", "1"),
        calendars=calendars, observations=obs, obs_names=("LAI", "TWSO"), obs_units=("m2 m-2", "kg ha-1"),
        metadata={"title": "test"},
    )


KNOWN = {"maize": {"m1", "m2"}, "wheat": {"w1"}}


def test_round_trip(tmp_path):
    ds = _dataset()
    ds.validate(KNOWN, attributes=("clay",))
    path = ds.save(tmp_path / "sub" / "crop.nc")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    back = CropDataset.load(path)
    np.testing.assert_array_equal(back.weather, ds.weather)
    np.testing.assert_array_equal(back.observations, ds.observations)
    np.testing.assert_array_equal(back.attributes, ds.attributes)
    assert list(back.fields) == ["a", "b", "c"] and list(back.sites) == ["s1", "s1", "s2"]
    assert back.calendars == ds.calendars and back.calendars[0].crop_end_date is None
    assert back.obs_names == ("LAI", "TWSO") and back.metadata["title"] == "test"
    np.testing.assert_array_equal(back.weather_start, ds.weather_start)


def test_per_field_axes():
    ds = _dataset()
    doy = ds.day_of_year()
    assert doy[0, 0] == 121 and doy[2, 0] == 365 and doy[2, 1] == 1  # 2010-05-01, 2010-12-31, 2011-01-01
    np.testing.assert_array_equal(ds.start_index(), [2, 4, 2])
    # maturity: start + max_duration (20 d -> 21 days inclusive); harvest: Oct 5..Nov 1; earliest: Jan 2..20
    np.testing.assert_array_equal(ds.season_length(), [21, 28, 19])
    sub = ds.subset([2, 0])
    assert list(sub.fields) == ["c", "a"] and sub.calendars[1].variety_name == "m1"
    np.testing.assert_array_equal(sub.observation_array(["TWSO", "LAI"])[1, 10], [np.nan, 1.5])
    assert ds.weather_array(["RAIN", "IRRAD"]).shape == (3, 40, 2)


def test_unknown_crop_and_variety():
    ds = _dataset()
    with pytest.raises(InputError, match=r"field 'b': unknown crop 'wheat'; known crops: \['maize'\]"):
        ds.validate({"maize": {"m1", "m2"}})
    with pytest.raises(InputError, match=r"field 'c': unknown variety 'm2' of crop 'maize'"):
        ds.validate({"maize": {"m1"}, "wheat": {"w1"}})


def test_start_outside_forcing():
    ds = _dataset()
    ds.calendars[0] = CropCalendar("maize", "m1", dt.date(2010, 4, 20))
    with pytest.raises(InputError, match=r"field 'a': crop_start_date 2010-04-20 is outside its weather "
                                         r"\(2010-05-01..2010-06-09\)"):
        ds.validate(KNOWN)


def test_season_past_forcing_or_with_gaps():
    ds = _dataset()
    ds.calendars[2] = CropCalendar("maize", "m2", "2011-01-02", "sowing", "2011-02-20", "harvest")
    with pytest.raises(InputError, match=r"field .c.: season 2011-01-02..2011-02-20 .*ends 2011-01-29"):
        ds.validate(KNOWN)
    ds = _dataset()
    ds.weather[1, 12, 3] = np.nan
    with pytest.raises(InputError, match=r"field 'b': .*missing weather on 2010-10-13"):
        ds.validate(KNOWN)


def test_missing_and_bad_attributes():
    ds = _dataset()
    with pytest.raises(InputError, match=r"attribute\(s\) \['sand'\] not in the dataset"):
        ds.validate(KNOWN, attributes=("clay", "sand"))
    kw = dict(fields=["a"], sites=["s"], weather_start=["2010-01-01"], weather=np.zeros((1, 5, 9)),
              calendars=[CropCalendar("maize", "m1", "2010-01-02")], observations=np.zeros((1, 5, 0)))
    with pytest.raises(InputError, match="required attribute 'elev'"):
        CropDataset(attributes=[[1.0, 2.0]], attribute_names=("lat", "lon"), attribute_units=("", ""), **kw)
    with pytest.raises(InputError, match="attribute 'lon' of field 'a' is not finite"):
        CropDataset(attributes=[[1.0, np.nan, 3.0]], attribute_names=("lat", "lon", "elev"),
                    attribute_units=("", "", ""), **kw)
    two = dict(kw, fields=["a", "a"], sites=["s", "s"], weather_start=["2010-01-01"] * 2,
               weather=np.zeros((2, 5, 9)), calendars=kw["calendars"] * 2, observations=np.zeros((2, 5, 0)))
    with pytest.raises(InputError, match=r"duplicate field id\(s\) \['a'\]"):
        CropDataset(attributes=[[1.0, 2.0, 3.0]] * 2, attribute_names=("lat", "lon", "elev"),
                    attribute_units=("", "", ""), **two)


def test_bad_calendar_values():
    with pytest.raises(InputError, match="crop_start_type: 'planting'"):
        CropCalendar("maize", "m1", "2010-05-01", crop_start_type="planting")
    with pytest.raises(InputError, match="crop_end_date is required when crop_end_type is 'harvest'"):
        CropCalendar("maize", "m1", "2010-05-01", crop_end_type="harvest")
    with pytest.raises(InputError, match="crop_start_date: '2010-13-01' is not a date"):
        CropCalendar("maize", "m1", "2010-13-01")
    with pytest.raises(InputError, match=r"unknown key\(s\) \['sowing_depth'\]"):
        CropCalendar.from_dict({"crop_name": "m", "variety_name": "v", "crop_start_date": "2010-01-01",
                                "sowing_depth": 3})


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="crop dataset file not found"):
        CropDataset.load(tmp_path / "none.nc")
    import netCDF4

    with netCDF4.Dataset(tmp_path / "other.nc", "w") as nc:
        nc.createDimension("field", 1)
        nc.createVariable("field", str, ("field",))
    with pytest.raises(InputError, match=r"variable\(s\) \['site', 'weather_start'"):
        CropDataset.load(tmp_path / "other.nc")


@pytest.mark.parametrize(("bad", "message"), [
    ("", "is empty"), ("../x", "holds a path separator"), ("..", "is '.' or '..'"),
    ("b ", "starts or ends with a space"), ("a\tb", "holds a control character"),
])
def test_field_ids_that_would_name_bad_files_are_refused(tmp_path, bad, message):
    """Field ids name output files (evaluate's figures, the ngen run folder), as basin ids do."""
    import netCDF4

    path = _dataset().save(tmp_path / "crop.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc.variables["field"][1] = bad
    with pytest.raises(InputError, match=re.escape(f"crop dataset {path}: field id at index 1 ({bad!r}) ")
                       + message):
        CropDataset.load(path)
