"""Learned processes: a small network standing in for a process inside the physics step (δMG's "missing
process representation" modality).

A physics describes where a network may act in its registry description: `PhysicsModel.processes`, a tuple
of `ProcessHook`s. Each hook names the step quantities the network sees (`inputs`, in the physics' units)
and the range of the factor it returns, and says what the factor does (e.g. a plant model's
`assimilation_reduction` multiplies gross assimilation: the heat and cold stress its physics lacks). The
physics calls the hook inside its step, so a model with a learned process keeps the step == sequence
property, and a user adds a learned process with `model.process` alone, never by editing the physics:

    model:
      process: {hook: assimilation_reduction, hidden_size: 16, layers: 2}

`LearnedProcess` is that network: an MLP (ReLU) over the hook's inputs, each standardized by the hook's
fixed `center` and `scale` (no data statistics, so the checkpoint's weights are the whole network), giving

    factor = lo + (hi - lo) * sigmoid(z + z0)   in (lo, hi),   z0 = logit((neutral - lo) / (hi - lo))

The last layer starts at zero (weights and bias), so an untrained network gives the hook's `neutral` value
(the process absent) and leaves the physics as it is (exactly, in float64: z0 is a Python float).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from dmg_bmi.core.config import ProcessConfig
from dmg_bmi.core.nn import _MLP, _np_mlp, _np_sigmoid
from dmg_bmi.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ProcessHook:
    """A place in a physics step where a network may stand in for a process.

    `inputs`/`units`: the step quantities the network sees (the physics' names and units); `center`/`scale`:
    their fixed standardization (typical value and spread); the factor lies in (`lo`, `hi`) and equals
    `neutral` where the process is absent; `description` says what the factor multiplies and its source."""

    name: str
    inputs: tuple[str, ...]
    units: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    lo: float
    hi: float
    neutral: float
    description: str

    def __post_init__(self):
        n = len(self.inputs)
        if not (len(self.units) == len(self.center) == len(self.scale) == n and n):
            raise ValueError(f"process hook {self.name!r}: inputs, units, center and scale differ in length")
        if not self.lo < self.neutral < self.hi or min(self.scale) <= 0:
            raise ValueError(f"process hook {self.name!r}: needs lo < neutral < hi and scales > 0")


def process_hooks(phy) -> dict[str, ProcessHook]:
    """{name: hook} of a physics (instance or class): its `processes` registry description."""
    return {h.name: h for h in getattr(phy, "processes", ())}


def check_process(cfg: ProcessConfig, phy, phy_name: str) -> ProcessHook:
    """The hook `cfg.hook` of physics `phy`; ConfigError naming `model.process.hook` and the hooks it has."""
    hooks = process_hooks(phy)
    if cfg.hook not in hooks:
        listed = sorted(hooks) or "(none: it calls no learned process)"
        raise ConfigError(f"model.process.hook: {cfg.hook!r} is not a process hook of {phy_name!r}; its "
                          f"hooks: {listed}")
    return hooks[cfg.hook]


class LearnedProcess(nn.Module):
    """The process network of one delta model (module docstring): `forward(x [..., n_inputs]) -> [...]`,
    the factor in (hook.lo, hook.hi), in the dtype of its weights."""

    def __init__(self, cfg: ProcessConfig, hook: ProcessHook):
        super().__init__()
        self.cfg = cfg
        self.hook = hook
        self.mlp = _MLP(len(hook.inputs), 1, cfg.hidden_size, cfg.layers, 0.0)
        self.register_buffer("_center", torch.tensor(hook.center, dtype=torch.float64), persistent=False)
        self.register_buffer("_scale", torch.tensor(hook.scale, dtype=torch.float64), persistent=False)
        u = (hook.neutral - hook.lo) / (hook.hi - hook.lo)
        self.z0 = math.log(u / (1.0 - u))
        with torch.no_grad():
            self.mlp.out.weight.zero_()
            self.mlp.out.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.mlp((x - self._center) / self._scale)[..., 0]
        return self.hook.lo + (self.hook.hi - self.hook.lo) * torch.sigmoid(z + self.z0)

    def scalar(self) -> Callable[[Sequence[float]], float]:
        """A float64 numpy copy for one point: `f([x1, x2, ...]) -> factor` (a BMI's one-field day)."""
        layers = self.mlp.numpy_layers()
        center = np.asarray(self.hook.center, dtype=np.float64)
        scale = np.asarray(self.hook.scale, dtype=np.float64)
        lo, span, z0 = self.hook.lo, self.hook.hi - self.hook.lo, self.z0

        def factor(x: Sequence[float]) -> float:
            z = _np_mlp(layers, ((np.asarray(x, dtype=np.float64) - center) / scale)[None, :])
            return float(lo + span * _np_sigmoid(z[0, 0] + z0))

        return factor

    def curve(self, x: np.ndarray) -> np.ndarray:
        """The factor at points `x [N, n_inputs]` (numpy, the hook's units) as float64 `[N]` (no gradient)."""
        p = next(self.parameters())
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(x), dtype=p.dtype, device=p.device)).double().cpu().numpy()
