"""HydrologyHandler: the core `ModelHandler` for the HBV family, with its outputs, stores and state bounds.

Daily inputs are the core's (`dmg_bmi.forcing.aorc_hourly_to_daily` from ngen's AORC forcing, PET as the
checkpoint recorded). Outputs are daily: fluxes in mm/d (runoff, aet, pet, precip; correction = what an
output correction network added to the runoff, 0 without one; leak = water lost other than by runoff and ET,
the correction counted as water created), stores in mm (swe, soil_moisture, upper_zone, lower_zone, and
`storage` = all water held, routing water in transit included). A restored water store (mm) must lie in
0..`STORE_MAX_MM`.
"""

from __future__ import annotations

import numpy as np

from dmg_bmi.core.correction import FLUX_SUFFIX
from dmg_bmi.core.handler import Member, ModelHandler, basin_mean
from dmg_bmi.core.ops import NUMPY
from dmg_bmi.domains.hydrology import PHYSICS
from dmg_bmi.domains.hydrology.hbv_core import STORES
from dmg_bmi.domains.hydrology.variables import mixture_variables
from dmg_bmi.errors import CheckpointError

_STORES = frozenset((*STORES, "route_tail"))  # HBV water stores and routing water in transit (mm, >= 0)
# The most water (mm) a restored store may hold: 1e6 mm is 1 km of water, over 80 years of the wettest
# place's rain (Mawsynram, ~11 900 mm/yr) kept without any loss, far above any soil (field capacity
# <= ~1e3 mm) or HBV snow tower; a larger value is a damaged or forged state, not physics.
STORE_MAX_MM = 1e6
FLUXES = ("runoff", "aet", "pet", "precip", "correction", "leak")  # daily fluxes (mm/d) of every HBV model
CORRECTION = "streamflow" + FLUX_SUFFIX  # the correction network's flux (mm/d), where the model has one


class HydrologyMember(Member):
    """A member whose numpy path builds the routing unit hydrograph once per catchment."""

    def bind(self, attrs: dict[str, float]) -> None:
        super().bind(attrs)
        if self.backend == "numpy" and getattr(self.phy, "routing", False):
            # the UH depends on static params only: build it once
            uh = self.static["uh"] = self.phy.uh(self.static, NUMPY)
            # fraction of each tail entry still in transit (as routing.tail_water), oldest first
            self._transit = (1.0 - np.cumsum(uh, axis=-1)[:, : uh.shape[-1] - 1])[:, ::-1].copy()

    def in_transit(self, phy_state: dict) -> float:
        """Routing water in transit (mm): `phy.routing_storage`, with the weights precomputed on numpy."""
        if self.backend == "numpy" and "route_tail" in phy_state:
            return float((phy_state["route_tail"].sum(1) * self._transit).sum())
        return basin_mean(self.phy.routing_storage(phy_state, self.static))


class HydrologyHandler(ModelHandler):
    """Step an HBV-family delta model (or ensemble) for one catchment; see the module docstring."""

    label = "a hydrology (HBV) checkpoint"
    physics = PHYSICS
    member_type = HydrologyMember
    noun = "hydrology"

    def __init__(self, loaded, weights, backend):
        super().__init__(loaded, weights, backend)
        mixed = {str(m.ckpt.path): tuple(getattr(m.phy, "member_names", ())) for m in self.members}
        if len({frozenset(v) for v in mixed.values()}) > 1:
            kinds = "; ".join(f"{path}: {'HBV multimodel of ' + ', '.join(v) if v else 'single HBV'}"
                              for path, v in mixed.items())
            raise CheckpointError(f"members: an ensemble averages its members' outputs, and an HBV "
                                  f"multimodel has outputs per variant ({kinds}): ensemble single HBV "
                                  "checkpoints, or multimodels of the same variants")
        self.mixture: tuple[str, ...] = next(iter(mixed.values()))  # an hbv_multimodel's variants, else ()

    @property
    def flux_names(self) -> tuple[str, ...]:
        """The daily outputs that are 0 before the first day: `FLUXES`, and a multimodel's weights (-),
        routed contributions (mm/d) and reweighting (mm/d), as its BMI variables name them
        (`variables.mixture_variables`)."""
        return (*FLUXES, *(v.internal for v in mixture_variables(self.mixture)))

    def summarize(self, member: HydrologyMember, state: dict, raw: dict, daily: dict) -> dict[str, float]:
        """Daily outputs from the physics step's raw outputs (basin means: mm/d, mm) and the new state."""
        snow, melt, sm, suz, slz = (float(raw[k][0]) for k in ("snowpack", "meltwater", "SM", "SUZ", "SLZ"))
        gain = float(raw["clamp_gain"][0]) + (float(raw["exchange"][0]) if "exchange" in raw else 0.0)
        correction = float(raw[CORRECTION][0]) if CORRECTION in raw else 0.0
        mixture = {}
        if self.mixture:
            mixture = {"reweighting": float(raw["reweighting"][0]),
                       **{f"weight_{n}": float(raw[f"weight_{n}"][0]) for n in self.mixture},
                       **{f"contribution_{n}": float(raw[f"streamflow_{n}"][0]) for n in self.mixture}}
            gain += mixture["reweighting"]
        return {
            "swe": snow + melt, "soil_moisture": sm, "upper_zone": suz, "lower_zone": slz,
            "storage": snow + melt + sm + suz + slz + member.in_transit(state["phy"]),
            "runoff": float(raw["streamflow"][0]), "aet": float(raw["AET"][0]), "pet": float(daily["PET"]),
            "precip": float(daily["P"]),
            "correction": correction,  # mm/d the correction network added to runoff (< 0: removed)
            # water lost by the column (ngen's "leaked"): minus what floors, exchange and the correction add
            "leak": -gain - correction,
            **mixture,
        }

    def stores(self, member: HydrologyMember, state: dict) -> dict[str, float]:
        """Member stores (mm, mean over nmul) and total storage incl. routing water in transit."""
        phy = state["phy"]
        values = {k: basin_mean(v) for k, v in member.phy.store_means(phy).items()}
        in_transit = basin_mean(member.phy.routing_storage(phy, member.static))
        return {
            "swe": values["SNOWPACK"] + values["MELTWATER"],
            "soil_moisture": values["SM"], "upper_zone": values["SUZ"], "lower_zone": values["SLZ"],
            "storage": sum(values.values()) + in_transit,
        }

    def state_bounds(self, name: str) -> tuple[float, float, str] | None:
        """Water stores (mm): 0..`STORE_MAX_MM`; a multimodel's previous weights: 0..1."""
        if name in _STORES:
            return 0.0, STORE_MAX_MM, " mm (1 km of water: no catchment store holds that much)"
        if name == "weights":
            return 0.0, 1.0, " (a softmax weight)"
        return None
