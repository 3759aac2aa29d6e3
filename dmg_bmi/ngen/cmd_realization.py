"""`dmg-bmi realization`: a self-contained ngen run folder for a domain (realization, BMI configs, forcing,
checkpoint, attributes); every input is checked before anything is written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmg_bmi.ngen.cmd_bmi_config import ATTRIBUTES_HELP, add_common, needed_attributes
from dmg_bmi.ngen.writers import read_attributes_table, write_run_folder

HELP = "set up a self-contained ngen run folder: realization.json, BMI configs, forcing, model, attributes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catchments", required=True, type=Path,
                        help="catchments GeoJSON (features with id cat-N, properties.areasqkm, toid)")
    parser.add_argument("--forcing", required=True, type=Path,
                        help="folder of {{id}}.csv CsvPerFeature files (copied into the run folder)")
    parser.add_argument("--out", required=True, type=Path, help="run folder to write")
    parser.add_argument("--attributes", type=Path, default=None,
                        help=ATTRIBUTES_HELP.replace("one row per catchment", "per id, or one basin-wide row")
                        + "; default: the catchments' GeoJSON properties")
    parser.add_argument("--nexus", type=Path, default=None,
                        help="nexus GeoJSON of these catchments (checked, copied into the folder)")
    parser.add_argument("--style", default="bmi_python", choices=["bmi_python", "bmi_multi"])
    parser.add_argument("--initial-states", type=Path, default=None,
                        help="folder of <id>.state files to hot start from (e.g. a spin-up run's "
                             "states/final; --start must be the time they were saved at)")
    parser.add_argument("--save-final-states", action="store_true",
                        help="each catchment writes its end state to states/final/<id>.state")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    table = read_attributes_table(args.attributes) if args.attributes else None
    out = write_run_folder(
        args.out, args.catchments, args.forcing, args.checkpoint, args.start, args.end,
        needed_attributes(args.checkpoint), table=table, latitude=args.latitude, nexus_geojson=args.nexus,
        style=args.style, time_step=args.time_step, device=args.device, nan_policy=args.nan_policy,
        attributes_source=args.attributes, initial_states=args.initial_states,
        save_final_states=args.save_final_states,
    )
    real = json.loads((out / "realization.json").read_text(encoding="utf-8"))
    formulation = real["global"]["formulations"][0]["params"]
    module = formulation["modules"][0]["params"] if "modules" in formulation else formulation
    columns = ", ".join(f"{col} -> {name}" for name, col in module.get("variables_names_map", {}).items())
    n = len(list((out / "config").glob("*.yml")))
    nexus = "nexus.geojson" if args.nexus else "<nexus.geojson>"
    print(f"wrote {out}: {n} catchments, forcing copied to {out / 'forcing'} (columns: {columns or 'none'})\n"
          f"run: cd {out} && ngen catchments.geojson all {nexus} all realization.json")
    return 0
