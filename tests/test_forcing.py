"""Forcing maths against FAO-56 worked examples and hand computations."""

import math

import numpy as np
import pytest
import torch

from dmg_bmi import forcing as F
from dmg_bmi.errors import ConfigError, InputError


# ------------------------------------------------------------------ FAO-56 worked examples
def test_extraterrestrial_radiation_fao56_example_8():
    # Example 8: 20 deg S, 3 September (J = 246): Ra = 32.2 MJ m-2 d-1.
    assert F.extraterrestrial_radiation(-20.0, 246) == pytest.approx(32.2, abs=0.05)


def test_daylight_hours_fao56_example_9():
    # Example 9: 20 deg S, 3 September: N = 11.7 h.
    assert F.daylight_hours(-20.0, 246) == pytest.approx(11.7, abs=0.05)


def test_saturation_vapour_pressure_and_pressure_fao56():
    assert F.saturation_vapour_pressure_kpa(25.0) == pytest.approx(3.168, abs=1e-3)  # Annex 2, table 2.3
    assert F.pressure_from_elevation(1800.0) / 1000 == pytest.approx(81.8, abs=0.05)  # Example 2


def test_net_radiation_fao56_examples_11_12():
    # Rio de Janeiro 22 deg 54' S, 15 May (J = 135): Ra 25.1, Rso 18.8, Rs 14.5 MJ m-2 d-1,
    # Tmax 25.1, Tmin 19.1 degC, ea 2.1 kPa -> Rnl 3.5, Rn = 0.77 * 14.5 - 3.5 = 7.6 MJ m-2 d-1.
    rs_w = 14.5 / 0.0864
    rn = F.net_radiation(rs_w, 19.1, 25.1, 2100.0, -22.9, 135, elevation_m=0.0, albedo=0.23)
    assert rn == pytest.approx(7.6, abs=0.1)


# ------------------------------------------------------------------ PET methods by hand
def test_hargreaves_by_hand():
    ra = 32.2  # FAO-56 example 8
    expected = 0.0023 * (22.0 + 17.8) * math.sqrt(14.0) * ra / 2.45
    got = F.pet_hargreaves(15.0, 29.0, -20.0, 246)
    assert got == pytest.approx(expected, rel=5e-3)


def test_hamon_by_hand():
    n, es = 11.7, 0.6108 * math.exp(17.27 * 20.0 / 257.3)  # N from FAO-56 example 9, es(20) = 2.338 kPa
    expected = 29.8 * n * es / (20.0 + 273.2)
    assert F.pet_hamon(20.0, -20.0, 246) == pytest.approx(expected, rel=5e-3)
    assert F.pet_hamon(-30.0, 60.0, 1) < 0.1  # cold and dark -> almost nothing, never negative
    assert F.pet_hamon(-30.0, 60.0, 1) >= 0.0


def test_priestley_taylor_by_hand():
    # Example 12 conditions (Rn = 7.6), T = 22.1 degC, sea level (P = 101.3 kPa).
    t = 22.1
    es = 0.6108 * math.exp(17.27 * t / (t + 237.3))
    delta = 4098 * es / (t + 237.3) ** 2
    gamma = 0.665e-3 * 101.3
    expected = 1.26 * delta / (delta + gamma) * 7.6 / 2.45
    got = F.pet_priestley_taylor(14.5 / 0.0864, t, 2100.0, -22.9, 135, elevation_m=0.0, tmin_c=19.1,
                                 tmax_c=25.1)
    assert got == pytest.approx(expected, rel=0.02)
    # Pressure given instead of elevation gives the same at sea level.
    got_p = F.pet_priestley_taylor(14.5 / 0.0864, t, 2100.0, -22.9, 135, pressure_pa=101300.0, tmin_c=19.1,
                                   tmax_c=25.1)
    assert got_p == pytest.approx(got, rel=1e-3)


def test_priestley_taylor_clips_negative_net_radiation():
    # High-latitude winter: net longwave loss exceeds the absorbed shortwave, Rn < 0 -> PET 0.
    assert F.net_radiation(2.0, -10.0, -10.0, 200.0, 60.0, 355) < 0.0
    assert F.pet_priestley_taylor(2.0, -10.0, 200.0, 60.0, 355, elevation_m=0.0) == 0.0


def test_hargreaves_refuses_tmax_equal_tmin():
    t = np.linspace(-5, 20, 30)
    with pytest.raises(InputError, match="hamon"):
        F.pet_hargreaves(t, t, 45.0, np.arange(1, 31))
    with pytest.raises(InputError, match="tmax == tmin"):
        F.compute_pet("hargreaves", tmin_c=t, tmax_c=t, lat_deg=45.0, doy=np.arange(1, 31))


def test_compute_pet_dispatch_and_errors():
    got = F.compute_pet("hamon", tmean_c=20.0, lat_deg=-20.0, doy=246, srad_w_m2=None, unused=1.0)
    assert got == pytest.approx(F.pet_hamon(20.0, -20.0, 246))
    with pytest.raises(ConfigError, match="penman.*hamon"):
        F.compute_pet("penman", tmean_c=20.0)
    with pytest.raises(InputError, match="srad_w_m2"):
        F.compute_pet("priestley_taylor", tmean_c=20.0, vp_pa=1000.0, lat_deg=40.0, doy=100, elevation_m=0.0)
    with pytest.raises(InputError, match="elevation_m"):
        F.compute_pet("priestley_taylor", srad_w_m2=200.0, tmean_c=20.0, vp_pa=1000.0, lat_deg=40.0, doy=100)


def test_pet_accepts_torch():
    t = torch.tensor([[5.0, 20.0]], dtype=torch.float64)
    got = F.pet_hamon(t, torch.tensor([[40.0, 50.0]], dtype=torch.float64), 180)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), F.pet_hamon(t.numpy(), np.array([[40.0, 50.0]]), 180), rtol=1e-12)
    pt = F.pet_priestley_taylor(torch.tensor([250.0]), 20.0, 1500.0, 45.0, 180, elevation_m=100.0)
    assert float(pt) == pytest.approx(float(F.pet_priestley_taylor(250.0, 20.0, 1500.0, 45.0, 180,
                                                                  elevation_m=100.0)), rel=1e-6)


# ------------------------------------------------------------------ unit conversions
def test_unit_conversions():
    assert F.CFS_TO_M3S == pytest.approx(0.3048 ** 3, rel=1e-15)  # the international foot, not 0.0283168
    assert F.cfs_to_mm_per_day(1000.0, 100.0) == pytest.approx(1000 * 0.3048 ** 3 * 86400 / 1e8 * 1000,
                                                             rel=1e-12)
    assert F.kelvin_to_celsius(273.15) == 0.0
    assert F.precip_rate_to_mm_per_day(1e-3) == pytest.approx(86.4)
    assert F.vapour_pressure_from_specific_humidity(0.01, 1e5) == pytest.approx(1e3 / (0.622 + 0.00378))
    assert F.w_m2_to_mj_m2_day(100.0) == pytest.approx(8.64)
    assert F.wind_speed(3.0, -4.0) == pytest.approx(5.0)


# ------------------------------------------------------------------ AORC hourly -> daily
def _hourly_day(offset=0.0):
    h = np.arange(24)
    return {
        F.AORC_PRECIP: np.where((h >= 6) & (h < 12), 1e-4, 0.0),  # 6 h at 0.36 mm/h
        F.AORC_TEMP: 280.0 + offset + 5.0 * np.sin(2 * np.pi * h / 24),
        F.AORC_SPFH: np.full(24, 0.006),
        F.AORC_PRES: np.full(24, 95000.0),
        F.AORC_SWDOWN: np.where((h >= 7) & (h < 19), 400.0, 0.0),
        F.AORC_LWDOWN: np.full(24, 300.0),
        F.AORC_U: np.full(24, 3.0),
        F.AORC_V: np.full(24, 4.0),
    }


def test_aorc_hourly_to_daily_by_hand():
    out = F.aorc_hourly_to_daily(_hourly_day(), 40.0, 172, "priestley_taylor")
    assert out["P"] == pytest.approx(6 * 1e-4 * 3600)  # 2.16 mm in the day
    assert out["T"] == pytest.approx(280.0 - 273.15)
    assert out["tmin"] == pytest.approx(275.0 - 273.15) and out["tmax"] == pytest.approx(285.0 - 273.15)
    assert out["vp"] == pytest.approx(0.006 * 95000 / (0.622 + 0.378 * 0.006))
    assert out["srad"] == pytest.approx(200.0) and out["lrad"] == pytest.approx(300.0)
    assert out["wind"] == pytest.approx(5.0) and out["pres"] == pytest.approx(95000.0)
    expected = F.pet_priestley_taylor(200.0, out["T"], out["vp"], 40.0, 172, pressure_pa=95000.0,
                                      tmin_c=out["tmin"], tmax_c=out["tmax"])
    assert out["PET"] == pytest.approx(expected) and out["PET"] > 0
    hg = F.aorc_hourly_to_daily(_hourly_day(), 40.0, 172, {"pet_method": "hargreaves"})
    assert hg["PET"] == pytest.approx(F.pet_hargreaves(275.0 - 273.15, 285.0 - 273.15, 40.0, 172))


def test_aorc_missing_field_and_bad_shape():
    hourly = _hourly_day()
    del hourly[F.AORC_SWDOWN]
    with pytest.raises(InputError, match="shortwave"):
        F.aorc_hourly_to_daily(hourly, 40.0, 172, "priestley_taylor")
    assert F.aorc_required_inputs("hamon") == (F.AORC_PRECIP, F.AORC_TEMP)
    F.aorc_hourly_to_daily(hourly, 40.0, 172, "hamon")  # hamon needs no radiation
    bad = {k: v[:23] for k, v in _hourly_day().items()}
    with pytest.raises(InputError, match="24 hourly"):
        F.aorc_hourly_to_daily(bad, 40.0, 172, "hamon")


def test_aorc_series_equals_per_day_and_torch():
    rng = np.random.default_rng(1)
    days, basins = 3, 2
    series = {k: np.concatenate([np.stack([_hourly_day(rng.normal())[k] * (1 + 0.1 * rng.random(24))
                                           for _ in range(basins)], -1) for _ in range(days)])
              for k in _hourly_day()}
    lat, doy = np.array([35.0, 48.0]), np.array([100, 101, 102])
    out = F.aorc_hourly_series_to_daily(series, lat, doy, "priestley_taylor")
    assert out["PET"].shape == (days, basins)
    for d in range(days):
        for b in range(basins):
            day = {k: v[24 * d:24 * d + 24, b] for k, v in series.items()}
            one = F.aorc_hourly_to_daily(day, lat[b], doy[d], "priestley_taylor")
            for name in ("P", "T", "PET", "tmin", "vp"):
                assert out[name][d, b] == pytest.approx(one[name], rel=1e-12)
    tout = F.aorc_hourly_series_to_daily({k: torch.as_tensor(v) for k, v in series.items()}, lat, doy,
                                         "priestley_taylor")
    np.testing.assert_allclose(tout["PET"].numpy(), out["PET"], rtol=1e-12)


def test_input_derivation_round_trip_and_errors():
    spec = F.InputDerivation(pet_method="priestley_taylor", albedo=0.2)
    assert F.InputDerivation.from_dict(spec.to_dict()) == spec
    assert F.as_derivation("hamon") == F.InputDerivation()
    with pytest.raises(ConfigError, match="pet_methd"):
        F.InputDerivation.from_dict({"pet_methd": "hamon"})
    with pytest.raises(ConfigError, match="thornthwaite"):
        F.InputDerivation(pet_method="thornthwaite")
    with pytest.raises(InputError, match="tmean"):
        spec.model_inputs({"prcp": 1.0}, 40.0, 100)


def test_scalar_path_equals_array_path_and_keeps_nan():
    for method in ("hamon", "hargreaves", "priestley_taylor"):
        scalar = F.aorc_hourly_to_daily(_hourly_day(0.3), 41.0, 200, method)
        batch = F.aorc_hourly_to_daily({k: v[:, None] for k, v in _hourly_day(0.3).items()}, np.array([41.0]),
                                       np.array([200]), method)
        for name in ("P", "T", "PET", "tmin", "tmax"):
            assert isinstance(scalar[name], float)
            assert scalar[name] == pytest.approx(float(batch[name][0]), rel=1e-12), (method, name)
    hourly = _hourly_day()
    hourly[F.AORC_TEMP] = hourly[F.AORC_TEMP].copy()
    hourly[F.AORC_TEMP][5] = np.nan
    out = F.aorc_hourly_to_daily(hourly, 40.0, 172, "priestley_taylor")
    assert math.isnan(out["T"]) and math.isnan(out["PET"]) and math.isnan(out["tmin"])


def test_pet_as_forcing_is_taken_as_given_and_its_absence_is_named():
    """pet_method 'forcing': PET is the daily `pet` variable as given (mm d-1); without it the error says
    which variable a dataset needs and what the BMI input is, not a list of internal argument names."""
    spec = F.InputDerivation(pet_method="forcing")
    daily = {"prcp": np.array([1.0, 2.0]), "tmean": np.array([5.0, 6.0]), "pet": np.array([0.7, 1.9])}
    out = spec.model_inputs(daily, 45.0, np.array([100, 101]))
    np.testing.assert_array_equal(out["PET"], daily["pet"])
    with pytest.raises(InputError, match=r"needs a daily variable 'pet' \(mm d-1\).*water_potential_evap"):
        spec.model_inputs({k: v for k, v in daily.items() if k != "pet"}, 45.0, np.array([100, 101]))
    with pytest.raises(InputError, match=r"needs input\(s\) \['tmean_c'\]; got \['doy', 'lat_deg'\]"):
        F.compute_pet("hamon", lat_deg=45.0, doy=100, tmean_c=None)
