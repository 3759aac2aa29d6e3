"""The ngen writers refuse bad input up front (every culprit of a kind in one message), read attributes from a
CSV or a dataset NetCDF, and map the BMI inputs a checkpoint reads to the forcing files' columns."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, shared_path

from dmg_bmi.cli import main
from dmg_bmi.crop_weather import WEATHER_NAMES
from dmg_bmi.data.crop_dataset import CropCalendar, CropDataset
from dmg_bmi.data.twin import make_twin
from dmg_bmi.errors import ConfigError
from dmg_bmi.ngen import writers as W

P = "atmosphere_water__liquid_equivalent_precipitation_rate"
T = "land_surface_air__temperature"
PET = "water_potential_evaporation_flux"
START, END = "2015-12-01 00:00:00", "2015-12-02 23:00:00"
QUICKSTART = REPO / "bmi_configs" / "quickstart_hbv11p.pt"


def geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def cat(fid, area=5.0, toid="nex-1", **props) -> dict:
    props = {"areasqkm": area, "toid": toid, **props}
    return {"type": "Feature", "id": fid, "properties": {k: v for k, v in props.items() if v is not None},
            "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}}


def forcing_csv(path: Path, header: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(header.split(",")) - 1
    rows = [f"2015-12-01 {h:02d}:00:00," + ",".join(["1.0"] * n) for h in range(48)]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- catchments, nexuses, network

def test_catchments_every_bad_id_and_area_in_one_message(tmp_path):
    path = geojson(tmp_path / "c.geojson", [
        cat("cat-1"), cat("wb-2"), cat("site001_f2"), cat("cat-3", area=0), cat("cat-4", area=-2.5),
        cat("cat-5", area="12"), cat("cat-6", area=None), cat("cat-7", area=float("nan")), cat("cat-1"),
        {"type": "Feature", "properties": {"areasqkm": 1.0}},
    ])
    with pytest.raises(ConfigError) as err:
        W.read_catchments(path)
    msg = str(err.value)
    assert str(path) in msg and "feature(s) [9] have no 'id'" in msg
    assert "['wb-2', 'site001_f2'] are not of the form cat-N: ngen silently skips" in msg
    assert "duplicate catchment id(s) ['cat-1']" in msg
    for culprit in ("cat-3: 0", "cat-4: -2.5", "cat-5: '12'", "cat-6: missing", "cat-7: nan"):
        assert culprit in msg
    assert "cat-1:" not in msg  # a good area is not named
    ok = W.read_catchments(geojson(tmp_path / "ok.geojson", [cat("cat-10", area=3), cat("cat-11")]))
    assert [(c["id"], c["areasqkm"], c["toid"]) for c in ok] == [("cat-10", 3.0, "nex-1"),
                                                                 ("cat-11", 5.0, "nex-1")]


def test_nexus_ids_and_network(tmp_path):
    nexus = geojson(tmp_path / "n.geojson", [
        {"type": "Feature", "id": "nex-1", "properties": {"toid": ""}},
        {"type": "Feature", "properties": {"id": "tnx-2"}},  # ngen reads properties.id too; tnx is a nexus
        {"type": "Feature", "id": "nexus_3", "properties": {}},
    ])
    with pytest.raises(ConfigError, match=r"nexus id\(s\) \['nexus_3'\] are not of the form nex-N"):
        W.read_nexus_ids(nexus)
    cats = [{"id": "cat-1", "toid": "nex-1"}, {"id": "cat-2", "toid": "wb-9"}, {"id": "cat-3", "toid": None},
            {"id": "cat-4", "toid": "nex-7"}]
    with pytest.raises(ConfigError) as err:
        W.check_network(cats, ["nex-1", "tnx-2", "nex-8"], "n.geojson")
    msg = str(err.value)
    assert "cat-2 -> 'wb-9', cat-3 -> None" in msg
    assert "drain to nexuses missing from n.geojson: cat-4 -> nex-7" in msg
    assert "nexus(es) ['tnx-2', 'nex-8'] in n.geojson receive no catchment" in msg
    assert "empty nexus" in msg
    W.check_network(cats[:1], ["nex-1"], "n.geojson")  # a consistent network passes
    W.check_network([{"id": "cat-1", "toid": "tnx-5"}])  # without a nexus file only the toids are checked


def test_the_shared_domains_wrong_nexus_file_is_refused(tmp_path, hamon_ckpt, capsys):
    domain = shared_path("hydro", "hourly", "ngen_gauge_01073000")
    out = tmp_path / "run"
    rc = main(["realization", "--catchments", str(domain / "catchments.geojson"), "--forcing",
               str(domain / "forcing"), "--nexus", str(domain / "nexus.geojson"), "--latitude", "43.1",
               "--attributes", str(domain / "camels_attributes_v2_01073000.csv"), "--checkpoint",
               str(hamon_ckpt), "--start", START, "--end", END, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ")
    assert "['nex-10333', 'nex-10334', 'nex-10335']" in err and "receive no catchment" in err
    assert not out.exists()  # refused before writing anything


# --------------------------------------------------------------------------- attributes

def test_missing_attributes_all_listed_and_grouped():
    cats = [{"id": f"cat-{i}", "areasqkm": 2.0, "toid": "nex-1", "properties": {"lat": 40.0, "a": 1.0}}
            for i in range(3)]
    cats[2]["properties"] = {"a": 1.0, "b": 2.0}
    with pytest.raises(ConfigError) as err:
        W.catchment_attributes(cats, ["a", "b", "c"], None)
    msg = str(err.value)
    assert "attributes missing for 3 of 3 catchment(s) in the catchments' GeoJSON properties" in msg
    assert "cat-0, cat-1: ['b', 'c']; cat-2: ['latitude', 'c']" in msg
    assert "pass --attributes" in msg and "--latitude" in msg
    table = {"cat-0": {"b": 5.0, "c": 6.0}, "cat-1": {"c": 7.0}}
    with pytest.raises(ConfigError) as err:
        W.catchment_attributes(cats, ["a", "b", "c"], table, source="t.csv")
    msg = str(err.value)
    assert "in the attributes table t.csv: cat-1: ['b']; cat-2: ['latitude', 'c']" in msg
    assert "no row in the table for ['cat-2']" in msg
    got = W.catchment_attributes(cats, ["a", "b"], {"basin": {"b": 9.0, "gauge_lat": 41.0}})
    assert got["cat-0"] == {"area_km2": 2.0, "latitude": 40.0, "a": 1.0, "b": 9.0}  # the table wins
    assert got["cat-2"]["latitude"] == 41.0  # a single unmatched row applies basin-wide


def test_csv_table_utf8_duplicates_and_encoding(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("divide_id,lat,area_km2,δ_index,note\ncat-1,40.5,3.0,0.25,forest\ncat-2,41,nan,1e3,x\n",
                    encoding="utf-8")
    assert W.read_attributes_table(path) == {"cat-1": {"lat": 40.5, "area_km2": 3.0, "δ_index": 0.25},
                                             "cat-2": {"lat": 41.0, "δ_index": 1000.0}}
    path.write_bytes(b"id,p_mean\ncat-1,1.0\ncat-2,2\ncat-1,3\n")
    with pytest.raises(ConfigError, match=r"duplicate id\(s\) in column 'id': \['cat-1'\]"):
        W.read_attributes_table(path)
    path.write_bytes("id,caf\xe9\ncat-1,1\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="neither a UTF-8 CSV file nor a dataset NetCDF"):
        W.read_attributes_table(path)
    with pytest.raises(ConfigError, match="attributes table not found"):
        W.read_attributes_table(tmp_path / "nope.csv")


def test_dataset_netcdf_is_an_attribute_source(tmp_path):
    ds = make_twin(n_basins=3, years=1)
    path = ds.save(tmp_path / "twin.nc")
    table = W.read_attributes_table(path)
    assert list(table) == ["twin0000", "twin0001", "twin0002"]
    assert table["twin0001"]["lat"] == ds.static["lat"][1]
    assert table["twin0002"]["area_km2"] == ds.static["area_km2"][2]
    assert set(ds.static) == set(table["twin0000"])
    crop = tmp_path / "crop.nc"
    CropDataset(
        fields=["f1", "f2"], sites=["s", "s"],
        weather_start=np.array(["2010-05-01"] * 2, dtype="datetime64[D]"),
        weather=np.ones((2, 5, len(WEATHER_NAMES))), attributes=[[50.0, 5.0, 10.0], [51.0, 6.0, 20.0]],
        attribute_names=("lat", "lon", "elev"), attribute_units=("degrees_north", "degrees_east", "m"),
        calendars=[CropCalendar("maize", "m1", dt.date(2010, 5, 2), "emergence", None, "maturity", 3)] * 2,
        observations=np.full((2, 5, 0), np.nan),
    ).save(crop)
    assert W.read_attributes_table(crop) == {"f1": {"lat": 50.0, "lon": 5.0, "elev": 10.0},
                                             "f2": {"lat": 51.0, "lon": 6.0, "elev": 20.0}}
    bad = tmp_path / "other.nc"
    import netCDF4

    with netCDF4.Dataset(bad, "w") as nc:
        nc.createDimension("x", 1)
    with pytest.raises(ConfigError, match=r"other.nc: cannot read it as a dataset NetCDF: .*'basin'"):
        W.read_attributes_table(bad)


def test_bmi_config_from_the_twin_netcdf_and_its_attribute_table(tmp_path):
    """`bmi-config --attributes twin.nc` (was a UnicodeDecodeError) == the CSV table the quickstart writes."""
    ds = make_twin(n_basins=2, years=1)
    nc = ds.save(tmp_path / "twin.nc")
    args = ["--checkpoint", str(QUICKSTART), "--start", START, "--end", END]
    assert main(["bmi-config", "--attributes", str(nc), "--out", str(tmp_path / "a"), *args]) == 0
    from dmg_bmi.ngen.cmd_bmi_config import needed_attributes

    needed = needed_attributes(QUICKSTART)
    table = W.write_attribute_table(tmp_path / "twin_attributes.csv",
                                    W.table_values(W.dataset_rows(ds), needed), needed)
    header = table.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == ["id", "area_km2", "latitude", *[n for n in needed if n != "area_km2"]]
    assert main(["bmi-config", "--attributes", str(table), "--out", str(tmp_path / "b"), *args]) == 0
    for cid in ("twin0000", "twin0001"):
        a = yaml.safe_load((tmp_path / "a" / f"{cid}.yml").read_text(encoding="utf-8"))
        assert a == yaml.safe_load((tmp_path / "b" / f"{cid}.yml").read_text(encoding="utf-8"))
        i = int(cid[-1])
        assert a["latitude"] == ds.static["lat"][i] and a["area_km2"] == ds.static["area_km2"][i]
        assert a["attributes"]["slope"] == ds.static["slope"][i] and "area_km2" not in a["attributes"]


def test_config_values_refused_together_and_nothing_written(tmp_path, hamon_ckpt):
    values = {"cat-1": {"area_km2": 0.0, "latitude": 40.0}, "cat-2": {"area_km2": -1.0, "latitude": 95.0},
              "cat-3": {"area_km2": float("nan"), "latitude": 40.0},
              "cat-4": {"area_km2": 2.0, "latitude": 1.0}, "../x": {"area_km2": 2.0, "latitude": 1.0}}
    with pytest.raises(ConfigError) as err:
        W.write_bmi_configs(tmp_path / "cfg", values, hamon_ckpt, START, END)
    msg = str(err.value)
    assert "id(s) ['../x'] cannot name a config file" in msg
    assert "area_km2 must be a positive number of km2: cat-1: 0.0, cat-2: -1.0, cat-3: nan" in msg
    assert "latitude must be a number in -90..90 degrees north: cat-2: 95.0" in msg
    assert not (tmp_path / "cfg").exists()
    table = tmp_path / "t.csv"
    table.write_text("id,area_km2,latitude,p_mean\ncat-1,0,40,1\ncat-2,-3,40,1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="cat-1: 0.0, cat-2: -3.0"):
        W.write_bmi_configs(tmp_path / "cfg", W.table_values(W.read_attributes_table(table), ["p_mean"]),
                            hamon_ckpt, START, END)


# --------------------------------------------------------------------------- forcing columns

def test_forcing_columns_strip_units_like_ngen(tmp_path):
    path = forcing_csv(tmp_path / "f.csv",
                       "time,precip_rate[mm h-1], TMP_2maboveground (K) ,PET_hargreaves,a(b)c")
    assert W.forcing_columns(path) == ["precip_rate", "TMP_2maboveground", "PET_hargreaves", "a(b)c"]
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty.csv has no header row"):
        W.forcing_columns(tmp_path / "empty.csv")


def test_variables_names_map(tmp_path):
    a = forcing_csv(tmp_path / "a.csv", "time,RAINRATE,precip_rate,T2D,PET (mm h-1)")
    b = forcing_csv(tmp_path / "b.csv", "Time,precip_rate [mm s-1],T2D,PET,extra")
    got = W.variables_names_map([P, T, PET], {"cat-1": a, "cat-2": b})
    assert got == {P: "precip_rate", T: "T2D", PET: "PET"}
    c = forcing_csv(tmp_path / "c.csv", "time,RAINRATE,T2D")
    d = forcing_csv(tmp_path / "d.csv", "time,RAINRATE,T2D")
    with pytest.raises(ConfigError) as err:
        W.variables_names_map([P, T, PET], {"cat-1": a, "cat-3": c, "cat-4": d})
    msg = str(err.value)
    assert f"input '{PET}' has no column in {c} (and 1 more file(s) with this header)" in msg
    assert "accepted columns ['PET_hargreaves', 'PET', 'pet', 'potential_evapotranspiration'" in msg
    assert "the file has ['RAINRATE', 'T2D']" in msg
    with pytest.raises(ConfigError, match=rf"forcing files disagree.*'{P}' comes from different columns: "
                                          rf"'precip_rate' in {a}, 'RAINRATE' in {c}"):
        W.variables_names_map([P, T], {"cat-1": a, "cat-3": c})
    own = forcing_csv(tmp_path / "own.csv", f"time,{T}")  # a column named like the input serves it as is
    assert W.variables_names_map([T], {"cat-1": own}) == {T: T}


def test_realization_maps_the_dhbv2_layout_refuses_missing_columns(tmp_path, hamon_ckpt, pet_ckpt, capsys):
    """The δHBV 2.0 layout (precip_rate[mm h-1], TMP_2maboveground, PET_hargreaves): PET from the file for a
    `pet_method: forcing` checkpoint; a crop checkpoint needs fields the files lack and is refused."""
    forcing = shared_path("hydro", "hourly", "ngen_dhbv2_mts", "forcing")
    cats = geojson(tmp_path / "cats.geojson", [
        cat(cid, area=7.8, latitude=44.0, p_mean=3.3, pet_mean=2.0, aridity=0.6, frac_snow=0.3,
            elev_mean=418.0, slope_mean=4.4, lon=-90.0, elev=418.0, cultivar_index=0.5, soil_index=0.5,
            seed_index=0.5, crop_grain_maize=1.0, crop_spring_barley=0.0, crop_potato=0.0, lat=44.0)
        for cid in ("cat-2453", "cat-2454")])
    args = ["--catchments", str(cats), "--forcing", str(forcing), "--start", "2008-01-10 00:00:00",
            "--end", "2008-01-11 23:00:00"]
    for ckpt, want in ((hamon_ckpt, {P: "precip_rate", T: "TMP_2maboveground"}),
                       (pet_ckpt, {P: "precip_rate", T: "TMP_2maboveground", PET: "PET_hargreaves"})):
        out = tmp_path / ckpt.stem
        assert main(["realization", *args, "--checkpoint", str(ckpt), "--out", str(out)]) == 0
        real = json.loads((out / "realization.json").read_text(encoding="utf-8"))
        assert real["global"]["formulations"][0]["params"]["variables_names_map"] == want
    capsys.readouterr()
    crop = REPO / "bmi_configs" / "crop_twin_wofost72.pt"
    assert main(["realization", *args, "--checkpoint", str(crop), "--out", str(tmp_path / "crop")]) == 2
    err = capsys.readouterr().err
    assert "input 'atmosphere_air_water~vapor__relative_saturation' has no column in" in err
    assert "cat-2453.csv" in err and "(and 1 more file(s) with this header)" in err
    assert "the file has ['precip_rate', 'TMP_2maboveground', 'PET_hargreaves']" in err
    assert not (tmp_path / "crop").exists()


def test_attribute_table_round_trip(tmp_path):
    values = {"cat-1": {"area_km2": 2.5, "latitude": 40.0, "a": 1 / 3},
              "cat-2": {"area_km2": 1.0, "latitude": -3.0, "a": 1e-20}}
    path = W.write_attribute_table(tmp_path / "t.csv", values, ["a", "area_km2"])
    assert path.read_text(encoding="utf-8").splitlines()[0] == "id,area_km2,latitude,a"
    back = W.table_values(W.read_attributes_table(path), ["a"])
    assert back == values  # repr floats: exact


def test_features_without_geometry_are_refused(tmp_path):
    """ngen aborts with 'No such node (type)' on a feature without a geometry: the writer says so first."""
    features = [cat("cat-1"), {**cat("cat-2"), "geometry": None}, {**cat("cat-3"), "geometry": {}}]
    with pytest.raises(ConfigError, match=r"\['cat-2', 'cat-3'\] have no geometry with a 'type'"):
        W.read_catchments(geojson(tmp_path / "c.geojson", features))


def test_run_folder_states_for_a_hot_start(tmp_path, hamon_ckpt):
    """`save_final_states` puts `final_state: ../states/final/<id>.state` in every YAML; `initial_states`
    copies `<id>.state` files into the folder (refusing, before writing anything, ids without one)."""
    cats = geojson(tmp_path / "cats.geojson", [cat(f"cat-{i}", latitude=44.0, p_mean=3.3, pet_mean=2.0,
                                                   aridity=0.6, frac_snow=0.3, elev_mean=418.0,
                                                   slope_mean=4.4) for i in (1, 2)])
    for i in (1, 2):
        forcing_csv(tmp_path / "forcing" / f"cat-{i}.csv", "time,precip_rate,TMP_2maboveground")
    needed = ["p_mean", "pet_mean", "aridity", "frac_snow", "elev_mean", "slope_mean"]
    common = dict(catchments_geojson=cats, forcing_dir=tmp_path / "forcing", checkpoint=hamon_ckpt,
                  end=END, needed=needed)
    run = W.write_run_folder(tmp_path / "one", start=START, save_final_states=True, **common)
    cfg = yaml.safe_load((run / "config" / "cat-2.yml").read_text(encoding="utf-8"))
    assert cfg["final_state"] == "../states/final/cat-2.state" and cfg["initial_state"] is None
    assert (run / "states" / "final").is_dir()
    states = tmp_path / "states"
    states.mkdir()
    (states / "cat-1.state").write_bytes(b"state of cat-1")
    with pytest.raises(ConfigError, match=r"no <id>.state for catchment\(s\) \['cat-2'\]"):
        W.write_run_folder(tmp_path / "two", start=START, initial_states=states, **common)
    assert not (tmp_path / "two").exists()
    (states / "cat-2.state").write_bytes(b"state of cat-2")
    run = W.write_run_folder(tmp_path / "two", start=START, initial_states=states, **common)
    cfg = yaml.safe_load((run / "config" / "cat-2.yml").read_text(encoding="utf-8"))
    assert cfg["initial_state"] == "../states/initial/cat-2.state" and cfg["final_state"] is None
    assert (run / "states" / "initial" / "cat-2.state").read_bytes() == b"state of cat-2"
