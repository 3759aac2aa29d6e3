"""The run directory: one self-describing folder per training run.

    <run_dir>/<name>_<YYYYmmdd_HHMMSS>/
        config.yaml          the resolved run config (+ package version)
        train_log.csv        one row per epoch: epoch, loss, lr, skipped batches, seconds
        model_epochNNN.pt    checkpoints every `run.save_every` epochs
        best.pt, last.pt     lowest mean training loss so far / latest epoch
        evaluate/, simulate/ outputs of `dmg-bmi evaluate` / `simulate`
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import yaml

from dmg_bmi import __version__
from dmg_bmi.atomic import write_text
from dmg_bmi.errors import ConfigError

CONFIG_NAME = "config.yaml"
LOG_NAME = "train_log.csv"
LOG_FIELDS = ("epoch", "loss", "lr", "skipped_batches", "seconds")


def create_run_dir(parent: str | Path, name: str, exact: str | Path | None = None) -> Path:
    """Make a new empty run folder (`exact` if given, else `<parent>/<name>_<timestamp>`); never reuse one."""
    if exact is not None:
        path = Path(exact)
    else:
        stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        path = Path(parent) / f"{name}_{stamp}"
    if path.exists() and any(path.iterdir()):
        raise ConfigError(f"run.run_dir: {path} already exists and is not empty; pick another name")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_config(run_dir: Path, config: dict) -> Path:
    """Save the resolved config (and the package version) as `config.yaml`."""
    body = dict(config)
    body["package_version"] = __version__
    path = Path(run_dir) / CONFIG_NAME
    write_text(path, yaml.safe_dump(body, sort_keys=False))
    return path


def read_config(run_dir: Path) -> dict:
    """The config dict saved in a run folder (without the version stamp)."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: {CONFIG_NAME} not found")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    data.pop("package_version", None)
    return data


class CsvLog:
    """Append-only per-epoch training log; a resumed run keeps the rows before the resume epoch."""

    def __init__(self, path: Path, keep_until_epoch: int = 0):
        self.path = Path(path)
        rows = []
        if keep_until_epoch > 0 and self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= keep_until_epoch]
        with self.path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    def append(self, **row) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)


def checkpoint_name(epoch: int) -> str:
    return f"model_epoch{epoch:03d}.pt"
