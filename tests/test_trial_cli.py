"""Issue 10's hostile trial, the CLI and ngen-writer findings: a damaged training log on resume (R3), a run
name that leaves run.run_dir (M6), a resume with nothing to train (M4), evaluate scoring an output against
another variable's observations (S2), simulate without observations (M3), --state-time-step without
--save-state (M5), stale temp files in simulate/evaluate output folders (M8), GeoJSON features that are not
objects (R4), attributes the BMI would refuse written into BMI configs (W1), forcing CSVs it would stop on
(W2) and an attributes CSV with a byte-order mark (M2). Each bad input: `error: ...` naming it, exit 2."""

from __future__ import annotations

import csv
import json
import shutil

import netCDF4
import pytest
import yaml
from conftest import REPO, shared_path
from test_cli_errors import fails
from train_toy import toy_config, toy_dataset

from dmg_bmi.cli import main

CAMELS8 = REPO / "bmi_configs" / "dhbv_camels8.pt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 1-epoch toy run `root/run` (train.epochs=1) on `root/toy.nc`, and its config `root/cfg.yaml`."""
    root = tmp_path_factory.mktemp("trial_cli")
    toy_dataset().save(root / "toy.nc")
    raw = toy_config(root / "toy.nc", root / "runs", epochs=1, iterations_per_epoch=1)
    raw["run"]["exact_dir"] = str(root / "run")
    (root / "cfg.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["train", "--config", str(root / "cfg.yaml")]) == 0
    return root


def copy_run(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    return run


# ---------------------------------------------------------------- train: R3, M6, M4
@pytest.mark.parametrize("log, needles", [
    (b"epoch\n\xff\n", ["byte 0xff", "(line 2) is not valid UTF-8"]),
    (b"epoch,loss\n1,0.5\n", ["line 1: header ['epoch', 'loss'] is not ['epoch', 'loss', 'lr'"]),
    (b"epoch,loss,lr,skipped_batches,seconds\n1,0.5,0.01,0,1.0\none,0.4,0.01,0,1.0\n",
     ["line 3: ['one', '0.4'", "with a whole-number epoch"]),
    (b"epoch,loss,lr,skipped_batches,seconds\n1,0.5\n", ["line 2: ['1', '0.5'] is not a row of"]),
])
def test_resume_with_a_damaged_training_log_names_the_file_and_line(trained, tmp_path, capsys, log, needles):
    """R3: before, a UnicodeDecodeError, ValueError or KeyError from the log reader."""
    run = copy_run(trained, tmp_path)
    (run / "train_log.csv").write_bytes(log)
    fails(capsys, ["train", "--resume", run / "last.pt", "--set", "train.epochs=2"],
          f"training log {run / 'train_log.csv'}", *needles)
    assert (run / "train_log.csv").read_bytes() == log  # left as it was, for the user to repair


def test_resume_keeps_a_sound_log(trained, tmp_path):
    run = copy_run(trained, tmp_path)
    assert main(["train", "--resume", str(run / "last.pt"), "--set", "train.epochs=2"]) == 0
    rows = list(csv.DictReader((run / "train_log.csv").open(encoding="utf-8")))
    assert [r["epoch"] for r in rows] == ["1", "2"]


@pytest.mark.parametrize("name", ["../../escape", "a/b", "a\\b"])
def test_a_run_name_with_a_path_separator_is_refused(trained, tmp_path, capsys, name):
    """M6: before, `run.name=../../escape` made the run folder outside run.run_dir."""
    runs = tmp_path / "deep" / "er" / "runs"
    fails(capsys, ["train", "--config", trained / "cfg.yaml", "--set", f"run.run_dir={runs}",
                   "--set", "run.exact_dir=null", "--set", f"run.name={name}"],
          f"run.name: {name!r} holds", "directly in run.run_dir")
    assert not (tmp_path / "deep").exists()  # nothing made, inside run.run_dir or out of it


def test_resume_with_nothing_left_to_train_says_so(trained, tmp_path, capsys):
    """M4 (chosen: exit 0 with a clear line; the same resume also restores the run's checkpoint copies
    after a kill at the last epoch, so it is not refused): before, only the usual success lines."""
    run = copy_run(trained, tmp_path)
    before = (run / "last.pt").read_bytes()
    assert main(["train", "--resume", str(run / "last.pt"), "--set", "train.epochs=1"]) == 0
    out = capsys.readouterr().out
    assert (f"nothing to train: {run / 'last.pt'} already finished epoch 1 and train.epochs is 1; set "
            "train.epochs above 1 to train on") in out
    assert "epoch 2/" not in out and (run / "last.pt").read_bytes() == before


# ---------------------------------------------------------------- evaluate / simulate: S2, M3, M5, M8
def test_evaluate_refuses_an_output_that_is_not_the_observed_target(trained, tmp_path, capsys):
    """S2: before, `--output AET` scored AET against the streamflow observations."""
    fails(capsys, ["evaluate", "--run-dir", trained / "run", "--no-plots", "--out", tmp_path / "ev",
                   "--output", "AET"],
          "--output: 'AET' is not what the observed target 'streamflow' measures",
          "train.output 'streamflow'")
    assert not (tmp_path / "ev").exists()
    assert main(["evaluate", "--run-dir", str(trained / "run"), "--no-plots", "--out",
                 str(tmp_path / "ok")]) == 0
    assert (tmp_path / "ok" / "metrics.csv").is_file()


def test_simulate_runs_on_data_without_the_target(trained, tmp_path):
    """M3: before, "data.target: 'streamflow' is not a target in ..." for a simulation, which reads none."""
    ds = toy_dataset()
    del ds.dynamic["streamflow"]
    ds.targets = ()
    ds.units.pop("streamflow")
    bare = ds.save(tmp_path / "no_obs.nc")
    assert main(["simulate", "--run-dir", str(trained / "run"), "--data", str(bare),
                 "--out", str(tmp_path / "sim")]) == 0
    with netCDF4.Dataset(tmp_path / "sim" / "simulation.nc") as nc:
        assert nc["streamflow"].shape == (6, 134)


def test_state_time_step_without_save_state_is_refused(trained, tmp_path, capsys):
    """M5: before, --state-time-step was silently ignored without --save-state."""
    fails(capsys, ["simulate", "--run-dir", trained / "run", "--out", tmp_path / "sim",
                   "--state-time-step", "86400"],
          "--state-time-step 86400 without --save-state")
    assert not (tmp_path / "sim").exists()


def test_simulate_and_evaluate_remove_stale_temp_files_of_a_killed_run(trained, tmp_path):
    """M8: before, the `.NAME.XXXXXXXX.tmp` files a killed run left stayed after a successful rerun."""
    sim, ev = tmp_path / "sim", tmp_path / "ev"
    sim.mkdir()
    ev.mkdir()
    stale = [sim / ".simulation.nc.ab12cd34.tmp", ev / ".metrics.csv.x9y8z7w6.tmp"]
    keep = sim / "notes.txt"
    for path in (*stale, keep):
        path.write_text("half", encoding="utf-8")
    assert main(["simulate", "--run-dir", str(trained / "run"), "--out", str(sim)]) == 0
    assert main(["evaluate", "--run-dir", str(trained / "run"), "--no-plots", "--out", str(ev)]) == 0
    assert not any(p.exists() for p in stale) and keep.is_file()
    assert (sim / "simulation.nc").is_file() and (ev / "metrics.csv").is_file()


# ---------------------------------------------------------------- ngen writers: R4, W1, W2, M2
@pytest.fixture(scope="module")
def gauge():
    return shared_path("hydro", "hourly", "ngen_gauge_01073000")


def realization(gauge, out, forcing=None, catchments=None, attributes=None):
    attributes = attributes or gauge / "camels_attributes_v2_01073000.csv"
    return ["realization", "--catchments", catchments or gauge / "catchments.geojson", "--forcing",
            forcing or gauge / "forcing", "--attributes", attributes, "--checkpoint", CAMELS8,
            "--start", "2015-12-01", "--end", "2015-12-02", "--out", out]


@pytest.mark.parametrize("features, needle", [
    (["x"], "feature(s) [0] are not JSON objects (the first is 'x')"),
    ([{"type": "Feature", "id": "cat-1", "properties": "x", "geometry": {"type": "Point"}}],
     "the 'properties' of feature(s) [0] are not a JSON object"),
])
def test_geojson_features_that_are_not_objects(gauge, tmp_path, capsys, features, needle):
    """R4: before, an AttributeError."""
    path = tmp_path / "c.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    fails(capsys, realization(gauge, tmp_path / "rz", catchments=path), f"catchments GeoJSON {path}", needle)
    assert not (tmp_path / "rz").exists()


def _attributes_csv(gauge, path, encoding="utf-8", **changes):
    """The gauge's CAMELS row with an `area_km2` column (bmi-config reads no area_gages2) and `changes`."""
    rows = list(csv.DictReader((gauge / "camels_attributes_v2_01073000.csv").open(encoding="utf-8")))
    rows[0].update({"area_km2": rows[0]["area_gages2"], **{k: str(v) for k, v in changes.items()}})
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def bmi_config(table, out):
    return ["bmi-config", "--attributes", table, "--out", out, "--checkpoint", CAMELS8,
            "--start", "2015-12-01", "--end", "2015-12-02"]


def test_bmi_config_refuses_attributes_the_bmi_refuses(gauge, tmp_path, capsys):
    """W1: before, a config with p_mean=1e30 was written and only initialize refused it."""
    table = _attributes_csv(gauge, tmp_path / "attrs.csv", p_mean=1e30)
    fails(capsys, bmi_config(table, tmp_path / "cfg"),
          f"attributes the BMI would refuse at initialize, in {table}", "01073000: p_mean = 1e+30 mm d-1")
    assert not (tmp_path / "cfg").exists()
    forcing = tmp_path / "forcing"  # the realization too, before anything is written
    shutil.copytree(gauge / "forcing", forcing)
    fails(capsys, realization(gauge, tmp_path / "rz", forcing, attributes=table), "p_mean = 1e+30 mm d-1")
    assert not (tmp_path / "rz").exists()


def test_bmi_config_reads_a_csv_with_a_byte_order_mark(gauge, tmp_path, capsys):
    """M2: before, "no id column" (the first column read as '\\ufeffgauge_id')."""
    table = _attributes_csv(gauge, tmp_path / "bom.csv", encoding="utf-8-sig")
    assert table.read_bytes().startswith(b"\xef\xbb\xbfgauge_id")
    assert main([str(a) for a in bmi_config(table, tmp_path / "cfg")]) == 0
    assert (tmp_path / "cfg" / "01073000.yml").is_file()


@pytest.mark.parametrize("column, line, cell, needles", [
    (2, 4, "-1.5", ["line 4 (2015-12-01 02:00:00), column 'TMP_2maboveground': -1.5 K is outside "
                    "land_surface_air__temperature's valid range 180..340 K", "its header gives no units"]),
    (1, 5, "nan", ["line 5 (2015-12-01 03:00:00), column 'precip_rate': 'nan' is NaN"]),
    (1, 6, "abc", ["line 6, column 'precip_rate': 'abc' is not a number"]),
    (2, 7, "", ["line 7, column 'TMP_2maboveground': '' is not a number"]),
    (0, 8, None, ["line 9: time '2015-12-01 06:00:00' does not come after the line before's "
                  "(2015-12-01 06:00:00): times must increase strictly"]),
    (0, 3, "yesterday", ["line 3: time 'yesterday' is not a time"]),
])
def test_realization_refuses_forcing_the_bmi_would_stop_on(gauge, tmp_path, capsys, column, line, cell,
                                                           needles):
    """W2: before, a run folder was written from forcing with degC, nan, abc, empty cells or a duplicated
    row (line numbers count the header as line 1)."""
    forcing = tmp_path / "forcing"
    shutil.copytree(gauge / "forcing", forcing)
    victim = sorted(forcing.iterdir())[1]
    lines = victim.read_text(encoding="utf-8").splitlines()
    if cell is None:
        lines.insert(line, lines[line - 1])  # a duplicated row
    else:
        cells = lines[line - 1].split(",")
        cells[column] = cell
        lines[line - 1] = ",".join(cells)
    victim.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fails(capsys, realization(gauge, tmp_path / "rz", forcing), f"forcing values: {victim}: ", *needles)
    assert not (tmp_path / "rz").exists()


def test_realization_converts_declared_units_and_holds_nan_under_hold_last(gauge, tmp_path, capsys):
    """A temperature column declared in degC is converted (as ngen does) before the range test; a NaN passes
    under --nan-policy hold_last (the BMI holds the last valid value)."""
    forcing = tmp_path / "forcing"
    shutil.copytree(gauge / "forcing", forcing)
    for path in forcing.iterdir():
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [line.split(",") for line in lines[1:]]
        for cells in rows:
            cells[2] = f"{float(cells[2]) - 273.15:.2f}"
        rows[3][1] = "nan"
        header = lines[0].replace("TMP_2maboveground", "TMP_2maboveground [degC]")
        path.write_text("\n".join([header, *(",".join(c) for c in rows)]) + "\n", encoding="utf-8")
    args = [str(a) for a in realization(gauge, tmp_path / "rz", forcing)]
    assert main([*args, "--nan-policy", "hold_last"]) == 0
    fails(capsys, realization(gauge, tmp_path / "rz2", forcing), "'nan' is NaN")
