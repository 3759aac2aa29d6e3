"""`dmg-bmi config validate FILE | explain [KEY] | schema [--kind train|bmi|realization] [--out FILE]`: the
config reference from the one definition of every key (`dmg_bmi.config_reference`)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "Check a config file, explain its keys, or write the JSON Schema of the run and BMI configs."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    check = sub.add_parser("validate", help="check a run config, a BMI init config or an ngen realization's "
                           "dmg_bmi modules; report every problem")
    check.add_argument("file", help="the YAML file, or a realization's JSON (its kind is told from its keys)")
    explain = sub.add_parser("explain", help="the tree of keys, or one key: help, type, default, units, "
                             "range")
    explain.add_argument("key", nargs="?", help="a dotted key, e.g. model.phy.fixed_params")
    schema = sub.add_parser("schema", help="write the JSON Schema (draft 2020-12)")
    schema.add_argument("--kind", choices=("train", "bmi", "realization"), default="train",
                        help="run config (train, the default), BMI init config (bmi), or the params of a "
                             "realization's dmg_bmi module (realization)")
    schema.add_argument("--out", help="file to write (default: standard output)")


def run(args: argparse.Namespace) -> int:
    from dmg_bmi import config_reference as ref

    if args.action == "validate":
        kind, problems = ref.validate_file(args.file)
        title = ref.KINDS[kind][1]
        if not problems:
            print(f"{args.file}: a valid {title}")
            return 0
        print(f"{args.file}: {len(problems)} problem(s) in this {title}:", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        return 2
    if args.action == "explain":
        print(ref.explain(args.key))
        return 0
    text = json.dumps(ref.json_schema(args.kind), indent=2) + "\n"
    if args.out:
        from dmg_bmi.atomic import write_text

        write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0
