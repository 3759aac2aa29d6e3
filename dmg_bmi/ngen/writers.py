"""Writers for ngen run folders: per-catchment BMI YAMLs, realization JSONs and the attributes used.

Run-folder layout written by `write_run_folder` (self-contained: ngen runs from inside it, and the folder
still runs after being copied or moved, since nothing in it points outside it):

    realization.json            bmi_python (default) or NGIAB-style bmi_multi; forcing path ./forcing/
    catchments.geojson          copy of the input (plus nexus.geojson when given)
    forcing/<id>.csv            copy of each catchment's CsvPerFeature forcing file
    config/<id>.yml             one BMI config per catchment (paths relative to the YAML)
    model/<checkpoint file>     copy of the checkpoint
    attributes.csv              the attributes each catchment was given

Every input is checked before anything is written, and each kind of problem is reported with all its
culprits at once (ids ngen would skip, bad areas, empty nexuses, missing attributes, missing forcing
columns). Attribute sources (`read_attributes_table`): a CSV table, or a dataset NetCDF of this package
(`dmg-bmi make-sample-data`, the quickstart's `twin.nc`, a crop dataset).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from dmg_bmi.atomic import atomic_path, write_text
from dmg_bmi.bmi_config import parse_time
from dmg_bmi.errors import ConfigError, DmgBmiError
from dmg_bmi.variables import FORCING_COLUMNS, MAIN_OUTPUT

PYTHON_TYPE = "dmg_bmi.bmi.DeltaModelBmi"
MODEL_TYPE_NAME = "dmg_bmi"
ID_COLUMNS = ("id", "divide_id", "catchment_id", "cat_id", "gauge_id")
LATITUDE_COLUMNS = ("latitude", "lat", "gauge_lat")
AREA_COLUMNS = ("area_km2", "areasqkm")
# ngen's feature ids: `<type>-<number>`; features of another form are skipped without a word
# (HY_Features_Ids.hpp: catchments 'cat', nexuses 'nex' and its terminal/coastal/inland kinds).
CATCHMENT_ID = re.compile(r"cat-\d+")
NEXUS_ID = re.compile(r"(nex|tnx|cnx|inx)-\d+")
TIME_COLUMNS = ("time", "Time")
_NETCDF_MAGIC = (b"\x89HDF", b"CDF\x01", b"CDF\x02", b"CDF\x05")  # NetCDF-4/HDF5, classic, 64-bit, CDF5


def _number(value) -> float | None:
    """`value` as a finite float, or None (bools, strings, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _refuse(where: str, problems: list[str]) -> None:
    """Raise one ConfigError listing every problem found in `where`, if any."""
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


# --------------------------------------------------------------------------- attribute sources

def read_attributes_table(path: str | Path) -> dict[str, dict[str, float]]:
    """Attributes per catchment, {id: {name: value}}, from a CSV table or a dataset NetCDF.

    CSV (UTF-8): one row per catchment (or one basin-wide row); the id column is the first of ID_COLUMNS
    present (else the first column); empty, non-numeric and non-finite cells are left out.
    NetCDF: a hydrology dataset (`HydroDataset`: basin ids and the static attributes, with `lat` in degrees
    north and `area_km2` in km2) or a crop dataset (`CropDataset`: field ids and their attributes).
    Values are in the units of the table (the checkpoint's training units)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"attributes table not found: {path}")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(_NETCDF_MAGIC):
        return _dataset_rows(path)
    return _csv_rows(path)


def _csv_rows(path: Path) -> dict[str, dict[str, float]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"attributes table {path}: neither a UTF-8 CSV file nor a dataset NetCDF "
                          f"({exc})") from None
    if not rows:
        raise ConfigError(f"attributes table {path} has no rows")
    id_col = next((c for c in ID_COLUMNS if c in rows[0]), next(iter(rows[0])))
    table: dict[str, dict[str, float]] = {}
    duplicates = []
    for row in rows:
        values = {}
        for key, raw in row.items():
            if key == id_col or key is None:
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                values[key.strip()] = value
        cid = str(row[id_col]).strip()
        if cid in table:
            duplicates.append(cid)
        table[cid] = values
    if duplicates:
        raise ConfigError(f"attributes table {path}: duplicate id(s) in column {id_col!r}: {duplicates}")
    return table


def _dataset_rows(path: Path) -> dict[str, dict[str, float]]:
    from dmg_bmi.data import crop_dataset
    from dmg_bmi.data.dataset import HydroDataset
    from dmg_bmi.data.netcdf_read import open_netcdf

    try:
        with open_netcdf(path, "attributes dataset") as nc:
            tag = getattr(nc, "dmg_bmi_format", None)
        if tag == crop_dataset.FORMAT_TAG:
            ds = crop_dataset.CropDataset.load(path)
            return {field: _finite(dict(zip(ds.attribute_names, row, strict=True)))
                    for field, row in zip(ds.fields, ds.attributes, strict=True)}
        return dataset_rows(HydroDataset.load(path))
    except DmgBmiError as exc:
        raise ConfigError(f"attributes table {path}: cannot read it as a dataset NetCDF: {exc}") from exc


def _finite(values: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if math.isfinite(float(v))}


def dataset_rows(ds) -> dict[str, dict[str, float]]:
    """{basin: {static attribute: value}} of a `HydroDataset` (`lat` degrees north, `area_km2` km2, the rest
    in the dataset's units); non-finite values are left out."""
    return {str(b): _finite({name: values[i] for name, values in ds.static.items()})
            for i, b in enumerate(ds.basins)}


def _missing_message(missing: Mapping[str, list[str]], total: int, source: str, hint: str = "") -> str:
    """'attributes missing for 2 of 5 catchments in SOURCE: cat-1, cat-2: ['a', 'b']' (same sets grouped)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for cid, names in missing.items():
        groups.setdefault(tuple(names), []).append(cid)
    parts = [f"{', '.join(ids)}: {list(names)}" for names, ids in groups.items()]
    msg = f"attributes missing for {len(missing)} of {total} catchment(s) in {source}: " + "; ".join(parts)
    if any("latitude" in names for names in missing.values()):
        msg += f" (latitude: a column {list(LATITUDE_COLUMNS)} or --latitude)"
    return msg + hint


def table_values(table: Mapping[str, Mapping[str, float]], needed: Sequence[str],
                 latitude: float | None = None,
                 source: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Per row of `table`: area_km2 (km2, column area_km2 or areasqkm), latitude (degrees north, a
    LATITUDE_COLUMNS column or `latitude`) and every `needed` attribute; all gaps are reported at once."""
    result, missing = {}, {}
    for cid, row in table.items():
        area = next((row[c] for c in AREA_COLUMNS if c in row), None)
        lat = latitude if latitude is not None else next((row[c] for c in LATITUDE_COLUMNS if c in row), None)
        gaps = (["area_km2"] if area is None else []) + (["latitude"] if lat is None else []) + [
            n for n in needed if n not in row]
        if gaps:
            missing[cid] = gaps
            continue
        result[cid] = {"area_km2": area, "latitude": lat, **{n: row[n] for n in needed}}
    if missing:
        where = f"the attributes table {source}" if source else "the attributes table"
        raise ConfigError(_missing_message(missing, len(table), where))
    return result


def catchment_attributes(catchments: list[dict], needed: Sequence[str], table: Mapping[str, dict] | None,
                         latitude: float | None = None,
                         source: str | Path | None = None) -> dict[str, dict[str, float]]:
    """Per catchment: area_km2 (the GeoJSON's areasqkm, km2), latitude (degrees north) and every `needed`
    attribute, from `table` (per-id rows; a single row whose id matches no catchment applies basin-wide)
    over the GeoJSON properties. Every catchment's missing names are reported in one ConfigError."""
    basin_row = None
    if table and len(table) == 1 and not set(table) & {c["id"] for c in catchments}:
        basin_row = next(iter(table.values()))
    result, missing, no_row = {}, {}, []
    for cat in catchments:
        row = {k: v for k, v in cat["properties"].items() if _number(v) is not None}
        if table:
            own = basin_row if basin_row is not None else table.get(cat["id"])
            if own is None:
                no_row.append(cat["id"])
            row.update(own or {})
        lat = latitude if latitude is not None else next(
            (row[c] for c in LATITUDE_COLUMNS if c in row), None)
        gaps = (["latitude"] if lat is None else []) + [n for n in needed if n not in row]
        if gaps:
            missing[cat["id"]] = gaps
            continue
        result[cat["id"]] = {"area_km2": cat["areasqkm"], "latitude": float(lat),
                             **{n: float(row[n]) for n in needed}}
    if missing:
        if table:
            where = f"the attributes table {source}" if source else "the attributes table"
            hint = f" (no row in the table for {no_row})" if no_row else ""
        else:
            where = "the catchments' GeoJSON properties"
            hint = "; pass --attributes (a CSV table or a dataset NetCDF) to give them"
        raise ConfigError(_missing_message(missing, len(catchments), where, hint))
    return result


def write_attribute_table(path: str | Path, values: Mapping[str, Mapping[str, float]],
                          names: Sequence[str]) -> Path:
    """Write (atomically, UTF-8) a CSV `id,area_km2,latitude,<names>` (km2, degrees north, the attributes in
    their training units) that `read_attributes_table` and `dmg-bmi bmi-config/realization --attributes`
    read back exactly (floats as repr); `values` as from `table_values`."""
    columns = list(dict.fromkeys(["area_km2", "latitude", *names]))
    lines = [",".join(["id", *columns])]
    lines += [",".join([cid] + [repr(float(v[c])) for c in columns]) for cid, v in values.items()]
    return write_text(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- the domain: GeoJSON

def _features(path: Path, what: str) -> list[dict]:
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read {what} GeoJSON {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(features, list):
        raise ConfigError(f"{what} GeoJSON {path}: 'features' is not a list")
    return features


def _feature_ids(features: list[dict], pattern: re.Pattern, form: str, kind: str,
                 problems: list[str]) -> list[str | None]:
    """Each feature's id (top-level `id`, else properties.id, as ngen reads it); bad ones go to `problems`."""
    ids = [feat.get("id", (feat.get("properties") or {}).get("id")) for feat in features]
    no_id = [i for i, fid in enumerate(ids) if fid is None]
    if no_id:
        problems.append(f"feature(s) {no_id} have no 'id'")
    bad = [fid for fid in ids if fid is not None and not pattern.fullmatch(str(fid))]
    if bad:
        problems.append(f"{kind} id(s) {bad} are not of the form {form}: ngen silently skips such features "
                        "(and then aborts on a nexus left empty)")
    seen, dup = set(), []
    for fid in ids:
        if fid is not None and fid in seen:
            dup.append(fid)
        seen.add(fid)
    if dup:
        problems.append(f"duplicate {kind} id(s) {dup}")
    no_geometry = [fid for fid, feat in zip(ids, features, strict=True)
                   if not isinstance(feat.get("geometry"), dict) or "type" not in feat["geometry"]]
    if no_geometry:
        problems.append(f"{kind}(s) {no_geometry} have no geometry with a 'type': ngen aborts on them "
                        "('No such node (type)'); a bounding box or a point is enough")
    return [None if fid is None else str(fid) for fid in ids]


def read_catchments(path: str | Path) -> list[dict]:
    """Catchment features of a GeoJSON: [{id, areasqkm (km2), toid, properties}].

    Refused (one ConfigError listing every culprit): a feature without an id, ids not of the form `cat-N`
    (ngen skips them), duplicate ids, and a missing, non-numeric, zero or negative `properties.areasqkm`."""
    path = Path(path)
    features = _features(path, "catchments")
    problems: list[str] = []
    ids = _feature_ids(features, CATCHMENT_ID, "cat-N", "catchment", problems)
    out, bad_area = [], []
    for fid, feat in zip(ids, features, strict=True):
        props = feat.get("properties") or {}
        raw = props.get("areasqkm", props.get("area_sqkm"))
        area = _number(raw)
        if area is None or area <= 0:
            bad_area.append(f"{fid}: {'missing' if raw is None else repr(raw)}")
        out.append({"id": fid, "areasqkm": area, "toid": props.get("toid"), "properties": props})
    if bad_area:
        problems.append("properties.areasqkm must be a positive number of km2 (ngen turns runoff depth into "
                        f"nexus flow with it): {', '.join(bad_area)}")
    if not features:
        problems.append("no features")
    _refuse(f"catchments GeoJSON {path}", problems)
    return out


def read_nexus_ids(path: str | Path) -> list[str]:
    """The nexus ids of a nexus GeoJSON; features without an id, ids not of the form `nex-N` (or ngen's
    terminal/coastal/inland `tnx-N`, `cnx-N`, `inx-N`) and duplicates are refused, all at once."""
    path = Path(path)
    problems: list[str] = []
    ids = _feature_ids(_features(path, "nexus"), NEXUS_ID, "nex-N", "nexus", problems)
    _refuse(f"nexus GeoJSON {path}", problems)
    return [fid for fid in ids if fid is not None]


def check_network(catchments: list[dict], nexus_ids: Sequence[str] | None = None,
                  nexus_path: str | Path | None = None) -> None:
    """Refuse a network ngen cannot run: a catchment whose `toid` is not a nexus id, one draining to a nexus
    the nexus file lacks, and a nexus (from the nexus file when given) that no catchment flows into."""
    problems = []
    bad_to = [f"{c['id']} -> {c['toid']!r}" for c in catchments
              if not (isinstance(c["toid"], str) and NEXUS_ID.fullmatch(c["toid"]))]
    if bad_to:
        problems.append(f"catchment(s) whose properties.toid is not a nexus id (nex-N): {', '.join(bad_to)}")
    if nexus_ids is not None:
        listed = set(nexus_ids)
        absent = [f"{c['id']} -> {c['toid']}" for c in catchments
                  if isinstance(c["toid"], str) and NEXUS_ID.fullmatch(c["toid"]) and c["toid"] not in listed]
        if absent:
            problems.append(f"catchment(s) drain to nexuses missing from {nexus_path}: {', '.join(absent)}")
        fed = {c["toid"] for c in catchments}
        empty = [n for n in nexus_ids if n not in fed]
        if empty:
            problems.append(f"nexus(es) {empty} in {nexus_path} receive no catchment (ngen aborts: 'Can not "
                            "release water from an empty nexus'); is it the nexus file of these catchments?")
    _refuse("catchment network", problems)


# --------------------------------------------------------------------------- forcing files

def forcing_columns(path: str | Path) -> list[str]:
    """Column names of a CsvPerFeature forcing CSV as ngen sees them: the time column left out, a trailing
    `[units]` or `(units)` stripped (ngen converts such a column from those units to the BMI's)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read forcing file {path}: {exc}") from exc
    if not header:
        raise ConfigError(f"forcing file {path} has no header row")
    columns = []
    for raw in header:
        name = raw.strip()
        if name in TIME_COLUMNS:
            continue
        close = {"]": "[", ")": "("}.get(name[-1:])
        if close and close in name:
            name = name[:name.rindex(close)].strip()
        columns.append(name)
    return columns


def variables_names_map(inputs: Sequence[str], forcing_files: Mapping[str, Path]) -> dict[str, str]:
    """{BMI input: forcing column} for a realization's `variables_names_map`: for each input, the first of
    its `FORCING_COLUMNS` (then its own CSDMS name) present in the files' headers.

    Every file must provide every input, through the same columns (the map is global). A needed input
    without a column raises ConfigError naming the input, the file and the columns it has."""
    by_header: dict[tuple[str, ...], list[Path]] = {}
    for path in forcing_files.values():
        by_header.setdefault(tuple(forcing_columns(path)), []).append(Path(path))
    problems, maps = [], []
    for header, files in by_header.items():
        mapping = {}
        for name in inputs:
            accepted = (*FORCING_COLUMNS.get(name, ()), name)
            column = next((c for c in accepted if c in header), None)
            if column is None:
                more = f" (and {len(files) - 1} more file(s) with this header)" if len(files) > 1 else ""
                problems.append(f"input {name!r} has no column in {files[0]}{more}: accepted columns "
                                f"{list(accepted)}; the file has {list(header)}")
            else:
                mapping[name] = column
        maps.append((files[0], mapping))
    _refuse("forcing", problems)
    for name in inputs:
        used = {m[name]: f for f, m in maps}
        if len(used) > 1:
            problems.append(f"input {name!r} comes from different columns: "
                            + ", ".join(f"{col!r} in {f}" for col, f in used.items()))
    _refuse("forcing files disagree (a realization maps each input to one column for every catchment)",
            problems)
    return maps[0][1] if maps else {}


# --------------------------------------------------------------------------- BMI configs

def bmi_config_dict(catchment_id: str, values: Mapping[str, float], checkpoint: str, start: str, end: str,
                    time_step: int = 3600, device: str = "cpu", nan_policy: str = "error",
                    initial_state: str | None = None, final_state: str | None = None) -> dict:
    """The YAML mapping of one catchment (see bmi_configs/README.md): `values` holds area_km2 (km2),
    latitude (degrees north) and the checkpoint's attributes (training units); `initial_state` /
    `final_state` are state-file paths relative to the YAML, with `{id}` replaced by the catchment id."""
    attrs = {k: float(v) for k, v in values.items() if k not in ("area_km2", "latitude")}
    return {
        "checkpoint": checkpoint, "catchment_id": catchment_id, "area_km2": float(values["area_km2"]),
        "latitude": float(values["latitude"]), "attributes": attrs, "start_time": start, "end_time": end,
        "time_step": time_step, "device": device, "backend": "auto",
        "initial_state": initial_state.format(id=catchment_id) if initial_state else None,
        "final_state": final_state.format(id=catchment_id) if final_state else None,
        "nan_policy": nan_policy,
    }


def write_yaml(path: Path, data: dict) -> None:
    """Write `data` as YAML, atomically (non-ASCII characters escaped: ngen's embedded Python reads ASCII)."""
    write_text(path, yaml.safe_dump(data, sort_keys=False))


def check_config_values(attributes: Mapping[str, Mapping[str, float]]) -> None:
    """Refuse ids that cannot be file names, areas (km2) that are missing, non-numeric, zero or negative, and
    latitudes outside -90..90 degrees north; every culprit of a kind in one ConfigError."""
    bad_ids = [cid for cid in attributes
               if not cid or cid in (".", "..") or any(ch in cid for ch in "/\\\0")]
    bad_area = [f"{cid}: {v.get('area_km2')!r}" for cid, v in attributes.items()
                if (_number(v.get("area_km2")) or 0.0) <= 0]
    bad_lat = [f"{cid}: {v.get('latitude')!r}" for cid, v in attributes.items()
               if _number(v.get("latitude")) is None or abs(v["latitude"]) > 90]
    problems = []
    if bad_ids:
        problems.append(f"id(s) {bad_ids} cannot name a config file")
    if bad_area:
        problems.append(f"area_km2 must be a positive number of km2: {', '.join(bad_area)}")
    if bad_lat:
        problems.append(f"latitude must be a number in -90..90 degrees north: {', '.join(bad_lat)}")
    _refuse("BMI configs", problems)


def write_bmi_configs(out_dir: Path, attributes: Mapping[str, Mapping[str, float]], checkpoint: Path,
                      start: str, end: str, **options) -> list[Path]:
    """One `<id>.yml` per catchment in `out_dir`, the checkpoint referenced relative to it; the values are
    checked first (`check_config_values`), so nothing is written for bad input."""
    check_config_values(attributes)
    for key, value in (("start", start), ("end", end)):
        parse_time(value, f"{key}_time")
    out_dir.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(checkpoint.resolve(), out_dir.resolve())
    paths = []
    for cid, values in attributes.items():
        path = out_dir / f"{cid}.yml"
        write_yaml(path, bmi_config_dict(cid, values, rel, start, end, **options))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- realization

def _bmi_python(init_config: str, allow_exceed: bool, main_output: str = MAIN_OUTPUT,
                output_variables: list[str] | None = None,
                names_map: Mapping[str, str] | None = None) -> dict:
    params = {
        "name": "bmi_python", "model_type_name": MODEL_TYPE_NAME, "python_type": PYTHON_TYPE,
        "init_config": init_config, "main_output_variable": main_output, "uses_forcing_file": False,
        "allow_exceed_end_time": allow_exceed,
        # ngen asks the BMI for its inputs' names, types, sizes and units once, not every step
        "cache_input_variable_metadata": True,
    }
    if names_map:
        params["variables_names_map"] = dict(names_map)
    if output_variables:
        params["output_variables"] = list(output_variables)
    return {"name": "bmi_python", "params": params}


def realization_dict(style: str, init_config: str, forcing_path: str, start: str, end: str,
                     time_step: int = 3600, main_output: str = MAIN_OUTPUT,
                     output_variables: list[str] | None = None,
                     variables_names_map: Mapping[str, str] | None = None) -> dict:
    """A realization: `style` 'bmi_python' (plain) or 'bmi_multi' (NGIAB style, allow_exceed_end_time).

    `time_step` is ngen's output_interval in s. `main_output` / `output_variables`: e.g. a δWOFOST field's
    yield and every crop output (ngen writes `output_variables` to its per-catchment output files).
    `variables_names_map` {BMI input: forcing column} goes into the BMI module's params (see
    `variables_names_map()`); without it ngen looks forcing up by the inputs' CSDMS names."""
    module = _bmi_python(init_config, style == "bmi_multi", main_output, output_variables,
                         variables_names_map)
    if style == "bmi_python":
        formulation = module
    elif style == "bmi_multi":
        formulation = {
            "name": "bmi_multi",
            "params": {
                "name": "bmi_multi", "model_type_name": MODEL_TYPE_NAME, "forcing_file": "",
                "init_config": "", "allow_exceed_end_time": True, "main_output_variable": main_output,
                "uses_forcing_file": False, "modules": [module],
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


def _copy(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` atomically (no half-copied file under the final name); a no-op onto itself."""
    if dst.exists() and src.resolve() == dst.resolve():
        return
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def write_run_folder(out_dir: str | Path, catchments_geojson: str | Path, forcing_dir: str | Path,
                     checkpoint: str | Path, start: str, end: str, needed: list[str],
                     table: Mapping[str, dict] | None = None, latitude: float | None = None,
                     nexus_geojson: str | Path | None = None, style: str = "bmi_python",
                     time_step: int = 3600, device: str = "cpu", nan_policy: str = "error",
                     attributes_source: str | Path | None = None, initial_states: str | Path | None = None,
                     save_final_states: bool = False) -> Path:
    """Write a self-contained run folder ngen runs as `ngen catchments.geojson all nexus.geojson all
    realization.json` (see the module docstring for its layout).

    `needed`: the checkpoint's attribute names; `table`: attributes per id (`read_attributes_table`), else
    the GeoJSON properties; `latitude` (degrees north) for every catchment. The realization maps the BMI
    inputs the checkpoint reads to the forcing files' columns (`variables_names_map`). `initial_states`: a
    folder of `<id>.state` files (e.g. a previous run's `states/final/`), copied to `states/initial/` and
    used as each catchment's `initial_state` (a hot start: `start` must be the time the states were saved
    at); `save_final_states`: each BMI writes its end state to `states/final/<id>.state` when ngen
    finalizes it. All inputs are checked before anything is written."""
    from dmg_bmi.ngen.cmd_bmi_config import needed_inputs

    out = Path(out_dir)
    forcing_dir, checkpoint = Path(forcing_dir), Path(checkpoint)
    catchments = read_catchments(catchments_geojson)
    nexus_ids = read_nexus_ids(nexus_geojson) if nexus_geojson is not None else None
    check_network(catchments, nexus_ids, nexus_geojson)
    forcing = {c["id"]: forcing_dir / f"{c['id']}.csv" for c in catchments}
    missing = [cid for cid, path in forcing.items() if not path.is_file()]
    if missing:
        raise ConfigError(f"forcing folder {forcing_dir} has no CSV for catchment(s) {missing}")
    attrs = catchment_attributes(catchments, needed, table, latitude, attributes_source)
    check_config_values(attrs)
    states = {}
    if initial_states is not None:
        states = {cid: Path(initial_states) / f"{cid}.state" for cid in forcing}
        absent = [cid for cid, path in states.items() if not path.is_file()]
        if absent:
            raise ConfigError(f"initial states folder {initial_states} has no <id>.state for catchment(s) "
                              f"{absent}")
    names_map = variables_names_map(needed_inputs(checkpoint), forcing)
    real = realization_dict(style, "./config/{{id}}.yml", "./forcing/", start, end, time_step,
                            variables_names_map=names_map)

    model = out / "model" / checkpoint.name
    _copy(checkpoint, model)
    for cid, path in forcing.items():
        _copy(path, out / "forcing" / f"{cid}.csv")
    for cid, path in states.items():
        _copy(path, out / "states" / "initial" / f"{cid}.state")
    if save_final_states:
        (out / "states" / "final").mkdir(parents=True, exist_ok=True)
    write_bmi_configs(out / "config", attrs, model, start, end, time_step=time_step, device=device,
                      nan_policy=nan_policy, initial_state="../states/initial/{id}.state" if states else None,
                      final_state="../states/final/{id}.state" if save_final_states else None)
    _copy(Path(catchments_geojson), out / "catchments.geojson")
    if nexus_geojson is not None:
        _copy(Path(nexus_geojson), out / "nexus.geojson")
    write_text(out / "realization.json", json.dumps(real, indent=2) + "\n")
    write_attribute_table(out / "attributes.csv", attrs, needed)
    return out
