"""`dmg-bmi quickstart`: the whole story on the embedded synthetic twin in a few minutes on a laptop.

1. write the twin dataset (no download); 2. train the package's `quickstart.yaml` config on 80 % of the
catchments; 3. evaluate the held-out catchments on the test years; 4. report how well the learned
parameters match the true ones; 5. print where everything went: the BMI-ready checkpoint and, next to
it, the attribute table of every twin catchment (`twin_attributes.csv`: id, area_km2 in km2, latitude in
degrees north and each attribute the checkpoint needs, in the twin's units), which `dmg-bmi bmi-config` and
`dmg-bmi realization --attributes` read.

As in a classic twin (identifiability) experiment, the parameters the twin holds constant are fixed at their
true values (`model.phy.fixed_params` from `dmg_bmi.domains.hydrology.twin.fixed_params`) and the network
learns the varying ones (FC, BETA, K0, K1) from the attributes; `--learn-all` learns every parameter instead.
"""

from __future__ import annotations

import argparse

TWIN_YEARS = 6  # years of twin data (quickstart.yaml's train and test periods lie in them)
HELP = "Make twin data, train, evaluate held-out catchments and write a BMI-ready checkpoint."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="dmg_bmi_quickstart",
                        help="folder for everything (default %(default)s)")
    parser.add_argument("--basins", type=int, default=100, help="synthetic catchments (20 %% held out)")
    parser.add_argument("--learn-all", action="store_true",
                        help="learn every physics parameter, not only those the twin varies")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a quickstart.yaml value, e.g. --set train.epochs=2 (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the twin data")


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from dmg_bmi.core.checkpoint import load_checkpoint
    from dmg_bmi.core.train.rundir import check_output_folder
    from dmg_bmi.data.dataset import HydroDataset
    from dmg_bmi.domains.hydrology.twin import VARYING_PARAMS, check_size, write_twin
    from dmg_bmi.domains.hydrology.twin import fixed_params as twin_fixed_params
    from dmg_bmi.ngen.needs import needed_attributes
    from dmg_bmi.ngen.writers import table_values, write_attribute_table
    from dmg_bmi.train.commands._common import at_least, basin_roles
    from dmg_bmi.train.configs import package_config
    from dmg_bmi.train.evaluate import predict, score, summary_table, write_figures, write_metrics_csv
    from dmg_bmi.train.recovery import format_recovery, recovery_table
    from dmg_bmi.train.run import train

    at_least(args, 2, "basins")  # at least one to train on and one held out
    check_size(args.basins, TWIN_YEARS, names={"n_basins": "--basins"})
    at_least(args, 0, "seed")
    t0 = time.perf_counter()
    out = Path(args.out).resolve()
    check_output_folder(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    data_path = out / "twin.nc"
    n_held = max(1, args.basins // 5)
    if not data_path.exists():
        print(f"[1/4] writing the synthetic twin ({args.basins} catchments) -> {data_path}", flush=True)
        write_twin(data_path, n_basins=args.basins, years=TWIN_YEARS, seed=args.seed)
    else:
        print(f"[1/4] reusing the synthetic twin {data_path}", flush=True)
    ds = HydroDataset.load(data_path)
    basins = [str(b) for b in ds.basins]
    train_basins, held_out = basins[:-n_held], basins[-n_held:]

    overrides = [f"data.path={data_path}", f"data.basins={train_basins}", f"run.run_dir={out}",
                 *args.overrides]
    cfg = package_config("quickstart", overrides)
    learning = "every parameter"
    if not args.learn_all and not cfg.model.phy.fixed_params:
        fixed = twin_fixed_params(cfg.model.phy.name)
        cfg = package_config("quickstart", [*overrides, f"model.phy.fixed_params={json.dumps(fixed)}"])
        learning = f"{', '.join(VARYING_PARAMS)} (the rest fixed at the twin's values)"
    print(f"[2/4] training on {len(train_basins)} catchments, {cfg.data.train.start}..{cfg.data.train.end}, "
          f"learning {learning}", flush=True)
    result = train(cfg)

    ckpt = load_checkpoint(result.best)
    model = ckpt.build_model()
    needed = needed_attributes(result.best)
    table = write_attribute_table(result.best.parent / "twin_attributes.csv",
                                  table_values(ds.site_rows(), needed, source=data_path), needed)
    test_ds = ds.sel_basins(held_out)
    print(f"[3/4] evaluating {len(held_out)} held-out catchments, {cfg.data.test.start}..{cfg.data.test.end}",
          flush=True)
    from dmg_bmi.forcing import derivation_from_record
    from dmg_bmi.train.data import derive_inputs

    test_ds = derive_inputs(test_ds, derivation_from_record(ckpt.derivations))
    pred = predict(model, ckpt.normalization, test_ds, cfg.data.test, target=cfg.data.target)
    rows = score(pred, roles=basin_roles(ckpt))
    eval_dir = result.run_dir / "evaluate_held_out"
    eval_dir.mkdir(exist_ok=True)
    write_metrics_csv(rows, eval_dir / "metrics.csv")
    print(summary_table(rows))
    write_figures(pred, rows, test_ds, "streamflow", eval_dir, "twin, held-out catchments")
    print("[4/4] parameter recovery on the held-out catchments (learned vs true)")
    print(format_recovery(recovery_table(model, ckpt.normalization, test_ds)))
    print(f"\ndone in {time.perf_counter() - t0:.0f} s\n"
          f"  data:            {data_path}\n"
          f"  run directory:   {result.run_dir}  (config.yaml, train_log.csv, checkpoints)\n"
          f"  BMI checkpoint:  {result.best}\n"
          f"  attribute table: {table}  (dmg-bmi bmi-config --attributes ...)\n"
          f"  held-out scores: {eval_dir / 'metrics.csv'}\n"
          f"next: dmg-bmi inspect {result.best} ; dmg-bmi evaluate --run-dir {result.run_dir} ; "
          f"dmg-bmi simulate --checkpoint {result.best} --save-state states")
    return 0
