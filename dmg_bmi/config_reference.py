"""The config reference, from the one definition of every key (`dmg_bmi.core.schema`): `dmg-bmi config
validate / explain / schema`, and the generated key tables of the docs.

Three kinds of config file:
- `train`: a run config (`dmg-bmi train`, `cv`, `calibrate`; `ExperimentConfig`), with the options of each
  registered physics under `model.phy.options` (`PhysicsModel.Options`) and each domain's `data` sections
  (`Domain.data_sections`);
- `bmi`: a per-catchment BMI init config (`DeltaModelBmi.initialize`; `BmiConfig`);
- `realization`: an ngen realization (JSON), of which the params of each formulation module that runs
  dmg_bmi are checked (`dmg_bmi.ngen.realization_config.BmiModule`); the rest is ngen's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from dmg_bmi.bmi_config import BmiConfig, resolve
from dmg_bmi.core import schema
from dmg_bmi.core.config import from_dict, load_yaml, read_file
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen.realization_config import PYTHON_TYPE, BmiModule, modules
from dmg_bmi.train.config import ExperimentConfig, resolve_experiment

KINDS: dict[str, tuple[type, str]] = {
    "train": (ExperimentConfig, "run config (`dmg-bmi train`, `cv`, `calibrate`)"),
    "bmi": (BmiConfig, "BMI init config (one per catchment, `DeltaModelBmi.initialize`)"),
    "realization": (BmiModule, "realization file (ngen's JSON: the `params` of each formulation module "
                               "that runs dmg_bmi are checked)"),
}
OPTIONS_KEY = "model.phy.options"


def kind_of(raw: dict, where: str) -> str:
    """Which kind of config the mapping `raw` (of file `where`) is: `train`, `bmi` or `realization`;
    ConfigError when it looks like none."""
    keys = set(raw)
    if keys & {"checkpoint", "members"}:
        return "bmi"
    if keys & {"data", "model", "train", "run"}:
        return "train"
    if keys & {"global", "catchments"}:
        return "realization"
    raise ConfigError(f"{where}: neither a run config (sections data, model, train, run), a BMI init "
                      "config (checkpoint or members) nor an ngen realization (global, catchments); its "
                      f"top-level keys are {sorted(map(str, keys))}")


def validate_file(path: str | Path) -> tuple[str, list[str]]:
    """Check config file `path` of any kind: (kind, every problem found, one line each; empty: valid).
    The type and range problems of all keys come at once; a section's cross-key rules are checked whenever
    that section's own keys are valid, whatever its neighbours hold (`_collect`). A file that cannot be
    read or parsed is a ConfigError."""
    path = Path(path)
    raw = _read_json(path) if path.suffix.lower() == ".json" else load_yaml(path)
    kind = kind_of(raw, str(path))
    return kind, validate_mapping(raw, kind, path.parent)


def _read_json(path: Path) -> dict:
    """The JSON mapping in `path` (an ngen realization); ConfigError naming the file, line and column."""
    try:
        raw = json.loads(read_file(path, "config").decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}" if hasattr(exc, "lineno") else str(exc)
        raise ConfigError(f"malformed JSON in {path}: {where}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    return raw


def validate_mapping(raw: Any, kind: str, base: str | Path) -> list[str]:
    """Every problem of the config mapping `raw` of kind `kind` (one line each; empty: valid), its relative
    paths taken against the folder `base` (`validate_file`; the config builder's unsaved form)."""
    problems: list[str] = []
    if kind == "realization":
        found = list(modules(raw))
        for where, params in found:
            _collect(BmiModule, params, where, problems)
        return problems if found else [f"no formulation module runs dmg_bmi (python_type {PYTHON_TYPE}) in "
                                       "global or catchments formulations"]
    if kind == "train":
        if not isinstance(raw, dict):
            return [f"a run config is a mapping of sections, got {type(raw).__name__}"]
        raw = resolve_experiment(data=raw, base=base)
    _collect(KINDS[kind][0], raw, "", problems)
    if kind == "bmi" and not problems:
        problems += missing_files(raw, Path(base))
    return problems


def missing_files(raw: dict, base: Path) -> list[str]:
    """A problem line for each file a valid BMI init config `raw` reads that is not there (`checkpoint`,
    each `members[i].checkpoint`, `initial_state`), relative paths taken from its folder `base`."""
    named = [("checkpoint", raw.get("checkpoint")), ("initial_state", raw.get("initial_state"))]
    members = raw.get("members") or []
    named += [(f"members[{i}].checkpoint", m.get("checkpoint")) for i, m in enumerate(members)]
    paths = {k: resolve(base, v) for k, v in named if isinstance(v, str)}  # as the BMI resolves them
    return [f"{k}: file not found: {p} (a relative path is taken from the config's folder)"
            for k, p in paths.items() if not p.is_file()]


def _collect(cls: type, data: Any, prefix: str, problems: list[str]) -> None:
    """`from_dict` of section `cls` with every problem appended to `problems` (once each); where the
    section cannot be built, each subsection given in `data` is checked on its own, so that its cross-key
    rules are reported too."""
    try:
        from_dict(cls, data, prefix=prefix, errors=problems)
    except ConfigError as exc:
        problems += [p for p in getattr(exc, "problems", [str(exc)]) if p not in problems]
        for name, value in (data.items() if isinstance(data, dict) else ()):
            sub = schema.section_type(cls, name) if name in cls.__dataclass_fields__ else None
            if sub is not None and isinstance(value, dict):
                _collect(sub, value, f"{prefix}.{name}" if prefix else name, problems)


# ------------------------------------------------------------------------------ the key tree
def physics_options() -> dict[type, list[str]]:
    """{options section: the registered physics that take it} (physics that describe their options)."""
    from dmg_bmi.core.registry import available, get_physics

    out: dict[type, list[str]] = {}
    for name in available("physics"):
        options = getattr(get_physics(name), "Options", None)
        if options is not None:
            out.setdefault(options, []).append(name)
    return out


def data_sections() -> dict[str, tuple[str, type]]:
    """{`data.<key>`: (domain name, section)} of every registered domain's `data` sections."""
    from dmg_bmi.domains import available, get_domain

    return {f"data.{key}": (name, cls) for name in available()
            for key, cls in get_domain(name).data_sections().items()}


def keys(kind: str) -> list[schema.KeyInfo]:
    """Every key of config kind `kind`, depth first, with the physics options and domain data sections
    spliced in under their keys (paths `model.phy.options.<key>` carry the physics in their help)."""
    cls, _ = KINDS[kind]
    options = physics_options() if kind == "train" else {}
    sections = data_sections() if kind == "train" else {}
    out = []
    for info in schema.fields(cls):
        out.append(info)
        if info.path == OPTIONS_KEY:
            for section, names in options.items():
                out += [dataclasses.replace(sub, help=f"({', '.join(names)}) {sub.help}")
                        for sub in schema.fields(section, OPTIONS_KEY)]
        if info.path in sections:
            domain, section = sections[info.path]
            out += [dataclasses.replace(sub, help=f"({domain}) {sub.help}")
                    for sub in schema.fields(section, info.path)]
    return out


def _find(key: str) -> tuple[str, list[schema.KeyInfo]]:
    """The kind and the entries of `key` (a physics option may have one per physics)."""
    for kind in KINDS:
        found = [i for i in keys(kind) if i.path == key]
        if found:
            return kind, found
    last = key.split(".")[-1]
    near = sorted({i.path for kind in KINDS for i in keys(kind)
                   if i.path.split(".")[-1] == last or i.path.startswith(key)})
    hint = f"; did you mean {', '.join(near[:8])}?" if near else "; `dmg-bmi config explain` lists them all"
    raise ConfigError(f"config explain: no key {key!r}{hint}")


def _default_text(value: Any) -> str:
    if value is dataclasses.MISSING:
        return "required"
    return json.dumps(value, default=str)


def explain(key: str | None = None) -> str:
    """The tree of keys of both kinds (`key` None), or one key with its help, type, default, units, allowed
    values and range (ConfigError naming an unknown key and the nearest ones)."""
    if key is None:
        lines = []
        for kind, (_, title) in KINDS.items():
            lines.append(f"{title}:")
            for info in keys(kind):
                depth = info.path.count(".")
                head = info.path.split(".")[-1] + ("" if info.section else f": {info.type}")
                lines.append(f"{'  ' * (depth + 1)}{head}  {_units(info)}{_short(info.help)}")
            lines.append("")
        lines.append("`dmg-bmi config explain KEY` for one key (e.g. model.phy.fixed_params)")
        return "\n".join(lines)
    kind, found = _find(key)
    lines = [f"{key}  ({KINDS[kind][1]})"]
    for info in found:
        lines.append(f"  {info.help}")
        if not info.section:
            lines.append(f"  type:     {info.type}")
            lines.append(f"  default:  {_default_text(info.default)}")
        if info.units:
            lines.append(f"  units:    {info.units}")
        if info.range:
            lines.append(f"  range:    {info.range}")
        lines += _registered(key)
    depth = key.count(".") + 1
    children = [i for i in keys(kind) if i.path.startswith(key + ".") and i.path.count(".") == depth]
    if children:
        lines.append("  keys:")
        lines += [f"    {c.path.split('.')[-1]}: {c.type}  {_units(c)}{_short(c.help)}" for c in children]
    return "\n".join(lines)


def _registered(key: str) -> list[str]:
    """The registered names a registry key takes (physics, networks)."""
    from dmg_bmi.core.registry import available

    kind = {"model.phy.name": "physics", "model.nn.name": "nn"}.get(key)
    return [f"  registered: {', '.join(available(kind))}"] if kind else []


def _units(info: schema.KeyInfo) -> str:
    return f"[{info.units}]  " if info.units else ""


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


# ------------------------------------------------------------------------------ JSON Schema
def json_schema(kind: str) -> dict:
    """The JSON Schema of config kind `kind`. For `train`, each registered physics' options apply when
    `model.phy.name` names it (`if`/`then`), and each domain's data sections are described under their key."""
    cls, title = KINDS[kind]
    out = schema.json_schema(cls)
    out["title"] = f"dmg_bmi {title}"
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    if kind != "train":
        return out
    defs = out.setdefault("$defs", {})

    def add(section: type) -> dict:
        sub = schema.json_schema(section)
        defs.update(sub.pop("$defs", {}))
        defs[section.__name__] = sub
        return {"$ref": f"#/$defs/{section.__name__}"}

    rules = []
    for options, names in physics_options().items():
        rules.append({"if": {"properties": {"name": {"enum": names}}, "required": ["name"]},
                      "then": {"properties": {"options": add(options)}}})
    phy = defs["PhyConfig"]
    phy["allOf"] = rules
    from dmg_bmi.core.registry import available

    phy["properties"]["name"]["examples"] = available("physics")
    for path, (domain, section) in data_sections().items():
        name = path.split(".", 1)[1]
        before = defs["DataConfig"]["properties"][name].get("description", "")
        defs["DataConfig"]["properties"][name] = {**add(section), "description": f"({domain}) {before}"}
    return out


# ------------------------------------------------------------------------------ generated docs
def markdown_table(kind: str) -> str:
    """The key table of config kind `kind` in Markdown: key, type, default, units, range or allowed values,
    meaning (the sections as rows of their own)."""
    rows = ["| key | type | default | units | meaning |", "| --- | --- | --- | --- | --- |"]
    for info in keys(kind):
        if info.section:
            rows.append(f"| **`{info.path}`** | section | | | {_cell(info.help)} |")
            continue
        meaning = info.help + (f" ({info.range})" if info.range else "")
        rows.append(f"| `{info.path}` | {_cell(info.type)} | {_cell(_default_text(info.default))} | "
                    f"{info.units or ''} | {_cell(meaning)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sections_table(kind: str) -> str:
    """The top-level sections (and their subsections) of config kind `kind`: key and meaning."""
    rows = ["| section | what it holds |", "| --- | --- |"]
    rows += [f"| `{i.path}` | {_cell(i.help)} |" for i in keys(kind) if i.section]
    return "\n".join(rows)


def reference_page() -> str:
    """`docs/config_reference.md`: every key of both kinds of config."""
    parts = ["# Config reference", "",
             "Generated from the definitions in the code (`dmg_bmi.core.schema.key` on each config section) "
             "by `python tools/make_config_docs.py`; a test fails when this page and the code differ. The "
             "same definitions validate the files (`dmg-bmi config validate FILE`), answer `dmg-bmi config "
             "explain KEY`, and give the JSON Schema (`dmg-bmi config schema --kind train|bmi|realization`). "
             "`dmg-bmi config-builder` makes run and BMI init configs in a local web page from them.", ""]
    for kind, (_, title) in KINDS.items():
        parts += [f"## {title[0].upper()}{title[1:]}", "", markdown_table(kind), ""]
    return "\n".join(parts)


# Generated blocks of the docs: file (relative to the project root) -> what goes between its markers.
BEGIN, END = "<!-- BEGIN generated by tools/make_config_docs.py -->", "<!-- END generated -->"
BLOCKS = {
    "README.md": lambda: sections_table("train"),
    "bmi_configs/README.md": lambda: markdown_table("bmi"),
}
PAGE = "docs/config_reference.md"


def generated_docs(root: Path) -> dict[Path, str]:
    """{file: its text with every generated block (and the reference page) made from the definitions}."""
    out = {root / PAGE: reference_page()}
    for name, render in BLOCKS.items():
        path = root / name
        text = path.read_text(encoding="utf-8")
        if text.count(BEGIN) != 1 or text.count(END) != 1:
            raise ConfigError(f"{path}: expected one {BEGIN!r} ... {END!r} block")
        head, rest = text.split(BEGIN)
        _, tail = rest.split(END)
        out[path] = f"{head}{BEGIN}\n{render()}\n{END}{tail}"
    return out
