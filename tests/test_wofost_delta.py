"""wofost72_pp in the generic delta model: NN -> bounded crop parameters -> WOFOST, gradients to weights."""

from __future__ import annotations

import torch
from conftest import pcse_pp_dirs

from dmg_bmi.core.config import ModelConfig, from_dict
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.domains.crop.pcse import cases_to_batch, load_case
from dmg_bmi.domains.crop.wofost72 import WEATHER_NAMES, param_specs


def test_delta_model_drives_wofost_and_backpropagates():
    paths = [p for d in pcse_pp_dirs() for p in d.glob("*.yaml")]
    path = min(paths, key=lambda p: p.stat().st_size)  # the shortest season
    case = load_case(path)
    batch = cases_to_batch([case, case])
    options = {"params_file": str(path), "check": False}  # random parameters may not mature in time
    cfg = from_dict(
        ModelConfig,
        {"phy": {"name": "wofost72_pp", "nmul": 1, "warmup": 0, "options": options}, "nn": {"name": "mlp"},
         "dtype": "float64"},
    )  # fmt: skip
    torch.manual_seed(0)
    model = DeltaModel.from_config(cfg, n_nn_forcings=3, n_nn_attributes=2)
    x_phy = torch.stack([batch.weather[n] for n in WEATHER_NAMES], dim=-1)
    t = x_phy.shape[0]
    attrs = {"LAT": batch.lat, **batch.calendar.to_attrs()}
    out, _ = model(
        torch.randn(t, 2, 3, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64), x_phy, attrs
    )
    assert out["TWSO"].shape == (t, 2) and torch.isfinite(out["LAI"]).all()
    assert (out["TAGP"][-1] > out["TAGP"][0]).all()  # the crop grows
    out["TAGP"][-1].sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert {s.name for s in param_specs()} >= {"TSUM1", "SPAN", "TDWI", "AMAXTB_SCALE"}
