"""WOFOST 7.2 potential production, batched and differentiable (physics `wofost72_pp`)."""

from dmg_bmi.models.phy.wofost72.calendar import Calendar
from dmg_bmi.models.phy.wofost72.model import OUTPUT_NAMES, WEATHER_NAMES, day_step, initial_state, run

__all__ = ["Calendar", "OUTPUT_NAMES", "WEATHER_NAMES", "day_step", "initial_state", "run"]
