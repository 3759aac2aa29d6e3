"""Per-basin metrics: known values, NaN handling and edge cases."""

import numpy as np
import pytest

from dmg_bmi.core.train import metrics


def test_perfect_simulation_scores():
    obs = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 0.5, 0.2, 4.0])
    out = metrics.compute_all(obs.copy(), obs)
    assert out["nse"] == pytest.approx(1.0)
    assert out["kge"] == pytest.approx(1.0)
    assert out["corr"] == pytest.approx(1.0)
    assert out["bias"] == pytest.approx(0.0)
    assert out["fhv"] == pytest.approx(0.0)
    assert out["flv"] == pytest.approx(0.0)


def test_mean_prediction_has_zero_nse_and_known_kge():
    obs = np.array([1.0, 3.0, 2.0, 6.0])
    sim = np.full_like(obs, obs.mean())
    assert metrics.nse(sim, obs) == pytest.approx(0.0)
    assert np.isnan(metrics.corr(sim, obs))  # constant simulation: undefined correlation


def test_nse_and_bias_by_hand():
    obs = np.array([1.0, 2.0, 3.0])
    sim = np.array([2.0, 2.0, 4.0])
    assert metrics.nse(sim, obs) == pytest.approx(1 - 2.0 / 2.0)
    assert metrics.bias(sim, obs) == pytest.approx(100 * (8 - 6) / 6)


def test_kge_scaled_simulation():
    rng = np.random.default_rng(0)
    obs = rng.gamma(2.0, 1.0, 500)
    sim = 1.5 * obs  # r = 1, alpha = 1.5, beta = 1.5
    assert metrics.kge(sim, obs) == pytest.approx(1 - np.sqrt(0.25 + 0.25))


def test_nan_observations_are_ignored():
    obs = np.array([1.0, np.nan, 3.0, 2.0, np.nan])
    sim = np.array([1.0, 100.0, 3.0, 2.0, -5.0])
    assert metrics.nse(sim, obs) == pytest.approx(1.0)
    assert np.isnan(metrics.nse(sim, np.full(5, np.nan)))


def test_fhv_flv_signs():
    rng = np.random.default_rng(1)
    obs = rng.gamma(1.0, 2.0, 1000) + 0.01
    assert metrics.fhv(obs * 1.2, obs) == pytest.approx(20.0)
    # a simulation whose low flows drop faster than observed has a larger log range -> negative FLV
    assert metrics.flv(obs**1.5, obs) < 0
    assert metrics.flv(obs**0.5, obs) > 0
