"""The differentiable HBV family: HBV 1.0, HBV 1.1p and HBV 2.0 (hbv-dmg.md §2).

Units: forcing P and PET in mm/d, T in degC; stores in mm; fluxes in mm/d; all outputs are basin
values (mean over the `nmul` parameter sets). Parameter names, bounds and units: `param_specs()`.

Config options (`PhyConfig.options`): `HbvOptions` (HBV 2.0: `Hbv2Options`), each key with its type, default
and help (`dmg-bmi config explain model.phy.options`).

Warm-up (`PhyConfig.warmup` days, `warmup_mode`): "spinup" runs the first `warmup` days without
gradient and without routing, with every parameter frozen at its day `warmup-1` value, then runs the
rest from the spun-up stores (the routing tail passes through the spin-up unchanged); "trim" runs the
whole window with gradient and routing and drops the first `warmup` days of output.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import torch
from pydantic import Field

from dmg_bmi.core.config import PhyConfig, from_dict
from dmg_bmi.core.ops import TORCH, backend_of
from dmg_bmi.core.physics import ParamSpec, PhysicsModel
from dmg_bmi.core.registry import register_physics
from dmg_bmi.core.schema import Bool, Int, key, section
from dmg_bmi.domains.hydrology import hbv_native
from dmg_bmi.domains.hydrology.hbv_core import STORES, Variant, member_step
from dmg_bmi.domains.hydrology.hbv_fused import N_DIFF, SERIES, run_eager, run_fused, run_nograd
from dmg_bmi.domains.hydrology.routing import route_sequence, route_step, tail_water, uh_weights
from dmg_bmi.errors import ConfigError, InputError

INITIAL_STORE = 0.001  # mm, cold-start value of every store (as hydrodl2)
ROUTED = ("srflow", "ssflow", "gwflow")  # the routed series, in route_tail channel order (Q0, Q1, Q2)

_BASE_SPECS = (
    ParamSpec("parBETA", 1.0, 6.0, "-", "soil shape exponent"),
    ParamSpec("parFC", 50.0, 1000.0, "mm", "field capacity"),
    ParamSpec("parK0", 0.05, 0.9, "d-1", "quick-flow recession"),
    ParamSpec("parK1", 0.01, 0.5, "d-1", "upper-zone recession"),
    ParamSpec("parK2", 0.001, 0.2, "d-1", "lower-zone recession"),
    ParamSpec("parLP", 0.2, 1.0, "-", "ET threshold as a fraction of FC"),
    ParamSpec("parPERC", 0.0, 10.0, "mm d-1", "maximum percolation"),
    ParamSpec("parUZL", 0.0, 100.0, "mm", "upper-zone threshold for quick flow"),
    ParamSpec("parTT", -2.5, 2.5, "degC", "rain/snow and melt threshold temperature"),
    ParamSpec("parCFMAX", 0.5, 10.0, "mm degC-1 d-1", "degree-day melt factor"),
    ParamSpec("parCFR", 0.0, 0.1, "-", "refreeze coefficient"),
    ParamSpec("parCWH", 0.0, 0.2, "-", "liquid water holding capacity of snow"),
)
_BETAET = ParamSpec("parBETAET", 0.3, 5.0, "-", "ET shape exponent")
_CAP = ParamSpec("parC", 0.0, 1.0, "d-1", "capillary rise coefficient")
_EXCHANGE = (
    ParamSpec("parRT", 0.0, 20.0, "mm d-1", "magnitude of the lower-zone exchange"),
    ParamSpec("parAC", 0.0, 2500.0, "km2", "area threshold of the lower-zone exchange"),
)
_ROUTE = (
    ParamSpec("route_a", 0.0, 2.9, "-", "gamma UH shape (alpha = a + 0.1)", per_member=False),
    ParamSpec("route_b", 0.0, 6.5, "d", "gamma UH scale (theta = b + 0.5)", per_member=False),
)

OUTPUT_UNITS = {
    "streamflow": "mm d-1", "srflow": "mm d-1", "ssflow": "mm d-1", "gwflow": "mm d-1",
    "streamflow_no_rout": "mm d-1", "srflow_no_rout": "mm d-1", "ssflow_no_rout": "mm d-1",
    "gwflow_no_rout": "mm d-1", "AET": "mm d-1", "PET": "mm d-1", "SWE": "mm", "snowpack": "mm",
    "meltwater": "mm", "SM": "mm", "SUZ": "mm", "SLZ": "mm", "recharge": "mm d-1", "excess": "mm d-1",
    "tosoil": "mm d-1", "percolation": "mm d-1", "evapfactor": "-", "capillary": "mm d-1",
    "exchange": "mm d-1", "clamp_gain": "mm d-1",
}
_SERIES_OUT = {  # member series -> output name
    "SNOWPACK": "snowpack", "MELTWATER": "meltwater", "SM": "SM", "SUZ": "SUZ", "SLZ": "SLZ",
    "Q0": "srflow_no_rout", "Q1": "ssflow_no_rout", "Q2": "gwflow_no_rout", "ET": "AET",
    "recharge": "recharge", "excess": "excess", "tosoil": "tosoil", "percolation": "percolation",
    "evapfactor": "evapfactor", "capillary": "capillary", "exchange": "exchange", "clamp_gain": "clamp_gain",
}
@section
@dataclasses.dataclass
class HbvOptions:
    """`model.phy.options` of the HBV variants."""

    routing_len: Annotated[Int, key("length of the gamma unit hydrograph", units="d", ge=1)] = 15
    native: Annotated[Bool | None, key(
        "CPU sequences run in the C++ kernel (hbv_native: built once per machine, cached); where it cannot "
        "be built, a warning says why and the fused torch path runs (same values). null: true unless "
        "`compile`")] = None
    fused: Annotated[Bool, key("without the kernel (GPU, native: false), sequences run the fused step with "
                               "the hand-written reverse pass; false: plain autograd (same values)")] = True
    compile: Annotated[Bool, key("torch.compile the fused kernels instead of the C++ one (GPU; tens of "
                                 "seconds of warm-up per batch shape)")] = False
    chunk: Annotated[Annotated[Int, Field(ge=1)] | None, key(
        "days per fused kernel call; the fused reverse pass keeps the stores every `chunk` days. null: 4 "
        "with compile, else 1")] = None


@section
@dataclasses.dataclass
class Hbv2Options(HbvOptions):
    """`model.phy.options` of HBV 2.0."""

    elev_threshold: Annotated[Bool, key("TT := 4 degC where the elevation is >= 2000 m (δHBV 2.0)")] = True


class _Hbv(PhysicsModel):
    """Shared machinery of the HBV variants (see the module docstring for units and options)."""

    forcing_names = ("P", "T", "PET")
    forcing_units = ("mm d-1", "degC", "mm d-1")
    correctable = ("streamflow",)  # the handler counts its correction in the mass balance (leak)
    variant: Variant
    Options: type = HbvOptions

    def __init__(self, cfg: PhyConfig):
        super().__init__()
        self.cfg = cfg
        self.options = from_dict(self.Options, cfg.options, prefix="model.phy.options")
        self.routing_len = self.options.routing_len
        self.fused = self.options.fused
        self.compile = self.options.compile
        self.native = not self.compile if self.options.native is None else self.options.native
        if self.native and self.compile:
            raise ConfigError("model.phy.options: native and compile are alternatives (the C++ kernel or "
                              "torch.compile'd torch kernels); set one of them to false")
        self.chunk = self.options.chunk or (4 if self.compile else 1)
        self.nmul = cfg.nmul
        self.routing = cfg.routing
        self._specs = self._build_specs(cfg)
        varying = {s.name for s in self._specs if s.may_vary}
        for name in cfg.dynamic_params:
            if name not in varying:
                raise ConfigError(f"model.phy.dynamic_params: {name!r} is not a parameter of {cfg.name!r} "
                                  f"that may vary by day; valid: {sorted(varying)}")
        self.dynamic = tuple(s.name for s in self._specs if s.name in cfg.dynamic_params)
        self.state_names = STORES + (("route_tail",) if self.routing else ())
        outs = [k for k in OUTPUT_UNITS if k != "capillary" or self.variant.capillary]
        self.output_names = tuple(k for k in outs if k != "exchange" or self.variant.exchange)

    # ---- tables -------------------------------------------------------------------------------
    def _build_specs(self, cfg: PhyConfig) -> tuple[ParamSpec, ...]:
        raise NotImplementedError

    def param_specs(self) -> tuple[ParamSpec, ...]:
        """Every learnable parameter in canonical order (routing ones last, only when routing is on)."""
        return self._specs

    @property
    def output_units(self) -> dict[str, str]:
        return {k: OUTPUT_UNITS[k] for k in self.output_names}

    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        """Cold start: every store 0.001 mm `[B, nmul]`; an empty routing tail `[B, 3, L-1]` (mm/d)."""
        state = {k: torch.full((batch, self.nmul), INITIAL_STORE, dtype=dtype, device=device) for k in STORES}
        if self.routing:
            state["route_tail"] = torch.zeros(batch, 3, self.routing_len - 1, dtype=dtype, device=device)
        return state

    # ---- parameters the core needs --------------------------------------------------------------
    def _core_params(self, xp, params: dict, attrs) -> dict:
        """Per-member parameters for `member_step` (effective TT, HBV 2.0's LF); routing ones dropped."""
        return {s.name: params[s.name] for s in self._specs if s.per_member}

    def uh(self, params: dict, xp=None):
        """Gamma UH weights `[B, routing_len]` from params route_a, route_b `[B]` (tensors or numpy)."""
        a = params["route_a"]
        return uh_weights(a, params["route_b"], self.routing_len, xp or backend_of(a))

    # ---- one step -------------------------------------------------------------------------------
    def step_params(self, params_t: dict, attrs=None) -> dict:
        """Precompute what `step` derives from parameters (effective TT, HBV 2.0's LF, UH weights).

        Returns `{"core": per-member parameters for the physics, "uh": UH weights [B, L]}`.

        Pass the result as `params_t` to `step` while the parameters do not change (e.g. static
        parameters in a BMI), saving those operations every step. Tensors or numpy arrays.
        """
        xp = backend_of(params_t["parFC"])
        prepared = {"core": self._core_params(xp, params_t, attrs)}
        if self.routing:
            prepared["uh"] = params_t["uh"] if "uh" in params_t else self.uh(params_t)
        return prepared

    def step(self, state, forcing_t, params_t, attrs=None):
        """Advance one day. Works on torch tensors (autograd) or numpy float arrays (fast inference).

        state: as `initial_state` (numpy arrays allowed); forcing_t `[B, 3]` (P mm/d, T degC, PET mm/d);
        params_t: per-member `[B, nmul]`, route_a/route_b `[B]` in physical units (optionally with the
        precomputed weights "uh" from `uh`), or the output of `step_params`;
        attrs: HBV 2.0 needs area_km2, elevation_m `[B]` (km2, m).
        Returns `(new_state, outputs)` with outputs `{name: [B]}` (mm/d, mm; see `output_units`).
        No input validation here (the hot path); `forward` validates.
        """
        xp = backend_of(forcing_t)
        if "core" not in params_t:
            params_t = self.step_params(params_t, attrs)
        P, T, PET = forcing_t[:, 0:1], forcing_t[:, 1:2], forcing_t[:, 2:3]
        stores = tuple(state[k] for k in STORES)
        new, fluxes = member_step(xp, stores, P, T, PET, params_t["core"], self.variant)
        means = xp.mean_last(xp.stack(new + fluxes))
        out = {_SERIES_OUT[k]: means[i] for i, k in enumerate(SERIES)}
        new_state = dict(zip(STORES, new, strict=True))
        routed = None
        if self.routing:
            q = xp.stack([out[f"{k}_no_rout"] for k in ROUTED], -1)
            routed, new_state["route_tail"] = route_step(state["route_tail"], q, params_t["uh"], xp)
        self._add_totals(out, routed, forcing_t)
        return new_state, {k: out[k] for k in self.output_names}

    # ---- sequence -------------------------------------------------------------------------------
    def forward(self, forcing, params, attrs=None, state=None):
        """Run `forcing [T, B, 3]` -> `(outputs {name: [T - warmup, B]}, final_state)`.

        params: per-member `[B, nmul]` (static) or `[T, B, nmul]` (names in cfg.dynamic_params),
        route_a/route_b `[B]`, physical units within bounds. state: None (cold start) or a state dict.
        """
        attrs, state = self._checked(forcing, params, attrs, state)
        warm = self.cfg.warmup
        core = self._core_params(TORCH, params, attrs)
        static = {k: x for k, x in core.items() if x.dim() == 2}
        dynamic = {k: x for k, x in core.items() if x.dim() == 3}
        stores = tuple(state[k] for k in STORES)
        if warm and self.cfg.warmup_mode == "spinup":
            frozen = {**static, **{k: x[warm - 1] for k, x in dynamic.items()}}
            frozen = {k: x.detach() for k, x in frozen.items()}
            _, stores = self._run_nograd(forcing[:warm], stores, frozen, {})
            forcing = forcing[warm:]
            dynamic = {k: x[warm:] for k, x in dynamic.items()}
            trim = 0
        else:
            trim = warm
        means, stores, diag_grad = self._run(forcing, stores, static, dynamic)
        out = {_SERIES_OUT[k]: means[:, i] if i < N_DIFF or diag_grad else means[:, i].detach()
               for i, k in enumerate(SERIES)}
        final = dict(zip(STORES, stores, strict=True))
        routed = None
        if self.routing:
            routed, final["route_tail"] = route_sequence(means[:, 5:8], self.uh(params), state["route_tail"])
        self._add_totals(out, routed, forcing)
        return {k: out[k][trim:] for k in self.output_names}, final

    @staticmethod
    def _add_totals(out: dict, routed, forcing) -> None:
        """Complete `out` in place: routed components (or, without routing, copies of the unrouted ones),
        the total streamflow with and without routing, PET and SWE.

        Works for one step (`out` values `[B]`, routed `[B, 3]`, forcing `[B, 3]`) and for a sequence
        (`[T, B]`, routed `[T, 3, B]`, forcing `[T, B, 3]`); routed is None when routing is off.
        """
        out["streamflow_no_rout"] = out["srflow_no_rout"] + out["ssflow_no_rout"] + out["gwflow_no_rout"]
        for i, k in enumerate(ROUTED):
            out[k] = out[f"{k}_no_rout"] if routed is None else routed[:, i]
        out["streamflow"] = out["srflow"] + out["ssflow"] + out["gwflow"]
        out["PET"] = forcing[..., 2]
        out["SWE"] = out["snowpack"]

    def _run(self, forcing, stores, static, dynamic):
        """(means [T, K, B], final stores, whether the diagnostic series carry gradient)."""
        needs_grad = torch.is_grad_enabled() and any(
            x.requires_grad for x in (*static.values(), *dynamic.values(), *stores, forcing))
        if not needs_grad:
            return *self._run_nograd(forcing, stores, static, dynamic), False
        if self.fused and not forcing.requires_grad:
            args = (self.variant, forcing, stores, static, dynamic)
            if self._native(forcing):
                return *hbv_native.run(*args), False
            return *run_fused(*args, self.compile, self.chunk), False
        return *run_eager(self.variant, forcing, stores, static, dynamic), True

    def _run_nograd(self, forcing, stores, static, dynamic):
        """(means [T, K, B], final stores) without gradient, on the kernel where it serves (`_native`)."""
        args = (self.variant, forcing, stores, static, dynamic)
        if self._native(forcing):
            return hbv_native.run_nograd(*args)
        return run_nograd(*args, self.compile, self.chunk)

    def _native(self, forcing) -> bool:
        """Whether sequence runs on `forcing` use the C++ kernel (option on, CPU tensor, kernel built)."""
        return self.native and hbv_native.usable(forcing)

    # ---- mass balance helpers -------------------------------------------------------------------
    def store_means(self, state) -> dict:
        """The five stores `{SNOWPACK, MELTWATER, SM, SUZ, SLZ: [B]}` (mm, mean over nmul; tensor, numpy)."""
        return {k: state[k].mean(-1) for k in STORES}

    def storage(self, state) -> torch.Tensor:
        """Water in the five stores per basin `[B]` (mm, mean over nmul)."""
        return sum(state[k] for k in STORES).mean(-1)

    def routing_storage(self, state, params) -> torch.Tensor:
        """Water still in the routing tail per basin `[B]` (mm; params needs route_a, route_b)."""
        if not self.routing:
            return 0.0 * self.storage(state)
        tail = state["route_tail"]
        return tail_water(tail, self.uh(params), backend_of(tail))

    # ---- validation -----------------------------------------------------------------------------
    def _checked(self, forcing, params, attrs, state) -> tuple[dict, dict]:
        """`forward`'s inputs checked (InputError naming the culprit): (attributes in the forcing's dtype,
        the state, a cold start where None)."""
        n_t, n_b = self._check_forcing(forcing)
        self._check_params(params, n_t, n_b, forcing)
        attrs = self._check_attrs(attrs, n_b, forcing)
        state = self.initial_state(n_b, forcing.dtype, forcing.device) if state is None else state
        self._check_state(state, n_b, forcing)
        if self.cfg.warmup >= n_t:
            raise InputError(f"forcing has {n_t} time steps but warmup is {self.cfg.warmup}: nothing left to "
                             "simulate")
        return attrs, state

    def _check_forcing(self, forcing):
        if not isinstance(forcing, torch.Tensor):
            raise InputError(f"forcing must be a torch.Tensor [T, B, 3], got {type(forcing).__name__}")
        if forcing.dim() != 3 or forcing.shape[-1] != len(self.forcing_names):
            raise InputError(f"forcing must have shape [T, B, {len(self.forcing_names)}] with channels "
                             f"{self.forcing_names}, got {tuple(forcing.shape)}")
        if forcing.dtype not in (torch.float32, torch.float64):
            raise InputError(f"forcing dtype must be float32 or float64, got {forcing.dtype}")
        bad = torch.isnan(forcing)
        if bool(bad.any()):
            t, b, k = (int(i) for i in bad.nonzero()[0])
            raise InputError(f"forcing {self.forcing_names[k]} is NaN at basin index {b}, time step {t}")
        return forcing.shape[0], forcing.shape[1]

    def _check_params(self, params, n_t, n_b, forcing):
        names = {s.name for s in self._specs}
        unknown = sorted(set(params) - names)
        if unknown:
            raise InputError(f"unknown parameter(s) {unknown} for {type(self).__name__}; "
                             f"expected {sorted(names)}")
        for s in self._specs:
            if s.name not in params:
                raise InputError(f"missing parameter {s.name!r} ({s.units}, bounds [{s.lo}, {s.hi}])")
            x = params[s.name]
            if not isinstance(x, torch.Tensor):
                raise InputError(f"parameter {s.name} must be a torch.Tensor, got {type(x).__name__}")
            if s.name in self.dynamic:
                shape, kind = ((n_t, n_b, self.nmul) if s.per_member else (n_t, n_b)), "dynamic"
            elif not s.per_member:
                shape, kind = (n_b,), "per-basin"
            else:
                shape, kind = (n_b, self.nmul), "static"
            if tuple(x.shape) != shape:
                raise InputError(f"parameter {s.name} ({kind}) must have shape {list(shape)}, "
                                 f"got {list(x.shape)}")
            if x.dtype != forcing.dtype or x.device != forcing.device:
                raise InputError(f"parameter {s.name} is {x.dtype} on {x.device}; forcing is "
                                 f"{forcing.dtype} on {forcing.device}")
            tol = 1e-5 * (s.hi - s.lo)
            lo, hi = torch.aminmax(x.detach())
            if not (float(lo) >= s.lo - tol and float(hi) <= s.hi + tol):
                bad = ((x < s.lo - tol) | (x > s.hi + tol) | torch.isnan(x)).nonzero()[0].tolist()
                raise InputError(f"parameter {s.name} = {float(x[tuple(bad)])} at index {bad} is outside "
                                 f"its bounds [{s.lo}, {s.hi}] ({s.units})")

    def _check_attrs(self, attrs, n_b, forcing):
        attrs = dict(attrs or {})
        for name in self.attribute_names:
            if name not in attrs:
                raise InputError(f"missing attribute {name!r} required by {type(self).__name__}")
            x = attrs[name]
            if not isinstance(x, torch.Tensor) or tuple(x.shape) != (n_b,):
                raise InputError(f"attribute {name} must be a tensor of shape [{n_b}], got "
                                 f"{getattr(x, 'shape', type(x).__name__)}")
            if bool(torch.isnan(x).any()):
                raise InputError(f"attribute {name} is NaN at basin index {int(torch.isnan(x).nonzero()[0])}")
            attrs[name] = x.to(forcing.dtype)
        return attrs

    def _check_state(self, state, n_b, forcing):
        for k in self.state_names:
            if k not in state:
                raise InputError(f"state is missing {k!r}; expected keys {list(self.state_names)}")
        shapes = {k: (n_b, self.nmul) for k in STORES}
        if self.routing:
            shapes["route_tail"] = (n_b, 3, self.routing_len - 1)
        for k, shape in shapes.items():
            if tuple(state[k].shape) != shape:
                raise InputError(f"state {k} must have shape {list(shape)}, got {list(state[k].shape)}")


def _specs(cfg: PhyConfig, member: tuple[ParamSpec, ...]) -> tuple[ParamSpec, ...]:
    return member + (_ROUTE if cfg.routing else ())


@register_physics("hbv_1_0")
class Hbv10(_Hbv):
    """HBV 1.0 (Feng et al. 2022). parBETAET exists (and is applied) only when it is dynamic."""

    def _build_specs(self, cfg):
        betaet = "parBETAET" in cfg.dynamic_params
        self.variant = Variant(betaet=betaet, capillary=False, exchange=False)
        return _specs(cfg, _BASE_SPECS + ((_BETAET,) if betaet else ()))


@register_physics("hbv_1_1p")
class Hbv11p(_Hbv):
    """HBV 1.1p (Song et al. 2026): adds the ET shape exponent and capillary rise."""

    variant = Variant(betaet=True, capillary=True, exchange=False)

    def _build_specs(self, cfg):
        return _specs(cfg, _BASE_SPECS + (_BETAET, _CAP))


@register_physics("hbv_2")
class Hbv2(_Hbv):
    """HBV 2.0 (Song et al. 2025): 1.1p plus an area-dependent SLZ exchange and an elevation snow threshold.

    Attributes: area_km2 (upstream area, km2) and elevation_m (mean elevation, m), `[B]`.
    The exchange LF (mm/d, > 0 gain) is reported as the output `exchange` (the change it made to SLZ).
    """

    variant = Variant(betaet=True, capillary=True, exchange=True)
    attribute_names = ("area_km2", "elevation_m")
    Options = Hbv2Options

    def _build_specs(self, cfg):
        self.elev_threshold = self.options.elev_threshold
        return _specs(cfg, _BASE_SPECS + (_BETAET, _CAP) + _EXCHANGE)

    def _core_params(self, xp, params, attrs):
        skip = ("parRT", "parAC")
        core = {s.name: params[s.name] for s in self._specs if s.per_member and s.name not in skip}
        area = attrs["area_km2"]
        elev = attrs["elevation_m"]
        # dynamic parameters are [T, B, nmul]; attributes broadcast over the member axis
        if self.elev_threshold:
            core["parTT"] = xp.where(elev[:, None] >= 2000.0, 4.0, core["parTT"])
        core["LF"] = lateral_flux(xp, area[:, None], params["parRT"], params["parAC"])
        return core


def lateral_flux(xp, area, RT, AC):
    """HBV 2.0 lower-zone exchange LF (mm/d; > 0 is a gain) from upstream area (km2), parRT, parAC."""
    small = xp.clip((area - AC) / 1000.0, -1.0, 1.0) * RT
    large = xp.exp(xp.clip(-(area - 2500.0) / 50.0, -10.0, 0.0)) * RT
    return xp.where(area < 2500.0, small, large)
