"""Optional TensorBoard logging of a training run (`run.tensorboard: true`; the `tensorboard` extra).

Each epoch writes, at step = epoch, the scalars `loss/train`, `lr`, `batches/skipped` and, at validated
epochs, `validation/loss`, `validation/nse`, `validation/kge` (`selection`) into `<run>/tensorboard/`, through
PyTorch's own `torch.utils.tensorboard.SummaryWriter`. A resumed run drops the events after its resume epoch
(`purge_step`), so the curves are those of one unbroken run. View with `tensorboard --logdir <run>`.
"""

from __future__ import annotations

from pathlib import Path

from dmg_bmi.errors import ConfigError

FOLDER = "tensorboard"
INSTALL = 'pip install "dmg_bmi[tensorboard]"'


def check_available(key: str = "run.tensorboard") -> None:
    """ConfigError naming `key` and the install command when the `tensorboard` package is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError(f"{key}: true needs the tensorboard package, which is not installed: {INSTALL}, "
                          f"or set {key}: false") from None


class Board:
    """The run's TensorBoard writer (`open_board`); `epoch` logs one finished epoch."""

    def __init__(self, run_dir: Path, first_epoch: int):
        from torch.utils.tensorboard import SummaryWriter

        purge = first_epoch if first_epoch > 1 else None
        self.writer = SummaryWriter(str(Path(run_dir) / FOLDER), purge_step=purge)

    def epoch(self, epoch: int, loss: float, lr: float, skipped: int,
              validation: dict[str, float] | None) -> None:
        """Scalars of `epoch` (module docstring), flushed so a running TensorBoard sees them at once."""
        w = self.writer
        w.add_scalar("loss/train", loss, epoch)
        w.add_scalar("lr", lr, epoch)
        w.add_scalar("batches/skipped", skipped, epoch)
        for name, value in (validation or {}).items():
            w.add_scalar(f"validation/{name}", value, epoch)
        w.flush()

    def close(self) -> None:
        self.writer.close()


def open_board(enabled: bool, run_dir: Path | None, first_epoch: int) -> Board | None:
    """A `Board` in `run_dir` when `enabled` (and this process writes the run: `run_dir` not None)."""
    if not enabled or run_dir is None:
        return None
    check_available()
    return Board(run_dir, first_epoch)
