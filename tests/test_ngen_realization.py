"""`dmg-bmi bmi-config` / `dmg-bmi realization` and an ngen-like run of the folder they write.

The driver (tests/ngen_driver.py) behaves like ngen: no-arg constructor, initialize, per-step unit-converted
set_value (through the realization's variables_names_map), update, get_value_at_indices; it writes
ngen-format catchment and nexus CSVs. Input checks of the writers: tests/test_writers.py.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, shared_path
from ngen_driver import run as run_ngen

from dmg_bmi.cli import build_parser, main
from dmg_bmi.config_reference import validate_file
from dmg_bmi.core.variables import FORCING_COLUMNS
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen.demo import make_demo_checkpoint
from dmg_bmi.ngen.writers import (
    check_network,
    read_attributes_table,
    read_catchments,
    read_nexus_ids,
    realization_dict,
    write_run_folder,
)

pytestmark = pytest.mark.numpy1

START, END = "2015-12-01 00:00:00", "2015-12-03 23:00:00"
ATTRS = {"p_mean": 3.503, "pet_mean": 2.208, "aridity": 0.630, "frac_snow": 0.175, "elev_mean": 37.67,
         "slope_mean": 4.750}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return make_demo_checkpoint(tmp_path_factory.mktemp("ck") / "demo.pt", nmul=4, hidden=16)


@pytest.fixture(scope="module")
def domain() -> Path:
    return shared_path("hydro", "hourly", "ngen_gauge_01073000")


def basin_table(folder: Path) -> Path:
    """One basin-wide row (like camels_attributes_v2_01073000.csv): applies to every catchment."""
    path = folder / "basin.csv"
    path.write_text("gauge_id,gauge_lat," + ",".join(ATTRS) + "\n01073000,43.1487,"
                    + ",".join(str(v) for v in ATTRS.values()) + "\n", encoding="utf-8")
    return path


def make_folder(tmp_path, ckpt, domain, style="bmi_python") -> Path:
    out = tmp_path / f"run_{style}"
    rc = main(["realization", "--catchments", str(domain / "catchments.geojson"), "--forcing",
               str(domain / "forcing"), "--checkpoint", str(ckpt), "--start", START, "--end", END,
               "--attributes", str(basin_table(tmp_path)), "--nexus", str(domain / "nexus_hf.geojson"),
               "--out", str(out), "--style", style])
    assert rc == 0
    return out


def test_realization_folder_contents(tmp_path, ckpt, domain):
    out = make_folder(tmp_path, ckpt, domain)
    real = json.loads((out / "realization.json").read_text(encoding="utf-8"))
    assert validate_file(out / "realization.json") == ("realization", [])  # the schema's realization options
    params = real["global"]["formulations"][0]["params"]
    assert params["python_type"] == "dmg_bmi.bmi.DeltaModelBmi"
    assert params["main_output_variable"] == "land_surface_water__runoff_depth"
    assert params["cache_input_variable_metadata"] is True
    # exactly the inputs the (Hamon-PET) checkpoint reads, mapped to the first matching AORC column
    p, t = "atmosphere_water__liquid_equivalent_precipitation_rate", "land_surface_air__temperature"
    assert params["variables_names_map"] == {p: FORCING_COLUMNS[p][0], t: FORCING_COLUMNS[t][0]}
    assert real["time"] == {"start_time": START, "end_time": END, "output_interval": 3600}
    forcing = real["global"]["forcing"]
    assert forcing == {"file_pattern": "{{id}}.csv", "path": "./forcing/", "provider": "CsvPerFeature"}
    cats = [f["id"] for f in json.loads((domain / "catchments.geojson").read_text())["features"]]
    assert sorted(p.name for p in (out / "forcing").iterdir()) == sorted(f"{c}.csv" for c in cats)
    for c in cats:  # self-contained: byte copies of the domain's forcing
        assert (out / "forcing" / f"{c}.csv").read_bytes() == (domain / "forcing" / f"{c}.csv").read_bytes()
    assert sorted(p.stem for p in (out / "config").glob("*.yml")) == sorted(cats)
    cfg = yaml.safe_load((out / "config" / "cat-11223.yml").read_text(encoding="utf-8"))
    assert cfg["attributes"] == ATTRS and cfg["latitude"] == 43.1487
    assert cfg["area_km2"] == pytest.approx(13.257449383522696)
    assert cfg["checkpoint"] == "../model/demo.pt"
    assert (out / "model" / "demo.pt").read_bytes() == ckpt.read_bytes()
    with (out / "attributes.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"] for r in rows} == set(cats) and float(rows[0]["aridity"]) == ATTRS["aridity"]
    assert not list(out.rglob(".*.tmp"))  # no temp files of the atomic writes left behind


def test_realization_missing_attributes_all_named(tmp_path, ckpt, domain, capsys):
    table = tmp_path / "t.csv"
    table.write_text("id,gauge_lat,p_mean\nx,43.0,3.0\n", encoding="utf-8")
    common = ["realization", "--catchments", str(domain / "catchments.geojson"), "--forcing",
              str(domain / "forcing"), "--checkpoint", str(ckpt), "--start", START, "--end", END,
              "--out", str(tmp_path / "o")]
    assert main([*common, "--attributes", str(table)]) == 2
    err = capsys.readouterr().err
    assert f"attributes missing for 5 of 5 catchment(s) in the attributes table {table}" in err
    assert "cat-11223, cat-11410, cat-11371, cat-11509, cat-11224: ['pet_mean', 'aridity', 'frac_snow', " \
           "'elev_mean', 'slope_mean']" in err
    assert main(common) == 2  # no --attributes: the GeoJSON properties have none of them
    err = capsys.readouterr().err
    assert "in the catchments' GeoJSON properties" in err and "pass --attributes" in err
    assert "['latitude', 'p_mean', 'pet_mean', 'aridity', 'frac_snow', 'elev_mean', 'slope_mean']" in err
    assert not (tmp_path / "o").exists()


def test_bmi_config_verb(tmp_path, ckpt):
    table = tmp_path / "attrs.csv"
    table.write_text("divide_id,area_km2,latitude," + ",".join(ATTRS) + "\n"
                     + "cat-1,5.0,40.0," + ",".join(str(v) for v in ATTRS.values()) + "\n"
                     + "cat-2,7.5,41.0," + ",".join(str(v) for v in ATTRS.values()) + "\n", encoding="utf-8")
    assert main(["bmi-config", "--attributes", str(table), "--checkpoint", str(ckpt), "--start", START,
                 "--end", END, "--out", str(tmp_path / "cfg")]) == 0
    cfg = yaml.safe_load((tmp_path / "cfg" / "cat-2.yml").read_text())
    assert cfg["area_km2"] == 7.5 and cfg["latitude"] == 41.0 and cfg["time_step"] == 3600
    from dmg_bmi.bmi import DeltaModelBmi

    bmi = DeltaModelBmi()
    bmi.initialize(str(tmp_path / "cfg" / "cat-2.yml"))  # checkpoint path resolves relative to the YAML
    assert bmi.get_end_time() == 3 * 86400.0
    table.write_text("divide_id,area_km2,latitude\ncat-1,5.0,40.0\ncat-2,0,41.0\ncat-3,,41.0\n",
                     encoding="utf-8")
    from dmg_bmi.ngen import cmd_bmi_config

    args = build_parser().parse_args(["bmi-config", "--attributes", str(table), "--checkpoint", str(ckpt),
                                      "--start", START, "--end", END, "--out", str(tmp_path / "cfg2")])
    with pytest.raises(ConfigError, match=r"missing for 3 of 3 catchment\(s\) in .*attrs.csv: cat-1, cat-2: "
                                          r"\['p_mean', .*'slope_mean'\]; cat-3: \['area_km2', 'p_mean'"):
        cmd_bmi_config.run(args)
    assert not (tmp_path / "cfg2").exists()


def test_shipped_realizations_match_the_writer():
    """realizations/*.json are exactly what the writer produces (so they cannot drift from the code)."""
    folder = REPO / "realizations"
    for style in ("bmi_python", "bmi_multi"):
        shipped = json.loads((folder / f"{style}.json").read_text())
        t = shipped["time"]
        assert shipped == realization_dict(style, "./config/{{id}}.yml", "./forcing/", t["start_time"],
                                           t["end_time"], t["output_interval"])
    multi = json.loads((folder / "bmi_multi.json").read_text())["global"]["formulations"][0]["params"]
    module = multi["modules"][0]["params"]
    assert multi["allow_exceed_end_time"] is True and module["allow_exceed_end_time"]
    assert module["cache_input_variable_metadata"] is True and "variables_names_map" not in module


def test_ngen_like_run_over_the_domain(tmp_path, ckpt, domain):
    original = make_folder(tmp_path, ckpt, domain)
    out = tmp_path / "moved" / "run"  # a copied run folder still runs: nothing in it points outside it
    shutil.copytree(original, out)
    shutil.rmtree(original)
    results = run_ngen(out / "realization.json", out / "catchments.geojson", out, out / "outputs",
                       nexus=out / "nexus.geojson")
    n = 3 * 24
    assert set(results) == {p.stem for p in (out / "config").glob("*.yml")}
    geo = json.loads((domain / "catchments.geojson").read_text())
    feats = {f["id"]: f["properties"] for f in geo["features"]}
    for cid, series in results.items():
        lines = (out / "outputs" / f"{cid}.csv").read_text().splitlines()
        assert lines[0].startswith("Time Step,Time,land_surface_water__runoff_depth,")
        assert len(lines) == n + 1 and lines[1].startswith("0,2015-12-01 00:00:00,")
        assert lines[-1].startswith(f"{n - 1},2015-12-03 23:00:00,")
        col = np.array([float(r.split(",")[2]) for r in lines[1:]])
        np.testing.assert_allclose(col, np.round(series, 9), atol=1e-12)
        assert np.all(series[:23] == 0) and np.all(series[23:] > 0)
    # nexus flow = sum of upstream depth (m/h) x area; nex-11225 is the outlet (fed by cat-11224)
    for nex in ("nex-11223", "nex-11224", "nex-11225"):
        rows = (out / "outputs" / f"{nex}_output.csv").read_text().splitlines()
        flow = np.array([float(r.split(",")[2]) for r in rows])
        want = sum(results[c] * feats[c]["areasqkm"] * 1e6 / 3600 for c in feats if feats[c]["toid"] == nex)
        np.testing.assert_allclose(flow, np.round(want, 9), atol=1e-9)
    # the NGIAB-style bmi_multi realization shipped in realizations/ gives the same numbers
    multi = json.loads((REPO / "realizations" / "bmi_multi.json").read_text())
    multi["time"].update(start_time=START, end_time=END)
    (out / "multi.json").write_text(json.dumps(multi))
    again = run_ngen(out / "multi.json", out / "catchments.geojson", out, out / "outputs_multi")
    for cid in results:
        np.testing.assert_array_equal(again[cid], results[cid])


def test_realization_from_the_dhbv2_geopackage_for_some_ids(tmp_path, capsys):
    """`--catchments` a hydrofabric GeoPackage (divides, nexus: rows repeated), `--ids` two of its three
    divides: the folder's GeoJSONs hold those and the nexuses they drain to, and pass the writer's checks
    when written again from the folder itself. The printout names the unitless column ngen passes raw."""
    domain = shared_path("hydro", "hourly", "ngen_dhbv2_mts")
    gpkg = domain / "hydrofabric" / "camels_subset_hf2.gpkg"
    attributes = {"aridity": (1.0, 0.6), "meanP": (1100.0, 500.0)}
    ckpt = make_demo_checkpoint(tmp_path / "dhbv2.pt", nmul=2, hidden=8, pet_method="forcing",
                                attributes=attributes)
    common = ["realization", "--catchments", str(gpkg), "--forcing", str(domain / "forcing"), "--attributes",
              str(domain / "attributes_dhbv2.csv"), "--latitude", "44", "--checkpoint", str(ckpt),
              "--start", "2010-01-01", "--end", "2010-01-03 23:00:00"]
    out = tmp_path / "run"
    assert main([*common, "--ids", "cat-2453,cat-2454", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    cats = read_catchments(out / "catchments.geojson")
    assert [(c["id"], c["toid"]) for c in cats] == [("cat-2454", "nex-2455"), ("cat-2453", "nex-2454")]
    assert [c["areasqkm"] for c in cats] == pytest.approx([13.400998821, 7.780500383])
    nexus = read_nexus_ids(out / "nexus.geojson")
    assert nexus == ["nex-2454", "nex-2455"]  # once each (the layer repeats its rows); not nex-2456
    check_network(cats, nexus, out / "nexus.geojson")
    geo = json.loads((out / "catchments.geojson").read_text(encoding="utf-8"))
    assert geo["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::5070"
    ring = geo["features"][0]["geometry"]["coordinates"][0]  # the divide's bounding box (metres, EPSG:5070)
    assert geo["features"][0]["geometry"]["type"] == "Polygon" and ring[0] == ring[4] == [2028435.0003,
                                                                                        2771174.9997]
    again = write_run_folder(tmp_path / "again", out / "catchments.geojson", out / "forcing",
                             out / "model" / "dhbv2.pt", "2010-01-01 00:00:00", "2010-01-03 23:00:00",
                             list(attributes), table=read_attributes_table(out / "attributes.csv"),
                             nexus_geojson=out / "nexus.geojson")
    for cid in ("cat-2453", "cat-2454"):
        cfg = yaml.safe_load((out / "config" / f"{cid}.yml").read_text(encoding="utf-8"))
        assert cfg == yaml.safe_load((again / "config" / f"{cid}.yml").read_text(encoding="utf-8"))
        assert cfg["start_time"] == "2010-01-01 00:00:00" and cfg["latitude"] == 44.0
    assert "note: column 'PET_hargreaves' has no [units] in its header" in printed
    assert "passed to the BMI as is, in the BMI's declared units ('PET_hargreaves' read as mm h-1" in printed
    assert "column 'precip_rate'" not in printed and "column 'TMP_2maboveground'" not in printed
    assert (f"run: cd {out} && VIRTUAL_ENV=<venv> PYTHONPATH=<venv>/lib/python3.X/site-packages ngen "
            "catchments.geojson all nexus.geojson all realization.json") in printed
    assert "numpy 1.26 and this package installed non-editable" in printed
    assert main([*common, "--out", str(tmp_path / "all")]) == 2  # all three divides: cat-2455 has no forcing
    assert "has no CSV for catchment(s) ['cat-2455']" in capsys.readouterr().err
    assert main([*common, "--ids", "cat-2453,cat-1", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert f"--ids ['cat-1'] are not catchments of {gpkg}; its ids are ['cat-2454', 'cat-2453', 'cat-2455']" \
        in err
    assert not (tmp_path / "all").exists() and not (tmp_path / "bad").exists()
