"""ModelHandler: run a trained delta model one daily step at a time for one site; `Handler`: what every
domain's handler shares.

- `Handler.load` reads one or more checkpoints (an ensemble; outputs are the weighted mean of the members) on
  ``cpu``, ``cuda`` or ``auto``, refusing what the handler class does not run (its physics, ensembles,
  devices, backends). Loaded models are cached by (path, mtime, size, device, model builder), so further
  site instances in the same process share the weights and start in milliseconds.
- Two backends run the same maths: ``numpy`` (float64, C's `NumpyParamStepper` + the physics step on
  numpy arrays; the lean batch-1 path used on CPU) and ``torch`` (the DeltaModel's own `step`, on any
  device). ``auto`` picks numpy on CPU and torch on CUDA.
- State is an immutable tuple (one entry per member) of {"nn": hidden, "phy": {name: array}}; `advance`
  is pure, `step` carries `self.state`. `state_to_arrays` / `state_from_arrays` give named float64 arrays
  for serialization (finite numbers, within the domain's `state_bounds`).

Daily inputs are the dict from `dmg_bmi.forcing.aorc_hourly_to_daily` (P, T, PET, prcp, tmean, ...), made
from ngen's AORC forcing as the checkpoint recorded (`input_derivation`). A domain subclasses `ModelHandler`
for what differs: its outputs (`summarize`, `stores`), the bounds of its state arrays (`state_bounds`), its
members (`member_type`), the physics it runs (`physics`) and how inputs are derived (`input_derivation`).
The core defaults: the physics' own outputs and states as basin means, finite state numbers.

Imports beyond the core: the shared runtime's AORC derivation (`dmg_bmi.forcing`), state-array checks
(`dmg_bmi.core.payload`) and BMI input names (`dmg_bmi.core.variables`); never a domain.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dmg_bmi import forcing as F
from dmg_bmi.core.checkpoint import Checkpoint, load_checkpoint, require_config_inputs, require_file
from dmg_bmi.core.normalization import _log_transform
from dmg_bmi.core.payload import array, check_keys, check_range
from dmg_bmi.core.variables import INPUT_NAMES
from dmg_bmi.errors import CheckpointError, ConfigError, InputError, StateError
from dmg_bmi.forcing import InputDerivation, derivation_from_record

_CACHE: dict[tuple, _Loaded] = {}
# Daily model inputs (names of `aorc_hourly_to_daily`) -> the AORC fields they are computed from.
DAILY_SOURCES: dict[str, tuple[str, ...]] = {
    "P": (F.AORC_PRECIP,), "prcp": (F.AORC_PRECIP,), "T": (F.AORC_TEMP,), "tmean": (F.AORC_TEMP,),
    "tmin": (F.AORC_TEMP,), "tmax": (F.AORC_TEMP,), "PET": (), "pres": (F.AORC_PRES,),
    "vp": (F.AORC_SPFH, F.AORC_PRES), "srad": (F.AORC_SWDOWN,), "lrad": (F.AORC_LWDOWN,),
    "wind": (F.AORC_U, F.AORC_V), "pet": (F.AORC_PET,),
}


@dataclass
class _Loaded:
    """A checkpoint read once per process: metadata, model on its device, content fingerprint."""

    ckpt: Checkpoint
    model: torch.nn.Module
    fingerprint: str


def check_attributes(attrs: dict[str, float], names) -> None:
    """Every name in `names` must be in `attrs` (else ConfigError) and finite (else InputError), named."""
    missing = [n for n in names if n not in attrs]
    if missing:
        raise ConfigError(f"missing attribute(s) {missing}; the checkpoint needs {list(names)}")
    bad = [n for n in names if not np.isfinite(attrs[n])]
    if bad:
        raise InputError(f"attribute(s) {bad} are not finite numbers: {[attrs[n] for n in bad]}")


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"device: {device!r} is not one of ['cpu', 'cuda', 'auto']")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but torch sees no CUDA device; use 'cpu' or 'auto'")
    return device


class Handler:
    """What every domain's handler shares: `load` (arguments checked, checkpoints read through the process
    cache) and `checkpoints`. A subclass names what it runs (class attributes below), may build its model
    its own way (`build_model`), and is constructed from the loaded checkpoints: `cls(loaded, weights,
    backend)` (`loaded`: one `_Loaded` per member, `weights` summing to 1, `backend` 'numpy' | 'torch')."""

    label = "a delta model"  # what it runs, for messages
    physics: tuple[str, ...] = ()  # physics names (`config.phy.name`) it runs; empty: any the model builds
    ensembles = True  # False: exactly one checkpoint
    cpu_only = False  # True: device 'cpu' (or 'auto', which then means the CPU)
    backends: tuple[str, ...] = ("numpy", "torch")  # 'auto' picks numpy on the CPU where offered

    def __init__(self, loaded: list[_Loaded], weights: list[float], backend: str):
        self.loaded = list(loaded)

    @classmethod
    def load(cls, checkpoints, weights=None, device: str = "cpu", backend: str = "auto"):
        """Members from checkpoint path(s); `weights` default equal; backend 'auto' | 'numpy' | 'torch'."""
        paths = [checkpoints] if isinstance(checkpoints, (str, os.PathLike)) else list(checkpoints)
        if not paths:
            raise ConfigError("no checkpoint given")
        if not cls.ensembles and len(paths) != 1:
            raise ConfigError(f"members: {cls.label} runs alone, got {len(paths)} members")
        weights = [1.0 / len(paths)] * len(paths) if weights is None else list(weights)
        if len(weights) != len(paths):
            raise ConfigError(f"{len(weights)} weights for {len(paths)} ensemble members")
        if cls.cpu_only and device not in ("cpu", "auto"):
            raise ConfigError(f"device: {cls.label} runs on the CPU, got {device!r}")
        device = "cpu" if cls.cpu_only else _resolve_device(device)
        if backend == "auto":
            backend = "numpy" if device == "cpu" and "numpy" in cls.backends else "torch"
        if backend not in cls.backends:
            raise ConfigError(f"backend: {backend!r} is not one of {['auto', *cls.backends]}")
        if backend == "numpy" and device != "cpu":
            raise ConfigError("backend 'numpy' runs on the CPU only; use backend 'torch' with device 'cuda'")
        return cls([cls.load_cached(p, device) for p in paths], weights, backend)

    @classmethod
    def build_model(cls, ckpt: Checkpoint, device: str) -> torch.nn.Module:
        """The checkpoint's model on `device` in float64 (core: `Checkpoint.build_model`, a DeltaModel)."""
        return ckpt.build_model(device=device, dtype=torch.float64)

    @classmethod
    def load_cached(cls, path: str | Path, device: str = "cpu") -> _Loaded:
        """Load (or fetch from the process cache) the checkpoint at `path` on `device`, model in float64;
        CheckpointError naming the file when its physics is not one this class runs."""
        path = Path(path).resolve()
        require_file(path)
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size, device, cls.build_model.__func__)
        hit = _CACHE.get(key)
        if hit is None:
            ckpt = load_checkpoint(path)
            cls._check_physics(ckpt, path)
            require_config_inputs(ckpt)  # the network is fed its config's inputs, in that order
            model = cls.build_model(ckpt, device)
            model.requires_grad_(False)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            hit = _CACHE[key] = _Loaded(ckpt, model, digest)
        cls._check_physics(hit.ckpt, path)  # a hit may come from a class that runs more physics
        return hit

    @classmethod
    def _check_physics(cls, ckpt: Checkpoint, path: Path) -> None:
        name = ckpt.config.phy.name
        if cls.physics and name not in cls.physics:
            raise CheckpointError(f"{path}: physics {name!r} is not one {cls.__name__} runs "
                                  f"({', '.join(cls.physics)})")

    @property
    def checkpoints(self) -> list[Checkpoint]:
        """The members' checkpoints (the BMI checks attributes against their training data)."""
        return [loaded.ckpt for loaded in self.loaded]


def derivation_of(ckpt: Checkpoint) -> InputDerivation:
    """How P, T, PET were derived for training, as the checkpoint records it (the trainer's own reader)."""
    try:
        return derivation_from_record(ckpt.derivations)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{ckpt.path}: unreadable input derivation {ckpt.derivations!r}: {exc}") \
            from exc


class Member:
    """One checkpoint bound to one site's attributes (a domain extends `bind` for what it precomputes)."""

    def __init__(self, loaded: _Loaded, backend: str):
        self.loaded = loaded
        self.model = loaded.model
        self.ckpt = loaded.ckpt
        self.backend = backend
        self.phy = self.model.phy
        self.attrs: dict[str, float] | None = None
        stats = [self.ckpt.normalization.stats[n] for n in self.ckpt.nn_forcings]
        self._moments = [(s.mean, s.std) for s in stats]
        self._logs = [i for i, s in enumerate(stats) if s.log_norm]

    def normalize(self, values: list[float]) -> np.ndarray:
        """`Normalizer.transform` of one step's NN forcings (floats, `nn_forcings` order) -> `[1, nx]`.

        Same maths (the normalizer's own log transform, z-score, NaN -> 0) on Python floats: at batch 1
        this is ~10x cheaper than the array path."""
        for i in self._logs:
            values[i] = float(_log_transform(values[i]))
        z = [(v - m) / s for v, (m, s) in zip(values, self._moments, strict=True)]
        if all(math.isfinite(v) for v in z):
            return np.array([z])
        return np.nan_to_num(np.array([z]), nan=0.0)

    def bind(self, attrs: dict[str, float]) -> None:
        """Normalize the NN attributes and compute the static parameters once."""
        ck = self.ckpt
        c = np.array([[attrs[n] for n in ck.nn_attributes]], dtype=np.float64)
        c_nn = ck.normalization.transform(c, ck.nn_attributes) if ck.nn_attributes else c
        device = next(iter(self.model.buffers())).device
        self.c_nn = torch.as_tensor(c_nn, dtype=torch.float64, device=device)
        if self.backend == "numpy":
            self.stepper = self.model.numpy_param_stepper(self.c_nn)
            self.static = dict(self.stepper.static)
            correction = self.model.correction
            self.correction = None if correction is None else correction.numpy(self.c_nn.cpu().numpy())
            self.attrs_phy = {n: np.array([attrs[n]], dtype=np.float64) for n in ck.phy_attributes}
        else:
            with torch.no_grad():
                self.static = self.model.static_params(self.c_nn)
            self.attrs_phy = {n: torch.tensor([attrs[n]], dtype=torch.float64, device=device)
                              for n in ck.phy_attributes}
        self.attrs = attrs

    def initial_state(self) -> dict:
        with torch.no_grad():
            state = self.model.initial_state(1, dtype=torch.float64)
        return _to_numpy(state) if self.backend == "numpy" else state

    def advance(self, state: dict, daily: dict) -> tuple[dict, dict]:
        ck = self.ckpt
        x_nn = self.normalize([float(daily[n]) for n in ck.nn_forcings])
        x_phy = np.array([[float(daily[n]) for n in ck.phy_forcings]], dtype=np.float64)
        if self.backend == "numpy":
            dyn, hidden = self.stepper.step(x_nn, state["nn"])
            phy_state, out = self.phy.step(state["phy"], x_phy, {**self.static, **dyn}, self.attrs_phy)
            if self.correction is not None:
                out = self.correction.apply(x_nn, out)
            return {"nn": hidden, "phy": phy_state}, out
        dev = self.c_nn.device
        with torch.no_grad():
            new, out = self.model.step(
                state, torch.as_tensor(x_nn, device=dev), self.c_nn, torch.as_tensor(x_phy, device=dev),
                self.attrs_phy, static=self.static,
            )
        return new, out


def _to_numpy(tree):
    """Tensors -> float64 numpy arrays, recursively through dicts/tuples/lists."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().to("cpu", torch.float64).numpy().copy()
    if isinstance(tree, dict):
        return {k: _to_numpy(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        return type(tree)(_to_numpy(v) for v in tree)
    return tree


def _flatten(tree, prefix: str, out: dict[str, np.ndarray]) -> None:
    if isinstance(tree, dict):
        for k, v in tree.items():
            _flatten(v, f"{prefix}{k}/", out)
    elif isinstance(tree, (tuple, list)):
        out[f"{prefix}#len"] = np.array([len(tree)])
        for i, v in enumerate(tree):
            _flatten(v, f"{prefix}{i}/", out)
    else:
        out[prefix.rstrip("/")] = np.array(_to_numpy(tree), dtype=np.float64)


class ModelHandler(Handler):
    """Step a (possibly ensemble) delta model for one site; see the module docstring."""

    member_type = Member  # a domain's `Member` subclass precomputes what its physics reuses
    noun = "delta model"  # what the network parameterizes, for `description`

    def __init__(self, loaded: list[_Loaded], weights: list[float], backend: str):
        super().__init__(loaded, weights, backend)
        self.members = members = [self.member_type(one, backend) for one in loaded]
        self.weights = np.asarray(weights, dtype=np.float64)
        names = []
        for m in members:
            names += [n for n in (*m.ckpt.nn_attributes, *m.ckpt.phy_attributes) if n not in names]
        self.attribute_names: tuple[str, ...] = tuple(names)
        self.derivation, self.input_names = self.input_derivation()
        models = " + ".join(dict.fromkeys(f"{m.ckpt.config.nn.name} -> {m.ckpt.config.phy.name}"
                                          for m in members))
        ensemble = f", ensemble of {len(members)}" if len(members) > 1 else ""
        # for BMI get_component_name
        self.description = (f"dmg_bmi DeltaModel: NN-parameterized {self.noun} ({models}; PET "
                            f"{self.derivation.pet_method}{ensemble})")
        self.fingerprint = hashlib.sha256(
            "|".join(f"{m.loaded.fingerprint}:{w!r}" for m, w in zip(members, weights, strict=True)).encode()
        ).hexdigest()
        self.state = None

    def input_derivation(self) -> tuple[InputDerivation, tuple[str, ...]]:
        """(How the daily inputs are derived, as every member's checkpoint records it; the BMI inputs read,
        CSDMS names in `dmg_bmi.core.variables` order: all a framework must set). Core: daily inputs from
        ngen's AORC forcing (`DAILY_SOURCES`, `dmg_bmi.forcing`); CheckpointError naming what cannot be
        derived."""
        members = self.members
        derivation = derivation_of(members[0].ckpt)
        for m in members[1:]:
            if derivation_of(m.ckpt) != derivation:
                raise CheckpointError(
                    f"ensemble members derive PET differently: {derivation_of(m.ckpt)} vs {derivation}"
                )
        fields: list[str] = []
        for m in members:
            for name in (*m.ckpt.nn_forcings, *m.ckpt.phy_forcings):
                if name not in DAILY_SOURCES:
                    raise CheckpointError(f"{m.ckpt.path}: model input {name!r} cannot be derived from "
                                          f"ngen's AORC forcing; derivable: {sorted(DAILY_SOURCES)}")
                fields += [f for f in DAILY_SOURCES[name] if f not in fields]
        needed = {*fields, *F.aorc_required_inputs(derivation)}
        return derivation, tuple(n for n in INPUT_NAMES if n in needed)

    # --- attributes -----------------------------------------------------------------------------
    def set_attributes(self, attrs: dict[str, float]) -> None:
        """Bind static catchment attributes (every name in `attribute_names`) and reset `state`."""
        check_attributes(attrs, self.attribute_names)
        for m in self.members:
            m.bind(attrs)
        self.state = self.initial_state()

    # --- stepping -------------------------------------------------------------------------------
    def initial_state(self) -> tuple:
        """Cold-start state of every member."""
        self._check_bound()
        return tuple(m.initial_state() for m in self.members)

    def advance(self, state: tuple, daily: dict) -> tuple[tuple, dict[str, float]]:
        """Pure daily step: `(state, daily inputs) -> (new state, outputs)` (see module docstring)."""
        new, outs = [], []
        for m, s in zip(self.members, state, strict=True):
            s2, raw = m.advance(s, daily)
            new.append(s2)
            outs.append(self.summarize(m, s2, raw, daily))
        if len(outs) == 1:
            return tuple(new), outs[0]
        return tuple(new), {k: float(sum(w * o[k] for w, o in zip(self.weights, outs, strict=True)))
                            for k in outs[0]}

    def step(self, daily: dict) -> dict[str, float]:
        """Advance `self.state` one day and return the outputs."""
        self._check_bound()
        self.state, out = self.advance(self.state, daily)
        return out

    def describe(self, state: tuple) -> dict[str, float]:
        """Stores of `state` without stepping (`stores`, weighted over the members)."""
        outs = [self.stores(m, s) for m, s in zip(self.members, state, strict=True)]
        return {k: float(sum(w * o[k] for w, o in zip(self.weights, outs, strict=True))) for k in outs[0]}

    def summarize(self, member: Member, state: dict, raw: dict, daily: dict) -> dict[str, float]:
        """One member's daily outputs from its physics step (`advance`); core: the physics' raw outputs as
        basin means, in its units. A domain overrides it with its named outputs."""
        return {name: basin_mean(value) for name, value in raw.items()}

    def stores(self, member: Member, state: dict) -> dict[str, float]:
        """One member's stores of `state` (`describe`); core: the physics' states as basin means."""
        return {name: basin_mean(value) for name, value in state["phy"].items()}

    def state_bounds(self, name: str) -> tuple[float, float, str] | None:
        """(lo, hi, why) a restored state array named `name` (its last key part) must lie in, `why` appended
        to the StateError; None: any finite number (core)."""
        return None

    def get_state(self) -> tuple:
        return self.state

    def set_state(self, state: tuple) -> None:
        self.state = state

    # --- serialization --------------------------------------------------------------------------
    def state_to_arrays(self, state: tuple) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i, s in enumerate(state):
            _flatten(s, f"m{i}/", out)
        return out

    def state_from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> tuple:
        """Inverse of `state_to_arrays` (the keys under `prefix`), shaped like `initial_state()`. Other keys,
        shapes or list lengths, non-finite values or a value outside its `state_bounds` raise StateError
        naming the array, the index and the value."""
        template = self.initial_state()
        ref = self.state_to_arrays(template)
        check_keys(ref, arrays, prefix)
        checked = {}
        for key, value in ref.items():
            lo, hi, why = self.state_bounds(key.rsplit("/", 1)[-1]) or (None, None, "")
            checked[key] = array(arrays, prefix + key, value.shape, lo=lo)
            if hi is not None:
                check_range(prefix + key, checked[key], None, hi, why)
            if key.endswith("#len") and not np.array_equal(checked[key], value):
                raise StateError(f"state array {prefix + key!r} = {checked[key].tolist()}, this model has "
                                 f"{value.tolist()}")
        return tuple(_rebuild(t, checked, f"m{i}/") for i, t in enumerate(template))

    def _check_bound(self) -> None:
        if any(m.attrs is None for m in self.members):
            raise InputError("ModelHandler: call set_attributes(...) before stepping")


def _rebuild(template, arrays, prefix):
    if isinstance(template, dict):
        return {k: _rebuild(v, arrays, f"{prefix}{k}/") for k, v in template.items()}
    if isinstance(template, (tuple, list)):
        return type(template)(_rebuild(v, arrays, f"{prefix}{i}/") for i, v in enumerate(template))
    value = arrays[prefix.rstrip("/")].astype(np.float64)
    if isinstance(template, torch.Tensor):
        return torch.as_tensor(value, dtype=template.dtype, device=template.device)
    return value


def basin_mean(x) -> float:
    """A basin value `[1]` (tensor, array or float) as float; member arrays `[1, nmul]` are averaged."""
    if isinstance(x, torch.Tensor):
        return float(x.detach().double().mean().cpu())
    if isinstance(x, float):
        return x
    return x.item() if x.size == 1 else float(x.mean())
