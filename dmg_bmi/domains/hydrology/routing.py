"""Gamma unit-hydrograph routing with a restartable tail (hbv-dmg.md §2.4).

Kernel on lags t_k = k + 0.5 (k = 0..L-1, days): w_k ∝ t_k^(α-1) exp(-t_k/θ), normalized to sum 1,
with shape α = max(a, 0) + 0.1 and scale θ = max(b, 0) + 0.5 (days). Routed flow is the causal
convolution Q^r_t = Σ_k w_k Q_{t-k}. The tail holds the last L-1 unrouted values (oldest first) of
each routed series, so a run split into pieces equals the uninterrupted run. All flows in mm/d.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dmg_bmi.core.ops import TORCH


def uh_weights(route_a, route_b, length: int, xp=TORCH):
    """Normalized gamma UH weights `[B, length]` (index = lag in days) from route_a, route_b `[B]`."""
    alpha = xp.relu(route_a) + 0.1
    theta = xp.relu(route_b) + 0.5
    t = xp.arange_like(length, route_a) + 0.5
    w = xp.exp((alpha - 1.0)[:, None] * xp.log(t) - t / theta[:, None])
    return w / w.sum(-1)[:, None]


def route_step(tail, q_t, w, xp=TORCH):
    """One routing step: tail `[B, C, L-1]`, unrouted q_t `[B, C]` -> (routed `[B, C]`, new tail)."""
    x = xp.concat_last([tail, q_t[..., None]])
    routed = xp.sum_last(x * xp.flip_last(w)[:, None, :])
    return routed, x[..., 1:]


def route_sequence(q: torch.Tensor, w: torch.Tensor, tail: torch.Tensor):
    """Route q `[T, C, B]` (unrouted) with w `[B, L]` and tail `[B, C, L-1]` -> (routed `[T, C, B]`, tail)."""
    n_t, n_c, n_b = q.shape
    length = w.shape[-1]
    x = torch.cat([tail, q.permute(2, 1, 0)], dim=-1)  # [B, C, L-1+T], oldest first
    kernel = torch.flip(w, dims=(-1,))[:, None, :].expand(n_b, n_c, length).reshape(n_b * n_c, 1, length)
    routed = F.conv1d(x.reshape(1, n_b * n_c, -1), kernel, groups=n_b * n_c)
    routed = routed.reshape(n_b, n_c, n_t).permute(2, 1, 0)
    return routed, x[..., x.shape[-1] - (length - 1):]


def tail_water(tail, w, xp=TORCH):
    """Water still in transit (mm) per basin `[B]`, summed over the C routed series of the tail."""
    length = w.shape[-1]
    remaining = 1.0 - xp.cumsum_last(w)[:, : length - 1]  # fraction of Q_{t-k} not yet released, k = 0..L-2
    return xp.sum_last(tail.sum(1) * xp.flip_last(remaining))
