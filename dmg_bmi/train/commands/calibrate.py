"""`dmg-bmi calibrate --config X.yaml [--set key=value ...] [--iterations N] [--lr LR]`: a baseline without
the network, one parameter set per basin of the config's physics fit on `data.train` (the config's domain
runs it, `Domain.calibrate`; core: `dmg_bmi.train.baseline.run_calibrate`)."""

from __future__ import annotations

import argparse

HELP = ("Calibrate the physics alone, one parameter set per basin (no network), on the config's training "
        "period; writes parameters.csv for `simulate`/`evaluate --parameters`.")

DESCRIPTION = """\
Calibrate the physics alone, one parameter set per basin (no network), on the config's training period;
write parameters.csv for `simulate --parameters` and `evaluate --parameters`.

Each basin's parameters are unconstrained tensors put through a sigmoid onto the physics' bounds, started
mid-range and moved by Adam on the config's loss (train.loss, on train.output against data.target) over
the whole of data.train after model.phy.warmup days of warm-up, all basins in one batch (each basin's
parameters affect only its own loss term). The parameters of the iteration with the lowest loss are
written. Read from the config: data (path, kind, source, basins, target, train), model.phy (name, routing,
warmup, warmup_mode, dynamic_params: held constant, options, fixed_params: not calibrated),
model.inputs.pet_method, model.dtype, train.loss, train.output, run (name, run_dir, exact_dir, seed,
device, threads, progress). One value per parameter and basin: model.phy.nmul components would all be
alike, so the physics runs as one. The network sections and train.lr/epochs are not used (--lr, --iterations
instead)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", required=True,
                        help="run config YAML (a training config), or a shipped config by name")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set data.basins=[01013500] (repeatable)")
    parser.add_argument("--iterations", type=int, default=300,
                        help="Adam steps, each one run of the physics over the whole training period "
                             "(default 300)")
    parser.add_argument("--lr", type=float, default=0.1,
                        help="Adam's learning rate on the unconstrained parameters, decayed on a cosine to a "
                             "tenth (default 0.1; train.lr is for network weights)")


def run(args: argparse.Namespace) -> int:
    import math

    from dmg_bmi.domains import domain_of_experiment
    from dmg_bmi.errors import ConfigError
    from dmg_bmi.train.configs import load_config

    if args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ConfigError(f"--lr must be a number > 0, got {args.lr}")
    cfg = load_config(args.config, args.overrides)
    if cfg.data.train is None:
        raise ConfigError("missing required key 'data.train' (the calibration period)")
    return domain_of_experiment(cfg).calibrate(cfg, args)
