"""WOFOST 7.2 PP parameter names, learnable-parameter bounds, and preparation into batched tensors.

Parameters are a dict `name -> tensor` in PCSE units: scalars `[B]` (one value per field; integer switches
such as IDSL as floats) and AFGEN tables `[B, N, 2]` (x, y pairs, padded by repeating the last pair).
A learnable multiplicative scale of a table's y-values is the pseudo-parameter `<TABLE>_SCALE` `[B]`.
"""

from __future__ import annotations

import torch

from dmg_bmi.errors import InputError
from dmg_bmi.models.phy.base import ParamSpec
from dmg_bmi.models.phy.wofost72 import afgen

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


def param_specs() -> tuple[ParamSpec, ...]:
    """Learnable parameters (one value per field: `per_member=False`), bounds in PCSE units."""
    return tuple(
        ParamSpec(n, lo, hi, UNITS.get(n, "-"), f"WOFOST 7.2 {n}", per_member=False)
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


def load_params_file(path, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """A PCSE parameter YAML (flat dict, or a test file's `ModelParameters`) -> one-field tensors `[1]`,
    `[1, N, 2]` (tables truncated by PCSE's AFGEN rule)."""
    import yaml

    from dmg_bmi.crop.tables import parse_afgen

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if isinstance(data, dict) and "ModelParameters" in data:
        data = data["ModelParameters"]
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of WOFOST parameters")
    out = {}
    for name, value in data.items():
        if name in TABLES or name == "VERNRTB":
            out[name] = torch.tensor(parse_afgen(name, value or [], str(path)), dtype=dtype)[None]
        elif name in SCALARS or name in VERN_SCALARS:
            out[name] = torch.tensor([float(value)], dtype=dtype)
    missing = [n for n in SCALARS + TABLES if n not in out]
    if missing:
        raise InputError(f"{path}: missing WOFOST parameter(s): {', '.join(missing)}")
    return out
