"""Typed configuration: dataclasses validated at load, with messages that name the key at fault.

Each config section is a dataclass whose field defaults are the single source of defaults.
`from_dict(cls, data)` builds one from a plain mapping (YAML), checking every key and type;
`load_yaml(path)` reads a file with errors that name the file and line. Every config YAML (run configs,
`--set key=value` values, the BMI's per-catchment configs) is parsed by `ConfigLoader`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.text import decode_text

T = TypeVar("T")

_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_RETYPED = (_INT_TAG, _FLOAT_TAG, "tag:yaml.org,2002:timestamp")
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?
                     |[-+]?[0-9]+[eE][-+]?[0-9]+
                     |[-+]?\.(?:inf|Inf|INF)
                     |\.(?:nan|NaN|NAN))$""", re.X)
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9]+$")


class ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when available
    """The safe YAML loader of every config, with plain scalars typed as a user means them.

    YAML 1.1 (PyYAML's default) differs from that in three ways, all changed here:
    - a digit string with a leading zero (`01022500`, a gauge id) stays the string as written, not
      the octal number 271680; `0x1F`, `0b101` and `1:30` stay strings too (no hex, binary, base 60);
    - `1e-3`, `1e9` and `5E+2` are numbers (YAML 1.1 needs a dot: `1.0e-3`), as are `0.5`, `.inf`, `.nan`;
    - dates and times stay strings (`2015-12-01 00:00:00`), read by the config key that takes them.
    A key given twice in one mapping is an error (YAML would silently keep the last one).
    """

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice (lines {seen[key] + 1} and "
                                    f"{key_node.start_mark.line + 1}); keep one", key_node.start_mark)
                seen[key] = key_node.start_mark.line
            except TypeError:  # an unhashable key: the base constructor names it
                continue
        return super().construct_mapping(node, deep=deep)


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _RETYPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(_INT_TAG, _INT, list("-+0123456789"))
ConfigLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))


def parse_yaml(raw: bytes, where: str) -> dict:
    """A YAML mapping from the bytes of `where` (a file, named in every error): UTF-8 text
    (`dmg_bmi.text.decode_text`: no NUL byte, a leading byte-order mark dropped), `ConfigLoader`."""
    try:
        text = decode_text(raw, where)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = yaml.load(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML in {where}: {_yaml_problem(exc)}") from None
    if data is None:
        raise ConfigError(f"{where} is empty (no keys, only blanks or comments)")
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping from `path` (`parse_yaml`); a missing or unreadable file raises ConfigError."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a config file")
    return parse_yaml(read_file(path, "config"), str(path))


def read_file(path: Path, what: str) -> bytes:
    """The bytes of the `what` file `path` (e.g. "config"); a missing or unreadable one raises ConfigError
    naming `what` and `path`."""
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `key.sub=value` overrides (values parsed as YAML by `ConfigLoader`) to a nested mapping, in
    place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r}: {key!r} is not a key like train.lr")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
            node = child
        try:
            node[parts[-1]] = yaml.load(raw, Loader=ConfigLoader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: the value {raw!r} is not valid YAML ({_yaml_problem(exc)})"
                              ) from None
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where, in what context (lines and columns 1-based)."""
    def at(mark: Any) -> str:
        return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""

    problem = f"{getattr(exc, 'problem', None) or exc}{at(getattr(exc, 'problem_mark', None))}"
    context = getattr(exc, "context", None)
    return problem + (f" ({context}{at(getattr(exc, 'context_mark', None))})" if context else "")


def _check(value: Any, tp: Any, key: str) -> Any:
    """Validate (and lightly coerce) `value` against the type annotation `tp`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: invalid value {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        (item_tp, *_) = get_args(tp) or (Any,)
        return [_check(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        _, val_tp = get_args(tp) or (Any, Any)
        return {k: _check(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, prefix=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}{_number_hint(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}{_number_hint(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}"
                              + (f" (quote it: '{value}')" if isinstance(value, (int, float)) else ""))
        return value
    return value


def _number_hint(value: Any) -> str:
    """Why a number written with a leading zero (`007`) is text, and what to write instead."""
    if isinstance(value, str) and _LEADING_ZERO.match(value):
        return f" (a leading zero keeps it text, like an id: write {int(value)})"
    return ""


def from_dict(cls: type[T], data: Any, prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown, missing or mistyped keys raise ConfigError."""
    where = prefix or cls.__name__
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(repr(f'{prefix}.{k}' if prefix else k) for k in unknown)}; "
            f"valid keys are {sorted(fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _check(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {key!r}")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(prefix)
    return obj


def check_keys(cls: type, data: Any, where: str, error: type[Exception] = ConfigError) -> None:
    """Refuse (`error` naming `where` and the valid keys) keys of mapping `data` that are not fields of
    dataclass `cls`."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise error(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(names)}")


def to_dict(obj: Any) -> dict:
    """Plain-dict form of a config dataclass (round-trips through `from_dict`)."""
    return dataclasses.asdict(obj)


# Structural sizes beyond any published δ model (those use nmul 16, hidden 256), refused at load so that a
# typo (`nmul: 1e8`) is named before anything is allocated.
MAX_NMUL = 256  # parallel physics components per basin
MAX_HIDDEN = 8192  # units of the LSTM and of each MLP layer
MAX_MLP_LAYERS = 64


def check_at_most(value: int, limit: int, key: str) -> None:
    """Refuse a size above its documented maximum, naming `key` and the value."""
    if value > limit:
        raise ConfigError(f"{key} must be <= {limit}, got {value}")


def check_count(value: Any, name: str, maximum: int) -> None:
    """Refuse a count that is not a whole number in 1..`maximum`, naming it `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= maximum:
        raise InputError(f"{name} must be a whole number in 1..{maximum:,}, got {value!r}")


@dataclasses.dataclass
class PhyConfig:
    """The physics model: a registry name plus its structural options."""

    name: str = ""  # required: a registered physics (`dmg_bmi.core.registry`)
    nmul: int = 16
    dynamic_params: list[str] = dataclasses.field(default_factory=list)
    routing: bool = True
    warmup: int = 365
    warmup_mode: Literal["spinup", "trim"] = "spinup"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Parameters held at a fixed physical value instead of learned (e.g. a twin's non-varying ones).
    fixed_params: dict[str, float] = dataclasses.field(default_factory=dict)

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        if self.nmul < 1:
            raise ConfigError(f"{p}nmul must be >= 1, got {self.nmul}")
        check_at_most(self.nmul, MAX_NMUL, f"{p}nmul")
        if self.warmup < 0:
            raise ConfigError(f"{p}warmup must be >= 0, got {self.warmup}")
        if not self.name:
            raise ConfigError(f"missing required key '{p}name' (the physics model's registry name)")
        dup = sorted({n for n in self.dynamic_params if self.dynamic_params.count(n) > 1})
        if dup:
            raise ConfigError(f"{p}dynamic_params: duplicate name(s) {dup}")


@dataclasses.dataclass
class NNConfig:
    """The parameter-learning network."""

    name: str = "lstm_mlp"
    hidden_size: int = 64
    mlp_hidden_size: int = 128
    mlp_layers: int = 2
    dropout: float = 0.0

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        if self.hidden_size < 1 or self.mlp_hidden_size < 1:
            raise ConfigError(f"{p}hidden sizes must be >= 1")
        if self.mlp_layers < 0:
            raise ConfigError(f"{p}mlp_layers must be >= 0, got {self.mlp_layers}")
        for name, limit in (("hidden_size", MAX_HIDDEN), ("mlp_hidden_size", MAX_HIDDEN),
                            ("mlp_layers", MAX_MLP_LAYERS)):
            check_at_most(getattr(self, name), limit, f"{p}{name}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{p}dropout must be in [0, 1), got {self.dropout}")


@dataclasses.dataclass
class InputConfig:
    """What the network sees and how each physics forcing is derived from raw forcings."""

    forcings: list[str] = dataclasses.field(default_factory=lambda: ["P", "T", "PET"])
    attributes: list[str] = dataclasses.field(default_factory=list)
    log_norm: list[str] = dataclasses.field(default_factory=lambda: ["P"])
    pet_method: str = "hamon"

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        names = self.forcings + self.attributes
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"{p}forcings/attributes: duplicate name(s) {dup}")
        for i, name in enumerate(self.log_norm):
            if name not in names:
                raise ConfigError(f"{p}log_norm[{i}]: {name!r} is not one of the inputs {names}")


@dataclasses.dataclass
class ModelConfig:
    """A whole delta model: physics + network + inputs."""

    phy: PhyConfig = dataclasses.field(default_factory=PhyConfig)
    nn: NNConfig = dataclasses.field(default_factory=NNConfig)
    inputs: InputConfig = dataclasses.field(default_factory=InputConfig)
    dtype: Literal["float32", "float64"] = "float32"
