"""The example run configs shipped as package data (`dmg_bmi/configs/*.yaml`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from dmg_bmi.core.config import from_dict, parse_yaml
from dmg_bmi.errors import ConfigError
from dmg_bmi.train.config import ExperimentConfig, resolve_experiment


def shipped(*sub: str) -> dict[str, Any]:
    """{name (file stem): traversable} of the `.yaml` files shipped in `dmg_bmi/configs/<sub...>`: the run
    configs, or (`shipped("bmi")`) the config builder's BMI init config templates."""
    folder = resources.files("dmg_bmi").joinpath("configs", *sub)
    files = sorted(folder.iterdir(), key=lambda p: p.name)
    return {p.name[:-5]: p for p in files if p.name.endswith(".yaml")}


def available() -> list[str]:
    """Names of the shipped configs (file stems)."""
    return list(shipped())


def package_config(name: str, overrides: list[str] | None = None) -> ExperimentConfig:
    """A shipped config by name, with `key=value` overrides applied; relative paths in it are relative to
    its folder, those in `overrides` to the working directory (`load_experiment`). An unknown name raises
    ConfigError listing the shipped ones."""
    return from_dict(ExperimentConfig, _package_raw(name, overrides))


def _package_raw(name: str, overrides: list[str] | None) -> dict:
    folder = resources.files("dmg_bmi") / "configs"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no packaged config {name!r}; available: {available()}")
    data = parse_yaml(path.read_bytes(), f"packaged config {name}.yaml")
    return resolve_experiment(data=data, overrides=overrides, base=Path(str(folder)))


def load_config(name_or_path: str, overrides: list[str] | None = None) -> ExperimentConfig:
    """`--config`: the YAML file as given when it exists (`load_experiment`), else the shipped config named
    so (`crop_twin` or `crop_twin.yaml`, `package_config`: paths written in it are relative to the shipped
    file's folder, so point them at your data with `--set`, relative to the working directory). ConfigError
    naming the path and the shipped configs when it is neither."""
    return from_dict(ExperimentConfig, raw_config(name_or_path, overrides))


def raw_config(name_or_path: str | Path, overrides: list[str] | None = None) -> dict:
    """What `load_config` validates: the raw mapping of the file or shipped config `name_or_path`, its
    paths resolved and `overrides` applied (`dmg_bmi.train.config.resolve_experiment`); for a caller that
    reads only some sections of it (the physics of a parameter table)."""
    path = Path(name_or_path).expanduser()
    if path.exists():  # a file, or what load_yaml names as not one (a folder)
        return resolve_experiment(path, overrides)
    stem = path.name[:-5] if path.name.endswith(".yaml") else path.name
    if str(path.parent) == "." and stem in available():
        return _package_raw(stem, overrides)
    raise ConfigError(f"config file not found: {name_or_path} (nor a shipped config of that name: "
                      f"{', '.join(available())})")
