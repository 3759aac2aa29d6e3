"""Write a whole-period simulation to NetCDF or CSV, and the end state for a hot start.

NetCDF: dimensions `basin`, `time` (days since 1970-01-01), one `(basin, time)` float64 variable per model
output with its `units`. CSV: one file per basin, `date` plus one column per output.
End state (`--save-state`) and hot start (`--initial-state`): BMI state files, `dmg_bmi.train.state_files`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from dmg_bmi.atomic import atomic_netcdf, write_text
from dmg_bmi.train.evaluate import Prediction

_EPOCH = np.datetime64("1970-01-01", "D")


def output_units(phy, name: str) -> str:
    """Units of a physics output: the model's `output_units` table when it has one, else HBV conventions."""
    table = getattr(phy, "output_units", None) or {}
    if not isinstance(table, dict):  # a tuple parallel to output_names
        table = dict(zip(getattr(phy, "output_names", ()), table, strict=False))
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
