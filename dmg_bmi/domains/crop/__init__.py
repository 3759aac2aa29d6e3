"""The crop domain: δWOFOST (WOFOST 7.2 potential production with learned parameters), one field per BMI.

Its BMI session (`bmi_adapter`) steps `dmg_bmi.crop_handler.CropHandler` once per day
(`dmg_bmi.ngen.crop_days`) on the field's crop calendar (the BMI config's `crop_calendar`) and publishes the
crop outputs of `dmg_bmi.variables` (no mass-balance protocol: potential production).
"""

from __future__ import annotations

from dmg_bmi.domains.base import Domain


class CropDomain(Domain):
    """δWOFOST checkpoints (`dmg_bmi.models.phy.wofost72`)."""

    name = "crop"
    label = "δWOFOST (crop)"
    physics = ("wofost72_pp",)
    config_keys = ("crop_calendar",)

    def load_handler(self, paths, weights, device, backend):
        from dmg_bmi.crop_handler import CropHandler

        return CropHandler.load(paths, weights=weights, device=device, backend=backend)

    def bmi_session(self, handler, cfg, origin):
        from dmg_bmi.domains.crop.bmi_adapter import CropSession

        return CropSession(handler, cfg, origin)


DOMAIN = CropDomain()
