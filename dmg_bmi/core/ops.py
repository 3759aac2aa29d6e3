"""A tiny array namespace so one physics step runs on torch tensors and on numpy arrays.

`TORCH` keeps autograd (training, sequence runs); `NUMPY` is the lean path for single-basin
inference (a numpy op on a few elements costs ~0.5 us, a torch op ~2.5 us). Only the handful
of element-wise operations the physics needs are provided. Scalars are Python floats, so the
array dtype (float32 or float64) is preserved by both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import torch


def _torch_relu(x):
    """max(x, 0); its gradient is 1 where x >= 0 (torch.clamp's convention)."""
    return torch.clamp(x, min=0.0)


TORCH = SimpleNamespace(
    name="torch",
    where=torch.where,
    minimum=torch.minimum,
    relu=_torch_relu,
    clamp_min=lambda x, lo: torch.clamp(x, min=lo),
    clamp_max=lambda x, hi: torch.clamp(x, max=hi),
    clip=lambda x, lo, hi: torch.clamp(x, lo, hi),
    pow=torch.pow,
    exp=torch.exp,
    log=torch.log,
    stack=torch.stack,
    concat_last=lambda xs: torch.cat(xs, dim=-1),
    flip_last=lambda x: torch.flip(x, dims=(-1,)),
    cumsum_last=lambda x: torch.cumsum(x, dim=-1),
    sum_last=lambda x: x.sum(-1),
    mean_last=lambda x: x.mean(-1),
    isnan=torch.isnan,
    asarray=torch.as_tensor,
    arange_like=lambda n, like: torch.arange(n, dtype=like.dtype, device=like.device),
)

NUMPY = SimpleNamespace(
    name="numpy",
    where=np.where,
    minimum=np.minimum,
    relu=lambda x: np.maximum(x, 0.0),
    clamp_min=np.maximum,
    clamp_max=np.minimum,
    clip=lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),  # same values as np.clip, ~2x faster at batch 1
    pow=np.power,
    exp=np.exp,
    log=np.log,
    stack=np.stack,
    concat_last=lambda xs: np.concatenate(xs, axis=-1),
    flip_last=lambda x: x[..., ::-1],
    cumsum_last=lambda x: np.cumsum(x, axis=-1),
    sum_last=lambda x: x.sum(-1),
    mean_last=lambda x: np.add.reduce(x, axis=-1) / x.shape[-1],  # = x.mean(-1) bit for bit, less overhead
    isnan=np.isnan,
    asarray=np.asarray,
    arange_like=lambda n, like: np.arange(n, dtype=like.dtype),
)


def backend_of(x) -> SimpleNamespace:
    """The backend matching an array: NUMPY for numpy arrays, TORCH for tensors."""
    if isinstance(x, np.ndarray):
        return NUMPY
    if isinstance(x, torch.Tensor):
        return TORCH
    raise TypeError(f"expected a numpy array or torch tensor, got {type(x).__name__}")


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block on `n` torch intra-op threads (None: torch's setting), restoring the setting after.

    Models of many small ops per step run best on 1: an op split across threads waits for its slowest
    thread (on a loaded 2-core machine, 2 threads ran such a model's forward+backward 2.2x slower than 1),
    and one thread makes a run's reductions, hence its last bits, the same on any number of cores."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
