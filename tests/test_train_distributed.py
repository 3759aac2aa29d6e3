"""Distributed data parallel: two gloo processes under torchrun train and write a loadable checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from train_toy import toy_config, toy_dataset

from dmg_bmi.core.checkpoint import load_checkpoint


@pytest.mark.slow
def test_torchrun_two_gloo_processes(tmp_path):
    toy_dataset().save(tmp_path / "toy.nc")
    raw = toy_config(tmp_path / "toy.nc", tmp_path / "runs")
    raw["model"]["phy"] = {"name": "hbv_1_1p", "nmul": 2, "warmup": 20}  # a registered built-in physics
    raw["model"]["dtype"] = "float32"
    raw["run"].update(exact_dir=str(tmp_path / "run"), device="cpu")
    raw["train"].update(epochs=2, iterations_per_epoch=2)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "dmg_bmi.cli", "train", "--config", str(tmp_path / "cfg.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt.training["epoch"] == 2
    ckpt.build_model()
    log = (tmp_path / "run" / "train_log.csv").read_text().splitlines()
    assert len(log) == 3  # header + 2 epochs, written once (rank 0 only)


@pytest.mark.slow
def test_torchrun_with_validation_and_early_stopping(tmp_path):
    """Rank 0 validates and decides to stop; every rank leaves the loop at the same epoch (no hang)."""
    toy_dataset(days=640).save(tmp_path / "toy.nc")
    raw = toy_config(tmp_path / "toy.nc", tmp_path / "runs")
    raw["data"]["valid"] = {"start": "2001-06-01", "end": "2001-09-30"}
    raw["run"].update(exact_dir=str(tmp_path / "run"), device="cpu")
    raw["train"].update(epochs=8, iterations_per_epoch=2, patience=1, lr=0.3)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    code = "import train_toy, sys; from dmg_bmi.cli import main; sys.exit(main(sys.argv[1:]))"
    (tmp_path / "launch.py").write_text(code)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(tmp_path / "launch.py"), "train", "--config", str(tmp_path / "cfg.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = (tmp_path / "run" / "train_log.csv").read_text().splitlines()[1:]
    last = load_checkpoint(tmp_path / "run" / "last.pt").training
    assert len(rows) == last["epoch"] and all(r.split(",")[6] for r in rows)  # val_nse every epoch
    stopped = f"early stop after epoch {last['epoch']}" in proc.stdout
    assert stopped == (last["epoch"] < 8)
    assert stopped == (last["selection"]["bad_rounds"] >= 1 and last["epoch"] < 8)
