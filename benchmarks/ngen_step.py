"""CPU time per catchment-step inside the real ngen: ngen's floor, and this BMI on numpy and torch.

Domain: the 01073000 example (5 catchments, AORC CSV forcing) with the shipped CAMELS checkpoint
(`bmi_configs/dhbv_camels8.pt`), hourly. Each configuration runs twice, over a short and a long period;
the difference of ngen's CPU time (user + sys of the child process) divided by the extra catchment-steps
is the cost of one catchment-step, free of start-up (imports, checkpoint loading). Configurations:

- `floor`: `ngen_floor_bmi.NullBmi`, a BMI that declares exactly what ours declares and does nothing;
- `numpy`, `torch`: `DeltaModelBmi` with `backend: numpy` / `backend: torch`.

Printed: ms per catchment-step for each, ours minus the floor (target <= 0.2 ms on CPU), ours / floor, and
the load average before and after (the machine is shared: quote figures with it).

    python benchmarks/ngen_step.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
from pathlib import Path

import yaml

from dmg_bmi.ngen.needs import needed_attributes
from dmg_bmi.ngen.runner import NgenEnv
from dmg_bmi.ngen.writers import read_attributes_table, write_run_folder

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DMG_BMI_SHARED_DATA", REPO.parent / "shared" / "data"))
DOMAIN = SHARED / "hydro" / "hourly" / "ngen_gauge_01073000"
CKPT = REPO / "bmi_configs" / "dhbv_camels8.pt"
START = "2015-12-01 00:00:00"
ENDS = {"short": ("2015-12-05 23:00:00", 120), "long": ("2015-12-29 23:00:00", 696)}


def prepare() -> NgenEnv:
    shared_ngen = SHARED.parent / "ngen"
    candidates = [Path(os.environ["DMG_BMI_NGEN"])] if os.environ.get("DMG_BMI_NGEN") else []
    cache = Path(os.environ.get("DMG_BMI_NGEN_CACHE", Path.home() / ".cache" / "dmg_bmi" / "ngen"))
    return NgenEnv.prepare([*candidates, shared_ngen / "ngen"], cache, REPO,
                           build_script=shared_ngen / "build.sh")


def make_run(out: Path, end: str, kind: str) -> Path:
    table = read_attributes_table(DOMAIN / "camels_attributes_v2_01073000.csv")
    run = write_run_folder(out, DOMAIN / "catchments.geojson", DOMAIN / "forcing", CKPT, START, end,
                           needed_attributes(CKPT), table=table, nexus_geojson=DOMAIN / "nexus_hf.geojson")
    for path in (run / "config").glob("*.yml"):
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        cfg["backend"] = "torch" if kind == "torch" else "numpy"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    if kind == "floor":
        real = json.loads((run / "realization.json").read_text(encoding="utf-8"))
        params = real["global"]["formulations"][0]["params"]
        params["python_type"] = "ngen_floor_bmi.NullBmi"
        (run / "realization.json").write_text(json.dumps(real, indent=2), encoding="utf-8")
    return run


def cpu_seconds(env: NgenEnv, run: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env.run(run, extra_pythonpath=[Path(__file__).parent])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration and length (min)")
    args = parser.parse_args()
    load0 = os.getloadavg()
    env = prepare()
    n_cat = len(json.loads((DOMAIN / "catchments.geojson").read_text(encoding="utf-8"))["features"])
    extra_steps = n_cat * (ENDS["long"][1] - ENDS["short"][1])
    per_step = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("floor", "numpy", "torch"):
            cpu = {}
            for length, (end, _) in ENDS.items():
                run = make_run(Path(tmp) / f"{kind}_{length}", end, kind)
                cpu[length] = min(cpu_seconds(env, run) for _ in range(args.repeats))
            per_step[kind] = (cpu["long"] - cpu["short"]) / extra_steps * 1e3
            print(f"{kind:>6}: {per_step[kind]:.3f} ms CPU per catchment-step "
                  f"(short {cpu['short']:.2f} s, long {cpu['long']:.2f} s)")
    floor = per_step["floor"]
    for kind in ("numpy", "torch"):
        print(f"{kind:>6} above ngen's floor: {per_step[kind] - floor:+.3f} ms per catchment-step "
              f"(target <= 0.2 ms); ratio to the floor {per_step[kind] / floor:.2f}x")
    print(f"load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs; ngen {env.binary})")


if __name__ == "__main__":
    main()
