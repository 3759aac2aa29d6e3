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

from dmg_bmi.models.phy.hbv_core import (
    DIAG_FLUXES,
    DIFF_FLUXES,
    STORES,
    Variant,
    member_step,
    member_step_vjp,
)
from dmg_bmi.models.phy.ops import TORCH

SERIES = STORES + DIFF_FLUXES + DIAG_FLUXES
N_DIFF = len(STORES) + len(DIFF_FLUXES)


def _fwd_kernel(stores, P, T, PET, p, v: Variant):
    """One day: new stores and the basin means `[K, B]` of every series."""
    new, fluxes = member_step(TORCH, stores, P, T, PET, p, v)
    return new, torch.stack(new + fluxes).mean(-1)


def _bwd_kernel(stores, P, T, PET, p, v: Variant, carry, g_t, acc):
    """One reverse day: adjoints of the stores entering the day, static-parameter sums, per-day grads."""
    nmul = stores[0].shape[-1]
    g_t = g_t[:, :, None] / nmul
    a_new = tuple(carry[i] + g_t[i] for i in range(len(STORES)))
    g_flux = tuple(g_t[len(STORES) + j] for j in range(len(DIFF_FLUXES)))
    a_old, g = member_step_vjp(stores, P, T, PET, p, v, a_new, g_flux)
    acc = {k: acc[k] + g[k] for k in acc}
    return a_old, acc, g


@cache
def _kernels(compile: bool):
    if not compile:
        return _fwd_kernel, _bwd_kernel
    return torch.compile(_fwd_kernel), torch.compile(_bwd_kernel)


def _day_params(static: dict, dynamic: dict, t: int) -> dict:
    if not dynamic:
        return static
    day = dict(static)
    for k, series in dynamic.items():
        day[k] = series[t]
    return day


def run_eager(v: Variant, forcing, stores, static: dict, dynamic: dict):
    """Plain loop over `member_step` (autograd when enabled); forcing `[T, B, 3]`, dynamic values lists."""
    P, T, PET = (c[:, :, None].unbind(0) for c in forcing.unbind(-1))
    means = []
    for t in range(len(P)):
        stores, fluxes = member_step(TORCH, stores, P[t], T[t], PET[t], _day_params(static, dynamic, t), v)
        means.append(torch.stack(stores + fluxes).mean(-1))
    return torch.stack(means), stores


def run_nograd(v: Variant, forcing, stores, static: dict, dynamic: dict, compile: bool = False, keep=None):
    """Forward loop without autograd; `keep` (a list) receives the stores entering each day."""
    fwd, _ = _kernels(compile)
    P, T, PET = (c[:, :, None].unbind(0) for c in forcing.unbind(-1))
    means = []
    with torch.no_grad():
        for t in range(len(P)):
            if keep is not None:
                keep.append(stores)
            stores, m = fwd(stores, P[t], T[t], PET[t], _day_params(static, dynamic, t), v)
            means.append(m)
    return torch.stack(means), stores


class _FusedSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, names, dyn_flags, compile, forcing, stores0, *params):
        static = {k: x for k, x, d in zip(names, params, dyn_flags, strict=True) if not d}
        dynamic = {k: x.unbind(0) for k, x, d in zip(names, params, dyn_flags, strict=True) if d}
        keep: list = []
        means, final = run_nograd(v, forcing, tuple(stores0.unbind(0)), static, dynamic, compile, keep)
        ctx.v, ctx.names, ctx.dyn_flags, ctx.compile = v, names, dyn_flags, compile
        ctx.keep = keep
        ctx.save_for_backward(forcing, *params)
        diag = means[:, N_DIFF:]
        ctx.mark_non_differentiable(diag)
        return means[:, :N_DIFF].contiguous(), diag.contiguous(), torch.stack(final)

    @staticmethod
    def backward(ctx, g_diff, _g_diag, g_final):
        forcing, *params = ctx.saved_tensors
        names, dyn_flags = ctx.names, ctx.dyn_flags
        _, bwd = _kernels(ctx.compile)
        static = {k: x for k, x, d in zip(names, params, dyn_flags, strict=True) if not d}
        dynamic = {k: x.unbind(0) for k, x, d in zip(names, params, dyn_flags, strict=True) if d}
        dyn_grad = {k: torch.zeros_like(x) for k, x, d in zip(names, params, dyn_flags, strict=True) if d}
        acc = {k: torch.zeros_like(x) for k, x in static.items()}
        ref = params[0]
        if g_final is None:
            g_final = ref.new_zeros((len(STORES),) + ctx.keep[0][0].shape)
        if g_diff is None:
            g_diff = ref.new_zeros((len(ctx.keep), N_DIFF, ctx.keep[0][0].shape[0]))
        carry = tuple(g_final.unbind(0))
        P, T, PET = (c[:, :, None].unbind(0) for c in forcing.unbind(-1))
        g_days = g_diff.unbind(0)
        with torch.no_grad():
            for t in range(len(ctx.keep) - 1, -1, -1):
                day = _day_params(static, dynamic, t)
                carry, acc, g = bwd(ctx.keep[t], P[t], T[t], PET[t], day, ctx.v, carry, g_days[t], acc)
                for k, buf in dyn_grad.items():
                    buf[t] = g[k]
        ctx.keep = None
        grads = [dyn_grad[k] if d else acc[k] for k, d in zip(names, dyn_flags, strict=True)]
        return (None, None, None, None, None, torch.stack(carry), *grads)


def run_fused(v: Variant, forcing, stores, static: dict, dynamic: dict, compile: bool = False):
    """Fused sequence with the hand-written reverse pass. dynamic values are `[T, B, nmul]` tensors.

    Returns `(means [T, K, B], final stores)`; the diagnostic series carry no gradient.
    """
    names = tuple(static) + tuple(dynamic)
    flags = (False,) * len(static) + (True,) * len(dynamic)
    params = tuple(static.values()) + tuple(dynamic.values())
    diff, diag, final = _FusedSequence.apply(v, names, flags, compile, forcing, torch.stack(stores), *params)
    return torch.cat([diff, diag], dim=1), tuple(final.unbind(0))
