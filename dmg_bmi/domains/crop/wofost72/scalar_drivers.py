"""One field's weather drivers, AFGEN tables and canopy assimilation on Python floats (the batch-1 path).

The arithmetic mirrors `afgen.py`, `astro.py` and `assimilation.py` operation by operation, in the same order,
so that the results equal the torch path's bit for bit at batch 1. Transcendentals are the exception: torch
computes exp, sin, cos and asin with its vectorised kernels (lane by lane, so the bits do not depend on the
tensor's length or a value's position in it), which round differently from the C library's `math`
functions in a fraction of a percent of the values; so does its sqrt. They are therefore left to torch,
in as few calls as possible: the weather-free sun geometry (day of year and latitude only) once per field
for all days of a run (`geometry`), the canopy's exponentials twice per growing day (`gross_assimilation`),
square roots of the (whole) days since rain once per value (`sqrt`). `x ** y` equals torch's batch-1 pow
(which calls the C library's for a tensor shorter than two vectors). A Python number divided by a tensor is
torch's reciprocal times the number, which rounds differently from a division: written so here too.
Units as in the torch modules: IRRAD J m-2 d-1, day lengths h, DSINBE s d-1, SC/DIFPP/PAR J m-2 s-1,
PGASS kg CH2O ha-1 d-1.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import NamedTuple

import torch

from dmg_bmi.domains.crop.wofost72.assimilation import _REFH, _SCV, _SQV, GAUSS_W, GAUSS_X
from dmg_bmi.domains.crop.wofost72.astro import astro, gauss_sinb

_X0, _X1, _X2 = GAUSS_X
_W0, _W1, _W2 = GAUSS_W
_TWO_REFH = 2.0 * _REFH  # the constants as the torch expressions form them (Python evaluates left first)
_ONE_SCV = 1.0 - _SCV
_KB_DENOM = 0.8 * _SQV
_CH2O = 30.0 / 44.0


class Table(NamedTuple):
    """One AFGEN table of a prepared `afgen.TableGroup` row: breakpoints `x`, values `y`, segment slopes
    `slope` (as `afgen.prepare` computed them, padding included), range ends `lo`, `hi`."""

    x: list
    y: list
    slope: list
    lo: float
    hi: float


def tables(group, b: int) -> tuple[Table, ...]:
    """The M tables of field `b` of a prepared `afgen.TableGroup` `[B, M, N]`."""
    xs, ys, ss = (t[b].tolist() for t in (group.x, group.y, group.slope))
    return tuple(Table(x, y, s, x[0], x[-1]) for x, y, s in zip(xs, ys, ss, strict=True))


def evaluate(tb: Table, q: float) -> float:
    """`afgen.evaluate` of one table at `q`: y_i + (clamp(q) − x_i)·slope_i, x_i < q ≤ x_{i+1}."""
    qc = tb.hi if q > tb.hi else q
    if qc < tb.lo:
        qc = tb.lo
    if qc >= tb.hi:
        i = len(tb.x) - 1
    else:
        i = bisect_left(tb.x, qc) - 1
        if i < 0:
            i = 0
    return tb.y[i] + (qc - tb.x[i]) * tb.slope[i]


class Merged(NamedTuple):
    """Field `b` of an `afgen.MergedGroup`: union breakpoints `x`, per interval the anchors, values and
    slopes of the M tables (`rows[j]` = (xa, ya, sa)), each table's last point `hi`/`y_hi`."""

    x: list
    rows: list
    hi: tuple
    y_hi: tuple


def merged(group, b: int) -> Merged:
    """Field `b` of a prepared `afgen.MergedGroup` (the DVS tables, `params.DVS_TABLES` order)."""
    u = group.x.shape[1]
    m = group.seg.shape[1] // 3
    seg = group.seg.detach()[b * (u + 1) : (b + 1) * (u + 1)].tolist()
    rows = [(r[:m], r[m : 2 * m], r[2 * m :]) for r in seg]
    hi, y_hi = tuple(group.hi[:, 0, b].tolist()), tuple(group.y_hi[:, 0, b].tolist())  # [M, 1, B]
    return Merged(group.x[b].tolist(), rows, hi, y_hi)


def evaluate_merged(g: Merged, q: float) -> list:
    """`afgen.evaluate_merged` of field `g` at `q`: the M tables' values (one search for all)."""
    xa, ya, sa = g.rows[bisect_left(g.x, q)]
    return [yh if q >= h else y + (q - x) * s
            for x, y, s, h, yh in zip(xa, ya, sa, g.hi, g.y_hi, strict=True)]


class Geometry(NamedTuple):
    """The weather-free part of one day's astro drivers: DAYL, DAYLP (h), DSINBE (s d-1), ANGOT (J m-2 d-1),
    SC (J m-2 s-1) and SINB at the three Gauss hours."""

    dayl: float
    daylp: float
    dsinbe: float
    angot: float
    sc: float
    sinb: tuple


def geometry(doys, lat: float) -> dict[float, Geometry]:
    """`astro.astro` and `astro.gauss_sinb` for days of year `doys` at latitude `lat` (deg), one torch call
    for all of them (float64): {doy: Geometry}."""
    doys = sorted({float(d) for d in doys})
    if not doys:
        return {}
    doy = torch.tensor(doys, dtype=torch.float64)
    a = astro(doy, torch.full_like(doy, lat), torch.zeros_like(doy))
    cols = [a[k].tolist() for k in ("DAYL", "DAYLP", "DSINBE", "ANGOT", "SC")]
    sinb = [tuple(r) for r in gauss_sinb(a).T.tolist()]  # [3, D] -> per day
    return {d: Geometry(*c, s) for d, *c, s in zip(doys, *cols, sinb, strict=True)}


class Light(NamedTuple):
    """A day's light drivers (`astro.daily_drivers` + `assimilation.light_drivers`) at the Gauss hours
    where the sun is up (`lit`, others contribute 0): per hour (KB, VDF0, VT0, VD0, VISPP)."""

    dayl: float
    lit: tuple
    hours: tuple


def light(geo: Geometry, irrad: float) -> Light:
    """The day's light drivers from its geometry and IRRAD (J m-2 d-1)."""
    dayl = geo.dayl
    angot = geo.angot
    atmtr = irrad / (angot if angot > 0 else 1.0) if dayl > 0 else 0.0
    if atmtr > 0.75:
        frdif = 0.23
    elif atmtr > 0.35:
        frdif = 1.33 - 1.46 * atmtr
    elif atmtr > 0.07:
        d = atmtr - 0.07
        frdif = 1.0 - 2.3 * (d * d)
    else:
        frdif = 1.0
    difpp = frdif * atmtr * 0.5 * geo.sc
    dsinbe = geo.dsinbe if geo.dsinbe > 0 else 1.0
    lit, hours = [], []
    for sinb in geo.sinb:
        up = sinb > 0
        lit.append(up)
        if not up:  # no contribution (`gross_assimilation` masks these hours)
            hours.append(None)
            continue
        par = 0.5 * irrad * sinb * (1.0 + 0.4 * sinb) / dsinbe if dayl > 0 else 0.0
        pardif = sinb * difpp
        if par < pardif:
            pardif = par
        pardir = par - pardif
        refs = 1.0 / (1.0 + 1.6 * sinb) * _TWO_REFH  # torch's scalar / tensor: reciprocal, then times
        hours.append((1.0 / sinb * 0.5 / _KB_DENOM, (1.0 - refs) * pardif, (1.0 - refs) * pardir,
                      _ONE_SCV * pardir, _ONE_SCV * pardir / sinb))
    return Light(dayl, tuple(lit), tuple(hours))


_SQRT: dict[float, float] = {}


def sqrt(x: float) -> float:
    """torch's square root of `x` (cached per value: the soil's days since rain are whole numbers)."""
    r = _SQRT.get(x)
    if r is None:
        if len(_SQRT) > 100_000:
            _SQRT.clear()
        r = _SQRT[x] = torch.tensor([x], dtype=torch.float64).sqrt_().item()
    return r


def exps(args: list) -> list:
    """exp of each value, by torch's kernel (see the module docstring)."""
    return torch.tensor(args, dtype=torch.float64).exp_().tolist()


def gross_assimilation(lt: Light, amax: float, eff: float, lai: float, kdif: float, tmnf: float):
    """`assimilation.gross_assimilation` for one field: returns (PGASS kg CH2O ha-1 d-1, EKL), EKL being
    the exponential exp(−0.75·KDIF·LAI) of `evapotranspiration`, computed in the same torch call."""
    ekl_arg = -0.75 * kdif * lai
    if not (amax > 0 and lai > 0 and lt.dayl > 0):
        return 0.0 * tmnf * _CH2O, exps([ekl_arg])[0]
    kl = -(kdif * lai)
    args = [kl * _X0, kl * _X1, kl * _X2, ekl_arg]
    amax2 = amax if amax > 2.0 else 2.0
    hours = [h for h in lt.hours if h is not None]
    for kb, _vdf0, _vt0, _vd0, vispp in hours:
        kdirbl = kb * kdif
        kbl = -(kdirbl * lai)
        kt = -(kdirbl * _SQV * lai)
        args += (kbl * _X0, kbl * _X1, kbl * _X2, kt * _X0, kt * _X1, kt * _X2, -vispp * eff / amax2)
    e = exps(args)
    e_dif = e[:3]
    ekl = e[3]
    # second round: the shaded leaves' exponentials need the first round's light profile
    args2, keep = [], []
    for k, (kb, vdf0, vt0, vd0, _vispp) in enumerate(hours):
        kdirbl = kb * kdif
        kdirt = kdirbl * _SQV
        e_bl, e_t = e[4 + 7 * k : 7 + 7 * k], e[7 + 7 * k : 10 + 7 * k]
        vdf0k, vt0k, vd0k = vdf0 * kdif, vt0 * kdirt, vd0 * kdirbl
        for d in range(3):
            visdf = vdf0k * e_dif[d]
            vist = vt0k * e_t[d]
            visd = vd0k * e_bl[d]
            args2.append(-(visdf + vist - visd) * eff / amax2)
        keep.append((e_bl, e[10 + 7 * k]))
    e2 = exps(args2)
    fgros, k = [], 0
    for up in lt.lit:
        if not up:
            fgros.append(0.0)
            continue
        (_kb, _vdf0, _vt0, _vd0, vispp), (e_bl, e_sun) = hours[k], keep[k]
        sunny = vispp > 0 and eff * vispp > 0
        fgl = []
        for d in range(3):
            fgrsh = amax * (1.0 - e2[3 * k + d])
            fgrsun = amax * (1.0 - (amax - fgrsh) * (1.0 - e_sun) / (eff * vispp)) if sunny else fgrsh
            fgl.append(e_bl[d] * fgrsun + (1.0 - e_bl[d]) * fgrsh)
        fgros.append(lai * (fgl[0] * _W0 + fgl[1] * _W1 + fgl[2] * _W2))
        k += 1
    dtga = lt.dayl * (fgros[0] * _W0 + fgros[1] * _W1 + fgros[2] * _W2)
    return dtga * tmnf * _CH2O, ekl
