"""Validation during training: a validation period and/or validation basins, best.pt chosen on them, early
stopping, exact resume, roles in evaluate, and named config errors."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from train_toy import toy_config, toy_dataset

from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.core.train import rundir, validation
from dmg_bmi.core.train.selection import TRAINING_LOSS, Selection
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.train.commands._common import basin_roles
from dmg_bmi.train.config import load_experiment
from dmg_bmi.train.run import train

VALID = {"start": "2001-01-01", "end": "2001-04-30"}
TEST = {"start": "2001-05-01", "end": "2001-08-31"}


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return toy_dataset(n_basins=6, days=640).save(tmp_path_factory.mktemp("data") / "toy.nc")


def _cfg(toy_path, tmp_path, sub="run", data=None, **train_kw):
    raw = toy_config(toy_path, tmp_path)
    raw["data"]["test"] = dict(TEST)
    raw["data"].update(data if data is not None else {"valid": dict(VALID)})
    raw["run"]["exact_dir"] = str(tmp_path / sub)
    raw["train"].update({"epochs": 4, "lr": 0.03, **train_kw})
    return load_experiment(data=raw)


def _log(run_dir):
    return list(csv.DictReader((run_dir / rundir.LOG_NAME).open()))


def test_best_pt_is_the_epoch_with_the_best_validation_nse(toy_path, tmp_path, capsys):
    result = train(_cfg(toy_path, tmp_path))
    rows = _log(result.run_dir)
    nse = [float(r["val_nse"]) for r in rows]
    assert len(nse) == 4 and all(math.isfinite(v) for v in nse)
    assert all(r["val_loss"] and r["val_kge"] for r in rows)
    best_epoch = int(np.argmax(nse)) + 1
    best = load_checkpoint(result.best).training
    assert best["epoch"] == best_epoch
    last = load_checkpoint(result.last).training
    assert last["selection"]["score"] == "nse" and last["selection"]["best_epoch"] == best_epoch
    assert last["selection"]["best"] == pytest.approx(max(nse), rel=1e-5)
    assert last["valid_basins"] == []  # temporal validation: the training basins over data.valid
    out = capsys.readouterr().out
    assert "best.pt on the validation median NSE of 6 basins, 2001-01-01..2001-04-30" in out
    assert f"best.pt: epoch {best_epoch}, validation median NSE" in out
    assert " ETA " in out and "done in" in out
    from dmg_bmi.ngen.checkpoint_info import describe

    info = describe(result.best)["training"]
    assert info["valid_period"] == "2001-01-01..2001-04-30"
    assert info["selection"].startswith(f"best.pt: epoch {best_epoch}, validation median NSE")


def test_validation_scores_equal_the_model_run_over_the_period(toy_path, tmp_path):
    """The logged validation NSE of the last epoch is the NSE of `predict` over data.valid (same warm-up)."""
    from dmg_bmi.core.train.metrics import nse
    from dmg_bmi.data.dataset import HydroDataset
    from dmg_bmi.forcing import derivation_from_record
    from dmg_bmi.train.data import derive_inputs
    from dmg_bmi.train.evaluate import predict

    cfg = _cfg(toy_path, tmp_path, epochs=2)
    result = train(cfg)
    ckpt = load_checkpoint(result.last)
    ds = derive_inputs(HydroDataset.load(toy_path), derivation_from_record(ckpt.derivations))
    pred = predict(ckpt.build_model(), ckpt.normalization, ds, cfg.data.valid, target="streamflow")
    values = [nse(pred.outputs["streamflow"][i], pred.observed[i]) for i in range(len(pred.basins))]
    logged = float(_log(result.run_dir)[-1]["val_nse"])
    assert logged == pytest.approx(float(np.median(values)), rel=1e-6)


def test_validate_every_and_select_on_loss(toy_path, tmp_path):
    result = train(_cfg(toy_path, tmp_path, epochs=5, validate_every=2, select_on="loss"))
    rows = _log(result.run_dir)
    validated = [int(r["epoch"]) for r in rows if r["val_loss"]]
    assert validated == [2, 4, 5]  # every 2 epochs, and the last
    losses = {int(r["epoch"]): float(r["val_loss"]) for r in rows if r["val_loss"]}
    assert load_checkpoint(result.best).training["epoch"] == min(losses, key=losses.get)


def test_validation_basins_are_left_out_of_training_and_marked(toy_path, tmp_path):
    result = train(_cfg(toy_path, tmp_path, data={"valid_basins": ["b4", "b5"]}))
    ckpt = load_checkpoint(result.best)
    assert ckpt.training["basins"] == ["b0", "b1", "b2", "b3"]
    assert ckpt.training["valid_basins"] == ["b4", "b5"]
    roles = basin_roles(ckpt)
    assert roles == {"b0": "train", "b1": "train", "b2": "train", "b3": "train", "b4": "validation",
                     "b5": "validation"}
    from dmg_bmi.train.evaluate import role

    assert role("b9", roles) == "held-out" and role("b9", None) == "not recorded"


def test_validation_basins_over_their_own_period(toy_path, tmp_path, capsys):
    train(_cfg(toy_path, tmp_path, data={"valid_basins": ["b5"], "valid": dict(VALID),
                                         "basins": ["b0", "b1", "b2"]}, epochs=1))
    assert "of 1 basin, 2001-01-01..2001-04-30" in capsys.readouterr().out


def test_without_validation_best_pt_is_the_lowest_training_loss(toy_path, tmp_path, capsys):
    result = train(_cfg(toy_path, tmp_path, data={}, epochs=4))
    rows = _log(result.run_dir)
    assert all(not r["val_nse"] for r in rows)
    losses = [float(r["loss"]) for r in rows]
    sel = load_checkpoint(result.last).training["selection"]
    assert sel["score"] == TRAINING_LOSS and sel["best_epoch"] == int(np.argmin(losses)) + 1
    assert load_checkpoint(result.best).training["epoch"] == sel["best_epoch"]
    assert "the lowest mean training loss (no validation set" in capsys.readouterr().out


def test_early_stopping_after_patience_rounds(toy_path, tmp_path, monkeypatch, capsys):
    """Validation scores that only fall after epoch 2 (a unit test of the stopping rule in the trainer)."""
    given = iter([0.5, 0.6, 0.55, 0.58, 0.4, 0.9, 0.9])

    def fake(*args, **kwargs):
        return {"loss": 1.0, "nse": next(given), "kge": 0.0}

    monkeypatch.setattr(validation, "scores", fake)
    result = train(_cfg(toy_path, tmp_path, epochs=7, patience=3))
    assert [int(r["epoch"]) for r in _log(result.run_dir)] == [1, 2, 3, 4, 5]
    assert load_checkpoint(result.best).training["epoch"] == 2
    assert "early stop after epoch 5: 3 validation rounds without a better validation median NSE" in (
        capsys.readouterr().out)
    again = train(_cfg(toy_path, tmp_path, epochs=7, patience=3), resume=result.last)  # stays stopped
    assert [int(r["epoch"]) for r in _log(again.run_dir)] == [1, 2, 3, 4, 5]
    assert "nothing to train: the run stopped early at epoch 5" in capsys.readouterr().out
    more = train(_cfg(toy_path, tmp_path, epochs=7, patience=4), resume=result.last)  # more patience: on
    assert [int(r["epoch"]) for r in _log(more.run_dir)] == [1, 2, 3, 4, 5, 6, 7]
    assert load_checkpoint(more.best).training["epoch"] == 6  # 0.9 beat epoch 2's 0.6


def test_resume_keeps_the_selection(toy_path, tmp_path):
    kw = dict(lr_schedule={"name": "step", "step_size": 1})
    full = train(_cfg(toy_path, tmp_path, "full", epochs=4, **kw))
    part = train(_cfg(toy_path, tmp_path, "part", epochs=2, **kw))
    resumed = train(_cfg(toy_path, tmp_path, "part", epochs=4, **kw), resume=part.last)
    a, b = load_checkpoint(full.best), load_checkpoint(resumed.best)
    assert a.training["epoch"] == b.training["epoch"]
    assert a.training["selection"] == b.training["selection"]
    for key in a.state_dict:
        assert torch.equal(a.state_dict[key], b.state_dict[key]), key
    assert _log(full.run_dir) != [] and [r["val_nse"] for r in _log(full.run_dir)] == [
        r["val_nse"] for r in _log(part.run_dir)]


def test_selection_rules():
    s = Selection.for_run("kge", patience=2, validating=True)
    assert [s.offer(e, v) for e, v in enumerate([0.1, float("nan"), 0.3, 0.2, 0.25], 1)] == [
        True, False, True, False, False]
    assert s.stop and s.best_epoch == 3 and s.best == 0.3
    loss = Selection.for_run("nse", patience=0, validating=True)
    loss.score = "loss"
    assert loss.offer(1, 2.0) and loss.offer(2, 1.0) and not loss.offer(3, 1.5) and not loss.stop
    again = Selection.for_run("kge", 2, True, saved=s.to_dict())
    assert (again.best, again.best_epoch, again.bad_rounds) == (0.3, 3, 2)
    old = Selection.for_run("nse", 0, False, saved=None, best_loss=0.4)  # a checkpoint from before selection
    assert old.score == TRAINING_LOSS and old.best == 0.4 and not old.offer(9, 0.5) and old.offer(9, 0.3)
    assert "no epoch" in Selection.for_run("nse", 0, True).describe()
    none_yet = Selection.for_run("nse", 0, True).to_dict()  # best None in the checkpoint
    assert none_yet["best"] is None and "no epoch" in Selection.from_dict(none_yet).describe()


def test_an_old_log_is_read_and_continued(tmp_path):
    path = tmp_path / rundir.LOG_NAME
    path.write_text("epoch,loss,lr,skipped_batches,seconds\n1,0.5,0.01,0,2.0\n2,0.4,0.01,0,2.0\n")
    log = rundir.CsvLog(path, keep_until_epoch=1)
    log.append(epoch=2, loss="0.3", lr="0.01", skipped_batches=0, seconds="1.0", val_nse="0.7")
    rows = rundir.CsvLog.read(path)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[1]["val_nse"] == "0.7" and rows[0]["val_nse"] == ""


@pytest.mark.parametrize(("data", "train_kw", "error", "match"), [
    ({}, {"patience": 2}, ConfigError, r"train\.patience: 2 stops on a validation score"),
    ({"valid": {"start": "2001-05-01", "end": "2001-05-31"}}, {}, ConfigError,
     r"data\.valid: 2001-05-01\.\.2001-05-31 overlaps data\.test"),
    ({"valid_basins": ["b1"], "basins": ["b1", "b2"]}, {}, ConfigError,
     r"data\.valid_basins: \['b1'\] are also in data\.basins"),
    ({"valid_basins": ["b1", "zz9"]}, {}, InputError, r"zz9"),
    ({"valid_basins": [f"b{i}" for i in range(6)]}, {}, ConfigError, r"none is left to train on"),
    ({"valid": {"start": "2000-01-01", "end": "2000-01-10"}}, {}, ConfigError,
     r"data\.valid: 2000-01-01\.\.2000-01-10 .* not longer than model\.phy\.warmup"),
    ({"valid": {"start": "2001-01-01", "end": "2001-04-30"}}, {"select_on": "rmse"}, ConfigError,
     r"train\.select_on: 'rmse' is not one of \['nse', 'kge', 'loss'\]"),
    ({"valid": {"start": "2001-01-01", "end": "2001-04-30"}}, {"patience": -1}, ConfigError,
     r"train\.patience must be >= 0"),
])
def test_named_errors(toy_path, tmp_path, data, train_kw, error, match):
    with pytest.raises(error, match=match):
        train(_cfg(toy_path, tmp_path, data=data, **train_kw))
    assert not (tmp_path / "run").exists()  # nothing half-made


def test_tensorboard_logs_the_epochs_and_a_resume_replaces_the_rest(toy_path, tmp_path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def cfg():
        c = _cfg(toy_path, tmp_path, "tb", epochs=4, lr_schedule={"name": "step", "step_size": 1})
        c.run.tensorboard = True
        return c

    run = train(cfg()).run_dir
    train(cfg(), resume=run / "model_epoch002.pt")  # epochs 3-4 again: their first events are dropped
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    rows = _log(run)
    assert [s.step for s in events.Scalars("loss/train")] == [1, 2, 3, 4]
    assert [s.value for s in events.Scalars("loss/train")] == pytest.approx([float(r["loss"]) for r in rows],
                                                                             rel=1e-5)
    assert [s.value for s in events.Scalars("validation/nse")] == pytest.approx(
        [float(r["val_nse"]) for r in rows], rel=1e-5)
    assert [s.value for s in events.Scalars("lr")] == pytest.approx([float(r["lr"]) for r in rows])


def test_tensorboard_without_the_package_is_a_named_error(toy_path, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    raw = toy_config(toy_path, tmp_path)
    raw["run"]["tensorboard"] = True
    with pytest.raises(ConfigError, match=r'run\.tensorboard: true needs the tensorboard package.*'
                                          r'pip install "dmg_bmi\[tensorboard\]"'):
        load_experiment(data=raw)


def test_a_validation_basin_list_file_is_relative_to_the_config(toy_path, tmp_path, monkeypatch):
    import yaml

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "valid.txt").write_text("b4\nb5\n")
    raw = toy_config(toy_path, tmp_path)
    raw["data"].update(valid_basins="valid.txt", test=dict(TEST))
    (folder / "run.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)  # not the config's folder
    cfg = load_experiment(folder / "run.yaml")
    assert cfg.data.valid_basins == ["b4", "b5"] and cfg.data.validating
