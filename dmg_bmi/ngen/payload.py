"""The versioned state payload used by ngen serialization and state files (no pickle anywhere).

Layout: ``MAGIC`` (8 bytes) | version (uint32 LE) | header length (uint32 LE) | JSON header (UTF-8)
| an ``.npz`` archive of named arrays (read back with ``allow_pickle=False``).
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

from dmg_bmi.errors import InputError

MAGIC = b"DMGBMIST"
VERSION = 1
_PREFIX = struct.Struct("<8sII")


def encode(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Pack a JSON-able `header` and named arrays into one payload."""
    head = json.dumps({**header, "payload_version": VERSION}, sort_keys=True).encode()
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
        header = json.loads(data[_PREFIX.size : _PREFIX.size + n_head].decode())
        with np.load(io.BytesIO(data[_PREFIX.size + n_head :]), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"state payload is corrupt or truncated: {exc}") from exc
    return header, arrays


