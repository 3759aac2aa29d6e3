"""`dmg-bmi cv --config X.yaml --folds K [--seed S | --folds-file F] [--jobs N] [--out DIR]`: spatial k-fold
cross-validation over basins, one run folder per fold and a pooled out-of-fold summary (the config's domain
runs it: `Domain.cross_validate`; core: `dmg_bmi.train.cv`)."""

from __future__ import annotations

import argparse

HELP = "Spatial k-fold cross-validation over basins: train k runs, score each on its held-out basins."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config YAML, or a shipped config by name")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value (repeatable), as in `dmg-bmi train`")
    parser.add_argument("--folds", type=int, help="number of folds k (2..number of basins; k = number of "
                        "basins leaves one basin out at a time)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random split into folds (default 0)")
    parser.add_argument("--folds-file",
                        help="CSV with columns basin, fold (0..k-1) instead of a random split")
    parser.add_argument("--jobs", type=int, default=1,
                        help="folds trained at once, one process each (default 1); each uses run.threads")
    parser.add_argument("--out", help="output folder (default: <run.run_dir>/cv_<run.name>_<time>); an "
                        "existing one continues its cross-validation: finished folds are kept, a stopped "
                        "fold resumes from its last.pt")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    from pathlib import Path

    from dmg_bmi.domains import domain_of_experiment
    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train.commands._common import at_least
    from dmg_bmi.train.configs import load_config
    from dmg_bmi.train.cv import FOLDS_NAME, CvOptions

    at_least(args, 1, "jobs")
    if args.folds is not None and args.folds_file:
        raise ConfigError("give --folds (a random split) or --folds-file (your split), not both")
    cfg = load_config(args.config, args.overrides)
    stamp = f"{dt.datetime.now():%Y%m%d_%H%M%S}"
    out = Path(args.out) if args.out else Path(cfg.run.run_dir) / f"cv_{cfg.run.name}_{stamp}"
    if args.folds is None and not args.folds_file and not (out / FOLDS_NAME).is_file():
        raise ConfigError("cv needs --folds K or --folds-file F (or an --out folder of an earlier "
                          "cross-validation to continue)")
    opts = CvOptions(folds=args.folds, seed=args.seed, folds_file=Path(args.folds_file) if args.folds_file
                     else None, jobs=args.jobs, out=out.resolve(), plots=not args.no_plots)
    return domain_of_experiment(cfg).cross_validate(cfg, opts)
