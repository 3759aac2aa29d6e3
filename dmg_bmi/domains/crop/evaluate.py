"""`dmg-bmi evaluate` for δWOFOST checkpoints: per-field scores, split summaries, LAI/TWSO plots (with the
twin's noise-free truth, `twin_truth`, where the dataset holds it).

Scores (per field, then per split: `train` fields; `test`: fields of held-out sites, as the checkpoint says):
- yield: the last TWSO observation of the field (kg ha-1) against the simulated TWSO on that day;
  summarized as `yield_rrmse` = RMSE(simulated − observed) / mean(observed) over the split's fields. (A mean
  of per-field relative errors is not used: fields whose crop failed, e.g. maize not maturing at 58 °N, have
  yields near 0 kg ha-1 and would dominate it.)
- `lai_rmse` (m2 m-2) over every LAI observation of the split;
- where the dataset has the twin's truth (`true_factor_<P>` attributes for factor-mode parameters,
  `true_<P>` for absolute ones): `corr_<P>`, the Pearson r of the learned values with the truth, per split
  (splits of 3 fields or more; under 5 fields it warns, `metrics.pearson_r`);
- a model with a learned process, on a twin whose truth has that process (the heat-stress twin,
  `twin.true_process`): `corr_process`, the Pearson r of the learned factor with the true one over every
  crop day of the split (emerged and alive: DVS >= 0), at that day's hook inputs; and a figure of both
  against TMAX (`process_figure`);
- a model with daily parameters, on a twin whose truth has them (`twin.true_daily`): `corr_daily_<P>`, the
  Pearson r of the learned daily values with the true ones over every crop day of the split, and a figure
  of both over the season for held-out fields (`daily_figure`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmg_bmi.atomic import write_csv
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.core.train.metrics import pearson_r
from dmg_bmi.domains.crop.checkpoint import build_crop_model, parameter_sets
from dmg_bmi.domains.crop.dataset import CropDataset
from dmg_bmi.domains.crop.delta import PHYSICS_WEATHER, physics_weather
from dmg_bmi.domains.crop.train import build_crop_tensors, read_crop_dataset
from dmg_bmi.domains.crop.twin import true_daily, true_process
from dmg_bmi.errors import CheckpointError, ConfigError
from dmg_bmi.train.commands._common import checkpoint_path

MODEL = "model"  # `predict`: run the model's own learned process / daily parameters


def predict(model, ckpt, ds: CropDataset, batch_size: int = 64, values: np.ndarray | None = None,
            process=MODEL, daily=MODEL):
    """Outputs `{name: [N, T]}` (with daily parameters also `daily_<name>`, each day's value) and learned
    values `[N, P]` for every field of `ds`. Instead of the model's own: `values [N, P]` (its static learned
    parameters, in its modes), `process` (a function at WOFOST's process hook, or None), `daily`
    ({name: `[T, N]`} daily parameter values, or None): the twin's truth is run so."""
    tensors = build_crop_tensors(ds, ckpt.config, ckpt.normalization, parameter_sets(ckpt))
    outs, learned = [], []
    with torch.no_grad():
        for i0 in range(0, ds.n_fields, batch_size):
            rows = torch.arange(i0, min(i0 + batch_size, ds.n_fields))
            part = tensors.index(rows)
            if values is None:
                v = model.learned_values(part.c_nn)
            else:
                v = torch.as_tensor(values[rows.numpy()], dtype=part.c_nn.dtype)
            if daily is MODEL:
                day_values = model.daily_values(part.x_nn, part.c_nn)
            else:
                day_values = {k: torch.as_tensor(x[:, rows.numpy()], dtype=part.x.dtype)
                              for k, x in (daily or {}).items()}
            out, _ = model.run_physics(part.x, model.crop_params(v, part.base), part.attrs,
                                       model.process if process is MODEL else process, day_values)
            outs.append({k: o.numpy().T for k, o in out.items()})
            learned.append(v.numpy())
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}, np.concatenate(learned)


def hook_inputs(ds: CropDataset, outputs, hook) -> tuple[np.ndarray, np.ndarray]:
    """The process hook's inputs on every crop day: (`x [K, n_inputs]`, field index `[K]`), the days where
    the crop is alive and emerged (ACTIVE, DVS >= 0); each input is a physics weather channel or an output
    (e.g. TMAX, TMIN, DVS)."""
    weather = physics_weather(ds)  # [T, N, F]
    on = crop_days(outputs)
    cols = [outputs[k][on] if k in outputs else weather[..., PHYSICS_WEATHER.index(k)].T[on]
            for k in hook.inputs]
    return np.stack(cols, -1), np.nonzero(on)[0]


def process_recovery(model, ds: CropDataset, outputs, is_test) -> dict[str, float] | None:
    """`corr_process` per split (module docstring), or None without a learned process or a true one."""
    truth = true_process(ds)
    if model.process is None or truth is None:
        return None
    x, rows = hook_inputs(ds, outputs, model.process.hook)
    learned = model.process.curve(x)  # the crop days, as crop_days
    with torch.no_grad():
        true = truth(torch.as_tensor(x)).numpy()
    out = {}
    for split, mask in (("train", ~is_test), ("test", is_test)):
        days = mask[rows]
        if days.sum() >= 3:
            out[split] = pearson_r(learned[days], true[days], f"corr_process of the {split} fields")
    return out


def crop_days(outputs) -> np.ndarray:
    """`[N, T]` True where the crop is alive and emerged (ACTIVE, DVS >= 0): the days a factor acts."""
    return (outputs["ACTIVE"] > 0.5) & (outputs["DVS"] >= 0.0)


def daily_recovery(model, ds: CropDataset, outputs, is_test) -> dict[str, dict[str, float]] | None:
    """{split: {`corr_daily_<P>`: r}} (module docstring), or None without daily parameters or a true one."""
    truth = true_daily(ds)
    if not model.daily or truth is None:
        return None
    on = crop_days(outputs)
    out: dict[str, dict[str, float]] = {}
    for name in (n for n in model.daily_names if n in truth):
        learned, true = outputs[f"daily_{name}"], truth[name].T  # [N, T]
        for split, mask in (("train", ~is_test), ("test", is_test)):
            days = on & mask[:, None]
            if days.sum() >= 3:
                out.setdefault(split, {})[f"corr_daily_{name}"] = pearson_r(
                    learned[days], true[days], f"corr_daily_{name} of the {split} fields")
    return out


def daily_figure(model, ds: CropDataset, outputs, is_test, fields: list[int]):
    """Each daily parameter over the crop days of `fields` (one panel each): learned (green) and, where the
    dataset has it, the twin's truth (dashed)."""
    from dmg_bmi.train.plots import pyplot

    plt = pyplot()
    truth = true_daily(ds)
    on = crop_days(outputs)
    names = model.daily_names
    fig, axes = plt.subplots(len(fields), len(names), figsize=(5.5 * len(names), 2.4 * len(fields)),
                             layout="constrained", squeeze=False)
    for r, i in enumerate(fields):
        days = np.flatnonzero(on[i])
        for c, name in enumerate(names):
            ax = axes[r, c]
            ax.plot(days, outputs[f"daily_{name}"][i, days], color="tab:green", lw=1.6, label="learned")
            if truth is not None and name in truth:
                ax.plot(days, truth[name][days, i], color="0.3", lw=1.2, ls="--", label="twin truth")
            role = "held-out site" if is_test[i] else "training field"
            ax.set_title(f"{ds.fields[i]} ({role}, {ds.calendars[i].crop_name})", fontsize=9)
            ax.set_ylabel(f"{name} (1)")
            ax.grid(alpha=0.3, lw=0.5)
    for ax in axes[-1]:
        ax.set_xlabel("day of the field's weather axis")
    axes[0, 0].legend(frameon=False)
    return fig


def process_figure(model, ds: CropDataset, outputs, is_test):
    """The learned process factor against the hook's first input (e.g. TMAX) on the held-out crop days
    (dots; all days without held-out sites), and the twin's true curve where the dataset has one (line)."""
    from dmg_bmi.train.plots import pyplot

    plt = pyplot()
    hook = model.process.hook
    x, rows = hook_inputs(ds, outputs, hook)
    days = is_test[rows] if is_test.any() else np.ones(rows.size, dtype=bool)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    ax.plot(x[days, 0], model.process.curve(x[days]), ".", ms=2, alpha=0.3, color="tab:green",
            label="learned (each crop day)")
    truth = true_process(ds)
    if truth is not None:
        grid = np.linspace(x[:, 0].min(), x[:, 0].max(), 200)
        pts = np.tile(np.median(x, 0), (grid.size, 1))
        pts[:, 0] = grid
        with torch.no_grad():
            ax.plot(grid, truth(torch.as_tensor(pts)).numpy(), color="black", lw=1.6, label="twin truth")
    ax.set_xlabel(f"{hook.inputs[0]} ({hook.units[0]})")
    ax.set_ylabel(f"{hook.name} factor (1)")
    ax.set_title(f"learned process {hook.name}: {'held-out sites' if is_test.any() else 'all fields'}")
    ax.grid(alpha=0.3, lw=0.5)
    ax.legend(frameon=False)
    return fig


def field_scores(ds: CropDataset, outputs, learned, names, is_test) -> list[dict]:
    """One row per field (see the module docstring)."""
    lai_obs = ds.observation_array(["LAI"])[..., 0] if "LAI" in ds.obs_names else None
    twso_obs = ds.observation_array(["TWSO"])[..., 0] if "TWSO" in ds.obs_names else None
    rows = []
    for i in range(ds.n_fields):
        row = {"field": ds.fields[i], "site": ds.sites[i], "crop": ds.calendars[i].crop_name,
               "split": "test" if is_test[i] else "train"}
        if twso_obs is not None and np.isfinite(twso_obs[i]).any():
            day = int(np.flatnonzero(np.isfinite(twso_obs[i]))[-1])
            row.update(yield_day=day, yield_obs=twso_obs[i, day], yield_sim=outputs["TWSO"][i, day])
        if lai_obs is not None:
            m = np.isfinite(lai_obs[i])
            row["lai_sq_err"] = float(np.sum((outputs["LAI"][i, m] - lai_obs[i, m]) ** 2))
            row["lai_n"] = int(m.sum())
        row.update({f"learned_{n}": float(learned[i, k]) for k, n in enumerate(names)})
        rows.append(row)
    return rows


def summarize(rows: list[dict], ds: CropDataset, learned, learned_params) -> dict[str, dict]:
    """Per split: n fields, yield RRMSE (%), LAI RMSE, correlations with the twin truth (if present)."""
    out = {}
    for split in ("train", "test"):
        idx = [i for i, r in enumerate(rows) if r["split"] == split]
        if not idx:
            continue
        s: dict = {"fields": len(idx)}
        y = [(rows[i]["yield_sim"], rows[i]["yield_obs"]) for i in idx if "yield_obs" in rows[i]]
        if y:
            sim, obs = np.array(y).T
            s["yield_rrmse_pct"] = 100 * float(np.sqrt(np.mean((sim - obs) ** 2)) / np.mean(obs))
            s["yield_mean_obs"] = float(np.mean(obs))
        n = sum(rows[i].get("lai_n", 0) for i in idx)
        if n:
            s["lai_rmse"] = float(np.sqrt(sum(rows[i]["lai_sq_err"] for i in idx) / n))
        for k, p in enumerate(learned_params):
            truth = f"true_factor_{p.name}" if p.mode == "factor" else f"true_{p.name}"
            if truth in ds.attribute_names and len(idx) >= 3:
                t = ds.attribute_array([truth])[idx, 0]
                s[f"corr_{p.name}"] = pearson_r(learned[idx, k], t, f"corr_{p.name} of the {split} fields")
        out[split] = s
    return out


def twin_truth(ds: CropDataset, learned) -> np.ndarray | None:
    """The twin's true values `[N, P]` of the `learned` parameters (`true_factor_<P>` for factor mode,
    `true_<P>` for absolute), when the dataset varies (has `true_factor_<P>` for) exactly the parameters the
    model learns: WOFOST with them redraws the twin's noise-free truth. None otherwise."""
    varied = {n.removeprefix("true_factor_") for n in ds.attribute_names if n.startswith("true_factor_")}
    names = [f"true_factor_{p.name}" if p.mode == "factor" else f"true_{p.name}" for p in learned]
    if varied != {p.name for p in learned} or not set(names) <= set(ds.attribute_names):
        return None
    return ds.attribute_array(names)


def crop_figure(ds: CropDataset, outputs, i: int, truth=None, role: str = ""):
    """Field `i` of `ds`: LAI (m2 m-2) and TWSO (kg ha-1) over the season, simulated (green line), observed
    (black dots) and, with `truth` (`{name: [T]}`), the twin's noise-free truth (dashed). Returns the
    figure."""
    import matplotlib.dates as mdates

    from dmg_bmi.train.plots import pyplot

    plt = pyplot()
    dates = ds.dates()[i]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    active = outputs["ACTIVE"][i] > 0.5
    last = int(np.flatnonzero(active)[-1]) + 10 if active.any() else ds.n_days
    first = max(0, int(np.argmax(active)) - 10) if active.any() else 0
    days = slice(first, last)
    for ax, name, units in ((axes[0], "LAI", "m2 m-2"), (axes[1], "TWSO", "kg ha-1")):
        ax.plot(dates[days], outputs[name][i, days], color="tab:green", lw=1.8, label="simulated")
        if truth is not None:
            ax.plot(dates[days], truth[name][days], color="0.35", lw=1.2, ls="--", label="twin truth")
        if name in ds.obs_names:
            obs = ds.observation_array([name])[i, days, 0]
            m = np.isfinite(obs)
            ax.plot(dates[days][m], obs[m], "o", color="black", ms=4, label="observed", zorder=3)
        ax.set_ylabel(f"{name} ({units})")
        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.set_xlabel("date")
        ax.grid(alpha=0.3, lw=0.5)
    axes[0].legend(loc="upper left", frameon=False)
    cal = ds.calendars[i]
    fig.suptitle(f"field {ds.fields[i]}{f' ({role})' if role else ''}: {cal.crop_name}, "
                 f"{cal.crop_start_type} {cal.crop_start_date}")
    return fig


def crop_plots(ds: CropDataset, outputs, fields: list[int], out_dir: Path, is_test=None,
               truth: dict[str, np.ndarray] | None = None) -> list[Path]:
    """One PNG per field of `fields` (`crop_figure`); `truth` `{name: [len(fields), T]}`, in the order of
    `fields`, adds the twin's truth."""
    from dmg_bmi.train.plots import pyplot, save_figure

    pyplot(out_dir)
    paths = []
    for k, i in enumerate(fields):
        role = "" if is_test is None else ("held-out site" if is_test[i] else "training field")
        field_truth = None if truth is None else {n: v[k] for n, v in truth.items()}
        fig = crop_figure(ds, outputs, i, field_truth, role)
        paths.append(save_figure(fig, out_dir / f"crop_{ds.fields[i]}.png"))
    return paths


@dataclasses.dataclass
class CropScores:
    """What `score` computed: the model, its outputs `{name: [N, T]}` and learned values `[N, P]`, the
    held-out mask `[N]`, one row per field (`field_scores`) and the split summaries (`summarize`, plus
    `corr_process` and `corr_daily_<P>` where they apply)."""

    model: Any
    outputs: dict[str, np.ndarray]
    learned: np.ndarray
    is_test: np.ndarray
    rows: list[dict]
    summary: dict[str, dict]


def score(ckpt, ds: CropDataset, batch_size: int = 64) -> CropScores:
    """Run a crop checkpoint on every field of `ds` and score it (module docstring); the held-out fields are
    those the checkpoint records (`training.test_fields`)."""
    model = build_crop_model(ckpt, dtype=torch.float64)
    outputs, learned = predict(model, ckpt, ds, batch_size)
    test = set((ckpt.training or {}).get("test_fields") or [])
    is_test = np.array([f in test for f in ds.fields])
    rows = field_scores(ds, outputs, learned, model.learned_names, is_test)
    summary = summarize(rows, ds, learned, model.learned)
    for split, r in (process_recovery(model, ds, outputs, is_test) or {}).items():
        summary[split]["corr_process"] = r
    for split, scores in (daily_recovery(model, ds, outputs, is_test) or {}).items():
        summary[split].update(scores)
    return CropScores(model, outputs, learned, is_test, rows, summary)


def refuse_unused_options(args: argparse.Namespace) -> None:
    """ConfigError naming the `evaluate` options a crop evaluation would ignore: it scores every field of the
    crop dataset over its season (held-out sites as recorded at training), on the CPU."""
    unused = [f"--{name.replace('_', '-')}" for name in ("basins", "start", "end", "output")
              if getattr(args, name, None) is not None]
    if getattr(args, "kind", None) not in (None, "crop"):
        unused.insert(0, "--kind")
    if getattr(args, "device", "cpu") != "cpu":
        unused.append("--device")
    if unused:
        raise ConfigError(f"{', '.join(unused)}: not taken by a δWOFOST checkpoint's evaluation (it scores "
                          "every field of the crop dataset over its season, on the CPU); pass --data for "
                          "another crop dataset")


def run_evaluate(args: argparse.Namespace) -> int:
    """The `evaluate` verb on a crop checkpoint: metrics.csv, summary, PNGs of sample fields; options it would
    not use are refused first (`refuse_unused_options`)."""
    from dmg_bmi.train.plots import plot_or_say, save_figure

    refuse_unused_options(args)
    path = checkpoint_path(args)
    ckpt = load_checkpoint(path)
    training = ckpt.training or {}
    data_path = args.data or (training.get("experiment") or {}).get("data", {}).get("path")
    if data_path is None:
        raise CheckpointError(f"{path}: holds no training config; pass --data")
    ds = read_crop_dataset(data_path, "--data" if args.data else f"data.path of {path}")
    scored = score(ckpt, ds, args.batch_size)
    model, outputs, is_test, rows, summary = (scored.model, scored.outputs, scored.is_test, scored.rows,
                                              scored.summary)
    out = Path(args.out) if args.out else path.resolve().parent / f"evaluate_crop_{Path(data_path).stem}"
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(out / "metrics.csv", rows, list(dict.fromkeys(k for r in rows for k in r)))
    print(f"evaluation of {ds.n_fields} fields ({int(is_test.sum())} of held-out sites)")
    for split, s in summary.items():
        print(f"  {split:5s} " + "  ".join(f"{k} {v:.3g}" for k, v in s.items()))
    print(f"metrics: {csv_path}")
    if not args.no_plots:
        sample = [*np.flatnonzero(is_test)[:3], *np.flatnonzero(~is_test)[:3]]  # held-out first
        true_values = twin_truth(ds, model.learned)

        def draw():
            daily = {k: v[:, sample] for k, v in (true_daily(ds) or {}).items()}
            truth = (None if true_values is None else
                     predict(model, ckpt, ds.subset(sample), args.batch_size, true_values[sample],
                             true_process(ds), daily)[0])
            paths = crop_plots(ds, outputs, sample, out / "plots", is_test, truth)
            if model.process is not None:
                fig = process_figure(model, ds, outputs, is_test)
                paths.append(save_figure(fig, out / "plots" / f"process_{model.process.hook.name}.png"))
            if model.daily:
                fig = daily_figure(model, ds, outputs, is_test, sample[:3])
                paths.append(save_figure(fig, out / "plots" / "daily_parameters.png"))
            return paths

        what = " of LAI and TWSO" + (", with the twin's truth" if true_values is not None else "")
        what += ", and of the learned process" if model.process is not None else ""
        what += ", and of the daily parameters" if model.daily else ""
        plot_or_say("plots", draw, what)
    return 0
