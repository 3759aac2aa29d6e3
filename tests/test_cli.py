"""`dmg-bmi` verbs end to end on the toy physics: train, evaluate, simulate, errors; the quickstart's
attribute table. (`inspect`: tests/test_inspect.py; `bmi-config`, `realization`: test_ngen_realization.py.)"""

from __future__ import annotations

import csv
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import yaml
from train_toy import toy_config, toy_dataset

from dmg_bmi.cli import COMMANDS, build_parser, main
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.data.dataset import HydroDataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    toy_dataset().save(root / "toy.nc")
    raw = toy_config("toy.nc", "runs")  # relative to the YAML file
    raw["run"]["exact_dir"] = str(root / "run")
    (root / "cfg.yaml").write_text(yaml.safe_dump(raw))
    assert main(["train", "--config", str(root / "cfg.yaml"), "--set", "train.epochs=2"]) == 0
    return root


def test_every_verb_is_registered_with_help():
    parser = build_parser()
    text = parser.format_help()
    for name in COMMANDS:
        assert name in text


def test_train_writes_the_run_and_overrides_apply(trained):
    rows = list(csv.DictReader((trained / "run" / "train_log.csv").open()))
    assert len(rows) == 2  # --set train.epochs=2 overrode the file's 3
    saved = yaml.safe_load((trained / "run" / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 2 and saved["package_version"]


def test_evaluate_prints_table_and_writes_csv(trained, capsys):
    args = ["evaluate", "--run-dir", str(trained / "run"), "--no-plots", "--out", str(trained / "ev")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "median" in out and "nse" in out
    rows = list(csv.DictReader((trained / "ev" / "metrics.csv").open()))
    assert [r["basin"] for r in rows] == [f"b{i}" for i in range(6)]
    assert {"nse", "kge", "corr", "bias_pct", "fhv_pct", "flv_pct"} <= set(rows[0])
    assert all(int(r["n_obs"]) == 134 for r in rows)  # 2001-01-01..2001-05-14


def test_evaluate_default_folder_names_the_dataset_and_roles(trained, capsys):
    """Two datasets over the same period get their own folders; each basin says whether it was trained on."""
    toy_dataset(n_basins=8).save(trained / "other.nc")
    assert main(["evaluate", "--run-dir", str(trained / "run"), "--no-plots"]) == 0
    assert main(["evaluate", "--run-dir", str(trained / "run"), "--no-plots", "--data",
                 str(trained / "other.nc")]) == 0
    run = trained / "run"
    own = list(csv.DictReader((run / "evaluate_toy_2001-01-01_2001-05-14" / "metrics.csv").open()))
    other = list(csv.DictReader((run / "evaluate_other_2001-01-01_2001-05-14" / "metrics.csv").open()))
    assert [r["role"] for r in own] == ["train"] * 6
    assert [(r["basin"], r["role"]) for r in other][5:] == [("b5", "train"), ("b6", "held-out"),
                                                          ("b7", "held-out")]
    assert "held-out" in capsys.readouterr().out


def test_simulate_netcdf_and_csv(trained):  # --save-state / --initial-state: tests/test_train_state.py
    ckpt = str(trained / "run" / "last.pt")
    assert main(["simulate", "--checkpoint", ckpt, "--out", str(trained / "sim")]) == 0
    with netCDF4.Dataset(trained / "sim" / "simulation.nc") as nc:
        q = np.asarray(nc["streamflow"][:])
        assert q.shape == (6, 134) and nc["streamflow"].units == "mm d-1"
        assert np.isfinite(q).all()
    assert main(["simulate", "--checkpoint", ckpt, "--format", "csv", "--out", str(trained / "csv"),
                 "--basins", "b1", "b3", "--start", "2001-02-01", "--end", "2001-02-10"]) == 0
    lines = (trained / "csv" / "b3.csv").read_text().splitlines()
    assert lines[0] == "date,streamflow,AET" and len(lines) == 11
    np.testing.assert_allclose(  # same values as the whole-period NetCDF on the same days
        [float(x.split(",")[1]) for x in lines[1:]], q[3, 31:41], rtol=0, atol=0.05 * q[3, 31:41].max())


def test_errors_are_one_line_with_exit_status_2(trained, capsys):
    assert main(["train", "--config", str(trained / "cfg.yaml"), "--set", "train.optimizer=sgd"]) == 2
    assert "train.optimizer: 'sgd' is not one of ['adam', 'adadelta']" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(trained / "nope.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["simulate", "--run-dir", str(trained / "run"), "--start", "1990-01-01"]) == 2
    assert "outside the data" in capsys.readouterr().err


def test_quickstart_writes_the_twin_attribute_table(tmp_path, capsys):
    """Next to its checkpoint: id, area_km2, latitude and every attribute the checkpoint needs, for every twin
    catchment, exactly the twin's values; `bmi-config` takes it as is."""
    assert main(["quickstart", "--out", str(tmp_path), "--basins", "5", "--set", "train.epochs=1",
                 "--set", "train.iterations_per_epoch=1", "--set", "train.batch_size=4",
                 "--set", "run.progress=false"]) == 0
    out = capsys.readouterr().out
    (run,) = tmp_path.glob("quickstart_*")
    table = run / "twin_attributes.csv"
    assert f"attribute table: {table}" in out and (run / "best.pt").is_file()
    from dmg_bmi.core.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run / "best.pt")
    with table.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == ["id", "area_km2", "latitude",
                                 *[n for n in ckpt.nn_attributes if n != "area_km2"]]
    twin = HydroDataset.load(tmp_path / "twin.nc")
    assert [r["id"] for r in rows] == list(twin.basins)
    for i, row in enumerate(rows):
        assert float(row["latitude"]) == twin.static["lat"][i]
        for name in ckpt.nn_attributes:
            assert float(row[name]) == twin.static[name][i], name
    assert main(["bmi-config", "--attributes", str(table), "--checkpoint", str(run / "best.pt"),
                 "--start", "2004-01-01 00:00:00", "--end", "2004-01-02 23:00:00",
                 "--out", str(tmp_path / "cfg")]) == 0
    cfg = yaml.safe_load((tmp_path / "cfg" / "twin0004.yml").read_text(encoding="utf-8"))
    assert cfg["area_km2"] == twin.static["area_km2"][4] and set(cfg["attributes"]) == set(
        ckpt.nn_attributes) - {"area_km2"}


def _config_elsewhere(tmp_path, data_path):
    """`tmp_path/configs/cfg.yaml` training the toy on `data_path` as written, 1 epoch, its runs in
    `runs` (as written); a 6-basin toy.nc beside it and an 8-basin toy.nc in `tmp_path/work`, the working
    directory of the test."""
    (tmp_path / "configs").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    toy_dataset().save(tmp_path / "configs" / "toy.nc")
    toy_dataset(n_basins=8).save(tmp_path / "work" / "toy.nc")
    raw = toy_config(data_path, "runs", epochs=1)
    raw["run"]["name"] = "rel"
    (tmp_path / "configs" / "cfg.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "configs" / "cfg.yaml"


def _trained_on(capsys) -> tuple[str, int, str]:
    """(data.path the run recorded, number of basins it trained on, its folder) from train's printout."""
    out = capsys.readouterr().out
    run = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("run directory: "))
    saved = yaml.safe_load((Path(run) / "config.yaml").read_text())
    return saved["data"]["path"], len(load_checkpoint(Path(run) / "last.pt").training["basins"]), run


def test_relative_paths_in_a_config_file_are_relative_to_its_folder(tmp_path, monkeypatch, capsys):
    """Issue 13: from any working directory, `data.path` and `run.run_dir` written in the file name places
    beside the file; a same-named file in the working directory is not used."""
    config = _config_elsewhere(tmp_path, "toy.nc")
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "--config", str(config)]) == 0
    data, n_basins, run = _trained_on(capsys)
    assert (data, n_basins) == (str(tmp_path / "configs" / "toy.nc"), 6)
    assert Path(run).parent == tmp_path / "configs" / "runs"
    # a relative --config works the same from a third folder
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "configs/cfg.yaml", "--set", "run.name=again"]) == 0
    assert _trained_on(capsys)[:2] == (str(tmp_path / "configs" / "toy.nc"), 6)


def test_relative_paths_given_with_set_are_relative_to_the_working_directory(tmp_path, monkeypatch, capsys):
    config = _config_elsewhere(tmp_path, "toy.nc")
    monkeypatch.chdir(tmp_path / "work")
    assert main(["train", "--config", str(config), "--set", "data.path=toy.nc",
                 "--set", "run.run_dir=out"]) == 0
    data, n_basins, run = _trained_on(capsys)
    assert (data, n_basins) == (str(tmp_path / "work" / "toy.nc"), 8)
    assert Path(run).parent == tmp_path / "work" / "out"
    # absolute paths, in the file or with --set, are kept
    other = tmp_path / "configs" / "toy.nc"
    assert main(["train", "--config", str(config), "--set", f"data.path={other}"]) == 0
    assert _trained_on(capsys)[:2] == (str(other), 6)
    absolute = _config_elsewhere(tmp_path / "abs", str(tmp_path / "work" / "toy.nc"))
    assert main(["train", "--config", str(absolute)]) == 0
    assert _trained_on(capsys)[:2] == (str(tmp_path / "work" / "toy.nc"), 8)


def test_train_prints_the_run_folder_absolute_new_or_resumed(tmp_path, monkeypatch, capsys):
    """Issue 13: the default run.run_dir (`runs`, relative) and a relative --resume print the same
    absolute folder and checkpoints."""
    toy_dataset().save(tmp_path / "toy.nc")
    raw = toy_config("toy.nc", "runs", epochs=1)
    del raw["run"]["run_dir"]  # the default, relative to the working directory
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "cfg.yaml"]) == 0
    new = capsys.readouterr().out.splitlines()[-3:]
    run = next(p for p in (tmp_path / "runs").iterdir())
    assert new == [f"run directory: {run}", f"last checkpoint: {run / 'last.pt'}",
                   f"best checkpoint: {run / 'best.pt'}"]
    assert main(["train", "--resume", f"runs/{run.name}/last.pt", "--set", "train.epochs=2"]) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == new
