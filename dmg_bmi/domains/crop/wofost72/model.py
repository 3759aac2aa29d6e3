"""WOFOST 7.2 potential production as one batched daily step, a sequence runner and a PhysicsModel.

Daily order (PCSE Wofost72_PP engine): on day t, (1) integrate yesterday's rates (phenology, then, unless
the crop was still emerging, partitioning at the new DVS, roots, storage organs, stems, leaves, totals),
(2) start the crop on its start day, (3) finish checks (harvest / max_duration / maturity), (4) today's
rates, (5) the output row: states after integration plus today's rates (TRA). Fields before their start
or after their finish are masked (ACTIVE = 0; states hold). No Python branch depends on data values.

Units: PCSE's. Weights kg ha-1, LAI ha ha-1, RD cm, TRA/EVS cm d-1, temperatures °C, IRRAD J m-2 d-1.
"""

from __future__ import annotations

import datetime as dt

import torch

from dmg_bmi.core.ops import torch_threads
from dmg_bmi.domains.crop.wofost72 import afgen, leaves, phenology, scalar
from dmg_bmi.domains.crop.wofost72.assimilation import gross_assimilation, push_tmin
from dmg_bmi.domains.crop.wofost72.astro import daily_drivers, day_temperature
from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.evapotranspiration import evapotranspiration
from dmg_bmi.domains.crop.wofost72.ops import where
from dmg_bmi.domains.crop.wofost72.organs import root_rates, stem_rates, storage_rates
from dmg_bmi.domains.crop.wofost72.params import DAILY_SCALES, IDX, prepare
from dmg_bmi.domains.crop.wofost72.partitioning import check_partitioning, conversion_factor
from dmg_bmi.domains.crop.wofost72.processes import ASSIMILATION_REDUCTION
from dmg_bmi.domains.crop.wofost72.respiration import maintenance_respiration
from dmg_bmi.domains.crop.wofost72.state import FLOAT_STATES as FLOAT_STATES  # the state's names, re-exported
from dmg_bmi.domains.crop.wofost72.state import INIT_KEYS, crop_init, initial_state
from dmg_bmi.domains.crop.wofost72.state import RATES as RATES
from dmg_bmi.domains.crop.wofost72.waterbalance import soil_evaporation
from dmg_bmi.errors import InputError

WEATHER_NAMES = ("IRRAD", "TMIN", "TMAX", "TEMP", "E0", "ES0", "ET0", "RAIN", "DOY")
_DOY = WEATHER_NAMES.index("DOY")
WEATHER_UNITS = ("J m-2 d-1", "degC", "degC", "degC", "cm d-1", "cm d-1", "cm d-1", "cm d-1", "d")
OUTPUT_NAMES = ("DVS", "LAI", "TAGP", "TWSO", "TWLV", "TWST", "TWRT", "TRA", "RD", "SM", "EVS", "ACTIVE")
# Days of drivers prepared at once (weather-only ones and the temperature tables): bounds their memory (a
# whole season of table lookups at 10^4 fields touched 0.5 GB of fresh pages, a tenth of the run), keeps them
# in cache. A multiple of every SIMD width, so element-wise maths (whose vectorised and scalar paths may
# round transcendentals differently) sees the same layout as a whole-season call and gives the same bits.
DRIVER_BLOCK = 32


def weather_dict(forcing: torch.Tensor) -> dict[str, torch.Tensor]:
    """`[..., B, F]` in WEATHER_NAMES order -> {name: `[..., B]`}."""
    if forcing.shape[-1] != len(WEATHER_NAMES):
        raise InputError(
            f"forcing has {forcing.shape[-1]} channels; expected {len(WEATHER_NAMES)}: {WEATHER_NAMES}"
        )
    return {n: forcing[..., i] for i, n in enumerate(WEATHER_NAMES)}


def _check_weather(weather: dict) -> None:
    missing = [n for n in WEATHER_NAMES if n not in weather]
    if missing:
        raise InputError(f"missing weather variable(s): {', '.join(missing)}")


def table_drivers(weather: dict[str, torch.Tensor], p: dict) -> dict[str, torch.Tensor]:
    """Tables at the day's temperatures `[..., B]`: DTSM, VERNR_TB at TEMP; EFF, TMPF at DTEMP (°C)."""
    tt = afgen.evaluate(p["temp_tables"], weather["TEMP"])
    dt = afgen.evaluate(p["dtemp_tables"], day_temperature(weather))
    cols = {"DTSM": tt[..., 0], "VERNR_TB": tt[..., 1], "EFF": dt[..., 0], "TMPF": dt[..., 1]}
    return {k: v.contiguous() for k, v in cols.items()}  # a day's row then runs vectorised


def prepare_drivers(weather: dict[str, torch.Tensor], lat: torch.Tensor, p: dict) -> dict[str, torch.Tensor]:
    """Weather `[..., B]` -> step drivers: `astro.daily_drivers` and `table_drivers`."""
    _check_weather(weather)
    return daily_drivers(weather, lat) | table_drivers(weather, p)


def day_step(
    s: dict,
    d: dict,
    p: dict,
    cal: Calendar,
    t: int,
    init: dict,
    surrogate: bool = True,
    span_width: float = 0.05,
    process=None,
    daily: dict | None = None,
):
    """One day for all fields: `(state, drivers_t, prepared params, calendar, day index, crop init)`.

    `surrogate`: straight-through gradients at discontinuities (README.md); `span_width`: look-ahead of the
    SPAN surrogate as a fraction of SPAN (`leaves.age_death`); `process`: a learned assimilation reduction
    (`processes.ASSIMILATION_REDUCTION`: `[B, 3]` TMAX, TMIN, DVS -> factor `[B]` on PGASS) or None;
    `daily`: today's table scales `{name: [B]}` (`params.DAILY_SCALES`: AMAX, EFF, SLA multiplied where they
    are read), or None."""
    zero = torch.zeros_like(s["DVS"])
    integ = s["ALIVE"]
    start = cal.start == t
    org = integ & (s["STAGE"] > 0)  # organs integrate unless the crop was still emerging

    def r(k):  # yesterday's rates are stored zero unless the crop grew on and did not finish
        return s[k]

    # (1) integrate yesterday's rates
    ph = phenology.integrate(p, s, integ)
    n = dict(s)
    n.update({k: ph[k] for k in ("VERN", "ISVERN", "TSUM", "TSUME", "DVS", "STAGE")})
    n["WRT"] = s["WRT"] + r("R_GWRT")
    n["DWRT"] = s["DWRT"] + r("R_DRRT")
    n["RD"] = s["RD"] + r("R_RR")
    n["WSO"] = s["WSO"] + r("R_GRSO")
    n["WST"] = s["WST"] + r("R_GRST") - r("R_DRST")
    n["DWST"] = s["DWST"] + r("R_DRST")
    n["DEAD"] = s["DEAD"] + r("R_DRLV")
    n["CLK"] = s["CLK"] + r("R_FYSAGE")
    n["WTOT"] = s["WTOT"] + r("R_GRLV")
    n["ATOT"] = s["ATOT"] + r("R_GRLV") * r("R_SLAT")
    n["LAIEXP"] = s["LAIEXP"] + r("R_GLAIEX")
    for tot, rate in (("GASST", "R_GASS"), ("MREST", "R_MRES"), ("CTRAT", "R_TRA")):
        n[tot] = s[tot] + r(rate)
    n["CEVST"] = s["CEVST"] + where(org, s["R_EVS"], zero)
    n["EVST"] = s["EVST"] + where(cal.start < t, s["R_EVS"], zero)
    was = s["STAGE"]
    n["DOE"] = where((ph["TRANS"] & (was == 0)) | (start & cal.emerged), t, s["DOE"])
    n["DOA"] = where(ph["TRANS"] & (was == 1), t, s["DOA"])
    n["DOM"] = where(ph["TRANS"] & (was == 2), t, s["DOM"])
    fin_mat = ph["TRANS"] & (was == 2) & cal.at_maturity

    # (2) crop start
    if t in cal.start_days:
        started = where(start, init["STACK"], torch.stack([n[k] for k in INIT_KEYS]))  # one op, not 19
        n.update(zip(INIT_KEYS, started.unbind(0), strict=True))
    alive = integ | start
    # (3) finish: harvest date / max_duration, or maturity
    finish = alive & ((cal.end <= t) | fin_mat)

    # phenology rates first: the transition surrogate needs the new stage's DVR
    pr = phenology.rates(
        p, n["STAGE"], n["DVS"], n["VERN"], n["ISVERN"], s["FORCE"], alive, d["DAYLP"], d["TEMP"], d["DTSM"],
        d["VERNR_TB"],
    )  # fmt: skip
    tau = zero
    if surrogate:
        n["DVS"] = phenology.transition_surrogate(
            n["DVS"], ph["TRANS"], ph["OVERSHOOT"], s["R_DVR"], pr["DVR"]
        )
        # Maturity end: the crop would have stopped tau = overshoot/DVR days earlier (0 in value).
        ok = fin_mat & (s["R_DVR"] > 0)
        tau = where(
            ok, (ph["OVERSHOOT"] - ph["OVERSHOOT"].detach()) / where(ok, s["R_DVR"], 1.0), 0.0
        )
        for k, inc in (("WRT", r("R_GWRT")), ("DWRT", r("R_DRRT")), ("RD", r("R_RR")), ("WSO", r("R_GRSO")),
                       ("WST", r("R_GRST") - r("R_DRST")), ("DWST", r("R_DRST")), ("WTOT", r("R_GRLV")),
                       ("DEAD", r("R_DRLV"))):  # fmt: skip
            n[k] = n[k] - tau * inc.detach()

    if surrogate:  # DVS-table gradients: secant over one day's development (see afgen.evaluate_secant)
        tv = afgen.evaluate_secant(p["dvs_tables"], n["DVS"], torch.clamp(pr["DVR"], min=1e-4))
    else:
        tv = afgen.evaluate_merged(p["dvs_tables"], n["DVS"])
    for k, tb in (("FR", "FRTB"), ("FL", "FLTB"), ("FS", "FSTB"), ("FO", "FOTB")):
        n[k] = where(org, tv[:, IDX[tb]], n[k])
    n["SAI"] = where(org, n["WST"] * tv[:, IDX["SSATB"]], n["SAI"])
    n["PAI"] = where(org, n["WSO"] * p["SPA"], n["PAI"])

    # leaf classes: write today's slot (new class, crop start's first class, or an empty class)
    sla = where(org, s["R_SLAT"], where(start, init["SLA0"], zero))
    token, g, q = leaves.update_classes(
        s, t, r("R_FYSAGE"), n["WTOT"], n["ATOT"], sla, n["CLK"], n["DEAD"], p["SPAN"]
    )
    lasum = leaves.leaf_area_sum(g, n["ATOT"], n["DEAD"])
    lasum = lasum - tau * (lasum - s["LASUM"]).detach()
    n["LASUM"] = where(org, lasum, n["LASUM"])
    n["LAI"] = where(org, n["LASUM"] + n["SAI"] + n["PAI"], n["LAI"])
    n["LAIMAX"] = where(org, torch.maximum(s["LAIMAX"], n["LAI"]), n["LAIMAX"])
    wlv = torch.clamp(n["WTOT"] - n["DEAD"], min=0.0)

    # (4) today's rates (ZEROFY: zero unless the crop exists and has emerged)
    grow = alive & (n["STAGE"] > 0)
    n["TMINBUF"], n["TMINN"], tminra = push_tmin(s["TMINBUF"], s["TMINN"], d["TMIN"], grow)
    tmnf = afgen.evaluate(p["tmin_tables"], tminra)[:, 0]
    kdif = tv[:, IDX["KDIFTB"]]
    lai = n["LAI"]
    amax, eff, sla = tv[:, IDX["AMAXTB"]] * d["TMPF"], d["EFF"], tv[:, IDX["SLATB"]]
    if daily:
        amax = amax * daily["AMAXTB_SCALE"] if "AMAXTB_SCALE" in daily else amax
        eff = eff * daily["EFFTB_SCALE"] if "EFFTB_SCALE" in daily else eff
        sla = sla * daily["SLATB_SCALE"] if "SLATB_SCALE" in daily else sla
    pgass = gross_assimilation(d, amax, eff, lai, kdif, tmnf)
    if process is not None:
        seen = {"TMAX": d["TMAX"], "TMIN": d["TMIN"], "DVS": n["DVS"]}
        pgass = pgass * process(torch.stack([seen[k] for k in ASSIMILATION_REDUCTION.inputs], -1))
    et = evapotranspiration(p, d, kdif, lai, p["SMFCF"])
    gass = pgass * et["RFTRA"]
    pmres = maintenance_respiration(p, n["WRT"], wlv, n["WST"], n["WSO"], tv[:, IDX["RFSETB"]], d["TEMP"])
    mres = torch.minimum(gass, pmres)
    fr, fl, fs, fo = n["FR"], n["FL"], n["FS"], n["FO"]
    dmi = conversion_factor(p, fr, fl, fs, fo) * (gass - mres)
    admi = (1.0 - fr) * dmi
    gwrt, drrt, rr = root_rates(p, fr, dmi, n["WRT"], tv[:, IDX["RDRRTB"]], n["RD"], n["RDM"])
    grst, drst = stem_rates(admi, fs, n["WST"], tv[:, IDX["RDRSTB"]])
    grso = storage_rates(admi, fo)
    lr = leaves.rates(p, admi * fl, wlv, lai, kdif, et["RFTRA"], d["TEMP"], n["LAIEXP"], sla,
                      (g, q, n["DEAD"], n["CLK"]), surrogate, span_width)  # fmt: skip
    rates = {
        "R_GWRT": gwrt, "R_DRRT": drrt, "R_RR": rr, "R_GRST": grst, "R_DRST": drst, "R_GRSO": grso,
        "R_GASS": gass, "R_MRES": mres, "R_TRA": et["TRA"], **lr,
    }  # fmt: skip
    keep = grow & ~finish  # rates a later day will integrate
    n.update(zip(rates, where(keep, torch.stack(list(rates.values())), 0.0).unbind(0), strict=True))
    n["R_DVR"], n["R_DTSUM"], n["R_DTSUME"], n["R_VERNR"] = pr["DVR"], pr["DTSUM"], pr["DTSUME"], pr["VERNR"]
    n["FORCE"] = pr["FORCE"]

    # soil evaporation bookkeeping (potential production: SM = SMFCF)
    soil = cal.start <= t
    evs, dslr, rain_old = soil_evaporation(
        where(grow, et["EVSMX"], d["ES0"]), d["RAIN"], s["DSLR"], s["RAINOLD"]
    )
    n["R_EVS"] = where(soil, evs, zero)
    n["DSLR"] = where(soil, dslr, s["DSLR"])
    n["RAINOLD"] = where(soil, rain_old, s["RAINOLD"])

    n["DOF"] = where(finish, t, s["DOF"])
    n["ALIVE"] = alive & ~finish
    n["FINISHED"] = s["FINISHED"] | finish
    n["DAY"] = s["DAY"] + 1
    n["TOKEN"] = token
    twlv = wlv + n["DEAD"]
    twst = n["WST"] + n["DWST"]
    out = {
        "DVS": n["DVS"], "LAI": n["LAI"], "TAGP": twlv + twst + n["WSO"], "TWSO": n["WSO"], "TWLV": twlv,
        "TWST": twst, "TWRT": n["WRT"] + n["DWRT"], "TRA": where(grow, et["TRA"], zero), "RD": n["RD"],
        "SM": where(soil, p["SMFCF"], zero), "EVS": n["R_EVS"], "ACTIVE": alive.to(zero.dtype),
    }  # fmt: skip
    return n, out


def run(
    params: dict[str, torch.Tensor],
    weather: dict[str, torch.Tensor] | torch.Tensor,
    calendar: Calendar,
    lat: torch.Tensor,
    surrogate: bool = True,
    check: bool = True,
    span_width: float = 0.05,
    field_names=None,
    day0=None,
    state: dict | None = None,
    threads: int | None = 1,
    process=None,
    daily: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Simulate every field over the `T` days of `weather` (dict `[T, B]` or `[T, B, F]` tensor).

    Returns `(outputs {name: [T, B]}, final state)`. `check` validates the partitioning tables once
    (InputError naming field and DVS) and, afterwards, that no maturity-ended crop ran out of weather
    (`day0`, the date of day index 0 per field, turns day indices into dates in that message).
    `threads`: torch intra-op threads for the run (`dmg_bmi.core.ops.torch_threads`; None keeps torch's
    setting); 1 by default, as a day's operations are small. A backward pass runs on the caller's setting:
    the crop trainer wraps its loop in `torch_threads(1)` too. `process`: a learned process at the
    `assimilation_reduction` hook (see `day_step`; a `core.process.LearnedProcess` or any callable on
    tensors), None for plain WOFOST. `daily`: table scales that vary by day `{name: [T, B]}`
    (`params.DAILY_SCALES`), None for none.

    Batch 1 on the CPU without a gradient to compute (grad mode off, or no input tensor requiring grad) runs
    the same day on Python floats (`scalar.py`, ~40x fewer seconds than ~800 tensor ops a day): it computes
    in float64 and returns the outputs and state in the asked dtype; in float64 it equals the batched path
    to ~1e-15 (bit for bit where the torch day is itself at batch 1). The checks above run the same way.
    """
    with torch_threads(threads):
        return _run(params, weather, calendar, lat, surrogate, check, span_width, field_names, day0, state,
                    process, daily or {})


def _run(params, weather, calendar, lat, surrogate, check, span_width, field_names, day0, state, process,
         daily):
    w = weather_dict(weather) if isinstance(weather, torch.Tensor) else weather
    p = prepare(params)
    n_days, batch = w["IRRAD"].shape
    calendar.validate(n_days if state is None else n_days + int(state["DAY"][0]))
    if check:
        dvs_lo = where(calendar.emerged, p["DVSI"], torch.full_like(p["DVSI"], -0.1))
        check_partitioning(p["part_tables"], dvs_lo, p["DVSEND"], field_names)
    _check_weather(w)
    _check_daily(daily, n_days, batch)
    if batch == 1 and p["TSUM1"].device.type == "cpu" and not _needs_grad({**params, **daily}, w, lat, state,
                                                                          process):
        outputs, s = _run_scalar(p, w, calendar, lat, state, process, daily)
        if check:
            _check_finished(s, calendar, int(s["DAY"][0]), field_names, day0)  # the days run, from day 0
        return outputs, s
    init = crop_init(p, calendar)
    s = initial_state(batch, n_days, p["TSUM1"].dtype, p["TSUM1"].device) if state is None else state
    t0 = int(s["DAY"][0])  # a hot start continues the day count (calendar and slots are absolute)
    rows = []
    for i in range(n_days):
        if i % DRIVER_BLOCK == 0:
            block = {k: v[i : i + DRIVER_BLOCK] for k, v in w.items()}
            drv = daily_drivers(block, lat) | table_drivers(block, p)  # one gather per block of days
        d = {k: v[i % DRIVER_BLOCK] for k, v in drv.items()}
        s, out = day_step(s, d, p, calendar, t0 + i, init, surrogate, span_width, process,
                          {k: v[i] for k, v in daily.items()})
        rows.append(out)
    n_days += t0
    outputs = {k: torch.stack([o[k] for o in rows]) for k in OUTPUT_NAMES}
    if check:
        _check_finished(s, calendar, n_days, field_names, day0)
    return outputs, s


def _needs_grad(params: dict, weather: dict, lat: torch.Tensor, state: dict | None, process=None) -> bool:
    """Whether a gradient may be asked of the run: grad mode on and an input tensor (or a weight of the
    learned `process`) requiring grad."""
    if not torch.is_grad_enabled():
        return False
    weights = list(process.parameters()) if isinstance(process, torch.nn.Module) else []
    tensors = [*params.values(), *weather.values(), lat, *(state or {}).values(), *weights]
    return any(isinstance(v, torch.Tensor) and v.requires_grad for v in tensors)


def _check_daily(daily: dict, n_days: int, batch: int) -> None:
    """InputError naming a daily scale that is not one of `params.DAILY_SCALES` or not `[T, B]`."""
    for name, value in daily.items():
        if name not in DAILY_SCALES:
            raise InputError(f"daily parameter {name!r} cannot vary by day; those that can: "
                             f"{sorted(DAILY_SCALES)}")
        if tuple(value.shape) != (n_days, batch):
            raise InputError(f"daily parameter {name}: shape {tuple(value.shape)}, expected [T={n_days}, "
                             f"B={batch}]")


def _run_scalar(p: dict, w: dict, calendar: Calendar, lat: torch.Tensor, state: dict | None, process=None,
                daily: dict | None = None):
    """One field, forward only, on Python floats (`scalar.py`); the same `(outputs, state)` as the loop."""
    dtype, device = p["TSUM1"].dtype, p["TSUM1"].device
    n_days = w["IRRAD"].shape[0]
    f = scalar.field(p, calendar, lat, 0, scalar_process(process, dtype))
    s = scalar.initial_state(n_days) if state is None else scalar.state_from_tensors(state, 0)
    t0 = s["DAY"]
    rows = torch.stack([w[k][:, 0] for k in WEATHER_NAMES], 1).tolist()
    f.prefill(r[_DOY] for r in rows)
    names = list(daily or {})
    scales = torch.stack([daily[k][:, 0] for k in names], 1).tolist() if names else [None] * n_days
    out = []
    for i, (r, today) in enumerate(zip(rows, scales, strict=True)):
        s, o = scalar.day(f, s, dict(zip(WEATHER_NAMES, r, strict=True)), t0 + i,
                          dict(zip(names, today, strict=True)) if names else None)
        out.append([o[k] for k in OUTPUT_NAMES])
    cols = torch.tensor(out, dtype=dtype, device=device).reshape(n_days, len(OUTPUT_NAMES)).T.contiguous()
    outputs = {k: cols[j][:, None] for j, k in enumerate(OUTPUT_NAMES)}
    return outputs, scalar.state_to_tensors(s, dtype, device)


def scalar_process(process, dtype=torch.float64):
    """A learned process as a function of one point's floats (`scalar.Field.process`): its own float64
    copy (`LearnedProcess.scalar`) if it has one, else a call on a `[1, n]` tensor of `dtype`; None: None."""
    if process is None:
        return None
    if hasattr(process, "scalar"):
        return process.scalar()

    def factor(x) -> float:
        with torch.no_grad():
            return float(process(torch.tensor([list(x)], dtype=dtype))[0])

    return factor


def _check_finished(s, calendar: Calendar, n_days: int, field_names, day0) -> None:
    """A crop still alive on the last weather day with its end date beyond it ran out of weather."""
    unfinished = s["ALIVE"] & (calendar.end >= n_days)
    if bool(unfinished.any()):
        b = int(torch.nonzero(unfinished)[0])
        name = field_names[b] if field_names is not None else b
        start, last = int(calendar.start[b]), n_days - 1
        if day0 is not None:
            start, last = day0[b] + dt.timedelta(days=start), day0[b] + dt.timedelta(days=last)
        raise InputError(
            f"weather of field {name!r} (index {b}) ends on {last} but the crop (started {start}) had not "
            f"finished (DVS={float(s['DVS'][b]):.3f}); supply weather up to maturity or the end date"
        )
