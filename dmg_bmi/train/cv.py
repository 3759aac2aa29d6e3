"""Spatial k-fold cross-validation over basins (prediction in ungauged basins), the core's `dmg-bmi cv`
(`DeltaModelDomain.cross_validate`).

The basins of `data.path` (`data.basins`, else all) are split into k folds (seeded, or given in a file). Fold
i trains on the other folds' basins over `data.train` (choosing `best.pt` on the config's validation period,
if any), then its `best.pt` runs over `data.test` on every basin: those of fold i are its out-of-fold test
basins, the others its training basins in later years. Nothing of the test period or the test basins is used
for any choice.

    <out>/
        folds.csv                 basin, fold (written first; a rerun with the same --out reuses it)
        fold_<i>/                 fold i's run folder (`dmg-bmi train`'s), plus
            test_metrics.csv      every basin over data.test: role train or held-out
            test_simulation.nc    every output of every basin over data.test
            valid_metrics.csv     the same scores over data.valid, when the config has one
        fold_<i>.log              fold i's console lines, when folds run in parallel (--jobs)
        cv_metrics.csv            the pooled out-of-fold scores: one row per basin, with its fold
        cv_summary.txt            the pooled table with medians, and per fold the held-out and train medians
                                  over data.test and, with data.valid, over data.valid (the scores to
                                  compare configurations on: the test period is never used for that)
        cv_simulation.nc          the pooled out-of-fold simulation (every output, basin x day)
        skill_cdf.png, skill_map.png, hydrographs/   figures of the pooled out-of-fold run; the CDF also has
                                  each basin's median score from the folds that trained on it

A fold whose scores exist (`test_metrics.csv`, and `valid_metrics.csv` with `data.valid`) is done and is
not trained again; a fold folder with a `last.pt` is
resumed from it, so a stopped cross-validation continues where it stopped.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from dmg_bmi.atomic import write_text
from dmg_bmi.core.train.metrics import finite_median
from dmg_bmi.errors import ConfigError, InputError
from dmg_bmi.text import read_text
from dmg_bmi.train.config import ExperimentConfig, experiment_to_dict, load_experiment

FOLDS_NAME = "folds.csv"
FOLD_METRICS = "test_metrics.csv"
VALID_METRICS = "valid_metrics.csv"
SIMULATION_NAME = "test_simulation.nc"


@dataclass
class CvOptions:
    """`dmg-bmi cv`'s choices: `folds` (k), `seed` of the split, or `folds_file` (basin, fold) instead,
    `jobs` folds trained at once (processes), `out` folder, and `plots`."""

    folds: int | None
    seed: int
    folds_file: Path | None
    jobs: int
    out: Path
    plots: bool = True


def assign_folds(basins: list[str], k: int, seed: int) -> dict[str, int]:
    """{basin: fold in 0..k-1}: a seeded shuffle cut into k folds whose sizes differ by at most one
    (`numpy.array_split`). ConfigError when k is not in 2..len(basins)."""
    if not 2 <= k <= len(basins):
        raise ConfigError(f"--folds: {k} folds of {len(basins)} basins; give 2..{len(basins)} (k = the "
                          "number of basins leaves one basin out per fold)")
    order = np.random.default_rng(seed).permutation(len(basins))
    return {basins[j]: fold for fold, part in enumerate(np.array_split(order, k)) for j in part}


def read_folds(path: Path, basins: list[str]) -> dict[str, int]:
    """{basin: fold} from a CSV with columns `basin, fold` (folds numbered 0..k-1, each used); every basin
    of `basins` must have one row and no other basin may appear (InputError naming the file, the line and
    the basin)."""
    text = read_text(path, "folds file")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"basin", "fold"} <= set(rows[0]):
        raise InputError(f"folds file {path}: needs the columns basin, fold (one row per basin)")
    folds: dict[str, int] = {}
    for line, row in enumerate(rows, 2):
        basin = str(row["basin"]).strip()
        try:
            fold = int(row["fold"])
        except (TypeError, ValueError):
            raise InputError(f"folds file {path} line {line}: fold {row['fold']!r} of basin {basin!r} is not "
                             "a whole number") from None
        if basin in folds:
            raise InputError(f"folds file {path} line {line}: basin {basin!r} is listed twice")
        folds[basin] = fold
    unknown = sorted(set(folds) - set(basins))
    missing = [b for b in basins if b not in folds]
    if unknown or missing:
        raise InputError(f"folds file {path}: basins not in the data: {unknown}; basins of the data "
                         f"without a fold: {missing}")
    used = sorted(set(folds.values()))
    if used != list(range(len(used))) or len(used) < 2:
        raise InputError(f"folds file {path}: folds {used} must be 0..k-1 with k >= 2, each with a basin")
    return folds


def write_folds(path: Path, folds: dict[str, int]) -> None:
    """The folds as `basin, fold` CSV (atomic)."""
    write_text(path, "basin,fold\n" + "".join(f"{b},{f}\n" for b, f in folds.items()))


def fold_config(cfg: ExperimentConfig, train_basins: list[str], folder: Path) -> ExperimentConfig:
    """`cfg` training on `train_basins` only, into the run folder `folder`."""
    raw = experiment_to_dict(cfg)
    raw["data"]["basins"] = list(train_basins)
    raw["run"]["exact_dir"] = str(folder)
    return load_experiment(data=raw)


def run_cv(cfg: ExperimentConfig, opts: CvOptions, domain) -> int:
    """Cross-validate `cfg` (module docstring) with the basins read by `domain`; prints the pooled summary.
    Returns 0."""
    from dmg_bmi.core.train.rundir import check_output_folder
    from dmg_bmi.forcing import InputDerivation
    from dmg_bmi.train.data import load_dataset

    if cfg.data.valid_basins:
        raise ConfigError("data.valid_basins: cross-validation picks the test basins of each fold; use a "
                          "validation period (data.valid) for model selection inside the folds")
    if cfg.data.test is None:
        raise ConfigError("missing required key 'data.test': the folds' held-out basins are scored over it")
    check_output_folder(opts.out, "--out")
    ds = load_dataset(cfg.data, InputDerivation(pet_method=cfg.model.inputs.pet_method), domain)
    basins = [str(b) for b in ds.basins]
    folds_path = opts.out / FOLDS_NAME
    if folds_path.is_file():
        folds = read_folds(folds_path, basins)
        given = _given_folds(opts, basins)
        if given is not None and given != folds:
            raise ConfigError(f"--out {opts.out}: holds the folds of an earlier cross-validation "
                              f"({folds_path}) that differ from these; choose another --out")
        print(f"continuing the cross-validation in {opts.out} ({folds_path})", flush=True)
    else:
        folds = _given_folds(opts, basins)
        opts.out.mkdir(parents=True, exist_ok=True)
        write_folds(folds_path, folds)
    k = max(folds.values()) + 1
    print(f"{k}-fold spatial cross-validation of {len(basins)} basins: "
          + "; ".join(f"fold {i}: {', '.join(b for b in basins if folds[b] == i)}" for i in range(k)),
          flush=True)
    jobs = [(cfg, folds, i, opts.out) for i in range(k)]
    if opts.jobs > 1:
        print(f"{min(opts.jobs, k)} folds at a time; each writes its lines to {opts.out}/fold_<i>.log",
              flush=True)
        with ProcessPoolExecutor(max_workers=opts.jobs, mp_context=get_context("spawn")) as pool:
            for done in as_completed([pool.submit(_fold_job, job) for job in jobs]):
                print(done.result(), flush=True)
    else:
        for job in jobs:
            print(_fold_job(job), flush=True)
    summarize(cfg, ds, folds, opts)
    return 0


def _given_folds(opts: CvOptions, basins: list[str]) -> dict[str, int] | None:
    if opts.folds_file is not None:
        return read_folds(opts.folds_file, basins)
    if opts.folds is None:
        return None
    return assign_folds(basins, opts.folds, opts.seed)


def _fold_job(job) -> str:
    """Train fold `i` (or resume it) and score it (`score_fold`); returns the line that says so. In a worker
    process (`--jobs` > 1) its console lines go to `<out>/fold_<i>.log`."""
    cfg, folds, i, out = job
    folder = out / f"fold_{i}"
    if (folder / FOLD_METRICS).is_file() and (cfg.data.valid is None or (folder / VALID_METRICS).is_file()):
        return f"fold {i}: done earlier ({folder / FOLD_METRICS})"
    import multiprocessing

    if multiprocessing.parent_process() is None:
        _train_fold(cfg, folds, i, folder, cfg.run.progress)
    else:
        with open(out / f"fold_{i}.log", "a", encoding="utf-8") as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            _train_fold(cfg, folds, i, folder, False)
    return f"fold {i}: done ({folder}, {dt.datetime.now():%H:%M:%S})"


def _train_fold(cfg: ExperimentConfig, folds: dict[str, int], i: int, folder: Path, progress: bool) -> None:
    from dmg_bmi.train.run import train

    train_basins = [b for b, f in folds.items() if f != i]
    fcfg = fold_config(cfg, train_basins, folder)
    fcfg.run.progress = progress
    last = folder / "last.pt"
    print(f"fold {i}: training on {len(train_basins)} basins in {folder} ({dt.datetime.now():%H:%M:%S}"
          f"{', resumed from last.pt' if last.is_file() else ''})", flush=True)
    result = train(fcfg, resume=last if last.is_file() else None)
    score_fold(cfg, result.best, folder)


def score_fold(cfg: ExperimentConfig, best: Path, folder: Path) -> None:
    """Every basin of `cfg`'s data over `data.test` run with a fold's `best.pt`: `test_simulation.nc` (every
    output) and `test_metrics.csv` (role train for the fold's training basins, held-out for the others;
    written last, it marks the fold done); with `data.valid`, the same scores over it first
    (`valid_metrics.csv`)."""
    from dmg_bmi.core.checkpoint import load_checkpoint
    from dmg_bmi.domains import domain_of_experiment
    from dmg_bmi.forcing import derivation_from_record
    from dmg_bmi.train.commands._common import basin_roles
    from dmg_bmi.train.data import load_dataset
    from dmg_bmi.train.evaluate import predict, score, write_metrics_csv
    from dmg_bmi.train.simulate import output_units, write_netcdf

    ckpt = load_checkpoint(best)
    model = ckpt.build_model()
    ds = load_dataset(cfg.data, derivation_from_record(ckpt.derivations), domain_of_experiment(cfg))
    roles = basin_roles(ckpt)
    if cfg.data.valid is not None:
        pred = predict(model, ckpt.normalization, ds, cfg.data.valid, target=cfg.data.target,
                       batch_size=cfg.run.eval_batch_size, what="data.valid")
        write_metrics_csv(score(pred, cfg.train.output, roles), folder / VALID_METRICS)
    pred = predict(model, ckpt.normalization, ds, cfg.data.test, target=cfg.data.target,
                   batch_size=cfg.run.eval_batch_size, what="data.test")
    write_netcdf(pred, folder / SIMULATION_NAME, {n: output_units(model, n) for n in pred.outputs})
    write_metrics_csv(score(pred, cfg.train.output, roles), folder / FOLD_METRICS)


def summarize(cfg: ExperimentConfig, ds, folds: dict[str, int], opts: CvOptions) -> None:
    """Pool the folds' held-out basins (`cv_metrics.csv`, `cv_summary.txt`, `cv_simulation.nc`, figures) and
    print the summary."""
    from dmg_bmi.train.evaluate import Prediction, score, summary_table, write_figures, write_metrics_csv
    from dmg_bmi.train.simulate import read_netcdf, write_netcdf

    k = max(folds.values()) + 1
    basins = list(folds)
    parts = {i: read_netcdf(opts.out / f"fold_{i}" / SIMULATION_NAME) for i in range(k)}
    first = parts[0][0]
    outputs = {name: np.stack([parts[folds[b]][0].outputs[name][parts[folds[b]][0].basins.index(b)]
                               for b in basins]) for name in first.outputs}
    test = ds.sel_basins(basins).sel_period(first.dates[0], first.dates[-1])
    pooled = Prediction(basins=basins, dates=first.dates, outputs=outputs,
                        observed=test.target(cfg.data.target), final_state=[])
    rows = [{**r, "fold": folds[r["basin"]]} for r in score(pooled, cfg.train.output, {})]
    write_netcdf(pooled, opts.out / "cv_simulation.nc", parts[0][1])
    write_metrics_csv(rows, opts.out / "cv_metrics.csv", extra=("fold",))
    text = (f"{k}-fold spatial cross-validation, out-of-fold test over {first.dates[0]}..{first.dates[-1]}\n"
            f"{summary_table(rows)}\n\nover data.test:\n{_fold_lines(opts.out, k, FOLD_METRICS)}")
    if cfg.data.valid is not None:
        text += ("\n\nover data.valid (compare configurations on these held-out scores, never on the test "
                 f"period's):\n{_fold_lines(opts.out, k, VALID_METRICS)}")
    write_text(opts.out / "cv_summary.txt", text + "\n")
    print(text, flush=True)
    print(f"cross-validation: {opts.out}", flush=True)
    if opts.plots:
        write_figures(pooled, rows, ds, cfg.train.output, opts.out,
                      f"{k}-fold CV, held-out basins out of fold", compare=trained_scores(opts.out, k))


def trained_scores(out: Path, k: int) -> list[dict]:
    """One row per basin with role "train (median of the k-1 folds)": its median NSE and KGE over data.test
    from the folds that trained on it (their `test_metrics.csv`), to set beside its out-of-fold score."""
    scores: dict[str, dict[str, list[float]]] = {}
    for i in range(k):
        text = read_text(out / f"fold_{i}" / FOLD_METRICS, "fold metrics")
        for r in csv.DictReader(io.StringIO(text)):
            if r["role"] == "train":
                mine = scores.setdefault(r["basin"], {"nse": [], "kge": []})
                for m in mine:
                    mine[m].append(float(r[m]))
    role = f"train (median of {k - 1} folds)"
    return [{"basin": b, "role": role, **{m: finite_median(v) for m, v in ms.items()}}
            for b, ms in scores.items()]


def _fold_lines(out: Path, k: int, name: str) -> str:
    """Per fold and pooled over the folds (`all`): the median NSE and KGE of the held-out basins and of the
    training basins (file `name` of each fold; the gap is what a basin never seen costs)."""
    lines = ["fold  held-out: n  median NSE  median KGE | train basins: n  median NSE  median KGE"]
    pooled: dict[str, list[dict]] = {"held-out": [], "train": []}
    for i in [*range(k), None]:
        if i is None:
            rows, label = pooled["held-out"] + pooled["train"], "all"
        else:
            rows = list(csv.DictReader(io.StringIO(read_text(out / f"fold_{i}" / name, "fold metrics"))))
            label = f"{i:>4d}"
        cells = []
        for role in ("held-out", "train"):
            mine = [r for r in rows if r["role"] == role]
            if i is not None:
                pooled[role] += mine
            nse, kge = (finite_median([float(r[m]) for r in mine]) for m in ("nse", "kge"))
            cells.append(f"{len(mine):>3d}  {nse:>10.3f}  {kge:>10.3f}")
        lines.append(f"{label:>4}  {cells[0]:>34} | {cells[1]:>38}")
    return "\n".join(lines)
