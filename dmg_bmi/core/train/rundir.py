"""The run directory: one self-describing folder per training run.

    <run_dir>/<name>_<YYYYmmdd_HHMMSS>/
        config.yaml          the resolved run config (+ package version)
        train_log.csv        one row per epoch: epoch, loss, lr, skipped batches, seconds, validation scores
        model_epochNNN.pt    checkpoints every `run.save_every` epochs
        best.pt, last.pt     the selected epoch (`selection`: best validation score, else lowest mean
                             training loss) / latest epoch
        evaluate/, simulate/ outputs of `dmg-bmi evaluate` / `simulate`

The run's own files (config, log, checkpoints) are written atomically (`dmg_bmi.atomic`).
`check_output_folder` refuses, before any work, an output folder that cannot be made or written (a file in
its path, a read-only file system). A run that fails before its first `last.pt` leaves nothing behind
(`discard_on_failure`); temp files of writes killed mid-way are deleted when a run starts or resumes there.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import datetime as dt
import io
import os
import tempfile
from pathlib import Path

from dmg_bmi import __version__
from dmg_bmi.atomic import remove_stale_temps, write_csv, write_text
from dmg_bmi.core.config import dump_yaml, load_yaml
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.text import read_text

CONFIG_NAME = "config.yaml"
VERSION_KEY = "package_version"  # the stamp `write_config` adds to a run's config.yaml
LOG_NAME = "train_log.csv"
# the validation columns are empty at epochs without validation (`selection`)
LOG_FIELDS = ("epoch", "loss", "lr", "skipped_batches", "seconds", "val_loss", "val_nse", "val_kge")
OLD_LOG_FIELDS = LOG_FIELDS[:5]  # logs written before validation (read, and rewritten with the new header)
LAST_NAME = "last.pt"
# (folder, made here) of each run folder `create_run_dir` makes inside `discard_on_failure`
_MADE: contextvars.ContextVar[list[tuple[Path, bool]] | None] = contextvars.ContextVar("made", default=None)


def create_run_dir(parent: str | Path, name: str, exact: str | Path | None = None) -> Path:
    """Make a new empty run folder (`exact` if given, else `<parent>/<name>_<timestamp>`); never reuse one."""
    if exact is not None:
        path = Path(exact)
    else:
        stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        path = Path(parent) / f"{name}_{stamp}"
    if exact is None:
        check_run_name(name)
    key = "run.exact_dir" if exact is not None else "run.run_dir"
    check_output_folder(path, key)
    if path.is_dir():  # a killed write's temp file does not make a folder "not empty"
        remove_stale_temps(path)
    if path.exists() and any(path.iterdir()):
        raise ConfigError(f"{key}: {path} already exists and is not empty; pick another name")
    made = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    tracked = _MADE.get()
    if tracked is not None:
        tracked.append((path, made))
    return path


@contextlib.contextmanager
def discard_on_failure():
    """If the block raises, each run folder `create_run_dir` made in it that has no `last.pt` yet loses what
    the run wrote there (config.yaml, train_log.csv, temp files), and is removed if the run made it: a run
    that failed before its first epoch was saved leaves nothing that looks like a run."""
    token = _MADE.set([])
    try:
        yield
    except BaseException:
        for path, made in _MADE.get():
            if not (path / LAST_NAME).exists():
                with contextlib.suppress(OSError):  # never hide the failure itself
                    for name in (CONFIG_NAME, LOG_NAME):
                        (path / name).unlink(missing_ok=True)
                    remove_stale_temps(path)
                    if made:
                        path.rmdir()
        raise
    finally:
        _MADE.reset(token)


def check_run_name(name: str) -> None:
    """Refuse (ConfigError naming `run.name`) a name that would put the run folder anywhere but directly in
    `run.run_dir`: one holding a path separator or a NUL byte."""
    bad = sorted({"/", "\\", "\0", os.sep} & set(name))
    if bad:
        raise ConfigError(f"run.name: {name!r} holds {bad[0]!r}; the run folder goes directly in "
                          "run.run_dir: give a plain name (or run.exact_dir for a folder elsewhere)")


def check_output_folder(path: str | Path, key: str) -> None:
    """Refuse (ConfigError naming `key` and the folder) an output folder `path` that could not be made or
    written: something not a folder in its place or in its path, or a nearest existing folder where no file
    can be created (read-only, no permission, /proc). Makes nothing."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if os.path.lexists(p))
    where = f"the folder {path}" if existing == path else f"{path} (in {existing})"
    if not existing.is_dir():
        raise ConfigError(f"{key}: cannot write in {where}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ConfigError(f"{key}: cannot write in {where}: {exc.strerror or exc}") from None


def write_config(run_dir: Path, config: dict) -> Path:
    """Save the resolved config (and the package version) as `config.yaml`."""
    body = dict(config)
    body[VERSION_KEY] = __version__
    path = Path(run_dir) / CONFIG_NAME
    write_text(path, dump_yaml(body))
    return path


def read_config(run_dir: Path) -> dict:
    """The config dict saved in a run folder (without the version stamp)."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: {CONFIG_NAME} not found")
    data = load_yaml(path)
    data.pop(VERSION_KEY, None)
    return data


class CsvLog:
    """Per-epoch training log, rewritten whole and atomically at each row (a kill never leaves half a row);
    a resumed run keeps the rows before the resume epoch."""

    def __init__(self, path: Path, keep_until_epoch: int = 0):
        self.path = Path(path)
        self.rows: list[dict] = []
        if keep_until_epoch > 0 and self.path.is_file():
            self.rows = [r for r in self.read(self.path) if int(r["epoch"]) <= keep_until_epoch]
        self._write()

    @staticmethod
    def read(path: Path) -> list[dict]:
        """The rows of a log `CsvLog` wrote; a damaged one (not UTF-8, another header, a row of another
        width, an epoch that is not a whole number) raises InputError naming the file and the line."""
        reader = csv.reader(io.StringIO(read_text(path, "training log"), newline=""))

        def damaged(what: str) -> InputError:
            return InputError(f"training log {path} line {reader.line_num}: {what}; repair or delete the log")

        rows = []
        try:
            lines = filter(None, reader)  # a blank line holds no row
            header = next(lines, None)
            names = LOG_FIELDS if header is None else tuple(header)
            if names not in (LOG_FIELDS, OLD_LOG_FIELDS):
                raise damaged(f"header {header} is not {list(LOG_FIELDS)}")
            for fields in lines:
                if len(fields) != len(names) or not fields[0].strip().isdecimal():
                    raise damaged(f"{fields} is not a row of {list(names)} with a whole-number epoch")
                rows.append(dict(zip(names, fields, strict=True)))
        except csv.Error as exc:
            raise damaged(str(exc)) from None
        return rows

    def append(self, **row) -> None:
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        write_csv(self.path, self.rows, LOG_FIELDS)


def checkpoint_name(epoch: int) -> str:
    return f"model_epoch{epoch:03d}.pt"
