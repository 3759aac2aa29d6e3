"""The core's training loop (`train_windows`, `DeltaModelDomain.train`): random basin x window
minibatches, a NaN-masked loss, checkpoints in a run directory. `dmg_bmi.train.run.train` hands a config to
its domain, which calls this loop or its own.

Determinism: every epoch reseeds its minibatch generator from `(seed, epoch, rank)` and torch from
`(seed, epoch)`, so a run resumed from the checkpoint of epoch k (weights + optimizer + schedule) repeats
epochs k+1.. exactly as an unbroken run would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.ops import torch_threads
from dmg_bmi.core.train import distributed, validation
from dmg_bmi.core.train.board import open_board
from dmg_bmi.core.train.checkpoints import BEST, LAST, open_run, save_training_checkpoint, write_copies
from dmg_bmi.core.train.common import (
    EpochEnd,
    EpochSteps,
    RunClock,
    TrainingError,
    TrainResult,
    optimization,
    step_schedule,
)
from dmg_bmi.core.train.inputs import ModelTensors, WindowData
from dmg_bmi.core.train.losses import get_loss
from dmg_bmi.core.train.sampler import WindowSampler
from dmg_bmi.core.train.selection import Selection


def _window_index(starts: np.ndarray, warmup: int, rho: int) -> torch.Tensor:
    """Day indices `[warmup + rho, B]` of the windows starting (first target day) at `starts`."""
    return torch.as_tensor(starts[None, :] + np.arange(-warmup, rho)[:, None], dtype=torch.long)


def train_windows(cfg, resume: str | Path | None, state, prepare: Callable[..., WindowData],
                  experiment: dict) -> TrainResult:
    """The core trainer (`DeltaModelDomain.train`): random basin x window minibatches of a `DeltaModel`,
    distributed under torchrun; `state`: the `TrainingState` of `resume`, or None.

    The caller hands over what names a dataset: `prepare(device, normalizer)` -> the training data (the
    statistics of `normalizer` reused, or fitted when None; default path `dmg_bmi.train.data.window_data`)
    and `experiment`, the run config as plain data (`config.yaml`, `training.experiment`). `cfg`: the run
    config (`ExperimentConfig`: `model`, `run`, `train` read here); it runs on `run.threads` torch threads."""
    ctx, device = distributed.setup(cfg.run.device)
    finished = False
    try:
        with torch_threads(cfg.run.threads):
            result = _train(cfg, resume, state, prepare, experiment, ctx, device)
        finished = True
        return result
    finally:
        distributed.teardown(ctx, together=finished)


def _train(cfg, resume, state, prepare: Callable[..., WindowData], experiment: dict,
           ctx: distributed.DistContext, device: torch.device) -> TrainResult:
    tcfg = cfg.train
    warmup = cfg.model.phy.warmup
    torch.manual_seed(cfg.run.seed)
    start_epoch, best_loss = 1, math.inf
    if state is not None:
        start_epoch = state.epoch + 1
        best_loss = state.best_loss
    selection = Selection.for_run(tcfg.select_on, tcfg.patience, cfg.data.validating,
                                  None if state is None else state.selection, best_loss)

    data = prepare(device, None if state is None else state.normalizer)
    tensors, basin_std = data.tensors, data.basin_std
    inputs = cfg.model.inputs
    model = DeltaModel.from_config(cfg.model, len(inputs.forcings), len(inputs.attributes))
    model.to(device)
    opt, sched = optimization(cfg, model, state)
    net = torch.nn.parallel.DistributedDataParallel(model) if ctx.enabled else model

    run_dir, log = open_run(cfg.run, experiment, resume, state) if ctx.is_main else (None, None)
    if ctx.is_main:
        print(_selection_line(selection, data), flush=True)
    board = open_board(cfg.run.tensorboard, run_dir, start_epoch)

    batch = max(1, tcfg.batch_size // ctx.world_size)
    valid = torch.isfinite(tensors.target).T.cpu().numpy()
    sampler = WindowSampler(valid, rho=tcfg.rho, warmup=warmup, batch_size=batch)
    n_iter = tcfg.iterations_per_epoch or sampler.iterations_per_epoch()
    loss_fn = get_loss(tcfg.loss, tcfg.rmse_comb_alpha)
    vset = data.validation
    save_kw = dict(experiment=experiment, model=model, normalizer=data.normalizer,
                   derivations=data.derivations, basins=data.basins,
                   valid_basins=vset.basins if vset is not None and cfg.data.valid_basins else ())

    epoch_loss = math.nan
    steps = EpochSteps(tcfg.max_bad_batches)
    clock = RunClock(start_epoch, tcfg.epochs)
    epochs = range(start_epoch, tcfg.epochs + 1)
    if selection.stop:  # a resumed run that had stopped early stays stopped
        epochs = range(0)
        if ctx.is_main:
            print(f"nothing to train: the run stopped early at epoch {start_epoch - 1} after "
                  f"{_rounds(selection.patience)} without a better {selection.label} (train.patience); "
                  "raise train.patience to train on", flush=True)
    for epoch in epochs:
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.run.seed, epoch, ctx.rank])
        torch.manual_seed(cfg.run.seed * 1_000_003 + epoch)
        net.train()
        steps.new_epoch()
        bar = tqdm(range(n_iter), desc=f"epoch {epoch}/{tcfg.epochs}", leave=False,
                   disable=True if not (cfg.run.progress and ctx.is_main) else None)
        for _ in bar:
            b = sampler.sample(rng)
            basin_idx = torch.as_tensor(b.basins, device=device)
            win = tensors.index(_window_index(b.starts, warmup, tcfg.rho).to(device), basin_idx)
            outputs, _ = net(win.x_nn, win.c_nn, win.x_phy, win.attrs_phy)
            pred = outputs[tcfg.output]
            loss = loss_fn(pred, win.target[-pred.shape[0]:], basin_std[basin_idx])
            finite = not ctx.any_true(not torch.isfinite(loss).item(), device)  # every rank skips together
            if steps.step(loss, model, opt, tcfg.grad_clip, finite, epoch):
                bar.set_postfix(loss=f"{steps.losses[-1]:.4f}")
        bar.close()
        lr = step_schedule(opt, sched)
        epoch_loss = ctx.mean(steps.mean_loss(), device)
        stop = False
        if ctx.is_main:
            scores = None
            if vset is not None and (epoch % tcfg.validate_every == 0 or epoch == tcfg.epochs):
                scores = validation.scores(model, vset, loss_fn, tcfg.output, cfg.run.eval_batch_size)
            end = EpochEnd(epoch, epoch_loss, lr, steps.skipped, t0, scores)
            is_best = selection.take(epoch, epoch_loss, scores)
            if math.isfinite(epoch_loss):
                best_loss = min(best_loss, epoch_loss)
            copies = end.log(log, is_best, cfg.run.save_every, board)
            trainer_state = {"epoch": epoch, "best_loss": best_loss, "optimizer": opt.state_dict(),
                             "scheduler": sched.state_dict() if sched is not None else {}, "copies": copies,
                             "selection": selection.to_dict()}
            last = save_training_checkpoint(run_dir / LAST, trainer_state=trainer_state, **save_kw)
            write_copies(last, copies)
            end.report(clock, is_best)
            stop = selection.stop
        if ctx.any_true(stop, device):  # the main rank decides; every rank leaves together
            if ctx.is_main:
                print(f"early stop after epoch {epoch}: {_rounds(selection.patience)} without a better "
                      f"{selection.label} (train.patience)", flush=True)
            break
    if board is not None:
        board.close()
    ctx.barrier()
    if not ctx.is_main:
        return TrainResult(run_dir=Path(), last=Path(), best=Path(), final_loss=epoch_loss)
    print(selection.describe(), flush=True)
    return TrainResult(run_dir=run_dir, last=run_dir / LAST, best=run_dir / BEST, final_loss=epoch_loss)


def _rounds(n: int) -> str:
    return f"{n} validation round{'s' * (n != 1)}"


def _selection_line(selection: Selection, data: WindowData) -> str:
    """What will pick best.pt, printed when a run starts."""
    if data.validation is None:
        return ("model selection: best.pt is the epoch with the lowest mean training loss (no validation "
                "set: data.valid / data.valid_basins)")
    stop = ""
    if selection.patience:
        stop = f", early stop after {_rounds(selection.patience)} without improvement"
    return f"model selection: best.pt on the {selection.label} of {data.validation.label}{stop}"


__all__ = ["ModelTensors", "TrainResult", "TrainingError", "WindowData", "optimization", "train_windows"]
