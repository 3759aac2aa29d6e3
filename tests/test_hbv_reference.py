"""HBV agreement with hydrodl2 1.4.0 reference runs (every case listed in the reference manifest).

The directory is `$DMG_BMI_HBV_REFERENCE_DIR` (default ../shared/data/hbv_reference). Each case is run
from hydrodl2's raw parameter layout through `hydrodl2_params` (sigmoid/unit -> physical, channel
i*nmul+m, static = last time step, routing = last two channels), checked against the physical
parameters stored with the case, then simulated.

Metrics (documented choice):
- float32: max|a - b| / max|b| over all days and basins <= 1e-5, for routed and unrouted streamflow,
  its components, AET, SWE, the other fluxes, and the final stores;
- float64, fed the same (float32-exact) physical parameters: the reference itself is float32, whose own
  rounding is ~1e-6 pointwise, so we use the relative L2 error ||a - b|| / ||b|| <= 1e-6 for streamflow
  (routed and unrouted), AET and SWE, and <= 1e-5 for every other series and the final stores.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_path

from dmg_bmi.core.config import PhyConfig
from dmg_bmi.core.registry import get_physics

HYDRODL2_CLASSES = {"Hbv": "hbv_1_0", "Hbv_1_1p": "hbv_1_1p", "Hbv_2": "hbv_2"}
# our output name -> reference array
SERIES = {
    "streamflow": "out_streamflow", "streamflow_no_rout": "out_streamflow_no_rout", "AET": "out_AET_hydro",
    "SWE": "out_SWE", "srflow": "out_srflow", "ssflow": "out_ssflow", "gwflow": "out_gwflow",
    "recharge": "out_recharge", "percolation": "out_percolation", "tosoil": "out_tosoil",
    "excess": "out_excs", "evapfactor": "out_evapfactor", "capillary": "out_capillary",
}
HEADLINE = ("streamflow", "streamflow_no_rout", "AET", "SWE")
STORES = ("SNOWPACK", "MELTWATER", "SM", "SUZ", "SLZ")


def _reference_dir():
    return shared_path("hbv_reference", env="DMG_BMI_HBV_REFERENCE_DIR")


def _cases():
    try:
        ref = _reference_dir()
    except pytest.skip.Exception:
        return [pytest.param(None, marks=pytest.mark.skip(reason="HBV reference data not found"))]
    manifest = json.loads((ref / "manifest.json").read_text())
    return sorted(manifest["cases"])


def hydrodl2_params(z, case: dict) -> dict[str, np.ndarray]:
    """Physical float32 parameters from hydrodl2's raw layouts (the adapter; test-only).

    HBV 1.x: raw `[T, B, n*nmul + 2]`, sigmoid inside, channel i*nmul+m; static = last step.
    HBV 2.0: (dyn `[T, B, n_dyn*nmul]`, static `[B, n_stat*nmul + 2]`) already in [0, 1]; static order
    is the parameter order minus the dynamic names. Physical value = u * (hi - lo) + lo.
    """
    nmul = case["nmul"]
    order = case["param_order"]
    dyn = case["dynamic_params"]
    bounds = case["parameter_bounds"]
    if case["hydrodl2_class"] == "Hbv_2":
        dyn_u = z["nn_dyn_parameters"].reshape(z["nn_dyn_parameters"].shape[:2] + (len(dyn), nmul))
        stat_names = [n for n in order if n not in dyn]
        raw = z["nn_static_parameters"]
        stat_u = raw[:, :-2].reshape(raw.shape[0], len(stat_names), nmul)
        units = {n: stat_u[:, i] for i, n in enumerate(stat_names)}
        units.update({n: dyn_u[:, :, i] for i, n in enumerate(dyn)})
        route_u = raw[:, -2:]
    else:
        raw = z["nn_raw_parameters"]
        u = (1.0 / (1.0 + np.exp(-raw.astype(np.float64)))).astype(np.float32)
        member = u[..., :-2].reshape(u.shape[:2] + (len(order), nmul))
        units = {n: member[:, :, i] if n in dyn else member[-1, :, i] for i, n in enumerate(order)}
        route_u = u[-1, :, -2:]
    params = {}
    for n, x in units.items():
        lo, hi = (np.float32(b) for b in bounds[n])
        params[n] = x * (hi - lo) + lo
    for j, n in enumerate(("route_a", "route_b")):
        lo, hi = (np.float32(b) for b in case["routing_parameter_bounds"][n])
        params[n] = route_u[:, j] * (hi - lo) + lo
    return params


def _run_case(name, dtype):
    ref = _reference_dir()
    case = json.loads((ref / "manifest.json").read_text())["cases"][name]
    z = np.load(ref / case["file"])
    params = hydrodl2_params(z, case)
    # the adapter reproduces the static physical parameters stored with the case (for dynamic names
    # `params_physical` holds a base value, not what hydrodl2 used, so those are checked via dyn_params_unit)
    for i, n in enumerate(z["param_names"]):
        if n in case["dynamic_params"]:
            if "dyn_params_unit" not in z.files:
                continue
            j = list(z["dyn_param_names"]).index(n)
            np.testing.assert_allclose(params[n], z["dyn_params_unit"][:, :, j] * (
                z["param_upper"][i] - z["param_lower"][i]) + z["param_lower"][i], rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_allclose(params[n], z["params_physical"][:, i], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.stack([params["route_a"], params["route_b"]], -1), z["route_physical"],
                               rtol=1e-6, atol=1e-6)
    cfg = PhyConfig(
        name=HYDRODL2_CLASSES[case["hydrodl2_class"]], nmul=case["nmul"],
        dynamic_params=case["dynamic_params"], routing=case["routing"], warmup=case["warmup_days"],
        warmup_mode="spinup" if case["warmup_states"] else "trim",
        options={"routing_len": case["routing_uh_length_days"]},
    )
    model = get_physics(cfg.name)(cfg)
    forcing = torch.from_numpy(np.stack([z["P"], z["T"], z["PET"]], -1)).to(dtype)
    tparams = {k: torch.from_numpy(np.ascontiguousarray(v)).to(dtype) for k, v in params.items()}
    attrs = {k: torch.from_numpy(z[k]).to(dtype) for k in model.attribute_names}
    out, state = model(forcing, tparams, attrs)
    assert out["streamflow"].shape == (case["output_days"], z["P"].shape[1])
    pairs = {k: (out[k], z[r]) for k, r in SERIES.items() if r in z.files}
    pairs.update({f"final_{k}": (state[k], z[f"final_state_{k}"]) for k in STORES})
    return pairs


@pytest.mark.parametrize("case", _cases())
def test_reference_float32(case):
    errors = {}
    for k, (a, b) in _run_case(case, torch.float32).items():
        a, b = a.double().numpy(), b.astype(np.float64)
        errors[k] = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
    assert {"streamflow", "streamflow_no_rout", "AET", "SWE"} <= set(errors)
    bad = {k: e for k, e in errors.items() if not e <= 1e-5}
    assert not bad, f"{case}: relative errors above 1e-5: {bad}"


@pytest.mark.parametrize("case", _cases())
def test_reference_float64(case):
    errors = {}
    for k, (a, b) in _run_case(case, torch.float64).items():
        a, b = a.numpy(), b.astype(np.float64)
        errors[k] = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)
    bad = {k: e for k, e in errors.items() if not e <= (1e-6 if k in HEADLINE else 1e-5)}
    assert not bad, f"{case}: relative L2 errors above tolerance: {bad}"
