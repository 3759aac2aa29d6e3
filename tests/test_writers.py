"""The ngen writers refuse bad input up front (every culprit of a kind in one message), read attributes from a
CSV or a dataset NetCDF, and map the BMI inputs a checkpoint reads to the forcing files' columns."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, shared_path

from dmg_bmi.cli import main
from dmg_bmi.domains.crop.dataset import CropCalendar, CropDataset
from dmg_bmi.domains.crop.weather import WEATHER_NAMES
from dmg_bmi.domains.hydrology.twin import make_twin
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


def forcing_csv(path: Path, header: str, start: str = START, hours: int = 48) -> Path:
    """Hourly rows from `start` (default: START..END), each value possible in the BMI's units: 271.5 for a
    temperature (K), 101000.0 for a pressure (Pa), else 0.01."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plausible = {"TMP_2maboveground": "271.5", "T2D": "271.5", "PRES_surface": "101000.0", "PSFC": "101000.0"}
    values = [plausible.get(W._column_units(c)[0], "0.01") for c in header.split(",")[1:]]
    first = dt.datetime.fromisoformat(start)
    times = [first + dt.timedelta(hours=h) for h in range(hours)]
    rows = [f"{t:%Y-%m-%d %H:%M:%S}," + ",".join(values) for t in times]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


HAMON_ATTRS = {"p_mean": 3.3, "pet_mean": 2.0, "aridity": 0.6, "frac_snow": 0.3, "elev_mean": 418.0,
               "slope_mean": 4.4}


def hamon_domain(tmp_path: Path, ids=("cat-1", "cat-2")) -> dict:
    """Catchments (with the hamon checkpoint's attributes as properties) and their START..END forcing: the
    arguments of `write_run_folder` but the folder and the times."""
    cats = geojson(tmp_path / "cats.geojson", [cat(cid, latitude=44.0, **HAMON_ATTRS) for cid in ids])
    for cid in ids:
        forcing_csv(tmp_path / "forcing" / f"{cid}.csv", "time,precip_rate,TMP_2maboveground")
    return dict(catchments_geojson=cats, forcing_dir=tmp_path / "forcing", needed=list(HAMON_ATTRS))


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
    assert msg.startswith("no row in t.csv for ['cat-2']; its ids are ['cat-0', 'cat-1']; attributes missing")
    assert "in the attributes table t.csv: cat-1: ['b']; cat-2: ['latitude', 'c']" in msg
    got = W.catchment_attributes(cats, ["a", "b"], {"basin": {"b": 9.0, "gauge_lat": 41.0}})
    assert got["cat-0"] == {"area_km2": 2.0, "latitude": 40.0, "a": 1.0, "b": 9.0}  # the table wins
    assert got["cat-2"]["latitude"] == 41.0  # a single unmatched row applies basin-wide


def test_csv_table_utf8_duplicates_and_encoding(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("note,divide_id,lat,area_km2,δ_index\nforest,cat-1,40.5,3.0,0.25\nx,cat-2,41,nan,1e3\n",
                    encoding="utf-8")
    assert W.read_attributes_table(path) == {  # the id column by name, not position; texts kept as texts
        "cat-1": {"note": "forest", "lat": 40.5, "area_km2": 3.0, "δ_index": 0.25},
        "cat-2": {"note": "x", "lat": 41.0, "δ_index": 1000.0}}
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
    from dmg_bmi.ngen.needs import needed_attributes

    needed = needed_attributes(QUICKSTART)
    table = W.write_attribute_table(tmp_path / "twin_attributes.csv",
                                    W.table_values(ds.site_rows(), needed), needed)
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
    copies `<id>.state` files into the folder (refusing, before writing anything, ids without one), and the
    BMI starts from them."""
    from dmg_bmi.bmi import DeltaModelBmi

    common = dict(checkpoint=hamon_ckpt, end=END, **hamon_domain(tmp_path))
    run = W.write_run_folder(tmp_path / "one", start=START, save_final_states=True, **common)
    cfg = yaml.safe_load((run / "config" / "cat-2.yml").read_text(encoding="utf-8"))
    assert cfg["final_state"] == "../states/final/cat-2.state" and cfg["initial_state"] is None
    assert (run / "states" / "final").is_dir()
    states = tmp_path / "states"
    states.mkdir()
    (states / "cat-1.state").write_bytes(bmi_state(tmp_path / "s1", hamon_ckpt, "cat-1", START))
    with pytest.raises(ConfigError, match=r"no <id>.state for catchment\(s\) \['cat-2'\]"):
        W.write_run_folder(tmp_path / "two", start=START, initial_states=states, **common)
    assert not (tmp_path / "two").exists()
    (states / "cat-2.state").write_bytes(bmi_state(tmp_path / "s2", hamon_ckpt, "cat-2", START))
    run = W.write_run_folder(tmp_path / "two", start=START, initial_states=states, **common)
    cfg = yaml.safe_load((run / "config" / "cat-2.yml").read_text(encoding="utf-8"))
    assert cfg["initial_state"] == "../states/initial/cat-2.state" and cfg["final_state"] is None
    assert (run / "states" / "initial" / "cat-2.state").read_bytes() == (states / "cat-2.state").read_bytes()
    bmi = DeltaModelBmi()
    bmi.initialize(str(run / "config" / "cat-2.yml"))  # the BMI accepts what the writer accepted
    assert bmi.get_current_time() == 0.0


def bmi_state(folder: Path, ckpt: Path, cid: str, start: str, time_step: int = 3600) -> bytes:
    """The state a BMI of `ckpt` stepping `time_step` s saves at `start` (right after initialize)."""
    from dmg_bmi.bmi import DeltaModelBmi

    values = {cid: {"area_km2": 5.0, "latitude": 44.0, **HAMON_ATTRS}}
    config = W.write_bmi_configs(folder, values, ckpt, start, start, time_step=time_step)[0]
    bmi = DeltaModelBmi()
    bmi.initialize(str(config))
    bmi.save_state(folder / "saved.state")
    bmi.finalize()
    return (folder / "saved.state").read_bytes()


def test_initial_states_are_checked_like_the_bmi_does_all_culprits_at_once(tmp_path, hamon_ckpt, pet_ckpt):
    """A state at another time (the message says its time and suggests --start), of another checkpoint, of
    another time step, or unreadable: refused before anything is written, every culprit named."""
    ids = ("cat-1", "cat-2", "cat-3", "cat-4", "cat-5", "cat-6")
    common = dict(checkpoint=hamon_ckpt, start=START, end=END, **hamon_domain(tmp_path, ids))
    states = tmp_path / "states"
    states.mkdir()
    for cid, ckpt, start, step in (("cat-1", hamon_ckpt, START, 3600), ("cat-2", pet_ckpt, START, 3600),
                                   ("cat-3", hamon_ckpt, START, 86400),
                                   ("cat-4", hamon_ckpt, "2015-12-03 00:00:00", 3600),
                                   ("cat-5", hamon_ckpt, "2015-12-03 00:00:00", 3600)):
        (states / f"{cid}.state").write_bytes(bmi_state(tmp_path / cid, ckpt, cid, start, step))
    (states / "cat-6.state").write_bytes(b"not a state")
    with pytest.raises(ConfigError) as err:
        W.write_run_folder(tmp_path / "run", initial_states=states, **common)
    msg = str(err.value)
    assert msg.startswith(f"initial states {states}: unreadable state file(s): {states / 'cat-6.state'} (")
    assert f"the state(s) of ['cat-2'] were written by another checkpoint than {hamon_ckpt}" in msg
    assert "state(s) of another time step than this run's 3600 s: cat-3: 86400.0 s" in msg
    assert ("the state(s) of ['cat-4', 'cat-5'] are at 2015-12-03 00:00:00, not at the run's start "
            "2015-12-01 00:00:00 (a hot start continues from the state's time): use --start "
            "'2015-12-03 00:00:00'") in msg
    assert "cat-1" not in msg  # the good one is not named
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- times

def test_times_are_normalised_and_an_end_before_the_start_is_refused(tmp_path, hamon_ckpt):
    """A date-only --start (ngen dies on it: 'strftime returned 0') and an ISO time with an offset are
    written as 'YYYY-MM-DD HH:MM:SS' UTC, in realization.json and in every YAML."""
    common = dict(checkpoint=hamon_ckpt, **hamon_domain(tmp_path))
    run = W.write_run_folder(tmp_path / "run", start="2015-12-01", end="2015-12-03T00:00:00+01:00", **common)
    real = json.loads((run / "realization.json").read_text(encoding="utf-8"))
    assert real["time"]["start_time"] == START and real["time"]["end_time"] == END
    cfg = yaml.safe_load((run / "config" / "cat-1.yml").read_text(encoding="utf-8"))
    assert (cfg["start_time"], cfg["end_time"]) == (START, END)
    assert W.realization_dict("bmi_python", "c", "f", " 2015-12-01 ", "2015-12-01T05:00:00Z")["time"] == {
        "start_time": START, "end_time": "2015-12-01 05:00:00", "output_interval": 3600}
    with pytest.raises(ConfigError, match=r"end 2015-11-30 23:00:00 \(from '2015-11-30 23:00:00'\) is before "
                                          r"start 2015-12-01 00:00:00 \(from '2015-12-01'\)"):
        W.write_run_folder(tmp_path / "bad", start="2015-12-01", end="2015-11-30 23:00:00", **common)
    with pytest.raises(ConfigError, match="end 2015-12-01 00:00:00 .* is before start 2015-12-02 00:00:00"):
        W.write_bmi_configs(tmp_path / "cfg", {"cat-1": {"area_km2": 1.0, "latitude": 4.0}}, hamon_ckpt,
                            "2015-12-02", "2015-12-01")
    with pytest.raises(ConfigError, match="start: '1 Dec 2015' is not a time like '2015-12-01 00:00:00'"):
        W.write_run_folder(tmp_path / "bad", start="1 Dec 2015", end=END, **common)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "cfg").exists()


def test_forcing_must_cover_the_run(tmp_path, hamon_ckpt):
    """ngen stops on a file that begins after the start ('begins after the model start time') and indexes
    past the end of a short one ('bad index 720'): the writer names each file, its period and the run's."""
    common = dict(checkpoint=hamon_ckpt, **hamon_domain(tmp_path, ("cat-1", "cat-2", "cat-3", "cat-4")))
    header = "time,precip_rate,TMP_2maboveground"
    forcing = tmp_path / "forcing"
    forcing_csv(forcing / "cat-2.csv", header, start="2015-12-01 05:00:00", hours=10)
    forcing_csv(forcing / "cat-3.csv", header, start="2015-12-01 05:00:00", hours=10)
    forcing_csv(forcing / "cat-4.csv", header, hours=47)  # one row short of END
    with pytest.raises(ConfigError) as err:
        W.write_run_folder(tmp_path / "run", start=START, end=END, **common)
    msg = str(err.value)
    assert msg.startswith("forcing: the run needs a row at every step from 2015-12-01 00:00:00 to "
                          "2015-12-02 23:00:00 (--start .. --end): ")
    assert (f"['{forcing / 'cat-2.csv'}', '{forcing / 'cat-3.csv'}'] cover(s) only 2015-12-01 05:00:00 .. "
            "2015-12-01 14:00:00") in msg
    assert f"['{forcing / 'cat-4.csv'}'] cover(s) only 2015-12-01 00:00:00 .. 2015-12-02 22:00:00" in msg
    assert "cat-1.csv" not in msg
    assert not (tmp_path / "run").exists()
    run = W.write_run_folder(tmp_path / "run", start="2015-12-01 05:00:00", end="2015-12-01 14:00:00",
                             ids=["cat-1", "cat-2"], **common)  # exactly the period cat-2.csv covers
    assert (run / "forcing" / "cat-2.csv").read_bytes() == (forcing / "cat-2.csv").read_bytes()


def test_forcing_period_reads_the_first_and_last_rows(tmp_path):
    path = tmp_path / "f.csv"
    first = dt.datetime(2015, 12, 1)
    times = [first + dt.timedelta(hours=h) for h in range(2000)]  # more than one 8 KiB block
    path.write_text("precip_rate,Time,T2D\n" + "".join(f"0.5,{t},1\n" for t in times) + "\n\n",
                    encoding="utf-8")  # the time in the second column; trailing blank lines
    assert W.forcing_period(path) == (first, times[-1])
    path.write_text("time,T2D\n2015-12-01 00:00:00,1\n2015-12-01 01:00:00,2", encoding="utf-8")  # no newline
    assert W.forcing_period(path) == (dt.datetime(2015, 12, 1), dt.datetime(2015, 12, 1, 1))
    path.write_text("time,T2D\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="f.csv has no data rows"):
        W.forcing_period(path)
    path.write_text("time,T2D\n2015-12-01 00:00:00,1\nlast,2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="f.csv: its last time 'last' is not a time"):
        W.forcing_period(path)


# --------------------------------------------------------------------------- attribute tables

def test_id_columns_by_name_basin_wide_rows_and_values_that_are_not_numbers(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("latitude,elevation_m,p_mean\n44.5,300,3.1\n", encoding="utf-8")
    table = W.read_attributes_table(path)
    assert table == {W.BASIN_WIDE: {"latitude": 44.5, "elevation_m": 300.0, "p_mean": 3.1}}  # no id taken
    cats = W.read_catchments(geojson(tmp_path / "c.geojson", [cat("cat-1", area=2.0), cat("cat-2")]))
    got = W.catchment_attributes(cats, ["p_mean", "elevation_m"], table, source=path)
    assert got == {cid: {"area_km2": area, "latitude": 44.5, "p_mean": 3.1, "elevation_m": 300.0}
                   for cid, area in (("cat-1", 2.0), ("cat-2", 5.0))}
    ids = r"\['id', 'divide_id', 'catchment_id', 'cat_id', 'gauge_id'\]"
    with pytest.raises(ConfigError, match=rf"has no id column \(one of {ids}\): one BMI config is written"):
        W.table_values(table, ["p_mean"], source=path)
    path.write_text("latitude,elevation_m\n44.5,300\n45,10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"t.csv has 2 rows but no id column: it looks for a column named "
                                          rf"one of {ids}"):
        W.read_attributes_table(path)
    path.write_text("id,lat,frac_snow,p_mean,area_km2\ncat-1,44,abc,3,1\ncat-2,north,0.1,,1\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        W.catchment_attributes(cats, ["frac_snow", "p_mean"], W.read_attributes_table(path), source=path)
    msg = str(err.value)
    assert f"missing for 1 of 2 catchment(s) in the attributes table {path}: cat-2: ['p_mean']" in msg
    assert msg.endswith("not a number: frac_snow='abc' (cat-1), lat='north' (cat-2)")
    with pytest.raises(ConfigError, match=r"cat-2: \['p_mean'\]; not a number: frac_snow='abc' \(cat-1\)"):
        W.table_values(W.read_attributes_table(path), ["frac_snow", "p_mean"], latitude=40.0)


def test_bmi_config_lists_a_missing_area_once(tmp_path, capsys):
    """The quickstart checkpoint takes area_km2 as an attribute too: a table without it says so once."""
    table = tmp_path / "t.csv"
    table.write_text("id,lat\ncat-1,44\n", encoding="utf-8")
    assert main(["bmi-config", "--attributes", str(table), "--checkpoint", str(QUICKSTART), "--start", START,
                 "--end", END, "--out", str(tmp_path / "cfg")]) == 2
    err = capsys.readouterr().err
    assert "cat-1: ['area_km2', " in err and err.count("'area_km2'") == 1
    assert not (tmp_path / "cfg").exists()


# --------------------------------------------------------------------------- domain files, ids, run folders

def test_ids_keep_those_catchments_and_the_nexuses_they_drain_to(tmp_path, hamon_ckpt):
    ids = ("cat-1", "cat-2", "cat-3")
    common = dict(checkpoint=hamon_ckpt, start=START, end=END, **hamon_domain(tmp_path, ids))
    collection = json.loads(common["catchments_geojson"].read_text(encoding="utf-8"))
    collection["features"][2]["properties"]["toid"] = "nex-3"
    collection["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::5070"}}
    common["catchments_geojson"].write_text(json.dumps(collection), encoding="utf-8")
    nexus = geojson(tmp_path / "nexus.geojson", [{"type": "Feature", "id": nid, "properties": {},
                                                  "geometry": {"type": "Point", "coordinates": [0, 0]}}
                                                 for nid in ("nex-1", "nex-3")])
    run = W.write_run_folder(tmp_path / "run", nexus_geojson=nexus, ids=["cat-3", "cat-2"], **common)
    written = json.loads((run / "catchments.geojson").read_text(encoding="utf-8"))
    assert written["crs"] == collection["crs"]  # the collection's other members are kept
    assert written["features"] == collection["features"][1:]  # in the file's order
    assert W.read_nexus_ids(run / "nexus.geojson") == ["nex-1", "nex-3"]
    assert sorted(p.name for p in (run / "config").iterdir()) == ["cat-2.yml", "cat-3.yml"]
    run = W.write_run_folder(tmp_path / "one", nexus_geojson=nexus, ids=["cat-3"], **common)
    assert W.read_nexus_ids(run / "nexus.geojson") == ["nex-3"]  # nex-1 would be an empty nexus
    with pytest.raises(ConfigError, match=r"--ids \['cat-9', 'nex-1'\] are not catchments of .*cats.geojson; "
                                          r"its ids are \['cat-1', 'cat-2', 'cat-3'\]"):
        W.write_run_folder(tmp_path / "bad", ids=["cat-1", "cat-9", "nex-1"], **common)
    assert not (tmp_path / "bad").exists()


def test_a_catchments_file_that_is_neither_geojson_nor_geopackage(tmp_path):
    path = tmp_path / "forcing.nc"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ConfigError, match=r"catchments file .*forcing.nc is neither a GeoJSON Feature"
                                          r"Collection nor a GeoPackage \(.gpkg\): it is not UTF-8 text"):
        W.read_catchments(path)
    path.write_text("id,areasqkm\ncat-1,3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nor a GeoPackage \(.gpkg\): it is not JSON \(Expecting value"):
        W.read_catchments(path)
    path.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="it has no 'features'"):
        W.read_nexus_ids(path)
    with pytest.raises(ConfigError, match="nexus file not found"):
        W.read_nexus_ids(tmp_path / "nope.geojson")


def test_geopackage_geometry_is_the_envelope_of_its_header():
    def blob(flags: int, *envelope: float) -> bytes:
        order = "<" if flags & 1 else ">"
        return b"GP\x00" + bytes([flags]) + struct.pack(order + "i", 5070) + struct.pack(
            order + f"{len(envelope)}d", *envelope) + b"wkb..."

    box = W._envelope_geometry(blob(0b011, 1.0, 3.0, 2.0, 5.0))  # little-endian, envelope [x, x, y, y]
    assert box == {"type": "Polygon", "coordinates": [[[1.0, 2.0], [3.0, 2.0], [3.0, 5.0], [1.0, 5.0],
                                                       [1.0, 2.0]]]}
    assert W._envelope_geometry(blob(0b0100, 1.0, 3.0, 2.0, 5.0, 0.0, 9.0)) == box  # big-endian, with z
    point = {"type": "Point", "coordinates": [7.0, 8.0]}
    assert W._envelope_geometry(blob(0b011, 7.0, 7.0, 8.0, 8.0)) == point  # a box that is a point
    origin = {"type": "Point", "coordinates": [0.0, 0.0]}
    assert W._envelope_geometry(blob(0b001)) == origin  # no envelope
    assert W._envelope_geometry(blob(0b10011, 1.0, 3.0, 2.0, 5.0)) == origin  # flagged empty
    assert W._envelope_geometry(None) == origin


def test_forcing_must_be_a_folder(tmp_path, hamon_ckpt):
    common = dict(checkpoint=hamon_ckpt, start=START, end=END, **hamon_domain(tmp_path))
    common["forcing_dir"] = tmp_path / "forcing" / "cat-1.csv"
    with pytest.raises(ConfigError, match=r"forcing/cat-1.csv is a file: --forcing must be a folder of "
                                          r"<id>.csv files \(this ngen reads CSV per catchment\)"):
        W.write_run_folder(tmp_path / "run", **common)
    common["forcing_dir"] = tmp_path / "nope"
    with pytest.raises(ConfigError, match="--forcing folder not found: .*nope"):
        W.write_run_folder(tmp_path / "run", **common)
    assert not (tmp_path / "run").exists()


def test_unconverted_inputs_are_the_unitless_columns_ngen_does_not_know(tmp_path):
    a = forcing_csv(tmp_path / "a.csv", "time,precip_rate,T2D,PET_hargreaves,own")
    b = forcing_csv(tmp_path / "b.csv", "time,precip_rate[mm h-1],T2D (K),PET_hargreaves[mm h-1],own")
    names = {P: "precip_rate", T: "T2D", PET: "PET_hargreaves", "x": "own"}
    assert W.forcing_header(b) == {"precip_rate": "mm h-1", "T2D": "K", "PET_hargreaves": "mm h-1",
                                   "own": None}
    assert W.unconverted_inputs(names, [a]) == {PET: "PET_hargreaves", "x": "own"}  # ngen knows T2D's
    assert W.unconverted_inputs(names, [b]) == {"x": "own"}
    assert W.unconverted_inputs(names, [b, a]) == {PET: "PET_hargreaves", "x": "own"}  # unitless in one file


def test_a_folder_holding_ngen_outputs_is_refused(tmp_path, hamon_ckpt):
    common = dict(checkpoint=hamon_ckpt, end=END, **hamon_domain(tmp_path))
    run = W.write_run_folder(tmp_path / "run", start=START, **common)
    (run / "notes.csv").write_text("kept\n", encoding="utf-8")
    (run / "cat-1.csv.bak").write_text("kept\n", encoding="utf-8")
    W.write_run_folder(tmp_path / "run", start=START, **common)  # no ngen output: written again
    (run / "cat-1.csv").write_text("Time Step,Time,x\n", encoding="utf-8")
    (run / "nex-1_output.csv").write_text("0, 2015-12-01 00:00:00, 1.0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run folder .*run holds the outputs of an earlier ngen run "
                                          r"\(\['cat-1.csv', 'nex-1_output.csv'\]\): delete them or choose "
                                          "another --out"):
        W.write_run_folder(tmp_path / "run", start="2015-12-01 05:00:00", **common)
    cfg = yaml.safe_load((run / "config" / "cat-1.yml").read_text(encoding="utf-8"))
    assert cfg["start_time"] == START  # nothing was written


def test_latitude_only_where_the_checkpoint_reads_it(tmp_path, pet_ckpt, hamon_ckpt, capsys):
    """A `pet_method: forcing` checkpoint never reads latitude: `bmi-config` and `realization` write its
    configs without one (and without a latitude column), the BMI accepts them; Hamon still needs it."""
    from dmg_bmi.bmi import DeltaModelBmi

    table = tmp_path / "t.csv"
    table.write_text("id,area_km2," + ",".join(HAMON_ATTRS) + "\ncat-1,5.0,"
                     + ",".join(map(str, HAMON_ATTRS.values())) + "\n", encoding="utf-8")
    times = ["--start", START, "--end", END]
    assert main(["bmi-config", "--attributes", str(table), "--out", str(tmp_path / "cfg"),
                 "--checkpoint", str(pet_ckpt), *times]) == 0
    config = tmp_path / "cfg" / "cat-1.yml"
    assert "latitude" not in yaml.safe_load(config.read_text(encoding="utf-8"))
    DeltaModelBmi().initialize(str(config))
    assert main(["bmi-config", "--attributes", str(table), "--out", str(tmp_path / "hamon"),
                 "--checkpoint", str(hamon_ckpt), *times]) == 2
    assert "cat-1: ['latitude']" in capsys.readouterr().err
    cats = geojson(tmp_path / "cats.geojson", [cat("cat-1", **HAMON_ATTRS)])
    forcing_csv(tmp_path / "forcing" / "cat-1.csv", "time,precip_rate,TMP_2maboveground,PET_hargreaves")
    run = W.write_run_folder(tmp_path / "run", cats, tmp_path / "forcing", pet_ckpt, START, END,
                             list(HAMON_ATTRS))
    assert "latitude" not in yaml.safe_load((run / "config" / "cat-1.yml").read_text(encoding="utf-8"))
    assert (run / "attributes.csv").read_text(encoding="utf-8").startswith("id,area_km2,p_mean,")
    with pytest.raises(ConfigError, match=r"cat-1: \['latitude'\]"):
        W.write_run_folder(tmp_path / "h", cats, tmp_path / "forcing", hamon_ckpt, START, END,
                           list(HAMON_ATTRS))
