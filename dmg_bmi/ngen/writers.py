"""Writers for ngen run folders: per-catchment BMI YAMLs, realization JSONs and the attributes used.

Run-folder layout written by `write_run_folder` (ngen runs from inside it):

    realization.json            bmi_python (default) or NGIAB-style bmi_multi
    catchments.geojson          copy of the input (plus nexus.geojson when given)
    config/<id>.yml             one BMI config per catchment (paths relative to the YAML)
    model/<checkpoint file>     copy of the checkpoint
    attributes.csv              the attributes each catchment was given
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import yaml

from dmg_bmi.atomic import write_bytes
from dmg_bmi.bmi_config import parse_time
from dmg_bmi.errors import ConfigError
from dmg_bmi.variables import MAIN_OUTPUT

PYTHON_TYPE = "dmg_bmi.bmi.DeltaModelBmi"
MODEL_TYPE_NAME = "dmg_bmi"
ID_COLUMNS = ("id", "divide_id", "catchment_id", "cat_id", "gauge_id")
LATITUDE_COLUMNS = ("latitude", "lat", "gauge_lat")


def read_attributes_table(path: str | Path) -> dict[str, dict[str, float]]:
    """CSV with one row per catchment: {id: {column: value}}; the id column is the first of ID_COLUMNS
    present (else the first column). Non-numeric cells are dropped."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"attributes table not found: {path}")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ConfigError(f"attributes table {path} has no rows")
    id_col = next((c for c in ID_COLUMNS if c in rows[0]), next(iter(rows[0])))
    table = {}
    for row in rows:
        values = {}
        for key, raw in row.items():
            if key == id_col or key is None:
                continue
            try:
                values[key.strip()] = float(raw)
            except (TypeError, ValueError):
                continue
        table[str(row[id_col]).strip()] = values
    return table


def read_catchments(path: str | Path) -> list[dict]:
    """Catchment features of a GeoJSON: [{id, areasqkm, toid, properties}] (ngen needs id, areasqkm)."""
    path = Path(path)
    try:
        features = json.loads(path.read_text())["features"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read catchments GeoJSON {path}: {exc}") from exc
    out = []
    for i, feat in enumerate(features):
        props = feat.get("properties") or {}
        fid = feat.get("id", props.get("id"))
        area = props.get("areasqkm", props.get("area_sqkm"))
        if fid is None or area is None:
            raise ConfigError(f"{path}: feature {i} needs an 'id' and properties.areasqkm")
        out.append({"id": str(fid), "areasqkm": float(area), "toid": props.get("toid"), "properties": props})
    return out


def catchment_attributes(catchments: list[dict], needed: list[str], table: Mapping[str, dict] | None,
                         latitude: float | None = None) -> dict[str, dict[str, float]]:
    """Per catchment: area_km2, latitude and every `needed` attribute, from `table` (per-id rows; a single
    row whose id matches no catchment applies basin-wide) or else the GeoJSON properties."""
    basin_row = None
    if table and len(table) == 1 and not set(table) & {c["id"] for c in catchments}:
        basin_row = next(iter(table.values()))
    result = {}
    for cat in catchments:
        row = dict(cat["properties"])
        if table:
            row.update(basin_row if basin_row is not None else table.get(cat["id"], {}))
        lat = latitude if latitude is not None else next(
            (row[c] for c in LATITUDE_COLUMNS if isinstance(row.get(c), (int, float))), None)
        if lat is None:
            raise ConfigError(f"catchment {cat['id']}: no latitude (columns {LATITUDE_COLUMNS}); pass "
                              "--latitude")
        values = {"area_km2": cat["areasqkm"], "latitude": float(lat)}
        for name in needed:
            if not isinstance(row.get(name), (int, float)):
                raise ConfigError(f"catchment {cat['id']}: attribute {name!r} missing from the table/GeoJSON")
            values[name] = float(row[name])
        result[cat["id"]] = values
    return result


def bmi_config_dict(catchment_id: str, values: Mapping[str, float], checkpoint: str, start: str, end: str,
                    time_step: int = 3600, device: str = "cpu", nan_policy: str = "error") -> dict:
    """The YAML mapping of one catchment (see bmi_configs/README.md)."""
    attrs = {k: float(v) for k, v in values.items() if k not in ("area_km2", "latitude")}
    return {
        "checkpoint": checkpoint, "catchment_id": catchment_id, "area_km2": float(values["area_km2"]),
        "latitude": float(values["latitude"]), "attributes": attrs, "start_time": start, "end_time": end,
        "time_step": time_step, "device": device, "backend": "auto", "initial_state": None,
        "nan_policy": nan_policy,
    }


def write_yaml(path: Path, data: dict) -> None:
    write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())


def write_bmi_configs(out_dir: Path, attributes: Mapping[str, Mapping[str, float]], checkpoint: Path,
                      start: str, end: str, **options) -> list[Path]:
    """One `<id>.yml` per catchment in `out_dir`, the checkpoint referenced relative to it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(checkpoint.resolve(), out_dir.resolve())
    paths = []
    for cid, values in attributes.items():
        path = out_dir / f"{cid}.yml"
        write_yaml(path, bmi_config_dict(cid, values, rel, start, end, **options))
        paths.append(path)
    return paths


def _bmi_python(init_config: str, allow_exceed: bool, main_output: str = MAIN_OUTPUT,
                output_variables: list[str] | None = None) -> dict:
    params = {
        "name": "bmi_python", "model_type_name": MODEL_TYPE_NAME, "python_type": PYTHON_TYPE,
        "init_config": init_config, "main_output_variable": main_output, "uses_forcing_file": False,
        "allow_exceed_end_time": allow_exceed,
    }
    if output_variables:
        params["output_variables"] = list(output_variables)
    return {"name": "bmi_python", "params": params}


def realization_dict(style: str, init_config: str, forcing_path: str, start: str, end: str,
                     time_step: int = 3600, main_output: str = MAIN_OUTPUT,
                     output_variables: list[str] | None = None) -> dict:
    """A realization: `style` 'bmi_python' (plain) or 'bmi_multi' (NGIAB style, allow_exceed_end_time).

    `main_output` / `output_variables`: e.g. a δWOFOST field's yield and every crop output (ngen writes
    `output_variables` to its per-catchment output files)."""
    if style == "bmi_python":
        formulation = _bmi_python(init_config, False, main_output, output_variables)
    elif style == "bmi_multi":
        formulation = {
            "name": "bmi_multi",
            "params": {
                "name": "bmi_multi", "model_type_name": MODEL_TYPE_NAME, "forcing_file": "",
                "init_config": "", "allow_exceed_end_time": True, "main_output_variable": main_output,
                "uses_forcing_file": False,
                "modules": [_bmi_python(init_config, True, main_output, output_variables)],
            },
        }
    else:
        raise ConfigError(f"realization style {style!r} is not one of ['bmi_python', 'bmi_multi']")
    for key, value in (("start", start), ("end", end)):
        parse_time(value, f"{key}_time")
    return {
        "global": {
            "formulations": [formulation],
            "forcing": {"file_pattern": "{{id}}.csv", "path": forcing_path, "provider": "CsvPerFeature"},
        },
        "time": {"start_time": start, "end_time": end, "output_interval": time_step},
    }


def write_run_folder(out_dir: str | Path, catchments_geojson: str | Path, forcing_dir: str | Path,
                     checkpoint: str | Path, start: str, end: str, needed: list[str],
                     table: Mapping[str, dict] | None = None, latitude: float | None = None,
                     nexus_geojson: str | Path | None = None, style: str = "bmi_python",
                     time_step: int = 3600, device: str = "cpu", nan_policy: str = "error") -> Path:
    """Write a run folder ngen runs as `ngen catchments.geojson all nexus.geojson all realization.json`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    forcing_dir, checkpoint = Path(forcing_dir), Path(checkpoint)
    catchments = read_catchments(catchments_geojson)
    missing = [c["id"] for c in catchments if not (forcing_dir / f"{c['id']}.csv").is_file()]
    if missing:
        raise ConfigError(f"forcing folder {forcing_dir} has no CSV for {missing}")
    attrs = catchment_attributes(catchments, needed, table, latitude)
    (out / "model").mkdir(exist_ok=True)
    model = out / "model" / checkpoint.name
    if checkpoint.resolve() != model.resolve():
        shutil.copy2(checkpoint, model)
    write_bmi_configs(out / "config", attrs, model, start, end, time_step=time_step, device=device,
                      nan_policy=nan_policy)
    shutil.copy2(catchments_geojson, out / "catchments.geojson")
    if nexus_geojson is not None:
        shutil.copy2(nexus_geojson, out / "nexus.geojson")
    forcing_rel = os.path.relpath(forcing_dir.resolve(), out.resolve()) + "/"
    real = realization_dict(style, "./config/{{id}}.yml", forcing_rel, start, end, time_step)
    write_bytes(out / "realization.json", (json.dumps(real, indent=2) + "\n").encode())
    columns = ["id", "area_km2", "latitude", *needed]
    lines = [",".join(columns)]
    lines += [",".join([cid] + [repr(v[c]) for c in columns[1:]]) for cid, v in attrs.items()]
    write_bytes(out / "attributes.csv", ("\n".join(lines) + "\n").encode())
    return out
