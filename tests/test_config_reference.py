"""One definition per config key (issue 15): every shipped config loads through it, every wrong type or
out-of-range value of every key is a named error, `dmg-bmi config validate / explain / schema`, the JSON
Schema agrees with the validator, and the generated docs match the code."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from dmg_bmi import config_reference as ref
from dmg_bmi.bmi_config import BmiConfig
from dmg_bmi.cli import main
from dmg_bmi.core import schema
from dmg_bmi.core.config import from_dict, load_yaml
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen.realization_config import BmiModule
from dmg_bmi.train.config import ExperimentConfig

SHIPPED = sorted([*(REPO / "dmg_bmi" / "configs").glob("*.yaml"), *(REPO / "bmi_configs").glob("*.yml"),
                  *(REPO / "dmg_bmi" / "configs" / "bmi").glob("*.yaml")])  # the builder's BMI templates


def shipped_kind(path: Path) -> str:
    """The kind of shipped config `path`: BMI init configs are bmi_configs/*.yml and the builder's
    templates in dmg_bmi/configs/bmi/."""
    return "bmi" if path.suffix == ".yml" or path.parent.name == "bmi" else "train"


# A value of each required key, so that a section can be built around the one key under test.
REQUIRED = {"path": "x.nc", "start": "2000-01-01", "end": "2000-12-31", "checkpoint": "m.pt", "data": {},
            "init_config": "./bmi/{{id}}.yml"}


def sections() -> list[tuple[type, str]]:
    """Every config section class with its key prefix: the three kinds, every physics' options, every
    domain's data sections."""
    out, seen = [], set()

    def walk(cls, prefix):
        if cls in seen:
            return
        seen.add(cls)
        out.append((cls, prefix))
        for info in schema.fields(cls):
            if info.section and "." not in info.path:
                walk(schema.section_type(cls, info.path), f"{prefix}.{info.path}" if prefix else info.path)

    walk(ExperimentConfig, "")
    walk(BmiConfig, "")
    walk(BmiModule, "")
    for options in ref.physics_options():
        walk(options, "model.phy.options")
    for path, (_, cls) in ref.data_sections().items():
        walk(cls, path)
    return out


def _minimal(cls) -> dict:
    """The required keys of section `cls` with valid values (sub-sections: their own minimum)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            out[f.name] = _minimal(schema.section_type(cls, f.name)) if f.name == "data" else REQUIRED[f.name]
    return out


WRONG = {"integer": ["3", 1.5, True], "number": ["abc", True], "true/false": ["yes", 1], "text": [5],
         "mapping": [5], "list": [5], "path": [5, []], "date YYYY-MM-DD": ["2000-13-45", 5]}


def _bad_values(info: schema.KeyInfo, cls: type) -> list:
    """Values of the wrong type for `info`'s type, and values just outside its range (`cls`: its section)."""
    kind = info.type.split(" or ")[0]
    values = list(WRONG.get("list" if kind.startswith("list") else "mapping" if kind.startswith("mapping")
                            else kind, []))
    if info.allowed:
        values.append("not-a-choice")
    annotation = typing.get_type_hints(cls, include_extras=True)[info.path.rsplit(".", 1)[-1]]
    for op, bound in schema.constraints(annotation):
        step = 1 if kind == "integer" else 0.5
        values.append({">=": bound - step, ">": bound, "<=": bound + step, "<": bound}.get(op, None))
    return [v for v in values if v is not None]


CASES = [(cls, prefix, info) for cls, prefix in sections() for info in schema.fields(cls, prefix)
         if "." not in info.path[len(prefix) + 1 if prefix else 0:] and not info.section
         and info.type != "any" and "[]" not in info.path]


@pytest.mark.parametrize(("cls", "prefix", "info"), CASES,
                         ids=[f"{c.__name__}.{i.path}" for c, _, i in CASES])
def test_every_wrong_type_or_out_of_range_value_is_a_named_error(cls, prefix, info):
    """Property over the whole schema: each key refuses values of another type and values outside its
    range, with an error naming the full key path and the value given."""
    name = info.path.rsplit(".", 1)[-1]
    bad = _bad_values(info, cls)
    assert bad, f"{info.path}: no wrong value derived for type {info.type!r}"
    for value in bad:
        data = {**_minimal(cls), name: value}
        with pytest.raises(ConfigError) as err:
            from_dict(cls, data, prefix=prefix)
        text = str(err.value)
        assert info.path in text and (repr(value) in text or value == []), (info.path, value, text)


def test_ranges_are_enforced_and_boundaries_accepted():
    """A bound itself is accepted where inclusive: nmul 1 and 256, dropout 0, test_site_fraction 0."""
    from dmg_bmi.core.config import NNConfig, PhyConfig

    assert from_dict(PhyConfig, {"name": "hbv_1_1p", "nmul": 256}).nmul == 256
    assert from_dict(NNConfig, {"dropout": 0.0}).dropout == 0.0
    assert from_dict(NNConfig, {"dropout": 0.999}).dropout == 0.999
    with pytest.raises(ConfigError, match=r"2 problems: model.nn.hidden_size must be in \[1, 8192\], got 0; "
                                          r"model.nn.dropout must be in \[0, 1\), got 1.0"):
        from_dict(NNConfig, {"dropout": 1.0, "hidden_size": 0}, prefix="model.nn")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_config_is_valid(path):
    kind, problems = ref.validate_file(path)
    if path.parent.name == "bmi":  # a builder template names the quickstart checkpoint, in bmi_configs/
        assert problems == [f"checkpoint: file not found: {path.parent / 'quickstart_hbv11p.pt'} (a relative "
                            "path is taken from the config's folder)"]
        problems = ref.validate_mapping(load_yaml(path), kind, REPO / "bmi_configs")
    assert problems == [] and kind == shipped_kind(path)


def test_validate_reports_every_problem_at_once(tmp_path, capsys):
    """Problems of several sections, type, range and cross-key ones, in one report (exit 2); numbers in
    `1e-3` form are numbers."""
    raw = yaml.safe_load((REPO / "dmg_bmi" / "configs" / "quickstart.yaml").read_text())
    raw["data"]["train"]["end"] = "1999-01-01"
    raw["model"]["nn"]["dropout"] = 2
    raw["train"]["epochs"] = 1.5
    raw["run"]["device"] = "gpu"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw).replace("lr: 0.01", "lr: 1e-3"))
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    for line in ("data.train: end 1999-01-01 is before start 2000-01-01",
                 "model.nn.dropout must be in [0, 1), got 2", "train.epochs: expected an integer, got 1.5",
                 "run.device: 'gpu' is not one of"):
        assert f"  - {line}" in err, err
    assert "4 problem(s) in this run config" in err
    # a section whose own keys are valid has its cross-key rules checked whatever its neighbours hold
    path.write_text("data: {path: 5, train: {start: 2000-01-01, end: 1999-01-01}}\n"
                    "model: {phy: {name: hbv_1_1p, options: {nativ: true}}, nn: {dropout: 2}}\n")
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    for line in ("data.path: expected a path or a list of paths, got 5", "data.train: end 1999-01-01 is "
                 "before start", "model.phy.options: unknown key(s) 'model.phy.options.nativ'",
                 "model.nn.dropout must be in [0, 1), got 2"):
        assert f"  - {line}" in err, err
    path.write_text((REPO / "dmg_bmi" / "configs" / "quickstart.yaml").read_text().replace(
        "lr: 0.01", "lr: 1e-3"))
    assert main(["config", "validate", str(path)]) == 0
    assert "a valid run config" in capsys.readouterr().out


def test_validate_a_bmi_config_and_a_file_of_neither_kind(tmp_path, capsys):
    raw = yaml.safe_load((REPO / "bmi_configs" / "quickstart.yml").read_text())
    raw.update(time_step="1 hour", area_km2=-3, nan_policy="skip")
    path = tmp_path / "bmi.yml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "3 problem(s) in this BMI init config" in err and "area_km2 must be > 0, got -3" in err
    path.write_text("foo: 1\n")
    assert main(["config", "validate", str(path)]) == 2
    assert "neither a run config" in capsys.readouterr().err


def test_explain_one_key_the_options_and_the_tree(capsys):
    assert main(["config", "explain", "model.phy.fixed_params"]) == 0
    out = capsys.readouterr().out
    assert "parameters held at a given physical value instead of learned" in out
    assert "type:     mapping of number" in out
    assert main(["config", "explain", "model.phy.options"]) == 0
    out = capsys.readouterr().out
    assert "routing_len: integer  [d]" in out and "elev_threshold" in out
    assert main(["config", "explain", "model.phy.name"]) == 0
    assert "registered: " in capsys.readouterr().out
    assert main(["config", "explain", "train.epochs"]) == 0
    assert "range:    >= 1" in capsys.readouterr().out
    assert main(["config", "explain"]) == 0
    out = capsys.readouterr().out
    assert "run config" in out and "BMI init config" in out and "fixed_params" in out
    assert main(["config", "explain", "fixed_param"]) == 2
    assert "no key 'fixed_param'" in capsys.readouterr().err


def test_the_json_schema_agrees_with_the_validator(tmp_path):
    """`config schema` writes a JSON Schema that accepts every shipped config and refuses a bad value and
    a wrong physics option, as the validator does."""
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "train.json"
    assert main(["config", "schema", "--out", str(out)]) == 0
    train = json.loads(out.read_text())
    bmi = ref.json_schema("bmi")
    for path in SHIPPED:
        raw = yaml.safe_load(path.read_text())
        jsonschema.validate(raw, bmi if shipped_kind(path) == "bmi" else train)
    raw = yaml.safe_load((REPO / "dmg_bmi" / "configs" / "quickstart.yaml").read_text())
    raw["model"]["phy"]["options"] = {"routing_len": 0}
    with pytest.raises(jsonschema.ValidationError, match="minimum of 1"):
        jsonschema.validate(raw, train)
    raw["model"]["phy"]["options"] = {"nativ": False}
    with pytest.raises(jsonschema.ValidationError, match="nativ"):
        jsonschema.validate(raw, train)


def test_the_generated_docs_match_the_definitions():
    """docs/config_reference.md and the marked tables of README.md and bmi_configs/README.md are what
    `python tools/make_config_docs.py` writes from the code."""
    stale = [str(p.relative_to(REPO)) for p, text in ref.generated_docs(REPO).items()
             if not p.is_file() or p.read_text(encoding="utf-8") != text]
    assert not stale, f"run `python tools/make_config_docs.py`: {stale} differ from the definitions"


def test_every_key_has_a_help_line():
    for kind in ref.KINDS:
        missing = [i.path for i in ref.keys(kind) if not i.help.strip()]
        assert not missing, missing
    assert Path(REPO / ref.PAGE).is_file()


def test_the_pet_methods_of_the_schema_are_those_the_forcing_derives():
    """`model.inputs.pet_method`'s allowed values (core config) and `dmg_bmi.forcing.PET_METHODS` agree."""
    from dmg_bmi.core.config import PET_METHODS
    from dmg_bmi.forcing import PET_METHODS as DERIVED

    assert set(PET_METHODS) == set(DERIVED)


def test_user_trial_mistakes_are_named_not_crashed(tmp_path, capsys):
    """Mistakes a user trial of the config builder found passing or crashing: a bad date in a second
    period (was a TypeError comparing it with the test period), an unknown network, an empty data.path,
    and a BMI config whose checkpoint is missing or empty."""
    raw = yaml.safe_load((REPO / "dmg_bmi" / "configs" / "quickstart.yaml").read_text())
    raw["data"]["valid"] = {"start": "2003-01-01", "end": "2003-13-01"}
    raw["data"]["path"] = " "
    raw["model"]["nn"]["name"] = "transformer"
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    for line in ("data.valid.end: '2003-13-01' is not a date", "data.path: empty; give the dataset",
                 "model.nn.name: unknown nn model 'transformer'; registered: lstm, lstm_mlp, mlp"):
        assert line in err, err
    assert "Traceback" not in err

    site = yaml.safe_load((REPO / "bmi_configs" / "quickstart.yml").read_text())
    site["checkpoint"] = "missing.pt"
    (tmp_path / "site.yml").write_text(yaml.safe_dump(site))
    assert main(["config", "validate", str(tmp_path / "site.yml")]) == 2
    assert f"checkpoint: file not found: {tmp_path / 'missing.pt'}" in capsys.readouterr().err
    site.update(checkpoint="", final_state="")
    (tmp_path / "site.yml").write_text(yaml.safe_dump(site))
    assert main(["config", "validate", str(tmp_path / "site.yml")]) == 2
    assert "checkpoint, final_state: an empty path" in capsys.readouterr().err
