"""The `Domain` interface: what a domain gives the domain-agnostic core.

A domain (hydrology, crop, a plugin) is one object registered by name (`dmg_bmi.domains`). It names the
physics whose checkpoints it runs, loads their handler, and opens a BMI session: the variables the BMI
publishes and the time adapter that turns the framework's records into the physics' native step. It also
answers what the trainer, the CLI verbs, the ngen writers and `dmg-bmi inspect` ask: how it trains,
evaluates and simulates, its synthetic twin, its dataset files' site table and what a checkpoint needs and
gives. Those hooks refuse by default; `dmg_bmi.domains.delta.DeltaModelDomain` gives them the core's
delta-model path (`dmg_bmi.train`: basins x time windows, `ModelHandler`), which also serves a physics that no
registered domain claims (`dmg_bmi.domains.delta.CORE`).

This module imports only the error types (and `BmiConfig` for annotations), so every module may import it.

Handler (what `load_handler` returns), as the BMI uses it: `description` (str, the component name),
`input_names` (CSDMS names of the forcings read, `dmg_bmi.core.variables` order), `attribute_names` (site
attributes the checkpoint needs) and `fingerprint` (str, identifies the weights in a state).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dmg_bmi.errors import ConfigError

if TYPE_CHECKING:
    from dmg_bmi.bmi_config import BmiConfig


class TimeAdapter(Protocol):
    """One run of a domain's model under the framework step; created by `BmiSession.start`."""

    def advance(self, record: np.ndarray) -> object:
        """Take one framework record: float64 `[len(handler.input_names)]` in BMI input units."""

    def publish(self) -> None:
        """Write the current outputs (and protocol terms) into the BMI's arrays, in place (units of the
        domain's `variables`)."""

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to continue exactly, as named arrays; "n" (int64 `[1]`) counts the records
        taken since the day axis' origin, "ring" `[records per day, inputs]` holds the latest day's."""

    def from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        """Restore from `to_arrays` output (keys `prefix` + name); StateError naming a bad array."""


class BmiSession:
    """A domain's part of one BMI instance, for one checkpoint (or ensemble) and one validated config.

    Created by `Domain.bmi_session` after the handler is loaded; its constructor checks the config's
    domain-specific keys (`Domain.config_keys`; ConfigError naming the key)."""

    output_names: tuple[str, ...] = ()  # BMI outputs it publishes (names in `Domain.variables`)
    protocols: tuple[str, ...] = ()  # extra ngen protocol variables it publishes (e.g. ngen::mass_*)
    variables: tuple = ()  # `dmg_bmi.core.variables.Variable`s beyond its domain's (e.g. a plugin's outputs)

    def __init__(self, handler, cfg: BmiConfig, origin: datetime):
        self.handler = handler
        self.cfg = cfg

    @property
    def parameters(self) -> tuple[str, ...]:
        """Site parameters the BMI declares (settable, e.g. through ngen model_params)."""
        return tuple(dict.fromkeys(("area_km2", "latitude", *self.handler.attribute_names)))

    @property
    def required(self) -> tuple[str, ...]:
        """Site parameters (beyond the checkpoint's attributes) that must be set before the first update."""
        return ()

    def given(self) -> dict[str, float | None]:
        """Site values from the config: top-level `area_km2` (km2), `latitude` (degrees north), then
        `attributes` (None: not given)."""
        cfg = self.cfg
        return {"area_km2": cfg.area_km2, "latitude": cfg.latitude, **cfg.attributes}

    def start(self, attrs: dict[str, float], origin: datetime, values: dict[str, np.ndarray]) -> TimeAdapter:
        """Bind the site (`attrs`: the checkpoint's attributes, checked) and create the time adapter whose
        record 0 is at `origin` (UTC, naive: the day axis), publishing into `values` (the BMI's arrays:
        1-item float64 by variable name; site parameters hold their current values)."""
        raise NotImplementedError


@dataclass(frozen=True)
class CheckpointFacts:
    """What `dmg-bmi inspect` reports that differs by domain, for one checkpoint (`Domain.describe`)."""

    kind: str  # e.g. "hydrology (δHBV)"
    time_step: str  # the physics step and how the BMI steps it under ngen
    outputs: tuple[str, ...] = ()  # BMI outputs (names in `Domain.variables` or `variables`)
    variables: tuple = ()  # the session's own `dmg_bmi.core.variables.Variable`s (`BmiSession.variables`)
    physics: dict[str, Any] = field(default_factory=dict)  # facts beyond the physics' name and variant
    config_keys: dict[str, str] = field(default_factory=dict)  # BMI config key -> what reads it
    pet_method: str | None = None  # the PET derivation, None where the model derives no PET


class Domain:
    """A domain, registered by name (`dmg_bmi.domains.get_domain`); subclass it and register an instance.

    The BMI hooks must be given; the training and CLI hooks refuse by default. A domain that trains as a
    delta model on basins x time windows subclasses `dmg_bmi.domains.delta.DeltaModelDomain` instead."""

    name: str = ""  # registry name, e.g. "hydrology"
    label: str = ""  # for messages, e.g. "hydrology (HBV)"; `register` sets the name where empty
    physics: tuple[str, ...] = ()  # physics names (`ModelConfig.phy.name`) whose checkpoints it runs
    config_keys: tuple[str, ...] = ()  # BmiConfig fields only this domain reads (others refuse them)
    data_kinds: tuple[str, ...] = ()  # `data.kind` values it trains on
    dataset_formats: tuple[str, ...] = ()  # `dmg_bmi_format` tags of its own dataset NetCDF files
    twin: str = ""  # `make-sample-data --kind` name of its synthetic dataset ("": none)
    twin_help: str = ""  # what that dataset holds, for `--kind`'s help
    # Its tables: BMI variables beyond the framework's (`dmg_bmi.core.variables.Variable`: outputs, protocol),
    # dataset variables (`dmg_bmi.data.variables.DataVariable`, merged by `dmg_bmi.data.variables
    # .dataset_variables`) and units of site attributes its checkpoints read ({name: UDUNITS units}).
    variables: tuple = ()
    dataset_variables: tuple = ()
    parameter_units: dict[str, str] = {}  # read only

    def load_handler(self, paths: list[Path], weights: list[float], device: str, backend: str):
        """The handler of checkpoint(s) `paths` with normalized `weights` (see the module docstring);
        ConfigError or CheckpointError naming what the domain cannot run (device, backend, ensembles)."""
        raise NotImplementedError

    def bmi_session(self, handler, cfg: BmiConfig, origin: datetime) -> BmiSession:
        """This domain's `BmiSession` for `handler` and `cfg`; `origin`: the day axis' first record (UTC)."""
        raise NotImplementedError

    # --- training and the CLI verbs (`dmg_bmi.train`, `dmg_bmi.train.commands`) ---
    # Each refuses by default; `dmg_bmi.domains.delta.DeltaModelDomain` gives the core's delta-model path.

    def data_sections(self) -> dict[str, type]:
        """Config sections this domain reads under `data` ({key: `schema.section` class}, e.g. a `data.crop`
        options block): `dmg-bmi config explain` and the JSON Schema describe them from here."""
        return {}

    def check_experiment(self, cfg) -> None:
        """Check the parts of a training config (`ExperimentConfig`) this domain's trainer reads; ConfigError
        naming the key."""
        raise ConfigError(f"model.phy.name: the {self.label} domain does not train with `dmg-bmi train`")

    def train(self, cfg, resume: Path | None, state):
        """Train `cfg` (`state`: the `TrainingState` of checkpoint `resume`, or None); returns a
        `dmg_bmi.core.train.common.TrainResult`."""
        raise ConfigError(f"model.phy.name: the {self.label} domain does not train with `dmg-bmi train`")

    def cross_validate(self, cfg, opts) -> int:
        """`dmg-bmi cv`: spatial k-fold cross-validation of run config `cfg` (`opts`: a
        `dmg_bmi.train.cv.CvOptions`); returns the exit code."""
        raise ConfigError(f"cv: the {self.label} domain has no cross-validation over sites")

    def evaluate(self, args: argparse.Namespace) -> int:
        """`dmg-bmi evaluate` on one of its checkpoints; returns the exit code."""
        raise ConfigError(f"evaluate: the {self.label} domain does not score its checkpoints offline")

    def simulate(self, args: argparse.Namespace) -> int:
        """`dmg-bmi simulate` on one of its checkpoints; a domain that cannot raises ConfigError saying what
        to use instead."""
        raise ConfigError(f"simulate: the {self.label} domain does not simulate offline; run its checkpoints "
                          "through the BMI")

    # --- baselines without the network (`dmg_bmi.train.baseline`): the physics on a parameter table ---

    def simulate_parameters(self, args: argparse.Namespace) -> int:
        """`dmg-bmi simulate --parameters TABLE.csv`: its physics alone on per-basin parameters (a config
        names the physics: `args.config`); returns the exit code."""
        raise ConfigError(f"--parameters: the {self.label} domain does not run its physics on a parameter "
                          "table")

    def evaluate_parameters(self, args: argparse.Namespace) -> int:
        """`dmg-bmi evaluate --parameters TABLE.csv`: per-basin scores of its physics on the table."""
        raise ConfigError(f"--parameters: the {self.label} domain does not score its physics on a parameter "
                          "table")

    def calibrate(self, cfg, args: argparse.Namespace) -> int:
        """`dmg-bmi calibrate`: fit one parameter set per basin of its physics, with no network, on the
        training period of run config `cfg` (`ExperimentConfig`); returns the exit code."""
        raise ConfigError(f"calibrate: the {self.label} domain has no per-basin calibration")

    def add_twin_arguments(self, group) -> None:
        """Add the `make-sample-data` options of its twin (`--kind <twin>`) to `group` (an argparse argument
        group; an option another domain also adds is an argparse error)."""

    def make_twin(self, args: argparse.Namespace, out: Path) -> str:
        """Write its synthetic dataset to `out` (its folder checked writable by the verb) from
        `make-sample-data`'s `args` (checked first; ConfigError naming the option); returns the line to
        print."""
        raise ConfigError(f"--kind: the {self.label} domain has no synthetic dataset")

    def site_rows(self, path: Path) -> dict[str, dict[str, float]]:
        """{site id: {attribute: value}} (finite values, the file's units) of its dataset NetCDF `path`;
        DmgBmiError if unreadable."""
        raise ConfigError(f"{path}: the {self.label} domain reads no site table from a dataset file")

    # --- checkpoints: the ngen writers and `dmg-bmi inspect` ---

    def needs_latitude(self, ckpt) -> bool:
        """Whether a BMI of checkpoint `ckpt` reads the site latitude (degrees north)."""
        return True

    def describe(self, ckpt) -> CheckpointFacts:
        """What `dmg-bmi inspect` reports of checkpoint `ckpt` that differs by domain."""
        return CheckpointFacts(kind=self.label, time_step="as its BMI session steps")

    def __repr__(self) -> str:
        return f"<Domain {self.name!r}: physics {list(self.physics)}>"

