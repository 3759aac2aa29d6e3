"""Writers for ngen run folders: per-catchment BMI YAMLs, realization JSONs and the attributes used.

Run-folder layout written by `write_run_folder` (self-contained: ngen runs from inside it, and the folder
still runs after being copied or moved, since nothing in it points outside it):

    realization.json            bmi_python (default) or NGIAB-style bmi_multi; forcing path ./forcing/
    catchments.geojson          the catchments run (from a GeoJSON, or a GeoPackage's `divides` layer)
    nexus.geojson               the nexuses they drain to (from --nexus, or the GeoPackage's `nexus` layer)
    forcing/<id>.csv            copy of each catchment's CsvPerFeature forcing file
    config/<id>.yml             one BMI config per catchment (paths relative to the YAML)
    model/<checkpoint file>     copy of the checkpoint
    states/initial/<id>.state   copies of the hot-start states (with `initial_states`)
    attributes.csv              the attributes each catchment was given

Every input is checked before anything is written, and each kind of problem is reported with all its
culprits at once: ids ngen would skip, bad areas, empty nexuses, unknown `ids`, missing or non-numeric
attributes, missing forcing columns, forcing files that do not cover the run, hot-start states of another
time, checkpoint or time step, and the outputs of an earlier ngen run in the folder. Times are parsed with
`dmg_bmi.bmi_config.parse_time` and written as ``YYYY-MM-DD HH:MM:SS`` (UTC), the only form ngen reads.
Attribute sources (`read_attributes_table`): a CSV table, or a dataset NetCDF of this package
(`dmg-bmi make-sample-data`, the quickstart's `twin.nc`, a crop dataset). A GeoPackage hydrofabric (NextGen
hydrofabric 2.x: layers `divides` and `nexus`) is read with the standard library's `sqlite3`, read-only.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
import re
import shutil
import sqlite3
import struct
from collections.abc import Mapping, Sequence
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from dmg_bmi.atomic import atomic_path, write_text
from dmg_bmi.bmi_config import TIME_FORMAT, parse_time
from dmg_bmi.core import payload
from dmg_bmi.core.config import dump_yaml
from dmg_bmi.core.variables import FORCING_COLUMNS, MAIN_OUTPUT
from dmg_bmi.errors import ConfigError, DmgBmiError, InputError
from dmg_bmi.ngen.realization_config import MODEL_TYPE_NAME, module_params

ID_COLUMNS = ("id", "divide_id", "catchment_id", "cat_id", "gauge_id")
LATITUDE_COLUMNS = ("latitude", "lat", "gauge_lat")
AREA_COLUMNS = ("area_km2", "areasqkm")
BASIN_WIDE = "<basin-wide row>"  # the key of a one-row attributes table without an id column
# ngen's feature ids: `<type>-<number>`; features of another form are skipped without a word
# (HY_Features_Ids.hpp: catchments 'cat', nexuses 'nex' and its terminal/coastal/inland kinds).
CATCHMENT_ID = re.compile(r"cat-\d+")
NEXUS_ID = re.compile(r"(nex|tnx|cnx|inx)-\d+")
TIME_COLUMNS = ("time", "Time")
# forcing columns ngen knows the units of when the header gives none (AorcForcing.hpp WellKnownFields)
NGEN_KNOWN_COLUMNS = frozenset({
    "precip_rate", "APCP_surface", "DLWRF_surface", "DSWRF_surface", "PRES_surface", "SPFH_2maboveground",
    "TMP_2maboveground", "UGRD_10maboveground", "VGRD_10maboveground", "RAINRATE", "T2D", "Q2D", "U2D",
    "V2D", "PSFC", "SWDOWN", "LWDOWN"})
_NETCDF_MAGIC = (b"\x89HDF", b"CDF\x01", b"CDF\x02", b"CDF\x05")  # NetCDF-4/HDF5, classic, 64-bit, CDF5
_SQLITE_MAGIC = b"SQLite format 3\x00"  # a GeoPackage is an SQLite database
_SHOWN = 10  # ids listed in a message before "... (N in all)"


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


def _some(ids: Sequence[str]) -> str:
    """`ids` as a list, the first few only when there are many: "['a', 'b', ...] (1234 in all)"."""
    ids = list(ids)
    if len(ids) <= _SHOWN:
        return str(ids)
    return f"{str(ids[:_SHOWN])[:-1]}, ...] ({len(ids)} in all)"


# --------------------------------------------------------------------------- times

def _naive_utc(time: datetime) -> datetime:
    """`time` as a naive UTC time (an offset converts; a naive time is UTC already)."""
    return time.astimezone(timezone.utc).replace(tzinfo=None) if time.tzinfo is not None else time


def run_period(start: str, end: str) -> tuple[datetime, datetime]:
    """The run's first and last step (`start`, `end`: UTC times such as '2015-12-01 00:00:00' or a date
    '2015-12-01'; an offset converts to UTC) as naive UTC datetimes; an `end` before `start` is refused."""
    first, last = _naive_utc(parse_time(start, "start")), _naive_utc(parse_time(end, "end"))
    if last < first:
        raise ConfigError(f"end {last:{TIME_FORMAT}} (from {end!r}) is before start {first:{TIME_FORMAT}} "
                          f"(from {start!r})")
    return first, last


def _period_text(start: str, end: str) -> tuple[str, str]:
    """`run_period` written as ngen reads times: 'YYYY-MM-DD HH:MM:SS'."""
    first, last = run_period(start, end)
    return first.strftime(TIME_FORMAT), last.strftime(TIME_FORMAT)


# --------------------------------------------------------------------------- attribute sources

def read_attributes_table(path: str | Path) -> dict[str, dict[str, float | str]]:
    """Attributes per catchment, {id: {name: value}}, from a CSV table or a dataset NetCDF.

    CSV (UTF-8): one row per catchment, the id in the first of ID_COLUMNS present (recognised by name
    only), or one basin-wide row (its key `BASIN_WIDE` when it has no id column; every column is an
    attribute). Empty and non-finite cells are left out; other cells that are not numbers are kept as their
    text, so that a needed one is reported as "not a number". NetCDF: a hydrology dataset (`HydroDataset`:
    basin ids and the static attributes, with `lat` in degrees north and `area_km2` in km2) or a crop
    dataset (`CropDataset`: field ids and their attributes). Values are in the units of the table (the
    checkpoint's training units)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"attributes table {path} is a folder, not a CSV or NetCDF file")
    if not path.is_file():
        raise ConfigError(f"attributes table not found: {path}")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(_NETCDF_MAGIC):
        return _dataset_rows(path)
    return _csv_rows(path)


def _cell(raw: str) -> float | str | None:
    """A CSV cell as a finite float, its text when it is not a number, None when empty or non-finite."""
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        return text or None
    return value if math.isfinite(value) else None


def _csv_rows(path: Path) -> dict[str, dict[str, float | str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:  # a byte-order mark is not the id column's
            lines = [row for row in csv.reader(fh) if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as exc:
        raise ConfigError(f"attributes table {path}: neither a UTF-8 CSV file nor a dataset NetCDF "
                          f"({exc})") from None
    if len(lines) < 2:
        raise ConfigError(f"attributes table {path} has no rows")
    header, rows = [name.strip() for name in lines[0]], lines[1:]
    id_col = next((c for c in ID_COLUMNS if c in header), None)
    if id_col is None and len(rows) > 1:
        raise ConfigError(f"attributes table {path} has {len(rows)} rows but no id column: it looks for a "
                          f"column named one of {list(ID_COLUMNS)} (a table without one is a single "
                          "basin-wide row)")
    table: dict[str, dict[str, float | str]] = {}
    duplicates = []
    for row in rows:
        cells = dict(zip(header, row, strict=False))
        cid = cells.pop(id_col, "").strip() if id_col is not None else BASIN_WIDE
        if cid in table:
            duplicates.append(cid)
        table[cid] = {key: value for key, raw in cells.items() if (value := _cell(raw)) is not None}
    if duplicates:
        raise ConfigError(f"attributes table {path}: duplicate id(s) in column {id_col!r}: {duplicates}")
    return table


def _dataset_rows(path: Path) -> dict[str, dict[str, float]]:
    """The site table of a dataset NetCDF, read by the domain of its format tag (`Domain.site_rows`)."""
    from dmg_bmi.data.netcdf_read import open_netcdf
    from dmg_bmi.domains import domain_of_dataset

    try:
        with open_netcdf(path, "attributes dataset") as nc:
            tag = getattr(nc, "dmg_bmi_format", None)
        return domain_of_dataset(tag).site_rows(path)
    except DmgBmiError as exc:
        raise ConfigError(f"attributes table {path}: cannot read it as a dataset NetCDF: {exc}") from exc


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


def _pick(cid: str, row: Mapping[str, object], needed: Sequence[str], latitude: float | None,
          area: float | None = None,
          with_latitude: bool = True) -> tuple[dict[str, float], list[str], list[str]]:
    """One catchment's area_km2 (`area`, else an AREA_COLUMNS column of `row`), latitude (`latitude`, else a
    LATITUDE_COLUMNS column; missing only `with_latitude`, else kept when given) and `needed` attributes:
    (values, names missing, "name='text' (cid)" of values that are not numbers). A needed name already
    picked (area_km2, latitude) is picked once."""
    def column(columns: Sequence[str]) -> tuple[str, object]:
        name = next((c for c in columns if c in row), columns[0])
        return name, row.get(name)

    picks = {"area_km2": ("areasqkm", area) if area is not None else column(AREA_COLUMNS),
             "latitude": ("latitude", latitude) if latitude is not None else column(LATITUDE_COLUMNS)}
    for name in needed:
        picks.setdefault(name, (name, row.get(name)))
    values, missing, bad = {}, [], []
    for key, (name, raw) in picks.items():
        if raw is None and key == "latitude" and not with_latitude:
            continue  # a checkpoint taking PET as a forcing never reads it
        if raw is None:
            missing.append(key)
        elif _number(raw) is None:
            bad.append(f"{name}={raw!r} ({cid})")
        else:
            values[key] = float(raw)
    return values, missing, bad


def table_values(table: Mapping[str, Mapping[str, float | str]], needed: Sequence[str],
                 latitude: float | None = None, source: str | Path | None = None,
                 with_latitude: bool = True) -> dict[str, dict[str, float]]:
    """Per row of `table`: area_km2 (km2, column area_km2 or areasqkm), latitude (degrees north, a
    LATITUDE_COLUMNS column or `latitude`; optional unless `with_latitude`, see `reads_latitude`) and every
    `needed` attribute; all gaps and all values that are not numbers are reported at once. A basin-wide row
    without an id (`BASIN_WIDE`) names no catchment: refused."""
    where = f"the attributes table {source}" if source else "the attributes table"
    if BASIN_WIDE in table:
        raise ConfigError(f"{where} has no id column (one of {list(ID_COLUMNS)}): one BMI config is written "
                          "per catchment id, so each row needs one")
    result, missing, bad = {}, {}, []
    for cid, row in table.items():
        values, gaps, not_numbers = _pick(cid, row, needed, latitude, with_latitude=with_latitude)
        bad += not_numbers
        if gaps:
            missing[cid] = gaps
        elif not not_numbers:
            result[cid] = values
    problems = [_missing_message(missing, len(table), where)] if missing else []
    if bad:
        problems.append(f"not a number: {', '.join(bad)}")
    if problems:
        raise ConfigError("; ".join(problems))
    return result


def catchment_attributes(catchments: list[dict], needed: Sequence[str],
                         table: Mapping[str, Mapping[str, float | str]] | None, latitude: float | None = None,
                         source: str | Path | None = None,
                         with_latitude: bool = True) -> dict[str, dict[str, float]]:
    """Per catchment: area_km2 (the GeoJSON's areasqkm, km2; ngen turns runoff into nexus flow with it),
    latitude (degrees north; optional unless `with_latitude`) and every `needed` attribute, from `table`
    (per-id rows; a single row whose id matches no catchment, or that has no id, applies basin-wide) over the
    GeoJSON properties. Catchments without a row in a per-id table are named first, then every catchment's
    missing names, then the values that are not numbers, in one ConfigError."""
    ids = [c["id"] for c in catchments]
    basin_row = None
    if table and len(table) == 1 and not set(table) & set(ids):
        basin_row = next(iter(table.values()))
    result, missing, bad, no_row = {}, {}, [], []
    for cat in catchments:
        row = dict(cat["properties"])
        if table:
            own = basin_row if basin_row is not None else table.get(cat["id"])
            if own is None:
                no_row.append(cat["id"])
            row.update(own or {})
        values, gaps, not_numbers = _pick(cat["id"], row, needed, latitude, cat["areasqkm"], with_latitude)
        bad += not_numbers
        if gaps:
            missing[cat["id"]] = gaps
        elif not not_numbers:
            result[cat["id"]] = values
    if not (missing or bad):
        return result
    problems = []
    if table:
        where = f"the attributes table {source}" if source else "the attributes table"
        hint = ""
        if no_row:
            problems.append(f"no row in {source or 'the attributes table'} for {_some(no_row)}; its ids are "
                            f"{_some(list(table))}")
    else:
        where = "the catchments' GeoJSON properties"
        hint = "; pass --attributes (a CSV table or a dataset NetCDF) to give them"
    if missing:
        problems.append(_missing_message(missing, len(catchments), where, hint))
    if bad:
        problems.append(f"not a number: {', '.join(bad)}")
    raise ConfigError("; ".join(problems))


def write_attribute_table(path: str | Path, values: Mapping[str, Mapping[str, float]],
                          names: Sequence[str]) -> Path:
    """Write (atomically, UTF-8) a CSV `id,area_km2,latitude,<names>` (km2, degrees north, the attributes in
    their training units) that `read_attributes_table` and `dmg-bmi bmi-config/realization --attributes`
    read back exactly (floats as repr); `values` as from `table_values` (latitude left out when a row has
    none: the checkpoint does not read it)."""
    site = ["area_km2", "latitude"] if all("latitude" in v for v in values.values()) else ["area_km2"]
    columns = list(dict.fromkeys([*site, *names]))
    lines = [",".join(["id", *columns])]
    lines += [",".join([cid] + [repr(float(v[c])) for c in columns]) for cid, v in values.items()]
    return write_text(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- the domain: GeoJSON, GeoPackage

def _is_geopackage(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


def read_layer(path: str | Path, what: str) -> tuple[list[dict], dict]:
    """The `what` ('catchments' or 'nexus') features of a GeoJSON FeatureCollection or of a GeoPackage
    hydrofabric (layer `divides` or `nexus`), and the collection's other top-level members (name, crs),
    kept when the features are written back (`geojson_text`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file not found: {path}")
    if _is_geopackage(path):
        return _geopackage_layer(path, what)
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
        why = "" if isinstance(collection, dict) and "features" in collection else "it has no 'features'"
    except UnicodeDecodeError:
        why = "it is not UTF-8 text"
    except ValueError as exc:
        why = f"it is not JSON ({exc})"
    if why:
        raise ConfigError(f"{what} file {path} is neither a GeoJSON FeatureCollection nor a GeoPackage "
                          f"(.gpkg): {why}")
    features = collection["features"]
    if not isinstance(features, list):
        raise ConfigError(f"{what} GeoJSON {path}: 'features' is not a list")
    not_objects = [i for i, f in enumerate(features) if not isinstance(f, dict)]
    if not_objects:
        raise ConfigError(f"{what} GeoJSON {path}: feature(s) {_some(not_objects)} are not JSON objects (the "
                          f"first is {features[not_objects[0]]!r}); a feature is {{\"type\": \"Feature\", "
                          "\"id\": ..., \"properties\": {...}, \"geometry\": {...}}")
    bad_properties = [i for i, f in enumerate(features) if not isinstance(f.get("properties") or {}, dict)]
    if bad_properties:
        raise ConfigError(f"{what} GeoJSON {path}: the 'properties' of feature(s) {_some(bad_properties)} "
                          "are not a JSON object")
    return features, {k: v for k, v in collection.items() if k not in ("type", "features")}


def _envelope_geometry(blob: object) -> dict:
    """A GeoPackage geometry blob as a GeoJSON geometry: the envelope of its header as a bounding-box Polygon
    (a Point when the box is a point), else a Point at [0, 0] (ngen needs a geometry with a type, no more)."""
    if isinstance(blob, bytes) and len(blob) >= 8 and blob[:2] == b"GP":
        flags = blob[3]
        if 1 <= (flags >> 1) & 7 <= 4 and not flags & 0x10 and len(blob) >= 40:  # an envelope, not empty
            minx, maxx, miny, maxy = struct.unpack_from("<4d" if flags & 1 else ">4d", blob, 8)
            if (minx, miny) == (maxx, maxy):
                return {"type": "Point", "coordinates": [minx, miny]}
            ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
            return {"type": "Polygon", "coordinates": [ring]}
    return {"type": "Point", "coordinates": [0.0, 0.0]}


_GPKG_LAYERS = {  # what: (layer, id column, other columns) of a NextGen hydrofabric 2.x GeoPackage
    "catchments": ("divides", "divide_id", ("toid", "areasqkm")), "nexus": ("nexus", "id", ("toid",))}


def _geopackage_layer(path: Path, what: str) -> tuple[list[dict], dict]:
    """Features of a hydrofabric GeoPackage's `divides` (divide_id, toid, areasqkm) or `nexus` (id, toid)
    layer, rows repeated with the same values read once; the layer's CRS as a GeoJSON `crs` member."""
    table, id_col, columns = _GPKG_LAYERS[what]
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            have = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')]
            lacking = [c for c in (id_col, *columns) if c not in have]
            if lacking:
                raise ConfigError(f"GeoPackage {path}: layer {table!r} has no column(s) {lacking}"
                                  + (f" (it has {have})" if have else " (no such layer)"))
            geometry = db.execute("SELECT g.column_name, s.organization, s.organization_coordsys_id "
                                  "FROM gpkg_geometry_columns g LEFT JOIN gpkg_spatial_ref_sys s "
                                  "ON s.srs_id = g.srs_id WHERE g.table_name = ?", (table,)).fetchone()
            geom_sql = f'"{geometry[0]}"' if geometry else "NULL"
            names = ", ".join(f'"{c}"' for c in (id_col, *columns))
            rows = db.execute(f'SELECT {names}, {geom_sql} FROM "{table}"').fetchall()
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read GeoPackage {path}: {exc}") from None
    features, seen = [], set()
    for fid, *values, blob in rows:
        if (fid, *values) in seen:
            continue
        seen.add((fid, *values))
        features.append({"type": "Feature", "id": fid, "properties": dict(zip(columns, values, strict=True)),
                         "geometry": _envelope_geometry(blob)})
    extra = {}
    if geometry and geometry[1] and geometry[1].upper() != "NONE":
        extra["crs"] = {"type": "name",
                        "properties": {"name": f"urn:ogc:def:crs:{geometry[1].upper()}::{geometry[2]}"}}
    return features, extra


def geojson_text(features: list[dict], extra: Mapping[str, object]) -> str:
    """A FeatureCollection of `features` with the top-level members `extra` (name, crs), as ASCII JSON with
    one feature per line."""
    head = json.dumps({"type": "FeatureCollection", **extra})[:-1]
    return head + ', "features": [\n' + ",\n".join(json.dumps(f) for f in features) + "\n]}\n"


def select_catchments(features: list[dict], ids: Sequence[str] | None, path: str | Path) -> list[dict]:
    """The catchment features whose id is in `ids` (all when None), in the file's order; ids the file does
    not have are refused, all at once."""
    if ids is None:
        return features
    wanted = list(dict.fromkeys(ids))
    have = [_feature_id(f) for f in features]
    unknown = [i for i in wanted if i not in have]
    if unknown:
        raise ConfigError(f"--ids {unknown} are not catchments of {path}; its ids are "
                          f"{_some([str(i) for i in have])}")
    return [f for f, fid in zip(features, have, strict=True) if fid in wanted]


def _feature_id(feature: dict) -> object:
    """A feature's id as ngen reads it: top-level `id`, else properties.id."""
    return feature.get("id", (feature.get("properties") or {}).get("id"))


def _feature_ids(features: list[dict], pattern: re.Pattern, form: str, kind: str,
                 problems: list[str]) -> list[str | None]:
    """Each feature's id (`_feature_id`); bad ones go to `problems`."""
    ids = [_feature_id(feat) for feat in features]
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


def catchment_records(features: list[dict], path: str | Path) -> list[dict]:
    """Catchment features as [{id, areasqkm (km2), toid, properties}], checked.

    Refused (one ConfigError listing every culprit): a feature without an id, ids not of the form `cat-N`
    (ngen skips them), duplicate ids, and a missing, non-numeric, zero or negative `properties.areasqkm`."""
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
    _refuse(f"catchments {path}", problems)
    return out


def read_catchments(path: str | Path) -> list[dict]:
    """The catchments of a GeoJSON or a GeoPackage (`divides`), checked (`catchment_records`):
    [{id, areasqkm (km2), toid, properties}]."""
    return catchment_records(read_layer(path, "catchments")[0], path)


def nexus_ids(features: list[dict], path: str | Path) -> list[str]:
    """The ids of nexus features; features without an id, ids not of the form `nex-N` (or ngen's
    terminal/coastal/inland `tnx-N`, `cnx-N`, `inx-N`) and duplicates are refused, all at once."""
    problems: list[str] = []
    ids = _feature_ids(features, NEXUS_ID, "nex-N", "nexus", problems)
    _refuse(f"nexus {path}", problems)
    return [fid for fid in ids if fid is not None]


def read_nexus_ids(path: str | Path) -> list[str]:
    """The checked nexus ids (`nexus_ids`) of a nexus GeoJSON or a GeoPackage's `nexus` layer."""
    return nexus_ids(read_layer(path, "nexus")[0], path)


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

def _column_units(raw: str) -> tuple[str, str | None]:
    """A forcing header cell as ngen reads it: (name, units of a trailing `[units]` or `(units)` or None)."""
    name = raw.strip()
    open_ = {"]": "[", ")": "("}.get(name[-1:])
    if open_ and open_ in name:
        cut = name.rindex(open_)
        return name[:cut].strip(), name[cut + 1:-1].strip()
    return name, None


def forcing_header(path: str | Path) -> dict[str, str | None]:
    """{column: units or None} of a CsvPerFeature forcing CSV as ngen sees it: the time column left out, a
    trailing `[units]` or `(units)` split off (ngen converts such a column from those units to the BMI's)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read forcing file {path}: {exc}") from exc
    if not header:
        raise ConfigError(f"forcing file {path} has no header row")
    return dict(_column_units(raw) for raw in header if raw.strip() not in TIME_COLUMNS)


def forcing_columns(path: str | Path) -> list[str]:
    """Column names of a CsvPerFeature forcing CSV as ngen sees them (`forcing_header`)."""
    return list(forcing_header(path))


def unconverted_inputs(names_map: Mapping[str, str], forcing_files: Sequence[Path]) -> dict[str, str]:
    """{BMI input: column} of the mapped columns ngen passes to the BMI as they are: no `[units]` in a file's
    header and not one of the AORC names ngen knows the units of (NGEN_KNOWN_COLUMNS). ngen cannot convert
    such a column (it warns 'Unit conversion failure'), so its values must be in the BMI's declared units."""
    headers = {tuple(forcing_header(path).items()) for path in forcing_files}
    return {name: column for name, column in names_map.items() if column not in NGEN_KNOWN_COLUMNS
            and any(dict(header).get(column, "") is None for header in headers)}


def _line_time(path: Path, line: bytes, index: int, which: str) -> datetime:
    cells = next(csv.reader([line.decode("utf-8", "replace")]), [])
    text = cells[index].strip() if index < len(cells) else ""
    try:
        return _naive_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ConfigError(f"forcing file {path}: its {which} time {text!r} is not a time like "
                          "'2015-12-01 00:00:00'") from None


def forcing_period(path: str | Path) -> tuple[datetime, datetime]:
    """The first and last time of a CsvPerFeature CSV, read cheaply: the header and first data line from the
    top, the last line by seeking back from the end. The time column is `time` or `Time`, else the first
    (as ngen reads it)."""
    path = Path(path)
    with path.open("rb") as fh:
        header = next(csv.reader([fh.readline().decode("utf-8", "replace")]), [])
        first = fh.readline().strip()
        if not first:
            raise ConfigError(f"forcing file {path} has no data rows")
        end = fh.seek(0, os.SEEK_END)
        tail, pos = b"", end
        while pos > 0 and b"\n" not in tail.strip():
            step = min(8192, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
    last = tail.strip().rsplit(b"\n", 1)[-1]
    index = next((i for i, cell in enumerate(header) if cell in TIME_COLUMNS), 0)
    return _line_time(path, first, index, "first"), _line_time(path, last, index, "last")


def check_forcing_period(forcing_files: Mapping[str, Path], start: datetime, end: datetime) -> None:
    """Refuse forcing files that do not cover `start`..`end` (a row at both; ngen stops on a file that begins
    after the start, and indexes past the end of a short one), naming each file and its period."""
    problems, short = [], {}
    for path in forcing_files.values():
        try:
            first, last = forcing_period(path)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        if first > start or last < end:
            short.setdefault((first, last), []).append(str(path))
    for (first, last), paths in short.items():
        problems.append(f"{_some(paths)} cover(s) only {first:{TIME_FORMAT}} .. {last:{TIME_FORMAT}}")
    _refuse(f"forcing: the run needs a row at every step from {start:{TIME_FORMAT}} to {end:{TIME_FORMAT}} "
            "(--start .. --end)", problems)


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _time_cells(lines: list[str], index: int) -> list[str]:
    """The time cell of each data line (`index`: the time column), cut cheaply (no full CSV parse)."""
    if index == 0:
        return [line.partition(",")[0].strip(' \t"') for line in lines]
    return [(line.split(",", index + 1)[index:index + 1] or [""])[0].strip(' \t"') for line in lines]


def _forcing_file_problem(path: Path, names_map: Mapping[str, str], start: datetime, end: datetime,
                          nan_policy: str) -> str | None:
    """The first problem of one forcing CSV (`check_forcing_values`), naming its line and column, or None.
    Every time is parsed (~1 s per million lines); the mapped columns only over the run's period."""
    from dmg_bmi import units as U
    from dmg_bmi.core.variables import lookup
    from dmg_bmi.text import read_text

    try:
        lines = read_text(path, "forcing file").rstrip().splitlines()  # trailing blank lines hold no row
    except InputError as exc:
        return str(exc)
    header = next(csv.reader(lines[:1]), [])
    index = next((i for i, cell in enumerate(header) if cell.strip() in TIME_COLUMNS), 0)
    cells = _time_cells(lines[1:], index)
    try:
        times = [_naive_utc(datetime.fromisoformat(text)) for text in cells]
    except ValueError:
        n, text = next((n, t) for n, t in enumerate(cells) if not _is_time(t))
        return f"line {n + 2}: time {text!r} is not a time like '2015-12-01 00:00:00'"
    n = next((n for n in range(1, len(times)) if times[n] <= times[n - 1]), None)
    if n is not None:
        return (f"line {n + 2}: time {cells[n]!r} does not come after the line before's "
                f"({times[n - 1]:{TIME_FORMAT}}): times must increase strictly (a duplicated row?)")
    first, stop = bisect.bisect_left(times, start), bisect.bisect_right(times, end)
    rows = list(csv.reader(lines[1 + first:1 + stop]))
    columns = [_column_units(cell) for cell in header]
    declared, positions = dict(columns), {name: i for i, (name, _) in enumerate(columns)}
    for name, column in names_map.items():
        var, j = lookup(name), positions[column]
        cells = [row[j] if j < len(row) else "" for row in rows]
        try:
            values = np.array([float(cell) for cell in cells], dtype=np.float64)
        except ValueError:
            k = next(k for k, cell in enumerate(cells) if not cell.strip() or isinstance(_cell(cell), str))
            return f"line {first + k + 2}, column {column!r}: {cells[k]!r} is not a number"
        units = declared.get(column)
        if units and U.convertible(units, var.units):  # ngen converts it; otherwise it passes it as is
            values = U.convert(values, units, var.units, column)
        lo, hi = var.valid_range
        ok = (lo <= values) & (values <= hi)
        if nan_policy == "hold_last":
            ok |= np.isnan(values)  # the BMI holds the last valid values
        if not ok.all():
            k = int(np.flatnonzero(~ok)[0])
            where = f"line {first + k + 2} ({times[first + k]:{TIME_FORMAT}}), column {column!r}"
            if np.isnan(values[k]):
                return f"{where}: {cells[k].strip()!r} is NaN (--nan-policy hold_last holds the last value)"
            read = f"{values[k]:g} {var.units}" + (f" (from {cells[k].strip()} {units})" if units else "")
            hint = "" if units else (f"; its header gives no units, so it is read in {var.units} (else "
                                     f"declare them there, as '{column} [units]')")
            return f"{where}: {read} is outside {name}'s valid range {lo:g}..{hi:g} {var.units}{hint}"
    return None


def check_forcing_values(forcing_files: Mapping[str, Path], names_map: Mapping[str, str], start: datetime,
                         end: datetime, nan_policy: str = "error") -> None:
    """Refuse forcing CSVs the BMI would stop on, naming each file's first bad line and column: a time that
    is not one or does not increase strictly (a duplicated row), and over `start`..`end` a mapped column
    (`names_map`, {BMI input: column}) whose cell is not a number, NaN (unless `nan_policy` 'hold_last'),
    infinite or outside the input's `Variable.valid_range` after the header's `[units]` (converted as ngen
    does; a column without units must be in the BMI's units)."""
    problems = [f"{path}: {problem}" for path in forcing_files.values()
                if (problem := _forcing_file_problem(Path(path), names_map, start, end, nan_policy))]
    shown = problems[:_SHOWN] + ([f"... ({len(problems)} files in all)"] if len(problems) > _SHOWN else [])
    _refuse("forcing values", shown)


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


# --------------------------------------------------------------------------- hot-start states

def check_initial_states(states: Mapping[str, Path], folder: str | Path, checkpoint: Path, time_step: int,
                         start: datetime) -> None:
    """Refuse the `<id>.state` files (`dmg_bmi.core.payload`) a BMI of `checkpoint` stepping `time_step` s
    from `start` would refuse at initialize, all culprits of a kind at once: an unreadable file, a state
    written by another checkpoint (its header's fingerprint is not the one this BMI computes), a state of
    another time step, and a state whose time is not `start` (a hot start continues from the state's time)."""
    from dmg_bmi.ngen.needs import load_handler

    fingerprint = load_handler(checkpoint).fingerprint
    unreadable, other_model, other_step, other_time = [], [], [], {}
    for cid, path in states.items():
        try:
            header, _ = payload.decode(path.read_bytes())
            if header.get("format") != payload.STATE_FORMAT:
                raise InputError(f"format {header.get('format')!r} is not {payload.STATE_FORMAT!r}")
            if "time" not in header:
                raise InputError("the state does not record its time (written by an older dmg_bmi)")
            time = payload.parse_utc(header["time"], "time")
        except (OSError, InputError) as exc:
            unreadable.append(f"{path} ({exc})")
            continue
        if header.get("fingerprint") != fingerprint:
            other_model.append(cid)
        if header.get("time_step") != float(time_step):
            other_step.append(f"{cid}: {header.get('time_step')} s")
        if time != start:
            other_time.setdefault(time, []).append(cid)
    problems = [f"unreadable state file(s): {'; '.join(unreadable)}"] if unreadable else []
    if other_model:
        problems.append(f"the state(s) of {_some(other_model)} were written by another checkpoint than "
                        f"{checkpoint}")
    if other_step:
        problems.append(f"state(s) of another time step than this run's {time_step} s: "
                        f"{', '.join(other_step)}")
    for time, ids in other_time.items():
        problems.append(f"the state(s) of {_some(ids)} are at {time:{TIME_FORMAT}}, not at the run's start "
                        f"{start:{TIME_FORMAT}} (a hot start continues from the state's time): use --start "
                        f"'{time:{TIME_FORMAT}}'")
    _refuse(f"initial states {folder}", problems)


# --------------------------------------------------------------------------- BMI configs

def bmi_config_dict(catchment_id: str, values: Mapping[str, float], checkpoint: str, start: str, end: str,
                    time_step: int = 3600, device: str = "cpu", nan_policy: str = "error",
                    initial_state: str | None = None, final_state: str | None = None) -> dict:
    """The YAML mapping of one catchment (see bmi_configs/README.md): `values` holds area_km2 (km2),
    latitude (degrees north; the key is left out without it: a checkpoint taking PET as a forcing does not
    read it) and the checkpoint's attributes (training units); `initial_state` / `final_state` are
    state-file paths relative to the YAML, with `{id}` replaced by the catchment id."""
    attrs = {k: float(v) for k, v in values.items() if k not in ("area_km2", "latitude")}
    site = {"area_km2": float(values["area_km2"])}
    if "latitude" in values:
        site["latitude"] = float(values["latitude"])
    return {
        "checkpoint": checkpoint, "catchment_id": catchment_id, **site, "attributes": attrs,
        "start_time": start, "end_time": end, "time_step": time_step, "device": device, "backend": "auto",
        "initial_state": initial_state.format(id=catchment_id) if initial_state else None,
        "final_state": final_state.format(id=catchment_id) if final_state else None,
        "nan_policy": nan_policy,
    }


def write_yaml(path: Path, data: dict) -> None:
    """Write `data` as YAML, atomically (`dump_yaml`: read back as written; non-ASCII characters escaped, as
    ngen's embedded Python reads ASCII)."""
    write_text(path, dump_yaml(data))


def check_config_values(attributes: Mapping[str, Mapping[str, float]], with_latitude: bool = True,
                        checkpoint: Path | None = None, source: str | Path | None = None) -> None:
    """Refuse ids that cannot be file names, areas (km2) that are missing, non-numeric, zero or negative,
    latitudes outside -90..90 degrees north (or missing, when `with_latitude`), and, with `checkpoint`, the
    attributes its BMI refuses at initialize (`dmg_bmi.attributes.attribute_problems`: impossible values,
    network attributes far outside its training data), naming `source` (the table), the catchment and the
    attribute; every culprit of a kind in one ConfigError."""
    bad_ids = [cid for cid in attributes
               if not cid or cid in (".", "..") or any(ch in cid for ch in "/\\\0")]
    bad_area = [f"{cid}: {v.get('area_km2')!r}" for cid, v in attributes.items()
                if (_number(v.get("area_km2")) or 0.0) <= 0]
    bad_lat = [f"{cid}: {v.get('latitude')!r}" for cid, v in attributes.items()
               if (with_latitude or "latitude" in v)
               and (_number(v.get("latitude")) is None or abs(v["latitude"]) > 90)]
    problems = []
    if bad_ids:
        problems.append(f"id(s) {bad_ids} cannot name a config file")
    if bad_area:
        problems.append(f"area_km2 must be a positive number of km2: {', '.join(bad_area)}")
    if bad_lat:
        problems.append(f"latitude must be a number in -90..90 degrees north: {', '.join(bad_lat)}")
    if checkpoint is not None:
        from dmg_bmi.attributes import attribute_problems
        from dmg_bmi.core.checkpoint import load_checkpoint

        ckpt = load_checkpoint(checkpoint)
        refused = [f"{cid}: {'; '.join(found)}" for cid, values in attributes.items()
                   if (found := attribute_problems({k: v for k, v in values.items()
                                                    if k not in ("area_km2", "latitude")}, [ckpt]))]
        if refused:
            where = source or "the attributes"
            problems.append(f"attributes the BMI would refuse at initialize, in {where}: "
                            + " | ".join(refused[:_SHOWN])
                            + (f" | ... ({len(refused)} catchments in all)" if len(refused) > _SHOWN else ""))
    _refuse("BMI configs", problems)


def write_bmi_configs(out_dir: Path, attributes: Mapping[str, Mapping[str, float]], checkpoint: Path,
                      start: str, end: str, source: str | Path | None = None, **options) -> list[Path]:
    """One `<id>.yml` per catchment in `out_dir`, the checkpoint referenced relative to it, `start`/`end`
    written as 'YYYY-MM-DD HH:MM:SS' (`run_period`); the values (from `source`, e.g. the attributes table)
    are checked first (`check_config_values`; latitude only where the checkpoint reads it,
    `reads_latitude`), so nothing is written for bad input."""
    from dmg_bmi.ngen.needs import reads_latitude

    start, end = _period_text(start, end)
    check_config_values(attributes, reads_latitude(checkpoint), checkpoint, source)
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
    """A `bmi_python` formulation running dmg_bmi (its params: `realization_config.BmiModule`)."""
    given: dict = {"init_config": init_config, "main_output_variable": main_output,
                   "allow_exceed_end_time": allow_exceed}
    if names_map:
        given["variables_names_map"] = dict(names_map)
    if output_variables:
        given["output_variables"] = list(output_variables)
    return {"name": "bmi_python", "params": module_params(**given)}


def realization_dict(style: str, init_config: str, forcing_path: str, start: str, end: str,
                     time_step: int = 3600, main_output: str = MAIN_OUTPUT,
                     output_variables: list[str] | None = None,
                     variables_names_map: Mapping[str, str] | None = None) -> dict:
    """A realization: `style` 'bmi_python' (plain) or 'bmi_multi' (NGIAB style, allow_exceed_end_time).

    `start`/`end` are written as 'YYYY-MM-DD HH:MM:SS' (`run_period`: ngen reads no other form).
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
    start, end = _period_text(start, end)
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


def _is_ngen_output(name: str) -> bool:
    """Whether `name` is an output file ngen writes into its working folder: `<catchment>.csv` or
    `<nexus>_output.csv`."""
    if name.endswith("_output.csv"):
        return NEXUS_ID.fullmatch(name.removesuffix("_output.csv")) is not None
    return name.endswith(".csv") and CATCHMENT_ID.fullmatch(name.removesuffix(".csv")) is not None


def check_no_outputs(out_dir: Path) -> None:
    """Refuse a run folder that holds the outputs of an earlier ngen run, so they never mix with a new run's
    (ngen overwrites only the files of the features it runs)."""
    if not out_dir.is_dir():
        return
    old = sorted(p.name for p in out_dir.iterdir() if _is_ngen_output(p.name) and p.is_file())
    if old:
        raise ConfigError(f"run folder {out_dir} holds the outputs of an earlier ngen run "
                          f"({_some(old)}): delete them or choose another --out")


def write_run_folder(out_dir: str | Path, catchments_geojson: str | Path, forcing_dir: str | Path,
                     checkpoint: str | Path, start: str, end: str, needed: list[str],
                     table: Mapping[str, Mapping[str, float | str]] | None = None,
                     latitude: float | None = None, nexus_geojson: str | Path | None = None,
                     style: str = "bmi_python", time_step: int = 3600, device: str = "cpu",
                     nan_policy: str = "error", attributes_source: str | Path | None = None,
                     initial_states: str | Path | None = None, save_final_states: bool = False,
                     ids: Sequence[str] | None = None) -> Path:
    """Write a self-contained run folder ngen runs as `ngen catchments.geojson all nexus.geojson all
    realization.json` (see the module docstring for its layout).

    `catchments_geojson`: a catchments GeoJSON or a hydrofabric GeoPackage (`divides`; its `nexus` layer
    is the nexus file unless `nexus_geojson`, a GeoJSON or GeoPackage, is given); `ids`: run only these
    catchments (the nexus file keeps the nexuses they drain to). `start`/`end`: the first and last step
    (`run_period`); every catchment's forcing CSV must cover them. `needed`: the checkpoint's attribute names;
    `table`: attributes per id (`read_attributes_table`), else the GeoJSON properties; `latitude` (degrees
    north) for every catchment. The realization maps the BMI inputs the checkpoint reads to the forcing files'
    columns (`variables_names_map`). `initial_states`: a folder of `<id>.state` files (e.g. a previous run's
    `states/final/`), checked (`check_initial_states`: `start` must be the time they were saved at), copied
    to `states/initial/` and used as each catchment's `initial_state` (a hot start); `save_final_states`:
    each BMI writes its end state to `states/final/<id>.state` when ngen finalizes it. A folder holding an
    earlier run's outputs is refused. All inputs are checked before anything is written."""
    from dmg_bmi.ngen.needs import needed_inputs, reads_latitude

    out = Path(out_dir)
    catchments_path, forcing_dir, checkpoint = Path(catchments_geojson), Path(forcing_dir), Path(checkpoint)
    check_no_outputs(out)
    first, last = run_period(start, end)
    if not forcing_dir.is_dir():
        if forcing_dir.exists():
            raise ConfigError(f"{forcing_dir} is a file: --forcing must be a folder of <id>.csv files (this "
                              "ngen reads CSV per catchment)")
        raise ConfigError(f"--forcing folder not found: {forcing_dir}")
    features, extra = read_layer(catchments_path, "catchments")
    features = select_catchments(features, ids, catchments_path)
    catchments = catchment_records(features, catchments_path)
    nexus_path = Path(nexus_geojson) if nexus_geojson is not None else (
        catchments_path if _is_geopackage(catchments_path) else None)
    nexus = None
    if nexus_path is None:
        check_network(catchments)
    else:
        nexus = read_layer(nexus_path, "nexus")
        if ids is not None:  # only the nexuses the catchments run drain to
            fed = {c["toid"] for c in catchments}
            nexus = [f for f in nexus[0] if _feature_id(f) in fed], nexus[1]
        check_network(catchments, nexus_ids(nexus[0], nexus_path), nexus_path)
    forcing = {c["id"]: forcing_dir / f"{c['id']}.csv" for c in catchments}
    missing = [cid for cid, path in forcing.items() if not path.is_file()]
    if missing:
        raise ConfigError(f"forcing folder {forcing_dir} has no CSV for catchment(s) {missing}")
    check_forcing_period(forcing, first, last)
    with_latitude = reads_latitude(checkpoint)
    attrs = catchment_attributes(catchments, needed, table, latitude, attributes_source, with_latitude)
    states = {}
    if initial_states is not None:
        states = {cid: Path(initial_states) / f"{cid}.state" for cid in forcing}
        absent = [cid for cid, path in states.items() if not path.is_file()]
        if absent:
            raise ConfigError(f"initial states folder {initial_states} has no <id>.state for catchment(s) "
                              f"{absent}")
        check_initial_states(states, initial_states, checkpoint, time_step, first)
    names_map = variables_names_map(needed_inputs(checkpoint), forcing)
    check_forcing_values(forcing, names_map, first, last, nan_policy)
    source = attributes_source or f"the properties of {catchments_path}"
    check_config_values(attrs, with_latitude, checkpoint, source)  # after the inputs: which model it is
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
    write_bmi_configs(out / "config", attrs, model, start, end, source, time_step=time_step, device=device,
                      nan_policy=nan_policy, initial_state="../states/initial/{id}.state" if states else None,
                      final_state="../states/final/{id}.state" if save_final_states else None)
    write_text(out / "catchments.geojson", geojson_text(features, extra))
    if nexus is not None:
        write_text(out / "nexus.geojson", geojson_text(*nexus))
    write_text(out / "realization.json", json.dumps(real, indent=2) + "\n")
    write_attribute_table(out / "attributes.csv", attrs, needed)
    return out
