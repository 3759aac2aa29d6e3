"""Random minibatches of basins x time windows, each with a warm-up in front of the loss window.

A window for basin b starting at day index `i` covers inputs `[i - warmup, i + rho)` and targets
`[i, i + rho)`; `i` is drawn uniformly from `[warmup, n_time - rho]` and basins are drawn with replacement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmg_bmi.errors import ConfigError


@dataclass
class Batch:
    """Indices of one minibatch: `basins [B]` into the basin axis, `starts [B]` = first target day."""

    basins: np.ndarray
    starts: np.ndarray


class WindowSampler:
    """Draws `batch_size` (basin, start) pairs from `n_time` days; deterministic given the generator."""

    def __init__(self, basin_ids: np.ndarray, n_time: int, rho: int, warmup: int, batch_size: int):
        self.basin_ids = np.asarray(basin_ids)
        if self.basin_ids.size == 0:
            raise ConfigError("no basins with valid training targets to sample from")
        if n_time < warmup + rho:
            raise ConfigError(
                f"training period has {n_time} days but warmup + rho = {warmup} + {rho} = {warmup + rho} "
                "are needed for one window; lengthen data.train or shorten train.rho / model.phy.warmup"
            )
        self.n_time, self.rho, self.warmup, self.batch_size = n_time, rho, warmup, batch_size

    def sample(self, rng: np.random.Generator) -> Batch:
        """One minibatch of basins (with replacement) and window starts."""
        basins = rng.choice(self.basin_ids, size=self.batch_size, replace=True)
        starts = rng.integers(self.warmup, self.n_time - self.rho + 1, size=self.batch_size)
        return Batch(basins=basins, starts=starts)

    def iterations_per_epoch(self) -> int:
        """Minibatches per epoch so each basin-day is drawn at least once with ~99 % probability.

        n = ceil(ln(0.01) / ln(1 - batch_size * rho / (n_basins * (n_time - warmup)))), at least 1.
        """
        frac = self.batch_size * self.rho / (self.basin_ids.size * max(self.n_time - self.warmup, 1))
        if frac >= 1.0:
            return 1
        return max(1, math.ceil(math.log(0.01) / math.log(1.0 - frac)))
