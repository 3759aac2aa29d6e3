"""Realization options in the one schema (issue 15): the params of an ngen formulation module that runs
dmg_bmi are defined once (`BmiModule`), written by `dmg-bmi realization` from that definition, and checked
by `dmg-bmi config validate realization.json` wherever the module sits."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from dmg_bmi import config_reference as ref
from dmg_bmi.cli import main
from dmg_bmi.core.variables import MAIN_OUTPUT
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen.realization_config import PYTHON_TYPE, bmi_names, module_params, modules
from dmg_bmi.ngen.writers import realization_dict

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "realizations").glob("*.json"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_realization_is_valid(path):
    assert ref.validate_file(path) == ("realization", [])


def _realization(style: str = "bmi_python", **options) -> dict:
    return realization_dict(style, "./bmi/{{id}}.yml", "./forcing", "2015-12-01 00:00:00",
                            "2015-12-02 00:00:00", **options)


def _module(real: dict) -> dict:
    ((_, params),) = modules(real)
    return params


def _validate(tmp_path, real: dict, capsys) -> tuple[int, str]:
    path = tmp_path / "realization.json"
    path.write_text(json.dumps(real, indent=2), encoding="utf-8")
    code = main(["config", "validate", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("style", ["bmi_python", "bmi_multi"])
def test_written_realizations_are_valid(tmp_path, capsys, style):
    real = _realization(style, output_variables=[MAIN_OUTPUT],
                        variables_names_map={"land_surface_air__temperature": "T2D"})
    params = _module(real)
    assert params["python_type"] == PYTHON_TYPE and params["uses_forcing_file"] is False
    assert "output_precision" not in params and "fixed_time_step" not in params  # ngen's defaults apply
    code, text = _validate(tmp_path, real, capsys)
    assert code == 0 and "a valid realization file" in text


def test_every_wrong_option_is_named(tmp_path, capsys):
    """Each mistake names the module's full key path and the value; a misspelt class is still found."""
    base = _realization()
    at = "global.formulations[0].params"
    cases = [
        ({"uses_forcing_file": True}, f"{at}.uses_forcing_file must be false"),
        ({"main_output_variable": "Q_OUT"}, f"{at}.main_output_variable: 'Q_OUT' is not a BMI output"),
        ({"output_variables": ["streamflow"]}, f"{at}.output_variables: 'streamflow' is not a BMI output"),
        ({"variables_names_map": {"air_temp": "T2D"}}, f"{at}.variables_names_map: 'air_temp' is not a BMI "
                                                       "input"),
        ({"main_output_variables": MAIN_OUTPUT}, f"unknown key(s) '{at}.main_output_variables'"),
        ({"python_type": "dmg_bmi.bmi.DeltaModelBMI"}, f"{at}.python_type: 'dmg_bmi.bmi.DeltaModelBMI' is "
                                                       "not one of"),
        ({"output_precision": 40}, f"{at}.output_precision must be in [1, 17], got 40"),
        ({"init_config": ""}, f"{at}.init_config"),
    ]
    for change, words in cases:
        real = copy.deepcopy(base)
        _module(real).update(change)
        code, text = _validate(tmp_path, real, capsys)
        assert code == 2 and words in text, (change, text)


def test_modules_are_found_per_catchment_and_inside_bmi_multi(tmp_path, capsys):
    multi = _realization("bmi_multi")
    real = {"global": {"formulations": [{"name": "bmi_c", "params": {"model_type_name": "cfe",
                                                                      "init_config": "cfe.ini"}}]},
            "catchments": {"cat-1": {"formulations": multi["global"]["formulations"]}},
            "time": multi["time"]}
    found = dict(modules(real))
    assert list(found) == ["catchments.cat-1.formulations[0].params.modules[0].params"]
    next(iter(found.values()))["main_output_variable"] = "nope"
    code, text = _validate(tmp_path, real, capsys)
    assert code == 2 and "catchments.cat-1.formulations[0].params.modules[0].params.main_output_variable: " \
                         "'nope'" in text
    del real["catchments"]
    code, text = _validate(tmp_path, real, capsys)
    assert code == 2 and "no formulation module runs dmg_bmi" in text


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "realization.json"
    path.write_text('{"global": {\n  "formulations": [,]\n}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"malformed JSON in .*realization.json: line 2, column"):
        ref.validate_file(path)


def test_module_params_defaults_and_names():
    assert module_params(init_config="x.yml") == {
        "init_config": "x.yml", "name": "bmi_python", "model_type_name": "dmg_bmi",
        "python_type": PYTHON_TYPE, "main_output_variable": MAIN_OUTPUT, "uses_forcing_file": False,
        "allow_exceed_end_time": False, "cache_input_variable_metadata": True}
    assert MAIN_OUTPUT in bmi_names("output") and MAIN_OUTPUT not in bmi_names("input")
    assert "land_surface_air__temperature" in bmi_names("input")


def test_explain_and_schema_cover_realization_keys(capsys):
    assert main(["config", "explain", "variables_names_map"]) == 0
    assert "realization file" in capsys.readouterr().out
    assert main(["config", "schema", "--kind", "realization"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["required"] == ["init_config"] and "uses_forcing_file" in schema["properties"]


def test_a_module_reports_every_problem_at_once(tmp_path, capsys):
    real = _realization()
    _module(real).update(uses_forcing_file=True, main_output_variable="Q_OUT",
                         variables_names_map={"air_temp": "T2D"})
    code, text = _validate(tmp_path, real, capsys)
    at = "global.formulations[0].params"
    assert code == 2 and "3 problem(s)" in text
    for words in (f"{at}.uses_forcing_file must be false", f"{at}.main_output_variable: 'Q_OUT'",
                  f"{at}.variables_names_map: 'air_temp'"):
        assert words in text, text
    _module(real).update(uses_forcing_file=False, main_output_variable=MAIN_OUTPUT, variables_names_map={},
                         init_config="")
    code, text = _validate(tmp_path, real, capsys)
    assert code == 2 and f"{at}.init_config: must not be empty" in text
