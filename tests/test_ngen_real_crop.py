"""The shipped δWOFOST field runs in the real NextGen `ngen` over a season and gives the offline numbers.

`bmi_configs/crop_twin.yml` (potato, sown 2015-04-24, harvested 2015-10-08; run 2015-04-01..2015-10-20) goes
into a run folder written by `dmg_bmi.domains.crop.run_folder.write_crop_run_folder`, with hourly AORC CSV
forcing this module generates (`test_bmi_crop._hourly`: diurnal temperature and sun, showers, wind). At every
day-closing hour all nine crop outputs ngen writes equal the offline daily pipeline (`test_bmi_crop._offline`)
on the
same forcing; the folder's config keeps the shipped header with its non-ASCII `δ`, which ngen's ASCII Python
must read as UTF-8.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO
from test_bmi_crop import _hourly, _offline, daily_checkpoint, process_checkpoint
from test_ngen_real import read_nexus, read_outputs

from dmg_bmi.bmi_config import load_bmi_config
from dmg_bmi.core.variables import AORC_FIELDS
from dmg_bmi.domains.crop.run_folder import write_crop_run_folder
from dmg_bmi.domains.crop.variables import OUTPUT_NAMES as CROP_OUTPUT_NAMES
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen.writers import check_network, read_catchments, read_nexus_ids

CONFIG = REPO / "bmi_configs" / "crop_twin.yml"
CKPT = REPO / "bmi_configs" / "crop_twin_wofost72.pt"
FIELD, NEXUS = "cat-1", "nex-1"
AREA_KM2, LONGITUDE = 0.05, 4.6561  # a 5-ha field; the field's `lon` attribute (degrees east)
N_DAYS = 203  # 2015-04-01 .. 2015-10-20, the shipped config's run
# ngen's AORC CSV layout: precip mm s-1 (= kg m-2 s-1), K, kg kg-1, m s-1, Pa, W m-2
CSV_COLUMNS = ("precip_rate", "TMP_2maboveground", "SPFH_2maboveground", "UGRD_10maboveground",
               "VGRD_10maboveground", "PRES_surface", "DSWRF_surface", "DLWRF_surface")
TWSO, LAI = "crop_storage-organ__dry_mass-per-area_density", "crop_canopy__leaf_area_index"


def write_forcing_csv(path: Path, start: datetime, hourly: dict[str, np.ndarray]) -> Path:
    """`hourly` (BMI names, AORC units) as ngen's CSV forcing, one row per hour from `start`; 17 significant
    digits, so ngen reads exactly the values the offline run gets."""
    times = np.datetime64(start, "h") + np.arange(len(next(iter(hourly.values())))).astype("timedelta64[h]")
    values = np.stack([hourly[AORC_FIELDS[c][0]] for c in CSV_COLUMNS], -1)
    rows = [f"{t.astype(datetime):%Y-%m-%d %H:%M:%S}," + ",".join(f"{v:.17g}" for v in row)
            for t, row in zip(times, values, strict=True)]
    path.write_text("\n".join(["time," + ",".join(CSV_COLUMNS), *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """The field's forcing CSV over the whole run and the same hourly values (BMI names)."""
    start = datetime.fromisoformat(yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["start_time"])
    hourly = _hourly(N_DAYS, start_doy=start.timetuple().tm_yday)
    path = write_forcing_csv(tmp_path_factory.mktemp("forcing") / "field.csv", start, hourly)
    return path, hourly


@pytest.fixture(scope="module")
def crop_run(ngen_env, season, tmp_path_factory) -> Path:
    run = write_crop_run_folder(tmp_path_factory.mktemp("ngen_crop") / "run", CONFIG, season[0],
                                area_km2=AREA_KM2, longitude=LONGITUDE)
    ngen_env.run(run)
    return run


@pytest.mark.ngen
def test_field_equals_the_offline_run_over_the_season(crop_run, season):
    assert not (crop_run / "config" / f"{FIELD}.yml").read_bytes().isascii()  # the header's δ, read by ngen
    outputs = read_outputs(crop_run)
    assert set(outputs) == {FIELD}
    got = np.stack([outputs[FIELD][name] for name in CROP_OUTPUT_NAMES], -1)  # [hour, output]
    assert got.shape == (24 * N_DAYS, 9)
    want, _ = _offline(yaml.safe_load(CONFIG.read_text(encoding="utf-8")), season[1], N_DAYS)  # [day, output]
    for j, name in enumerate(CROP_OUTPUT_NAMES):
        # hour 24 d + 23 closes day d; ngen prints 9 significant digits
        np.testing.assert_allclose(got[23::24, j], want[:, j], rtol=1e-6, atol=0, err_msg=name)
    # the 23 hours after a closing hold the day it closed
    held = got[24:].reshape(N_DAYS - 1, 24, 9)[:, :23]
    np.testing.assert_array_equal(held, np.repeat(got[23:-1:24, None], 23, 1))
    lai, twso = (CROP_OUTPUT_NAMES.index(n) for n in (LAI, TWSO))
    assert want[:, lai].max() > 1.0 and got[-1, twso] > 1000.0  # a real crop grew


@pytest.mark.ngen
@pytest.mark.parametrize("make", [process_checkpoint, daily_checkpoint], ids=["process", "daily"])
def test_issue14_crop_modalities_run_in_ngen_as_offline(ngen_env, season, tmp_path, make):
    """Issue 14 (1, 2): the shipped field with a checkpoint that has a learned assimilation reduction, or a
    daily AMAX factor from an LSTM over the weather (`test_bmi_crop.process_checkpoint`, `daily_checkpoint`):
    what ngen writes at each day-closing hour equals the offline run of that checkpoint, and differs from the
    plain checkpoint's season."""
    ckpt = make(tmp_path / "modality.pt")
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config = tmp_path / "modality.yml"
    config.write_text(yaml.safe_dump({**cfg, "checkpoint": str(ckpt)}), encoding="utf-8")
    run = write_crop_run_folder(tmp_path / "run", config, season[0], area_km2=AREA_KM2, longitude=LONGITUDE)
    ngen_env.run(run)
    got = np.stack([read_outputs(run)[FIELD][name] for name in CROP_OUTPUT_NAMES], -1)[23::24]
    want, _ = _offline(cfg, season[1], N_DAYS, ckpt)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    plain, _ = _offline(cfg, season[1], N_DAYS)
    twso = CROP_OUTPUT_NAMES.index(TWSO)
    assert abs(got[-1, twso] / plain[-1, twso] - 1) > 0.01


@pytest.mark.ngen
def test_nexus_gets_the_raw_yield_times_area(crop_run):
    nexus = read_nexus(crop_run)
    assert set(nexus) == {NEXUS}
    yield_kg_ha = read_outputs(crop_run)[FIELD][TWSO]
    assert nexus[NEXUS].shape == yield_kg_ha.shape and yield_kg_ha[-1] > 1000.0
    # ngen cannot convert kg ha-1 to metres and sends the raw value on (a number with no meaning)
    np.testing.assert_allclose(nexus[NEXUS], yield_kg_ha * AREA_KM2 * 1e6 / 3600.0, rtol=1e-5)


def test_run_folder_holds_what_ngen_needs(season, tmp_path):
    run = write_crop_run_folder(tmp_path / "run", CONFIG, season[0], area_km2=AREA_KM2, longitude=LONGITUDE)
    catchments = read_catchments(run / "catchments.geojson")  # the hydrology writer's checks of ngen's rules
    assert [(c["id"], c["areasqkm"], c["toid"]) for c in catchments] == [(FIELD, AREA_KM2, NEXUS)]
    check_network(catchments, read_nexus_ids(run / "nexus.geojson"), run / "nexus.geojson")
    shipped = json.loads((REPO / "realizations" / "crop_python.json").read_text(encoding="utf-8"))
    shipped["global"]["formulations"][0]["params"]["variables_names_map"] = {
        name: column for column, (name, _) in AORC_FIELDS.items()
        if column != "DLWRF_surface"}  # the 7 fields WOFOST reads
    assert json.loads((run / "realization.json").read_text(encoding="utf-8")) == shipped
    written, base = load_bmi_config(run / "config" / f"{FIELD}.yml")
    source, _ = load_bmi_config(CONFIG)
    assert (base / written.checkpoint).read_bytes() == CKPT.read_bytes()
    assert {**vars(written), "checkpoint": source.checkpoint} == vars(source)
    assert (run / "forcing" / f"{FIELD}.csv").read_bytes() == season[0].read_bytes()


def test_state_paths_stay_where_the_source_config_points(season, tmp_path):
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    src = tmp_path / "src"
    src.mkdir()
    (src / CKPT.name).write_bytes(CKPT.read_bytes())
    cfg["final_state"] = "states/end.state"
    (src / "field.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    run = write_crop_run_folder(tmp_path / "run", src / "field.yml", season[0], area_km2=AREA_KM2,
                                longitude=LONGITUDE)
    written, _ = load_bmi_config(run / "config" / f"{FIELD}.yml")
    assert written.final_state == str(src.resolve() / "states" / "end.state")


@pytest.mark.parametrize("change, kwargs, match", [
    ({"catchment_id": "site001_f2"}, {}, r"field\.yml: catchment_id 'site001_f2' is not of the form cat-N"),
    ({}, {"nexus_id": "outlet", "area_km2": 0.0},
     r"nexus id 'outlet' is not of the form nex-N; area_km2 0\.0 is not a positive number of km2"),
    ({"checkpoint": str(REPO / "bmi_configs" / "quickstart_hbv11p.pt")}, {},
     r"checkpoint .*quickstart_hbv11p\.pt is not a δWOFOST \(crop\) checkpoint"),
    ({"time_step": 1800}, {}, r"field\.yml: time_step must be a whole number of hours"),
])
def test_refuses_what_ngen_cannot_run(season, tmp_path, change, kwargs, match):
    cfg = {**yaml.safe_load(CONFIG.read_text(encoding="utf-8")), "checkpoint": str(CKPT), **change}
    path = tmp_path / "field.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        write_crop_run_folder(tmp_path / "run", path, season[0],
                              **{"area_km2": AREA_KM2, "longitude": LONGITUDE, **kwargs})
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_forcing_without_a_needed_column_is_refused(season, tmp_path):
    lines = season[0].read_text(encoding="utf-8").splitlines()
    cut = [",".join(c for i, c in enumerate(line.split(",")) if i != 2) for line in lines[:3]]  # no TMP
    path = tmp_path / "field.csv"
    path.write_text("\n".join(cut) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'land_surface_air__temperature' has no column in .*field\.csv"):
        write_crop_run_folder(tmp_path / "run", CONFIG, path, area_km2=AREA_KM2, longitude=LONGITUDE)
    assert not (tmp_path / "run").exists()
