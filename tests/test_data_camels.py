"""CAMELS-US layout reader and converter, checked against the tidy daily CSVs of the shared data."""

import csv
import warnings

import numpy as np
import pytest
from conftest import shared_path

from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.domains.hydrology.camels import camels_to_netcdf, list_basins, read_camels, read_gauge_names
from dmg_bmi.errors import InputError
from dmg_bmi.train.evaluate import site_info
from dmg_bmi.train.plots import basin_title

START, END = "1995-10-01", "2005-09-30"


def _tidy(path):
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    cols = {k: np.array([float(r[k]) if r[k] else np.nan for r in rows]) for k in rows[0] if k not in
            ("date", "qobs_flag")}
    return np.array([r["date"] for r in rows], dtype="datetime64[D]"), cols


@pytest.fixture(scope="module")
def camels():
    return read_camels(shared_path("hydro", "raw", "camels_us"), None, START, END, "priestley_taylor")


def test_reader_matches_tidy_csvs(camels):
    daily = shared_path("hydro", "daily")
    assert camels.n_basins == 8 and camels.n_time == 3653
    for i, basin in enumerate(camels.basins):
        dates, cols = _tidy(daily / f"{basin}.csv")
        j = int(np.searchsorted(dates, np.datetime64(START)))
        sl = slice(j, j + camels.n_time)
        np.testing.assert_array_equal(dates[sl], camels.dates)
        q = camels.target("streamflow")[i]
        np.testing.assert_array_equal(np.isnan(q), np.isnan(cols["qobs_mm_day"][sl]))
        # the CSVs round to 4 decimals; with 0.0283168 (rounded) ft3 -> m3 the worst day is 3.2e-4 off
        np.testing.assert_allclose(q, cols["qobs_mm_day"][sl], atol=5.0001e-5, rtol=0, equal_nan=True)
        for ours, theirs in (("prcp", "prcp_mm_day"), ("tmax", "tmax_c"), ("tmin", "tmin_c"), ("vp", "vp_pa"),
                             ("dayl", "dayl_s"), ("tmean", "tmean_c")):
            np.testing.assert_allclose(camels.dynamic[ours][i], cols[theirs][sl], atol=1e-3, err_msg=ours)
        # srad is the 24-h mean: the CAMELS daylight mean times dayl / 86400.
        srad24 = cols["srad_w_m2"][sl] * cols["dayl_s"][sl] / 86400
        np.testing.assert_allclose(camels.dynamic["srad"][i], srad24, rtol=1e-3)
    np.testing.assert_allclose(camels.dynamic["P"], camels.dynamic["prcp"])


def test_attributes_and_units(camels):
    i = list(camels.basins).index("05057200")
    assert camels.static["area_km2"][i] == pytest.approx(908.697, abs=1e-3)  # forcing-header area
    assert camels.static["area_gages2"][i] == pytest.approx(1897.33, abs=1e-2)
    assert camels.static["lat"][i] == pytest.approx(47.22916)
    assert camels.units["soil_depth_pelletier"] == "m" and camels.units["streamflow"] == "mm d-1"
    assert "dom_land_cover" not in camels.static  # text columns skipped


def test_priestley_taylor_long_term_mean_near_camels_pet_mean(camels):
    # CAMELS pet_mean is Priestley-Taylor on Daymet; ours runs on NLDAS, so only a loose match is expected.
    ratio = np.nanmean(camels.dynamic["PET"], 1) / camels.static["pet_mean"]
    assert np.all((ratio > 0.7) & (ratio < 1.3)), dict(zip(camels.basins, ratio.round(2), strict=True))
    assert abs(np.median(ratio) - 1.0) < 0.1


def test_hamon_plausible_and_hargreaves_refused():
    root = shared_path("hydro", "raw", "camels_us")
    ds = read_camels(root, ["01022500", "10259000"], "2000-01-01", "2001-12-31", "hamon")
    pet = np.nanmean(ds.dynamic["PET"], 1)
    assert np.all((pet > 1.0) & (pet < 4.0)) and pet[1] > pet[0]  # Palm Springs > Maine
    with pytest.raises(InputError, match="hamon"):
        read_camels(root, ["01022500"], "2000-01-01", "2000-12-31", "hargreaves")


def test_daymet_layout_without_attributes_supports_hargreaves():
    root = shared_path("hydro", "raw", "neuralhydrology_test_data", "camels_us")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = read_camels(root, ["01022500"], "2000-01-01", "2002-12-31", "hargreaves", source="daymet")
    assert any("attribute folder" in str(w.message) for w in caught)
    dates, cols = _tidy(shared_path("hydro", "daily_daymet_short") / "01022500.csv")
    n = ds.n_time
    np.testing.assert_allclose(ds.dynamic["tmin"][0], cols["tmin_c"][:n], atol=1e-3)
    np.testing.assert_allclose(ds.target("streamflow")[0], cols["qobs_mm_day"][:n], atol=6e-5, rtol=1e-4)
    assert 1.5 < np.nanmean(ds.dynamic["PET"]) < 3.5
    assert ds.static["lat"][0] == pytest.approx(44.82)  # from the forcing header


def test_converter_round_trip_and_errors(tmp_path):
    root = shared_path("hydro", "raw", "camels_us")
    assert "12010000" in list_basins(root)
    path = camels_to_netcdf(root, ["12010000", "03439000"], "2003-01-01", "2003-12-31", tmp_path / "c.nc",
                            pet_method="priestley_taylor")
    ds = HydroDataset.load(path)
    assert list(ds.basins) == ["12010000", "03439000"] and ds.n_time == 365
    assert ds.derivation.pet_method == "priestley_taylor"
    assert {"P", "T", "PET", "srad", "vp"} <= set(ds.forcing_names)
    with pytest.raises(InputError, match=r"1980-01-01\.\.1981-01-01 is outside .* 12010000 \(1993-09-29"):
        read_camels(root, ["12010000"], "1980-01-01", "1981-01-01")
    with pytest.raises(InputError, match="99999999"):
        read_camels(root, ["99999999"], "2000-01-01", "2000-12-31")


def test_station_names_come_from_camels_name_txt(camels, tmp_path):
    """Each basin's `gauge_name` (camels_name.txt, read here with the csv module) is the dataset's station
    name; it survives the NetCDF converter and heads the hydrograph title."""
    root = shared_path("hydro", "raw", "camels_us")
    with open(root / "camels_attributes_v2.0" / "camels_name.txt", encoding="utf-8") as fh:
        table = {r["gauge_id"].strip(): r["gauge_name"].strip() for r in csv.DictReader(fh, delimiter=";")}
    assert camels.names == {b: table[b] for b in camels.basins}
    two = list(camels.basins[:2])
    path = camels_to_netcdf(root, two, "2003-01-01", "2003-01-31", tmp_path / "c.nc")
    loaded = HydroDataset.load(path)
    assert loaded.names == {b: table[b] for b in two}
    assert loaded.sel_basins([two[1]]).names == {two[1]: table[two[1]]}
    info = site_info(loaded, two)
    assert basin_title(two[0], loaded.dates, info[two[0]]).startswith(f"{two[0]} {table[two[0]]}  ·  ")


def test_a_name_table_without_its_columns_is_named(tmp_path):
    folder = tmp_path / "camels_attributes_v2.0"
    folder.mkdir()
    assert read_gauge_names(tmp_path, ["01013500"]) == {}  # no table: no names
    (folder / "camels_name.txt").write_text("gauge_id;huc_02;name\n01013500;01;Fish River\n")
    with pytest.raises(InputError, match=r"camels_name.txt: expected the columns gauge_id and gauge_name"):
        read_gauge_names(tmp_path, ["01013500"])
