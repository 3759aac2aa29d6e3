"""BMI speed: median us per hourly ngen cycle (set_value of each declared input + update +
get_value_at_indices) for one catchment on CPU, and time/memory to initialize 1, 10 and 100 catchment
instances in one process.

Model: the shipped bmi_configs/example.yml (LSTM hidden 64 -> HBV 1.1p, nmul 16, routing; one member).
Reference measured in the same run: one step of a batch-1 torch LSTM (hidden 126) + linear head, the core
of NOAA-OWP's LSTM BMI, whose full hourly cycle bmi-ngen.md §7 records at ~520 us median on this kind of CPU.
With `--modalities`, the same cycle (numpy backend) for demo checkpoints of the same shape with an output
correction and as an HBV 1.0/1.1p/2.0 multimodel, each against the plain one measured alongside.

    python benchmarks/bmi_step.py [--cycles 5000] [--modalities]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
import yaml

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core.config import CorrectionConfig
from dmg_bmi.ngen.demo import make_demo_checkpoint

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "bmi_configs" / "example.yml"
NOAA_OWP_CYCLE_US = 520.0  # bmi-ngen.md §7, one member, hidden 126


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def forcing(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    h = np.arange(n)
    return np.stack([rng.gamma(0.3, 3e-4, n) * (rng.random(n) < 0.2), 275 + 6 * np.sin(2 * np.pi * h / 24),
                     np.full(n, 0.004), np.full(n, 1e5), np.full(n, 150.0), np.full(n, 300.0), np.ones(n),
                     np.ones(n)], 1)


def cycle_times(bmi: DeltaModelBmi, n: int) -> np.ndarray:
    names = bmi.get_input_var_names()
    f = forcing(n)
    dest, inds = np.zeros(1), np.array([0], dtype=np.int32)
    out = np.empty(n)
    for k in range(n):
        row = f[k]
        t0 = time.perf_counter()
        for i, name in enumerate(names):
            bmi.set_value(name, row[i : i + 1])
        bmi.update()
        bmi.get_value_at_indices("land_surface_water__runoff_depth", dest, inds)
        out[k] = time.perf_counter() - t0
    return out * 1e6


def reference_lstm_step_us(n: int) -> float:
    lstm, head = torch.nn.LSTM(4, 126), torch.nn.Linear(126, 1)
    x, h, c = torch.zeros(1, 1, 4), torch.zeros(1, 1, 126), torch.zeros(1, 1, 126)
    ts = np.empty(n)
    with torch.no_grad():
        for k in range(n):
            t0 = time.perf_counter()
            y, (h, c) = lstm(x, (h, c))
            head(y)
            ts[k] = time.perf_counter() - t0
    return float(np.median(ts) * 1e6)


def instances(count: int, folder: Path) -> tuple[float, float, float, float]:
    """Seconds to initialize `count` instances, seconds for their first update, traced MiB, RSS MiB added."""
    cfgs = []
    base = yaml.safe_load(CONFIG.read_text())
    for i in range(count):
        cfg = dict(base, catchment_id=f"cat-{i}", checkpoint=str(CONFIG.parent / base["checkpoint"]),
                   attributes={**base["attributes"], "aridity": 0.5 + i / count})
        path = folder / f"cat-{i}.yml"
        path.write_text(yaml.safe_dump(cfg))
        cfgs.append(path)
    f = forcing(1)[0]
    rss0 = rss_mib()
    tracemalloc.start()
    t0 = time.perf_counter()
    models = []
    for path in cfgs:
        bmi = DeltaModelBmi()
        bmi.initialize(str(path))
        models.append(bmi)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    for bmi in models:
        for i, name in enumerate(bmi.get_input_var_names()):
            bmi.set_value(name, f[i : i + 1])
        bmi.update()
    t_first = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return t_init, t_first, traced, rss_mib() - rss0


def modalities(work: Path, cycles: int) -> None:
    """Median numpy-backend cycle of a plain, a corrected and a multimodel demo checkpoint (nmul 16, LSTM
    64), interleaved in three rounds, each against the plain one."""
    members = ["hbv_1_0", "hbv_1_1p", "hbv_2"]
    checkpoints = {
        "plain": make_demo_checkpoint(work / "plain.pt"),
        "output correction": make_demo_checkpoint(work / "corrected.pt",
                                                  correction=CorrectionConfig(features=["SM", "SLZ"])),
        "multimodel (3 variants)": make_demo_checkpoint(
            work / "multimodel.pt", physics="hbv_multimodel",
            dynamic=["parBETA", "parK0", "parBETAET", *(f"logit_{m}" for m in members)]),
    }
    base = yaml.safe_load(CONFIG.read_text())
    bmis = {}
    for name, ckpt in checkpoints.items():
        site = {"elevation_m": 300.0} if "multimodel" in name else {}  # HBV 2.0 reads the elevation
        cfg = dict(base, backend="numpy", checkpoint=str(ckpt), attributes={**base["attributes"], **site})
        path = work / f"{ckpt.stem}.yml"
        path.write_text(yaml.safe_dump(cfg))
        bmis[name] = DeltaModelBmi()
        bmis[name].initialize(str(path))
        cycle_times(bmis[name], 200)
    medians = {name: [] for name in bmis}
    for _ in range(3):
        for name, bmi in bmis.items():
            medians[name].append(float(np.median(cycle_times(bmi, cycles // 3))))
    plain = np.median(medians["plain"])
    print("\nmodalities, numpy backend, median of 3 interleaved rounds:")
    for name, values in medians.items():
        med = float(np.median(values))
        print(f"  {name:24s} median {med:7.1f} us  ({med / plain:4.2f}x plain)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5000)
    parser.add_argument("--modalities", action="store_true",
                        help="also time an output correction and a multimodel against the plain model")
    args = parser.parse_args()
    torch.set_num_threads(1)  # bmi-ngen.md §7: torch BMIs are slower with more intra-op threads
    print(f"cpu: {os.cpu_count()} cores visible, torch {torch.__version__}, numpy {np.__version__}")

    work = Path(tempfile.mkdtemp(prefix="bmi_bench_"))
    try:
        # a first instance loads the checkpoint into the process cache (as the first catchment in ngen does)
        t0 = time.perf_counter()
        first = DeltaModelBmi()
        first.initialize(str(CONFIG))
        print(f"first instance (loads the checkpoint): {1e3 * (time.perf_counter() - t0):.1f} ms")
        results = {}
        for backend in ("numpy", "torch"):
            base = yaml.safe_load(CONFIG.read_text())
            cfg = dict(base, backend=backend, checkpoint=str(CONFIG.parent / base["checkpoint"]))
            path = work / f"{backend}.yml"
            path.write_text(yaml.safe_dump(cfg))
            bmi = DeltaModelBmi()
            bmi.initialize(str(path))
            cycle_times(bmi, 200)  # warm-up: fills the 24 daily chains
            ts = cycle_times(bmi, args.cycles if backend == "numpy" else max(500, args.cycles // 5))
            results[backend] = (float(np.median(ts)), float(np.percentile(ts, 90)))
        ref = reference_lstm_step_us(2000)
        print(f"\nhourly cycle, one catchment, CPU ({bmi.get_input_item_count()} x set_value (the declared "
              "inputs) + update + get_value_at_indices):")
        for backend, (med, p90) in results.items():
            print(f"  dmg_bmi {backend:5s} backend: median {med:7.1f} us, p90 {p90:7.1f} us, "
                  f"{1e6 / med:8.0f} cycles/s")
        med = results["numpy"][0]
        print(f"  reference, torch LSTM(126) step at batch 1 (this run): {ref:7.1f} us "
              f"-> our full cycle / their bare LSTM step = {med / ref:.2f}")
        print(f"  NOAA-OWP LSTM BMI full cycle (bmi-ngen.md §7): {NOAA_OWP_CYCLE_US:.0f} us "
              f"-> speed-up {NOAA_OWP_CYCLE_US / med:.1f}x; target <= 150 us: "
              f"{'met' if med <= 150 else 'NOT met'}")

        print("\ninitializing N catchment instances in one process (weights already cached):")
        for count in (1, 10, 100):
            folder = work / f"n{count}"
            folder.mkdir()
            t_init, t_first, traced, rss = instances(count, folder)
            print(f"  {count:4d}: initialize {1e3 * t_init:8.1f} ms ({1e3 * t_init / count:6.2f} ms each), "
                  f"first update (binds attributes) {1e3 * t_first:8.1f} ms, memory {traced:6.2f} MiB "
                  f"traced ({1024 * traced / count:6.1f} KiB each), RSS +{rss:.1f} MiB")
        print("  target: 100 instances in < 0.5 s together (NOAA-OWP LSTM: ~12 ms each)")
        if args.modalities:
            modalities(work, args.cycles)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
