"""What every trainer shares (the core's windowed trainer and a domain's own): the optimizer and LR schedule,
the guarded gradient step and an epoch's minibatches (losses, skipped ones), the end of an epoch (log, best
loss, the copies of `last.pt`, the printed line), the result of a run and the error that stops one."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dmg_bmi.core.train.checkpoints import epoch_copies
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


def gradient_step(loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer,
                  grad_clip: float | None, loss_finite: bool) -> bool:
    """Back-propagate `loss` and step `opt` if `loss_finite` (what every rank agreed under DDP) and the
    gradient norm of `model`, clipped to `grad_clip` (None: not clipped), is finite; returns whether it
    stepped. A skipped minibatch changes no weight."""
    if not loss_finite:
        return False
    opt.zero_grad(set_to_none=True)
    loss.backward()
    max_norm = grad_clip if grad_clip is not None else math.inf
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if not torch.isfinite(norm):
        return False
    opt.step()
    return True


class EpochSteps:
    """One epoch's minibatches: the losses of those that stepped (`mean_loss`), those skipped for a
    non-finite loss or gradient (`skipped`, logged) and the run of them in a row; `limit`
    (`train.max_bad_batches`) in a row raises TrainingError (a diverged run), while bad windows spread over
    an epoch are only skipped."""

    def __init__(self, limit: int):
        self.limit = limit
        self.new_epoch()

    def new_epoch(self) -> None:
        self.losses: list[float] = []
        self.skipped = self.in_a_row = 0

    def step(self, loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer,
             grad_clip: float | None, loss_finite: bool, epoch: int) -> bool:
        """`gradient_step` on one minibatch of `epoch`, counted (`record`); returns whether it stepped."""
        stepped = gradient_step(loss, model, opt, grad_clip, loss_finite)
        if stepped:
            self.losses.append(loss.item())
        self.record(stepped, epoch)
        return stepped

    def record(self, stepped: bool, epoch: int) -> None:
        """Count one minibatch of `epoch` (`stepped`: `gradient_step`'s result)."""
        if stepped:
            self.in_a_row = 0
            return
        self.skipped += 1
        self.in_a_row += 1
        if self.in_a_row >= self.limit:
            raise TrainingError(f"{self.in_a_row} minibatches in a row had a non-finite loss or gradient "
                                f"(epoch {epoch}); stopping. Check the inputs for NaN/inf or lower train.lr")

    def mean_loss(self) -> float:
        """Mean loss of the minibatches that stepped (NaN if none did)."""
        return float(np.mean(self.losses)) if self.losses else math.nan


def step_schedule(opt: torch.optim.Optimizer, sched) -> float:
    """Advance the LR schedule (if any) at the end of an epoch; returns the LR the epoch trained with."""
    lr = opt.param_groups[0]["lr"]
    if sched is not None:
        sched.step()
    return lr


@dataclass
class EpochEnd:
    """One finished epoch: mean training `loss`, its `lr`, minibatches `skipped`, start time `t0`
    (`time.perf_counter`) and the validation scores of this epoch (`validation.scores`; None: not
    validated)."""

    epoch: int
    loss: float
    lr: float
    skipped: int
    t0: float
    validation: dict[str, float] | None = None

    def log(self, log, is_best: bool, save_every: int, board=None) -> list[str]:
        """Append the epoch to the run's `log` (`rundir.CsvLog`) and to its TensorBoard `board` (a
        `board.Board`, or None); returns the files that copy this epoch's `last.pt` (`epoch_copies`;
        `is_best`: `Selection.take`'s answer)."""
        scores = {f"val_{k}": f"{v:.6g}" for k, v in (self.validation or {}).items()}
        log.append(epoch=self.epoch, loss=f"{self.loss:.6g}", lr=f"{self.lr:.6g}",
                   skipped_batches=self.skipped, seconds=f"{time.perf_counter() - self.t0:.2f}", **scores)
        if board is not None:
            board.epoch(self.epoch, self.loss, self.lr, self.skipped, self.validation)
        return epoch_copies(self.epoch, is_best, save_every)

    def report(self, clock: RunClock, is_best: bool) -> None:
        """Print the epoch's line (after its checkpoint is written): loss, LR, validation scores with `*` at
        a new best, the epoch's time and the run's ETA (`clock`)."""
        val = ""
        if self.validation:
            val = "  val " + " ".join(f"{k} {v:.3f}" for k, v in self.validation.items())
            val += " *" if is_best else ""
        print(f"epoch {self.epoch}/{clock.last}  loss {self.loss:.4f}  lr {self.lr:.3g}  "
              f"skipped {self.skipped}{val}  {time.perf_counter() - self.t0:.1f}s  {clock.eta(self.epoch)}",
              flush=True)


class RunClock:
    """The run's remaining time: epochs `first..last` of this process, the mean time of those done so far
    (validation included) times the epochs left. An early stop (`train.patience`) ends sooner."""

    def __init__(self, first: int, last: int):
        self.first, self.last, self.t0 = first, last, time.perf_counter()

    def eta(self, epoch: int) -> str:
        """`ETA 12m05s (19:02)` after `epoch`; `done` after the last."""
        left = self.last - epoch
        if left <= 0:
            return f"done in {_duration(time.perf_counter() - self.t0)}"
        seconds = (time.perf_counter() - self.t0) / (epoch - self.first + 1) * left
        at = (dt.datetime.now() + dt.timedelta(seconds=seconds)).strftime("%H:%M")
        return f"ETA {_duration(seconds)} ({at})"


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"
