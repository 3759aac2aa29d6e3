"""The BMI `Variable` record and the framework's own variables: internal name, CSDMS name, UDUNITS units,
description, role.

Each domain's table (`Domain.variables`: its outputs, its protocol terms) extends this one; the BMI declares
this table's variables and its domain's. What lives here is what the framework supplies whatever the model:
- the forcings a framework sets (ngen's AORC fields, bmi-ngen.md §4.7, and a PET rate, the field ngen's PET
  module publishes): every domain's checkpoints read from this one set, each handler naming those it reads
  (`handler.input_names`, this table's order), so the ranges and units of a forcing are stated once;
- ngen's catchment runoff (`RUNOFF_OUTPUTS`: a depth per step, its main output, and a volume flux), which
  any domain with a catchment model publishes to ngen's nexuses;
- ngen's serialization protocol (PR #957, bmi-ngen.md §4.6);
- the site keys of a BMI config (`SITE_PARAMETER_UNITS`).

Roles:
- ``input``: forcing set by the framework every step; a BMI instance lists only those its checkpoint reads,
  the others stay settable and are ignored;
- ``output``: values the model publishes every step (listed by `get_output_var_names`; ngen's runoff here,
  the others in the domain's table);
- ``parameter``: static site values set from the init config or by ngen `model_params` through `set_value`
  (area, latitude and every attribute the checkpoint needs; `parameter`); resolvable, never listed;
- ``protocol``: ngen reserved variables (mass balance, serialization), resolvable but never listed.

Units are UDUNITS strings (never ``-``); `dmg_bmi.bmi` converts at the boundary using these tables only, so
they are the single statement of what every number means.

`valid_range` (inputs) is what the Earth makes possible, in the variable's units, wide enough for records
and narrow enough to catch a units slip: precipitation 0..0.15 mm s-1 (540 mm h-1; the world's hourly record
is ~305 mm in 42 min), temperature 180..340 K (records -89.2 degC, 56.7 degC; a degC value given as K is
refused), specific humidity 0..0.05 kg kg-1, surface pressure 30..110 kPa (Everest summit ~34 kPa, sea-level
record 108.4 kPa), shortwave 0..1500 W m-2 (top of atmosphere 1361 W m-2, plus cloud-edge enhancement),
longwave 0..700 W m-2, wind components within +-110 m s-1 (the 113 m s-1 gust record), PET 0..5 mm h-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["input", "output", "parameter", "protocol"]


@dataclass(frozen=True)
class Variable:
    """One BMI variable: `internal` name used by the handler, CSDMS `name`, `units`, meaning, role."""

    internal: str
    name: str
    units: str
    description: str
    role: Role
    dtype: str = "float64"
    valid_range: tuple[float, float] | None = None  # inputs: physically possible values, in `units`


VARIABLES: tuple[Variable, ...] = (
    # --- ngen AORC forcings (CsvPerFeature / NetCDF providers publish these CSDMS names) ---
    Variable("precip_rate", "atmosphere_water__liquid_equivalent_precipitation_rate", "mm s-1",
             "precipitation rate (AORC precip_rate, = kg m-2 s-1)", "input", valid_range=(0.0, 0.15)),
    Variable("tmp2m", "land_surface_air__temperature", "K",
             "air temperature at 2 m (AORC TMP_2maboveground)", "input", valid_range=(180.0, 340.0)),
    Variable("spfh2m", "atmosphere_air_water~vapor__relative_saturation", "kg kg-1",
             "specific humidity at 2 m (AORC SPFH_2maboveground; ngen's name despite the meaning)", "input",
             valid_range=(0.0, 0.05)),
    Variable("pres", "land_surface_air__pressure", "Pa", "surface pressure (AORC PRES_surface)", "input",
             valid_range=(30000.0, 110000.0)),
    Variable("swdown", "land_surface_radiation~incoming~shortwave__energy_flux", "W m-2",
             "incoming shortwave radiation (AORC DSWRF_surface)", "input", valid_range=(0.0, 1500.0)),
    Variable("lwdown", "land_surface_radiation~incoming~longwave__energy_flux", "W m-2",
             "incoming longwave radiation (AORC DLWRF_surface)", "input", valid_range=(0.0, 700.0)),
    Variable("u10m", "land_surface_wind__x_component_of_velocity", "m s-1",
             "eastward wind at 10 m (AORC UGRD_10maboveground)", "input", valid_range=(-110.0, 110.0)),
    Variable("v10m", "land_surface_wind__y_component_of_velocity", "m s-1",
             "northward wind at 10 m (AORC VGRD_10maboveground)", "input", valid_range=(-110.0, 110.0)),
    Variable("pet_rate", "water_potential_evaporation_flux", "mm h-1",
             "potential evapotranspiration rate, given as forcing (checkpoints with pet_method 'forcing', "
             "e.g. the published CSV column PET_hargreaves in mm h-1)", "input", valid_range=(0.0, 5.0)),
    # --- ngen's catchment runoff: what a catchment model hands its nexus (`RUNOFF_OUTPUTS`) ---
    Variable("runoff_depth", "land_surface_water__runoff_depth", "m",
             "runoff depth over the BMI time step (ngen's main output)", "output"),
    Variable("runoff_flux", "land_surface_water__runoff_volume_flux", "m3 s-1",
             "runoff volume flux at the catchment outlet (runoff rate x catchment area)", "output"),
    # --- ngen serialization protocol (PR #957, bmi-ngen.md §4.6); units are exact protocol strings ---
    Variable("ser_create", "ngen::serialization_create", "ngen::trigger",
             "set any value: snapshot the state", "protocol", "int64"),
    Variable("ser_free", "ngen::serialization_free", "ngen::trigger",
             "set any value: drop the snapshot", "protocol", "int64"),
    Variable("ser_size", "ngen::serialization_size", "bytes", "size of the snapshot", "protocol", "int64"),
    Variable("ser_state", "ngen::serialization_state", "ngen::opaque",
             "the snapshot (versioned payload)", "protocol", "uint8"),
)

# Site keys of a BMI config, any domain's; a domain adds the units of its attributes
# (`Domain.parameter_units`) and the dataset variables table gives the rest (`dmg_bmi.attributes.parameter`).
SITE_PARAMETER_UNITS: dict[str, str] = {
    "area_km2": "km2", "latitude": "degree_north", "longitude": "degree_east", "elevation_m": "m",
}


def parameter(name: str, units: str) -> Variable:
    """The BMI variable of site parameter / checkpoint attribute `name` in `units` (settable, not listed)."""
    return Variable(name, name, units, f"catchment attribute {name}", "parameter")


RUNOFF_OUTPUTS: tuple[Variable, ...] = tuple(v for v in VARIABLES if v.role == "output")
BY_NAME: dict[str, Variable] = {v.name: v for v in VARIABLES}
INPUT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIABLES if v.role == "input")
MAIN_OUTPUT = "land_surface_water__runoff_depth"  # ngen's default main output

# ngen forcing field (CSV/NetCDF column) -> CSDMS input name, and the field's native units.
AORC_FIELDS: dict[str, tuple[str, str]] = {
    "precip_rate": ("atmosphere_water__liquid_equivalent_precipitation_rate", "mm s-1"),
    "TMP_2maboveground": ("land_surface_air__temperature", "K"),
    "SPFH_2maboveground": ("atmosphere_air_water~vapor__relative_saturation", "kg kg-1"),
    "PRES_surface": ("land_surface_air__pressure", "Pa"),
    "DSWRF_surface": ("land_surface_radiation~incoming~shortwave__energy_flux", "W m-2"),
    "DLWRF_surface": ("land_surface_radiation~incoming~longwave__energy_flux", "W m-2"),
    "UGRD_10maboveground": ("land_surface_wind__x_component_of_velocity", "m s-1"),
    "VGRD_10maboveground": ("land_surface_wind__y_component_of_velocity", "m s-1"),
}

# CSV forcing column names (units in brackets stripped) that can feed each BMI input, in order of preference:
# ngen's well-known AORC/NWM field names (AorcForcing.hpp) plus the PET columns of published layouts.
FORCING_COLUMNS: dict[str, tuple[str, ...]] = {
    "atmosphere_water__liquid_equivalent_precipitation_rate": ("precip_rate", "RAINRATE"),
    "land_surface_air__temperature": ("TMP_2maboveground", "T2D"),
    "atmosphere_air_water~vapor__relative_saturation": ("SPFH_2maboveground", "Q2D"),
    "land_surface_air__pressure": ("PRES_surface", "PSFC"),
    "land_surface_radiation~incoming~shortwave__energy_flux": ("DSWRF_surface", "SWDOWN"),
    "land_surface_radiation~incoming~longwave__energy_flux": ("DLWRF_surface", "LWDOWN"),
    "land_surface_wind__x_component_of_velocity": ("UGRD_10maboveground", "U2D"),
    "land_surface_wind__y_component_of_velocity": ("VGRD_10maboveground", "V2D"),
    "water_potential_evaporation_flux": ("PET_hargreaves", "PET", "pet", "potential_evapotranspiration"),
}


def lookup(name: str) -> Variable:
    """The framework variable called `name` (CSDMS name); an unknown name raises InputError listing them."""
    try:
        return BY_NAME[name]
    except KeyError:
        from dmg_bmi.errors import InputError

        raise InputError(
            f"unknown BMI variable {name!r}; valid names: {', '.join(sorted(BY_NAME))}"
        ) from None
