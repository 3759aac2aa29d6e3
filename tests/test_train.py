"""Trainer on a toy physics: run directory, exact resume, NaN handling, clear errors."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch
from train_toy import toy_config, toy_dataset

from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.core.train import trainer as trainer_mod
from dmg_bmi.core.train.common import EpochSteps, TrainingError
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.train.config import load_experiment
from dmg_bmi.train.run import train


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return toy_dataset().save(tmp_path_factory.mktemp("data") / "toy.nc")


def _cfg(toy_path, tmp_path, sub="run", **train_kw):
    raw = toy_config(toy_path, tmp_path)
    raw["run"]["exact_dir"] = str(tmp_path / sub)
    raw["train"].update(train_kw)
    return load_experiment(data=raw)


def test_run_directory_contents_and_loadable_checkpoint(toy_path, tmp_path):
    result = train(_cfg(toy_path, tmp_path, epochs=4))
    names = {p.name for p in result.run_dir.iterdir()}
    expected = {"config.yaml", "train_log.csv", "last.pt", "best.pt", "model_epoch002.pt",
                "model_epoch004.pt"}
    assert expected <= names
    rows = list(csv.DictReader((result.run_dir / "train_log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    ckpt = load_checkpoint(result.last)
    assert ckpt.training["epoch"] == 4
    assert ckpt.derivations["PET"]["method"] == "hamon"
    model = ckpt.build_model()
    assert sum(p.numel() for p in model.parameters()) > 0
    with pytest.raises(ConfigError, match="already exists"):
        train(_cfg(toy_path, tmp_path, epochs=1))  # same exact_dir: never overwrite a run


def test_resume_gives_the_same_weights_as_an_unbroken_run(toy_path, tmp_path):
    full = train(_cfg(toy_path, tmp_path, "full", epochs=4, lr_schedule={"name": "step", "step_size": 1}))
    part = train(_cfg(toy_path, tmp_path, "part", epochs=2, lr_schedule={"name": "step", "step_size": 1}))
    resumed = train(_cfg(toy_path, tmp_path, "part", epochs=4, lr_schedule={"name": "step", "step_size": 1}),
                    resume=part.last)
    assert resumed.run_dir == part.run_dir
    a, b = load_checkpoint(full.last).state_dict, load_checkpoint(resumed.last).state_dict
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    epoch2 = load_checkpoint(part.run_dir / "model_epoch002.pt").state_dict
    assert any(not torch.equal(a[k], epoch2[k]) for k in a)  # training really went on after the resume
    rows = list(csv.DictReader((part.run_dir / "train_log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]


def test_training_lowers_the_loss(toy_path, tmp_path):
    result = train(_cfg(toy_path, tmp_path, epochs=8, iterations_per_epoch=6, lr=0.03))
    losses = [float(r["loss"]) for r in csv.DictReader((result.run_dir / "train_log.csv").open())]
    assert np.mean(losses[-3:]) < np.mean(losses[:2])


def test_all_nan_basin_is_skipped_with_a_warning(tmp_path):
    ds = toy_dataset()
    ds.dynamic["streamflow"][2, :] = np.nan
    path = ds.save(tmp_path / "nan.nc")
    with pytest.warns(UserWarning, match=r"skipping basin\(s\) \['b2'\]"):
        result = train(_cfg(path, tmp_path, epochs=1))
    assert "b2" not in load_checkpoint(result.last).training["basins"]


def test_bad_batches_stop_a_run_only_in_a_row():
    bad = EpochSteps(3)
    for stepped in (False, False, True, False, False, True, False):  # 5 skipped, never 3 in a row
        bad.record(stepped, 4)
    assert (bad.skipped, bad.in_a_row) == (5, 1)
    bad.record(False, 4)
    with pytest.raises(TrainingError, match="3 minibatches in a row .*epoch 4"):
        bad.record(False, 4)
    bad.new_epoch()
    assert (bad.skipped, bad.in_a_row) == (0, 0)


def test_non_finite_batches_abort_after_max_in_a_row(toy_path, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_mod, "get_loss", lambda *a: lambda p, o, s: (p * float("nan")).mean())
    with pytest.raises(TrainingError, match="3 minibatches in a row"):
        train(_cfg(toy_path, tmp_path, epochs=2, max_bad_batches=3, iterations_per_epoch=5))


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda r: r["train"].update(loss="mse"), ConfigError,
         r"train.loss: 'mse' is not one of \['nse_batch', 'rmse_comb', 'kge'\]"),
        (lambda r: r["model"]["phy"].update(name="hbv_9"), ConfigError, "unknown physics model 'hbv_9'"),
        (lambda r: r["model"]["nn"].update(name="gru"), ConfigError, "unknown nn model 'gru'"),
        (lambda r: r["data"].update(train={"start": "1999-01-01", "end": "2000-12-31"}), ConfigError,
         "data.train: 1999-01-01..2000-12-31 is outside the data"),
        (lambda r: r["model"]["inputs"].update(attributes=["a1", "porosity"]), InputError,
         "attribute 'porosity' is not in the dataset"),
        (lambda r: r["data"].update(target="discharge"), InputError, "data.target: 'discharge'"),
        (lambda r: r["data"].update(basins=["b1", "zz"]), InputError, r"basin\(s\) \['zz'\]"),
    ],
)
def test_bad_input_errors_name_the_culprit(toy_path, tmp_path, change, error, match):
    raw = toy_config(toy_path, tmp_path)
    change(raw)
    with pytest.raises(error, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(load_experiment(data=raw))


@pytest.mark.parametrize("threads", [1, 2])
def test_training_runs_on_run_threads_and_restores_the_setting(toy_path, tmp_path, monkeypatch, threads):
    """`run.threads` is the torch intra-op thread count inside the epochs (the physics sees it), and the
    caller's setting is back afterwards."""
    import train_toy

    seen, forward = [], train_toy.ToyReservoir.forward

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(train_toy.ToyReservoir, "forward", spy)
    before = torch.get_num_threads()
    raw = train_toy.toy_config(toy_path, tmp_path)
    raw["run"].update(exact_dir=str(tmp_path / f"t{threads}"), threads=threads)
    raw["train"].update(epochs=1)
    train(load_experiment(data=raw))
    assert seen and set(seen) == {threads}
    assert torch.get_num_threads() == before


def test_negative_run_threads_is_refused_by_name(toy_path, tmp_path):
    raw = toy_config(toy_path, tmp_path)
    raw["run"]["threads"] = -1
    with pytest.raises(ConfigError, match=r"run\.threads must be >= 0"):
        load_experiment(data=raw)
