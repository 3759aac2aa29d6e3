"""`dmg-bmi evaluate`: per-basin NSE, KGE, corr, bias, FHV, FLV -> CSV, a summary table, hydrographs."""

from __future__ import annotations

import argparse

from dmg_bmi.train.commands._common import add_source_arguments, check_sources

HELP = "Score a trained model per basin over a period (default: the config's test period)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--no-plots", action="store_true", help="skip the hydrograph PNGs")
    parser.add_argument("--output", default="streamflow", help="model output to score (default streamflow)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train.crop_eval import is_crop_source, run_evaluate
    from dmg_bmi.train.rundir import check_output_folder

    check_sources(args)
    if is_crop_source(args):  # δWOFOST: per-field yield/LAI scores and LAI/TWSO plots
        return run_evaluate(args)
    from dmg_bmi.train.commands._common import load
    from dmg_bmi.train.evaluate import predict, score, summary_table, write_metrics_csv
    from dmg_bmi.train.plots import hydrographs, matplotlib_available

    job = load(args)
    outputs = job.model.phy.output_names
    if args.output not in outputs:
        raise ConfigError(f"--output: {args.output!r} is not an output of the checkpoint's physics "
                          f"{job.model.cfg.phy.name!r}; valid: {', '.join(outputs)}")
    out = Path(args.out) if args.out else job.run_dir / f"evaluate_{job.period.start}_{job.period.end}"
    check_output_folder(out, "--out")
    pred = predict(job.model, job.normalizer, job.dataset, job.period, target=job.target,
                   batch_size=args.batch_size, device=job.device, what="evaluation period")
    rows = score(pred, args.output)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_metrics_csv(rows, out / "metrics.csv")
    print(f"evaluation {job.period.start}..{job.period.end}, {len(rows)} basins")
    print(summary_table(rows))
    print(f"metrics: {csv_path}")
    if not args.no_plots:
        if matplotlib_available():
            paths = hydrographs(pred.dates, pred.basins, pred.outputs[args.output], pred.observed,
                                out / "hydrographs", rows)
            print(f"hydrographs: {paths[0].parent} ({len(paths)} PNGs)")
        else:
            print("hydrographs skipped: install the plot extra (pip install 'dmg_bmi[plot]')")
    return 0
