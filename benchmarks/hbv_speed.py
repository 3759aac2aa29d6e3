"""HBV speed on CPU: basin-days per second for forward and forward+backward, peak memory, T scaling.

Usage: python benchmarks/hbv_speed.py [--variant hbv_1_0] [--threads 2] [--modes fused compiled eager]

Setup (issue 2): nmul 16, routing on, 730 daily steps, synthetic forcing, float32, static parameters.
Each measurement runs in a fresh subprocess, so the reported peak memory (ru_maxrss) is its own.
Modes: `fused` (default path: custom autograd Function with the hand-written reverse step),
`compiled` (the same with torch.compile'd chunk kernels; first-call compile time reported separately),
`eager` (the naive reference measured in the same run: plain autograd through every step).
Times are medians of `--repeat` runs: wall seconds and CPU seconds of the process (the latter is less
sensitive to other users of a shared machine; with --threads 1 it approximates an idle wall time).
Anchors (hbv-dmg.md §8, hydrodl2 HBV 1.0, 2-core CPU): 0.18 s forward / 100 basins,
195 s forward+backward / 1000 basins. Targets: forward 100 basins <= 0.04 s, forward+backward
1000 basins <= 0.6 s, and forward+backward for 1460 days <= 2.2x the 730-day cost.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

NMUL = 16


def _measure(args) -> dict:
    import torch

    from dmg_bmi.core.config import PhyConfig
    from dmg_bmi.core.registry import get_physics

    torch.set_num_threads(args.threads)
    options = {"fused": args.mode != "eager", "compile": args.mode == "compiled"}
    cfg = PhyConfig(name=args.variant, nmul=NMUL, routing=True, warmup=0, options=options)
    model = get_physics(args.variant)(cfg)
    gen = torch.Generator().manual_seed(0)
    n_t, n_b = args.days, args.basins
    wet = torch.rand(n_t, n_b, generator=gen) < 0.4
    season = 12 * torch.sin(torch.arange(n_t)[:, None] * 6.283 / 365)
    forcing = torch.stack([
        wet * torch.empty(n_t, n_b).exponential_(1 / 6.0, generator=gen),
        5 + season + 3 * torch.randn(n_t, n_b, generator=gen),
        2 * torch.rand(n_t, n_b, generator=gen),
    ], -1)
    params = {}
    for s in model.param_specs():
        shape = (n_b, NMUL) if s.per_member else (n_b,)
        params[s.name] = (s.lo + (s.hi - s.lo) * (0.05 + 0.9 * torch.rand(shape, generator=gen)))
        params[s.name].requires_grad_(args.kind == "fwdbwd")
    attrs = {"area_km2": 100 + 3000 * torch.rand(n_b, generator=gen),
             "elevation_m": 2500 * torch.rand(n_b, generator=gen)}

    def once():
        if args.kind == "fwd":
            with torch.no_grad():
                model(forcing, params, attrs)
        else:
            out, _ = model(forcing, params, attrs)
            out["streamflow"].sum().backward()

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    once()  # warm-up (includes compilation in `compiled` mode)
    first = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        once()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": statistics.median(times), "cpu_seconds": statistics.median(cpu), "first_call": first,
            "peak_mb": peak / 1024, "extra_mb": (peak - base_rss) / 1024}


def _run(args, kind, mode, basins, days) -> dict:
    cmd = [sys.executable, __file__, "--one", "--kind", kind, "--mode", mode, "--basins", str(basins),
           "--days", str(days), "--variant", args.variant, "--threads", str(args.threads),
           "--repeat", str(args.repeat)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="hbv_1_0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", nargs="+", default=["fused", "compiled", "eager"])
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--basins", type=int, default=100)
    ap.add_argument("--kind", default="fwd")
    ap.add_argument("--mode", default="fused")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(_measure(args)))
        return
    print(f"HBV speed: {args.variant}, nmul {NMUL}, routing on, float32, CPU, {args.threads} threads, "
          f"median of {args.repeat} (shared machine: expect noise)")
    print(f"{'mode':9s} {'what':24s} {'seconds':>9s} {'CPU s':>7s} {'basin-days/s':>13s} {'vs eager':>9s} "
          f"{'peak MB':>8s} {'1st call s':>10s}")
    modes = sorted(args.modes, key=lambda m: m != "eager")  # the naive reference first, for the ratios
    results = {}
    for kind, basins in (("fwd", 100), ("fwd", 1000), ("fwdbwd", 100), ("fwdbwd", 1000)):
        for mode in modes:
            r = results[(mode, kind, basins)] = _run(args, kind, mode, basins, args.days)
            eager = results.get(("eager", kind, basins))
            ratio = f"{eager['seconds'] / r['seconds']:8.1f}x" if eager else f"{'':9s}"
            what = f"{'forward' if kind == 'fwd' else 'forward+backward'} {basins} basins"
            print(f"{mode:9s} {what:24s} {r['seconds']:9.3f} {r['cpu_seconds']:7.3f} "
                  f"{basins * args.days / r['seconds']:13.3g} "
                  f"{ratio} {r['peak_mb']:8.0f} {r['first_call']:10.1f}", flush=True)
    for mode in (m for m in args.modes if m != "eager"):
        short = results[(mode, "fwdbwd", 1000)]
        long = _run(args, "fwdbwd", mode, 1000, 2 * args.days)
        print(f"{mode:9s} forward+backward 1000 basins x {2 * args.days} days: {long['seconds']:.3f} s "
              f"(CPU {long['cpu_seconds']:.3f} s), {long['seconds'] / short['seconds']:.2f}x the "
              f"{args.days}-day cost (CPU {long['cpu_seconds'] / short['cpu_seconds']:.2f}x; "
              f"target <= 2.2x), "
              f"peak {long['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
