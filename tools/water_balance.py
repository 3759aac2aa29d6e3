"""Water balance of a hydrology checkpoint per basin over a period, as the BMI accounts it, with an output
correction (`model.correction`) and a multimodel's reweighting (`hbv_multimodel`) as their own terms; a figure
of the correction, or of the multimodel's weights, over time.

    python tools/water_balance.py --run-dir RUN [--data PATH] [--basins ID ...] [--start D --end D]
                                  [--plot FILE.png] [--plot-basins ID ID]

Each basin is stepped day by day by the domain's BMI handler (`HydrologyHandler.advance`, the step the BMI
calls; numpy backend) on the dataset's daily inputs: `model.phy.warmup` days of spin-up before the period,
then the period. Per basin (mm over the period): precipitation P, evapotranspiration AET, runoff Q (after any
correction), the correction C (what the network added to Q; < 0: removed), the reweighting R (the storage
change a multimodel's changing weights made), the other leak L (water the physics' floors and exchange
removed), the storage change dS (stores and routing water in transit), and the residual
P - AET - Q + C + R - L - dS, which closes to rounding when the accounting is right; the last column is the
correction as a share of the runoff before it (Q - C). Errors are `error:` lines (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dmg_bmi.domains import data_kinds, domain_or_core
from dmg_bmi.errors import ConfigError, DmgBmiError
from dmg_bmi.train.commands._common import checkpoint_path, load

TERMS = ("P", "AET", "Q", "C", "R", "L", "dS", "residual")


def basin_balance(handler, ds, b: int, start: int, end: int, warmup: int) -> tuple[dict, dict]:
    """(sums in mm over days start..end-1 of basin index `b`, daily series: Q and C in mm d-1 and, for a
    multimodel, each member's weight `weight_<member>`) from the handler."""
    ck = handler.members[0].ckpt
    names = sorted({*ck.nn_forcings, *ck.phy_forcings, "P", "PET"})
    handler.set_attributes({n: float(ds.static[n][b]) for n in handler.attribute_names})
    state = handler.initial_state()

    def day(i):
        return {n: float(ds.dynamic[n][b, i]) for n in names}

    for i in range(max(0, start - warmup), start):
        state, _ = handler.advance(state, day(i))
    s0 = handler.describe(state)["storage"]
    keys = {"P": "precip", "AET": "aet", "Q": "runoff", "C": "correction", "R": "reweighting", "leak": "leak"}
    sums = dict.fromkeys(keys, 0.0)
    shown = ["runoff", "correction", *(f"weight_{n}" for n in handler.mixture)]
    series = {k: [] for k in shown}
    for i in range(start, end):
        state, out = handler.advance(state, day(i))
        for key, name in keys.items():
            sums[key] += out.get(name, 0.0)
        for k in shown:
            series[k].append(out[k])
    storage_change = handler.describe(state)["storage"] - s0
    other = sums["leak"] + sums["C"] + sums["R"]  # the handler's leak counts C and R as water created
    residual = sums["P"] - sums["AET"] - sums["Q"] + sums["C"] + sums["R"] - other - storage_change
    row = {"P": sums["P"], "AET": sums["AET"], "Q": sums["Q"], "C": sums["C"], "R": sums["R"], "L": other,
           "dS": storage_change, "residual": residual}
    return row, {k: np.array(v) for k, v in series.items()}


def plot(series: dict, dates: np.ndarray, observed: dict, members: tuple[str, ...], path: Path) -> None:
    """Per basin: the runoff before and after the correction, the observed flow and the correction flux
    (mm d-1); for a multimodel, its members' weights below, stacked (they sum to 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(series) * (2 if members else 1)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 3.0 * rows), squeeze=False, sharex=True)
    axes = list(axes[:, 0])
    for basin, s in series.items():
        ax = axes.pop(0)
        if np.any(s["correction"]):
            ax.plot(dates, s["runoff"] - s["correction"], lw=0.7, color="C1",
                    label="HBV streamflow (before correction)")
            ax.plot(dates, s["correction"], lw=0.8, color="C3", label="correction flux")
        ax.plot(dates, s["runoff"], lw=0.8, color="C0", label="simulated streamflow")
        if basin in observed:
            ax.plot(dates, observed[basin], lw=0.6, color="k", ls=":", label="observed")
        ax.axhline(0.0, color="0.8", lw=0.5)
        ax.set_title(f"basin {basin}")
        ax.set_ylabel("mm d-1")
        ax.legend(loc="upper right", fontsize=8)
        if members:
            ax = axes.pop(0)
            ax.stackplot(dates, *(s[f"weight_{n}"] for n in members), labels=members, alpha=0.85)
            ax.set_ylim(0.0, 1.0)
            ax.set_ylabel("weight (-)")
            ax.set_title(f"basin {basin}: multimodel weights (softmax, by day)")
            ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--checkpoint", help="a hydrology checkpoint (.pt) written by `dmg-bmi train`")
    where.add_argument("--run-dir", help="a run directory (uses its best.pt)")
    parser.add_argument("--data", help="dataset to run on (default: the training config's data.path)")
    parser.add_argument("--kind", choices=data_kinds(), help="dataset kind for --data (data.kind)")
    parser.add_argument("--basins", nargs="+", help="basin ids (default: every basin of the data)")
    parser.add_argument("--start", help="first day YYYY-MM-DD (default: the config's data.test period)")
    parser.add_argument("--end", help="last day YYYY-MM-DD (default: the config's data.test period)")
    parser.add_argument("--plot", help="write a figure of the correction or the weights over time (PNG; "
                        ".png is added to a name without a suffix)")
    parser.add_argument("--plot-basins", nargs="+", help="basins in the figure (default: the first two)")
    parser.set_defaults(device="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return report(args)
    except DmgBmiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def report(args: argparse.Namespace) -> int:
    """The balance table (and the figure) of `args`; DmgBmiError naming what is wrong."""
    path = checkpoint_path(args)
    from dmg_bmi.core.checkpoint import load_checkpoint

    domain = domain_or_core(load_checkpoint(path).config.phy.name)
    if domain.name != "hydrology":
        raise ConfigError(f"{path} is a {domain.label} checkpoint; the water balance is the hydrology "
                          "domain's (HBV stores, runoff, evapotranspiration)")
    job = load(args, domain, need_target=False)
    ds = job.dataset
    chosen = args.plot_basins or list(ds.basins[:2])
    unknown = [b for b in chosen if b not in set(ds.basins)]
    if args.plot and unknown:
        raise ConfigError(f"--plot-basins: {unknown} not in the data's basins {list(ds.basins)}")
    handler = domain.load_handler([path], None, "cpu", "numpy")
    start = int(np.searchsorted(ds.dates, np.datetime64(job.period.start)))
    end = int(np.searchsorted(ds.dates, np.datetime64(job.period.end), side="right"))
    warmup = job.model.cfg.phy.warmup
    print(f"water balance {job.period.start}..{job.period.end} (mm; C: correction, R: reweighting, L: other "
          f"leak, residual = P - AET - Q + C + R - L - dS)")
    print(f"{'basin':<12}" + "".join(f"{t:>11}" for t in TERMS) + f"{'C/(Q-C) %':>11}")
    rows, series = {}, {}
    for b, basin in enumerate(ds.basins):
        rows[basin], series[basin] = basin_balance(handler, ds, b, start, end, warmup)
        r = rows[basin]
        physics = r["Q"] - r["C"]  # the runoff before the correction
        share = 100.0 * r["C"] / physics if physics else float("nan")
        print(f"{basin:<12}" + "".join(f"{r[t]:>11.4g}" for t in TERMS) + f"{share:>11.2f}")
        if handler.mixture:
            mean = {n: float(series[basin][f"weight_{n}"].mean()) for n in handler.mixture}
            print(f"{'':<12}mean weights: " + ", ".join(f"{n} {w:.3f}" for n, w in mean.items()))
    worst = max(abs(r["residual"]) for r in rows.values())
    print(f"largest |residual|: {worst:.3g} mm")
    if args.plot:
        observed = {}
        if job.target in ds.dynamic:
            observed = {bid: ds.dynamic[job.target][list(ds.basins).index(bid), start:end] for bid in chosen}
        figure = Path(args.plot) if Path(args.plot).suffix else Path(args.plot).with_suffix(".png")
        plot({bid: series[bid] for bid in chosen}, ds.dates[start:end], observed, handler.mixture, figure)
        print(f"figure: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
