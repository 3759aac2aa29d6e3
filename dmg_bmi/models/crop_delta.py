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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dmg_bmi.config import ModelConfig
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.models.nn import ParamLearner
from dmg_bmi.models.registry import get_nn, get_physics

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
        raise ConfigError(f"phy.options.learned_params: expected a non-empty list or mapping, got {spec!r}")
    out = []
    for name, opts in spec.items():
        key = f"phy.options.learned_params.{name}"
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
        lo, hi = float(opts.get("lo", default[0])), float(opts.get("hi", default[1]))
        if not lo < hi:
            raise ConfigError(f"{key}: lo {lo} must be below hi {hi}")
        out.append(LearnedParam(name, lo, hi, mode))
    return out


class CropDeltaModel(nn.Module):
    """Attributes -> learned crop parameters (bounded) -> WOFOST over each field's season."""

    def __init__(self, phy: nn.Module, learner: ParamLearner, learned: list[LearnedParam], cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.phy = phy
        self.nn = learner
        self.learned = list(learned)
        lo = torch.tensor([p.lo for p in learned], dtype=torch.float64)
        span = torch.tensor([p.hi - p.lo for p in learned], dtype=torch.float64)
        self.register_buffer("_lo", lo, persistent=False)
        self.register_buffer("_span", span, persistent=False)
        self.to(torch.float64 if cfg.dtype == "float64" else torch.float32)

    @classmethod
    def from_config(cls, cfg: ModelConfig, n_nn_attributes: int) -> CropDeltaModel:
        """Physics `cfg.phy.name` and learner `cfg.nn.name` (static head only) from the registries."""
        phy = get_physics(cfg.phy.name)(cfg.phy)
        specs = {s.name: s for s in phy.param_specs()}
        learned = parse_learned(cfg.phy.options.get("learned_params"), specs)
        learner = get_nn(cfg.nn.name)(0, n_nn_attributes, 0, len(learned), cfg.nn)
        return cls(phy, learner, learned, cfg)

    @property
    def learned_names(self) -> list[str]:
        return [p.name for p in self.learned]

    def unit_to_values(self, unit: torch.Tensor) -> torch.Tensor:
        """Network output in (0, 1) `[B, P]` -> bounded values `[B, P]` (factors for `factor` mode)."""
        return self._lo + unit * self._span

    def learned_values(self, c_nn: torch.Tensor) -> torch.Tensor:
        """Bounded values `[B, P]` (physical, or factors) from normalized attributes `c_nn [B, na]`."""
        return self.unit_to_values(self.nn.static(c_nn))

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
                attrs_phy: Mapping[str, torch.Tensor] | None = None, state=None):
        """`c_nn [B, na]`, weather `x_phy [T, B, F]`, base params, physics attributes -> (outputs, state)."""
        params = self.crop_params(self.learned_values(c_nn), base)
        return self.phy(x_phy, params, attrs=attrs_phy, state=state)
