"""`dmg-bmi train` for δWOFOST (`data.kind: crop`): fields in minibatches, the sparse-observation loss.

Same run directory, `config.yaml`, `train_log.csv`, progress bar, best/last/epoch checkpoints and resume as
the hydrology trainer; the checkpoint is C's format with the crop parameter sets inlined
(`dmg_bmi.domains.crop.checkpoint`). Options under `data.crop` (`CropDataOptions`):

- `observations`: observed variables the loss uses (default LAI, DVS, TAGP, TWSO), each term scaled by the
  training fields' standard deviation of that variable (`delta.sparse_obs_loss`);
- `test_site_fraction`: share of the *sites* held out (all their fields), drawn with `split_seed`; the
  held-out fields are never trained on and are recorded in the checkpoint (`training.test_fields`).

`model.phy.options.crop_params` maps crop -> variety -> a parameter mapping or a YAML file (resolved as given,
then against the dataset's folder); without it, the sets embedded in the dataset (the crop twin's) are used.
An epoch is one pass over the training fields in random minibatches of
`train.batch_size` fields (or `train.iterations_per_epoch` minibatches). Runs in one process.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from dmg_bmi.core.config import from_dict
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.core.ops import torch_threads
from dmg_bmi.core.schema import Float, Int, Str, key, section
from dmg_bmi.core.train.board import open_board
from dmg_bmi.core.train.checkpoints import BEST, LAST, load_training_checkpoint, open_run, write_copies
from dmg_bmi.core.train.common import (
    EpochEnd,
    EpochSteps,
    RunClock,
    TrainResult,
    optimization,
    step_schedule,
)
from dmg_bmi.core.train.selection import Selection
from dmg_bmi.domains.crop.checkpoint import PHY_ATTRIBUTES, save_crop_checkpoint
from dmg_bmi.domains.crop.dataset import PARAMS_KEY, CropDataset
from dmg_bmi.domains.crop.delta import (
    CropDeltaModel,
    base_params,
    physics_attrs,
    physics_weather,
    resolve_parameter_sets,
    sparse_obs_loss,
)
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.train.config import ExperimentConfig, experiment_to_dict


@section
@dataclasses.dataclass
class CropDataOptions:
    """`data.crop`: observed variables for the loss and the held-out site split (module docstring)."""

    observations: Annotated[list[Str], key("observed variables the loss compares (e.g. LAI, DVS, TAGP, "
                                           "TWSO), each scaled by its standard deviation", min_length=1)] = \
        dataclasses.field(default_factory=lambda: ["LAI", "DVS", "TAGP", "TWSO"])
    test_site_fraction: Annotated[Float, key("share of the sites held out (all their fields), never trained "
                                             "on", ge=0.0, lt=1.0)] = 0.2
    split_seed: Annotated[Int, key("seed of the held-out site draw", ge=0)] = 0


@dataclasses.dataclass
class CropTensors:
    """Model inputs of N fields: `c_nn [N, na]`, weather `x [T, N, F]`, physics attrs `{k: [N]}`,
    base parameters, observations `obs [T, N, V]` (NaN = unobserved), normalized network forcings
    `x_nn [T, N, nx]` (None without daily parameters)."""

    c_nn: torch.Tensor
    x: torch.Tensor
    attrs: dict[str, torch.Tensor]
    base: dict[str, torch.Tensor]
    obs: torch.Tensor | None
    x_nn: torch.Tensor | None = None

    def index(self, idx: torch.Tensor) -> CropTensors:
        return CropTensors(self.c_nn[idx], self.x[:, idx], {k: v[idx] for k, v in self.attrs.items()},
                           {k: v[idx] for k, v in self.base.items()},
                           None if self.obs is None else self.obs[:, idx],
                           None if self.x_nn is None else self.x_nn[:, idx])


def crop_options(cfg: ExperimentConfig) -> CropDataOptions:
    return from_dict(CropDataOptions, cfg.data.crop, prefix="data.crop")


def load_crop_dataset(cfg: ExperimentConfig) -> CropDataset:
    if cfg.data.kind != "crop":
        raise ConfigError(f"data.kind: the crop trainer needs 'crop', got {cfg.data.kind!r}")
    return read_crop_dataset(cfg.data.path, "data.path")


def read_crop_dataset(path: str | Path, what: str) -> CropDataset:
    """`CropDataset.load`, refusing a dataset without fields (InputError naming `what` and the file)."""
    ds = CropDataset.load(path)
    if ds.n_fields == 0:
        raise InputError(f"{what}: crop dataset {path} holds no fields; there is nothing to train or "
                         "evaluate")
    return ds


def inline_parameter_sets(cfg: ExperimentConfig, ds: CropDataset) -> dict[str, dict[str, dict[str, Any]]]:
    """Resolve `model.phy.options.crop_params` (files as given, else next to the dataset; when the key is
    absent, the sets embedded in the dataset `ds`) and store the sets inline in the config, so checkpoints
    carry them. ConfigError when neither the config nor the dataset gives them."""
    spec = cfg.model.phy.options.get("crop_params")
    if spec is None:
        spec = ds.parameter_sets()
        if spec is None:
            raise ConfigError(f"model.phy.options.crop_params: not given, and crop dataset {cfg.data.path} "
                              f"carries no crop parameter sets (its {PARAMS_KEY!r} attribute, written by "
                              "`dmg-bmi make-sample-data --kind crop`); give {crop: {variety: PCSE parameter "
                              "file or mapping}}")
    elif isinstance(spec, dict):
        here = Path(cfg.data.path).expanduser().parent
        spec = {crop: {v: (str(here / src) if isinstance(src, str) and not Path(src).is_file()
                           and (here / src).is_file() else src) for v, src in (varieties or {}).items()}
                if isinstance(varieties, dict) else varieties for crop, varieties in spec.items()}
    sets = resolve_parameter_sets(spec)
    cfg.model.phy.options["crop_params"] = sets
    return sets


def split_fields(ds: CropDataset, fraction: float, seed: int) -> np.ndarray:
    """Boolean `[N]`: True for fields of held-out sites (`round(fraction · n_sites)` sites, >= 1 if > 0)."""
    sites = np.array(sorted(set(ds.sites)))
    n = int(round(fraction * sites.size))
    n = max(1, n) if fraction > 0 else 0
    if n >= sites.size:
        raise ConfigError(f"data.crop.test_site_fraction {fraction} holds out all {sites.size} sites")
    test = set(np.random.default_rng(seed).choice(sites, size=n, replace=False)) if n else set()
    return np.array([s in test for s in ds.sites])


def fit_attribute_normalizer(ds: CropDataset, names: list[str], log_norm: list[str],
                             forcings: list[str] = ()) -> Normalizer:
    """z-score statistics of the NN attributes, and of the NN `forcings` (daily weather, over every day with
    weather), over the given fields."""
    cols = ds.attribute_array(names)
    data = {n: cols[:, i] for i, n in enumerate(names)}
    data.update({n: ds.weather_array([n])[..., 0] for n in forcings})
    return Normalizer.fit(data, log_norm=log_norm)


def build_crop_tensors(ds: CropDataset, model_cfg, normalizer: Normalizer, sets, obs_names=None,
                       dtype=torch.float64, device="cpu") -> CropTensors:
    """Dataset -> `CropTensors` (checks calendars, crops/varieties and attributes first)."""
    names = list(model_cfg.inputs.attributes)
    ds.validate({c: set(v) for c, v in sets.items()}, attributes=[*names, *PHY_ATTRIBUTES])
    c = normalizer.transform(ds.attribute_array(names), names)

    def t(a):
        return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)

    obs = None if obs_names is None else t(ds.observation_array(obs_names).transpose(1, 0, 2))
    return CropTensors(t(c), t(physics_weather(ds)), {k: t(v) for k, v in physics_attrs(ds).items()},
                       base_params(sets, ds.calendars, dtype=dtype, device=device), obs,
                       network_forcings(ds, model_cfg, normalizer, dtype, device))


def network_forcings(ds: CropDataset, model_cfg, normalizer: Normalizer, dtype=torch.float64,
                     device="cpu") -> torch.Tensor | None:
    """The network's daily weather `[T, N, nx]` (`model.inputs.forcings`), normalized; days without weather
    (after a field's season) get the mean (0). None when the model has no network forcings."""
    names = list(model_cfg.inputs.forcings)
    if not names:
        return None
    missing = [n for n in names if n not in ds.weather_names]
    if missing:
        raise InputError(f"model.inputs.forcings: {missing} not in the crop dataset's weather "
                         f"{list(ds.weather_names)}")
    x = np.nan_to_num(normalizer.transform(ds.weather_array(names), names), nan=0.0)
    return torch.as_tensor(np.ascontiguousarray(x.transpose(1, 0, 2)), dtype=dtype, device=device)


def run_model(model: CropDeltaModel, tensors: CropTensors):
    """Forward over all fields of `tensors` -> (outputs {name: [T, N]}, final state)."""
    return model(tensors.c_nn, tensors.x, tensors.base, tensors.attrs, x_nn=tensors.x_nn)


def _check_model_config(cfg: ExperimentConfig) -> None:
    if not cfg.model.inputs.attributes:
        raise ConfigError("model.inputs.attributes: list the field attributes the network sees")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("data.kind crop trains in one process; run it without torchrun")


def train_crop(cfg: ExperimentConfig, resume: str | Path | None = None, state=None) -> TrainResult:
    """Train δWOFOST as configured (`state`: the `TrainingState` of `resume`, read here when None), on
    `run.threads` torch threads (default 1, `dmg_bmi.core.ops.torch_threads`: a WOFOST day is many small
    operations)."""
    with torch_threads(cfg.run.threads):
        return _train_crop(cfg, resume, state)


def _train_crop(cfg: ExperimentConfig, resume: str | Path | None, state) -> TrainResult:
    _check_model_config(cfg)
    opts = crop_options(cfg)
    tcfg = cfg.train
    torch.manual_seed(cfg.run.seed)
    if state is None and resume is not None:
        state = load_training_checkpoint(resume)
    start_epoch = 1 if state is None else state.epoch + 1
    best_loss = math.inf if state is None else state.best_loss
    selection = Selection.for_run(tcfg.select_on, tcfg.patience, False,
                                  None if state is None else state.selection, best_loss)

    ds = load_crop_dataset(cfg)
    sets = inline_parameter_sets(cfg, ds)
    is_test = split_fields(ds, opts.test_site_fraction, opts.split_seed)
    train_ds = ds.subset(~is_test)
    names = list(cfg.model.inputs.attributes)
    normalizer = (fit_attribute_normalizer(train_ds, names, list(cfg.model.inputs.log_norm),
                                           list(cfg.model.inputs.forcings))
                  if state is None else state.normalizer)
    dtype = torch.float64 if cfg.model.dtype == "float64" else torch.float32
    tensors = build_crop_tensors(train_ds, cfg.model, normalizer, sets, list(opts.observations), dtype)
    obs_np = train_ds.observation_array(list(opts.observations))
    scales = torch.as_tensor(np.nan_to_num(np.nanstd(obs_np, axis=(0, 1)), nan=1.0) + 1e-9, dtype=dtype)

    model = CropDeltaModel.from_config(cfg.model, len(names))
    opt, sched = optimization(cfg, model, state)
    run_dir, log = open_run(cfg.run, experiment_to_dict(cfg), resume, state)
    n_train = train_ds.n_fields
    batch = min(tcfg.batch_size, n_train)
    n_iter = tcfg.iterations_per_epoch or math.ceil(n_train / batch)
    base_training = {"fields": [str(f) for f in train_ds.fields],
                     "test_fields": [str(f) for f in ds.fields[is_test]],
                     "observations": list(opts.observations)}

    epoch_loss = math.nan
    steps = EpochSteps(tcfg.max_bad_batches)
    clock = RunClock(start_epoch, tcfg.epochs)
    board = open_board(cfg.run.tensorboard, run_dir, start_epoch)
    for epoch in range(start_epoch, tcfg.epochs + 1):
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg.run.seed, epoch])
        torch.manual_seed(cfg.run.seed * 1_000_003 + epoch)
        order = np.concatenate([rng.permutation(n_train) for _ in range(math.ceil(n_iter * batch / n_train))])
        model.train()
        steps.new_epoch()
        bar = tqdm(range(n_iter), desc=f"epoch {epoch}/{tcfg.epochs}", leave=False,
                   disable=True if not cfg.run.progress else None)
        for it in bar:
            idx = torch.as_tensor(np.sort(order[it * batch:(it + 1) * batch]))
            win = tensors.index(idx)
            outputs, _ = run_model(model, win)
            loss = sparse_obs_loss(outputs, win.obs, tuple(opts.observations), scales)
            if steps.step(loss, model, opt, tcfg.grad_clip, bool(torch.isfinite(loss)), epoch):
                bar.set_postfix(loss=f"{steps.losses[-1]:.4f}")
        bar.close()
        lr = step_schedule(opt, sched)
        epoch_loss = steps.mean_loss()
        end = EpochEnd(epoch, epoch_loss, lr, steps.skipped, t0)
        is_best = selection.take(epoch, epoch_loss, None)
        best_loss = min(best_loss, epoch_loss) if math.isfinite(epoch_loss) else best_loss
        copies = end.log(log, is_best, cfg.run.save_every, board)
        training = {**base_training, "epoch": epoch, "selection": selection.to_dict(),
                    "best_loss": best_loss if math.isfinite(best_loss) else None,
                    "scheduler": sched.state_dict() if sched is not None else {},
                    "experiment": experiment_to_dict(cfg), "copies": copies}
        last = save_crop_checkpoint(run_dir / LAST, model, normalizer, training=training,
                                    optimizer_state=opt.state_dict())
        write_copies(last, copies)
        end.report(clock, is_best)
    if board is not None:
        board.close()
    print(selection.describe(), flush=True)
    return TrainResult(run_dir=run_dir, last=run_dir / LAST, best=run_dir / BEST, final_loss=epoch_loss)
