"""The `Domain` interface: what a domain gives the domain-agnostic core (today: what `DeltaModelBmi` needs).

A domain (hydrology, crop, a plugin) is one object registered by name (`dmg_bmi.domains`). It names the
physics whose checkpoints it runs, loads their handler, and opens a BMI session: the variables the BMI
publishes and the time adapter that turns the framework's records into the physics' native step. Readers,
twins, trainer hooks and plots are to join this object later.

Handler (what `load_handler` returns), as the BMI uses it: `description` (str, the component name),
`input_names` (CSDMS names of the forcings read, `dmg_bmi.variables` order), `attribute_names` (site
attributes the checkpoint needs) and `fingerprint` (str, identifies the weights in a state).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from dmg_bmi.bmi_config import BmiConfig


class TimeAdapter(Protocol):
    """One run of a domain's model under the framework step; created by `BmiSession.start`."""

    def advance(self, record: np.ndarray) -> object:
        """Take one framework record: float64 `[len(handler.input_names)]` in BMI input units."""

    def publish(self) -> None:
        """Write the current outputs (and protocol terms) into the BMI's arrays, in place (units of
        `dmg_bmi.variables`)."""

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to continue exactly, as named arrays; "n" (int64 `[1]`) counts the records
        taken since the day axis' origin, "ring" `[records per day, inputs]` holds the latest day's."""

    def from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        """Restore from `to_arrays` output (keys `prefix` + name); StateError naming a bad array."""


class BmiSession:
    """A domain's part of one BMI instance, for one checkpoint (or ensemble) and one validated config.

    Created by `Domain.bmi_session` after the handler is loaded; its constructor checks the config's
    domain-specific keys (`Domain.config_keys`; ConfigError naming the key)."""

    output_names: tuple[str, ...] = ()  # BMI outputs it publishes (names in dmg_bmi.variables)
    protocols: tuple[str, ...] = ()  # extra ngen protocol variables it publishes (e.g. ngen::mass_*)

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


class Domain:
    """A domain, registered by name (`dmg_bmi.domains.get_domain`); subclass it and register an instance."""

    name: str = ""  # registry name, e.g. "hydrology"
    label: str = ""  # for messages, e.g. "hydrology (HBV)"
    physics: tuple[str, ...] = ()  # physics names (`ModelConfig.phy.name`) whose checkpoints it runs
    config_keys: tuple[str, ...] = ()  # BmiConfig fields only this domain reads (others refuse them)

    def load_handler(self, paths: list[Path], weights: list[float], device: str, backend: str):
        """The handler of checkpoint(s) `paths` with normalized `weights` (see the module docstring);
        ConfigError or CheckpointError naming what the domain cannot run (device, backend, ensembles)."""
        raise NotImplementedError

    def bmi_session(self, handler, cfg: BmiConfig, origin: datetime) -> BmiSession:
        """This domain's `BmiSession` for `handler` and `cfg`; `origin`: the day axis' first record (UTC)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Domain {self.name!r}: physics {list(self.physics)}>"
