"""Make further WOFOST 7.2 PP reference cases with PCSE itself, in the layout of PCSE's test files.

Each new case is a PCSE case with perturbed crop parameters, a shifted crop start and sometimes another start
or end type, run through PCSE's standard `Wofost72_PP` engine (the `pcse` package must be importable:
`pip install pcse`; it is not a dependency of dmg_bmi). The results are PCSE's, so the tests can check the
model on cases nobody tuned it to:

    python tools/make_pcse_cases.py --source ../shared/data/pcse_wofost72_pp --out /tmp/pcse_more -n 60
    DMG_BMI_PCSE_PP_DIR=/tmp/pcse_more python -m pytest tests/test_wofost_pcse.py

`--edge` also makes, per source case, variants whose DVS tables reach a breakpoint value exactly at a stage
change (DVS 1.0) and whose SPAN is a whole number of days of the case's mean temperature, the places where
the day's order of table lookups and leaf death decide the result. Cases PCSE cannot run (the season runs
past the weather, a start before the weather) are skipped and counted. The files are data made here from
PCSE's inputs: keep them out of the repository (README: data stays in ../shared).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import math
import sys
from pathlib import Path

import numpy as np
import yaml

SCALARS = ("TSUM1", "TSUM2", "SPAN", "TDWI", "RRI", "RDI", "RDMCR", "LAIEM", "RGRLAI", "TBASE", "CVL", "CVO",
           "CVR", "CVS", "RML", "RMO", "RMR", "RMS", "Q10", "PERDL", "TSUMEM", "TBASEM", "TEFFMX")
# DVS tables whose breakpoints may move alone (FLTB, FSTB, FOTB must keep summing to 1)
DVS_TABLES = ("FRTB", "RDRRTB", "RDRSTB", "SLATB", "AMAXTB", "KDIFTB", "RFSETB")
OUTPUTS = ("DVS", "LAI", "RD", "TAGP", "TRA", "TWLV", "TWRT", "TWSO", "TWST")


def pcse_inputs(case: dict):
    """PCSE's (ParameterProvider, WeatherDataProvider) of `case` (a PCSE test-file dict), as its tests make
    them: every parameter as crop data, the daily weather records without SNOWDEPTH."""
    from pcse.base import ParameterProvider
    from pcse.base.weather import WeatherDataContainer, WeatherDataProvider

    class Weather(WeatherDataProvider):
        def __init__(self, records):
            super().__init__()
            for rec in records:
                rec = {k: v for k, v in rec.items() if k != "SNOWDEPTH"}
                self._store_WeatherDataContainer(WeatherDataContainer(**rec), rec["DAY"])

    return ParameterProvider(cropdata=case["ModelParameters"]), Weather(case["WeatherVariables"])


def run_pcse(case: dict) -> list[dict]:
    """PCSE's daily outputs `OUTPUTS` for `case` (a PCSE test-file dict) from its `Wofost72_PP` engine."""
    from pcse.models import Wofost72_PP

    params, weather = pcse_inputs(case)
    model = Wofost72_PP(params, weather, case["AgroManagement"])
    model.run_till_terminate()
    rows = [r for r in model.get_output() if r.get("DVS") is not None]
    return [{"DAY": r["day"], **{k: float(r[k]) for k in OUTPUTS}} for r in rows]


def _calendar(case: dict) -> dict:
    return next(iter(case["AgroManagement"][0].values()))["CropCalendar"]


def _flat_pairs(flat: list) -> list[tuple[float, float]]:
    pairs = [(float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]
    keep = [pairs[0]]
    for x, y in pairs[1:]:  # PCSE's rule: the ascending run of x, then padding
        if x <= keep[-1][0]:
            break
        keep.append((x, y))
    return keep


def _edge_table(flat: list, rng: np.random.Generator, zero_after: bool = False) -> list:
    """The table with one interior breakpoint moved to x = 1.0 (anthesis), so that the value there is
    reached exactly at the stage change (`zero_after`: that value and every later one 0, as an FRTB that
    ends root growth at anthesis); unchanged when it has no interior point to move."""
    pairs = _flat_pairs(flat)
    inner = [i for i in range(1, len(pairs) - 1) if pairs[i - 1][0] < 1.0 < pairs[i + 1][0]]
    if not inner:
        return flat
    i = int(rng.choice(inner))
    pairs[i] = (1.0, 0.0 if zero_after else pairs[i][1])
    if zero_after:  # a value before it whose line to 0 leaves a rounding residue at 1.0, as PCSE computes it
        x0, d = pairs[i - 1][0], 1.0 - pairs[i - 1][0]
        for _ in range(1000):
            y0 = max(pairs[i - 1][1], 0.05) * float(rng.uniform(0.9, 1.1))
            if y0 + (-y0 / d) * d != 0.0:
                break
        pairs[i - 1] = (x0, y0)
        pairs[i + 1:] = [(x, 0.0) for x, _ in pairs[i + 1:]]
    return [v for p in pairs for v in p]


def _extend_weather(records: list[dict], before: int, after: int) -> list[dict]:
    """The daily records with `before` days prepended and `after` appended, their values repeated from the
    record's other end (synthetic days: room for an earlier start or a longer season)."""
    n = len(records)
    first, last = records[0]["DAY"], records[-1]["DAY"]
    head = [{**records[(n - before + i) % n], "DAY": first - dt.timedelta(days=before - i)}
            for i in range(before)]
    tail = [{**records[i % n], "DAY": last + dt.timedelta(days=i + 1)} for i in range(after)]
    return head + records + tail


def variant(source: dict, rng: np.random.Generator, edge: bool) -> dict:
    """A perturbed copy of `source` (not yet run): parameters x U(0.85, 1.15), the start shifted by up to
    +-20 days (the weather extended for it), and with edge cases a DVS table breakpoint moved onto 1.0."""
    case = copy.deepcopy(source)
    case["WeatherVariables"] = _extend_weather(case["WeatherVariables"], 30, 200)
    par = case["ModelParameters"]
    for name in SCALARS:
        if name in par and isinstance(par[name], (int, float)) and par[name] > 0:
            par[name] = float(par[name]) * float(rng.uniform(0.85, 1.15))
    if edge:
        for name in ("FRTB", *rng.choice(DVS_TABLES[1:], size=2, replace=False)):
            par[str(name)] = _edge_table(par[str(name)], rng, zero_after=name == "FRTB")
        if "SPAN" in par:  # a whole number of degree-days steps: leaf ages tie SPAN exactly
            par["SPAN"] = float(round(par["SPAN"]))
        par["RRI"] = float(par["RRI"]) * 0.4  # roots still growing at anthesis (below the maximum depth)
    cal = _calendar(case)
    start = cal["crop_start_date"] + dt.timedelta(days=int(rng.integers(-20, 21)))
    first = case["WeatherVariables"][0]["DAY"]
    start = max(start, first + dt.timedelta(days=1))
    if cal.get("crop_end_date") is not None:
        cal["crop_end_date"] = cal["crop_end_date"] + (start - cal["crop_start_date"])
    if rng.random() < 0.25:
        cal["crop_start_type"] = "emergence" if cal["crop_start_type"] == "sowing" else "sowing"
    cal["crop_start_date"] = start
    case["AgroManagement"] = [{start: next(iter(case["AgroManagement"][0].values()))}]
    return case


def finish(case: dict, results: list[dict]) -> dict:
    """The case with PCSE's `results`, its weather cut to the run's days and SM forced to SMFCF."""
    days = {r["DAY"] for r in results}
    case["ModelResults"] = results
    case["WeatherVariables"] = [w for w in case["WeatherVariables"] if w["DAY"] in days]
    smfcf = float(case["ModelParameters"]["SMFCF"])
    case["ExternalStates"] = [{"DAY": r["DAY"], "SM": smfcf} for r in results]
    return case


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="folder of PCSE PP test files (*.yaml)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the new cases (created)")
    ap.add_argument("-n", type=int, default=60, help="how many cases to make (default 60)")
    ap.add_argument("--edge", action="store_true", help="also move DVS-table breakpoints onto DVS 1.0")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sources = sorted(args.source.glob("*.yaml"))
    if not sources:
        raise SystemExit(f"--source: no *.yaml in {args.source}")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    made = skipped = 0
    for k in range(args.n * 10):
        if made == args.n:
            break
        path = sources[k % len(sources)]
        source = yaml.safe_load(path.read_text(encoding="utf-8"))
        case = variant(source, rng, args.edge)
        try:
            results = run_pcse(case)
        except Exception as exc:  # noqa: BLE001  (PCSE's own errors: a season past the weather, ...)
            skipped += 1
            print(f"skipped a variant of {path.name}: {type(exc).__name__}: {str(exc)[:120]}",
                  file=sys.stderr)
            continue
        if not results or any(not math.isfinite(v) for r in results for k2, v in r.items() if k2 != "DAY"):
            skipped += 1
            continue
        name = f"pcse_pp_variant_{made:03d}_{path.stem.rsplit('_', 1)[-1]}.yaml"
        header = (f"# Made by tools/make_pcse_cases.py (seed {args.seed}) from {path.name} with PCSE's\n"
                  "# Wofost72_PP: perturbed crop parameters and start date. Not for the repository.\n")
        (args.out / name).write_text(header + yaml.safe_dump(finish(case, results), sort_keys=True),
                                     encoding="utf-8")
        made += 1
    print(f"made {made} cases in {args.out} ({skipped} variants PCSE could not run)")
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main())
