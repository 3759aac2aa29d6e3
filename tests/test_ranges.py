"""Units and physical ranges at every data entry: the dataset variables table (and the docs that show it),
HydroDataset files, CAMELS text files, the twin, crop datasets, PCSE weather, hourly AORC -> WOFOST weather,
and forcing.py's temperature guard. Each refusal names the variable, the value, where and the range."""

from __future__ import annotations

import copy
import datetime as dt
import re
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, pcse_own_dir

from dmg_bmi import forcing as fc
from dmg_bmi import units
from dmg_bmi.core.variables import BY_NAME
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.data.variables import dataset_variables
from dmg_bmi.domains.crop import weather as cw
from dmg_bmi.domains.crop.dataset import CropCalendar, CropDataset, from_pcse_cases
from dmg_bmi.domains.crop.pcse import build_batch
from dmg_bmi.domains.crop.pcse.batch import field_from_case
from dmg_bmi.domains.crop.pcse.pcse_yaml import load_case
from dmg_bmi.domains.hydrology.camels import read_camels
from dmg_bmi.domains.hydrology.twin import make_twin
from dmg_bmi.errors import InputError

TABLE = dataset_variables()  # the merged dataset variables table (every registered domain's)

# ----------------------------------------------------------------------------------------- the table


def test_table_units_parse_and_ranges_are_ordered():
    for v in TABLE.values():
        lo, hi = v.valid_range
        assert lo < hi, v.name
        if v.units != "log10(m2)":  # CAMELS' own string for geol_permeability, kept as files carry it
            units.parse(v.units, v.name)


def test_table_agrees_with_the_bmi_input_ranges():
    t_k = BY_NAME[fc.AORC_TEMP].valid_range
    np.testing.assert_allclose(TABLE["T"].valid_range, units.convert(t_k, "K", "degC"))
    for name in ("tmean", "tmin", "tmax", "t_mean"):
        assert TABLE[name].valid_range == TABLE["T"].valid_range
    pet_hi = units.convert(BY_NAME[fc.AORC_PET].valid_range[1], "mm h-1", "mm d-1")
    assert TABLE["PET"].valid_range == TABLE["pet"].valid_range == (0.0, pet_hi)
    assert TABLE["pres"].valid_range == BY_NAME[fc.AORC_PRES].valid_range
    assert TABLE["lrad"].valid_range == BY_NAME[fc.AORC_LWDOWN].valid_range
    assert TABLE["wind"].valid_range[1] == BY_NAME[fc.AORC_U].valid_range[1]


def test_docs_show_the_code_table():
    text = (REPO / "docs" / "dataset_format.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+?) \| (\S+) \.\. (\S+) \| ([^\n]*)\|$", text, re.M)
    shown = {name: (u, float(lo), float(hi), "*water*" in meaning) for name, u, lo, hi, meaning in rows}
    table = {v.name: (v.units, *v.valid_range, v.water) for v in TABLE.values()}
    assert shown == table


# ------------------------------------------------------------------------------- hydrology datasets


def _hydro(tmp_path, dynamic=None, static=None, units_=None, n_days=5) -> Path:
    """A 2-basin dataset file; `dynamic`/`static`/`units_` override the defaults (all in range)."""
    dates = np.arange(np.datetime64("2001-12-30"), np.datetime64("2001-12-30") + n_days)
    dyn = {"P": np.full((2, n_days), 3.0), "T": np.full((2, n_days), 5.0), "tmin": np.full((2, n_days), 1.0),
           "tmax": np.full((2, n_days), 9.0), "streamflow": np.full((2, n_days), 1.0)}
    sta = {"lat": np.array([40.0, 45.0]), "lon": np.array([-70.0, -71.0]),
           "area_km2": np.array([100.0, 50.0]), "elevation_m": np.array([300.0, 10.0]),
           "aridity": np.array([0.8, 1.1])}
    uni = {k: TABLE[k].units for k in (*dyn, *sta)}
    dyn.update(dynamic or {})
    sta.update(static or {})
    uni.update(units_ or {})
    ds = HydroDataset(["01", "02"], dates, dyn, sta, uni, targets=("streamflow",))
    return ds.save(tmp_path / "d.nc")


def test_dataset_units_are_converted_on_load_and_records_pass(tmp_path):
    p = np.full((2, 5), 0.002)
    p[0, 2] = 1.825  # m: the world's 24-h record (Foc-Foc, La Reunion), 1825 mm
    t_c = np.array([[-60.0, -89.2, 56.7, 0.0, 10.0], [20.0] * 5])
    q = np.full((2, 5), 1.0 / 86400.0)
    q[1, 1] = np.nan  # missing, not out of range
    path = _hydro(tmp_path, dynamic={"P": p, "T": t_c + 273.15, "tmin": t_c, "tmax": t_c, "streamflow": q},
                  static={"area_km2": np.array([1e8, 5e7]), "elevation_m": np.array([-0.43, 8.849]),
                          "lon": np.array([-70.0, 350.0]), "code": np.array([7.0, 8.0])},
                  units_={"P": "m d-1", "T": "K", "streamflow": "kg m-2 s-1", "area_km2": "m2",
                          "elevation_m": "km", "code": "bananas"})
    ds = HydroDataset.load(path)
    assert (ds.units["P"], ds.units["T"], ds.units["streamflow"], ds.units["code"]) == (
        "mm d-1", "degC", "mm d-1", "bananas")
    np.testing.assert_allclose(ds.dynamic["P"], 1000.0 * p)
    np.testing.assert_allclose(ds.dynamic["T"], t_c, atol=1e-9)
    np.testing.assert_allclose(ds.dynamic["streamflow"], np.where(np.isnan(q), np.nan, 1.0))
    np.testing.assert_allclose(ds.static["area_km2"], [100.0, 50.0])
    np.testing.assert_allclose(ds.static["elevation_m"], [-430.0, 8849.0])
    np.testing.assert_array_equal(ds.static["code"], [7.0, 8.0])  # unknown names: kept as given


@pytest.mark.parametrize(("name", "bad_units", "expected"), [
    ("T", "W m-2", "degC"), ("P", "kg", "mm d-1"), ("lat", "1", "degrees_north"), ("P", "-", "mm d-1")])
def test_dataset_units_that_do_not_convert_are_refused(tmp_path, name, bad_units, expected):
    path = _hydro(tmp_path, units_={name: bad_units})
    msg = f"dataset {path}: variable {name!r} has units {bad_units!r}, expected {expected!r}"
    with pytest.raises(InputError, match=re.escape(msg)):
        HydroDataset.load(path)


@pytest.mark.parametrize(("dynamic", "static", "units_", "message"), [
    ({"P": np.array([[3.0, 3.0, -5.0, 3.0, 3.0], [3.0] * 5])}, {}, {},
     "P = -5 mm d-1 at basin '01' on 2002-01-01 is outside the allowed range [0, 2000] mm d-1"),
    ({"P": np.full((2, 5), 3600.0 * 24)}, {}, {},
     "P = 86400 mm d-1 at basin '01' on 2001-12-30 is outside the allowed range [0, 2000] mm d-1 (10 values"),
    ({"T": np.full((2, 5), 500.0)}, {}, {"T": "K"},
     "T = 226.85 degC at basin '01' on 2001-12-30 is outside the allowed range [-93.15, 66.85] degC"),
    ({"streamflow": np.array([[1.0] * 5, [1.0, np.inf, 1.0, 1.0, 1.0]])}, {}, {},
     "streamflow = inf mm d-1 at basin '02' on 2001-12-31 is outside the allowed range [0, 3000] mm d-1"),
    ({}, {"aridity": np.array([0.8, 1e30])}, {},
     "aridity = 1e+30 1 at basin '02' is outside the allowed range [0, 1000] 1"),
    ({}, {"lat": np.array([40.0, 95.0])}, {},
     "lat = 95 degrees_north at basin '02' is outside the allowed range [-90, 90] degrees_north"),
    ({"tmin": np.full((2, 5), 12.0)}, {}, {},
     "tmin = 12 degC is above tmax = 9 degC at basin '01' on 2001-12-30 (tmin must not exceed tmax; "
     "10 such values)"),
])
def test_dataset_values_out_of_range_are_refused(tmp_path, dynamic, static, units_, message):
    path = _hydro(tmp_path, dynamic, static, units_)
    with pytest.raises(InputError, match=re.escape(f"dataset {path}: {message}")):
        HydroDataset.load(path)


def _camels(root: Path, prcp=(1.0, 1825.0, 0.0, 4.0), tmin=(0.0, 1.0, 2.0, 3.0), p_mean="2.5") -> Path:
    """A one-basin CAMELS-US tree (4 days of NLDAS forcing, streamflow and the six attribute tables); the
    default rain holds the world's 24-h record, which must pass."""
    forcing = root / "basin_mean_forcing" / "nldas" / "01"
    forcing.mkdir(parents=True)
    rows = [f"2000 01 {d + 1:02d} 12 36000 {p} 150 0 {t + 4.0} {t} 800"
            for d, (p, t) in enumerate(zip(prcp, tmin, strict=True))]
    (forcing / "00000001_lump_nldas_forcing_leap.txt").write_text(
        "45.0\n120.0\n100000000\n"
        "Year Mnth Day Hr Dayl(s) PRCP(mm/day) SRAD(W/m2) SWE(mm) Tmax(C) Tmin(C) Vp(Pa)\n"
        + "\n".join(rows) + "\n", encoding="utf-8")
    flow = root / "usgs_streamflow" / "01"
    flow.mkdir(parents=True)
    (flow / "00000001_streamflow_qc.txt").write_text(
        "".join(f"00000001 2000 01 {d:02d} 30.0 A\n" for d in range(1, 5)), encoding="utf-8")
    attrs = root / "camels_attributes_v2.0"
    attrs.mkdir()
    tables = {"topo": "gauge_lat;gauge_lon;elev_mean\n00000001;45.0;-70.0;120.0",
              "clim": f"p_mean;aridity\n00000001;{p_mean};0.9", "hydro": "q_mean\n00000001;1.0",
              "soil": "sand_frac\n00000001;40.0", "vege": "frac_forest\n00000001;0.7",
              "geol": "geol_porostiy\n00000001;0.1"}
    for name, body in tables.items():
        (attrs / f"camels_{name}.txt").write_text("gauge_id;" + body + "\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prcp": (1.0, 1825.0, -5.0, 4.0)}, "prcp = -5 mm d-1 at basin '00000001' on 2000-01-03 is outside the "
                                         "allowed range [0, 2000] mm d-1"),
    ({"p_mean": "1e30"}, "p_mean = 1e+30 mm d-1 at basin '00000001' is outside the allowed range [0, 100]"),
    ({"tmin": (0.0, 1.0, -95.0, 3.0)}, "tmin = -95 degC at basin '00000001' on 2000-01-03 is outside the "
                                       "allowed range [-93.15, 66.85] degC"),
])
def test_camels_files_out_of_range_are_refused(tmp_path, kwargs, message):
    root = _camels(tmp_path, **kwargs)
    with pytest.raises(InputError, match=re.escape(f"CAMELS-US {root} (nldas forcing): {message}")):
        read_camels(root, pet_method="hamon")


def test_twin_sand_fraction_is_in_percent_like_camels():
    ds = make_twin(n_basins=4, years=1, seed=2, spinup_years=0)
    assert ds.units["sand_frac"] == "percent"
    assert np.all((ds.static["sand_frac"] >= 5.0) & (ds.static["sand_frac"] <= 90.0))
    k1 = 0.01 + 0.39 * (ds.static["sand_frac"] - 5.0) / 85.0
    np.testing.assert_allclose(ds.static["true_parK1"], k1)
    ds.conform("twin")  # every twin value is in range


# ------------------------------------------------------------------------------------ crop weather


@pytest.fixture(scope="module")
def case01():
    directory = pcse_own_dir()
    return field_from_case(load_case(sorted(directory.glob("*_01.yaml"))[0]))


def _with(field, **changes):
    f = copy.deepcopy(field)
    for name, change in changes.items():
        f.weather.values[name] = change(np.asarray(f.weather.values[name], dtype=float))
    return f


def test_pcse_irrad_times_ten_is_refused_naming_the_day(case01):
    # the handed case ../shared/cases/crop_weather_irrad_range.py: a kJ/J-style slip ran to TWSO 56 000 kg/ha
    near = _with(case01, IRRAD=lambda r: np.where(np.arange(r.size) == 60, 39.9e6, r),
                 RAIN=lambda r: np.where(np.arange(r.size) == 61, 24.9, r))
    assert float(build_batch([near], dtype=torch.float64).weather["IRRAD"].max()) == pytest.approx(39.9e6)
    f = _with(case01, IRRAD=lambda r: r * 10)
    with pytest.raises(InputError) as err:
        build_batch([f], dtype=torch.float64)
    m = re.fullmatch(r"field '(\S+)': IRRAD = (\S+) J m-2 d-1 on (\S+) is outside the allowed range "
                     r"\[0, 4e\+07\] J m-2 d-1 \((\d+) values out of range\)", str(err.value))
    assert m and m.group(1) == case01.name
    day = dt.date.fromisoformat(m.group(3))
    i = case01.weather.dates.index(day)
    assert float(m.group(2)) == pytest.approx(10 * case01.weather.values["IRRAD"][i], rel=1e-5)
    assert float(m.group(2)) > 40e6 and int(m.group(4)) > 1


def test_pcse_negative_irrad_is_refused_naming_the_day(case01):
    f = _with(case01, IRRAD=lambda r: np.where(np.arange(r.size) // 10 == 5, -1e6, r))
    with pytest.raises(InputError, match=r"IRRAD = -1e\+06 J m-2 d-1 on (\S+) is outside the allowed range "
                                         r"\[0, 4e\+07\] J m-2 d-1 \(10 values out of range\)") as err:
        build_batch([f], dtype=torch.float64)
    day = dt.date.fromisoformat(re.search(r"on (\S+) is", str(err.value)).group(1))
    assert case01.weather.dates.index(day) == 50


def test_pcse_tmin_above_tmax_is_refused(case01):
    f = _with(case01, TMIN=lambda _: np.asarray(case01.weather.values["TMAX"]) + 1.0)
    with pytest.raises(InputError, match=r"field '\S+': TMIN = \S+ degC is above TMAX = \S+ degC on "
                                         r"\d{4}-\d\d-\d\d \(TMIN must not exceed TMAX; \d+ such values\)"):
        build_batch([f], dtype=torch.float64)


def test_pcse_case_files_out_of_range_are_refused(tmp_path):
    src = sorted(pcse_own_dir().glob("*_01.yaml"))[0]
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data["WeatherVariables"][3]["RAIN"] = 30.0
    path = tmp_path / "case_rain.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    day = data["WeatherVariables"][3]["DAY"]
    with pytest.raises(InputError, match=re.escape(
            f"PCSE cases in {tmp_path}: RAIN = 30 cm d-1 at field 'case_rain' on {day} is outside the "
            "allowed range [0, 25] cm d-1")):
        from_pcse_cases([path])


def _crop_file(folder: Path) -> Path:
    """A 2-field crop dataset file, every value in range."""
    n_days, names = 30, cw.WEATHER_NAMES
    typical = {"IRRAD": 15e6, "TMIN": 8.0, "TMAX": 20.0, "VAP": 12.0, "WIND": 3.0, "RAIN": 0.2, "E0": 0.3,
               "ES0": 0.25, "ET0": 0.28}
    weather = np.stack([np.full((2, n_days), typical[n]) for n in names], axis=-1)
    obs = np.full((2, n_days, 1), np.nan)
    obs[0, 20, 0] = 3000.0
    calendars = [CropCalendar("maize", "m1", dt.date(year, 5, 2), "emergence", None, "maturity", 20)
                 for year in (2010, 2011)]
    ds = CropDataset(fields=["a", "b"], sites=["s", "s"],
                     weather_start=np.array(["2010-05-01", "2011-05-01"], dtype="datetime64[D]"),
                     weather=weather, attributes=[[50.0, 5.0, 120.0], [51.0, 6.0, 80.0]],
                     attribute_names=("lat", "lon", "elev"),
                     attribute_units=("degrees_north", "degrees_east", "m"), calendars=calendars,
                     observations=obs, obs_names=("TWSO",), obs_units=("kg ha-1",))
    return ds.save(folder / "crop.nc")


def _set_units(nc, var: str, index: int, units_: str) -> None:
    values = nc[var][:].astype(object)
    values[index] = units_
    nc[var][:] = values


def test_crop_dataset_units_are_converted_on_load(tmp_path):
    path = _crop_file(tmp_path)
    names = list(cw.WEATHER_NAMES)
    with netCDF4.Dataset(path, "a") as nc:
        for name, new_units, scale, offset in (("IRRAD", "MJ m-2 d-1", 1e-6, 0.0), ("TMIN", "K", 1.0, 273.15),
                                               ("RAIN", "mm d-1", 10.0, 0.0)):
            k = names.index(name)
            _set_units(nc, "weather_units", k, new_units)
            nc["weather"][:, :, k] = nc["weather"][:, :, k] * scale + offset
        _set_units(nc, "attribute_units", 2, "km")
        nc["attributes"][:, 2] = nc["attributes"][:, 2] / 1000.0
        _set_units(nc, "obs_units", 0, "t ha-1")
        nc["observations"][0, 20, 0] = 3.0
    ds = CropDataset.load(path)
    w = {n: ds.weather_array([n])[..., 0] for n in ("IRRAD", "TMIN", "RAIN")}
    np.testing.assert_allclose(w["IRRAD"], 15e6)
    np.testing.assert_allclose(w["TMIN"], 8.0, atol=1e-9)
    np.testing.assert_allclose(w["RAIN"], 0.2)
    np.testing.assert_allclose(ds.attribute_array(["elev"])[:, 0], [120.0, 80.0])
    assert ds.attribute_units[2] == "m" and ds.obs_units == ("kg ha-1",)
    assert ds.observations[0, 20, 0] == pytest.approx(3000.0)


def test_crop_dataset_refusals_name_file_variable_and_units_or_day(tmp_path):
    path = _crop_file(tmp_path)
    with netCDF4.Dataset(path, "a") as nc:
        _set_units(nc, "weather_units", cw.WEATHER_NAMES.index("TMAX"), "W m-2")
    with pytest.raises(InputError, match=re.escape(
            f"crop dataset {path}: variable 'TMAX' has units 'W m-2', expected 'degC'")):
        CropDataset.load(path)
    (tmp_path / "x").mkdir()
    path = _crop_file(tmp_path / "x")
    with netCDF4.Dataset(path, "a") as nc:
        nc["weather"][1, 7, cw.WEATHER_NAMES.index("IRRAD")] = -500.0 * 86400
        nc["attributes"][0, 2] = 1e30
    with pytest.raises(InputError, match=re.escape(
            f"crop dataset {path}: IRRAD = -4.32e+07 J m-2 d-1 at field 'b' on 2011-05-08 is outside the "
            "allowed range [0, 4e+07] J m-2 d-1")):
        CropDataset.load(path)
    with netCDF4.Dataset(path, "a") as nc:
        nc["weather"][1, 7, cw.WEATHER_NAMES.index("IRRAD")] = 1e7
    with pytest.raises(InputError, match=re.escape(
            f"crop dataset {path}: elev = 1e+30 m at field 'a' is outside the allowed range [-300, 6000] m")):
        CropDataset.load(path)


def _day(**values):
    base = {fc.AORC_SWDOWN: 200.0, fc.AORC_TEMP: 288.15, fc.AORC_SPFH: 0.006, fc.AORC_PRES: 1.0e5,
            fc.AORC_U: 2.0, fc.AORC_V: 0.0, fc.AORC_PRECIP: 0.0}
    base.update({getattr(fc, k): v for k, v in values.items()})
    return {k: np.broadcast_to(np.asarray(v, float), (24,)).copy() for k, v in base.items()}


def _wofost(hourly):
    return cw.aorc_hourly_to_wofost_daily(hourly, dt.date(2015, 6, 21), 45.0, 100.0)


def test_aorc_negative_shortwave_is_refused_naming_the_hour():
    sw = np.full(24, 200.0)
    sw[13] = -500.0
    with pytest.raises(InputError, match=re.escape(
            f"{fc.AORC_SWDOWN} = -500 W m-2 at hour 13 (2015-06-21 13:00) is outside the allowed range "
            "[0, 1500] W m-2")):
        _wofost(_day(AORC_SWDOWN=sw))


def test_aorc_days_beyond_pcse_limits_are_refused_naming_the_day():
    cold = _wofost(_day(AORC_TEMP=228.15, AORC_SPFH=5e-5, AORC_SWDOWN=20.0))  # -45 degC, dry: passes
    assert cold["TMIN"][0] == pytest.approx(-45.0) and cold["VAP"][0] > 0.06
    # 335 K is a possible BMI input (< 340 K) but 61.85 degC is above PCSE's TMAX limit of 60 degC
    with pytest.raises(InputError, match=re.escape(
            "WOFOST weather from hourly AORC forcing: TMIN = 61.85 degC on 2015-06-21 is outside the allowed "
            "range [-50, 60] degC")):
        _wofost(_day(AORC_TEMP=335.0, AORC_SPFH=0.02))


# ------------------------------------------------------------------------------ forcing.py guards


@pytest.mark.parametrize("kelvin", [-50.0, 35.0, 0.0, 1e6])
def test_impossible_temperature_is_named_not_an_overflow(kelvin):
    hourly = {fc.AORC_PRECIP: np.zeros(24), fc.AORC_TEMP: np.full(24, 280.0)}
    hourly[fc.AORC_TEMP][5] = kelvin
    with pytest.raises(InputError, match=re.escape(
            f"{fc.AORC_TEMP} = {kelvin:g} K (hour 5 of the 24-h window) is outside the allowed range "
            "[180, 340] K")):
        fc.aorc_hourly_to_daily(hourly, 45.0, 100, "hamon")


@pytest.mark.parametrize("t_c", [-240.0, np.array([10.0, np.nan, -300.0])])
def test_pet_functions_refuse_temperatures_no_air_has(t_c):
    for kelvin in (183.15, 213.15, 330.0):  # -90, -60, 56.85 degC: finite PET from the hourly derivation
        hourly = {fc.AORC_PRECIP: np.zeros(24), fc.AORC_TEMP: np.full(24, kelvin),
                  fc.AORC_SPFH: np.full(24, 1e-5), fc.AORC_PRES: np.full(24, 1e5),
                  fc.AORC_SWDOWN: np.full(24, 100.0)}
        for method in ("hamon", "priestley_taylor"):
            pet = fc.aorc_hourly_to_daily(hourly, 45.0, 100, method)["PET"]
            assert np.isfinite(pet) and 0.0 <= pet < 120.0, (kelvin, method, pet)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warnings either
        with pytest.raises(InputError, match=r"air temperature -(240|300) degC is outside the allowed range "
                                             r"\[-93.15, 66.85\] degC"):
            fc.pet_hamon(t_c, 45.0, 100)
