"""Potential-production soil water balance (PCSE `WaterbalancePP` equations), rates in cm d-1.

SM stays at field capacity SMFCF. Soil evaporation EVS only feeds the EVST/CEVST bookkeeping (no effect
on crop growth). Hidden state: DSLR (days since last rain, starts 1) and RAINOLD (yesterday's rain, cm).
"""

from __future__ import annotations

import torch

from dmg_bmi.domains.crop.wofost72.ops import where


def soil_evaporation(evsmx, rain_today, dslr, rain_old):
    """EVS for today given the maximum EVSMX; returns (EVS, DSLR, RAINOLD) all `[B]`."""
    wet = rain_old >= 1.0
    dslr_dry = dslr + 1.0
    evs_dry = torch.minimum(evsmx, evsmx * (torch.sqrt(dslr_dry) - torch.sqrt(dslr_dry - 1.0)) + rain_old)
    evs = where(wet, evsmx, evs_dry)
    return evs, where(wet, torch.ones_like(dslr), dslr_dry), rain_today
