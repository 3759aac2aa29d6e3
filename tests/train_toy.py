"""A toy physics and a small NetCDF dataset for the trainer and CLI tests (not a test module)."""

from __future__ import annotations

import numpy as np
import torch

from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.core.registry import register_physics
from dmg_bmi.data.dataset import HydroDataset


@register_physics("train_toy")
class ToyReservoir(PhysicsModel):
    """One linear reservoir per member (mm, mm/d): S += P; ET = min(S, et*PET); Q = k*S."""

    forcing_names = ("P", "T", "PET")
    forcing_units = ("mm d-1", "degC", "mm d-1")
    attribute_names = ()
    state_names = ("S",)
    output_names = ("streamflow", "AET")

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def param_specs(self):
        return (ParamSpec("k", 0.01, 0.5, "d-1"), ParamSpec("et", 0.2, 1.0, "1"))

    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        return {"S": torch.full((batch, self.cfg.nmul), 5.0, dtype=dtype, device=device)}

    def step(self, state, forcing_t, params_t, attrs=None):
        s = state["S"] + forcing_t[:, :1]
        et = torch.minimum(s, params_t["et"] * forcing_t[:, 2:3])
        s = s - et
        q = params_t["k"] * s
        return {"S": s - q}, {"streamflow": q.mean(-1), "AET": et.mean(-1)}

    def forward(self, forcing, params, attrs=None, state=None):
        state = state or self.initial_state(forcing.shape[1], forcing.dtype, forcing.device)
        outs = []
        for t in range(forcing.shape[0]):
            p_t = {k: v[t] if v.dim() == 3 else v for k, v in params.items()}
            state, out = self.step(state, forcing[t], p_t, attrs)
            outs.append(out)
        outs = outs[self.cfg.warmup:]
        return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}, state


def toy_dataset(n_basins: int = 6, days: int = 500, seed: int = 0, start: str = "2000-01-01") -> HydroDataset:
    """Random weather; flow from the toy with k, et smooth in two attributes (so it is learnable)."""
    rng = np.random.default_rng(seed)
    dates = np.arange(np.datetime64(start), np.datetime64(start) + days)
    a1, a2 = rng.uniform(0, 1, n_basins), rng.uniform(0, 1, n_basins)
    p = rng.gamma(0.6, 5.0, (n_basins, days)) * (rng.uniform(size=(n_basins, days)) < 0.4)
    t = 10 + 8 * np.sin(np.arange(days) / 58.0)[None, :] + rng.normal(0, 2, (n_basins, days))
    pet = np.clip(1.0 + 0.15 * t, 0.1, None)
    k = 0.05 + 0.3 * a1
    et = 0.3 + 0.6 * a2
    s = np.full(n_basins, 5.0)
    q = np.zeros((n_basins, days))
    for i in range(days):
        s = s + p[:, i]
        s = s - np.minimum(s, et * pet[:, i])
        q[:, i] = k * s
        s = s - q[:, i]
    static = {"lat": rng.uniform(30, 50, n_basins), "lon": rng.uniform(-120, -70, n_basins),
              "area_km2": rng.uniform(10, 100, n_basins), "elevation_m": rng.uniform(0, 500, n_basins),
              "a1": a1, "a2": a2}
    units = {"lat": "degrees_north", "lon": "degrees_east", "area_km2": "km2", "elevation_m": "m", "a1": "1",
             "a2": "1", "P": "mm d-1", "T": "degC", "PET": "mm d-1", "prcp": "mm d-1", "tmean": "degC",
             "streamflow": "mm d-1"}
    dynamic = {"P": p, "T": t, "PET": pet, "prcp": p.copy(), "tmean": t.copy(), "streamflow": q}
    return HydroDataset([f"b{i}" for i in range(n_basins)], dates, dynamic, static, units,
                        targets=("streamflow",))


def toy_config(data_path, run_dir, **train) -> dict:
    """A run config dict for the toy (tiny network, float64, short windows)."""
    return {
        "data": {"path": str(data_path), "train": {"start": "2000-01-01", "end": "2000-12-31"},
                 "test": {"start": "2001-01-01", "end": "2001-05-14"}},
        "model": {"phy": {"name": "train_toy", "nmul": 2, "warmup": 20},
                  "nn": {"name": "lstm_mlp", "hidden_size": 8, "mlp_hidden_size": 8, "mlp_layers": 1},
                  "inputs": {"forcings": ["P", "T", "PET"], "attributes": ["a1", "a2"], "log_norm": ["P"]},
                  "dtype": "float64"},
        "train": {"epochs": 3, "batch_size": 4, "rho": 30, "iterations_per_epoch": 3, "lr": 0.01, **train},
        "run": {"name": "toy", "run_dir": str(run_dir), "save_every": 2, "progress": False, "seed": 3},
    }
