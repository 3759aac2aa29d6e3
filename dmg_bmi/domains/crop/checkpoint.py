"""δWOFOST checkpoints in C's one-file format (`dmg_bmi.core.checkpoint`), and rebuilding the model from one.

A crop checkpoint is an ordinary `Checkpoint` whose `config.phy.name` is "wofost72_pp":
- `config.phy.options.crop_params` holds the crop parameter sets inline ({crop: {variety: {name: value}}}),
  so the file alone runs the model (no parameter files needed);
- `nn_forcings` the daily weather the learner's LSTM sees (empty without daily parameters), `nn_attributes`
  the field attributes it needs;
- `phy_forcings` the daily WOFOST weather channels, `phy_attributes` ("lat", "elev"): latitude (degrees_north)
  for the crop's day length and elevation (m) for Penman's rates from hourly forcing;
- `derivations["weather"]`: how daily WOFOST weather is made from hourly AORC forcing
  (`weather.aorc_hourly_to_wofost_daily` keyword arguments).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dmg_bmi.core.checkpoint import Checkpoint
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.domains.crop import PHYSICS
from dmg_bmi.domains.crop.delta import PHYSICS_WEATHER, CropDeltaModel, resolve_parameter_sets
from dmg_bmi.domains.crop.wofost72.model import OUTPUT_NAMES
from dmg_bmi.errors import CheckpointError, DmgBmiError

PHY_ATTRIBUTES = ("lat", "elev")
DEFAULT_WEATHER = {"method": "aorc_hourly_to_wofost_daily", "et0_method": "penman", "wind_profile": "fao56",
                   "angstrom_a": 0.25, "angstrom_b": 0.5}


def is_crop(ckpt: Checkpoint) -> bool:
    """True for a δWOFOST checkpoint."""
    return ckpt.config.phy.name in PHYSICS


def weather_options(ckpt: Checkpoint) -> dict[str, Any]:
    """Keyword arguments of the BMI's day weather (`weather.wofost_day`) recorded in the checkpoint (defaults
    if absent); CheckpointError naming the file and an option it does not take (the BMI's days start at
    record 0: a recorded `day_start_hour_utc` is refused, not shifted)."""
    rec = dict(DEFAULT_WEATHER)
    rec.update(ckpt.derivations.get("weather") or {})
    unknown = sorted(set(rec) - set(DEFAULT_WEATHER))
    if unknown:
        raise CheckpointError(f"{ckpt.path}: derivations.weather records option(s) {unknown} the crop BMI "
                              f"does not take; it takes {sorted(set(DEFAULT_WEATHER) - {'method'})}")
    rec.pop("method", None)
    return rec


def save_crop_checkpoint(path: str | Path, model: CropDeltaModel, normalizer: Normalizer, *,
                         training: dict[str, Any] | None = None,
                         optimizer_state: dict[str, Any] | None = None) -> Path:
    """Write `model` (its config must carry inline `crop_params`) atomically to `path`."""
    cfg = model.cfg
    resolve_parameter_sets(cfg.phy.options.get("crop_params"))  # raises unless present and well formed
    names, forcings = list(cfg.inputs.attributes), list(cfg.inputs.forcings)
    missing = [n for n in names + forcings if n not in normalizer.stats]
    if missing:
        raise CheckpointError(f"cannot save: no normalization statistics for NN input(s) {missing}")
    ckpt = Checkpoint(
        config=cfg, state_dict={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        normalization=normalizer, nn_forcings=forcings, nn_attributes=names,
        phy_forcings=list(PHYSICS_WEATHER),
        phy_attributes=list(PHY_ATTRIBUTES), outputs=list(OUTPUT_NAMES),
        derivations={"weather": dict(DEFAULT_WEATHER)}, training=training, optimizer_state=optimizer_state,
    )
    return ckpt.save(path)


def build_crop_model(ckpt: Checkpoint, device: torch.device | str = "cpu",
                     dtype: torch.dtype | None = None) -> CropDeltaModel:
    """Rebuild the CropDeltaModel of a crop checkpoint (strict weight load), in eval mode."""
    where = ckpt.path or "checkpoint"
    if not is_crop(ckpt):
        raise CheckpointError(f"{where}: not a δWOFOST checkpoint (physics {ckpt.config.phy.name!r})")
    try:
        resolve_parameter_sets(ckpt.config.phy.options.get("crop_params"))
        model = CropDeltaModel.from_config(ckpt.config, len(ckpt.nn_attributes))
    except DmgBmiError as exc:
        raise CheckpointError(f"{where}: cannot build the crop model from its config: {exc}") from exc
    try:
        model.load_state_dict(ckpt.state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{where}: weights do not match the config: {exc}") from exc
    if dtype is not None:
        model.to(dtype)
    return model.to(device).eval()


def parameter_sets(ckpt: Checkpoint) -> dict[str, dict[str, dict[str, Any]]]:
    """The inline crop parameter sets {crop: {variety: params}} of a crop checkpoint."""
    return resolve_parameter_sets(ckpt.config.phy.options.get("crop_params"))
