"""Per-basin skill scores on NumPy arrays, NaN observations ignored.

Each function takes 1-D `sim` and `obs` series in the same units (e.g. mm/d) and returns a float (NaN when
fewer than 2 valid days remain). `compute_all` gives the table that `dmg-bmi evaluate` writes.
"""

from __future__ import annotations

import numpy as np

METRICS = ("nse", "kge", "corr", "bias", "fhv", "flv")


def _valid(sim: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sim = np.asarray(sim, dtype=np.float64).ravel()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    if sim.shape != obs.shape:
        raise ValueError(f"sim length {sim.size} != obs length {obs.size}")
    ok = np.isfinite(obs) & np.isfinite(sim)
    return sim[ok], obs[ok]


def nse(sim: np.ndarray, obs: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency: 1 - sum((s - o)^2) / sum((o - mean o)^2). 1 is perfect."""
    s, o = _valid(sim, obs)
    denom = np.sum((o - o.mean()) ** 2) if o.size else 0.0
    if o.size < 2 or denom == 0:
        return float("nan")
    return float(1.0 - np.sum((s - o) ** 2) / denom)


def corr(sim: np.ndarray, obs: np.ndarray) -> float:
    """Pearson correlation coefficient."""
    s, o = _valid(sim, obs)
    if o.size < 2 or s.std() == 0 or o.std() == 0:
        return float("nan")
    return float(np.corrcoef(s, o)[0, 1])


def kge(sim: np.ndarray, obs: np.ndarray) -> float:
    """Kling-Gupta efficiency (2009): 1 - sqrt((r-1)^2 + (sd_s/sd_o - 1)^2 + (mean_s/mean_o - 1)^2)."""
    s, o = _valid(sim, obs)
    if o.size < 2 or o.std() == 0 or o.mean() == 0:
        return float("nan")
    r = corr(s, o)
    if np.isnan(r):
        return float("nan")
    return float(1.0 - np.sqrt((r - 1) ** 2 + (s.std() / o.std() - 1) ** 2 + (s.mean() / o.mean() - 1) ** 2))


def bias(sim: np.ndarray, obs: np.ndarray) -> float:
    """Percent volume bias: 100 (sum s - sum o) / sum o."""
    s, o = _valid(sim, obs)
    if o.size < 2 or o.sum() == 0:
        return float("nan")
    return float(100.0 * (s.sum() - o.sum()) / o.sum())


def fhv(sim: np.ndarray, obs: np.ndarray, h: float = 0.02) -> float:
    """Percent bias of the high-flow part of the flow duration curve (top `h` fraction; Yilmaz 2008)."""
    s, o = _valid(sim, obs)
    if o.size < 2:
        return float("nan")
    s, o = np.sort(s)[::-1], np.sort(o)[::-1]
    n = max(1, int(round(h * o.size)))
    denom = o[:n].sum()
    if denom == 0:
        return float("nan")
    return float(100.0 * (s[:n].sum() - denom) / denom)


def flv(sim: np.ndarray, obs: np.ndarray, low: float = 0.3, floor: float = 1e-6) -> float:
    """Percent bias of the low-flow segment of the flow duration curve (bottom `low` fraction, in log space,
    relative to the segment minimum; Yilmaz et al. 2008). Flows are floored at `floor` before the log."""
    s, o = _valid(sim, obs)
    if o.size < 2:
        return float("nan")
    n = max(2, int(round(low * o.size)))
    ls = np.log(np.maximum(np.sort(s)[:n], floor))
    lo = np.log(np.maximum(np.sort(o)[:n], floor))
    qs = np.sum(ls - ls.min())
    qo = np.sum(lo - lo.min())
    if qo == 0:
        return float("nan")
    return float(-100.0 * (qs - qo) / qo)


_FUNCS = {"nse": nse, "kge": kge, "corr": corr, "bias": bias, "fhv": fhv, "flv": flv}


def compute_all(sim: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """Every metric in `METRICS` for one basin."""
    return {name: _FUNCS[name](sim, obs) for name in METRICS}
