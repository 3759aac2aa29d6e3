"""Training checkpoints on top of `dmg_bmi.core.checkpoint`: the BMI-ready model file plus what resuming
needs.

The trainer's extras live in the checkpoint's `training` metadata (plain data): `epoch`, `best_loss` (the
lowest mean training loss), `selection` (what picks `best.pt` and its state, `selection.Selection`), the LR
scheduler state, the training and validation basins and the whole run config (`experiment`), so
`evaluate`/`simulate` work from a checkpoint file alone. The optimizer state goes in the checkpoint's
`optimizer` slot. `open_run` gives every trainer its run folder and log, new or resumed.

Kill safety. After each epoch the trainers write `last.pt` first, then copy it byte for byte
(`write_copies`) to the other files that epoch promises (`epoch_copies`: `best.pt` at an improving epoch,
`model_epochNNN.pt` every `run.save_every` epochs); `last.pt` records their names (`training.copies`). Every
write is atomic, so a kill at any moment leaves `last.pt` either at the previous epoch, whose copies were all
written, or at this epoch, whose missing copies `restore_copies` writes again from `last.pt` itself when the
run is resumed; it also deletes the temp files of writes the kill cut short. The caller refuses to resume
under a config that changes what a resumed run keeps, before any weight is loaded (it compares the config with
`training.experiment`: `dmg_bmi.train.config.check_resume`).
"""

from __future__ import annotations

import filecmp
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from dmg_bmi.atomic import atomic_path, remove_stale_temps
from dmg_bmi.core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.core.train import rundir
from dmg_bmi.errors import CheckpointError

LAST = rundir.LAST_NAME
BEST = "best.pt"


def save_training_checkpoint(path: Path, *, experiment: dict, model: DeltaModel, normalizer: Normalizer,
                             derivations: dict, basins: list[str], trainer_state: dict,
                             valid_basins: list[str] | tuple[str, ...] = ()) -> Path:
    """Write model + normalization + derivation record + trainer state (epoch, optimizer, scheduler,
    selection) and the run config (`experiment`, plain data) atomically; `basins` trained the model,
    `valid_basins` (left out of training) chose its best epoch."""
    best = trainer_state["best_loss"]
    training = {
        "epoch": int(trainer_state["epoch"]),
        "best_loss": float(best) if math.isfinite(best) else None,
        "scheduler": trainer_state.get("scheduler") or {},
        "basins": list(basins),
        "valid_basins": list(valid_basins),
        "selection": trainer_state.get("selection"),
        "experiment": experiment,
        "copies": list(trainer_state["copies"]),
    }
    return save_checkpoint(path, model, normalizer, derivations=derivations,
                           training=training, optimizer_state=trainer_state["optimizer"])


@dataclass
class TrainingState:
    """What a resumed run restores."""

    epoch: int
    best_loss: float
    model_state: dict
    optimizer_state: dict
    scheduler_state: dict
    normalizer: Normalizer
    checkpoint: Checkpoint
    selection: dict | None = None  # `training.selection` (None in checkpoints written before it)


def load_training_checkpoint(path: str | Path) -> TrainingState:
    """Read a checkpoint written by the trainer; one without trainer state raises CheckpointError."""
    ckpt = load_checkpoint(path)
    training = ckpt.training or {}
    if ckpt.format_version < 2:
        raise CheckpointError(
            f"{path}: written in checkpoint format {ckpt.format_version}, whose digest does not cover the "
            "optimizer state; resuming from it is refused (evaluate, simulate and the BMI still load it)"
        )
    if "epoch" not in training or ckpt.optimizer_state is None:
        raise CheckpointError(f"{path}: has no trainer state (epoch/optimizer); cannot resume from it")
    best = training.get("best_loss")
    return TrainingState(
        epoch=int(training["epoch"]), best_loss=math.inf if best is None else float(best),
        model_state=ckpt.state_dict, optimizer_state=ckpt.optimizer_state,
        scheduler_state=training.get("scheduler") or {}, normalizer=ckpt.normalization, checkpoint=ckpt,
        selection=training.get("selection"),
    )


def epoch_copies(epoch: int, is_best: bool, save_every: int) -> list[str]:
    """Files that hold a copy of an epoch's `last.pt`: `best.pt` at an improving epoch, `model_epochNNN.pt`
    every `save_every` epochs (module docstring)."""
    names = [BEST] if is_best else []
    if save_every and epoch % save_every == 0:
        names.append(rundir.checkpoint_name(epoch))
    return names


def write_copies(last: Path, copies: list[str]) -> None:
    """Copy the just written `last` (which records `copies` in `training.copies`) to each of `copies`."""
    for name in copies:
        _copy(last, last.parent / name)


def restore_copies(state: TrainingState) -> list[Path]:
    """Write again every file that the resume checkpoint promises (`training.copies`, the same bytes) and that
    is missing or differs, e.g. after a kill between `last.pt` and its copies; returns (and prints) them.
    Temp files that killed writes left in the run folder (`atomic.remove_stale_temps`) are deleted first."""
    source = Path(state.checkpoint.path).resolve()
    for stale in remove_stale_temps(source.parent):
        print(f"removed {stale}: the temp file of a write the stopped run did not finish", flush=True)
    written = []
    for name in state.checkpoint.training.get("copies", []):
        target = source.parent / name
        if not (target.is_file() and filecmp.cmp(source, target, shallow=False)):
            _copy(source, target)
            print(f"restored {target} from {source.name}: the run was stopped before writing it", flush=True)
            written.append(target)
    return written


def open_run(run, config: dict, resume: str | Path | None, state: TrainingState | None
             ) -> tuple[Path, rundir.CsvLog]:
    """The run folder and its log (`rundir`): a new folder as the `run` config section says, holding `config`
    (the resolved run config), or, resuming from checkpoint `resume` (`state`), its folder with the promised
    copies restored (`restore_copies`) and the log kept up to `state.epoch`."""
    if state is None:
        run_dir = rundir.create_run_dir(run.run_dir, run.name, run.exact_dir)
        rundir.write_config(run_dir, config)
    else:
        run_dir = Path(resume).resolve().parent
        restore_copies(state)
    keep = 0 if state is None else state.epoch
    return run_dir, rundir.CsvLog(run_dir / rundir.LOG_NAME, keep_until_epoch=keep)


def _copy(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
