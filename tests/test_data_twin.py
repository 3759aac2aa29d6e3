"""Synthetic twin: determinism, bounds, sanity of weather and flow, file round trip."""

import numpy as np
import pytest

from dmg_bmi.core.registry import get_physics
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.domains.hydrology import twin
from dmg_bmi.errors import InputError


@pytest.fixture(scope="module")
def small():
    return twin.make_twin(n_basins=6, years=2, seed=3, spinup_years=1)


def test_deterministic_by_seed(small):
    again = twin.make_twin(n_basins=6, years=2, seed=3, spinup_years=1)
    other = twin.make_twin(n_basins=6, years=2, seed=4, spinup_years=1)
    for name in small.dynamic:
        np.testing.assert_array_equal(small.dynamic[name], again.dynamic[name])
    for name in small.static:
        np.testing.assert_array_equal(small.static[name], again.static[name])
    assert not np.allclose(small.dynamic["P"], other.dynamic["P"])


def test_true_parameters_follow_attributes_within_bounds(small):
    specs = {s.name: s for s in get_physics("hbv_1_1p")(twin_cfg()).param_specs()}
    for name, spec in specs.items():
        value = small.static[f"true_{name}"]
        assert np.all((value >= spec.lo) & (value <= spec.hi)), name
    fc = small.static["true_parFC"]
    assert np.corrcoef(fc, small.static["soil_depth"])[0, 1] > 0.999  # FC grows with soil depth
    assert np.corrcoef(small.static["true_parK0"], small.static["slope"])[0, 1] > 0.999
    assert np.ptp(small.static["true_parFC"]) > 100.0  # varies strongly across basins
    assert np.ptp(small.static["true_parK2"]) == 0.0  # fixed


def twin_cfg():
    from dmg_bmi.core.config import PhyConfig

    return PhyConfig(name="hbv_1_1p", nmul=1, routing=True, warmup=0)


def test_weather_and_flow_are_plausible(small):
    p, t, pet = small.dynamic["P"], small.dynamic["T"], small.dynamic["PET"]
    assert small.n_time == 365 * 2 + 1  # 2000 is a leap year
    assert np.all(p >= 0) and np.all(pet >= 0)
    wet = (p > 0).mean(1)
    assert np.all((wet > 0.15) & (wet < 0.65))
    np.testing.assert_allclose(p.mean(1), small.static["p_mean"], rtol=0.35)
    # Seasonal temperature: July warmer than January everywhere (northern hemisphere).
    july, jan = small.doy == 200, small.doy == 15
    assert np.all(t[:, july].mean(1) > t[:, jan].mean(1) + 5)
    q, q_true = small.target("streamflow"), small.target("streamflow_true")
    assert np.all(np.isfinite(q)) and np.all(q >= 0)
    ratio = q_true.mean(1) / p.mean(1)
    assert np.all((ratio > 0.0) & (ratio < 1.0))  # mass: runoff below precipitation
    log_err = np.log(np.maximum(q, 1e-9) / np.maximum(q_true, 1e-9))
    assert 0.05 < log_err.std() < 0.2  # the multiplicative noise (sigma 0.1)
    assert small.derivation.pet_method == "hamon"
    np.testing.assert_allclose(small.static["aridity"], pet.mean(1) / p.mean(1))


def test_file_round_trip_and_bad_args(tmp_path, small):
    path = twin.write_twin(tmp_path / "twin.nc", n_basins=2, years=1, seed=0, spinup_years=0)
    ds = HydroDataset.load(path)
    assert ds.n_basins == 2 and "true_parBETA" in ds.attribute_names
    assert ds.units["true_parFC"] == "mm"
    with pytest.raises(InputError, match="n_basins"):
        twin.make_twin(n_basins=0)


@pytest.mark.slow
def test_varying_parameters_are_identifiable():
    """An attribute -> parameter MLP trained on 30 twins (other parameters held at their true values) recovers
    FC, BETA, K0 and K1 of 10 held-out twins (r > 0.8) with held-out NSE > 0.9."""
    import torch

    from dmg_bmi.core.config import PhyConfig

    torch.manual_seed(0)
    ds = twin.make_twin(n_basins=40, years=4, seed=1)
    model = get_physics("hbv_1_1p")(PhyConfig(nmul=1, routing=True, warmup=365))
    specs = model.param_specs()
    learn = [s for s in specs if s.name in twin.VARYING_PARAMS]
    names = [n for n in twin.DRAWN_ATTRIBUTES if n != "lon"] + list(twin.DERIVED_UNITS)
    a = ds.attributes(names)
    a = torch.as_tensor((a - a.mean(0)) / a.std(0))
    x = torch.as_tensor(ds.forcings(["P", "T", "PET"]).transpose(1, 0, 2))
    obs = torch.as_tensor(ds.target("streamflow").T[365:])
    net = torch.nn.Sequential(torch.nn.Linear(len(names), 32), torch.nn.Tanh(),
                              torch.nn.Linear(32, len(learn))).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)

    def run(idx):
        u = torch.sigmoid(net(a[idx]))
        p = {s.name: torch.as_tensor(ds.static["true_" + s.name][idx]) for s in specs}
        p.update({s.name: s.lo + u[:, i] * (s.hi - s.lo) for i, s in enumerate(learn)})
        p = {s.name: p[s.name][:, None] if s.per_member else p[s.name] for s in specs}
        q = model(x[:, idx], p)[0]["streamflow"]
        o = obs[:, idx]
        return p, 1 - ((q - o) ** 2).sum(0) / ((o - o.mean(0)) ** 2).sum(0)

    train, test = np.arange(30), np.arange(30, 40)
    for _ in range(100):
        loss = (1 - run(train)[1]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        p, nse = run(test)
    assert float(nse.median()) > 0.9
    for name in twin.VARYING_PARAMS:
        r = np.corrcoef(p[name][:, 0].numpy(), ds.static["true_" + name][test])[0, 1]
        assert r > 0.8, (name, r)


def test_fixed_params_hold_the_twin_values_in_a_delta_model():
    import torch

    from dmg_bmi.core.config import ModelConfig, from_dict
    from dmg_bmi.core.delta import DeltaModel

    cfg = from_dict(ModelConfig, {"phy": {"name": "hbv_1_1p", "nmul": 2, "warmup": 0,
                                          "fixed_params": twin.fixed_params()}, "nn": {"name": "mlp"}})
    model = DeltaModel.from_config(cfg, 3, 4)
    params = model.static_params(torch.randn(5, 4))
    fixed = twin.fixed_params()
    assert "parRT" not in fixed and fixed["parUZL"] == twin.FIXED_PARAMS["parUZL"]
    for name, value in fixed.items():
        assert torch.allclose(params[name], torch.full_like(params[name], value)), name
    assert params["parFC"].std() > 0  # the varying ones are still learned
