"""Batched AFGEN tables (piecewise-linear, flat outside their range), several tables per lookup.

A table is a tensor `[B, N, 2]` of `(x, y)` pairs with x ascending per field, padded to a common N by
repeating the last pair (a repeated pair adds nothing). A *group* stacks M tables queried at the same
input, `[B, M, N, 2]`, so one lookup serves them all.

Evaluation is PCSE's AFGEN to the last bit: y_1 at or below x_1, y_n at or above x_n, otherwise
y_i + slope_i·(q − x_i) on the segment with x_i < q ≤ x_{i+1}. At an interior breakpoint that is the segment
*ending* there, which can differ from y_{i+1} by rounding (FRTB [0.4, 0.4966206, 1.0, 0.0] gives 5.6e-17 at
DVS 1.0, not 0), and exact tests such as roots growing while FR != 0 depend on it. The segment is found by a
binary search per field and table. The eleven tables of DVS are *merged* once per run (`merge`): each table's
segment is recorded per interval of the union of their breakpoints, so each day needs one search per field
for all of them.

Gradients (see README.md): exact with respect to the y-values and to the query; with respect to an
x-breakpoint exact away from the breakpoints (the derivative jumps where q crosses one).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from dmg_bmi.domains.crop.wofost72.ops import where


class TableGroup(NamedTuple):
    """Prepared tables `[B, M, N]`: breakpoints `x`, values `y`, segment `slope` (0 for the last point and
    zero-width padding), range ends `lo`/`hi` `[B, M, 1]`, and `rows` = x as contiguous `[B·M, N]`."""

    x: torch.Tensor
    y: torch.Tensor
    slope: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    rows: torch.Tensor


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
    """Precompute segment slopes of a `[B, M, N, 2]` group."""
    x, y = tables[..., 0], tables[..., 1]
    dx = x[..., 1:] - x[..., :-1]
    ok = dx > 0
    slope = where(ok, (y[..., 1:] - y[..., :-1]) / where(ok, dx, torch.ones_like(dx)), 0.0)
    slope = torch.cat([slope, torch.zeros_like(x[..., :1])], dim=-1)
    rows = x.detach().reshape(-1, x.shape[-1]).contiguous()
    return TableGroup(x, y, slope, x[..., :1], x[..., -1:], rows)


def evaluate(group: TableGroup, q: torch.Tensor) -> torch.Tensor:
    """All M tables at `q` `[..., B]` -> `[..., B, M]` (leading dims, e.g. time, are batched too).

    f = y_i + (clamp(q, x_1, x_n) − x_i)·slope_i with x_i < q ≤ x_{i+1} (binary search; i = 1 at x_1 and the
    last, zero-slope point at x_n, as in PCSE), so the cost is O(log N) per lookup and gradients reach q, the
    y-values and the x-breakpoints.
    """
    b, m, n = group.x.shape
    lead = q.shape[:-1]
    qk = q.reshape(-1, b).T[:, None, :]  # [B, 1, K]
    qc = torch.maximum(torch.minimum(qk, group.hi), group.lo)  # [B, M, K]
    idx = torch.searchsorted(group.rows, qc.detach().reshape(b * m, -1)) - 1
    idx = where(qc.detach() >= group.hi, n - 1, idx.clamp(min=0).reshape(b, m, -1))
    xi, yi, si = (torch.gather(t, 2, idx) for t in (group.x, group.y, group.slope))
    out = yi + (qc - xi) * si  # [B, M, K]
    return out.permute(2, 0, 1).reshape(*lead, b, m)


class MergedGroup(NamedTuple):
    """M tables on the sorted union of their distinct breakpoints `x` `[B, U]` (+inf padded): row
    b·(U + 1) + j of `seg` `[B·(U + 1), 3·M]` holds, for field b and interval (x_{j−1}, x_j], j = 0..U, the
    segment every table uses there as M anchors x, M values y and M slopes (slope 0 below x_1); `hi`/`y_hi`
    `[M, 1, B]` are each table's last point (fields last, as `evaluate_merged` computes). `token`/`grad`
    carry `seg`'s gradient (see `_Rows`; None when none is needed)."""

    x: torch.Tensor
    seg: torch.Tensor
    hi: torch.Tensor
    y_hi: torch.Tensor
    token: torch.Tensor | None
    grad: list | None


class _Source(torch.autograd.Function):
    """A scalar token standing for `seg`; its backward hands on the gradient that `_Rows` accumulated."""

    @staticmethod
    def forward(ctx, seg, holder):
        ctx.holder, ctx.shape = holder, seg.shape
        return seg.new_zeros(())

    @staticmethod
    def backward(ctx, g_token):
        g, ctx.holder[0] = ctx.holder[0], None
        return (g_token.new_zeros(ctx.shape) if g is None else g), None


class _Rows(torch.autograd.Function):
    """Rows `idx` of `seg` (passed detached); the backward adds into one buffer per run rather than filling a
    dense `seg`-sized gradient per lookup (which dominated the backward pass)."""

    @staticmethod
    def forward(ctx, token, seg, holder, idx):
        ctx.holder, ctx.idx, ctx.shape = holder, idx, seg.shape
        return seg.index_select(0, idx)

    @staticmethod
    def backward(ctx, g):
        if ctx.holder[0] is None:
            ctx.holder[0] = g.new_zeros(ctx.shape)
        ctx.holder[0].index_add_(0, ctx.idx, g)
        return g.new_zeros(()), None, None, None


def merge(group: TableGroup) -> MergedGroup:
    """Record each table's segment per union interval (differentiable in x and y).

    The union holds each field's distinct breakpoints, padded with +inf to the largest count in the batch
    (tables of DVS share most breakpoints: 11 tables of 9 points have ~20 distinct ones, not 99)."""
    b, m, n = group.x.shape
    xs = torch.sort(group.x.detach().reshape(b, -1), dim=1).values
    dup = torch.cat([torch.zeros_like(xs[:, :1], dtype=torch.bool), xs[:, 1:] == xs[:, :-1]], dim=1)
    u = int((~dup).sum(1).max())  # per-run metadata (one sync), not data of the day loop
    xu = torch.sort(where(dup, torch.inf, xs), dim=1).values[:, :u]  # [B, U]
    ends = torch.cat([xu, torch.full_like(xu[:, :1], torch.inf)], dim=1)  # interval right ends
    seg = torch.searchsorted(group.rows, ends.repeat_interleave(m, 0)).reshape(b, m, -1) - 1
    inside = seg >= 0
    seg = seg.clamp(min=0)
    xa, ya, sa = (torch.gather(t, 2, seg).transpose(1, 2) for t in (group.x, group.y, group.slope))
    rows = torch.cat([xa, ya, where(inside.transpose(1, 2), sa, 0.0)], dim=-1).reshape(-1, 3 * m)
    token, holder = None, None
    if rows.requires_grad:
        holder = [None]
        token = _Source.apply(rows, holder)
    hi, y_hi = (t.permute(1, 2, 0).contiguous() for t in (group.hi, group.y[..., -1:]))
    return MergedGroup(xu.contiguous(), rows, hi, y_hi, token, holder)


def evaluate_merged(group: MergedGroup, q: torch.Tensor) -> torch.Tensor:
    """All M tables at `q` `[..., B]` -> `[..., B, M]` (PCSE's arithmetic, see the module docstring).

    Computed with the fields last (`[M, K, B]`) and returned as a view, so that a column `[..., B, m]` (one
    table) is contiguous and the day's element-wise maths on it runs vectorised."""
    b, u = group.x.shape
    m = group.seg.shape[1] // 3
    lead = q.shape[:-1]
    qk = q.reshape(-1, b)  # [K, B]
    j = torch.searchsorted(group.x, qk.detach().T.contiguous())  # [B, K]: interval (x_{j-1}, x_j]
    j = (j + torch.arange(0, b * (u + 1), u + 1, device=j.device)[:, None]).reshape(-1)
    if group.token is None:
        rows = group.seg.index_select(0, j)
    else:
        rows = _Rows.apply(group.token, group.seg.detach(), group.grad, j)
    xa, ya, sa = rows.reshape(b, -1, 3, m).permute(2, 3, 1, 0).contiguous().unbind(0)  # [M, K, B] each
    out = where(qk >= group.hi, group.y_hi, ya + (qk - xa) * sa)  # [M, K, B]
    return out.permute(1, 2, 0).reshape(*lead, b, m)


def evaluate_secant(group: MergedGroup, q: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Exact values at `q` `[B]`; the gradient with respect to `q` is the centred secant over `width` `[B]`.

    Used for tables of DVS in the daily model: a day moves DVS by DVR, and stage clipping parks DVS exactly
    on breakpoints (0, 1, DVSEND), where the pointwise slope of a near-step table (e.g. FOTB rising 0 ->
    0.85 between DVS 1.0 and 1.01) would stand for a whole day. y-value gradients stay exact.
    """
    if not (torch.is_grad_enabled() and q.requires_grad):
        return evaluate_merged(group, q)
    qd = q.detach()
    half = 0.5 * width.detach()
    v = evaluate_merged(group, qd)
    with torch.no_grad():  # the ends carry no gradient: outside the graph (and its backward)
        ends = evaluate_merged(group, torch.stack([qd - half, qd + half]))
        secant = (ends[1] - ends[0]) / (2.0 * half)[:, None]
    return v + (q - qd)[:, None] * secant
