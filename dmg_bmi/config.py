"""Typed configuration: dataclasses validated at load, with messages that name the key at fault.

Each config section is a dataclass whose field defaults are the single source of defaults.
`from_dict(cls, data)` builds one from a plain mapping (YAML), checking every key and type;
`load_yaml(path)` reads a file with errors that name the file and line.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from dmg_bmi.errors import ConfigError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping from `path`; a missing file or malformed YAML raises ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML in {path}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `key.sub=value` overrides (values parsed as YAML) to a nested mapping, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(raw)
    return data


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
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


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


def to_dict(obj: Any) -> dict:
    """Plain-dict form of a config dataclass (round-trips through `from_dict`)."""
    return dataclasses.asdict(obj)


@dataclasses.dataclass
class PhyConfig:
    """The physics model: a registry name plus its structural options."""

    name: str = "hbv_1_1p"
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
        if self.warmup < 0:
            raise ConfigError(f"{p}warmup must be >= 0, got {self.warmup}")


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
