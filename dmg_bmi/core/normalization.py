"""Per-variable z-score normalization of network inputs, with an optional log transform.

For a variable with `log_norm`, values are first mapped by `log10(sqrt(max(x, 0)) + 0.1)` (for skewed,
non-negative inputs such as precipitation). Then `z = (x - mean) / std`, with `std` floored at `std_floor`
so constant variables do not blow up. Missing values (NaN) become 0 (the mean) after normalizing.
Statistics are fitted over all elements of each variable's array, ignoring NaN, and are stored in the
units the variable had when fitted (after the log transform where used).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dmg_bmi.errors import ConfigError, InputError

DEFAULT_STD_FLOOR = 1e-3


@dataclass(frozen=True)
class VarStats:
    """Statistics of one variable (in its transformed space when `log_norm`)."""

    mean: float
    std: float
    log_norm: bool = False


def _log_transform(x):
    if isinstance(x, torch.Tensor):
        return torch.log10(torch.sqrt(torch.clamp(x, min=0.0)) + 0.1)
    return np.log10(np.sqrt(np.maximum(x, 0.0)) + 0.1)


class Normalizer:
    """Maps raw input arrays `[..., n]` (channels named by `names`) to normalized ones, numpy or torch."""

    def __init__(self, stats: Mapping[str, VarStats], std_floor: float = DEFAULT_STD_FLOOR):
        self.stats = dict(stats)
        self.std_floor = float(std_floor)

    @property
    def names(self) -> list[str]:
        return list(self.stats)

    @classmethod
    def fit(
        cls,
        data: Mapping[str, np.ndarray | torch.Tensor],
        log_norm: Iterable[str] = (),
        std_floor: float = DEFAULT_STD_FLOOR,
    ) -> Normalizer:
        """Fit mean/std per variable from `data` {name: array of any shape}, ignoring NaN."""
        log_norm = set(log_norm)
        unknown = sorted(log_norm - set(data))
        if unknown:
            raise InputError(f"log_norm variable(s) {unknown} not in the data {sorted(data)}")
        stats = {}
        for name, values in data.items():
            x = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, np.float64)
            if np.isinf(x).any():
                raise InputError(f"normalization: variable {name!r} contains infinite values")
            if name in log_norm:
                x = _log_transform(x)
            finite = x[~np.isnan(x)]
            if finite.size == 0:
                raise InputError(f"normalization: variable {name!r} has no non-NaN values to fit")
            std = max(float(finite.std()), std_floor)
            stats[name] = VarStats(float(finite.mean()), std, name in log_norm)
        return cls(stats, std_floor)

    def _lookup(self, names: Sequence[str]) -> list[VarStats]:
        missing = [n for n in names if n not in self.stats]
        if missing:
            raise InputError(f"no normalization statistics for {missing}; known: {self.names}")
        return [self.stats[n] for n in names]

    def transform(self, x, names: Sequence[str]):
        """Normalize `x [..., len(names)]` (numpy or torch; same type and shape back), NaN -> 0."""
        stats = self._lookup(names)
        if x.shape[-1] != len(names):
            raise InputError(f"last axis of x has {x.shape[-1]} channels but names are {list(names)}")
        mean = [s.mean for s in stats]
        std = [s.std for s in stats]
        logs = [i for i, s in enumerate(stats) if s.log_norm]
        if isinstance(x, torch.Tensor):
            if logs:
                x = x.clone()
                x[..., logs] = _log_transform(x[..., logs])
            z = (x - x.new_tensor(mean)) / x.new_tensor(std)
            return torch.nan_to_num(z, nan=0.0)
        x = np.array(x, dtype=np.float64)
        if logs:
            x[..., logs] = _log_transform(x[..., logs])
        z = (x - np.asarray(mean)) / np.asarray(std)
        return np.nan_to_num(z, nan=0.0)

    def to_dict(self) -> dict:
        """JSON-safe form: {"std_floor": float, "variables": {name: {"mean", "std", "log_norm"}}}."""
        return {
            "std_floor": self.std_floor,
            "variables": {
                n: {"mean": s.mean, "std": s.std, "log_norm": s.log_norm} for n, s in self.stats.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Normalizer:
        """Inverse of `to_dict`; a malformed entry raises ConfigError naming it."""
        if not isinstance(data, Mapping) or not isinstance(data.get("variables"), Mapping):
            raise ConfigError("normalization: expected a mapping with a 'variables' mapping")
        stats = {}
        for name, entry in data["variables"].items():
            key = f"normalization.variables.{name}"
            if not isinstance(entry, Mapping) or not {"mean", "std"} <= set(entry):
                raise ConfigError(f"{key}: expected a mapping with 'mean' and 'std', got {entry!r}")
            mean, std = entry["mean"], entry["std"]
            for field, v in (("mean", mean), ("std", std)):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ConfigError(f"{key}.{field}: expected a finite number, got {v!r}")
            if std <= 0:
                raise ConfigError(f"{key}.std: must be > 0, got {std!r}")
            stats[name] = VarStats(float(mean), float(std), bool(entry.get("log_norm", False)))
        return cls(stats, float(data.get("std_floor", DEFAULT_STD_FLOOR)))
