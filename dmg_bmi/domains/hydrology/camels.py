"""Reader for the standard CAMELS-US directory layout, and a converter to the package's NetCDF dataset.

Layout (Newman et al. 2015; Addor et al. 2017), HUC-02 sub-folders optional:

    <camels_dir>/basin_mean_forcing/<source>/[<huc>/]<gauge_id>_lump_<tag>_forcing_leap.txt
    <camels_dir>/usgs_streamflow/[<huc>/]<gauge_id>_streamflow_qc.txt
    <camels_dir>/camels_attributes_v2.0/camels_<table>.txt      (';'-separated, one row per gauge)

`source` is the forcing folder name: `nldas`, `daymet` (files tagged `cida`), `maurer`, ... .
The forcing header gives latitude (line 1), elevation m (line 2) and area m2 (line 3); line 4 names the
columns with their units, converted to `FORCING_UNITS` (`dmg_bmi.units`; CAMELS' `C` is degC). `SRAD(W/m2)`
is the mean over the daylight period; it is converted to the 24-h mean (x dayl / 86400), which is what
`srad` means everywhere in this package. Streamflow ft3 s-1 is converted to mm d-1 with the header area
(the choice neuralhydrology makes); -999 means missing (NaN).
Note: the CAMELS NLDAS and Maurer files have tmax == tmin; use pet_method 'hamon' or 'priestley_taylor'.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dmg_bmi import units
from dmg_bmi.data.dataset import NAMES_KEY, HydroDataset, to_day
from dmg_bmi.data.variables import dataset_variables, units_of
from dmg_bmi.errors import InputError
from dmg_bmi.forcing import as_derivation, cfs_to_mm_per_day
from dmg_bmi.text import read_text

ATTRIBUTE_TABLES = ("topo", "clim", "hydro", "soil", "vege", "geol")
# Daily variables stored in the dataset besides P, T, PET; units and ranges: `dmg_bmi.data.variables`.
DAILY_NAMES = ("prcp", "tmax", "tmin", "tmean", "srad", "vp", "dayl", "swe")


@dataclass
class CamelsForcing:
    """One basin's forcing file: header values and daily series (`DAILY_NAMES`, in the table's units)."""

    basin: str
    lat: float
    elevation_m: float
    area_km2: float
    dates: np.ndarray
    data: dict[str, np.ndarray]


def _find_one(folder: Path, pattern: str, what: str) -> Path:
    hits = sorted(folder.rglob(pattern)) if folder.is_dir() else []
    if not hits:
        raise InputError(f"{what}: no file matching {pattern!r} under {folder}")
    return hits[0]


def list_basins(camels_dir: str | Path, source: str = "nldas") -> list[str]:
    """Gauge ids that have a forcing file for `source`, sorted."""
    folder = Path(camels_dir) / "basin_mean_forcing" / source
    if not folder.is_dir():
        raise InputError(f"CAMELS forcing folder not found: {folder}")
    return sorted(p.name.split("_")[0] for p in folder.rglob("*_forcing_leap.txt"))


FORCING_COLUMNS = ("year", "mnth", "day", "hr", "dayl", "prcp", "srad", "swe", "tmax", "tmin", "vp")
# Units the reader works in (UDUNITS-2); a header's `name(units)` is converted from its own units.
FORCING_UNITS = {"dayl": "s", "prcp": "mm d-1", "srad": "W m-2", "swe": "mm", "tmax": "degC", "tmin": "degC",
                 "vp": "Pa"}
_HEADER_UNITS = {"C": "degC"}  # CAMELS writes Tmax(C): degrees Celsius, not coulomb
MISSING_FLOW = -999.0  # the CAMELS / USGS code of a missing streamflow day (flag M)


def read_forcing(camels_dir: str | Path, basin: str, source: str = "nldas") -> CamelsForcing:
    """Read `<basin>_lump_*_forcing_leap.txt` of forcing `source`; srad converted to the 24-h mean.

    Text that is not UTF-8, a field that is not a finite number and an impossible date raise InputError
    naming the file, the line and the column."""
    path = _find_one(Path(camels_dir) / "basin_mean_forcing" / source, f"{basin}_lump_*_forcing_leap.txt",
                     f"forcing of basin {basin!r} ({source})")
    lines = read_text(path, "CAMELS forcing file").splitlines()
    if len(lines) < 4:
        raise InputError(f"{path}: not a CAMELS forcing file (fewer than 4 header lines)")
    lat, elev, area_m2 = (_number(lines[i].strip(), path, i + 1, what)
                          for i, what in enumerate(("latitude", "elevation", "area")))
    cols = [c.lower().split("(")[0] for c in lines[3].split()]
    if cols != list(FORCING_COLUMNS):
        raise InputError(f"{path}: unexpected columns {lines[3].split()} (line 4)")
    table, line_no, _ = _table(path, lines, 4, FORCING_COLUMNS)
    for j, header in enumerate(lines[3].split()):
        if cols[j] in FORCING_UNITS:
            table[:, j] = _to_table_units(table[:, j], header, FORCING_UNITS[cols[j]], path)
    dates = _dates(path, line_no, table[:, 0], table[:, 1], table[:, 2])
    if dates.size > 1 and np.any(np.diff(dates).astype(np.int64) != 1):
        i = int(np.argmax(np.diff(dates).astype(np.int64) != 1))
        raise InputError(f"{path} line {line_no[i + 1]}: the dates are not contiguous days ({dates[i]} is "
                         f"followed by {dates[i + 1]})")
    c = {name: table[:, i] for i, name in enumerate(cols)}
    data = {"prcp": c["prcp"], "tmax": c["tmax"], "tmin": c["tmin"], "tmean": 0.5 * (c["tmax"] + c["tmin"]),
            "srad": c["srad"] * c["dayl"] / 86400.0, "vp": c["vp"], "dayl": c["dayl"], "swe": c["swe"]}
    return CamelsForcing(basin, lat, elev, area_m2 / 1e6, dates, data)


def _to_table_units(values: np.ndarray, header: str, to_units: str, path: Path) -> np.ndarray:
    """A forcing column in the units of its header `name(units)` converted to `to_units`; a header without
    units, or units that do not convert, raise InputError naming the file and the column."""
    name, _, rest = header.partition("(")
    if not rest.endswith(")") or not rest[:-1].strip():
        raise InputError(f"{path} line 4, column {header!r}: no units; write {name}(units), e.g. "
                         f"{name}({to_units})")
    given = _HEADER_UNITS.get(rest[:-1].strip(), rest[:-1].strip())
    return units.convert(values, given, to_units, f"{path} line 4, column {header!r}")


def _number(text: str, path: Path, line: int, column: str) -> float:
    """`text` as a finite float, else InputError naming the file, the line and the column."""
    try:
        value = float(text)
    except ValueError:
        value = np.nan
    if not np.isfinite(value):
        raise InputError(f"{path} line {line}, column {column!r}: {text!r} is not a finite number")
    return value


def _table(path: Path, lines: list[str], first: int, names: tuple[str, ...],
           skip: int = 0) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """`(values [rows, len(names)], line numbers [rows], split rows)` of the non-blank `lines[first:]`,
    whitespace-separated, the numbers after `skip` leading fields; a short row or a field that is not a
    finite number raises InputError naming the file, the line and the column."""
    values, line_no, rows = [], [], []
    for n, text in enumerate(lines[first:], start=first + 1):
        fields = text.split()
        if not fields:
            continue
        if len(fields) < skip + len(names):
            raise InputError(f"{path} line {n}: {len(fields)} fields, expected at least {skip + len(names)}")
        values.append([_number(v, path, n, name) for v, name in zip(fields[skip:], names, strict=False)])
        line_no.append(n)
        rows.append(fields)
    return np.array(values, dtype=np.float64).reshape(-1, len(names)), np.array(line_no, dtype=np.int64), rows


def _dates(path: Path, line_no: np.ndarray, year, month, day) -> np.ndarray:
    """datetime64[D] of the year, month, day columns; a date that does not exist (month 13, day 32,
    30 February, a fraction) raises InputError naming the file, the line and the date."""
    y, m, d = (np.asarray(a, dtype=np.float64) for a in (year, month, day))
    months = ((y - 1970) * 12 + (m - 1)).astype(np.int64).astype("datetime64[M]")
    dates = months.astype("datetime64[D]") + (d.astype(np.int64) - 1)
    ok = ((y == np.round(y)) & (m == np.round(m)) & (d == np.round(d)) & (m >= 1) & (m <= 12) & (d >= 1)
          & (y >= 1) & (y <= 9999) & (dates.astype("datetime64[M]") == months))
    if not ok.all():
        i = int(np.argmin(ok))
        raise InputError(f"{path} line {line_no[i]}: year {y[i]:g}, month {m[i]:g}, day {d[i]:g} is not a "
                         "date")
    return dates


def read_streamflow(camels_dir: str | Path, basin: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(dates, q_cfs, flags)` from `usgs_streamflow/**/<basin>_streamflow_qc.txt`; -999 (flag M) -> NaN.

    Any other negative flow, a field that is not a number, an impossible date, dates out of order or a row
    of another gauge id raise InputError naming the file, the line and the value."""
    path = _find_one(Path(camels_dir) / "usgs_streamflow", f"{basin}_streamflow_qc.txt",
                     f"streamflow of basin {basin!r}")
    lines = read_text(path, "CAMELS streamflow file").splitlines()
    table, line_no, rows = _table(path, lines, 0, ("year", "month", "day", "q_cfs"), skip=1)
    wrong = [i for i, r in enumerate(rows) if r[0] != basin]
    if wrong:
        raise InputError(f"{path} line {line_no[wrong[0]]}: gauge id {rows[wrong[0]][0]!r} is not basin "
                         f"{basin!r} ({len(wrong)} such row(s)); the file holds another gauge's flow")
    dates = _dates(path, line_no, table[:, 0], table[:, 1], table[:, 2])
    if dates.size > 1 and np.any(np.diff(dates).astype(np.int64) < 1):
        i = int(np.argmax(np.diff(dates).astype(np.int64) < 1)) + 1
        raise InputError(f"{path} line {line_no[i]}: date {dates[i]} does not follow {dates[i - 1]} (the "
                         "dates must increase)")
    q = table[:, 3]
    bad = (q < 0) & (q != MISSING_FLOW)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{path} line {line_no[i]}: streamflow {q[i]:g} ft3 s-1 on {dates[i]} is negative; "
                         f"only {MISSING_FLOW:g} (missing) may be")
    flags = np.array([r[5] if len(r) > 5 else "" for r in rows], dtype=object)
    return dates, np.where(q == MISSING_FLOW, np.nan, q), flags


def read_attributes(camels_dir: str | Path, basins: list[str],
                    tables: tuple[str, ...] = ATTRIBUTE_TABLES) -> dict[str, np.ndarray]:
    """Numeric attributes `name -> [B]` (in the order of `basins`) from
    `camels_attributes_v2.0/camels_<table>.txt`; an empty or `NA` field is missing (NaN).

    Every basin of `basins` needs a row in every table: a basin without one raises InputError naming the
    basin(s) and the table file (its attributes are never filled in). Text columns (no value is a number,
    e.g. `dom_land_cover`) are skipped; in a numeric column (a number somewhere, or a name in the dataset
    variables table) a value that is not a number, nor empty or `NA` (missing), raises InputError naming the
    file, the line, the column and the value. Units are in `dmg_bmi.data.variables`. A basin with two rows
    in a table raises InputError naming the id and lines.
    """
    folder = Path(camels_dir) / "camels_attributes_v2.0"
    out: dict[str, np.ndarray] = {}
    known = dataset_variables()
    for table in tables:
        path = folder / f"camels_{table}.txt"
        if not path.is_file():
            raise InputError(f"CAMELS attribute table not found: {path}")
        lines = [(n, ln.split(";")) for n, ln in
                 enumerate(read_text(path, "CAMELS attribute table").splitlines(), start=1) if ln.strip()]
        if not lines:
            raise InputError(f"{path}: empty CAMELS attribute table (no header line)")
        header, rows = lines[0][1], {}
        for n, r in lines[1:]:
            b = r[0].strip()
            if b in rows:
                raise InputError(f"{path}: basin {b!r} has two rows (lines {rows[b][0]} and {n}); keep one")
            rows[b] = (n, r)
        absent = [b for b in basins if b not in rows]
        if absent:
            raise InputError(f"{path}: no row for basin(s) {absent[:5]}"
                             f"{f' and {len(absent) - 5} more' if len(absent) > 5 else ''}; every basin read "
                             "needs one in each attribute table: add the row (NA where a value is unknown), "
                             "or leave the basin out (data.basins, or --basins of evaluate/simulate)")
        for j, name in enumerate(header[1:], start=1):
            name = name.strip()
            column = {b: (n, r[j].strip() if j < len(r) else "") for b, (n, r) in rows.items()}
            numbers = {b: _attribute_number(v) for b, (_, v) in column.items()}
            if name not in known and all(numbers[b] is None or column[b][1] in ("", "NA")
                                                     for b in numbers):
                continue  # a text column
            for b, x in numbers.items():
                if x is None:
                    n, v = column[b]
                    raise InputError(f"{path} line {n}, column {name!r} (basin {b!r}): {v!r} is not a number "
                                     "(write an empty field or NA where the value is missing)")
            out[name] = np.array([numbers[b] for b in basins])
    return out


def read_gauge_names(camels_dir: str | Path, basins: list[str]) -> dict[str, str]:
    """Station names `{id: gauge_name}` of `basins` from `camels_attributes_v2.0/camels_name.txt`
    (';'-separated, columns gauge_id and gauge_name); {} without the file. A file without those columns
    raises InputError naming it."""
    path = Path(camels_dir) / "camels_attributes_v2.0" / "camels_name.txt"
    if not path.is_file():
        return {}
    lines = [ln.split(";") for ln in read_text(path, "CAMELS name table").splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0]] if lines else []
    if "gauge_id" not in header or "gauge_name" not in header:
        raise InputError(f"{path}: expected the columns gauge_id and gauge_name, got {header}")
    i, j = header.index("gauge_id"), header.index("gauge_name")
    wanted = set(basins)
    return {r[i].strip(): r[j].strip() for r in lines[1:] if len(r) > max(i, j) and r[i].strip() in wanted}


def _attribute_number(text: str) -> float | None:
    """A CAMELS attribute field as a float: NaN for empty or `NA` (missing); None if it is not a number."""
    if text in ("", "NA"):
        return np.nan
    try:
        return float(text)
    except ValueError:
        return None


def read_camels(camels_dir: str | Path, basins: list[str] | None = None, start: Any = None, end: Any = None,
                pet_method: Any = "hamon", source: str = "nldas") -> HydroDataset:
    """A HydroDataset from a CAMELS-US tree: daily forcings, P/T/PET, `streamflow` (mm d-1), attributes.

    `basins=None` takes every basin with a `source` forcing file; `start`/`end` (YYYY-MM-DD, inclusive)
    default to the span common to all basins' forcing; a period outside a basin's forcing raises InputError
    naming the dates. `pet_method` is a method name or an `InputDerivation` (or its dict).
    Static attributes: every numeric CAMELS attribute (a basin without a row in one of the six tables
    raises InputError naming the basin and the table, `read_attributes`), plus `lat` (gauge_lat), `lon`
    (gauge_lon), `area_km2` (forcing-header area, used for the flow conversion) and `elevation_m`
    (elev_mean). Without an attribute folder, `lat`/`elevation_m` come from the forcing header and `lon`
    is NaN (with a warning).
    """
    spec = as_derivation(pet_method)
    basins = list_basins(camels_dir, source) if basins is None else [str(b) for b in basins]
    if not basins:
        raise InputError(f"no basins found under {camels_dir} for forcing source {source!r}")
    forcings = [read_forcing(camels_dir, b, source) for b in basins]
    s = to_day(start, "start") if start is not None else max(f.dates[0] for f in forcings)
    e = to_day(end, "end") if end is not None else min(f.dates[-1] for f in forcings)
    if e < s:
        raise InputError(f"period {s}..{e} is empty")
    dates = np.arange(s, e + 1, dtype="datetime64[D]")
    for f in forcings:
        if s < f.dates[0] or e > f.dates[-1]:
            raise InputError(f"period {s}..{e} is outside the forcing of basin {f.basin} "
                             f"({f.dates[0]}..{f.dates[-1]})")
    i0 = [int((s - f.dates[0]).astype(np.int64)) for f in forcings]
    daily = {k: np.stack([f.data[k][i:i + dates.size] for f, i in zip(forcings, i0, strict=True)])
             for k in DAILY_NAMES}
    area = np.array([f.area_km2 for f in forcings])
    flow = np.full((len(basins), dates.size), np.nan)
    for bi, b in enumerate(basins):
        qd, q, _ = read_streamflow(camels_dir, b)
        pos = (qd - s).astype(np.int64)
        ok = (pos >= 0) & (pos < dates.size)
        flow[bi, pos[ok]] = cfs_to_mm_per_day(q[ok], area[bi])

    attr_dir = Path(camels_dir) / "camels_attributes_v2.0"
    if attr_dir.is_dir():
        static = read_attributes(camels_dir, basins)
    else:
        warnings.warn(f"no CAMELS attribute folder {attr_dir}: lat/elevation from forcing headers, lon NaN",
                      stacklevel=2)
        static = {}
    header_lat = np.array([f.lat for f in forcings])
    header_elev = np.array([f.elevation_m for f in forcings])
    static["lat"] = _prefer(static.get("gauge_lat"), header_lat)
    static["lon"] = static.get("gauge_lon", np.full(len(basins), np.nan))
    static["area_km2"] = area
    static["elevation_m"] = _prefer(static.get("elev_mean"), header_elev)
    units = {k: units_of(k, "unknown") for k in (*static, *DAILY_NAMES, "streamflow")}
    meta = {"title": "CAMELS-US basins", "source": f"CAMELS-US {source} forcing, USGS streamflow, "
            "CAMELS v2.0 attributes (Newman et al. 2015; Addor et al. 2017)",
            "input_derivation": json.dumps(spec.to_dict())}
    names = read_gauge_names(camels_dir, basins) if attr_dir.is_dir() else {}
    if names:
        meta[NAMES_KEY] = json.dumps(names)
    # the files' values are checked before P, T and PET are derived from them
    where = f"CAMELS-US {camels_dir} ({source} forcing)"
    raw = HydroDataset(basins, dates, {**daily, "streamflow": flow}, static, units, targets=("streamflow",),
                       metadata=meta, origin=where).conform(where)
    model = spec.model_inputs({**raw.dynamic, "elevation_m": raw.static["elevation_m"][:, None]},
                              raw.static["lat"][:, None], raw.doy[None, :])
    dynamic = {**{k: np.asarray(v) for k, v in model.items()}, **raw.dynamic}
    raw.units.update({k: units_of(k, "unknown") for k in model})
    return HydroDataset(basins, dates, dynamic, raw.static, raw.units, targets=("streamflow",), metadata=meta,
                        origin=where)


def read_camels_folders(folders: list[str | Path], basins: list[str] | None = None, pet_method: Any = "hamon",
                        source: str = "nldas") -> HydroDataset:
    """`read_camels` of several CAMELS-US trees (`data.path` as a list), merged by basin id into one dataset.

    One folder is `read_camels` itself. Of several, each reads the ids of `basins` it has a `source` forcing
    file for (all its own with `basins=None`; a folder with none of them is not read); an id of `basins` in
    no folder raises InputError naming it and the folders, and an id two folders have (of those read)
    raises InputError naming it and both folders. Days: like one folder's read, the span common to every
    basin's forcing (each folder's `read_camels` span, cut to their overlap; none raises InputError naming
    the folders and their spans), so that several folders give what one folder holding them all would.
    The merge's other rules (variables, units): `dmg_bmi.data.merge`.
    """
    if len(folders) == 1:
        return read_camels(folders[0], basins=basins, pet_method=pet_method, source=source)
    from dmg_bmi.data.merge import merge_datasets

    held = {str(f): list_basins(f, source) for f in folders}
    where: dict[str, str] = {}
    wanted = None if basins is None else {str(b) for b in basins}
    for folder, ids in held.items():
        if not ids and basins is None:
            raise InputError(f"no basins found under {folder} for forcing source {source!r} (a data.path "
                             "entry)")
        for b in ids:
            if wanted is not None and b not in wanted:
                continue
            if b in where:
                raise InputError(f"basin {b!r} is in two data.path entries, {where[b]} and {folder} "
                                 f"({source} forcing): a basin must come from one of them; remove it from "
                                 "one folder")
            where[b] = folder
    if basins is not None:
        missing = [str(b) for b in basins if str(b) not in where]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(f"data.basins: basin(s) {missing[:5]}{more} have no {source} forcing file in "
                             f"any of data.path's {len(folders)} folders ({', '.join(held)})")
    parts, names = [], []
    for folder, ids in held.items():
        mine = ids if basins is None else [b for b in ids if b in wanted]
        if mine:
            parts.append(read_camels(folder, basins=mine, pet_method=pet_method, source=source))
            names.append(folder)
    s, e = max(ds.dates[0] for ds in parts), min(ds.dates[-1] for ds in parts)
    if e < s:
        spans = ", ".join(f"{n} {ds.dates[0]}..{ds.dates[-1]}" for n, ds in zip(names, parts, strict=True))
        raise InputError(f"data.path: the CAMELS folders' forcing spans do not overlap ({spans}); their "
                         "basins share no day")
    return merge_datasets([ds.sel_period(s, e) for ds in parts], names)


def _prefer(values: np.ndarray | None, fallback: np.ndarray) -> np.ndarray:
    """`values` where finite, else `fallback`."""
    return fallback if values is None else np.where(np.isfinite(values), values, fallback)


def camels_to_netcdf(camels_dir: str | Path, basins: list[str] | None, start: Any, end: Any,
                     out_path: str | Path, pet_method: Any = "hamon", source: str = "nldas") -> Path:
    """Convert a CAMELS-US tree to the package's NetCDF dataset (see `read_camels`); returns the path."""
    return read_camels(camels_dir, basins, start, end, pet_method, source).save(out_path)
