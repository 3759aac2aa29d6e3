"""Findings of the issue-10 hostile trial in the BMI and its readers (R1, R5-R8, S1, S9): each refused with a
named error instead of a raw traceback or a silent wrong number."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_attribute_ranges import CONFIGS, _config
from test_bmi import synthetic

from dmg_bmi.attributes import attribute_problems
from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.errors import ConfigError, InputError

pytestmark = pytest.mark.numpy1

DHBV8 = CONFIGS / "dhbv_camels8.pt"
HYDRO = "/work/shared/data/hydro"


# ------------------------------------------------------------------- S1: attributes far outside training
@pytest.mark.parametrize(("name", "attribute", "value", "lo", "hi"), [
    ("quickstart.yml", "permeability", 1e6, "-2.32227", "3.33517"),
    ("crop_twin.yml", "cultivar_index", 50.0, "-2.59272", "3.57657"),
])
def test_yaml_attribute_far_outside_training_is_refused(tmp_path, name, attribute, value, lo, hi):
    path, catchment = _config(tmp_path, name, **{attribute: value})
    msg = (rf"{re.escape(str(path))}: catchment {catchment}: {attribute} = {re.escape(f'{value:g}')} is far "
           rf"outside the training data of checkpoint .*\.pt: .* standard deviations from the training mean "
           rf".*accepted within 10, i\.e\. {re.escape(f'[{lo}, {hi}]')}")
    with pytest.raises(ConfigError, match=msg):
        DeltaModelBmi().initialize(str(path))


def test_model_params_far_outside_training_are_refused_at_the_next_update(tmp_path):
    path, catchment = _config(tmp_path, "quickstart.yml")
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    f = synthetic(2)
    for var in bmi.get_input_var_names():
        bmi.set_value(var, f[var][:1])
    bmi.set_value("permeability", np.array([1e6]))
    with pytest.raises(InputError, match=rf"catchment {catchment}: attribute\(s\) set through set_value .* "
                                         r"permeability = 1e\+06 is far outside the training data"):
        bmi.update()


def _rows(path: str) -> list[dict[str, str]]:
    import csv

    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("table", ["attributes/camels_attributes_v2.csv",
                                   "hourly/ngen_gauge_01073000/camels_attributes_v2_01073000.csv",
                                   "daily_daymet_short/camels_attributes_v2_short_basins.csv"])
def test_real_camels_and_ngen_domain_attributes_pass_the_training_range(table):
    ckpt = load_checkpoint(DHBV8)
    rows = _rows(f"{HYDRO}/{table}")
    assert rows
    for row in rows:
        values = {n: float(row[n]) for n in ckpt.nn_attributes}
        assert attribute_problems(values, [ckpt]) == [], row["gauge_id"]


def test_log_normalized_attribute_is_judged_in_its_log_space():
    from dataclasses import replace

    ckpt = load_checkpoint(CONFIGS / "quickstart_hbv11p.pt")
    stats = ckpt.normalization.stats
    # log10(sqrt(x) + 0.1) in 1.0 +- 10 x 0.05: x in [(10**0.5 - 0.1)**2, (10**1.5 - 0.1)**2] = [9.38, 993.7]
    stats["permeability"] = replace(stats["permeability"], mean=1.0, std=0.05, log_norm=True)
    assert attribute_problems({"permeability": 500.0}, [ckpt]) == []  # a raw z of 9980
    (problem,) = attribute_problems({"permeability": 1e6}, [ckpt])
    assert "permeability = 1e+06" in problem and "in its log10(sqrt(x) + 0.1) space" in problem
    assert "i.e. [9.37754, 993.685]" in problem


def test_an_attribute_with_a_physical_range_is_judged_by_it_not_by_the_training_spread():
    """frac_snow 0.9 is possible (table range 0..1) though far outside a training set whose frac_snow is
    all about 0.01: the network extrapolates, the input is not wrong; 1.5 is impossible: the table refuses
    it."""
    from dataclasses import replace

    ckpt = load_checkpoint(CONFIGS / "quickstart_hbv11p.pt")
    stats = ckpt.normalization.stats
    stats["frac_snow"] = replace(stats["frac_snow"], mean=0.01, std=0.001)
    assert attribute_problems({"frac_snow": 0.9}, [ckpt]) == []
    (problem,) = attribute_problems({"frac_snow": 1.5}, [ckpt])
    assert "frac_snow = 1.5" in problem and "valid range" in problem


def test_simulate_refuses_a_dataset_attribute_far_outside_training(tmp_path, capsys):
    import netCDF4

    from dmg_bmi.cli import main
    from dmg_bmi.domains.hydrology.twin import write_twin

    data = write_twin(tmp_path / "twin.nc", n_basins=3, years=1, seed=1)
    argv = ["simulate", "--checkpoint", str(CONFIGS / "quickstart_hbv11p.pt"), "--data", str(data),
            "--start", "2000-08-01", "--end", "2000-08-10", "--out", str(tmp_path / "sim")]
    assert main(argv) == 0  # the twin the checkpoint was trained on passes
    with netCDF4.Dataset(data, "a") as nc:
        nc["permeability"][1] = 1e6
        basin = str(nc["basin"][1])
    assert main([*argv[:-1], str(tmp_path / "sim2")]) == 2
    err = capsys.readouterr().err
    assert f"basin {basin!r}: permeability = 1e+06 is far outside the training data of checkpoint" in err
    assert "quickstart_hbv11p.pt" in err and "i.e. [-2.32227, 3.33517]" in err
    assert not (tmp_path / "sim2").exists()


# ------------------------------------------------------------------- R1: crop_calendar max_duration
def _crop_config(tmp_path, **calendar) -> str:
    import yaml

    path, _ = _config(tmp_path, "crop_twin.yml")
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["crop_calendar"].update(calendar)
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("value", "shown"), [
    ("long", "'long' is not a whole number of days"),
    (2.7, "2.7 is not a whole number of days"),
    (True, "True is not a whole number of days"),
    (1000000000, "1000000000 days is outside 1..1000"),
    (0, "0 days is outside 1..1000"),
])
def test_crop_calendar_max_duration_must_be_whole_days(tmp_path, value, shown):
    path = _crop_config(tmp_path, max_duration=value)
    with pytest.raises(ConfigError, match=re.escape(f"crop_calendar: max_duration: {shown}")):
        DeltaModelBmi().initialize(path)


def test_crop_calendar_whole_float_max_duration_is_days():
    from dmg_bmi.domains.crop.dataset import CropCalendar

    calendar = CropCalendar("Potato", "Potato_twin", "2015-04-24", max_duration=200.0)
    assert calendar.max_duration == 200 and type(calendar.max_duration) is int


# ------------------------------------------------------------------- R5: the year 9999
def _timed_config(tmp_path, **over):
    import yaml

    path, _ = _config(tmp_path, "quickstart.yml")
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**cfg, **over}), encoding="utf-8")
    return str(path)


def test_an_end_time_without_a_step_and_a_day_before_the_year_10000_is_refused(tmp_path):
    path = _timed_config(tmp_path, start_time="9999-12-31 00:00:00", end_time="9999-12-31 23:00:00",
                         final_state="f.state")
    msg = "end_time '9999-12-31 23:00:00': the run's last 3600-s step and the day ngen may run past it end"
    with pytest.raises(ConfigError, match=re.escape(f"{msg} after the year 9999")):
        DeltaModelBmi().initialize(path)


def test_updates_past_the_end_stop_before_the_year_10000_and_the_state_is_written(tmp_path):
    path = _timed_config(tmp_path, start_time="9999-12-28 00:00:00", end_time="9999-12-29 23:00:00",
                         final_state="f.state")
    bmi = DeltaModelBmi()
    bmi.initialize(path)
    f = synthetic(80)
    for i in range(71):  # 48 steps to the end, then up to 9999-12-30 23:00 (OverflowError at 107 before)
        for var in bmi.get_input_var_names():
            bmi.set_value(var, f[var][i : i + 1])
        bmi.update()
    msg = "update() at t=255600 s (9999-12-30 23:00:00 UTC): the step would reach the last day of the"
    with pytest.raises(InputError, match=re.escape(f"{msg} year 9999")):
        bmi.update()
    bmi.finalize()  # writes the state at 9999-12-30 23:00
    assert (tmp_path / "f.state").stat().st_size > 0


# ------------------------------------------------------------------- R7: arguments that are not what BMI says
def test_save_state_to_something_not_a_path_is_refused(tmp_path):
    path, _ = _config(tmp_path, "quickstart.yml")
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    for bad in (None, 3, ""):
        shown = f"save_state: {bad!r} ({type(bad).__name__}) is not the path of a file"
        with pytest.raises(InputError, match=re.escape(shown)):
            bmi.save_state(bad)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_grid_coordinates_into_something_not_a_float_array_are_refused(tmp_path, axis):
    path, _ = _config(tmp_path, "quickstart.yml")
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    getter = getattr(bmi, f"get_grid_{axis}")
    frozen = np.zeros(1)
    frozen.flags.writeable = False
    for dest, kind in ((None, "NoneType"), (np.zeros(1, dtype=np.int64), "a int64 array"),
                       (frozen, "a read-only float64 array"), ([0.0], "list")):
        with pytest.raises(InputError, match=re.escape(f"get_grid_{axis}: the destination must be a writable "
                                                       f"floating-point numpy array, got {kind}")):
            getter(0, dest)
    assert np.isnan(getter(0, np.zeros(1))).all()


# ------------------------------------------------------------------- R8: the checkpoint's variable lists
def _forged(tmp_path, change) -> str:
    """quickstart_hbv11p.pt with its payload changed by `change` and its digest recomputed (crafted)."""
    import torch

    from dmg_bmi.core.checkpoint import _digest

    data = torch.load(CONFIGS / "quickstart_hbv11p.pt", weights_only=True)
    change(data)
    data["sha256"] = _digest(data)
    path = tmp_path / "forged.pt"
    torch.save(data, path)
    return str(path)


def test_an_nn_input_without_statistics_is_refused_at_load(tmp_path, capsys):
    from dmg_bmi.cli import main
    from dmg_bmi.errors import CheckpointError

    path = _forged(tmp_path, lambda d: d["variables"]["nn_forcings"].append("X"))
    msg = f"{path}: invalid checkpoint metadata: variables.nn_forcings lists ['X'], without normalization"
    with pytest.raises(CheckpointError, match=re.escape(msg)):
        load_checkpoint(path)
    assert main(["inspect", path]) == 2  # KeyError 'X' before
    assert msg in capsys.readouterr().err


def test_a_name_listed_twice_is_refused_at_load(tmp_path):
    from dmg_bmi.errors import CheckpointError

    path = _forged(tmp_path, lambda d: d["variables"]["outputs"].append("streamflow"))
    with pytest.raises(CheckpointError, match=re.escape("variables.outputs names ['streamflow'] twice")):
        load_checkpoint(path)


def test_simulate_refuses_network_inputs_other_than_the_configs(tmp_path, capsys):
    from dmg_bmi.cli import main
    from dmg_bmi.domains.hydrology.twin import write_twin

    def extra(data):
        data["variables"]["nn_forcings"].append("X")
        data["normalization"]["variables"]["X"] = {"mean": 0.0, "std": 1.0, "log_norm": False}

    path = _forged(tmp_path, extra)
    data = write_twin(tmp_path / "twin.nc", n_basins=2, years=1, seed=1)
    assert main(["simulate", "--checkpoint", path, "--data", str(data), "--start", "2000-08-01", "--end",
                 "2000-08-10", "--out", str(tmp_path / "sim")]) == 2  # "NN forcing x must have nx=4" before
    assert (f"{path}: invalid checkpoint metadata: variables.nn_forcings ['P', 'T', 'PET', 'X'] differ from "
            "config.inputs.forcings ['P', 'T', 'PET']") in capsys.readouterr().err


def test_reordered_network_attributes_are_refused_by_every_loader(tmp_path, capsys):
    """A crafted checkpoint whose `variables.nn_attributes` is reversed (digest recomputed) ran in the BMI
    and simulate with the attributes fed in the wrong order (runoff off by up to 18.5 % of its peak)."""
    import yaml

    from dmg_bmi.bmi import DeltaModelBmi
    from dmg_bmi.cli import main
    from dmg_bmi.errors import CheckpointError

    path = _forged(tmp_path, lambda d: d["variables"]["nn_attributes"].reverse())
    msg = "variables.nn_attributes ['frac_snow', "
    cfg = yaml.safe_load((CONFIGS / "quickstart.yml").read_text())
    cfg["checkpoint"] = path
    (tmp_path / "q.yml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(CheckpointError, match=re.escape(msg)):
        DeltaModelBmi().initialize(str(tmp_path / "q.yml"))
    assert main(["inspect", path]) == 2
    assert msg in capsys.readouterr().err
