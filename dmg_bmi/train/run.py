"""`train`: the domain of the config's physics trains it (`dmg_bmi.domains.domain_of_experiment`), with the
core's loop (`dmg_bmi.core.train.trainer.train_windows`) or its own."""

from __future__ import annotations

from pathlib import Path

from dmg_bmi.core.train import rundir
from dmg_bmi.core.train.checkpoints import load_training_checkpoint
from dmg_bmi.core.train.common import TrainResult
from dmg_bmi.domains import domain_of_experiment
from dmg_bmi.train.config import ExperimentConfig, check_resume


def train(cfg: ExperimentConfig, resume: str | Path | None = None) -> TrainResult:
    """Train a model as configured (by `Domain.train` of the config's domain); returns where the run
    directory and checkpoints are.

    resume: a checkpoint written by this trainer; training continues in its run directory from the next
    epoch, up to `cfg.train.epochs`. A `cfg` that changes what a resumed run keeps raises ConfigError
    (`check_resume`) before any weight is loaded. A run that fails before its first `last.pt` leaves no
    run folder behind (`rundir.discard_on_failure`). A resume whose checkpoint already reached
    `cfg.train.epochs` trains nothing and says so (it still checks and restores the run's checkpoint copies,
    the recovery of a run killed while writing them at its last epoch).
    """
    state = None
    if resume is None and cfg.run.exact_dir is None:  # before any data is read
        rundir.check_run_name(cfg.run.name)
    if resume is not None:
        state = load_training_checkpoint(resume)
        check_resume(cfg, state, f"resume {resume}")
        if state.epoch >= cfg.train.epochs:
            print(f"nothing to train: {resume} already finished epoch {state.epoch} and train.epochs is "
                  f"{cfg.train.epochs}; set train.epochs above {state.epoch} to train on", flush=True)
    with rundir.discard_on_failure():
        return domain_of_experiment(cfg).train(cfg, resume, state)
