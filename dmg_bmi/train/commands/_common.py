"""Helpers shared by the `evaluate` and `simulate` verbs: find the checkpoint, rebuild model and data."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

from dmg_bmi.domains import Domain, data_kinds, domain_or_core
from dmg_bmi.errors import CheckpointError, ConfigError


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint / --run-dir / --parameters (with --config, --set), and optional data and period
    overrides."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--checkpoint", help="a checkpoint file (.pt) written by `dmg-bmi train`")
    where.add_argument("--run-dir", help="a run directory (uses its best.pt)")
    where.add_argument("--parameters", metavar="TABLE.csv",
                       help="no network: run the physics alone on this parameter table (a `basin` column and "
                            "one column per physics parameter, physical units; `dmg-bmi calibrate` writes "
                            "one); the physics comes from --config")
    parser.add_argument("--config", help="with --parameters: a YAML with a `model` section (a training "
                        "config works; its `data` section gives the data and periods), or a shipped config "
                        "by name (default: the config.yaml beside the table)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="with --parameters: override a value of --config, e.g. "
                             "--set model.phy.warmup=730")
    parser.add_argument("--data", help="dataset to run on (default: the training config's data.path)")
    parser.add_argument("--kind", choices=data_kinds(), help="dataset kind for --data (data.kind)")
    parser.add_argument("--basins", nargs="+", help="basin ids (default: all basins of the data; with "
                        "--parameters, of the table)")
    parser.add_argument("--start", help="first day YYYY-MM-DD (default: the config's data.test period)")
    parser.add_argument("--end", help="last day YYYY-MM-DD (default: the config's data.test period)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--batch-size", type=int, default=64, help="basins per forward pass (default 64)")
    parser.add_argument("--out", help="output folder (default: inside the run directory; with --parameters, "
                        "beside the table)")


def at_least(args: argparse.Namespace, minimum: int, *names: str) -> None:
    """Refuse an option of `names` (argparse dests) below `minimum` or not finite, naming it."""
    for name in names:
        value = getattr(args, name)
        if not (math.isfinite(value) and value >= minimum):
            raise ConfigError(f"--{name.replace('_', '-')} must be >= {minimum}, got {value}")


def check_sources(args: argparse.Namespace) -> None:
    """What argparse lets through for evaluate/simulate: a folder given as --checkpoint, a file as --run-dir,
    a --batch-size below 1."""
    if args.checkpoint and Path(args.checkpoint).is_dir():
        raise ConfigError(f"--checkpoint {args.checkpoint} is a folder: give a checkpoint file (.pt) in it, "
                          "or the run folder as --run-dir")
    if args.run_dir and Path(args.run_dir).exists() and not Path(args.run_dir).is_dir():
        raise ConfigError(f"--run-dir {args.run_dir} is a file, not a run folder: give a checkpoint file as "
                          "--checkpoint")
    if not args.parameters and (args.config or args.overrides):
        raise ConfigError(f"{'--config' if args.config else '--set'} goes with --parameters (a checkpoint "
                          "holds its own config)")
    at_least(args, 1, "batch_size")


def remove_killed_temps(*folders: Path | str | None) -> None:
    """Delete the temp files a killed earlier run's atomic writes left in each existing output folder
    (`dmg_bmi.atomic.remove_stale_temps`), before this run writes there."""
    from dmg_bmi.atomic import remove_stale_temps

    for folder in folders:
        if folder is not None and Path(folder).is_dir():
            remove_stale_temps(folder)


def checkpoint_path(args: argparse.Namespace) -> Path:
    """The checkpoint of `--checkpoint`, or `--run-dir`'s best.pt."""
    return Path(args.checkpoint) if args.checkpoint else Path(args.run_dir) / "best.pt"


def source_domain(args: argparse.Namespace) -> Domain:
    """The domain of the evaluate/simulate source's checkpoint (`dmg_bmi.domains.domain_or_core`); a
    `--parameters` run asks `dmg_bmi.train.baseline.table_domain` instead."""
    from dmg_bmi.core.checkpoint import load_checkpoint

    return domain_or_core(load_checkpoint(checkpoint_path(args)).config.phy.name)


@dataclass
class Loaded:
    """A model ready to run, its data and period, and where outputs go by default."""

    model: object
    normalizer: object
    dataset: object
    period: object
    target: str
    output: str  # the model output the checkpoint was trained against `target` (train.output)
    data_name: str  # the dataset's name: its path's stem (a file's name less the suffix, a folder's name);
    # a list of paths: their stems joined by '+'  (a.nc, b.nc -> a+b)
    roles: dict[str, str] | None  # {basin: train | validation} of the checkpoint; None: not recorded
    run_dir: Path
    checkpoint: Path
    device: object


def basin_roles(ckpt) -> dict[str, str] | None:
    """{basin id: `train` | `validation`} of a training checkpoint (`training["basins"]`, `["valid_basins"]`;
    other basins are held out); None for one that records no basins."""
    training = ckpt.training or {}
    if training.get("basins") is None:
        return None
    roles = {str(b): "validation" for b in training.get("valid_basins") or ()}
    roles.update({str(b): "train" for b in training["basins"]})
    return roles


def data_name(data_cfg) -> str:
    """The dataset's name in output folders: the stem of `data.path`, or of each entry joined by '+'."""
    from dmg_bmi.train.config import data_paths

    return "+".join(Path(p).stem for p in data_paths(data_cfg))


def load(args: argparse.Namespace, domain: Domain, need_target: bool = True) -> Loaded:
    """Checkpoint + the experiment config stored in it -> model, dataset (P/T/PET derived; read by `domain`,
    the checkpoint's `DeltaModelDomain`) and period; the dataset need not hold the observed target when not
    `need_target` (simulate)."""
    from dmg_bmi.core.config import from_dict
    from dmg_bmi.core.train.distributed import resolve_device
    from dmg_bmi.forcing import derivation_from_record
    from dmg_bmi.train.config import DataConfig, Period, load_experiment
    from dmg_bmi.train.data import load_dataset

    device = resolve_device(args.device, "--device")
    ckpt_path = checkpoint_path(args)
    from dmg_bmi.core.checkpoint import load_checkpoint, require_config_inputs

    ckpt = load_checkpoint(ckpt_path)
    require_config_inputs(ckpt)  # the network's inputs are what this path feeds it
    experiment = (ckpt.training or {}).get("experiment")
    if experiment is None and args.data is None:
        raise CheckpointError(f"{ckpt_path}: holds no training config; pass --data and --start/--end")
    data_raw = dict(experiment["data"]) if experiment else {"path": args.data}
    if args.data:
        data_raw.update(path=args.data, basins=[])
    if args.kind:
        data_raw["kind"] = args.kind
    if args.basins:
        data_raw["basins"] = list(args.basins)
    data_cfg = from_dict(DataConfig, data_raw, prefix="data")
    if args.start or args.end:
        base = data_cfg.test or data_cfg.train
        period = from_dict(Period, {"start": args.start or (base and base.start),
                                    "end": args.end or (base and base.end)}, prefix="period")
    elif data_cfg.test is not None:
        period = data_cfg.test
    else:
        raise ConfigError("no period: the config has no data.test; pass --start and --end")
    # the stored config, validated; a checkpoint without one was trained against its target's namesake
    output = load_experiment(data=experiment).train.output if experiment else data_cfg.target
    model = ckpt.build_model(device=device)
    ds = load_dataset(data_cfg, derivation_from_record(ckpt.derivations), domain, need_target)
    from dmg_bmi.attributes import check_dataset_attributes

    check_dataset_attributes(ds, ckpt)  # the network's attributes within its training data
    return Loaded(model=model, normalizer=ckpt.normalization, dataset=ds, period=period,
                  target=data_cfg.target, output=output, data_name=data_name(data_cfg),
                  roles=basin_roles(ckpt), run_dir=ckpt_path.resolve().parent,
                  checkpoint=ckpt_path, device=device)
