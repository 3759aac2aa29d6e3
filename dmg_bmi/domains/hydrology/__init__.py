"""The hydrology domain: the HBV family (with routing) on daily steps, driven by hourly AORC forcing.

Its BMI session (`bmi_adapter`) runs `handler.HydrologyHandler` (the core's `ModelHandler` with the HBV
outputs, stores and state bounds) as phase-shifted daily chains (`daily_chains`), publishing runoff,
evapotranspiration and stores, and the ngen mass balance. It trains, evaluates and simulates as the core's
delta models (`dmg_bmi.domains.delta.DeltaModelDomain`), adding CAMELS-US (`data.kind: camels`) and the BMI
state files of `simulate` (`state_files`); its twin is `twin`.

What lives here: the domain (`domain`, its `DOMAIN`), the HBV family (`hbv`, `hbv_core`, `hbv_fused`), their
learned-weight mixture (`multimodel`) and routing (`routing`), the CAMELS-US reader (`camels`), the synthetic
twin (`twin`), the handler (`handler`), the phase-shifted daily chains (`daily_chains`), the BMI session
(`bmi_adapter`), `simulate`'s state files (`state_files`) and its variables table (`variables`: BMI outputs,
mass protocol, dataset variables). It may import the core and the shared runtime (`dmg_bmi.core`,
`dmg_bmi.data`, `dmg_bmi.forcing`, `dmg_bmi.ngen`, ...), never another domain. This file imports nothing:
its modules import `PHYSICS` from it.
"""

from __future__ import annotations

# the physics names whose checkpoints it runs
PHYSICS: tuple[str, ...] = ("hbv_1_0", "hbv_1_1p", "hbv_2", "hbv_multimodel")
