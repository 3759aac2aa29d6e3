"""Gradient-based calibration: Adam recovers TSUM1, SPAN, TDWI and an AMAXTB scale from PCSE's LAI and
TWSO series of one reference case, starting from perturbed values (through the surrogate gradients)."""

from __future__ import annotations

import pytest
import torch
from conftest import pcse_own_dir

from dmg_bmi.domains.crop.pcse import cases_to_batch, load_case
from dmg_bmi.domains.crop.wofost72 import run

NAMES = ("TSUM1", "SPAN", "TDWI", "AMAXTB_SCALE")
START = (1.10, 0.90, 1.15, 0.90)  # perturbation factors of the starting values


@pytest.mark.slow
def test_adam_recovers_parameters_from_lai_and_twso():
    # PCSE's case 30, a short spring-barley season (maturity-ended) where all four parameters shape LAI and
    # TWSO: identifiability is a property of the case, so the test names it
    case = load_case(pcse_own_dir() / "test_potentialproduction_wofost72_30.yaml")
    batch = cases_to_batch([case], extra_days=30)  # room to mature later while perturbed
    n = len(case.results.dates)
    lai_ref = torch.tensor(case.results.values["LAI"])
    twso_ref = torch.tensor(case.results.values["TWSO"])
    true = {k: batch.params[k] for k in NAMES[:3]} | {"AMAXTB_SCALE": torch.ones(1, dtype=torch.float64)}
    start = {k: true[k] * f for k, f in zip(NAMES, START, strict=True)}
    u = torch.zeros(len(NAMES), dtype=torch.float64, requires_grad=True)  # log-factors on the start values
    opt = torch.optim.Adam([u], lr=0.03)
    best = (float("inf"), None)
    for _ in range(80):
        params = dict(batch.params) | {k: start[k] * torch.exp(u[i : i + 1]) for i, k in enumerate(NAMES)}
        out, _ = run(params, batch.weather, batch.calendar, batch.lat, check=False)
        lai, twso = out["LAI"][:n, 0], out["TWSO"][:n, 0]
        loss = (
            ((lai - lai_ref) / lai_ref.std()).pow(2).mean()
            + (lai.clamp(min=0).sqrt() - lai_ref.sqrt()).pow(2).mean()
            + ((twso - twso_ref) / twso_ref.std()).pow(2).mean()
        )
        if loss.item() < best[0]:
            best = (loss.item(), u.detach().clone())
        opt.zero_grad()
        loss.backward()
        opt.step()
    found = {k: float(start[k] * torch.exp(best[1][i])) for i, k in enumerate(NAMES)}
    rel = {k: found[k] / float(true[k]) - 1.0 for k in NAMES}
    print(
        f"\ncalibration: best loss {best[0]:.3g}; relative errors "
        + ", ".join(f"{k} {v:+.3f}" for k, v in rel.items())
    )
    assert all(abs(v) < 0.05 for v in rel.values()), rel
