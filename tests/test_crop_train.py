"""δWOFOST via `dmg-bmi train` / `evaluate` (data.kind crop): run dir, checkpoint, resume, scores, plots."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import yaml
from conftest import REPO, pcse_own_dir

from dmg_bmi.cli import main
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.domains.crop import twin as ct
from dmg_bmi.domains.crop.checkpoint import build_crop_model
from dmg_bmi.domains.crop.train import split_fields
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.train.config import load_experiment
from dmg_bmi.train.run import train

ATTRS = ["lat", "lon", "elev", "cultivar_index", "soil_index", "seed_index", "crop_grain_maize",
         "crop_spring_barley", "crop_potato"]


def _config(tmp_path, data_path, crops, **train):
    sets = ct.parameter_sets(crops, pcse_own_dir())
    cfg = {
        "data": {"path": str(data_path), "kind": "crop", "crop": {"test_site_fraction": 0.34}},
        "model": {"phy": {"name": "wofost72_pp", "options": {
            "learned_params": {p: {"mode": "factor", "lo": 0.4, "hi": 1.6} for p in ct.VARYING_PARAMS},
            "crop_params": sets}},
            "nn": {"name": "mlp", "mlp_hidden_size": 8, "mlp_layers": 1},
            "inputs": {"forcings": [], "attributes": ATTRS, "log_norm": []}, "dtype": "float64"},
        "train": {"lr": 0.02, "epochs": 2, "batch_size": 2, **train},
        "run": {"run_dir": str(tmp_path / "runs"), "name": "crop", "save_every": 0, "progress": False},
    }
    path = tmp_path / "crop.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_train_evaluate_resume_on_a_tiny_twin(tmp_path, capsys):
    pcse = pcse_own_dir()
    ds = ct.make_crop_twin(tmp_path / "twin.nc", pcse, n_sites=3, fields_per_site=1, seed=1)
    path = _config(tmp_path, tmp_path / "twin.nc", tuple(ct.CROPS))
    result = train(load_experiment(path))
    rows = list(csv.DictReader((result.run_dir / "train_log.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(np.isfinite(float(r["loss"])) for r in rows)
    ckpt = load_checkpoint(result.last)
    train_fields, test_fields = ckpt.training["fields"], ckpt.training["test_fields"]
    assert len(test_fields) == 1 and not set(train_fields) & set(test_fields)
    assert set(train_fields) | set(test_fields) == set(ds.fields)
    # the checkpoint alone rebuilds the model: parameter sets are inline
    assert isinstance(ckpt.config.phy.options["crop_params"]["Potato"]["Potato_twin"]["TSUM1"], float)
    model = build_crop_model(ckpt)
    assert sorted(model.learned_names) == sorted(ct.VARYING_PARAMS)
    # resume continues from epoch 3 in the same run directory
    assert main(["train", "--resume", str(result.last), "--set", "train.epochs=3"]) == 0
    assert load_checkpoint(result.last).training["epoch"] == 3
    assert len(list(csv.DictReader((result.run_dir / "train_log.csv").open()))) == 3
    # evaluate: per-field CSV with both splits, a summary, and (with matplotlib) LAI/TWSO PNGs
    capsys.readouterr()
    assert main(["evaluate", "--run-dir", str(result.run_dir), "--out", str(tmp_path / "ev")]) == 0
    text = capsys.readouterr().out
    assert "yield_rrmse_pct" in text and "test " in text
    table = list(csv.DictReader((tmp_path / "ev" / "metrics.csv").open()))
    assert {r["split"] for r in table} == {"train", "test"} and len(table) == 3
    for r in table:
        assert float(r["yield_obs"]) > 0 and np.isfinite(float(r["yield_sim"]))
        assert 0.4 <= float(r["learned_TSUM1"]) <= 1.6
    pngs = sorted((tmp_path / "ev" / "plots").glob("crop_*.png"))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "plots skipped" in text and not pngs
    else:
        assert len(pngs) == 3 and all(p.stat().st_size > 10_000 for p in pngs)
        assert "PNGs of LAI and TWSO, with the twin's truth" in text


def test_bad_crop_configs_name_the_key(tmp_path):
    layout = ct.make_layout(n_sites=3, fields_per_site=2, seed=2)
    layout.save(tmp_path / "layout.nc")
    path = _config(tmp_path, tmp_path / "layout.nc", ("Potato",))  # the data also has other crops
    with pytest.raises(InputError, match=r"unknown crop '(Grain maize|Spring barley)'; known crops: \["):
        train(load_experiment(path))
    with pytest.raises(ConfigError, match=r"model.inputs.forcings: δWOFOST's network sees weather only for "
                                          r"daily parameters"):
        train(load_experiment(path, ["model.inputs.forcings=[P]"]))
    with pytest.raises(ConfigError, match=r"data.crop.test_site_fraction must be in \[0, 1\)"):
        train(load_experiment(path, ["data.crop.test_site_fraction=1.5"]))
    with pytest.raises(ConfigError, match=r"data.crop: unknown key\(s\) 'data.crop.held_out'"):
        train(load_experiment(path, ["data.crop.held_out=0.2"]))
    with pytest.raises(InputError, match=r"attribute\(s\) \['soil_ph'\] not in the dataset|soil_ph"):
        train(load_experiment(path, ["model.inputs.attributes=[lat, soil_ph]"]))


def test_split_holds_out_whole_sites():
    layout = ct.make_layout(n_sites=10, fields_per_site=3, seed=0)
    test = split_fields(layout, 0.2, seed=4)
    held = {s for s, t in zip(layout.sites, test, strict=True) if t}
    assert len(held) == 2 and test.sum() == 6  # every field of a held-out site, none of the others
    assert not ({s for s, t in zip(layout.sites, test, strict=True) if not t} & held)
    np.testing.assert_array_equal(test, split_fields(layout, 0.2, seed=4))


def test_simulate_refuses_a_crop_checkpoint_and_says_what_to_use(capsys):
    rc = main(["simulate", "--checkpoint", str(REPO / "bmi_configs" / "crop_twin_wofost72.pt")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "δWOFOST checkpoint" in err and "dmg-bmi evaluate" in err


def test_non_finite_crop_batches_abort_after_max_in_a_row(tmp_path, monkeypatch):
    """The crop trainer counts skipped minibatches as the core's does (`EpochSteps`: in a row)."""
    from dmg_bmi.core.train.common import TrainingError
    from dmg_bmi.domains.crop import train as crop_train

    ct.make_crop_twin(tmp_path / "twin.nc", pcse_own_dir(), n_sites=3, fields_per_site=1,
                      seed=1)
    nan_loss = lambda outputs, *a: outputs["LAI"].sum() * float("nan")  # noqa: E731
    monkeypatch.setattr(crop_train, "sparse_obs_loss", nan_loss)
    path = _config(tmp_path, tmp_path / "twin.nc", tuple(ct.CROPS), max_bad_batches=2, iterations_per_epoch=3)
    with pytest.raises(TrainingError, match="2 minibatches in a row had a non-finite loss .*epoch 1"):
        train(load_experiment(path))


@pytest.mark.parametrize(("extra", "named"), [
    (["--basins", "f1"], "--basins"), (["--start", "2015-04-01", "--end", "2015-09-30"], "--start, --end"),
    (["--kind", "netcdf"], "--kind"), (["--output", "LAI"], "--output"), (["--device", "cuda"], "--device"),
])
def test_crop_evaluate_refuses_the_options_it_would_ignore(tmp_path, capsys, extra, named):
    """`evaluate` on a δWOFOST checkpoint scores every field of its crop dataset: a basin list, a period, a
    data kind, an output or a device it would not use are named, before anything is read or written."""
    from test_cli_errors import fails

    out, ckpt = tmp_path / "eval", REPO / "bmi_configs" / "crop_twin_wofost72.pt"
    fails(capsys, ["evaluate", "--checkpoint", ckpt, "--out", out, *extra],
          f"{named}: not taken by a δWOFOST checkpoint's evaluation")
    assert not out.exists()


def test_the_twin_carries_its_parameter_sets_and_the_shipped_config_trains_from_any_folder(
        tmp_path, monkeypatch, capsys):
    """The crop twin stores the sets it was made with (global attribute `crop_params`, exact floats); the
    shipped `crop_twin` config, which names no parameter file, trains on it from a folder with no `../shared`
    beside it, and the checkpoint inlines exactly those sets."""
    from dmg_bmi.domains.crop.dataset import CropDataset

    sets = ct.parameter_sets(tuple(ct.CROPS), pcse_own_dir())
    ct.make_crop_twin(tmp_path / "twin.nc", pcse_own_dir(), n_sites=3, fields_per_site=1, seed=1)
    assert CropDataset.load(tmp_path / "twin.nc").parameter_sets() == sets
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["train", "--config", "crop_twin", "--set", f"data.path={tmp_path / 'twin.nc'}",
                 "--set", "train.epochs=1", "--set", "run.run_dir=runs", "--set", "run.progress=false"]) == 0
    best = next((work / "runs").glob("crop_twin_*/best.pt"))
    assert load_checkpoint(best).config.phy.options["crop_params"] == sets


def test_no_parameter_sets_in_config_or_dataset_is_named(tmp_path):
    """A config without `crop_params` on a dataset that carries none: the key and the file are named."""
    from dmg_bmi.domains.crop.dataset import PARAMS_KEY, CropDataset

    ct.make_crop_twin(tmp_path / "twin.nc", pcse_own_dir(), n_sites=3, fields_per_site=1, seed=1)
    ds = CropDataset.load(tmp_path / "twin.nc")
    del ds.metadata[PARAMS_KEY]
    ds.save(tmp_path / "bare.nc")
    raw = yaml.safe_load(_config(tmp_path, tmp_path / "bare.nc", tuple(ct.CROPS)).read_text())
    del raw["model"]["phy"]["options"]["crop_params"]
    (tmp_path / "crop.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"model.phy.options.crop_params: not given, and crop dataset "
                                          r".*bare.nc carries no crop parameter sets"):
        train(load_experiment(tmp_path / "crop.yaml"))
    ds.metadata[PARAMS_KEY] = "[1, 2]"
    ds.save(tmp_path / "bare.nc")
    with pytest.raises(InputError, match="crop dataset attribute 'crop_params': expected a JSON mapping"):
        train(load_experiment(tmp_path / "crop.yaml"))
