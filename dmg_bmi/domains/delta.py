"""`DeltaModelDomain`: the core's delta-model path behind the `Domain` hooks, and `CORE`, its plain instance.

A delta model here trains on a basin dataset (basins x days, `dmg_bmi.data.dataset.HydroDataset`) in time
windows (`dmg_bmi.core.train.trainer.train_windows`), is scored and simulated per basin (`dmg_bmi.train
.evaluate`, `dmg_bmi.train.simulate`) and runs in the BMI through the core `ModelHandler`. A domain whose
models do that (hydrology, a plugin such as a linear reservoir) subclasses `DeltaModelDomain` and overrides
what differs; `CORE` serves a physics registered in `dmg_bmi.core.registry` that no domain claims.

The registry (`dmg_bmi.domains`) loads this module by name, as it loads the domains, so that this module may
import the shared runtime (`dmg_bmi.train`, `dmg_bmi.data`) that asks the registry without an import cycle.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from dmg_bmi.domains.base import CheckpointFacts, Domain


class DeltaModelDomain(Domain):
    """A domain of delta models on basins x time windows (see the module docstring)."""

    label = "delta model"
    data_kinds: tuple[str, ...] = ("netcdf",)  # `dmg_bmi.data.dataset.HydroDataset` files

    def load_handler(self, paths, weights, device, backend):
        """The core `ModelHandler` of checkpoint(s) `paths` (`dmg_bmi.core.handler`)."""
        from dmg_bmi.core.handler import ModelHandler

        return ModelHandler.load(paths, weights=weights, device=device, backend=backend)

    def read_dataset(self, cfg, derivation):
        """The basin dataset of `cfg` (a `DataConfig`: `path`, `kind`, `basins`, `source`) as a `HydroDataset`
        in its file units; `derivation` (`dmg_bmi.forcing.InputDerivation`) is for readers that derive
        while reading. Here `kind` netcdf only (a domain adding kinds overrides this); InputError naming the
        file if it is unreadable. A list of paths: each file read, cut to the ids of `data.basins` it holds,
        and merged by basin id (`dmg_bmi.data.merge.merge_datasets`)."""
        from dmg_bmi.data.dataset import HydroDataset
        from dmg_bmi.train.config import data_paths

        paths = data_paths(cfg)
        if len(paths) == 1:
            return HydroDataset.load(paths[0])
        from dmg_bmi.data.merge import merge_datasets

        return merge_datasets([HydroDataset.load(p) for p in paths], paths, basins=cfg.basins or None)

    def check_experiment(self, cfg) -> None:
        """A training period, the window's memory and `train.output` (`check_window_experiment`)."""
        from dmg_bmi.train.config import check_window_experiment

        check_window_experiment(cfg)

    def train(self, cfg, resume: Path | None, state):
        """`dmg_bmi.core.train.trainer.train_windows` on the basin dataset of `data.path`
        (`dmg_bmi.train.data.window_data`, read by `read_dataset`)."""
        from dmg_bmi.core.train.trainer import train_windows
        from dmg_bmi.train.config import experiment_to_dict
        from dmg_bmi.train.data import window_data

        prepare = partial(window_data, cfg, domain=self)
        return train_windows(cfg, resume, state, prepare, experiment_to_dict(cfg))

    def cross_validate(self, cfg, opts) -> int:
        """k folds of basins, each trained by `train` and scored on its held-out basins, pooled
        (`dmg_bmi.train.cv.run_cv`)."""
        from dmg_bmi.train.cv import run_cv

        return run_cv(cfg, opts, self)

    def evaluate(self, args) -> int:
        """Per-basin scores and hydrographs (`dmg_bmi.train.evaluate.run_evaluate`)."""
        from dmg_bmi.train.evaluate import run_evaluate

        return run_evaluate(args, self)

    def simulate(self, args) -> int:
        """Every output per basin, end states (`dmg_bmi.train.simulate.run_simulate`)."""
        from dmg_bmi.train.simulate import run_simulate

        return run_simulate(args, self)

    def simulate_parameters(self, args) -> int:
        """The physics on a parameter table (`dmg_bmi.train.baseline.run_simulate_table`)."""
        from dmg_bmi.train.baseline import run_simulate_table

        return run_simulate_table(args, self)

    def evaluate_parameters(self, args) -> int:
        """Scores of the physics on a parameter table (`dmg_bmi.train.baseline.run_evaluate_table`)."""
        from dmg_bmi.train.baseline import run_evaluate_table

        return run_evaluate_table(args, self)

    def calibrate(self, cfg, args) -> int:
        """Per-basin calibration of the physics (`dmg_bmi.train.baseline.run_calibrate`)."""
        from dmg_bmi.train.baseline import run_calibrate

        return run_calibrate(cfg, args, self)

    @property
    def state_files(self):
        """What writes and reads BMI state files for `simulate --save-state / --initial-state`: an object
        (a module) with `save_states(state, basins, ds, checkpoint, end, folder, time_step) -> [Path]` and
        `load_states(where, ds, checkpoint, start, dtype, device) -> state`, or None where the domain's BMI
        cannot start from an offline state (`simulate` then refuses those options before it runs)."""
        return None

    def site_rows(self, path: Path) -> dict[str, dict[str, float]]:
        """The basin dataset's site table (`HydroDataset.site_rows`)."""
        from dmg_bmi.data.dataset import HydroDataset

        return HydroDataset.load(path).site_rows()

    def needs_latitude(self, ckpt) -> bool:
        """Where the checkpoint derives PET from the latitude (`dmg_bmi.bmi_config.latitude_needed`)."""
        from dmg_bmi.bmi_config import latitude_needed

        return latitude_needed(ckpt.config.inputs.pet_method)

    def describe(self, ckpt) -> CheckpointFacts:
        """A delta model's parameters, daily steps, area and latitude keys."""
        phy = ckpt.config.phy
        model = ckpt.build_model()
        keys = {"area_km2": "config key (runoff volume flux)", "latitude": "config key (PET)"}
        if not self.needs_latitude(ckpt):
            del keys["latitude"]
        return CheckpointFacts(
            kind=self.label, time_step="daily (1 d physics step)", config_keys=keys,
            pet_method=ckpt.config.inputs.pet_method,
            physics={"nmul": phy.nmul, "routing": phy.routing, "warmup_days": phy.warmup,
                     "static_parameters": [n for n in model.static_param_names if n not in phy.fixed_params],
                     "dynamic_parameters": list(model.dynamic_param_names),
                     "fixed_parameters": dict(phy.fixed_params),
                     **self._correction_facts(ckpt.config.correction, model.output_units)})

    @staticmethod
    def _correction_facts(cfg, units: dict) -> dict:
        """An output correction's facts for `describe` (`dmg_bmi.core.correction`); none without one."""
        if cfg is None:
            return {}
        return {"output_correction": {
            "output": cfg.output, "factor_range": [1.0 / cfg.max_factor, cfg.max_factor],
            "offset_range": [0.0, cfg.max_offset], "offset_units": units.get(cfg.output, ""),
            "features": [cfg.output, *cfg.features], "network": f"MLP {cfg.layers} x {cfg.hidden_size}",
            "reported_as": f"{cfg.output}_correction"}}


CORE = DeltaModelDomain()  # the core's delta-model path, for a physics no registered domain claims
