"""The hydrology domain: the HBV family (with routing) on daily steps, driven by hourly AORC forcing.

Its BMI session (`bmi_adapter`) runs `dmg_bmi.handler.ModelHandler` as phase-shifted daily chains
(`dmg_bmi.ngen.daily_chains`), publishing runoff, evapotranspiration and stores, and the ngen mass balance.
"""

from __future__ import annotations

from dmg_bmi.domains.base import Domain


class HydrologyDomain(Domain):
    """HBV 1.0, 1.1p and 2 checkpoints (`dmg_bmi.models.phy.hbv`)."""

    name = "hydrology"
    label = "hydrology (HBV)"
    physics = ("hbv_1_0", "hbv_1_1p", "hbv_2")

    def load_handler(self, paths, weights, device, backend):
        from dmg_bmi.handler import ModelHandler

        return ModelHandler.load(paths, weights=weights, device=device, backend=backend)

    def bmi_session(self, handler, cfg, origin):
        from dmg_bmi.domains.hydrology.bmi_adapter import HydrologySession

        return HydrologySession(handler, cfg, origin)


DOMAIN = HydrologyDomain()
