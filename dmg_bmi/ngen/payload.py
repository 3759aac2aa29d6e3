"""The versioned state payload used by ngen serialization and state files (no pickle anywhere).

Layout: ``MAGIC`` (8 bytes) | version (uint32 LE) | header length (uint32 LE) | JSON header (UTF-8)
| an ``.npz`` archive of named arrays (read back with ``allow_pickle=False``).

A model state (`STATE_FORMAT`, written by `DeltaModelBmi` and `dmg-bmi simulate --save-state`) records in its
header: the checkpoint/ensemble `fingerprint`, the framework `time_step` (s), its own absolute `time` (the
UTC wall-clock time the state is at, i.e. the start of the next step, ISO 8601 such as
``2015-12-03T12:00:00Z``) and the `input_names` (CSDMS) its forcing records hold. `state_header` writes it and
`read_state` checks it.
"""

from __future__ import annotations

import io
import json
import struct
from datetime import datetime, timezone

import numpy as np

from dmg_bmi.errors import InputError

MAGIC = b"DMGBMIST"
VERSION = 1
STATE_FORMAT = "dmg_bmi.bmi_state"
_PREFIX = struct.Struct("<8sII")


def encode(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Pack a JSON-able `header` and named arrays into one payload."""
    head = json.dumps({**header, "payload_version": VERSION}, sort_keys=True).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return _PREFIX.pack(MAGIC, VERSION, len(head)) + head + buf.getvalue()


def decode(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Unpack a payload; a foreign, truncated or newer-version payload raises InputError."""
    if len(data) < _PREFIX.size:
        raise InputError(f"state payload too short ({len(data)} bytes)")
    magic, version, n_head = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise InputError("state payload is not a dmg_bmi state (bad magic bytes)")
    if version > VERSION:
        raise InputError(f"state payload version {version} is newer than this dmg_bmi reads ({VERSION})")
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + n_head].decode("utf-8"))
        with np.load(io.BytesIO(data[_PREFIX.size + n_head :]), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"state payload is corrupt or truncated: {exc}") from exc
    return header, arrays


def utc_iso(time: datetime) -> str:
    """A naive UTC `time` as ISO 8601 with a ``Z``, e.g. ``2015-12-03T12:00:00Z`` (the header's `time`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: object, what: str) -> datetime:
    """The header time `text` (ISO 8601; ``Z`` or an offset converts to UTC) as a naive UTC datetime."""
    try:
        time = datetime.fromisoformat(str(text).strip().removesuffix("Z"))
    except ValueError:
        raise InputError(f"{what}: {text!r} is not an ISO 8601 time like '2015-12-03T12:00:00Z'") from None
    if time.tzinfo is not None:
        time = time.astimezone(timezone.utc).replace(tzinfo=None)
    return time


def state_header(fingerprint: str, time_step: float, time: datetime, input_names, **extra) -> dict:
    """The header of a state at UTC `time` (naive) of a model stepping `time_step` s (module docstring)."""
    return {"format": STATE_FORMAT, "fingerprint": fingerprint, "time_step": float(time_step),
            "time": utc_iso(time), "input_names": list(input_names), **extra}


def read_state(data: bytes, fingerprint: str, source: str,
               time_step: float | None = None) -> tuple[dict, dict[str, np.ndarray], datetime]:
    """Decode a model state and check it belongs to this model: `(header, arrays, time)`.

    `source` names the file or protocol variable in every error; `time_step` (s), when given, must match."""
    header, arrays = decode(bytes(data))
    if header.get("format") != STATE_FORMAT:
        raise InputError(f"{source}: state format {header.get('format')!r} is not {STATE_FORMAT!r}")
    if header.get("fingerprint") != fingerprint:
        raise InputError(f"{source}: the state was written by a different checkpoint/ensemble than this "
                         f"model loads")
    if time_step is not None and header.get("time_step") != float(time_step):
        raise InputError(f"{source}: state time_step {header.get('time_step')} s differs from this run's "
                         f"{float(time_step):g} s")
    if "time" not in header:
        raise InputError(f"{source}: the state does not record its time (written by an older dmg_bmi); "
                         f"write it again")
    return header, arrays, parse_utc(header["time"], f"{source}: time")
