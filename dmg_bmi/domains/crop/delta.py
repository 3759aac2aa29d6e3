"""δWOFOST: a parameter learner on field attributes -> a bounded subset of crop parameters -> WOFOST.

Why not `DeltaModel`: WOFOST has ~60 parameters (scalars and AFGEN tables) per field, and the network learns
only a configurable few; the others come from the crop parameter set of each field's crop and variety. So the
physics receives a per-field base parameter dict, and the learned values replace (or scale) entries of it.
The learner is one of C's registered `ParamLearner`s (e.g. "mlp"), used for its static head (attributes only).

Learned parameters (`phy.options.learned_params` in the model config), one value per field:
- `mode: absolute`: value = lo + u·(hi − lo), u in (0, 1) from the network; default bounds are the WOFOST
  `ParamSpec` bounds (PCSE units);
- `mode: factor`: value = base·(lo + u·(hi − lo)), a multiplier of the field's crop-set value (default
  [0.5, 1.5]); handy when fields of several crops share one network;
- `<TABLE>_SCALE` (AMAXTB_SCALE, SLATB_SCALE, EFFTB_SCALE): a multiplier of the table's y-values in [lo, hi]
  (the physics folds it into the table).

Daily parameters (`model.phy.dynamic_params`, a subset of the learned ones that WOFOST lets vary by day:
`params.DAILY_SCALES`, AMAXTB_SCALE, EFFTB_SCALE, SLATB_SCALE): the learner's dynamic head (e.g. the LSTM of
"lstm_mlp") runs over the daily weather named in `model.inputs.forcings` (normalized) with the attributes
and gives each a value per day in [lo, hi], which multiplies AMAX, EFF or SLA where the day step reads them.
The static parameters still come from the attributes alone (the learner's static head), never from the
LSTM's last step. Under the BMI the LSTM steps one day at a time with the crop (`handler.CropHandler`).

A learned process (`model.process`, `dmg_bmi.core.process`): a second small network, at a hook WOFOST lists
in its registry description (`Wofost72PP.processes`, e.g. `assimilation_reduction`: heat/cold stress on
gross assimilation from the day's TMAX, TMIN and DVS), called inside every WOFOST day; trained with the
parameter learner by the same loss and saved in the same checkpoint (`process.*` weights).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dmg_bmi.core.config import ModelConfig, from_dict
from dmg_bmi.core.nn import ParamLearner
from dmg_bmi.core.process import LearnedProcess, check_process
from dmg_bmi.core.registry import get_nn
from dmg_bmi.domains.crop import PHYSICS
from dmg_bmi.domains.crop.pcse.pcse_yaml import read_yaml
from dmg_bmi.domains.crop.pcse.tables import parse_afgen
from dmg_bmi.domains.crop.weather import WEATHER_NAMES
from dmg_bmi.domains.crop.wofost72 import params as wofost_params
from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.model import run
from dmg_bmi.domains.crop.wofost72.physics import Wofost72PP, WofostOptions
from dmg_bmi.errors import ConfigError, InputError

MODES = ("absolute", "factor")


@dataclasses.dataclass(frozen=True)
class LearnedParam:
    """One learned crop parameter: name, bounds and how the bounds apply (see module doc)."""

    name: str
    lo: float
    hi: float
    mode: str = "absolute"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_learned(spec: Any, specs_by_name: Mapping[str, Any]) -> list[LearnedParam]:
    """`learned_params` config (a list of names, or a mapping name -> {mode, lo, hi}) -> LearnedParam list.

    `specs_by_name` maps learnable parameter names to the physics' ParamSpecs (default absolute bounds).
    """
    if isinstance(spec, (list, tuple)):
        spec = {name: {} for name in spec}
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"model.phy.options.learned_params: expected a non-empty list or mapping, got "
                          f"{spec!r}")
    out = []
    for name, opts in spec.items():
        key = f"model.phy.options.learned_params.{name}"
        if name not in specs_by_name:
            raise ConfigError(f"{key}: not a learnable parameter; valid: {sorted(specs_by_name)}")
        opts = dict(opts or {})
        unknown = sorted(set(opts) - {"mode", "lo", "hi"})
        if unknown:
            raise ConfigError(f"{key}: unknown key(s) {unknown}; valid keys are ['hi', 'lo', 'mode']")
        mode = opts.get("mode", "factor" if name.endswith("_SCALE") else "absolute")
        if mode not in MODES:
            raise ConfigError(f"{key}.mode: {mode!r} is not one of {list(MODES)}")
        if name.endswith("_SCALE") and mode != "factor":
            raise ConfigError(f"{key}.mode: a table scale is always a factor")
        default = (0.5, 1.5) if mode == "factor" and not name.endswith("_SCALE") else (
            specs_by_name[name].lo, specs_by_name[name].hi)
        lo, hi = (_bound(opts.get(b, d), f"{key}.{b}") for b, d in zip(("lo", "hi"), default, strict=True))
        if not lo < hi:
            raise ConfigError(f"{key}: lo {lo} must be below hi {hi}")
        if mode == "factor" and lo <= 0:
            raise ConfigError(f"{key}.lo: a factor must be > 0, got {lo:g} (it multiplies the crop set's "
                              "value)")
        valid = wofost_params.PARAM_RANGES.get(name)
        if mode == "absolute" and valid and not valid[0] <= lo < hi <= valid[1]:
            raise ConfigError(f"{key}: bounds [{lo:g}, {hi:g}] leave the allowed range [{valid[0]:g}, "
                              f"{valid[1]:g}] {wofost_params.UNITS.get(name, '')}".rstrip())
        out.append(LearnedParam(name, lo, hi, mode))
    return out


def _bound(value: Any, key: str) -> float:
    """A learned-parameter bound as a finite float, else ConfigError naming `key`."""
    try:
        x = float(value) if not isinstance(value, bool) else np.nan
    except (TypeError, ValueError):
        x = np.nan
    if not np.isfinite(x):
        raise ConfigError(f"{key}: {value!r} is not a finite number")
    return x


class WofostPhysics(nn.Module):
    """Adapter over `wofost72.model.run`: `(x [T, B, F] in PHYSICS_WEATHER order, params, attrs) ->
    (outputs {name: [T, B]}, final state)`; attrs: LAT and the calendar day indices (`physics_attrs`);
    `process`: a learned process at one of `processes` (None: plain WOFOST)."""

    processes = Wofost72PP.processes

    def __init__(self, cfg=None):
        super().__init__()
        options = from_dict(WofostOptions, getattr(cfg, "options", None), prefix="model.phy.options")
        self.surrogate = options.surrogate

    @staticmethod
    def param_specs():
        return wofost_params.param_specs()

    def forward(self, x, params, attrs=None, state=None, process=None, daily=None):
        if attrs is None:
            raise InputError("WOFOST needs physics attributes LAT, CROP_START, CROP_END, START_EMERGED, "
                             "END_AT_MATURITY")
        cal = Calendar.from_attrs(attrs)
        return run(dict(params), x, cal, attrs["LAT"], surrogate=self.surrogate, state=state, process=process,
                   daily=daily)


class CropDeltaModel(nn.Module):
    """Attributes -> learned crop parameters (bounded) -> WOFOST over each field's season; with daily
    parameters, weather -> LSTM -> their daily values; with `cfg.process`, a learned process inside each day
    (module docstring). `learned`: the static learned parameters, `daily`: the daily ones."""

    def __init__(self, phy: nn.Module, learner: ParamLearner, learned: list[LearnedParam], cfg: ModelConfig,
                 process: LearnedProcess | None = None, daily: list[LearnedParam] = ()):
        super().__init__()
        self.cfg = cfg
        self.phy = phy
        self.nn = learner
        self.process = process
        self.learned = list(learned)
        self.daily = list(daily)
        for tag, group in (("", self.learned), ("_daily", self.daily)):
            self.register_buffer(f"{tag}_lo", torch.tensor([p.lo for p in group], dtype=torch.float64),
                                 persistent=False)
            self.register_buffer(f"{tag}_span", torch.tensor([p.hi - p.lo for p in group],
                                                              dtype=torch.float64), persistent=False)
        self.to(torch.float64 if cfg.dtype == "float64" else torch.float32)

    @classmethod
    def from_config(cls, cfg: ModelConfig, n_nn_attributes: int) -> CropDeltaModel:
        """WOFOST physics (`cfg.phy.name` in `dmg_bmi.domains.crop.PHYSICS`) and learner `cfg.nn.name`: its
        static head on the attributes, and its dynamic head on `cfg.inputs.forcings` for the daily ones."""
        static, daily, hook = check_model(cfg)
        learner = get_nn(cfg.nn.name)(len(cfg.inputs.forcings), n_nn_attributes, len(daily), len(static),
                                      cfg.nn)
        process = LearnedProcess(cfg.process, hook) if hook is not None else None
        return cls(WofostPhysics(cfg.phy), learner, static, cfg, process, daily)

    @property
    def learned_names(self) -> list[str]:
        return [p.name for p in self.learned]

    def unit_to_values(self, unit: torch.Tensor) -> torch.Tensor:
        """Network output in (0, 1) `[B, P]` -> bounded values `[B, P]` (factors for `factor` mode)."""
        return self._lo + unit * self._span

    def learned_values(self, c_nn: torch.Tensor) -> torch.Tensor:
        """Bounded values `[B, P]` (physical, or factors) from normalized attributes `c_nn [B, na]`."""
        return self.unit_to_values(self.nn.static(c_nn))

    @property
    def daily_names(self) -> list[str]:
        return [p.name for p in self.daily]

    def daily_values(self, x_nn: torch.Tensor | None, c_nn: torch.Tensor) -> dict[str, torch.Tensor]:
        """The daily parameters {name: `[T, B]`} (factors in [lo, hi]) from the normalized network forcings
        `x_nn [T, B, nx]` and attributes `c_nn [B, na]`; {} without daily parameters."""
        if not self.daily:
            return {}
        if x_nn is None:
            raise InputError(f"daily parameters {self.daily_names} need the network forcings "
                             f"{list(self.cfg.inputs.forcings)} (x_nn)")
        dyn, _, _ = self.nn.sequence(x_nn, c_nn)
        values = self._daily_lo + dyn * self._daily_span
        return {name: values[..., i] for i, name in enumerate(self.daily_names)}

    def crop_params(self, values: torch.Tensor, base: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Merge learned `values [B, P]` into the base parameter dict (scalars `[B]`, tables `[B, N, 2]`)."""
        params = dict(base)
        for i, p in enumerate(self.learned):
            v = values[:, i]
            if p.mode == "factor" and not p.name.endswith("_SCALE"):
                if p.name not in base:
                    raise InputError(f"learned parameter {p.name!r} (factor mode) has no base value")
                v = base[p.name] * v
            params[p.name] = v
        return params

    def forward(self, c_nn: torch.Tensor, x_phy: torch.Tensor, base: Mapping[str, torch.Tensor],
                attrs_phy: Mapping[str, torch.Tensor] | None = None, state=None, x_nn=None):
        """`c_nn [B, na]`, weather `x_phy [T, B, F]`, base params, physics attributes, network forcings
        `x_nn [T, B, nx]` (daily parameters only) -> (outputs, state); with daily parameters the outputs add
        `daily_<name>` `[T, B]`, each day's value."""
        params = self.crop_params(self.learned_values(c_nn), base)
        return self.run_physics(x_phy, params, attrs_phy, self.process, self.daily_values(x_nn, c_nn), state)

    def run_physics(self, x_phy: torch.Tensor, params: Mapping[str, torch.Tensor], attrs_phy, process=None,
                    daily: Mapping[str, torch.Tensor] | None = None, state=None):
        """The physics on `params` with a learned `process` and `daily` values {name: `[T, B]`} (each None
        or empty for none) -> (outputs, with `daily_<name>` added, final state)."""
        extra = {} if process is None else {"process": process}  # a plain physics needs no keyword
        if daily:
            extra["daily"] = daily
        outputs, state = self.phy(x_phy, params, attrs=attrs_phy, state=state, **extra)
        return {**outputs, **{f"daily_{k}": v for k, v in (daily or {}).items()}}, state


def check_model(cfg: ModelConfig) -> tuple[list[LearnedParam], list[LearnedParam], Any]:
    """A δWOFOST model config checked (ConfigError naming the key): its physics, learned parameters, daily
    parameters and learned process. Returns (static learned parameters, daily ones, the process hook or
    None): what `CropDeltaModel.from_config` builds, and what the crop domain checks at config load."""
    if cfg.phy.name not in PHYSICS:
        raise ConfigError(f"model.phy.name: δWOFOST runs {', '.join(PHYSICS)}, got {cfg.phy.name!r}")
    specs = {s.name: s for s in WofostPhysics.param_specs()}
    learned = parse_learned(cfg.phy.options.get("learned_params"), specs)
    daily_names = check_daily(cfg, learned, specs)
    hook = check_process(cfg.process, WofostPhysics, cfg.phy.name) if cfg.process is not None else None
    return ([p for p in learned if p.name not in daily_names], [p for p in learned if p.name in daily_names],
            hook)


def check_daily(cfg: ModelConfig, learned: list[LearnedParam], specs: Mapping[str, Any]) -> list[str]:
    """The daily parameters `cfg.phy.dynamic_params`, each checked (ConfigError naming the key): a learned
    parameter WOFOST lets vary by day, with network forcings (daily weather names) to learn it from; and no
    forcings without one."""
    names = list(cfg.phy.dynamic_params)
    bounds = {p.name for p in learned}
    for i, name in enumerate(names):
        key = f"model.phy.dynamic_params[{i}]"
        if name not in specs or not specs[name].may_vary:
            can = sorted(n for n, s in specs.items() if s.may_vary)
            raise ConfigError(f"{key}: {name!r} cannot vary by day in WOFOST; those that can: {can}")
        if name not in bounds:
            raise ConfigError(f"{key}: {name!r} is not in model.phy.options.learned_params, which gives its "
                              "bounds; add it there")
    forcings = list(cfg.inputs.forcings)
    if names and not forcings:
        raise ConfigError(f"model.inputs.forcings: daily parameters {names} are learned from the daily "
                          f"weather: name the variables the network sees, e.g. {list(WEATHER_NAMES[:3])}")
    if forcings and not names:
        raise ConfigError(f"model.inputs.forcings: δWOFOST's network sees weather only for daily parameters "
                          f"(model.phy.dynamic_params); set [] or list one (got {forcings})")
    unknown = [n for n in forcings if n not in WEATHER_NAMES]
    if unknown:
        raise ConfigError(f"model.inputs.forcings: {unknown} are not daily crop weather variables; valid: "
                          f"{list(WEATHER_NAMES)}")
    return names


# --------------------------------------------------------------------------- inputs of the crop physics
# Physics weather channels (WOFOST model order) and how each comes from the dataset: TEMP = (TMIN + TMAX)/2
# (PCSE's derived daily mean), DOY = day of year of each field's own date; the rest are dataset variables.
PHYSICS_WEATHER = ("IRRAD", "TMIN", "TMAX", "TEMP", "E0", "ES0", "ET0", "RAIN", "DOY")


def physics_weather(ds, names: tuple[str, ...] = PHYSICS_WEATHER) -> np.ndarray:
    """Physics forcing `[T, N, F]` (WOFOST units) from a `CropDataset`; days without weather (outside every
    season, which `validate` checks) are filled with the field's mean so masked days stay finite."""
    base = {n: ds.weather_array([n])[..., 0] for n in ds.weather_names}
    base["TEMP"] = 0.5 * (base["TMIN"] + base["TMAX"])
    base["DOY"] = ds.day_of_year().astype(np.float64)
    missing = [n for n in names if n not in base]
    if missing:
        raise InputError(f"physics weather {missing} cannot be derived from {list(ds.weather_names)}")
    out = np.stack([base[n] for n in names], axis=-1)  # [N, T, F]
    mean = np.nanmean(np.where(np.isfinite(out), out, np.nan), axis=1, keepdims=True)
    out = np.where(np.isfinite(out), out, np.nan_to_num(mean))
    return np.ascontiguousarray(out.transpose(1, 0, 2))


def physics_attrs(ds) -> dict[str, np.ndarray]:
    """Per-field physics attributes `[N]`: LAT (deg) and the calendar as day indices on the field's axis."""
    start = ds.start_index()
    return {
        "LAT": ds.attribute_array(["lat"])[:, 0],
        "CROP_START": start.astype(np.float64),
        "CROP_END": (start + ds.season_length() - 1).astype(np.float64),
        "START_EMERGED": np.array([c.crop_start_type == "emergence" for c in ds.calendars], dtype=np.float64),
        "END_AT_MATURITY": np.array([c.crop_end_type in ("maturity", "earliest") for c in ds.calendars],
                                    dtype=np.float64),
    }


def load_parameter_set(source: Any, where: str) -> dict[str, Any]:
    """A crop parameter set: an inline mapping, or a YAML file (a flat PCSE-style mapping, or a PCSE
    reference test file whose `ModelParameters` are used). Tables are flat `[x1, y1, x2, y2, ...]` lists.

    Files are read by the PCSE reader (`pcse_yaml.read_yaml`); values are checked by
    `wofost72.params.check_params`. Errors name `where` (the config key) and the file."""
    if isinstance(source, Mapping):
        data = source
    else:
        path = Path(str(source))
        if not path.is_file():
            raise ConfigError(f"{where}: crop parameter file not found: {path}")
        data = read_yaml(path, f"{where}: crop parameter file")
        if isinstance(data, Mapping) and "ModelParameters" in data:
            data = data["ModelParameters"]
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: {path} does not hold a parameter mapping")
        where = f"{where} ({path})"
    wofost_params.check_params(data, where)
    return {k: v for k, v in data.items() if isinstance(v, (int, float, list))}


def resolve_parameter_sets(spec: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """`phy.options.crop_params` ({crop: {variety: mapping or file}}) -> inline {crop: {variety: params}}.

    Inline sets are what the checkpoint stores, so a trained model needs no parameter files to run.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError("model.phy.options.crop_params: expected a mapping {crop: {variety: parameters or "
                          "file}}")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for crop, varieties in spec.items():
        if not isinstance(varieties, Mapping) or not varieties:
            raise ConfigError(f"model.phy.options.crop_params.{crop}: expected a mapping {{variety: "
                              "parameters}}")
        out[str(crop)] = {str(v): load_parameter_set(src, f"model.phy.options.crop_params.{crop}.{v}")
                          for v, src in varieties.items()}
    return out


def _pad_table(pairs: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([pairs, np.repeat(pairs[-1:], n - len(pairs), axis=0)]) if len(pairs) < n else pairs


def base_params(sets: Mapping[str, Mapping[str, Mapping[str, Any]]], calendars, dtype=torch.float64,
                device="cpu", table_names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
    """Per-field base parameters: scalars `[N]`, AFGEN tables `[N, n, 2]` (padded by repeating the last pair),
    each field's set chosen by its calendar's crop and variety (unknown ones raise InputError naming them)."""
    chosen = []
    for i, cal in enumerate(calendars):
        if cal.crop_name not in sets:
            raise InputError(f"field {i}: unknown crop {cal.crop_name!r}; known crops: {sorted(sets)}")
        if cal.variety_name not in sets[cal.crop_name]:
            raise InputError(f"field {i}: unknown variety {cal.variety_name!r} of crop {cal.crop_name!r}; "
                             f"known: {sorted(sets[cal.crop_name])}")
        chosen.append(sets[cal.crop_name][cal.variety_name])
    names = sorted(set().union(*[set(c) for c in chosen]))
    out = {}
    for name in names:
        have = [c.get(name) for c in chosen]
        if any(isinstance(v, (str, bool)) for v in have):
            continue  # not numeric (e.g. a crop name)
        present = [v for v in have if v is not None]
        # keys absent from some sets (vernalisation ones, unused where IDSL < 2) become 0 / the table [(0, 0)]
        fill = [0.0, 0.0] if isinstance(present[0], list) else 0.0
        have = [fill if v is None else v for v in have]
        is_table = isinstance(have[0], list) and (table_names is None or name in table_names)
        if is_table:
            pairs = [parse_afgen(name, v) for v in have]
            n = max(len(p) for p in pairs)
            padded = np.stack([_pad_table(p, n) for p in pairs])
            out[name] = torch.as_tensor(padded, dtype=dtype, device=device)
        elif not isinstance(have[0], list):
            out[name] = torch.as_tensor(np.array(have, dtype=np.float64), dtype=dtype, device=device)
    return out


def sparse_obs_loss(outputs: Mapping[str, torch.Tensor], obs: torch.Tensor, names: tuple[str, ...],
                    scales: torch.Tensor) -> torch.Tensor:
    """Mean over observed variables of the mean squared error on observed entries only, each variable
    divided by its scale (e.g. the observations' std): `outputs[name] [T, B]`, `obs [T, B, V]` (NaN =
    unobserved), `scales [V]`. Variables without any observation in the batch are skipped."""
    terms = []
    for j, name in enumerate(names):
        o = obs[..., j]
        mask = torch.isfinite(o)
        if bool(mask.any()):
            diff = torch.where(mask, outputs[name] - torch.nan_to_num(o), torch.zeros_like(o))
            terms.append((diff**2).sum() / mask.sum() / scales[j] ** 2)
    if not terms:
        raise InputError(f"no observations of {list(names)} in this batch")
    return torch.stack(terms).mean()
