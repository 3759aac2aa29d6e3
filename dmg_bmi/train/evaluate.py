"""Run a trained model over a whole period and score it per basin.

`predict` runs basins in blocks over `[start - warmup, end]` (the warm-up taken from the data before the
period where it exists) and returns every model output for the period's days; days the warm-up could not
cover are NaN. `score` gives the per-basin metrics table (nse, kge, corr = Pearson r, and the percentages
bias_pct, fhv_pct, flv_pct; `metrics.LEGEND`); `run_evaluate` is the core's `dmg-bmi evaluate`
(`DeltaModelDomain.evaluate`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dmg_bmi.atomic import write_csv
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.core.train.inputs import build_tensors
from dmg_bmi.core.train.metrics import LEGEND, METRICS, compute_all, finite_median
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.train.config import Period
from dmg_bmi.train.data import with_warmup


@dataclass
class Prediction:
    """Model outputs over a period: `outputs {name: [basin, time]}` (model units, e.g. mm/d), `dates [time]`,
    the observed target `[basin, time]` when the data has it, and the final model state of each block."""

    basins: list[str]
    dates: np.ndarray
    outputs: dict[str, np.ndarray]
    observed: np.ndarray | None
    final_state: list[dict]


def _to_numpy(state):
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: _to_numpy(v) for k, v in state.items()}
    if isinstance(state, (tuple, list)):
        return [_to_numpy(v) for v in state]
    return state


def _rows(state, rows: slice):
    if isinstance(state, torch.Tensor):
        return state[rows]
    if isinstance(state, dict):
        return {k: _rows(v, rows) for k, v in state.items()}
    return type(state)(_rows(v, rows) for v in state)


@contextmanager
def _no_warmup(model: DeltaModel):
    """Run the model with `phy.warmup = 0` (a hot start has no spin-up), restoring it afterwards."""
    cfgs = {id(c): c for c in (model.cfg.phy, model.phy.cfg)}.values()
    saved = [c.warmup for c in cfgs]
    try:
        for c in cfgs:
            c.warmup = 0
        yield
    finally:
        for c, w in zip(cfgs, saved, strict=True):
            c.warmup = w


@torch.no_grad()
def predict(
    model: DeltaModel,
    normalizer: Normalizer,
    ds: HydroDataset,
    period: Period,
    target: str | None = None,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    what: str = "period",
    initial_state: dict | None = None,
) -> Prediction:
    """All model outputs for `period` for every basin of `ds` (P/T/PET already derived).

    `initial_state` (batched, basins in `ds` order, e.g. from `state_files.load_states`): a hot start at
    `period.start`, run without warm-up."""
    cfg = model.cfg
    warmup = cfg.phy.warmup if initial_state is None else 0
    sub, lead = with_warmup(ds, period, warmup, what)
    phy = model.phy
    target = target if target is not None and target in sub.target_names else None
    tensors = build_tensors(sub, cfg, normalizer, phy.forcing_names, phy.attribute_names, target=target,
                            device=device)
    model.eval()

    def run(rows: slice):
        block = tensors.basins(rows)
        if initial_state is None:
            return model(block.x_nn, block.c_nn, block.x_phy, block.attrs_phy)
        with _no_warmup(model):
            return model(block.x_nn, block.c_nn, block.x_phy, block.attrs_phy, _rows(initial_state, rows))

    return collect(run, sub, lead, period, target, batch_size, what)


def collect(run, sub: HydroDataset, lead: int, period: Period, target: str | None,
            batch_size: int, what: str = "period") -> Prediction:
    """The `Prediction` of `period` from `run(rows)` -> `(outputs {name: [T - warmup, b]}, state)`, called
    on blocks of `batch_size` basin rows of `sub` (the period's days and `lead` warm-up days before them,
    `with_warmup`); days the warm-up could not cover are NaN. `what` labels the progress bar."""
    n_days = period.days
    outputs: dict[str, list[np.ndarray]] = {}
    states = []
    blocks = range(0, sub.n_basins, batch_size)  # a bar on a terminal (tqdm's disable=None)
    for b0 in tqdm(blocks, desc=what, unit="block", leave=False, disable=None if len(blocks) > 1 else True):
        rows = slice(b0, b0 + batch_size)
        out, state = run(rows)
        states.append(_to_numpy(state))
        for name, value in out.items():
            v = value.detach().cpu().double().numpy().T  # [B, T - warmup]
            pad = np.full((v.shape[0], n_days), np.nan)
            keep = min(v.shape[1], n_days)
            pad[:, n_days - keep:] = v[:, v.shape[1] - keep:]
            outputs.setdefault(name, []).append(pad)
    observed = sub.target(target)[:, lead:] if target else None
    return Prediction(
        basins=[str(b) for b in sub.basins], dates=sub.dates[lead:],
        outputs={k: np.concatenate(v, axis=0) for k, v in outputs.items()},
        observed=observed, final_state=states,
    )


ROLES = ("train", "validation", "held-out", "not recorded")


def role(basin: str, roles: dict[str, str] | None) -> str:
    """A basin's role for the checkpoint: `train` (it trained on it), `validation` (it chose its best epoch
    on it), `held-out` (neither), or `not recorded` when the checkpoint lists no training basins (`roles`
    None; else `basin_roles` of the checkpoint)."""
    if roles is None:
        return ROLES[3]
    return roles.get(basin, ROLES[2])


def score(pred: Prediction, output: str = "streamflow", roles: dict[str, str] | None = None) -> list[dict]:
    """One row per basin: basin id, its role (`role`, from `roles`: the checkpoint's `basin_roles`), number
    of observed days and every metric in `METRICS`."""
    if pred.observed is None:
        raise ValueError("the prediction has no observations to score")
    rows = []
    for i, basin in enumerate(pred.basins):
        obs = pred.observed[i]
        sim = pred.outputs[output][i]
        rows.append({"basin": basin, "role": role(basin, roles), "n_obs": int(np.isfinite(obs).sum()),
                     **compute_all(sim, obs)})
    return rows


def write_metrics_csv(rows: list[dict], path: Path, extra: tuple[str, ...] = ()) -> Path:
    """The per-basin metrics table as CSV (atomic write); `extra` columns of the rows (e.g. a CV row's
    `fold`) go after `basin`."""
    return write_csv(path, ({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
                            for row in rows), ["basin", *extra, "role", "n_obs", *METRICS])


def summary_table(rows: list[dict]) -> str:
    """A fixed-width text table: one line per basin, the median over basins, and the legend of the columns
    (names and units, `metrics.LEGEND`)."""
    head = f"{'basin':<12} {'role':<12} {'n_obs':>6} " + " ".join(f"{m:>8}" for m in METRICS)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['basin']:<12} {r['role']:<12} {r['n_obs']:>6d} "
                     + " ".join(f"{r[m]:>8.3f}" for m in METRICS))
    med = {m: finite_median([r[m] for r in rows]) for m in METRICS}
    lines.append("-" * len(head))
    lines.append(f"{'median':<12} {'':<12} {'':>6} " + " ".join(f"{med[m]:>8.3f}" for m in METRICS))
    lines.append(LEGEND)
    return "\n".join(lines)


PRECIP = "P"  # the dataset's precipitation forcing (mm d-1), drawn over the hydrographs


def site_info(ds: HydroDataset, basins) -> dict[str, dict]:
    """What a hydrograph's title says of each basin: `{id: {"name": station name or None, "area_km2"}}`."""
    names = ds.names
    area = dict(zip(ds.basins, ds.static.get("area_km2", np.full(ds.n_basins, np.nan)), strict=True))
    return {b: {"name": names.get(b), "area_km2": area.get(b, np.nan)} for b in basins}


def write_figures(pred: Prediction, rows: list[dict], ds: HydroDataset, output: str, out: Path,
                  name: str, compare: list[dict] = ()) -> None:
    """The skill across basins (`skill_cdf.png`, `skill_map.png` from the `lat`/`lon` of `ds`) in `out` and
    the hydrograph PNGs of `pred` (output `output`; `rows` of `score`) in `out/hydrographs`, with the
    precipitation of `ds` (the dataset `pred` ran on) when it has `PRECIP` and each basin's area; without
    matplotlib, says how to get them. `name` (the dataset's) heads the skill figures; `compare` rows are
    more CDF lines (`plots.skill_figures`)."""
    from dmg_bmi.train.plots import hydrographs, plot_or_say, skill_figures

    title = f"{name}, {pred.dates[0]}..{pred.dates[-1]}"
    coords = {str(b): (lon, lat) for b, lon, lat in zip(ds.basins, ds.static["lon"], ds.static["lat"],
                                                         strict=True)}
    plot_or_say("skill across basins", lambda: skill_figures(rows, out, coords, title, compare))

    def draw():
        days = ds.sel_basins(pred.basins).sel_period(pred.dates[0], pred.dates[-1])
        sites = site_info(days, pred.basins)
        precip = days.dynamic.get(PRECIP)
        return hydrographs(pred.dates, pred.basins, pred.outputs[output], pred.observed, out / "hydrographs",
                           rows, precip=precip, sites=sites,
                           precip_units=days.units.get(PRECIP, "").replace(" d-1", "/d"))

    plot_or_say("hydrographs", draw)


def run_evaluate(args, domain) -> int:
    """`dmg-bmi evaluate` on a delta-model checkpoint of `domain` (`args` of `dmg_bmi.train.commands
    .evaluate`): metrics.csv, the summary table and hydrographs."""
    from dmg_bmi.core.train.rundir import check_output_folder
    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train.commands._common import load, remove_killed_temps

    job = load(args, domain)
    outputs = job.model.output_names
    output = args.output or job.output
    if output not in outputs:
        raise ConfigError(f"--output: {output!r} is not an output of the checkpoint's physics "
                          f"{job.model.cfg.phy.name!r}; valid: {', '.join(outputs)}")
    if output != job.output:
        raise ConfigError(f"--output: {output!r} is not what the observed target {job.target!r} measures: "
                          f"the checkpoint was trained with train.output {job.output!r} against it; evaluate "
                          "scores that output only (`dmg-bmi simulate` writes every output)")
    # the default folder names the dataset and the period: another dataset over the same days gets its own
    out = (Path(args.out) if args.out
           else job.run_dir / f"evaluate_{job.data_name}_{job.period.start}_{job.period.end}")
    check_output_folder(out, "--out")
    remove_killed_temps(out)
    pred = predict(job.model, job.normalizer, job.dataset, job.period, target=job.target,
                   batch_size=args.batch_size, device=job.device, what="evaluation period")
    rows = score(pred, output, job.roles)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_metrics_csv(rows, out / "metrics.csv")
    print(f"evaluation {job.period.start}..{job.period.end}, {len(rows)} basins")
    print(summary_table(rows))
    print(f"metrics: {csv_path}")
    if not args.no_plots:
        write_figures(pred, rows, job.dataset, output, out, job.data_name)
    return 0
