"""The daily model's state: its names, the empty fields' state and PCSE's crop-start values.

Shared by the batched step (`model.py`) and the one-field path on floats (`scalar.py`). A state is a dict of
tensors: floats `[B]` (FLOAT_STATES, which include yesterday's rates RATES, and DSLR), flags `[B]` (ISVERN,
FORCE, ALIVE, FINISHED), day indices `[B]` (DOE, DOA, DOM, DOF: −1 until the event; DAY: the next day to
run), the 7-day TMIN window `[B, 7]`, the leaf-class slots `[B, L]` (`leaves.new_buffers`) and TOKEN `[]`.
Units: PCSE's (weights kg ha-1, LAI ha ha-1, RD cm, rates per day).
"""

from __future__ import annotations

import torch

from dmg_bmi.domains.crop.wofost72 import afgen, leaves
from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.params import IDX

RATES = (
    "R_DVR", "R_DTSUM", "R_DTSUME", "R_VERNR", "R_GWRT", "R_DRRT", "R_RR", "R_GRST", "R_DRST", "R_GRSO",
    "R_GRLV", "R_SLAT", "R_DRLV", "R_FYSAGE", "R_GLAIEX", "R_GASS", "R_MRES", "R_TRA", "R_EVS",
)  # fmt: skip
FLOAT_STATES = (
    "STAGE", "DVS", "TSUM", "TSUME", "VERN", "FR", "FL", "FS", "FO", "WRT", "DWRT", "RD", "RDM", "WST",
    "DWST", "SAI", "WSO", "PAI", "WTOT", "ATOT", "DEAD", "CLK", "LASUM", "LAIEXP", "LAIMAX", "LAI",
    "GASST", "MREST", "CTRAT", "CEVST", "EVST", "RAINOLD", "TMINN",
) + RATES  # fmt: skip
# States a crop start resets to `crop_init` values (others start from 0).
INIT_KEYS = (
    "STAGE", "DVS", "FR", "FL", "FS", "FO", "WRT", "WST", "WSO", "SAI", "PAI", "WTOT", "ATOT",
    "LASUM", "LAIEXP", "LAIMAX", "LAI", "RD", "RDM",
)  # fmt: skip


def crop_init(p: dict, cal: Calendar) -> dict[str, torch.Tensor]:
    """PCSE's initial crop states (sowing: DVS −0.1, emerging; emergence: DVS = DVSI, vegetative)."""
    dvs0 = torch.where(cal.emerged, p["DVSI"], torch.full_like(p["DVSI"], -0.1))
    tv = afgen.evaluate_merged(p["dvs_tables"], dvs0)
    fr, fl, fs, fo = (tv[:, IDX[k]] for k in ("FRTB", "FLTB", "FSTB", "FOTB"))
    tdwi = p["TDWI"]
    wlv, wst, wso = tdwi * (1 - fr) * fl, tdwi * (1 - fr) * fs, tdwi * (1 - fr) * fo
    sai, pai, sla0 = wst * tv[:, IDX["SSATB"]], wso * p["SPA"], tv[:, IDX["SLATB"]]
    lasum = wlv * sla0
    init = {
        "STAGE": cal.emerged.to(dvs0.dtype), "DVS": dvs0, "FR": fr, "FL": fl, "FS": fs, "FO": fo,
        "WRT": tdwi * fr, "WST": wst, "WSO": wso, "SAI": sai, "PAI": pai, "WTOT": wlv, "ATOT": lasum,
        "LASUM": lasum, "LAIEXP": lasum, "LAIMAX": lasum, "LAI": lasum + sai + pai, "RD": p["RDI"],
        "RDM": torch.maximum(p["RDI"], torch.minimum(p["RDMCR"], p["RDMSOL"])), "SLA0": sla0,
    }  # fmt: skip
    init["STACK"] = torch.stack([init[k] for k in INIT_KEYS])
    return init


def initial_state(batch: int, n_days: int, dtype=torch.float64, device="cpu") -> dict[str, torch.Tensor]:
    """Empty fields (no crop yet); `n_days` bounds the leaf-class slots (one per day of the run)."""
    z = torch.zeros(batch, dtype=dtype, device=device)
    s = {k: z.clone() for k in FLOAT_STATES}
    s["DSLR"] = torch.ones(batch, dtype=dtype, device=device)
    for k in ("ISVERN", "FORCE", "ALIVE", "FINISHED"):
        s[k] = torch.zeros(batch, dtype=torch.bool, device=device)
    for k in ("DOE", "DOA", "DOM", "DOF"):
        s[k] = torch.full((batch,), -1, dtype=torch.long, device=device)
    s["DAY"] = torch.zeros(batch, dtype=torch.long, device=device)
    s["TMINBUF"] = torch.zeros(batch, 7, dtype=dtype, device=device)
    s.update(leaves.new_buffers(batch, n_days, dtype, device))
    s["TOKEN"] = torch.zeros((), dtype=dtype, device=device)
    return s
