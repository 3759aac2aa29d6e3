"""The real NextGen `ngen` runs folders written by `dmg-bmi realization` and gives the offline numbers.

Domain: the 01073000 example (5 catchments, 696 hourly steps, AORC CSV forcing), with the checkpoint trained
on the shared CAMELS basins (`bmi_configs/dhbv_camels8.pt`, CAMELS attribute names). At the hours aligned
with the start, every catchment's outputs equal the offline daily model on the daily-aggregated forcing;
nexus flow is depth x area / 3600 s; `bmi_multi` equals `bmi_python`; ngen's fatal mass-balance check
passes at 1e-9 m and stops a run whose balance is broken, and passes with an output correction or a
multimodel's reweighting counted; a copied run folder still runs.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, shared_path
from ngen_driver import read_forcing
from test_bmi import offline_daily

from dmg_bmi.core.variables import AORC_FIELDS
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen.needs import needed_attributes
from dmg_bmi.ngen.writers import read_attributes_table, write_run_folder

pytestmark = pytest.mark.ngen

START, END = "2015-12-01 00:00:00", "2015-12-29 23:00:00"
CKPT = REPO / "bmi_configs" / "dhbv_camels8.pt"
RUNOFF = "land_surface_water__runoff_depth"
CORRECTION = "land_surface_water__runoff_correction_volume_flux"
DIAGNOSTICS = {  # ngen output column -> offline daily outputs summed (mm/d or mm)
    "land_surface_water_evapotranspiration__volume_flux": ("AET",),
    "land_surface_water_evapotranspiration__potential_volume_flux": ("PET",),
    "snowpack__leq_depth": ("snowpack", "meltwater"),
}
PLUGINS = Path(__file__).parent / "ngen_plugins"


@pytest.fixture(scope="module")
def domain() -> Path:
    return shared_path("hydro", "hourly", "ngen_gauge_01073000")


def make_run(out: Path, domain: Path, start: str = START, end: str = END, checkpoint: Path = CKPT,
             **options) -> Path:
    """A 01073000 run folder with `checkpoint` (default: the CAMELS one); `options` go to
    `write_run_folder`."""
    table = read_attributes_table(domain / "camels_attributes_v2_01073000.csv")
    return write_run_folder(out, domain / "catchments.geojson", domain / "forcing", checkpoint, start, end,
                            needed_attributes(checkpoint), table=table,
                            nexus_geojson=domain / "nexus_hf.geojson", **options)


def set_mass_balance(run: Path, tolerance: float, python_type: str | None = None) -> None:
    """Add ngen's mass-balance block (fatal) to every BMI module of the realization, optionally swapping
    the module's python_type."""
    path = run / "realization.json"
    real = json.loads(path.read_text(encoding="utf-8"))
    for form in real["global"]["formulations"]:
        params = form["params"]
        for module in [params, *(m["params"] for m in params.get("modules", []))]:
            if module.get("name") == "bmi_python":
                module["mass_balance"] = {"tolerance": tolerance, "fatal": True, "frequency": 1}
                if python_type:
                    module["python_type"] = python_type
    path.write_text(json.dumps(real, indent=2), encoding="utf-8")


def read_outputs(run: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every `cat-*.csv` ngen wrote: {catchment: {column: values}} (rows are output steps)."""
    out = {}
    for path in sorted(run.glob("cat-*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        out[path.stem] = {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k not in ("Time",)}
    return out


def read_nexus(run: Path) -> dict[str, np.ndarray]:
    """Every `<nexus>_output.csv`: {nexus: flow m3 s-1 per step}."""
    out = {}
    for path in sorted(run.glob("nex-*_output.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            out[path.name.removesuffix("_output.csv")] = np.array([float(r[2]) for r in csv.reader(fh)])
    return out


@pytest.fixture(scope="module")
def python_run(ngen_env, domain, tmp_path_factory) -> Path:
    run = make_run(tmp_path_factory.mktemp("ngen") / "run", domain)
    ngen_env.run(run)
    return run


def test_catchments_equal_the_offline_daily_run(python_run, domain):
    outputs = read_outputs(python_run)
    geo = json.loads((domain / "catchments.geojson").read_text(encoding="utf-8"))
    assert set(outputs) == {f["id"] for f in geo["features"]}
    table = read_attributes_table(domain / "camels_attributes_v2_01073000.csv")
    attrs = next(iter(table.values()))
    start = datetime.fromisoformat(START)
    n_hours = len(next(iter(outputs.values()))[RUNOFF])
    assert n_hours == 696
    days = n_hours // 24
    doy = np.array([(start + timedelta(days=d)).timetuple().tm_yday for d in range(days)])
    for cid, cols in outputs.items():
        _, fields = read_forcing(domain / "forcing" / f"{cid}.csv")
        forcing = {AORC_FIELDS[f][0]: v[: days * 24] for f, (v, _) in fields.items()}
        ref = offline_daily(CKPT, forcing, attrs["gauge_lat"], doy, attrs)
        got = cols[RUNOFF][23::24] * 1000.0 * 24.0  # m per hour -> mm d-1, at start-aligned hours
        assert ref["streamflow"].max() > 0.1  # real runoff, not a run of zeros
        np.testing.assert_allclose(got, ref["streamflow"], rtol=1e-6, atol=1e-12, err_msg=cid)
        for column, keys in DIAGNOSTICS.items():
            np.testing.assert_allclose(cols[column][23::24], sum(ref[k] for k in keys), rtol=1e-6, atol=1e-9,
                                       err_msg=f"{cid} {column}")


def test_nexus_flow_is_depth_times_area(python_run, domain):
    outputs, nexus = read_outputs(python_run), read_nexus(python_run)
    geo = json.loads((domain / "catchments.geojson").read_text(encoding="utf-8"))
    assert nexus
    for nid, flow in nexus.items():
        feeders = [f for f in geo["features"] if f["properties"]["toid"] == nid]
        assert feeders, nid
        expected = sum(outputs[f["id"]][RUNOFF] * f["properties"]["areasqkm"] * 1e6 / 3600.0
                       for f in feeders)
        assert expected.max() > 0
        np.testing.assert_allclose(flow, expected, rtol=1e-5, atol=1e-12, err_msg=nid)


def test_bmi_multi_equals_bmi_python(ngen_env, python_run, domain, tmp_path):
    run = make_run(tmp_path / "multi", domain, style="bmi_multi")
    ngen_env.run(run)
    for path in sorted(python_run.glob("cat-*.csv")):
        assert (run / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path.name


def test_fatal_mass_balance_passes_and_a_broken_balance_stops_ngen(ngen_env, domain, tmp_path):
    good = make_run(tmp_path / "good", domain)
    set_mass_balance(good, 1e-9)
    ngen_env.run(good)
    assert "mass_balance" not in (good / "ngen.log").read_text(encoding="utf-8")
    bad = make_run(tmp_path / "bad", domain)
    set_mass_balance(bad, 1e-9, python_type="leaky_bmi.LeakyBmi")
    done = ngen_env.run(bad, extra_pythonpath=[PLUGINS], check=False)
    log = (bad / "ngen.log").read_text(encoding="utf-8")
    assert done.returncode != 0 and "Mass balance check failed" in log, log[-2000:]


def balanced_ngen_run(ngen_env, domain: Path, folder: Path, ckpt: Path):
    """Run `ckpt` on the 01073000 domain in ngen with its fatal mass-balance check at 1e-9 m (it must pass);
    yield each catchment's (id, ngen output columns, offline daily outputs)."""
    run = make_run(folder, domain, checkpoint=ckpt)
    set_mass_balance(run, 1e-9)
    ngen_env.run(run)
    assert "mass_balance" not in (run / "ngen.log").read_text(encoding="utf-8")
    attrs = next(iter(read_attributes_table(domain / "camels_attributes_v2_01073000.csv").values()))
    start = datetime.fromisoformat(START)
    for cid, cols in read_outputs(run).items():
        days = len(cols[RUNOFF]) // 24
        doy = np.array([(start + timedelta(days=d)).timetuple().tm_yday for d in range(days)])
        _, fields = read_forcing(domain / "forcing" / f"{cid}.csv")
        forcing = {AORC_FIELDS[f][0]: v[: days * 24] for f, (v, _) in fields.items()}
        ref = offline_daily(ckpt, forcing, attrs["gauge_lat"], doy, attrs)
        np.testing.assert_allclose(cols[RUNOFF][23::24] * 1000.0 * 24.0, ref["streamflow"], rtol=1e-6,
                                   atol=1e-12, err_msg=cid)
        yield cid, cols, ref


def test_an_output_correction_runs_in_ngen_as_offline_with_a_closed_mass_balance(ngen_env, domain, tmp_path):
    """A checkpoint with `model.correction` (issue 14): ngen's fatal mass-balance check passes at 1e-9 m
    with the correction counted, and its runoff and correction columns equal the offline daily model."""
    from dmg_bmi.core.config import CorrectionConfig
    from dmg_bmi.ngen.demo import make_demo_checkpoint

    ckpt = make_demo_checkpoint(tmp_path / "corrected.pt", nmul=4, hidden=16,
                                correction=CorrectionConfig(features=["SM", "SLZ"], max_offset=0.3))
    for cid, cols, ref in balanced_ngen_run(ngen_env, domain, tmp_path / "run", ckpt):
        assert np.abs(ref["streamflow_correction"]).max() > 1e-3, cid  # the correction acted
        np.testing.assert_allclose(cols[CORRECTION][23::24], ref["streamflow_correction"], rtol=1e-6,
                                   atol=1e-12, err_msg=cid)


def test_an_hbv_multimodel_runs_in_ngen_as_offline_with_a_closed_mass_balance(ngen_env, domain, tmp_path):
    """A checkpoint mixing HBV 1.0 and 1.1p by learned daily weights (issue 14): ngen's fatal mass-balance
    check passes at 1e-9 m with the reweighting counted; runoff, weights and contributions equal offline."""
    from dmg_bmi.ngen.demo import make_demo_checkpoint

    members = ("hbv_1_0", "hbv_1_1p")
    ckpt = make_demo_checkpoint(tmp_path / "multimodel.pt", nmul=4, hidden=16, physics="hbv_multimodel",
                                options={"members": list(members)},
                                dynamic=["parBETA", "parK0", *(f"logit_{m}" for m in members)])
    for cid, cols, ref in balanced_ngen_run(ngen_env, domain, tmp_path / "run", ckpt):
        assert ref["weight_hbv_1_0"].std() > 1e-4, cid  # the weights moved
        for m in members:
            np.testing.assert_allclose(cols[f"{m}_model__mixture_weight"][23::24], ref[f"weight_{m}"],
                                       rtol=1e-6, atol=1e-12, err_msg=f"{cid} {m}")
            column = f"land_surface_water__{m}_model_runoff_contribution_volume_flux"
            np.testing.assert_allclose(cols[column][23::24], ref[f"streamflow_{m}"], rtol=1e-6, atol=1e-12,
                                       err_msg=f"{cid} {m}")


def test_a_copied_run_folder_still_runs(ngen_env, python_run, domain, tmp_path):
    original = make_run(tmp_path / "original", domain)
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    shutil.rmtree(original)  # nothing in the copy may point back into the original
    ngen_env.run(copy)
    for path in sorted(python_run.glob("cat-*.csv")):
        assert (copy / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path.name


# ----------------------------------------------------------------------------- hot start across two runs
def test_hot_start_across_two_ngen_runs_equals_one_run(ngen_env, python_run, domain, tmp_path):
    """ngen has no serialization protocol: run one writes each catchment's final state, run two starts
    from it (`initial_state`, start_time = run one's end + 1 h); run two equals the unbroken run bit for
    bit."""
    first = make_run(tmp_path / "first", domain, end="2015-12-15 04:00:00", save_final_states=True)
    ngen_env.run(first)
    states = first / "states" / "final"
    assert sorted(p.stem for p in states.glob("*.state")) == sorted(read_outputs(python_run))
    second = make_run(tmp_path / "second", domain, start="2015-12-15 05:00:00", initial_states=states)
    ngen_env.run(second)
    cut = 14 * 24 + 5  # hours in run one
    whole, first_out, second_out = read_outputs(python_run), read_outputs(first), read_outputs(second)
    for cid, cols in whole.items():
        for column, values in cols.items():
            if column == "Time Step":
                continue
            np.testing.assert_array_equal(first_out[cid][column], values[:cut], err_msg=f"{cid} {column}")
            np.testing.assert_array_equal(second_out[cid][column], values[cut:], err_msg=f"{cid} {column}")


def test_a_hot_start_at_the_wrong_time_stops_ngen_naming_both_times(ngen_env, domain, tmp_path):
    first = make_run(tmp_path / "first", domain, end="2015-12-02 23:00:00", save_final_states=True)
    ngen_env.run(first)
    states = first / "states" / "final"
    with pytest.raises(ConfigError, match="are at 2015-12-03 00:00:00, not at the run's start 2015-12-05"):
        make_run(tmp_path / "second", domain, start="2015-12-05 00:00:00", initial_states=states)  # refused
    second = make_run(tmp_path / "second", domain, start="2015-12-05 00:00:00")
    for path in (second / "config").glob("*.yml"):  # so does the BMI, for configs edited by hand
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        cfg["initial_state"] = str(states / f"{path.stem}.state")
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    done = ngen_env.run(second, check=False)
    log = (second / "ngen.log").read_text(encoding="utf-8")
    assert done.returncode != 0
    assert "2015-12-03" in log and "2015-12-05" in log, log[-2000:]


# ----------------------------------------------------------------------------- the δHBV 2.0 forcing layout
DHBV2_ATTRIBUTES = {  # network attributes (dHBV 2.0 / MERIT names) with plausible normalization (mean, std)
    "aridity": (1.0, 0.6), "meanP": (1100.0, 500.0), "meanTa": (8.0, 6.0), "meanelevation": (700.0, 600.0),
    "meanslope": (5.0, 5.0), "snow_fraction": (0.2, 0.2),
}


def dhbv2_geojson(hydrofabric: Path, ids: list[str], out: Path) -> tuple[Path, Path]:
    """Catchment and nexus GeoJSON of the divides `ids`, read from the domain's GeoPackage (sqlite)."""
    import sqlite3

    with sqlite3.connect(f"file:{hydrofabric}?mode=ro", uri=True) as db:
        divides = {r[0]: (r[1], r[2]) for r in db.execute("SELECT divide_id, toid, areasqkm FROM divides")}
    box = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}  # ngen needs a type
    cats = [{"type": "Feature", "id": cid, "geometry": box,
             "properties": {"areasqkm": divides[cid][1], "toid": divides[cid][0]}} for cid in ids]
    nexus = [{"type": "Feature", "id": nid, "geometry": {"type": "Point", "coordinates": [0, 0]},
              "properties": {"toid": ""}} for nid in sorted({divides[cid][0] for cid in ids})]
    paths = out / "catchments.geojson", out / "nexus.geojson"
    for path, features in zip(paths, (cats, nexus), strict=True):
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return paths


@pytest.mark.slow
def test_dhbv2_layout_a_whole_year_with_pet_as_forcing(ngen_env, tmp_path):
    """CSVs with only precip_rate[mm h-1], TMP_2maboveground and PET_hargreaves (mm h-1): the BMI declares
    just those three inputs, the writer maps them, and a year of real ngen equals the offline daily run."""
    from dmg_bmi.ngen.demo import make_demo_checkpoint

    domain = shared_path("hydro", "hourly", "ngen_dhbv2_mts")
    ids = ["cat-2453", "cat-2454"]
    ckpt = make_demo_checkpoint(tmp_path / "pet_forcing.pt", nmul=4, pet_method="forcing",
                                attributes=DHBV2_ATTRIBUTES)
    (tmp_path / "geo").mkdir()
    cats, nexus = dhbv2_geojson(domain / "hydrofabric" / "camels_subset_hf2.gpkg", ids, tmp_path / "geo")
    table = read_attributes_table(domain / "attributes_dhbv2.csv")
    start, days = datetime(2008, 1, 9), 365
    end = (start + timedelta(days=days) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    run = write_run_folder(tmp_path / "run", cats, domain / "forcing", ckpt,
                           start.strftime("%Y-%m-%d %H:%M:%S"), end, list(DHBV2_ATTRIBUTES), table=table,
                           latitude=44.0, nexus_geojson=nexus)
    params = json.loads((run / "realization.json").read_text(encoding="utf-8"))["global"]["formulations"][0]
    assert params["params"]["variables_names_map"] == {
        "atmosphere_water__liquid_equivalent_precipitation_rate": "precip_rate",
        "land_surface_air__temperature": "TMP_2maboveground",
        "water_potential_evaporation_flux": "PET_hargreaves",
    }
    ngen_env.run(run)
    outputs = read_outputs(run)
    assert sorted(outputs) == ids
    doy = np.array([(start + timedelta(days=d)).timetuple().tm_yday for d in range(days)])
    for cid in ids:
        _, cols = read_forcing(domain / "forcing" / f"{cid}.csv")
        n = days * 24
        forcing = {  # in the BMI's units, as ngen converts them (precip mm h-1 -> mm s-1)
            "atmosphere_water__liquid_equivalent_precipitation_rate": cols["precip_rate"][0][:n] / 3600.0,
            "land_surface_air__temperature": cols["TMP_2maboveground"][0][:n],
            "water_potential_evaporation_flux": cols["PET_hargreaves"][0][:n],
        }
        ref = offline_daily(ckpt, forcing, 44.0, doy, table[cid])
        got = outputs[cid][RUNOFF][23::24] * 1000.0 * 24.0
        assert len(got) == days and ref["streamflow"].max() > 0.1
        np.testing.assert_allclose(got, ref["streamflow"], rtol=1e-6, atol=1e-12, err_msg=cid)
        pet = outputs[cid]["land_surface_water_evapotranspiration__potential_volume_flux"][23::24]
        np.testing.assert_allclose(pet, ref["PET"], rtol=1e-6, atol=1e-9, err_msg=cid)
        np.testing.assert_allclose(pet, forcing["water_potential_evaporation_flux"].reshape(days, 24).sum(1),
                                   rtol=1e-6, atol=1e-9, err_msg=f"{cid}: PET is the forcing's daily sum")
