"""WOFOST 7.2 PP parameter names, learnable-parameter bounds, and preparation into batched tensors.

Parameters are a dict `name -> tensor` in PCSE units: scalars `[B]` (one value per field; integer switches
such as IDSL as floats) and AFGEN tables `[B, N, 2]` (x, y pairs, padded by repeating the last pair).
A learnable multiplicative scale of a table's y-values is the pseudo-parameter `<TABLE>_SCALE` `[B]`. Three of
them may also vary by day (`DAILY_SCALES`, `[T, B]`: `model.run(..., daily=...)`): they multiply the table's
value where the day step reads it (AMAX, EFF, SLA), instead of being folded into the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dmg_bmi.core.physics import ParamSpec
from dmg_bmi.domains.crop.wofost72 import afgen
from dmg_bmi.errors import InputError

SCALARS = (
    "TSUMEM", "TBASEM", "TEFFMX", "TSUM1", "TSUM2", "IDSL", "DLO", "DLC", "DVSI", "DVSEND",
    "CVL", "CVO", "CVR", "CVS", "Q10", "RML", "RMO", "RMR", "RMS", "CFET", "DEPNR", "SMFCF", "SMW",
    "RDI", "RRI", "RDMCR", "RDMSOL", "TDWI", "SPA", "SPAN", "TBASE", "PERDL", "RGRLAI",
)  # fmt: skip
VERN_SCALARS = ("VERNSAT", "VERNBASE", "VERNDVS")  # required only where IDSL >= 2
# Tables looked up at DVS, in the order of `afgen.evaluate_merged(P["dvs_tables"], DVS)[..., i]`.
DVS_TABLES = (
    "AMAXTB",
    "KDIFTB",
    "FRTB",
    "FLTB",
    "FSTB",
    "FOTB",
    "RFSETB",
    "SLATB",
    "SSATB",
    "RDRRTB",
    "RDRSTB",
)
TEMP_TABLES = ("DTSMTB", "VERNRTB")  # at TEMP (VERNRTB required only where IDSL >= 2)
DTEMP_TABLES = ("EFFTB", "TMPFTB")  # at DTEMP = (TEMP + TMAX)/2
TMIN_TABLES = ("TMNFTB",)  # at the 7-day mean TMIN
# Table scales that may vary by day: name -> the day step's quantity they multiply (`model.day_step`)
DAILY_SCALES = {"AMAXTB_SCALE": "AMAX", "EFFTB_SCALE": "EFF", "SLATB_SCALE": "SLA"}
TABLES = DVS_TABLES + ("DTSMTB",) + DTEMP_TABLES + TMIN_TABLES
IDX = {name: i for i, name in enumerate(DVS_TABLES)}

UNITS = {
    "TSUMEM": "degC d", "TBASEM": "degC", "TEFFMX": "degC", "TSUM1": "degC d", "TSUM2": "degC d",
    "DLO": "h", "DLC": "h", "CVL": "kg kg-1", "CVO": "kg kg-1", "CVR": "kg kg-1", "CVS": "kg kg-1",
    "Q10": "-", "RML": "kg CH2O kg-1 d-1", "RMO": "kg CH2O kg-1 d-1", "RMR": "kg CH2O kg-1 d-1",
    "RMS": "kg CH2O kg-1 d-1", "CFET": "-", "RDI": "cm", "RRI": "cm d-1", "RDMCR": "cm", "TDWI": "kg ha-1",
    "SPA": "ha kg-1", "SPAN": "d", "TBASE": "degC", "PERDL": "d-1", "RGRLAI": "ha ha-1 d-1",
    "VERNSAT": "d", "VERNBASE": "d", "VERNDVS": "-",
}  # fmt: skip

# Continuous parameters a network or optimiser may set, with plausible bounds (PCSE units).
_BOUNDS = {
    "TSUMEM": (20.0, 300.0), "TBASEM": (-5.0, 12.0), "TEFFMX": (15.0, 40.0), "TSUM1": (100.0, 2500.0),
    "TSUM2": (100.0, 2500.0), "CVL": (0.4, 1.0), "CVO": (0.4, 1.0), "CVR": (0.4, 1.0), "CVS": (0.4, 1.0),
    "Q10": (1.0, 3.0), "RML": (0.0, 0.05), "RMO": (0.0, 0.02), "RMR": (0.0, 0.03), "RMS": (0.0, 0.03),
    "CFET": (0.5, 1.5), "RDI": (5.0, 50.0), "RRI": (0.0, 3.0), "RDMCR": (20.0, 250.0), "TDWI": (0.1, 300.0),
    "SPAN": (15.0, 60.0), "TBASE": (-5.0, 15.0), "PERDL": (0.0, 0.1), "RGRLAI": (0.002, 0.05),
    "VERNSAT": (10.0, 100.0), "VERNBASE": (0.0, 30.0), "AMAXTB_SCALE": (0.5, 1.5),
    "SLATB_SCALE": (0.5, 1.5), "EFFTB_SCALE": (0.5, 1.5),
}  # fmt: skip

# What a WOFOST 7.2 parameter file (crop and site) may hold, in PCSE units: `check_params` refuses the rest.
# Sources: the WOFOST 7.2 manual (Supit et al. 1994; de Wit et al. 2019, "WOFOST developer's response",
# Agric. Syst. 168) and PCSE's parameter docs for meanings and units; the bounds are physical sense, wide
# enough for every crop in the WOFOST crop-parameter repository and every PCSE reference case
# (e.g. TDWI 0.51..75, TSUM1 150..1300, SPAN 22.8..40 in the 45 cases): fractions and conversion
# efficiencies in [0, 1], day lengths in [0, 24] h (-99 = unused, PCSE's value where IDSL = 0), temperatures
# of a crop's life, temperature sums up to 5000 degC d (a whole warm year's), depths within the 10 m of the
# dataset table's RD.
PARAM_RANGES: dict[str, tuple[float, float]] = {
    # crop: phenology
    "TSUMEM": (0.0, 1000.0), "TBASEM": (-10.0, 20.0), "TEFFMX": (0.0, 50.0), "TSUM1": (0.0, 5000.0),
    "TSUM2": (0.0, 5000.0), "IDSL": (0.0, 2.0), "DLO": (0.0, 24.0), "DLC": (0.0, 24.0), "DVSI": (0.0, 2.0),
    "DVSEND": (1.0, 3.0), "VERNSAT": (0.0, 365.0), "VERNBASE": (0.0, 365.0), "VERNDVS": (0.0, 2.0),
    # crop: growth, respiration, leaves, roots
    "CVL": (0.1, 1.0), "CVO": (0.1, 1.0), "CVR": (0.1, 1.0), "CVS": (0.1, 1.0), "Q10": (1.0, 5.0),
    "RML": (0.0, 0.1), "RMO": (0.0, 0.1), "RMR": (0.0, 0.1), "RMS": (0.0, 0.1), "CFET": (0.0, 2.0),
    "DEPNR": (1.0, 5.0), "RDI": (0.0, 1000.0), "RRI": (0.0, 10.0), "RDMCR": (0.0, 1000.0),
    "TDWI": (0.0, 5000.0), "SPA": (0.0, 0.1), "SPAN": (1.0, 365.0), "TBASE": (-10.0, 20.0),
    "PERDL": (0.0, 1.0), "RGRLAI": (0.0, 1.0), "LAIEM": (0.0, 10.0),
    # site and soil (volumetric fractions, cm, cm d-1, ppm)
    "SM0": (0.0, 1.0), "SMFCF": (0.0, 1.0), "SMW": (0.0, 1.0), "SMLIM": (0.0, 1.0), "CRAIRC": (0.0, 1.0),
    "RDMSOL": (0.0, 1000.0), "WAV": (0.0, 1000.0), "SSI": (0.0, 100.0), "SSMAX": (0.0, 100.0),
    "K0": (0.0, 1e5), "KSUB": (0.0, 1e5), "SOPE": (0.0, 1e5), "CO2": (100.0, 2000.0),
    "IFUNRN": (0.0, 1.0), "NOTINF": (0.0, 1.0), "IAIRDU": (0.0, 1.0), "IOX": (0.0, 1.0),
}  # fmt: skip
UNUSED = {"DLO": -99.0, "DLC": -99.0}  # PCSE's "not used" value of a parameter, accepted besides its range
# Ranges of the y-values of AFGEN tables (x is checked by `dmg_bmi.domains.crop.pcse.tables.parse_afgen`).
TABLE_Y_RANGES: dict[str, tuple[float, float]] = {
    "AMAXTB": (0.0, 150.0), "DTSMTB": (0.0, 100.0), "EFFTB": (0.0, 1.0), "KDIFTB": (0.0, 3.0),
    "FLTB": (0.0, 1.0), "FOTB": (0.0, 1.0), "FRTB": (0.0, 1.0), "FSTB": (0.0, 1.0), "RFSETB": (0.0, 1.0),
    "RDRRTB": (0.0, 1.0), "RDRSTB": (0.0, 1.0), "SLATB": (0.0, 0.05), "SSATB": (0.0, 0.05),
    "TMNFTB": (0.0, 1.0), "TMPFTB": (0.0, 1.0), "VERNRTB": (0.0, 1.0),
}  # fmt: skip


def _number(value: Any) -> float | None:
    """`value` as a float (a YAML 1.1 string such as '1e3' too); None for a bool or a non-number."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _check_value(label: str, value: Any, valid: tuple[float, float], where: str, units: str = "",
                 unused: float | None = None) -> None:
    """InputError naming `where`, `label`, the value and the range unless `value` is a number in `valid`."""
    x = _number(value)
    if x is None:
        raise InputError(f"{where}: parameter {label} = {value!r} is not a number")
    lo, hi = valid
    if not (lo <= x <= hi or x == unused):
        u = f" {units}" if units else ""
        also = f" (or {unused:g}: unused)" if unused is not None else ""
        raise InputError(f"{where}: parameter {label} = {x:g}{u} is outside the allowed range "
                         f"[{lo:g}, {hi:g}]{u}{also}")


def check_params(params: Mapping[str, Any], where: str) -> None:
    """Raise InputError naming `where` (the file), the parameter, the value, its units and the allowed range
    for a scalar of `PARAM_RANGES` that is not a number in its range (`UNUSED` values pass), or an AFGEN
    table of `TABLE_Y_RANGES` that is not a flat list of numbers or has a y-value out of its range."""
    for name, value in params.items():
        if name in PARAM_RANGES:
            _check_value(name, value, PARAM_RANGES[name], where, UNITS.get(name, ""), UNUSED.get(name))
        elif name in TABLE_Y_RANGES:
            if not isinstance(value, list):
                raise InputError(f"{where}: parameter {name} = {value!r} is not an AFGEN table (a flat list "
                                 "x1, y1, x2, y2, ...)")
            for k, v in enumerate(value):
                _check_value(f"{name}[{k}]", v, TABLE_Y_RANGES[name] if k % 2 else (-np.inf, np.inf), where)


def param_specs() -> tuple[ParamSpec, ...]:
    """Learnable parameters (one value per field: `per_member=False`), bounds in PCSE units; the
    `DAILY_SCALES` may vary by day (`can_vary`)."""
    return tuple(
        ParamSpec(n, lo, hi, UNITS.get(n, "-"), f"WOFOST 7.2 {n}", per_member=False,
                  can_vary=n in DAILY_SCALES)
        for n, (lo, hi) in _BOUNDS.items()
    )


def apply_scales(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fold `<TABLE>_SCALE` `[B]` into the table's y-values; returns a new dict without the scales."""
    out = {k: v for k, v in params.items() if not k.endswith("_SCALE")}
    for key, scale in params.items():
        if key.endswith("_SCALE"):
            name = key[: -len("_SCALE")]
            if name not in out:
                raise InputError(f"parameter {key!r} scales table {name!r}, which is missing")
            tb = out[name]
            out[name] = torch.stack([tb[..., 0], tb[..., 1] * scale[:, None]], dim=-1)
    return out


def prepare(params: dict[str, torch.Tensor], batch: int | None = None) -> dict:
    """Validate names/shapes and build the step's parameter structure (scalars `[B]`, table groups)."""
    params = apply_scales(params)
    missing = [n for n in SCALARS + TABLES if n not in params]
    if missing:
        raise InputError(f"missing WOFOST parameter(s): {', '.join(missing)}")
    ref = params["TSUM1"]
    b = ref.shape[0] if batch is None else batch
    for n in SCALARS + TABLES:
        want = (b,) if n in SCALARS else (b, None, 2)
        got = tuple(params[n].shape)
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got, strict=True)):
            raise InputError(
                f"parameter {n}: shape {got}, expected {tuple('N' if w is None else w for w in want)}"
            )
    idsl = params["IDSL"]
    needs_vern = bool((idsl >= 2).any())
    vern_missing = [n for n in VERN_SCALARS + ("VERNRTB",) if n not in params]
    if needs_vern and vern_missing:
        raise InputError(f"missing vernalisation parameter(s) for IDSL >= 2: {', '.join(vern_missing)}")
    p = {n: params[n] for n in SCALARS}
    zeros = torch.zeros_like(ref)
    for n in VERN_SCALARS:
        p[n] = params.get(n, zeros)
    vernrtb = params.get("VERNRTB", torch.zeros(b, 1, 2, dtype=ref.dtype, device=ref.device))
    p["dvs_tables"] = afgen.merge(afgen.prepare(afgen.pad_tables([params[n] for n in DVS_TABLES])))
    p["temp_tables"] = afgen.prepare(afgen.pad_tables([params["DTSMTB"], vernrtb]))
    p["dtemp_tables"] = afgen.prepare(afgen.pad_tables([params[n] for n in DTEMP_TABLES]))
    p["tmin_tables"] = afgen.prepare(afgen.pad_tables([params["TMNFTB"]]))
    p["part_tables"] = afgen.pad_tables([params[n] for n in ("FRTB", "FLTB", "FSTB", "FOTB")])
    return p
