"""δWOFOST twin recovery through the package's own trainer: `dmg-bmi train` with the packaged
`dmg_bmi/configs/crop_twin.yaml` on the crop twin, then the `evaluate` scores and the twin's noise-free truth.

Reports, per split (training fields / fields of held-out sites): the correlation of the learned TSUM1, SPAN,
TDWI factors with the true ones, and the TWSO-at-harvest error as RMSE / mean yield (%), against the noisy
harvest observation (5 % noise included) and against the noise-free truth (final simulated TWSO of the true
parameters vs the model's). A mean of per-field relative errors is not used: crop failures (maize not
maturing at high latitudes, true yield ~0 kg ha-1) make it explode. Prints wall times and the thread count.

Measured (defaults: 40 sites, 120 fields, 24 of 8 held-out sites; 60 epochs; 2 shared CPU threads, load ~10):
held-out corr TSUM1 0.915, SPAN 0.824, TDWI 0.914; yield RMSE/mean 5.4 % vs observed, 2.9 % vs truth
(training fields 5.0 % / 1.9 %); training 296 s, total 313 s.

With `--heat-stress` (issue 14, a learned missing process): the twin is the heat-stress one (`twin.py` step
6) and two models train on it in the same run: `crop_twin_heat.yaml` (a network at WOFOST's
`assimilation_reduction` hook) and the plain `crop_twin.yaml`. Each reports the above, and the heat model
also `corr_process`, the r of its learned factor with the true heat reduction over the held-out crop days.
The acceptance: process r >= 0.9, held-out yield RMSE/mean vs observed within 2x the twin's 5 % harvest
noise for the process model, and the plain model outside it.

With `--daily-amax` (issue 14, dynamic crop parameters from the weather): the twin's AMAX factor varies by
day with a 10-day moving water balance (`twin.py` step 7), and two models train on it: `crop_twin_daily.yaml`
(an LSTM over the daily weather gives AMAXTB_SCALE by day) and the same config with AMAXTB_SCALE static from
the attributes (`model.phy.dynamic_params=[]`, no network forcings). The first also reports
`corr_daily_AMAXTB_SCALE`, the r of its daily factor with the true one over the held-out crop days.
The acceptance: that r >= 0.8, and a held-out yield RMSE below the attribute-only model's.

Usage: python benchmarks/crop_twin_recovery.py [--sites 40] [--epochs 60] [--pcse-dir DIR] [--out DIR]
       [--heat-stress | --daily-amax]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.domains.crop import evaluate as crop_eval
from dmg_bmi.domains.crop import twin as ct
from dmg_bmi.train.config import load_experiment
from dmg_bmi.train.run import train

CONFIGS = Path(__file__).resolve().parents[1] / "dmg_bmi" / "configs"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--pcse-dir", default="../shared/data/pcse_wofost72_pp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--heat-stress", action="store_true", help="the heat-stress twin, heat and plain model")
    ap.add_argument("--daily-amax", action="store_true", help="the daily-AMAX twin, daily and static model")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="crop_twin_"))
    t0 = time.perf_counter()
    sets = ct.parameter_sets(tuple(ct.CROPS), args.pcse_dir)
    layout = ct.make_layout(args.sites, 3, seed=args.seed, heat_stress=args.heat_stress,
                            daily_amax=args.daily_amax)
    ds, truth = ct.simulate(layout, sets, args.seed)
    ds.save(out / "crop_twin.nc")
    print(f"twin: {ds.n_fields} fields, {ds.n_days} days, heat stress {args.heat_stress}, daily AMAX "
          f"{args.daily_amax}, {time.perf_counter() - t0:.1f}s", flush=True)
    runs = {"crop_twin": ("crop_twin", [])}
    if args.heat_stress:
        runs = {"crop_twin_heat": ("crop_twin_heat", []), **runs}
    if args.daily_amax:
        static = ["model.phy.dynamic_params=[]", "model.inputs.forcings=[]"]
        runs = {"crop_twin_daily": ("crop_twin_daily", []), "static AMAX": ("crop_twin_daily", static)}
    for label, (name, changes) in runs.items():
        print(f"--- {label}: {name}.yaml {' '.join(changes)}", flush=True)
        train_and_score(CONFIGS / f"{name}.yaml", ds, truth, out / label.replace(" ", "_"), args.epochs,
                        changes)
    print(f"total wall time {time.perf_counter() - t0:.0f}s (work folder {out})")


def train_and_score(config: Path, ds, truth, out: Path, epochs: int, changes: list[str]) -> None:
    """Train `config` (with `changes`, `--set` style) on the twin `ds` (saved beside `out`) and print the
    recovery and yield scores."""
    cfg = load_experiment(config, [f"data.path={out.parent / 'crop_twin.nc'}", f"train.epochs={epochs}",
                                   f"run.exact_dir={out}", "run.progress=false", *changes])
    t1 = time.perf_counter()
    result = train(cfg)
    train_s = time.perf_counter() - t1
    scored = crop_eval.score(load_checkpoint(result.last), ds)
    model, outputs, is_test, summary = scored.model, scored.outputs, scored.is_test, scored.summary
    print(f"trained {epochs} epochs on {int((~is_test).sum())} fields in {train_s:.0f}s "
          f"({torch.get_num_threads()} threads)")
    final_true, final_sim = truth["TWSO"][:, -1], outputs["TWSO"][:, -1]
    for split, mask in (("train", ~is_test), ("test", is_test)):
        s = summary[split]
        names = [*model.learned_names, "process", *(f"daily_{n}" for n in model.daily_names)]
        corr = "  ".join(f"corr {p} {s[f'corr_{p}']:.3f}" for p in names if f"corr_{p}" in s)
        err = final_sim[mask] - final_true[mask]
        rr_truth = 100 * np.sqrt(np.mean(err**2)) / np.mean(final_true[mask])
        print(f"{split:5s} ({s['fields']} fields)  {corr}  TWSO at harvest RMSE/mean: vs observed "
              f"{s['yield_rrmse_pct']:.1f} %, vs truth {rr_truth:.1f} %  LAI RMSE {s['lai_rmse']:.3f}")


if __name__ == "__main__":
    main()
