"""`dmg-bmi inspect CHECKPOINT`: what a checkpoint needs (BMI inputs, attributes) and gives (outputs), how it
was trained and how well it did (see `dmg_bmi.ngen.checkpoint_info`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "show what a checkpoint needs and gives: physics, network, inputs, attributes, outputs, skill"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="a checkpoint (.pt) from train, quickstart or the demo")
    parser.add_argument("--json", action="store_true", help="print the same information as JSON")


def run(args: argparse.Namespace) -> int:
    from dmg_bmi.ngen.checkpoint_info import describe, format_text

    info = describe(args.checkpoint)
    print(json.dumps(info, indent=2) if args.json else format_text(info))
    return 0
