"""Maintenance respiration (PCSE WOFOST_Maintenance_Respiration equations)."""

from __future__ import annotations


def maintenance_respiration(p, wrt, wlv, wst, wso, rfse, temp):
    """PMRES (kg CH2O ha-1 d-1) = (RMR·WRT + RML·WLV + RMS·WST + RMO·WSO)·RFSETB(DVS)·Q10^((TEMP−25)/10).

    Smooth in every parameter; all arguments `[B]` (weights kg ha-1, TEMP °C).
    """
    rm = p["RMR"] * wrt + p["RML"] * wlv + p["RMS"] * wst + p["RMO"] * wso
    return rm * rfse * p["Q10"] ** ((temp - 25.0) / 10.0)
