"""HBV speed on CPU, ours against hydrodl2's own HBV in the same run (issue 13).

Usage:
    PYTHONPATH=. python benchmarks/hbv_speed.py [--variant hbv_1_0] [--threads 2] [--repeat 3]
        [--modes default native fused compiled eager] [--hydrodl2-python PATH] [--ref-repeat 1]
        [--basins-fb 1000] [--days 730]
    quick check:      ... --basins-fb 50 --modes fused eager --repeat 1
    reference only:   ... --modes          (no mode of ours: the hydrodl2 rows alone)
    ours only:        ... --no-reference

Setup: nmul 16, routing on, 730 daily steps, float32, static parameters, no warm-up, synthetic forcing
(P, T, PET from one seeded generator; the parameters are drawn from it in the same order for both models,
so our HBV 1.0 and hydrodl2's HBV 1.0 get the same inputs and their mean streamflow should agree).
Forward runs under torch.no_grad(); forward+backward is `streamflow.sum().backward()` with the parameters
as leaves that require grad. Each measurement runs in a fresh subprocess, so its peak memory (ru_maxrss)
is its own; the reference and our modes of one (kind, size) group run one after the other, so a change
in the machine's load hits both.

Modes of our model (`MODES`: the `PhyConfig.options` each one sets):
- `default`: no options, the path `dmg-bmi train`/`simulate` take;
- `native`: the C++ kernel (`native: true`; its one-off build per machine is cached, see
  dmg_bmi.core.native; `1st call s` includes loading it);
- `fused`: the custom autograd Function with the hand-written torch reverse step (`native: false`);
- `compiled`: the same with torch.compile'd chunk kernels (first-call compile time in `1st call s`);
- `eager`: the naive path, plain autograd through every step.

Reference (hydrodl2 1.4.0, the MHPI implementation, under a non-commercial licence: we only run it as a
benchmark reference and do not depend on it): `hydrodl2.models.hbv.hbv.Hbv` (HBV 1.0) forward 100 basins
and forward+backward `--basins-fb` basins, `hydrodl2.models.hbv.hbv_2.Hbv_2` (HBV 2.0, class defaults
otherwise, e.g. full_output) forward+backward `--basins-fb` basins. It runs under the interpreter of
`--hydrodl2-python` (default: $HYDRODL2_PYTHON, else this interpreter if it can import hydrodl2, else the
reference is skipped); that interpreter needs only torch and hydrodl2. The reference subprocesses get no
standard input, so hydrodl2's interactive licence prompt does not block them: running the reference
means using hydrodl2 under its own licence. A reference forward+backward run at 1000 basins takes
minutes (its backward grows ~T^2), so those rows are timed `--ref-repeat` times (default 1) with no
separate warm-up call (their `1st call s` is the timed call).
Make a reference venv (CPU torch; install hydrodl2 with --no-deps, or pip pulls a CUDA torch):
    python -m venv /work/venv-h2 && /work/venv-h2/bin/pip install torch==2.13.0
    /work/venv-h2/bin/pip install --no-deps hydrodl2==1.4.0
    /work/venv-h2/bin/pip install --no-deps numpy platformdirs
then pass `--hydrodl2-python /work/venv-h2/bin/python` (or export HYDRODL2_PYTHON).

Output per row: seconds (median of the repeats, wall), CPU seconds of the process (less sensitive to
other users of a shared machine), basin-days/s, the ratio of the reference's seconds to the row's in the
same run (wall, then CPU in parentheses) against hydrodl2 HBV 1.0 of the same kind and size, and for
forward+backward also against hydrodl2 HBV 2.0; peak memory; the first call (warm-up); mean streamflow.
The 1-minute load average is printed at the start and the end.

Targets (issue 13), on the 2-core CPU with --threads 2:
- forward, 100 basins x 730 d: >= 4.5x faster than hydrodl2 HBV 1.0;
- forward+backward, 1000 basins x 730 d: >= 300x faster than hydrodl2 HBV 1.0 and >= 100x faster than
  hydrodl2 HBV 2.0;
- forward+backward for 1460 days costs <= 2.0x the cost for 730 days (the T-scaling line).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

NMUL = 16

# Our modes -> PhyConfig.options (the one table to check against the model's options).
MODES = {
    "default": {},
    "native": {"native": True},
    "fused": {"native": False},
    "compiled": {"native": False, "compile": True},
    "eager": {"native": False, "fused": False},
}

# hydrodl2 reference models: row label -> (module, class, number of per-member physical parameters).
REFERENCES = {
    "h2 HBV 1.0": ("hydrodl2.models.hbv.hbv", "Hbv", 12),
    "h2 HBV 2.0": ("hydrodl2.models.hbv.hbv_2", "Hbv_2", 16),
}
H2_10, H2_20 = REFERENCES


def _inputs(n_t: int, n_b: int, shapes: list[tuple[int, ...]]):
    """Synthetic forcing `[T, B, 3]` (P mm/d, T degC, PET mm/d), unit parameters in [0.05, 0.95] of the
    given shapes (drawn in order) and the attributes area_km2, elevation_m `[B]`, from one seeded
    generator."""
    import torch

    gen = torch.Generator().manual_seed(0)
    wet = torch.rand(n_t, n_b, generator=gen) < 0.4
    season = 12 * torch.sin(torch.arange(n_t)[:, None] * 6.283 / 365)
    forcing = torch.stack([
        wet * torch.empty(n_t, n_b).exponential_(1 / 6.0, generator=gen),
        5 + season + 3 * torch.randn(n_t, n_b, generator=gen),
        2 * torch.rand(n_t, n_b, generator=gen),
    ], -1)
    units = [0.05 + 0.9 * torch.rand(shape, generator=gen) for shape in shapes]
    attrs = {"area_km2": 100 + 3000 * torch.rand(n_b, generator=gen),
             "elevation_m": 2500 * torch.rand(n_b, generator=gen)}
    return forcing, units, attrs


def _ours(args):
    """A call of our model for `args.kind` -> a function returning the streamflow tensor."""
    import torch

    from dmg_bmi.core.config import PhyConfig
    from dmg_bmi.core.registry import get_physics

    model = get_physics(args.variant)(PhyConfig(name=args.variant, nmul=NMUL, routing=True, warmup=0,
                                                 options=dict(MODES[args.mode])))
    specs = model.param_specs()
    forcing, units, attrs = _inputs(args.days, args.basins,
                                    [(args.basins, NMUL) if s.per_member else (args.basins,) for s in specs])
    params = {s.name: (s.lo + (s.hi - s.lo) * u).requires_grad_(args.kind == "fwdbwd")
              for s, u in zip(specs, units, strict=True)}

    def once():
        if args.kind == "fwd":
            with torch.no_grad():
                return model(forcing, params, attrs)[0]["streamflow"]
        q = model(forcing, params, attrs)[0]["streamflow"]
        q.sum().backward()
        return q

    return once


def _reference(args):
    """A call of hydrodl2's HBV (`args.ref`) for `args.kind` -> a function returning the streamflow tensor."""
    import importlib

    import torch

    module, cls, n_phy = REFERENCES[args.ref]
    model_cls = getattr(importlib.import_module(module), cls)
    config = {"warmup": 0, "warmup_states": True, "dynamic_params": {cls: []}, "routing": True,
              "nmul": NMUL, "nearzero": 1e-5, "dy_drop": 0.0, "variables": ["prcp", "tmean", "pet"]}
    model = model_cls(config, device=torch.device("cpu"))
    n_t, n_b = args.days, args.basins
    forcing, units, attrs = _inputs(n_t, n_b, [(n_b, NMUL)] * n_phy + [(n_b,)] * 2)
    # Channel i * nmul + m is parameter i of member m; route_a, route_b last.
    unit = torch.cat([*units[:n_phy], units[n_phy][:, None], units[n_phy + 1][:, None]], 1)
    unit.requires_grad_(args.kind == "fwdbwd")
    x_dict = {"x_phy": forcing, "ac_all": attrs["area_km2"], "elev_all": attrs["elevation_m"]}
    no_dynamic = torch.zeros(n_t, n_b, 0)

    def call():
        if cls == "Hbv":
            # HBV 1.0 takes raw network output [T, B, n] and applies a sigmoid; static parameters are its
            # last step. logit() makes the sigmoid give back our unit values.
            raw = torch.logit(unit)[None].expand(n_t, -1, -1)
            return model(x_dict, raw)["streamflow"]
        # HBV 2.0 takes (dynamic [T, B, n_dyn * nmul], static [B, n_static * nmul + 2]) already in [0, 1].
        return model(x_dict, (no_dynamic, unit))["streamflow"]

    def once():
        if args.kind == "fwd":
            with torch.no_grad():
                return call()
        q = call()
        q.sum().backward()
        return q

    return once


def _measure(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    once = _reference(args) if args.ref else _ours(args)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, cpu = [], []
    first = None
    if not args.no_warmup_call:
        t0 = time.perf_counter()
        once()  # warm-up (includes compilation in `compiled` mode)
        first = time.perf_counter() - t0
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        q = once()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": statistics.median(times), "cpu_seconds": statistics.median(cpu),
            "first_call": times[0] if first is None else first, "peak_mb": peak / 1024,
            "extra_mb": (peak - base_rss) / 1024, "q_mean": float(q.detach().mean())}


def _run(args, python, kind, basins, days, repeat, mode="", ref="", warmup_call=True) -> dict:
    cmd = [python, os.path.abspath(__file__), "--one", "--kind", kind, "--basins", str(basins),
           "--days", str(days), "--variant", args.variant, "--threads", str(args.threads),
           "--repeat", str(repeat)]
    cmd += ["--ref", ref] if ref else ["--mode", mode]
    cmd += [] if warmup_call else ["--no-warmup-call"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()] or [f"exit {res.returncode}"]
        raise RuntimeError(lines[-1][:200])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _reference_python(args) -> tuple[str | None, str]:
    """(interpreter for the hydrodl2 reference or None, a one-line description or the reason to skip)."""
    if args.no_reference:
        return None, "skipped (--no-reference)"
    python = args.hydrodl2_python or os.environ.get("HYDRODL2_PYTHON")
    if not python:
        if importlib.util.find_spec("hydrodl2") is None:
            return None, ("skipped: hydrodl2 is not importable here; pass --hydrodl2-python PATH or set "
                          "HYDRODL2_PYTHON (see the module docstring for the venv)")
        python = sys.executable
    probe = "import hydrodl2, torch; print(hydrodl2.__version__, torch.__version__)"
    try:
        res = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False,
                             stdin=subprocess.DEVNULL)
    except OSError as err:
        return None, f"skipped: cannot run {python}: {err}"
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"skipped: {python} cannot import hydrodl2 and torch ({last})"
    h2, torch_version = res.stdout.strip().splitlines()[-1].split()
    return python, f"hydrodl2 {h2}, torch {torch_version} ({python})"


def _ratio(ref: dict | None, r: dict) -> str:
    if ref is None:
        return ""
    return f"{ref['seconds'] / r['seconds']:.3g}x ({ref['cpu_seconds'] / r['cpu_seconds']:.3g}x)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", default="hbv_1_0", help="our HBV variant (hbv_1_0, hbv_1_1p, hbv_2)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per row (median)")
    ap.add_argument("--ref-repeat", type=int, default=1, help="timed calls of the reference fwd+bwd rows")
    ap.add_argument("--modes", nargs="*", default=["default", "native", "fused", "compiled", "eager"],
                    choices=list(MODES), help="our modes; none: the reference rows alone")
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--basins-fb", type=int, default=1000, help="basins of the large forward+backward rows")
    ap.add_argument("--hydrodl2-python", default=None,
                    help="interpreter with torch + hydrodl2 for the reference (default: $HYDRODL2_PYTHON, "
                         "else this one if it imports hydrodl2)")
    ap.add_argument("--no-reference", action="store_true", help="skip the hydrodl2 rows")
    # one measurement (the subprocess protocol)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="fwd", help=argparse.SUPPRESS)
    ap.add_argument("--basins", type=int, default=100, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="fused", choices=list(MODES), help=argparse.SUPPRESS)
    ap.add_argument("--ref", default="", choices=["", *REFERENCES], help=argparse.SUPPRESS)
    ap.add_argument("--no-warmup-call", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(_measure(args)))
        return

    ref_python, ref_note = _reference_python(args)
    n_fb = args.basins_fb
    print(f"HBV speed: ours {args.variant}, nmul {NMUL}, routing on, float32, {args.days} days, CPU, "
          f"{args.threads} threads, median of {args.repeat} (reference fwd+bwd: {args.ref_repeat})")
    print(f"reference: {ref_note}")
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} (shared machine: expect noise)")
    print(f"{'row':11s} {'what':27s} {'seconds':>9s} {'CPU s':>8s} {'basin-days/s':>12s} {'vs eager':>8s} "
          f"{'vs h2 HBV 1.0 (CPU)':>20s} {'vs h2 HBV 2.0 (CPU)':>20s} {'peak MB':>7s} {'1st call s':>10s} "
          f"{'mean Q':>7s}")
    modes = sorted(args.modes, key=lambda m: m != "eager")  # the naive path first, for the ratios
    # (kind, basins, reference rows measured first in that group)
    groups = (("fwd", 100, (H2_10,)), ("fwd", 1000, ()), ("fwdbwd", 100, ()),
              ("fwdbwd", n_fb, (H2_10, H2_20)))
    results = {}

    def row(label, kind, basins, run):
        what = f"{'forward' if kind == 'fwd' else 'forward+backward'} {basins} basins"
        try:
            r = run()
        except RuntimeError as err:
            print(f"{label:11s} {what:27s} failed: {err}", flush=True)
            return
        results[(label, kind, basins)] = r
        get = results.get
        eager = _ratio(get(("eager", kind, basins)), r) if label in MODES else ""
        eager = eager.split()[0] if eager else ""
        h10 = _ratio(get((H2_10, kind, basins)), r) if label in MODES else ""
        h20 = _ratio(get((H2_20, kind, basins)), r) if label in MODES else ""
        print(f"{label:11s} {what:27s} {r['seconds']:9.3f} {r['cpu_seconds']:8.3f} "
              f"{basins * args.days / r['seconds']:12.3g} {eager:>8s} {h10:>20s} {h20:>20s} "
              f"{r['peak_mb']:7.0f} {r['first_call']:10.2f} {r['q_mean']:7.4f}", flush=True)

    for kind, basins, refs in groups:
        for ref in refs if ref_python else ():
            fb = kind == "fwdbwd"
            row(ref, kind, basins, lambda ref=ref, kind=kind, basins=basins, fb=fb: _run(
                args, ref_python, kind, basins, args.days, args.ref_repeat if fb else args.repeat, ref=ref,
                warmup_call=not fb))
        for mode in modes:
            row(mode, kind, basins, lambda mode=mode, kind=kind, basins=basins: _run(
                args, sys.executable, kind, basins, args.days, args.repeat, mode=mode))
    for mode in (m for m in modes if m != "eager"):
        short = results.get((mode, "fwdbwd", n_fb))
        if short is None:
            continue
        try:
            long = _run(args, sys.executable, "fwdbwd", n_fb, 2 * args.days, args.repeat, mode=mode)
        except RuntimeError as err:
            print(f"{mode:11s} forward+backward {n_fb} basins x {2 * args.days} days failed: {err}")
            continue
        print(f"{mode:11s} forward+backward {n_fb} basins x {2 * args.days} days: {long['seconds']:.3f} s "
              f"(CPU {long['cpu_seconds']:.3f} s), {long['seconds'] / short['seconds']:.2f}x the "
              f"{args.days}-day cost (CPU {long['cpu_seconds'] / short['cpu_seconds']:.2f}x; "
              f"target <= 2.0x), "
              f"peak {long['peak_mb']:.0f} MB", flush=True)
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
