"""Config machinery: every error names the key at fault; overrides; YAML loading; round trips."""

from __future__ import annotations

import dataclasses

import pytest

from dmg_bmi.core.config import (
    ModelConfig,
    NNConfig,
    PhyConfig,
    apply_overrides,
    from_dict,
    load_yaml,
    to_dict,
)
from dmg_bmi.core.schema import Int, Str, section
from dmg_bmi.errors import ConfigError


@section
@dataclasses.dataclass
class Needs:
    """A section with a required key and an optional union, to exercise the machinery directly."""

    name: Str
    size: Int | None = None


def test_defaults_and_round_trip():
    cfg = from_dict(ModelConfig, {"phy": {"name": "hbv_1_1p"}})
    assert cfg == ModelConfig(phy=PhyConfig(name="hbv_1_1p"))
    with pytest.raises(ConfigError, match=r"missing required key 'model\.phy\.name' \(the physics model's "):
        from_dict(ModelConfig, {"phy": {"nmul": 2}}, "model")  # the core names no default physics
    data = to_dict(cfg)
    assert from_dict(ModelConfig, data) == cfg
    cfg2 = from_dict(ModelConfig, {"phy": {"name": "hbv_2", "nmul": 4}, "nn": {"dropout": 0.5},
                                   "dtype": "float64"})
    assert cfg2.phy.nmul == 4 and cfg2.phy.routing is True and cfg2.nn.dropout == 0.5
    assert from_dict(ModelConfig, to_dict(cfg2)) == cfg2


def test_int_is_accepted_as_float():
    assert from_dict(NNConfig, {"dropout": 0}).dropout == 0.0


@pytest.mark.parametrize(
    "data, match",
    [
        ({"phy": {"nmull": 3}}, r"unknown key\(s\) 'phy\.nmull'.*valid keys.*'nmul'"),
        ({"colour": 1}, r"unknown key\(s\) 'colour'"),
        ({"phy": {"nmul": "4"}}, r"phy\.nmul: expected an integer, got '4'"),
        ({"phy": {"nmul": 2.5}}, r"phy\.nmul: expected an integer"),
        ({"phy": {"routing": "yes"}}, r"phy\.routing: expected true/false"),
        ({"nn": {"dropout": True}}, r"nn\.dropout: expected a number"),
        ({"nn": {"name": 3}}, r"nn\.name: expected a string"),
        ({"phy": {"dynamic_params": "parBETA"}}, r"phy\.dynamic_params: expected a list"),
        ({"phy": {"dynamic_params": ["parBETA", 7]}}, r"phy\.dynamic_params\[1\]: expected a string"),
        ({"phy": {"options": [1]}}, r"phy\.options: expected a mapping"),
        ({"phy": 3}, r"phy: expected a mapping"),
        ({"phy": {"warmup_mode": "cold"}}, r"phy\.warmup_mode: 'cold' is not one of \['spinup', 'trim'\]"),
        ({"dtype": "float16"}, r"dtype: 'float16' is not one of"),
        ({"phy": {"nmul": 0}}, r"phy\.nmul must be in \[1, 256\], got 0"),
        ({"phy": {"warmup": -1}}, r"phy\.warmup must be >= 0"),
        ({"nn": {"dropout": 1.0}}, r"nn\.dropout must be in \[0, 1\), got 1.0"),
        ({"nn": {"hidden_size": 0}}, r"nn\.hidden_size must be in \[1, 8192\], got 0"),
        ({"nn": {"mlp_layers": -1}}, r"nn\.mlp_layers must be in \[0, 64\], got -1"),
        ({"inputs": {"log_norm": ["Q"]}}, r"inputs\.log_norm\[0\]: 'Q' is not one of the inputs"),
        ({"inputs": {"forcings": ["P", "P"]}}, r"inputs\.forcings/attributes: duplicate name\(s\) \['P'\]"),
    ],
)
def test_errors_name_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(ModelConfig, data)


def test_missing_required_and_unions():
    with pytest.raises(ConfigError, match="missing required key 'name'"):
        from_dict(Needs, {})
    with pytest.raises(ConfigError, match=r"missing required key 'sec\.name'"):
        from_dict(Needs, {}, prefix="sec")
    assert from_dict(Needs, {"name": "a", "size": None}).size is None
    assert from_dict(Needs, {"name": "a", "size": 3}).size == 3
    with pytest.raises(ConfigError, match="size: expected an integer"):
        from_dict(Needs, {"name": "a", "size": "3"})
    with pytest.raises(ConfigError, match="Needs: expected a mapping"):
        from_dict(Needs, ["name"])


def test_apply_overrides():
    data = {"phy": {"name": "hbv_1_1p", "nmul": 16}}
    apply_overrides(data, ["phy.nmul=4", "nn.name=mlp", "phy.dynamic_params=[parBETA, parK0]",
                           "phy.routing=false", "dtype=float64", "phy.options.routing_len=10"])
    assert data == {"phy": {"name": "hbv_1_1p", "nmul": 4, "dynamic_params": ["parBETA", "parK0"],
                            "routing": False, "options": {"routing_len": 10}},
                    "nn": {"name": "mlp"}, "dtype": "float64"}
    cfg = from_dict(ModelConfig, data)
    assert cfg.phy.nmul == 4 and cfg.nn.name == "mlp" and cfg.dtype == "float64"
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        apply_overrides({}, ["phy.nmul"])
    with pytest.raises(ConfigError, match="'nmul' is not a section"):
        apply_overrides({"phy": {"nmul": 3}}, ["phy.nmul.x=1"])
    # an override that produces a bad value is caught when the config is built, naming the key
    with pytest.raises(ConfigError, match=r"phy\.nmul: expected an integer, got 'four'"):
        from_dict(ModelConfig, apply_overrides({}, ["phy.nmul=four"]))


def test_load_yaml(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("phy:\n  name: hbv_2\n  nmul: 2\nnn:\n  name: lstm\n")
    assert from_dict(ModelConfig, load_yaml(good)).phy.nmul == 2
    empty = tmp_path / "empty.yaml"
    for text in ("", "\n  \n# only a comment\n"):
        empty.write_text(text)
        with pytest.raises(ConfigError, match=rf"{empty} is empty \(no keys, only blanks or comments\)"):
            load_yaml(empty)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("phy:\n  nmul: [1, 2\n")
    with pytest.raises(ConfigError, match=r"(?s)malformed YAML in .*bad\.yaml.*line 2"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping, got list"):
        load_yaml(listy)
