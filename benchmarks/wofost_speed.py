"""Throughput of the batched WOFOST 7.2 PP model vs PCSE (seconds per season-field, fields per second).

The batch holds B copies of PCSE PP case 01 (sugar beet, 260-day season) with TSUM1, SPAN, TDWI and the
AMAXTB scale jittered by ±10 % per field (so fields differ). Each configuration (dtype × forward or
forward+backward × batch) runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.
Forward+backward runs in chunks of `--chunk` fields (default per dtype, `CHUNKS`; fields are independent, so
the gradients are those of the whole batch) to bound the autograd graph's memory; the mode column shows it.
Peak memory per field is the process's peak divided by the fields in flight (the chunk, or the batch).

PCSE reference: if `pcse` is importable it is timed here on the same case (median of 3 runs) just before each
row, so that each ratio is taken under the same load (a shared machine's load moves during a run); otherwise
the ratio uses the documented anchor of 0.21 s per 260-day season (shared/docs/wofost72-pp.md §3, measured
on a 2-core x86-64 CPU), labelled as such. Issue 12's targets stand beside the ratios they apply to; the load
average is printed before and after (a shared machine: give figures quiet and under load).
`MB/field` is the memory a run adds per field in flight (peak resident minus the resident set before the
run, over the batch or the chunk): what bounds a batch on a machine.

    python benchmarks/wofost_speed.py [--batches 1 44 1000 10000] [--device cpu] [--threads N]
    (the case: $DMG_BMI_PCSE_PP_DIR, os.pathsep-separated folders, else ../shared/data/pcse_wofost72_pp)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

PCSE_ANCHOR_S = 0.21  # s per 260-day season, documented (not measured here)
CASE = "test_potentialproduction_wofost72_01.yaml"
# issue 12's targets, x PCSE: (dtype, backward, batch) -> ratio
# Fields per forward+backward chunk: the largest that keep the 10 000-field batch's peak resident memory
# under issue 12's 4 GB on the CPU (float32 5 000 -> 3.0 GB, float64 2 000 -> 3.1 GB, measured in the closing
# note's runs).
CHUNKS = {"float32": 5000, "float64": 2000}
TARGETS = {("float32", False, 10000): 1000.0, ("float64", False, 10000): 600.0,
           ("float32", True, 10000): 300.0, ("float64", False, 1): 4.0, ("float32", False, 1): 4.0}


def _case_path() -> Path:
    """`CASE` in the first folder of `$DMG_BMI_PCSE_PP_DIR` (os.pathsep list) holding it, else the shared
    data's; SystemExit naming the folders where none does."""
    env = os.environ.get("DMG_BMI_PCSE_PP_DIR")
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "pcse_wofost72_pp"
    folders = [Path(d) for d in env.split(os.pathsep) if d] if env else [default]
    for folder in folders:
        if (folder / CASE).is_file():
            return folder / CASE
    raise SystemExit(f"{CASE} is in none of {[str(f) for f in folders]}")


def _rss_mb() -> float:
    """Peak resident set of this process so far, MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _one(batch: int, dtype: str, backward: bool, device: str, threads: int | None, chunk: int) -> dict:
    from dmg_bmi.domains.crop.pcse import cases_to_batch, load_case
    from dmg_bmi.domains.crop.wofost72 import run

    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    dt = getattr(torch, dtype)
    case = load_case(_case_path())
    base = cases_to_batch([case], dtype=dt)
    gen = torch.Generator().manual_seed(0)

    def jitter():
        return 1.0 + 0.2 * (torch.rand(batch, generator=gen, dtype=dt) - 0.5)

    params = {k: v.expand(batch, *v.shape[1:]).clone().to(device) for k, v in base.params.items()}
    for k in ("TSUM1", "SPAN", "TDWI"):
        params[k] = params[k] * jitter().to(device)
    params["AMAXTB_SCALE"] = jitter().to(device)
    weather = {k: v.expand(-1, batch).contiguous().to(device) for k, v in base.weather.items()}
    cal = base.calendar.index(torch.zeros(batch, dtype=torch.long))
    cal = type(cal)(*(x.to(device) for x in (cal.start, cal.end, cal.emerged, cal.at_maturity)))
    lat = base.lat.expand(batch).to(device)
    if backward:
        for k in ("TSUM1", "SPAN", "TDWI", "AMAXTB_SCALE"):
            params[k].requires_grad_(True)
    n_days = base.weather["IRRAD"].shape[0]
    before_mb = _rss_mb()
    reps = 3 if batch <= 44 else 1
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with torch.set_grad_enabled(backward):
            # fields are independent: forward+backward in chunks gives the same gradients with less memory
            step = chunk if backward else batch
            for lo in range(0, batch, step):
                sl = slice(lo, lo + step)
                sub_p = {k: v[sl] for k, v in params.items()}
                sub_w = {k: v[:, sl] for k, v in weather.items()}
                sub_c = cal.index(torch.arange(lo, min(lo + step, batch)))
                out, _ = run(sub_p, sub_w, sub_c, lat[sl], check=False)
                if backward:
                    out["TWSO"][-1].sum().backward()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    wall = min(times)
    peak_mb = _rss_mb()
    in_flight = min(chunk, batch) if backward else batch
    per_field_mb = (peak_mb - before_mb) / in_flight
    if device.startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
        per_field_mb = peak_mb / in_flight
    return {
        "batch": batch,
        "dtype": dtype,
        "backward": backward,
        "wall_s": wall,
        "days": n_days,
        "peak_mb": peak_mb,
        "per_field_mb": per_field_mb,
        "chunk": in_flight,
    }


def pcse_season() -> tuple[float, int] | None:
    """(median seconds of 3 PCSE seasons of case 01, days simulated), or None where `pcse` is absent. PCSE's
    inputs are made as `tools/make_pcse_cases.py` makes them; only the engine's run is timed."""
    try:
        from pcse.models import Wofost72_PP
    except ImportError:
        return None
    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from make_pcse_cases import pcse_inputs

    with open(_case_path(), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    times, days = [], 0
    for _ in range(3):
        params, weather = pcse_inputs(data)
        t0 = time.perf_counter()
        engine = Wofost72_PP(params, weather, data["AgroManagement"])
        engine.run_till_terminate()
        times.append(time.perf_counter() - t0)
        days = len(engine.get_output())
    return statistics.median(times), days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 44, 1000, 10000])
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the shared 2-core CI box)")
    ap.add_argument("--chunk", type=int, default=None,
                    help=f"fields per forward+backward chunk (memory); default per dtype {CHUNKS}")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        b, dt, bw = args.child.split(",")
        print(json.dumps(_one(int(b), dt, bw == "1", args.device, args.threads, args.chunk or CHUNKS[dt])))
        return

    measured = pcse_season() is not None
    label = "PCSE timed just before each row (same load)" if measured else "documented PCSE anchor"
    threads = args.threads or torch.get_num_threads()
    print(f"reference: {label}; device {args.device}; torch threads {threads}; {_load()}")
    print(f"{'dtype':8} {'mode':13} {'batch':>6} {'wall s':>9} {'s/season-field':>15} {'fields/s':>10} "
          f"{'PCSE s':>7} {'x PCSE':>8} {'target':>12} {'peak MB':>9} {'MB/field':>9}")  # fmt: skip
    for dt in args.dtypes:
        for bw in (False, True):
            for b in args.batches:
                # PCSE interleaved with the rows: on a shared machine the load moves during a run
                ref = pcse_season()[0] if measured else PCSE_ANCHOR_S
                cmd = [sys.executable, __file__, "--child", f"{b},{dt},{int(bw)}", "--device", args.device,
                       "--chunk", str(args.chunk or CHUNKS[dt])]  # fmt: skip
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                res = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if res.returncode != 0:
                    print(
                        f"{dt:8} {'fwd+bwd' if bw else 'fwd':13} {b:>6} failed: {res.stderr.strip()[-200:]}"
                    )
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                per = r["wall_s"] / b * 260.0 / r["days"]
                mode = f"fwd+bwd/{r['chunk']}" if bw else "fwd"
                goal = TARGETS.get((dt, bw, b))
                verdict = "" if goal is None else f">={goal:g} {'met' if ref / per >= goal else 'NOT'}"
                print(f"{dt:8} {mode:13} {b:>6} {r['wall_s']:>9.3f} {per:>15.2e} "
                      f"{b / r['wall_s']:>10.1f} {ref:>7.3f} {ref / per:>8.1f} {verdict:>12} "
                      f"{r['peak_mb']:>9.0f} {r['per_field_mb']:>9.3f}")  # fmt: skip
    print(_load())


if __name__ == "__main__":
    main()
