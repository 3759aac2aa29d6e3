"""Hostile and damaged input files for the dataset readers: every one gets a named InputError that names the
file and the line, key or attribute, never a raw traceback or a silent NaN (issue 10: R3-R5, S3, S8-S10).

Bad files are built in tmp_path from small real files of ../shared/data (CAMELS-US basin 01013500, PCSE
case 01) or from scratch."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import pcse_own_dir, shared_path

import dmg_bmi
from dmg_bmi import forcing as fc
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.data.variables import dataset_variables
from dmg_bmi.domains.crop import weather as cw
from dmg_bmi.domains.crop.dataset import from_pcse_cases
from dmg_bmi.domains.crop.pcse import build_batch
from dmg_bmi.domains.crop.pcse.batch import field_from_case
from dmg_bmi.domains.crop.pcse.pcse_yaml import load_case, load_params_file
from dmg_bmi.domains.hydrology.camels import read_camels
from dmg_bmi.errors import InputError

TABLE = dataset_variables()  # the merged dataset variables table (every registered domain's)

BASIN = "01013500"
PERIOD = ("1993-10-01", "1993-10-31")

# ------------------------------------------------------------------------------ CAMELS text files


@pytest.fixture
def camels(tmp_path):
    """A copy of basin 01013500's CAMELS forcing, streamflow and six attribute tables under tmp_path."""
    src = shared_path("hydro", "raw", "camels_us")
    root = tmp_path / "camels"
    for rel in (f"basin_mean_forcing/nldas/01/{BASIN}_lump_nldas_forcing_leap.txt",
                f"usgs_streamflow/01/{BASIN}_streamflow_qc.txt",
                *(f"camels_attributes_v2.0/camels_{t}.txt" for t in ("topo", "clim", "hydro", "soil", "vege",
                                                                    "geol"))):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, root / rel)
    return root


def _forcing(root):
    return root / f"basin_mean_forcing/nldas/01/{BASIN}_lump_nldas_forcing_leap.txt"


def _flow(root):
    return root / f"usgs_streamflow/01/{BASIN}_streamflow_qc.txt"


def _edit_line(path, line: int, edit) -> str:
    """Replace line `line` (1-based) of `path` by `edit(fields)` (its whitespace-split fields, a list) or by
    `edit` when it is bytes; returns the original line."""
    lines = path.read_bytes().split(b"\n")
    old = lines[line - 1]
    lines[line - 1] = edit if isinstance(edit, bytes) else " ".join(edit(old.decode().split())).encode()
    path.write_bytes(b"\n".join(lines))
    return old.decode()


def _read(root):
    return read_camels(root, [BASIN], *PERIOD, pet_method="hamon")


def test_camels_copy_reads_and_keeps_minus_999_as_missing(camels):
    # line 8 of the streamflow file is 1993-10-06; -999 is CAMELS' missing-value code, so NaN
    _edit_line(_flow(camels), 8, lambda f: [*f[:4], "-999.00", "M"])
    ds = _read(camels)
    flow = ds.target("streamflow")[0]
    assert np.isnan(flow[5]) and np.isfinite(np.delete(flow, 5)).all()


@pytest.mark.parametrize(("which", "line", "edit", "message"), [
    ("forcing", 9, b"1993 10 03 12\t41000.00\t0.5\t\xff\xfe\t0.00\t5.0\t5.0\t700.0",
     r"byte 0xff at byte position \d+ \(line 9\) is not valid UTF-8"),
    ("forcing", 7, lambda f: [*f[:5], "abc", *f[6:]], r"line 7, column 'prcp': 'abc' is not a finite number"),
    ("forcing", 7, lambda f: [*f[:10], "nan"], r"line 7, column 'vp': 'nan' is not a finite number"),
    ("forcing", 2, lambda f: ["three-hundred"], r"line 2, column 'elevation': 'three-hundred' is not a"),
    ("forcing", 9, lambda f: [f[0], f[1], "32", *f[3:]], r"line 9: year 1993, month 10, day 32 is not a"),
    ("forcing", 9, lambda f: [f[0], "13", *f[2:]], r"line 9: year 1993, month 13, day 3 is not a date"),
    ("forcing", 9, lambda f: f[:6], r"line 9: 6 fields, expected at least 11"),
    ("flow", 5, b"01013500 1993 10 03 \x00\x00 A", r"NUL byte at byte position \d+ \(line 5\)"),
    ("flow", 5, lambda f: [*f[:4], "x12"], r"line 5, column 'q_cfs': 'x12' is not a finite number"),
    ("flow", 5, lambda f: [*f[:4], "-350"], r"line 5: streamflow -350 ft3 s-1 on 1993-10-03 is negative; "
                                            r"only -999 \(missing\) may be"),
    ("flow", 5, lambda f: [f[0], f[1], "13", *f[3:]], r"line 5: year 1993, month 13, day 3 is not a date"),
    ("flow", 5, lambda f: [f[0], f[1], "02", "30", *f[4:]], r"line 5: year 1993, month 2, day 30 is not a"),
    ("flow", 5, lambda f: [f[0], f[1], "09", "30", *f[4:]], r"line 5: date 1993-09-30 does not follow "
                                                             r"1993-10-02 \(the dates must increase\)"),
])
def test_camels_damaged_text_is_named_by_file_and_line(camels, which, line, edit, message):
    path = _forcing(camels) if which == "forcing" else _flow(camels)
    _edit_line(path, line, edit)
    with pytest.raises(InputError, match=re.escape(str(path)) + ".*" + message):
        _read(camels)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda v: v.replace(";3.1", ";abc3.1", 1), r"line 2, column 'p_mean' \(basin '01013500'\): "
                                                 r"'abc3.12\d+' is not a number"),
    (lambda v: v.replace("01013500;", "01013500;\xe9", 1), r"byte 0xe9 at byte position \d+ \(line 2\) is "
                                                           r"not valid UTF-8"),
])
def test_camels_attribute_table_damage_is_named(camels, edit, message):
    path = camels / "camels_attributes_v2.0" / "camels_clim.txt"
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[1].startswith(f"{BASIN};3.1")
    lines[1] = edit(lines[1])
    path.write_bytes("\n".join(lines).encode("latin-1"))  # latin-1: 0xe9 for the accented e, not UTF-8
    with pytest.raises(InputError, match=re.escape(str(path)) + ".*" + message):
        _read(camels)


def test_camels_supersaturated_vapour_pressure_is_refused(camels):
    # line 6 is 1993-09-30 at tmax = tmin = 5.93 degC, saturation 930 Pa: 5000 Pa is 538 %
    _edit_line(_forcing(camels), 6, lambda f: [*f[:10], "5000.0"])
    with pytest.raises(InputError, match=r"vp = 5000 Pa at basin '01013500' on 1993-09-30 is above "
                                         r"saturation at tmax = 5.93 degC \(relative humidity 538 %; at most "
                                         r"125 %"):
        read_camels(camels, [BASIN], "1993-09-29", "1993-10-31", pet_method="hamon")


def test_real_camels_humidity_passes():
    # CAMELS NLDAS tmax == tmin (a daily mean): vapour pressure reaches 116 % of saturation at it
    ds = read_camels(shared_path("hydro", "raw", "camels_us"), None, pet_method="hamon")
    es = 610.588 * np.exp(17.32491 * ds.dynamic["tmax"] / (ds.dynamic["tmax"] + 238.102))
    assert 1.1 < np.nanmax(ds.dynamic["vp"] / es) < 1.25


# ------------------------------------------------------------------- NetCDF datasets and attributes


def _dataset(static_aridity=(0.8, np.nan), metadata=None) -> HydroDataset:
    dates = np.arange(np.datetime64("2001-01-01"), np.datetime64("2001-01-06"))
    dyn = {"prcp": np.full((2, 5), 3.0), "tmean": np.full((2, 5), 5.0), "streamflow": np.full((2, 5), 1.0)}
    sta = {"lat": np.array([40.0, 45.0]), "lon": np.array([-70.0, -71.0]),
           "area_km2": np.array([100.0, 50.0]), "elevation_m": np.array([300.0, 10.0]),
           "aridity": np.array(static_aridity)}
    units = {k: TABLE[k].units for k in (*dyn, *sta)}
    return HydroDataset(["b1", "b2"], dates, dyn, sta, units, targets=("streamflow",),
                        metadata=metadata or {})


@pytest.mark.parametrize(("raw", "message"), [
    ('{"pet_method": "hamon"', r"is not valid JSON \(Expecting ',' delimiter"),
    ("hamon", r"is not valid JSON"),
    ('["hamon"]', r"must be a JSON object, got list"),
    ('{"albedo": 0.2}', r"lacks the key 'pet_method'"),
    ('{"pet_method": "hamon", "colour": 1}', r"unknown key\(s\) \['colour'\]"),
    ('{"pet_method": "hamon", "albedo": "x"}', r"not supported between"),
    ('{"pet_method": "guess"}', r"pet_method: unknown 'guess'"),
])
def test_bad_input_derivation_attribute_is_named(tmp_path, raw, message):
    path = _dataset((0.8, 0.9), {"input_derivation": raw}).save(tmp_path / "d.nc")
    with pytest.raises(InputError, match=re.escape(f"dataset {path}: global attribute 'input_derivation'")
                       + ".*" + message):
        HydroDataset.load(path)


def test_nan_attribute_is_refused_where_the_model_reads_it(tmp_path):
    path = _dataset().save(tmp_path / "d.nc")
    ds = HydroDataset.load(path)  # NaN is "missing": the file loads
    np.testing.assert_array_equal(ds.attributes(["lat"])[:, 0], [40.0, 45.0])
    with pytest.raises(InputError, match=re.escape(f"dataset {path}: attribute 'aridity' is missing (NaN) at "
                                                   "basin(s) ['b2']; the model needs it")):
        ds.attributes(["lat", "aridity"])
    with pytest.raises(InputError, match="at basin\\(s\\) \\['b2'\\]"):
        ds.sel_period("2001-01-02", "2001-01-03").attributes(["aridity"])  # a cut keeps the origin
    ds.sel_basins(["b1"]).attributes(["aridity"])


def test_camels_missing_attribute_is_refused_naming_the_basin():
    # CAMELS v2.0 has no root depth for 01013500 (NA in camels_vege.txt)
    root = shared_path("hydro", "raw", "camels_us")
    ds = read_camels(root, [BASIN, "01022500"], *PERIOD, pet_method="hamon")
    ds.attributes(["aridity", "frac_snow"])
    with pytest.raises(InputError, match=re.escape(f"CAMELS-US {root} (nldas forcing): attribute "
                                                   "'root_depth_50' is missing (NaN) at basin(s) "
                                                   "['01013500']")):
        ds.attributes(["aridity", "root_depth_50"])


def _two_basin_camels(root, without=None):
    """A synthetic CAMELS-US tree of basins 00000001 and 00000002 (400 days of NLDAS forcing from
    2000-01-01, streamflow, the six attribute tables); `without=(table, basin)` leaves that basin's row out
    of `camels_<table>.txt`."""
    days = np.arange(np.datetime64("2000-01-01"), np.datetime64("2000-01-01") + 400)
    rain = np.random.default_rng(0).gamma(0.5, 4.0, days.size)
    for k, basin in enumerate(SYNTHETIC_BASINS):
        rows, flow = [], []
        for d, (day, p) in enumerate(zip(days.astype(dt.date), rain, strict=True)):
            t = 10.0 + 10.0 * np.sin(2 * np.pi * d / 365)
            rows.append(f"{day:%Y %m %d} 12 40000 {p:.2f} 150 0 {t + 4:.2f} {t:.2f} 800")
            flow.append(f"{basin} {day:%Y %m %d} {20 + 5 * k + 5 * np.sin(d / 30):.2f} A")
        forcing = root / "basin_mean_forcing" / "nldas" / "01"
        forcing.mkdir(parents=True, exist_ok=True)
        (forcing / f"{basin}_lump_nldas_forcing_leap.txt").write_text(
            "45.0\n120.0\n100000000\n"
            "Year Mnth Day Hr Dayl(s) PRCP(mm/day) SRAD(W/m2) SWE(mm) Tmax(C) Tmin(C) Vp(Pa)\n"
            + "\n".join(rows) + "\n", encoding="utf-8")
        (root / "usgs_streamflow" / "01").mkdir(parents=True, exist_ok=True)
        (root / "usgs_streamflow" / "01" / f"{basin}_streamflow_qc.txt").write_text("\n".join(flow) + "\n")
    tables = {"topo": ("gauge_lat;gauge_lon;elev_mean", ["45.0;-70.0;120.0", "44.0;-71.0;300.0"]),
              "clim": ("p_mean;aridity", ["2.5;0.9", "3.0;0.7"]), "hydro": ("q_mean", ["1.0", "1.2"]),
              "soil": ("sand_frac", ["40.0", "30.0"]), "vege": ("frac_forest", ["0.7", "0.5"]),
              "geol": ("geol_porostiy", ["0.1", "0.2"])}
    (root / "camels_attributes_v2.0").mkdir()
    for table, (header, values) in tables.items():
        lines = [f"gauge_id;{header}"] + [f"{b};{v}" for b, v in zip(SYNTHETIC_BASINS, values, strict=True)
                                          if (table, b) != without]
        (root / "camels_attributes_v2.0" / f"camels_{table}.txt").write_text("\n".join(lines) + "\n")
    return root


SYNTHETIC_BASINS = ("00000001", "00000002")


@pytest.mark.parametrize("table", ["topo", "clim", "vege"])
def test_camels_basin_without_an_attribute_row_is_refused_naming_basin_and_table(tmp_path, table):
    """Issue 13: a basin absent from one attribute table is never read with NaN (or filled) attributes."""
    root = _two_basin_camels(tmp_path / "camels", without=(table, "00000002"))
    message = re.escape(f"{root / 'camels_attributes_v2.0' / f'camels_{table}.txt'}: no row for basin(s) "
                        "['00000002']")
    with pytest.raises(InputError, match=message):
        read_camels(root, pet_method="hamon")  # every basin with a forcing file
    with pytest.raises(InputError, match=message):
        read_camels(root, ["00000002"], pet_method="hamon")
    ds = read_camels(root, ["00000001"], pet_method="hamon")  # the basin left out: read as before
    assert ds.static["aridity"].tolist() == [0.9] and ds.static["lon"].tolist() == [-70.0]


def test_camels_basin_without_an_attribute_row_stops_train_evaluate_and_simulate(tmp_path, capsys):
    """The CLI verbs read CAMELS through one path (`load_dataset`): each names the basin and the table, and
    the network's attributes (here elev_mean, from camels_topo) need not come from the incomplete table."""
    from dmg_bmi.cli import main

    root = _two_basin_camels(tmp_path / "camels", without=("clim", "00000002"))
    config = Path(dmg_bmi.__file__).parent / "configs" / "dhbv_camels.yaml"
    args = ["train", "--config", str(config), "--set", f"data.path={root}",
            "--set", "data.train={start: 2000-03-01, end: 2000-12-31}",
            "--set", "data.test={start: 2000-06-01, end: 2001-01-31}", "--set", "data.valid=null",
            "--set", "model.phy.warmup=30",
            "--set", "train.rho=60", "--set", "train.epochs=1", "--set", "train.iterations_per_epoch=1",
            "--set", "train.batch_size=2", "--set", "model.nn.hidden_size=4",
            "--set", "model.nn.mlp_hidden_size=4", "--set", "model.phy.nmul=1",
            "--set", "model.inputs.attributes=[elev_mean]", "--set", "run.progress=false",
            "--set", f"run.exact_dir={tmp_path / 'run'}"]
    table = root / "camels_attributes_v2.0" / "camels_clim.txt"
    refused = f"error: {table}: no row for basin(s) ['00000002']"
    assert main(args) == 2
    assert refused in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()
    assert main([*args, "--set", "data.basins=['00000001']"]) == 0
    capsys.readouterr()
    checkpoint = str(tmp_path / "run" / "last.pt")
    for verb in (["evaluate", "--run-dir", str(tmp_path / "run"), "--no-plots"],
                 ["simulate", "--checkpoint", checkpoint, "--out", str(tmp_path / "s")]):
        assert main([*verb, "--data", str(root)]) == 2
        assert refused in capsys.readouterr().err
    assert main(["evaluate", "--run-dir", str(tmp_path / "run"), "--no-plots", "--data", str(root),
                 "--basins", "00000001", "--out", str(tmp_path / "ev")]) == 0
    assert (tmp_path / "ev" / "metrics.csv").read_text().count("00000001") == 1


# --------------------------------------------------------------------------------- PCSE YAML files


@pytest.fixture(scope="module")
def case01():
    """(path, parsed YAML) of PCSE's potential-production case 01."""
    src = sorted(pcse_own_dir().glob("*_01.yaml"))[0]
    return src, yaml.load(src.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def _write(tmp_path, data, name="case.yaml"):
    path = tmp_path / name
    path.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper), encoding="utf-8")
    return path


def _changed(case01, section, key, value, index=3):
    data = {k: (list(map(dict, v)) if isinstance(v, list) and k != "AgroManagement" else v)
            for k, v in case01[1].items()}
    if section == "ModelParameters":
        data[section] = {**data[section], key: value}
    else:
        data[section][index][key] = value
    return data


@pytest.mark.parametrize(("key", "value", "message"), [
    ("TDWI", -5.0, "parameter TDWI = -5 kg ha-1 is outside the allowed range [0, 5000] kg ha-1"),
    ("TSUM1", 1e9, "parameter TSUM1 = 1e+09 degC d is outside the allowed range [0, 5000] degC d"),
    ("SPAN", 0.2, "parameter SPAN = 0.2 d is outside the allowed range [1, 365] d"),
    ("SPAN", "long", "parameter SPAN = 'long' is not a number"),
    ("CVO", 1.3, "parameter CVO = 1.3 kg kg-1 is outside the allowed range [0.1, 1] kg kg-1"),
    ("DLO", -5.0, "parameter DLO = -5 h is outside the allowed range [0, 24] h (or -99: unused)"),
    ("SMFCF", 1.4, "parameter SMFCF = 1.4 is outside the allowed range [0, 1]"),
    ("RDMSOL", -10, "parameter RDMSOL = -10 is outside the allowed range [0, 1000]"),
    ("AMAXTB", [0.0, 22.5, 1.0, 450.0, 2.0, 36.0], "parameter AMAXTB[3] = 450 is outside the allowed range "
                                                    "[0, 150]"),
    ("AMAXTB", [0.0, 22.5, 1.0, "x"], "parameter AMAXTB[3] = 'x' is not a number"),
    ("AMAXTB", 45.0, "parameter AMAXTB = 45.0 is not an AFGEN table"),
])
def test_pcse_parameters_out_of_range_are_named(tmp_path, case01, key, value, message):
    path = _write(tmp_path, _changed(case01, "ModelParameters", key, value))
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        load_case(path)
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        load_params_file(path)


def test_pcse_yaml_1_1_exponent_string_is_a_number(tmp_path, case01):
    path = _write(tmp_path, _changed(case01, "ModelParameters", "TSUM1", "4.18e2"))
    assert float(load_params_file(path)["TSUM1"][0]) == 418.0


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("WeatherVariables", "IRRAD", "sunny", "WeatherVariables record 4 (2010-04-19), key IRRAD: 'sunny' is "
                                           "not a number"),
    ("WeatherVariables", "DAY", "2010-13-01", "WeatherVariables record 4, key DAY: '2010-13-01' is not a "
                                              "date"),
    ("WeatherVariables", "LAT", 200.0, "WeatherVariables key LAT: lat = 200 degrees_north on 2010-04-19 is "
                                       "outside the allowed range [-90, 90]"),
    ("WeatherVariables", "ELEV", 9000.0, "WeatherVariables key ELEV: elev = 9000 m on 2010-04-19 is outside"),
    ("ModelResults", "LAI", [1.0], "ModelResults record 4 (2010-04-19), key LAI: [1.0] is not a number"),
    ("Precision", "LAI", "tight", "Precision, key LAI: 'tight' is not a number"),
])
def test_pcse_non_numbers_and_bad_sites_are_named(tmp_path, case01, section, key, value, message):
    if section == "Precision":
        data = {**case01[1], "Precision": {**case01[1]["Precision"], key: value}}
    else:
        data = _changed(case01, section, key, value)
    path = _write(tmp_path, data)
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        load_case(path)
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        from_pcse_cases([path])


@pytest.mark.parametrize("agro", [["2010-04-16"], [{"2010-04-16": "sow"}],
                                  [{"2010-04-16": {"CropCalendar": "beets"}}]])
def test_pcse_malformed_agromanagement_is_named(tmp_path, case01, agro):
    path = _write(tmp_path, {**case01[1], "AgroManagement": agro})
    with pytest.raises(InputError, match=re.escape(f"{path}: AgroManagement ") + ".* must "):
        load_case(path)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda b: b.replace(b"Sugar", b"Sug\xe4r", 1), r"byte 0xe4 at byte position \d+ \(line 9\) is not "
                                                    r"valid UTF-8"),
    (lambda b: b.replace(b"CFET: 1.0", b"CFET: 1\x00", 1), r"NUL byte at byte position \d+ \(line \d+\)"),
    (lambda b: b.replace(b"CFET: 1.0", b"CFET: [1.0", 1), r"malformed YAML at line \d+, column \d+"),
])
def test_pcse_damaged_files_are_named(tmp_path, case01, damage, message):
    path = tmp_path / "case.yaml"
    path.write_bytes(damage(case01[0].read_bytes()))
    for read in (load_case, from_pcse_cases, load_params_file):
        with pytest.raises(InputError, match=re.escape(str(path)) + ".*" + message):
            read([path] if read is from_pcse_cases else path)


def test_pcse_vap_above_saturation_is_refused(tmp_path, case01):
    # 2010-04-19: TMAX 18.6 degC, saturation 21.4 hPa; 60 hPa (280 %) is within PCSE's VAP limit
    data = _changed(case01, "WeatherVariables", "VAP", 60.0)
    assert data["WeatherVariables"][3]["TMAX"] == 18.6
    path = _write(tmp_path, data, "case_vap.yaml")
    tail = (r"on 2010-04-19 is above saturation at TMAX = 18.6 degC \(relative humidity 280 %; at most 125 % "
            r"is allowed\)")
    with pytest.raises(InputError, match=f"PCSE cases in {re.escape(str(tmp_path))}: VAP = 60 hPa at field "
                                         f"'case_vap' {tail}"):
        from_pcse_cases([path])
    with pytest.raises(InputError, match=f"field 'case_vap': VAP = 60 hPa {tail}"):
        build_batch([field_from_case(load_case(path))], dtype=torch.float64)


def test_aorc_supersaturated_humidity_is_refused_naming_the_day():
    hours = 48
    hourly = {fc.AORC_SWDOWN: np.full(hours, 100.0), fc.AORC_TEMP: np.full(hours, 283.15),
              fc.AORC_SPFH: np.full(hours, 0.006), fc.AORC_PRES: np.full(hours, 1.0e5),
              fc.AORC_U: np.full(hours, 1.0), fc.AORC_V: np.zeros(hours), fc.AORC_PRECIP: np.zeros(hours)}
    out = cw.aorc_hourly_to_wofost_daily(hourly, dt.date(2015, 6, 1), 45.0, 100.0)  # 78 % at 10 degC: fine
    assert out["VAP"][0] == pytest.approx(0.006 * 1e5 / (0.622 + 0.378 * 0.006) / 100)
    hourly[fc.AORC_SPFH][24:] = 0.02  # 31.8 hPa at 10 degC: 259 %
    with pytest.raises(InputError, match=r"VAP = 31\.7682 hPa on 2015-06-02 is above saturation at TMAX = 10 "
                                         r"degC \(relative humidity 259 %"):
        cw.aorc_hourly_to_wofost_daily(hourly, dt.date(2015, 6, 1), 45.0, 100.0)
