"""The hydrology domain's `Domain` (`DOMAIN`, registered by `dmg_bmi.domains`); see the package docstring."""

from __future__ import annotations

import dataclasses

from dmg_bmi.domains.delta import DeltaModelDomain
from dmg_bmi.domains.hydrology import PHYSICS
from dmg_bmi.domains.hydrology import variables as V

TIME_STEP = ("daily (1 d physics step); the BMI steps hourly under ngen (time_step 3600 s: 24 phase-shifted "
             "daily chains, each hour reports the latest 24 h) or daily (time_step 86400 s)")


class HydrologyDomain(DeltaModelDomain):
    """HBV 1.0, 1.1p and 2 checkpoints (`dmg_bmi.domains.hydrology.hbv`) and their mixture
    (`dmg_bmi.domains.hydrology.multimodel`)."""

    name = "hydrology"
    label = "hydrology (HBV)"
    physics = PHYSICS
    data_kinds = ("netcdf", "camels")
    twin = "hydro"
    twin_help = "synthetic HBV catchments (attributes, weather, true parameters, flow)"
    variables = V.VARIABLES
    dataset_variables = V.DATASET_VARIABLES
    parameter_units = V.PARAMETER_UNITS

    def load_handler(self, paths, weights, device, backend):
        from dmg_bmi.domains.hydrology.handler import HydrologyHandler

        return HydrologyHandler.load(paths, weights=weights, device=device, backend=backend)

    def read_dataset(self, cfg, derivation):
        """A basin dataset NetCDF, or a CAMELS-US tree (`data.kind: camels`, `camels.read_camels`: the basins
        of `data.basins`, forcing `data.source`, PET derived while reading by `derivation`); a list of paths
        is merged by basin id (`DeltaModelDomain.read_dataset`, `camels.read_camels_folders`)."""
        if cfg.kind != "camels":
            return super().read_dataset(cfg, derivation)
        from dmg_bmi.domains.hydrology.camels import read_camels_folders
        from dmg_bmi.train.config import data_paths

        return read_camels_folders(data_paths(cfg), basins=cfg.basins or None, pet_method=derivation,
                                   source=cfg.source)

    @property
    def state_files(self):
        """BMI state files whose daily chains start from `simulate`'s end state (`state_files`)."""
        from dmg_bmi.domains.hydrology import state_files

        return state_files

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
        group.add_argument("--abstraction", type=float, default=0.0,
                           help="warm-day share of the flow taken by a river abstraction HBV lacks "
                                "(in [0, 1); 0: none), for trying model.correction")

    def make_twin(self, args, out):
        from dmg_bmi.domains.hydrology.twin import check_size, write_twin

        check_size(args.basins, args.years, args.start, args.noise, abstraction=args.abstraction,
                   names={"n_basins": "--basins", "years": "--years", "start": "--start", "noise": "--noise",
                          "abstraction": "--abstraction"})
        path = write_twin(out, n_basins=args.basins, start=args.start, years=args.years,
                          seed=args.seed, noise=args.noise, abstraction=args.abstraction)
        taken = f", abstraction {args.abstraction}" if args.abstraction else ""
        return f"wrote {path} ({args.basins} basins x {args.years} years, seed {args.seed}{taken})"

    def describe(self, ckpt):
        """The delta model's facts; an HBV multimodel adds its mixed variants and their BMI outputs."""
        from dmg_bmi.core.registry import get_physics

        facts = super().describe(ckpt)
        members = tuple(getattr(get_physics(ckpt.config.phy.name)(ckpt.config.phy), "member_names", ()))
        mixture = V.mixture_variables(members)
        physics = {**facts.physics, "mixed_variants": list(members)} if members else facts.physics
        return dataclasses.replace(facts, kind="hydrology (δHBV)", time_step=TIME_STEP, physics=physics,
                                   outputs=(*V.OUTPUT_NAMES, *(v.name for v in mixture)), variables=mixture)


DOMAIN = HydrologyDomain()
