"""`dmg-bmi train --config X.yaml [--set key=value ...] [--resume CKPT]`."""

from __future__ import annotations

import argparse

HELP = "Train a delta model from a YAML run config (runs under torchrun for distributed training)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="run config YAML (optional with --resume: the run's config.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    parser.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint in a run directory")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train import rundir
    from dmg_bmi.train.config import load_experiment
    from dmg_bmi.train.trainer import train

    if args.config:
        cfg = load_experiment(args.config, args.overrides)
    elif args.resume:
        cfg = load_experiment(data=rundir.read_config(Path(args.resume).resolve().parent),
                              overrides=args.overrides)
    else:
        raise ConfigError("train needs --config X.yaml (or --resume CKPT inside a run directory)")
    result = train(cfg, resume=args.resume)
    if result.last.name:
        print(f"run directory: {result.run_dir}\nlast checkpoint: {result.last}\n"
              f"best checkpoint: {result.best}")
    return 0
