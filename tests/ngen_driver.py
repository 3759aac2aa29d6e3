"""A small ngen look-alike for tests: runs a realization JSON over a catchment GeoJSON the way ngen does.

Per catchment (bmi-ngen.md §4.1): import `python_type`, call the no-arg constructor, `initialize(init_config)`
with `{{id}}` replaced, and `set_value` each `model_params` entry. Every output step: set each input the BMI
declares (`get_input_var_names`, nothing else) from the CsvPerFeature forcing, converted to the BMI's units:
the column `variables_names_map` maps it to, else a column of that name, else the AORC field of that CSDMS
name; a declared input that no column (nor an earlier module's output) provides stops the run naming it, as
ngen does. Then call `update()` when `get_time_step()` equals `output_interval`, else `update_until`; read
every output with `get_value_at_indices`. Writes `<id>.csv`
("Time Step,Time,<outputs>", 9 decimals) and `<nexus>_output.csv` (flow = depth m x area x 1e6 / 3600).
Paths in the realization are relative to `workdir` (ngen's working directory).
"""

from __future__ import annotations

import csv
import importlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from dmg_bmi.core.variables import AORC_FIELDS  # ngen's AORC CSV fields: CSDMS name, units

CONVERT = {("mm s-1", "mm h-1"): (3600.0, 0.0), ("mm h-1", "mm s-1"): (1 / 3600.0, 0.0),
           ("K", "degC"): (1.0, -273.15), ("m", "mm"): (1000.0, 0.0), ("mm", "m"): (1e-3, 0.0)}
TIME_FMT = "%Y-%m-%d %H:%M:%S"


def _units(u: str) -> str:
    return u.replace("^", "").strip()


def convert(value: float, src: str | None, dst: str) -> float:
    """`value` from units `src` to `dst` (`src` None: a column without units, passed as is, like ngen)."""
    if src is None:
        return value
    src, dst = _units(src), _units(dst)
    if src == dst:
        return value
    scale, offset = CONVERT[(src, dst)]
    return value * scale + offset


def read_forcing(path: Path) -> tuple[list[datetime], dict[str, tuple[np.ndarray, str]]]:
    """CsvPerFeature file -> times, {field: (values, units)}; header units as `name [u]` / `name (u)`, else an
    AORC field's known units, else None (unknown)."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    times = [datetime.strptime(r[0].strip(), TIME_FMT) for r in body]
    cols = {}
    for j, raw in enumerate(header[1:], start=1):
        m = re.match(r"\s*([^\[\(]+?)\s*[\[\(]([^\]\)]*)[\]\)]\s*$", raw)
        name, units = (m.group(1), m.group(2)) if m else (raw.strip(), None)
        units = units or AORC_FIELDS.get(name, (None, None))[1]
        cols[name] = (np.array([float(r[j]) for r in body]), units)
    return times, cols


class _Module:
    """One bmi_python formulation instance for one catchment."""

    def __init__(self, params: dict, cat: dict, workdir: Path):
        module, cls = params["python_type"].rsplit(".", 1)
        self.bmi = getattr(importlib.import_module(module), cls)()
        cfg = (workdir / params["init_config"].replace("{{id}}", cat["id"])).resolve()
        if not cfg.is_file():
            raise FileNotFoundError(f"init_config not readable: {cfg}")
        self.bmi.initialize(str(cfg))
        for name, value in (params.get("model_params") or {}).items():
            if isinstance(value, dict):  # {"source": "hydrofabric", "from": property}
                value = cat["properties"][value["from"]]
            self.bmi.set_value(name, np.atleast_1d(np.asarray(value, dtype=np.float64)))
        self.names_map = params.get("variables_names_map") or {}
        self.allow_exceed = bool(params.get("allow_exceed_end_time", False))

    def step(self, forcing: dict, idx: int, interval: float, outputs: dict) -> None:
        bmi = self.bmi
        for name in bmi.get_input_var_names():
            alias = self.names_map.get(name, name)
            if alias in outputs:  # fed by an earlier module
                value = outputs[alias]
            else:
                values, units = forcing[_column(name, alias, forcing)]
                value = convert(float(values[idx]), units, bmi.get_var_units(name))
            bmi.set_value(name, np.array([value], dtype=np.float64))
        now = bmi.get_current_time()
        if not self.allow_exceed and bmi.get_end_time() < now + interval:
            raise RuntimeError("model end time exceeded")
        if bmi.get_time_step() == interval:
            bmi.update()
        else:
            bmi.update_until(now + interval)
        for name in bmi.get_output_var_names():
            dest = np.zeros(1, dtype=bmi.get_var_type(name))
            bmi.get_value_at_indices(name, dest, np.array([0], dtype=np.int32))
            outputs[self.names_map.get(name, name)] = float(dest[0])
            outputs[name] = float(dest[0])


def _column(name: str, alias: str, forcing: dict) -> str:
    """The forcing column feeding BMI input `name` (mapped to `alias`); none raises naming the input."""
    if alias in forcing:
        return alias
    for field, (csdms, _) in AORC_FIELDS.items():
        if csdms == alias and field in forcing:
            return field
    raise RuntimeError(f"BMI input {name!r} (looked up as {alias!r}) is provided by no forcing column "
                       f"{sorted(forcing)}; map one to it with variables_names_map")


def _modules(formulation: dict, cat: dict, workdir: Path) -> list[_Module]:
    if formulation["name"] == "bmi_python":
        return [_Module(formulation["params"], cat, workdir)]
    if formulation["name"] == "bmi_multi":
        return [m for sub in formulation["params"]["modules"] for m in _modules(sub, cat, workdir)]
    raise ValueError(f"unsupported formulation {formulation['name']!r}")


def run(realization: Path, catchments: Path, workdir: Path, out_dir: Path,
        nexus: Path | None = None) -> dict[str, np.ndarray]:
    """Run every catchment; returns {id: main output series (m per step)} and writes ngen-style CSVs."""
    real = json.loads(Path(realization).read_text(encoding="utf-8"))
    t = real["time"]
    start, end = datetime.strptime(t["start_time"], TIME_FMT), datetime.strptime(t["end_time"], TIME_FMT)
    interval = float(t["output_interval"])
    n_steps = int((end - start).total_seconds() // interval) + 1
    feats = json.loads(Path(catchments).read_text(encoding="utf-8"))["features"]
    out_dir.mkdir(parents=True, exist_ok=True)
    mains, areas, toids = {}, {}, {}
    for feat in feats:
        cat = {"id": feat["id"], "properties": feat["properties"]}
        spec = real.get("catchments", {}).get(cat["id"], real["global"])
        formulation = spec.get("formulations", real["global"]["formulations"])[0]
        fconf = spec.get("forcing", real["global"]["forcing"])
        pattern = re.compile(fconf["file_pattern"].replace("{{id}}", re.escape(cat["id"])) + "$")
        fdir = workdir / fconf["path"]
        fpath = next(p for p in sorted(fdir.iterdir()) if pattern.match(p.name))
        times, forcing = read_forcing(fpath)
        first = times.index(start)
        modules = _modules(formulation, cat, workdir)
        main = formulation["params"]["main_output_variable"]
        out_names = list(modules[-1].bmi.get_output_var_names())
        lines = ["Time Step,Time," + ",".join(out_names)]
        series = np.zeros(n_steps)
        for k in range(n_steps):
            outputs: dict = {}
            for mod in modules:
                mod.step(forcing, first + k, interval, outputs)
            last = modules[-1].bmi
            series[k] = convert(outputs[main], last.get_var_units(main), "m")
            stamp = (start + timedelta(seconds=k * interval)).strftime(TIME_FMT)
            lines.append(f"{k},{stamp}," + ",".join(f"{outputs[n]:.9f}" for n in out_names))
        for mod in modules:
            mod.bmi.finalize()
        (out_dir / f"{cat['id']}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        mains[cat["id"]] = series
        areas[cat["id"]] = float(feat["properties"]["areasqkm"])
        toids[cat["id"]] = feat["properties"].get("toid")
    nexus_ids = sorted({v for v in toids.values() if v})
    if nexus is not None:
        listed = {f["id"] for f in json.loads(Path(nexus).read_text(encoding="utf-8"))["features"]}
        nexus_ids = sorted(listed | set(nexus_ids))
    for nex in nexus_ids:
        flow = sum((mains[c] * areas[c] * 1e6 / interval for c, to in toids.items() if to == nex),
                   np.zeros(n_steps))
        rows = [f"{k}, {(start + timedelta(seconds=k * interval)).strftime(TIME_FMT)}, {q:.9f}"
                for k, q in enumerate(flow)]
        (out_dir / f"{nex}_output.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return mains
