"""δWOFOST through DeltaModelBmi: hourly/daily stepping == offline pipeline, hot start, bad input, tester."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from test_bmi_tester import run_bmi_tester

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.data.variables import saturation_vp_pa
from dmg_bmi.domains.crop.checkpoint import (
    build_crop_model,
    parameter_sets,
    weather_options,
)
from dmg_bmi.domains.crop.dataset import CropCalendar, CropDataset
from dmg_bmi.domains.crop.demo import with_modality
from dmg_bmi.domains.crop.train import build_crop_tensors, run_model
from dmg_bmi.domains.crop.variables import OUTPUT_NAMES, OUTPUTS
from dmg_bmi.domains.crop.weather import aorc_hourly_to_wofost_daily
from dmg_bmi.errors import ConfigError, InputError

pytestmark = pytest.mark.numpy1

CONFIG = REPO / "bmi_configs" / "crop_twin.yml"
CKPT = REPO / "bmi_configs" / "crop_twin_wofost72.pt"


def _config(tmp_path: Path, ckpt: Path = CKPT, **changes) -> Path:
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["checkpoint"] = str(ckpt)
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        elif isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = tmp_path / "crop.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _hourly(n_days: int, start_doy: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Plausible hourly AORC forcing (BMI names and units): diurnal temperature and sun, showers, wind."""
    rng = np.random.default_rng(seed)
    h = np.arange(24 * n_days)
    hod, doy = h % 24, start_doy + h / 24
    temp = 285.0 + 8 * np.sin(2 * np.pi * (doy - 110) / 365) + 5 * np.sin(2 * np.pi * (hod - 9) / 24)
    temp += np.repeat(rng.normal(0, 2.5, n_days), 24)
    sun = np.clip(np.sin(np.pi * (hod - 5) / 15), 0, None) * np.repeat(rng.uniform(300, 850, n_days), 24)
    wet = np.repeat(rng.uniform(size=n_days) < 0.3, 24) & (rng.uniform(size=h.size) < 0.3)
    return {
        "atmosphere_water__liquid_equivalent_precipitation_rate": np.where(wet, rng.gamma(0.8, 1e-3, h.size),
                                                                           0.0),
        "land_surface_air__temperature": temp,
        # specific humidity (kg kg-1) below saturation (0.622 e_s / p) at the hour's temperature
        "atmosphere_air_water~vapor__relative_saturation": np.minimum(
            0.006 + 0.002 * rng.uniform(size=h.size), 0.6 * saturation_vp_pa(temp - 273.15) / 97000.0),
        "land_surface_air__pressure": 97000.0 + 500 * rng.normal(size=h.size),
        "land_surface_radiation~incoming~shortwave__energy_flux": sun,
        "land_surface_radiation~incoming~longwave__energy_flux": np.full(h.size, 300.0),
        "land_surface_wind__x_component_of_velocity": rng.normal(2, 1.5, h.size),
        "land_surface_wind__y_component_of_velocity": rng.normal(0, 1.5, h.size),
    }


def _run_bmi(path: Path, forcing: dict[str, np.ndarray], n_records: int, per_day: int):
    """Step the BMI over `n_records`; returns the outputs `[day, var]` and the engine's daily weather."""
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    rows, weather, buf = [], [], np.zeros(1)
    for i in range(n_records):
        for name, values in forcing.items():
            bmi.set_value(name, values[i : i + 1])
        bmi.update()
        if (i + 1) % per_day == 0:
            rows.append([bmi.get_value(n, buf)[0] for n in OUTPUT_NAMES])
            weather.append(dict(bmi._adapter.weather))
    return bmi, np.array(rows), weather


def _offline(cfg: dict, hourly: dict[str, np.ndarray], n_days: int, path: Path = CKPT):
    """The trainer's offline pipeline on the daily conversion of `hourly`: CropDataset -> tensors -> model."""
    ckpt = load_checkpoint(path)
    model = build_crop_model(ckpt, dtype=torch.float64)
    attrs = {**cfg["attributes"], "lat": cfg["latitude"]}
    start = np.datetime64(cfg["start_time"][:10], "D")
    daily = aorc_hourly_to_wofost_daily(hourly, start.item(), attrs["lat"], attrs["elev"],
                                        **weather_options(ckpt))
    names = list(attrs)
    ds = CropDataset(fields=["f"], sites=["s"], weather_start=[start],
                     weather=np.stack([daily[n] for n in daily], -1)[None], weather_names=tuple(daily),
                     attributes=np.array([[attrs[n] for n in names]]), attribute_names=tuple(names),
                     attribute_units=("1",) * len(names),
                     calendars=[CropCalendar.from_dict(cfg["crop_calendar"])],
                     observations=np.zeros((1, n_days, 0)))
    tensors = build_crop_tensors(ds, ckpt.config, ckpt.normalization, parameter_sets(ckpt))
    with torch.no_grad():
        out, _ = run_model(model, tensors)
    internal = {v.name: v.internal for v in OUTPUTS}
    return np.stack([out[internal[n]][:, 0].numpy() for n in OUTPUT_NAMES], -1), daily


@pytest.mark.parametrize("time_step", [pytest.param(3600, marks=pytest.mark.slow), 86400])
def test_bmi_equals_offline_pipeline_over_a_season(tmp_path, time_step):
    cfg = yaml.safe_load(CONFIG.read_text())
    n_days = 200  # start_time .. covers the whole season of the shipped config
    path = _config(tmp_path, time_step=time_step, end_time="2015-10-17 23:00:00")
    per_day = 86400 // time_step
    hourly = _hourly(n_days, start_doy=91)
    step = 24 // per_day
    # a step's record is the mean over the step (a noon value held for a day would be 66 MJ m-2 d-1 of
    # sun: PCSE's IRRAD limit is 40 MJ m-2 d-1)
    records = {k: v.reshape(-1, step).mean(1) for k, v in hourly.items()}
    _, got, weather = _run_bmi(path, records, n_days * per_day, per_day)
    offline_hourly = {k: np.repeat(v, 24 // per_day) for k, v in records.items()}
    want, daily = _offline({**cfg, "time_step": time_step}, offline_hourly, n_days)
    # the BMI's daily weather is exactly the offline conversion of the same hourly forcing
    for name, values in daily.items():
        np.testing.assert_array_equal([w[name] for w in weather], values, err_msg=name)
    np.testing.assert_array_equal(got, want)
    lai, twso = (OUTPUT_NAMES.index(n) for n in ("crop_canopy__leaf_area_index",
                                                         "crop_storage-organ__dry_mass-per-area_density"))
    assert got[:, lai].max() > 1.0 and got[-1, twso] > 1000.0  # a real season ran


@pytest.mark.parametrize("daily", [False, True])
def test_hot_start_continues_exactly(tmp_path, daily):
    """A run stopped mid-season and restored from its saved state continues bit for bit; with daily
    parameters the LSTM's hidden state travels in the state too (`crop/NN_H`, `crop/NN_C`)."""
    ckpt = daily_checkpoint(tmp_path / "daily.pt") if daily else CKPT
    path = _config(tmp_path, ckpt=ckpt, time_step=86400, end_time="2015-07-19 23:00:00")
    hourly = {k: v.reshape(-1, 24).mean(1) for k, v in _hourly(110, start_doy=91, seed=3).items()}
    bmi, full, _ = _run_bmi(path, hourly, 110, 1)
    first = DeltaModelBmi()
    first.initialize(str(path))
    for i in range(70):
        for name, values in hourly.items():
            first.set_value(name, values[i : i + 1])
        first.update()
    state = tmp_path / "state.bin"
    first.save_state(state)
    path2 = _config(tmp_path, ckpt=ckpt, time_step=86400, start_time="2015-06-10 00:00:00",  # day 70
                    end_time="2015-07-19 23:00:00", initial_state=str(state))
    second = DeltaModelBmi()
    second.initialize(str(path2))
    rows, buf = [], np.zeros(1)
    for i in range(70, 110):
        for name, values in hourly.items():
            second.set_value(name, values[i : i + 1])
        second.update()
        rows.append([second.get_value(n, buf)[0] for n in OUTPUT_NAMES])
    assert full[69, 1] > 0.5  # mid-season: leaves out when the state is saved
    np.testing.assert_array_equal(np.array(rows), full[70:])


def test_crop_variables_and_units(tmp_path):
    bmi = DeltaModelBmi()
    bmi.initialize(str(_config(tmp_path)))
    assert bmi.get_output_var_names() == OUTPUT_NAMES and bmi.get_output_item_count() == 9
    assert bmi.get_var_units("crop_storage-organ__dry_mass-per-area_density") == "kg ha-1"
    assert bmi.get_var_units("crop_canopy__leaf_area_index") == "m2 m-2"
    assert bmi.get_var_units("elev") == "m"
    assert "land_surface_water__runoff_depth" not in bmi._vars  # no hydrology outputs, no mass balance
    assert "ngen::mass_in" not in bmi._vars


@pytest.mark.parametrize("change, match", [
    ({"crop_calendar": {"crop_name": "Rice"}}, r"crop_calendar.crop_name: unknown crop 'Rice'"),
    ({"crop_calendar": {"variety_name": "Bintje"}}, r"unknown variety 'Bintje' of crop 'Potato'"),
    ({"crop_calendar": {"crop_start_date": "2014-04-24"}}, r"crop_start_date 2014-04-24 is outside the run"),
    ({"crop_calendar": {"crop_start_date": "2016-04-24", "crop_end_date": "2016-10-01"}},
     r"crop_start_date 2016-04-24 is outside the run's forcing 2015-04-01\.\.2015-10-20"),
    ({"crop_calendar": {"crop_end_type": "harvested"}}, r"crop_calendar: crop_end_type: 'harvested'"),
    ({"crop_calendar": None}, r"crop_calendar: a δWOFOST checkpoint needs the field's crop calendar"),
    ({"members": [{"checkpoint": str(CKPT)}, {"checkpoint": str(CKPT)}], "checkpoint": None},
     r"a δWOFOST checkpoint runs alone"),
])
def test_bad_config_names_the_problem(tmp_path, change, match):
    bmi = DeltaModelBmi()
    with pytest.raises(ConfigError, match=match):
        bmi.initialize(str(_config(tmp_path, **change)))


def test_missing_attribute_is_named(tmp_path):
    cfg = yaml.safe_load(CONFIG.read_text())
    attrs = {k: v for k, v in cfg["attributes"].items() if k != "elev"}
    path = _config(tmp_path, attributes=None)
    data = yaml.safe_load(path.read_text())
    data["attributes"] = attrs
    path.write_text(yaml.safe_dump(data))
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    for name, values in _hourly(1, start_doy=91).items():
        bmi.set_value(name, values[:1])
    with pytest.raises(ConfigError, match=r"attribute 'elev' is not set"):
        bmi.update()
    bmi.set_value("elev", np.array([120.0]))  # ngen model_params can supply it
    bmi.update()
    assert bmi.get_current_time() == 3600.0


def test_hydro_checkpoint_refuses_a_crop_calendar(tmp_path):
    cfg = yaml.safe_load((REPO / "bmi_configs" / "quickstart.yml").read_text())
    cfg["checkpoint"] = str(REPO / "bmi_configs" / "quickstart_hbv11p.pt")
    cfg["crop_calendar"] = yaml.safe_load(CONFIG.read_text())["crop_calendar"]
    path = tmp_path / "hbv.yml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="crop_calendar: only a δWOFOST"):
        DeltaModelBmi().initialize(str(path))


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["plain", "process", "daily"])
def test_bmi_tester_passes_every_stage_for_wofost(tmp_path, modality):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy2(CONFIG, root / CONFIG.name)
    if modality == "plain":
        shutil.copy2(CKPT, root / CKPT.name)
    else:  # the same config name, a checkpoint with a learned process or daily parameters in its place
        {"process": process_checkpoint, "daily": daily_checkpoint}[modality](root / CKPT.name)
    run_bmi_tester(root, CONFIG.name, "crop_storage-organ__dry_mass-per-area_density")


def process_checkpoint(path: Path, seed: int = 0) -> Path:
    """The shipped checkpoint with a learned assimilation reduction (random weights: `crop.demo`)."""
    return with_modality(CKPT, path, "process", seed)


def daily_checkpoint(path: Path, seed: int = 0) -> Path:
    """The shipped checkpoint with a daily AMAX factor from an LSTM (random weights: `crop.demo`)."""
    return with_modality(CKPT, path, "daily", seed)


@pytest.mark.parametrize("time_step", [3600, 86400])
@pytest.mark.parametrize("modality", ["process", "daily"])
def test_issue14_crop_modalities_step_in_the_bmi_as_offline(tmp_path, time_step, modality):
    """A checkpoint with a learned process (issue 14, modality 2: WOFOST's one-field day calls the network's
    float64 numpy copy) or a daily AMAX factor from an LSTM over the weather (modality 1: the LSTM's numpy
    step, once a day): the BMI equals the offline run (the torch networks over the whole sequence, the
    batched WOFOST) to 1e-9 in float64, and the modality really changes the season."""
    ckpt = with_modality(CKPT, tmp_path / f"{modality}.pt", modality)
    cfg = yaml.safe_load(CONFIG.read_text())
    n_days = 200
    path = _config(tmp_path, ckpt=ckpt, time_step=time_step, end_time="2015-10-17 23:00:00")
    per_day = 86400 // time_step
    records = {k: v.reshape(-1, 24 // per_day).mean(1) for k, v in _hourly(n_days, start_doy=91).items()}
    _, got, _ = _run_bmi(path, records, n_days * per_day, per_day)
    hourly = {k: np.repeat(v, 24 // per_day) for k, v in records.items()}
    want, _ = _offline({**cfg, "time_step": time_step}, hourly, n_days, ckpt)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    plain, _ = _offline({**cfg, "time_step": time_step}, hourly, n_days)
    twso = OUTPUT_NAMES.index("crop_storage-organ__dry_mass-per-area_density")
    assert abs(want[-1, twso] / plain[-1, twso] - 1) > 0.01, (want[-1, twso], plain[-1, twso])


def test_shipped_crop_realization_matches_the_writer():
    import json

    from dmg_bmi.ngen.writers import realization_dict

    shipped = json.loads((REPO / "realizations" / "crop_python.json").read_text())
    t = shipped["time"]
    assert shipped == realization_dict(
        "bmi_python", "./config/{{id}}.yml", "./forcing/", t["start_time"], t["end_time"],
        t["output_interval"], main_output="crop_storage-organ__dry_mass-per-area_density",
        output_variables=list(OUTPUT_NAMES))
    cfg = yaml.safe_load(CONFIG.read_text())  # the realization's period and step are the shipped config's
    assert (t["start_time"], t["end_time"], t["output_interval"]) == (cfg["start_time"], cfg["end_time"],
                                                                      cfg["time_step"])


def test_update_past_the_run_end_is_refused(tmp_path):
    path = _config(tmp_path, time_step=86400, end_time="2015-04-10 00:00:00",
                   crop_calendar={"crop_start_date": "2015-04-05"})
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    forcing = {k: v.reshape(-1, 24).mean(1) for k, v in _hourly(12, start_doy=91).items()}
    for i in range(11):  # 10 run days + the spare day ngen's allow_exceed_end_time may use
        for name, values in forcing.items():
            bmi.set_value(name, values[i : i + 1])
        bmi.update()
    assert bmi.get_current_time() == 11 * 86400.0
    with pytest.raises(InputError, match=r"update past the run's end: day 11 from 2015-04-01"):
        bmi.update()


def test_crop_state_fits_a_run_of_another_length():
    """Leaf-class slots (one per run day): a state restores into a longer run (empty slots added) and a
    shorter one (unwritten slots dropped) and continues exactly; written slots past the run's days are
    refused."""
    from dmg_bmi.domains.crop.handler import CropHandler

    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    calendar = CropCalendar.from_dict({**cfg["crop_calendar"], "crop_start_date": "2015-04-03"})
    attrs = {**cfg["attributes"], "lat": cfg["latitude"]}
    weather = [{"IRRAD": 2.0e7, "TMIN": 8.0 + d % 5, "TMAX": 22.0 + d % 3, "E0": 0.4, "ES0": 0.35, "ET0": 0.3,
                "RAIN": 0.1 * (d % 4 == 0), "DOY": 91.0 + d} for d in range(60)]

    def handler(n_days):
        h = CropHandler.load(CKPT)
        h.bind(attrs, calendar, calendar.crop_start_date.replace(day=1), n_days)
        return h

    ref = handler(60)
    state = ref.initial_state()
    rows = []
    for d, w in enumerate(weather):
        state, out = ref.advance(state, w)
        rows.append(out)
        if d == 39:
            saved = ref.state_to_arrays(state)
    assert rows[-1]["LAI"] > 0.1  # leaves grew: slots were written
    for n_days in (45, 61, 200):
        other = handler(n_days)
        state = other.state_from_arrays(saved)
        assert other.state_to_arrays(state)["LV_W"].shape == (1, n_days)
        for d in range(40, 45):
            state, out = other.advance(state, weather[d])
            assert out == rows[d], (n_days, d)
    with pytest.raises(InputError, match=r"'LV_\w+' has 60 leaf-class slots written past this run's 30 days"):
        handler(30).state_from_arrays(saved)


def test_a_weather_option_the_bmi_does_not_take_is_refused_at_initialize(tmp_path):
    """A checkpoint recording `day_start_hour_utc` (days from 06:00) is refused by name: the BMI's days start
    at record 0 (it used to fail on the first day with an IndexError)."""
    from dmg_bmi.core.checkpoint import load_checkpoint
    from dmg_bmi.errors import CheckpointError

    ckpt = load_checkpoint(CKPT)
    ckpt.derivations["weather"] = {**ckpt.derivations.get("weather", {}), "day_start_hour_utc": 6}
    path = ckpt.save(tmp_path / "shifted_days.pt")
    with pytest.raises(CheckpointError, match=r"shifted_days.pt: derivations.weather records option\(s\) "
                                              r"\['day_start_hour_utc'\]"):
        DeltaModelBmi().initialize(str(_config(tmp_path, checkpoint=str(path))))

