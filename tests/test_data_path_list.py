"""`data.path` as a list (issue 13, item 3): NetCDF files and CAMELS-US folders merged by basin id; the path
rule for each entry; duplicates, unit conflicts and missing ids named; a training run on two files."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import shared_path
from train_toy import toy_config, toy_dataset

from dmg_bmi.cli import main
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.core.config import from_dict
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.data.merge import merge_datasets
from dmg_bmi.domains import get_domain
from dmg_bmi.domains.delta import CORE
from dmg_bmi.domains.hydrology.camels import list_basins, read_camels
from dmg_bmi.domains.hydrology.twin import make_twin
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.forcing import InputDerivation
from dmg_bmi.train.commands._common import data_name
from dmg_bmi.train.config import DataConfig, experiment_to_dict, load_experiment
from dmg_bmi.train.configs import package_config
from dmg_bmi.train.data import load_dataset
from dmg_bmi.train.run import train

HAMON = InputDerivation("hamon")
HYDRO = get_domain("hydrology")


def data(**raw) -> DataConfig:
    return from_dict(DataConfig, raw, prefix="data")


def same_data(a: HydroDataset, b: HydroDataset) -> None:
    """`a` and `b` hold the same basins (any order), days, variables, units and values (NaN where NaN)."""
    assert sorted(a.basins) == sorted(b.basins)
    b = b.sel_basins(list(a.basins))
    assert np.array_equal(a.dates, b.dates)
    assert set(a.dynamic) == set(b.dynamic) and set(a.static) == set(b.static)
    assert set(a.targets) == set(b.targets)
    names = (*a.dynamic, *a.static)
    assert {k: a.units[k] for k in names} == {k: b.units[k] for k in names}
    for name in a.dynamic:
        np.testing.assert_array_equal(a.dynamic[name], b.dynamic[name], err_msg=name)
    for name in a.static:
        np.testing.assert_array_equal(a.static[name], b.static[name], err_msg=name)


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """A 4-basin hydrology twin (2 years) as one file and split in two files by basin."""
    root = tmp_path_factory.mktemp("twin")
    full = make_twin(n_basins=4, years=2)
    full.save(root / "full.nc")
    full.sel_basins(["twin0000", "twin0001"]).save(root / "a.nc")
    full.sel_basins(["twin0002", "twin0003"]).save(root / "b.nc")
    return root


# ------------------------------------------------------------------ the config: values and the path rule
@pytest.mark.parametrize("value, message", [
    ([], r"data\.path: an empty list"),
    (["a.nc", 5], r"data\.path\[1\]: expected a path .* got 5"),
    (["a.nc", ""], r"data\.path\[1\]: expected a path .* got ''"),
    (["a.nc", "b.nc", "./a.nc"],
     r"data\.path\[2\]: '\./a\.nc' is the same path as data\.path\[0\] \('a\.nc'\)"),
    ({"a": 1}, r"data\.path: expected a path or a list of paths"),
])
def test_bad_path_lists_are_refused_naming_the_entry(value, message):
    with pytest.raises(ConfigError, match=message):
        data(path=value)


def test_list_entries_follow_the_path_rule_and_are_saved_absolute(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    raw = toy_config("x", "runs")
    raw["data"]["path"] = ["a.nc", "../data/b.nc", str(tmp_path / "c.nc")]
    (folder / "cfg.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_experiment(folder / "cfg.yaml")  # in the file: relative to its folder
    assert cfg.data.path == [str(folder / "a.nc"), str(tmp_path / "data" / "b.nc"), str(tmp_path / "c.nc")]
    assert load_experiment(data=experiment_to_dict(cfg)).data.path == cfg.data.path  # the checkpoint's copy
    monkeypatch.chdir(tmp_path)  # with --set: relative to the working directory
    cfg = load_experiment(folder / "cfg.yaml", ["data.path=[one.nc, sub/two.nc]"])
    assert cfg.data.path == [str(tmp_path / "one.nc"), str(tmp_path / "sub" / "two.nc")]
    assert load_experiment(folder / "cfg.yaml", ["data.path=one.nc"]).data.path == str(tmp_path / "one.nc")
    with pytest.raises(ConfigError, match=r"data\.path\[1\]"):  # the same file twice once absolute
        load_experiment(folder / "cfg.yaml", [f"data.path=[one.nc, {tmp_path / 'one.nc'}]"])


def test_a_crop_run_refuses_a_list():
    with pytest.raises(ConfigError, match=r"data\.path: a crop run reads one crop dataset"):
        package_config("crop_twin", ["data.path=[a.nc, b.nc]"])


def test_the_dataset_name_joins_the_stems():
    assert data_name(data(path=["/x/a.nc", "/y/b.nc"])) == "a+b"
    assert data_name(data(path="/x/a.nc")) == "a"


# ------------------------------------------------------------------ NetCDF files
def test_two_files_merge_into_what_one_file_holds(twin):
    merged = load_dataset(data(path=[str(twin / "a.nc"), str(twin / "b.nc")]), HAMON, HYDRO)
    one = load_dataset(data(path=str(twin / "full.nc")), HAMON, HYDRO)
    assert list(merged.basins) == ["twin0000", "twin0001", "twin0002", "twin0003"]
    same_data(merged, one)
    assert merged.metadata["input_derivation"] == one.metadata["input_derivation"]
    picked = load_dataset(data(path=[str(twin / "a.nc"), str(twin / "b.nc")],
                               basins=["twin0003", "twin0000"]), HAMON, HYDRO)
    assert list(picked.basins) == ["twin0003", "twin0000"]  # data.basins filters the merged set, in its order
    same_data(picked, one.sel_basins(["twin0003", "twin0000"]))


def test_a_basin_in_two_files_is_named_with_both_files(twin):
    a, full = str(twin / "a.nc"), str(twin / "full.nc")
    with pytest.raises(InputError, match=rf"basin 'twin0000' is in two data\.path entries, {a} and {full}"):
        load_dataset(data(path=[a, full]), HAMON, HYDRO)
    # a file that data.basins takes nothing from is left out, so its basins do not clash
    ds = load_dataset(data(path=[a, full], basins=["twin0003", "twin0002"]), HAMON, HYDRO)
    assert list(ds.basins) == ["twin0003", "twin0002"]


def test_a_basin_in_no_file_is_named(twin):
    paths = [str(twin / "a.nc"), str(twin / "b.nc")]
    with pytest.raises(InputError, match=r"data\.basins: basin\(s\) \['nowhere'\] are in none of data\.path"):
        load_dataset(data(path=paths, basins=["twin0000", "nowhere"]), HAMON, HYDRO)


def test_different_units_are_named_with_both_files(tmp_path):
    a, b = make_twin(n_basins=2, years=1, seed=1), make_twin(n_basins=2, years=1, seed=2)
    b.basins = np.array(["other0", "other1"], dtype=object)
    a.static["bedrock_depth"], a.units["bedrock_depth"] = np.array([1.0, 2.0]), "m"  # not in the table
    b.static["bedrock_depth"], b.units["bedrock_depth"] = np.array([100.0, 200.0]), "cm"
    a.static["soil_depth"], a.units["soil_depth"] = np.array([1.0, 2.0]), "m"  # the table's: converted
    b.static["soil_depth"], b.units["soil_depth"] = np.array([100.0, 300.0]), "cm"
    paths = [str(a.save(tmp_path / "a.nc")), str(b.save(tmp_path / "b.nc"))]
    with pytest.raises(InputError, match=rf"variable 'bedrock_depth' has units 'm' in {paths[0]} but "
                                         rf"'cm' in {paths[1]}"):
        CORE.read_dataset(data(path=paths), HAMON)
    b.static["bedrock_depth"], b.units["bedrock_depth"] = np.array([1.0, 2.0]), "meter"  # m spelled out
    b.save(tmp_path / "b.nc")
    ds = CORE.read_dataset(data(path=paths), HAMON)
    assert ds.units["bedrock_depth"] == "m" and ds.units["soil_depth"] == "m"
    np.testing.assert_allclose(ds.static["soil_depth"], [1.0, 2.0, 1.0, 3.0])


def test_variables_some_file_lacks_are_dropped_with_a_warning(tmp_path):
    a, b = make_twin(n_basins=2, years=1, seed=1), make_twin(n_basins=2, years=1, seed=2)
    b.basins = np.array(["other0", "other1"], dtype=object)
    del b.static["aridity"]
    del b.dynamic["streamflow_true"]
    b.targets = ("streamflow",)
    paths = [str(a.save(tmp_path / "a.nc")), str(b.save(tmp_path / "b.nc"))]
    with pytest.warns(UserWarning) as caught:
        ds = CORE.read_dataset(data(path=paths), HAMON)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    for message, name in zip(messages, ("aridity", "streamflow_true"), strict=True):
        expected = f"data.path: variable {name!r} is dropped from the merged data: it is not in {paths[1]} "
        assert message.startswith(expected), message
    assert "aridity" not in ds.static and "streamflow_true" not in ds.dynamic
    assert ds.targets == ("streamflow",) and "streamflow" in ds.dynamic


def test_a_target_in_one_file_and_a_forcing_in_another_is_refused(tmp_path):
    a, b = make_twin(n_basins=1, years=1, seed=1), make_twin(n_basins=1, years=1, seed=2)
    b.basins = np.array(["other0"], dtype=object)
    b.targets = ("streamflow",)  # streamflow_true: a forcing here
    paths = [str(a.save(tmp_path / "a.nc")), str(b.save(tmp_path / "b.nc"))]
    with pytest.raises(InputError, match=r"'streamflow_true' is a target in .*a\.nc but a forcing in .*b\.nc"
                       ):
        CORE.read_dataset(data(path=paths), HAMON)


def test_different_date_ranges_take_the_union_padded_with_nan():
    a = toy_dataset(n_basins=2, days=100, start="2000-01-01")
    b = toy_dataset(n_basins=2, days=100, seed=1, start="2000-03-01")
    b.basins = np.array(["c0", "c1"], dtype=object)
    ds = merge_datasets([a, b], ["a.nc", "b.nc"])
    assert ds.dates[0] == np.datetime64("2000-01-01") and ds.dates[-1] == b.dates[-1]
    i = int((b.dates[0] - a.dates[0]).astype(int))
    for name in a.dynamic:
        np.testing.assert_array_equal(ds.dynamic[name][:2, :100], a.dynamic[name])
        np.testing.assert_array_equal(ds.dynamic[name][2:, i:], b.dynamic[name])
        assert np.isnan(ds.dynamic[name][:2, 100:]).all() and np.isnan(ds.dynamic[name][2:, :i]).all()
    np.testing.assert_array_equal(ds.static["a1"], np.concatenate([a.static["a1"], b.static["a1"]]))


# ------------------------------------------------------------------ CAMELS-US folders
def _camels_part(camels: Path, out: Path, basins: list[str]) -> Path:
    """A CAMELS-US tree under `out` holding `basins` of `camels` (symlinks; the attribute tables shared)."""
    for kind, pattern in (("basin_mean_forcing/nldas", "{}_lump_*_forcing_leap.txt"),
                          ("usgs_streamflow", "{}_streamflow_qc.txt")):
        for b in basins:
            (src,) = (camels / kind).rglob(pattern.format(b))
            dst = out / kind / src.parent.name / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src, dst)
    os.symlink(camels / "camels_attributes_v2.0", out / "camels_attributes_v2.0")
    return out


@pytest.fixture(scope="module")
def camels_split(tmp_path_factory):
    camels = shared_path("hydro", "raw", "camels_us")
    ids = list_basins(camels)[:6]
    root = tmp_path_factory.mktemp("camels")
    east, west = _camels_part(camels, root / "east", ids[:3]), _camels_part(camels, root / "west", ids[3:])
    return camels, ids, east, west


def test_camels_folders_merge_into_what_one_folder_holds(camels_split):
    camels, ids, east, west = camels_split
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged = load_dataset(data(path=[str(east), str(west)], kind="camels"), HAMON, HYDRO)
        one = read_camels(camels, basins=ids, pet_method=HAMON)
    assert list(merged.basins) == ids
    assert merged.names == one.names and set(one.names) == set(ids)  # station names of both folders
    same_data(merged, one)  # the days too: the span common to every basin's forcing, as one folder reads
    picked = load_dataset(data(path=[str(east), str(west)], kind="camels", basins=[ids[4], ids[0]]), HAMON,
                          HYDRO)
    assert list(picked.basins) == [ids[4], ids[0]]


def test_camels_basin_in_two_folders_or_in_none_is_named(camels_split, tmp_path):
    camels, ids, east, west = camels_split
    again = _camels_part(camels, tmp_path / "again", [ids[1]])
    clash = rf"basin '{ids[1]}' is in two data\.path entries, {east} and {again}"
    with pytest.raises(InputError, match=clash):
        load_dataset(data(path=[str(east), str(again)], kind="camels"), HAMON, HYDRO)
    with pytest.raises(InputError, match=r"data\.basins: basin\(s\) \['99999999'\] have no nldas forcing"):
        load_dataset(data(path=[str(east), str(west)], kind="camels", basins=[ids[0], "99999999"]), HAMON,
                     HYDRO)


# ------------------------------------------------------------------ a training run on two files
def test_training_on_two_files_saves_absolute_paths(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    full = toy_dataset()
    full.sel_basins(["b0", "b1", "b2"]).save(data_dir / "north.nc")
    full.sel_basins(["b3", "b4", "b5"]).save(data_dir / "south.nc")
    raw = toy_config("x", "runs", epochs=1, iterations_per_epoch=2)
    raw["data"]["path"] = ["data/north.nc", "data/south.nc"]  # relative to the config file's folder
    raw["run"]["exact_dir"] = "run"
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path / "data")  # elsewhere: the rule does not depend on the working directory
    result = train(load_experiment(tmp_path / "cfg.yaml"))
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    expected = [str(data_dir / "north.nc"), str(data_dir / "south.nc")]
    assert saved["data"]["path"] == expected
    ckpt = load_checkpoint(result.last)
    assert ckpt.training["experiment"]["data"]["path"] == expected
    assert sorted(ckpt.training["basins"]) == ["b0", "b1", "b2", "b3", "b4", "b5"]
    # evaluate reads the stored list; its folder names both files
    assert main(["evaluate", "--run-dir", str(result.run_dir), "--no-plots"]) == 0
    rows = list(csv.DictReader(
        (result.run_dir / "evaluate_north+south_2001-01-01_2001-05-14" / "metrics.csv").open()))
    assert sorted(r["basin"] for r in rows) == ["b0", "b1", "b2", "b3", "b4", "b5"]


def test_padded_days_never_reach_the_physics(tmp_path):
    """A training period reaching outside one file's days: its NaN-padded forcing is refused by name."""
    toy_dataset(n_basins=3).save(tmp_path / "early.nc")
    late = toy_dataset(n_basins=3, seed=1, start="2000-07-01")
    late.basins = np.array(["c0", "c1", "c2"], dtype=object)
    late.save(tmp_path / "late.nc")
    raw = toy_config("x", tmp_path / "runs", epochs=1)
    raw["data"]["path"] = [str(tmp_path / "early.nc"), str(tmp_path / "late.nc")]
    with pytest.raises(InputError, match=r"physics forcing 'P' is NaN or inf .* first at basin 'c0' on "
                                         r"2000-01-01"):
        train(load_experiment(data=raw))


def test_camels_folder_without_basins_is_named(camels_split, tmp_path):
    _, _, east, _ = camels_split
    (tmp_path / "empty" / "basin_mean_forcing" / "nldas").mkdir(parents=True)
    with pytest.raises(InputError, match=rf"no basins found under {tmp_path / 'empty'} for forcing source"):
        load_dataset(data(path=[str(east), str(tmp_path / "empty")], kind="camels"), HAMON, HYDRO)
