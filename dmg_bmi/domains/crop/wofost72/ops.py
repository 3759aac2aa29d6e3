"""Tensor helpers of the day step.

`where` is `torch.where` with a Python-number branch turned into a 0-dim tensor of the other branch's
dtype and device once (cached) instead of on every call: at 10^4 fields torch builds and casts that scalar
tensor each time, which made `torch.where(mask, x, 0.0)` twice the cost of a tensor `where`, and the day step
has ~35 of them. Values and gradients are those of `torch.where`.
"""

from __future__ import annotations

import torch

_CONSTANTS: dict[tuple, torch.Tensor] = {}


def _constant(value: float, like: torch.Tensor) -> torch.Tensor:
    key = (value, like.dtype, like.device)
    c = _CONSTANTS.get(key)
    if c is None:
        c = _CONSTANTS[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
    return c


def where(cond: torch.Tensor, a, b) -> torch.Tensor:
    """`torch.where(cond, a, b)`; a float `a` or `b` takes the floating dtype of the tensor branch."""
    if isinstance(b, float) and isinstance(a, torch.Tensor) and a.is_floating_point():
        b = _constant(b, a)
    elif isinstance(a, float) and isinstance(b, torch.Tensor) and b.is_floating_point():
        a = _constant(a, b)
    return torch.where(cond, a, b)
