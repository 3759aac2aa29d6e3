"""Radiation geometry (PCSE `astro`/`daylength` equations) and the weather-only daily drivers.

Everything here depends on weather, day of year and latitude only, so `daily_drivers` is computed once
for a whole `[T, B]` season before the day loop (no parameter gradients flow through it).
Units: IRRAD J m-2 d-1, temperatures °C, day lengths h, DSINBE s d-1, DIFPP J m-2 s-1, PAR J m-2 s-1.
"""

from __future__ import annotations

import math

import torch

from dmg_bmi.domains.crop.wofost72.assimilation import GAUSS_X, light_drivers
from dmg_bmi.domains.crop.wofost72.ops import where

_RAD = math.pi / 180.0


def astro(doy: torch.Tensor, lat: torch.Tensor, irrad: torch.Tensor) -> dict[str, torch.Tensor]:
    """Day length DAYL, photoperiodic DAYLP (sun at −4°), SINLD, COSLD, DSINBE, ANGOT, ATMTR, DIFPP and the
    solar constant of the day SC (J m-2 s-1)."""
    dec = -torch.asin(math.sin(23.45 * _RAD) * torch.cos(2.0 * math.pi * (doy + 10.0) / 365.0))
    sc = 1370.0 * (1.0 + 0.033 * torch.cos(2.0 * math.pi * doy / 365.0))
    sinld = torch.sin(lat * _RAD) * torch.sin(dec)
    cosld = torch.cos(lat * _RAD) * torch.cos(dec)
    aob = sinld / cosld
    inside = aob.abs() <= 1.0
    aob_c = aob.clamp(-1.0, 1.0)
    root = torch.sqrt(1.0 - aob_c**2)
    dayl = where(
        inside, 12.0 * (1.0 + 2.0 * torch.asin(aob_c) / math.pi), where(aob > 1.0, 24.0, 0.0)
    )
    dsinb = 3600.0 * (dayl * sinld + where(inside, 24.0 * cosld * root / math.pi, 0.0))
    dsinbe = 3600.0 * (
        dayl * (sinld + 0.4 * (sinld**2 + 0.5 * cosld**2))
        + where(inside, 12.0 * cosld * (2.0 + 1.2 * sinld) * root / math.pi, 0.0)
    )
    aobp = (-math.sin(-4.0 * _RAD) + sinld) / cosld
    daylp = where(
        aobp.abs() <= 1.0,
        12.0 * (1.0 + 2.0 * torch.asin(aobp.clamp(-1.0, 1.0)) / math.pi),
        where(aobp > 1.0, 24.0, 0.0),
    )
    angot = sc * dsinb
    atmtr = where(dayl > 0, irrad / where(angot > 0, angot, 1.0), 0.0)
    frdif = where(
        atmtr > 0.75,
        0.23,
        where(
            atmtr > 0.35, 1.33 - 1.46 * atmtr, where(atmtr > 0.07, 1.0 - 2.3 * (atmtr - 0.07) ** 2, 1.0)
        ),
    )
    difpp = frdif * atmtr * 0.5 * sc
    return {
        "DAYL": dayl, "DAYLP": daylp, "SINLD": sinld, "COSLD": cosld, "DSINB": dsinb, "DSINBE": dsinbe,
        "ANGOT": angot, "ATMTR": atmtr, "DIFPP": difpp, "SC": sc,
    }  # fmt: skip


def day_temperature(w: dict[str, torch.Tensor]) -> torch.Tensor:
    """DTEMP = (TEMP + TMAX)/2 (°C), the daytime temperature of EFFTB and TMPFTB."""
    return 0.5 * (w["TEMP"] + w["TMAX"])


def gauss_sinb(a: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sine of the sun's elevation at the three Gauss hours of the half day `[..., 3, B]` (clamped at 0) from
    `astro`'s DAYL, SINLD and COSLD `[..., B]`: weather-free (day of year and latitude only)."""
    x = torch.tensor(GAUSS_X, dtype=a["DAYL"].dtype, device=a["DAYL"].device)[:, None]
    hour = 12.0 + 0.5 * a["DAYL"][..., None, :] * x
    cos_h = torch.cos(2.0 * math.pi * (hour + 12.0) / 24.0)
    return (a["SINLD"][..., None, :] + a["COSLD"][..., None, :] * cos_h).clamp(min=0.0)


def daily_drivers(w: dict[str, torch.Tensor], lat: torch.Tensor) -> dict[str, torch.Tensor]:
    """Weather `{IRRAD, TMIN, TMAX, TEMP, E0, ES0, ET0, RAIN, DOY}` (each `[..., B]`) -> step drivers.

    Adds DTEMP = (TEMP + TMAX)/2, the astro quantities, and at the three Gauss hours of the half day
    (`[..., 3, B]`, fields last): SINB, PARDIF and PARDIR (J m-2 s-1), set to 0 on days without daylight.
    """
    a = astro(w["DOY"], lat, w["IRRAD"])
    sinb = gauss_sinb(a)
    lit = (a["DAYL"] > 0)[..., None, :] & (sinb > 0)
    dsinbe = where(a["DSINBE"] > 0, a["DSINBE"], 1.0)[..., None, :]
    par = where(lit, 0.5 * w["IRRAD"][..., None, :] * sinb * (1.0 + 0.4 * sinb) / dsinbe, 0.0)
    pardif = torch.minimum(par, sinb * a["DIFPP"][..., None, :])
    out = {k: w[k] for k in ("IRRAD", "TMIN", "TMAX", "TEMP", "E0", "ES0", "ET0", "RAIN")}
    out["DTEMP"] = day_temperature(w)
    out["DAYL"], out["DAYLP"] = a["DAYL"], a["DAYLP"]
    out["SINB"], out["PARDIF"], out["PARDIR"] = sinb, pardif, par - pardif
    out.update(light_drivers(sinb, pardif, par - pardif))
    return out
