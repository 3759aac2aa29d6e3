"""Hydrology under the BMI: daily chains publishing runoff (m per step, m3 s-1), diagnostics and mass terms.

Outputs (`dmg_bmi.domains.hydrology.variables`): runoff depth per framework step (m) and volume flux
(m3 s-1, with the catchment's `area_km2`) from the chains' daily runoff (mm d-1, the rate of the latest 24 h);
evapotranspiration rates, the output correction's runoff flux and stores as the chains give them; the ngen
mass-balance terms (``ngen::mass_*``) in m.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from dmg_bmi.bmi_config import latitude_needed
from dmg_bmi.domains.base import BmiSession
from dmg_bmi.domains.hydrology.daily_chains import MASS_TERMS, DailyChains
from dmg_bmi.domains.hydrology.variables import OUTPUT_NAMES, mixture_variables

_MM_TO_M = 1e-3
_DIAGNOSTICS = (  # daily-chain output key -> BMI output published as is (units in its variables table)
    ("aet", "land_surface_water_evapotranspiration__volume_flux"),
    ("pet", "land_surface_water_evapotranspiration__potential_volume_flux"),
    ("correction", "land_surface_water__runoff_correction_volume_flux"),
    ("swe", "snowpack__leq_depth"),
    ("soil_moisture", "land_surface_soil_water__volume-per-area_storage_density"),
    ("upper_zone", "soil_upper-zone_water__volume-per-area_storage_density"),
    ("lower_zone", "soil_lower-zone_water__volume-per-area_storage_density"),
)


class HydrologySession(BmiSession):
    """A hydrology checkpoint (or ensemble) under the BMI: no domain-specific config keys. An HBV multimodel
    also publishes each member's weight and routed runoff contribution and the reweighting term
    (`mixture_variables`)."""

    protocols = tuple(f"ngen::{key}" for key in MASS_TERMS)

    def __init__(self, handler, cfg, origin):
        super().__init__(handler, cfg, origin)
        self.variables = mixture_variables(handler.mixture)
        self.output_names = (*OUTPUT_NAMES, *(v.name for v in self.variables))

    @property
    def required(self) -> tuple[str, ...]:
        """`area_km2` (volume flux), and `latitude` unless PET comes as a forcing."""
        return ("latitude",) * latitude_needed(self.handler.derivation.pet_method) + ("area_km2",)

    def start(self, attrs, origin, values):
        self.handler.set_attributes(attrs)
        return HydrologyChains(self.handler, int(self.cfg.time_step), origin, values)


class HydrologyChains(DailyChains):
    """`DailyChains` that publish into the BMI's arrays (`values`; latitude read once, area at publish)."""

    def __init__(self, handler, dt: int, start: datetime, values: dict[str, np.ndarray]):
        super().__init__(handler, dt, start, float(values["latitude"][0]))
        self._dt_s = float(dt)
        self._area = values["area_km2"]
        self._depth = values["land_surface_water__runoff_depth"]
        self._flux = values["land_surface_water__runoff_volume_flux"]
        mixture = [(v.internal, v.name) for v in mixture_variables(handler.mixture)]
        self._out_arrays = [(key, values[name]) for key, name in (*_DIAGNOSTICS, *mixture)]
        self._mass_arrays = [values[f"ngen::{key}"] for key in MASS_TERMS]

    def publish(self) -> None:
        out = self.outputs
        runoff_m_per_s = out["runoff"] * _MM_TO_M / 86400.0
        self._depth[0] = runoff_m_per_s * self._dt_s
        self._flux[0] = runoff_m_per_s * self._area[0] * 1e6
        for key, arr in self._out_arrays:
            arr[0] = out[key]
        for arr, value in zip(self._mass_arrays, self.mass_terms(), strict=True):
            arr[0] = value * _MM_TO_M
