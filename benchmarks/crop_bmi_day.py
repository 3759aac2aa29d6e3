"""Crop BMI speed: the cost of one δWOFOST day in `DeltaModelBmi` under an hourly ngen step, over a season.

A BMI day is 24 hourly cycles (set_value of each declared input + update; the 24th update closes the day:
hourly -> daily weather, one WOFOST day, outputs published) and the outputs read with get_value_at_indices.
Model: the shipped bmi_configs/crop_twin.yml (potato, sown 2015-04-24, harvested 2015-10-08), one field,
CPU, 1 torch thread, on synthetic hourly AORC forcing from 2015-04-01 for `--days` days.

Measured in the same run, for comparison:
- the BMI's WOFOST day itself: `wofost72.scalar.day` (the one-field path on Python floats the crop handler
  steps) on the same days' weather;
- the torch day step at batch 1 (`Wofost72PP.step` on the day's weather, prepared parameters: the BMI's
  engine before the scalar path);
- PCSE 6.0.13's cost per day (`wofost_speed.pcse_season`: a season of PCSE PP case 01 / its days) where
  `pcse` is importable (e.g. /work/venv-pcse/bin/python).
Target (issue 12): a BMI day <= 0.3 ms.

`--modalities`: also the shipped checkpoint with each issue-14 crop modality (`dmg_bmi.domains.crop.demo`,
random weights): a learned process at WOFOST's `assimilation_reduction` hook (2 x 16, run inside every day
as a float64 numpy copy) and a daily AMAX factor from an LSTM (8 units, one numpy step a day); seasons
interleaved with the plain one's, each cost as a ratio of the plain BMI day.

    python benchmarks/crop_bmi_day.py [--days 200] [--repeats 3] [--modalities]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from wofost_speed import pcse_season

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.data.variables import saturation_vp_pa
from dmg_bmi.domains.crop.delta import PHYSICS_WEATHER
from dmg_bmi.domains.crop.demo import MODALITIES, with_modality
from dmg_bmi.domains.crop.variables import OUTPUT_NAMES
from dmg_bmi.domains.crop.wofost72 import scalar

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "bmi_configs" / "crop_twin.yml"
TARGET_MS = 0.3  # issue 12: hourly records in, a day's step, outputs published


def forcing(n_days: int) -> dict[str, np.ndarray]:
    """Hourly AORC forcing from 1 April (BMI names and units): diurnal temperature and sun, some showers."""
    rng = np.random.default_rng(0)
    h = np.arange(24 * n_days)
    hod, doy = h % 24, 91 + h / 24
    temp = 285.0 + 8 * np.sin(2 * np.pi * (doy - 110) / 365) + 5 * np.sin(2 * np.pi * (hod - 9) / 24)
    sun = np.clip(np.sin(np.pi * (hod - 5) / 15), 0, None) * np.repeat(rng.uniform(300, 850, n_days), 24)
    return {
        "atmosphere_water__liquid_equivalent_precipitation_rate": rng.gamma(0.3, 3e-4, h.size)
        * (rng.random(h.size) < 0.1),
        "land_surface_air__temperature": temp,
        "atmosphere_air_water~vapor__relative_saturation": 0.311 * saturation_vp_pa(temp - 273.15) / 97e3,
        "land_surface_air__pressure": np.full(h.size, 97e3),
        "land_surface_radiation~incoming~shortwave__energy_flux": sun,
        "land_surface_wind__x_component_of_velocity": rng.normal(2, 1.5, h.size),
        "land_surface_wind__y_component_of_velocity": rng.normal(0, 1.5, h.size),
    }


def bmi_days(config: Path, n_days: int) -> tuple[np.ndarray, list[dict[str, float]], DeltaModelBmi]:
    """Seconds per BMI day over `n_days`, the engine's daily weather of each day, and the BMI."""
    bmi = DeltaModelBmi()
    bmi.initialize(str(config))
    f = forcing(n_days)
    names = bmi.get_input_var_names()
    hours = [[(name, f[name][i : i + 1]) for name in names] for i in range(24 * n_days)]
    dest, inds = np.zeros(1), np.array([0], dtype=np.int32)
    out, weather = np.empty(n_days), []
    for d in range(n_days):
        t0 = time.perf_counter()
        for record in hours[24 * d : 24 * d + 24]:
            for name, value in record:
                bmi.set_value(name, value)
            bmi.update()
        for name in OUTPUT_NAMES:
            bmi.get_value_at_indices(name, dest, inds)
        out[d] = time.perf_counter() - t0
        weather.append(bmi._adapter.weather)
    return out, weather, bmi


def scalar_days(bmi: DeltaModelBmi, weather: list[dict[str, float]]) -> np.ndarray:
    """Seconds per `scalar.day` on the same days (the BMI's bound field, a fresh state)."""
    handler = bmi._handler
    state = handler.initial_state()
    rows = [{**w, "TEMP": 0.5 * (w["TMIN"] + w["TMAX"])} for w in weather]
    out = np.empty(len(rows))
    for d, row in enumerate(rows):
        t0 = time.perf_counter()
        state, _ = scalar.day(handler.field, state, row, d)
        out[d] = time.perf_counter() - t0
    return out


def model_days(bmi: DeltaModelBmi, weather: list[dict[str, float]]) -> np.ndarray:
    """Seconds per `Wofost72PP.step` at batch 1 on the same days (the BMI's bound physics, a fresh state)."""
    handler = bmi._handler
    state = handler.phy.initial_state(1, torch.float64)
    xs = [torch.tensor([[w["DOY"] if n == "DOY" else w[n] for n in PHYSICS_WEATHER]], dtype=torch.float64)
          for w in ({**w, "TEMP": 0.5 * (w["TMIN"] + w["TMAX"])} for w in weather)]
    out = np.empty(len(xs))
    with torch.no_grad():
        for d, x in enumerate(xs):
            t0 = time.perf_counter()
            state, _ = handler.phy.step(state, x, handler.prepared, handler.attrs_phy)
            out[d] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=200, help="run days from 2015-04-01 (<= 203)")
    parser.add_argument("--repeats", type=int, default=3, help="seasons run; the figures pool them")
    parser.add_argument("--modalities", action="store_true", help="also the issue-14 crop modalities")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["checkpoint"] = str(CONFIG.parent / cfg["checkpoint"])
    config = Path(os.environ.get("TMPDIR", "/tmp")) / f"crop_bmi_day_{os.getpid()}.yml"
    config.write_text(yaml.safe_dump(cfg))
    print(f"cpu: {os.cpu_count()} cores visible, torch {torch.__version__} (1 thread), numpy "
          f"{np.__version__}; load average {os.getloadavg()[0]:.2f}")
    extra = {m: (config.with_name(f"crop_bmi_day_{m}_{os.getpid()}.yml"),
                 config.with_name(f"crop_bmi_day_{m}_{os.getpid()}.pt")) for m in MODALITIES}
    try:
        bmi_days(config, 5)  # warm-up: loads the checkpoint into the process cache
        runs, modality_runs = [], {m: [] for m in MODALITIES} if args.modalities else {}
        for m in modality_runs:
            with_modality(cfg["checkpoint"], extra[m][1], m)
            extra[m][0].write_text(yaml.safe_dump({**cfg, "checkpoint": str(extra[m][1])}))
            bmi_days(extra[m][0], 5)
        for _ in range(args.repeats):  # interleaved, so all see the same load
            runs.append(bmi_days(config, args.days))
            for m, seconds in modality_runs.items():
                seconds.append(bmi_days(extra[m][0], args.days)[0])
    finally:
        for path in (config, *(p for pair in extra.values() for p in pair)):
            path.unlink(missing_ok=True)
    bmi_s = np.concatenate([r[0] for r in runs])
    scalar_s = np.concatenate([scalar_days(r[2], r[1]) for r in runs])
    step_s = np.concatenate([model_days(r[2], r[1]) for r in runs])
    load = os.getloadavg()[0]
    print(f"\none δWOFOST day through the BMI, {args.days} days x {args.repeats} seasons (24 x "
          f"{len(runs[0][2].get_input_var_names())} set_value + 24 updates + {len(OUTPUT_NAMES)} "
          f"get_value_at_indices), load average {load:.2f}:")
    med, p90 = 1e3 * np.median(bmi_s), 1e3 * np.percentile(bmi_s, 90)
    print(f"  BMI day:                median {med:6.3f} ms, p90 {p90:6.3f} ms; target <= {TARGET_MS} ms: "
          f"{'met' if med <= TARGET_MS else 'NOT met'}")
    labels = {"process": "a learned process (assimilation_reduction, 2 x 16)",
              "daily": "a daily AMAX factor (LSTM 8 over 5 weather variables)"}
    for m, seconds in modality_runs.items():
        mmed = 1e3 * np.median(np.concatenate(seconds))
        print(f"  BMI day with {labels[m]}: median {mmed:6.3f} ms = {mmed / med:.2f}x the plain BMI day")
    cmed, cp90 = 1e6 * np.median(scalar_s), 1e6 * np.percentile(scalar_s, 90)
    print(f"  scalar day (scalar.day, the BMI's engine, same days): median {cmed:6.1f} us, p90 {cp90:6.1f} us"
          f" "
          f"({0.1 * cmed / med:.0f} % of the BMI day)")
    smed, sp90 = 1e3 * np.median(step_s), 1e3 * np.percentile(step_s, 90)
    print(f"  torch day step (Wofost72PP.step, batch 1, same days): median {smed:6.3f} ms, p90 {sp90:6.3f} ms"
          f" "
          f"({smed / med:.1f}x the BMI day)")
    pcse = pcse_season()
    if pcse is None:
        print("  PCSE: not importable here (run with a python that has pcse 6.0.13 for its per-day cost)")
        return
    seconds, days = pcse
    per_day = 1e3 * seconds / days
    print(f"  PCSE 6.0.13 (case 01, {days} days, median of 3 seasons): {per_day:6.3f} ms per day -> BMI day "
          f"{per_day / med:.1f}x, scalar day {1e3 * per_day / cmed:.0f}x, torch day step "
          f"{per_day / smed:.1f}x faster than PCSE (batch-1 target >= 4x); load average "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
