"""Window sampler: bounds, determinism, windows with observations only."""

import numpy as np
import pytest

from dmg_bmi.core.train.sampler import WindowSampler
from dmg_bmi.errors import ConfigError


def test_windows_inside_bounds_and_deterministic():
    valid = np.ones((5, 100), dtype=bool)
    sampler = WindowSampler(valid, rho=20, warmup=10, batch_size=64)
    a = sampler.sample(np.random.default_rng(3))
    b = sampler.sample(np.random.default_rng(3))
    np.testing.assert_array_equal(a.basins, b.basins)
    np.testing.assert_array_equal(a.starts, b.starts)
    assert a.starts.min() >= 10 and a.starts.max() <= 80
    assert set(a.basins) <= set(range(5))


def test_windows_need_an_observation_and_empty_basins_are_never_drawn():
    valid = np.zeros((3, 100), dtype=bool)
    valid[0, 90:] = True  # basin 0 observed only at the end
    valid[2, :] = True
    sampler = WindowSampler(valid, rho=10, warmup=5, batch_size=500)
    batch = sampler.sample(np.random.default_rng(0))
    assert 1 not in batch.basins
    assert batch.starts[batch.basins == 0].min() >= 81  # window [i, i+10) must reach day 90


def test_too_short_period_and_no_observations():
    with pytest.raises(ConfigError, match="warmup \\+ rho"):
        WindowSampler(np.ones((2, 50), bool), rho=40, warmup=20, batch_size=4)
    with pytest.raises(ConfigError, match="no basin has an observed"):
        WindowSampler(np.zeros((2, 50), bool), rho=10, warmup=5, batch_size=4)


def test_iterations_per_epoch_formula():
    sampler = WindowSampler(np.ones((531, 365 * 9 + 365), bool), rho=365, warmup=365, batch_size=100)
    assert 150 < sampler.iterations_per_epoch() < 250  # ~194 for CAMELS-531, 9 training years
