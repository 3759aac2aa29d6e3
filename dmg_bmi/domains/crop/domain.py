"""The crop domain's `Domain` (`DOMAIN`, registered by `dmg_bmi.domains`); see the package docstring."""

from __future__ import annotations

import math

from dmg_bmi.domains.base import CheckpointFacts, Domain
from dmg_bmi.domains.crop import PHYSICS
from dmg_bmi.domains.crop import variables as V
from dmg_bmi.errors import ConfigError

TIME_STEP = ("daily (1 WOFOST day); the BMI steps hourly under ngen (time_step 3600 s: one crop day per 24 "
             "hourly records) or daily (time_step 86400 s)")
PCSE_DIR = "../shared/data/pcse_wofost72_pp"  # `make-sample-data --pcse-dir` default


class CropDomain(Domain):
    """δWOFOST checkpoints (`dmg_bmi.domains.crop.wofost72`)."""

    name = "crop"
    label = "δWOFOST (crop)"
    physics = PHYSICS
    config_keys = ("crop_calendar",)
    data_kinds = ("crop",)
    twin = "crop"
    twin_help = "WOFOST fields of several crops (weather, true parameters, observations)"
    variables = V.VARIABLES
    dataset_variables = V.DATASET_VARIABLES
    parameter_units = V.PARAMETER_UNITS

    @property
    def dataset_formats(self):
        from dmg_bmi.domains.crop.dataset import FORMAT_TAG

        return (FORMAT_TAG,)

    def load_handler(self, paths, weights, device, backend):
        from dmg_bmi.domains.crop.handler import CropHandler

        return CropHandler.load(paths, weights=weights, device=device, backend=backend)

    def bmi_session(self, handler, cfg, origin):
        from dmg_bmi.domains.crop.bmi_adapter import CropSession

        return CropSession(handler, cfg, origin)

    def data_sections(self):
        from dmg_bmi.domains.crop.train import CropDataOptions

        return {"crop": CropDataOptions}

    def check_experiment(self, cfg):
        """Fields and observations: no periods and no `train.output` to check (`dmg_bmi.domains.crop.train`
        checks `data.crop` when it trains). `data.path` is one crop dataset: a list is refused
        (ConfigError). The crop trainer holds out test sites (`data.crop.test_site_fraction`) and has no
        validation set: `best.pt` is on the training loss."""
        if not isinstance(cfg.data.path, str):
            raise ConfigError(f"data.path: a crop run reads one crop dataset (data.kind crop), got a list "
                              f"{cfg.data.path!r}: give one path (merge the fields into one dataset first)")
        from dmg_bmi.domains.crop.delta import check_model

        check_model(cfg.model)
        if cfg.model.correction is not None:
            raise ConfigError("model.correction: δWOFOST has no output correction (WOFOST PP lists no "
                              "correctable output); remove the key")
        for key, value in (("data.valid", cfg.data.valid), ("data.valid_basins", cfg.data.valid_basins),
                           ("train.patience", cfg.train.patience)):
            if value:
                raise ConfigError(f"{key}: the crop trainer has no validation set (its best.pt is the epoch "
                                  "with the lowest training loss, and it holds out test sites by "
                                  "data.crop.test_site_fraction); remove the key")

    def train(self, cfg, resume, state):
        from dmg_bmi.domains.crop.train import train_crop

        return train_crop(cfg, resume, state)

    def evaluate(self, args):
        from dmg_bmi.domains.crop.evaluate import run_evaluate

        return run_evaluate(args)

    def simulate(self, args):
        raise ConfigError("simulate runs hydrology checkpoints; this is a δWOFOST checkpoint: score it "
                          "with `dmg-bmi evaluate`, or run it through the BMI (bmi_configs/crop_twin.yml)")

    def add_twin_arguments(self, group):
        group.add_argument("--sites", type=int, default=40, help="number of sites (3 fields each; 1..5000)")
        group.add_argument("--pcse-dir", default=PCSE_DIR,
                           help=f"folder of PCSE reference cases giving the crop parameter sets (default "
                                f"{PCSE_DIR}, from the working directory)")
        group.add_argument("--heat-stress", action="store_true",
                           help="a 6 degC warmer twin whose truth has a heat-stress reduction of gross "
                                "assimilation that WOFOST 7.2 PP lacks (learn it with model.process)")
        group.add_argument("--daily-amax", action="store_true",
                           help="a twin whose true AMAX factor varies by day with a 10-day moving water "
                                "balance of the weather (learn it with model.phy.dynamic_params)")

    def make_twin(self, args, out):
        from pathlib import Path

        from dmg_bmi.domains.crop.twin import FIELDS_PER_SITE, check_size, make_crop_twin

        check_size(args.sites, FIELDS_PER_SITE, names={"n_sites": "--sites"})
        if not Path(args.pcse_dir).is_dir():
            given = "" if args.pcse_dir != PCSE_DIR else f" (the default, from {Path.cwd()})"
            raise ConfigError(f"--pcse-dir {args.pcse_dir}{given} is not a folder: the crop twin takes its "
                              "crop parameter sets from a folder of PCSE reference cases "
                              "(test_potentialproduction_wofost72_*.yaml)")
        ds = make_crop_twin(out, args.pcse_dir, n_sites=args.sites, seed=args.seed,
                            heat_stress=args.heat_stress, daily_amax=args.daily_amax)
        heat = (", heat stress" if args.heat_stress else "") + (", daily AMAX" if args.daily_amax else "")
        return f"wrote {args.out} ({ds.n_fields} crop fields at {args.sites} sites, seed {args.seed}{heat})"

    def site_rows(self, path):
        from dmg_bmi.domains.crop.dataset import CropDataset

        ds = CropDataset.load(path)
        return {field: {k: float(v) for k, v in zip(ds.attribute_names, row, strict=True)
                        if math.isfinite(float(v))}
                for field, row in zip(ds.fields, ds.attributes, strict=True)}

    def needs_latitude(self, ckpt):
        return True  # WOFOST's radiation and day length

    def describe(self, ckpt):
        from dmg_bmi.domains.crop.delta import WofostPhysics, parse_learned

        options = ckpt.config.phy.options or {}
        specs = {s.name: s for s in WofostPhysics.param_specs()}
        learned = {p.name: f"{p.mode} {p.lo:g}..{p.hi:g}"  # as the model reads them (defaults filled in)
                   for p in parse_learned(options.get("learned_params"), specs)}
        crops = {crop: sorted(varieties) for crop, varieties in (options.get("crop_params") or {}).items()}
        physics = {"crops": crops, "learned_parameters": learned}
        if ckpt.config.phy.dynamic_params:  # learned by day from the weather (`model.phy.dynamic_params`)
            physics["daily_parameters"] = (f"{', '.join(ckpt.config.phy.dynamic_params)} from "
                                           f"{ckpt.config.nn.name} over {', '.join(ckpt.nn_forcings)}")
        process = ckpt.config.process
        if process is not None:  # the hook and the network's size (`model.process`)
            physics["learned_process"] = (f"{process.hook} ({process.layers} hidden layers of "
                                          f"{process.hidden_size})")
        return CheckpointFacts(kind="crop (δWOFOST)", time_step=TIME_STEP, outputs=V.OUTPUT_NAMES,
                               physics=physics,
                               config_keys={"latitude": "config key (or attributes.lat)"})


DOMAIN = CropDomain()
