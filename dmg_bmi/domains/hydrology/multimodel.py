"""HBV multimodel: several HBV variants run side by side in one delta model, mixed by learned softmax weights.

`hbv_multimodel` runs the variants in `model.phy.options.members` (any of HBV 1.0, 1.1p and 2.0, each once, at
least two) on the same forcing, each with `nmul` components and no routing of its own. The members share the
learned parameters of the same name (same bounds in every variant), so the mixture learns which structure
to trust, not separate parameter sets. Each member k has a softmax logit `logit_<member>` in
[-logit_bound, logit_bound], a parameter like any other: listed in `model.phy.dynamic_params` it comes from
the LSTM and varies by day (δMG's learned multimodel weighting), else from the attribute MLP.

Per day, with weights w_k = softmax(logits)_k:
- every flux and store output is the weighted sum of the members' (mm/d, mm; members that lack a flux, such
  as HBV 1.0's capillary rise, count 0); `weight_<member>` (-) reports w_k;
- the three runoff components of each member, times its weight, are routed through the one gamma unit
  hydrograph (route_a, route_b; linear, so the routed total is the sum of the routed contributions):
  `streamflow_<member>` (mm/d) is member k's routed contribution and they sum to `streamflow`;
- the mixture's storage is sum_k w_k S_k (S_k: member k's stores, mm). When the weights change, that sum
  changes without any water moving: `reweighting` = sum_k (w_k,t - w_k,t-1) S_k,t-1 (mm/d) is that change,
  reported as its own term so the balance P - AET - Q + clamp_gain + exchange + reweighting = dS closes.

State: each member's stores under its name, the routing tail of the 3 x K weighted components
(`route_tail [B, 3K, L-1]`) and the previous day's weights (`weights [B, K]`, 1/K at a cold start, when all
members hold the same stores). Warm-up as the HBV variants (`dmg_bmi.domains.hydrology.hbv`): "spinup" runs
the members without gradient over the first `warmup` days with every parameter (weights included) frozen at
day warmup-1, the routing tail passing through; "trim" runs everything and drops the first days' outputs.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import numpy as np
import torch

from dmg_bmi.core.config import PhyConfig
from dmg_bmi.core.ops import TORCH, backend_of
from dmg_bmi.core.physics import ParamSpec
from dmg_bmi.core.registry import register_physics
from dmg_bmi.core.schema import Float, key, section
from dmg_bmi.domains.hydrology.hbv import _ROUTE, OUTPUT_UNITS, ROUTED, Hbv2, Hbv2Options, Hbv10, Hbv11p, _Hbv
from dmg_bmi.domains.hydrology.hbv_core import STORES, Variant
from dmg_bmi.domains.hydrology.routing import route_sequence, route_step
from dmg_bmi.errors import ConfigError, InputError

VARIANTS = {"hbv_1_0": Hbv10, "hbv_1_1p": Hbv11p, "hbv_2": Hbv2}
_STORE_OUTPUTS = ("snowpack", "meltwater", "SM", "SUZ", "SLZ")  # member outputs that are stores (mm)
_MIXED = ("srflow_no_rout", "ssflow_no_rout", "gwflow_no_rout", "AET", "snowpack", "meltwater", "SM", "SUZ",
          "SLZ", "recharge", "excess", "tosoil", "percolation", "evapfactor", "capillary", "exchange",
          "clamp_gain")  # member outputs mixed by weight


@section
@dataclasses.dataclass
class MultimodelOptions(Hbv2Options):
    """`model.phy.options` of `hbv_multimodel` (the members' options: the HBV variants' keys)."""

    members: Annotated[list[Literal[tuple(VARIANTS)]], key(
        "the HBV variants mixed, each once (at least two); they share the parameters of the same name",
        min_length=2)] = dataclasses.field(default_factory=lambda: list(VARIANTS))
    logit_bound: Annotated[Float, key(
        "each member's softmax logit lies in [-logit_bound, logit_bound], so no weight falls below about "
        "exp(-2 logit_bound) of another's", gt=0.0, le=20.0)] = 5.0


def softmax(logits, xp):
    """Softmax over the last axis (tensor or numpy array)."""
    if xp is TORCH:
        return torch.softmax(logits, -1)
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def _member_options(options: MultimodelOptions, name: str) -> dict:
    """The options of member `name`: the HBV keys it has (HBV 2.0's elevation rule only for HBV 2.0)."""
    keys = {f.name for f in dataclasses.fields(VARIANTS[name].Options)}
    return {k: v for k, v in dataclasses.asdict(options).items() if k in keys}


@register_physics("hbv_multimodel")
class HbvMultimodel(_Hbv):
    """HBV 1.0, 1.1p and 2.0 side by side, mixed by learned softmax weights; units as the HBV variants."""

    Options = MultimodelOptions

    def _build_specs(self, cfg: PhyConfig) -> tuple[ParamSpec, ...]:
        names = self.options.members
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"model.phy.options.members: {dup} listed more than once; each variant runs "
                              "once")
        self.member_names = tuple(names)
        for i, name in enumerate(cfg.dynamic_params):
            if name.startswith("logit_") and name.removeprefix("logit_") not in names:
                raise ConfigError(f"model.phy.dynamic_params[{i}]: {name!r} is the logit of "
                                  f"{name.removeprefix('logit_')!r}, which model.phy.options.members {names} "
                                  "does not mix: add it there, or drop the logit")
        self.members = torch.nn.ModuleList()
        specs: dict[str, ParamSpec] = {}
        betaet = "parBETAET" in cfg.dynamic_params
        for name in names:
            own = _variant_params(name, betaet)
            member = VARIANTS[name](PhyConfig(
                name=name, nmul=cfg.nmul, routing=False, warmup=0, warmup_mode="trim",
                dynamic_params=[p for p in cfg.dynamic_params if p in own],
                options=_member_options(self.options, name)))
            self.members.append(member)
            for spec in member.param_specs():
                if spec.name in specs and specs[spec.name] != spec:
                    raise ConfigError(f"model.phy.options.members: {spec.name} differs between variants "
                                      f"({specs[spec.name]} vs {spec}); they cannot share it")
                specs.setdefault(spec.name, spec)
        self.attribute_names = tuple(dict.fromkeys(a for m in self.members for a in m.attribute_names))
        bound = self.options.logit_bound
        logits = tuple(ParamSpec(f"logit_{n}", -bound, bound, "-", f"softmax logit of the member {n}",
                                 per_member=False, can_vary=True) for n in names)
        # the outputs `_Hbv` lists: capillary rise and exchange where any member has them (each member
        # applies its own variant; this one only names the mixture's outputs)
        self.variant = Variant(betaet=True, capillary=any(m.variant.capillary for m in self.members),
                               exchange=any(m.variant.exchange for m in self.members))
        member_specs = tuple(specs.values())
        return member_specs + logits + (_ROUTE if cfg.routing else ())

    def __init__(self, cfg: PhyConfig):
        super().__init__(cfg)
        extra = (*(f"weight_{n}" for n in self.member_names), *(f"streamflow_{n}" for n in self.member_names),
                 "reweighting")
        self.output_names = (*self.output_names, *extra)
        self.state_names = (*self.member_names, "weights") + (("route_tail",) if self.routing else ())
        self._units = {**{n: OUTPUT_UNITS[n] for n in self.output_names if n in OUTPUT_UNITS},
                       **{f"weight_{n}": "1" for n in self.member_names},
                       **{f"streamflow_{n}": "mm d-1" for n in self.member_names}, "reweighting": "mm d-1"}
        self.n_members = len(self.member_names)

    @property
    def output_units(self) -> dict[str, str]:
        return dict(self._units)

    def _params_of(self, params: dict, k: int) -> dict:
        """The parameters member `k` reads."""
        return {s.name: params[s.name] for s in self.members[k].param_specs()}

    def _logits(self, params: dict, xp):
        return xp.stack([params[f"logit_{n}"] for n in self.member_names], -1)

    # ---- state --------------------------------------------------------------------------------------
    def initial_state(self, batch, dtype=torch.float32, device="cpu"):
        """Every member's cold start, equal weights 1/K `[B, K]`, an empty routing tail `[B, 3K, L-1]`."""
        state = {n: m.initial_state(batch, dtype, device) for n, m in zip(self.member_names, self.members,
                                                                          strict=True)}
        k = self.n_members
        state["weights"] = torch.full((batch, k), 1.0 / k, dtype=dtype, device=device)
        if self.routing:
            state["route_tail"] = torch.zeros(batch, 3 * self.n_members, self.routing_len - 1, dtype=dtype,
                                              device=device)
        return state

    def store_means(self, state) -> dict:
        """The mixture's stores `{SNOWPACK, MELTWATER, SM, SUZ, SLZ: [B]}` (mm): the members' means over nmul,
        weighted by the state's weights."""
        w = state["weights"]
        return {store: sum(w[:, k] * state[n][store].mean(-1) for k, n in enumerate(self.member_names))
                for store in STORES}

    def storage(self, state):
        """Water in the stores per basin `[B]` (mm): sum_k w_k S_k with the state's weights."""
        return sum(self.store_means(state).values())

    # ---- one step -----------------------------------------------------------------------------------
    def step_params(self, params_t: dict, attrs=None) -> dict:
        """Each member's prepared parameters (`_Hbv.step_params`), the logits `[B, K]` and the UH weights."""
        xp = backend_of(params_t["parFC"])
        prepared = {"members": [m.step_params(self._params_of(params_t, k), attrs)
                                for k, m in enumerate(self.members)],
                    "logits": self._logits(params_t, xp)}
        if self.routing:
            prepared["uh"] = params_t["uh"] if "uh" in params_t else self.uh(params_t)
        return prepared

    def step(self, state, forcing_t, params_t, attrs=None):
        """One day: every member's step, mixed and routed (module docstring); outputs `{name: [B]}`."""
        xp = backend_of(forcing_t)
        if "members" not in params_t:
            params_t = self.step_params(params_t, attrs)
        w = softmax(params_t["logits"], xp)
        new_state, outs, before = {}, [], []
        for k, (name, member) in enumerate(zip(self.member_names, self.members, strict=True)):
            before.append(member.storage(state[name]))
            new_state[name], out = member.step(state[name], forcing_t, params_t["members"][k], attrs)
            outs.append(out)
        new_state["weights"] = w
        out = self._mix(outs, [w[:, k] for k in range(self.n_members)], xp)
        w_prev = state["weights"]
        out["reweighting"] = sum((w[:, k] - w_prev[:, k]) * before[k] for k in range(self.n_members))
        q = xp.stack([w[:, k] * outs[k][f"{c}_no_rout"] for k in range(self.n_members) for c in ROUTED], -1)
        routed = q
        if self.routing:
            routed, new_state["route_tail"] = route_step(state["route_tail"], q, params_t["uh"], xp)
        self._add_routed(out, routed, forcing_t, w)
        return new_state, {k: out[k] for k in self.output_names}

    # ---- sequence -----------------------------------------------------------------------------------
    def forward(self, forcing, params, attrs=None, state=None):
        """Run `forcing [T, B, 3]` -> `(outputs {name: [T - warmup, B]}, final_state)`; parameters as the
        HBV variants', the logits `[B]` (static) or `[T, B]` (dynamic)."""
        attrs, state = self._checked(forcing, params, attrs, state)
        warm = self.cfg.warmup
        dynamic = set(self.dynamic)
        members = {n: state[n] for n in self.member_names}
        weights_prev = state["weights"]
        trim = warm
        if warm and self.cfg.warmup_mode == "spinup":
            # every parameter at its day warmup-1 value (a dynamic one repeated over the spin-up days)
            frozen = {k: (x[warm - 1].expand(warm, *x.shape[1:]) if k in dynamic else x).detach()
                      for k, x in params.items()}
            with torch.no_grad():
                for k, (name, member) in enumerate(zip(self.member_names, self.members, strict=True)):
                    _, members[name] = member(forcing[:warm], self._params_of(frozen, k), attrs,
                                              members[name])
                spun = softmax(self._logits(frozen, TORCH), TORCH)  # [warm, B, K] (dynamic) or [B, K]
                weights_prev = spun[-1] if spun.dim() == 3 else spun
            forcing = forcing[warm:]
            params = {k: (x[warm:] if k in dynamic else x) for k, x in params.items()}
            trim = 0
        n_run = forcing.shape[0]
        logits = self._logits(params, TORCH)
        w = softmax(logits if logits.dim() == 3 else logits.expand(n_run, *logits.shape), TORCH)  # [T, B, K]
        outs, final, before = [], {}, []
        for k, (name, member) in enumerate(zip(self.member_names, self.members, strict=True)):
            s0 = member.storage(members[name])
            out, final[name] = member(forcing, self._params_of(params, k), attrs, members[name])
            outs.append(out)
            total = sum(out[s] for s in _STORE_OUTPUTS)  # [T, B] after each day
            before.append(torch.cat([s0[None], total[:-1]]))  # S_k,t-1
        final["weights"] = w[-1]
        out = self._mix(outs, [w[..., k] for k in range(self.n_members)], TORCH)
        w_prev = torch.cat([weights_prev[None], w[:-1]])
        out["reweighting"] = sum((w[..., k] - w_prev[..., k]) * before[k] for k in range(self.n_members))
        q = torch.stack([w[..., k] * outs[k][f"{c}_no_rout"] for k in range(self.n_members) for c in ROUTED],
                        1)  # [T, 3K, B]
        routed = q
        if self.routing:
            routed, final["route_tail"] = route_sequence(q, self.uh(params), state["route_tail"])
        self._add_routed(out, routed.transpose(1, 2), forcing, w)
        return {k: out[k][trim:] for k in self.output_names}, final

    # ---- mixing -------------------------------------------------------------------------------------
    def _mix(self, outs: list[dict], weights: list, xp) -> dict:
        """Weighted sums of the members' outputs (`_MIXED`; a member without one counts 0)."""
        mixed = {}
        for name in _MIXED:
            terms = [w * o[name] for w, o in zip(weights, outs, strict=True) if name in o]
            mixed[name] = sum(terms) if terms else 0.0 * weights[0]
        return mixed

    def _add_routed(self, out: dict, routed, forcing, w) -> None:
        """Complete `out` in place from the routed weighted components `routed [..., B, 3K]` (channel
        3k + c: member k's component c) and the weights `w [..., B, K]`: components, totals, contributions."""
        for c, name in enumerate(ROUTED):
            out[name] = sum(routed[..., 3 * k + c] for k in range(self.n_members))
        out["streamflow_no_rout"] = out["srflow_no_rout"] + out["ssflow_no_rout"] + out["gwflow_no_rout"]
        out["streamflow"] = out["srflow"] + out["ssflow"] + out["gwflow"]
        out["PET"] = forcing[..., 2]
        out["SWE"] = out["snowpack"]
        for k, name in enumerate(self.member_names):
            out[f"weight_{name}"] = w[..., k]
            out[f"streamflow_{name}"] = sum(routed[..., 3 * k + c] for c in range(3))

    # ---- validation ---------------------------------------------------------------------------------
    def _check_state(self, state, n_b, forcing):
        for k in self.state_names:
            if k not in state:
                raise InputError(f"state is missing {k!r}; expected keys {list(self.state_names)}")
        for name, member in zip(self.member_names, self.members, strict=True):
            member._check_state(state[name], n_b, forcing)
        shapes = {"weights": (n_b, self.n_members)}
        if self.routing:
            shapes["route_tail"] = (n_b, 3 * self.n_members, self.routing_len - 1)
        for k, shape in shapes.items():
            if tuple(state[k].shape) != shape:
                raise InputError(f"state {k} must have shape {list(shape)}, got {list(state[k].shape)}")


def _variant_params(name: str, betaet_dynamic: bool) -> set[str]:
    """The parameter names of HBV variant `name` (HBV 1.0 has parBETAET only when it is dynamic)."""
    cfg = PhyConfig(name=name, nmul=1, routing=False, warmup=0,
                    dynamic_params=["parBETAET"] if betaet_dynamic else [])
    return {s.name for s in VARIANTS[name](cfg).param_specs()}
