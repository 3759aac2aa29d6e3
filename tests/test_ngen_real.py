"""The real NextGen `ngen` runs folders written by `dmg-bmi realization` and gives the offline numbers.

Domain: the 01073000 example (5 catchments, 696 hourly steps, AORC CSV forcing), with the checkpoint trained
on the shared CAMELS basins (`bmi_configs/dhbv_camels8.pt`, CAMELS attribute names). At the hours aligned
with the start, every catchment's outputs equal the offline daily model on the daily-aggregated forcing;
nexus flow is depth x area / 3600 s; `bmi_multi` equals `bmi_python`; ngen's fatal mass-balance check
passes at 1e-9 m and stops a run whose balance is broken; a copied run folder still runs.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, shared_path
from ngen_driver import read_forcing
from test_bmi import offline_daily

from dmg_bmi.ngen.cmd_bmi_config import needed_attributes
from dmg_bmi.ngen.writers import read_attributes_table, write_run_folder
from dmg_bmi.variables import AORC_FIELDS

pytestmark = pytest.mark.ngen

START, END = "2015-12-01 00:00:00", "2015-12-29 23:00:00"
CKPT = REPO / "bmi_configs" / "dhbv_camels8.pt"
RUNOFF = "land_surface_water__runoff_depth"
DIAGNOSTICS = {  # ngen output column -> offline daily outputs summed (mm/d or mm)
    "land_surface_water_evapotranspiration__volume_flux": ("AET",),
    "land_surface_water_evapotranspiration__potential_volume_flux": ("PET",),
    "snowpack__leq_depth": ("snowpack", "meltwater"),
}
PLUGINS = Path(__file__).parent / "ngen_plugins"


@pytest.fixture(scope="module")
def domain() -> Path:
    return shared_path("hydro", "hourly", "ngen_gauge_01073000")


def make_run(out: Path, domain: Path, style: str = "bmi_python") -> Path:
    table = read_attributes_table(domain / "camels_attributes_v2_01073000.csv")
    return write_run_folder(out, domain / "catchments.geojson", domain / "forcing", CKPT, START, END,
                            needed_attributes(CKPT), table=table, nexus_geojson=domain / "nexus_hf.geojson",
                            style=style)


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


def test_a_copied_run_folder_still_runs(ngen_env, python_run, domain, tmp_path):
    original = make_run(tmp_path / "original", domain)
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    shutil.rmtree(original)  # nothing in the copy may point back into the original
    ngen_env.run(copy)
    for path in sorted(python_run.glob("cat-*.csv")):
        assert (copy / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path.name
