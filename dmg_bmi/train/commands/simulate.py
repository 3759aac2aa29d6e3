"""`dmg-bmi simulate`: run a trained model over a period; outputs to NetCDF or CSV, end state to a file (the
checkpoint's domain runs it; core: `dmg_bmi.train.simulate.run_simulate`). With `--parameters` the physics
runs alone on a parameter table (`Domain.simulate_parameters`; core: `dmg_bmi.train.baseline`)."""

from __future__ import annotations

import argparse

from dmg_bmi.train.commands._common import add_source_arguments, check_sources, source_domain

HELP = ("Simulate a period with a trained model, or the physics alone on a parameter table (--parameters), "
        "and write every output (NetCDF or CSV).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--format", choices=["netcdf", "csv"], default="netcdf", help="output format")
    parser.add_argument("--save-state", metavar="DIR",
                        help="write the end state as DIR/<basin>.state, a BMI `initial_state` file")
    parser.add_argument("--state-time-step", type=int, metavar="SECONDS",
                        help="with --save-state: time_step (s) of the BMI config that will load the state "
                             "files (default 3600, ngen's hourly step; 86400 continues a daily BMI exactly)")
    parser.add_argument("--initial-state", metavar="DIR_OR_FILE",
                        help="hot start from <basin>.state files (--save-state or the BMI save_state); "
                             "no warm-up is run")


def run(args: argparse.Namespace) -> int:
    from dmg_bmi.bmi_config import check_time_step
    from dmg_bmi.errors import ConfigError

    check_sources(args)
    if args.state_time_step is None:
        args.state_time_step = 3600
    elif not args.save_state:
        raise ConfigError(f"--state-time-step {args.state_time_step} without --save-state: it is the time "
                          "step of the BMI that loads the saved end state; add --save-state DIR or drop it")
    check_time_step(args.state_time_step, "--state-time-step")
    if args.parameters:  # no network: the domain of the config's physics runs the table
        from dmg_bmi.train.baseline import table_domain

        return table_domain(args).simulate_parameters(args)
    return source_domain(args).simulate(args)  # the checkpoint's domain runs it (`Domain.simulate`)
