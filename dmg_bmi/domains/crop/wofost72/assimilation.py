"""Gross assimilation: Spitters et al. (1988) 3×3 Gaussian integration (PCSE TOTASS/ASSIM equations).

Inputs per field `[B]` (Gauss-hour drivers `[3, B]`); output PGASS in kg CH2O ha-1 d-1.
Non-smooth points (guards AMAX>0, LAI>0, DAYL>0; max(2, AMAX); the VISPP ≤ 0 branch) are `torch.where`
/ `torch.maximum` with guarded denominators, so gradients are the one-sided derivatives and never NaN.
"""

from __future__ import annotations

import math

import torch

from dmg_bmi.domains.crop.wofost72.ops import where

GAUSS_X = (0.1127017, 0.5, 0.8872983)
GAUSS_W = (0.2777778, 0.4444444, 0.2777778)
_SCV = 0.2
_SQV = math.sqrt(1.0 - _SCV)
_REFH = (1.0 - _SQV) / (1.0 + _SQV)


def light_drivers(sinb, pardif, pardir) -> dict[str, torch.Tensor]:
    """Weather-only parts of ASSIM at the Gauss hours `[..., 3, B]`, computed once per season."""
    lit = sinb > 0
    sinb_s = where(lit, sinb, 1.0)
    refs = 2.0 * _REFH / (1.0 + 1.6 * sinb)
    return {
        "LIT": lit,
        "VDF0": (1.0 - refs) * pardif,  # × KDIF e^(−KDIF·LAIC) = VISDF
        "VT0": (1.0 - refs) * pardir,  # × KDIRT e^(−KDIRT·LAIC) = VIST
        "VD0": (1.0 - _SCV) * pardir,  # × KDIRBL e^(−KDIRBL·LAIC) = VISD
        "KB": 0.5 / sinb_s / (0.8 * _SQV),  # KDIRBL = KB·KDIF
        "VISPP": where(lit, (1.0 - _SCV) * pardir / sinb_s, 0.0),
    }


def gross_assimilation(drv: dict, amax, eff, lai, kdif, tmnf) -> torch.Tensor:
    """PGASS = 30/44 · DAYL · Σ_hours w·FGROS · TMNFTB(TMINRA) (kg CH2O ha-1 d-1), inputs `[B]`.

    The Gauss-hour drivers are `[3, B]` and the canopy terms `[hours, depths, B]`: the fields are the
    contiguous last dimension, so every broadcast runs vectorised over them."""
    x = torch.tensor(GAUSS_X, dtype=lai.dtype, device=lai.device)[:, None]  # depths [3, 1]
    w = torch.tensor(GAUSS_W, dtype=lai.dtype, device=lai.device)[:, None]
    lit = drv["LIT"]  # [hours, B]
    kdirbl = drv["KB"] * kdif
    kdirt = kdirbl * _SQV
    # e^(−k·LAIC) at the depths LAIC = LAI·x: [depths, B] (diffuse) and [hours, depths, B]
    e_dif = torch.exp(-(kdif * lai) * x)
    e_bl = torch.exp(-(kdirbl * lai)[:, None] * x)
    e_t = torch.exp(-(kdirt * lai)[:, None] * x)
    visdf = (drv["VDF0"] * kdif)[:, None] * e_dif
    vist = (drv["VT0"] * kdirt)[:, None] * e_t
    visd = (drv["VD0"] * kdirbl)[:, None] * e_bl
    amax2 = torch.clamp(amax, min=2.0)
    fgrsh = amax * (1.0 - torch.exp(-(visdf + vist - visd) * eff / amax2))
    vispp = drv["VISPP"][:, None]  # [hours, 1, B]
    sunny = (vispp > 0) & (eff * vispp > 0)
    denom = where(sunny, eff * vispp, 1.0)
    fgrsun = where(
        sunny, amax * (1.0 - (amax - fgrsh) * (1.0 - torch.exp(-vispp * eff / amax2)) / denom), fgrsh
    )
    fgl = e_bl * fgrsun + (1.0 - e_bl) * fgrsh
    fgros = where(lit, lai * (fgl * w).sum(1), 0.0)  # [hours, B]
    dtga = drv["DAYL"] * (fgros * w).sum(0)
    dtga = where((amax > 0) & (lai > 0) & (drv["DAYL"] > 0), dtga, 0.0)
    return dtga * tmnf * (30.0 / 44.0)


def push_tmin(buf: torch.Tensor, count: torch.Tensor, tmin: torch.Tensor, on: torch.Tensor):
    """Append today's TMIN to the 7-day window `buf` `[B, 7]` where `on`; returns (buf, count, TMINRA °C)."""
    new = torch.cat([buf[:, 1:], tmin[:, None]], dim=1)
    buf = where(on[:, None], new, buf)
    count = where(on, torch.clamp(count + 1, max=7), count)
    slots = torch.arange(7, device=buf.device)
    valid = slots[None, :] >= (7 - count)[:, None]
    tminra = (buf * valid).sum(1) / torch.clamp(count, min=1)
    return buf, count, tminra
