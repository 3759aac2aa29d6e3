"""The crop domain: δWOFOST (WOFOST 7.2 potential production with learned parameters), one field per BMI.

Its BMI session (`bmi_adapter`) steps `dmg_bmi.domains.crop.handler.CropHandler` once per day
(`days`) on the field's crop calendar (the BMI config's `crop_calendar`) and publishes the crop outputs of
its variables table (`variables`; no mass-balance protocol: potential production). It trains on crop datasets
(`data.kind: crop`, `train`), evaluates per field (`evaluate`), has no simulate verb, and its twin is `twin`.

What lives here: the domain (`domain`, its `DOMAIN`), WOFOST 7.2 PP (`wofost72/`), the PCSE readers
(`pcse/`), crop weather (`weather`), the crop dataset and twin (`dataset`, `twin`), the δWOFOST model and its
checkpoint (`delta`, `checkpoint`), its trainer and scores (`train`, `evaluate`), its handler (`handler`), the
daily BMI steps (`days`), the ngen run folder (`run_folder`), the BMI session (`bmi_adapter`) and its
variables table (`variables`). It may import the core and the shared runtime (`dmg_bmi.core`,
`dmg_bmi.forcing`, `dmg_bmi.ngen`, `dmg_bmi.data`, ...), never another domain. This file imports nothing: its
modules import `PHYSICS` from it.
"""

from __future__ import annotations

PHYSICS: tuple[str, ...] = ("wofost72_pp",)  # the physics names whose checkpoints it runs
