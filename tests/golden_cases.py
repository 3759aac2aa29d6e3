"""Golden outputs: what the package computes today on inputs it makes itself, kept to prove a refactor
changes no number.

Each case runs a public entry point (the BMI, `dmg-bmi simulate`, `dmg-bmi train`) on deterministic input
(analytic forcing with a legacy `RandomState`, whose stream numpy keeps stable across versions; the package's
own twins; the shipped checkpoints) and returns named float64 arrays. `tools/record_golden.py` writes them
to `tests/golden/golden.npz`; `tests/test_golden.py` recomputes them and compares.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.cli import main as cli

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "bmi_configs"
PCSE = REPO.parent / "shared" / "data" / "pcse_wofost72_pp"

PRECIP = "atmosphere_water__liquid_equivalent_precipitation_rate"


def hourly_forcing(start: str, hours: int, seed: int) -> dict[str, np.ndarray]:
    """Plausible hourly AORC forcing in the BMI's names and units (mm s-1, K, kg kg-1, Pa, W m-2, m s-1):
    seasonal and diurnal temperature and sun, showers, wind."""
    rng = np.random.RandomState(seed)
    days = hours // 24
    t0 = datetime.fromisoformat(start)
    h = np.arange(hours)
    hod = (t0.hour + h) % 24
    doy = t0.timetuple().tm_yday + h / 24.0
    temp = 283.0 + 10 * np.sin(2 * np.pi * (doy - 110) / 365) + 5 * np.sin(2 * np.pi * (hod - 9) / 24)
    temp += np.repeat(rng.normal(0, 2.5, days), 24)
    season = 0.6 + 0.4 * np.sin(2 * np.pi * (doy - 80) / 365)
    sun = np.clip(np.sin(np.pi * (hod - 5) / 15), 0, None) * np.repeat(rng.uniform(300, 850, days), 24)
    sun = sun * season
    wet = np.repeat(rng.uniform(size=days) < 0.35, 24) & (rng.uniform(size=hours) < 0.3)
    return {
        PRECIP: np.where(wet, rng.gamma(0.8, 1.2e-3, hours), 0.0),
        "land_surface_air__temperature": temp,
        "atmosphere_air_water~vapor__relative_saturation": 0.004 + 0.002 * rng.uniform(size=hours),
        "land_surface_air__pressure": 97000.0 + 500 * rng.normal(size=hours),
        "land_surface_radiation~incoming~shortwave__energy_flux": sun,
        "land_surface_radiation~incoming~longwave__energy_flux": 300.0 + 20 * rng.normal(size=hours),
        "land_surface_wind__x_component_of_velocity": rng.normal(2, 1.5, hours),
        "land_surface_wind__y_component_of_velocity": rng.normal(0, 1.5, hours),
    }


def run_bmi(config: Path, work: Path, seed: int, **changes) -> dict[str, np.ndarray]:
    """Step a shipped BMI config over its whole period; every output after every update, `[time, 1]`."""
    cfg = yaml.safe_load(config.read_text())
    cfg.update(changes)
    for key in ("checkpoint", "initial_state"):
        if cfg.get(key):
            cfg[key] = str(config.parent / cfg[key])
    path = work / config.name
    path.write_text(yaml.safe_dump(cfg))
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    hours = round((bmi.get_end_time() - bmi.get_start_time()) / 3600)
    forcing = hourly_forcing(str(cfg["start_time"]), hours, seed)
    outputs = bmi.get_output_var_names()
    rows = np.zeros((hours, len(outputs)))
    buf = np.zeros(1)
    for k in range(hours):
        for name in bmi.get_input_var_names():
            bmi.set_value(name, forcing[name][k : k + 1])
        bmi.update()
        rows[k] = [bmi.get_value(name, buf)[0] for name in outputs]
    bmi.finalize()
    return {name: rows[:, i] for i, name in enumerate(outputs)}


def _cli(*argv: str) -> None:
    status = cli([str(a) for a in argv])
    if status:
        raise RuntimeError(f"dmg-bmi {' '.join(map(str, argv))} exited {status}")


def hydro_twin(work: Path) -> Path:
    path = work / "twin.nc"
    if not path.exists():
        _cli("make-sample-data", "--out", path, "--basins", 6, "--years", 3, "--start", "2000-01-01")
    return path


def crop_twin(work: Path) -> Path:
    path = work / "crop_twin.nc"
    if not path.exists():
        _cli("make-sample-data", "--kind", "crop", "--out", path, "--sites", 4, "--pcse-dir", PCSE)
    return path


def simulate_twin(work: Path) -> dict[str, np.ndarray]:
    """`dmg-bmi simulate` with the shipped quickstart checkpoint on a small hydro twin (every output)."""
    import netCDF4

    out = work / "sim"
    _cli("simulate", "--checkpoint", CONFIGS / "quickstart_hbv11p.pt", "--data", hydro_twin(work),
         "--kind", "netcdf", "--start", "2001-01-01", "--end", "2002-12-31", "--out", out)
    with netCDF4.Dataset(out / "simulation.nc") as nc:
        return {name: np.asarray(var[:], dtype=np.float64) for name, var in nc.variables.items()
                if var.dtype is not str and np.dtype(var.dtype).kind == "f"}


def _training(run_root: Path) -> dict[str, np.ndarray]:
    """The logged losses (as printed, 6 digits) and every weight of `last.pt` (exact) of the one run under
    `run_root`."""
    import torch

    from dmg_bmi.core.checkpoint import load_checkpoint

    (run_dir,) = [p for p in run_root.iterdir() if p.is_dir()]
    with open(run_dir / "train_log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {f"log_{c}": np.array([float(r[c]) for r in rows]) for c in ("loss", "lr", "skipped_batches")}
    state = load_checkpoint(run_dir / "last.pt").state_dict
    out.update({f"weight_{k}": v.detach().to(torch.float64).numpy().ravel() for k, v in state.items()})
    return out


def train_hydro(work: Path) -> dict[str, np.ndarray]:
    """Three epochs of the quickstart config on the small twin, seed 0: the logged losses."""
    run = work / "train_hydro"
    _cli("train", "--config", REPO / "dmg_bmi" / "configs" / "quickstart.yaml",
         "--set", f"data.path={hydro_twin(work)}", "--set", "train.epochs=3",
         "--set", "train.iterations_per_epoch=3", "--set", "train.batch_size=4", "--set", "train.rho=120",
         "--set", "model.phy.warmup=60", "--set", "data.train.end=2001-12-31",
         "--set", "data.test.start=2002-01-01", "--set", "data.test.end=2002-12-31",
         "--set", "run.device=cpu", "--set", f"run.run_dir={run}")
    return _training(run)


def train_crop(work: Path) -> dict[str, np.ndarray]:
    """Three epochs of the crop-twin config on a small crop twin, seed 0: the logged losses."""
    run = work / "train_crop"
    _cli("train", "--config", REPO / "dmg_bmi" / "configs" / "crop_twin.yaml",
         "--set", f"data.path={crop_twin(work)}", "--set", "train.epochs=3", "--set", f"run.run_dir={run}")
    return _training(run)


CASES: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
    "bmi_quickstart_numpy": lambda w: run_bmi(CONFIGS / "quickstart.yml", w, 1, backend="numpy",
                                              end_time="2004-12-30 23:00:00"),
    "bmi_quickstart_torch": lambda w: run_bmi(CONFIGS / "quickstart.yml", w, 1, backend="torch",
                                              end_time="2004-03-30 23:00:00"),
    "bmi_demo_routing": lambda w: run_bmi(CONFIGS / "example.yml", w, 2, start_time="2015-01-01 00:00:00",
                                          end_time="2015-12-31 23:00:00"),
    "bmi_crop": lambda w: run_bmi(CONFIGS / "crop_twin.yml", w, 3),
    "simulate_twin": simulate_twin,
    "train_hydro": train_hydro,
    "train_crop": train_crop,
}


def compute(work: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Run the cases (all by default) in folder `work`; arrays keyed `case/name`."""
    result = {}
    for case in names or list(CASES):
        folder = work / case
        folder.mkdir(parents=True, exist_ok=True)
        for key, value in CASES[case](folder).items():
            result[f"{case}/{key}"] = np.asarray(value, dtype=np.float64)
    return result


def environment() -> dict[str, str]:
    """What bit-for-bit reproducibility depends on: the torch and numpy versions, the CPU kernels, and the
    HBV native kernel's build (its file name hashes the source, the compiler and the flags, vector math
    included; "none" where it could not be built and the torch path ran)."""
    import platform

    import torch

    from dmg_bmi.domains.hydrology import hbv_native

    lib = hbv_native.kernel()
    return {"torch": torch.__version__, "numpy": np.__version__, "machine": platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "hbv_kernel": lib.path.name if lib else "none"}
