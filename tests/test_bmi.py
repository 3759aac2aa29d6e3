"""DeltaModelBmi: what bmi-tester never calls (update, update_until, set_value*, get_value_ptr,
get_value_at_indices, time functions, finalize), the hourly daily-chain design, protocols and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import shared_path
from ngen_driver import read_forcing

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core import variables as V
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.domains.crop import variables as crop_variables
from dmg_bmi.domains.hydrology import variables as hydro_variables
from dmg_bmi.errors import CheckpointError, ConfigError, InputError
from dmg_bmi.forcing import aorc_hourly_series_to_daily
from dmg_bmi.ngen.demo import DEMO_ATTRIBUTES, make_demo_checkpoint

pytestmark = pytest.mark.numpy1

ATTRS = {"p_mean": 3.5, "pet_mean": 2.2, "aridity": 0.63, "frac_snow": 0.18, "elev_mean": 37.7,
         "slope_mean": 4.75}
RUNOFF = "land_surface_water__runoff_depth"
FLUX = "land_surface_water__runoff_volume_flux"
PRECIP = "atmosphere_water__liquid_equivalent_precipitation_rate"
TEMP = "land_surface_air__temperature"
IDX0 = np.array([0], dtype=np.int32)


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory) -> Path:
    return make_demo_checkpoint(tmp_path_factory.mktemp("ckpt") / "demo.pt", nmul=4, hidden=16)


def write_config(folder: Path, ckpt: Path, **over) -> Path:
    cfg = {"checkpoint": str(ckpt), "area_km2": 10.0, "latitude": 43.1, "attributes": dict(ATTRS),
           "start_time": "2015-12-01 00:00:00", "end_time": "2015-12-29 23:00:00", "time_step": 3600}
    cfg.update(over)
    path = folder / "cfg.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def make(tmp_path, ckpt, **over) -> DeltaModelBmi:
    bmi = DeltaModelBmi()
    bmi.initialize(str(write_config(tmp_path, ckpt, **over)))
    return bmi


def forcing_01073000(n_hours: int | None = None) -> dict[str, np.ndarray]:
    """Hourly AORC forcing of cat-11223 keyed by CSDMS name, in the BMI's units (mm s-1, K, ...)."""
    path = shared_path("hydro", "hourly", "ngen_gauge_01073000", "forcing", "cat-11223.csv")
    _, cols = read_forcing(path)
    return {V.AORC_FIELDS[f][0]: v[:n_hours] for f, (v, _) in cols.items()}


def set_inputs(bmi, forcing, k):
    for name in bmi.get_input_var_names():
        bmi.set_value(name, np.array([forcing[name][k]], dtype=np.float64))


def synthetic(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    hours = np.arange(n)
    return {
        PRECIP: rng.gamma(0.3, 2e-4, n) * (rng.random(n) < 0.2),
        TEMP: 278 + 6 * np.sin(2 * np.pi * hours / 24),
        "atmosphere_air_water~vapor__relative_saturation": np.full(n, 0.004), "land_surface_air__pressure":
        np.full(n, 1.0e5), "land_surface_radiation~incoming~shortwave__energy_flux": np.full(n, 120.0),
        "land_surface_radiation~incoming~longwave__energy_flux": np.full(n, 280.0),
        "land_surface_wind__x_component_of_velocity": np.ones(n),
        "land_surface_wind__y_component_of_velocity": np.ones(n),
    }


def offline_daily(ckpt_path: Path, forcing: dict, lat: float, doy: np.ndarray, attrs: dict | None = None
                  ) -> dict[str, np.ndarray]:
    """The offline daily model: daily-aggregated forcing (the trainer's function) -> DeltaModel.forward."""
    ck = load_checkpoint(ckpt_path)
    model = ck.build_model(dtype=torch.float64)
    model.phy.cfg.warmup = 0
    from dmg_bmi.core.handler import derivation_of

    daily = aorc_hourly_series_to_daily(forcing, lat, doy, derivation_of(ck))
    x_phy = np.stack([daily[n] for n in ck.phy_forcings], -1)[:, None, :]
    x_nn = ck.normalization.transform(np.stack([daily[n] for n in ck.nn_forcings], -1)[:, None, :],
                                      ck.nn_forcings)
    attrs = ATTRS if attrs is None else attrs
    c_nn = ck.normalization.transform(np.array([[attrs[n] for n in ck.nn_attributes]]), ck.nn_attributes)
    attrs_phy = {n: torch.tensor([attrs[n]], dtype=torch.float64) for n in ck.phy_attributes}  # HBV 2.0's
    with torch.no_grad():
        out, _ = model(torch.as_tensor(x_nn), torch.as_tensor(c_nn), torch.as_tensor(x_phy), attrs_phy)
    return {k: v[:, 0].numpy() for k, v in out.items()}


# ---------------------------------------------------------------- variables table
NGEN_NAMES = {"water_potential_evaporation_flux"}  # ngen's own names (its PET module's output), not CSDMS


def test_variables_have_valid_names_and_units():
    from gimli.units import units
    from standard_names import StandardName

    for var in (*V.VARIABLES, *hydro_variables.VARIABLES, *crop_variables.VARIABLES):
        if var.role in ("input", "output"):
            if var.name not in NGEN_NAMES:
                StandardName(var.name)  # raises on an invalid CSDMS name
            units.Unit(var.units)  # raises on invalid UDUNITS
        assert var.units not in ("-", "", "none")
    assert V.MAIN_OUTPUT in hydro_variables.OUTPUT_NAMES and len(V.INPUT_NAMES) == 9
    assert set(V.INPUT_NAMES) == {v for v, _ in V.AORC_FIELDS.values()} | NGEN_NAMES
    assert set(V.FORCING_COLUMNS) == set(V.INPUT_NAMES)


# ---------------------------------------------------------------- basics, time
def test_info_time_and_grid(tmp_path, ckpt):
    bmi = make(tmp_path, ckpt)
    assert bmi.get_start_time() == 0.0 and isinstance(bmi.get_start_time(), float)
    assert bmi.get_current_time() == 0.0
    assert bmi.get_time_step() == 3600.0 and bmi.get_time_units() == "s"
    assert bmi.get_end_time() == 29 * 86400.0  # 2015-12-01 00:00 .. 2015-12-29 23:00 + one step
    assert bmi.get_input_var_names() == (PRECIP, TEMP)  # Hamon PET: all the demo checkpoint reads
    assert bmi.get_input_item_count() == 2 and len(bmi.get_output_var_names()) == bmi.get_output_item_count()
    for name in (*bmi.get_input_var_names(), *bmi.get_output_var_names()):
        assert bmi.get_var_type(name) == "float64" and bmi.get_var_itemsize(name) == 8
        assert bmi.get_var_nbytes(name) == 8 and bmi.get_var_grid(name) == 0
        assert bmi.get_var_location(name) == "node"
    assert (bmi.get_grid_type(0), bmi.get_grid_rank(0), bmi.get_grid_size(0)) == ("scalar", 0, 1)
    assert type(bmi.get_grid_rank(0)) is int
    x = bmi.get_grid_x(0, np.zeros(1))
    assert np.isnan(x[0]) and bmi.get_grid_node_count(0) == 1 and bmi.get_grid_face_count(0) == 0


def test_update_until_and_time_errors(tmp_path, ckpt):
    bmi = make(tmp_path, ckpt)
    f = synthetic(10)
    set_inputs(bmi, f, 0)
    bmi.update()
    assert bmi.get_current_time() == 3600.0
    bmi.update_until(5 * 3600.0)
    assert bmi.get_current_time() == 5 * 3600.0
    with pytest.raises(InputError, match="whole number"):
        bmi.update_until(5.5 * 3600.0)
    with pytest.raises(InputError, match="before the current time"):
        bmi.update_until(3600.0)  # backwards


def test_set_get_ptr_indices(tmp_path, ckpt):
    bmi = make(tmp_path, ckpt)
    f = synthetic(48)
    ptr = bmi.get_value_ptr(RUNOFF)
    tptr = bmi.get_value_ptr(TEMP)
    set_inputs(bmi, f, 0)
    assert tptr[0] == f[TEMP][0]  # input pointer is live
    dest = np.zeros(1)
    assert bmi.get_value(TEMP, dest) is dest and dest[0] == f[TEMP][0]
    bmi.set_value_at_indices(TEMP, np.array([0]), np.array([280.5]))
    assert bmi.get_value(TEMP, np.zeros(1))[0] == 280.5
    for k in range(30):
        set_inputs(bmi, f, k)
        bmi.update()
    got = bmi.get_value_at_indices(RUNOFF, np.zeros(1), IDX0)
    assert got[0] == ptr[0] > 0  # output pointer follows update (live reference)
    copy = bmi.get_value(RUNOFF, np.zeros(1))
    copy[0] = -1.0
    assert ptr[0] > 0  # get_value copies
    flux = bmi.get_value(FLUX, np.zeros(1))[0]
    assert flux == pytest.approx(ptr[0] / 3600.0 * 10.0e6, rel=1e-12)  # m per hour -> m3 s-1 over 10 km2


def test_bad_input_errors(tmp_path, ckpt):
    bmi = DeltaModelBmi()
    with pytest.raises(InputError, match="initialize"):
        bmi.update()
    with pytest.raises(InputError, match="initialize"):
        bmi.get_var_units(RUNOFF)
    bmi = make(tmp_path, ckpt)
    with pytest.raises(InputError, match="unknown BMI variable 'nope'.*land_surface_air__temperature"):
        bmi.get_value("nope", np.zeros(1))
    with pytest.raises(InputError, match="expected 1 value, got 2"):
        bmi.set_value(TEMP, np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="dtype <U3 is not numeric"):
        bmi.set_value(TEMP, np.array(["abc"]))
    with pytest.raises(InputError, match="is an output"):
        bmi.set_value(RUNOFF, np.array([1.0]))


def test_config_errors(tmp_path, ckpt):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        make(tmp_path, tmp_path / "missing.pt")
    bad = tmp_path / "bad.yml"
    bad.write_text("checkpoint: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        DeltaModelBmi().initialize(str(bad))
    with pytest.raises(ConfigError, match="unknown key.*'chekpoint'"):
        make(tmp_path, ckpt, chekpoint="x")
    with pytest.raises(ConfigError, match="time_step"):
        make(tmp_path, ckpt, time_step=1800)
    with pytest.raises(ConfigError, match=r"\['nope'\] are not used by the checkpoint"):
        make(tmp_path, ckpt, attributes={**ATTRS, "nope": 1.0})
    bmi = make(tmp_path, ckpt, attributes={k: v for k, v in ATTRS.items() if k != "aridity"})
    set_inputs(bmi, synthetic(1), 0)
    with pytest.raises(ConfigError, match="attribute 'aridity' is not set"):
        bmi.update()
    bmi.set_value("aridity", np.array([0.63]))  # as ngen model_params would
    bmi.update()
    assert bmi.get_current_time() == 3600.0


def test_nan_policy(tmp_path, ckpt):
    f = synthetic(30)
    bmi = make(tmp_path, ckpt)
    set_inputs(bmi, f, 0)
    bmi.set_value(TEMP, np.array([np.nan]))
    with pytest.raises(InputError, match="NaN forcing at t=0 s in \\['land_surface_air__temperature'\\]"):
        bmi.update()
    held, ref = make(tmp_path, ckpt, nan_policy="hold_last"), make(tmp_path, ckpt)
    for k in range(30):
        set_inputs(held, f, k)
        set_inputs(ref, f, k)
        if k == 20:
            held.set_value(TEMP, np.array([np.nan]))
            ref.set_value(TEMP, np.array([f[TEMP][19]]))
            with pytest.warns(RuntimeWarning, match="holding the last valid"):
                held.update()
        else:
            held.update()
        ref.update()
    a, b = held.get_value(RUNOFF, np.zeros(1)), ref.get_value(RUNOFF, np.zeros(1))
    assert a[0] == b[0]


def test_finalize(tmp_path, ckpt):
    bmi = make(tmp_path, ckpt)
    bmi.finalize()
    with pytest.raises(InputError, match="initialize"):
        bmi.get_current_time()
    bmi.initialize(str(write_config(tmp_path, ckpt)))  # re-initialize works
    assert bmi.get_current_time() == 0.0


# ---------------------------------------------------------------- the daily chains
def test_hourly_midnights_equal_offline_daily(tmp_path, ckpt):
    """Every 24th hourly output (midnight-aligned) equals the offline daily model on daily forcing."""
    days = 29
    f = forcing_01073000(days * 24)
    bmi = make(tmp_path, ckpt, latitude=43.1487)
    hourly = []
    for k in range(days * 24):
        set_inputs(bmi, f, k)
        bmi.update()
        hourly.append(bmi.get_value_at_indices(RUNOFF, np.zeros(1), IDX0)[0])
    hourly = np.array(hourly) * 1000.0 * 24.0  # m per hour -> mm/d
    doy = np.array([335 + d for d in range(days)])  # 2015-12-01 is day 335
    ref = offline_daily(ckpt, f, 43.1487, doy)["streamflow"]
    # 1e-6, not 1e-15: the torch model keeps float32-rounded parameter bounds, the numpy path exact ones
    np.testing.assert_allclose(hourly[23::24], ref, rtol=1e-6, atol=1e-12)
    assert np.all(hourly[:23] == 0.0)  # cold start: no full 24-h window yet
    assert np.all(np.isfinite(hourly)) and hourly[24:].std() > 0


def test_daily_time_step_equals_offline(tmp_path, ckpt):
    """time_step 86400: one update per day with daily-mean forcing equals the offline run on the same days."""
    days = 10
    f = forcing_01073000(days * 24)
    daily_in = {k: v.reshape(days, 24).mean(1) for k, v in f.items()}
    bmi = make(tmp_path, ckpt, latitude=43.1487, time_step=86400, end_time="2015-12-10 00:00:00")
    assert bmi.get_time_step() == 86400.0
    got = []
    for d in range(days):
        set_inputs(bmi, daily_in, d)
        bmi.update()
        got.append(bmi.get_value(RUNOFF, np.zeros(1))[0] * 1000.0)
    flat = {k: np.repeat(v, 24) for k, v in daily_in.items()}  # the same daily means as 24 equal hours
    ref = offline_daily(ckpt, flat, 43.1487, np.arange(335, 335 + days))["streamflow"]
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-12)


def test_mass_balance_closes(tmp_path, ckpt):
    f = forcing_01073000(10 * 24)
    bmi = make(tmp_path, ckpt, latitude=43.1487)
    names = ("ngen::mass_in", "ngen::mass_out", "ngen::mass_stored", "ngen::mass_leaked")
    assert all(bmi.get_var_units(n) == "m" for n in names)
    ptrs = [bmi.get_value_ptr(n) for n in names]
    out_sum = 0.0
    for k in range(10 * 24):
        set_inputs(bmi, f, k)
        bmi.update()
        out_sum += bmi.get_value(RUNOFF, np.zeros(1))[0]
        aet_mm_d = bmi.get_value("land_surface_water_evapotranspiration__volume_flux", np.zeros(1))[0]
        out_sum += aet_mm_d / 1000 / 24
        m_in, m_out, m_st, m_leak = (p[0] for p in ptrs)
        assert abs(m_in - m_out - m_st - m_leak) < 1e-9
    rain_m = f[PRECIP].sum() * 3600.0 / 1000.0
    assert m_in == pytest.approx(rain_m + 5 * 0.001 / 1000.0, rel=1e-12)  # rain + 5 cold stores of 0.001 mm
    assert m_out == pytest.approx(out_sum, rel=1e-9)  # mass_out = the reported runoff + AET


def test_serialization_protocol_restores_exactly(tmp_path, ckpt):
    f = forcing_01073000(120)
    ref, bmi = make(tmp_path, ckpt, latitude=43.1487), make(tmp_path, ckpt, latitude=43.1487)
    assert bmi.get_var_units("ngen::serialization_state") == "ngen::opaque"
    assert bmi.get_var_units("ngen::serialization_create") == "ngen::trigger"
    for k in range(50):
        for b in (ref, bmi):
            set_inputs(b, f, k)
            b.update()
    # save: create -> size -> state -> free
    bmi.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    size = bmi.get_value("ngen::serialization_size", np.zeros(1, dtype=np.int64))[0]
    assert bmi.get_var_nbytes("ngen::serialization_state") == size > 0
    blob = bmi.get_value("ngen::serialization_state", np.zeros(size, dtype=np.uint8)).copy()
    assert bytes(blob[:8]) == b"DMGBMIST"
    bmi.set_value("ngen::serialization_free", np.array([1], dtype=np.int64))
    # restore into a fresh instance
    new = make(tmp_path, ckpt, latitude=43.1487)
    new.set_value("ngen::serialization_size", np.array([size], dtype=np.int64))
    assert new.get_var_nbytes("ngen::serialization_state") == size
    new.set_value("ngen::serialization_state", blob)
    assert new.get_current_time() == ref.get_current_time()
    for k in range(50, 120):
        for b in (ref, new):
            set_inputs(b, f, k)
            b.update()
        for name in (RUNOFF, "snowpack__leq_depth", "ngen::mass_stored", "ngen::mass_in"):
            assert new.get_value(name, np.zeros(1))[0] == ref.get_value(name, np.zeros(1))[0]
    with pytest.raises(InputError, match="not a dmg_bmi state"):
        new.set_value("ngen::serialization_state", np.zeros(64, dtype=np.uint8))


def test_initial_state_file_hot_start(tmp_path, ckpt):
    f = forcing_01073000(96)
    ref = make(tmp_path, ckpt, latitude=43.1487)
    for k in range(48):
        set_inputs(ref, f, k)
        ref.update()
    ref.save_state(tmp_path / "state.bin")
    with pytest.raises(ConfigError, match=r"start_time 2015-12-01 00:00:00 is not the time of initial_state "
                                          r".*state.bin, 2015-12-03 00:00:00"):
        make(tmp_path, ckpt, latitude=43.1487, initial_state="state.bin")
    # relative to the YAML; BMI time 0 is start_time, the state's time
    hot = make(tmp_path, ckpt, latitude=43.1487, initial_state="state.bin", start_time="2015-12-03 00:00:00")
    assert hot.get_current_time() == 0.0  # a hot start begins a new run at time 0
    for k in range(48, 96):
        for b in (ref, hot):
            set_inputs(b, f, k)
            b.update()
    assert hot.get_value(RUNOFF, np.zeros(1))[0] == ref.get_value(RUNOFF, np.zeros(1))[0]
    other = make_demo_checkpoint(tmp_path / "other.pt", nmul=4, hidden=16, seed=1)
    with pytest.raises(InputError, match="different checkpoint"):
        make(tmp_path, other, initial_state="state.bin")


def test_ensemble_average(tmp_path, ckpt):
    other = make_demo_checkpoint(tmp_path / "other.pt", nmul=4, hidden=16, seed=3)
    f = forcing_01073000(48)
    members = [{"checkpoint": str(ckpt), "weight": 3.0}, {"checkpoint": str(other), "weight": 1.0}]
    ens = make(tmp_path, ckpt, checkpoint=None, members=members)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = make(tmp_path / "a", ckpt), make(tmp_path / "b", other)
    for k in range(48):
        for m in (ens, a, b):
            set_inputs(m, f, k)
            m.update()
    got = ens.get_value(RUNOFF, np.zeros(1))[0]
    want = 0.75 * a.get_value(RUNOFF, np.zeros(1))[0] + 0.25 * b.get_value(RUNOFF, np.zeros(1))[0]
    assert got == pytest.approx(want, rel=1e-12)
    assert got != a.get_value(RUNOFF, np.zeros(1))[0]
    assert set(DEMO_ATTRIBUTES) == set(ATTRS)


def test_model_params_mid_run_rebind_keeps_state(tmp_path, ckpt):
    """ngen model_params (or a calibration) may set an attribute after stepping began: the chains keep their
    state and the new value is used from the next update."""
    f = forcing_01073000(72)
    a, b = make(tmp_path, ckpt, latitude=43.1487), make(tmp_path, ckpt, latitude=43.1487)
    for k in range(48):
        for m in (a, b):
            set_inputs(m, f, k)
            m.update()
    sm = a.get_value("land_surface_soil_water__volume-per-area_storage_density", np.zeros(1))[0]
    b.set_value("aridity", np.array([2.5]))
    assert b.get_value_ptr("aridity")[0] == 2.5 and b.get_var_units("area_km2") == "km2"
    assert b.get_value("land_surface_soil_water__volume-per-area_storage_density", np.zeros(1))[0] == sm
    for k in range(48, 72):
        for m in (a, b):
            set_inputs(m, f, k)
            m.update()
    assert b.get_current_time() == a.get_current_time() == 72 * 3600.0
    assert b.get_value(RUNOFF, np.zeros(1))[0] != a.get_value(RUNOFF, np.zeros(1))[0]


def test_shipped_quickstart_checkpoint_runs_and_matches_offline(tmp_path):
    """The shipped, trained quickstart checkpoint (nmul 1, no LSTM) through the BMI == offline daily."""
    from conftest import REPO

    cfg_path = REPO / "bmi_configs" / "quickstart.yml"
    cfg = yaml.safe_load(cfg_path.read_text())
    days = 6
    f = forcing_01073000(days * 24)
    bmi = DeltaModelBmi()
    bmi.initialize(str(cfg_path))
    hourly = []
    for k in range(days * 24):
        set_inputs(bmi, f, k)
        bmi.update()
        hourly.append(bmi.get_value(RUNOFF, np.zeros(1))[0] * 1000.0 * 24.0)
    attrs = {**cfg["attributes"], "area_km2": cfg["area_km2"]}
    doy = np.arange(1, days + 1)  # the config starts on 2004-01-01
    ref = offline_daily(cfg_path.parent / cfg["checkpoint"], f, cfg["latitude"], doy, attrs)["streamflow"]
    np.testing.assert_allclose(np.array(hourly)[23::24], ref, rtol=1e-6, atol=1e-12)
    assert ref.max() > 0


def test_window_day_of_year_for_non_midnight_starts(tmp_path, ckpt):
    """PET uses the day of year of each 24-h window's midpoint, also when the run starts mid-day."""
    from datetime import datetime, timedelta

    for start in ("2015-12-31 07:00:00", "2016-02-28 23:00:00"):
        bmi = make(tmp_path, ckpt, start_time=start, end_time="2016-03-10 00:00:00")
        f = synthetic(24 * 4)
        t0 = datetime.fromisoformat(start)
        for k in range(24 * 4):
            set_inputs(bmi, f, k)
            bmi.update()
            if k >= 23:
                want = (t0 + timedelta(hours=k - 23 + 12)).timetuple().tm_yday
                assert bmi._adapter._doy() == want


def test_a_foreign_bmi_yaml_is_named_with_a_hint():
    """δHBV 2.0's own per-catchment YAML (MHPI's BMI) is not ours: the error names the file and the tool
    that writes ours, not only the unknown keys."""
    raw = shared_path("hydro", "hourly", "ngen_dhbv2_mts", "raw_bmi_config", "bmi_cat-2453.yaml")
    with pytest.raises(ConfigError, match=r"bmi_cat-2453.yaml: .*unknown key.*not a dmg_bmi BMI config.*"
                                          r"dmg-bmi bmi-config"):
        DeltaModelBmi().initialize(str(raw))
