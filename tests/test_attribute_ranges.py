"""Static catchment attributes are checked against the dataset variables table's physical ranges (in the
table's units): in the BMI (YAML at `initialize`: ConfigError naming the file, catchment, attribute, value,
units and range; ngen model_params through `set_value`: InputError at the next update) and, for attributes
the table does not know, the generic |value| <= 1e12 check when a NetCDF dataset is loaded."""

from __future__ import annotations

import re

import netCDF4
import numpy as np
import pytest
import yaml
from conftest import REPO
from test_bmi import synthetic

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.domains.hydrology.twin import write_twin
from dmg_bmi.errors import ConfigError, InputError

pytestmark = pytest.mark.numpy1

CONFIGS = REPO / "bmi_configs"


def _config(tmp_path, name: str, **attributes) -> tuple:
    cfg = yaml.safe_load((CONFIGS / name).read_text(encoding="utf-8"))
    cfg["checkpoint"] = str(CONFIGS / cfg["checkpoint"])
    cfg["attributes"] = {**cfg["attributes"], **attributes}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path, cfg["catchment_id"]


@pytest.mark.parametrize(("name", "value", "units", "allowed"), [
    ("p_mean", -50.0, "mm d-1", "[0, 100]"),
    ("frac_snow", 7.0, "1", "[0, 1]"),
    ("t_mean", 500.0, "degC", "[-93.15, 66.85]"),
    ("elevation_m", 1e9, "m", "[-500, 9000]"),
])
def test_out_of_range_yaml_attribute_is_refused_at_initialize(tmp_path, name, value, units, allowed):
    path, catchment = _config(tmp_path, "quickstart.yml", **{name: value})
    shown = re.escape(f"{name} = {value:g} {units} is outside its valid range {allowed} {units}")
    msg = rf"{re.escape(str(path))}: catchment {catchment}: {shown}"
    with pytest.raises(ConfigError, match=msg):
        DeltaModelBmi().initialize(str(path))


@pytest.mark.parametrize("value", [1e7, -1000.0])
def test_out_of_range_crop_elevation_is_refused(tmp_path, value):
    path, catchment = _config(tmp_path, "crop_twin.yml", elev=value)
    shown = re.escape(f"elev = {value:g} m is outside its valid range [-300, 6000] m")
    msg = rf"{re.escape(str(path))}: catchment {catchment}: {shown}"
    with pytest.raises(ConfigError, match=msg):
        DeltaModelBmi().initialize(str(path))


@pytest.mark.parametrize("name", ["quickstart.yml", "example.yml", "crop_twin.yml"])
def test_shipped_configs_pass(tmp_path, name):
    path, _ = _config(tmp_path, name)
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    bmi.finalize()


def test_out_of_range_model_params_are_refused_at_the_next_update(tmp_path):
    path, catchment = _config(tmp_path, "quickstart.yml")
    f = synthetic(2)
    cases = (("p_mean", -50.0, r"p_mean = -50 mm d-1 is outside its valid range \[0, 100\] mm d-1"),
             ("frac_snow", 7.0, r"frac_snow = 7 1 is outside its valid range \[0, 1\] 1"))
    for name, value, shown in cases:
        bmi = DeltaModelBmi()
        bmi.initialize(str(path))
        bmi.set_value(name, np.array([value]))
        for var in bmi.get_input_var_names():
            bmi.set_value(var, f[var][:1])
        with pytest.raises(InputError, match=rf"catchment {catchment}: attribute\(s\) set through set_value "
                                             rf"\(ngen model_params\) refused at t=0 s: {shown}"):
            bmi.update()
        good = yaml.safe_load(path.read_text(encoding="utf-8"))["attributes"][name]
        bmi.set_value(name, np.array([good]))  # a fixed value lets the run go on
        bmi.update()
        assert bmi.get_current_time() == 3600.0


def test_netcdf_attribute_outside_the_table_gets_the_generic_check(tmp_path):
    path = write_twin(tmp_path / "twin.nc", n_basins=2, years=1, spinup_years=0)
    HydroDataset.load(path)  # as written: fine
    with netCDF4.Dataset(path, "a") as nc:
        nc.variables["permeability"][1] = 1e30
    with pytest.raises(InputError, match=rf"dataset {re.escape(str(path))}: attribute permeability = 1e\+30 "
                                         r"at basin 'twin0001' is not a plausible attribute value"):
        HydroDataset.load(path)
    with netCDF4.Dataset(path, "a") as nc:
        nc.variables["permeability"][1] = np.nan  # NaN is missing, as for every variable: loads,
    ds = HydroDataset.load(path)  # but a model that reads it is refused, naming the basin
    with pytest.raises(InputError,
                       match=r"attribute 'permeability' is missing \(NaN\) at basin\(s\) \['twin0001'\]"):
        ds.attributes(["permeability"])
