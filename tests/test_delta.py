"""Delta model: parameter layout and bounds, step == sequence, warm-up mapping, generic over the physics.

`Bucket` is a tiny PhysicsModel written for these tests (per-member static and dynamic parameters, a
per-basin routing parameter, a physical attribute, warm-up in both modes); the HBV variants are checked too
once they are registered.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmg_bmi.core.config import ModelConfig, from_dict
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.core.registry import available, register_physics
from dmg_bmi.errors import ConfigError, InputError

NX, NA = 4, 3


@register_physics("test_bucket")
class Bucket(PhysicsModel):
    """Linear reservoirs (mm, mm/d): S += P; ET = min(S, PET*et); Q = k*S; basin Q smoothed by `lag`."""

    forcing_names = ("P", "PET")
    forcing_units = ("mm/d", "mm/d")
    attribute_names = ("scale",)
    state_names = ("S", "Qprev")
    output_names = ("streamflow", "AET")

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def param_specs(self):
        return (
            ParamSpec("k", 0.05, 0.9, "1/d"),
            ParamSpec("et", 0.2, 1.0, "-"),
            ParamSpec("lag", 0.0, 0.8, "-", per_member=False),
        )

    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        return {"S": torch.full((batch, self.cfg.nmul), 1.0, dtype=dtype, device=device),
                "Qprev": torch.zeros(batch, dtype=dtype, device=device)}

    def step(self, state, forcing_t, params_t, attrs=None):
        scale = 1.0 if attrs is None else attrs["scale"]
        s = state["S"] + forcing_t[:, :1]
        et = torch.minimum(s, forcing_t[:, 1:2] * params_t["et"])
        s = s - et
        q = params_t["k"] * s
        s = s - q
        qm = q.mean(-1) * scale
        qr = params_t["lag"] * state["Qprev"] + (1 - params_t["lag"]) * qm
        return {"S": s, "Qprev": qm}, {"streamflow": qr, "AET": et.mean(-1)}

    def forward(self, forcing, params, attrs=None, state=None):
        n, batch = forcing.shape[:2]
        state = state or self.initial_state(batch, forcing.dtype, forcing.device)
        warm = self.cfg.warmup
        outs = []
        for t in range(n):
            p_t = {k: v[t] if (v.dim() == 3) else v for k, v in params.items()}
            if t < warm and self.cfg.warmup_mode == "spinup":
                with torch.no_grad():
                    state, _ = self.step(state, forcing[t], p_t, attrs)
                continue
            state, out = self.step(state, forcing[t], p_t, attrs)
            outs.append(out)
        outs = outs[warm:] if self.cfg.warmup_mode == "trim" else outs
        return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}, state


def config(phy="test_bucket", nn="lstm_mlp", dynamic=("et",), nmul=2, warmup=0, mode="trim", **extra):
    return from_dict(ModelConfig, {
        "phy": {"name": phy, "nmul": nmul, "dynamic_params": list(dynamic), "warmup": warmup,
                "warmup_mode": mode, **extra},
        "nn": {"name": nn, "hidden_size": 8, "mlp_hidden_size": 8, "mlp_layers": 1},
        "dtype": "float64",
    })


def data(t=15, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_nn = torch.randn(t, b, NX, generator=g, dtype=torch.float64)
    c_nn = torch.randn(b, NA, generator=g, dtype=torch.float64)
    x_phy = torch.stack([torch.rand(t, b, generator=g, dtype=torch.float64) * 10,
                         torch.rand(t, b, generator=g, dtype=torch.float64) * 3], -1)
    return x_nn, c_nn, x_phy, {"scale": torch.linspace(0.5, 1.5, b, dtype=torch.float64)}


def build(cfg):
    torch.manual_seed(0)
    return DeltaModel.from_config(cfg, NX, NA).eval()


@pytest.mark.parametrize("nn", ["lstm", "lstm_mlp", "mlp"])
def test_param_layout_and_bounds(nn):
    model = build(config(nn=nn, nmul=3))
    assert model.dynamic_param_names == ["et"] and model.static_param_names == ["k", "lag"]
    assert model.nn.n_dynamic == 3 and model.nn.n_static == 3 + 1
    x_nn, c_nn, *_ = data()
    params = model.physical_params(x_nn, c_nn)
    assert params["et"].shape == (15, 3, 3)
    assert params["k"].shape == (3, 3)
    assert params["lag"].shape == (3,)
    for spec in model.phy.param_specs():
        p = params[spec.name]
        assert p.dtype == torch.float64
        assert torch.all(p > spec.lo) and torch.all(p < spec.hi), spec.name
    # the mapping is lo + u * (hi - lo) of the learner's outputs, parameter-major
    dyn, static = model.nn(x_nn, c_nn)
    torch.testing.assert_close(params["et"], 0.2 + dyn * 0.8)
    torch.testing.assert_close(params["k"], 0.05 + static[:, :3] * 0.85)
    torch.testing.assert_close(params["lag"], static[:, 3] * 0.8)
    # static parameters do not depend on the window
    short = model.physical_params(x_nn[-4:], c_nn)
    torch.testing.assert_close(short["k"], params["k"], atol=0, rtol=0)


@pytest.mark.parametrize("nn", ["lstm", "lstm_mlp", "mlp"])
def test_step_equals_sequence(nn):
    model = build(config(nn=nn))
    x_nn, c_nn, x_phy, attrs = data()
    outputs, final = model(x_nn, c_nn, x_phy, attrs)
    state = model.initial_state(3)
    steps = []
    static = model.static_params(c_nn)
    for t in range(15):
        state, out = model.step(state, x_nn[t], c_nn, x_phy[t], attrs, static=static if t % 2 else None)
        steps.append(out)
    for name in ("streamflow", "AET"):
        torch.testing.assert_close(torch.stack([o[name] for o in steps]), outputs[name], atol=1e-6, rtol=0)
    for key in final["phy"]:
        torch.testing.assert_close(state["phy"][key], final["phy"][key], atol=1e-6, rtol=0)
    for a, b in zip(state["nn"], final["nn"], strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_warmup_trim_maps_to_dropped_steps():
    """With warmup_mode trim, forward == T steps with the first `warmup` outputs dropped."""
    model = build(config(warmup=5, mode="trim"))
    x_nn, c_nn, x_phy, attrs = data()
    outputs, _ = model(x_nn, c_nn, x_phy, attrs)
    assert outputs["streamflow"].shape == (10, 3)
    state = model.initial_state(3)
    q = []
    for t in range(15):
        state, out = model.step(state, x_nn[t], c_nn, x_phy[t], attrs)
        q.append(out["streamflow"])
    torch.testing.assert_close(torch.stack(q[5:]), outputs["streamflow"], atol=1e-6, rtol=0)


def test_continuing_from_state_equals_one_window():
    """Two consecutive windows carrying the returned state equal one window (LSTM and physics state)."""
    model = build(config())
    x_nn, c_nn, x_phy, attrs = data()
    whole, _ = model(x_nn, c_nn, x_phy, attrs)
    first, state = model(x_nn[:6], c_nn, x_phy[:6], attrs)
    second, _ = model(x_nn[6:], c_nn, x_phy[6:], attrs, state=state)
    torch.testing.assert_close(torch.cat([first["streamflow"], second["streamflow"]]), whole["streamflow"])


def test_gradients_flow_to_network():
    model = build(config()).train()
    x_nn, c_nn, x_phy, attrs = data()
    outputs, _ = model(x_nn, c_nn, x_phy, attrs)
    outputs["streamflow"].sum().backward()
    grads = {k: p.grad for k, p in model.named_parameters()}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["nn.linear_out.weight"].abs().sum() > 0  # dynamic head
    assert grads["nn.static_head.out.weight"].abs().sum() > 0  # static head


def test_numpy_param_stepper_equals_torch():
    model = build(config(nmul=3))
    x_nn, c_nn, *_ = data()
    params = model.physical_params(x_nn, c_nn)
    stepper = model.numpy_param_stepper(c_nn)
    np.testing.assert_allclose(stepper.static["k"], params["k"].detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(stepper.static["lag"], params["lag"].detach().numpy(), atol=1e-12)
    hidden = stepper.init_hidden()
    for t in range(15):
        dyn, hidden = stepper.step(x_nn[t].numpy(), hidden)
        np.testing.assert_allclose(dyn["et"], params["et"][t].detach().numpy(), atol=1e-12)


def test_float32_model():
    cfg = config()
    cfg.dtype = "float32"
    model = build(cfg)
    x_nn, c_nn, x_phy, attrs = data()
    outputs, state = model(x_nn.float(), c_nn.float(), x_phy.float(), {"scale": attrs["scale"].float()})
    assert outputs["streamflow"].dtype == torch.float32
    assert model.initial_state(2)["phy"]["S"].dtype == torch.float32


def test_bad_config_and_inputs():
    with pytest.raises(ConfigError, match=r"dynamic_params\[0\].*'nope'.*valid"):
        build(config(dynamic=("nope",)))
    with pytest.raises(ConfigError, match="per-basin"):
        build(config(dynamic=("lag",)))
    with pytest.raises(ConfigError, match="unknown physics model 'nohbv'.*test_bucket"):
        build(config(phy="nohbv"))
    model = build(config())
    x_nn, c_nn, x_phy, attrs = data()
    with pytest.raises(InputError, match="x_phy"):
        model(x_nn, c_nn, x_phy[:-1], attrs)
    with pytest.raises(InputError, match="nx=4"):
        model(x_nn[..., :2], c_nn, x_phy, attrs)


HBV = [name for name in ("hbv_1_0", "hbv_1_1p", "hbv_2") if name in available("physics")]


@pytest.mark.skipif(not HBV, reason="HBV physics not registered yet")
@pytest.mark.parametrize("phy", HBV)
def test_hbv_step_equals_sequence(phy):
    """The real HBV variants through the delta model: T steps == the (fused, autograd) sequence run, in
    every output, with warm-up trimmed."""
    dynamic = ["parBETA", "parBETAET"] if phy == "hbv_1_0" else ["parBETA", "parK0"]
    torch.manual_seed(0)
    cfg = config(phy=phy, dynamic=dynamic, nmul=2, warmup=4, mode="trim", routing=True)
    model = DeltaModel.from_config(cfg, NX, 2).eval()
    assert model.dynamic_param_names == dynamic
    assert model.static_param_names[-2:] == ["route_a", "route_b"]
    torch.manual_seed(1)
    t, b = 20, 2
    x_nn = torch.randn(t, b, NX, dtype=torch.float64)
    c_nn = torch.randn(b, 2, dtype=torch.float64)
    x_phy = torch.stack([torch.rand(t, b) * 20, torch.randn(t, b) * 8, torch.rand(t, b) * 4], -1).double()
    names = model.phy.attribute_names
    attrs = {n: torch.full((b,), 500.0 if "area" in n else 300.0, dtype=torch.float64) for n in names} or None
    outputs, final = model(x_nn, c_nn, x_phy, attrs)
    assert outputs["streamflow"].shape == (t - 4, b)
    state = model.initial_state(b)
    steps = []
    for i in range(t):
        state, out = model.step(state, x_nn[i], c_nn, x_phy[i], attrs)
        steps.append(out)
    for name, series in outputs.items():
        stepped = torch.stack([o[name] for o in steps[4:]])
        torch.testing.assert_close(stepped, series, atol=1e-6, rtol=1e-6, msg=name)
    for name, value in final["phy"].items():
        torch.testing.assert_close(state["phy"][name], value, atol=1e-6, rtol=1e-6, msg=name)


@pytest.mark.skipif(not HBV, reason="HBV physics not registered yet")
def test_hbv_gradients_reach_every_weight():
    """Backward through the fused HBV reaches the LSTM (dynamic), the MLP (static) and the routing columns."""
    torch.manual_seed(0)
    cfg = config(phy="hbv_1_1p", dynamic=["parBETA", "parK0"], nmul=2, warmup=3, mode="spinup")
    model = DeltaModel.from_config(cfg, NX, 2).train()
    t, b = 15, 2
    x_phy = torch.stack([torch.rand(t, b) * 20, torch.rand(t, b) * 5 + 2, torch.rand(t, b) * 4], -1).double()
    x_nn, c_nn = torch.randn(t, b, NX, dtype=torch.float64), torch.randn(b, 2, dtype=torch.float64)
    outputs, _ = model(x_nn, c_nn, x_phy)
    assert outputs["streamflow"].shape == (t - 3, b)
    outputs["streamflow"].sum().backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("phy", ["test_bucket", *HBV])
def test_cuda_matches_cpu(phy):
    """The same code runs on CUDA: sequence outputs equal the CPU run, and steps equal the sequence."""
    dynamic = ["et"] if phy == "test_bucket" else ["parBETA"]
    cfg = config(phy=phy, dynamic=dynamic, nmul=2)
    torch.manual_seed(0)
    cpu = DeltaModel.from_config(cfg, NX, NA).eval()
    gpu = DeltaModel.from_config(cfg, NX, NA).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    x_nn, c_nn, _, _ = data(t=10, b=2)
    x_phy = torch.stack([torch.rand(10, 2) * 20, torch.randn(10, 2) * 8, torch.rand(10, 2) * 4], -1).double()
    x_phy = x_phy[..., [0, 2]] if phy == "test_bucket" else x_phy  # (P, PET) or (P, T, PET)
    names = cpu.phy.attribute_names
    attrs = {n: torch.full((2,), 1500.0 if n != "scale" else 1.0, dtype=torch.float64) for n in names} or None
    a, _ = cpu(x_nn, c_nn, x_phy, attrs)
    cuda = {k: v.cuda() for k, v in attrs.items()} if attrs else None
    b, _ = gpu(x_nn.cuda(), c_nn.cuda(), x_phy.cuda(), cuda)
    torch.testing.assert_close(b["streamflow"].cpu(), a["streamflow"], atol=1e-9, rtol=1e-9)
    state = gpu.initial_state(2)
    assert state["phy"][next(iter(state["phy"]))].is_cuda
    q = []
    for t in range(10):
        state, out = gpu.step(state, x_nn[t].cuda(), c_nn.cuda(), x_phy[t].cuda(), cuda)
        q.append(out["streamflow"])
    torch.testing.assert_close(torch.stack(q), b["streamflow"], atol=1e-6, rtol=1e-6)
