"""Kill safety of the run folder, and datasets that leave nothing to train on.

A kill is simulated at the Nth checkpoint write: the atomic writer's final `os.replace` raises instead of
publishing the file (on disk, what a SIGKILL at any moment of that write leaves: the old file, or none).
One case uses a real SIGKILL in a child process, its temp file of `best.pt` half written.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import REPO
from train_toy import toy_config, toy_dataset

from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.domains.crop import twin as ct
from dmg_bmi.errors import InputError
from dmg_bmi.train.config import load_experiment
from dmg_bmi.train.run import train


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the package catches it."""


def watch_writes(monkeypatch, kill):
    """Count checkpoint writes; kill the process (raise Killed) at the one for which `kill(n, name)` is true:
    the nth write of a `.pt` file, that file's name. Returns the list of (n, name) published so far."""
    real = os.replace
    done = []

    def replace(src, dst, *args, **kwargs):
        name = os.path.basename(dst)
        if name.endswith(".pt"):
            if kill(len(done) + 1, name):
                raise Killed(name)
            done.append((len(done) + 1, name))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return done


def checkpoints(run_dir):
    return sorted(p.name for p in run_dir.iterdir() if p.name.endswith(".pt"))


def assert_promises_kept(run_dir, epochs, save_every):
    """last.pt at the final epoch, best.pt at the epoch of lowest logged loss, every epoch file; no debris."""
    losses = [float(r["loss"]) for r in csv.DictReader((run_dir / "train_log.csv").open())]
    assert len(losses) == epochs
    epoch_files = [f"model_epoch{e:03d}.pt" for e in range(save_every, epochs + 1, save_every)]
    assert checkpoints(run_dir) == sorted(["best.pt", "last.pt", *epoch_files])
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert load_checkpoint(run_dir / "last.pt").training["epoch"] == epochs
    assert load_checkpoint(run_dir / "best.pt").training["epoch"] == int(np.argmin(losses)) + 1
    for name in epoch_files:
        assert load_checkpoint(run_dir / name).training["epoch"] == int(name[11:14])


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return toy_dataset().save(tmp_path_factory.mktemp("data") / "toy.nc")


def _cfg(data_path, tmp_path, sub, **train_kw):
    raw = toy_config(data_path, tmp_path)
    raw["run"]["exact_dir"] = str(tmp_path / sub)
    raw["train"].update(train_kw)
    return load_experiment(data=raw)


def test_a_kill_at_any_checkpoint_write_then_resume_restores_every_file(toy_path, tmp_path, monkeypatch):
    epochs, save_every = 4, 2
    written = watch_writes(monkeypatch, lambda n, name: False)
    ref = train(_cfg(toy_path, tmp_path, "ref", epochs=epochs)).run_dir
    monkeypatch.undo()
    assert_promises_kept(ref, epochs, save_every)
    best_epoch = load_checkpoint(ref / "best.pt").training["epoch"]
    assert len(written) >= 7 and best_epoch > 1  # so one kill hits best.pt at a later improving epoch
    for n in range(1, len(written) + 1):
        cfg = _cfg(toy_path, tmp_path, f"kill{n}", epochs=epochs)
        watch_writes(monkeypatch, lambda i, name, n=n: i == n)
        with pytest.raises(Killed):
            train(cfg)
        monkeypatch.undo()
        run_dir = tmp_path / f"kill{n}"
        if not (run_dir / "last.pt").exists():  # killed while writing the first last.pt: no run left behind
            assert n == 1 and not run_dir.exists()
            continue
        train(cfg, resume=run_dir / "last.pt")
        assert_promises_kept(run_dir, epochs, save_every)
        for name in checkpoints(ref):  # and each file holds what an unbroken run wrote there
            a, b = load_checkpoint(ref / name), load_checkpoint(run_dir / name)
            assert a.training["epoch"] == b.training["epoch"], (n, name)
            assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict), (n, name)


def test_sigkill_while_best_pt_is_written_at_an_improving_epoch(toy_path, tmp_path):
    """The reported case, with a real SIGKILL half way through writing best.pt at the last (improving) epoch:
    the resume has no epoch left to run, and must still bring best.pt to that epoch."""
    run_dir = tmp_path / "run"
    cfg = toy_config(toy_path, tmp_path)
    cfg["run"]["exact_dir"] = str(run_dir)
    cfg["train"].update(epochs=4)
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        import train_toy  # registers the toy physics
        from dmg_bmi.train.config import load_experiment
        from dmg_bmi.train.run import train

        real = os.replace
        seen = []

        def replace(src, dst, *args, **kwargs):
            if os.path.basename(dst) == "best.pt":
                seen.append(dst)
                if len(seen) == 2:  # the second improving epoch: cut the temp file in half, then die
                    os.truncate(src, os.path.getsize(src) // 2)
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst, *args, **kwargs)

        os.replace = replace
        train(load_experiment(data={cfg!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed_epoch = load_checkpoint(run_dir / "last.pt").training["epoch"]
    assert killed_epoch == 4 and load_checkpoint(run_dir / "best.pt").training["epoch"] < killed_epoch
    train(load_experiment(data=cfg), resume=run_dir / "last.pt")
    assert load_checkpoint(run_dir / "best.pt").training["epoch"] == 4
    assert (run_dir / "best.pt").read_bytes() == (run_dir / "last.pt").read_bytes()
    rows = list(csv.DictReader((run_dir / "train_log.csv").open()))
    assert min(rows, key=lambda r: float(r["loss"]))["epoch"] == "4"


@pytest.fixture(scope="module")
def crop_twin(tmp_path_factory):
    """Three one-field sites, with the crop parameter sets inlined in the shipped crop checkpoint."""
    sets = load_checkpoint(REPO / "bmi_configs" / "crop_twin_wofost72.pt").config.phy.options["crop_params"]
    ds, _ = ct.simulate(ct.make_layout(3, 1, tuple(sets), seed=1), sets, 1)
    return ds.save(tmp_path_factory.mktemp("crop") / "twin.nc"), sets, ds


def _crop_cfg(data_path, sets, run_dir):
    attrs = [*ct.SITE_ATTRIBUTES, *(f"crop_{c.replace(' ', '_').lower()}" for c in sets)]
    return load_experiment(data={
        "data": {"path": str(data_path), "kind": "crop", "crop": {"test_site_fraction": 0.34}},
        "model": {"phy": {"name": "wofost72_pp", "options": {
            "learned_params": {p: {"mode": "factor", "lo": 0.4, "hi": 1.6} for p in ct.VARYING_PARAMS},
            "crop_params": sets}},
            "nn": {"name": "mlp", "mlp_hidden_size": 8, "mlp_layers": 1},
            "inputs": {"forcings": [], "attributes": attrs, "log_norm": []}, "dtype": "float64"},
        "train": {"lr": 0.02, "epochs": 2, "batch_size": 2},
        "run": {"run_dir": str(run_dir.parent), "exact_dir": str(run_dir), "name": "crop", "save_every": 2,
                "progress": False},
    })


@pytest.mark.parametrize("victim", ["best.pt", "model_epoch002.pt"])
def test_crop_trainer_kill_at_the_last_epoch_then_resume_restores_it(crop_twin, tmp_path, monkeypatch,
                                                                      victim):
    path, sets, _ = crop_twin
    cfg = _crop_cfg(path, sets, tmp_path / "run")
    watch_writes(monkeypatch, lambda n, name: n > 2 and name == victim)  # at epoch 2 (each epoch improves)
    with pytest.raises(Killed):
        train(cfg)
    monkeypatch.undo()
    run_dir = tmp_path / "run"
    assert load_checkpoint(run_dir / "last.pt").training["epoch"] == 2
    train(cfg, resume=run_dir / "last.pt")
    assert_promises_kept(run_dir, 2, 2)
    assert (run_dir / victim).read_bytes() == (run_dir / "last.pt").read_bytes()


def test_empty_crop_dataset_says_it_has_no_fields(crop_twin, tmp_path):
    _, sets, ds = crop_twin
    empty = ds.subset(np.zeros(ds.n_fields, dtype=bool)).save(tmp_path / "empty.nc")
    with pytest.raises(InputError, match=f"data.path: crop dataset {empty} holds no fields"):
        train(_crop_cfg(empty, sets, tmp_path / "run"))


def test_empty_dataset_says_it_has_no_basins(tmp_path):
    empty = toy_dataset().sel_basins([]).save(tmp_path / "empty.nc")
    with pytest.raises(InputError, match=rf"data.path: {empty} holds no basins \(data.basins: every basin\)"):
        train(_cfg(empty, tmp_path, "run"))
