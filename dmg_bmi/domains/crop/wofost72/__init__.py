"""WOFOST 7.2 potential production, batched and differentiable (physics `wofost72_pp`).

API: `run(params, weather, calendar, lat) -> (outputs {name: [T, B]}, state)`, the daily `day_step` and
`param_specs()` (learnable parameters with bounds); the registered `PhysicsModel` is
`dmg_bmi.domains.crop.wofost72.physics.Wofost72PP` (not imported here: it reads PCSE parameter files through
`dmg_bmi.domains.crop.pcse`, which imports this package's parameter checks).
See README.md for equations, masking and the surrogate gradients at discontinuities.
"""

from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.model import OUTPUT_NAMES, WEATHER_NAMES, day_step, initial_state, run
from dmg_bmi.domains.crop.wofost72.params import param_specs

__all__ = ["Calendar", "OUTPUT_NAMES", "WEATHER_NAMES", "day_step", "initial_state", "param_specs", "run"]
