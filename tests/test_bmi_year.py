"""A year of hourly real forcing (ngen_dhbv2_mts, cat-2453) through DeltaModelBmi:
midnight outputs == offline daily run, ngen mass balance closes, mid-run restore == uninterrupted."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from conftest import shared_path
from ngen_driver import read_forcing
from test_bmi import IDX0, PRECIP, RUNOFF, TEMP, make, offline_daily

from dmg_bmi.ngen.demo import make_demo_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.numpy1]

DAYS = 365
LAT = 41.0  # any fixed latitude: both paths derive Hamon PET from the same one
MASS = ("ngen::mass_in", "ngen::mass_out", "ngen::mass_stored", "ngen::mass_leaked")


@pytest.fixture(scope="module")
def year():
    path = shared_path("hydro", "hourly", "ngen_dhbv2_mts", "forcing", "cat-2453.csv")
    times, cols = read_forcing(path)
    assert times[0].hour == 0
    n = DAYS * 24
    p_mm_h, _ = cols["precip_rate"]
    t_k, _ = cols["TMP_2maboveground"]
    const = {  # fields this file lacks; Hamon PET (the demo checkpoint's method) does not use them
        "atmosphere_air_water~vapor__relative_saturation": 0.004, "land_surface_air__pressure": 1.0e5,
        "land_surface_radiation~incoming~shortwave__energy_flux": 150.0,
        "land_surface_radiation~incoming~longwave__energy_flux": 300.0,
        "land_surface_wind__x_component_of_velocity": 1.0, "land_surface_wind__y_component_of_velocity": 1.0,
    }
    f = {PRECIP: p_mm_h[:n] / 3600.0, TEMP: t_k[:n], **{k: np.full(n, v) for k, v in const.items()}}
    doy = np.array([(times[0].date() + timedelta(days=d)).timetuple().tm_yday for d in range(DAYS)])
    return f, times[0], doy


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_demo_checkpoint(tmp_path_factory.mktemp("y") / "demo.pt")  # production shape: nmul 16


def run(bmi, f, k0, k1, record=None):
    ptrs = [bmi.get_value_ptr(n) for n in MASS]
    worst = 0.0
    values = np.array([bmi.get_value_ptr(n)[0] for n in bmi.get_input_var_names()])
    for k in range(k0, k1):
        for i, name in enumerate(bmi.get_input_var_names()):
            values[i] = f[name][k]
            bmi.set_value(name, values[i : i + 1])
        bmi.update()
        if record is not None:
            record.append(bmi.get_value_at_indices(RUNOFF, np.zeros(1), IDX0)[0])
        m_in, m_out, m_st, m_leak = (p[0] for p in ptrs)
        worst = max(worst, abs(m_in - m_out - m_st - m_leak))
    return worst


def test_year_hourly_equals_offline_daily_and_conserves_mass(tmp_path, year, ckpt):
    f, start, doy = year
    end = (start + timedelta(days=DAYS) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    bmi = make(tmp_path, ckpt, latitude=LAT, start_time=start.strftime("%Y-%m-%d %H:%M:%S"), end_time=end)
    hourly: list[float] = []
    worst = run(bmi, f, 0, DAYS * 24, hourly)
    assert bmi.get_current_time() == bmi.get_end_time()
    got = np.array(hourly)[23::24] * 1000.0 * 24.0  # m per hour -> mm/d at midnight-aligned hours
    ref = offline_daily(ckpt, f, LAT, doy)["streamflow"]
    assert date(2008, 1, 9) == start.date() and ref.shape == (DAYS,)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)  # measured 7e-16 (float64 both ways)
    assert worst < 1e-12, f"mass balance residual {worst} m"
    m_in = bmi.get_value_ptr("ngen::mass_in")[0]
    assert m_in > 0.5  # about a metre of rain a year: the balance was tested on real amounts


def test_mid_run_restore_equals_uninterrupted(tmp_path, year, ckpt):
    f, start, _ = year
    n, cut = 60 * 24, 31 * 24 + 7  # restore at an hour that is not midnight
    ref, first = (make(tmp_path, ckpt, latitude=LAT) for _ in range(2))
    out_ref: list[float] = []
    run(ref, f, 0, n, out_ref)
    run(first, f, 0, cut)
    first.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    size = int(first.get_value("ngen::serialization_size", np.zeros(1, dtype=np.int64))[0])
    blob = first.get_value("ngen::serialization_state", np.zeros(size, dtype=np.uint8)).copy()
    second = make(tmp_path, ckpt, latitude=LAT)
    second.set_value("ngen::serialization_size", np.array([size], dtype=np.int64))
    second.set_value("ngen::serialization_state", blob)
    out_new: list[float] = []
    run(second, f, cut, n, out_new)
    assert out_new == out_ref[cut:]  # bit-for-bit
    for name in MASS:
        assert second.get_value_ptr(name)[0] == ref.get_value_ptr(name)[0]
