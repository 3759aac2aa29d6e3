"""Per-basin metrics: known values, NaN handling and edge cases."""

import warnings

import numpy as np
import pytest

from dmg_bmi.core.train import metrics


def test_perfect_simulation_scores():
    obs = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 0.5, 0.2, 4.0])
    out = metrics.compute_all(obs.copy(), obs)
    assert out["nse"] == pytest.approx(1.0)
    assert out["kge"] == pytest.approx(1.0)
    assert out["corr"] == pytest.approx(1.0)
    assert out["bias_pct"] == pytest.approx(0.0)
    assert out["fhv_pct"] == pytest.approx(0.0)
    assert out["flv_pct"] == pytest.approx(0.0)
    assert set(out) == set(metrics.METRICS) == set(metrics.UNITS)
    assert all(metrics.UNITS[k] == "%" for k in out if k.endswith("_pct"))


def test_mean_prediction_has_zero_nse_and_known_kge():
    obs = np.array([1.0, 3.0, 2.0, 6.0])
    sim = np.full_like(obs, obs.mean())
    assert metrics.nse(sim, obs) == pytest.approx(0.0)
    with pytest.warns(RuntimeWarning, match="n = 4 points"):
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


def test_flv_by_hand():
    # lowest 30 % of 10 days: obs 1, 2, 4 (log volume above the minimum 3 ln 2); sim 1, 4, 16 (6 ln 2)
    obs = np.array([1.0, 2.0, 4.0] + [10.0] * 7)
    sim = np.array([1.0, 4.0, 16.0] + [20.0] * 7)
    assert metrics.flv(sim, obs) == pytest.approx(-100.0 * (6 - 3) / 3)
    assert metrics.flv(obs, sim) == pytest.approx(-100.0 * (3 - 6) / 6)


def test_flv_with_zero_flows_is_finite():
    # an intermittent river: 2 of 10 days dry, smallest flowing day 0.5 (the gauge's resolution); the
    # simulation reads 0, 1e-9 and 0.3 there: all below 0.5, so all dry like the gauge would read them
    obs = np.array([0.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.5])
    sim = np.array([0.0, 1e-9, 0.3, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.5])
    v_obs = np.log(0.5 / 0.25)  # segment (3 days): 0.25, 0.25, 0.5 (dry days at half the resolution)
    assert metrics.flv(sim, obs) == pytest.approx(-100.0 * (0.0 - v_obs) / v_obs)  # sim flat: +100 %
    # a simulation flowing at 0.5 and 1 on those days: segment 0.25 (the 1e-9), 0.5, 1
    sim2 = np.array([1e-9, 0.5, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.5])
    assert metrics.flv(sim2, obs) == pytest.approx(-100.0 * (np.log(2) + np.log(4) - v_obs) / v_obs)
    assert metrics.flv(obs, obs) == 0.0


def test_flv_perennial_keeps_every_positive_flow():
    # no dry day: simulated flows <= 0 count as half the smallest observed flow (0.5), positive ones stay
    obs = np.array([1.0, 2.0, 4.0] + [10.0] * 7)
    sim = np.array([-0.1, 0.01, 4.0] + [10.0] * 7)
    v_sim = (np.log(0.5) - np.log(0.01)) + (np.log(4.0) - np.log(0.01))  # 0.5, 0.01, 4 from the minimum 0.01
    assert metrics.flv(sim, obs) == pytest.approx(-100.0 * (v_sim - 3 * np.log(2)) / (3 * np.log(2)))


def test_pearson_r_warns_on_few_points():
    with pytest.warns(RuntimeWarning, match=r"recovery of K0: r rests on n = 2 points"):
        assert metrics.pearson_r([1.0, 2.0], [5.0, 3.0], "recovery of K0") == pytest.approx(-1.0)
    with pytest.warns(RuntimeWarning, match=r"corr \(sim vs obs\): r rests on n = 4 points"):
        metrics.corr(np.array([1.0, 2.0, 3.0, 4.0, np.nan]), np.array([1.0, 3.0, 2.0, 4.0, 5.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.pearson_r(np.arange(5.0), np.arange(5.0) ** 2) == pytest.approx(
            np.corrcoef(np.arange(5.0), np.arange(5.0) ** 2)[0, 1])
