"""Sequence runners for the HBV member step: eager autograd, and a fused custom autograd Function.

Both return the per-day basin means `[T, K, B]` in `SERIES` order (stores after the step in mm,
fluxes in mm/d) and the final member stores. The fused Function runs the forward loop without
autograd, keeps only the stores entering each day, and in `backward` walks the days in reverse
with the hand-written `member_step_vjp` (recomputing each day's intermediates). Memory and time are
linear in T: no per-step graph, no full-size gradient buffers per slice. Gradients flow to the
parameters, the initial stores, the five store series and Q0/Q1/Q2/ET; the diagnostic series
(recharge ... clamp_gain) are returned as a separate, non-differentiable tensor.

With `compile=True` the per-day forward and reverse kernels go through `torch.compile` (seconds of
warm-up on first use per shape; much faster per day afterwards).
"""

from __future__ import annotations

from functools import cache

import torch

from dmg_bmi.core.ops import TORCH
from dmg_bmi.domains.hydrology.hbv_core import (
    DIAG_FLUXES,
    DIFF_FLUXES,
    STORES,
    Variant,
    member_step,
    member_step_vjp,
)

SERIES = STORES + DIFF_FLUXES + DIAG_FLUXES
N_DIFF = len(STORES) + len(DIFF_FLUXES)


def _day(forcing, static: dict, dyn: dict, i: int):
    """Forcing `[B, 1]` x3 and parameters of day i of a chunk (dynamic values `[K, B, nmul]`)."""
    p = {**static, **{k: x[i] for k, x in dyn.items()}} if dyn else static
    return forcing[i, :, 0:1], forcing[i, :, 1:2], forcing[i, :, 2:3], p


def _fwd_chunk(stores, forcing, static, dyn, v: Variant):
    """K days (forcing `[K, B, 3]`): final stores and the basin means `[K, n_series, B]`."""
    means = []
    for i in range(forcing.shape[0]):
        P, T, PET, p = _day(forcing, static, dyn, i)
        stores, fluxes = member_step(TORCH, stores, P, T, PET, p, v)
        means.append(torch.stack(stores + fluxes).mean(-1))
    return stores, torch.stack(means)


def _bwd_chunk(stores, forcing, static, dyn, v: Variant, carry, g, acc):
    """Reverse of `_fwd_chunk` from the stores entering the chunk (recomputed inside).

    carry: adjoints of the stores leaving the chunk; g `[K, N_DIFF, B]`: adjoints of the differentiable
    basin means; acc: running sums of the static-parameter adjoints. Returns (carry, acc, dynamic
    adjoints `{name: [K, B, nmul]}`).
    """
    n_k = forcing.shape[0]
    entering = [stores]
    for i in range(n_k - 1):
        P, T, PET, p = _day(forcing, static, dyn, i)
        entering.append(member_step(TORCH, entering[-1], P, T, PET, p, v)[0])
    g = g[:, :, :, None] / stores[0].shape[-1]
    g_dyn: dict = {k: [None] * n_k for k in dyn}
    for i in range(n_k - 1, -1, -1):
        P, T, PET, p = _day(forcing, static, dyn, i)
        a_new = tuple(carry[j] + g[i, j] for j in range(len(STORES)))
        g_flux = tuple(g[i, len(STORES) + j] for j in range(len(DIFF_FLUXES)))
        carry, gp = member_step_vjp(entering[i], P, T, PET, p, v, a_new, g_flux)
        acc = {k: acc[k] + gp[k] for k in acc}
        for k in g_dyn:
            g_dyn[k][i] = gp[k]
    return carry, acc, {k: torch.stack(x) for k, x in g_dyn.items()}


@cache
def _compiled():
    """Compiled kernels; a second batch size triggers one recompilation with a symbolic batch dimension."""
    return torch.compile(_fwd_chunk), torch.compile(_bwd_chunk)


def _chunks(n_t: int, chunk: int, compile: bool):
    """(start, stop, fwd, bwd) per chunk; a shorter last chunk runs uncompiled (no recompilation)."""
    fast = _compiled() if compile else (_fwd_chunk, _bwd_chunk)
    for t0 in range(0, n_t, chunk):
        t1 = min(t0 + chunk, n_t)
        yield (t0, t1) + (fast if t1 - t0 == chunk else (_fwd_chunk, _bwd_chunk))


def run_eager(v: Variant, forcing, stores, static: dict, dynamic: dict):
    """Plain autograd loop over `member_step`; forcing `[T, B, 3]`, dynamic values `[T, B, nmul]`.

    Every per-day slice comes from one `unbind` (no full-size gradient buffer per slice).
    """
    P, T, PET = (c[:, :, None].unbind(0) for c in forcing.unbind(-1))
    dyn = {k: x.unbind(0) for k, x in dynamic.items()}
    means = []
    for t in range(len(P)):
        p = {**static, **{k: x[t] for k, x in dyn.items()}} if dyn else static
        stores, fluxes = member_step(TORCH, stores, P[t], T[t], PET[t], p, v)
        means.append(torch.stack(stores + fluxes).mean(-1))
    return torch.stack(means), stores


def run_nograd(v: Variant, forcing, stores, static: dict, dynamic: dict, compile=False, chunk=1, keep=None):
    """Forward loop without autograd (dynamic values `[T, B, nmul]`).

    `keep` (a list) receives the stores entering each chunk of `chunk` days.
    """
    means = []
    with torch.no_grad():
        for t0, t1, fwd, _ in _chunks(forcing.shape[0], chunk, compile):
            if keep is not None:
                keep.append(stores)
            stores, m = fwd(stores, forcing[t0:t1], static, {k: x[t0:t1] for k, x in dynamic.items()}, v)
            means.append(m)
    return torch.cat(means), stores


class _FusedSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, names, dyn_flags, compile, chunk, forcing, stores0, *params):
        static = {k: x for k, x, d in zip(names, params, dyn_flags, strict=True) if not d}
        dynamic = {k: x for k, x, d in zip(names, params, dyn_flags, strict=True) if d}
        keep: list = []
        means, final = run_nograd(v, forcing, tuple(stores0.unbind(0)), static, dynamic, compile, chunk, keep)
        ctx.v, ctx.names, ctx.dyn_flags, ctx.compile, ctx.chunk = v, names, dyn_flags, compile, chunk
        ctx.keep = keep
        ctx.save_for_backward(forcing, *params)
        diag = means[:, N_DIFF:]
        ctx.mark_non_differentiable(diag)
        return means[:, :N_DIFF].contiguous(), diag.contiguous(), torch.stack(final)

    @staticmethod
    def backward(ctx, g_diff, _g_diag, g_final):
        forcing, *params = ctx.saved_tensors
        names, dyn_flags = ctx.names, ctx.dyn_flags
        static = {k: x for k, x, d in zip(names, params, dyn_flags, strict=True) if not d}
        dynamic = {k: x for k, x, d in zip(names, params, dyn_flags, strict=True) if d}
        dyn_grad = {k: torch.zeros_like(x) for k, x in dynamic.items()}
        acc = {k: torch.zeros_like(x) for k, x in static.items()}
        n_t, n_b = forcing.shape[:2]
        shape = ctx.keep[0][0].shape
        if g_final is None:
            g_final = forcing.new_zeros((len(STORES),) + shape)
        if g_diff is None:
            g_diff = forcing.new_zeros((n_t, N_DIFF, n_b))
        carry = tuple(g_final.unbind(0))
        chunks = list(_chunks(n_t, ctx.chunk, ctx.compile))
        with torch.no_grad():
            for (t0, t1, _, bwd), entering in zip(reversed(chunks), reversed(ctx.keep), strict=True):
                dyn = {k: x[t0:t1] for k, x in dynamic.items()}
                g_t = g_diff[t0:t1]
                carry, acc, g_dyn = bwd(entering, forcing[t0:t1], static, dyn, ctx.v, carry, g_t, acc)
                for k, buf in dyn_grad.items():
                    buf[t0:t1] = g_dyn[k]
        ctx.keep = None
        grads = [dyn_grad[k] if d else acc[k] for k, d in zip(names, dyn_flags, strict=True)]
        return (None, None, None, None, None, None, torch.stack(carry), *grads)


def run_fused(v: Variant, forcing, stores, static: dict, dynamic: dict, compile=False, chunk=1):
    """Fused sequence with the hand-written reverse pass (dynamic values `[T, B, nmul]`).

    Returns `(means [T, K, B], final stores)`; the diagnostic series carry no gradient.
    """
    names = tuple(static) + tuple(dynamic)
    flags = (False,) * len(static) + (True,) * len(dynamic)
    params = tuple(static.values()) + tuple(dynamic.values())
    diff, diag, final = _FusedSequence.apply(
        v, names, flags, compile, chunk, forcing, torch.stack(stores), *params)
    return torch.cat([diff, diag], dim=1), tuple(final.unbind(0))
