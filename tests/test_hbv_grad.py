"""HBV gradients: fused = autograd, finite at empty stores, equal to central finite differences."""

from __future__ import annotations

import pytest
import torch
from test_hbv_physics import DYNAMIC, VARIANTS, make_case

from dmg_bmi.core.config import PhyConfig
from dmg_bmi.core.registry import get_physics
from dmg_bmi.domains.hydrology.hbv_core import STORES


def _loss(out, state):
    """A loss touching every differentiable output and the final stores."""
    return ((out["streamflow"] ** 2).sum() + 0.3 * out["AET"].sum() + 0.1 * out["SWE"].sum()
            + 0.2 * out["gwflow"].sum() + 0.05 * (out["SM"] + out["SUZ"] + out["SLZ"]).sum()
            + 0.01 * sum(state[k].sum() for k in STORES))


def _with_options(model, **options):
    cfg = PhyConfig(**{**model.cfg.__dict__, "options": {**model.cfg.options, **options}})
    return get_physics(cfg.name)(cfg)


def _grads(model, forcing, params, attrs, state=None):
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    if state is not None:
        state = {k: v.clone().requires_grad_() for k, v in state.items()}
    out, final = model(forcing, leaves, attrs, state)
    inputs = list(leaves.values()) + (list(state.values()) if state else [])
    grads = torch.autograd.grad(_loss(out, final), inputs, allow_unused=True)
    return out, dict(zip(list(leaves) + (list(state) if state else []), grads, strict=True))


@pytest.mark.parametrize(("name", "chunk"), [("hbv_1_0", 1), ("hbv_1_1p", 4), ("hbv_2", 1), ("hbv_2", 4)])
def test_fused_equals_eager(name, chunk):
    model, forcing, params, attrs = make_case(name, n_t=30, dynamic=DYNAMIC[name])
    eager = _with_options(model, fused=False)
    fused = _with_options(model, fused=True, chunk=chunk)
    state = model.initial_state(4, torch.float64)
    state["SM"] = state["SM"] + 50.0
    out_e, g_e = _grads(eager, forcing, params, attrs, state)
    out_f, g_f = _grads(fused, forcing, params, attrs, state)
    for k in out_e:
        assert torch.allclose(out_f[k], out_e[k], rtol=1e-12, atol=1e-14), k
    assert set(g_e) == set(g_f)
    for k in g_e:
        assert g_e[k] is not None and torch.isfinite(g_e[k]).all(), k
        assert torch.allclose(g_f[k], g_e[k], rtol=1e-9, atol=1e-12 * float(g_e[k].abs().max())), k
    assert not out_f["recharge"].requires_grad and out_f["streamflow"].requires_grad


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("fused", [True, False])
def test_gradients_finite_at_empty_stores(name, fused):
    """Every store exactly 0 and dry first days: all parameter gradients exist and are finite."""
    model, forcing, params, attrs = make_case(name, n_t=20, dynamic=DYNAMIC[name], options={"fused": fused})
    forcing[:5, :, 0] = 0.0
    state = {k: torch.zeros_like(v) for k, v in model.initial_state(4, torch.float64).items()}
    _, grads = _grads(model, forcing, params, attrs, state)
    for k, g in grads.items():
        assert g is not None and torch.isfinite(g).all(), k
    assert all(float(grads[k].abs().sum()) > 0 for k in ("parFC", "parK2", "parBETA", "route_a"))


@pytest.mark.parametrize("name", VARIANTS)
def test_gradients_match_central_differences(name):
    """Directional derivative of the loss for every parameter vs central FD (float64, smooth region)."""
    model, forcing, params, attrs = make_case(name, n_t=16, n_b=3, nmul=2, dynamic=DYNAMIC[name], seed=3)
    # snow then melt (a temperature ramp), wet enough for quick flow (low UZL)
    forcing[:, :, 0] = 5.0 * forcing[:, :, 0] + 3.0
    day = torch.arange(16, dtype=torch.float64)[:, None]
    forcing[:, :, 1] = -6.0 + 0.9 * day + 5.0 * torch.sin(1.3 * day) + forcing[:, :, 1] / 10  # melt/refreeze
    params["parUZL"] = params["parUZL"] / 50
    out, grads = _grads(model, forcing, params, attrs)
    with torch.no_grad():
        scale = abs(float(_loss(*model(forcing, params, attrs))))
    gen = torch.Generator().manual_seed(1)
    for spec in model.param_specs():
        direction = torch.randn(params[spec.name].shape, generator=gen, dtype=torch.float64)
        h = 1e-5 * (spec.hi - spec.lo)
        with torch.no_grad():
            up = _loss(*model(forcing, {**params, spec.name: params[spec.name] + h * direction}, attrs))
            down = _loss(*model(forcing, {**params, spec.name: params[spec.name] - h * direction}, attrs))
        fd = float(up - down) / (2 * h)
        analytic = float((grads[spec.name] * direction).sum())
        assert analytic != 0.0, spec.name
        noise = 1e-13 * scale / h  # float64 rounding of the loss, amplified by the FD step
        assert abs(fd - analytic) <= 1e-5 * abs(analytic) + noise, (spec.name, fd, analytic, noise)
