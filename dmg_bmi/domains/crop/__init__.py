"""The crop domain: δWOFOST (WOFOST 7.2 potential production with learned parameters), one field per BMI.

Its BMI session (`bmi_adapter`) steps `dmg_bmi.domains.crop.handler.CropHandler` once per day
(`days`) on the field's crop calendar (the BMI config's `crop_calendar`) and publishes the crop outputs of
its variables table (`variables`; no mass-balance protocol: potential production). It trains on crop datasets
(`data.kind: crop`, `train`), evaluates per field (`evaluate`), has no simulate verb, and its twin is `twin`.

What lives here: WOFOST 7.2 PP (`wofost72/`), the PCSE readers (`pcse/`), crop weather (`weather`), the crop
dataset and twin (`dataset`, `twin`), the δWOFOST model and its checkpoint (`delta`, `checkpoint`), its
trainer and scores (`train`, `evaluate`), its handler (`handler`), the daily BMI steps (`days`), the ngen run
folder (`run_folder`), the BMI session (`bmi_adapter`) and its variables table (`variables`). It may import
the core and the shared runtime (`dmg_bmi.core`, `dmg_bmi.forcing`, `dmg_bmi.ngen`, `dmg_bmi.data`, ...),
never another domain.
"""

from __future__ import annotations

import math

from dmg_bmi.domains.base import CheckpointFacts, Domain
from dmg_bmi.domains.crop import variables as V
from dmg_bmi.errors import ConfigError

TIME_STEP = ("daily (1 WOFOST day); the BMI steps hourly under ngen (time_step 3600 s: one crop day per 24 "
             "hourly records) or daily (time_step 86400 s)")


class CropDomain(Domain):
    """δWOFOST checkpoints (`dmg_bmi.domains.crop.wofost72`)."""

    name = "crop"
    label = "δWOFOST (crop)"
    physics = ("wofost72_pp",)
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

    def check_experiment(self, cfg):
        """Fields and observations: no periods and no `train.output` to check (`dmg_bmi.domains.crop.train`
        checks `data.crop` when it trains)."""

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
        group.add_argument("--pcse-dir", default="../shared/data/pcse_wofost72_pp",
                           help="folder of PCSE reference cases giving the crop parameter sets")

    def make_twin(self, args, out):
        from pathlib import Path

        from dmg_bmi.domains.crop.twin import FIELDS_PER_SITE, check_size, make_crop_twin

        check_size(args.sites, FIELDS_PER_SITE, names={"n_sites": "--sites"})
        if not Path(args.pcse_dir).is_dir():
            raise ConfigError(f"--pcse-dir {args.pcse_dir} is not a folder: the crop twin takes its crop "
                              "parameter sets from a folder of PCSE reference cases "
                              "(test_potentialproduction_wofost72_*.yaml)")
        ds = make_crop_twin(out, args.pcse_dir, n_sites=args.sites, seed=args.seed)
        return f"wrote {args.out} ({ds.n_fields} crop fields at {args.sites} sites, seed {args.seed})"

    def site_rows(self, path):
        from dmg_bmi.domains.crop.dataset import CropDataset

        ds = CropDataset.load(path)
        return {field: {k: float(v) for k, v in zip(ds.attribute_names, row, strict=True)
                        if math.isfinite(float(v))}
                for field, row in zip(ds.fields, ds.attributes, strict=True)}

    def needs_latitude(self, ckpt):
        return True  # WOFOST's radiation and day length

    def describe(self, ckpt):
        options = ckpt.config.phy.options or {}
        learned = {name: f"{spec.get('mode')} {spec.get('lo')}..{spec.get('hi')}"
                   for name, spec in (options.get("learned_params") or {}).items()}
        crops = {crop: sorted(varieties) for crop, varieties in (options.get("crop_params") or {}).items()}
        return CheckpointFacts(kind="crop (δWOFOST)", time_step=TIME_STEP, outputs=V.OUTPUT_NAMES,
                               physics={"crops": crops, "learned_parameters": learned},
                               config_keys={"latitude": "config key (or attributes.lat)"})


DOMAIN = CropDomain()
