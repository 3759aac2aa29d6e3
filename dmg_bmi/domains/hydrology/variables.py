"""The hydrology domain's variables: its BMI outputs and mass-balance protocol, the units of its catchment
attributes, and its dataset variables (forcings, streamflow, CAMELS attributes).

BMI (`dmg_bmi.core.variables.Variable`): the inputs are the framework's (`dmg_bmi.core.variables`: the AORC
fields and a PET rate; a checkpoint reads those its `handler.input_names` name); outputs are ngen's runoff
(`dmg_bmi.core.variables.RUNOFF_OUTPUTS`, what a catchment hands its nexus) and the rates of the latest 24 h
(`dmg_bmi.domains.hydrology.daily_chains`); the ngen mass-balance terms are cumulative, in m.

Dataset (`dmg_bmi.data.variables.DataVariable`): units and the values the Earth allows. Sources:
- Weather records: WMO Archive of Weather and Climate Extremes (https://wmo.asu.edu): 24-h rainfall
  1825 mm (Foc-Foc, La Reunion, 1966); temperature -89.2 degC (Vostok, 1983) and 56.7 degC (Death Valley,
  1913); wettest year 26 461 mm (Cherrapunji, 1860-61, 72 mm d-1).
- Temperature, pressure, longwave, wind and PET follow the BMI inputs' ranges (`dmg_bmi.core.variables`):
  180..340 K (= -93.15..66.85 degC), 30..110 kPa, 0..700 W m-2, 110 m s-1, 5 mm h-1 (120 mm d-1).
- Shortwave, 24-h mean: at most the top-of-atmosphere daily mean, which peaks at about 560 W m-2 at a pole
  near its summer solstice.
- Vapour pressure: PCSE's VAP limit 199.3 hPa (saturation at 60 degC).
- Streamflow: world envelope of observed floods (Herschy 2003, "World catalogue of maximum observed
  floods", IAHS 284): below about 30 m3 s-1 km-2 (2600 mm d-1) outside tiny basins.
- Geography: elevation from the Dead Sea shore (-430 m) to Everest (8849 m); areas up to the Amazon basin's
  ~7e6 km2.
- CAMELS attributes (Addor et al. 2017, HESS 21, 5293): by definition (fractions 0..1, percentages 0..100,
  days per year 0..366, day of water year 0..366); soil depth at most 50 m (Pelletier et al. 2016 cap);
  rooting depth at most 70 m (Canadell et al. 1996, deepest root 68 m); hydraulic conductivity at most
  1 m s-1 (clean gravel, Freeze & Cherry 1979); log10 permeability -25..-5 m2 (Gleeson et al. 2011 span
  -20..-10); leaf area index at most 20 (Asner et al. 2003); mean flow at most the wettest year's rain.
"""

from __future__ import annotations

from dmg_bmi.core.variables import RUNOFF_OUTPUTS, Variable
from dmg_bmi.data.variables import DataVariable, units_table

OUTPUTS: tuple[Variable, ...] = (
    # --- outputs: rates of the latest 24 h (see dmg_bmi.domains.hydrology.daily_chains) ---
    *RUNOFF_OUTPUTS,
    Variable("aet", "land_surface_water_evapotranspiration__volume_flux", "mm d-1",
             "actual evapotranspiration rate of the latest 24 h", "output"),
    Variable("pet", "land_surface_water_evapotranspiration__potential_volume_flux", "mm d-1",
             "potential evapotranspiration of the latest 24 h, derived as the checkpoint records", "output"),
    Variable("correction", "land_surface_water__runoff_correction_volume_flux", "mm d-1",
             "runoff added (+) or removed (-) by the model's output correction network over the latest 24 h "
             "(0 without one); counted in ngen::mass_leaked as water created", "output"),
    Variable("swe", "snowpack__leq_depth", "mm",
             "snow water equivalent (frozen snowpack + liquid water held in it), mean over nmul", "output"),
    Variable("soil_moisture", "land_surface_soil_water__volume-per-area_storage_density", "mm",
             "HBV soil-moisture store SM, mean over nmul", "output"),
    Variable("upper_zone", "soil_upper-zone_water__volume-per-area_storage_density", "mm",
             "HBV upper-zone store SUZ, mean over nmul", "output"),
    Variable("lower_zone", "soil_lower-zone_water__volume-per-area_storage_density", "mm",
             "HBV lower-zone store SLZ, mean over nmul", "output"),
)
OUTPUT_NAMES: tuple[str, ...] = tuple(v.name for v in OUTPUTS)
PROTOCOL: tuple[Variable, ...] = (
    # --- ngen mass-balance protocol (balance = in - out - stored - leaked), cumulative, in m ---
    Variable("mass_in", "ngen::mass_in", "m",
             "initial storage + cumulative precipitation received", "protocol"),
    Variable("mass_out", "ngen::mass_out", "m", "cumulative runoff + actual evapotranspiration", "protocol"),
    Variable("mass_stored", "ngen::mass_stored", "m",
             "current storage: stores, routing water in transit, forcing not yet consumed", "protocol"),
    Variable("mass_leaked", "ngen::mass_leaked", "m",
             "cumulative water removed (+) or created (-) by the physics' floors and exchange term, the "
             "output correction and a multimodel's reweighting",
             "protocol"),
)
VARIABLES: tuple[Variable, ...] = (*OUTPUTS, *PROTOCOL)


def mixture_variables(members: tuple[str, ...]) -> tuple[Variable, ...]:
    """The BMI outputs of an HBV multimodel of the variants `members` (`hbv_multimodel`; none for ()): each
    member's weight and routed runoff contribution over the latest 24 h (they sum to the runoff), and the
    storage change the weights' change made (`reweighting`, counted in ngen::mass_leaked)."""
    if not members:
        return ()
    out = [Variable(f"weight_{n}", f"{n}_model__mixture_weight", "1",
                    f"softmax weight of the member {n} over the latest 24 h", "output") for n in members]
    out += [Variable(f"contribution_{n}", f"land_surface_water__{n}_model_runoff_contribution_volume_flux",
                     "mm d-1", f"the member {n}'s weighted, routed runoff over the latest 24 h", "output")
            for n in members]
    out.append(Variable("reweighting", "land_surface_water__mixture_reweighting_volume_flux", "mm d-1",
                        "change of the mixture's storage (sum of weight x member storage) made by the "
                        "weights' change over the latest 24 h; counted in ngen::mass_leaked as water created",
                        "output"))
    return tuple(out)

# Units of catchment attributes its checkpoints may read that the dataset variables below do not give.
PARAMETER_UNITS: dict[str, str] = {
    "meanelevation": "m", "uparea": "km2", "catchsize": "km2", "meanP": "mm a-1", "meanTa": "degC",
    "lengthkm": "km",
}

_T_RANGE = (-93.15, 66.85)  # the BMI's 180..340 K in degC (tests check it against dmg_bmi.core.variables)
_FLOW_RANGE = (0.0, 3000.0)
_V = DataVariable
DATASET_VARIABLES: tuple[DataVariable, ...] = (
    # --- hydrology forcings (daily) ---
    _V("P", "mm d-1", (0.0, 2000.0), "physics precipitation input (= prcp)", True),
    _V("T", "degC", _T_RANGE, "physics temperature input (= tmean)"),
    _V("PET", "mm d-1", (0.0, 120.0), "physics potential ET, derived by `input_derivation`", True),
    _V("prcp", "mm d-1", (0.0, 2000.0), "precipitation", True),
    _V("tmean", "degC", _T_RANGE, "daily mean air temperature"),
    _V("tmin", "degC", _T_RANGE, "daily minimum air temperature"),
    _V("tmax", "degC", _T_RANGE, "daily maximum air temperature"),
    _V("srad", "W m-2", (0.0, 600.0), "incoming shortwave radiation, mean over 24 h"),
    _V("lrad", "W m-2", (0.0, 700.0), "incoming longwave radiation, mean over 24 h"),
    _V("vp", "Pa", (0.0, 19930.0), "actual vapour pressure"),
    _V("pres", "Pa", (30000.0, 110000.0), "surface air pressure"),
    _V("wind", "m s-1", (0.0, 110.0), "wind speed at 10 m"),
    _V("dayl", "s", (0.0, 86400.0), "day length"),
    _V("swe", "mm", (0.0, 20000.0), "snow water equivalent (CAMELS forcing column)", True),
    _V("pet", "mm d-1", (0.0, 120.0), "potential ET given as forcing ('forcing' PET)", True),
    # --- hydrology targets ---
    _V("streamflow", "mm d-1", _FLOW_RANGE, "observed streamflow", True),
    _V("streamflow_true", "mm d-1", _FLOW_RANGE, "the twin's noise-free streamflow", True),
    # --- attributes: always present, and the twin's ---
    _V("area_km2", "km2", (1e-4, 1e7), "catchment area"),
    _V("elevation_m", "m", (-500.0, 9000.0), "mean elevation"),
    _V("p_mean", "mm d-1", (0.0, 100.0), "mean daily precipitation", True),
    _V("pet_mean", "mm d-1", (0.0, 30.0), "mean daily potential ET", True),
    _V("t_mean", "degC", _T_RANGE, "mean air temperature"),
    _V("aridity", "1", (0.0, 1000.0), "pet_mean / p_mean"),
    _V("p_seasonality", "1", (-3.0, 3.0), "precipitation seasonality (Addor et al. 2017)"),
    _V("frac_snow", "1", (0.0, 1.0), "fraction of precipitation falling below 0 degC"),
    _V("slope", "m km-1", (0.0, 2000.0), "mean slope"),
    _V("soil_depth", "m", (0.0, 50.0), "soil depth"),
    _V("forest_frac", "1", (0.0, 1.0), "forest fraction"),
    # --- CAMELS v2.0 attributes (Addor et al. 2017, tables 1-5) ---
    _V("gauge_lat", "degrees_north", (-90.0, 90.0), "gauge latitude"),
    _V("gauge_lon", "degrees_east", (-180.0, 360.0), "gauge longitude"),
    _V("elev_mean", "m", (-500.0, 9000.0), "catchment mean elevation"),
    _V("slope_mean", "m km-1", (0.0, 2000.0), "catchment mean slope"),
    _V("area_gages2", "km2", (1e-4, 1e7), "catchment area (GAGES-II)"),
    _V("area_geospa_fabric", "km2", (1e-4, 1e7), "catchment area (geospatial fabric)"),
    _V("high_prec_freq", "d yr-1", (0.0, 366.0), "frequency of high-precipitation days"),
    _V("high_prec_dur", "d", (0.0, 36525.0), "mean duration of high-precipitation events"),
    _V("low_prec_freq", "d yr-1", (0.0, 366.0), "frequency of dry days"),
    _V("low_prec_dur", "d", (0.0, 36525.0), "mean duration of dry periods"),
    _V("q_mean", "mm d-1", (0.0, 100.0), "mean daily discharge", True),
    _V("runoff_ratio", "1", (0.0, 10.0), "q_mean / p_mean"),
    _V("slope_fdc", "1", (0.0, 100.0), "slope of the flow duration curve"),
    _V("baseflow_index", "1", (0.0, 1.0), "baseflow / total flow"),
    _V("stream_elas", "1", (-100.0, 100.0), "streamflow precipitation elasticity"),
    _V("q5", "mm d-1", _FLOW_RANGE, "5 % flow quantile (low flow)", True),
    _V("q95", "mm d-1", _FLOW_RANGE, "95 % flow quantile (high flow)", True),
    _V("high_q_freq", "d yr-1", (0.0, 366.0), "frequency of high-flow days"),
    _V("high_q_dur", "d", (0.0, 36525.0), "mean duration of high-flow events"),
    _V("low_q_freq", "d yr-1", (0.0, 366.0), "frequency of low-flow days"),
    _V("low_q_dur", "d", (0.0, 36525.0), "mean duration of low-flow events"),
    _V("zero_q_freq", "percent", (0.0, 100.0), "frequency of days with zero flow"),
    _V("hfd_mean", "d", (0.0, 366.0), "mean half-flow date (day of the water year)"),
    _V("soil_depth_pelletier", "m", (0.0, 50.0), "depth to bedrock (Pelletier)"),
    _V("soil_depth_statsgo", "m", (0.0, 50.0), "soil depth (STATSGO)"),
    _V("soil_porosity", "1", (0.0, 1.0), "volumetric porosity"),
    _V("soil_conductivity", "cm h-1", (0.0, 360000.0), "saturated hydraulic conductivity"),
    _V("max_water_content", "m", (0.0, 50.0), "maximum water content"),
    _V("sand_frac", "percent", (0.0, 100.0), "sand fraction"),
    _V("silt_frac", "percent", (0.0, 100.0), "silt fraction"),
    _V("clay_frac", "percent", (0.0, 100.0), "clay fraction"),
    _V("water_frac", "percent", (0.0, 100.0), "fraction of the top 1.5 m that is water"),
    _V("organic_frac", "percent", (0.0, 100.0), "organic fraction"),
    _V("other_frac", "percent", (0.0, 100.0), "fraction of other material"),
    _V("frac_forest", "1", (0.0, 1.0), "forest fraction"),
    _V("lai_max", "m2 m-2", (0.0, 20.0), "maximum monthly leaf area index"),
    _V("lai_diff", "m2 m-2", (0.0, 20.0), "difference of maximum and minimum monthly LAI"),
    _V("gvf_max", "1", (0.0, 1.0), "maximum monthly green vegetation fraction"),
    _V("gvf_diff", "1", (0.0, 1.0), "difference of maximum and minimum monthly GVF"),
    _V("dom_land_cover_frac", "1", (0.0, 1.0), "fraction of the dominant land cover"),
    _V("root_depth_50", "m", (0.0, 70.0), "depth above which 50 % of roots are"),
    _V("root_depth_99", "m", (0.0, 70.0), "depth above which 99 % of roots are"),
    _V("glim_1st_class_frac", "1", (0.0, 1.0), "fraction of the dominant geologic class"),
    _V("glim_2nd_class_frac", "1", (0.0, 1.0), "fraction of the second geologic class"),
    _V("carbonate_rocks_frac", "1", (0.0, 1.0), "fraction of carbonate sedimentary rocks"),
    _V("geol_porostiy", "1", (0.0, 1.0), "subsurface porosity (CAMELS' spelling)"),
    _V("geol_permeability", "log10(m2)", (-25.0, -5.0), "subsurface permeability"),
)
# Units of its dataset names and the site location's, for what it builds at import time.
DATASET_UNITS: dict[str, str] = units_table(DATASET_VARIABLES)
