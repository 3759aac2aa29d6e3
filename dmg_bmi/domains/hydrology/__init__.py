"""The hydrology domain: the HBV family (with routing) on daily steps, driven by hourly AORC forcing.

Its BMI session (`bmi_adapter`) runs `handler.HydrologyHandler` (the core's `ModelHandler` with the HBV
outputs, stores and state bounds) as phase-shifted daily chains (`daily_chains`), publishing runoff,
evapotranspiration and stores, and the ngen mass balance.
It trains, evaluates and simulates with the core's defaults (`dmg_bmi.train`); its twin is
`dmg_bmi.domains.hydrology.twin`.

What lives here: the HBV family (`hbv`, `hbv_core`, `hbv_fused`) and its routing (`routing`), the CAMELS-US
reader (`camels`), the synthetic twin (`twin`), the handler (`handler`), the phase-shifted daily chains
(`daily_chains`), the BMI session (`bmi_adapter`) and its variables table (`variables`: BMI outputs, mass
protocol, dataset variables). It may import the core and the shared runtime (`dmg_bmi.core`, `dmg_bmi.data`,
`dmg_bmi.forcing`, `dmg_bmi.ngen`, ...), never another domain.
"""

from __future__ import annotations

import dataclasses

from dmg_bmi.domains.base import Domain
from dmg_bmi.domains.hydrology import variables as V

TIME_STEP = ("daily (1 d physics step); the BMI steps hourly under ngen (time_step 3600 s: 24 phase-shifted "
             "daily chains, each hour reports the latest 24 h) or daily (time_step 86400 s)")


class HydrologyDomain(Domain):
    """HBV 1.0, 1.1p and 2 checkpoints (`dmg_bmi.domains.hydrology.hbv`)."""

    name = "hydrology"
    label = "hydrology (HBV)"
    physics = ("hbv_1_0", "hbv_1_1p", "hbv_2")
    twin = "hydro"
    twin_help = "synthetic HBV catchments (attributes, weather, true parameters, flow)"
    variables = V.VARIABLES
    dataset_variables = V.DATASET_VARIABLES
    parameter_units = V.PARAMETER_UNITS

    def load_handler(self, paths, weights, device, backend):
        from dmg_bmi.domains.hydrology.handler import HydrologyHandler

        return HydrologyHandler.load(paths, weights=weights, device=device, backend=backend)

    def bmi_session(self, handler, cfg, origin):
        from dmg_bmi.domains.hydrology.bmi_adapter import HydrologySession

        return HydrologySession(handler, cfg, origin)

    def add_twin_arguments(self, group):
        group.add_argument("--basins", type=int, default=50,
                           help="number of synthetic catchments (basins x days at most 5 000 000)")
        group.add_argument("--years", type=int, default=6, help="years of daily data (1..200)")
        group.add_argument("--start", default="2000-01-01", help="first day YYYY-MM-DD")
        group.add_argument("--noise", type=float, default=0.1,
                           help="log-normal noise sigma on the flow (0..2)")

    def make_twin(self, args, out):
        from dmg_bmi.domains.hydrology.twin import check_size, write_twin

        check_size(args.basins, args.years, args.start, args.noise,
                   names={"n_basins": "--basins", "years": "--years", "start": "--start", "noise": "--noise"})
        path = write_twin(out, n_basins=args.basins, start=args.start, years=args.years,
                          seed=args.seed, noise=args.noise)
        return f"wrote {path} ({args.basins} basins x {args.years} years, seed {args.seed})"

    def describe(self, ckpt):
        return dataclasses.replace(super().describe(ckpt), kind="hydrology (δHBV)", time_step=TIME_STEP,
                                   outputs=V.OUTPUT_NAMES)


DOMAIN = HydrologyDomain()
