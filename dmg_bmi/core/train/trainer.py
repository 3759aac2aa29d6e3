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
from dmg_bmi.core.train import distributed
from dmg_bmi.core.train.checkpoints import BEST, LAST, open_run, save_training_checkpoint, write_copies
from dmg_bmi.core.train.common import (
    EpochEnd,
    EpochSteps,
    TrainingError,
    TrainResult,
    optimization,
    step_schedule,
)
from dmg_bmi.core.train.inputs import ModelTensors, WindowData
from dmg_bmi.core.train.losses import get_loss
from dmg_bmi.core.train.sampler import WindowSampler


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
    try:
        with torch_threads(cfg.run.threads):
            return _train(cfg, resume, state, prepare, experiment, ctx, device)
    finally:
        distributed.teardown(ctx)


def _train(cfg, resume, state, prepare: Callable[..., WindowData], experiment: dict,
           ctx: distributed.DistContext, device: torch.device) -> TrainResult:
    tcfg = cfg.train
    warmup = cfg.model.phy.warmup
    torch.manual_seed(cfg.run.seed)
    start_epoch, best_loss = 1, math.inf
    if state is not None:
        start_epoch = state.epoch + 1
        best_loss = state.best_loss

    data = prepare(device, None if state is None else state.normalizer)
    tensors, basin_std = data.tensors, data.basin_std
    inputs = cfg.model.inputs
    model = DeltaModel.from_config(cfg.model, len(inputs.forcings), len(inputs.attributes))
    model.to(device)
    opt, sched = optimization(cfg, model, state)
    net = torch.nn.parallel.DistributedDataParallel(model) if ctx.enabled else model

    run_dir, log = open_run(cfg.run, experiment, resume, state) if ctx.is_main else (None, None)

    batch = max(1, tcfg.batch_size // ctx.world_size)
    valid = torch.isfinite(tensors.target).T.cpu().numpy()
    sampler = WindowSampler(valid, rho=tcfg.rho, warmup=warmup, batch_size=batch)
    n_iter = tcfg.iterations_per_epoch or sampler.iterations_per_epoch()
    loss_fn = get_loss(tcfg.loss, tcfg.rmse_comb_alpha)
    save_kw = dict(experiment=experiment, model=model, normalizer=data.normalizer,
                   derivations=data.derivations, basins=data.basins)

    epoch_loss = math.nan
    steps = EpochSteps(tcfg.max_bad_batches)
    for epoch in range(start_epoch, tcfg.epochs + 1):
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
        if ctx.is_main:
            end = EpochEnd(epoch, epoch_loss, lr, steps.skipped, t0)
            best_loss, copies = end.log(log, best_loss, cfg.run.save_every)
            trainer_state = {"epoch": epoch, "best_loss": best_loss, "optimizer": opt.state_dict(),
                             "scheduler": sched.state_dict() if sched is not None else {}, "copies": copies}
            last = save_training_checkpoint(run_dir / LAST, trainer_state=trainer_state, **save_kw)
            write_copies(last, copies)
            end.report(tcfg.epochs)
    ctx.barrier()
    if not ctx.is_main:
        return TrainResult(run_dir=Path(), last=Path(), best=Path(), final_loss=epoch_loss)
    return TrainResult(run_dir=run_dir, last=run_dir / LAST, best=run_dir / BEST, final_loss=epoch_loss)


__all__ = ["ModelTensors", "TrainResult", "TrainingError", "WindowData", "optimization", "train_windows"]
