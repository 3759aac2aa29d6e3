"""Dry-matter partitioning and the assimilate conversion factor (PCSE DVS_Partitioning / Wofost72).

FR (roots, of the total), FL, FS, FO (leaves, stems, storage organs, of the above-ground part) are AFGEN
tables of DVS. PCSE raises a carbon-balance error when FR + (FL + FS + FO)(1 − FR) ≠ 1 (tolerance 1e-4);
`check_partitioning` does that check once per run, before the day loop, on every breakpoint (the sum is
piecewise linear, so its extremes lie on breakpoints) and names the field and the DVS.
"""

from __future__ import annotations

import torch

from dmg_bmi.domains.crop.wofost72 import afgen
from dmg_bmi.errors import InputError


def conversion_factor(p, fr, fl, fs, fo):
    """CVF (kg DM kg-1 CH2O) = 1/[(FL/CVL + FS/CVS + FO/CVO)(1 − FR) + FR/CVR]."""
    return 1.0 / ((fl / p["CVL"] + fs / p["CVS"] + fo / p["CVO"]) * (1.0 - fr) + fr / p["CVR"])


def check_partitioning(tables: torch.Tensor, dvs_lo, dvs_hi, names=None, tol: float = 1e-4) -> None:
    """`tables` = `[B, 4, N, 2]` (FRTB, FLTB, FSTB, FOTB); raise InputError naming the field and DVS."""
    with torch.no_grad():
        x = tables[..., 0].flatten(1)  # [B, 4N]
        x = torch.cat([x, dvs_lo[:, None], dvs_hi[:, None]], dim=1)
        x = torch.maximum(torch.minimum(x, dvs_hi[:, None]), dvs_lo[:, None])
        vals = afgen.evaluate(afgen.prepare(tables), x.T)  # [K, B, 4]
        fr, fl, fs, fo = vals.unbind(-1)
        err = (fr + (fl + fs + fo) * (1.0 - fr) - 1.0).abs()
        bad = err >= tol
        if bool(bad.any()):
            k, b = (int(i) for i in torch.nonzero(bad)[0])
            field = names[b] if names is not None else b
            raise InputError(
                f"partitioning tables of field {field!r} (index {b}) do not sum to 1 at "
                f"DVS={float(x[b, k]):.4g}: "
                f"FR={float(fr[k, b]):.4g}, FL+FS+FO={float(fl[k, b] + fs[k, b] + fo[k, b]):.4g}"
            )
