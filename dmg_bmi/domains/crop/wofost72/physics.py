"""`wofost72_pp` as a registered `PhysicsModel` (forcing `[T, B, F]`, per-field params and attributes).

- forcing channels `WEATHER_NAMES` in PCSE units (IRRAD J m-2 d-1, TMIN/TMAX/TEMP °C, E0/ES0/ET0/RAIN
  cm d-1) plus DOY (day of year of each row);
- attributes `[B]`: LAT (deg) and the calendar as day indices on the forcing's time axis: CROP_START,
  CROP_END (harvest date or start + max_duration), START_EMERGED (1: emergence start, 0: sowing),
  END_AT_MATURITY (1: end type maturity/earliest);
- params: name -> `[B]` (scalars, `<TABLE>_SCALE`) or `[B, N, 2]` (tables); `base_params` given at
  construction are merged under them, so a network need only supply the learnable ones (`param_specs`);
  the table scales that may vary by day (`params.DAILY_SCALES`) may also be `[T, B]` in `forward` (the
  contract's dynamic parameters), or given to `step` as `daily` (`[B]`, today's);
- built from a `PhyConfig` like every physics (`get_physics("wofost72_pp")(cfg)`): `cfg.options` is a
  `WofostOptions` (`params_file`: a PCSE parameter YAML, flat or a test file's ModelParameters: the crop's
  fixed base parameters, one field broadcast to the batch); `cfg.warmup` drops output days.
nmul does not apply: every parameter is per field (`ParamSpec.per_member = False`).
The state's leaf-class arrays are updated in place (append-only), so keep the returned state, not the old one.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import torch

from dmg_bmi.core.config import PhyConfig, from_dict
from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.core.registry import register_physics
from dmg_bmi.core.schema import Bool, Int, Str, key, section
from dmg_bmi.domains.crop.pcse.pcse_yaml import load_params_file
from dmg_bmi.domains.crop.wofost72 import model
from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.params import DAILY_SCALES, param_specs, prepare
from dmg_bmi.domains.crop.wofost72.processes import PROCESSES
from dmg_bmi.errors import InputError

ATTRIBUTE_NAMES = ("LAT", "CROP_START", "CROP_END", "START_EMERGED", "END_AT_MATURITY")


@section
@dataclasses.dataclass
class WofostOptions:
    """`model.phy.options` of WOFOST 7.2 PP and of the δWOFOST model around it."""

    surrogate: Annotated[Bool, key("straight-through gradients at WOFOST's discontinuities (stage "
                                   "transitions, leaf death); the forward values stay PCSE's")] = True
    n_days: Annotated[Int, key("leaf-class slots of a step-by-step run", units="d", ge=1)] = 400
    check: Annotated[Bool, key("check the partitioning tables before a run and that no crop ran out of "
                               "weather after it")] = True
    params_file: Annotated[Str | None, key("a PCSE parameter YAML giving the fixed base parameters of "
                                           "every field (physics used alone)")] = None
    learned_params: Annotated[list[Str] | dict[Str, Any] | None, key(
        "δWOFOST: parameters the network learns, a list of names or {name: {mode: absolute|factor, lo, hi}} "
        "(factor: a multiplier of the crop set's value; <TABLE>_SCALE scales a table)")] = None
    crop_params: Annotated[dict[Str, Any] | None, key(
        "δWOFOST: {crop: {variety: PCSE parameter file or mapping}}; absent: the sets the crop dataset "
        "carries")] = None


@register_physics("wofost72_pp")
class Wofost72PP(PhysicsModel):
    """Differentiable, batched WOFOST 7.2 potential production (exact PCSE forward pass by default)."""

    forcing_names = model.WEATHER_NAMES
    forcing_units = model.WEATHER_UNITS
    attribute_names = ATTRIBUTE_NAMES
    output_names = model.OUTPUT_NAMES
    processes = PROCESSES
    Options = WofostOptions

    def __init__(
        self,
        cfg: PhyConfig | None = None,
        base_params: dict[str, torch.Tensor] | None = None,
        surrogate: bool | None = None,
        n_days: int | None = None,
        check: bool | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        given = dict(cfg.options) if cfg is not None else {}
        opts = from_dict(WofostOptions, given, prefix="model.phy.options")
        self.surrogate = opts.surrogate if surrogate is None else surrogate
        self.n_days = opts.n_days if n_days is None else n_days
        self.check = opts.check if check is None else check
        self.warmup = cfg.warmup if cfg is not None else 0
        if base_params is None and opts.params_file is not None:
            base_params = load_params_file(opts.params_file)
        self.base_params = dict(base_params or {})
        self.state_names = tuple(model.initial_state(1, 1))

    def param_specs(self) -> tuple[ParamSpec, ...]:
        return param_specs()

    def _params(self, params, batch: int | None = None):
        """Base parameters (broadcast from one field to `batch`, else the supplied ones' batch) under the
        supplied ones."""
        batch = batch or (next(iter(params.values())).shape[0] if params else None)
        base = {
            k: (v.expand(batch, *v.shape[1:]) if batch and v.shape[0] == 1 else v)
            for k, v in self.base_params.items()
        }
        return {**base, **params}

    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        return model.initial_state(batch, self.n_days, dtype, device)

    def step_params(self, params_t: dict, attrs: dict) -> dict:
        """Precompute what `step` derives from parameters and calendar attributes.

        Returns `{"prepared": parameter tables, "calendar": Calendar, "init": crop-start states}`. Pass it
        as `params_t` to `step` while parameters and attributes stay fixed (e.g. one season in a BMI)."""
        p = prepare(self._params(params_t))
        cal = Calendar.from_attrs(attrs)
        return {"prepared": p, "calendar": cal, "init": model.crop_init(p, cal)}

    def step(self, state, forcing_t, params_t, attrs=None, process=None, daily=None):
        """One day `[B, F]` -> `(state, {name: [B]})`; the day index is `state["DAY"]`.

        `params_t`: parameters as in `forward` (prepared here every call), or the output of `step_params`;
        `process`: a network at the `assimilation_reduction` hook (`processes`), or None; `daily`: today's
        daily table scales {name: `[B]`}, or None."""
        if "prepared" not in params_t:
            params_t = self.step_params(params_t, attrs)
        p = params_t["prepared"]
        drv = model.prepare_drivers(model.weather_dict(forcing_t), attrs["LAT"], p)
        return model.day_step(
            state, drv, p, params_t["calendar"], int(state["DAY"][0]), params_t["init"], self.surrogate,
            process=process, daily=daily,
        )

    def forward(self, forcing, params, attrs=None, state=None, process=None):
        """`[T, B, F]` -> `(outputs {name: [T - warmup, B]}, final state)`; same step as `step` (`process` as
        there).

        A crop needs no spin-up; `cfg.warmup` (either mode) only drops the first days of output."""
        if forcing.shape[0] <= self.warmup:
            raise InputError(f"forcing has {forcing.shape[0]} days but warmup is {self.warmup}")
        daily = {k: v for k, v in params.items() if k in DAILY_SCALES and v.dim() == 2}  # [T, B]: by day
        static = {k: v for k, v in params.items() if k not in daily}
        out, state = model.run(self._params(static, forcing.shape[1]), forcing, Calendar.from_attrs(attrs),
                               attrs["LAT"], surrogate=self.surrogate, check=self.check, state=state,
                               process=process, daily=daily)  # fmt: skip
        return {k: v[self.warmup :] for k, v in out.items()}, state
