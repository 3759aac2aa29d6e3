"""WOFOST 7.2 PP against PCSE-format reference cases: every YAML file of every folder of `pcse_pp_dirs()`
(PCSE's 44 and the extra cases, or `$DMG_BMI_PCSE_PP_DIR`), all in one batched call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmg_bmi.core.config import PhyConfig
from dmg_bmi.core.registry import get_physics
from dmg_bmi.domains.crop.pcse import cases_to_batch
from dmg_bmi.domains.crop.wofost72 import run
from dmg_bmi.domains.crop.wofost72.physics import Wofost72PP

VARS = ("DVS", "LAI", "RD", "TAGP", "TRA", "TWLV", "TWRT", "TWSO", "TWST")
F32_FACTOR = 50.0  # float32 tolerance = 50 × the file's Precision (see test_all_cases_float32)


@pytest.fixture(scope="module")
def cases(pp_cases):
    return pp_cases


def compare(cases, batch, out, state, factor=1.0, rd_day=False):
    """(max abs error per variable, failures as (case, var, date, error, tolerance)); `rd_day`: RD may also
    be one day's root growth (RRI) off."""
    worst, fails = dict.fromkeys(VARS, 0.0), []
    for b, case in enumerate(cases):
        days = [batch.day_index(b, d) for d in case.results.dates]
        if int(state["DOF"][b]) != days[-1]:
            fails.append((case.name, "finish day", int(state["DOF"][b]), days[-1], 0))
        for v in case.precision:  # every variable of the file's Precision block
            err = np.abs(case.results.values[v] - out[v][days, b].double().numpy())
            worst[v] = max(worst.get(v, 0.0), float(err.max()))
            tol = factor * case.precision[v]
            if rd_day and v == "RD":
                tol = max(tol, 1.001 * case.params["RRI"])
            if (err >= tol).any():
                i = int(np.argmax(err >= tol))
                fails.append((case.name, v, str(case.results.dates[i]), float(err[i]), tol))
    return worst, fails


def _run(cases, dtype):
    batch = cases_to_batch(cases, dtype=dtype)
    with torch.no_grad():
        out, state = run(batch.params, batch.weather, batch.calendar, batch.lat, field_names=batch.names)
    return batch, out, state


def test_all_cases_float64(cases):
    batch, out, state = _run(cases, torch.float64)
    worst, fails = compare(cases, batch, out, state)
    print(
        f"\nfloat64, {len(cases)} cases, max |model - PCSE|: "
        + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
    )
    assert not fails, fails[:10]


@pytest.mark.slow
def test_all_cases_float32(cases):
    """Single precision: mostly within the file's Precision; exact ties LVAGE == SPAN (temperatures in 0.05 °C
    steps) can be decided differently by float32 rounding, moving one day of leaf death (case 30: LAI 0.29 on
    one day, TAGP 4 kg/ha), so the documented float32 tolerance is 50 × Precision. Roots grow while FR != 0:
    where FRTB reaches 0 at DVS 1.0 (roots_at_anthesis) PCSE's float64 lookup at 1.0 leaves 5.6e-17, float32
    leaves 0, so RD may be one day's RRI short."""
    batch, out, state = _run(cases, torch.float32)
    worst, fails = compare(cases, batch, out, state, F32_FACTOR, rd_day=True)
    print(
        f"\nfloat32, {len(cases)} cases, max |model - PCSE|: "
        + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
    )
    assert not fails, fails[:10]


def test_date_axis_equals_start_axis(cases):
    """Fields starting on different dates on one calendar axis (masked before start) give the same crop."""
    sub, starts = [], set()
    for case in sorted(cases, key=lambda c: len(c.results.dates)):  # short seasons with distinct start dates
        if case.calendar["crop_start_date"] not in starts and len(sub) < 3:
            sub.append(case)
            starts.add(case.calendar["crop_start_date"])
    a = cases_to_batch(sub)
    d = cases_to_batch(sub, align="date")
    assert len(set(d.calendar.start.tolist())) > 1
    with torch.no_grad():
        oa, _ = run(a.params, a.weather, a.calendar, a.lat)
        od, _ = run(d.params, d.weather, d.calendar, d.lat)
    for b in range(len(sub)):
        s = int(d.calendar.start[b])
        n = len(sub[b].results.dates)
        assert od["ACTIVE"][:s, b].sum() == 0
        for v in VARS:
            torch.testing.assert_close(od[v][s : s + n, b], oa[v][:n, b], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("prepared", [False, True], ids=["raw", "step_params"])
def test_step_equals_sequence(cases, prepared):
    sub = [min(cases, key=lambda c: len(c.results.dates))]
    batch = cases_to_batch(sub)
    cls = get_physics("wofost72_pp")
    assert cls is Wofost72PP
    phy = cls(PhyConfig(name="wofost72_pp", warmup=0, options={"n_days": batch.weather["IRRAD"].shape[0]}))
    forcing = torch.stack([batch.weather[n] for n in phy.forcing_names], dim=-1)
    attrs = {"LAT": batch.lat, **batch.calendar.to_attrs()}
    with torch.no_grad():
        seq, _ = phy(forcing, batch.params, attrs)
        state = phy.initial_state(len(sub), torch.float64)
        params = phy.step_params(batch.params, attrs) if prepared else batch.params
        rows = []
        for t in range(forcing.shape[0]):
            state, out = phy.step(state, forcing[t], params, attrs)
            rows.append(out)
    for v in phy.output_names:
        torch.testing.assert_close(torch.stack([r[v] for r in rows]), seq[v], rtol=0, atol=0)
