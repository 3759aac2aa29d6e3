"""`dmg-bmi`: one verb per job.

Each verb lives in its own module exposing `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Adding a verb is one line in `COMMANDS` (modules are imported lazily, so `dmg-bmi --help` stays fast).
Library errors (`dmg_bmi.errors.DmgBmiError`) are printed as `error: ...` with exit status 2, and so are
file-system failures no verb could check beforehand (a disk that fills up mid-run), naming the file, and an
allocation that fails (a size too large for the machine), naming the verb and the sizes to lower.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from pathlib import Path

from dmg_bmi import __version__
from dmg_bmi.errors import DmgBmiError

COMMANDS: dict[str, str] = {
    "train": "dmg_bmi.train.commands.train",
    "cv": "dmg_bmi.train.commands.cv",
    "evaluate": "dmg_bmi.train.commands.evaluate",
    "simulate": "dmg_bmi.train.commands.simulate",
    "calibrate": "dmg_bmi.train.commands.calibrate",
    "make-sample-data": "dmg_bmi.train.commands.make_sample_data",
    "quickstart": "dmg_bmi.train.commands.quickstart",
    "bmi-config": "dmg_bmi.ngen.cmd_bmi_config",
    "realization": "dmg_bmi.ngen.cmd_realization",
    "inspect": "dmg_bmi.ngen.cmd_inspect",
    "config": "dmg_bmi.cmd_config",
    "config-builder": "dmg_bmi.cmd_config_builder",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb in `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="dmg-bmi", description="Differentiable models: train, evaluate, simulate, and serve through BMI."
    )
    parser.add_argument("--version", action="version", version=f"dmg_bmi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dmg-bmi` console script."""
    args = argparse.Namespace(command=None)
    try:  # building the parser loads the domain registry (a broken plugin is a named error)
        args = build_parser().parse_args(argv)
        return int(args._run(args) or 0)
    except DmgBmiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        print(f"error: dmg-bmi {args.command}: out of memory ({reason}): a size is too large for this "
              "machine; lower it (the number of basins, sites or years, a batch size, train.rho, "
              "model.phy.nmul or a network size in model.nn)", file=sys.stderr)
        return 2


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation that failed: Python's or numpy's MemoryError, torch's CPU allocator ("can't allocate
    memory") or CUDA ("out of memory", `torch.OutOfMemoryError`)."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "can't allocate memory" in text or "out of memory" in text


def os_error_message(exc: OSError) -> str:
    """An OSError as one line: the file(s), the system's reason, and a file standing where a folder is
    needed (`out=somefile/sub`) named."""
    names = [str(name) for name in (exc.filename, exc.filename2) if name is not None]
    reason = exc.strerror or str(exc)
    blocker = next((p for name in names for p in (Path(name), *Path(name).parents) if p.is_file()), None)
    if blocker is not None and exc.errno in (errno.EEXIST, errno.ENOTDIR):
        reason += f": {blocker} is a file, not a folder"
    return f"{' -> '.join(names)}: {reason}" if names else f"{reason} (a file could not be read or written)"


if __name__ == "__main__":
    sys.exit(main())
