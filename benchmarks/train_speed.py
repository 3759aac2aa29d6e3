"""Training throughput for a fixed config: epoch time and basin-days per second.

Fixed config: synthetic twin (16 catchments, 4 years), HBV 1.1p with nmul 4 and 3 dynamic parameters,
LSTM (64) + MLP (128 x 2), batch 16, warm-up 180 + rho 365 days, 4 minibatches per epoch, float32, CPU.
basin-days/s counts every simulated day of every window (warm-up included).
Three runs of the same config, one after the other, differing only in how the HBV sequence runs:
- `default`: what `dmg-bmi train` does by default (the native C++ kernel on CPU);
- `fused`: the torch fused Function with the hand-written reverse step (`phy.options.native: false`);
- `autograd`: plain autograd through every step (`native: false, fused: false`), the reference.
The printed ratios are the reference's epoch time over each row's. The 1-minute load average is printed
at the start and the end (a shared machine: give figures quiet and under load).

    python benchmarks/train_speed.py [--epochs 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import warnings
from pathlib import Path

import torch

from dmg_bmi.domains.hydrology.twin import write_twin
from dmg_bmi.train.config import load_experiment
from dmg_bmi.train.run import train

BATCH, WARMUP, RHO, ITERS = 16, 180, 365, 4


MODES = {"default": {}, "fused": {"native": False}, "autograd": {"native": False, "fused": False}}


def config(data: Path, run: Path, epochs: int, options: dict, threads: int) -> dict:
    return {
        "data": {"path": str(data), "train": {"start": "2000-01-01", "end": "2003-12-31"}},
        "model": {
            "phy": {"name": "hbv_1_1p", "nmul": 4, "dynamic_params": ["parBETA", "parK0", "parBETAET"],
                    "warmup": WARMUP, "options": options},
            "nn": {"name": "lstm_mlp", "hidden_size": 64, "mlp_hidden_size": 128, "mlp_layers": 2},
            "inputs": {"forcings": ["P", "T", "PET"], "attributes": [
                "p_mean", "slope", "soil_depth", "forest_frac", "sand_frac", "aridity"]},
        },
        "train": {"epochs": epochs, "batch_size": BATCH, "rho": RHO, "iterations_per_epoch": ITERS},
        "run": {"exact_dir": str(run), "device": "cpu", "progress": False, "save_every": 0,
                "threads": threads},
    }


def epoch_seconds(data: Path, run: Path, epochs: int, options: dict, threads: int) -> float:
    """Fastest epoch wall time (s) from the run's CSV log, first epoch excluded when there are several
    (the minimum, not the median: on a shared machine other jobs only ever add time)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(load_experiment(data=config(data, run, epochs, options, threads)))
    secs = [float(r["seconds"]) for r in csv.DictReader((run / "train_log.csv").open())]
    secs = secs[1:] if len(secs) > 1 else secs
    return min(secs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="run.threads (default 1, train's default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_twin(tmp / "twin.nc", n_basins=16, years=4, seed=0)
        days = BATCH * (WARMUP + RHO) * ITERS
        secs = {m: epoch_seconds(data, tmp / m, args.epochs, opts, args.threads) for m, opts in MODES.items()}
    print(f"threads {args.threads}; per epoch {ITERS} minibatches x {BATCH} basins x {WARMUP + RHO} days")
    for mode, sec in secs.items():
        note = "  (reference)" if mode == "autograd" else f"  {secs['autograd'] / sec:5.2f}x the reference"
        print(f"{mode:9s} HBV: epoch {sec:7.2f} s   {days / sec:9.0f} basin-days/s{note}")
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
