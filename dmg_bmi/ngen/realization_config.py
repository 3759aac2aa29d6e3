"""The realization options: the `params` of an ngen formulation module that runs dmg_bmi, defined once
(`BmiModule`), written by `dmg-bmi realization` and checked by `dmg-bmi config validate realization.json`.

The keys are ngen's own (`Bmi_Formulation.hpp`, `BMI_REALIZATION_CFG_PARAM_*` of ngen dd04bbc); this
section adds what dmg_bmi needs of them: the Python class, forcing through `set_value` (no forcing file),
and output and input names that the BMI declares (the framework's and every registered domain's variable
tables). `modules` finds each dmg_bmi module of a realization: in `global` and per-catchment
`formulations`, directly or inside a `bmi_multi`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field

from dmg_bmi.core.schema import Bool, Int, Str, key, section
from dmg_bmi.core.variables import MAIN_OUTPUT, VARIABLES
from dmg_bmi.errors import ConfigError

PYTHON_TYPE = "dmg_bmi.bmi.DeltaModelBmi"
MODEL_TYPE_NAME = "dmg_bmi"


def bmi_names(role: str) -> list[str]:
    """The BMI variable names of `role` ("input", "output") the framework and every registered domain
    declare (a checkpoint's BMI declares a subset of them)."""
    from dmg_bmi.domains import available, get_domain

    tables = [VARIABLES, *(get_domain(name).variables for name in available())]
    return sorted({v.name for table in tables for v in table if v.role == role})


def _unknown_names(given: list[str], role: str, where: str) -> list[str]:
    """The problem line for the names in `given` that are no BMI variable of `role` (none: empty)."""
    known = bmi_names(role)
    unknown = [n for n in given if n not in known]
    if not unknown:
        return []
    return [f"{where}: {', '.join(map(repr, unknown))} is not a BMI {role} variable of dmg_bmi; {role}s of "
            f"its domains: {', '.join(known)}"]


@section
@dataclasses.dataclass
class BmiModule:
    """The params of an ngen formulation module that runs dmg_bmi (ngen's `bmi_python` adapter)."""

    init_config: Annotated[Str, key(
        "the BMI init config of each catchment (`{{id}}` becomes the catchment id, e.g. ./bmi/{{id}}.yml), "
        "relative to ngen's working folder", min_length=1)]
    name: Annotated[Literal["bmi_python"], key("ngen's adapter for a Python BMI")] = "bmi_python"
    model_type_name: Annotated[Str, key("the module's name in ngen's messages and output headers",
                                        min_length=1)] = MODEL_TYPE_NAME
    python_type: Annotated[Literal["dmg_bmi.bmi.DeltaModelBmi"], key(
        "the BMI class ngen imports (from ngen's Python: install dmg_bmi there, non-editable)")] = PYTHON_TYPE
    main_output_variable: Annotated[Str, key(
        "the output ngen routes to the nexus (runoff depth for hydrology; a crop field's yield)")] = \
        MAIN_OUTPUT
    uses_forcing_file: Annotated[Bool, key(
        "must be false: the BMI gets its forcing from ngen through set_value")] = False
    forcing_file: Annotated[Str | None, key("unused (uses_forcing_file is false)")] = None
    allow_exceed_end_time: Annotated[Bool, key(
        "let ngen step past the BMI end time (bmi_multi realizations, NGIAB)")] = False
    fixed_time_step: Annotated[Bool | None, key("ngen's fixed-step flag of the module (null: ngen's "
                                                "default)")] = None
    cache_input_variable_metadata: Annotated[Bool, key(
        "ngen asks the BMI for its inputs' names, units and sizes once, not every step")] = True
    variables_names_map: Annotated[dict[Str, Str], key(
        "{BMI input: forcing column or another module's output}; without it ngen looks each input up by "
        "its CSDMS name")] = dataclasses.field(default_factory=dict)
    output_variables: Annotated[list[Str], key(
        "the outputs ngen writes to each catchment's output file (default: main_output_variable)")] = \
        dataclasses.field(default_factory=list)
    output_header_fields: Annotated[list[Str], key(
        "column names for output_variables in those files")] = dataclasses.field(default_factory=list)
    output_precision: Annotated[Annotated[Int, Field(ge=1, le=17)] | None, key(
        "significant digits ngen writes to the output files (null: ngen's default)")] = None
    model_params: Annotated[dict[Str, Any], key(
        "values ngen sets through set_value at the start (e.g. area_km2 from the hydrofabric)")] = \
        dataclasses.field(default_factory=dict)

    def validate(self, prefix: str = "") -> None:
        """Every problem at once (ConfigError with `problems`, one line each)."""
        at = f"{prefix}." if prefix else ""
        problems = []
        if self.uses_forcing_file:
            problems.append(f"{at}uses_forcing_file must be false: dmg_bmi takes its forcing from ngen "
                            "through set_value (put the forcing under the realization's `forcing`)")
        problems += _unknown_names([self.main_output_variable], "output", f"{at}main_output_variable")
        problems += _unknown_names(self.output_variables, "output", f"{at}output_variables")
        problems += _unknown_names(list(self.variables_names_map), "input", f"{at}variables_names_map")
        if self.output_header_fields and len(self.output_header_fields) != len(self.output_variables):
            problems.append(f"{at}output_header_fields has {len(self.output_header_fields)} names for "
                            f"{len(self.output_variables)} output_variables")
        if problems:
            error = ConfigError(problems[0] if len(problems) == 1
                                else f"{len(problems)} problems: " + "; ".join(problems))
            error.problems = problems
            raise error


def module_params(**given: Any) -> dict:
    """The params mapping of a dmg_bmi module: `given` over `BmiModule`'s defaults, written as ngen reads
    it: a key left at a null or empty default is left out (ngen's own default then applies)."""
    out = dataclasses.asdict(BmiModule(**given))
    return {k: v for k, v in out.items() if k in given or (v is not None and v != {} and v != [])}


def modules(realization: Any) -> Iterator[tuple[str, Any]]:
    """(key path, params) of each formulation module of `realization` (an ngen realization mapping) that
    runs dmg_bmi, or means to: its `python_type` starts with `dmg_bmi` or its `model_type_name` is
    `dmg_bmi`; a module of another framework is left alone."""
    places = []
    if isinstance(realization, dict):
        places.append(("global", realization.get("global")))
        catchments = realization.get("catchments")
        if isinstance(catchments, dict):
            places += [(f"catchments.{cid}", value) for cid, value in catchments.items()]
    for where, block in places:
        formulations = block.get("formulations") if isinstance(block, dict) else None
        for i, formulation in enumerate(formulations if isinstance(formulations, list) else []):
            yield from _module(formulation, f"{where}.formulations[{i}]")


def _module(formulation: Any, where: str) -> Iterator[tuple[str, Any]]:
    params = formulation.get("params") if isinstance(formulation, dict) else None
    if not isinstance(params, dict):
        return
    if isinstance(params.get("modules"), list):
        for j, sub in enumerate(params["modules"]):
            yield from _module(sub, f"{where}.params.modules[{j}]")
    elif str(params.get("python_type", "")).startswith("dmg_bmi") or params.get("model_type_name") == \
            MODEL_TYPE_NAME:  # ours, or meant to be: a misspelt class is named by the check
        yield f"{where}.params", params
