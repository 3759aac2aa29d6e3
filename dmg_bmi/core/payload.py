"""The versioned state payload used by ngen serialization and state files (no pickle anywhere).

Layout: ``MAGIC`` (8 bytes) | version (uint32 LE) | header length (uint32 LE) | JSON header (UTF-8)
| an ``.npz`` archive of named arrays (read back with ``allow_pickle=False``).

A model state (`STATE_FORMAT`, written by `DeltaModelBmi` and `dmg-bmi simulate --save-state`) records in its
header: the checkpoint/ensemble `fingerprint`, the framework `time_step` (s), its own absolute `time` (the
UTC wall-clock time the state is at, i.e. the start of the next step, ISO 8601 such as
``2015-12-03T12:00:00Z``) and the `input_names` (CSDMS) its forcing records hold. `state_header` writes it and
`read_state` checks it, with the arrays every model state has: `inputs` and `last_valid` (one value per
input, in BMI input units, NaN where unset), `chains/n` (records taken) and `chains/ring` (the latest day of
records, `[86400 / time_step, inputs]`). Each model checks its own arrays with `array`. Every failure is a
`StateError` naming the source (file or protocol variable), the field or array, and its value.

Integrity: since payload version 2 the header's `sha256` field digests every other header field and every
array (name, dtype, shape, bytes), so a flipped digit in, say, the `time` is refused (`decode`), not
restored at the wrong time. Version 1 payloads (no digest, written before) are still read: each field and
array is checked as above, but nothing guards them against a change that keeps them plausible.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
from datetime import datetime, timedelta, timezone

import numpy as np

from dmg_bmi.core import variables as V
from dmg_bmi.errors import StateError

MAGIC = b"DMGBMIST"
VERSION = 2
STATE_FORMAT = "dmg_bmi.bmi_state"
_PREFIX = struct.Struct("<8sII")
_ZIP_MAGIC = b"PK\x03\x04"  # a torch checkpoint (.pt) is a zip archive
_MAX_SECONDS = 10_000 * 366 * 86400  # a state's record count covers at most 10 000 years of steps
_KINDS = {"f": ("fiu", "numbers"), "i": ("iu", "whole numbers"), "b": ("b", "booleans"), "U": ("U", "text")}


def room_after(time: datetime, seconds: float) -> bool:
    """Whether `time` + `seconds` + a day (the day ngen may run past the end) is still a time Python holds
    (year <= 9999): a run's end, a restored state's time."""
    return time <= datetime.max - timedelta(seconds=seconds, days=1)


def encode(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Pack a JSON-able `header` and named arrays into one payload, with its digest (module docstring; a
    `sha256` in `header` is replaced)."""
    body = {k: v for k, v in header.items() if k != "sha256"}
    body["payload_version"] = VERSION
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    head = json.dumps({**body, "sha256": _digest(body, arrays)}, sort_keys=True).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return _PREFIX.pack(MAGIC, VERSION, len(head)) + head + buf.getvalue()


def _digest(header: dict, arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the canonical JSON of `header` and of each array (sorted by name: name, dtype, shape,
    bytes)."""
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode("utf-8"))
    for key in sorted(arrays):
        value = arrays[key]
        h.update(f"\0{key}\0{value.dtype.str}\0{value.shape}\0".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def decode(data: bytes, source: str = "state payload") -> tuple[dict, dict[str, np.ndarray]]:
    """Unpack a payload; a foreign, truncated, corrupt or newer-version payload raises StateError naming
    `source` (the file or protocol variable it came from)."""
    if data[: len(_ZIP_MAGIC)] == _ZIP_MAGIC:
        raise StateError(f"{source}: this is a zip archive such as a torch checkpoint (.pt), not a dmg_bmi "
                         f"state; a state is written by DeltaModelBmi.save_state, a BMI config's "
                         f"final_state or `dmg-bmi simulate --save-state` (a checkpoint goes under "
                         f"'checkpoint:')")
    if len(data) < _PREFIX.size:
        raise StateError(f"{source}: state payload too short ({len(data)} bytes; a dmg_bmi state starts "
                         f"with {MAGIC!r} and a {_PREFIX.size}-byte prefix)")
    magic, version, n_head = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise StateError(f"{source}: not a dmg_bmi state (bad magic bytes {magic!r}, expected {MAGIC!r})")
    if not 1 <= version <= VERSION:
        raise StateError(f"{source}: state payload version {version} is not one this dmg_bmi reads "
                         f"(1..{VERSION})")
    body = len(data) - _PREFIX.size
    if n_head > body:
        raise StateError(f"{source}: state payload truncated: its header is {n_head} bytes but only {body} "
                         f"bytes follow the prefix")
    try:
        header = json.loads(data[_PREFIX.size : _PREFIX.size + n_head].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"{source}: state header is not UTF-8 JSON ({exc})") from None
    except RecursionError:
        raise StateError(f"{source}: state header is JSON nested too deeply to read (a state header is one "
                         "flat object)") from None
    if not isinstance(header, dict):
        raise StateError(f"{source}: state header is a JSON {type(header).__name__}, not an object")
    if header.get("payload_version") != version:
        raise StateError(f"{source}: state header field 'payload_version' = "
                         f"{header.get('payload_version')!r} differs from the payload's version {version}")
    archive = data[_PREFIX.size + n_head :]
    try:
        with np.load(io.BytesIO(archive), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile and numpy raise many types (BadZipFile, RuntimeError 'encrypted', ...)
        raise StateError(f"{source}: the state's array archive ({len(archive)} bytes after the header) is "
                         f"truncated or corrupt: {type(exc).__name__}: {exc}") from None
    if version >= 2:
        digest = header.pop("sha256", None)
        if digest != _digest(header, arrays):
            raise StateError(f"{source}: the state does not match its sha256 digest (header field 'sha256' "
                             f"= {digest!r}): its header or arrays were changed or damaged")
    return header, arrays


def utc_iso(time: datetime) -> str:
    """A naive UTC `time` as ISO 8601 with a ``Z``, e.g. ``2015-12-03T12:00:00Z`` (the header's `time`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: object, what: str) -> datetime:
    """The header time `text` (ISO 8601; ``Z`` or an offset converts to UTC) as a naive UTC datetime."""
    try:
        time = datetime.fromisoformat(str(text).strip().removesuffix("Z"))
    except ValueError:
        raise StateError(f"{what}: {text!r} is not an ISO 8601 time like '2015-12-03T12:00:00Z'") from None
    if time.tzinfo is not None:
        time = time.astimezone(timezone.utc).replace(tzinfo=None)
    return time


def state_header(fingerprint: str, time_step: float, time: datetime, input_names, **extra) -> dict:
    """The header of a state at UTC `time` (naive) of a model stepping `time_step` s (module docstring)."""
    return {"format": STATE_FORMAT, "fingerprint": fingerprint, "time_step": float(time_step),
            "time": utc_iso(time), "input_names": list(input_names), **extra}


def check_keys(expected, arrays: dict[str, np.ndarray], prefix: str = "", what: str = "state arrays") -> None:
    """The keys of `arrays` under `prefix` (prefix removed) must be exactly `expected`; else a StateError
    naming (up to five of) the missing and the unexpected ones."""
    given, expected = {k[len(prefix):] for k in arrays if k.startswith(prefix)}, set(expected)
    if expected != given:
        where = f" under {prefix!r}" if prefix else ""
        raise StateError(f"{what} do not match this model{where}: missing "
                         f"{sorted(expected - given)[:5]}, unexpected {sorted(given - expected)[:5]}")


def array(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...] | None = None, kind: str = "f",
          lo: float | None = None) -> np.ndarray:
    """State array `key`, checked: present, of `kind` ('f' numbers, returned as float64; 'i' whole numbers,
    int64; 'b' booleans; 'U' text), of `shape` (None: any), every number finite and, with `lo`, >= `lo`.
    Anything else raises StateError naming the key and what it holds (`key` is the payload's full name)."""
    if key not in arrays:
        raise StateError(f"state payload lacks array {key!r}")
    value = arrays[key]
    kinds, what = _KINDS[kind]
    if value.dtype.kind not in kinds:
        raise StateError(f"state array {key!r} holds {value.dtype} values, expected {what}")
    if shape is not None and value.shape != tuple(shape):
        raise StateError(f"state array {key!r} has shape {value.shape}, expected {tuple(shape)}")
    if kind == "f":
        value = value.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(value))
        if bad.size:
            raise StateError(f"state array {key!r} holds {value.flat[bad[0]]} at flat index {bad[0]} "
                             f"({bad.size} non-finite value(s)): a state holds finite numbers only")
    elif kind == "i":
        value = value.astype(np.int64)
    check_range(key, value, lo, None)
    return value


def check_range(key: str, value: np.ndarray, lo: float | None, hi: float | None, why: str = "") -> None:
    """Every number of state array `key` lies in `lo`..`hi` (None: unbounded), else StateError naming the
    array, the flat index and the value (`why`: the bound's reason, appended)."""
    for bound, below in ((lo, True), (hi, False)):
        if bound is None or not value.size:
            continue
        i = int(np.argmin(value) if below else np.argmax(value))
        if (value.flat[i] < bound) if below else (value.flat[i] > bound):
            side = "below its minimum" if below else "above its maximum"
            raise StateError(f"state array {key!r} holds {value.flat[i]} at flat index {i}, {side} {bound}"
                             f"{why}")


def record_count(arrays: dict[str, np.ndarray], key: str) -> int:
    """State array `key`: one whole number >= 0 (a count of records), else StateError naming its value."""
    count = arrays.get(key)
    if count is None or count.shape != (1,) or count.dtype.kind not in "iu" or int(count[0]) < 0:
        shown = "missing" if count is None else f"{count.tolist()} ({count.dtype})"
        raise StateError(f"state record count {key!r} = {shown} is not one whole number >= 0")
    return int(count[0])


def _check_records(key: str, rows: np.ndarray, names: list[str], allow_nan: bool) -> None:
    """Each value of `rows [n, len(names)]` lies in its input's valid range (NaN only if `allow_nan`)."""
    for j, name in enumerate(names):
        low, high = V.BY_NAME[name].valid_range
        column = rows[:, j]
        bad = ~((column >= low) & (column <= high))
        if allow_nan:
            bad &= ~np.isnan(column)
        if bad.any():
            value = column[np.flatnonzero(bad)[0]]
            raise StateError(f"state array {key!r} holds {name} = {value} {V.BY_NAME[name].units}, outside "
                             f"its valid range {low:g}..{high:g}")


def _header_field(header: dict, key: str, check, expected: str):
    """`header[key]` if `check(value)`, else StateError naming the field, its value and what is expected."""
    if key not in header:
        raise StateError(f"state header field {key!r} is missing ({expected})")
    value = header[key]
    if not check(value):
        raise StateError(f"state header field {key!r} = {value!r} is not {expected}")
    return value


def read_state(data: bytes, fingerprint: str, source: str,
               time_step: float | None = None) -> tuple[dict, dict[str, np.ndarray], datetime]:
    """Decode a model state, check every header field and the arrays every state has (module docstring),
    and check it belongs to this model: `(header, arrays, time)`.

    `source` names the file or protocol variable in every error (StateError); `time_step` (s), when given,
    must match."""
    header, arrays = decode(bytes(data), source)
    try:
        _header_field(header, "format", lambda v: v == STATE_FORMAT, repr(STATE_FORMAT))
        digest = _header_field(header, "fingerprint", lambda v: isinstance(v, str) and len(v) == 64,
                               "a 64-digit sha256 hex digest")
        step = _header_field(header, "time_step", lambda v: type(v) in (int, float) and math.isfinite(v)
                             and v > 0 and v % 3600 == 0 and 86400 % v == 0,
                             "a time step in s (a whole number of hours dividing 86400)")
        if "time" not in header:
            raise StateError("the state does not record its time (written by an older dmg_bmi); write it "
                             "again")
        time = parse_utc(header["time"], "state header field 'time'")
        if not room_after(time, step):
            raise StateError(f"state header field 'time' = {header['time']!r}: a run from it cannot take one "
                             f"{step:g}-s step and a day before the year 9999 ends, the last a time can hold")
        names = _header_field(header, "input_names", lambda v: isinstance(v, list) and all(
            n in V.INPUT_NAMES for n in v), f"a list of BMI input names ({list(V.INPUT_NAMES)})")
        if digest != fingerprint:
            raise StateError(f"the state was written by a different checkpoint/ensemble than this model "
                             f"loads (fingerprint {digest[:12]}..., this model's {fingerprint[:12]}...)")
        if time_step is not None and step != float(time_step):
            raise StateError(f"state time_step {step} s differs from this run's {float(time_step):g} s")
        width, per_day = len(names), int(86400 // step)
        n = record_count(arrays, "chains/n")
        if n * step > _MAX_SECONDS:
            raise StateError(f"state record count 'chains/n' = [{n}] records of {step:g} s is not plausible "
                             f"(at most {_MAX_SECONDS // step:.0f}, 10 000 years)")
        ring = array(arrays, "chains/ring", (per_day, width))
        _check_records("chains/ring", ring[: min(n, per_day)], names, allow_nan=False)
        for key in ("inputs", "last_valid"):
            if key not in arrays:
                raise StateError(f"state payload lacks array {key!r}")
            values = arrays[key]
            if values.dtype.kind != "f" or values.shape != (width,):
                raise StateError(f"state array {key!r} ({values.dtype}, shape {values.shape}) must hold "
                                 f"{width} numbers, one per input {names}")
            _check_records(key, values[None, :], names, allow_nan=True)
    except StateError as exc:
        raise StateError(f"{source}: {exc}") from None
    return header, arrays, time
