"""Checks of static catchment attributes, shared by the BMI, simulate/evaluate and the ngen writers.

Two tests, each in the attribute's units (the training table's):

- possible (`attribute_problem`): finite, |value| <= 1e12, area_km2 > 0, |latitude| <= 90, |longitude| <= 180,
  and inside the valid range of its entry in the dataset variables table (`dmg_bmi.data.variables
  .dataset_variables`) when it has one;
- seen in training (`training_problem`), for a network attribute with no entry in that table (so no
  physical range: `permeability`, MERIT or plugin names, a crop twin's indices): it must lie within
  `TRAINING_Z_LIMIT` (10) of the checkpoint's normalization standard deviations of its training mean,
  |value - mean| / std <= 10 (for a log-normalized attribute in the normalizer's log10(sqrt(x) + 0.1) space).
  A normalization records only mean and std, so this is the training range the checkpoint knows. Real data
  sit far inside it: the 8 CAMELS basins of the developer set, the 4 Daymet ones and the ngen domain's basin
  01073000 reach at most |z| = 4.1 against `dhbv_camels8.pt`, and a uniform or one-hot training attribute
  spans only |z| <= 1.8; beyond 10 there is no physical range to say the value is possible and no data
  behind it (a units slip such as m for km, or a fill value), so its parameters, and every number after
  them, would be made up. An attribute with a physical range is judged by that range only: a possible value
  outside a small training set (a 4-basin quickstart's held-out frac_snow lies 22 std out) is the network's
  extrapolation, which `dmg-bmi inspect` reports through the recorded skill, not a wrong input.

`attribute_problems` runs both over a catchment's attributes and returns what is wrong as sentences; the
callers add where the values came from (file, catchment) and raise their own error class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from dmg_bmi import domains
from dmg_bmi.core import variables as V
from dmg_bmi.core.normalization import VarStats, _log_transform
from dmg_bmi.data.variables import ATTRIBUTE_LIMIT, dataset_variables, units_of
from dmg_bmi.errors import InputError

if TYPE_CHECKING:
    from dmg_bmi.core.checkpoint import Checkpoint

TRAINING_Z_LIMIT = 10.0  # training standard deviations from the training mean (see the module docstring)
_COORDINATE_LIMITS = {"latitude": 90.0, "lat": 90.0, "longitude": 180.0, "lon": 180.0}  # |degrees|
_TABLE_NAMES = {"latitude": "lat", "longitude": "lon"}  # BMI site names -> dataset variables table names


def parameter(name: str) -> V.Variable:
    """The BMI variable of site parameter / checkpoint attribute `name`: units of the core's site keys, else
    a registered domain's `parameter_units`, else the dataset variables table's (the training attribute
    table's, e.g. sand_frac in percent), else "1"."""
    known = domains.merged("parameter_units", V.SITE_PARAMETER_UNITS)
    return V.parameter(name, known.get(name) or units_of(name, "1"))


def _shown(name: str, value: float) -> str:
    """'name = value units' (no units for dimensionless ones)."""
    units = parameter(name).units
    return f"{name} = {value:g}" + ("" if units == "1" else f" {units}")


def attribute_problem(name: str, value: float) -> str | None:
    """What makes `value` impossible for catchment attribute `name` (in its units): not finite,
    |value| > 1e12, area_km2 <= 0, |latitude| > 90 or |longitude| > 180, or outside the valid range of its
    dataset variables table entry (the training table's units); None when it is fine."""
    shown = _shown(name, value)
    if not math.isfinite(value):
        return f"{shown} is not a finite number"
    if abs(value) > ATTRIBUTE_LIMIT:
        return f"{shown} is not a plausible attribute (|value| > {ATTRIBUTE_LIMIT:g})"
    if name == "area_km2" and value <= 0:
        return f"{shown} must be > 0"
    limit = _COORDINATE_LIMITS.get(name)
    if limit is not None and abs(value) > limit:
        return f"{shown} is outside -{limit:g}..{limit:g}"
    entry = dataset_variables().get(_TABLE_NAMES.get(name, name))
    if entry is not None:
        lo, hi = entry.valid_range
        if not lo <= value <= hi:
            return (f"{name} = {value:g} {entry.units} is outside its valid range [{lo:g}, {hi:g}] "
                    f"{entry.units} (dmg_bmi.data.variables.dataset_variables()['{entry.name}'])")
    return None


def has_physical_range(name: str) -> bool:
    """Whether attribute `name` has a valid range in the dataset variables table (then `training_problem` is
    not applied: see the module docstring)."""
    return _TABLE_NAMES.get(name, name) in dataset_variables()


def training_range(stats: VarStats) -> tuple[float, float]:
    """The values (raw units) within `TRAINING_Z_LIMIT` standard deviations of the training mean."""
    lo, hi = stats.mean - TRAINING_Z_LIMIT * stats.std, stats.mean + TRAINING_Z_LIMIT * stats.std
    if not stats.log_norm:
        return lo, hi
    raw_lo = -math.inf if 10.0**lo <= 0.1 else (10.0**lo - 0.1) ** 2  # the transform maps x <= 0 to -1
    return raw_lo, (10.0**hi - 0.1) ** 2


def training_problem(name: str, value: float, stats: VarStats, checkpoint) -> str | None:
    """Why `value` of network attribute `name` lies far outside the training data of `checkpoint` (its
    path, for the message) by the rule of the module docstring; None when it is within."""
    x = float(_log_transform(value)) if stats.log_norm else value
    z = (x - stats.mean) / stats.std
    if abs(z) <= TRAINING_Z_LIMIT:
        return None
    lo, hi = training_range(stats)
    space = " in its log10(sqrt(x) + 0.1) space" if stats.log_norm else ""
    return (f"{_shown(name, value)} is far outside the training data of checkpoint {checkpoint}: "
            f"{abs(z):.3g} standard deviations from the training mean{space} (mean {stats.mean:g}, std "
            f"{stats.std:g}); accepted within {TRAINING_Z_LIMIT:g}, i.e. [{lo:g}, {hi:g}]")


def attribute_problems(values: Mapping[str, float], checkpoints: Iterable[Checkpoint] = ()) -> list[str]:
    """Every problem of a catchment's attributes {name: value}: impossible values (`attribute_problem`),
    then the network attributes of each checkpoint far outside its training data (`training_problem`).
    Values that are None are not given yet and pass."""
    given = {name: float(v) for name, v in values.items() if v is not None}
    problems = {name: p for name, v in given.items() if (p := attribute_problem(name, v))}
    for ckpt in checkpoints:
        for name in ckpt.nn_attributes:
            if name in given and name not in problems and not has_physical_range(name):
                problem = training_problem(name, given[name], ckpt.normalization.stats[name],
                                           ckpt.path or "(unsaved)")
                if problem:
                    problems[name] = problem
    return list(problems.values())


def check_dataset_attributes(ds, ckpt: Checkpoint) -> None:
    """InputError naming the dataset, basin, attribute, value and training range of the first static
    attribute of `ds` (a `HydroDataset`) the checkpoint's network reads, with no physical range (see the
    module docstring), that lies far outside its training
    data (`training_problem`); NaN is missing and passes (the dataset reader names impossible values)."""
    source = ckpt.path or "(unsaved)"
    for name in ckpt.nn_attributes:
        if name not in ds.static or has_physical_range(name):
            continue
        stats = ckpt.normalization.stats[name]
        for basin, value in zip(ds.basins, np.asarray(ds.static[name], np.float64).tolist(), strict=True):
            problem = None if math.isnan(value) else training_problem(name, value, stats, source)
            if problem:
                raise InputError(f"{ds.origin}: basin {basin!r}: {problem}")
