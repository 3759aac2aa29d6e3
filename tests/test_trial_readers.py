"""Findings of the issue-10 hostile trial on the readers: damaged or out-of-range PCSE crop-parameter files
on the crop delta's path (R2, S8) and learned-parameter bounds (S8); CAMELS attribute rows, header units and
streamflow ids (S3, S4, S5); NetCDF calendars, basin ids and format tags (S6, S7, M7); duplicate
`dynamic_params` (M7); a NaN physics forcing under simulate (M1). Each used to pass silently or raise a raw
traceback; each is now an error naming the file, key or value."""

from __future__ import annotations

import re
import shutil

import netCDF4
import numpy as np
import pytest
import test_reader_edges
from conftest import REPO, pcse_own_dir
from test_cli_errors import fails
from test_data_dataset import _dataset
from test_reader_edges import _edit_line, _flow, _forcing, _read

from dmg_bmi.cli import main
from dmg_bmi.core.config import ModelConfig, from_dict
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.domains.crop.delta import load_parameter_set, parse_learned, resolve_parameter_sets
from dmg_bmi.domains.crop.twin import CROPS
from dmg_bmi.domains.crop.wofost72 import params as wofost_params
from dmg_bmi.errors import ConfigError, InputError

camels = test_reader_edges.camels  # the fixture: a copy of one basin's CAMELS files under tmp_path
SPECS = {s.name: s for s in wofost_params.param_specs()}
MAIZE = f"test_potentialproduction_wofost72_{CROPS['Grain maize'].case}.yaml"

# ------------------------------------------------------------------------------ crop parameter sets (R2, S8)


@pytest.fixture
def pcse_copy(tmp_path):
    """The crop twin's three PCSE reference cases, copied under tmp_path."""
    src = pcse_own_dir()
    out = tmp_path / "pcse"
    out.mkdir()
    for crop in CROPS.values():
        name = f"test_potentialproduction_wofost72_{crop.case}.yaml"
        shutil.copyfile(src / name, out / name)
    return out


DAMAGE = [
    (lambda b: b + b"\nx: [1,\n", r"malformed YAML at line \d+"),
    (lambda b: b.replace(b"TSUM1:", b"TSUM1: \xff\n  T1:", 1), r"byte 0xff .* is not valid UTF-8"),
    (lambda b: b.replace(b"TSUM1: 811.584", b"TSUM1: -150", 1),
     r"parameter TSUM1 = -150 degC d is outside the allowed range \[0, 5000\]"),
]


@pytest.mark.parametrize(("damage", "message"), DAMAGE)
def test_crop_params_files_are_read_and_checked_by_the_pcse_reader(pcse_copy, damage, message):
    """R2/S8: `train` (crop_params files) used yaml.safe_load directly: a raw ParserError or
    UnicodeDecodeError, and TSUM1 -150 passed unchecked."""
    path = pcse_copy / MAIZE
    path.write_bytes(damage(path.read_bytes()))
    key = "phy.options.crop_params.Grain maize.m1"
    with pytest.raises(InputError, match=re.escape(key) + ".*" + re.escape(str(path)) + ".*" + message):
        resolve_parameter_sets({"Grain maize": {"m1": str(path)}})


@pytest.mark.parametrize(("damage", "message"), DAMAGE)
def test_make_sample_data_crop_names_a_damaged_pcse_file(pcse_copy, tmp_path, capsys, damage, message):
    """R2/S8 through the CLI: one `error:` line naming the file, exit 2, no dataset written."""
    path = pcse_copy / MAIZE
    path.write_bytes(damage(path.read_bytes()))
    out = tmp_path / "c.nc"
    err = fails(capsys, ["make-sample-data", "--kind", "crop", "--sites", "1", "--out", out,
                         "--pcse-dir", pcse_copy], "crop twin Grain maize", str(path))
    assert re.search(message, err), err
    assert not out.exists()


def test_inline_crop_params_are_checked_too():
    """An inline set (what a checkpoint stores) with TSUM1 -150 is refused naming the config key."""
    with pytest.raises(InputError, match=r"phy.options.crop_params.maize.v: parameter TSUM1 = -150"):
        resolve_parameter_sets({"maize": {"v": {"TSUM1": -150.0}}})
    assert load_parameter_set({"TSUM1": 800.0, "CROP": "maize"}, "k") == {"TSUM1": 800.0}


@pytest.mark.parametrize(("spec", "message"), [
    ({"TSUM1": {"mode": "factor", "lo": -1.0}}, r"learned_params.TSUM1.lo: a factor must be > 0, got -1"),
    ({"TSUM1": {"mode": "factor", "lo": 0.0}}, r"learned_params.TSUM1.lo: a factor must be > 0, got 0"),
    ({"AMAXTB_SCALE": {"lo": -0.5}}, r"learned_params.AMAXTB_SCALE.lo: a factor must be > 0, got -0.5"),
    ({"TSUM1": {"lo": -100.0}}, r"learned_params.TSUM1: bounds \[-100, 2500\] leave the allowed range "
                                r"\[0, 5000\] degC d"),
    ({"TSUM1": {"hi": "abc"}}, r"learned_params.TSUM1.hi: 'abc' is not a finite number"),
    ({"SPAN": {"mode": "factor", "hi": float("inf")}}, r"learned_params.SPAN.hi: inf is not a finite number"),
])
def test_learned_bounds_must_be_positive_factors_in_range(spec, message):
    """S8: `--set model.phy.options.learned_params.TSUM1.lo=-1.0` gave negative multipliers silently."""
    with pytest.raises(ConfigError, match=message):
        parse_learned(spec, SPECS)


def test_learned_bounds_defaults_still_pass():
    got = parse_learned(["TSUM1", "TBASEM", "SPAN", "AMAXTB_SCALE"], SPECS)
    assert [(p.lo, p.hi) for p in got] == [(100.0, 2500.0), (-5.0, 12.0), (15.0, 60.0), (0.5, 1.5)]
    assert parse_learned({"TSUM1": {"mode": "factor", "lo": 0.1}}, SPECS)[0].lo == 0.1


# ------------------------------------------------------------------------------ CAMELS (S3, S4, S5)


def test_camels_duplicate_attribute_row_is_refused(camels):
    """S3: the last of two rows of a basin won silently."""
    path = camels / "camels_attributes_v2.0" / "camels_clim.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines, lines[1].replace(";3.1", ";9.1", 1)]) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(str(path)) + r": basin '01013500' has two rows "
                                         rf"\(lines 2 and {len(lines) + 1}\)"):
        _read(camels)


FORCING_INDEX = {"prcp": 5, "vp": 10}  # columns of a CAMELS forcing file


@pytest.mark.parametrize(("column", "units", "scale"), [("PRCP", "in/day", 25.4), ("Vp", "hPa", 100.0)])
def test_camels_forcing_header_units_are_converted(camels, column, units, scale):
    """S4: `PRCP(in/day)` and `Vp(hPa)` were read as mm/day and Pa."""
    name = column.lower()
    ref = _read(camels).dynamic[name][0]
    path = _forcing(camels)
    lines = path.read_text(encoding="utf-8").split("\n")
    j = FORCING_INDEX[name]
    head = lines[3].split()
    head[j] = f"{column}({units})"
    body = [" ".join([*f[:j], f"{float(f[j]) / scale:.10g}", *f[j + 1:]]) if (f := ln.split()) else ln
            for ln in lines[4:]]
    path.write_text("\n".join([*lines[:3], " ".join(head), *body]), encoding="utf-8")
    np.testing.assert_allclose(_read(camels).dynamic[name][0], ref, rtol=1e-9)



@pytest.mark.parametrize(("header", "message"), [
    ("Vp(mm/day)", r"column 'Vp\(mm/day\)': units 'mm/day' cannot be converted to 'Pa'"),
    ("Vp", r"column 'Vp': no units; write Vp\(units\), e.g. Vp\(Pa\)"),
    ("Vp(bananas)", r"column 'Vp\(bananas\)': units 'bananas' are not UDUNITS-2 units"),
])
def test_camels_forcing_header_units_that_do_not_convert_are_refused(camels, header, message):
    path = _forcing(camels)
    _edit_line(path, 4, lambda f: [*f[:10], header])
    with pytest.raises(InputError, match=re.escape(str(path)) + r" line 4, " + message):
        _read(camels)


def test_camels_streamflow_of_another_gauge_is_refused(camels):
    """S5: a streamflow file whose rows name another gauge was accepted."""
    path = _flow(camels)
    path.write_text(path.read_text(encoding="utf-8").replace("01013500 ", "01022500 "), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(str(path)) + r" line 1: gauge id '01022500' is not basin "
                                         r"'01013500' \(\d+ such row\(s\)\)"):
        _read(camels)


# ------------------------------------------------------------------------------ NetCDF dataset (S6, S7, M7)


def _saved(tmp_path, edit) -> str:
    path = tmp_path / "d.nc"
    _dataset().save(path)
    with netCDF4.Dataset(path, "a") as nc:
        edit(nc)
    return str(path)


@pytest.mark.parametrize("calendar", ["360_day", "noleap", "julian"])
def test_netcdf_calendar_other_than_gregorian_is_refused(tmp_path, calendar):
    """S6: the time axis was read as Gregorian days whatever its calendar."""
    path = _saved(tmp_path, lambda nc: nc.variables["time"].setncattr("calendar", calendar))
    with pytest.raises(InputError, match=re.escape(path) + f": time calendar '{calendar}' is not supported"):
        HydroDataset.load(path)


@pytest.mark.parametrize("calendar", ["standard", "gregorian", "proleptic_gregorian", None])
def test_netcdf_gregorian_calendars_pass(tmp_path, calendar):
    def edit(nc):
        if calendar is None:
            nc.variables["time"].delncattr("calendar")
        else:
            nc.variables["time"].setncattr("calendar", calendar)

    assert HydroDataset.load(_saved(tmp_path, edit)).n_time == 20


@pytest.mark.parametrize(("bad", "message"), [
    ("", "is empty"), ("  ", "is empty"), ("../x", "holds a path separator"),
    ("a\\b", "holds a path separator"), ("a\nb", "holds a control character"),
    (".", "is '.' or '..'"), ("..", "is '.' or '..'"), (" twin9", "starts or ends with a space"),
])
def test_netcdf_bad_basin_ids_are_refused(tmp_path, bad, message):
    """S7: an id "" was accepted (simulate --format csv then wrote a hidden '.csv')."""
    def edit(nc):
        nc.variables["basin"][1] = bad

    path = _saved(tmp_path, edit)
    where = re.escape(f"{path}: basin id at index 1 ({bad!r}) ")
    with pytest.raises(InputError, match=where + message):
        HydroDataset.load(path)


def test_netcdf_other_format_tag_is_refused(tmp_path):
    """M7: `dmg_bmi_format: hydro-dataset-99` was accepted."""
    path = _saved(tmp_path, lambda nc: nc.setncattr("dmg_bmi_format", "hydro-dataset-99"))
    with pytest.raises(InputError, match=re.escape(path) + r": format 'hydro-dataset-99' is not "
                                         r"'hydro-dataset-1'"):
        HydroDataset.load(path)
    untagged = _saved(tmp_path, lambda nc: nc.delncattr("dmg_bmi_format"))
    assert HydroDataset.load(untagged).n_basins == 3


def test_duplicate_dynamic_params_are_refused():
    """M7: `dynamic_params: [parBETA, parBETA]` was accepted."""
    spec = {"phy": {"name": "hbv_1_1p", "dynamic_params": ["parBETA", "parK0", "parBETA"]}}
    with pytest.raises(ConfigError, match=r"model.phy.dynamic_params: duplicate name\(s\) \['parBETA'\]"):
        from_dict(ModelConfig, spec, prefix="model")
    spec["phy"]["dynamic_params"].pop()
    assert from_dict(ModelConfig, spec, prefix="model").phy.dynamic_params == ["parBETA", "parK0"]


# ------------------------------------------------------------------------------ NaN physics forcing (M1)


def test_simulate_names_basin_and_date_of_a_nan_forcing(tmp_path, capsys):
    """M1: 'physics forcing(s) ['P'] contain NaN or inf; fill the gaps before training' under simulate."""
    data = tmp_path / "twin.nc"
    assert main(["make-sample-data", "--out", str(data), "--basins", "2", "--years", "2",
                 "--start", "2000-01-01"]) == 0
    with netCDF4.Dataset(data, "a") as nc:
        basin = str(nc.variables["basin"][1])
        day = int(np.flatnonzero(nc.variables["time"][:] == (np.datetime64("2001-03-04") -
                                                             np.datetime64("1970-01-01")).astype(int))[0])
        nc.variables["P"][1, day] = np.nan
    capsys.readouterr()
    err = fails(capsys, ["simulate", "--checkpoint", REPO / "bmi_configs" / "quickstart_hbv11p.pt", "--data",
                         data, "--start", "2001-01-01", "--end", "2001-12-31", "--out", tmp_path / "sim"],
                str(data), f"physics forcing 'P' is NaN or inf on 1 basin-day(s), first at basin {basin!r} "
                           "on 2001-03-04")
    assert "training" not in err
