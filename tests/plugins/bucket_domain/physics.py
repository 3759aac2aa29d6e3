"""`linear_bucket`: one linear reservoir per member, on daily steps (registered through an entry point).

Each day (mm, mm d-1): S += P; AET = min(S, PET); S -= AET; Q = k S; S -= Q. One learned parameter, the
recession rate k (d-1). The pure step runs on torch tensors and on numpy arrays (the BMI's lean path), and
`forward` runs the sequence by calling it, so T steps equal one sequence run.
"""

from __future__ import annotations

import numpy as np
import torch

from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.errors import InputError

K_BOUNDS = (0.01, 0.5)  # d-1


class LinearBucket(PhysicsModel):
    """One store S (mm) drained by evaporation (up to PET) and by Q = k S (see the module docstring)."""

    forcing_names = ("P", "PET")
    forcing_units = ("mm d-1", "mm d-1")
    attribute_names = ()
    state_names = ("S",)
    output_names = ("streamflow", "AET", "S")
    output_units = {"streamflow": "mm d-1", "AET": "mm d-1", "S": "mm"}

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def param_specs(self):
        return (ParamSpec("k", *K_BOUNDS, "d-1", "recession rate of the bucket"),)

    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        return {"S": torch.zeros((batch, self.cfg.nmul), dtype=dtype, device=device)}

    def step(self, state, forcing_t, params_t, attrs=None):
        """`forcing_t [B, 2]` (P, PET in mm d-1), `params_t["k"] [B, nmul]` -> (state, {name: [B]})."""
        minimum = torch.minimum if isinstance(forcing_t, torch.Tensor) else np.minimum
        s = state["S"] + forcing_t[:, :1]
        aet = minimum(s, forcing_t[:, 1:2])
        s = s - aet
        q = params_t["k"] * s
        s = s - q
        return {"S": s}, {"streamflow": q.mean(-1), "AET": aet.mean(-1), "S": s.mean(-1)}

    def forward(self, forcing, params, attrs=None, state=None):
        """`forcing [T, B, 2]` -> (outputs {name: [T - warmup, B]}, final state); a dynamic k is
        `[T, B, nmul]`."""
        if forcing.shape[0] <= self.cfg.warmup:
            raise InputError(f"forcing has {forcing.shape[0]} days but warmup is {self.cfg.warmup}: nothing "
                             "left to simulate")
        state = state or self.initial_state(forcing.shape[1], forcing.dtype, forcing.device)
        outs = []
        for t in range(forcing.shape[0]):
            params_t = {name: v[t] if v.dim() == 3 else v for name, v in params.items()}
            state, out = self.step(state, forcing[t], params_t)
            outs.append(out)
        outs = outs[self.cfg.warmup:]
        return {name: torch.stack([o[name] for o in outs]) for name in self.output_names}, state
