"""The contract every physics model follows.

Layout and units
- Forcing is time-major `[T, B, F]` in the model's native units, channels in `forcing_names` order.
- Parameters are a dict `name -> tensor` in physical units (already inside their bounds):
  per-member parameters are `[B, nmul]` when static or `[T, B, nmul]` when dynamic;
  per-basin parameters (`ParamSpec.per_member == False`, e.g. routing) are `[B]`, or `[T, B]` when dynamic
  (only those with `ParamSpec.may_vary`).
- Attributes the physics itself needs (e.g. a catchment's area and elevation) are a dict `name -> [B]`.
- State is a dict `name -> tensor` with batch first, so it can be indexed, stacked and serialized.

The pure step `step(state, forcing_t, params_t, attrs) -> (state, outputs_t)` advances one time step;
`forward` runs the sequence by calling the same step, so step-by-step runs equal sequence runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ParamSpec:
    """A learnable physical parameter: name, bounds [lo, hi] and units."""

    name: str
    lo: float
    hi: float
    units: str
    description: str = ""
    per_member: bool = True  # False: one value per basin (e.g. routing)
    # may it vary by day (`model.phy.dynamic_params`)? None: per-member ones may, per-basin ones not (routing,
    # whose unit hydrograph is built once); True lets a per-basin one vary (`[T, B]`, e.g. mixture weights)
    can_vary: bool | None = None

    @property
    def may_vary(self) -> bool:
        """Whether it may be a dynamic parameter (`can_vary`, else `per_member`)."""
        return self.per_member if self.can_vary is None else self.can_vary

    def scale(self, unit: torch.Tensor) -> torch.Tensor:
        """Map a value in [0, 1] to [lo, hi]."""
        return self.lo + unit * (self.hi - self.lo)


class PhysicsModel(torch.nn.Module):
    """Base class: subclasses set the name tables and implement the methods below."""

    forcing_names: tuple[str, ...] = ()
    forcing_units: tuple[str, ...] = ()
    attribute_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    # outputs a correction network may correct (`model.correction`, `dmg_bmi.core.correction`): fluxes whose
    # correction its domain's accounting (e.g. a mass balance) reports as its own term; empty: none
    correctable: tuple[str, ...] = ()
    # where a learned process may act inside `step` (`model.process`, `dmg_bmi.core.process.ProcessHook`): the
    # physics calls the hook's network at that point; empty: none
    processes: tuple = ()
    # its `model.phy.options` section (a `schema.section` dataclass), checked at config load; None: none
    Options: type | None = None

    def param_specs(self) -> tuple[ParamSpec, ...]:
        """Every learnable parameter, in canonical order."""
        raise NotImplementedError

    def initial_state(
        self, batch: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
    ) -> dict[str, torch.Tensor]:
        """The cold-start state for `batch` basins/fields."""
        raise NotImplementedError

    def step(self, state, forcing_t, params_t, attrs=None):
        """One time step: `(state, forcing_t [B, F], params_t, attrs) -> (state, outputs_t)`."""
        raise NotImplementedError

    def forward(self, forcing, params, attrs=None, state=None):
        """Run the sequence: returns `(outputs {name: [T, B]}, final_state)`."""
        raise NotImplementedError
