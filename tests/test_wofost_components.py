"""Single-module PCSE cases (components/): each module family against its reference, inputs forced from
the file's ExternalStates. A few files per family run in the fast suite; all 44 per family are slow."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch
from conftest import pcse_own_dir

from dmg_bmi.domains.crop.pcse.pcse_yaml import load_case_cached
from dmg_bmi.domains.crop.pcse.tables import parse_afgen
from dmg_bmi.domains.crop.wofost72 import afgen, leaves, phenology
from dmg_bmi.domains.crop.wofost72.assimilation import gross_assimilation, push_tmin
from dmg_bmi.domains.crop.wofost72.astro import astro, daily_drivers
from dmg_bmi.domains.crop.wofost72.evapotranspiration import evapotranspiration
from dmg_bmi.domains.crop.wofost72.ops import where
from dmg_bmi.domains.crop.wofost72.organs import root_rates
from dmg_bmi.domains.crop.wofost72.respiration import maintenance_respiration

FAMILIES = (
    "astro",
    "partitioning",
    "respiration",
    "assimilation",
    "transpiration",
    "phenology",
    "rootdynamics",
    "leafdynamics",
)
FAST = ("01", "17", "31")
CASES = [pytest.param(f, n, marks=() if n in FAST else pytest.mark.slow) for f in FAMILIES for n in
         (f"{i:02d}" for i in range(1, 45))]  # fmt: skip


@pytest.fixture
def load(parse_cache):
    directory = pcse_own_dir() / "components"
    cache = parse_cache("wofost_components")

    def _load(family, number):
        path = directory / f"test_{family}_wofost72_{number}.yaml"
        if not path.exists():
            pytest.skip(f"{path} not present")
        return load_case_cached(path, cache)

    return _load


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=torch.float64)


def _table(case, name):
    return afgen.prepare(_t(parse_afgen(name, case.params[name]))[None, None])


def _lookup(group, q):
    return afgen.evaluate(group, _t(q)[:, None])[:, 0, 0]


def _weather(case):
    w = case.weather.values
    doy = [d.timetuple().tm_yday for d in case.weather.dates]
    return {k: _t(w[k]) for k in ("IRRAD", "TMIN", "TMAX", "TEMP", "E0", "ES0", "ET0", "RAIN")} | {
        "DOY": _t(doy)
    }


def _aligned(case, values: dict) -> dict:
    """Weather/external series restricted to the result days."""
    first = case.results.dates[0]
    i0 = (first - case.weather.dates[0]).days
    n = len(case.results.dates)
    return {k: v[i0 : i0 + n] for k, v in values.items()}


def _external(case):
    e = case.external
    i0 = (case.results.dates[0] - e.dates[0]).days
    n = len(case.results.dates)
    return {k: _t(v[i0 : i0 + n]) for k, v in e.values.items()}


def _check(case, model: dict, names=None):
    names = names or list(case.precision)
    for v in names:
        ref = case.results.values[v]
        ok = np.isfinite(ref)
        err = np.abs(ref[ok] - model[v].numpy()[ok])
        tol = case.precision[v]
        assert (err < tol).all(), f"{case.name} {v}: max error {err.max():.3g} >= {tol}"


def _astro_case(case):
    w = _weather(case)
    lat = _t(case.weather.values["LAT"])
    a = astro(w["DOY"], lat, w["IRRAD"])
    for k, ref in case.results.values.items():  # exact formulas: compare to 1e-9 relative
        np.testing.assert_allclose(a[k].numpy(), ref, rtol=1e-9, atol=1e-9, err_msg=f"{case.name} {k}")


def _partitioning_case(case):
    dvs = _external(case)["DVS"]
    model = {k[:2]: _lookup(_table(case, k), dvs) for k in ("FRTB", "FLTB", "FSTB", "FOTB")}
    _check(case, model)


def _respiration_case(case):
    ext = _external(case)
    temp = _aligned(case, _weather(case))["TEMP"]
    p = {k: _t(case.params[k]) for k in ("Q10", "RML", "RMO", "RMR", "RMS")}
    rfse = _lookup(_table(case, "RFSETB"), ext["DVS"])
    pmres = maintenance_respiration(p, ext["WRT"], ext["WLV"], ext["WST"], ext["WSO"], rfse, temp)
    _check(case, {"PMRES": torch.where(ext["DVS"] >= 0, pmres, 0.0)})  # module runs from emergence


def _assimilation_case(case):
    ext = _external(case)
    w = _aligned(case, _weather(case))
    lat = _t(case.weather.values["LAT"])[: len(w["DOY"])]
    drv = daily_drivers(w, lat)
    dvs, lai = ext["DVS"], ext["LAI"]
    amax = _lookup(_table(case, "AMAXTB"), dvs) * _lookup(_table(case, "TMPFTB"), drv["DTEMP"])
    eff = _lookup(_table(case, "EFFTB"), drv["DTEMP"])
    kdif = _lookup(_table(case, "KDIFTB"), dvs)
    emerged = dvs >= 0
    buf, count, tminra = torch.zeros(1, 7, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), []
    for t in range(len(dvs)):  # 7-day TMIN window, filled from emergence on
        buf, count, ra = push_tmin(buf, count, w["TMIN"][t : t + 1], emerged[t : t + 1])
        tminra.append(ra)
    tmnf = _lookup(_table(case, "TMNFTB"), torch.cat(tminra))
    pgass = gross_assimilation({k: v for k, v in drv.items()}, amax, eff, lai, kdif, tmnf)
    _check(case, {"PGASS": torch.where(emerged, pgass, 0.0)})


def _transpiration_case(case):
    ext = _external(case)
    drv = _aligned(case, _weather(case))
    p = {k: _t(case.params[k]) for k in ("CFET", "DEPNR", "SMFCF", "SMW")}
    kdif = _lookup(_table(case, "KDIFTB"), ext["DVS"])
    et = evapotranspiration(p, drv, kdif, ext["LAI"], ext["SM"])
    _check(case, {k: torch.where(ext["DVS"] >= 0, et[k], 0.0) for k in ("EVWMX", "EVSMX", "TRAMX", "TRA")})


def _phenology_case(case):
    """Phenology alone, in PCSE's daily order (integrate, then rates), from the file's crop calendar."""
    prm = case.params
    names = ("TSUMEM", "TBASEM", "TEFFMX", "TSUM1", "TSUM2", "IDSL", "DLO", "DLC", "DVSI", "DVSEND")
    p = {k: _t([prm[k]]) for k in names} | {
        k: _t([prm.get(k, 0.0)]) for k in ("VERNSAT", "VERNBASE", "VERNDVS")
    }
    dtsm, vernrtb = (
        _table(case, "DTSMTB"),
        afgen.prepare(_t(parse_afgen("VERNRTB", prm.get("VERNRTB") or []))[None, None]),
    )
    w = _aligned(case, _weather(case))
    lat = _t(case.weather.values["LAT"])[: len(w["DOY"])]
    daylp = astro(w["DOY"], lat, w["IRRAD"])["DAYLP"]
    emerged = case.calendar["crop_start_type"] == "emergence"
    z, f = _t([0.0]), torch.tensor([False])
    s = {
        "STAGE": _t([1.0 if emerged else 0.0]),
        "DVS": p["DVSI"] if emerged else _t([-0.1]),
        "VERN": z,
        "ISVERN": f,
        "FORCE": f,
        "TSUM": z,
        "TSUME": z,
        "R_DVR": z,
        "R_DTSUM": z,
        "R_DTSUME": z,
        "R_VERNR": z,
    }
    rows = []
    for t in range(len(case.results.dates)):
        if t > 0:
            s.update({k: v for k, v in phenology.integrate(p, s, torch.tensor([True])).items()
                      if k in ("VERN", "ISVERN", "TSUM", "TSUME", "DVS", "STAGE")})  # fmt: skip
        temp = w["TEMP"][t : t + 1]
        r = phenology.rates(p, s["STAGE"], s["DVS"], s["VERN"], s["ISVERN"], s["FORCE"], torch.tensor([True]),
                            daylp[t : t + 1], temp, _lookup(dtsm, temp), _lookup(vernrtb, temp))  # fmt: skip
        s.update({"R_DVR": r["DVR"], "R_DTSUM": r["DTSUM"], "R_DTSUME": r["DTSUME"], "R_VERNR": r["VERNR"],
                  "FORCE": r["FORCE"]})  # fmt: skip
        veg = (s["STAGE"] == 1) & (p["IDSL"] >= 2)  # PCSE only computes vernalisation rates while vegetative
        rows.append({"DVS": s["DVS"], "DVR": r["DVR"], "VERN": s["VERN"], "VERNR": r["VERNR"],
                     "VERNFAC": torch.where(veg, r["VERNFAC"], 0.0)})  # fmt: skip
    model = {k: torch.cat([row[k] for row in rows]) for k in rows[0]}
    _check(case, model)
    assert case.results.dates[-1] - case.results.dates[0] == dt.timedelta(days=len(rows) - 1)


def _rootdynamics_case(case):
    """Roots from forced DVS, DMI and FR: rates from emergence on, integrated the next day."""
    ext = _external(case)
    p = {k: _t([case.params[k]]) for k in ("RDI", "RRI", "RDMCR", "RDMSOL", "TDWI")}
    rdrr = _table(case, "RDRRTB")
    wrt, dwrt, rd = p["TDWI"] * ext["FR"][:1], _t([0.0]), p["RDI"]
    rdm = torch.maximum(p["RDI"], torch.minimum(p["RDMCR"], p["RDMSOL"]))
    rates, rows = (_t([0.0]),) * 3, []
    for t in range(len(case.results.dates)):
        wrt, dwrt, rd = wrt + rates[0], dwrt + rates[1], rd + rates[2]
        rows.append((rd, wrt + dwrt))
        dvs = ext["DVS"][t : t + 1]
        new = root_rates(p, ext["FR"][t : t + 1], ext["DMI"][t : t + 1], wrt, _lookup(rdrr, dvs), rd, rdm)
        rates = tuple(torch.where(dvs >= 0, r, 0.0) for r in new)
    _check(case, {"RD": torch.cat([r[0] for r in rows]), "TWRT": torch.cat([r[1] for r in rows])})


def _leafdynamics_case(case):
    """Leaves from forced ADMI, DVS, FL, FR, RFTRA, SAI, PAI, through the model's class arrays and rates."""
    ext = _external(case)
    temp = _aligned(case, _weather(case))["TEMP"]
    p = {k: _t([case.params[k]]) for k in ("PERDL", "RGRLAI", "SPAN", "TBASE", "TDWI")}
    kdiftb, slatb = _table(case, "KDIFTB"), _table(case, "SLATB")
    n = len(case.results.dates)
    s = leaves.new_buffers(1, n, torch.float64, "cpu") | {"TOKEN": _t(0.0)}
    wlv0 = p["TDWI"] * (1 - ext["FR"][:1]) * ext["FL"][:1]
    sla0 = _lookup(slatb, ext["DVS"][:1])
    w_tot, a_tot, dead, clock, laiexp = wlv0, wlv0 * sla0, _t([0.0]), _t([0.0]), wlv0 * sla0
    lasum = laiexp
    r = dict.fromkeys(("R_GRLV", "R_SLAT", "R_DRLV", "R_FYSAGE", "R_GLAIEX"), _t([0.0]))
    lai_rows, twlv_rows = [], []
    for t in range(n):
        grew = t > 0 and bool(ext["DVS"][t - 1] >= 0)
        dead, clock, laiexp = dead + r["R_DRLV"], clock + r["R_FYSAGE"], laiexp + r["R_GLAIEX"]
        w_tot, a_tot = w_tot + r["R_GRLV"], a_tot + r["R_GRLV"] * r["R_SLAT"]
        sla = r["R_SLAT"] if t > 0 else sla0
        s["TOKEN"], g, q = leaves.update_classes(
            s, t, r["R_FYSAGE"], w_tot, a_tot, sla, clock, dead, p["SPAN"]
        )
        if grew:
            lasum = leaves.leaf_area_sum(g, a_tot, dead)
        lai = lasum + ext["SAI"][t : t + 1] + ext["PAI"][t : t + 1]
        lai_rows.append(lai)
        twlv_rows.append(w_tot)
        dvs = ext["DVS"][t : t + 1]
        if bool(dvs >= 0):
            args = (ext["ADMI"][t : t + 1] * ext["FL"][t : t + 1], w_tot - dead, lai, _lookup(kdiftb, dvs))
            r = leaves.rates(p, *args, ext["RFTRA"][t : t + 1], temp[t : t + 1], laiexp, _lookup(slatb, dvs),
                             (g, q, dead, clock))  # fmt: skip
        else:
            r = {k: _t([0.0]) for k in r}
    _check(case, {"LAI": torch.cat(lai_rows), "TWLV": torch.cat(twlv_rows)})


@pytest.mark.parametrize("family,number", CASES)
def test_component(load, family, number):
    case = load(family, number)
    globals()[f"_{family}_case"](case)


def _afgen_rule(xs, ys, q):
    """PCSE's AFGEN rule in plain floats: ends held; else the segment with x_i < q <= x_{i+1}."""
    if q <= xs[0]:
        return ys[0]
    if q >= xs[-1]:
        return ys[-1]
    i = max(k for k in range(len(xs)) if xs[k] < q)
    return ys[i] + (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) * (q - xs[i])


def test_afgen_is_pcse_to_the_last_bit_at_and_between_breakpoints():
    """Per-table and merged lookups equal PCSE's rule exactly, at every breakpoint (where DVS is parked on
    stage-change days) and between. FRTB of the roots-at-anthesis case is 5.6e-17 at DVS 1.0, not 0."""
    rng = np.random.default_rng(3)
    tables = [([0.0, 0.4, 1.0, 2.0], [0.54176793, 0.4966206, 0.0, 0.0])]
    for n in (2, 3, 5, 7):
        xs = np.sort(rng.choice(np.round(np.linspace(-0.1, 2.5, 27), 2), n, replace=False)).tolist()
        tables.append((xs, rng.uniform(0.0, 40.0, n).round(6).tolist()))
    width = max(len(x) for x, _ in tables)
    pad = [list(zip(x, y, strict=True)) + [(x[-1], y[-1])] * (width - len(x)) for x, y in tables]
    group = afgen.prepare(_t(pad)[None])  # one field, M tables
    merged = afgen.merge(group)
    qs = sorted({q for x, _ in tables for q in x} | set(rng.uniform(-0.3, 2.8, 40).tolist()) | {-1.0, 3.0})
    per_table = afgen.evaluate(group, _t(qs)[:, None])[:, 0]  # [K, M]
    together = afgen.evaluate_merged(merged, _t(qs)[:, None])[:, 0]
    want = np.array([[_afgen_rule(x, y, q) for x, y in tables] for q in qs])
    np.testing.assert_array_equal(per_table.numpy(), want)
    np.testing.assert_array_equal(together.numpy(), want)
    frtb = afgen.evaluate_merged(merged, _t([1.0, 1.005])[:, None])[:, 0, 0]
    assert frtb[0] == 0.4966206 + (0.0 - 0.4966206) / 0.6 * 0.6 != 0.0 and frtb[1] == 0.0


def test_merged_lookup_of_fields_with_different_breakpoints_equals_each_table():
    """Fields whose tables share some breakpoints and not others: the union keeps each field's distinct
    breakpoints (padded with +inf to the batch's largest count) and every lookup equals the table's own."""
    x1 = [[0.0, 0.5, 1.0, 2.0], [0.0, 0.5, 1.0, 2.0], [0.0, 1.0, 1.0, 2.0]]  # 4 distinct of 12
    x2 = [[0.0, 0.3, 1.2, 2.0], [-0.1, 0.5, 1.0, 2.0], [0.0, 0.7, 1.5, 1.9]]  # 10 distinct
    rng = np.random.default_rng(5)
    fields = [[list(zip(x, rng.uniform(0, 1, 4).round(4).tolist(), strict=True)) for x in xs]
              for xs in (x1, x2)]
    group = afgen.prepare(_t(fields))  # [B=2, M=3, N=4, 2]
    merged = afgen.merge(group)
    assert merged.x.shape[1] == 10 and torch.isinf(merged.x[0, 4:]).all()
    qs = _t(sorted({v for xs in x1 + x2 for v in xs} | set(rng.uniform(-0.5, 2.5, 30).round(3).tolist())))
    q = qs[:, None].expand(-1, 2).contiguous()  # [K, B]
    np.testing.assert_array_equal(afgen.evaluate_merged(merged, q).numpy(), afgen.evaluate(group, q).numpy())


def test_where_with_a_number_branch_equals_torch_where_in_value_dtype_and_gradient():
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float32, requires_grad=True)
    c = x > 0
    for got, want in ((where(c, x, 0.0), torch.where(c, x, 0.0)), (where(c, 1.5, x), torch.where(c, 1.5, x))):
        assert got.dtype == torch.float32 and torch.equal(got, want)
        (g,) = torch.autograd.grad(got.sum(), x)
        (h,) = torch.autograd.grad(want.sum(), x)
        assert torch.equal(g, h) and g.abs().sum() > 0
