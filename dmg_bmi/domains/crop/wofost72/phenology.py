"""Phenology with day length and vernalisation (PCSE DVS_Phenology + Vernalisation equations).

Stages are a float code per field: 0 emerging, 1 vegetative, 2 reproductive, 3 mature. IDSL is a float
switch per field (0 temperature only, >= 1 adds day length, >= 2 adds vernalisation). Temperatures °C,
temperature sums °C·d, DVR d-1. Integration clips DVS at each transition (0, 1, DVSEND) like PCSE;
`transition_surrogate` (see README.md) keeps the forward pass exact while passing the timing sensitivity on.
"""

from __future__ import annotations

import torch

from dmg_bmi.domains.crop.wofost72.ops import where


def _safe(x):
    return where(x != 0, x, torch.ones_like(x))


def rates(p, stage, dvs, vern, isvern, force, alive, daylp, temp, dtsm, vernr_tb):
    """Daily rates where `alive`: returns dict DTSUME, DTSUM, DVR, VERNR, VERNFAC and the force latch."""
    emerging, veg, rep = stage == 0, stage == 1, stage == 2
    dtsume = torch.minimum(torch.clamp(temp - p["TBASEM"], min=0.0), p["TEFFMX"] - p["TBASEM"])
    day = p["IDSL"] >= 1
    dvred = where(day, ((daylp - p["DLC"]) / _safe(p["DLO"] - p["DLC"])).clamp(0.0, 1.0), 1.0)
    vern_on = alive & veg & (p["IDSL"] >= 2) & ~isvern
    below = dvs < p["VERNDVS"]
    counting = vern_on & below
    vernr = where(counting, vernr_tb, 0.0)
    vfac = ((vern - p["VERNBASE"]) / _safe(p["VERNSAT"] - p["VERNBASE"])).clamp(0.0, 1.0)
    vernfac = where(counting, vfac, 1.0)
    force = force | (vern_on & ~below)
    dtsum = where(veg, dtsm * vernfac * dvred, where(rep, dtsm, 0.0))
    dvr = where(
        emerging,
        0.1 * dtsume / p["TSUMEM"],
        where(veg, dtsum / p["TSUM1"], where(rep, dtsum / p["TSUM2"], 0.0)),
    )
    zero = torch.zeros_like(dvr)
    return {
        "DTSUME": where(alive & emerging, dtsume, zero),
        "DTSUM": where(alive, dtsum, zero),
        "DVR": where(alive, dvr, zero),
        "VERNR": vernr,
        "VERNFAC": vernfac,
        "FORCE": force,
    }


def integrate(p, s, integ):
    """Integrate yesterday's rates where `integ`; returns the new phenology states and transition info."""
    stage = s["STAGE"]
    veg_on = integ & (stage == 1) & (p["IDSL"] >= 2)
    vern = where(veg_on, s["VERN"] + s["R_VERNR"], s["VERN"])
    isvern = where(veg_on, (vern >= p["VERNSAT"]) | s["FORCE"], s["ISVERN"])
    dvs_pre = s["DVS"] + where(integ, s["R_DVR"], 0.0)
    thr = where(stage == 0, 0.0, where(stage == 1, 1.0, p["DVSEND"]))
    trans = integ & (stage < 3) & (dvs_pre >= thr)
    return {
        "VERN": vern,
        "ISVERN": isvern,
        "TSUM": s["TSUM"] + where(integ, s["R_DTSUM"], 0.0),
        "TSUME": s["TSUME"] + where(integ, s["R_DTSUME"], 0.0),
        "DVS_PRE": dvs_pre,
        "DVS": where(trans, thr, dvs_pre),
        "STAGE": stage + trans.to(stage.dtype),
        "TRANS": trans,
        "OVERSHOOT": dvs_pre - thr,
    }


def transition_surrogate(dvs, trans, overshoot, dvr_old, dvr_new):
    """Add (o − stopgrad(o))·DVR_new/DVR_old at a transition: 0 in value, but ∂DVS/∂θ keeps the timing.

    A crossing o DVS-units past the threshold happened o/DVR_old days early; in the new stage the crop
    would be o·DVR_new/DVR_old further on. At maturity DVR_new = 0, so nothing passes (DVS stays DVSEND).
    """
    with torch.no_grad():
        ok = trans & (dvr_old > 0)
        ratio = where(ok, dvr_new / where(ok, dvr_old, 1.0), 0.0)
    return dvs + where(ok, (overshoot - overshoot.detach()) * ratio, 0.0)
