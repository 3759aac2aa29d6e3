"""A hot start is an exact continuation: a state records its UTC time, `initial_state` continues from it on
the state's own day axis (HBV day of year, crop calendar), and `final_state` chains two ngen-like runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, shared_path
from ngen_driver import read_forcing
from test_bmi_crop import _hourly

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core import payload
from dmg_bmi.core import variables as V
from dmg_bmi.domains.crop import variables as crop_variables
from dmg_bmi.domains.hydrology import variables as hydro_variables
from dmg_bmi.errors import ConfigError, InputError, StateError

pytestmark = pytest.mark.numpy1

QUICKSTART = REPO / "bmi_configs" / "quickstart.yml"
CROP = REPO / "bmi_configs" / "crop_twin.yml"
MASS = ("ngen::mass_in", "ngen::mass_out", "ngen::mass_stored", "ngen::mass_leaked")
HBV_OBSERVED = (*hydro_variables.OUTPUT_NAMES, *MASS)  # PET, AET, runoff, stores and the mass terms


@pytest.fixture(scope="module")
def aorc() -> dict[str, np.ndarray]:
    """Hourly AORC fields of cat-11223 from 2015-12-01 00:00 UTC, keyed by CSDMS name, in BMI units."""
    path = shared_path("hydro", "hourly", "ngen_gauge_01073000", "forcing", "cat-11223.csv")
    times, cols = read_forcing(path)
    assert times[0] == datetime(2015, 12, 1) and len(times) >= 144
    return {V.AORC_FIELDS[f][0]: v for f, (v, _) in cols.items()}


def start(template: Path, folder: Path, name: str, **changes) -> DeltaModelBmi:
    """A BMI from the shipped config `template` with `changes`, written as `folder/name` (paths relative to
    it, as ngen's per-catchment YAML)."""
    cfg = yaml.safe_load(template.read_text(encoding="utf-8"))
    cfg["checkpoint"] = str(template.parent / cfg["checkpoint"])
    cfg.update(changes)
    path = folder / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    return bmi


def run(bmi: DeltaModelBmi, forcing: dict[str, np.ndarray], hours, names=None, doy: bool = False
        ) -> np.ndarray:
    """Set `names` (default: the declared inputs) and update for each hour; rows of every observed value."""
    observed = HBV_OBSERVED if "ngen::mass_in" in bmi._vars else crop_variables.OUTPUT_NAMES
    rows = []
    for k in hours:
        for name in bmi.get_input_var_names() if names is None else names:
            bmi.set_value(name, forcing[name][k : k + 1])
        bmi.update()
        row = [bmi.get_value(n, np.zeros(1))[0] for n in observed]
        rows.append(row + [bmi._adapter._doy()] if doy else row)
    return np.array(rows)


def test_hot_start_at_the_state_time_continues_exactly(tmp_path, aorc):
    """Handed case hot_start_day_of_year: 60 h, save_state, a new run whose start_time is the state's time
    (2015-12-03 12:00) with all 8 AORC fields set each hour == the unbroken 120 h run, bit for bit (PET and
    the day of year of every window included)."""
    every = list(aorc)  # the 8 AORC fields, as ngen sets them; the checkpoint reads two
    base = {"start_time": "2015-12-01 00:00:00", "end_time": "2015-12-29 23:00:00"}
    ref = run(start(QUICKSTART, tmp_path, "ref.yml", **base), aorc, range(120), every, doy=True)
    first = start(QUICKSTART, tmp_path, "first.yml", **base)
    run(first, aorc, range(60), every)
    first.save_state(tmp_path / "s.state")
    header, _ = payload.decode((tmp_path / "s.state").read_bytes())
    assert header["time"] == "2015-12-03T12:00:00Z" and header["time_step"] == 3600.0
    hot = start(QUICKSTART, tmp_path, "hot.yml", start_time="2015-12-03 12:00:00",
                end_time="2015-12-29 23:00:00", initial_state="s.state")
    assert hot.get_current_time() == 0.0
    got = run(hot, aorc, range(60, 120), every, doy=True)
    np.testing.assert_array_equal(got, ref[60:])
    pet = HBV_OBSERVED.index("land_surface_water_evapotranspiration__potential_volume_flux")
    assert ref[60:, pet].min() > 0 and set(ref[60:, -1]) == {337, 338, 339}  # real PET over several days
    with pytest.raises(ConfigError, match=r"start_time 2015-12-03 13:00:00 is not the time of initial_state "
                                          r".*s\.state, 2015-12-03 12:00:00 \(UTC\).*2015-12-03 12:00:00"):
        start(QUICKSTART, tmp_path, "late.yml", start_time="2015-12-03 13:00:00",
              end_time="2015-12-29 23:00:00", initial_state="s.state")


def test_serialized_state_lands_on_its_own_time(tmp_path, aorc):
    """ngen serialization: a state restores into a run of another start_time at its own time (BMI time =
    state time - start_time), continuing exactly; a time off the run's step grid is refused naming both."""
    base = {"start_time": "2015-12-01 00:00:00", "end_time": "2015-12-29 23:00:00"}
    ref = run(start(QUICKSTART, tmp_path, "ref.yml", **base), aorc, range(100))
    first = start(QUICKSTART, tmp_path, "first.yml", **base)
    run(first, aorc, range(50))
    first.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    blob = first.get_value_ptr("ngen::serialization_state").copy()
    other = start(QUICKSTART, tmp_path, "other.yml", start_time="2015-12-02 00:00:00",
                  end_time="2015-12-29 23:00:00")
    other.set_value("ngen::serialization_state", blob)
    assert other.get_current_time() == 26 * 3600.0  # 2015-12-03 02:00 is hour 26 of this run
    header, arrays = payload.decode(bytes(blob))  # a payload missing an array is refused, nothing changes
    broken = payload.encode(header, {k: v for k, v in arrays.items() if k != "chains/outputs"})
    with pytest.raises(StateError, match="serialization_state: state payload lacks array 'chains/outputs'"):
        other.set_value("ngen::serialization_state", np.frombuffer(broken, dtype=np.uint8))
    np.testing.assert_array_equal(run(other, aorc, range(50, 100)), ref[50:])
    late = start(QUICKSTART, tmp_path, "late.yml", start_time="2015-12-04 00:00:00",
                 end_time="2015-12-29 23:00:00")
    with pytest.raises(InputError, match=r"time 2015-12-03 02:00:00 \(UTC\) is not a step of this run "
                                         r"\(2015-12-04 00:00:00 \+ k x 3600 s\)"):
        late.set_value("ngen::serialization_state", blob)
    assert late.get_current_time() == 0.0  # left as it was


def test_final_state_chains_two_ngen_runs(tmp_path, aorc):
    """Run A (50 h) writes `final_state` at finalize; run B reads it as `initial_state` with start_time = A's
    end_time + time_step; B == one unbroken run, bit for bit (shipped quickstart checkpoint, real forcing)."""
    full = run(start(QUICKSTART, tmp_path, "full.yml", start_time="2015-12-01 00:00:00",
                     end_time="2015-12-05 23:00:00"), aorc, range(120))
    (tmp_path / "a").mkdir()
    a = start(QUICKSTART, tmp_path / "a", "a.yml", start_time="2015-12-01 00:00:00",
              end_time="2015-12-03 01:00:00", final_state="../states/a.state")  # relative to the YAML
    n_a = round(a.get_end_time() / a.get_time_step())
    assert n_a == 50
    np.testing.assert_array_equal(run(a, aorc, range(n_a)), full[:n_a])
    assert not (tmp_path / "states").exists()
    a.finalize()
    assert [p.name for p in (tmp_path / "states").iterdir()] == ["a.state"]  # no temp file left behind
    b = start(QUICKSTART, tmp_path, "b.yml", start_time="2015-12-03 02:00:00", end_time="2015-12-05 23:00:00",
              initial_state="states/a.state")
    got = run(b, aorc, range(n_a, 120))
    np.testing.assert_array_equal(got, full[n_a:])
    assert full[-1, HBV_OBSERVED.index(V.MAIN_OUTPUT)] > 0


def test_crop_final_state_continues_on_the_states_day_axis(tmp_path):
    """δWOFOST, hourly: run A stops mid-season after 05:00 on day 70 and writes `final_state`; run B starts at
    its time with `initial_state` (after the crop's start date, so its calendar is read on A's day axis) and
    equals the unbroken run, bit for bit, outputs and daily weather."""
    hourly = _hourly(110, start_doy=91, seed=5)
    full_bmi = start(CROP, tmp_path, "full.yml", start_time="2015-04-01 00:00:00",
                     end_time="2015-07-19 23:00:00")
    full = run(full_bmi, hourly, range(110 * 24))
    a = start(CROP, tmp_path, "a.yml", start_time="2015-04-01 00:00:00", end_time="2015-06-10 05:00:00",
              final_state="a.state")
    n_a = round(a.get_end_time() / a.get_time_step())
    assert n_a == 70 * 24 + 6
    run(a, hourly, range(n_a))
    a.finalize()
    b = start(CROP, tmp_path, "b.yml", start_time="2015-06-10 06:00:00", end_time="2015-07-19 23:00:00",
              initial_state="a.state")
    got = run(b, hourly, range(n_a, 110 * 24))
    np.testing.assert_array_equal(got, full[n_a:])
    assert b._adapter.weather == full_bmi._adapter.weather and b._adapter.start == full_bmi._adapter.start
    lai = crop_variables.OUTPUT_NAMES.index("crop_canopy__leaf_area_index")
    assert full[n_a, lai] > 0.5 and full[-1, lai] != full[n_a, lai]  # leaves out at the restart; growing on
    with pytest.raises(ConfigError, match=r"start_time 2015-06-11 00:00:00 is not the time of initial_state"
                                          r".*2015-06-10 06:00:00"):
        start(CROP, tmp_path, "c.yml", start_time="2015-06-11 00:00:00", end_time="2015-07-19 23:00:00",
              initial_state="a.state")
