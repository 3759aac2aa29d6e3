"""Gradients of WOFOST 7.2 PP: finite everywhere, equal to finite differences where the model is smooth,
and with the sign of a ±5 % finite difference for the phenology/leaf-age/initial-weight parameters."""

from __future__ import annotations

import pytest
import torch
from conftest import pcse_own_dir

from dmg_bmi.domains.crop.pcse import cases_to_batch, load_dir
from dmg_bmi.domains.crop.wofost72 import run
from dmg_bmi.domains.crop.wofost72.params import SCALARS, TABLES

# Continuous parameters (IDSL is an integer switch; DVSI/DVSEND are stage thresholds of the state machine).
CONTINUOUS = [n for n in SCALARS if n not in ("IDSL",)] + list(TABLES)
SMOOTH = ("CVL", "CVO", "CVR", "CVS", "RML", "RMO", "RMR", "RMS", "Q10", "TDWI", "RGRLAI", "CFET", "PERDL")
EXTRA = 40  # days of repeated weather after a maturity-ended crop's last record, for perturbed runs


@pytest.fixture(scope="module")
def cases(pp_cases):
    return pp_cases


def _replicate(batch, k: int):
    """Repeat every field k times (field-major), so that perturbed copies run in one batch."""
    rep = {n: v.repeat_interleave(k, dim=0) for n, v in batch.params.items()}
    w = {n: v.repeat_interleave(k, dim=1) for n, v in batch.weather.items()}
    return (
        rep,
        w,
        batch.calendar.index(torch.arange(len(batch.names)).repeat_interleave(k)),
        batch.lat.repeat_interleave(k),
    )


def twso_end(params, weather, cal, lat, **kw):
    out, state = run(params, weather, cal, lat, check=False, **kw)
    return out["TWSO"][state["DOF"], torch.arange(lat.shape[0])]


@pytest.mark.slow
def test_gradients_finite_for_every_continuous_parameter(cases):
    batch = cases_to_batch(cases)
    params = {n: (v.clone().requires_grad_(True) if n in CONTINUOUS else v) for n, v in batch.params.items()}
    twso_end(params, batch.weather, batch.calendar, batch.lat).sum().backward()
    for n in CONTINUOUS:
        g = params[n].grad
        if g is None:  # no path to TWSO at all (rooting depth does not limit potential production)
            assert n in ("RDI", "RRI", "RDMCR", "RDMSOL"), n
            continue
        assert torch.isfinite(g).all(), n
    for n in ("TSUM1", "TSUM2", "TDWI", "CVO", "AMAXTB", "SLATB", "FOTB"):
        assert (params[n].grad != 0).any(), n


def test_matches_central_differences_where_smooth(cases):
    """Parameters that move no event date: autograd equals central differences (float64, h = 1e-6 rel.)."""
    sub = [c for c in cases if len(c.results.dates) < 120][:2] + [cases[0]]
    batch = cases_to_batch(sub)
    names = list(SMOOTH) + ["AMAXTB", "SLATB"]
    k = 1 + 2 * len(names)
    params, w, cal, lat = _replicate(batch, k)
    nb = len(sub)
    rel = 1e-6
    pert = {n: params[n].clone() for n in names}
    for j, n in enumerate(names):
        for sign, off in ((1.0, 1 + 2 * j), (-1.0, 2 + 2 * j)):
            idx = torch.arange(nb) * k + off
            if n in TABLES:  # perturb the y-values (all of them, by the same relative step)
                pert[n][idx, :, 1] *= 1 + sign * rel
            else:
                pert[n][idx] *= 1 + sign * rel
    grads = {n: params[n][::k].clone().requires_grad_(True) for n in names}
    base = dict(batch.params, **grads)
    twso_end(base, batch.weather, batch.calendar, batch.lat).sum().backward()
    with torch.no_grad():
        y = twso_end(dict(params, **pert), w, cal, lat).reshape(nb, k)
    for j, n in enumerate(names):
        fd = (y[:, 1 + 2 * j] - y[:, 2 + 2 * j]) / 2.0
        g = grads[n].grad
        ad = g[:, :, 1].mul(params[n][::k, :, 1]).sum(1) * rel if n in TABLES else g * params[n][::k] * rel
        torch.testing.assert_close(ad, fd, rtol=1e-4, atol=1e-6, msg=lambda m, n=n: f"{n}: {m}")


@pytest.mark.slow
def test_event_parameters_sign_of_five_percent_differences():
    """TSUM1, TSUM2, SPAN, TDWI: d TWSO_end / d p is non-zero and has the sign of a ±5 % central difference,
    on PCSE's own 44 cases (a property of those cases: on perturbed PCSE cases made by
    tools/make_pcse_cases.py, 3 of 60 maturity-ended ones have a TSUM1 gradient of the other sign).

    Where ±5 % of SPAN leaves TWSO unchanged (no leaf reaches the age limit while it matters) the
    difference is 0 and any SPAN gradient is accepted (the look-ahead surrogate may see the limit, see
    leaves.age_death)."""
    cases = load_dir(pcse_own_dir(), "test_potentialproduction_wofost72_*.yaml")
    batch = cases_to_batch(cases, extra_days=EXTRA)
    names = ("TSUM1", "TSUM2", "SPAN", "TDWI")
    k = 1 + 2 * len(names)
    params, w, cal, lat = _replicate(batch, k)
    nb = len(cases)
    for j, n in enumerate(names):
        for sign, off in ((1.0, 1 + 2 * j), (-1.0, 2 + 2 * j)):
            idx = torch.arange(nb) * k + off
            params[n] = params[n].clone()
            params[n][idx] *= 1 + sign * 0.05
    with torch.no_grad():
        y = twso_end(params, w, cal, lat).reshape(nb, k)
    grads = {n: batch.params[n].clone().requires_grad_(True) for n in names}
    twso_end(dict(batch.params, **grads), batch.weather, batch.calendar, batch.lat).sum().backward()
    for j, n in enumerate(names):
        fd = y[:, 1 + 2 * j] - y[:, 2 + 2 * j]
        g = grads[n].grad
        assert torch.isfinite(g).all(), n
        moved = fd != 0  # where ±5 % leaves TWSO unchanged there is no sign to match
        assert (g[moved] != 0).all(), (n, g, fd)
        assert (torch.sign(g[moved]) == torch.sign(fd[moved])).all(), (n, g, fd)
        if n != "SPAN":
            assert (g != 0).all(), (n, g)
