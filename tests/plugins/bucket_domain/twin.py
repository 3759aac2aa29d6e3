"""The bucket twin: random weather, and flow from the bucket itself with a known k per basin.

Each basin's recession rate is `k = 0.05 + 0.4 * drainage` (d-1), `drainage` (1) being one of its
attributes, so a network given `drainage` can learn k. P, T, PET come from the raw `prcp`, `tmean` and `lat`
by the core's derivation (`dmg_bmi.train.data.derive_inputs`, Hamon PET), the trainer's own code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dmg_bmi.core.config import PhyConfig
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.forcing import InputDerivation
from dmg_bmi.train.data import derive_inputs

from .physics import LinearBucket


def true_k(drainage: np.ndarray) -> np.ndarray:
    """The twin's recession rate (d-1) of a basin's `drainage` attribute (0..1)."""
    return 0.05 + 0.4 * drainage


def write_bucket_twin(out: Path, n_basins: int, years: int, seed: int, start: str = "2000-01-01") -> Path:
    """`n_basins` buckets from `start` to the end of its `years`-th calendar year, written as a basin
    dataset at `out`."""
    rng = np.random.default_rng(seed)
    first = np.datetime64(start, "D")
    dates = np.arange(first, first.astype("datetime64[Y]") + years)  # whole calendar years from `start`
    days = dates.size
    doy = np.arange(days) % 365
    prcp = rng.gamma(0.6, 8.0, (n_basins, days)) * (rng.uniform(size=(n_basins, days)) < 0.45)
    tmean = 12.0 + 10.0 * np.sin(2 * np.pi * (doy - 100) / 365.0) + rng.normal(0.0, 2.0, (n_basins, days))
    static = {name: rng.uniform(lo, hi, n_basins) for name, lo, hi in (
        ("lat", 30.0, 48.0), ("lon", -120.0, -75.0), ("area_km2", 20.0, 500.0), ("elevation_m", 0.0, 1500.0),
        ("drainage", 0.0, 1.0))}
    units = {"lat": "degrees_north", "lon": "degrees_east", "area_km2": "km2", "elevation_m": "m",
             "drainage": "1", "prcp": "mm d-1", "tmean": "degC", "streamflow": "mm d-1"}
    ds = HydroDataset([f"bucket{i:03d}" for i in range(n_basins)], dates, {"prcp": prcp, "tmean": tmean},
                      static, units, metadata={"title": "bucket twin (k = 0.05 + 0.4 drainage)"})
    ds = derive_inputs(ds, InputDerivation(pet_method="hamon"))
    bucket = LinearBucket(PhyConfig(name="linear_bucket", nmul=1, warmup=0))
    forcing = torch.as_tensor(ds.forcings(list(LinearBucket.forcing_names)).transpose(1, 0, 2))
    k = torch.as_tensor(true_k(static["drainage"]))[:, None]
    with torch.no_grad():
        flow = bucket(forcing, {"k": k})[0]["streamflow"].numpy().T
    ds.add_dynamic("streamflow", flow.copy(), "mm d-1", target=True)
    return ds.save(out)
