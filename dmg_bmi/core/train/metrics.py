"""Per-basin skill scores on NumPy arrays, NaN observations ignored.

Each function takes 1-D `sim` and `obs` series `[time]` in the same units (e.g. mm/d) and returns a float (NaN
when fewer than 2 valid days remain, or where the score is undefined, as each docstring says). `compute_all`
gives the table that `dmg-bmi evaluate` writes; its keys, `METRICS`, carry the unit of the percentages
(`bias_pct`, `fhv_pct`, `flv_pct`), and `UNITS` / `LEGEND` say what each column is.

`pearson_r` is the one Pearson correlation of the package (per-basin `corr`, parameter-recovery tables): it
warns when it rests on fewer than `MIN_CORR_POINTS` pairs, where r is near ±1 whatever the data (n = 2 gives
exactly ±1).
"""

from __future__ import annotations

import warnings

import numpy as np

METRICS = ("nse", "kge", "corr", "bias_pct", "fhv_pct", "flv_pct")
UNITS = {"nse": "-", "kge": "-", "corr": "-", "bias_pct": "%", "fhv_pct": "%", "flv_pct": "%"}
LEGEND = ("nse: Nash-Sutcliffe efficiency (-); kge: Kling-Gupta efficiency, Gupta et al. 2009 (-); "
          "corr: Pearson r (-)\n"
          "bias_pct: volume bias (%); fhv_pct, flv_pct: high-flow (top 2 %) and low-flow (bottom 30 %, log "
          "space) volume bias of the flow-duration curve (%; Yilmaz et al. 2008)\n"
          "flv_pct: zero flows count as half the smallest positive observed flow; NaN where 30 % of "
          "observed days are dry and the simulation is not")
MIN_CORR_POINTS = 5


def finite_median(values) -> float:
    """Median of the finite entries of `values` (e.g. one score over basins, NaN where a basin has none);
    NaN when none is finite."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def _valid(sim: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sim = np.asarray(sim, dtype=np.float64).ravel()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    if sim.shape != obs.shape:
        raise ValueError(f"sim length {sim.size} != obs length {obs.size}")
    ok = np.isfinite(obs) & np.isfinite(sim)
    return sim[ok], obs[ok]


def _r(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def pearson_r(x: np.ndarray, y: np.ndarray, what: str = "Pearson r") -> float:
    """Pearson correlation coefficient r of two series `[n]` over their pairs where both are finite (-,
    in [-1, 1]); NaN with fewer than 2 pairs or a constant series.

    Warns (RuntimeWarning naming `what` and n) when fewer than `MIN_CORR_POINTS` pairs remain: r resting on
    2 points is ±1 whatever they are, and on 3-4 points it is little better. Raises ValueError when the
    lengths differ."""
    x, y = _valid(x, y)
    if 2 <= x.size < MIN_CORR_POINTS:
        warnings.warn(f"{what}: r rests on n = {x.size} points (fewer than {MIN_CORR_POINTS}); with so few "
                      "it is near ±1 whatever the data, so read it as no evidence", RuntimeWarning,
                      stacklevel=2)
    return _r(x, y)


def nse(sim: np.ndarray, obs: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency (-): 1 - sum((s - o)^2) / sum((o - mean o)^2); 1 is perfect (Nash and
    Sutcliffe 1970). NaN when obs is constant."""
    s, o = _valid(sim, obs)
    denom = np.sum((o - o.mean()) ** 2) if o.size else 0.0
    if o.size < 2 or denom == 0:
        return float("nan")
    return float(1.0 - np.sum((s - o) ** 2) / denom)


def corr(sim: np.ndarray, obs: np.ndarray) -> float:
    """Pearson r of sim and obs (-), the `corr` column; see `pearson_r` (warns under 5 days)."""
    return pearson_r(sim, obs, "corr (sim vs obs)")


def kge(sim: np.ndarray, obs: np.ndarray) -> float:
    """Kling-Gupta efficiency (-; Gupta et al. 2009): 1 - sqrt((r-1)^2 + (sd_s/sd_o - 1)^2 + (mean_s/mean_o
    - 1)^2) with r the Pearson r. NaN when obs is constant or its mean is 0."""
    s, o = _valid(sim, obs)
    if o.size < 2 or o.std() == 0 or o.mean() == 0:
        return float("nan")
    r = _r(s, o)
    if np.isnan(r):
        return float("nan")
    return float(1.0 - np.sqrt((r - 1) ** 2 + (s.std() / o.std() - 1) ** 2 + (s.mean() / o.mean() - 1) ** 2))


def bias(sim: np.ndarray, obs: np.ndarray) -> float:
    """Volume bias in percent (%): 100 (sum s - sum o) / sum o. NaN when sum o is 0."""
    s, o = _valid(sim, obs)
    if o.size < 2 or o.sum() == 0:
        return float("nan")
    return float(100.0 * (s.sum() - o.sum()) / o.sum())


def fhv(sim: np.ndarray, obs: np.ndarray, h: float = 0.02) -> float:
    """High-flow volume bias of the flow-duration curve in percent (%; FHV, Yilmaz, Gupta and Wagener 2008):
    100 (sum s_h - sum o_h) / sum o_h over each series' top `h` fraction of flows (exceedance
    probability 0-0.02 by default). NaN when those observed flows sum to 0."""
    s, o = _valid(sim, obs)
    if o.size < 2:
        return float("nan")
    s, o = np.sort(s)[::-1], np.sort(o)[::-1]
    n = max(1, int(round(h * o.size)))
    denom = o[:n].sum()
    if denom == 0:
        return float("nan")
    return float(100.0 * (s[:n].sum() - denom) / denom)


def flv(sim: np.ndarray, obs: np.ndarray, low: float = 0.3) -> float:
    """Low-flow volume bias of the flow-duration curve in percent (%; FLV, Yilmaz, Gupta and Wagener 2008,
    WRR 44, W09417, %BiasFLV).

    The low-flow segment is each series' lowest `low` fraction of flows (exceedance probability 0.7-1.0;
    n = round(low * days), at least 2). Its log-space volume relative to the segment's minimum is
    `V = sum_l (log q_l - log q_min)`, and FLV = -100 (V_sim - V_obs) / V_obs: negative when the simulated
    low flows span a wider log range than observed (e.g. recessions that drop too far), positive when
    narrower. Scaling a series does not change its V.

    Zero flows: the log needs positive flows. Where the record has dry days (zero readings), its smallest
    positive flow stands in for the gauge's resolution: a zero reading means "below what the gauge resolves".
    Observed zeros, and simulated flows below that resolution (which the gauge would have read as zero), are
    then set to half of it, the usual substitute for a value below a detection limit: a dry day sits a
    factor 2 below the smallest flowing day, in both series. On perennial records only simulated flows <= 0
    are set to that value and every positive flow is kept, so there this is Yilmaz's measure exactly.
    Why not the others:
    - a fixed tiny floor (1e-6, as neuralhydrology's FLV uses) puts log ratios of ~14 per dry day into
      V_obs, and its effect depends on the flow unit;
    - a floor at a fraction of the mean flow (Pushpalatha et al. 2012 add 1 % of it before log criteria)
      hides simulated recessions that fall far below the observed ones: on USGS gauge 12010000 it turned
      -326 % into +36 %.
    On a perennial river a simulation whose flows fall to 1e-6 mm/d keeps a large negative FLV: V is
    measured from the segment's minimum, so one such day shifts every term (the published definition's
    sensitivity, not a zero-flow artefact).

    FLV is finite on intermittent rivers unless at least `low` of the observed days are dry: the observed
    segment is then flat (V_obs = 0) and the relative measure has no denominator; FLV is then 0 when the
    simulated segment is flat too (dry as often), else NaN. NaN also when no observed flow is positive."""
    s, o = _valid(sim, obs)
    positive = o[o > 0]
    if o.size < 2 or positive.size == 0:
        return float("nan")
    limit = positive.min()
    n = max(2, int(round(low * o.size)))
    s_low, o_low = np.sort(s)[:n], np.sort(o)[:n]
    flowing = s_low >= limit if (o == 0).any() else s_low > 0  # else what the gauge would read as zero
    ls = np.log(np.where(flowing, s_low, 0.5 * limit))
    lo = np.log(np.where(o_low > 0, o_low, 0.5 * limit))
    v_sim = float(np.sum(ls - ls.min()))
    v_obs = float(np.sum(lo - lo.min()))
    if v_obs == 0:
        return 0.0 if v_sim == 0 else float("nan")
    return -100.0 * (v_sim - v_obs) / v_obs


_FUNCS = {"nse": nse, "kge": kge, "corr": corr, "bias_pct": bias, "fhv_pct": fhv, "flv_pct": flv}


def compute_all(sim: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """Every metric in `METRICS` (keys as there, units in `UNITS`) for one basin's `[time]` series."""
    return {name: _FUNCS[name](sim, obs) for name in METRICS}
