"""Batched AFGEN tables (piecewise-linear, flat outside their range), several tables per lookup.

A table is a tensor `[B, N, 2]` of `(x, y)` pairs with x ascending per field, padded to a common N by
repeating the last pair (a repeated pair adds nothing). A *group* stacks M tables queried at the same
input, `[B, M, N, 2]`, so one lookup serves them all.

Evaluation is the sum-of-ramps form of linear interpolation:
    f(q) = y_1 + Σ_i (y_{i+1} − y_i) · clamp((q − x_i) / (x_{i+1} − x_i), 0, 1),
which equals PCSE's AFGEN (y_1 below x_1, y_n above x_n, linear in between) up to rounding.

Gradients (see README.md): exact with respect to the y-values and to the query; with respect to an
x-breakpoint exact away from the breakpoints (the derivative jumps where q crosses one).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class TableGroup(NamedTuple):
    """Prepared tables: `x` `[B, M, N-1]` segment starts, `inv_dx`, `dy` per segment and `y0` `[B, M]`."""

    x: torch.Tensor
    inv_dx: torch.Tensor
    dy: torch.Tensor
    y0: torch.Tensor


def pad_tables(tables: list[torch.Tensor]) -> torch.Tensor:
    """Stack `[B, N_m, 2]` tables into `[B, M, N, 2]`, padding each by repeating its last pair."""
    n = max(t.shape[1] for t in tables)
    out = []
    for t in tables:
        if t.shape[1] < n:
            t = torch.cat([t, t[:, -1:, :].expand(-1, n - t.shape[1], -1)], dim=1)
        out.append(t)
    return torch.stack(out, dim=1)


def prepare(tables: torch.Tensor) -> TableGroup:
    """Precompute segment slopes of a `[B, M, N, 2]` group (zero-width segments get slope 0)."""
    x, y = tables[..., 0], tables[..., 1]
    if x.shape[-1] == 1:  # a single point: a constant
        x = torch.cat([x, x], dim=-1)
        y = torch.cat([y, y], dim=-1)
    dx = x[..., 1:] - x[..., :-1]
    safe = torch.where(dx > 0, dx, torch.ones_like(dx))
    inv_dx = torch.where(dx > 0, 1.0 / safe, torch.zeros_like(dx))
    return TableGroup(x[..., :-1], inv_dx, y[..., 1:] - y[..., :-1], y[..., 0])


def evaluate(group: TableGroup, q: torch.Tensor) -> torch.Tensor:
    """All M tables at `q` `[..., B]` -> `[..., B, M]` (leading dims broadcast, e.g. time)."""
    frac = ((q[..., None, None] - group.x) * group.inv_dx).clamp(0.0, 1.0)
    return group.y0 + (frac * group.dy).sum(-1)


def evaluate_secant(group: TableGroup, q: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Exact values at `q` `[B]`; the gradient with respect to `q` is the centred secant over `width` `[B]`.

    Used for tables of DVS in the daily model: a day moves DVS by DVR, and stage clipping parks DVS exactly
    on breakpoints (0, 1, DVSEND), where the pointwise slope of a near-step table (e.g. FOTB rising 0 ->
    0.85 between DVS 1.0 and 1.01) would stand for a whole day. y-value gradients stay exact.
    """
    if not (torch.is_grad_enabled() and q.requires_grad):
        return evaluate(group, q)
    qd = q.detach()
    half = 0.5 * width.detach()
    v = evaluate(group, torch.stack([qd, qd - half, qd + half]))
    with torch.no_grad():
        secant = (v[2] - v[1]) / (2.0 * half)[:, None]
    return v[0] + (q - qd)[:, None] * secant
