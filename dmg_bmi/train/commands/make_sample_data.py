"""`dmg-bmi make-sample-data`: write the synthetic twin (or another embedded sample) as a NetCDF dataset."""

from __future__ import annotations

import argparse

HELP = "Write a synthetic sample dataset (NetCDF) that needs no download."

KINDS = ("hydro", "crop")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=KINDS, default="hydro",
                        help="hydro: synthetic HBV catchments (attributes, weather, true parameters, flow); "
                             "crop: WOFOST fields of several crops (weather, true parameters, observations)")
    parser.add_argument("--out", default="sample_data/twin.nc", help="output NetCDF path")
    parser.add_argument("--basins", type=int, default=50,
                        help="number of synthetic catchments (basins x days at most 5 000 000)")
    parser.add_argument("--years", type=int, default=6, help="years of daily data (1..200)")
    parser.add_argument("--start", default="2000-01-01", help="first day YYYY-MM-DD")
    parser.add_argument("--seed", type=int, default=0, help="random seed (the data are deterministic)")
    parser.add_argument("--noise", type=float, default=0.1, help="log-normal noise sigma on the flow (0..2)")
    parser.add_argument("--sites", type=int, default=40,
                        help="crop: number of sites (3 fields each; 1..5000)")
    parser.add_argument("--pcse-dir", default="../shared/data/pcse_wofost72_pp",
                        help="crop: folder of PCSE reference cases giving the crop parameter sets")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train.commands._common import at_least
    from dmg_bmi.train.rundir import check_output_folder

    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder: give a file name, e.g. {out / 'twin.nc'}")
    at_least(args, 0, "seed")
    if args.kind == "crop":
        from dmg_bmi.data.crop_twin import FIELDS_PER_SITE, check_size, make_crop_twin

        check_size(args.sites, FIELDS_PER_SITE, names={"n_sites": "--sites"})
        check_output_folder(out.parent, "--out")
        if not Path(args.pcse_dir).is_dir():
            raise ConfigError(f"--pcse-dir {args.pcse_dir} is not a folder: the crop twin takes its crop "
                              "parameter sets from a folder of PCSE reference cases "
                              "(test_potentialproduction_wofost72_*.yaml)")

        ds = make_crop_twin(out, args.pcse_dir, n_sites=args.sites, seed=args.seed)
        print(f"wrote {args.out} ({ds.n_fields} crop fields at {args.sites} sites, seed {args.seed})")
        return 0
    from dmg_bmi.data.twin import check_size, write_twin

    check_size(args.basins, args.years, args.start, args.noise,
               names={"n_basins": "--basins", "years": "--years", "start": "--start", "noise": "--noise"})
    check_output_folder(out.parent, "--out")
    path = write_twin(out, n_basins=args.basins, start=args.start, years=args.years,
                      seed=args.seed, noise=args.noise)
    print(f"wrote {path} ({args.basins} basins x {args.years} years, seed {args.seed})")
    return 0
