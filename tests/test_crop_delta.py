"""δWOFOST delta model: learned-parameter config, bounds, merging into crop sets, gradients to the network."""

from __future__ import annotations

import pytest
import torch
from conftest import pcse_own_dir

from dmg_bmi.core.config import ModelConfig, NNConfig, PhyConfig
from dmg_bmi.core.physics import ParamSpec
from dmg_bmi.core.registry import get_nn
from dmg_bmi.domains.crop.dataset import from_pcse_cases
from dmg_bmi.domains.crop.delta import (
    CropDeltaModel,
    LearnedParam,
    WofostPhysics,
    base_params,
    parse_learned,
    physics_attrs,
    physics_weather,
    sparse_obs_loss,
)
from dmg_bmi.errors import ConfigError, InputError

SPECS = {"TSUM1": ParamSpec("TSUM1", 100.0, 2500.0, "degC d", per_member=False),
         "SPAN": ParamSpec("SPAN", 15.0, 60.0, "d", per_member=False),
         "AMAXTB_SCALE": ParamSpec("AMAXTB_SCALE", 0.5, 1.5, "-", per_member=False)}


class _ToyCrop(torch.nn.Module):
    """Stands in for WOFOST: 'LAI' = cumulative weather / TSUM1 · SPAN, 'AMAX' = table y · scale."""

    def forward(self, x, params, attrs=None, state=None):
        lai = torch.cumsum(x[..., 0], 0) / params["TSUM1"] * params["SPAN"]
        amax = (params["AMAXTB"][:, 0, 1] * params.get("AMAXTB_SCALE", 1.0)).expand_as(lai)
        return {"LAI": lai, "AMAX": amax}, {}


def _model(learned):
    cfg = ModelConfig(phy=PhyConfig(name="toy"), nn=NNConfig(name="mlp", mlp_hidden_size=8, mlp_layers=1),
                      dtype="float64")
    learner = get_nn("mlp")(0, 3, 0, len(learned), cfg.nn)
    return CropDeltaModel(_ToyCrop(), learner, learned, cfg)


def test_parse_learned_defaults_and_errors():
    got = parse_learned(["TSUM1", "AMAXTB_SCALE"], SPECS)
    assert got == [LearnedParam("TSUM1", 100.0, 2500.0, "absolute"),
                   LearnedParam("AMAXTB_SCALE", 0.5, 1.5, "factor")]
    got = parse_learned({"SPAN": {"mode": "factor", "lo": 0.7}}, SPECS)
    assert got == [LearnedParam("SPAN", 0.7, 1.5, "factor")]
    with pytest.raises(ConfigError, match=r"learned_params.TSUM3: not a learnable parameter"):
        parse_learned(["TSUM3"], SPECS)
    with pytest.raises(ConfigError, match=r"learned_params.SPAN: lo 2.0 must be below hi 1.0"):
        parse_learned({"SPAN": {"mode": "factor", "lo": 2.0, "hi": 1.0}}, SPECS)
    with pytest.raises(ConfigError, match=r"learned_params.SPAN.mode: 'relative'"):
        parse_learned({"SPAN": {"mode": "relative"}}, SPECS)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['min'\]"):
        parse_learned({"SPAN": {"min": 1}}, SPECS)
    with pytest.raises(ConfigError, match="non-empty"):
        parse_learned([], SPECS)


def test_bounds_and_merge_modes():
    learned = [LearnedParam("TSUM1", 0.8, 1.2, "factor"), LearnedParam("SPAN", 20.0, 40.0),
               LearnedParam("AMAXTB_SCALE", 0.5, 1.5, "factor")]
    model = _model(learned)
    values = model.learned_values(torch.randn(50, 3, dtype=torch.float64) * 10)
    assert torch.all(values[:, 0] > 0.8) and torch.all(values[:, 0] < 1.2)
    assert torch.all(values[:, 1] > 20) and torch.all(values[:, 1] < 40)
    base = {"TSUM1": torch.full((50,), 1000.0, dtype=torch.float64), "SPAN": torch.full((50,), 35.0)}
    params = model.crop_params(values, base)
    torch.testing.assert_close(params["TSUM1"], 1000.0 * values[:, 0])  # factor of the crop-set value
    torch.testing.assert_close(params["SPAN"], values[:, 1])  # absolute
    torch.testing.assert_close(params["AMAXTB_SCALE"], values[:, 2])  # table scale passed on as a factor
    assert base["TSUM1"][0] == 1000.0  # the base set is not modified
    with pytest.raises(InputError, match="'TSUM1' .* has no base value"):
        model.crop_params(values, {"SPAN": base["SPAN"]})


def test_gradients_reach_the_network():
    learned = [LearnedParam("TSUM1", 0.8, 1.2, "factor"), LearnedParam("AMAXTB_SCALE", 0.5, 1.5, "factor")]
    model = _model(learned)
    base = {"TSUM1": torch.full((4,), 1000.0, dtype=torch.float64), "SPAN": torch.full((4,), 30.0),
            "AMAXTB": torch.tensor([[[0.0, 40.0], [2.0, 40.0]]] * 4, dtype=torch.float64)}
    x = torch.rand(10, 4, 1, dtype=torch.float64)
    out, _ = model(torch.randn(4, 3, dtype=torch.float64), x, base)
    (out["LAI"].sum() + out["AMAX"].sum()).backward()
    grads = [p.grad for p in model.nn.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_sparse_obs_loss_uses_observed_entries_only():
    out = {"LAI": torch.ones(4, 2, dtype=torch.float64), "TWSO": torch.zeros(4, 2, dtype=torch.float64)}
    obs = torch.full((4, 2, 2), float("nan"), dtype=torch.float64)
    obs[1, 0, 0], obs[3, 1, 0] = 2.0, 1.0  # LAI errors 1 and 0 -> MSE 0.5, scale 0.5 -> 2.0
    obs[2, 1, 1] = 10.0  # TWSO error 10 -> MSE 100, scale 10 -> 1.0
    loss = sparse_obs_loss(out, obs, ("LAI", "TWSO"), torch.tensor([0.5, 10.0], dtype=torch.float64))
    assert float(loss) == pytest.approx(1.5)
    with pytest.raises(InputError, match="no observations"):
        sparse_obs_loss(out, torch.full((4, 2, 1), float("nan")), ("LAI",), torch.ones(1))


def test_pipeline_reproduces_pcse_cases_with_fixed_parameters():
    """PCSE cases -> crop dataset -> δWOFOST with the 'network' output fixed to each case's own TSUM1,
    SPAN and TDWI -> WOFOST: every day within the files' Precision."""
    root = pcse_own_dir()
    files = [root / f"test_potentialproduction_wofost72_{c}.yaml" for c in ("01", "10", "17", "33", "41")]
    ds, case_params = from_pcse_cases(files)
    ds.validate()
    sets = {}
    for cal, p in zip(ds.calendars, case_params, strict=True):
        sets.setdefault(cal.crop_name, {})[cal.variety_name] = p
    base = base_params(sets, ds.calendars)
    learned = [LearnedParam("TSUM1", 100.0, 2500.0), LearnedParam("SPAN", 15.0, 60.0),
               LearnedParam("TDWI", 0.1, 300.0)]
    model = _model(learned)
    model.phy = WofostPhysics()
    fixed = torch.tensor([[p[n.name] for n in learned] for p in case_params], dtype=torch.float64)
    perturbed = {k: (v * 1.3 if k in ("TSUM1", "SPAN", "TDWI") else v) for k, v in base.items()}
    params = model.crop_params(fixed, perturbed)  # the learned values replace the (perturbed) base
    x = torch.as_tensor(physics_weather(ds))
    attrs = {k: torch.as_tensor(v) for k, v in physics_attrs(ds).items()}
    out, _ = model.phy(x, params, attrs)
    tol = {"DVS": 1e-4, "LAI": 0.01, "RD": 0.01, "TAGP": 0.1, "TRA": 0.001, "TWLV": 0.1, "TWRT": 0.1,
           "TWSO": 0.1, "TWST": 0.1}
    for j, name in enumerate(ds.obs_names):
        ref = torch.as_tensor(ds.observations[..., j].T)
        seen = torch.isfinite(ref)
        assert int(seen.sum()) > 400
        err = (out[name][seen] - ref[seen]).abs().max()
        assert float(err) < tol[name], (name, float(err))
