"""The physics alone, on one parameter set per basin: a baseline for the delta model, with no network.

`BasinParameters` runs a registered physics (`model.phy.name`) on a parameter table `[B, P]`: one row per
basin, one column per `ParamSpec` of the physics in `param_specs()` order, in the specs' physical units and
within their bounds. Each row gives one value per parameter:
- every member of `model.phy.nmul` would get the same value, and identical members average to the same
  outputs, so the physics runs with `nmul` 1 (the same outputs, `nmul` times cheaper);
- a parameter the physics takes as dynamic (`model.phy.dynamic_params`) is held constant over time, so the
  physics keeps the structure it has in the delta model of the same config;
- a per-basin parameter (`ParamSpec.per_member` False, e.g. a routing one) is a column like the others.

`calibrate` fits the table by gradient descent on the physics itself (the same code the delta model runs):
each basin's parameters are unconstrained tensors `raw [B, P]` mapped onto the bounds by
`lo + sigmoid(raw) (hi - lo)` (a parameter of `model.phy.fixed_params` has lo = hi = its value), started
mid-range (`raw = 0`) and moved by Adam on a loss over the whole training period of all basins in one batch.
No basin's loss term depends on another basin's parameters, and Adam scales each tensor entry on its own,
so each basin is calibrated as if alone.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dmg_bmi.core.config import ModelConfig
from dmg_bmi.core.delta import _fixed
from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.core.registry import get_physics
from dmg_bmi.core.train.inputs import check_gaps
from dmg_bmi.errors import ConfigError, InputError

LOG_FIELDS = ("iteration", "loss", "lr", "seconds")


def physics_config(cfg: ModelConfig) -> ModelConfig:
    """`cfg` with `model.phy.nmul` 1: one parameter set per basin (see the module docstring)."""
    return dataclasses.replace(cfg, phy=dataclasses.replace(cfg.phy, nmul=1))


def build_physics(cfg: ModelConfig) -> PhysicsModel:
    """The physics of `cfg.phy` (registry name, options checked by it) with one member."""
    phy_cfg = physics_config(cfg).phy
    return get_physics(phy_cfg.name)(phy_cfg)


def describe_physics(cfg: ModelConfig) -> str:
    """The physics as configured, for messages: name and the structural keys that change its parameters."""
    p = cfg.phy
    return (f"physics {p.name!r} as configured (model.phy: routing {str(p.routing).lower()}, "
            f"dynamic_params {list(p.dynamic_params)}, options {dict(p.options)})")


class BasinParameters(nn.Module):
    """A physics model on one parameter set per basin (see the module docstring).

    `values [B, P]`: physical parameters (`param_specs()` order and units). `trainable` False: the model runs
    exactly these values (`physical()` returns them). `trainable` True: they are the start of a calibration,
    held as the unconstrained `raw [B, P]` (an `nn.Parameter`) of `lo + sigmoid(raw) (hi - lo)` with the
    bounds of the specs, except that a parameter of `model.phy.fixed_params` stays at its fixed value.
    Errors: ConfigError for a fixed parameter the physics lacks or outside its bounds, InputError for
    `values` of another shape or outside the bounds.
    """

    def __init__(self, cfg: ModelConfig, values: torch.Tensor | np.ndarray, trainable: bool = False):
        super().__init__()
        self.cfg = physics_config(cfg)
        self.phy = build_physics(cfg)
        self.specs: tuple[ParamSpec, ...] = tuple(self.phy.param_specs())
        self.names = tuple(s.name for s in self.specs)
        self.dynamic = frozenset(self.cfg.phy.dynamic_params)
        self.dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
        values = torch.as_tensor(np.asarray(values, dtype=np.float64) if not isinstance(values, torch.Tensor)
                                 else values.detach().double())
        if values.dim() != 2 or values.shape[1] != len(self.specs):
            raise InputError(f"parameter values must be [basins, {len(self.specs)}] (columns "
                             f"{list(self.names)}), got {list(values.shape)}")
        check_bounds(self.specs, values.numpy(), lambda b, name: f"basin row {b}, parameter {name}")
        self.trainable = trainable
        if trainable:
            unknown = sorted(set(self.cfg.phy.fixed_params) - set(self.names))
            if unknown:
                raise ConfigError(f"model.phy.fixed_params: {unknown} not parameters of "
                                  f"{describe_physics(self.cfg)}; valid: {list(self.names)}")
            bounds = [_fixed(s, self.cfg.phy.fixed_params, set(), self.cfg.phy.name) for s in self.specs]
            lo = torch.tensor([s.lo for s in bounds], dtype=torch.float64)
            span = torch.tensor([s.hi - s.lo for s in bounds], dtype=torch.float64)
            unit = torch.where(span > 0, (values - lo) / torch.where(span > 0, span, 1.0), 0.5)
            unit = unit.clamp(1e-6, 1.0 - 1e-6)
            self.register_buffer("_lo", lo.to(self.dtype))
            self.register_buffer("_span", span.to(self.dtype))
            self.raw = nn.Parameter(torch.log(unit / (1.0 - unit)).to(self.dtype))
        else:
            self.register_buffer("_values", values.to(self.dtype))

    @classmethod
    def mid_range(cls, cfg: ModelConfig, n_basins: int) -> BasinParameters:
        """A calibration start: every parameter of every basin at the middle of its bounds (`raw` = 0)."""
        specs = build_physics(cfg).param_specs()
        row = [0.5 * (s.lo + s.hi) for s in specs]
        return cls(cfg, np.tile(np.asarray(row, dtype=np.float64), (n_basins, 1)), trainable=True)

    @property
    def n_basins(self) -> int:
        return int((self.raw if self.trainable else self._values).shape[0])

    def physical(self, rows: slice | torch.Tensor = slice(None)) -> torch.Tensor:
        """The physical parameters `[b, P]` of basin rows `rows` (all by default), with gradient to `raw`."""
        if self.trainable:
            return self._lo + torch.sigmoid(self.raw[rows]) * self._span
        return self._values[rows]

    def physics_params(self, values: torch.Tensor, n_time: int) -> dict[str, torch.Tensor]:
        """Table rows `values [b, P]` as the physics takes them: per-member `[b, 1]`, dynamic `[T, b, 1]`
        (constant over the `n_time` steps), per-basin `[b]` (`dmg_bmi.core.physics` layouts)."""
        b = values.shape[0]
        out = {}
        for i, spec in enumerate(self.specs):
            col = values[:, i]
            if not spec.per_member:
                out[spec.name] = col
            elif spec.name in self.dynamic:
                out[spec.name] = col[None, :, None].expand(n_time, b, 1)
            else:
                out[spec.name] = col[:, None]
        return out

    def forward(self, x_phy: torch.Tensor, attrs_phy: dict[str, torch.Tensor] | None = None,
                rows: slice | torch.Tensor = slice(None), state: dict | None = None):
        """Run basin rows `rows` of the table on `x_phy [T, b, F]` (physics units) and `attrs_phy`
        {name: [b]}: `(outputs {name: [T - warmup, b]}, final state)`, the physics' warm-up applied."""
        values = self.physical(rows)
        if values.shape[0] != x_phy.shape[1]:
            raise InputError(f"{values.shape[0]} parameter rows for {x_phy.shape[1]} basins of forcing")
        return self.phy(x_phy, self.physics_params(values, x_phy.shape[0]), attrs=attrs_phy, state=state)


def check_bounds(specs, values: np.ndarray, where: Callable[[int, str], str]) -> None:
    """Refuse (InputError) a value of `values [B, P]` (columns in `specs` order) that is not finite or lies
    outside its spec's bounds; `where(row, name)` names it for the message."""
    for i, spec in enumerate(specs):
        col = values[:, i]
        bad = np.nonzero(~np.isfinite(col) | (col < spec.lo) | (col > spec.hi))[0]
        if bad.size:
            b = int(bad[0])
            raise InputError(f"{where(b, spec.name)}: {col[b]:g} is outside the bounds [{spec.lo:g}, "
                             f"{spec.hi:g}] ({spec.units}) of {spec.name}")


def physics_tensors(ds, phy: PhysicsModel, dtype: torch.dtype, device: torch.device | str = "cpu"):
    """The physics inputs of every basin and day of dataset `ds` (`dmg_bmi.core.train.inputs.Dataset`):
    `x_phy [T, B, F]` (channels `phy.forcing_names`, physics units) and `attrs_phy {name: [B]}`
    (`phy.attribute_names`). A NaN forcing raises InputError naming the basin and date (`check_gaps`)."""
    x = ds.forcings(list(phy.forcing_names))
    check_gaps(ds, x, tuple(phy.forcing_names))
    attrs = ds.attributes(list(phy.attribute_names))
    x_phy = torch.as_tensor(np.ascontiguousarray(x.transpose(1, 0, 2)), dtype=dtype, device=device)
    return x_phy, {n: torch.as_tensor(attrs[:, i].copy(), dtype=dtype, device=device)
                   for i, n in enumerate(phy.attribute_names)}


@dataclasses.dataclass
class CalibrationResult:
    """What `calibrate` found: the physical parameters `values [B, P]` of the iteration with the lowest loss
    (`best_iteration`, 1-based; `best_loss`), the first iteration's loss (the start's), and one log row per
    iteration (`LOG_FIELDS`: loss before that iteration's step, learning rate, seconds since the start)."""

    values: np.ndarray
    best_loss: float
    best_iteration: int
    start_loss: float
    history: list[dict]


def calibrate(model: BasinParameters, x_phy: torch.Tensor, attrs_phy: dict[str, torch.Tensor],
              target: torch.Tensor, basin_std: torch.Tensor, loss_fn, output: str, iterations: int,
              lr: float, progress: bool = True, max_bad: int = 20) -> CalibrationResult:
    """Fit the `raw` parameters of `model` (trainable) by Adam: each iteration runs the physics over the
    whole window `x_phy [T, B, F]` (warm-up included; `attrs_phy {name: [B]}`) and takes
    `loss_fn(pred, target, basin_std)` on the physics output `output` (`pred [T - warmup, B]` against the
    last days of `target [T, B]`, NaN where not observed; `basin_std [B]`, the per-basin standard deviation of
    the observations, as in training), then one step. The learning rate decays from `lr` to `lr / 10` on a
    cosine over the steps taken. An iteration whose loss or gradient is not finite makes no step; `max_bad`
    of them in a row stop the calibration (TrainingError). A tqdm bar (`progress`) shows the loss and ETA."""
    from dmg_bmi.core.train.common import TrainingError

    if not model.trainable:
        raise ValueError("calibrate needs a trainable BasinParameters (BasinParameters.mid_range)")
    opt = torch.optim.Adam([model.raw], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(iterations, 1), eta_min=lr / 10.0)
    best_loss, best_iter, best_values, start_loss = math.inf, 0, model.physical().detach().clone(), math.nan
    history: list[dict] = []
    bad = 0
    t0 = time.perf_counter()
    bar = tqdm(range(1, iterations + 1), desc="calibrate", disable=True if not progress else None)
    for it in bar:
        step_lr = opt.param_groups[0]["lr"]
        values = model.physical()
        outputs, _ = model(x_phy, attrs_phy)
        pred = outputs[output]
        loss = loss_fn(pred, target[-pred.shape[0]:], basin_std)
        value = float(loss.detach())
        if it == 1:
            start_loss = value
        opt.zero_grad(set_to_none=True)
        problem = "loss" if not math.isfinite(value) else ""
        if not problem:
            loss.backward()
            problem = "" if bool(torch.isfinite(model.raw.grad).all()) else "gradient"
        if not problem:
            if value < best_loss:
                best_loss, best_iter, best_values = value, it, values.detach().clone()
            opt.step()
            sched.step()
        bad = bad + 1 if problem else 0
        if bad >= max_bad:
            raise TrainingError(f"calibrate: a non-finite {problem} at {bad} iterations in a row "
                                f"({it - bad + 1}..{it}), no step taken: "
                                + ("lower --lr" if it > bad else "the loss or the physics has no finite "
                                   "gradient at the start (e.g. a loss that takes the root of a zero flow): "
                                   "try another train.loss"))
        history.append({"iteration": it, "loss": f"{value:.6g}", "lr": f"{step_lr:.6g}",
                        "seconds": f"{time.perf_counter() - t0:.2f}"})
        bar.set_postfix(loss=f"{value:.4f}", best=f"{best_loss:.4f}")
    bar.close()
    return CalibrationResult(values=best_values.double().cpu().numpy(), best_loss=best_loss,
                             best_iteration=best_iter, start_loss=start_loss, history=history)
