"""Training losses on time-major batches `[T, B]` with NaN observations masked out.

Every loss takes `(pred [T, B], obs [T, B], basin_std [B])` in the target's units (mm/d for streamflow) and
returns a scalar; entries where `obs` is NaN contribute nothing. `basin_std` is the per-basin standard
deviation of the training observations (only `nse_batch` uses it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dmg_bmi.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _masked(pred: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if pred.shape != obs.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != observation shape {tuple(obs.shape)}")
    mask = ~torch.isnan(obs)
    return pred, torch.where(mask, obs, torch.zeros_like(obs)), mask


def nse_batch(
    pred: torch.Tensor, obs: torch.Tensor, basin_std: torch.Tensor, eps: float = 0.1
) -> torch.Tensor:
    """Mean of `(pred - obs)^2 / (std_b + eps)^2` over valid entries (a batch form of 1 - NSE)."""
    pred, obs0, mask = _masked(pred, obs)
    weight = 1.0 / (basin_std.to(pred) + eps) ** 2
    se = torch.where(mask, (pred - obs0) ** 2, torch.zeros_like(pred)) * weight
    return se.sum() / mask.sum()


def _rmse(pred: torch.Tensor, obs0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    se = torch.where(mask, (pred - obs0) ** 2, torch.zeros_like(pred))
    return torch.sqrt(se.sum() / mask.sum())


def _log_transform(x: torch.Tensor) -> torch.Tensor:
    return torch.log10(torch.sqrt(torch.clamp(x, min=0.0)) + 0.1)


def rmse_comb(
    pred: torch.Tensor, obs: torch.Tensor, basin_std: torch.Tensor, alpha: float = 0.25
) -> torch.Tensor:
    """`(1 - alpha) RMSE(q) + alpha RMSE(log10(sqrt(q) + 0.1))`: high and low flows together."""
    pred, obs0, mask = _masked(pred, obs)
    return (1.0 - alpha) * _rmse(pred, obs0, mask) + alpha * _rmse(
        _log_transform(pred), _log_transform(obs0), mask
    )


def kge(pred: torch.Tensor, obs: torch.Tensor, basin_std: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean over basins (with >= 2 valid days) of `1 - KGE` (Gupta et al. 2009: r, std ratio, mean ratio)."""
    pred, obs0, mask = _masked(pred, obs)
    m = mask.to(pred.dtype)
    n = m.sum(0)
    keep = n >= 2
    n_safe = torch.clamp(n, min=1.0)
    mu_p = (pred * m).sum(0) / n_safe
    mu_o = (obs0 * m).sum(0) / n_safe
    dp = (pred - mu_p) * m
    do = (obs0 - mu_o) * m
    sd_p = torch.sqrt((dp**2).sum(0) / n_safe + eps)
    sd_o = torch.sqrt((do**2).sum(0) / n_safe + eps)
    r = (dp * do).sum(0) / n_safe / (sd_p * sd_o)
    score = torch.sqrt((r - 1) ** 2 + (sd_p / sd_o - 1) ** 2 + (mu_p / (mu_o + eps) - 1) ** 2)
    return score[keep].sum() / keep.sum()


_LOSSES: dict[str, LossFn] = {"nse_batch": nse_batch, "rmse_comb": rmse_comb, "kge": kge}


def get_loss(name: str, rmse_comb_alpha: float = 0.25) -> LossFn:
    """The loss function registered as `name`; an unknown name raises ConfigError listing the valid ones."""
    if name not in _LOSSES:
        raise ConfigError(f"train.loss: unknown loss {name!r}; available: {', '.join(_LOSSES)}")
    if name == "rmse_comb":
        return lambda p, o, s: rmse_comb(p, o, s, alpha=rmse_comb_alpha)
    return _LOSSES[name]
