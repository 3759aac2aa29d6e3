"""HBV physics: mass balance, step = sequence, numpy = torch, restart, warm-up, routing, tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dmg_bmi.core.config import PhyConfig
from dmg_bmi.core.registry import get_physics
from dmg_bmi.domains.hydrology.hbv_core import STORES
from dmg_bmi.domains.hydrology.routing import uh_weights

VARIANTS = ("hbv_1_0", "hbv_1_1p", "hbv_2")
DYNAMIC = {"hbv_1_0": ["parBETA", "parBETAET"], "hbv_1_1p": ["parBETA", "parK0", "parBETAET"],
           "hbv_2": ["parBETA", "parK0", "parBETAET", "parRT"]}


def synthetic_forcing(n_t, n_b, gen, dtype=torch.float64):
    """Seasonal daily forcing [T, B, 3]: P mm/d (40 % wet days), T degC (snowy winters), PET mm/d."""
    day = torch.arange(n_t, dtype=torch.float64)[:, None]
    season = torch.sin(2 * math.pi * (day - 100) / 365.25)
    wet = torch.rand(n_t, n_b, generator=gen, dtype=torch.float64) < 0.4
    precip = wet * torch.empty(n_t, n_b, dtype=torch.float64).exponential_(1 / 6.0, generator=gen)
    temp = 4 + 12 * season + 3 * torch.randn(n_t, n_b, generator=gen, dtype=torch.float64)
    pet = (2 + 2 * season) * (0.5 + torch.rand(n_t, n_b, generator=gen, dtype=torch.float64))
    return torch.stack([precip, temp, pet.clamp(min=0.0)], -1).to(dtype)


def make_case(name, n_t=60, n_b=4, nmul=3, dtype=torch.float64, dynamic=(), seed=0, **cfg_kw):
    """A model with random in-bounds parameters (dynamic ones vary per day) and synthetic inputs."""
    warmup = cfg_kw.pop("warmup", 0)
    cfg = PhyConfig(name=name, nmul=nmul, dynamic_params=list(dynamic), warmup=warmup, **cfg_kw)
    model = get_physics(name)(cfg)
    gen = torch.Generator().manual_seed(seed)
    forcing = synthetic_forcing(n_t, n_b, gen, dtype)
    params = {}
    for s in model.param_specs():
        if not s.per_member:
            shape = (n_b,)
        elif s.name in model.dynamic:
            shape = (n_t, n_b, nmul)
        else:
            shape = (n_b, nmul)
        u = 0.05 + 0.9 * torch.rand(shape, generator=gen, dtype=torch.float64)
        params[s.name] = (s.lo + u * (s.hi - s.lo)).to(dtype)
    areas = torch.tensor([300.0, 1800.0, 2600.0, 4000.0, 50.0, 2400.0])
    elevs = torch.tensor([500.0, 2200.0, 900.0, 2500.0, 100.0, 1500.0])
    attrs = {"area_km2": areas[:n_b].to(dtype), "elevation_m": elevs[:n_b].to(dtype)}
    return model, forcing, params, attrs


def run_steps(model, forcing, params, attrs, state=None, to_numpy=False):
    """T calls of `model.step` (torch or numpy), outputs stacked to [T, B]."""
    n_b = forcing.shape[1]
    state = state or model.initial_state(n_b, forcing.dtype)
    conv = (lambda x: x.numpy()) if to_numpy else (lambda x: x)
    state = {k: conv(v) for k, v in state.items()}
    attrs = {k: conv(v) for k, v in attrs.items()}
    outs = []
    for t in range(forcing.shape[0]):
        p_t = {k: conv(v[t] if k in model.dynamic else v) for k, v in params.items()}
        state, out = model.step(state, conv(forcing[t]), p_t, attrs)
        outs.append(out)
    stacked = {k: np.stack([o[k] for o in outs]) if to_numpy else torch.stack([o[k] for o in outs])
               for k in outs[0]}
    return stacked, state


@pytest.mark.parametrize("name", VARIANTS)
def test_mass_balance_ten_years(name):
    """P = routed runoff + AET + d(stores) + d(routing tail) - exchange - clamp_gain, to 1e-4 mm (float64)."""
    model, forcing, params, attrs = make_case(name, n_t=3650, n_b=4, nmul=3, dynamic=DYNAMIC[name])
    state0 = model.initial_state(4, torch.float64)
    with torch.no_grad():
        out, state1 = model(forcing, params, attrs, state0)
    p_sum = forcing[:, :, 0].sum(0)
    d_store = model.storage(state1) - model.storage(state0)
    d_tail = model.routing_storage(state1, params) - model.routing_storage(state0, params)
    sources = out["clamp_gain"].sum(0) + (out["exchange"].sum(0) if "exchange" in out else 0.0)
    residual = p_sum - out["streamflow"].sum(0) - out["AET"].sum(0) - d_store - d_tail + sources
    assert p_sum.min() > 3000.0  # a real 10-year budget
    assert d_tail.abs().max() > 0 or out["streamflow"].sum() > 0
    assert residual.abs().max() <= 1e-4, residual
    assert (out["clamp_gain"] >= 0).all()
    # the unrouted budget closes on its own; routing only delays water
    unrouted = p_sum - out["streamflow_no_rout"].sum(0) - out["AET"].sum(0) - d_store + sources
    assert unrouted.abs().max() <= 1e-4
    assert (out["streamflow_no_rout"].sum(0) - out["streamflow"].sum(0) - d_tail).abs().max() <= 1e-6
    if name == "hbv_2":  # both exchange branches used: losses (area < AC) and gains (area >= 2500 km2)
        assert out["exchange"].min() < 0 < out["exchange"].max()


@pytest.mark.parametrize("name", VARIANTS)
def test_step_equals_sequence(name):
    model, forcing, params, attrs = make_case(name, dynamic=DYNAMIC[name])
    with torch.no_grad():
        seq, seq_state = model(forcing, params, attrs)
        steps, step_state = run_steps(model, forcing, params, attrs)
    assert set(seq) == set(steps) == set(model.output_names)
    for k in seq:
        assert torch.allclose(seq[k], steps[k], rtol=1e-6, atol=1e-9), k
    for k in model.state_names:
        assert torch.allclose(seq_state[k], step_state[k], rtol=1e-6, atol=1e-9), k


@pytest.mark.numpy1  # the BMI runs this numpy path under ngen's numpy < 2
@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numpy_step_equals_torch_step(name, dtype):
    model, forcing, params, attrs = make_case(name, n_t=40, dtype=dtype, dynamic=DYNAMIC[name])
    with torch.no_grad():
        t_out, t_state = run_steps(model, forcing, params, attrs)
    n_out, n_state = run_steps(model, forcing, params, attrs, to_numpy=True)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for k in t_out:
        assert n_out[k].dtype == np.dtype(str(dtype).split(".")[1]), k
        scale = max(float(t_out[k].abs().max()), 1.0)
        assert np.abs(n_out[k] - t_out[k].numpy()).max() <= tol * scale, k
    for k in model.state_names:
        assert np.abs(n_state[k] - t_state[k].numpy()).max() <= tol * 1e3, k


@pytest.mark.parametrize("name", VARIANTS)
def test_restart_equals_uninterrupted(name):
    """Splitting a run and passing the state (stores + routing tail) reproduces the whole run."""
    model, forcing, params, attrs = make_case(name, n_t=50, dynamic=DYNAMIC[name])
    cut = 23

    def part(sl):
        return {k: v[sl] if k in model.dynamic else v for k, v in params.items()}

    with torch.no_grad():
        full, full_state = model(forcing, params, attrs)
        first, mid_state = model(forcing[:cut], part(slice(0, cut)), attrs)
        second, end_state = model(forcing[cut:], part(slice(cut, None)), attrs, mid_state)
    for k in full:
        joined = torch.cat([first[k], second[k]])
        assert torch.allclose(joined, full[k], rtol=1e-10, atol=1e-12), k
    for k in model.state_names:
        assert torch.allclose(end_state[k], full_state[k], rtol=1e-10, atol=1e-12), k
    assert mid_state["route_tail"].abs().sum() > 0  # the tail really carried water across the cut


@pytest.mark.parametrize("name", ["hbv_1_0", "hbv_2"])
def test_warmup_spinup_and_trim(name):
    warm = 20
    model, forcing, params, attrs = make_case(name, n_t=60, dynamic=DYNAMIC[name], warmup=warm)
    with torch.no_grad():
        out, _ = model(forcing, params, attrs)
    assert out["streamflow"].shape == (60 - warm, 4)
    # spin-up = frozen day warm-1 parameters, no routing, then a normal run from those stores
    ref_model, *_ = make_case(name, n_t=60, dynamic=DYNAMIC[name])
    frozen = {k: v[warm - 1].expand(warm, -1, -1) if k in model.dynamic else v for k, v in params.items()}
    steady_model = get_physics(name)(PhyConfig(name=name, nmul=3, routing=False, warmup=0,
                                               dynamic_params=DYNAMIC[name]))
    with torch.no_grad():
        steady = {k: v for k, v in frozen.items() if not k.startswith("route_")}
        _, spun = steady_model(forcing[:warm], steady, attrs)
        spun["route_tail"] = torch.zeros(4, 3, 14, dtype=torch.float64)
        rest = {k: v[warm:] if k in model.dynamic else v for k, v in params.items()}
        expect, _ = ref_model(forcing[warm:], rest, attrs, spun)
    for k in out:
        assert torch.allclose(out[k], expect[k], rtol=1e-10, atol=1e-12), k
    # trim = full run with the first `warm` outputs dropped
    trim_model, *_ = make_case(name, n_t=60, dynamic=DYNAMIC[name], warmup=warm, warmup_mode="trim")
    with torch.no_grad():
        trimmed, _ = trim_model(forcing, params, attrs)
        full, _ = ref_model(forcing, params, attrs)
    for k in trimmed:
        assert torch.equal(trimmed[k], full[k][warm:]), k
    assert not torch.allclose(trimmed["streamflow"], out["streamflow"])


@pytest.mark.parametrize("name", VARIANTS)
def test_float32_matches_float64(name):
    model, f64, p64, a64 = make_case(name, n_t=200)
    with torch.no_grad():
        o64, _ = model(f64, p64, a64)
        o32, s32 = model(f64.float(), {k: v.float() for k, v in p64.items()},
                         {k: v.float() for k, v in a64.items()})
    assert o32["streamflow"].dtype == torch.float32 and s32["SM"].dtype == torch.float32
    for k in ("streamflow", "AET", "SWE", "SM"):
        assert (o32[k].double() - o64[k]).abs().max() <= 1e-4 * max(float(o64[k].abs().max()), 1.0), k


def test_uh_weights_are_the_normalized_gamma_pdf():
    a = torch.tensor([0.0, 1.3, 2.9], dtype=torch.float64)
    b = torch.tensor([0.0, 2.0, 6.5], dtype=torch.float64)
    w = uh_weights(a, b, 15)
    assert torch.allclose(w.sum(-1), torch.ones(3, dtype=torch.float64))
    for i in range(3):
        alpha, theta = float(a[i]) + 0.1, float(b[i]) + 0.5
        pdf = [(k + 0.5) ** (alpha - 1) * math.exp(-(k + 0.5) / theta) / (math.gamma(alpha) * theta**alpha)
               for k in range(15)]
        expect = torch.tensor(pdf, dtype=torch.float64) / sum(pdf)
        assert torch.allclose(w[i], expect, rtol=1e-12)


def test_routing_off_and_routing_length():
    model, forcing, params, attrs = make_case("hbv_1_1p", routing=False)
    assert "route_a" not in {s.name for s in model.param_specs()}
    assert "route_tail" not in model.initial_state(4)
    with torch.no_grad():
        out, _ = model(forcing, params, attrs)
    assert torch.equal(out["streamflow"], out["streamflow_no_rout"])
    long_model, f, p, a = make_case("hbv_1_1p", options={"routing_len": 30})
    assert long_model.initial_state(4)["route_tail"].shape == (4, 3, 29)
    with torch.no_grad():
        routed, _ = long_model(f, p, a)
    assert not torch.allclose(routed["streamflow"], routed["streamflow_no_rout"])


def test_param_tables():
    specs = {n: [s.name for s in get_physics(n)(PhyConfig(name=n, nmul=2)).param_specs()] for n in VARIANTS}
    assert len(specs["hbv_1_0"]) == 12 + 2 and "parBETAET" not in specs["hbv_1_0"]
    dyn10 = get_physics("hbv_1_0")(PhyConfig(name="hbv_1_0", dynamic_params=["parBETA", "parBETAET"]))
    assert "parBETAET" in [s.name for s in dyn10.param_specs()] and dyn10.variant.betaet
    assert len(specs["hbv_1_1p"]) == 14 + 2 and specs["hbv_1_1p"][-2:] == ["route_a", "route_b"]
    assert len(specs["hbv_2"]) == 16 + 2 and {"parRT", "parAC"} <= set(specs["hbv_2"])
    m2 = get_physics("hbv_2")(PhyConfig(name="hbv_2", nmul=2))
    assert m2.attribute_names == ("area_km2", "elevation_m")
    assert m2.forcing_names == ("P", "T", "PET") and m2.forcing_units == ("mm d-1", "degC", "mm d-1")
    assert all(not s.per_member for s in m2.param_specs() if s.name.startswith("route_"))
    assert "exchange" in m2.output_names and "capillary" in m2.output_names
    assert set(m2.output_units) == set(m2.output_names)
    state = m2.initial_state(3, torch.float64)
    assert all(torch.all(state[k] == 0.001) and state[k].shape == (3, 2) for k in STORES)
