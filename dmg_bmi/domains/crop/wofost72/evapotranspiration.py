"""Crop evapotranspiration (PCSE `Evapotranspiration` equations), rates in cm d-1.

Non-smooth points: max(0, ·) on ET0_CROP and EVSMX, SWEAF's limit(0.10, 0.95) and DEPNR < 3 branch, and
RFWS = limit(0, 1, ·), which is saturated (≡ 1, zero gradient) in potential production where SM = SMFCF.
Oxygen stress (IOX = 1) needs the days-since-saturation counter that potential production does not
provide (PCSE PP fails there too); RFOS is taken as 1.
"""

from __future__ import annotations

import torch

from dmg_bmi.domains.crop.wofost72.ops import where


def evapotranspiration(p, drv, kdif, lai, sm):
    """Returns dict EVWMX, EVSMX, TRAMX, TRA (cm d-1) and RFTRA (-); all `[B]`."""
    et0_crop = torch.clamp(p["CFET"] * drv["ET0"], min=0.0)
    ekl = torch.exp(-0.75 * kdif * lai)
    evwmx = drv["E0"] * ekl
    evsmx = torch.clamp(drv["ES0"] * ekl, min=0.0)
    tramx = et0_crop * (1.0 - ekl)
    depnr = p["DEPNR"]
    sweaf = 1.0 / (0.76 + 1.5 * et0_crop) - (5.0 - depnr) * 0.10
    low = depnr < 3.0
    low_denom = where(low, depnr * (depnr + 3.0), 1.0)
    sweaf = where(low, sweaf + (et0_crop - 0.6) / low_denom, sweaf).clamp(0.10, 0.95)
    smcr = (1.0 - sweaf) * (p["SMFCF"] - p["SMW"]) + p["SMW"]
    rfws = ((sm - p["SMW"]) / (smcr - p["SMW"])).clamp(0.0, 1.0)
    return {"EVWMX": evwmx, "EVSMX": evsmx, "TRAMX": tramx, "TRA": tramx * rfws, "RFTRA": rfws}
