"""One variables table per domain (issue 11): the core's framework table, each domain's BMI and dataset
variables, and the merged dataset table a plugin domain adds to through the registry."""

from __future__ import annotations

import numpy as np
import pytest
from test_domains import fresh_registry  # noqa: F401  (fixture)

from dmg_bmi import domains
from dmg_bmi.attributes import parameter
from dmg_bmi.core import variables as V
from dmg_bmi.data.variables import SITE_VARIABLES, DataVariable, check_range, conform, dataset_variables
from dmg_bmi.domains.crop import variables as crop_variables
from dmg_bmi.domains.hydrology import variables as hydro_variables
from dmg_bmi.errors import ConfigError, InputError


def test_the_core_table_holds_only_what_the_framework_supplies():
    roles = {v.name: v.role for v in V.VARIABLES}
    assert {n for n, r in roles.items() if r == "input"} == set(V.INPUT_NAMES) == set(V.FORCING_COLUMNS)
    assert [v.name for v in V.RUNOFF_OUTPUTS] == [V.MAIN_OUTPUT, "land_surface_water__runoff_volume_flux"]
    assert {n for n, r in roles.items() if r == "protocol"} == {
        f"ngen::serialization_{k}" for k in ("create", "free", "size", "state")}
    assert all(v.valid_range is not None for v in V.VARIABLES if v.role == "input")


def test_each_domain_exposes_its_own_table():
    hydro, crop = domains.get_domain("hydrology"), domains.get_domain("crop")
    assert hydro.variables == hydro_variables.VARIABLES and crop.variables == crop_variables.VARIABLES
    assert hydro_variables.OUTPUT_NAMES[:2] == tuple(v.name for v in V.RUNOFF_OUTPUTS)
    assert {v.name for v in hydro_variables.PROTOCOL} == {f"ngen::mass_{k}" for k in
                                                          ("in", "out", "stored", "leaked")}
    assert len(crop_variables.OUTPUT_NAMES) == 9 and not set(crop_variables.OUTPUT_NAMES) & set(
        hydro_variables.OUTPUT_NAMES)
    assert all(v.role in ("output", "protocol") for v in (*hydro.variables, *crop.variables))
    assert hydro.dataset_variables == hydro_variables.DATASET_VARIABLES
    assert {v.name for v in crop.dataset_variables} >= {"IRRAD", "TMIN", "VAP", "elev", "TWSO"}


def test_the_merged_dataset_table_is_the_site_location_and_every_domain_s_entries():
    table = dataset_variables()
    parts = (SITE_VARIABLES, hydro_variables.DATASET_VARIABLES, crop_variables.DATASET_VARIABLES)
    assert len(table) == sum(len(p) for p in parts) == 97  # no name in two places
    assert all(table[v.name] is v for p in parts for v in p)


def test_a_plugin_domain_adds_dataset_variables_and_parameter_units(fresh_registry):  # noqa: F811
    class Leafy(domains.Domain):
        name, label = "leafy", "leafy (test)"
        dataset_variables = (DataVariable("chlorophyll", "ug cm-2", (0.0, 150.0), "leaf chlorophyll"),)
        parameter_units = {"canopy_height": "m"}

    assert "chlorophyll" not in dataset_variables() and parameter("canopy_height").units == "1"
    domains.register(Leafy())
    assert dataset_variables()["chlorophyll"].units == "ug cm-2" and parameter("canopy_height").units == "m"
    values, units = conform("chlorophyll", [0.5], "mg cm-2", "f.nc")
    assert units == "ug cm-2" and np.allclose(values, [500.0])
    with pytest.raises(InputError, match=r"f\.nc: chlorophyll = 200 ug cm-2 at field 'a' is outside the "
                                         r"allowed range \[0, 150\] ug cm-2"):
        check_range("chlorophyll", [200.0], "f.nc", lambda i: "at field 'a'")


def test_two_domains_defining_one_name_differently_are_named(fresh_registry):  # noqa: F811
    class Clash(domains.Domain):
        name, label = "clash", "clash (test)"
        dataset_variables = (DataVariable("TMIN", "K", (180.0, 340.0), "minimum temperature"),)
        parameter_units = {"latitude": "rad"}

    domains.available()  # the built-ins first
    domains.register(Clash())
    with pytest.raises(ConfigError, match=r"dataset_variables: domain 'clash' defines 'TMIN' as .*'K'.*, "
                                          r"domain 'crop' as .*'degC'"):
        dataset_variables()
    with pytest.raises(ConfigError, match=r"parameter_units: domain 'clash' defines 'latitude' as 'rad', "
                                          r"the core as 'degree_north'"):
        parameter("latitude")
