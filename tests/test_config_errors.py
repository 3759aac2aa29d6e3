"""Config files and values as a user writes them: YAML typing (ids with leading zeros, `1e-3`, unquoted
times), undecodable files, times with offsets, and the values every config section refuses, naming the key."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import REPO, shared_path
from train_toy import toy_config

import dmg_bmi
from dmg_bmi.bmi_config import load_bmi_config
from dmg_bmi.core.config import apply_overrides, load_yaml, parse_yaml
from dmg_bmi.domains import get_domain
from dmg_bmi.errors import ConfigError
from dmg_bmi.train.config import load_experiment, resume_differences
from dmg_bmi.train.configs import load_config, package_config

BMI_QUICKSTART = REPO / "bmi_configs" / "quickstart.yml"


@pytest.mark.parametrize("written, value", [
    ("01022500", "01022500"),  # a CAMELS gauge id: not the octal 271680
    ("007", "007"),
    ("0x1F", "0x1F"),  # no hex, binary or base-60 numbers
    ("0b101", "0b101"),
    ("1:30", "1:30"),
    ("2015-12-01", "2015-12-01"),  # dates and times stay text for the key that reads them
    ("2015-12-01 00:00:00", "2015-12-01 00:00:00"),
    ("1e-3", 0.001),  # YAML 1.1 reads these as strings
    ("1e9", 1e9),
    ("5E+2", 500.0),
])
def test_yaml_scalars_are_typed_as_meant(tmp_path, written, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"key: {written}\nlist: [{written}]\n", encoding="utf-8")
    data = load_yaml(path)
    assert data == {"key": value, "list": [value]} and type(data["key"]) is type(value)
    assert apply_overrides({}, [f"a.b={written}"]) == {"a": {"b": value}}


def test_a_whole_config_keeps_its_other_types(tmp_path):
    """Plain numbers, booleans and nulls are what YAML makes of them, next to the ids that stay text."""
    path = tmp_path / "c.yaml"
    path.write_text("ids: [01022500, 03439000, 1022500, 0]\nsizes: {a: -12, b: 0.5, c: 2.5e-4, d: .inf}\n"
                    "flags: [true, false, null, ~]\nname: hbv_1_1p\n", encoding="utf-8")
    assert load_yaml(path) == {"ids": ["01022500", "03439000", 1022500, 0],
                               "sizes": {"a": -12, "b": 0.5, "c": 2.5e-4, "d": math.inf},
                               "flags": [True, False, None, None], "name": "hbv_1_1p"}


def test_unquoted_camels_ids_keep_their_leading_zeros(tmp_path):
    """The handed case (shared/cases/basin_ids_leading_zeros_yaml.py): the shipped CAMELS config with
    `basins: [01022500, 03439000]` trains on those two basins, not on '271680'."""
    camels = shared_path("hydro", "raw", "camels_us")
    text = (REPO / "dmg_bmi" / "configs" / "dhbv_camels.yaml").read_text(encoding="utf-8")
    assert "basins: []" in text and "path: ../../../shared/data/hydro/raw/camels_us" in text
    text = text.replace("basins: []", "basins: [01022500, 03439000]")
    text = text.replace("path: ../../../shared/data/hydro/raw/camels_us", f"path: {camels}")
    (tmp_path / "cfg.yaml").write_text(text, encoding="utf-8")
    cfg = load_experiment(tmp_path / "cfg.yaml", ["train.epochs=1"])
    assert cfg.data.basins == ["01022500", "03439000"]
    from dmg_bmi.forcing import InputDerivation
    from dmg_bmi.train.data import load_dataset

    derivation = InputDerivation(pet_method=cfg.model.inputs.pet_method)
    ds = load_dataset(cfg.data, derivation, get_domain("hydrology"))
    assert list(ds.basins) == ["01022500", "03439000"]
    # the same ids given on the command line
    cfg = load_experiment(tmp_path / "cfg.yaml", ["data.basins=[01013500, 01022500]"])
    assert cfg.data.basins == ["01013500", "01022500"]


def test_exponent_numbers_are_numbers(tmp_path):
    raw = toy_config("toy.nc", "runs")
    text = yaml.safe_dump(raw).replace("lr: 0.01", "lr: 1e-3")
    assert "lr: 1e-3" in text
    (tmp_path / "cfg.yaml").write_text(text, encoding="utf-8")
    assert load_experiment(tmp_path / "cfg.yaml").train.lr == 0.001
    assert load_experiment(tmp_path / "cfg.yaml", ["train.lr=1e9"]).train.lr == 1e9
    assert package_config("quickstart", ["train.lr=5e-3"]).train.lr == 0.005


@pytest.mark.parametrize("override, match", [
    ("train.lr=.nan", r"train\.lr: expected a finite number, got nan"),
    ("train.grad_clip=.inf", r"train\.grad_clip: expected a finite number, got inf"),
    ("train.epochs=05", r"train\.epochs: expected an integer, got '05' \(a leading zero .*: write 5\)"),
    ("train.output=foo", r"train\.output: 'foo' is not an output of the physics 'train_toy'; valid: stream"),
    ("train.lr_schedule.step_size=0", r"train\.lr_schedule\.step_size must be >= 1, got 0"),
    ("train.lr_schedule.gamma=0", r"train\.lr_schedule\.gamma must be > 0"),
    ("train.lr_schedule.min_lr=-1e-3", r"train\.lr_schedule\.min_lr must be >= 0"),
    ("run.seed=-1", r"run\.seed must be >= 0, got -1"),
    ("run.device=cuda:x", r"run\.device: 'cuda:x' is not one of cpu, cuda, cuda:N, auto"),
    ("train.lr=[1,", r"override 'train\.lr=\[1,': the value '\[1,' is not valid YAML"),
    ("train..lr=1", r"override 'train\.\.lr=1': 'train\.\.lr' is not a key like train\.lr"),
    ("train.batch_size=1e8", r"train\.batch_size: expected an integer, got 100000000\.0"),
    ("train.batch_size=100000000", r"train\.batch_size must be in \[1, 100000\], got 100000000"),
    ("run.eval_batch_size=100001", r"run\.eval_batch_size must be in \[1, 100000\], got 100001"),
    ("model.phy.nmul=257", r"model\.phy\.nmul must be in \[1, 256\], got 257"),
    ("model.nn.hidden_size=8193", r"model\.nn\.hidden_size must be in \[1, 8192\], got 8193"),
    ("model.nn.mlp_hidden_size=100000", r"model\.nn\.mlp_hidden_size must be in \[1, 8192\], got 100000"),
    ("model.nn.mlp_layers=65", r"model\.nn\.mlp_layers must be in \[0, 64\], got 65"),
    ("train.rho=1000000000", r"train\.batch_size 4 x \(model\.phy\.warmup 20 \+ train\.rho 1000000000\) "
                            r"days .* needs about [\d.e+]+ GiB per training window, over the 1024 GiB limit"),
])
def test_bad_values_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_experiment(data=toy_config("toy.nc", "runs"), overrides=[override])


def test_size_limits_are_generous():
    """The shipped configs and the δHBV reference size (batch 100, warmup + rho 730 d, hidden 256, nmul 16:
    about 1.4 GiB) are far inside the limits; so is a batch of 90 000 basins of the quickstart model; the
    same in float64 counts twice."""
    from dmg_bmi.train.config import MAX_WINDOW_BYTES, window_bytes
    from dmg_bmi.train.configs import available

    for name in available():
        assert window_bytes(package_config(name)) < MAX_WINDOW_BYTES / 100
    reference = ["train.batch_size=100", "train.rho=365", "model.phy.warmup=365", "model.nn.hidden_size=256",
                 "model.phy.nmul=16"]
    assert 1.2 < window_bytes(package_config("dhbv_camels", reference)) / 2**30 < 1.6
    big = package_config("quickstart", ["train.batch_size=90000"])
    doubled = package_config("quickstart", ["train.batch_size=90000", "model.dtype=float64"])
    assert window_bytes(doubled) == 2 * window_bytes(big) < MAX_WINDOW_BYTES


def test_invalid_utf8_names_the_file_and_byte(tmp_path):
    raw = b"train:\n  loss: nse_batch # caf\xe9\n"
    for name in ("run.yaml", "bmi.yml"):
        (tmp_path / name).write_bytes(raw)
    match = r"run\.yaml: byte 0xe9 at byte position 30 \(line 2\) is not valid UTF-8; save the file as UTF-8"
    with pytest.raises(ConfigError, match=match):
        load_experiment(tmp_path / "run.yaml")
    with pytest.raises(ConfigError, match=r"bmi\.yml: byte 0xe9 at byte position 30 \(line 2\)"):
        load_bmi_config(tmp_path / "bmi.yml")
    (tmp_path / "nul.yaml").write_bytes(b"train:\n  loss: nse_batch\0\n")  # the text reader's own checks
    with pytest.raises(ConfigError, match=r"nul\.yaml: NUL byte at byte position 24 \(line 2\)"):
        load_experiment(tmp_path / "nul.yaml")


def test_a_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match=f"{tmp_path} is a folder, not a config file"):
        load_yaml(tmp_path)


def _bmi_config(tmp_path, **changes):
    cfg = yaml.safe_load(BMI_QUICKSTART.read_text(encoding="utf-8"))
    cfg["checkpoint"] = str(REPO / "bmi_configs" / cfg["checkpoint"])
    text = yaml.safe_dump(cfg, sort_keys=False)
    for key, written in changes.items():
        text = "\n".join(f"{key}: {written}" if line.startswith(f"{key}:") else line
                         for line in text.splitlines())
    path = tmp_path / "bmi.yml"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_bmi_catchment_id_keeps_leading_zeros(tmp_path):
    cfg, _ = load_bmi_config(_bmi_config(tmp_path, catchment_id="01022500"))
    assert cfg.catchment_id == "01022500"
    with pytest.raises(ConfigError, match=r"catchment_id: expected a string, got 1022500 \(quote it: '10"):
        load_bmi_config(_bmi_config(tmp_path, catchment_id="1022500"))


@pytest.mark.parametrize("start, end", [
    ("2004-01-01 00:00:00", "2004-01-02 23:00:00"),  # unquoted: YAML 1.1 would make these datetimes
    ("'2004-01-01T00:00:00Z'", "'2004-01-02T23:00:00Z'"),
    ("2004-01-01T05:00:00+05:00", "'2004-01-02 18:00:00-05:00'"),
])
def test_bmi_times_with_offsets_are_utc(tmp_path, start, end):
    cfg, _ = load_bmi_config(_bmi_config(tmp_path, start_time=start, end_time=end))
    assert (cfg.start, cfg.end) == (datetime(2004, 1, 1), datetime(2004, 1, 2, 23))
    assert cfg.end_seconds == 48 * 3600


def test_bmi_end_before_start_across_offsets(tmp_path):
    """02:00+05:00 is 21:00 UTC the day before: before a naive 22:00 start (no naive/aware TypeError)."""
    path = _bmi_config(tmp_path, start_time="'2004-01-01 22:00:00'", end_time="'2004-01-02T02:00:00+05:00'")
    with pytest.raises(ConfigError, match=r"end_time '2004-01-02T02:00:00\+05:00' is before start_time"):
        load_bmi_config(path)


def test_resume_differences_name_each_key():
    before = load_experiment(data=toy_config("toy.nc", "runs"))
    from dmg_bmi.train.config import experiment_to_dict

    stored = experiment_to_dict(before)
    same = load_experiment(data=toy_config("toy.nc", "runs"), overrides=["train.epochs=9"])
    assert resume_differences(same, stored) == []
    changed = load_experiment(data=toy_config("toy.nc", "runs"), overrides=[
        "model.nn.mlp_hidden_size=16", "model.phy.fixed_params={k: 0.1}", "train.optimizer=adadelta",
        "train.lr=1e-4"])  # a resumed run keeps the restored optimizer's rate: a new one would not apply
    assert resume_differences(changed, stored) == [
        "model.nn.mlp_hidden_size: 8 -> 16", "model.phy.fixed_params.k: None -> 0.1",
        "train.optimizer: 'adam' -> 'adadelta'", "train.lr: 0.01 -> 0.0001"]


def test_resume_compares_the_physics_options_in_effect():
    """An option left out and the same option written at its default are the same run; a real change is
    named with both values (not `None`)."""
    from dmg_bmi.train.config import experiment_to_dict

    base = ["model.phy.name=hbv_multimodel"]
    stored = experiment_to_dict(load_experiment(data=toy_config("toy.nc", "runs"), overrides=base))
    same = load_experiment(data=toy_config("toy.nc", "runs"), overrides=[
        *base, "model.phy.options={logit_bound: 5.0, members: [hbv_1_0, hbv_1_1p, hbv_2], routing_len: 15}"])
    assert resume_differences(same, stored) == []
    changed = load_experiment(data=toy_config("toy.nc", "runs"), overrides=[
        *base, "model.phy.options={logit_bound: 3.0}"])
    assert resume_differences(changed, stored) == ["model.phy.options.logit_bound: 5.0 -> 3.0"]


@pytest.mark.parametrize("text, key, lines", [
    ("train:\n  lr: 0.01\n  epochs: 3\ntrain:\n  epochs: 5\n", "train", "lines 1 and 4"),
    ("latitude: 44.0\narea_km2: 5.0\nlatitude: 45.0\n", "latitude", "lines 1 and 3"),
    ("a: {b: 1, b: 2}\n", "b", "lines 1 and 1"),
])
def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path, text, key, lines):
    """YAML keeps the last of two equal keys without a word (a whole `train:` block silently lost)."""
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path}.*key '{key}' is given twice \({lines}\)"):
        load_yaml(path)


def test_merge_keys_are_not_duplicates():
    assert parse_yaml(b"x: &x {a: 1}\ny:\n  <<: *x\n  a: 2\n", "m.yml") == {"x": {"a": 1}, "y": {"a": 2}}


def test_config_by_shipped_name_file_or_neither(tmp_path, monkeypatch):
    """`--config crop_twin` (or `crop_twin.yaml`) is the shipped config (its paths relative to its folder, a
    `--set` path to the working directory); a file of that name in the working directory wins; anything else
    names the shipped configs."""
    monkeypatch.chdir(tmp_path)
    shipped = Path(dmg_bmi.__file__).resolve().parent / "configs"
    for arg in ("crop_twin", "crop_twin.yaml"):
        cfg = load_config(arg, ["train.epochs=3"])
        assert cfg.run.name == "crop_twin" and cfg.data.path == str(shipped / "crop_twin.nc")
        assert cfg.train.epochs == 3
    assert load_config("crop_twin", ["data.path=mine.nc"]).data.path == str(tmp_path / "mine.nc")
    raw = toy_config(tmp_path / "toy.nc", tmp_path)
    raw["run"]["name"] = "mine"
    (tmp_path / "crop_twin.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_config("crop_twin.yaml").run.name == "mine"
    with pytest.raises(ConfigError, match=r"config file not found: nope \(nor a shipped config.*crop_twin"):
        load_config("nope")
    with pytest.raises(ConfigError, match="config file not found: sub/crop_twin"):
        load_config("sub/crop_twin")  # a path, not a name


def test_a_basin_list_file_follows_the_path_rule(tmp_path, monkeypatch):
    """`data.basins` naming a file: written in the config, relative to its folder; with --set, to the
    working directory (issue 13); the shipped configs' relative paths are relative to dmg_bmi/configs."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "cfg" / "ids.txt").write_text("b1\nb2\n", encoding="utf-8")
    (tmp_path / "work" / "ids.txt").write_text("b3\n", encoding="utf-8")
    raw = toy_config("toy.nc", "runs")
    raw["data"]["basins"] = "ids.txt"
    (tmp_path / "cfg" / "run.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "work")
    assert load_experiment(tmp_path / "cfg" / "run.yaml").data.basins == ["b1", "b2"]
    assert load_experiment(tmp_path / "cfg" / "run.yaml", ["data.basins=ids.txt"]).data.basins == ["b3"]
    shipped = Path(dmg_bmi.__file__).resolve().parent / "configs"
    assert package_config("crop_twin").data.path == str(shipped / "crop_twin.nc")
    assert package_config("crop_twin", ["data.path=x.nc"]).data.path == str(tmp_path / "work" / "x.nc")


def test_a_run_folders_config_yaml_runs_again_as_a_config(tmp_path):
    """`config.yaml` of a run folder carries a `package_version` stamp; `--config` of that file is a valid
    config (the stamp is dropped), and a misspelt top-level key is still named."""
    from dmg_bmi.core.train.rundir import VERSION_KEY, write_config

    raw = toy_config(tmp_path / "toy.nc", tmp_path)
    path = write_config(tmp_path, raw)
    assert VERSION_KEY in load_yaml(path)
    assert load_config(str(path), ["train.epochs=4"]).train.epochs == 4
    raw["pakage_version"] = "0"
    with pytest.raises(ConfigError, match="unknown key.*'pakage_version'"):
        load_config(str(write_config(tmp_path, raw)))
