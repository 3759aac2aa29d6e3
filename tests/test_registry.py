"""Registry: names resolve to classes, unknown names list the valid ones, plugins load from entry points."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
import torch

from dmg_bmi.core import registry
from dmg_bmi.core.config import ModelConfig, from_dict
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.nn import LSTMLearner, LSTMMLPLearner, MLPLearner
from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.errors import ConfigError


class PluginPhysics(PhysicsModel):
    """A third-party physics: Q = k * P (mm/d), found only through the entry point below."""

    forcing_names = ("P",)
    output_names = ("streamflow",)

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def param_specs(self):
        return (ParamSpec("k", 0.0, 1.0, "-"),)

    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        return {}

    def step(self, state, forcing_t, params_t, attrs=None):
        return state, {"streamflow": (params_t["k"] * forcing_t[:, :1]).mean(-1)}

    def forward(self, forcing, params, attrs=None, state=None):
        q = (params["k"] * forcing[..., :1]).mean(-1)
        return {"streamflow": q}, state or {}


@pytest.fixture
def fresh(monkeypatch):
    """An isolated registry (copies of the tables, nothing loaded yet) with no plugins installed."""
    tables = {kind: dict(table) for kind, table in registry._REGISTRIES.items()}
    monkeypatch.setattr(registry, "_REGISTRIES", tables)
    monkeypatch.setattr(registry, "_loaded", set())
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    return tables


def install_plugins(monkeypatch, plugins: dict[str, list[EntryPoint]]):
    monkeypatch.setattr(registry, "entry_points", lambda group: plugins.get(group, []))


def test_builtin_networks():
    assert registry.get_nn("lstm") is LSTMLearner
    assert registry.get_nn("lstm_mlp") is LSTMMLPLearner
    assert registry.get_nn("mlp") is MLPLearner
    assert registry.available("nn") == sorted(registry.available("nn"))


def test_unknown_name_lists_available():
    with pytest.raises(ConfigError, match=r"unknown nn model 'gru'; available: .*lstm, lstm_mlp, mlp"):
        registry.get_nn("gru")
    with pytest.raises(ConfigError, match=r"unknown physics model 'sacsma'; available: "):
        registry.get_physics("sacsma")


def test_duplicate_registration(fresh):
    class A:
        pass

    class B:
        pass

    registry.register_nn("dup")(A)
    registry.register_nn("dup")(A)  # the same class again is fine (module re-import)
    with pytest.raises(ValueError, match="'dup' is already registered"):
        registry.register_nn("dup")(B)


def test_entry_point_plugin(fresh, monkeypatch):
    ep = EntryPoint(name="plugin_q", value=f"{__name__}:PluginPhysics", group="dmg_bmi.physics")
    install_plugins(monkeypatch, {"dmg_bmi.physics": [ep]})
    assert "plugin_q" in registry.available("physics")
    assert registry.get_physics("plugin_q") is PluginPhysics
    # the plugin is usable by name from a config, like a built-in
    cfg = from_dict(ModelConfig, {"phy": {"name": "plugin_q", "nmul": 2}, "nn": {"name": "mlp"},
                                  "inputs": {"forcings": ["P"], "log_norm": []}})
    model = DeltaModel.from_config(cfg, 1, 2)
    out, _ = model(torch.rand(5, 3, 1), torch.rand(3, 2), torch.rand(5, 3, 1) * 10)
    assert out["streamflow"].shape == (5, 3) and (out["streamflow"] >= 0).all()


def test_plugin_does_not_replace_builtin(fresh, monkeypatch):
    ep = EntryPoint(name="lstm", value=f"{__name__}:PluginPhysics", group="dmg_bmi.nn")
    install_plugins(monkeypatch, {"dmg_bmi.nn": [ep]})
    assert registry.get_nn("lstm") is LSTMLearner


def test_plugin_that_fails_to_load_is_reported(fresh, monkeypatch):
    ep = EntryPoint(name="broken", value="dmg_bmi_no_such_module_xyz:Model", group="dmg_bmi.nn")
    install_plugins(monkeypatch, {"dmg_bmi.nn": [ep]})
    with pytest.raises(ConfigError, match="nn plugin 'broken'.*no_such_module_xyz:Model.*failed to load"):
        registry.available("nn")


def test_absent_builtin_module_is_skipped(fresh, monkeypatch):
    monkeypatch.setitem(registry._BUILTIN_MODULES, "nn", ("dmg_bmi.core.nn", "dmg_bmi.core.not_written"))
    assert "lstm" in registry.available("nn")
