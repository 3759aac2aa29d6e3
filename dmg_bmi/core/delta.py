"""The delta model: a parameter learner -> bounded physical parameters -> a physics model.

Parameter layout (generic over any `PhysicsModel`): each `ParamSpec` of the physics gets
- `nmul` columns when `per_member` (one per parallel member), one column otherwise (per basin/field);
- from the learner's dynamic head when it is listed in `phy.dynamic_params` (per time step, `[T, B, nmul]`,
  or `[T, B]` for a per-basin parameter that may vary, `ParamSpec.may_vary`), else from the static head
  (attributes only: `[B, nmul]`, or `[B]` for per-basin parameters).
Columns are parameter-major in `param_specs()` order (column `i * nmul + m` is member `m` of parameter `i`).
A unit value `u` in (0, 1) becomes `lo + u * (hi - lo)` in the spec's physical units.

Warm-up: `forward` runs the physics' sequence forward, which applies `phy.warmup` / `phy.warmup_mode`
and returns `T - warmup` steps; the LSTM always runs over the whole window. `step` has no warm-up: the caller
decides which steps to keep. With warm-up 0, or `warmup_mode: trim` and the first `warmup` step outputs
dropped, T calls of `step` equal one `forward`.

Output correction (`model.correction`, `dmg_bmi.core.correction`): after the physics, a per-step network
corrects one output and the model adds `<output>_physics` and `<output>_correction`; in `forward` it sees the
network forcings of the steps the physics returns (the last `T - warmup`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from dmg_bmi.core.config import ModelConfig
from dmg_bmi.core.correction import OutputCorrection, check_correction, corrected_names
from dmg_bmi.core.nn import Hidden, NumpyStepper, ParamLearner
from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.core.process import check_process
from dmg_bmi.core.registry import get_nn, get_physics
from dmg_bmi.errors import ConfigError, InputError

State = dict  # {"nn": hidden tuple, "phy": {name: tensor}}
Params = dict  # {name: tensor} in physical units


class _Layout:
    """Where each parameter sits in one head's output: name -> (start column, width, per_member)."""

    def __init__(self, specs: list[ParamSpec], nmul: int):
        self.specs = specs
        self.slices: dict[str, tuple[int, int, bool]] = {}
        lo, span = [], []
        for spec in specs:
            width = nmul if spec.per_member else 1
            self.slices[spec.name] = (len(lo), width, spec.per_member)
            lo += [spec.lo] * width
            span += [spec.hi - spec.lo] * width
        self.width = len(lo)
        self.lo = torch.tensor(lo, dtype=torch.float64)
        self.span = torch.tensor(span, dtype=torch.float64)

    def split(self, values: torch.Tensor) -> Params:
        """Physical `[..., width]` -> {name: `[..., nmul]` or `[...]`} (views)."""
        out = {}
        for name, (start, width, per_member) in self.slices.items():
            out[name] = values[..., start : start + width] if per_member else values[..., start]
        return out


def _fixed(spec: ParamSpec, fixed: dict[str, float], dynamic: set[str], phy_name: str) -> ParamSpec:
    """`spec` with lo = hi = its value in `phy.fixed_params`, if any (the NN column then has no effect)."""
    if spec.name not in fixed:
        return spec
    value = fixed[spec.name]
    if spec.name in dynamic:
        raise ConfigError(f"model.phy.fixed_params.{spec.name}: a fixed parameter cannot also be dynamic")
    if not spec.lo <= value <= spec.hi:
        raise ConfigError(f"model.phy.fixed_params.{spec.name}: {value} is outside the bounds "
                          f"[{spec.lo}, {spec.hi}] of {phy_name!r}")
    return dataclasses.replace(spec, lo=float(value), hi=float(value))


class DeltaModel(nn.Module):
    """NN -> physical parameters -> physics; sequence `forward` and per-step `step` share the physics step."""

    def __init__(
        self,
        phy: PhysicsModel,
        learner_cls: type[ParamLearner],
        cfg: ModelConfig,
        n_nn_forcings: int,
        n_nn_attributes: int,
    ):
        super().__init__()
        self.cfg = cfg
        self.phy = phy
        self.nmul = cfg.phy.nmul
        self.n_nn_forcings = n_nn_forcings
        self.n_nn_attributes = n_nn_attributes
        specs = list(phy.param_specs())
        by_name = {s.name: s for s in specs}
        for i, name in enumerate(cfg.phy.dynamic_params):
            if name not in by_name:
                raise ConfigError(
                    f"model.phy.dynamic_params[{i}]: {name!r} is not a parameter of {cfg.phy.name!r}; "
                    f"valid: {sorted(by_name)}"
                )
            if not by_name[name].may_vary:
                raise ConfigError(f"model.phy.dynamic_params[{i}]: {name!r} is per-basin and cannot be "
                                  "dynamic")
        dynamic = set(cfg.phy.dynamic_params)
        specs = [_fixed(s, cfg.phy.fixed_params, dynamic, cfg.phy.name) for s in specs]
        unknown = sorted(set(cfg.phy.fixed_params) - set(by_name))
        if unknown:
            raise ConfigError(f"model.phy.fixed_params: {unknown} not parameters of {cfg.phy.name!r}; "
                              f"valid: {sorted(by_name)}")
        self.dynamic_layout = _Layout([s for s in specs if s.name in dynamic], self.nmul)
        self.static_layout = _Layout([s for s in specs if s.name not in dynamic], self.nmul)
        for tag, layout in (("dyn", self.dynamic_layout), ("static", self.static_layout)):
            self.register_buffer(f"_{tag}_lo", layout.lo, persistent=False)
            self.register_buffer(f"_{tag}_span", layout.span, persistent=False)
        self.nn = learner_cls(
            n_nn_forcings, n_nn_attributes, self.dynamic_layout.width, self.static_layout.width, cfg.nn
        )
        check_no_process(cfg, phy)
        self.correction = None
        if cfg.correction is not None:
            features = check_correction(cfg.correction, phy, cfg.phy.name)
            self.correction = OutputCorrection(cfg.correction, features, n_nn_forcings, n_nn_attributes)
        self.to(torch.float64 if cfg.dtype == "float64" else torch.float32)

    def _apply(self, fn, recurse=True):
        """`nn.Module._apply` (behind `.to`, `.double()`, `.cuda()`), then the parameter bounds re-made from
        the exact float64 layout in each buffer's new dtype and device: a model built in float32 and
        converted to float64 (a checkpoint in the BMI) would otherwise keep float32-rounded bounds, and its
        torch path would differ from the numpy one (which reads the layout) by ~1e-8 relative."""
        super()._apply(fn, recurse)
        for tag, layout in (("dyn", self.dynamic_layout), ("static", self.static_layout)):
            for part in ("lo", "span"):
                old = getattr(self, f"_{tag}_{part}")
                setattr(self, f"_{tag}_{part}", getattr(layout, part).to(device=old.device, dtype=old.dtype))
        return self

    @classmethod
    def from_config(cls, cfg: ModelConfig, n_nn_forcings: int, n_nn_attributes: int) -> DeltaModel:
        """Build physics `cfg.phy.name` and learner `cfg.nn.name` from the registries, in `cfg.dtype`."""
        phy = get_physics(cfg.phy.name)(cfg.phy)
        return cls(phy, get_nn(cfg.nn.name), cfg, n_nn_forcings, n_nn_attributes)

    # --- outputs --------------------------------------------------------------------------------
    @property
    def output_names(self) -> tuple[str, ...]:
        """The physics' outputs, and with a correction `<output>_physics`, `<output>_correction`."""
        return model_output_names(self.phy, self.cfg)

    @property
    def output_units(self) -> dict[str, str]:
        """Units of every output (`output_names`); a correction's in its corrected output's units."""
        units = dict(getattr(self.phy, "output_units", None) or {})
        if self.correction is not None and self.cfg.correction.output in units:
            for name in corrected_names(self.cfg.correction):
                units[name] = units[self.cfg.correction.output]
        return units

    # --- parameters -----------------------------------------------------------------------------
    @property
    def dynamic_param_names(self) -> list[str]:
        return [s.name for s in self.dynamic_layout.specs]

    @property
    def static_param_names(self) -> list[str]:
        return [s.name for s in self.static_layout.specs]

    def dynamic_params(self, dyn_unit: torch.Tensor) -> Params:
        """Learner dynamic output `[..., n_dyn]` in (0, 1) -> {name: `[..., nmul]`} physical."""
        return self.dynamic_layout.split(self._dyn_lo + dyn_unit * self._dyn_span)

    def static_params(self, c_nn: torch.Tensor) -> Params:
        """Static physical parameters from attributes `c_nn [B, na]`: {name: `[B, nmul]` or `[B]`}."""
        return self._static_from_unit(self.nn.static(c_nn))

    def _static_from_unit(self, static_unit: torch.Tensor) -> Params:
        return self.static_layout.split(self._static_lo + static_unit * self._static_span)

    def physical_params(self, x_nn: torch.Tensor, c_nn: torch.Tensor) -> Params:
        """All physical parameters for a window: dynamic `[T, B, nmul]`, static `[B, nmul]` or `[B]`."""
        dyn, static = self.nn(x_nn, c_nn)
        return {**self._static_from_unit(static), **self.dynamic_params(dyn)}

    # --- running --------------------------------------------------------------------------------
    def initial_state(
        self, batch: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> State:
        """Cold start: zero LSTM state and the physics' initial stores (model dtype/device by default)."""
        ref = self._dyn_lo
        dtype = dtype or ref.dtype
        device = device or ref.device
        return {
            "nn": self.nn.init_hidden(batch, dtype, device),
            "phy": self.phy.initial_state(batch, dtype, device),
        }

    def forward(
        self,
        x_nn: torch.Tensor,
        c_nn: torch.Tensor,
        x_phy: torch.Tensor,
        attrs_phy: dict[str, torch.Tensor] | None = None,
        state: State | None = None,
    ) -> tuple[dict[str, torch.Tensor], State]:
        """Run a window: `x_nn [T, B, nx]`, `c_nn [B, na]`, `x_phy [T, B, F]` (physics units), `attrs_phy`
        {name: [B]} -> `(outputs {name: [T - warmup, B]}, final state)`. `state` None: cold start."""
        if x_phy.dim() != 3 or x_phy.shape[:2] != x_nn.shape[:2]:
            raise InputError(
                f"x_phy must be [T, B, F] with the same T, B as x_nn {tuple(x_nn.shape[:2])}, "
                f"got {tuple(x_phy.shape)}"
            )
        dyn, static, hidden = self.nn.sequence(x_nn, c_nn, None if state is None else state["nn"])
        params = {**self._static_from_unit(static), **self.dynamic_params(dyn)}
        outputs, phy_state = self.phy(
            x_phy, params, attrs=attrs_phy, state=None if state is None else state["phy"]
        )
        if self.correction is not None:
            n_out = next(iter(outputs.values())).shape[0]
            outputs = self.correction.apply(x_nn[x_nn.shape[0] - n_out:], c_nn, outputs)
        return outputs, {"nn": hidden, "phy": phy_state}

    def step(
        self,
        state: State,
        x_nn_t: torch.Tensor,
        c_nn: torch.Tensor,
        x_phy_t: torch.Tensor,
        attrs_phy: dict[str, torch.Tensor] | None = None,
        static: Params | None = None,
    ) -> tuple[State, dict[str, torch.Tensor]]:
        """One step: `x_nn_t [B, nx]`, `c_nn [B, na]`, `x_phy_t [B, F]` -> `(state, outputs {name: [B]})`.

        `static` (from `static_params(c_nn)`) may be passed to skip recomputing the static head each step.
        """
        dyn, hidden = self.nn.step(x_nn_t, c_nn, state["nn"])
        params = {**(self.static_params(c_nn) if static is None else static), **self.dynamic_params(dyn)}
        phy_state, outputs = self.phy.step(state["phy"], x_phy_t, params, attrs_phy)
        if self.correction is not None:
            outputs = self.correction.apply(x_nn_t, c_nn, outputs)
        return {"nn": hidden, "phy": phy_state}, outputs

    def numpy_param_stepper(self, c_nn: torch.Tensor) -> NumpyParamStepper:
        """Float64 numpy path from NN inputs to physical parameters, bound to attributes `c_nn [B, na]`."""
        return NumpyParamStepper(self, self.nn.numpy_stepper(c_nn))


def check_no_process(cfg: ModelConfig, phy: PhysicsModel) -> None:
    """Refuse `model.process` (ConfigError naming the key): this windowed delta model calls no process hook
    (a domain's own delta model may); a physics without hooks is named as such first
    (`core.process.check_process`)."""
    if cfg.process is None:
        return
    check_process(cfg.process, phy, cfg.phy.name)
    raise ConfigError(f"model.process: {cfg.phy.name!r} lists the hook {cfg.process.hook!r}, but this delta "
                      "model (the windowed trainer's) calls no learned process; remove the key")


def model_output_names(phy: PhysicsModel, cfg: ModelConfig) -> tuple[str, ...]:
    """The outputs of a delta model of physics `phy` and config `cfg` (`DeltaModel.output_names`)."""
    extra = corrected_names(cfg.correction) if cfg.correction is not None else ()
    return (*phy.output_names, *extra)


class NumpyParamStepper:
    """Per-step physical parameters in float64 numpy (eval mode), for low-overhead single-basin stepping.

    `static`: {name: `[B, nmul]` or `[B]`} physical, computed once; `init_hidden()`;
    `step(x_nn_t [B, nx], hidden) -> (dynamic {name: [B, nmul]}, hidden)`.
    """

    def __init__(self, model: DeltaModel, stepper: NumpyStepper):
        self._stepper = stepper
        self._dyn_lo = model.dynamic_layout.lo.numpy()
        self._dyn_span = model.dynamic_layout.span.numpy()
        self._dyn_layout = model.dynamic_layout
        st = model.static_layout
        self.static = st.split(st.lo.numpy() + stepper.static * st.span.numpy())

    def init_hidden(self) -> Hidden:
        return self._stepper.init_hidden()

    def step(self, x_nn_t: np.ndarray, hidden: Hidden) -> tuple[dict[str, np.ndarray], Hidden]:
        dyn, hidden = self._stepper.step(x_nn_t, hidden)
        return self._dyn_layout.split(self._dyn_lo + dyn * self._dyn_span), hidden
