"""`dmg-bmi evaluate`: the checkpoint's domain scores it over a period (core: per-basin nse, kge, corr
(Pearson r), bias_pct, fhv_pct, flv_pct -> CSV, a summary table, hydrographs;
`dmg_bmi.train.evaluate.run_evaluate`). With `--parameters` it scores the physics alone on a parameter table
(`Domain.evaluate_parameters`; core: `dmg_bmi.train.baseline`)."""

from __future__ import annotations

import argparse

from dmg_bmi.train.commands._common import add_source_arguments, check_sources, source_domain

HELP = ("Score a trained model, or the physics alone on a parameter table (--parameters), per basin over a "
        "period (default: the config's test period).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument("--output", help="model output to score: the one the checkpoint was trained "
                                         "against the observed target (train.output, the default; with "
                                         "--parameters, any output of the physics)")


def run(args: argparse.Namespace) -> int:
    check_sources(args)
    if args.parameters:  # no network: the domain of the config's physics scores the table
        from dmg_bmi.train.baseline import table_domain

        return table_domain(args).evaluate_parameters(args)
    return source_domain(args).evaluate(args)  # the checkpoint's domain scores it (`Domain.evaluate`)
