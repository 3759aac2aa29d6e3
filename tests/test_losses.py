"""Training losses: masking of NaN targets, known values, gradients, unknown names."""

import math

import pytest
import torch

from dmg_bmi.core.train import losses
from dmg_bmi.errors import ConfigError


def _data():
    obs = torch.tensor([[1.0, 2.0], [float("nan"), 4.0], [3.0, float("nan")]])
    pred = torch.tensor([[2.0, 2.0], [50.0, 5.0], [3.0, -50.0]], requires_grad=True)
    return pred, obs


def test_nse_batch_masks_nan_and_weights_by_std():
    pred, obs = _data()
    std = torch.tensor([0.9, 1.9])
    loss = losses.nse_batch(pred, obs, std)
    expected = (1.0 / 1.0**2 + 0.0 + 1.0 / 2.0**2 + 0.0) / 4
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[1, 0] == 0 and pred.grad[2, 1] == 0  # masked entries get no gradient


def test_rmse_comb_alpha_zero_is_rmse():
    pred, obs = _data()
    value = losses.rmse_comb(pred, obs, torch.ones(2), alpha=0.0)
    assert value.item() == pytest.approx(math.sqrt(2.0 / 4))
    assert losses.rmse_comb(obs.nan_to_num(1.0), obs, torch.ones(2)).item() == pytest.approx(0.0, abs=1e-7)


def test_kge_loss_zero_when_perfect_and_positive_otherwise():
    torch.manual_seed(0)
    obs = torch.rand(50, 3) + 0.5
    assert losses.kge(obs.clone(), obs, torch.ones(3)).item() == pytest.approx(0.0, abs=1e-3)
    assert losses.kge(obs * 2, obs, torch.ones(3)).item() > 0.5


def test_get_loss_unknown_name():
    with pytest.raises(ConfigError, match="unknown loss 'mse'"):
        losses.get_loss("mse")
    assert losses.get_loss("rmse_comb", 0.0)(torch.ones(2, 1), torch.zeros(2, 1), torch.ones(1)).item() == 1.0
