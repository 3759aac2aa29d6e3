"""`wofost72_pp` as a registered `PhysicsModel` (forcing `[T, B, F]`, per-field params and attributes).

- forcing channels `WEATHER_NAMES` in PCSE units (IRRAD J m-2 d-1, TMIN/TMAX/TEMP °C, E0/ES0/ET0/RAIN
  cm d-1) plus DOY (day of year of each row);
- attributes `[B]`: LAT (deg) and the calendar as day indices on the forcing's time axis: CROP_START,
  CROP_END (harvest date or start + max_duration), START_EMERGED (1: emergence start, 0: sowing),
  END_AT_MATURITY (1: end type maturity/earliest);
- params: name -> `[B]` (scalars, `<TABLE>_SCALE`) or `[B, N, 2]` (tables); `base_params` given at
  construction are merged under them, so a network need only supply the learnable ones (`param_specs`).
nmul does not apply: every parameter is per field (`ParamSpec.per_member = False`).
The state's leaf-class arrays are updated in place (append-only), so keep the returned state, not the old one.
"""

from __future__ import annotations

import torch

from dmg_bmi.models.phy.base import ParamSpec, PhysicsModel
from dmg_bmi.models.phy.wofost72 import model
from dmg_bmi.models.phy.wofost72.calendar import Calendar
from dmg_bmi.models.phy.wofost72.params import param_specs, prepare
from dmg_bmi.models.registry import register_physics

ATTRIBUTE_NAMES = ("LAT", "CROP_START", "CROP_END", "START_EMERGED", "END_AT_MATURITY")


@register_physics("wofost72_pp")
class Wofost72PP(PhysicsModel):
    """Differentiable, batched WOFOST 7.2 potential production (exact PCSE forward pass by default)."""

    forcing_names = model.WEATHER_NAMES
    forcing_units = model.WEATHER_UNITS
    attribute_names = ATTRIBUTE_NAMES
    output_names = model.OUTPUT_NAMES

    def __init__(self, base_params: dict[str, torch.Tensor] | None = None, surrogate: bool = True,
                 n_days: int = 400, check: bool = True):  # fmt: skip
        super().__init__()
        self.base_params = dict(base_params or {})
        self.surrogate, self.n_days, self.check = surrogate, n_days, check
        self.state_names = tuple(model.initial_state(1, 1))

    def param_specs(self) -> tuple[ParamSpec, ...]:
        return param_specs()

    def _params(self, params):
        return {**self.base_params, **params}

    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        return model.initial_state(batch, self.n_days, dtype, device)

    def step(self, state, forcing_t, params_t, attrs=None):
        """One day `[B, F]` -> `(state, {name: [B]})`; the day index is `state["DAY"]`."""
        p = prepare(self._params(params_t))
        cal = Calendar.from_attrs(attrs)
        drv = model.prepare_drivers(model.weather_dict(forcing_t), attrs["LAT"], p)
        init = model._crop_init(p, cal)
        return model.day_step(state, drv, p, cal, int(state["DAY"][0]), init, self.surrogate)

    def forward(self, forcing, params, attrs=None, state=None):
        """`[T, B, F]` -> `(outputs {name: [T, B]}, final state)`; same step as `step`."""
        return model.run(self._params(params), forcing, Calendar.from_attrs(attrs), attrs["LAT"],
                         surrogate=self.surrogate, check=self.check, state=state)  # fmt: skip
