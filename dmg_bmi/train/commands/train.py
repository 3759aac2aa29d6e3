"""`dmg-bmi train --config X.yaml [--set key=value ...] [--resume CKPT]`."""

from __future__ import annotations

import argparse
import sys

HELP = "Train a delta model from a YAML run config (runs under torchrun for distributed training)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="run config YAML, or a shipped config by name (the stems in "
                        "dmg_bmi/configs/); optional with --resume: the run's config.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=5 (repeatable); a relative "
                             "path here is relative to the working directory, one in the file to its folder")
    parser.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint in a run directory")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dmg_bmi.core.train import rundir
    from dmg_bmi.core.train.checkpoints import load_training_checkpoint
    from dmg_bmi.errors import CheckpointError, ConfigError
    from dmg_bmi.train.config import check_resume, load_experiment
    from dmg_bmi.train.configs import load_config
    from dmg_bmi.train.run import train

    resume = Path(args.resume) if args.resume else None
    if resume is not None and resume.is_dir():
        raise ConfigError(f"--resume {resume} is a folder: give a checkpoint in it, e.g. "
                          f"{resume / 'last.pt'}")
    if resume is not None and not resume.is_file():
        raise CheckpointError(f"--resume: checkpoint not found: {resume}")
    state = load_training_checkpoint(resume) if resume is not None else None
    if args.config:
        cfg = load_config(args.config, args.overrides)
    elif resume is not None:
        cfg = load_experiment(data=rundir.read_config(resume.resolve().parent), overrides=args.overrides)
    else:
        raise ConfigError("train needs --config X.yaml (or --resume CKPT inside a run directory)")
    if state is not None:  # before any weight is loaded: a changed network would only give a size mismatch
        check_resume(cfg, state, f"--resume {resume}")
        rundir.check_output_folder(resume.resolve().parent, "--resume")
    else:
        rundir.check_output_folder(cfg.run.exact_dir or cfg.run.run_dir,
                                   "run.exact_dir" if cfg.run.exact_dir else "run.run_dir")
    result = train(cfg, resume=resume)
    if result.last.name:  # absolute, whether the run is new or resumed
        print(f"run directory: {result.run_dir.resolve()}\nlast checkpoint: {result.last.resolve()}")
        if not result.best.is_file():
            print(f"error: no best checkpoint: no epoch had a finite loss (every batch was skipped), so "
                  f"{result.best.name} was not written; check the data and the config's bounds",
                  file=sys.stderr)
            return 1
        print(f"best checkpoint: {result.best.resolve()}")
    return 0
