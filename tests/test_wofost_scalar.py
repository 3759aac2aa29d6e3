"""The one-field WOFOST path on Python floats (`wofost72.scalar`) against the batched torch model: every
reference case of `pcse_pp_dirs()` every day, hot starts, the dispatch of `model.run` at batch 1, and the
crop BMI handler's day against `Wofost72PP.step`."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import REPO
from test_wofost_pcse import compare

from dmg_bmi.domains.crop.pcse import cases_to_batch
from dmg_bmi.domains.crop.wofost72 import model, scalar
from dmg_bmi.domains.crop.wofost72.calendar import Calendar
from dmg_bmi.domains.crop.wofost72.params import prepare

TOL = 1e-12  # relative, or absolute below 1 (kg ha-1, cm, ha ha-1: all outputs are O(1) or larger)
CKPT = REPO / "bmi_configs" / "crop_twin_wofost72.pt"
CONFIG = REPO / "bmi_configs" / "crop_twin.yml"


def _field(batch, b: int):
    """Field `b` of a batch as a batch of one: (params, weather, calendar, lat)."""
    params = {k: v[b : b + 1] for k, v in batch.params.items()}
    weather = {k: v[:, b : b + 1] for k, v in batch.weather.items()}
    return params, weather, batch.calendar.index(torch.tensor([b])), batch.lat[b : b + 1]


def _scalar_season(params, weather, calendar: Calendar, lat, state=None, t0=0):
    """The scalar path called directly: (outputs {name: [T]} as lists, scalar state)."""
    f = scalar.field(prepare(params), calendar, lat)
    s = scalar.initial_state(weather["IRRAD"].shape[0]) if state is None else state
    rows = [dict(zip(model.WEATHER_NAMES, r, strict=True))
            for r in torch.stack([weather[k][:, 0] for k in model.WEATHER_NAMES], 1).tolist()]
    out = {k: [] for k in model.OUTPUT_NAMES}
    for i, row in enumerate(rows[t0:]):
        s, o = scalar.day(f, s, row, t0 + i)
        for k in model.OUTPUT_NAMES:
            out[k].append(o[k])
    return out, s


def _worst(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest |a − b| / max(1, |b|) (0 for equal non-finite values, e.g. the unwritten slots' float max)."""
    a, b = a.double(), b.double()
    same = a == b
    d = torch.where(same, 0.0, (a - b).abs() / b.abs().clamp(min=1.0))
    return float(d.max()) if d.numel() else 0.0


@pytest.fixture(scope="module")
def reference(pp_cases):
    """The cases as one batch (at least 2 fields, so `run` takes the batched torch path) and its run."""
    cases = pp_cases if len(pp_cases) > 1 else pp_cases * 2
    batch = cases_to_batch(cases)
    with torch.no_grad():
        out, state = model.run(batch.params, batch.weather, batch.calendar, batch.lat,
                               field_names=batch.names)
    return cases, batch, out, state


@pytest.fixture(scope="module")
def scalar_runs(reference, request):
    """`model.run` of every field alone (batch 1: the scalar path; `model.day_step` is not called)."""
    cases, batch, _, _ = reference
    calls = []
    real = model.day_step
    model.day_step = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        with torch.no_grad():
            runs = [model.run(*_field(batch, b)) for b in range(len(cases))]
    finally:
        model.day_step = real
    assert not calls, "model.run at batch 1 without gradients stepped the torch day"
    return runs


def test_every_case_equals_the_batched_torch_model(reference, scalar_runs):
    cases, batch, out, state = reference
    worst = 0.0
    for b, (o, s) in enumerate(scalar_runs):
        for k in model.OUTPUT_NAMES:
            assert o[k].shape == (out[k].shape[0], 1) and o[k].dtype == torch.float64
            err = _worst(o[k][:, 0], out[k][:, b])
            assert err <= TOL, (cases[b].name, k, err)
            worst = max(worst, err)
        assert set(s) == set(state)
        for k, v in state.items():
            ref = v if v.ndim == 0 else v[b : b + 1]
            assert s[k].dtype == ref.dtype and s[k].shape == ref.shape, k
            if ref.is_floating_point():
                assert _worst(s[k], ref) <= TOL, (cases[b].name, k)
            else:
                assert torch.equal(s[k], ref), (cases[b].name, k)
    print(f"\nscalar vs batched torch float64, {len(cases)} cases: max relative difference {worst:.2e}")


def test_every_case_matches_pcse(reference, scalar_runs):
    """The scalar runs against PCSE's expected values, as tests/test_wofost_pcse.py checks the batch."""
    cases, batch, _, _ = reference
    out = {k: torch.cat([o[k] for o, _ in scalar_runs], 1) for k in model.OUTPUT_NAMES}
    state = {"DOF": torch.cat([s["DOF"] for _, s in scalar_runs])}
    worst, fails = compare(cases, batch, out, state)
    assert not fails, fails[:10]
    assert max(worst.values()) < 1e-6


def _short_cases(cases, batch, n=3):
    """Up to `n` fields covering sowing and emergence starts, maturity ends and vernalisation (IDSL >= 2),
    the shortest of each kind."""
    order = sorted(range(len(cases)), key=lambda b: int(batch.calendar.end[b]) - int(batch.calendar.start[b]))
    kinds = [lambda b: not bool(batch.calendar.emerged[b]), lambda b: bool(batch.calendar.emerged[b]),
             lambda b: bool(batch.calendar.at_maturity[b]), lambda b: float(batch.params["IDSL"][b]) >= 2]
    picked = []
    for kind in kinds:
        b = next((b for b in order if kind(b)), None)
        if b is not None and b not in picked:
            picked.append(b)
    return picked[: max(n, 1)]


def test_a_day_equals_the_torch_day_at_batch_one_bit_for_bit(reference):
    """The BMI's engine: the scalar day equals `model.day_step` on one field (drivers of that day, as
    `Wofost72PP.step` prepares them), every output and state bit, on a few seasons."""
    cases, batch, _, _ = reference
    for b in _short_cases(cases, batch, n=4):
        params, weather, cal, lat = _field(batch, b)
        n_days = weather["IRRAD"].shape[0]
        with torch.no_grad():
            p = prepare(params)
            init = model.crop_init(p, cal)
            st = model.initial_state(1, n_days)
            f = scalar.field(p, cal, lat)
            s = scalar.initial_state(n_days)
            for t in range(n_days):
                w = {k: v[t] for k, v in weather.items()}
                st, out = model.day_step(st, model.prepare_drivers(w, lat, p), p, cal, t, init)
                s, o = scalar.day(f, s, {k: float(v[0]) for k, v in w.items()}, t)
                assert [float(out[k][0]) for k in model.OUTPUT_NAMES] == [o[k] for k in model.OUTPUT_NAMES], (
                    cases[b].name, t)
        back = scalar.state_to_tensors(s)
        assert all(torch.equal(back[k], v) for k, v in st.items()), cases[b].name
        assert o["ACTIVE"] == 0.0 and s["FINISHED"]  # the season ran to its end


def test_state_round_trip_is_exact(reference):
    """A field's state from the batched loop -> scalar state -> torch state: the same tensors, exactly."""
    cases, batch, _, state = reference
    for b in _short_cases(cases, batch, n=2):
        s = scalar.state_from_tensors(state, b)
        assert len(s["LV_W"]) == int(state["DAY"][b]) and s["SLOTS"] == state["LV_W"].shape[1]
        back = scalar.state_to_tensors(s)
        assert list(back) == list(state)
        for k, v in state.items():
            ref = v if v.ndim == 0 else v[b : b + 1]
            assert back[k].dtype == ref.dtype and back[k].shape == ref.shape and torch.equal(back[k], ref), k
    f32 = scalar.state_to_tensors({**s, "SLOTS": s["SLOTS"] + 2}, torch.float32)
    assert f32["LV_W"].dtype == torch.float32 and f32["DAY"].dtype == torch.long
    assert f32["LV_W"].shape == (1, s["SLOTS"] + 2)
    assert float(f32["LV_W"][0, -1]) == torch.finfo(torch.float32).max  # unwritten slots hold float32's max


@pytest.mark.parametrize("k_frac", [0.25, 0.6])
def test_hot_start_equals_the_uninterrupted_run(reference, scalar_runs, k_frac):
    """A state saved at day k as tensors and continued (through `model.run(state=...)` at batch 1, and
    through `scalar.day` directly) equals the uninterrupted run bit for bit."""
    cases, batch, _, _ = reference
    b = max(range(len(cases)), key=lambda b: int(batch.calendar.end[b]))  # the longest season
    params, weather, cal, lat = _field(batch, b)
    n_days = weather["IRRAD"].shape[0]
    k = int(k_frac * n_days)
    full, full_state = scalar_runs[b]
    with torch.no_grad():
        _, first = model.run(params, {n: v[:k] for n, v in weather.items()}, cal, lat, check=False)
        # the state of a k-day run has k slots; continuing needs n_days: refit as the BMI handler does
        saved = scalar.state_from_tensors(first)
        saved["SLOTS"] = n_days
        state = scalar.state_to_tensors(saved)
        rest, end = model.run(params, {n: v[k:] for n, v in weather.items()}, cal, lat, state=state)
    for name in model.OUTPUT_NAMES:
        assert torch.equal(rest[name], full[name][k:]), name
    assert all(torch.equal(end[n], full_state[n]) for n in full_state)
    direct, s = _scalar_season(params, weather, cal, lat, state=scalar.state_from_tensors(state), t0=k)
    assert direct["TAGP"] == full["TAGP"][k:, 0].tolist()
    assert all(torch.equal(v, full_state[n]) for n, v in scalar.state_to_tensors(s).items())
    assert float(full["TAGP"][-1, 0]) > float(full["TAGP"][k, 0]) > 0  # the crop grew after day k


def test_batch_one_with_a_gradient_takes_the_torch_path(reference, scalar_runs):
    cases, batch, _, _ = reference
    b = _short_cases(cases, batch, n=1)[0]
    params, weather, cal, lat = _field(batch, b)
    params = dict(params)
    params["TDWI"] = params["TDWI"].clone().requires_grad_(True)
    out, _ = model.run(params, weather, cal, lat)
    assert out["TWSO"].requires_grad
    out["TAGP"][-1].sum().backward()
    assert params["TDWI"].grad is not None and float(params["TDWI"].grad.abs()) > 0
    assert _worst(out["TAGP"].detach()[:, 0], scalar_runs[b][0]["TAGP"][:, 0]) <= TOL


def test_batch_one_float32_runs_in_float64_and_returns_float32(reference, scalar_runs):
    cases, batch, _, _ = reference
    b = _short_cases(cases, batch, n=1)[0]
    params, weather, cal, lat = _field(batch, b)
    with torch.no_grad():
        out, state = model.run({k: v.float() for k, v in params.items()},
                               {k: v.float() for k, v in weather.items()}, cal, lat.float())
    assert all(v.dtype == torch.float32 and v.shape == (weather["IRRAD"].shape[0], 1) for v in out.values())
    assert state["LV_W"].dtype == torch.float32 and state["TOKEN"].dtype == torch.float32
    ref = scalar_runs[b][0]["TAGP"][:, 0]
    assert float((out["TAGP"][:, 0].double() - ref).abs().max()) <= 1e-6 * float(ref.abs().max())


def test_the_handler_day_equals_the_physics_step():
    """The crop BMI's handler steps `scalar.day`: its outputs equal `Wofost72PP.step` on the same inputs,
    bit for bit, and `state_to_arrays` writes what the torch state holds; a restored state continues."""
    import yaml

    from dmg_bmi.domains.crop.dataset import CropCalendar
    from dmg_bmi.domains.crop.delta import PHYSICS_WEATHER
    from dmg_bmi.domains.crop.handler import OUTPUTS, CropHandler

    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    calendar = CropCalendar.from_dict(cfg["crop_calendar"])
    attrs = {**cfg["attributes"], "lat": cfg["latitude"]}
    run_start = calendar.crop_start_date.replace(day=1)
    n_days = (calendar.crop_end_date - run_start).days + 5
    handler = CropHandler.load(CKPT)
    handler.bind(attrs, calendar, run_start, n_days)
    rng = np.random.default_rng(0)
    weather = []
    for d in range(n_days):
        doy = float(run_start.timetuple().tm_yday + d)
        season = math.sin(2 * math.pi * (doy - 80) / 365)
        tmin = 6.0 + 8.0 * season + rng.normal(0, 2)
        weather.append({"IRRAD": 1.2e7 + 1.2e7 * season + rng.uniform(-4e6, 4e6), "TMIN": tmin,
                        "TMAX": tmin + rng.uniform(6, 14), "E0": 0.5, "ES0": 0.45, "ET0": 0.4,
                        "RAIN": rng.gamma(0.5, 0.8) * (rng.uniform() < 0.3), "DOY": doy})
    state = handler.initial_state()
    st = handler.phy.initial_state(1, torch.float64)
    lai = []
    with torch.no_grad():
        for d, w in enumerate(weather):
            state, out = handler.advance(state, w)
            row = {**w, "TEMP": 0.5 * (w["TMIN"] + w["TMAX"])}
            x = torch.tensor([[row[n] for n in PHYSICS_WEATHER]], dtype=torch.float64)
            st, ref = handler.phy.step(st, x, handler.prepared, handler.attrs_phy)
            assert out == {k: float(ref[k][0]) for k in OUTPUTS}, d
            lai.append(out["LAI"])
            if d % 40 == 0 or d == n_days - 1:
                arrays = handler.state_to_arrays(state)
                assert list(arrays) == list(st)
                for k, v in st.items():
                    assert arrays[k].dtype == v.numpy().dtype and np.array_equal(arrays[k], v.numpy()), (d, k)
                back = handler.state_from_arrays(arrays)
                assert handler.state_to_arrays(back).keys() == arrays.keys()
                assert all(np.array_equal(handler.state_to_arrays(back)[k], a) for k, a in arrays.items())
    assert max(lai) > 1.0  # the crop grew: the comparison covered growth
