"""The builder's form: the JSON Schema of a config kind in the dialect json-editor renders, and the server's
validation problems placed on the fields they name.

json-editor (1.x) reads draft-4 style schemas: no `$defs`, no `if`/`then`, and `anyOf` with `null` becomes a
type switcher. So the form schema is the config's JSON Schema (`config_reference.json_schema`) with
- every `$ref` inlined; an optional type (`X or null`) shown as `X` where null is its default and an empty
  field says it (text, numbers: `restore_nulls`), else as a choice of X or null (`grad_clip`, a boolean,
  a section such as `data.valid`);
- every section open to keys it does not define, so that a file's misspelt key stays in the form and is
  named by the server instead of being dropped;
- the options of every registered physics offered under `model.phy.options` (the server checks them against
  the physics named, as `dmg-bmi config validate` does);
- each key titled `name [units]`, its one-line help, type and range as the tooltip (`options.infoText`), in
  definition order.
The form only renders; the definitions in `dmg_bmi.core.schema` stay the one judge of a config.
"""

from __future__ import annotations

import re
from typing import Any

from dmg_bmi import config_reference as ref
from dmg_bmi.core import schema

NULL_TITLE = "null (not set)"  # the switcher's name for null, beside "value"
# Keys of a leaf schema the form keeps (the rest, e.g. pydantic's titles, is replaced or dropped).
_LEAF_KEYS = ("type", "enum", "items", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
              "minItems", "additionalProperties", "default", "format")


def form_schema(kind: str) -> dict:
    """The form schema of config kind `kind` (`train` or `bmi`, `config_reference.KINDS`): a JSON object
    schema with inlined sections, titled keys (`name [units]`) and the help as tooltips."""
    full = ref.json_schema(kind)
    defs = full.get("$defs", {})
    infos: dict[str, list] = {}
    for info in ref.keys(kind):
        infos.setdefault(_plain(info.path), []).append(info)
    root = _node(full, "", defs, infos)
    root["title"] = short_title(kind)
    return root


def short_title(kind: str) -> str:
    """`run config`, `BMI init config`: the title of config kind `kind` without its note."""
    return ref.KINDS[kind][1].split(" (")[0]


def _plain(path: str) -> str:
    """A key path without list markers: `members[].weight` -> `members.weight`."""
    return path.replace("[]", "")


def _resolve(node: dict, defs: dict) -> tuple[dict, bool]:
    """(`node` with its `$ref` inlined and an optional type (`anyOf` of X and null) reduced to X, whether it
    was optional); the outer description and default win over the referenced section's."""
    if "$ref" in node:
        outer = {k: v for k, v in node.items() if k != "$ref"}
        node = {**defs[node["$ref"].split("/")[-1]], **outer}
    if "anyOf" in node:
        kept = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(kept) == 1 and len(node["anyOf"]) == 2:
            outer = {k: v for k, v in node.items() if k != "anyOf"}
            return _resolve({**kept[0], **outer}, defs)[0], True
    return node, False


def _node(node: dict, path: str, defs: dict, infos: dict[str, list]) -> dict:
    node, optional = _resolve(node, defs)
    infos_here = infos.get(path, [])
    if node.get("type") == "object" and ("properties" in node or path == ref.OPTIONS_KEY):
        out = _section(node, path, defs, infos)
    elif node.get("type") == "array" and isinstance(node.get("items"), dict) and (
            "$ref" in node["items"] or "properties" in node["items"]):
        out = {"type": "array", "format": "tabs", "items": _node(node["items"], path, defs, infos)}
        out["items"]["title"] = path.split(".")[-1].rstrip("s") or "item"
    else:
        out = {k: node[k] for k in _LEAF_KEYS if k in node and node[k] is not None}
        shown = node.get("x-type", "")
        if "type" not in out and shown:  # a key pydantic cannot type (paths, ids, dates): text, or a list
            list_first = shown.startswith("list")  # its empty default is a list: `basins: []`
            out["type"] = (["array", "string"] if list_first else ["string", "array"]) if "list" in shown \
                else "string"
            if "list" in shown:
                out["items"] = {"type": "string"}
    if optional and (node.get("default") is not None or out.get("type") in ("boolean", "object")):
        # null means something here (no clipping; true unless compile; no validation period), and an empty
        # field cannot say it: the form offers null beside the value
        out = {"oneOf": [{**out, "title": "value"}, {"type": "null", "title": NULL_TITLE}]}
    name = path.split(".")[-1]
    units = next((i.units for i in infos_here if i.units), None)
    out["title"] = f"{name} [{units}]" if units else name
    help_ = " / ".join(dict.fromkeys(i.help for i in infos_here if i.help)) or node.get("description", "")
    facts = [" / ".join(dict.fromkeys(i.type for i in infos_here if not i.section))]
    facts.append(" / ".join(dict.fromkeys(f"allowed: {i.range}" for i in infos_here if i.range)))
    facts = "; ".join(f for f in facts if f)
    if help_ or facts:
        out.setdefault("options", {})["infoText"] = help_ + (f" ({facts})" if facts else "")
    return out


def _section(node: dict, path: str, defs: dict, infos: dict[str, list]) -> dict:
    """An object section: its keys in definition order; under `model.phy.options`, those of every physics."""
    props = dict(node.get("properties", {}))
    if path == ref.OPTIONS_KEY:
        for options in ref.physics_options():
            for name, sub in schema.json_schema(options).get("properties", {}).items():
                props.setdefault(name, sub)
    out: dict[str, Any] = {"type": "object", "properties": {}, "required": list(node.get("required", [])),
                           "additionalProperties": True}  # an unknown key is kept, and named by the server
    for order, (name, sub) in enumerate(props.items()):
        child = _node(sub, f"{path}.{name}" if path else name, defs, infos)
        child["propertyOrder"] = order + 1
        out["properties"][name] = child
    return out


def restore_nulls(config: Any, kind: str) -> Any:
    """`config` (the form's value, changed in place) with each key whose default is null and whose value
    the form left empty ("", {}, []) set back to null: the form shows an optional key as its plain type
    (module docstring), so an empty field means "not set", never an empty path or mapping."""
    for info in ref.keys(kind):
        if info.default is not None or "[]" in info.path:
            continue
        *parents, name = info.path.split(".")
        node = config
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(name, None) in ("", {}, []):
            node[name] = None
    return config


# A problem line starts with the key at fault: `model.phy.nmul must be ...`, `members[0].weight: ...`.
_KEY = re.compile(r"^([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_][\w]*(?:\[\d+\])?)*)")


def place(problems: list[str], kind: str) -> list[dict]:
    """Each problem line (from `config_reference.validate_mapping`) with the form field it belongs to:
    `{"path": "root.model.phy.nmul", "key": "model.phy.nmul", "message": line}`. The key is the longest
    known key (list items keep their index) that starts the line, else the longest known key quoted in it;
    a line naming none goes to the root."""
    known = {_plain(i.path) for i in ref.keys(kind)}
    out = []
    for line in problems:
        match = _KEY.match(line)
        key = _known_prefix(match.group(1) if match else "", known)
        if not key:  # e.g. "missing required key 'model.phy.name' (...)": the longest quoted known key
            quoted = [_known_prefix(q, known) for q in re.findall(r"'([\w.\[\]]+)'", line)]
            key = max(quoted, key=len, default="")
        field = re.sub(r"\[(\d+)\]", r".\1", key)
        out.append({"path": f"root.{field}" if field else "root", "key": key, "message": line})
    return out


def _known_prefix(key: str, known: set[str]) -> str:
    """The longest leading part of dotted `key` (list items keep their index) that is a known key path."""
    parts = key.split(".") if key else []
    while parts and re.sub(r"\[\d+\]", "", ".".join(parts)) not in known:
        parts.pop()
    return ".".join(parts)
