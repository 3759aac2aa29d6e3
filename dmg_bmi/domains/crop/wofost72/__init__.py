"""WOFOST 7.2 potential production, batched and differentiable (physics `wofost72_pp`).

API: `run(params, weather, calendar, lat) -> (outputs {name: [T, B]}, state)`, the daily `day_step`,
`Wofost72PP` (registered PhysicsModel) and `param_specs()` (learnable parameters with bounds).
See README.md for equations, masking and the surrogate gradients at discontinuities.
"""

from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.model import OUTPUT_NAMES, WEATHER_NAMES, day_step, initial_state, run
from dmg_bmi.domains.crop.wofost72.params import param_specs
from dmg_bmi.domains.crop.wofost72.physics import Wofost72PP

__all__ = [
    "Calendar", "OUTPUT_NAMES", "WEATHER_NAMES", "Wofost72PP", "day_step", "initial_state", "param_specs",
    "run",
]  # fmt: skip
