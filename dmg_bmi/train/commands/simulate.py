"""`dmg-bmi simulate`: run a trained model over a period; outputs to NetCDF or CSV, end state to a file."""

from __future__ import annotations

import argparse

from dmg_bmi.train.commands._common import add_source_arguments

HELP = "Simulate a period with a trained model and write every output (NetCDF or CSV)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--format", choices=["netcdf", "csv"], default="netcdf", help="output format")
    parser.add_argument("--save-state", metavar="FILE", help="write the end-of-period state for a hot start")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dmg_bmi.train.commands._common import load
    from dmg_bmi.train.evaluate import predict
    from dmg_bmi.train.simulate import output_units, save_state, write_csv, write_netcdf

    job = load(args)
    pred = predict(job.model, job.normalizer, job.dataset, job.period, target=None,
                   batch_size=args.batch_size, device=args.device, what="simulation period")
    out = Path(args.out) if args.out else job.run_dir / f"simulate_{job.period.start}_{job.period.end}"
    out.mkdir(parents=True, exist_ok=True)
    if args.format == "netcdf":
        units = {name: output_units(job.model.phy, name) for name in pred.outputs}
        path = write_netcdf(pred, out / "simulation.nc", units)
        print(f"simulation: {path} ({len(pred.basins)} basins x {pred.dates.size} days)")
    else:
        paths = write_csv(pred, out)
        print(f"simulation: {out} ({len(paths)} CSV files)")
    if args.save_state:
        print(f"end state ({pred.dates[-1]}): {save_state(pred, Path(args.save_state))}")
    return 0
