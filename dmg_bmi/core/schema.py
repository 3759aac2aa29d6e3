"""One definition per config key, validated by pydantic v2: type, default, range, units and a one-line help.

Every config section is a plain dataclass whose fields are annotated with `key(...)`:

    nmul: Annotated[Int, key("parallel physics components per basin", ge=1, le=256)] = 16

The annotation is the single source of the key's type, default, allowed values (`Literal`), range (`ge`,
`gt`, `le`, `lt`), units and help. From it come:
- validation (`build`): pydantic checks a whole mapping at once; every error becomes one line naming the full
  key path, the value given and what is allowed (`SchemaError.lines`), in the style of the rest of dmg_bmi;
- the JSON Schema (`json_schema`), which `dmg-bmi config schema` writes and the config pages read;
- the key tree (`fields`, `describe`), which `dmg-bmi config explain` prints and the reference tables in the
  docs are generated from (`dmg_bmi.config_docs`).

Scalars are strict, as a user means them in YAML: an integer key refuses `3.0` and `"3"`, a flag refuses
`"yes"`, a text key refuses a number (with a hint to quote it). A number key takes integers and floats
(`1e-3` is a number: `core.config.ConfigLoader`) and refuses infinities and NaN. Unknown keys are errors.
Cross-key rules (a period's end after its start, one of two keys) stay in each section's `validate(prefix)`
method, run after the types are right (`core.config.from_dict`).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import ConfigDict, Field, Strict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]

SECTION_CONFIG = ConfigDict(extra="forbid")
_RANGE = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "min_length": "entries >="}
_RANGE_ERRORS = ("greater_than_equal", "greater_than", "less_than_equal", "less_than")


def key(help: str, units: str | None = None, shown: str | None = None, **constraints: Any) -> Any:
    """The metadata of one config key: `help` (one line), `units` (UDUNITS-style, e.g. "mm d-1", "d"; None
    where the key has none), `shown` (the type in words where the annotation is `Any`, e.g. "path or list
    of paths") and pydantic range constraints (`ge`, `gt`, `le`, `lt`, `min_length`)."""
    extra = {k: v for k, v in (("units", units), ("x-type", shown)) if v}
    return Field(description=help, json_schema_extra=extra or None, **constraints)


def section(cls: type) -> type:
    """Mark dataclass `cls` as a config section: unknown keys are refused (pydantic `extra="forbid"`)."""
    cls.__pydantic_config__ = SECTION_CONFIG
    return cls


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    if getattr(cls, "__pydantic_config__", None) is not SECTION_CONFIG:
        raise TypeError(f"{cls.__name__} is not a config section: decorate it with `schema.section`")
    return TypeAdapter(cls)


class SchemaError(Exception):
    """Type and range errors of a config mapping, one message line each (`lines`)."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def build(cls: type, data: dict, prefix: str = "") -> Any:
    """Dataclass `cls` (a `section`) built from mapping `data`, types and ranges checked by pydantic.
    SchemaError with one line per problem, each naming the key path under `prefix`."""
    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise SchemaError(_lines(exc, cls, prefix)) from None


def json_schema(cls: type) -> dict:
    """The JSON Schema (draft 2020-12, pydantic's) of section `cls`."""
    return _adapter(cls).json_schema()


# ------------------------------------------------------------------------------ errors, in our words
def _path(prefix: str, loc: tuple) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _lines(exc: ValidationError, cls: type, prefix: str) -> list[str]:
    """One line per pydantic error; unknown keys of one mapping are grouped into one line."""
    lines: list[str] = []
    unknown: dict[tuple, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
            continue
        line = _message(err, _path(prefix, loc), _field_type(cls, loc))
        if line not in lines:
            lines.append(line)
    for parent, names in unknown.items():
        where = _path(prefix, parent) or "top level"
        valid = sorted(f.name for f in dataclasses.fields(_section_at(cls, parent)) if f.init)
        shown = ", ".join(repr(_path(_path(prefix, parent), (n,))) for n in sorted(names))
        lines.append(f"{where}: unknown key(s) {shown}; valid keys are {valid}")
    return lines


def _is_union_tag(part: Any) -> bool:
    """pydantic adds the tried member type to a union's error location (`'list[str]'`, `'function-after'`)."""
    return isinstance(part, str) and ("[" in part or part in ("int", "float", "str", "bool", "none")
                                      or part.startswith(("function-", "constrained-")))


def _message(err: dict, key: str, tp: Any) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "missing" or kind == "missing_argument":
        return f"missing required key {key!r}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{key}: expected an integer, got {value!r}{number_hint(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"{key}: expected a number, got {value!r}{number_hint(value)}"
    if kind == "finite_number":
        return f"{key}: expected a finite number, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"{key}: expected true/false, got {value!r}"
    if kind == "string_type":
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        quote = f" (quote it: '{value}')" if number else ""
        return f"{key}: expected a string, got {value!r}{quote}"
    if kind == "literal_error":
        return f"{key}: {value!r} is not one of {list(_literal_values(tp))}"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return f"{key}: must not be empty" if n == 1 else f"{key}: expected at least {n} characters, " \
            f"got {value!r}"
    if kind == "too_short":
        return f"{key}: expected at least {ctx.get('min_length')} entries, got {value!r}"
    if kind in ("list_type", "tuple_type"):
        return f"{key}: expected a list, got {type(value).__name__} {value!r}"
    if kind in ("dict_type", "dataclass_type", "model_type", "dataclass_exact_type"):
        return f"{key}: expected a mapping, got {type(value).__name__} {value!r}"
    if kind in _RANGE_ERRORS:
        return f"{key} must be {range_text(tp) or _bound_text(ctx)}, got {value!r}"
    return f"{key}: {value!r}: {err['msg']}"


def number_hint(value: Any) -> str:
    """Why text that looks like a number is text (a leading zero, quotes), and what to write instead."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and len(text.lstrip("+-")) > 1 and text.lstrip("+-")[0] == "0":
            return f" (a leading zero keeps it text, like an id: write {int(text)})"
    return ""


def _literal_values(tp: Any) -> tuple:
    tp = _strip(tp)
    if get_origin(tp) is Literal:
        return get_args(tp)
    for arg in get_args(tp):
        values = _literal_values(arg)
        if values:
            return values
    return ()


# ------------------------------------------------------------------------------ the key tree
def _strip(tp: Any) -> Any:
    """`tp` without `Annotated` metadata."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _metadata(tp: Any) -> list:
    out = []
    while get_origin(tp) is Annotated:
        args = get_args(tp)
        out.extend(args[1:])
        tp = args[0]
    return out


def _section_type(tp: Any) -> type | None:
    """The dataclass inside `tp` (itself, Optional of it, or the item of a list of it), else None."""
    tp = _strip(tp)
    if dataclasses.is_dataclass(tp):
        return tp
    if get_origin(tp) in (typing.Union, types.UnionType, list):
        for arg in get_args(tp):
            found = _section_type(arg)
            if found is not None:
                return found
    return None


def section_type(cls: type, name: str) -> type | None:
    """The section class of key `name` of section `cls` (inside Optional or a list); None for a plain key."""
    return _section_type(typing.get_type_hints(cls, include_extras=True)[name])


def _section_at(cls: type, loc: tuple) -> type:
    for part in loc:
        if isinstance(part, int):
            continue
        hints = typing.get_type_hints(cls, include_extras=True)
        inner = _section_type(hints.get(str(part), Any))
        if inner is None:
            break
        cls = inner
    return cls


def _field_type(cls: type, loc: tuple) -> Any:
    tp: Any = cls
    for part in loc:
        section = _section_type(tp)
        if isinstance(part, int) or section is None:
            continue
        tp = typing.get_type_hints(section, include_extras=True).get(str(part), Any)
    return tp


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    """What `dmg-bmi config explain` says about one key."""

    path: str
    type: str
    default: Any  # dataclasses.MISSING when required
    help: str
    units: str | None
    allowed: tuple = ()
    range: str = ""
    section: bool = False

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


def fields(cls: type, prefix: str = "") -> Iterator[KeyInfo]:
    """Every key of section `cls` and its subsections, depth first, as `KeyInfo` (paths under `prefix`)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        path = f"{prefix}.{f.name}" if prefix else f.name
        info = [m for m in _metadata(tp) if isinstance(m, FieldInfo)]
        help_ = next((m.description for m in info if m.description), "")
        extra = next((m.json_schema_extra for m in info if isinstance(m.json_schema_extra, dict)), {})
        units = extra.get("units")
        sub = _section_type(tp)
        nested = sub is not None and get_origin(_strip(tp)) is not list
        if nested and not help_:
            help_ = (sub.__doc__ or "").strip().split("\n")[0]
        yield KeyInfo(path=path, type=extra.get("x-type") or type_name(tp), default=_default(f), help=help_,
                      units=units, allowed=_literal_values(tp), range=range_text(tp),
                      section=nested)
        if sub is not None:
            yield from fields(sub, path if nested else f"{path}[]")


def _bound_text(ctx: dict) -> str:
    return " and ".join(f"{op} {ctx[name]:g}" for name, op in _RANGE.items() if name in ctx)


def range_text(tp: Any) -> str:
    """The allowed range of a key's type in words: `in [0, 1)`, `>= 1`, `in [1, 256]`; "" without one."""
    bounds = dict(constraints(tp))
    bounds.pop("entries >=", None)
    lo = next(((op, v) for op, v in bounds.items() if op in (">=", ">")), None)
    hi = next(((op, v) for op, v in bounds.items() if op in ("<=", "<")), None)
    if lo and hi:
        return f"in {'[' if lo[0] == '>=' else '('}{lo[1]:g}, {hi[1]:g}{']' if hi[0] == '<=' else ')'}"
    one = lo or hi
    return f"{one[0]} {one[1]:g}" if one else ""


def constraints(tp: Any) -> list[tuple[str, Any]]:
    """The range constraints of an annotated type as (operator, bound), e.g. [(">=", 1), ("<=", 256)]."""
    out = []
    inner = _strip(tp)
    if get_origin(inner) in (typing.Union, types.UnionType):
        for arg in get_args(inner):
            out += constraints(arg)
    for m in _metadata(tp):
        for c in (m.metadata if isinstance(m, FieldInfo) else [m]):
            out += [(op, getattr(c, n)) for n, op in _RANGE.items() if getattr(c, n, None) is not None]
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
    return dataclasses.MISSING


def type_name(tp: Any, plural: bool = False) -> str:
    """A short, user-facing name of a key's type: `int`, `number`, `list of text`, `one of a | b`."""
    tp = _strip(tp)
    origin = get_origin(tp)
    if tp is Any:
        return "any"
    if origin is Literal:
        return "one of " + " | ".join(str(v) for v in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(a) for a in get_args(tp) if a is not type(None)]
        text = " or ".join(parts)
        return f"{text} or null" if type(None) in get_args(tp) else text
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return f"list of {type_name(item, plural=True)}"
    if origin is dict:
        _, value = get_args(tp) or (Any, Any)
        return "mapping" if _strip(value) is Any else f"mapping of {type_name(value)}"
    if dataclasses.is_dataclass(tp):
        return "sections" if plural else "section"
    return {int: "integer", float: "number", str: "text", bool: "true/false"}.get(tp, getattr(tp, "__name__",
                                                                                           str(tp)))
