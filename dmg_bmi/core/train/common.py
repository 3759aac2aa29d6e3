"""What every trainer shares (the core's windowed trainer and a domain's own): the optimizer and LR schedule,
the result of a run and the error that stops one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dmg_bmi.errors import DmgBmiError


class TrainingError(DmgBmiError, RuntimeError):
    """Training cannot go on (e.g. too many non-finite batches in a row)."""


@dataclass
class TrainResult:
    """Where a finished run put things, and its last mean training loss."""

    run_dir: Path
    last: Path
    best: Path
    final_loss: float


def _optimizer(cfg, params) -> torch.optim.Optimizer:
    if cfg.train.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=cfg.train.lr)
    return torch.optim.Adam(params, lr=cfg.train.lr)


def optimization(cfg, model: torch.nn.Module, state=None):
    """The optimizer and LR scheduler for `model`; with a resume `state`, model, optimizer and scheduler
    continue exactly from it."""
    opt = _optimizer(cfg, model.parameters())
    sched = _scheduler(cfg, opt)
    if state is not None:
        model.load_state_dict(state.model_state)
        opt.load_state_dict(state.optimizer_state)
        if sched is not None and state.scheduler_state:
            sched.load_state_dict(state.scheduler_state)
    return opt, sched


def _scheduler(cfg, opt: torch.optim.Optimizer):
    s = cfg.train.lr_schedule
    if s.name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=s.step_size, gamma=s.gamma)
    if s.name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=s.gamma)
    if s.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.train.epochs, eta_min=s.min_lr)
    return None
