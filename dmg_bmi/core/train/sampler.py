"""Random minibatches of basins x time windows, each with a warm-up in front of the loss window.

A window for basin b starting at day index `i` covers inputs `[i - warmup, i + rho)` and targets
`[i, i + rho)`; basins are drawn with replacement, and `i` uniformly from the starts in
`[warmup, n_time - rho]` whose target window holds at least one observed (non-NaN) day.
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
    """Draws `batch_size` (basin, start) pairs; deterministic given the generator.

    valid: `[basin, time]` boolean mask of observed target days.
    """

    def __init__(self, valid: np.ndarray, rho: int, warmup: int, batch_size: int):
        valid = np.asarray(valid, dtype=bool)
        n_time = valid.shape[1]
        if n_time < warmup + rho:
            raise ConfigError(
                f"training period has {n_time} days but warmup + rho = {warmup} + {rho} = {warmup + rho} "
                "are needed for one window; lengthen data.train or shorten train.rho / model.phy.warmup"
            )
        self.n_time, self.rho, self.warmup, self.batch_size = n_time, rho, warmup, batch_size
        counts = np.concatenate([np.zeros((valid.shape[0], 1)), np.cumsum(valid, axis=1)], axis=1)
        starts = np.arange(warmup, n_time - rho + 1)
        ok = (counts[:, starts + rho] - counts[:, starts]) > 0
        self.starts = [starts[row] for row in ok]
        self.basin_ids = np.flatnonzero(ok.any(axis=1))
        if self.basin_ids.size == 0:
            raise ConfigError("no basin has an observed target day in the training period")

    def sample(self, rng: np.random.Generator) -> Batch:
        """One minibatch of basins (with replacement) and window starts."""
        basins = rng.choice(self.basin_ids, size=self.batch_size, replace=True)
        starts = np.array([self.starts[b][rng.integers(self.starts[b].size)] for b in basins])
        return Batch(basins=basins, starts=starts)

    def iterations_per_epoch(self) -> int:
        """Minibatches per epoch so each basin-day is drawn at least once with ~99 % probability.

        n = ceil(ln(0.01) / ln(1 - batch_size * rho / (n_basins * (n_time - warmup)))), at least 1.
        """
        frac = self.batch_size * self.rho / (self.basin_ids.size * max(self.n_time - self.warmup, 1))
        if frac >= 1.0:
            return 1
        return max(1, math.ceil(math.log(0.01) / math.log(1.0 - frac)))
