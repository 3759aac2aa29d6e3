"""`dmg-bmi realization`: a self-contained ngen run folder for a domain (realization, BMI configs, forcing,
checkpoint, attributes); every input is checked before anything is written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmg_bmi.core.variables import lookup
from dmg_bmi.ngen.cmd_bmi_config import ATTRIBUTES_HELP, add_common
from dmg_bmi.ngen.needs import needed_attributes
from dmg_bmi.ngen.writers import read_attributes_table, read_catchments, unconverted_inputs, write_run_folder

HELP = "set up a self-contained ngen run folder: realization.json, BMI configs, forcing, model, attributes"


def _ids(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise argparse.ArgumentTypeError(f"no catchment id in {text!r} (e.g. cat-2453,cat-2454)")
    return ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catchments", required=True, type=Path,
                        help="catchments GeoJSON (features with id cat-N, properties.areasqkm, toid) or a "
                             "hydrofabric GeoPackage .gpkg (layers divides and nexus)")
    parser.add_argument("--forcing", required=True, type=Path,
                        help="folder of {{id}}.csv CsvPerFeature files (copied into the run folder)")
    parser.add_argument("--out", required=True, type=Path, help="run folder to write")
    parser.add_argument("--ids", type=_ids, default=None,
                        help="comma-separated catchment ids to run (e.g. cat-2453,cat-2454); default: all")
    parser.add_argument("--attributes", type=Path, default=None,
                        help=ATTRIBUTES_HELP.replace("one row per catchment", "per id, or one basin-wide row")
                        + "; default: the catchments' GeoJSON properties")
    parser.add_argument("--nexus", type=Path, default=None,
                        help="nexus GeoJSON (or GeoPackage) of these catchments (checked, written into the "
                             "folder); default for a GeoPackage --catchments: its nexus layer")
    parser.add_argument("--style", default="bmi_python", choices=["bmi_python", "bmi_multi"])
    parser.add_argument("--initial-states", type=Path, default=None,
                        help="folder of <id>.state files to hot start from (e.g. a spin-up run's "
                             "states/final; --start must be the time they were saved at)")
    parser.add_argument("--save-final-states", action="store_true",
                        help="each catchment writes its end state to states/final/<id>.state")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from dmg_bmi.bmi_config import check_time_step

    check_time_step(args.time_step, "--time-step")  # the BMI would refuse it only at initialize
    table = read_attributes_table(args.attributes) if args.attributes else None
    out = write_run_folder(
        args.out, args.catchments, args.forcing, args.checkpoint, args.start, args.end,
        needed_attributes(args.checkpoint), table=table, latitude=args.latitude, nexus_geojson=args.nexus,
        style=args.style, time_step=args.time_step, device=args.device, nan_policy=args.nan_policy,
        attributes_source=args.attributes, initial_states=args.initial_states,
        save_final_states=args.save_final_states, ids=args.ids,
    )
    real = json.loads((out / "realization.json").read_text(encoding="utf-8"))
    formulation = real["global"]["formulations"][0]["params"]
    module = formulation["modules"][0]["params"] if "modules" in formulation else formulation
    names_map = module.get("variables_names_map", {})
    columns = ", ".join(f"{col} -> {name}" for name, col in names_map.items())
    ids = [c["id"] for c in read_catchments(out / "catchments.geojson")]
    nexus = "nexus.geojson" if (out / "nexus.geojson").is_file() else "<nexus.geojson>"
    print(f"wrote {out}: {len(ids)} catchments, forcing copied to {out / 'forcing'} "
          f"(columns: {columns or 'none'})")
    for name, column in unconverted_inputs(names_map, [out / "forcing" / f"{i}.csv" for i in ids]).items():
        print(f"note: column {column!r} has no [units] in its header, so ngen cannot convert it (it warns "
              "'Unit conversion failure' and passes the raw value): it is passed to the BMI as is, in the "
              f"BMI's declared units ({column!r} read as {lookup(name).units}, {name})")
    print(f"run: cd {out} && VIRTUAL_ENV=<venv> PYTHONPATH=<venv>/lib/python3.X/site-packages ngen "
          f"catchments.geojson all {nexus} all realization.json\n"
          "     <venv>: a virtual environment of ngen's Python 3.X with numpy 1.26 and this package "
          "installed non-editable (pip install numpy==1.26.4 <dmg_bmi source folder>; ngen does not see "
          "an editable install)")
    return 0
