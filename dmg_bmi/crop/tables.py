"""PCSE-style flat AFGEN lists `[x1, y1, x2, y2, ...]` -> `(n, 2)` arrays, with PCSE's truncation rule.

CGMS files pad tables with trailing `(0, 0)` pairs. PCSE keeps the leading run of strictly ascending x and
drops the rest, which must not ascend again (at most one break). An empty list is the constant 0.
"""

from __future__ import annotations

import numpy as np

from dmg_bmi.errors import InputError


def parse_afgen(name: str, flat, field: str = "") -> np.ndarray:
    """Flat list -> `(n, 2)` float array of the ascending part; raises InputError naming the table."""
    where = f" (field {field})" if field else ""
    values = np.asarray(list(flat), dtype=float)
    if values.size == 0:
        return np.zeros((1, 2))
    if values.size % 2:
        raise InputError(f"table {name}{where}: odd number of values ({values.size}); expected x, y pairs")
    if not np.all(np.isfinite(values)):
        raise InputError(f"table {name}{where}: contains non-finite values")
    pairs = values.reshape(-1, 2)
    ascending = np.diff(pairs[:, 0]) > 0
    if ascending.all():
        return pairs
    first_break = int(np.argmin(ascending))
    if ascending[first_break + 1 :].any():
        raise InputError(
            f"table {name}{where}: x values {pairs[:, 0].tolist()} are not ascending "
            "(only trailing padding may break the order)"
        )
    return pairs[: first_break + 1]
