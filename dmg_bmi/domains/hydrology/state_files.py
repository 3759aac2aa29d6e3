"""Hot-start state files shared by `dmg-bmi simulate` and the BMI: the BMI's own state payload, per basin.

`dmg-bmi simulate --save-state DIR` writes `DIR/<basin>.state` for every basin: a `dmg_bmi.bmi_state`
payload (`dmg_bmi.core.payload`, the format `DeltaModelBmi.save_state` writes) whose daily chains all start
from the offline end state, `DailyChains.warm_start`. The state's `time` is 00:00 UTC of the day after the
last simulated day. A BMI config can name it as `initial_state` with that `start_time` (same checkpoint, same
`time_step`); with a daily step the BMI then continues exactly, with a sub-daily step chain 0 continues
exactly and chain c starts c hours late.

`dmg-bmi simulate --initial-state DIR` (or one file for one basin) reads such files, including ones the
BMI saved: it takes the chain that stepped last (the state at the BMI's current time) and runs the period
from it without warm-up. The state's time must be 00:00 of the simulation's first day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import torch

from dmg_bmi.atomic import write_bytes
from dmg_bmi.core import payload
from dmg_bmi.data.dataset import HydroDataset
from dmg_bmi.domains.hydrology.daily_chains import DailyChains
from dmg_bmi.domains.hydrology.handler import HydrologyHandler
from dmg_bmi.errors import InputError

SUFFIX = ".state"


def state_path(where: str | Path, basin: str, n_basins: int) -> Path:
    """`where/<basin>.state`, or `where` itself when it is a file and one basin is run."""
    where = Path(where)
    if where.is_file():
        if n_basins != 1:
            raise InputError(f"initial state {where} is one file but {n_basins} basins are simulated; "
                             f"pass a folder of <basin>{SUFFIX} files")
        return where
    return where / f"{basin}{SUFFIX}"


def _handler(checkpoint: Path):
    return HydrologyHandler.load(checkpoint, backend="torch")


def _bind(handler, ds: HydroDataset, i: int) -> None:
    missing = [n for n in handler.attribute_names if n not in ds.static]
    if missing:
        raise InputError(f"state files: the data has no attribute(s) {missing} the checkpoint needs")
    handler.set_attributes({n: float(ds.static[n][i]) for n in handler.attribute_names})


def _basin(tree, i: int):
    """Basin `i` of a batched state tree, as float64 numpy `[1, ...]`."""
    if isinstance(tree, torch.Tensor):
        return tree[i : i + 1].detach().to("cpu", torch.float64).numpy().copy()
    if isinstance(tree, dict):
        return {k: _basin(v, i) for k, v in tree.items()}
    return [_basin(v, i) for v in tree]


def save_states(state: dict, basins: list[str], ds: HydroDataset, checkpoint: Path, end: dt.date,
                folder: Path, time_step: int = 3600) -> list[Path]:
    """Write the batched end `state` (basins in `basins` order, rows of `ds`) of the day `end` as BMI state
    files at 00:00 UTC of the next day, for a BMI stepping `time_step` s."""
    time = dt.datetime(end.year, end.month, end.day) + dt.timedelta(days=1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handler = _handler(checkpoint)
    rows = {str(b): i for i, b in enumerate(ds.basins)}
    paths = []
    for i, basin in enumerate(basins):
        _bind(handler, ds, rows[basin])
        # through the handler's own (de)serializer: checks structure and shapes against the BMI's state
        member = handler.state_from_arrays(handler.state_to_arrays((_basin(state, i),)))
        chains = DailyChains(handler, int(time_step), time, 0.0)
        chains.warm_start(member)
        header = payload.state_header(handler.fingerprint, time_step, time, handler.input_names, basin=basin)
        arrays = {f"chains/{k}": v for k, v in chains.to_arrays().items()}
        arrays["inputs"] = np.full(len(handler.input_names), np.nan)  # a hot start sets its own
        arrays["last_valid"] = np.full(len(handler.input_names), np.nan)
        path = folder / f"{basin}{SUFFIX}"
        write_bytes(path, payload.encode(header, arrays))
        paths.append(path)
    return paths


def load_states(where: str | Path, ds: HydroDataset, checkpoint: Path, start: dt.date,
                dtype: torch.dtype, device: torch.device | str = "cpu") -> dict:
    """Batched model state (basins in `ds` order) from state files written by `save_states` or the BMI."""
    handler = _handler(checkpoint)
    members = []
    for i, basin in enumerate(str(b) for b in ds.basins):
        path = state_path(where, basin, ds.n_basins)
        if not path.is_file():
            raise InputError(f"initial state for basin {basin}: file not found: {path}")
        _, arrays, time = payload.read_state(path.read_bytes(), handler.fingerprint, str(path))
        if time != dt.datetime(start.year, start.month, start.day):
            when = f"must start on {time.date()}" if time.time() == dt.time() else "cannot start a daily run"
            raise InputError(f"{path}: the state is at {time} (UTC), so the simulation {when}, not on "
                             f"{start}")
        _bind(handler, ds, i)
        chain = int(arrays["chains/n"][0]) % arrays["chains/ring"].shape[0]  # the chain that stepped last
        prefix = f"chains/chain{chain}/"
        members.append(handler.state_from_arrays(
            {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})[0])
    return _stack(members, dtype, device)


def _stack(parts: list, dtype: torch.dtype, device):
    first = parts[0]
    if isinstance(first, dict):
        return {k: _stack([p[k] for p in parts], dtype, device) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([p[j] for p in parts], dtype, device) for j in range(len(first)))
    return torch.as_tensor(np.concatenate(parts, axis=0), dtype=dtype, device=device)
