"""CropHandler: run a trained δWOFOST checkpoint one day at a time for one field (the BMI's crop engine).

- `load` reads one crop checkpoint on the CPU (the core `Handler.load`: cached per process, no ensembles).
- `bind(attrs, calendar, n_days)` fixes the field: its attributes (the network's and `lat`/`elev`), its crop
  calendar (day indices counted from the run's first day) and the number of run days (leaf-class slots).
  The network runs once here: the crop parameters are static per field, so they are also prepared for
  the physics once (`Wofost72PP.step_params`) and reused every day. A learned process (`model.process`)
  runs inside every day, as a float64 numpy copy of its network (`LearnedProcess.scalar`). Daily
  parameters (`model.phy.dynamic_params`) come from the learner's float64 numpy stepper (its LSTM), one step
  a day on the day's weather, its hidden state part of the crop state (`NN_H`, `NN_C`).
- `advance(state, weather)` is one WOFOST day on one day of weather (`weather.WEATHER_NAMES` in PCSE units
  plus `DOY`); outputs are floats in PCSE units (`OUTPUTS`). The day is `wofost72.scalar.day`, the physics'
  day (`Wofost72PP.step`, surrogates aside: they are 0 in value) on Python floats for this one field, equal
  to it bit for bit. State is that module's scalar state (opaque to callers); `state_to_arrays` /
  `state_from_arrays` serialize it as WOFOST's torch state dict (`wofost72.model.initial_state`), the
  arrays the torch step would write. The leaf-class arrays hold one slot per run day; a state restored into
  a run with more (or fewer) days keeps its written slots and gets empty ones (exact: slots past the state's
  day are never read).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import torch

from dmg_bmi.core.checkpoint import Checkpoint
from dmg_bmi.core.handler import Handler, check_attributes
from dmg_bmi.core.payload import array, check_keys, check_range
from dmg_bmi.core.variables import INPUT_NAMES
from dmg_bmi.domains.crop import PHYSICS
from dmg_bmi.domains.crop.checkpoint import PHY_ATTRIBUTES, build_crop_model, parameter_sets, weather_options
from dmg_bmi.domains.crop.dataset import CropCalendar
from dmg_bmi.domains.crop.delta import PHYSICS_WEATHER, base_params
from dmg_bmi.domains.crop.weather import AORC_INPUTS
from dmg_bmi.domains.crop.wofost72 import leaves, scalar
from dmg_bmi.domains.crop.wofost72.physics import Wofost72PP
from dmg_bmi.errors import ConfigError, InputError, StateError

OUTPUTS = ("DVS", "LAI", "TAGP", "TWSO", "TWLV", "TWST", "TWRT", "RD", "TRA")
NN_KEYS = ("NN_H", "NN_C")  # the LSTM's hidden and cell state in the state arrays (daily parameters only)
_SLOTS = frozenset(leaves.new_buffers(1, 0, torch.float64, "cpu"))  # leaf-class arrays: one slot per run day
_UNWRITTEN = float(np.finfo(np.float64).max)  # what an unwritten leaf-class slot holds (`leaves.new_buffers`)
# The largest magnitude of a restored crop state number. The largest are dry-matter pools and totals in
# kg ha-1 (a potato season: GASST ~3e4, WSO ~1.3e4; the most productive crops stay below ~1e5 kg ha-1 of dry
# matter), the rest are far smaller (TSUM < 1e4 degC d, LAI < 20, root depth < 1e3 cm). 1e6 is ten times any
# crop on Earth: a larger value is a damaged or forged state, not physics.
CROP_STATE_MAX = 1e6


def season_days(calendar: CropCalendar, run_start: dt.date) -> tuple[int, int]:
    """(start, end) day indices of the season counted from `run_start` (day 0)."""
    start = (calendar.crop_start_date - run_start).days
    return start, start + calendar.season_length - 1


class CropHandler(Handler):
    """Step one field's δWOFOST (see the module docstring)."""

    label = "a δWOFOST checkpoint"
    physics = PHYSICS
    ensembles = False
    cpu_only = True
    backends = ("torch",)

    def __init__(self, loaded: list, weights: list[float], backend: str):
        super().__init__(loaded, weights, backend)
        self.ckpt, self.model, self.fingerprint = loaded[0].ckpt, loaded[0].model, loaded[0].fingerprint
        self.sets = parameter_sets(self.ckpt)
        self.weather_options = weather_options(self.ckpt)
        names = list(self.ckpt.nn_attributes)
        self.attribute_names: tuple[str, ...] = tuple(names + [n for n in PHY_ATTRIBUTES if n not in names])
        # the BMI inputs WOFOST's daily weather is made from (CSDMS names, dmg_bmi.core.variables order)
        self.input_names: tuple[str, ...] = tuple(n for n in INPUT_NAMES if n in AORC_INPUTS)
        # for BMI get_component_name
        self.description = (f"dmg_bmi DeltaModel: NN-parameterized crop model ({self.ckpt.config.nn.name} -> "
                            f"{self.ckpt.config.phy.name}, WOFOST 7.2 potential production)")
        self.phy: Wofost72PP | None = None

    @classmethod
    def build_model(cls, ckpt: Checkpoint, device: str) -> torch.nn.Module:
        """The CropDeltaModel of a crop checkpoint, in float64."""
        return build_crop_model(ckpt, device, dtype=torch.float64)

    def check_calendar(self, calendar: CropCalendar) -> None:
        """Unknown crop or variety raises ConfigError naming it and the checkpoint's known ones."""
        if calendar.crop_name not in self.sets:
            raise ConfigError(f"crop_calendar.crop_name: unknown crop {calendar.crop_name!r}; the checkpoint "
                              f"knows {sorted(self.sets)}")
        known = self.sets[calendar.crop_name]
        if calendar.variety_name not in known:
            raise ConfigError(f"crop_calendar.variety_name: unknown variety {calendar.variety_name!r} of "
                              f"crop {calendar.crop_name!r}; the checkpoint knows {sorted(known)}")

    def bind(self, attrs: dict[str, float], calendar: CropCalendar, run_start: dt.date, n_days: int) -> None:
        """Fix the field's attributes, calendar and run length; the network predicts its parameters."""
        check_attributes(attrs, self.attribute_names)
        self.check_calendar(calendar)
        start, end = season_days(calendar, run_start)
        names = list(self.ckpt.nn_attributes)
        c = np.array([[attrs[n] for n in names]], dtype=np.float64)
        c_nn = torch.as_tensor(self.ckpt.normalization.transform(c, names), dtype=torch.float64)
        with torch.no_grad():
            base = base_params(self.sets, [calendar])
            params = self.model.crop_params(self.model.learned_values(c_nn), base)
        self.params = params
        values = {"LAT": attrs["lat"], "CROP_START": start, "CROP_END": end,
                  "START_EMERGED": calendar.crop_start_type == "emergence",
                  "END_AT_MATURITY": calendar.crop_end_type in ("maturity", "earliest")}
        self.attrs_phy = {k: torch.tensor([float(v)], dtype=torch.float64) for k, v in values.items()}
        self.attrs = dict(attrs)
        self.n_days = n_days
        self.phy = Wofost72PP(base_params=params, surrogate=self.model.phy.surrogate, n_days=n_days,
                              check=False)
        with torch.no_grad():
            self.prepared = self.phy.step_params({}, self.attrs_phy)
        process = self.model.process.scalar() if self.model.process is not None else None
        self.field = scalar.field(self.prepared["prepared"], self.prepared["calendar"], self.attrs_phy["LAT"],
                                  process=process)
        self.field.prefill(range(1, 367))  # every day of year's sun geometry, in one torch call
        self.stepper = self.model.nn.numpy_stepper(c_nn) if self.model.daily else None
        self._daily_lo = self.model._daily_lo.double().numpy()  # the offline run's bounds, as it has them
        self._daily_span = self.model._daily_span.double().numpy()

    def learned(self) -> dict[str, float]:
        """The bound field's learned parameter values (physical units, after factors are applied)."""
        self._check_bound()
        return {p.name: float(self.params[p.name][0]) for p in self.model.learned}

    def initial_state(self) -> dict:
        """The empty field (no crop yet) as a scalar state (`wofost72.scalar`), one leaf slot per run day."""
        self._check_bound()
        state = scalar.initial_state(self.n_days)
        state["NN"] = self.stepper.init_hidden() if self.stepper is not None else ()
        return state

    def advance(self, state: dict, weather: dict[str, float]) -> tuple[dict, dict[str, float]]:
        """One day: `weather` {IRRAD, TMIN, TMAX, E0, ES0, ET0, RAIN, DOY} -> (state, outputs)."""
        self._check_bound()
        row = {n: float(weather[n]) for n in PHYSICS_WEATHER if n != "TEMP"}
        row["TEMP"] = 0.5 * (row["TMIN"] + row["TMAX"])  # as physics_weather (float64)
        daily, hidden = {}, state["NN"]
        if self.stepper is not None:  # the LSTM's day: as network_forcings, then as daily_values
            names = list(self.ckpt.nn_forcings)
            x = self.ckpt.normalization.transform(np.array([[float(weather[n]) for n in names]]), names)
            unit, hidden = self.stepper.step(x, hidden)
            values = self._daily_lo + unit[0] * self._daily_span
            daily = dict(zip(self.model.daily_names, values.tolist(), strict=True))
        state, out = scalar.day(self.field, state, row, state["DAY"], daily or None)
        state["NN"] = hidden
        return state, {k: out[k] for k in OUTPUTS}

    def state_to_arrays(self, state: dict) -> dict[str, np.ndarray]:
        """The state as the named arrays of WOFOST's torch state dict (float64; shapes `[1]`, `[1, 7]`,
        `[1, n_days]` for the leaf-class slots, `[]` for TOKEN), and the LSTM's `NN_H`, `NN_C` `[1, H]`
        with daily parameters."""
        arrays = {k: v.numpy() for k, v in scalar.state_to_tensors(state, torch.float64).items()}
        arrays.update(zip(NN_KEYS, (np.array(a, dtype=np.float64) for a in state["NN"]), strict=False))
        return arrays

    def state_from_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> dict:
        """Inverse of `state_to_arrays` (the keys under `prefix`), typed like WOFOST's state dict; other keys,
        kinds (bool, integer, float) or shapes, non-finite numbers and numbers beyond +-`CROP_STATE_MAX`
        (unwritten leaf-class slots aside) raise StateError naming the array (and index and value).

        The leaf-class arrays may have another slot count (a state saved by a run of another length): the
        slots before the state's day are kept, the others are empty (a written slot that does not fit
        raises)."""
        self._check_bound()
        ref = self.phy.initial_state(1, torch.float64)
        hidden = self.stepper.init_hidden() if self.stepper is not None else ()
        ref.update(zip(NN_KEYS, (torch.as_tensor(a) for a in hidden), strict=False))
        check_keys(ref, arrays, prefix, what="crop state arrays")
        out = {}
        for k, v in ref.items():
            kind = "b" if v.dtype == torch.bool else "f" if v.is_floating_point() else "i"
            raw = array(arrays, prefix + k, kind=kind)
            if kind == "f":
                numbers = np.where(raw == _UNWRITTEN, 0.0, raw) if k in _SLOTS else raw
                check_range(prefix + k, numbers, -CROP_STATE_MAX, CROP_STATE_MAX,
                            " (a crop state number is at most 1e6 in magnitude: ten times any crop's dry "
                            "matter in kg ha-1)")
            value = torch.as_tensor(raw).to(v.dtype)
            if k in _SLOTS and value.ndim == 2 and value.shape[0] == v.shape[0]:
                value = self._fit_slots(prefix + k, value, v)
            if tuple(v.shape) != tuple(value.shape):
                raise StateError(f"crop state array {prefix + k!r} has shape "
                                 f"{tuple(arrays[prefix + k].shape)}, expected {tuple(v.shape)}")
            out[k] = value.clone()
        day = int(out["DAY"][0])
        if not 0 <= day <= self.n_days:
            raise StateError(f"crop state array {prefix + 'DAY'!r} is {day}: not a day of this run's "
                             f"{self.n_days} days (0..{self.n_days})")
        nn_state = tuple(out.pop(k).numpy() for k in NN_KEYS[:len(hidden)])
        return {**scalar.state_from_tensors(out), "NN": nn_state}

    def _fit_slots(self, key: str, value: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
        """Leaf-class array `value` `[B, L']` fitted to this run's `[B, L]` (`empty`: unwritten slots)."""
        width = empty.shape[1]
        if value.shape[1] <= width:
            return torch.cat([value, empty[:, value.shape[1]:]], dim=1)
        if not torch.equal(value[:, width:], empty[:, :1].expand(-1, value.shape[1] - width)):
            raise StateError(f"crop state array {key!r} has {value.shape[1]} leaf-class slots written past "
                             f"this run's {width} days (start_time..end_time + 1 day from the state's day 0)")
        return value[:, :width]

    def _check_bound(self) -> None:
        if self.phy is None:
            raise InputError("CropHandler: call bind(...) before stepping")
