"""Merge the basin datasets of several `data.path` entries into one `HydroDataset`, by basin id.

`merge_datasets(datasets, sources, basins=None)` takes D datasets, each `B_d` basins over its own contiguous
days `T_d` (`dynamic[name] [B_d, T_d]`, `static[name] [B_d]`, float64, already conformed by its reader:
every variable the dataset variables table knows is in the table's units), and `sources` (D names, e.g.
the paths, used in messages). It returns one dataset of `sum(B_d)` basins (the datasets' order, then each
one's own basin order) over the union of their days `T`, `dynamic [B, T]`, `static [B]`, one `units` each.

- basins: with `basins`, each dataset keeps only the ids of `basins` it holds, a dataset holding none of
  them is left out, and an id no dataset holds raises InputError naming it and the sources. Every rule
  below applies to what is kept.
- A basin id in two datasets raises InputError naming the basin and both sources: one basin's series from
  two files cannot be told apart or reconciled, so the user chooses which file keeps it.
- Days: the union, from the earliest first day to the latest last day; the days a dataset does not cover
  are NaN for its basins in every dynamic variable. That is what a hydrologist expects from gauges with
  different records: a NaN target is a day without observation (the losses and the metrics mask it), so a
  basin's extra observed years are used, not cut away. NaN forcings never reach the physics unnoticed: the
  training, evaluation and simulation paths refuse a physics forcing that is NaN inside the period they run
  (`dmg_bmi.core.train.inputs.check_gaps`, naming the basin and the date), so a period that reaches outside
  a basin's own record is refused, not padded; a basin with no day at all in the training period has an
  all-NaN target there and is skipped with a warning naming it (`dmg_bmi.train.data.drop_empty_target_basins`,
  as for one file).
- Variables: one that every dataset holds is kept; one that some dataset lacks is dropped with a warning
  naming it and the sources without it (a model that needs it then names it when it reads the merged
  dataset). A variable that is a target in one dataset and a forcing in another, or per day in one and
  per basin in another, raises InputError naming it and both sources.
- Units: a kept variable must have the same units in every dataset (equal strings, or one UDUNITS-2 unit
  spelled two ways, `dmg_bmi.units.same`); otherwise InputError naming the variable, both units and both
  sources. Only variables the table does not know can differ here: readers convert the others.
- Global attributes (`metadata`): one with the same value in every dataset is kept, the others dropped;
  the station names (`basin_names`) of every dataset are kept.
  Where `input_derivation` differs, the merged dataset records none, so `dmg_bmi.train.data.load_dataset`
  derives P, T and PET again from the raw forcings for every basin, with the model's method.

One dataset (after the `basins` cut) is returned as it is.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence

import numpy as np

from dmg_bmi import units as un
from dmg_bmi.data.dataset import NAMES_KEY, HydroDataset
from dmg_bmi.errors import InputError


def merge_datasets(datasets: Sequence[HydroDataset], sources: Sequence[str],
                   basins: Sequence[str] | None = None) -> HydroDataset:
    """One `HydroDataset` from `datasets` (named `sources` in messages), merged by basin id; `basins` (ids)
    keeps only those. Shapes, units and errors: see the module docstring."""
    if len(datasets) != len(sources) or not datasets:
        raise ValueError(f"merge_datasets: {len(datasets)} datasets and {len(sources)} sources (need >= 1 "
                         "of each, as many)")
    parts = list(zip(datasets, [str(s) for s in sources], strict=True))
    if basins:
        parts = _keep_basins(parts, [str(b) for b in basins])
    if len(parts) == 1:
        return parts[0][0]
    _check_basins(parts)
    dynamic, static = _kept_variables(parts)
    units = _common_units(parts, [*dynamic, *static])
    targets = _targets(parts, dynamic)

    spans = [(ds.dates[0], ds.dates[-1]) for ds, _ in parts if ds.n_time]
    first = min(s for s, _ in spans) if spans else np.datetime64("1970-01-01", "D")
    dates = np.arange(first, max(e for _, e in spans) + 1 if spans else first, dtype="datetime64[D]")
    ids = [b for ds, _ in parts for b in ds.basins]
    out_dynamic = {name: np.full((len(ids), dates.size), np.nan) for name in dynamic}
    out_static = {name: np.full(len(ids), np.nan) for name in static}
    row = 0
    for ds, _ in parts:
        rows = slice(row, row + ds.n_basins)
        if ds.n_time:
            t0 = int((ds.dates[0] - first).astype(np.int64))
            for name in dynamic:
                out_dynamic[name][rows, t0:t0 + ds.n_time] = ds.dynamic[name]
        for name in static:
            out_static[name][rows] = ds.static[name]
        row += ds.n_basins
    return HydroDataset(ids, dates, out_dynamic, out_static, units, targets=targets,
                        metadata=_common_metadata(parts),
                        origin=" + ".join(ds.origin for ds, _ in parts))


def _keep_basins(parts, basins: list[str]):
    """Each dataset cut to the ids of `basins` it holds (its own order), those holding none left out; an id
    that none holds raises InputError naming it and the sources."""
    wanted, held, kept = set(basins), set(), []
    for ds, source in parts:
        mine = [b for b in ds.basins if b in wanted]
        held.update(mine)
        if mine:
            kept.append((ds.sel_basins(mine), source))
    missing = [b for b in basins if b not in held]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputError(f"data.basins: basin(s) {missing[:5]}{more} are in none of data.path's {len(parts)} "
                         f"entries ({', '.join(s for _, s in parts)})")
    return kept


def _check_basins(parts) -> None:
    """A basin id in two datasets: InputError naming the basin and both sources."""
    seen: dict[str, str] = {}
    for ds, source in parts:
        for b in ds.basins:
            if b in seen:
                raise InputError(f"basin {b!r} is in two data.path entries, {seen[b]} and {source}: a basin "
                                 "must come from one of them; remove it from one file (or folder)")
            seen[b] = source


def _kept_variables(parts) -> tuple[list[str], list[str]]:
    """The dynamic and static variables every dataset holds (the first dataset's order); those some lack are
    dropped with a warning naming them and the sources without them; one per day in a dataset and per basin
    in another raises InputError."""
    for name in {n for ds, _ in parts for n in ds.dynamic}:
        per_day = [s for ds, s in parts if name in ds.dynamic]
        per_basin = [s for ds, s in parts if name in ds.static]
        if per_day and per_basin:
            raise InputError(f"variable {name!r} is per day (basin, time) in {per_day[0]} but per basin "
                             f"(basin) in {per_basin[0]}; one variable must have one shape in every "
                             "data.path entry")
    kept = []
    for kind in ("dynamic", "static"):
        names = list(dict.fromkeys(n for ds, _ in parts for n in getattr(ds, kind)))
        keep = [n for n in names if all(n in getattr(ds, kind) for ds, _ in parts)]
        for name in names:
            if name not in keep:
                lacking = [s for ds, s in parts if name not in getattr(ds, kind)]
                warnings.warn(f"data.path: variable {name!r} is dropped from the merged data: it is not in "
                              f"{', '.join(lacking)} (only the variables every entry holds are kept)",
                              stacklevel=3)
        kept.append(keep)
    return kept[0], kept[1]


def _common_units(parts, names: list[str]) -> dict[str, str]:
    """{name: units} (the first dataset's spelling); units that differ between two datasets raise
    InputError naming the variable, both units and both sources."""
    units = {}
    first, where = parts[0][0], parts[0][1]
    for name in names:
        units[name] = first.units[name]
        for ds, source in parts[1:]:
            if not un.same(ds.units[name], units[name]):
                raise InputError(f"variable {name!r} has units {units[name]!r} in {where} but "
                                 f"{ds.units[name]!r} in {source}; one variable needs one unit in every "
                                 "data.path entry: convert one file")
    return units


def _targets(parts, dynamic: list[str]) -> tuple[str, ...]:
    """The kept dynamic variables that are targets; a target in one dataset and a forcing in another raises
    InputError naming it and both sources."""
    targets = []
    for name in dynamic:
        roles = [(source, name in ds.targets) for ds, source in parts]
        if len({is_target for _, is_target in roles}) > 1:
            target = next(s for s, is_target in roles if is_target)
            forcing = next(s for s, is_target in roles if not is_target)
            raise InputError(f"variable {name!r} is a target in {target} but a forcing in {forcing}; its "
                             "role must be the same in every data.path entry")
        if roles[0][1]:
            targets.append(name)
    return tuple(targets)


def _common_metadata(parts) -> dict[str, str]:
    """The global attributes with one value in every dataset, and the station names of all of them."""
    first = parts[0][0].metadata
    common = {k: v for k, v in first.items() if all(ds.metadata.get(k) == v for ds, _ in parts[1:])}
    names = {b: n for ds, _ in parts for b, n in ds.names.items()}
    common.pop(NAMES_KEY, None)
    if names:
        common[NAMES_KEY] = json.dumps(names)
    return common
