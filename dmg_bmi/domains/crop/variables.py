"""The crop domain's variables: its BMI outputs (δWOFOST, PCSE units), the units of its field attributes,
and its dataset variables (WOFOST weather, the sites' elevation, crop observations).

BMI (`dmg_bmi.core.variables.Variable`): the inputs are the framework's AORC fields
(`dmg_bmi.core.variables`; WOFOST's daily weather is made from `dmg_bmi.domains.crop.weather.AORC_INPUTS`);
outputs are the latest completed day of WOFOST 7.2 potential production (no mass-balance protocol).

Dataset (`dmg_bmi.data.variables.DataVariable`): units and the values PCSE allows. Sources:
- WOFOST weather: PCSE's own limits, `pcse.base.weather.WeatherDataContainer.ranges` (PCSE 6.0): IRRAD
  0..40e6 J m-2 d-1, TMIN/TMAX/TEMP -50..60 degC, VAP 0.06..199.3 hPa, RAIN 0..25 cm d-1, E0/ES0/ET0
  0..2.5 cm d-1, WIND 0..100 m s-1, ELEV -300..6000 m. PCSE refuses weather outside them, so the model
  that reproduces it does too (a -60 degC day is refused as WOFOST weather, accepted as HBV forcing).
- Crop observations: DVS -0.1 (sowing) .. DVSEND (2.0 in PCSE's crops), with room for noisy estimates;
  biomass at most 100 t ha-1 (above any recorded annual dry-matter yield); rooting depth at most 10 m;
  transpiration at most ET0's 2.5 cm d-1.
"""

from __future__ import annotations

from dmg_bmi.core.variables import Variable
from dmg_bmi.data.variables import DataVariable, units_table

OUTPUTS: tuple[Variable, ...] = (
    # --- δWOFOST outputs (crop checkpoints): the latest completed day, WOFOST 7.2 potential production ---
    Variable("DVS", "crop__development_stage_index", "1",
             "WOFOST development stage DVS (-0.1 sowing, 0 emergence, 1 flowering, 2 maturity)", "output"),
    Variable("LAI", "crop_canopy__leaf_area_index", "m2 m-2",
             "WOFOST leaf area index LAI (leaves, stems and storage organs)", "output"),
    Variable("TAGP", "crop_above-ground__dry_mass-per-area_density", "kg ha-1",
             "WOFOST total above-ground production TAGP (dry matter, living and dead)", "output"),
    Variable("TWSO", "crop_storage-organ__dry_mass-per-area_density", "kg ha-1",
             "WOFOST storage-organ dry weight TWSO (the yield)", "output"),
    Variable("TWLV", "crop_leaf__dry_mass-per-area_density", "kg ha-1",
             "WOFOST leaf dry weight TWLV (living and dead)", "output"),
    Variable("TWST", "crop_stem__dry_mass-per-area_density", "kg ha-1",
             "WOFOST stem dry weight TWST (living and dead)", "output"),
    Variable("TWRT", "crop_root__dry_mass-per-area_density", "kg ha-1",
             "WOFOST root dry weight TWRT (living and dead)", "output"),
    Variable("RD", "crop_root__depth", "cm", "WOFOST rooting depth RD", "output"),
    Variable("TRA", "crop__transpiration_volume_flux", "cm d-1",
             "WOFOST crop transpiration rate TRA of the latest day", "output"),
)
OUTPUT_NAMES: tuple[str, ...] = tuple(v.name for v in OUTPUTS)
VARIABLES: tuple[Variable, ...] = OUTPUTS

# Units of the field attributes its checkpoints read, as a BMI config or ngen `model_params` gives them.
PARAMETER_UNITS: dict[str, str] = {"lat": "degree_north", "lon": "degree_east", "elev": "m"}

_V = DataVariable
DATASET_VARIABLES: tuple[DataVariable, ...] = (
    # --- WOFOST weather (PCSE units) and the crop sites' elevation ---
    _V("IRRAD", "J m-2 d-1", (0.0, 40e6), "daily global radiation"),
    _V("TMIN", "degC", (-50.0, 60.0), "daily minimum temperature"),
    _V("TMAX", "degC", (-50.0, 60.0), "daily maximum temperature"),
    _V("TEMP", "degC", (-50.0, 60.0), "daily mean temperature (optional)"),
    _V("VAP", "hPa", (0.06, 199.3), "mean daily vapour pressure"),
    _V("WIND", "m s-1", (0.0, 100.0), "mean daily wind speed at 2 m"),
    _V("RAIN", "cm d-1", (0.0, 25.0), "daily rainfall", True),
    _V("E0", "cm d-1", (0.0, 2.5), "Penman open-water evaporation", True),
    _V("ES0", "cm d-1", (0.0, 2.5), "Penman bare-soil evaporation", True),
    _V("ET0", "cm d-1", (0.0, 2.5), "Penman reference-crop evapotranspiration", True),
    _V("elev", "m", (-300.0, 6000.0), "crop site elevation (PCSE's ELEV)"),
    # --- crop observations (WOFOST outputs) ---
    _V("DVS", "1", (-0.5, 3.0), "development stage"),
    _V("LAI", "m2 m-2", (0.0, 20.0), "leaf area index"),
    _V("TAGP", "kg ha-1", (0.0, 1e5), "total above-ground production"),
    _V("TWSO", "kg ha-1", (0.0, 1e5), "storage-organ dry weight"),
    _V("TWLV", "kg ha-1", (0.0, 1e5), "leaf dry weight"),
    _V("TWST", "kg ha-1", (0.0, 1e5), "stem dry weight"),
    _V("TWRT", "kg ha-1", (0.0, 1e5), "root dry weight"),
    _V("RD", "cm", (0.0, 1000.0), "rooting depth"),
    _V("TRA", "cm d-1", (0.0, 2.5), "crop transpiration", True),
)
# Units of its dataset names and the site location's, for what it builds at import time.
DATASET_UNITS: dict[str, str] = units_table(DATASET_VARIABLES)
