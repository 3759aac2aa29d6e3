"""`dmg-bmi bmi-config`: one BMI YAML per catchment from an attributes table (CSV) or a dataset NetCDF."""

from __future__ import annotations

import argparse
from pathlib import Path

from dmg_bmi.ngen.needs import needed_attributes, reads_latitude
from dmg_bmi.ngen.writers import ID_COLUMNS, read_attributes_table, table_values, write_bmi_configs

HELP = "write one BMI config YAML per catchment from an attributes table (CSV) or dataset (NetCDF)"


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="trained checkpoint (.pt)")
    parser.add_argument("--start", required=True,
                        help="start time (UTC), e.g. '2015-12-01 00:00:00' or '2015-12-01'")
    parser.add_argument("--end", required=True,
                        help="start of the last step (UTC), like ngen's time.end_time")
    parser.add_argument("--time-step", type=int, default=3600, help="model step in s (3600 or 86400)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--nan-policy", default="error", choices=["error", "hold_last"])
    parser.add_argument("--latitude", type=float, default=None,
                        help="latitude (deg N) for every catchment (not read with pet_method forcing)")


ATTRIBUTES_HELP = (f"attribute source: a CSV (an id column named one of {', '.join(ID_COLUMNS)}; area_km2 or "
                   "areasqkm, latitude/lat and the checkpoint's attributes; one row per catchment) or a "
                   "dataset NetCDF (dmg-bmi make-sample-data, the quickstart's twin.nc)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--attributes", required=True, type=Path, help=ATTRIBUTES_HELP)
    parser.add_argument("--out", required=True, type=Path, help="folder for the <id>.yml files")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from dmg_bmi.bmi_config import check_time_step

    check_time_step(args.time_step, "--time-step")  # the BMI would refuse it only at initialize
    needed = needed_attributes(args.checkpoint)
    values = table_values(read_attributes_table(args.attributes), needed, args.latitude, args.attributes,
                          reads_latitude(args.checkpoint))
    paths = write_bmi_configs(args.out, values, args.checkpoint, args.start, args.end, args.attributes,
                              time_step=args.time_step, device=args.device, nan_policy=args.nan_policy)
    print(f"wrote {len(paths)} BMI configs to {args.out}")
    return 0
