"""WOFOST 7.2 PP for one field on Python floats: the forward-only batch-1 path of `model.run` and the BMI.

At batch 1 the batched torch model is all per-op overhead (~800 small ops a day). This module runs the same
day, `model.day_step` with the surrogates off (they are 0 in value), on floats: PCSE Wofost72_PP's daily
order (integrate yesterday's rates, crop start, finish, today's rates, output row), every expression in the
torch code's order, the leaf classes in `leaves.py`'s cumulative slots (W, A, S, C and −LVAGE, one per day,
searched with `bisect` as `leaves.locate` searches with `torch.searchsorted`), AFGEN with `afgen.py`'s
arithmetic and the 7-day TMIN window of `assimilation.push_tmin`. Transcendentals go through torch's own
kernels (`scalar_drivers`), so a day equals the torch day at batch 1 bit for bit; against a batched run,
whose vectorised pow may round differently, it agrees to ~1e-15. No gradients.

- `field(prepared_params, calendar, lat, b)`: one field's parameters, tables and calendar as floats (frozen).
- `state_from_tensors(state, b)` / `state_to_tensors(state, dtype, device)`: to and from the state dict of
  `model.initial_state(1, n_days)` (same keys, dtypes and shapes); the scalar state holds the written leaf
  slots only (`SLOTS` is the slot count L).
- `day(field, state, weather, t)`: one day; `weather` {`model.WEATHER_NAMES`: float} in PCSE units (IRRAD
  J m-2 d-1, TMIN/TMAX/TEMP °C, E0/ES0/ET0/RAIN cm d-1, DOY); returns (new state, {`model.OUTPUT_NAMES`:
  float}: weights kg ha-1, LAI ha ha-1, RD cm, TRA/EVS cm d-1). The leaf lists are appended in place (as the
  torch path writes its slots in place): keep the returned state, not the old one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dmg_bmi.domains.crop.wofost72 import state as torch_state
from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.params import IDX, SCALARS, VERN_SCALARS
from dmg_bmi.domains.crop.wofost72.processes import ASSIMILATION_REDUCTION
from dmg_bmi.domains.crop.wofost72.scalar_drivers import (
    Geometry,
    Merged,
    Table,
    evaluate,
    evaluate_merged,
    geometry,
    gross_assimilation,
    light,
    merged,
    sqrt,
    tables,
)
from dmg_bmi.errors import InputError

LEAF_KEYS = ("LV_NEGAGE", "LV_W", "LV_A", "LV_S", "LV_C")
BOOL_KEYS = ("ISVERN", "FORCE", "ALIVE", "FINISHED")
INT_KEYS = ("DOE", "DOA", "DOM", "DOF", "DAY")
FLOAT_KEYS = torch_state.FLOAT_STATES + ("DSLR",)
# Positions of the DVS tables in an `evaluate_merged` result (`params.IDX`, the one order)
_AMAX, _KDIF, _FR, _FL, _FS, _FO, _RFSE, _SLA, _SSA, _RDRR, _RDRS = (IDX[k] for k in (
    "AMAXTB", "KDIFTB", "FRTB", "FLTB", "FSTB", "FOTB", "RFSETB", "SLATB", "SSATB", "RDRRTB", "RDRSTB"))
_GROW_RATES = ("R_GWRT", "R_DRRT", "R_RR", "R_GRST", "R_DRST", "R_GRSO", "R_GASS", "R_MRES", "R_TRA",
               "R_GRLV", "R_SLAT", "R_DRLV", "R_FYSAGE", "R_GLAIEX")  # zero unless the crop grows on


@dataclass(frozen=True)
class Field:
    """One field as floats: scalar parameters `p` (PCSE units), `init` (the `state.crop_init` values of
    `state.INIT_KEYS`) and `sla0`, the AFGEN tables, the calendar (day indices) and latitude (deg).
    `geo` caches the weather-free sun geometry per day of year (`scalar_drivers.geometry`); `prefill` fills
    it for many days in one torch call. `process`: a learned assimilation reduction on floats
    (`model.scalar_process`: [TMAX, TMIN, DVS] -> factor on PGASS) or None."""

    p: dict
    init: tuple
    sla0: float
    dvs: Merged
    dtsm: Table
    vernr: Table
    eff: Table
    tmpf: Table
    tmnf: Table
    start: int
    end: int
    emerged: bool
    at_maturity: bool
    lat: float
    geo: dict
    process: Callable[[list], float] | None = None

    def prefill(self, doys) -> None:
        """Compute the geometry of the days of year `doys` not yet cached, all at once."""
        missing = {float(d) for d in doys} - self.geo.keys()
        self.geo.update(geometry(missing, self.lat))

    def geometry(self, doy: float) -> Geometry:
        """The day of year's geometry (computed, by one torch call, if not cached)."""
        g = self.geo.get(doy)
        if g is None:
            self.prefill([doy])
            g = self.geo[doy]
        return g


def field(prepared: dict, calendar: Calendar, lat: torch.Tensor, b: int = 0, process=None) -> Field:
    """Field `b` of `params.prepare(...)` output (tensors `[B, ...]`), its calendar and latitude `[B]`, and
    a learned process on floats (`Field.process`)."""
    with torch.no_grad():
        init = torch_state.crop_init(prepared, calendar)
        p = {k: float(prepared[k][b]) for k in SCALARS + VERN_SCALARS}
        dtsm, vernr = tables(prepared["temp_tables"], b)
        eff, tmpf = tables(prepared["dtemp_tables"], b)
        (tmnf,) = tables(prepared["tmin_tables"], b)
        return Field(p, tuple(init["STACK"][:, b].tolist()), float(init["SLA0"][b]),
                     merged(prepared["dvs_tables"], b), dtsm, vernr, eff, tmpf, tmnf,
                     int(calendar.start[b]), int(calendar.end[b]), bool(calendar.emerged[b]),
                     bool(calendar.at_maturity[b]), float(lat[b]), {}, process)


def initial_state(n_days: int) -> dict:
    """`model.initial_state(1, n_days)` as a scalar state (empty field, no crop; `n_days` leaf slots)."""
    s = dict.fromkeys(FLOAT_KEYS, 0.0)
    s["DSLR"] = 1.0
    s.update(dict.fromkeys(BOOL_KEYS, False))
    s.update(dict.fromkeys(INT_KEYS, -1))
    s["DAY"] = 0
    s["TMINBUF"] = [0.0] * 7
    s.update({k: [] for k in LEAF_KEYS})
    s["SLOTS"] = n_days
    return s


def state_from_tensors(state: dict[str, torch.Tensor], b: int = 0) -> dict:
    """Field `b` of a torch state (`model.initial_state` layout) as a scalar state."""
    day = int(state["DAY"][b])
    floats = torch.stack([state[k][b] for k in FLOAT_KEYS]).tolist()
    s = dict(zip(FLOAT_KEYS, floats, strict=True))
    s.update({k: bool(state[k][b]) for k in BOOL_KEYS})
    s.update({k: int(state[k][b]) for k in INT_KEYS})
    s["TMINBUF"] = state["TMINBUF"][b].tolist()
    s.update({k: state[k][b, :day].tolist() for k in LEAF_KEYS})
    s["SLOTS"] = int(state["LV_W"].shape[1])
    return s


def state_to_tensors(s: dict, dtype=torch.float64, device="cpu") -> dict[str, torch.Tensor]:
    """A scalar state as the torch state dict of `model.initial_state(1, SLOTS, dtype, device)`."""
    out = torch_state.initial_state(1, s["SLOTS"], dtype, device)
    floats = torch.tensor([[s[k]] for k in FLOAT_KEYS], dtype=dtype, device=device)
    out.update(zip(FLOAT_KEYS, (x.clone() for x in floats.unbind(0)), strict=True))  # own storage each
    for keys, kind in ((BOOL_KEYS, torch.bool), (INT_KEYS, torch.long)):
        out.update({k: torch.tensor([s[k]], dtype=kind, device=device) for k in keys})
    out["TMINBUF"] = torch.tensor([s["TMINBUF"]], dtype=dtype, device=device)
    day = len(s["LV_W"])
    if day:
        for k in LEAF_KEYS:
            out[k][0, :day] = torch.tensor(s[k], dtype=dtype, device=device)
    return out


def _limit(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _tmin_mean(buf: list, count: float) -> float:
    """TMINRA (°C): the mean of the window's last `count` values, summed in torch's order for 7 values."""
    first = 7 - count
    v = [x * (1.0 if i >= first else 0.0) for i, x in enumerate(buf)]
    total = (((v[0] + ((v[4] + v[5]) + v[6])) + v[1]) + v[2]) + v[3]
    return total / (count if count > 1.0 else 1.0)


def day(f: Field, s: dict, w: dict, t: int, daily: dict | None = None) -> tuple[dict, dict]:
    """One day of `model.day_step` for field `f` (see the module docstring); `t` = s["DAY"]; `daily`: today's
    table scales {name: float} (`params.DAILY_SCALES`) or None."""
    if t != s["DAY"] or t >= s["SLOTS"]:
        raise InputError(f"day {t}: the state is at day {s['DAY']} with {s['SLOTS']} leaf-class slots")
    p = f.p
    temp = w["TEMP"]
    integ = s["ALIVE"]
    start = f.start == t
    was = s["STAGE"]
    org = integ and was > 0  # organs integrate unless the crop was still emerging

    # (1) integrate yesterday's rates (stored zero unless the crop grew on and did not finish)
    vern, isvern = s["VERN"], s["ISVERN"]
    if integ and was == 1 and p["IDSL"] >= 2:
        vern = vern + s["R_VERNR"]
        isvern = vern >= p["VERNSAT"] or s["FORCE"]
    dvs = s["DVS"] + (s["R_DVR"] if integ else 0.0)
    thr = 0.0 if was == 0 else 1.0 if was == 1 else p["DVSEND"]
    trans = integ and was < 3 and dvs >= thr
    tsum = s["TSUM"] + (s["R_DTSUM"] if integ else 0.0)
    tsume = s["TSUME"] + (s["R_DTSUME"] if integ else 0.0)
    if trans:
        dvs, stage = thr, was + 1.0
    else:
        stage = was + 0.0
    wrt = s["WRT"] + s["R_GWRT"]
    dwrt = s["DWRT"] + s["R_DRRT"]
    rd = s["RD"] + s["R_RR"]
    wso = s["WSO"] + s["R_GRSO"]
    wst = s["WST"] + s["R_GRST"] - s["R_DRST"]
    dwst = s["DWST"] + s["R_DRST"]
    dead = s["DEAD"] + s["R_DRLV"]
    clk = s["CLK"] + s["R_FYSAGE"]
    wtot = s["WTOT"] + s["R_GRLV"]
    atot = s["ATOT"] + s["R_GRLV"] * s["R_SLAT"]
    laiexp = s["LAIEXP"] + s["R_GLAIEX"]
    n = {"GASST": s["GASST"] + s["R_GASS"], "MREST": s["MREST"] + s["R_MRES"],
         "CTRAT": s["CTRAT"] + s["R_TRA"], "CEVST": s["CEVST"] + (s["R_EVS"] if org else 0.0),
         "EVST": s["EVST"] + (s["R_EVS"] if f.start < t else 0.0),
         "DOE": t if (trans and was == 0) or (start and f.emerged) else s["DOE"],
         "DOA": t if trans and was == 1 else s["DOA"], "DOM": t if trans and was == 2 else s["DOM"]}
    fin_mat = trans and was == 2 and f.at_maturity

    # (2) crop start, (3) finish: harvest date / max_duration, or maturity
    if start:
        (stage, dvs, fr, fl, fs, fo, wrt, wst, wso, sai, pai, wtot, atot, lasum, laiexp, laimax, lai, rd,
         rdm) = f.init
    else:
        fr, fl, fs, fo, sai, pai = s["FR"], s["FL"], s["FS"], s["FO"], s["SAI"], s["PAI"]
        lasum, laimax, lai, rdm = s["LASUM"], s["LAIMAX"], s["LAI"], s["RDM"]
    alive = integ or start
    finish = alive and (f.end <= t or fin_mat)
    grow = alive and stage > 0

    # phenology rates (zero unless alive)
    force = s["FORCE"]
    dvr = dtsum = dtsume = vernr = 0.0
    if alive:
        dtsm = evaluate(f.dtsm, temp)
        dtsume = temp - p["TBASEM"]
        dtsume = 0.0 if dtsume < 0.0 else dtsume
        hi = p["TEFFMX"] - p["TBASEM"]
        dtsume = hi if hi < dtsume else dtsume
        dvred = 1.0
        if p["IDSL"] >= 1:
            span = p["DLO"] - p["DLC"]
            dvred = _limit((f.geometry(w["DOY"]).daylp - p["DLC"]) / (span if span != 0 else 1.0), 0.0, 1.0)
        vern_on = stage == 1 and p["IDSL"] >= 2 and not isvern
        below = dvs < p["VERNDVS"]
        vernfac = 1.0
        if vern_on and below:
            vernr = evaluate(f.vernr, temp)
            span = p["VERNSAT"] - p["VERNBASE"]
            vernfac = _limit((vern - p["VERNBASE"]) / (span if span != 0 else 1.0), 0.0, 1.0)
        force = force or (vern_on and not below)
        if stage == 0:
            dvr = 0.1 * dtsume / p["TSUMEM"]
        else:
            dtsume = 0.0
            if stage == 1:
                dtsum = dtsm * vernfac * dvred
                dvr = dtsum / p["TSUM1"]
            elif stage == 2:
                dtsum = dtsm
                dvr = dtsum / p["TSUM2"]

    tv = evaluate_merged(f.dvs, dvs) if org or grow else None
    if org:
        fr, fl, fs, fo = tv[_FR], tv[_FL], tv[_FS], tv[_FO]
        sai = wst * tv[_SSA]
        pai = wso * p["SPA"]

    # leaf classes: age the written slots by yesterday's FYSAGE, write slot t, search as leaves.locate
    lw, la, ls, lc, neg = s["LV_W"], s["LV_A"], s["LV_S"], s["LV_C"], s["LV_NEGAGE"]
    fys = s["R_FYSAGE"]
    if fys != 0.0:
        neg[:] = [v - fys for v in neg]
    neg.append(0.0)
    lw.append(wtot)
    la.append(atot)
    ls.append(s["R_SLAT"] if org else f.sla0 if start else 0.0)
    lc.append(clk)
    q = 0
    if org or grow:
        i = bisect_right(lw, dead)
        i = t if i > t else i
        q = bisect_left(neg, -p["SPAN"])
        q = t if q > t else q
        if org:
            gap = lw[i] - dead
            lasum = atot - la[i] + ls[i] * (gap if gap > 0.0 else 0.0)
            lai = lasum + sai + pai
            laimax = s["LAIMAX"] if s["LAIMAX"] > lai else lai
    wlv = wtot - dead
    wlv = wlv if wlv > 0.0 else 0.0

    # (4) today's rates
    buf, count = s["TMINBUF"], s["TMINN"]
    rates = dict.fromkeys(_GROW_RATES, 0.0)
    tra = 0.0
    evsmx = w["ES0"]
    if grow:
        buf = buf[1:] + [w["TMIN"]]
        count = count + 1.0 if count + 1.0 < 7.0 else 7.0
        kdif = tv[_KDIF]
        dtemp = 0.5 * (temp + w["TMAX"])
        lt = light(f.geometry(w["DOY"]), w["IRRAD"])
        tmnf = evaluate(f.tmnf, _tmin_mean(buf, count))
        amax, eff = tv[_AMAX] * evaluate(f.tmpf, dtemp), evaluate(f.eff, dtemp)
        if daily:  # model.day_step's order: the scale multiplies last
            amax = amax * daily["AMAXTB_SCALE"] if "AMAXTB_SCALE" in daily else amax
            eff = eff * daily["EFFTB_SCALE"] if "EFFTB_SCALE" in daily else eff
        pgass, ekl = gross_assimilation(lt, amax, eff, lai, kdif, tmnf)
        if f.process is not None:  # model.day_step's hook
            seen = {"TMAX": w["TMAX"], "TMIN": w["TMIN"], "DVS": dvs}
            pgass = pgass * f.process([seen[k] for k in ASSIMILATION_REDUCTION.inputs])
        # evapotranspiration (potential production: SM = SMFCF)
        et0 = p["CFET"] * w["ET0"]
        et0 = et0 if et0 > 0.0 else 0.0
        evsmx = w["ES0"] * ekl
        evsmx = evsmx if evsmx > 0.0 else 0.0
        tramx = et0 * (1.0 - ekl)
        depnr = p["DEPNR"]
        sweaf = 1.0 / (0.76 + 1.5 * et0) - (5.0 - depnr) * 0.10
        if depnr < 3.0:
            sweaf = sweaf + (et0 - 0.6) / (depnr * (depnr + 3.0))
        sweaf = _limit(sweaf, 0.10, 0.95)
        smw = p["SMW"]
        smcr = (1.0 - sweaf) * (p["SMFCF"] - smw) + smw
        rftra = _limit((p["SMFCF"] - smw) / (smcr - smw), 0.0, 1.0)
        tra = tramx * rftra
        if not finish:  # rates a later day integrates
            gass = pgass * rftra
            rm = p["RMR"] * wrt + p["RML"] * wlv + p["RMS"] * wst + p["RMO"] * wso
            pmres = rm * tv[_RFSE] * p["Q10"] ** ((temp - 25.0) / 10.0)
            mres = gass if gass < pmres else pmres
            dmi = 1.0 / ((fl / p["CVL"] + fs / p["CVS"] + fo / p["CVO"]) * (1.0 - fr) + fr / p["CVR"]) * (
                gass - mres)
            admi = (1.0 - fr) * dmi
            drrt = wrt * tv[_RDRR]
            rr = p["RRI"]
            if rdm - rd < rr:
                rr = rdm - rd
            grlv = admi * fl
            # leaf death: stress / self-shading (DSLV) or age (DALV: classes older than SPAN)
            laicr = 1.0 / (kdif if kdif > 0 else 1.0) * 3.2  # torch's 3.2 / tensor
            dslv = wlv * (1.0 - rftra) * p["PERDL"]
            shade = wlv * _limit(0.03 * (lai - laicr) / laicr, 0.0, 0.03)
            dslv = dslv if dslv > shade else shade
            dalv = 0.0
            if q >= 1:
                dalv = lw[q - 1] - dead
                dalv = dalv if dalv > 0.0 else 0.0
            fysage = (temp - p["TBASE"]) / (35.0 - p["TBASE"])
            warm = temp - p["TBASE"]
            glaiex = laiexp * p["RGRLAI"] * (warm if warm > 0.0 else 0.0) if laiexp < 6.0 else 0.0
            slat = tv[_SLA] * daily["SLATB_SCALE"] if daily and "SLATB_SCALE" in daily else tv[_SLA]
            if laiexp < 6.0 and grlv > 0:
                gla = grlv * slat
                slat = (glaiex if glaiex < gla else gla) / grlv
            rates = {"R_GWRT": fr * dmi - drrt, "R_DRRT": drrt, "R_RR": 0.0 if fr == 0 else rr,
                     "R_GRST": admi * fs, "R_DRST": tv[_RDRS] * wst, "R_GRSO": admi * fo, "R_GASS": gass,
                     "R_MRES": mres, "R_TRA": tra, "R_GRLV": grlv, "R_SLAT": slat,
                     "R_DRLV": dslv if dslv > dalv else dalv, "R_FYSAGE": fysage if fysage > 0.0 else 0.0,
                     "R_GLAIEX": glaiex}

    # soil evaporation bookkeeping, from the campaign's start
    evs, dslr, rain_old = 0.0, s["DSLR"], s["RAINOLD"]
    if f.start <= t:
        if rain_old >= 1.0:
            evs, dslr = evsmx, 1.0
        else:
            dslr = dslr + 1.0
            evs = evsmx * (sqrt(dslr) - sqrt(dslr - 1.0)) + rain_old
            evs = evsmx if evsmx < evs else evs
        rain_old = w["RAIN"]

    n.update(rates)
    n.update({
        "STAGE": stage, "DVS": dvs, "TSUM": tsum, "TSUME": tsume, "VERN": vern, "FR": fr, "FL": fl, "FS": fs,
        "FO": fo, "WRT": wrt, "DWRT": dwrt, "RD": rd, "RDM": rdm, "WST": wst, "DWST": dwst, "SAI": sai,
        "WSO": wso, "PAI": pai, "WTOT": wtot, "ATOT": atot, "DEAD": dead, "CLK": clk, "LASUM": lasum,
        "LAIEXP": laiexp, "LAIMAX": laimax, "LAI": lai, "RAINOLD": rain_old, "TMINN": count,
        "R_DVR": dvr, "R_DTSUM": dtsum, "R_DTSUME": dtsume, "R_VERNR": vernr, "R_EVS": evs, "DSLR": dslr,
        "ISVERN": isvern, "FORCE": force, "ALIVE": alive and not finish, "FINISHED": s["FINISHED"] or finish,
        "DOF": t if finish else s["DOF"], "DAY": t + 1, "TMINBUF": buf, "LV_NEGAGE": neg, "LV_W": lw,
        "LV_A": la, "LV_S": ls, "LV_C": lc, "SLOTS": s["SLOTS"],
    })  # fmt: skip
    twlv = wlv + dead
    twst = wst + dwst
    out = {"DVS": dvs, "LAI": lai, "TAGP": twlv + twst + wso, "TWSO": wso, "TWLV": twlv, "TWST": twst,
           "TWRT": wrt + dwrt, "TRA": tra, "RD": rd, "SM": p["SMFCF"] if f.start <= t else 0.0, "EVS": evs,
           "ACTIVE": 1.0 if alive else 0.0}
    return n, out
