"""Data for training, evaluation and simulation: load a `HydroDataset`, cut periods, derive P/T/PET.

The physics inputs P, T, PET (mm/d, degC, mm/d) are derived from the raw daily forcings (`prcp`, `tmean`, ...)
by `dmg_bmi.forcing.InputDerivation` with the model's `inputs.pet_method`, the same code the BMI runs; a
dataset that already holds P/T/PET derived the same way is used as is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import warnings

import numpy as np
import torch

from dmg_bmi.bmi_config import latitude_needed
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.core.registry import get_physics
from dmg_bmi.core.train.inputs import ModelTensors, WindowData, build_tensors, fit_normalizer
from dmg_bmi.core.train.validation import ValidationSet
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.data.variables import check_range
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.forcing import InputDerivation, derivation_record
from dmg_bmi.train.config import DataConfig, ExperimentConfig, Period, data_paths

PHYSICS_INPUTS = ("P", "T", "PET")
PHYSICS_UNITS = {"P": "mm d-1", "T": "degC", "PET": "mm d-1"}


def load_dataset(cfg: DataConfig, derivation: InputDerivation, domain,
                 need_target: bool = True) -> HydroDataset:
    """The dataset named by `data.path` (one path, or a list merged by basin id) / `data.kind`, read by
    `domain` (a `DeltaModelDomain`: `read_dataset`), restricted to `data.basins` (all when empty), with
    P/T/PET derived by `derivation`; it must hold `data.target` unless not `need_target` (a simulation
    reads no observations)."""
    if cfg.kind not in domain.data_kinds:
        raise ConfigError(f"data.kind: {cfg.kind!r} is not a dataset of the {domain.label} domain; it reads "
                          f"data.kind {', '.join(domain.data_kinds)}")
    ds = domain.read_dataset(cfg, derivation)
    if cfg.basins:
        ds = ds.sel_basins(cfg.basins)
    if ds.n_basins == 0:
        raise InputError(f"data.path: {', '.join(data_paths(cfg))} holds no basins (data.basins: "
                         f"{cfg.basins or 'every basin'}); there is nothing to train, evaluate or simulate")
    if need_target and cfg.target not in ds.target_names:
        raise InputError(f"data.target: {cfg.target!r} is not a target in {', '.join(data_paths(cfg))}; "
                         f"targets: {ds.target_names}")
    return derive_inputs(ds, derivation)


def derive_inputs(ds: HydroDataset, derivation: InputDerivation) -> HydroDataset:
    """Add (or recompute) P, T, PET with `derivation` unless the dataset holds them made the same way."""
    if set(PHYSICS_INPUTS) <= set(ds.dynamic) and ds.derivation == derivation:
        return ds
    daily = {k: ds.dynamic[k] for k in ds.forcing_names}
    if "tmean" not in daily and "tmin" in daily and "tmax" in daily:
        daily["tmean"] = 0.5 * (daily["tmin"] + daily["tmax"])
    if "elevation_m" in ds.static:
        daily["elevation_m"] = ds.static["elevation_m"][:, None]
    lat = None
    if latitude_needed(derivation.pet_method):
        if "lat" not in ds.static:
            raise InputError(f"{ds.origin}: attribute 'lat' (degrees_north) is missing; PET "
                             f"({derivation.pet_method}) needs the basin latitude")
        lat = ds.attributes(["lat"])  # a NaN latitude is refused naming the basins
        check_range("lat", lat, ds.origin, lambda index: f"at basin {ds.basins[index[0]]!r}")
    derived = derivation.model_inputs(daily, lat, ds.doy[None, :].astype(np.float64))
    for name in PHYSICS_INPUTS:
        value = np.broadcast_to(np.asarray(derived[name], dtype=np.float64), (ds.n_basins, ds.n_time))
        ds.add_dynamic(name, value.copy(), PHYSICS_UNITS[name])
    ds.metadata["input_derivation"] = json.dumps(derivation.to_dict())
    return ds


def with_warmup(ds: HydroDataset, period: Period, warmup: int, what: str) -> tuple[HydroDataset, int]:
    """Days `[start - warmup, end]`, the warm-up clipped at the data start.

    Returns the slice and the number of days before `period.start` it holds. A period not inside the data
    raises ConfigError naming the config key and the data range.
    """
    first, last = ds.dates[0].astype(dt.date), ds.dates[-1].astype(dt.date)
    if period.start < first or period.end > last:
        raise ConfigError(f"{what}: {period.start}..{period.end} is outside the data, which covers "
                          f"{first}..{last}")
    lead = min(warmup, (period.start - first).days)
    return ds.sel_period(period.start - dt.timedelta(days=lead), period.end), lead


def drop_empty_target_basins(ds: HydroDataset, target: str, what: str) -> HydroDataset:
    """Remove basins whose target is NaN on every day, with a warning naming them."""
    values = ds.target(target)
    empty = [str(b) for b, row in zip(ds.basins, values, strict=True) if not np.isfinite(row).any()]
    if not empty:
        return ds
    keep = [str(b) for b in ds.basins if str(b) not in empty]
    if not keep:
        raise InputError(f"{what}: every basin has an all-NaN target {target!r}: {empty}")
    warnings.warn(f"{what}: skipping basin(s) {empty}: target {target!r} is NaN on every day", stacklevel=2)
    return ds.sel_basins(keep)


def window_data(cfg: ExperimentConfig, device: torch.device, normalizer: Normalizer | None = None, *,
                domain) -> WindowData:
    """The core window trainer's data (`dmg_bmi.core.train.trainer.train_windows`' `prepare`): the training
    period of `data.path` (read by `domain`, see `load_dataset`) with its warm-up, P/T/PET derived by
    `model.inputs.pet_method`, on `device`, and the validation set (`validation_set`) when the config has
    one. Validation basins (`data.valid_basins`) are left out of training.

    normalizer: reuse these statistics (a resumed run) instead of fitting them on the training period.
    """
    derivation = InputDerivation(pet_method=cfg.model.inputs.pet_method)
    data = cfg.data
    held = list(data.valid_basins)
    read = dataclasses.replace(data, basins=list(data.basins) + held if data.basins else [])
    ds = load_dataset(read, derivation, domain)
    if held:
        ds.sel_basins(held)  # each validation basin must be in the data (InputError naming it)
        left_out = set(held)
        keep = [str(b) for b in ds.basins if str(b) not in left_out]
        if not keep:
            raise ConfigError(f"data.valid_basins: {held} are every basin of data.path "
                              f"{', '.join(data_paths(data))}; none is left to train on")
        ds_train = ds.sel_basins(keep)
    else:
        ds_train = ds
    train_ds, lead = with_warmup(ds_train, data.train, cfg.model.phy.warmup, "data.train")
    train_ds = scored_after(train_ds, lead, data.target, "data.train")
    if normalizer is None:
        normalizer = fit_normalizer(train_ds.sel_period(data.train.start, data.train.end), cfg.model)
    tensors, std = _period_tensors(train_ds, cfg, normalizer, device)
    validation = None
    if data.validating:
        source = ds.sel_basins(held) if held else ds_train.sel_basins([str(b) for b in train_ds.basins])
        validation = validation_set(source, cfg, normalizer, device)
    return WindowData(tensors=tensors, basins=[str(b) for b in train_ds.basins], basin_std=std,
                      normalizer=normalizer, derivations=derivation_record(derivation), validation=validation)


def scored_after(sub: HydroDataset, lead: int, target: str, what: str) -> HydroDataset:
    """A `with_warmup` slice with its target NaN on the `lead` warm-up days (they are not scored) and the
    basins without an observed day left out with a warning (`drop_empty_target_basins`; `what` names the
    period)."""
    sub.dynamic[target][:, :lead] = np.nan
    return drop_empty_target_basins(sub, target, what)


def validation_set(ds: HydroDataset, cfg: ExperimentConfig, normalizer: Normalizer,
                   device: torch.device) -> ValidationSet:
    """The validation basins `ds` over `data.valid` (else `data.train`) with the warm-up before it, as model
    tensors (`dmg_bmi.core.train.validation.ValidationSet`); basins with no observed target in the period are
    left out with a warning. A period too short to outlast the model's warm-up is a ConfigError naming it."""
    data = cfg.data
    key = "data.valid" if data.valid is not None else "data.train"
    period = data.valid if data.valid is not None else data.train
    sub, lead = with_warmup(ds, period, cfg.model.phy.warmup, key)
    if sub.n_time <= cfg.model.phy.warmup:
        raise ConfigError(f"{key}: {period.start}..{period.end} with the {lead} warm-up days before it is "
                          f"not longer than model.phy.warmup ({cfg.model.phy.warmup} days): nothing is left "
                          "to validate on")
    sub = scored_after(sub, lead, data.target, f"{key} (validation)")
    tensors, std = _period_tensors(sub, cfg, normalizer, device)
    basins = [str(b) for b in sub.basins]
    label = f"{len(basins)} basin{'s' * (len(basins) > 1)}, {period.start}..{period.end}"
    return ValidationSet(tensors=tensors, basins=basins, basin_std=std, label=label)


def _period_tensors(ds: HydroDataset, cfg: ExperimentConfig, normalizer: Normalizer,
                    device: torch.device) -> tuple[ModelTensors, torch.Tensor]:
    """Model tensors of every day of `ds` with the target `data.target`, and each basin's target standard
    deviation `[B]` (target units, NaN days left out)."""
    phy = get_physics(cfg.model.phy.name)(cfg.model.phy)  # built: what it reads may follow its options
    tensors = build_tensors(ds, cfg.model, normalizer, phy.forcing_names, phy.attribute_names,
                            target=cfg.data.target, device=device)
    obs = ds.target(cfg.data.target)
    std = torch.as_tensor(np.nanstd(obs, axis=1), dtype=tensors.x_phy.dtype, device=device)
    return tensors, std
