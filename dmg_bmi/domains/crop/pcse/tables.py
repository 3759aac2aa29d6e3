"""PCSE-style flat AFGEN lists `[x1, y1, x2, y2, ...]` -> `(n, 2)` arrays, with PCSE's truncation rule.

CGMS files pad tables with trailing `(0, 0)` pairs. PCSE keeps the leading run of strictly ascending x and
drops the rest, which must not ascend again (at most one break). An empty list is the constant 0.
"""

from __future__ import annotations

import numpy as np

from dmg_bmi.errors import InputError


def _numbers(name: str, flat, where: str) -> np.ndarray:
    """`flat` as a 1-D float array; anything else (not a list, a nested list, an item that is not a number)
    raises InputError naming the table key and the value."""
    if isinstance(flat, (str, bytes, dict)) or not hasattr(flat, "__iter__"):
        raise InputError(f"table {name}{where}: expected a flat list of x, y numbers, got {flat!r}")
    items = list(flat)
    for i, item in enumerate(items):
        try:
            float(item)
        except (TypeError, ValueError):
            raise InputError(f"table {name}{where}: item {i} ({item!r}) is not a number") from None
    return np.asarray(items, dtype=float)


def parse_afgen(name: str, flat, field: str = "") -> np.ndarray:
    """Flat list -> `(n, 2)` float array of the ascending part; raises InputError naming the table."""
    where = f" (field {field})" if field else ""
    values = _numbers(name, flat, where)
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
