"""Write a whole-period simulation to NetCDF or CSV, and the end state for a hot start.

NetCDF: dimensions `basin`, `time` (days since 1970-01-01), one `(basin, time)` float64 variable per model
output with its `units`. CSV: one file per basin, `date` plus one column per output.
End state (`--save-state`) and hot start (`--initial-state`): BMI state files, the domain's `state_files`.
`run_simulate` is the core's `dmg-bmi simulate` (`DeltaModelDomain.simulate`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from dmg_bmi.atomic import atomic_netcdf, write_text
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.train.evaluate import Prediction

_EPOCH = np.datetime64("1970-01-01", "D")


def output_units(model, name: str) -> str:
    """Units of an output of `model` (a delta model or a physics): its `output_units` table when it has one,
    else HBV conventions."""
    table = getattr(model, "output_units", None) or {}
    if not isinstance(table, dict):  # a tuple parallel to output_names
        table = dict(zip(getattr(model, "output_names", ()), table, strict=False))
    if name in table:
        return table[name]
    if name.upper() in ("SWE", "SNOWPACK") or name.lower().startswith("swe"):
        return "mm"
    if name.upper() == "BFI":
        return "percent"
    return "mm d-1"


def write_netcdf(pred: Prediction, path: Path, units: dict[str, str]) -> Path:
    """All outputs as `(basin, time)` variables in one NetCDF-4 file (atomic write; a failed write, e.g. on
    a full disk, is an OSError naming `path` and leaves nothing)."""
    path = Path(path)
    with atomic_netcdf(path) as nc:
        nc.createDimension("basin", len(pred.basins))
        nc.createDimension("time", pred.dates.size)
        v = nc.createVariable("basin", str, ("basin",))
        v[:] = np.asarray(pred.basins, dtype=object)
        v = nc.createVariable("time", "i4", ("time",))
        v.units, v.calendar = "days since 1970-01-01", "standard"
        v[:] = (pred.dates - _EPOCH).astype(np.int64)
        for name, values in pred.outputs.items():
            if values.ndim != 2:
                continue
            var = nc.createVariable(name, "f8", ("basin", "time"), zlib=True, complevel=1)
            var.units = units.get(name, "unknown")
            var[:] = values
    return path


def read_netcdf(path: Path) -> tuple[Prediction, dict[str, str]]:
    """A simulation `write_netcdf` wrote: the outputs `[basin, time]` (no observations, no states) and their
    units. InputError naming the file if it cannot be read or lacks `basin`/`time`."""
    from dmg_bmi.data.netcdf_read import open_netcdf

    with open_netcdf(Path(path), "simulation") as nc:
        for need in ("basin", "time"):
            if need not in nc.variables:
                raise InputError(f"simulation {path}: variable {need!r} is missing")
        basins = [str(b) for b in nc.variables["basin"][:]]
        dates = _EPOCH + np.asarray(nc.variables["time"][:]).astype(np.int64)
        outputs, units = {}, {}
        for name, var in nc.variables.items():
            if var.dimensions == ("basin", "time"):
                outputs[name] = np.asarray(var[:], dtype=np.float64)
                units[name] = getattr(var, "units", "unknown")
    return Prediction(basins=basins, dates=dates, outputs=outputs, observed=None, final_state=[]), units


def write_csv(pred: Prediction, out_dir: Path) -> list[Path]:
    """One `<basin>.csv` per basin: `date` and one column per output."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [n for n, v in pred.outputs.items() if v.ndim == 2]
    paths = []
    for i, basin in enumerate(pred.basins):
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["date", *names])
        cols = [pred.outputs[n][i] for n in names]
        for t, day in enumerate(pred.dates):
            w.writerow([str(day), *(f"{c[t]:.6g}" for c in cols)])
        path = out_dir / f"{basin}.csv"
        write_text(path, buf.getvalue())
        paths.append(path)
    return paths


def write_outputs(pred: Prediction, model, out: Path, fmt: str) -> None:
    """Every output of `pred` into folder `out` (made if missing): `simulation.nc` (`fmt` netcdf, units from
    the model's or physics' `output_units`) or one CSV per basin (`fmt` csv); prints where."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "netcdf":
        units = {name: output_units(model, name) for name in pred.outputs}
        path = write_netcdf(pred, out / "simulation.nc", units)
        print(f"simulation: {path} ({len(pred.basins)} basins x {pred.dates.size} days)")
    else:
        paths = write_csv(pred, out)
        print(f"simulation: {out} ({len(paths)} CSV files)")


def end_state(pred: Prediction) -> dict:
    """The batched model state at the end of the period (the blocks of `predict` joined, basin order)."""
    return _cat(pred.final_state)


def _cat(parts: list):
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts, dim=0)
    if isinstance(first, dict):
        return {k: _cat([p[k] for p in parts]) for k in first}
    return [_cat([p[i] for p in parts]) for i in range(len(first))]


def run_simulate(args, domain) -> int:
    """`dmg-bmi simulate` on a delta-model checkpoint of `domain` (`args` of `dmg_bmi.train.commands
    .simulate`): every output to NetCDF or CSV, optionally from and to BMI state files
    (`domain.state_files`)."""
    from dmg_bmi.core.train.rundir import check_output_folder
    from dmg_bmi.train.commands._common import load, remove_killed_temps
    from dmg_bmi.train.evaluate import predict
    files = domain.state_files
    for option, given in (("--initial-state", args.initial_state), ("--save-state", args.save_state)):
        if given and files is None:
            raise ConfigError(f"{option}: the {domain.label} domain has no BMI state files")
    job = load(args, domain, need_target=False)
    out = Path(args.out) if args.out else job.run_dir / f"simulate_{job.period.start}_{job.period.end}"
    check_output_folder(out, "--out")
    if args.save_state:
        check_output_folder(args.save_state, "--save-state")
    remove_killed_temps(out, args.save_state)
    initial = None
    if args.initial_state:
        initial = files.load_states(args.initial_state, job.dataset, job.checkpoint, job.period.start,
                              dtype=next(job.model.parameters()).dtype, device=job.device)
    pred = predict(job.model, job.normalizer, job.dataset, job.period, target=None,
                   batch_size=args.batch_size, device=job.device, what="simulation period",
                   initial_state=initial)
    write_outputs(pred, job.model, out, args.format)
    if args.save_state:
        paths = files.save_states(end_state(pred), pred.basins, job.dataset, job.checkpoint, job.period.end,
                            Path(args.save_state), args.state_time_step)
        print(f"end state ({pred.dates[-1]}): {len(paths)} BMI state file(s) in {args.save_state}")
    return 0
