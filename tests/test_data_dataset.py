"""HydroDataset: NetCDF round trip, selection, access and error messages."""

import numpy as np
import pytest

from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.errors import InputError
from dmg_bmi.forcing import InputDerivation


def _dataset(n_basins=3, n_days=20):
    rng = np.random.default_rng(0)
    dates = np.arange(np.datetime64("2001-12-25"), np.datetime64("2001-12-25") + n_days)
    flow = rng.random((n_basins, n_days))
    flow[1, 3] = np.nan
    static = {"lat": np.array([40.0, 45.0, 50.0])[:n_basins], "lon": -np.arange(n_basins) - 70.0,
              "area_km2": np.full(n_basins, 100.0), "elevation_m": np.full(n_basins, 300.0)}
    units = {"P": "mm d-1", "T": "degC", "streamflow": "mm d-1", "lat": "degrees_north",
             "lon": "degrees_east", "area_km2": "km2", "elevation_m": "m"}
    return HydroDataset(
        basins=[f"0{i}" for i in range(n_basins)], dates=dates,
        dynamic={"P": rng.random((n_basins, n_days)), "T": rng.normal(size=(n_basins, n_days)),
                 "streamflow": flow},
        static=static, units=units, targets=("streamflow",),
        metadata={"title": "test", "input_derivation": '{"pet_method": "priestley_taylor"}'},
    )


def test_round_trip(tmp_path):
    ds = _dataset()
    path = ds.save(tmp_path / "sub" / "d.nc")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write left no temp file
    back = HydroDataset.load(path)
    assert list(back.basins) == ["00", "01", "02"]  # leading zeros kept
    np.testing.assert_array_equal(back.dates, ds.dates)
    np.testing.assert_array_equal(back.forcings(["T", "P"]), ds.forcings(["T", "P"]))
    np.testing.assert_array_equal(back.target("streamflow"), ds.target("streamflow"))  # NaN survives
    np.testing.assert_array_equal(back.attributes(["lat", "area_km2"]), ds.attributes(["lat", "area_km2"]))
    assert back.units == ds.units and back.target_names == ["streamflow"]
    assert back.forcing_names == ["P", "T"]
    assert back.metadata["title"] == "test"
    assert back.derivation == InputDerivation(pet_method="priestley_taylor")


def test_shapes_and_doy():
    ds = _dataset()
    assert ds.forcings(["P", "T"]).shape == (3, 20, 2)
    assert ds.attributes(["lat"]).shape == (3, 1)
    assert list(ds.doy[:8]) == [359, 360, 361, 362, 363, 364, 365, 1]


def test_selection():
    ds = _dataset()
    sub = ds.sel_period("2001-12-30", "2002-01-02").sel_basins(["02", "00"])
    assert sub.n_time == 4 and list(sub.basins) == ["02", "00"]
    np.testing.assert_array_equal(sub.forcings(["P"])[0, :, 0], ds.dynamic["P"][2, 5:9])


def test_errors_name_the_culprit():
    ds = _dataset()
    msg = r"2001-12-01\.\.2002-01-02 is outside the data \(2001-12-25\.\.2002-01-13\)"
    with pytest.raises(InputError, match=msg):
        ds.sel_period("2001-12-01", "2002-01-02")
    with pytest.raises(InputError, match=r"'PET'.*available forcings: \['P', 'T'\]"):
        ds.forcings(["P", "PET"])
    with pytest.raises(InputError, match=r"'aridity'.*available attributes"):
        ds.attributes(["aridity"])
    with pytest.raises(InputError, match="'qobs'.*streamflow"):
        ds.target("qobs")
    with pytest.raises(InputError, match=r"\['99'\]"):
        ds.sel_basins(["00", "99"])
    with pytest.raises(InputError, match="'X' has shape"):
        HydroDataset(["a"], ds.dates, {"X": np.zeros((2, 20))}, {}, {"X": "1"})
    with pytest.raises(InputError, match="'X' has no units"):
        HydroDataset(["a"], ds.dates, {"X": np.zeros((1, 20))}, {}, {})
    with pytest.raises(InputError, match=r"here\.nc: duplicate basin id\(s\) \['a', 'c'\]"):
        HydroDataset(["a", "b", "a", "c", "c"], ds.dates, {}, {}, {}, origin="here.nc")


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        HydroDataset.load(tmp_path / "missing.nc")
    with pytest.raises(InputError, match=f"dataset {tmp_path} is a folder, not a NetCDF file"):
        HydroDataset.load(tmp_path)
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(InputError, match="bad.nc"):
        HydroDataset.load(bad)


def test_latitude_is_checked_where_pet_is_derived(tmp_path):
    """A NaN latitude used to give NaN PET, later blamed on the forcing: where PET is derived from it, a NaN
    or impossible `lat` is refused naming the file and the basin; PET as a forcing needs no latitude."""
    from train_toy import toy_dataset

    from dmg_bmi.train.data import derive_inputs

    ds = toy_dataset(n_basins=3, days=40)
    ds.static["lat"][1] = np.nan
    path = ds.save(tmp_path / "nan_lat.nc")
    nan = rf"{path}: attribute 'lat' is missing \(NaN\) at basin\(s\) \['b1'\]"
    with pytest.raises(InputError, match=nan):
        derive_inputs(HydroDataset.load(path), InputDerivation("hamon"))
    ds = toy_dataset(n_basins=3, days=40)
    ds.static["lat"][2] = 95.0
    with pytest.raises(InputError, match=r"lat = 95 degrees_north at basin 'b2' is outside the allowed"):
        derive_inputs(ds, InputDerivation("hargreaves"))
    ds.static["lat"][:] = np.nan  # never read with PET as a forcing
    ds.add_dynamic("pet", ds.dynamic["PET"] * 0.5, "mm d-1")
    out = derive_inputs(ds, InputDerivation("forcing"))
    np.testing.assert_array_equal(out.dynamic["PET"], ds.dynamic["pet"])
    del ds.static["lat"]
    assert np.isfinite(derive_inputs(ds, InputDerivation("forcing")).dynamic["PET"]).all()
