"""The example run configs shipped as package data (`dmg_bmi/configs/*.yaml`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dmg_bmi.core.config import parse_yaml
from dmg_bmi.errors import ConfigError
from dmg_bmi.train.config import ExperimentConfig, load_experiment


def available() -> list[str]:
    """Names of the shipped configs (file stems)."""
    folder = resources.files("dmg_bmi") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def package_config(name: str, overrides: list[str] | None = None) -> ExperimentConfig:
    """A shipped config by name, with `key=value` overrides applied; relative paths in it are relative to
    its folder, those in `overrides` to the working directory (`load_experiment`). An unknown name raises
    ConfigError listing the shipped ones."""
    folder = resources.files("dmg_bmi") / "configs"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no packaged config {name!r}; available: {available()}")
    data = parse_yaml(path.read_bytes(), f"packaged config {name}.yaml")
    return load_experiment(data=data, overrides=overrides, base=Path(str(folder)))
