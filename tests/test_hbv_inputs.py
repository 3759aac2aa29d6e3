"""HBV bad input: every error names the variable, index or value at fault."""

from __future__ import annotations

import pytest
import torch
from test_hbv_physics import make_case

from dmg_bmi.core.config import PhyConfig
from dmg_bmi.core.registry import get_physics
from dmg_bmi.errors import ConfigError, InputError


@pytest.fixture
def case():
    return make_case("hbv_2", n_t=10, dynamic=["parBETA"])


def test_wrong_forcing_shape(case):
    model, forcing, params, attrs = case
    with pytest.raises(InputError, match=r"shape \[T, B, 3\].*\(10, 4, 2\)"):
        model(forcing[:, :, :2], params, attrs)
    with pytest.raises(InputError, match="forcing must be a torch.Tensor"):
        model(forcing.numpy(), params, attrs)
    with pytest.raises(InputError, match="dtype"):
        model(forcing.to(torch.int64), params, attrs)


def test_nan_forcing_names_basin_and_step(case):
    model, forcing, params, attrs = case
    forcing[7, 2, 1] = float("nan")
    with pytest.raises(InputError, match=r"forcing T is NaN at basin index 2, time step 7"):
        model(forcing, params, attrs)


def test_parameter_out_of_bounds_is_named(case):
    model, forcing, params, attrs = case
    params["parFC"] = params["parFC"].clone()
    params["parFC"][1, 2] = 1200.0
    with pytest.raises(InputError, match=r"parFC = 1200.0 at index \[1, 2\].*\[50.0, 1000.0\]"):
        model(forcing, params, attrs)
    params["parFC"][1, 2] = float("nan")
    with pytest.raises(InputError, match="parFC = nan"):
        model(forcing, params, attrs)


def test_missing_unknown_and_misshaped_parameters(case):
    model, forcing, params, attrs = case
    with pytest.raises(InputError, match="missing parameter 'parK2'"):
        model(forcing, {k: v for k, v in params.items() if k != "parK2"}, attrs)
    with pytest.raises(InputError, match=r"unknown parameter\(s\) \['parXYZ'\]"):
        model(forcing, {**params, "parXYZ": params["parK2"]}, attrs)
    with pytest.raises(InputError, match=r"parBETA \(dynamic\) must have shape \[10, 4, 3\]"):
        model(forcing, {**params, "parBETA": params["parBETA"][0]}, attrs)
    with pytest.raises(InputError, match=r"route_a \(per-basin\) must have shape \[4\]"):
        model(forcing, {**params, "route_a": params["route_a"][:2]}, attrs)
    with pytest.raises(InputError, match="parK1 is torch.float32"):
        model(forcing, {**params, "parK1": params["parK1"].float()}, attrs)


def test_missing_attribute_and_bad_state(case):
    model, forcing, params, attrs = case
    with pytest.raises(InputError, match="missing attribute 'elevation_m'"):
        model(forcing, params, {"area_km2": attrs["area_km2"]})
    state = model.initial_state(4, torch.float64)
    del state["route_tail"]
    with pytest.raises(InputError, match="state is missing 'route_tail'"):
        model(forcing, params, attrs, state)
    state = model.initial_state(3, torch.float64)
    with pytest.raises(InputError, match=r"state SNOWPACK must have shape \[4, 3\]"):
        model(forcing, params, attrs, state)


def test_warmup_longer_than_forcing():
    model, forcing, params, attrs = make_case("hbv_1_1p", n_t=10, warmup=10)
    with pytest.raises(InputError, match="10 time steps but warmup is 10"):
        model(forcing, params, attrs)


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown physics model 'hbv_9'.*hbv_1_0"):
        get_physics("hbv_9")
    with pytest.raises(ConfigError, match="'parC' is not a parameter of 'hbv_1_0' that may vary by day"):
        get_physics("hbv_1_0")(PhyConfig(name="hbv_1_0", dynamic_params=["parC"]))
    with pytest.raises(ConfigError, match="dynamic_params: 'route_a'"):
        get_physics("hbv_2")(PhyConfig(name="hbv_2", dynamic_params=["route_a"]))
    with pytest.raises(ConfigError,
                       match=r"model.phy.options: unknown key\(s\) .model.phy.options.elev_threshold."):
        get_physics("hbv_1_1p")(PhyConfig(name="hbv_1_1p", options={"elev_threshold": True}))
    with pytest.raises(ConfigError, match=r"phy.options.fused: expected true/false, got 1"):
        get_physics("hbv_1_1p")(PhyConfig(name="hbv_1_1p", options={"fused": 1}))
    with pytest.raises(ConfigError, match="routing_len must be >= 1"):
        get_physics("hbv_1_1p")(PhyConfig(name="hbv_1_1p", options={"routing_len": 0}))
