"""`dmg-bmi simulate`: run a trained model over a period; outputs to NetCDF or CSV, end state to a file."""

from __future__ import annotations

import argparse

from dmg_bmi.train.commands._common import add_source_arguments, check_sources

HELP = "Simulate a period with a trained model and write every output (NetCDF or CSV)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--format", choices=["netcdf", "csv"], default="netcdf", help="output format")
    parser.add_argument("--save-state", metavar="DIR",
                        help="write the end state as DIR/<basin>.state, a BMI `initial_state` file")
    parser.add_argument("--state-time-step", type=int, default=3600, metavar="SECONDS",
                        help="time_step (s) of the BMI config that will load --save-state files "
                             "(default 3600, ngen's hourly step; 86400 continues a daily BMI exactly)")
    parser.add_argument("--initial-state", metavar="DIR_OR_FILE",
                        help="hot start from <basin>.state files (--save-state or the BMI save_state); "
                             "no warm-up is run")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dmg_bmi.bmi_config import check_time_step
    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train.commands._common import load
    from dmg_bmi.train.crop_eval import is_crop_source
    from dmg_bmi.train.evaluate import predict
    from dmg_bmi.train.rundir import check_output_folder
    from dmg_bmi.train.simulate import end_state, output_units, write_csv, write_netcdf
    from dmg_bmi.train.state_files import load_states, save_states

    check_sources(args)
    check_time_step(args.state_time_step, "--state-time-step")
    if is_crop_source(args):
        raise ConfigError("simulate runs hydrology checkpoints; this is a δWOFOST checkpoint: score it "
                          "with `dmg-bmi evaluate`, or run it through the BMI (bmi_configs/crop_twin.yml)")
    job = load(args)
    out = Path(args.out) if args.out else job.run_dir / f"simulate_{job.period.start}_{job.period.end}"
    check_output_folder(out, "--out")
    if args.save_state:
        check_output_folder(args.save_state, "--save-state")
    initial = None
    if args.initial_state:
        initial = load_states(args.initial_state, job.dataset, job.checkpoint, job.period.start,
                              dtype=next(job.model.parameters()).dtype, device=job.device)
    pred = predict(job.model, job.normalizer, job.dataset, job.period, target=None,
                   batch_size=args.batch_size, device=job.device, what="simulation period",
                   initial_state=initial)
    out.mkdir(parents=True, exist_ok=True)
    if args.format == "netcdf":
        units = {name: output_units(job.model.phy, name) for name in pred.outputs}
        path = write_netcdf(pred, out / "simulation.nc", units)
        print(f"simulation: {path} ({len(pred.basins)} basins x {pred.dates.size} days)")
    else:
        paths = write_csv(pred, out)
        print(f"simulation: {out} ({len(paths)} CSV files)")
    if args.save_state:
        paths = save_states(end_state(pred), pred.basins, job.dataset, job.checkpoint, job.period.end,
                            Path(args.save_state), args.state_time_step)
        print(f"end state ({pred.dates[-1]}): {len(paths)} BMI state file(s) in {args.save_state}")
    return 0
