"""`dmg-bmi realization`: a ready-to-run ngen folder for a domain (realization, BMI configs, attributes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dmg_bmi.ngen.cmd_bmi_config import add_common, needed_attributes
from dmg_bmi.ngen.writers import read_attributes_table, write_run_folder

HELP = "set up an ngen run folder: realization.json, one BMI config per catchment, attributes used"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catchments", required=True, type=Path,
                        help="catchments GeoJSON (features with id, properties.areasqkm, toid)")
    parser.add_argument("--forcing", required=True, type=Path,
                        help="folder of {{id}}.csv CsvPerFeature files")
    parser.add_argument("--out", required=True, type=Path, help="run folder to write")
    parser.add_argument("--attributes", type=Path, default=None,
                        help="CSV of attributes (per id, or one basin-wide row); default: GeoJSON properties")
    parser.add_argument("--nexus", type=Path, default=None, help="nexus GeoJSON to copy into the folder")
    parser.add_argument("--style", default="bmi_python", choices=["bmi_python", "bmi_multi"])
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    table = read_attributes_table(args.attributes) if args.attributes else None
    out = write_run_folder(
        args.out, args.catchments, args.forcing, args.checkpoint, args.start, args.end,
        needed_attributes(args.checkpoint), table=table, latitude=args.latitude, nexus_geojson=args.nexus,
        style=args.style, time_step=args.time_step, device=args.device, nan_policy=args.nan_policy,
    )
    nexus = "nexus.geojson" if args.nexus else "<nexus.geojson>"
    print(f"wrote {out}; run: cd {out} && ngen catchments.geojson all {nexus} all realization.json")
    return 0
