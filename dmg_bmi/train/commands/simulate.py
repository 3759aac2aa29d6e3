"""`dmg-bmi simulate`: run a trained model over a period; outputs to NetCDF or CSV, end state to a file (the
checkpoint's domain runs it; core: `dmg_bmi.train.simulate.run_simulate`)."""

from __future__ import annotations

import argparse

from dmg_bmi.train.commands._common import add_source_arguments, check_sources, source_domain

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
    from dmg_bmi.bmi_config import check_time_step

    check_sources(args)
    check_time_step(args.state_time_step, "--state-time-step")
    return source_domain(args).simulate(args)  # the checkpoint's domain runs it (`Domain.simulate`)
