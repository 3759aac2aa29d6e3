"""DeltaModelBmi: the CSDMS BMI 2.0 component for NextGen, a thin adapter over a domain's handler.

Every variable is a float64 1-D array of one item on grid 0 (``scalar``, rank 0); time is in seconds from
0.0 (= the config's `start_time`); units are UDUNITS strings from the variables tables
(`dmg_bmi.core.variables`: the framework's inputs and protocol; the domain's `Domain.variables`: its outputs
and protocol terms).

Inputs: `get_input_var_names()` declares only the forcings the checkpoint reads (`handler.input_names`: e.g.
precipitation and temperature for Hamon PET). Every other forcing of `dmg_bmi.core.variables` may still be
set (a framework may set all AORC fields) but is never read, so NaN there is ignored. Declared inputs start
unset: the first `update()` names every one never set. ngen sets them each step, calls `update()` (or
`update_until`), then reads outputs with `get_value_at_indices`. Catchment attributes come from the init YAML
(`dmg_bmi.bmi_config`) or from ngen `model_params` through `set_value`. The ngen serialization protocol
(``ngen::serialization_*``) is supported.

Domains: what differs between models lives in their domain (`dmg_bmi.domains`), found from the checkpoint's
physics name. The domain loads the handler and opens a `dmg_bmi.domains.BmiSession`: the outputs it
publishes, extra protocol variables (e.g. the ngen mass balance, ``ngen::mass_*``), the site parameters it
needs, its config keys, and the time adapter that turns the framework's records into the physics' native
step (e.g. phase-shifted daily chains, `dmg_bmi.domains.hydrology.daily_chains`). This module never tests
which domain it holds.

Checks (every failure a named `dmg_bmi.errors` error): at every `update()` each declared input must lie in
its `dmg_bmi.core.variables.Variable.valid_range` (in the variable's units; NaN follows `nan_policy`), else
`InputError` naming the variable, value, units, model time (s and UTC) and the range, with a hint for a
likely units slip (degC given as K, hPa as Pa, mm h-1 as mm s-1). Catchment attributes must be finite with
|value| <= 1e12, `area_km2` > 0 and |latitude| <= 90 (|longitude| <= 180), and one with an entry in
the dataset variables table (`dmg_bmi.data.variables.dataset_variables`, e.g. p_mean, frac_snow, t_mean,
elevation_m, elev) within its valid range in the table's units (the training table's), and a network
attribute the table lacks within 10 standard deviations of the training mean the checkpoint's
normalization records (`dmg_bmi.attributes`; a handler lists its checkpoints as `checkpoints`): refused at
`initialize` when the YAML gives them (`ConfigError` naming the file and catchment), at the next `update()`
when set through `set_value` (ngen `model_params`; `InputError`). Destinations, indices and times handed to
the getters and `update_until` are checked (dtype, size, range, finiteness).

State (`save_state`, serialization, the config's `initial_state` / `final_state`) records its absolute UTC
time (`dmg_bmi.core.payload`); a restored run continues on the state's own day axis, so a hot start whose
`start_time` is the state's time equals the unbroken run bit for bit. Every field and array of a state is
checked before it is used (`StateError` naming the file or protocol variable, the field and its value);
a state that does not fit leaves the instance as it was.
"""

from __future__ import annotations

import math
import os
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from bmipy import Bmi

from dmg_bmi import domains
from dmg_bmi.atomic import write_bytes
from dmg_bmi.attributes import attribute_problems, parameter
from dmg_bmi.bmi_config import load_bmi_config, member_paths, resolve
from dmg_bmi.core import payload
from dmg_bmi.core import variables as V
from dmg_bmi.core.config import read_file
from dmg_bmi.errors import ConfigError, DmgBmiError, InputError, StateError
from dmg_bmi.ngen.day_ring import SECONDS_PER_DAY

GRID = 0
_PROTOCOL_TRIGGERS = ("ngen::serialization_create", "ngen::serialization_free")
_SERIALIZATION = tuple(v.name for v in V.VARIABLES if v.name.startswith("ngen::serialization_"))
_STATE_PREFIX = "chains/"  # the time adapter's arrays in a state payload (`dmg_bmi.core.payload`)
# A declared input never set holds this quiet NaN (a payload no framework's NaN carries), so `update` can tell
# "never set" from "set to NaN" without any bookkeeping on the hot `set_value` path.
_UNSET_BITS = np.uint64(0x7FF8_0000_DEAD_0001)
_UNSET = float(np.array([_UNSET_BITS]).view(np.float64)[0])
# A likely units slip behind an out-of-range input: CSDMS name -> (test on the value, hint).
_UNITS_HINTS = {
    "land_surface_air__temperature": (lambda v: v < 100.0, "looks like degC (K = degC + 273.15)"),
    "land_surface_air__pressure": (lambda v: 0.0 < v < 1100.0, "looks like hPa (Pa = 100 x hPa)"),
    "atmosphere_water__liquid_equivalent_precipitation_rate": (
        lambda v: 0.15 < v <= 540.0, "if this is mm h-1, divide by 3600 for mm s-1"),
}


class DeltaModelBmi(Bmi):
    """BMI 2.0 for a differentiable NN + physics model of one catchment (see module docstring)."""

    def __init__(self) -> None:
        self._ready = False
        self._name = "dmg_bmi DeltaModel"
        self._vars: dict[str, V.Variable] = {}
        self._values: dict[str, np.ndarray] = {}
        self._forcing: dict[str, np.ndarray] = {}
        self._session: domains.BmiSession | None = None
        self._adapter: domains.TimeAdapter | None = None
        self._dirty = False
        self._n = self._last_step = 0  # updates taken, and the most possible (set by initialize)
        self._input_names: tuple[str, ...] = ()
        self._output_names: tuple[str, ...] = ()

    # ------------------------------------------------------------------ control
    def initialize(self, config_file: str) -> None:
        """Read the YAML config (paths relative to it), load the checkpoint(s) through their domain and open
        its session. `config_file` must be a path (str or os.PathLike) of a file; anything else raises
        ConfigError."""
        if not isinstance(config_file, (str, os.PathLike)) or not str(config_file).strip():
            raise ConfigError(f"initialize: config_file must be the path of a BMI YAML file, got "
                              f"{config_file!r} ({type(config_file).__name__})")
        try:
            cfg, base = load_bmi_config(config_file)
        except OSError as exc:  # e.g. a file name too long for the file system
            raise ConfigError(f"initialize: cannot read config file {str(config_file)[:200]!r}: "
                              f"{exc.strerror or exc}") from None
        paths, weights = member_paths(cfg, base)
        self._cfg = cfg
        domain = _domain_of(paths, config_file)
        self._handler = domain.load_handler(paths, weights, cfg.device, cfg.backend)
        self._name = self._handler.description
        self._input_names = self._handler.input_names
        ranges = [V.BY_NAME[name].valid_range for name in self._input_names]  # units of the variables
        self._lo, self._hi = [r[0] for r in ranges], [r[1] for r in ranges]
        self._dt = float(cfg.time_step)
        self._end = float(cfg.end_seconds)
        # the most updates: each time and the day after it must stay within the year 9999
        room = datetime.max - timedelta(days=1) - cfg.start
        self._last_step = int(room.total_seconds() // self._dt)
        self._n = 0
        self._origin = cfg.start  # the time of the day axis' first record (a hot start: the state's)
        self._initial_state = resolve(base, cfg.initial_state)
        self._final_state = resolve(base, cfg.final_state)
        initial = self._read_initial_state() if self._initial_state is not None else None
        if initial is not None:
            self._origin = initial[1]  # the session checks its config on the state's day axis
        domains.refuse_foreign_config_keys(domain, cfg)
        self._session = session = domain.bmi_session(self._handler, cfg, self._origin)
        self._output_names = tuple(session.output_names)
        params = session.parameters
        declared = {*self._output_names, *_SERIALIZATION, *session.protocols}
        self._vars = {v.name: v for v in (*V.VARIABLES, *domain.variables, *session.variables)
                      if v.role not in ("output", "protocol") or v.name in declared}
        self._vars.update({p: parameter(p) for p in params})
        # declared inputs: views into one record array (what the model reads), unset until set_value
        self._inputs = np.full(len(self._input_names), _UNSET)
        self._last_valid = np.full(len(self._input_names), np.nan)
        self._values = {name: self._inputs[i : i + 1] for i, name in enumerate(self._input_names)}
        for name in V.INPUT_NAMES:  # the other known forcings: settable, never read
            self._values.setdefault(name, np.full(1, np.nan))
        self._forcing = {name: self._values[name] for name in V.INPUT_NAMES}  # the hot set_value path
        for name, var in self._vars.items():
            if var.role in ("output", "parameter") or name in session.protocols:
                self._values[name] = np.full(1, np.nan if var.role == "parameter" else 0.0)
        for key in ("area_km2", "latitude"):
            top, attr = getattr(cfg, key), cfg.attributes.get(key)
            if top is not None and attr is not None and top != attr:
                raise ConfigError(f"{key} is given twice with different values: {top} and "
                                  f"attributes.{key} {attr}")
        given = session.given()
        unknown = sorted(set(cfg.attributes) - set(params))
        if unknown:
            raise ConfigError(
                f"attributes: {unknown} are not used by the checkpoint; it needs "
                f"{list(self._handler.attribute_names)}"
            )
        problems = attribute_problems(given, self._checkpoints())
        if problems:
            raise ConfigError(f"{config_file}: catchment {cfg.catchment_id or '(no catchment_id)'}: "
                              f"{'; '.join(problems)}")
        for name, value in given.items():
            if value is not None:
                self._values[name][0] = value
        self._snapshot = np.zeros(0, dtype=np.uint8)
        self._restore_size = 0
        self._adapter = None
        self._dirty = False
        self._ready = True
        if initial is not None:
            self._load_state(*initial, steps=0, keep_inputs=False)
        self._publish()

    def update(self) -> None:
        """Advance one time step with the inputs set since the last update. A declared input never set, NaN
        under nan_policy 'error', or outside its valid range raises InputError naming it (module
        docstring); an update that would end in the last day of the year 9999 raises InputError."""
        if self._n >= self._last_step:
            self._check_ready()
            raise InputError(f"update() at t={self.get_current_time():.0f} s ({self._time()} UTC): the step "
                             f"would reach the last day of the year 9999, the last a time can hold (the end "
                             f"time is {self._end:.0f} s)")
        if self._dirty and self._adapter is not None:
            self._rebind()
        adapter = self._adapter or self._start_adapter()
        record = self._inputs
        # the range test on Python floats: ~0.4 us for 2-9 inputs, under half numpy's; NaN fails it too
        # (strict=False: the three have one length by construction, and strict costs ~0.2 us)
        if not all(lo <= v <= hi for v, lo, hi in zip(record.tolist(), self._lo, self._hi, strict=False)):
            record = self._checked_record(record)
        else:
            self._last_valid[:] = record
        adapter.advance(record)
        self._n += 1
        self._publish()

    def update_until(self, time: float) -> None:
        """Advance whole time steps until `time` (s, finite); `time` must lie on the step grid."""
        self._check_ready()
        try:
            target = float(time)
        except (TypeError, ValueError):
            raise InputError(f"update_until({time!r}): the time must be a number of seconds") from None
        if not math.isfinite(target):
            raise InputError(f"update_until({time!r}): the time must be a finite number of seconds (current "
                             f"time {self.get_current_time():.0f} s, end time {self._end:.0f} s)")
        now = self.get_current_time()
        if target < now:
            raise InputError(f"update_until({time}): the time is before the current time {now:g} s (a BMI "
                             "only steps forward)")
        if target > self._end + SECONDS_PER_DAY:
            raise InputError(f"update_until({time}): more than a day past the end time {self._end:.0f} s "
                             f"(end_time in the config); extend end_time to run longer")
        steps = (target - now) / self._dt
        n = round(steps)
        if abs(steps - n) > 1e-9:
            raise InputError(
                f"update_until({time}): not a whole number of {self._dt:g}-s steps after the current time "
                f"{self.get_current_time():g} s; set the realization output_interval to the config time_step"
            )
        for _ in range(n):
            self.update()

    def finalize(self) -> None:
        """Write the state to the config's `final_state` (if set), then release the model; the instance must
        be initialized again before further use."""
        if self._ready and self._final_state is not None:  # a failed write keeps the instance (and state)
            try:
                self.save_state(self._final_state)
            except InputError as exc:
                raise ConfigError(f"final_state: {exc}") from None
        self._adapter = None
        self._handler = None
        self._session = None
        self._values = {}
        self._forcing = {}
        self._ready = False

    # ------------------------------------------------------------------ state files
    def save_state(self, path: str | Path) -> None:
        """Write the full state (the time adapter's arrays, the inputs, its UTC time) to `path` atomically;
        a path that cannot be written (or is not a path) raises InputError naming it."""
        if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
            raise InputError(f"save_state: {path!r} ({type(path).__name__}) is not the path of a file")
        data = self._serialize()
        try:
            write_bytes(path, data)
        except OSError as exc:
            raise InputError(f"cannot write the state to {path}: {exc.strerror or exc}") from None

    def _serialize(self) -> bytes:
        self._check_ready()
        adapter = self._adapter or self._start_adapter()
        header = payload.state_header(self._handler.fingerprint, self._dt, self._time(), self._input_names)
        arrays = {f"{_STATE_PREFIX}{k}": v for k, v in adapter.to_arrays().items()}
        arrays["inputs"] = self._inputs.copy()
        arrays["last_valid"] = self._last_valid.copy()
        return payload.encode(header, arrays)

    def _time(self) -> datetime:
        """The current UTC time (naive): start_time + current time."""
        return self._cfg.start + timedelta(seconds=self._n * self._dt)

    def _decode_state(self, data: bytes, source: str) -> tuple[dict, datetime, datetime]:
        """Decode and check a state for this model (`payload.read_state`: every header field, the records
        and counts): (arrays, its time, its day axis' origin)."""
        header, arrays, time = payload.read_state(data, self._handler.fingerprint, source, self._dt)
        if header["input_names"] != list(self._input_names):
            raise StateError(f"{source}: the state's forcing records hold {header['input_names']}, this "
                             f"model reads {list(self._input_names)}")
        count = int(arrays[f"{_STATE_PREFIX}n"][0])
        try:
            return arrays, time, time - timedelta(seconds=count * self._dt)
        except OverflowError:
            raise StateError(f"{source}: state array '{_STATE_PREFIX}n' = [{count}] records of "
                             f"{self._dt:g} s before the state's time {time} (UTC) start before the year "
                             "1") from None

    def _read_initial_state(self) -> tuple[dict, datetime, str]:
        """The config's `initial_state`: (arrays, day axis origin, source for errors); its time must be
        `start_time`."""
        path = self._initial_state
        source = f"initial_state {path}"
        arrays, time, origin = self._decode_state(read_file(path, "initial_state"), source)
        if time != self._cfg.start:
            raise ConfigError(f"start_time {self._cfg.start} is not the time of initial_state {path}, "
                              f"{time} (UTC): a hot start continues from the state's time; set "
                              f"start_time: \"{time:%Y-%m-%d %H:%M:%S}\"")
        return arrays, origin, source

    def _restore(self, data: bytes) -> None:
        """ngen serialization: restore a state of this run (its time must lie on this run's step grid)."""
        source = "ngen::serialization_state"
        arrays, time, origin = self._decode_state(data, source)
        steps = (time - self._cfg.start).total_seconds() / self._dt
        if steps < 0 or steps != int(steps):
            raise StateError(f"{source}: the state's time {time} (UTC) is not a step of this run "
                             f"({self._cfg.start} + k x {self._dt:g} s)")
        self._load_state(arrays, origin, source, steps=int(steps), keep_inputs=True)
        self._publish()

    def _load_state(self, arrays: dict, origin: datetime, source: str, steps: int, keep_inputs: bool) -> None:
        """Rebuild the time adapter on the state's day axis `origin` and restore it; BMI time becomes `steps`
        updates. A state that does not fit raises StateError naming `source` and leaves the instance as it
        was."""
        before = (self._origin, self._adapter)
        saved = self._adapter.to_arrays() if self._adapter is not None else None
        self._origin, self._adapter = origin, None
        try:
            adapter = self._start_adapter()  # its checks fail before it binds anything
        except DmgBmiError:
            self._origin, self._adapter = before
            raise
        try:
            adapter.from_arrays(arrays, _STATE_PREFIX)
            known = {f"{_STATE_PREFIX}{k}" for k in adapter.to_arrays()} | {"inputs", "last_valid"}
            extra = sorted(set(arrays) - known)
            if extra:
                raise StateError(f"the state holds array(s) {extra[:5]} this model does not have")
        except StateError as exc:
            self._origin, self._adapter = before[0], None
            if saved is not None:  # rebound on the previous day axis
                self._start_adapter().from_arrays(saved)
            raise StateError(f"{source}: {exc}") from None
        if keep_inputs:  # a snapshot of this run; a hot start (a new run) starts with its inputs unset
            self._inputs[:] = arrays["inputs"]
        self._last_valid[:] = arrays["last_valid"]
        self._n = steps

    # ------------------------------------------------------------------ helpers
    def _check_ready(self) -> None:
        if not self._ready:
            raise InputError("DeltaModelBmi: call initialize(config_file) first")

    def _start_adapter(self) -> domains.TimeAdapter:
        """Bind the attributes (now complete and checked: a value set through set_value that is not a
        possible attribute raises InputError naming it) to the model and create the domain's time adapter."""
        self._check_ready()
        attrs = {}
        for name in self._handler.attribute_names:
            value = float(self._values[name][0])
            if math.isnan(value):
                raise ConfigError(
                    f"attribute {name!r} is not set: give it under 'attributes' in the BMI config or via "
                    f"ngen model_params"
                )
            attrs[name] = value
        site = self._session.required
        for name in site:
            if math.isnan(self._values[name][0]):
                raise ConfigError(f"{name!r} is not set: give it in the BMI config or via ngen model_params")
        problems = attribute_problems({name: self._values[name][0] for name in (*site, *attrs)},
                                      self._checkpoints())
        if problems:  # the YAML's values were checked at initialize: these came through set_value
            raise InputError(f"catchment {self._cfg.catchment_id or '(no catchment_id)'}: attribute(s) set "
                             f"through set_value (ngen model_params) refused at "
                             f"t={self.get_current_time():.0f} s: {'; '.join(problems)}")
        self._adapter = self._session.start(attrs, self._origin, self._values)
        self._dirty = False
        return self._adapter

    def _checkpoints(self) -> tuple:
        """The handler's checkpoints (`checkpoints`; none for a handler without them): their network
        attributes must lie within the training data (`dmg_bmi.attributes`)."""
        return tuple(getattr(self._handler, "checkpoints", ()))

    def _checked_record(self, record: np.ndarray) -> np.ndarray:
        """The record to use when a declared input failed the range test: never-set inputs, NaN under
        nan_policy 'error' and values outside their valid range raise InputError naming them; NaN under
        'hold_last' carries the last valid values."""
        names = self._input_names
        unset = [names[i] for i in np.flatnonzero(record.view(np.uint64) == _UNSET_BITS)]
        if unset:
            raise InputError(
                f"input(s) {unset} never set before update() at t={self.get_current_time():g} s: this model "
                f"reads {list(names)} every step (set_value; ngen maps forcing CSV columns to them with the "
                f"realization's variables_names_map)")
        nan = np.isnan(record)
        bad = [names[i] for i in np.flatnonzero(nan)]
        when = f"at t={self.get_current_time():g} s"
        if bad and self._cfg.nan_policy == "error":
            raise InputError(f"NaN forcing {when} in {bad} (nan_policy: error; hold_last carries values)")
        held = np.where(nan, self._last_valid, record)
        if np.isnan(held).any():
            raise InputError(f"NaN forcing {when} in {bad} and no earlier value to hold (hold_last)")
        self._check_range(held)
        if bad:
            warnings.warn(f"NaN forcing {when} in {bad}: holding the last valid values", RuntimeWarning,
                          stacklevel=3)
        self._last_valid[:] = held
        return held

    def _check_range(self, record: np.ndarray) -> None:
        """InputError naming every value of `record` (declared inputs, no NaN) outside its valid range."""
        problems = []
        for name, value, lo, hi in zip(self._input_names, record.tolist(), self._lo, self._hi, strict=True):
            if not lo <= value <= hi:
                units = V.BY_NAME[name].units
                test, hint = _UNITS_HINTS.get(name, (None, ""))
                slip = f": {hint}" if test is not None and test(value) else ""
                problems.append(f"{name} = {value:g} {units} is outside its allowed range {lo:g}..{hi:g} "
                                f"{units}{slip}")
        if problems:
            raise InputError(f"input out of range at t={self.get_current_time():.0f} s "
                             f"({self._time():%Y-%m-%d %H:%M:%S} UTC): {'; '.join(problems)} (the physically "
                             f"possible values, dmg_bmi.core.variables)")

    def _publish(self) -> None:
        """The time adapter writes its current outputs into the output arrays (in place: pointers stay
        live); before the first update they hold 0."""
        if self._adapter is not None:
            self._adapter.publish()

    def _var(self, name: str) -> V.Variable:
        """The declared variable `name` (InputError listing the valid names if unknown)."""
        self._check_ready()
        try:
            return self._vars[name]
        except (KeyError, TypeError):
            raise InputError(
                f"unknown BMI variable {name!r}; valid names: {', '.join(sorted(self._vars))}"
            ) from None

    def _array(self, name: str) -> np.ndarray:
        var = self._var(name)
        if name == "ngen::serialization_size":
            return np.array([self._snapshot.size], dtype=np.int64)
        if name == "ngen::serialization_state":
            return self._snapshot
        if var.role == "protocol" and name in _PROTOCOL_TRIGGERS:
            return np.zeros(1, dtype=np.int64)
        return self._values[name]

    # ------------------------------------------------------------------ model information
    def get_component_name(self) -> str:
        return self._name

    def get_input_item_count(self) -> int:
        return len(self._input_names)

    def get_output_item_count(self) -> int:
        return len(self._output_names)

    def get_input_var_names(self) -> tuple[str, ...]:
        """The forcings this model reads (others in `dmg_bmi.core.variables` may be set but are ignored)."""
        return self._input_names

    def get_output_var_names(self) -> tuple[str, ...]:
        return self._output_names

    # ------------------------------------------------------------------ variable information
    def get_var_grid(self, name: str) -> int:
        self._var(name)
        return GRID

    def get_var_type(self, name: str) -> str:
        return self._var(name).dtype

    def get_var_units(self, name: str) -> str:
        return self._var(name).units

    def get_var_itemsize(self, name: str) -> int:
        return np.dtype(self._var(name).dtype).itemsize

    def get_var_nbytes(self, name: str) -> int:
        if name == "ngen::serialization_state" and self._restore_size:
            return self._restore_size  # a restore is announced: report the size ngen will send
        return int(self._array(name).nbytes)

    def get_var_location(self, name: str) -> str:
        self._var(name)
        return "node"

    # ------------------------------------------------------------------ time
    def get_current_time(self) -> float:
        self._check_ready()
        return float(self._n * self._dt)

    def get_start_time(self) -> float:
        return 0.0

    def get_end_time(self) -> float:
        self._check_ready()
        return self._end

    def get_time_units(self) -> str:
        return "s"

    def get_time_step(self) -> float:
        self._check_ready()
        return self._dt

    # ------------------------------------------------------------------ getters and setters
    def get_value(self, name: str, dest: np.ndarray) -> np.ndarray:
        """Copy the values of `name` into `dest` (returned): a numpy array of as many items, of a dtype that
        holds them exactly (else InputError)."""
        return _fill(f"get_value({name!r})", dest, self._array(name))

    def get_value_ptr(self, name: str) -> np.ndarray:
        """A live reference to the values of `name` (updated in place by `update`)."""
        return self._array(name)

    def get_value_at_indices(self, name: str, dest: np.ndarray, inds: np.ndarray) -> np.ndarray:
        """Copy the items `inds` (integers in 0..size-1; -size..-1 count from the end) of `name` into `dest`
        (returned; one item per index, as in `get_value`); anything else raises InputError."""
        src = self._array(name)
        try:  # the hot path (ngen, every step): integer indices, a destination like them of src's dtype
            if inds.dtype.kind in "iu" and dest.dtype is src.dtype and dest.shape == inds.shape:
                dest[:] = src[inds]
                return dest
        except (AttributeError, IndexError, ValueError):
            pass
        what = f"get_value_at_indices({name!r})"
        inds = _indices(what, inds)
        outside = inds[(inds < -src.size) | (inds >= src.size)]
        if outside.size:
            raise InputError(f"{what}: indices {outside.tolist()} out of range for {src.size} item(s) "
                             f"(0..{src.size - 1})")
        return _fill(what, dest, src[inds])

    def set_value(self, name: str, src: np.ndarray) -> None:
        """Set `name` from `src` (1 item for float64 variables; protocol payloads as uint8 bytes)."""
        dest = self._forcing.get(name)
        if dest is not None and type(src) is np.ndarray and src.size == 1 and src.dtype.kind in "fiu":
            dest[0] = src.flat[0]  # ngen's per-step forcing: one value, already in our units
            return
        var = self._var(name)
        src = np.asarray(src)
        if src.dtype.kind not in "fiu":
            raise InputError(f"set_value({name!r}): dtype {src.dtype} is not numeric (integers or floats); "
                             f"expected {var.dtype}")
        if var.role == "protocol":
            self._set_protocol(name, src)
            return
        if var.role == "output":
            raise InputError(f"set_value({name!r}): {name} is an output; inputs are "
                             f"{list(self._input_names)}")
        if src.size != 1:
            raise InputError(f"set_value({name!r}): expected 1 value, got {src.size} (shape {src.shape})")
        self._values[name][0] = src.reshape(-1)[0]
        if var.role == "parameter":
            self._dirty = True  # rebound to the model at the next update

    def set_value_at_indices(self, name: str, inds: np.ndarray, src: np.ndarray) -> None:
        """Set the items `inds` of `name` (only index 0 exists: every variable holds one item)."""
        inds = _indices(f"set_value_at_indices({name!r})", inds)
        src = np.asarray(src).reshape(-1)
        if inds.size != src.size or inds.size == 0 or np.any((inds != 0) & (inds != -1)):
            raise InputError(f"set_value_at_indices({name!r}): indices {inds.tolist()} invalid for 1 item "
                             f"or not matching {src.size} values")
        self.set_value(name, src[-1:])

    def _set_protocol(self, name: str, src: np.ndarray) -> None:
        if name == "ngen::serialization_create":
            self._snapshot = np.frombuffer(self._serialize(), dtype=np.uint8).copy()
        elif name == "ngen::serialization_free":
            self._snapshot = np.zeros(0, dtype=np.uint8)
        elif name == "ngen::serialization_size":
            size = src.reshape(-1)[:1].astype(np.float64)
            if size.size != 1 or not (size[0] >= 0 and float(size[0]).is_integer()):
                raise InputError(f"set_value({name!r}): {src.tolist()} is not one whole number of bytes >= 0")
            self._restore_size = int(size[0])
        elif name == "ngen::serialization_state":
            if src.dtype != np.uint8 and (src.dtype.kind == "f" or src.size and (src.min() < 0
                                                                                  or src.max() > 255)):
                raise InputError(f"set_value({name!r}): the payload must be bytes (uint8), got {src.size} "
                                 f"{src.dtype} values")
            data = src.astype(np.uint8, copy=False).tobytes()
            try:  # the announced size serves this restore only, whatever its outcome
                if self._restore_size and len(data) != self._restore_size:
                    raise InputError(f"serialization_state: got {len(data)} bytes, size was set to "
                                     f"{self._restore_size}")
                self._restore(data)
            finally:
                self._restore_size = 0
        else:
            raise InputError(f"set_value({name!r}): {name} is read-only")

    def _rebind(self) -> None:
        """A parameter changed mid-run: rebind the attributes, keeping the time adapter's state (a refused
        value keeps the time adapter as it was, and the change pending)."""
        adapter = self._adapter
        arrays = adapter.to_arrays()
        self._adapter = None
        try:
            fresh = self._start_adapter()
        except DmgBmiError:
            self._adapter = adapter
            raise
        fresh.from_arrays(arrays)

    # ------------------------------------------------------------------ grid (one scalar node)
    def get_grid_rank(self, grid: int) -> int:
        return 0

    def get_grid_size(self, grid: int) -> int:
        return 1

    def get_grid_type(self, grid: int) -> str:
        return "scalar"

    def get_grid_shape(self, grid: int, shape: np.ndarray) -> np.ndarray:
        return shape  # rank 0: no dimensions to fill

    def get_grid_spacing(self, grid: int, spacing: np.ndarray) -> np.ndarray:
        return spacing

    def get_grid_origin(self, grid: int, origin: np.ndarray) -> np.ndarray:
        return origin

    def get_grid_x(self, grid: int, x: np.ndarray) -> np.ndarray:
        return _no_coordinates("get_grid_x", x)

    def get_grid_y(self, grid: int, y: np.ndarray) -> np.ndarray:
        return _no_coordinates("get_grid_y", y)

    def get_grid_z(self, grid: int, z: np.ndarray) -> np.ndarray:
        return _no_coordinates("get_grid_z", z)

    def get_grid_node_count(self, grid: int) -> int:
        return 1

    def get_grid_edge_count(self, grid: int) -> int:
        return 0

    def get_grid_face_count(self, grid: int) -> int:
        return 0

    def get_grid_edge_nodes(self, grid: int, edge_nodes: np.ndarray) -> np.ndarray:
        return edge_nodes

    def get_grid_face_edges(self, grid: int, face_edges: np.ndarray) -> np.ndarray:
        return face_edges

    def get_grid_face_nodes(self, grid: int, face_nodes: np.ndarray) -> np.ndarray:
        return face_nodes

    def get_grid_nodes_per_face(self, grid: int, nodes_per_face: np.ndarray) -> np.ndarray:
        return nodes_per_face


def _domain_of(paths: list[Path], config_file) -> domains.Domain:
    """The one domain of the checkpoints `paths`; an ensemble mixing domains raises ConfigError naming each
    domain's files."""
    found = [domains.domain_for_checkpoint(p) for p in paths]
    groups: dict[str, tuple[domains.Domain, list[str]]] = {}
    for path, domain in zip(paths, found, strict=True):
        groups.setdefault(domain.name, (domain, []))[1].append(str(path))
    if len(groups) > 1:
        mixed = " with ".join(f"{d.label} checkpoint(s) {files}" for _, (d, files) in sorted(groups.items()))
        raise ConfigError(f"{config_file}: members: the ensemble mixes {mixed}; an ensemble averages models "
                          f"of one kind")
    return found[0]


def _no_coordinates(what: str, dest) -> np.ndarray:
    """`dest` filled with NaN (a scalar grid has no coordinates); a destination that is not a writable
    floating-point numpy array raises InputError naming `what`."""
    if not isinstance(dest, np.ndarray) or dest.dtype.kind != "f" or not dest.flags.writeable:
        kind = (f"a {'' if dest.flags.writeable else 'read-only '}{dest.dtype} array"
                if isinstance(dest, np.ndarray) else type(dest).__name__)
        raise InputError(f"{what}: the destination must be a writable floating-point numpy array, got {kind}")
    dest[...] = np.nan
    return dest


def _indices(what: str, inds) -> np.ndarray:
    """`inds` as a 1-D integer array (InputError naming `what` and the indices when they are not integers)."""
    array = np.asarray(inds).reshape(-1)
    if array.dtype.kind not in "iu":
        raise InputError(f"{what}: indices {array.tolist()} ({array.dtype}) are not integers")
    return array


def _fill(what: str, dest, values: np.ndarray) -> np.ndarray:
    """Copy `values` into `dest` (returned) if it is a numpy array of as many items whose dtype holds them
    exactly; else InputError naming `what`, the size and the dtypes (nothing is truncated silently)."""
    if (type(dest) is np.ndarray and dest.dtype is values.dtype and dest.shape == values.shape
            and dest.flags.writeable):
        dest[...] = values  # get_value's usual case
        return dest
    if not isinstance(dest, np.ndarray):
        raise InputError(f"{what}: the destination must be a numpy array, got {type(dest).__name__}")
    if dest.size != values.size:
        raise InputError(f"{what}: the destination holds {dest.size} item(s), the values are {values.size}")
    if not np.can_cast(values.dtype, dest.dtype, "safe"):
        raise InputError(f"{what}: a {dest.dtype} destination would not hold the {values.dtype} values "
                         f"exactly (use {values.dtype})")
    if not dest.flags.writeable:
        raise InputError(f"{what}: the destination array is read-only")
    dest[...] = values.reshape(dest.shape)
    return dest
