"""WOFOST 7.2 PP's process hooks (`dmg_bmi.core.process`): where a learned process may act in the day step.

- `assimilation_reduction`: a factor in (0, 1.2) on the day's gross assimilation (PGASS, kg CH2O ha-1 d-1,
  after AMAX's TMPF and the TMNF low-temperature factors), from the day's TMAX and TMIN (°C) and the crop's
  DVS. WOFOST 7.2 PP has no heat stress on assimilation and only the 7-day-TMIN cold factor; this hook lets a
  network learn the missing reduction (heat stress: < 1 on hot days). Up to 1.2 lets it absorb a small bias
  of the light-use parameters too. It is applied in `model.day_step` and `scalar.day` (the same point, the
  same order), so the batched, one-field and BMI paths agree.
"""

from __future__ import annotations

from dmg_bmi.core.process import ProcessHook

ASSIMILATION_REDUCTION = ProcessHook(
    name="assimilation_reduction",
    inputs=("TMAX", "TMIN", "DVS"),
    units=("degC", "degC", "1"),
    center=(25.0, 12.0, 1.0),
    scale=(8.0, 8.0, 0.7),
    lo=0.0,
    hi=1.2,
    neutral=1.0,
    description="multiplies gross assimilation PGASS (heat/cold stress WOFOST 7.2 PP lacks)",
)
PROCESSES = (ASSIMILATION_REDUCTION,)
