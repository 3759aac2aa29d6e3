"""`dmg-bmi make-sample-data`: write a domain's synthetic twin as a NetCDF dataset (`--kind`: the twin names
of the registered domains, `dmg_bmi.domains.twins`; each domain adds its own options and writes its twin
into the folder checked here)."""

from __future__ import annotations

import argparse

HELP = "Write a synthetic sample dataset (NetCDF) that needs no download."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dmg_bmi.domains import twins

    kinds = twins()
    parser.add_argument("--kind", choices=list(kinds), default=next(iter(kinds), None),
                        help="; ".join(f"{kind}: {domain.twin_help}" for kind, domain in kinds.items()))
    parser.add_argument("--out", default="sample_data/twin.nc", help="output NetCDF path")
    parser.add_argument("--seed", type=int, default=0, help="random seed (the data are deterministic)")
    options = {}
    for kind, domain in kinds.items():
        group = parser.add_argument_group(f"--kind {kind}")
        domain.add_twin_arguments(group)
        options[kind] = [(a.dest, a.option_strings[0], a.default) for a in group._group_actions]
    parser.set_defaults(_twin_options=options)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dmg_bmi.core.train.rundir import check_output_folder
    from dmg_bmi.domains import twins
    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train.commands._common import at_least

    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder: give a file name, e.g. {out / 'twin.nc'}")
    at_least(args, 0, "seed")
    refuse_other_kinds(args)
    check_output_folder(out.parent, "--out")
    print(twins()[args.kind].make_twin(args, out))
    return 0


def refuse_other_kinds(args: argparse.Namespace) -> None:
    """ConfigError naming an option of another `--kind`'s twin that was given (it would be ignored)."""
    from dmg_bmi.errors import ConfigError

    options = getattr(args, "_twin_options", {})
    mine = {dest for dest, _, _ in options.get(args.kind, [])}
    for kind, group in options.items():
        for dest, flag, default in group:
            if kind != args.kind and dest not in mine and getattr(args, dest, default) != default:
                raise ConfigError(f"{flag} is an option of --kind {kind}; this is --kind {args.kind}, whose "
                                  "twin would ignore it")
