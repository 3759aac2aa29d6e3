"""Root, stem and storage-organ rates (PCSE WOFOST_Root/Stem/Storage_Organ_Dynamics equations).

Weights kg ha-1, rates kg ha-1 d-1, rooting depth cm. Non-smooth: RR = min(RDM − RD, RRI), and RR = 0 when
FR == 0 (PCSE's exact equality test, kept as is).
"""

from __future__ import annotations

import torch

from dmg_bmi.domains.crop.wofost72.ops import where


def root_rates(p, fr, dmi, wrt, rdrr, rd, rdm):
    """Returns (GWRT net growth, DRRT death, RR depth increase cm d-1)."""
    drrt = wrt * rdrr
    rr = where(fr == 0, 0.0, torch.minimum(rdm - rd, p["RRI"]))
    return fr * dmi - drrt, drrt, rr


def stem_rates(admi, fs, wst, rdrs):
    """Returns (GRST growth, DRST death)."""
    return admi * fs, rdrs * wst


def storage_rates(admi, fo):
    """Returns GRSO growth (no storage-organ death in WOFOST 7.2)."""
    return admi * fo
