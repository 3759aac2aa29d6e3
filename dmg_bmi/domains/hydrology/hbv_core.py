"""The HBV member step (hbv-dmg.md §2.3) and its hand-written reverse step.

`member_step` advances the five stores of every (basin, member) column by one day. It is written
against an array namespace (`ops.TORCH` or `ops.NUMPY`), so the same code serves autograd training,
the fused sequence and single-basin numpy inference. `member_step_vjp` is its vector-Jacobian
product (torch only), used by the fused sequence's backward pass; it reproduces torch's
subgradient conventions (clamp bounds inclusive, ties of `minimum` split 1/2 : 1/2) so fused and
autograd gradients agree.

Units: stores mm, fluxes mm/d, temperature degC. Parameters are keyed by their ParamSpec names;
`parTT` is the effective threshold (HBV 2.0's elevation rule already applied) and `LF` is HBV 2.0's
lateral exchange (mm/d, computed by the caller from parRT, parAC and the basin area).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dmg_bmi.core.ops import TORCH

EPS = 1e-5  # "nearzero" lower bound of SM and SLZ after ET / capillary rise / exchange, mm
TINY = 1e-12  # floor of the bases of the soil and ET power laws (finite gradients at SM = 0), -

# Member-level series returned by member_step, in this order.
DIFF_FLUXES = ("Q0", "Q1", "Q2", "ET")  # differentiable in the fused path (with the stores)
DIAG_FLUXES = ("recharge", "excess", "tosoil", "percolation", "evapfactor", "capillary", "exchange",
               "clamp_gain")
STORES = ("SNOWPACK", "MELTWATER", "SM", "SUZ", "SLZ")


@dataclass(frozen=True)
class Variant:
    """Structural switches of an HBV variant."""

    betaet: bool  # apply the parBETAET exponent in the ET factor
    capillary: bool  # capillary rise from SLZ to SM (parC)
    exchange: bool  # lateral SLZ exchange LF (HBV 2.0)


def member_step(xp, stores, P, T, PET, p, v: Variant, trace: dict | None = None):
    """One day for every column. stores: 5 arrays `[B, nmul]` (mm); P, T, PET `[B, 1]`.

    Returns `(new_stores, fluxes)` with fluxes a tuple in DIFF_FLUXES + DIAG_FLUXES order (mm/d;
    evapfactor dimensionless; capillary/exchange zeros when the variant lacks them). `clamp_gain`
    is the water created by the EPS lower bounds (mm/d), so the balance closes exactly.
    """
    SP, MW, SM, SUZ, SLZ = stores
    TT, CFMAX, FC = p["parTT"], p["parCFMAX"], p["parFC"]
    # 1-4 snow: rain/snow split, melt, refreeze, release to soil
    rain = xp.where(T >= TT, P, 0.0)
    SP1 = SP + (P - rain)
    mpot = CFMAX * (T - TT)
    mrel = xp.relu(mpot)
    melt = xp.minimum(mrel, SP1)
    MW1 = MW + melt
    SP2 = SP1 - melt
    rpot = p["parCFR"] * CFMAX * (TT - T)
    rrel = xp.relu(rpot)
    refr = xp.minimum(rrel, MW1)
    SP3 = SP2 + refr
    MW2 = MW1 - refr
    tsr = MW2 - p["parCWH"] * SP3
    ts = xp.relu(tsr)
    MW3 = MW2 - ts
    # 5-6 soil recharge and excess
    x = SM / FC
    xs = xp.clamp_min(x, TINY)
    y = xp.pow(xs, p["parBETA"])
    w = xp.clip(y, 0.0, 1.0)
    inp = rain + ts
    rech = inp * w
    SM1 = SM + inp - rech
    exr = SM1 - FC
    ex = xp.relu(exr)
    SM2 = SM1 - ex
    # 7 evapotranspiration
    z = SM2 / (p["parLP"] * FC)
    zs = xp.clamp_min(z, TINY)
    e0 = xp.pow(zs, p["parBETAET"]) if v.betaet else z
    ef = xp.clip(e0, 0.0, 1.0)
    ETp = PET * ef
    ET = xp.minimum(SM2, ETp)
    smr = SM2 - ET
    SM3 = xp.clamp_min(smr, EPS)
    gain = SM3 - smr
    # 8 capillary rise
    if v.capillary:
        s0 = SM3 / FC
        s = xp.clamp_max(s0, 1.0)
        c2 = p["parC"] * SLZ * (1.0 - s)
        cap = xp.minimum(SLZ, c2)
        smc = SM3 + cap
        SM4 = xp.clamp_min(smc, EPS)
        slc = SLZ - cap
        SLZ1 = xp.clamp_min(slc, EPS)
        gain = gain + (SM4 - smc) + (SLZ1 - slc)
    else:
        cap = 0.0 * SLZ
        SM4, SLZ1 = SM3, SLZ
    # 9 upper zone
    SUZ1 = SUZ + rech + ex
    perc = xp.minimum(SUZ1, p["parPERC"])
    SUZ2 = SUZ1 - perc
    qr = SUZ2 - p["parUZL"]
    Q0 = p["parK0"] * xp.relu(qr)
    SUZ3 = SUZ2 - Q0
    Q1 = p["parK1"] * SUZ3
    SUZ4 = SUZ3 - Q1
    # 10 lower zone (+ HBV 2.0 exchange)
    SLZ2 = SLZ1 + perc
    if v.exchange:
        lfr = SLZ2 + p["LF"]
        SLZ3 = xp.clamp_min(lfr, EPS)
        exch = SLZ3 - SLZ2
    else:
        SLZ3 = SLZ2
        exch = 0.0 * SLZ
    Q2 = p["parK2"] * SLZ3
    SLZ4 = SLZ3 - Q2
    if trace is not None:
        trace.update(SP1=SP1, mpot=mpot, mrel=mrel, MW1=MW1, rpot=rpot, rrel=rrel, SP3=SP3, tsr=tsr,
                     x=x, xs=xs, y=y, w=w, inp=inp, exr=exr, SM2=SM2, z=z, zs=zs, e0=e0, ETp=ETp, smr=smr,
                     SUZ1=SUZ1, SUZ3=SUZ3, qr=qr, SLZ3=SLZ3)
        if v.capillary:
            trace.update(SLZ=SLZ, s0=s0, s=s, c2=c2, smc=smc, slc=slc)
        if v.exchange:
            trace.update(lfr=lfr)
    return (SP3, MW3, SM4, SUZ4, SLZ4), (Q0, Q1, Q2, ET, rech, ex, ts, perc, ef, cap, exch, gain)


def _wmin(a, b):
    """Weight of `a` in d min(a, b): 1 where a < b, 1/2 at ties, 0 otherwise (torch.minimum's rule)."""
    return 0.5 * (1.0 + torch.sign(b - a))


def member_step_vjp(stores, P, T, PET, p, v: Variant, a_new, g_flux):
    """Reverse of `member_step` (torch, no autograd).

    a_new: adjoints of the 5 new stores; g_flux: adjoints of (Q0, Q1, Q2, ET), all `[B, nmul]`.
    Returns (adjoints of the 5 old stores, {param name: adjoint `[B, nmul]`}).
    """
    tr: dict = {}
    member_step(TORCH, stores, P, T, PET, p, v, trace=tr)
    aSP, aMW, aSM, aSUZ, aSLZ = a_new
    gQ0, gQ1, gQ2, gET = g_flux
    K0, K1, K2, FC, CFMAX = p["parK0"], p["parK1"], p["parK2"], p["parFC"], p["parCFMAX"]
    g = {}
    # 10 lower zone
    SLZ3 = tr["SLZ3"]
    g["parK2"] = (gQ2 - aSLZ) * SLZ3
    aSLZ3 = aSLZ + (gQ2 - aSLZ) * K2
    if v.exchange:
        aSLZ2 = torch.where(tr["lfr"] >= EPS, aSLZ3, 0.0)
        g["LF"] = aSLZ2
    else:
        aSLZ2 = aSLZ3
    aSLZ1 = aSLZ2
    aperc = aSLZ2
    # 9 upper zone
    aQ1 = gQ1 - aSUZ
    g["parK1"] = aQ1 * tr["SUZ3"]
    aSUZ3 = aSUZ + aQ1 * K1
    aQ0 = gQ0 - aSUZ3
    qr = tr["qr"]
    g["parK0"] = aQ0 * torch.clamp(qr, min=0.0)
    dq = torch.where(qr >= 0.0, aQ0 * K0, 0.0)
    g["parUZL"] = -dq
    aSUZ1 = aSUZ3 + dq
    aperc = aperc - aSUZ1
    wp = _wmin(tr["SUZ1"], p["parPERC"])
    aSUZ1 = aSUZ1 + aperc * wp
    g["parPERC"] = aperc * (1.0 - wp)
    aSUZ0 = aSUZ1
    arech = aSUZ1
    aex = aSUZ1
    # 8 capillary rise
    if v.capillary:
        SLZ, C = tr["SLZ"], p["parC"]
        a_smc = torch.where(tr["smc"] >= EPS, aSM, 0.0)
        a_slc = torch.where(tr["slc"] >= EPS, aSLZ1, 0.0)
        acap = a_smc - a_slc
        wc = _wmin(SLZ, tr["c2"])
        ac2 = acap * (1.0 - wc)
        one_s = 1.0 - tr["s"]
        g["parC"] = ac2 * SLZ * one_s
        aSLZ0 = a_slc + acap * wc + ac2 * C * one_s
        s0 = tr["s0"]
        a_s0 = torch.where(s0 <= 1.0, -ac2 * C * SLZ, 0.0)
        aSM3 = a_smc + a_s0 / FC
        gFC = -a_s0 * s0 / FC
    else:
        aSM3 = aSM
        aSLZ0 = aSLZ1
        gFC = 0.0
    # 7 evapotranspiration
    a_smr = torch.where(tr["smr"] >= EPS, aSM3, 0.0)
    aET = gET - a_smr
    SM2 = tr["SM2"]
    we = _wmin(SM2, tr["ETp"])
    aSM2 = a_smr + aET * we
    aef = aET * (1.0 - we) * PET
    z, zs, e0 = tr["z"], tr["zs"], tr["e0"]
    a_e0 = torch.where(e0 <= 1.0, aef, 0.0)
    if v.betaet:
        BETAET = p["parBETAET"]
        g["parBETAET"] = a_e0 * e0 * torch.log(zs)
        az = torch.where(z >= TINY, a_e0 * BETAET * e0 / zs, 0.0)
    else:
        az = a_e0
    LP = p["parLP"]
    aSM2 = aSM2 + az / (LP * FC)
    azz = az * z
    g["parLP"] = -azz / LP
    gFC = gFC - azz / FC
    # 5-6 soil recharge and excess
    aex = aex - aSM2
    a_exr = torch.where(tr["exr"] >= 0.0, aex, 0.0)
    aSM1 = aSM2 + a_exr
    gFC = gFC - a_exr
    arech = arech - aSM1
    ainp = aSM1 + arech * tr["w"]
    aw = arech * tr["inp"]
    x, xs, y = tr["x"], tr["xs"], tr["y"]
    a_y = torch.where(y <= 1.0, aw, 0.0)
    BETA = p["parBETA"]
    g["parBETA"] = a_y * y * torch.log(xs)
    ax = torch.where(x >= TINY, a_y * BETA * y / xs, 0.0)
    aSM0 = aSM1 + ax / FC
    g["parFC"] = gFC - ax * x / FC
    # 4 release to soil
    ats = ainp - aMW
    a_tsr = torch.where(tr["tsr"] >= 0.0, ats, 0.0)
    aMW2 = aMW + a_tsr
    g["parCWH"] = -a_tsr * tr["SP3"]
    aSP3 = aSP - a_tsr * p["parCWH"]
    # 3 refreeze
    ar = aSP3 - aMW2
    wr = _wmin(tr["rrel"], tr["MW1"])
    aMW1 = aMW2 + ar * (1.0 - wr)
    a_rp = torch.where(tr["rpot"] >= 0.0, ar * wr, 0.0)
    TT, CFR = p["parTT"], p["parCFR"]
    dTT = TT - T
    g["parCFR"] = a_rp * CFMAX * dTT
    gCFMAX = a_rp * CFR * dTT
    gTT = a_rp * CFR * CFMAX
    # 2 melt
    am = aMW1 - aSP3
    wm = _wmin(tr["mrel"], tr["SP1"])
    aSP1 = aSP3 + am * (1.0 - wm)
    a_mp = torch.where(tr["mpot"] >= 0.0, am * wm, 0.0)
    g["parCFMAX"] = gCFMAX + a_mp * (T - TT)
    g["parTT"] = gTT - a_mp * CFMAX
    return (aSP1, aMW1, aSM0, aSUZ0, aSLZ0), g
