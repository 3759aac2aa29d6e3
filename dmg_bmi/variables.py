"""The one table of BMI variables: internal name, CSDMS name, UDUNITS units, description, role.

Roles:
- ``input``: forcing set by the framework every step (ngen's AORC fields, bmi-ngen.md §4.7, and a PET rate);
  a BMI instance lists only those its checkpoint reads (`handler.input_names`), the others stay settable
  and are ignored;
- ``output``: values the model publishes every step (listed by `get_output_var_names`); `model` says which
  kind of checkpoint publishes it: ``hydro`` (HBV) or ``crop`` (δWOFOST, PCSE units);
- ``parameter``: static catchment values set from the init config or by ngen `model_params` through
  `set_value` (area, latitude and every attribute the checkpoint needs); resolvable, never listed;
- ``protocol``: ngen reserved variables (mass balance, serialization), resolvable but never listed.

Units are UDUNITS strings (never ``-``); `dmg_bmi.bmi` converts at the boundary using this table
only, so the table is the single statement of what every number means.

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
    model: Literal["hydro", "crop"] = "hydro"  # outputs only: the checkpoint kind that publishes it
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
             "e.g. the δHBV 2.0 CSV column PET_hargreaves in mm h-1)", "input", valid_range=(0.0, 5.0)),
    # --- outputs: rates of the latest 24 h (see dmg_bmi.domains.hydrology.daily_chains) ---
    Variable("runoff_depth", "land_surface_water__runoff_depth", "m",
             "runoff depth over the BMI time step (ngen's main output)", "output"),
    Variable("runoff_flux", "land_surface_water__runoff_volume_flux", "m3 s-1",
             "runoff volume flux at the catchment outlet (runoff rate x catchment area)", "output"),
    Variable("aet", "land_surface_water_evapotranspiration__volume_flux", "mm d-1",
             "actual evapotranspiration rate of the latest 24 h", "output"),
    Variable("pet", "land_surface_water_evapotranspiration__potential_volume_flux", "mm d-1",
             "potential evapotranspiration of the latest 24 h, derived as the checkpoint records", "output"),
    Variable("swe", "snowpack__leq_depth", "mm",
             "snow water equivalent (frozen snowpack + liquid water held in it), mean over nmul", "output"),
    Variable("soil_moisture", "land_surface_soil_water__volume-per-area_storage_density", "mm",
             "HBV soil-moisture store SM, mean over nmul", "output"),
    Variable("upper_zone", "soil_upper-zone_water__volume-per-area_storage_density", "mm",
             "HBV upper-zone store SUZ, mean over nmul", "output"),
    Variable("lower_zone", "soil_lower-zone_water__volume-per-area_storage_density", "mm",
             "HBV lower-zone store SLZ, mean over nmul", "output"),
    # --- δWOFOST outputs (crop checkpoints): the latest completed day, WOFOST 7.2 potential production ---
    Variable("DVS", "crop__development_stage_index", "1",
             "WOFOST development stage DVS (-0.1 sowing, 0 emergence, 1 flowering, 2 maturity)", "output",
             model="crop"),
    Variable("LAI", "crop_canopy__leaf_area_index", "m2 m-2",
             "WOFOST leaf area index LAI (leaves, stems and storage organs)", "output", model="crop"),
    Variable("TAGP", "crop_above-ground__dry_mass-per-area_density", "kg ha-1",
             "WOFOST total above-ground production TAGP (dry matter, living and dead)", "output",
             model="crop"),
    Variable("TWSO", "crop_storage-organ__dry_mass-per-area_density", "kg ha-1",
             "WOFOST storage-organ dry weight TWSO (the yield)", "output", model="crop"),
    Variable("TWLV", "crop_leaf__dry_mass-per-area_density", "kg ha-1",
             "WOFOST leaf dry weight TWLV (living and dead)", "output", model="crop"),
    Variable("TWST", "crop_stem__dry_mass-per-area_density", "kg ha-1",
             "WOFOST stem dry weight TWST (living and dead)", "output", model="crop"),
    Variable("TWRT", "crop_root__dry_mass-per-area_density", "kg ha-1",
             "WOFOST root dry weight TWRT (living and dead)", "output", model="crop"),
    Variable("RD", "crop_root__depth", "cm", "WOFOST rooting depth RD", "output", model="crop"),
    Variable("TRA", "crop__transpiration_volume_flux", "cm d-1",
             "WOFOST crop transpiration rate TRA of the latest day", "output", model="crop"),
    # --- ngen mass-balance protocol (balance = in - out - stored - leaked), cumulative, in m ---
    Variable("mass_in", "ngen::mass_in", "m",
             "initial storage + cumulative precipitation received", "protocol"),
    Variable("mass_out", "ngen::mass_out", "m", "cumulative runoff + actual evapotranspiration", "protocol"),
    Variable("mass_stored", "ngen::mass_stored", "m",
             "current storage: stores, routing water in transit, forcing not yet consumed", "protocol"),
    Variable("mass_leaked", "ngen::mass_leaked", "m",
             "cumulative water removed (+) or created (-) by the physics' floors and exchange term",
             "protocol"),
    # --- ngen serialization protocol (PR #957, bmi-ngen.md §4.6); units are exact protocol strings ---
    Variable("ser_create", "ngen::serialization_create", "ngen::trigger",
             "set any value: snapshot the state", "protocol", "int64"),
    Variable("ser_free", "ngen::serialization_free", "ngen::trigger",
             "set any value: drop the snapshot", "protocol", "int64"),
    Variable("ser_size", "ngen::serialization_size", "bytes", "size of the snapshot", "protocol", "int64"),
    Variable("ser_state", "ngen::serialization_state", "ngen::opaque",
             "the snapshot (versioned payload)", "protocol", "uint8"),
)

# Catchment parameters every checkpoint may use; checkpoint attributes are added per instance by
# `parameter()`, with units known here, else those of the dataset variables table (the training attribute
# table's units, e.g. sand_frac in percent), else "1".
KNOWN_PARAMETER_UNITS: dict[str, str] = {
    "area_km2": "km2", "latitude": "degree_north", "longitude": "degree_east", "elevation_m": "m",
    "elev_mean": "m", "meanelevation": "m", "area_gages2": "km2", "uparea": "km2", "catchsize": "km2",
    "p_mean": "mm d-1", "pet_mean": "mm d-1", "slope_mean": "m km-1", "meanP": "mm a-1",
    "meanTa": "degC", "lengthkm": "km", "slope": "m km-1", "soil_depth": "m", "t_mean": "degC",
    "lat": "degree_north", "lon": "degree_east", "elev": "m",  # crop field attributes
}


def parameter(name: str) -> Variable:
    """The BMI variable for catchment parameter / checkpoint attribute `name` (settable, never listed)."""
    from dmg_bmi.data.variables import units_of

    return Variable(name, name, KNOWN_PARAMETER_UNITS.get(name) or units_of(name, "1"),
                    f"catchment attribute {name}", "parameter")


BY_NAME: dict[str, Variable] = {v.name: v for v in VARIABLES}
INPUT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIABLES if v.role == "input")
OUTPUT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIABLES if v.role == "output" and v.model == "hydro")
CROP_OUTPUT_NAMES: tuple[str, ...] = tuple(
    v.name for v in VARIABLES if v.role == "output" and v.model == "crop"
)
MAIN_OUTPUT = "land_surface_water__runoff_depth"

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
    """The variable called `name` (CSDMS name); unknown names raise InputError listing valid ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        from dmg_bmi.errors import InputError

        raise InputError(
            f"unknown BMI variable {name!r}; valid names: {', '.join(sorted(BY_NAME))}"
        ) from None
