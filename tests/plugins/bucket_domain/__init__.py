"""A third domain, as a user's plugin: a one-bucket linear reservoir with one learned parameter.

Found by dmg_bmi only through the entry points of `bucket_domain-0.1.dist-info` (groups `dmg_bmi.domains`
and `dmg_bmi.physics`). Its physics `linear_bucket` (`physics`) trains, evaluates and simulates with the
core's delta-model path (`DeltaModelDomain`); its BMI session (`bmi`) gathers framework records into days;
its twin (`twin`) is written by `dmg-bmi make-sample-data --kind bucket`.
"""

from __future__ import annotations

import dataclasses

from dmg_bmi import DeltaModelDomain
from dmg_bmi.errors import ConfigError

TIME_STEP = "daily (1 d bucket step); the BMI gathers time_step records (3600 .. 86400 s) into calendar days"


class BucketDomain(DeltaModelDomain):
    """Checkpoints of physics `linear_bucket`."""

    name = "bucket"
    label = "bucket (linear reservoir)"
    physics = ("linear_bucket",)
    twin = "bucket"
    twin_help = "synthetic linear buckets whose k follows the attribute drainage"

    def load_handler(self, paths, weights, device, backend):
        from .bmi import BucketHandler

        return BucketHandler.load(paths, weights=weights, device=device, backend=backend)

    def bmi_session(self, handler, cfg, origin):
        from .bmi import BucketSession

        return BucketSession(handler, cfg, origin)

    def add_twin_arguments(self, group):
        group.add_argument("--buckets", type=int, default=16, help="number of buckets (1..1000)")
        group.add_argument("--bucket-years", type=int, default=3, help="years of daily data (1..50)")

    def make_twin(self, args, out):
        from .twin import write_bucket_twin

        limits = (("--buckets", args.buckets, 1000), ("--bucket-years", args.bucket_years, 50))
        for option, value, hi in limits:
            if not 1 <= value <= hi:
                raise ConfigError(f"{option} must be in 1..{hi}, got {value}")
        path = write_bucket_twin(out, args.buckets, args.bucket_years, args.seed)
        return f"wrote {path} ({args.buckets} buckets x {args.bucket_years} years, seed {args.seed})"

    def describe(self, ckpt):
        from .bmi import BucketSession

        return dataclasses.replace(super().describe(ckpt), kind=self.label, time_step=TIME_STEP,
                                   outputs=BucketSession.output_names, variables=BucketSession.variables)
