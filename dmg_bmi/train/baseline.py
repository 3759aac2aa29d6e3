"""Baselines without the network: the physics on a parameter table (`simulate` / `evaluate --parameters`) and
per-basin calibration (`dmg-bmi calibrate`), the core's delta-model path (`DeltaModelDomain`).

The parameter table is a CSV file: a `basin` column, then one column per parameter of the physics as
configured (`model.phy`: name, routing, options; `param_specs()` names, e.g. `parFC`), each in the
parameter's physical units and within its bounds, one row per basin, one value per parameter (every member of
`model.phy.nmul` alike; `dmg_bmi.core.calibration`). `read_table` refuses, naming the file, the line, the
column, the basin and the value: a missing or unknown column, a value that is not a finite number or lies
outside the bounds, a basin listed twice, an empty table. `calibrate` writes one (`parameters.csv`).

The physics, its warm-up and the PET derivation come from a config (`--config`): a YAML file (or a shipped
config's name) with a `model` section, e.g. a training config; its `data` section, when there is one, gives
the dataset and the periods (`--data`, `--kind`, `--start`, `--end` override them); other sections are
ignored. Without `--config`, the `config.yaml` beside the table (a calibration run folder's) is used.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dmg_bmi.atomic import remove_stale_temps, write_csv
from dmg_bmi.core.calibration import BasinParameters, build_physics, check_bounds, describe_physics
from dmg_bmi.core.config import ModelConfig, from_dict
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.text import read_text

PARAMETERS_NAME = "parameters.csv"  # the table `calibrate` writes in its run folder
LOG_NAME = "calibration_log.csv"  # one row per iteration (`dmg_bmi.core.calibration.LOG_FIELDS`)
TRAIN_METRICS_NAME = "train_metrics.csv"  # per-basin scores of the calibrated table over data.train
CONFIG_NAME = "config.yaml"
SECTIONS = ("data", "model", "train", "run")  # a training config's; `model` is the one required here


# ------------------------------------------------------------------------------------------ the table


def read_table(path: str | Path, specs, physics: str) -> tuple[list[str], np.ndarray]:
    """The basins `[B]` and values `[B, P]` (float64, columns in `specs` order) of parameter table `path`;
    `specs` are the physics' `ParamSpec`s, `physics` describes it for messages. InputError naming the file
    (and the line, column, basin, value) for each fault the module docstring lists."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--parameters: parameter table not found: {path}")
    rows = [r for r in csv.reader(io.StringIO(read_text(path, "parameter table"), newline="")) if r]
    if not rows:
        raise InputError(f"{path}: the parameter table is empty (expected a header: basin, "
                         f"{', '.join(s.name for s in specs)})")
    header = [h.strip() for h in rows[0]]
    names = [s.name for s in specs]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError(f"{path}: column(s) {dup} given twice in the header")
    if "basin" not in header:
        raise InputError(f"{path}: no 'basin' column in the header {header}")
    unknown = [h for h in header if h != "basin" and h not in names]
    if unknown:
        raise InputError(f"{path}: column(s) {unknown} are not parameters of {physics}; its parameters: "
                         f"{names}")
    missing = [s for s in specs if s.name not in header]
    if missing:
        listed = ", ".join(f"{s.name} ({s.units}, [{s.lo:g}, {s.hi:g}])" for s in missing)
        raise InputError(f"{path}: missing parameter column(s) of {physics}: {listed}")
    if len(rows) < 2:
        raise InputError(f"{path}: the parameter table has a header but no basin rows")
    at = {h: i for i, h in enumerate(header)}
    basins: list[str] = []
    lines: dict[str, int] = {}
    values = np.empty((len(rows) - 1, len(specs)))
    for r, fields in enumerate(rows[1:]):
        line = r + 2
        if len(fields) != len(header):
            raise InputError(f"{path} line {line}: {len(fields)} fields for the {len(header)} columns of the "
                             "header")
        basin = fields[at["basin"]].strip()
        if not basin:
            raise InputError(f"{path} line {line}: empty basin id")
        if basin in lines:
            raise InputError(f"{path} line {line}: basin {basin!r} is listed twice (also line "
                             f"{lines[basin]})")
        lines[basin] = line
        basins.append(basin)
        for j, name in enumerate(names):
            text = fields[at[name]].strip()
            try:
                values[r, j] = float(text)
            except ValueError:
                raise InputError(f"{path} line {line}, column {name} (basin {basin!r}): {text!r} is not a "
                                 "number") from None
    check_bounds(specs, values, lambda b, name: f"{path} line {b + 2}, column {name} (basin {basins[b]!r})")
    return basins, values


def write_table(path: str | Path, basins: list[str], specs, values: np.ndarray) -> Path:
    """Write parameter table `path` (atomic): `basin` and one column per spec, `values [B, P]` clipped onto
    the bounds (float rounding of `lo + sigmoid * span` may step past them by an ulp), 9 significant digits
    (a float32 value exactly)."""
    names = [s.name for s in specs]
    lo = np.array([s.lo for s in specs])
    hi = np.array([s.hi for s in specs])
    clipped = np.clip(np.asarray(values, dtype=np.float64), lo, hi)
    rows = ({"basin": b, **{n: f"{v:.9g}" for n, v in zip(names, row, strict=True)}}
            for b, row in zip(basins, clipped, strict=True))
    return write_csv(path, rows, ["basin", *names])


# ------------------------------------------------------------------------------------------ the config


@dataclass
class PhysicsRun:
    """What `--config` gives the parameter path: the model config, the `data` section (None when the file
    has none) and `train.output` (the output scored against the target; "streamflow" when not given)."""

    model: ModelConfig
    data: object
    output: str
    source: str  # where it came from, for messages


def load_physics_config(name_or_path: str | Path, overrides: list[str] | None = None) -> PhysicsRun:
    """`--config` of the parameter path (module docstring): a YAML file, else a shipped config by name, with
    `--set key=value` overrides; relative paths follow `dmg_bmi.train.config.load_experiment`'s rule.
    ConfigError naming the file or key."""
    from dmg_bmi.train.config import DataConfig
    from dmg_bmi.train.configs import raw_config

    raw = raw_config(name_or_path, overrides)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{name_or_path}: unknown section(s) {unknown}; a config has {list(SECTIONS)}")
    if "model" not in raw:
        raise ConfigError(f"{name_or_path}: no `model` section (the physics: model.phy.name, nmul, routing, "
                          "warmup; model.inputs.pet_method)")
    model = from_dict(ModelConfig, raw["model"], prefix="model")
    refuse_correction(model)
    data = from_dict(DataConfig, raw["data"], prefix="data") if raw.get("data") is not None else None
    train = raw.get("train") or {}
    output = train.get("output", "streamflow") if isinstance(train, dict) else "streamflow"
    return PhysicsRun(model=model, data=data, output=str(output), source=str(name_or_path))


def refuse_correction(model: ModelConfig) -> None:
    """ConfigError where `model.correction` is set: the physics alone runs here, with no network, so no
    correction would be applied although the config asks for one."""
    if model.correction is not None:
        raise ConfigError("model.correction: the physics runs alone here (a parameter table, no network), so "
                          "there is no correction network to apply; remove the key (a trained checkpoint "
                          "carries its own)")


def config_path(args: argparse.Namespace) -> str:
    """`--config`, else the `config.yaml` beside `--parameters` (a calibration run folder's)."""
    if args.config:
        return args.config
    beside = Path(args.parameters).parent / CONFIG_NAME
    if beside.is_file():
        return str(beside)
    raise ConfigError(f"--parameters {args.parameters}: pass --config (a YAML with a `model` section, e.g. "
                      f"the training config) for the physics; there is no {CONFIG_NAME} beside the table")


def table_domain(args: argparse.Namespace):
    """The domain that runs the physics of `--parameters`' config (`dmg_bmi.domains.domain_or_core`)."""
    from dmg_bmi.domains import domain_or_core

    return domain_or_core(load_physics_config(config_path(args), args.overrides).model.phy.name)


# ------------------------------------------------------------------------------------------ running a table


@dataclass
class TableJob:
    """A parameter table ready to run: the model, dataset (its basins in table order), period, target,
    the output scored against it and where outputs go by default (the table's folder)."""

    model: BasinParameters
    dataset: object
    period: object
    target: str
    output: str
    data_name: str
    folder: Path
    roles: dict[str, str] | None  # {basin: "train"} for a calibration's own table; None: not recorded
    device: torch.device


def load_table_job(args: argparse.Namespace, domain, need_target: bool) -> TableJob:
    """`--parameters` with `--config` (or the config beside the table), `--data`, `--kind`, `--basins`,
    `--start`, `--end`, `--device` -> model and data (read by `domain`, a `DeltaModelDomain`)."""
    from dmg_bmi.core.train.distributed import resolve_device
    from dmg_bmi.forcing import InputDerivation
    from dmg_bmi.train.commands._common import data_name
    from dmg_bmi.train.config import DataConfig, data_paths
    from dmg_bmi.train.data import load_dataset

    for option in ("initial_state", "save_state"):
        if getattr(args, option, None):
            raise ConfigError(f"--{option.replace('_', '-')} needs a checkpoint (its BMI state files hold "
                              "the network); with --parameters the run starts cold, after the config's "
                              "warm-up")
    device = resolve_device(args.device, "--device")
    run = load_physics_config(config_path(args), args.overrides)
    phy = build_physics(run.model)
    specs = tuple(phy.param_specs())
    table = Path(args.parameters)
    basins, values = read_table(table, specs, describe_physics(run.model))
    if args.basins:
        absent = [b for b in args.basins if b not in basins]
        if absent:
            raise InputError(f"--basins: {absent} not in the parameter table {table} ({len(basins)} basins)")
        order = {b: i for i, b in enumerate(basins)}
        values = values[[order[b] for b in args.basins]]
        basins = list(args.basins)
    if run.data is None and not args.data:
        raise ConfigError(f"--config {run.source} has no `data` section: pass --data (and --kind, --start, "
                          "--end)")
    data_raw = {"path": args.data} if run.data is None else dict(vars(run.data))
    if args.data:
        data_raw["path"] = args.data
    if args.kind:
        data_raw["kind"] = args.kind
    data_raw["basins"] = basins
    data_raw["train"] = data_raw["test"] = data_raw["valid"] = None
    data_raw["valid_basins"] = []
    data_cfg = from_dict(DataConfig, data_raw, prefix="data")
    period = _period(args, run.data)
    derivation = InputDerivation(pet_method=run.model.inputs.pet_method)
    try:
        ds = load_dataset(data_cfg, derivation, domain, need_target)
    except InputError as exc:
        raise InputError(f"reading the {len(basins)} basin(s) of --parameters {table} from "
                         f"{' + '.join(data_paths(data_cfg))}: {exc}") from None
    order = {str(b): i for i, b in enumerate(ds.basins)}
    missing = [b for b in basins if b not in order]
    if missing:
        raise InputError(f"--parameters {table}: basin(s) {missing} are not in the data "
                         f"{' + '.join(data_paths(data_cfg))}")
    ds = ds.sel_basins(basins)  # table order
    model = BasinParameters(run.model, values).to(device)
    output = getattr(args, "output", None) or run.output
    if output not in model.phy.output_names:
        raise ConfigError(f"--output: {output!r} is not an output of {describe_physics(run.model)}; valid: "
                          f"{', '.join(model.phy.output_names)}")
    calibrated = (table.parent / LOG_NAME).is_file()  # a calibration run's own table: every basin was fit
    return TableJob(model=model, dataset=ds, period=period, target=data_cfg.target, output=output,
                    data_name=data_name(data_cfg), folder=table.resolve().parent,
                    roles=dict.fromkeys(basins, "train") if calibrated else None, device=device)


def _period(args, data_cfg):
    """--start/--end, else the config's data.test; ConfigError when neither gives one."""
    from dmg_bmi.train.config import Period

    base = data_cfg and (data_cfg.test or data_cfg.train)
    if args.start or args.end:
        return from_dict(Period, {"start": args.start or (base and base.start),
                                  "end": args.end or (base and base.end)}, prefix="period")
    if data_cfg is not None and data_cfg.test is not None:
        return data_cfg.test
    raise ConfigError("no period: the config has no data.test; pass --start and --end")


@torch.no_grad()
def predict_table(model: BasinParameters, ds, period, target: str | None = None, batch_size: int = 64,
                  device: torch.device | str = "cpu", what: str = "period"):
    """Every physics output over `period` for each basin of `ds` (rows in the table's order), after the
    config's warm-up taken from the data before the period: a `dmg_bmi.train.evaluate.Prediction`."""
    from dmg_bmi.core.calibration import physics_tensors
    from dmg_bmi.train.data import with_warmup
    from dmg_bmi.train.evaluate import collect

    sub, lead = with_warmup(ds, period, model.cfg.phy.warmup, what)
    target = target if target is not None and target in sub.target_names else None
    x_phy, attrs = physics_tensors(sub, model.phy, model.dtype, device)
    model.eval()

    def run(rows: slice):
        return model(x_phy[:, rows], {k: v[rows] for k, v in attrs.items()}, rows)

    return collect(run, sub, lead, period, target, batch_size)


def run_simulate_table(args: argparse.Namespace, domain) -> int:
    """`dmg-bmi simulate --parameters`: every output of the physics on the table, NetCDF or CSV."""
    from dmg_bmi.core.train.rundir import check_output_folder
    from dmg_bmi.train.simulate import write_outputs

    job = load_table_job(args, domain, need_target=False)
    out = Path(args.out) if args.out else job.folder / f"simulate_{job.period.start}_{job.period.end}"
    check_output_folder(out, "--out")
    if out.is_dir():  # temp files a killed earlier run's atomic writes left there
        remove_stale_temps(out)
    pred = predict_table(job.model, job.dataset, job.period, batch_size=args.batch_size, device=job.device,
                         what="simulation period")
    write_outputs(pred, job.model.phy, out, args.format)
    return 0


def run_evaluate_table(args: argparse.Namespace, domain) -> int:
    """`dmg-bmi evaluate --parameters`: per-basin scores of the physics on the table (metrics.csv, the
    summary table, hydrographs), as `evaluate` scores a checkpoint."""
    from dmg_bmi.core.train.rundir import check_output_folder
    from dmg_bmi.train.evaluate import score, summary_table, write_figures, write_metrics_csv

    job = load_table_job(args, domain, need_target=True)
    out = (Path(args.out) if args.out
           else job.folder / f"evaluate_{job.data_name}_{job.period.start}_{job.period.end}")
    check_output_folder(out, "--out")
    if out.is_dir():  # temp files a killed earlier run's atomic writes left there
        remove_stale_temps(out)
    pred = predict_table(job.model, job.dataset, job.period, target=job.target, batch_size=args.batch_size,
                         device=job.device, what="evaluation period")
    rows = score(pred, job.output, job.roles)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_metrics_csv(rows, out / "metrics.csv")
    print(f"evaluation {job.period.start}..{job.period.end}, {len(rows)} basins (physics on "
          f"{args.parameters}, no network)")
    print(summary_table(rows))
    print(f"metrics: {csv_path}")
    if not args.no_plots:
        write_figures(pred, rows, job.dataset, job.output, out, job.data_name)
    return 0


# ------------------------------------------------------------------------------------------ calibration


def run_calibrate(cfg, args: argparse.Namespace, domain) -> int:
    """`dmg-bmi calibrate`: one parameter set per basin of training config `cfg` (`ExperimentConfig`) fit by
    Adam over `data.train` (`dmg_bmi.core.calibration.calibrate`; `args.iterations`, `args.lr`). Writes a run
    folder (`run.run_dir`/`<run.name>_calibrate_<time>`, or `run.exact_dir`): config.yaml, parameters.csv
    (the lowest-loss iteration's table), calibration_log.csv and train_metrics.csv."""
    import time

    from dmg_bmi.core import calibration
    from dmg_bmi.core.ops import torch_threads
    from dmg_bmi.core.train import rundir
    from dmg_bmi.core.train.distributed import resolve_device
    from dmg_bmi.core.train.losses import get_loss
    from dmg_bmi.forcing import InputDerivation
    from dmg_bmi.train.config import experiment_to_dict
    from dmg_bmi.train.data import load_dataset, scored_after, with_warmup

    refuse_correction(cfg.model)
    from dmg_bmi.train.evaluate import score, summary_table, write_metrics_csv

    device = resolve_device(cfg.run.device, "run.device")
    output = cfg.train.output
    t0 = time.perf_counter()
    with torch_threads(cfg.run.threads), rundir.discard_on_failure():
        torch.manual_seed(cfg.run.seed)
        model = calibration.BasinParameters.mid_range(cfg.model, 1)  # checks the physics and fixed_params
        if output not in model.phy.output_names:
            raise ConfigError(f"train.output: {output!r} is not an output of {describe_physics(cfg.model)}")
        ds = load_dataset(cfg.data, InputDerivation(pet_method=cfg.model.inputs.pet_method), domain)
        sub, lead = with_warmup(ds, cfg.data.train, cfg.model.phy.warmup, "data.train")
        sub = scored_after(sub, lead, cfg.data.target, "data.train")
        basins = [str(b) for b in sub.basins]
        model = calibration.BasinParameters.mid_range(cfg.model, len(basins)).to(device)
        x_phy, attrs = calibration.physics_tensors(sub, model.phy, model.dtype, device)
        obs = sub.target(cfg.data.target)
        target = torch.as_tensor(obs.T.copy(), dtype=model.dtype, device=device)
        std = torch.as_tensor(np.nanstd(obs, axis=1), dtype=model.dtype, device=device)
        run_dir = rundir.create_run_dir(cfg.run.run_dir, f"{cfg.run.name}_calibrate", exact=cfg.run.exact_dir)
        rundir.write_config(run_dir, experiment_to_dict(cfg))
        if cfg.model.phy.nmul > 1:
            print(f"model.phy.nmul {cfg.model.phy.nmul}: one parameter set per basin, so the physics runs "
                  "as 1 component (identical components give the same outputs)")
        print(f"calibrating {len(basins)} basin(s) x {len(model.names)} parameters over "
              f"{cfg.data.train.start}..{cfg.data.train.end} (+{lead} warm-up days), loss {cfg.train.loss} "
              f"on {output}, "
              f"{args.iterations} iterations of Adam (lr {args.lr:g} -> {args.lr / 10:g})", flush=True)
        result = calibration.calibrate(model, x_phy, attrs, target, std,
                                       get_loss(cfg.train.loss, cfg.train.rmse_comb_alpha), output,
                                       args.iterations, args.lr, progress=cfg.run.progress)
    write_csv(run_dir / LOG_NAME, result.history, calibration.LOG_FIELDS)
    table = write_table(run_dir / PARAMETERS_NAME, basins, model.specs, result.values)
    fitted = BasinParameters(cfg.model, result.values).to(device)
    with torch_threads(cfg.run.threads):
        pred = predict_table(fitted, ds.sel_basins(basins), cfg.data.train, target=cfg.data.target,
                             batch_size=cfg.run.eval_batch_size, device=device, what="data.train")
    rows = score(pred, output, dict.fromkeys(basins, "train"))
    write_metrics_csv(rows, run_dir / TRAIN_METRICS_NAME)
    print(f"loss {result.start_loss:.4g} (mid-range start) -> {result.best_loss:.4g} (iteration "
          f"{result.best_iteration}) in {time.perf_counter() - t0:.0f} s")
    print(f"training period {cfg.data.train.start}..{cfg.data.train.end}:")
    print(summary_table(rows))
    print(f"run directory: {run_dir.resolve()}\nparameters: {table.resolve()}")
    test = cfg.data.test
    hint = "" if test is not None else " --start YYYY-MM-DD --end YYYY-MM-DD"
    print(f"score another period (default data.test{f' {test.start}..{test.end}' if test else ''}): "
          f"dmg-bmi evaluate --parameters {table.resolve()}{hint}")
    return 0
