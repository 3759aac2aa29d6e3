"""DeltaModelBmi refuses what cannot be (issue 10): inputs outside their physically possible range at
`update()`, impossible catchment attributes (from the YAML at `initialize`, from `set_value` at the next
`update()`), bad destinations, indices, dtypes and times at the getters, setters and `update_until`, and an
ensemble that mixes hydrology and crop checkpoints. Every refusal is a named error that leaves the instance
as it was."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from conftest import REPO
from test_bmi import ATTRS, PRECIP, RUNOFF, TEMP, synthetic, write_config

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core import variables as V
from dmg_bmi.domains.hydrology.handler import HydrologyHandler
from dmg_bmi.errors import CheckpointError, ConfigError, InputError

pytestmark = pytest.mark.numpy1

PET_IN = "water_potential_evaporation_flux"
PRES = "land_surface_air__pressure"
SW = "land_surface_radiation~incoming~shortwave__energy_flux"
MASS_IN = "ngen::mass_in"
CROP_CONFIG = REPO / "bmi_configs" / "crop_twin.yml"
CROP_CKPT = REPO / "bmi_configs" / "crop_twin_wofost72.pt"
IDX0 = np.array([0], dtype=np.int32)


def make(folder, ckpt, **over) -> DeltaModelBmi:
    bmi = DeltaModelBmi()
    bmi.initialize(str(write_config(folder, ckpt, **over)))
    return bmi


def feed(bmi: DeltaModelBmi, forcing: dict[str, np.ndarray], hours) -> None:
    for k in hours:
        for name in bmi.get_input_var_names():
            bmi.set_value(name, forcing[name][k : k + 1])
        bmi.update()


def observed(bmi: DeltaModelBmi) -> list[float]:
    return [bmi.get_value(n, np.zeros(1))[0] for n in (RUNOFF, MASS_IN, "ngen::mass_stored",
                                                        "land_surface_water_evapotranspiration__potential_volume_flux")]


def crop_field(folder) -> DeltaModelBmi:
    cfg = yaml.safe_load(CROP_CONFIG.read_text(encoding="utf-8"))
    cfg["checkpoint"] = str(CROP_CKPT)
    path = folder / "crop.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    return bmi


# ---------------------------------------------------------------- A. input ranges
@pytest.mark.parametrize(("name", "value", "shown", "allowed", "hint"), [
    (TEMP, 15.0, "= 15 K", "180..340 K", "looks like degC"),  # degC given as K (PET 4e65 mm/d before)
    (TEMP, -50.0, "= -50 K", "180..340 K", "looks like degC"),  # OverflowError in forcing.py before
    (TEMP, 1e6, "= 1e+06 K", "180..340 K", None),
    (TEMP, 1e308, "= 1e+308 K", "180..340 K", None),
    (TEMP, np.inf, "= inf K", "180..340 K", None),
    (TEMP, 340.01, "= 340.01 K", "180..340 K", None),
    (PRECIP, -1e-4, "= -0.0001 mm s-1", "0..0.15 mm s-1", None),  # negative runoff and mass_in before
    (PRECIP, 1.0, "= 1 mm s-1", "0..0.15 mm s-1", "if this is mm h-1"),  # 3600 mm/h of rain
])
def test_an_input_out_of_range_is_refused_naming_it(tmp_path, hamon_ckpt, name, value, shown, allowed, hint):
    f = synthetic(30)
    bmi, ref = make(tmp_path, hamon_ckpt), make(tmp_path, hamon_ckpt)
    feed(bmi, f, range(25))
    feed(ref, f, range(26))
    before = observed(bmi)
    bmi.set_value(PRECIP, f[PRECIP][25:26])
    bmi.set_value(TEMP, f[TEMP][25:26])
    bmi.set_value(name, np.array([value]))
    units = V.BY_NAME[name].units
    at = re.escape(f"at t=90000 s (2015-12-02 01:00:00 UTC): {name} {shown}")
    with pytest.raises(InputError, match=at) as err:
        bmi.update()
    message = str(err.value)
    assert f"allowed range {allowed}" in message and units in message
    assert (hint in message) if hint else ("looks like" not in message and "if this is" not in message)
    assert bmi.get_current_time() == 25 * 3600.0 and observed(bmi) == before  # nothing stepped
    bmi.set_value(name, f[name][25:26])  # the run goes on as if the bad value was never set
    bmi.update()
    assert observed(bmi) == observed(ref)


def test_near_limit_values_pass_and_just_beyond_is_refused(tmp_path, hamon_ckpt):
    """-60 degC, the range's ends and record rain (~305 mm in 42 min = 0.121 mm s-1) are possible: they run
    and give finite, non-negative fluxes; a hair beyond an end is refused."""
    bmi = make(tmp_path, hamon_ckpt)
    for precip, temp in [(0.0, 213.15), (0.121, 213.15), (0.15, 180.0), (0.0, 340.0)] * 8:
        bmi.set_value(PRECIP, np.array([precip]))
        bmi.set_value(TEMP, np.array([temp]))
        bmi.update()
    values = observed(bmi)
    assert np.isfinite(values).all() and min(values) >= 0
    assert values[1] == pytest.approx((0.121 + 0.15) * 3600 * 8 / 1000, rel=1e-6)  # mass_in (m): all rain
    bmi.set_value(PRECIP, np.array([0.1500001]))
    with pytest.raises(InputError, match=r"precipitation_rate = 0.15 mm s-1 is outside its allowed range "
                                         r"0\.\.0\.15 mm s-1"):
        bmi.update()
    bmi.set_value(PRECIP, np.array([0.0]))
    bmi.set_value(TEMP, np.array([179.99]))
    with pytest.raises(InputError, match=r"temperature = 179.99 K is outside"):
        bmi.update()


def test_negative_precipitation_never_reaches_the_mass_balance(tmp_path, hamon_ckpt):
    bmi = make(tmp_path, hamon_ckpt)
    feed(bmi, synthetic(3), range(3))
    mass_in = bmi.get_value(MASS_IN, np.zeros(1))[0]
    bmi.set_value(PRECIP, np.array([-0.01]))
    with pytest.raises(InputError, match="precipitation_rate = -0.01 mm s-1"):
        bmi.update()
    assert bmi.get_value(MASS_IN, np.zeros(1))[0] == mass_in > 0


def test_every_bad_input_is_listed_and_hold_last_does_not_hide_a_range_error(tmp_path, hamon_ckpt):
    bmi = make(tmp_path, hamon_ckpt)
    bmi.set_value(PRECIP, np.array([-1.0]))
    bmi.set_value(TEMP, np.array([20.0]))
    with pytest.raises(InputError, match=r"at t=0 s \(2015-12-01 00:00:00 UTC\): .*precipitation_rate = "
                                         r"-1 mm s-1 .*; land_surface_air__temperature = 20 K .*looks like "
                                         r"degC"):
        bmi.update()
    held = make(tmp_path, hamon_ckpt, nan_policy="hold_last")
    feed(held, synthetic(2), range(2))
    held.set_value(PRECIP, np.array([np.nan]))  # would be held ...
    held.set_value(TEMP, np.array([1e6]))  # ... but this cannot be
    with pytest.raises(InputError, match=r"temperature = 1e\+06 K is outside"):
        held.update()
    assert held.get_current_time() == 7200.0


def test_pet_forcing_and_crop_weather_ranges(tmp_path, pet_ckpt):
    """The PET rate input (mm h-1) and the crop's weather fields have their own ranges and hints."""
    bmi = make(tmp_path, pet_ckpt)
    bmi.set_value(PRECIP, np.array([0.0]))
    bmi.set_value(TEMP, np.array([280.0]))
    for value, shown in ((6.0, "= 6 mm h-1"), (-0.2, "= -0.2 mm h-1")):
        bmi.set_value(PET_IN, np.array([value]))
        with pytest.raises(InputError, match=f"{PET_IN} {shown} is outside its allowed range 0..5 mm h-1"):
            bmi.update()
    field = crop_field(tmp_path)
    values = (0.0, 285.0, 0.006, 1.0e5, 300.0, 2.0, 1.0)  # precip, T, q, p, shortwave, u, v
    weather = {name: np.array([v]) for name, v in zip(field.get_input_var_names(), values, strict=True)}
    for name, value in weather.items():
        field.set_value(name, value)
    field.set_value(PRES, np.array([1013.0]))  # hPa given as Pa
    field.set_value(SW, np.array([-500.0]))
    with pytest.raises(InputError, match=r"pressure = 1013 Pa is outside its allowed range 30000\.\.110000 "
                                         r"Pa: looks like hPa.*shortwave__energy_flux = -500 W m-2 is "
                                         r"outside"):
        field.update()
    field.set_value(PRES, weather[PRES])
    field.set_value(SW, weather[SW])
    field.update()
    assert field.get_current_time() == 3600.0


# ---------------------------------------------------------------- A. attributes
def test_impossible_yaml_attributes_are_refused_at_initialize(tmp_path, hamon_ckpt):
    path = write_config(tmp_path, hamon_ckpt, catchment_id="cat-77", attributes={**ATTRS, "elev_mean": 1e30})
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: catchment cat-77: elev_mean = 1e\+30 m "
                                          r"is not a plausible attribute \(\|value\| > 1e\+12\)"):
        DeltaModelBmi().initialize(str(path))
    for key, value in (("area_km2", 0.0), ("area_km2", -3.0), ("latitude", 95.0), ("latitude", -91.0)):
        path = write_config(tmp_path, hamon_ckpt, catchment_id="cat-77", **{key: value})
        with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: .*{key}.*{value}"):
            DeltaModelBmi().initialize(str(path))


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("area_km2", 0.0, "area_km2 = 0 km2 must be > 0"),
    ("area_km2", np.inf, "area_km2 = inf km2 is not a finite number"),
    ("latitude", 95.0, "latitude = 95 degree_north is outside -90..90"),
    ("aridity", 1e30, r"aridity = 1e\+30 is not a plausible attribute"),
    ("elev_mean", -np.inf, "elev_mean = -inf m is not a finite number"),
])
def test_impossible_model_params_are_refused_at_the_next_update(tmp_path, hamon_ckpt, name, value, problem):
    """ngen model_params arrive through set_value: a bad one stops the next update (the first, or mid-run)
    naming the catchment, and the chains keep their state, so the fixed value continues the run exactly."""
    f = synthetic(40)
    first = make(tmp_path, hamon_ckpt, catchment_id="cat-9")
    first.set_value(name, np.array([value]))
    with pytest.raises(InputError, match=rf"catchment cat-9: attribute\(s\) set through set_value \(ngen "
                                         rf"model_params\) refused at t=0 s: {problem}"):
        feed(first, f, range(1))
    bmi, ref = make(tmp_path, hamon_ckpt, catchment_id="cat-9"), make(tmp_path, hamon_ckpt)
    feed(bmi, f, range(30))
    feed(ref, f, range(30))
    good = bmi.get_value(name, np.zeros(1))[0]
    bmi.set_value(name, np.array([value]))
    with pytest.raises(InputError, match=rf"refused at t=108000 s: {problem}"):
        feed(bmi, f, range(30, 31))
    bmi.set_value(name, np.array([good]))
    feed(bmi, f, range(30, 40))
    feed(ref, f, range(30, 40))
    assert observed(bmi) == observed(ref)


# ---------------------------------------------------------------- C. getters, setters, update_until
def test_update_until_needs_a_finite_time(tmp_path, hamon_ckpt):
    bmi = make(tmp_path, hamon_ckpt)
    feed(bmi, synthetic(2), range(2))
    for time, shown in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")):
        with pytest.raises(InputError, match=rf"update_until\({shown}\): the time must be a finite number of "
                                             r"seconds \(current time 7200 s, end time 2505600 s\)"):
            bmi.update_until(time)
    with pytest.raises(InputError, match=r"update_until\('soon'\): the time must be a number of seconds"):
        bmi.update_until("soon")
    assert bmi.get_current_time() == 7200.0


def test_update_until_refuses_the_past_and_the_far_future_at_once(tmp_path, hamon_ckpt):
    """A time before now is named as such (not 'not a whole number of steps'); a time more than a day past
    end_time is refused at once instead of stepping for ever on held forcing (1e300 s hung before)."""
    bmi = make(tmp_path, hamon_ckpt)
    feed(bmi, synthetic(2), range(2))
    for time in (0.0, -3600.0, 3600.0):
        with pytest.raises(InputError, match=rf"update_until\({time}\): the time is before the current time "
                                             r"7200 s"):
            bmi.update_until(time)
    end = bmi.get_end_time()
    for time in (1e300, end + 86400.0 + 3600.0):
        with pytest.raises(InputError, match=re.escape(f"more than a day past the end time {end:.0f} s")):
            bmi.update_until(time)
    assert bmi.get_current_time() == 7200.0
    bmi.update_until(7200.0)  # now: no step
    assert bmi.get_current_time() == 7200.0


def test_get_value_at_indices_refuses_bad_indices_and_destinations(tmp_path, hamon_ckpt):
    bmi = make(tmp_path, hamon_ckpt)
    feed(bmi, synthetic(30), range(30))
    runoff = bmi.get_value(RUNOFF, np.zeros(1))[0]
    assert runoff > 0 and bmi.get_value_at_indices(RUNOFF, np.zeros(1), IDX0)[0] == runoff
    assert bmi.get_value_at_indices(RUNOFF, np.zeros(1), np.array([-1]))[0] == runoff  # from the end
    assert bmi.get_value_at_indices(RUNOFF, np.zeros(1), [0])[0] == runoff  # a list of indices is fine
    what = re.escape(f"get_value_at_indices('{RUNOFF}')")
    for inds, problem in (([1], r"indices \[1\] out of range for 1 item\(s\) \(0\.\.0\)"),
                          ([0, 5, -2], r"indices \[5, -2\] out of range"),
                          (np.array([0.0]), r"indices \[0\.0\] \(float64\) are not integers"),
                          (np.array([True]), r"indices \[True\] \(bool\) are not integers")):
        with pytest.raises(InputError, match=f"{what}: {problem}"):
            bmi.get_value_at_indices(RUNOFF, np.zeros(len(inds)), inds)
    read_only = np.zeros(1)
    read_only.flags.writeable = False
    for dest, problem in ((np.zeros(1, dtype=np.int64), "a int64 destination would not hold the float64 "
                                                        r"values exactly \(use float64\)"),
                          (np.zeros(1, dtype=np.float32), "a float32 destination would not hold"),
                          (np.zeros(0), r"the destination holds 0 item\(s\), the values are 1"),
                          (np.zeros(3), r"the destination holds 3 item\(s\), the values are 1"),
                          ([0.0], "the destination must be a numpy array, got list"),
                          (read_only, "the destination array is read-only")):
        with pytest.raises(InputError, match=f"{what}: {problem}"):
            bmi.get_value_at_indices(RUNOFF, dest, IDX0)


def test_get_value_never_truncates(tmp_path, hamon_ckpt):
    bmi = make(tmp_path, hamon_ckpt)
    feed(bmi, synthetic(30), range(30))
    what = re.escape(f"get_value('{RUNOFF}')")
    with pytest.raises(InputError, match=f"{what}: a int64 destination would not hold the float64 values"):
        bmi.get_value(RUNOFF, np.zeros(1, dtype=np.int64))  # it silently truncated to 0 before
    with pytest.raises(InputError, match=rf"{what}: the destination holds 0 item\(s\), the values are 1"):
        bmi.get_value(RUNOFF, np.zeros(0))
    size = "ngen::serialization_size"
    bmi.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    n = bmi.get_value(size, np.zeros(1, dtype=np.int64))[0]
    assert n > 1000 and bmi.get_value(size, np.zeros(1))[0] == n  # int64 fits a float64 exactly
    blob = bmi.get_value("ngen::serialization_state", np.zeros(n, dtype=np.uint8))
    assert bytes(blob[:8]) == b"DMGBMIST"
    with pytest.raises(InputError, match=rf"the destination holds {n - 1} item\(s\), the values are {n}"):
        bmi.get_value("ngen::serialization_state", np.zeros(n - 1, dtype=np.uint8))


def test_set_value_refuses_booleans_and_bad_protocol_values(tmp_path, hamon_ckpt):
    bmi = make(tmp_path, hamon_ckpt)
    for name in (TEMP, "aridity", "ngen::serialization_create"):
        with pytest.raises(InputError, match=rf"set_value\('{re.escape(name)}'\): dtype bool is not numeric"):
            bmi.set_value(name, np.array([True]))
    assert np.isnan(bmi.get_value(TEMP, np.zeros(1))[0]) and bmi.get_value("aridity", np.zeros(1))[0] == 0.63
    with pytest.raises(InputError, match=r"set_value_at_indices\('land_surface_air__temperature'\): indices "
                                         r"\[False\] \(bool\) are not integers"):
        bmi.set_value_at_indices(TEMP, np.array([False]), np.array([280.0]))
    for bad in (np.array([np.nan]), np.array([np.inf]), np.array([-1]), np.array([2.5])):
        with pytest.raises(InputError, match=r"set_value\('ngen::serialization_size'\): \[.*\] is not one "
                                             r"whole number of bytes >= 0"):
            bmi.set_value("ngen::serialization_size", bad)
    for bad in (np.array([68.0, 77.0]), np.array([300, 1]), np.array([-1, 0])):
        with pytest.raises(InputError, match=rf"the payload must be bytes \(uint8\), got 2 {bad.dtype} "
                                             r"values"):
            bmi.set_value("ngen::serialization_state", bad)


# ---------------------------------------------------------------- D. mixed ensembles
def test_an_ensemble_mixing_hydrology_and_crop_checkpoints_says_so(tmp_path, hamon_ckpt):
    for order in ((hamon_ckpt, CROP_CKPT), (CROP_CKPT, hamon_ckpt)):
        path = write_config(tmp_path, hamon_ckpt, checkpoint=None,
                            members=[{"checkpoint": str(p)} for p in order])
        crop, hbv = re.escape(str(CROP_CKPT)), re.escape(str(hamon_ckpt))
        mixes = (rf"{re.escape(str(path))}: members: the ensemble mixes δWOFOST \(crop\) checkpoint\(s\) "
                 rf"\['{crop}'\] with hydrology \(HBV\) checkpoint\(s\) \['{hbv}'\]")
        with pytest.raises(ConfigError, match=mixes) as err:
            DeltaModelBmi().initialize(str(path))
        assert "learned_params" not in str(err.value)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(CROP_CKPT))}: physics 'wofost72_pp' is not "
                                              r"one HydrologyHandler runs \(hbv_1_0, hbv_1_1p, hbv_2, "
                                              r"hbv_multimodel\)"):
        HydrologyHandler.load([hamon_ckpt, CROP_CKPT])


def test_an_unwritable_final_state_is_named_and_the_instance_kept(tmp_path, hamon_ckpt):
    (tmp_path / "a_file").write_text("not a folder", encoding="utf-8")
    target = tmp_path / "a_file" / "final.state"
    bmi = make(tmp_path, hamon_ckpt, final_state=str(target))
    feed(bmi, synthetic(3), range(3))
    with pytest.raises(ConfigError, match=rf"final_state: cannot write the state to "
                                          rf"{re.escape(str(target))}"):
        bmi.finalize()
    assert bmi.get_current_time() == 3 * 3600.0  # not released: the state can still be saved elsewhere
    bmi.save_state(tmp_path / "elsewhere.state")
    assert (tmp_path / "elsewhere.state").stat().st_size > 1000


# ---------------------------------------------------------------- E. latitude only where PET needs it
def test_latitude_is_required_only_where_pet_reads_it(tmp_path, pet_ckpt, hamon_ckpt):
    """A `pet_method: forcing` checkpoint never reads latitude: it runs without one, hour for hour the same
    as with one, and its state saves; Hamon PET still refuses a missing latitude, naming it."""
    f = synthetic(30)
    f[PET_IN] = np.full(30, 0.12)  # mm h-1
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    without = make(tmp_path / "a", pet_ckpt, latitude=None)
    with_lat = make(tmp_path / "b", pet_ckpt, latitude=43.1)
    for k in range(30):
        feed(without, f, [k])
        feed(with_lat, f, [k])
        assert observed(without) == observed(with_lat)
    assert observed(without)[0] > 0.0
    without.save_state(tmp_path / "no_lat.state")
    hamon = make(tmp_path, hamon_ckpt, latitude=None)
    with pytest.raises(ConfigError, match="'latitude' is not set"):
        feed(hamon, f, [0])
