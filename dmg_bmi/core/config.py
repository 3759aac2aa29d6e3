"""Typed configuration: dataclasses validated at load, with messages that name the key at fault.

Each config section is a dataclass whose fields are annotated with `schema.key` (type, default, range,
units, help: the one definition of each key, `dmg_bmi.core.schema`). `from_dict(cls, data)` builds one from
a plain mapping (YAML), checking every key's type and range at once, then each section's cross-key rules;
`load_yaml(path)` reads a file with errors that name the file and line. Every config YAML (run configs,
`--set key=value` values, the BMI's per-catchment configs) is parsed by `ConfigLoader`.
"""

from __future__ import annotations

import dataclasses
import numbers
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml

from dmg_bmi.core import schema
from dmg_bmi.core.schema import Bool, Float, Int, Str, key, section
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
_STR_TAG = "tag:yaml.org,2002:str"


class ConfigDumper(yaml.SafeDumper):
    """A YAML writer whose text `ConfigLoader` (and any YAML 1.1 reader) reads back as written: a string
    either of them would read as something else (`1e-3`, `5e2`: numbers to `ConfigLoader`; `01022500`, `yes`:
    to YAML 1.1) is quoted."""

    def resolve(self, kind, value, implicit):
        tag = super().resolve(kind, value, implicit)
        if kind is yaml.ScalarNode and implicit[0] and tag == _STR_TAG and value:
            for other, regexp in ConfigLoader.yaml_implicit_resolvers.get(value[0], []):
                if regexp.match(value):
                    return other
        return tag


def dump_yaml(data: Any) -> str:
    """`data` as YAML text in its own key order that `parse_yaml` reads back equal (`ConfigDumper`);
    non-ASCII characters escaped (ngen's embedded Python reads ASCII)."""
    return yaml.dump(data, Dumper=ConfigDumper, sort_keys=False, allow_unicode=False, width=110)


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


def from_dict(cls: type[T], data: Any, prefix: str = "", errors: list[str] | None = None) -> T:
    """Build config section `cls` (a `schema.section` dataclass) from a mapping: every key's type and range
    checked at once by its `schema.key` definition, then each section's cross-key `validate(prefix)`, inner
    sections first. ConfigError naming each key at fault (its `problems`: one line per problem).

    With a list `errors`, the cross-key problems are appended to it instead and checking goes on through
    the other sections (`dmg-bmi config validate` reports all of them); type errors still raise, as no
    object can be built past them."""
    where = prefix or cls.__name__
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    try:
        obj = schema.build(cls, data, prefix)
    except schema.SchemaError as exc:
        error = ConfigError(_joined(exc.lines))
        error.problems = exc.lines
        raise error from None
    _validate_tree(obj, prefix, errors, data)
    return obj


def _joined(lines: list[str]) -> str:
    """One line for several problems: `N problems: first; second; ...`."""
    return lines[0] if len(lines) == 1 else f"{len(lines)} problems: " + "; ".join(lines)


def _validate_tree(obj: Any, prefix: str, errors: list[str] | None, data: Any) -> bool:
    """Run `validate(prefix)` of `obj` and of every section given in its mapping `data` (a section left at its
    default is not checked), inner ones first; lists of sections item by item; whether all passed.

    With `errors`, a section is checked even when an inner one failed, so its own rules are reported too;
    where such a rule trips over the failed section's unchecked values (a TypeError comparing a date with
    text), that section's problem, already reported, stands for it."""
    ok = True
    for f in dataclasses.fields(obj):
        if not isinstance(data, dict) or f.name not in data:
            continue
        value, given = getattr(obj, f.name), data[f.name]
        key = f"{prefix}.{f.name}" if prefix else f.name
        listed = isinstance(value, list) and isinstance(given, list)
        pairs = zip(enumerate(value), given, strict=False) if listed else [((None, value), given)]
        for (i, item), raw in pairs:
            if dataclasses.is_dataclass(item) and not isinstance(item, type):
                ok = _validate_tree(item, key if i is None else f"{key}[{i}]", errors, raw) and ok
    validate = getattr(obj, "validate", None)
    if not callable(validate):
        return ok
    try:
        validate(prefix)
    except ConfigError as exc:
        if errors is None:
            raise
        errors.extend(p for p in getattr(exc, "problems", [str(exc)]) if p not in errors)
        return False
    except (TypeError, AttributeError):
        if ok:
            raise
        return False
    return ok


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


def check_count(value: Any, name: str, maximum: int) -> None:
    """Refuse a count that is not a whole number in 1..`maximum`, naming it `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= maximum:
        raise InputError(f"{name} must be a whole number in 1..{maximum:,}, got {value!r}")


PET_METHODS = ("hamon", "hargreaves", "priestley_taylor", "forcing")  # `dmg_bmi.forcing.PET_METHODS`


@section
@dataclasses.dataclass
class PhyConfig:
    """The physics model: a registry name plus its structural options."""

    name: Annotated[Str, key("registry name of the physics model (required; `dmg-bmi config explain "
                             "model.phy.name` lists the registered ones)")] = ""
    nmul: Annotated[Int, key("parallel physics components per basin, each with its own parameters; the "
                             "outputs are their mean (δMG's nmul)", ge=1, le=MAX_NMUL)] = 16
    dynamic_params: Annotated[list[Str], key(
        "parameters that vary by day, predicted by the LSTM from the forcings (the physics' own names, "
        "e.g. hydrodl2's parBETA); every other learned parameter is static, from the attributes")] = \
        dataclasses.field(default_factory=list)
    routing: Annotated[Bool, key("route the runoff through the physics' unit hydrograph (gamma kernel), as "
                                 "δMG does")] = True
    warmup: Annotated[Int, key("days of spin-up before each loss window (training) or run (simulate)",
                               units="d", ge=0)] = 365
    warmup_mode: Annotated[Literal["spinup", "trim"], key(
        "spinup: run the warm-up days without gradient and start the window from their states; trim: run "
        "them inside the window and leave them out of the loss")] = "spinup"
    options: Annotated[dict[Str, Any], key(
        "options of the physics named by `name` (checked against its own keys: `dmg-bmi config explain "
        "model.phy.options`)")] = dataclasses.field(default_factory=dict)
    fixed_params: Annotated[dict[Str, Float], key(
        "parameters held at a given physical value instead of learned, {name: value} in the parameter's "
        "units (a twin's constant parameters, or a calibrated value); the network learns the others")] = \
        dataclasses.field(default_factory=dict)

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        if not self.name:
            raise ConfigError(f"missing required key '{p}name' (the physics model's registry name)")
        check_registered(self.name, "physics", f"{p}name")
        dup = sorted({n for n in self.dynamic_params if self.dynamic_params.count(n) > 1})
        if dup:
            raise ConfigError(f"{p}dynamic_params: duplicate name(s) {dup}")
        options = physics_options(self.name)
        if options is not None:
            from_dict(options, self.options, prefix=f"{p}options")


def check_registered(name: str, kind: str, key: str) -> None:
    """Refuse (ConfigError naming `key`, the name and the registered ones) a `name` not in the `kind`
    registry (`physics`, `nn`; plugins included)."""
    from dmg_bmi.core.registry import available

    if name not in available(kind):
        raise ConfigError(f"{key}: unknown {kind} model {name!r}; registered: "
                          f"{', '.join(available(kind)) or '(none)'}")


def physics_options(name: str) -> type | None:
    """The options section (`PhysicsModel.Options`) of the registered physics `name`; None when the name is
    not registered (named later, where the physics is built) or the physics describes none."""
    from dmg_bmi.core.registry import available, get_physics

    return getattr(get_physics(name), "Options", None) if name in available("physics") else None


@section
@dataclasses.dataclass
class NNConfig:
    """The parameter-learning network."""

    name: Annotated[Str, key("registry name of the parameter-learning network (`dmg-bmi config explain "
                             "model.nn.name` lists them)")] = "lstm_mlp"
    hidden_size: Annotated[Int, key("hidden units of the LSTM (the dynamic-parameter head)", ge=1,
                                    le=MAX_HIDDEN)] = 64
    mlp_hidden_size: Annotated[Int, key("units of each hidden layer of the attribute MLP (the static-"
                                        "parameter head)", ge=1, le=MAX_HIDDEN)] = 128
    mlp_layers: Annotated[Int, key("hidden layers of the attribute MLP (0: one linear layer)", ge=0,
                                   le=MAX_MLP_LAYERS)] = 2
    dropout: Annotated[Float, key("dropout probability on the hidden layers while training", ge=0.0,
                                  lt=1.0)] = 0.0

    def validate(self, prefix: str = "") -> None:
        check_registered(self.name, "nn", f"{prefix}.name" if prefix else "name")


@section
@dataclasses.dataclass
class InputConfig:
    """What the network sees and how each physics forcing is derived from raw forcings."""

    forcings: Annotated[list[Str], key("daily inputs of the network, by dataset variable name (the physics "
                                       "takes its own forcings)")] = \
        dataclasses.field(default_factory=lambda: ["P", "T", "PET"])
    attributes: Annotated[list[Str], key("static attributes of the network, by dataset attribute name")] = \
        dataclasses.field(default_factory=list)
    log_norm: Annotated[list[Str], key("inputs mapped by log10(sqrt(max(x, 0)) + 0.1) before the z-score "
                                       "(skewed ones, such as precipitation); each must be an input")] = \
        dataclasses.field(default_factory=lambda: ["P"])
    pet_method: Annotated[Literal[PET_METHODS], key(
        "how potential evapotranspiration is derived from the forcings (`forcing`: read as given)")] = "hamon"

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        names = self.forcings + self.attributes
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"{p}forcings/attributes: duplicate name(s) {dup}")
        for i, name in enumerate(self.log_norm):
            if name not in names:
                raise ConfigError(f"{p}log_norm[{i}]: {name!r} is not one of the inputs {names}")


@section
@dataclasses.dataclass
class CorrectionConfig:
    """`model.correction`: a network correcting one physics output (`dmg_bmi.core.correction`)."""

    output: Annotated[Str, key("the physics output corrected (one the physics lists as correctable, e.g. a "
                               "streamflow)")] = "streamflow"
    features: Annotated[list[Str], key(
        "further physics outputs the network sees at each step (e.g. its stores), besides the network "
        "forcings, the attributes and the corrected output itself")] = \
        dataclasses.field(default_factory=list)
    hidden_size: Annotated[Int, key("units of each hidden layer of the correction network", ge=1,
                                    le=MAX_HIDDEN)] = 32
    layers: Annotated[Int, key("hidden layers of the correction network (0: one linear layer)", ge=0,
                               le=MAX_MLP_LAYERS)] = 1
    max_factor: Annotated[Float, key(
        "bound of the multiplicative correction: the output is scaled by a factor in [1/max_factor, "
        "max_factor] (1: none)", ge=1.0, le=100.0)] = 2.0
    max_offset: Annotated[Float, key("bound of the additive correction, in the output's units (e.g. mm d-1): "
                                     "a term in [0, max_offset] is added (0: none); an untrained network "
                                     "adds 1.8 % of it", ge=0.0, le=100.0)] = 0.0

    def validate(self, prefix: str = "") -> None:
        p = f"{prefix}." if prefix else ""
        dup = sorted({n for n in self.features if self.features.count(n) > 1})
        if dup:
            raise ConfigError(f"{p}features: duplicate name(s) {dup}")
        if self.max_factor == 1.0 and self.max_offset == 0.0:
            raise ConfigError(f"{p}max_factor 1 and max_offset 0 leave nothing to correct: raise one of "
                              "them, or drop model.correction")


@section
@dataclasses.dataclass
class ProcessConfig:
    """`model.process`: a network standing in for a process of the physics (`dmg_bmi.core.process`)."""

    hook: Annotated[Str, key("the process hook of the physics the network fills (one the physics lists in "
                             "its registry description, e.g. assimilation_reduction)")] = ""
    hidden_size: Annotated[Int, key("units of each hidden layer of the process network", ge=1,
                                    le=MAX_HIDDEN)] = 16
    layers: Annotated[Int, key("hidden layers of the process network (0: one linear layer)", ge=0,
                               le=MAX_MLP_LAYERS)] = 2


@section
@dataclasses.dataclass
class ModelConfig:
    """A whole delta model: physics + network + inputs."""

    phy: Annotated[PhyConfig, key("the physics model")] = dataclasses.field(default_factory=PhyConfig)
    nn: Annotated[NNConfig, key("the parameter-learning network")] = \
        dataclasses.field(default_factory=NNConfig)
    inputs: Annotated[InputConfig, key("what the network sees")] = \
        dataclasses.field(default_factory=InputConfig)
    dtype: Annotated[Literal["float32", "float64"], key("floating-point precision of the network and the "
                                                        "physics")] = "float32"
    correction: Annotated[CorrectionConfig | None, key(
        "a network correcting one physics output after each step, the change reported as its own flux "
        "(`dmg_bmi.core.correction`); null: none")] = None
    process: Annotated[ProcessConfig | None, key(
        "a network standing in for a process inside the physics step, at a hook the physics describes "
        "(`dmg_bmi.core.process`); null: none")] = None
