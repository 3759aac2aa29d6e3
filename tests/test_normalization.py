"""Normalizer: fitting ignoring NaN, log-norm, std floor, NaN -> 0, numpy/torch parity, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.errors import ConfigError, InputError


def sample():
    rng = np.random.default_rng(0)
    p = rng.gamma(0.5, 6.0, size=(200, 4))
    p[3, 1] = np.nan
    t = rng.normal(10, 8, size=(200, 4))
    area = np.array([10.0, 10.0, 10.0, 10.0])  # constant: std is floored
    return {"P": p, "T": t, "area": area}


def test_fit_statistics():
    data = sample()
    norm = Normalizer.fit(data, log_norm=["P"])
    p = data["P"][~np.isnan(data["P"])]
    lp = np.log10(np.sqrt(p) + 0.1)
    assert norm.stats["P"].mean == pytest.approx(lp.mean())
    assert norm.stats["P"].std == pytest.approx(lp.std())
    assert norm.stats["P"].log_norm and not norm.stats["T"].log_norm
    assert norm.stats["T"].mean == pytest.approx(data["T"].mean())
    assert norm.stats["area"].std == 1e-3


def test_transform_numpy_and_torch_agree_and_nan_to_zero():
    data = sample()
    norm = Normalizer.fit(data, log_norm=["P"])
    x = np.stack([data["T"], data["P"]], axis=-1)  # channel order differs from fit order
    z = norm.transform(x, ["T", "P"])
    assert z.shape == x.shape and not np.isnan(z).any()
    assert z[3, 1, 1] == 0.0  # the NaN
    valid = ~np.isnan(x[..., 1])
    assert z[..., 1][valid].mean() == pytest.approx(0.0, abs=1e-9)
    assert z[..., 1][valid].std() == pytest.approx(1.0, rel=1e-9)
    assert z[..., 0].mean() == pytest.approx(0.0, abs=1e-9)
    zt = norm.transform(torch.from_numpy(x), ["T", "P"])
    assert isinstance(zt, torch.Tensor)
    np.testing.assert_allclose(zt.numpy(), z, atol=1e-12)
    assert np.isnan(x[3, 1, 1])  # input untouched
    z32 = norm.transform(torch.from_numpy(x).float(), ["T", "P"])
    assert z32.dtype == torch.float32


def test_log_norm_clamps_negative_values():
    norm = Normalizer.fit({"P": np.array([0.0, 1.0, 4.0])}, log_norm=["P"])
    z = norm.transform(np.array([[-1.0], [0.0]]), ["P"])
    assert z[0, 0] == z[1, 0]


def test_round_trip_json():
    norm = Normalizer.fit(sample(), log_norm=["P"])
    back = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert back.stats == norm.stats and back.std_floor == norm.std_floor
    x = np.ones((2, 3))
    names = ["P", "T", "area"]
    np.testing.assert_array_equal(back.transform(x, names), norm.transform(x, names))


def test_errors_name_the_variable():
    with pytest.raises(InputError, match="'Q'"):
        Normalizer.fit({"Q": np.full(3, np.nan)})
    with pytest.raises(InputError, match="'Q'.*infinite"):
        Normalizer.fit({"Q": np.array([1.0, np.inf])})
    with pytest.raises(InputError, match="log_norm.*'X'"):
        Normalizer.fit({"Q": np.ones(3)}, log_norm=["X"])
    norm = Normalizer.fit({"P": np.arange(3.0)})
    with pytest.raises(InputError, match=r"\['T'\]"):
        norm.transform(np.ones((2, 1)), ["T"])
    with pytest.raises(InputError, match="2 channels"):
        norm.transform(np.ones((2, 2)), ["P"])
    with pytest.raises(ConfigError, match=r"variables\.P\.std"):
        Normalizer.from_dict({"variables": {"P": {"mean": 0.0, "std": 0.0}}})
    with pytest.raises(ConfigError, match=r"variables\.P\.mean"):
        Normalizer.from_dict({"variables": {"P": {"mean": "a", "std": 1.0}}})
    with pytest.raises(ConfigError, match="variables"):
        Normalizer.from_dict({"P": 1})
