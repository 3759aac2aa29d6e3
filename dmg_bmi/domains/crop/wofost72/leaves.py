"""Leaf dynamics with age classes held as append-only cumulative arrays (PCSE WOFOST_Leaf_Dynamics).

PCSE keeps a growing list of leaf classes (weight LV, specific area SLA, physiological age LVAGE) and
kills leaves from the oldest end. Because death always takes the oldest weight first and ages are
ordered, the same state is held exactly by four fixed-size arrays `[B, L]` (one slot per simulated day,
L bounded by the season length), written once each and never changed:

- W: cumulative leaf weight born up to and including the slot (kg ha-1);
- A: cumulative leaf area born, Σ LV·SLA (ha ha-1);
- S: the slot's SLA (ha kg-1);
- C: the physiological-time clock when the class was born (age = clock − C, in days at 35 °C).

With D the cumulative leaf death (= DWLV), the living weight of a class is clamp(W_j − D, 0, LV_j), so
WLV = W_tot − D and LASUM = A_tot − A_p + S_p·(W_p − D), p the first slot with W_p > D (a search, O(log L)).
Age death DALV (LVAGE > SPAN, strict) = clamp(W_{q−1} − D, 0) with q the number of classes older than SPAN.
The ages themselves are kept as a fifth array (`LV_NEGAGE` = −LVAGE, ascending, no gradient) aged in place
by the same float additions as PCSE: temperatures given to 0.05 °C make exact ties LVAGE == SPAN common, and
only identical rounding decides them as PCSE does (clock differences do not).
Slots on days without leaf growth (before start, before emergence, after finish) are empty classes.

Gradients: everything is linear in W, A, S, C and D, so gradients reach the weights exactly. The arrays are
written in place (cheap) and read with a custom autograd pair (`_Append`/`_Read`) chained by a token so
that each slot's gradient is collected from every later read before it is handed back.
Only the class index q is discrete (it jumps as SPAN or the clock move); see `age_death` for its
surrogate gradient.
"""

from __future__ import annotations

import torch

from dmg_bmi.domains.crop.wofost72.ops import where

CHANNELS = ("LV_W", "LV_A", "LV_S", "LV_C")


def new_buffers(batch: int, slots: int, dtype, device) -> dict[str, torch.Tensor]:
    """Empty class arrays `[B, L]`; unwritten slots hold +max so that searches stop before them."""
    big = torch.finfo(dtype).max
    return {
        "LV_NEGAGE": torch.full((batch, slots), big, dtype=dtype, device=device),
        "LV_W": torch.full((batch, slots), big, dtype=dtype, device=device),
        "LV_A": torch.zeros((batch, slots), dtype=dtype, device=device),
        "LV_S": torch.zeros((batch, slots), dtype=dtype, device=device),
        "LV_C": torch.full((batch, slots), big, dtype=dtype, device=device),
    }


def _holder(bufs) -> list:
    holder = getattr(bufs[0], "_dmg_grad_holder", None)
    if holder is None:
        holder = [None]
        bufs[0]._dmg_grad_holder = holder
    return holder


class _Append(torch.autograd.Function):
    """Write `vals` `[K, B]` into slot `slot` of the K arrays; returns the next token."""

    @staticmethod
    def forward(ctx, token, slot, bufs, vals):
        for buf, v in zip(bufs, vals, strict=True):
            buf[:, slot] = v
        ctx.slot, ctx.holder, ctx.shape = slot, _holder(bufs), vals.shape
        return token.clone()

    @staticmethod
    def backward(ctx, g_token):
        grads = ctx.holder[0]
        if grads is None:
            return g_token, None, None, None
        g = grads[:, :, ctx.slot].clone()
        grads[:, :, ctx.slot] = 0.0
        return g_token, None, None, g


class _Read(torch.autograd.Function):
    """Gather `[B, Σ m_k]` from the K arrays, array k at its slots `idxs[k]` `[B, m_k]`."""

    @staticmethod
    def forward(ctx, token, bufs, idxs):
        ctx.holder, ctx.idxs = _holder(bufs), idxs
        ctx.shape = (len(bufs),) + tuple(bufs[0].shape)
        ctx.meta = (bufs[0].dtype, bufs[0].device)
        return torch.cat([torch.gather(b, 1, i) for b, i in zip(bufs, idxs, strict=True)], dim=1)

    @staticmethod
    def backward(ctx, g):
        if ctx.holder[0] is None:
            ctx.holder[0] = torch.zeros(ctx.shape, dtype=ctx.meta[0], device=ctx.meta[1])
        parts = g.split([i.shape[1] for i in ctx.idxs], dim=1)
        for k, (i, gk) in enumerate(zip(ctx.idxs, parts, strict=True)):
            ctx.holder[0][k].scatter_add_(1, i, gk)
        return None, None, None


def append(token, slot: int, bufs, vals):
    return _Append.apply(token, slot, tuple(bufs), vals)


def read(token, bufs, idxs):
    return _Read.apply(token, tuple(bufs), tuple(idxs))


# Columns of the slots `update_classes` reads: W at p, q−1 and q; A and S at p; C at q−1 and q.
W_P, W_QM, W_Q, A_P, S_P, C_QM, C_Q = range(7)


def locate(bufs, neg_age, dead, span, last: int):
    """Slots `[B, 3]`: p (first W > D), q−1 and q (q = number of classes with age > SPAN), clamped."""
    p = torch.searchsorted(bufs[0], dead.detach()[:, None], right=True).clamp(max=last)
    q = torch.searchsorted(neg_age, -span.detach()[:, None], right=False).clamp(max=last)
    return torch.cat([p, (q - 1).clamp(min=0), q], dim=1), q[:, 0]


def leaf_area_sum(g, a_tot, dead):
    """LASUM (ha ha-1) from the gathered slots `g` `[B, 7]` (columns `W_P` ... `C_Q`)."""
    w_p, a_p, s_p = g[:, W_P], g[:, A_P], g[:, S_P]
    return a_tot - a_p + s_p * torch.clamp(w_p - dead, min=0.0)


def age_death(g, q, dead, clock, span, surrogate: bool, width: float = 0.05):
    """DALV (kg ha-1 d-1): living weight of classes with age > SPAN; returns `(DALV, sur, reach)`.

    Forward: exact (PCSE's strict LVAGE > SPAN); `sur` is 0 in value. The surrogate (on by default) is
    sur = slope·(c* − stopgrad(c*)), c* = clock − SPAN: it spreads the weight of the boundary class q over
    its birth-clock interval [C_{q−1}, C_q], slope = LV_q / (C_q − C_{q−1}), giving ∂DALV/∂SPAN = −slope
    (and ∂DALV/∂clock = +slope, reaching TBASE and temperature-dependent ageing). `reach` = slope·width·SPAN
    is the age-death weight within a relative SPAN change of `width`: the caller keeps `sur` where
    DALV + reach would win DRLV = max(DSLV, DALV), i.e. the surrogate looks `width` ahead.
    """
    w_qm, w_q, c_qm, c_q = g[:, W_QM], g[:, W_Q], g[:, C_QM], g[:, C_Q]
    has_dead = q >= 1
    dalv = where(has_dead, torch.clamp(w_qm - dead, min=0.0), 0.0)
    zero = torch.zeros_like(dalv)
    if not surrogate:
        return dalv, zero, zero
    cstar = clock - span
    with torch.no_grad():
        dc = c_q - c_qm
        ok = has_dead & (dc > 0)
        slope = where(ok, (w_q - w_qm) / where(ok, dc, 1.0), 0.0)
        reach = slope * width * span
        ok = ok & (w_qm + slope * (cstar - c_qm) + reach > dead)
    return dalv, where(ok, slope * (cstar - cstar.detach()), 0.0), where(ok, reach, 0.0)


def update_classes(s: dict, t: int, fysage, w_tot, a_tot, sla, clock, dead, span):
    """Day `t`'s class update: age the existing classes by yesterday's FYSAGE (in place, no gradient), write
    slot t (W, A, SLA, C; age 0) and read the slots that LASUM and DALV need.

    `s` holds the arrays (CHANNELS, LV_NEGAGE) and TOKEN; returns `(token, gathered [B, 7], q)`: W at p, q−1
    and q, A and S at p, C at q−1 and q (columns `W_P` ... `C_Q`)."""
    bufs = [s[k] for k in CHANNELS]
    neg_age = s["LV_NEGAGE"]
    neg_age[:, :t] -= fysage.detach()[:, None]
    neg_age[:, t] = 0.0
    token = append(s["TOKEN"], t, bufs, torch.stack([w_tot, a_tot, sla, clock]))
    idx, q = locate(bufs, neg_age, dead, span, t)
    return token, read(token, bufs, (idx, idx[:, :1], idx[:, :1], idx[:, 1:])), q


def rates(p, grlv, wlv, lai, kdif, rftra, temp, laiexp, slatb, age, surrogate=True, span_width=0.05):
    """Leaf rates (kg ha-1 d-1 unless noted): growth GRLV, death DRLV = max(DSLV, DALV), physiological ageing
    FYSAGE (d d-1), LAI growth in the exponential phase GLAIEX (ha ha-1 d-1) and the new class's SLA.

    DSLV = max(stress death WLV(1 − RFTRA)PERDL, self-shading WLV·limit(0, 0.03, 0.03(LAI − LAICR)/LAICR)),
    LAICR = 3.2/KDIF; `age` = (gathered slots, q, D, clock) from `update_classes`."""
    kdif_s = where(kdif > 0, kdif, 1.0)
    laicr = 3.2 / kdif_s
    dslv = torch.maximum(
        wlv * (1.0 - rftra) * p["PERDL"], wlv * (0.03 * (lai - laicr) / laicr).clamp(0.0, 0.03)
    )
    g, q, dead, clock = age
    dalv, sur, reach = age_death(g, q, dead, clock, p["SPAN"], surrogate, span_width)
    drlv = torch.maximum(dslv, dalv) + where(dalv + reach >= dslv, sur, 0.0)
    fysage = torch.clamp((temp - p["TBASE"]) / (35.0 - p["TBASE"]), min=0.0)
    expo = laiexp < 6.0
    glaiex = where(expo, laiexp * p["RGRLAI"] * torch.clamp(temp - p["TBASE"], min=0.0), 0.0)
    gla = torch.minimum(glaiex, grlv * slatb)
    slat = where(expo & (grlv > 0), gla / where(grlv > 0, grlv, 1.0), slatb)
    return {"R_GRLV": grlv, "R_SLAT": slat, "R_DRLV": drlv, "R_FYSAGE": fysage, "R_GLAIEX": glaiex}
