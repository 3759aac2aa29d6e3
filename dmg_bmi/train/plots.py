"""PNG plots of the CLI verbs (need the optional `plot` extra: matplotlib): the shared figure steps
(`pyplot`, `save_figure`, `plot_or_say`), the per-basin hydrographs (`hydrograph_figure`, `hydrographs`)
and the skill across basins (`skill_cdf_figure`, `skill_map_figure`, `skill_figures`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

SIM_COLOR = "tab:orange"  # simulated: a coloured line drawn under the observed one
OBS_COLOR = "black"  # observed: a thin black line (and dots in the zoom) drawn on top
P_COLOR = "tab:blue"
SKILL_FLOOR = -1.0  # the CDFs and the map clip NSE/KGE below this (the clipped count is shown)
HYDROGRAPH_DPI = 85  # 1020 x 890 pixels, about 150 kB a basin


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_or_say(what: str, draw: Callable[[], list[Path]], detail: str = "") -> None:
    """Run `draw` (it writes PNGs, returns their paths) and print where they went, or, without matplotlib,
    print how to get them; `what` names them ("hydrographs"), `detail` adds to the count."""
    if matplotlib_available():
        paths = draw()
        if paths:
            print(f"{what}: {paths[0].parent} ({len(paths)} PNGs{detail})")
    else:
        print(f"{what} skipped: install the plot extra (pip install 'dmg_bmi[plot]')")


def pyplot(out_dir: Path | None = None):
    """`matplotlib.pyplot` on the file-only Agg backend, with the folder `out_dir` made (when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    return plt


def save_figure(fig, path: Path, dpi: int = 100) -> Path:
    """Lay out `fig` (unless it has a layout engine already), write it to `path` (PNG) and close it."""
    import matplotlib.pyplot as plt

    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _check_shape(name: str, values: np.ndarray | None, shape: tuple[int, ...]) -> None:
    if values is not None and np.shape(values) != shape:
        raise ValueError(f"{name}: shape {np.shape(values)}, expected {shape} (basins, days)")


def zoom_window(dates: np.ndarray, flow: np.ndarray) -> slice:
    """The days the zoom panel shows: a window centred on the largest finite `flow` (the event), 365 days
    for 4 years of data or more, a quarter of the period for shorter ones (30 days at least), kept inside
    the data; all days when `flow` has no finite value."""
    n = len(dates)
    if not np.isfinite(flow).any():
        return slice(0, n)
    length = min(n, max(30, min(365, n // 4)))
    peak = int(np.nanargmax(flow))
    start = min(max(0, peak - length // 2), n - length)
    return slice(start, start + length)


def _precip_panel(ax, dates, precip, units: str) -> None:
    ax.fill_between(dates, 0, precip, step="mid", color=P_COLOR, lw=0)
    ax.set_ylim(max(np.nanmax(precip), 1.0) * 1.05, 0)  # inverted: bars hang from the top
    ax.set_ylabel(f"P ({units})")
    ax.tick_params(labelbottom=False)


def _flow_lines(ax, dates, sim, obs, dots: bool = False) -> None:
    ax.plot(dates, sim, color=SIM_COLOR, lw=1.4, label="simulated", zorder=2)
    if obs is not None:
        ax.plot(dates, obs, color=OBS_COLOR, lw=0.6, label="observed", zorder=3,
                **({"marker": ".", "ms": 2.5} if dots else {}))


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("date")


def flow_duration(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(exceedance probability in %, flows sorted from high to low) of the finite `values` (Weibull
    plotting position i / (n + 1))."""
    v = np.sort(values[np.isfinite(values)])[::-1]
    return 100.0 * np.arange(1, v.size + 1) / (v.size + 1), v


def basin_title(basin: str, dates: np.ndarray, site: dict | None = None, row: dict | None = None) -> str:
    """`basin id name · area km2 · start..end · role` and, on a second line, NSE and KGE when `row` has
    them; parts `site` ({"name", "area_km2"}) or `row` (of `evaluate.score`) lack are left out."""
    site, row = site or {}, row or {}
    head = " ".join(str(x) for x in (basin, site.get("name")) if x)
    parts = [head]
    area = site.get("area_km2")
    if area is not None and np.isfinite(area):
        parts.append(f"{area:,.0f} km²")
    parts.append(f"{dates[0]}..{dates[-1]}")
    if row.get("role"):
        parts.append(str(row["role"]))
    title = "  ·  ".join(parts)
    scores = [f"{m.upper()} {row[m]:.2f}" for m in ("nse", "kge") if m in row]
    return title + ("\n" + "   ".join(scores) if scores else "")


def hydrograph_figure(dates: np.ndarray, sim: np.ndarray, obs: np.ndarray | None, title: str,
                      precip: np.ndarray | None = None, units: str = "mm/d", precip_units: str = "mm/d"):
    """One basin's figure: precipitation (inverted, when given) over the whole period's flow, the same flow
    on a log axis (low flows), a zoom on the largest event (`zoom_window`) and the flow-duration curve,
    observed (black, on top) vs simulated (orange); the legend sits below the panels. Returns the figure."""
    plt = pyplot()
    n = len(dates)
    for name, values in (("sim", sim), ("obs", obs), ("precip", precip)):
        _check_shape(name, values, (n,))
    has_p = precip is not None
    fig = plt.figure(figsize=(12, 10.5), layout="constrained")
    heights = [0.6, 2.0, 1.4, 0.6, 2.0] if has_p else [2.0, 1.4, 2.0]
    grid = fig.add_gridspec(len(heights), 2, height_ratios=heights, width_ratios=[2.3, 1])
    r = 1 if has_p else 0
    full = fig.add_subplot(grid[r, :])
    log = fig.add_subplot(grid[r + 1, :], sharex=full)
    zoom = fig.add_subplot(grid[r + 2 + has_p, 0])
    fdc = fig.add_subplot(grid[r + 2:, 1])
    window = zoom_window(dates, obs if obs is not None else sim)
    zdates = dates[window]
    zoom_top = zoom
    if has_p:
        _precip_panel(fig.add_subplot(grid[0, :], sharex=full), dates, precip, precip_units)
        zoom_top = fig.add_subplot(grid[3, 0], sharex=zoom)
        _precip_panel(zoom_top, zdates, precip[window], precip_units)
    _flow_lines(full, dates, sim, obs)
    full.set_ylabel(f"streamflow ({units})")
    full.tick_params(labelbottom=False)
    _flow_lines(log, dates, sim, obs)
    log.set_yscale("log")
    log.set_ylabel(f"streamflow ({units}),\nlog scale")
    _date_axis(log)
    _flow_lines(zoom, zdates, sim[window], None if obs is None else obs[window], dots=True)
    zoom.set_ylabel(f"streamflow ({units})")
    which = "simulated" if obs is None else "observed"
    zoom_top.set_title(f"zoom: {len(zdates)} days around the largest {which} flow ({dates[window][0]}.."
                   f"{dates[window][-1]})", fontsize="medium", loc="left")
    _date_axis(zoom)
    fdc.plot(*flow_duration(sim), color=SIM_COLOR, lw=1.6, label="simulated")
    if obs is not None:
        fdc.plot(*flow_duration(obs), color=OBS_COLOR, lw=0.9, label="observed")
    fdc.set_yscale("log")
    fdc.set_xlim(0, 100)
    fdc.set_xlabel("exceedance probability (%)")
    fdc.set_ylabel(f"streamflow ({units}), log scale")
    fdc.set_title("flow-duration curve", fontsize="medium", loc="left")
    for ax in (full, log, zoom, fdc):
        ax.grid(alpha=0.3, lw=0.5)
    fig.suptitle(title)
    handles, labels = full.get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="outside lower center", ncol=2, frameon=False)
    return fig


def hydrographs(dates: np.ndarray, basins: list[str], sim: np.ndarray, obs: np.ndarray | None,
                out_dir: Path, metrics: list[dict] | None = None, units: str = "mm/d",
                precip: np.ndarray | None = None, sites: dict[str, dict] | None = None,
                precip_units: str = "mm/d") -> list[Path]:
    """One PNG per basin (`hydrograph_figure`): series `sim`, `obs`, `precip` are `[basin, time]`;
    `metrics` the per-basin rows of `evaluate.score` (role, NSE, KGE in the title), `sites` {basin:
    {"name", "area_km2"}} for the title. Returns the files written."""
    shape = (len(basins), len(dates))
    for name, values in (("sim", sim), ("obs", obs), ("precip", precip)):
        _check_shape(name, values, shape)
    pyplot(out_dir)
    from tqdm.auto import tqdm

    paths = []
    for i, basin in enumerate(tqdm(basins, desc="hydrographs", unit="basin", leave=False, disable=None)):
        title = basin_title(basin, dates, (sites or {}).get(basin), None if metrics is None else metrics[i])
        fig = hydrograph_figure(dates, sim[i], None if obs is None else obs[i], title,
                                None if precip is None else precip[i], units, precip_units)
        paths.append(save_figure(fig, Path(out_dir) / f"hydrograph_{basin}.png", dpi=HYDROGRAPH_DPI))
    return paths


SKILL_METRICS = ("nse", "kge")


def _role(row: dict) -> str:
    """A metrics row's role (`evaluate.score`); rows without one are "all basins"."""
    return str(row.get("role", "all basins"))


def _roles(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(_role(r) for r in rows))


def skill_cdf_figure(rows: list[dict], title: str = ""):
    """The NSE and KGE CDFs over basins (rows of `evaluate.score`): one line per role (coloured by its first
    word: train, validation, held-out), values below
    `SKILL_FLOOR` drawn at it; the legend gives the median, the count clipped and the count without a score
    (NaN, left out). Returns the figure."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True, layout="constrained")
    colors = {"train": "tab:blue", "validation": "tab:green", "held-out": "tab:red"}
    for ax, metric in zip(axes, SKILL_METRICS, strict=True):
        for role in _roles(rows):
            color = colors.get(role.split()[0])
            v = np.array([r[metric] for r in rows if _role(r) == role], dtype=float)
            unscored = int((~np.isfinite(v)).sum())
            v = np.sort(v[np.isfinite(v)])
            if not v.size:
                ax.plot([], [], color=color, lw=1.8, label=f"{role}: no basin with a score")
                continue
            clipped = int((v < SKILL_FLOOR).sum())
            label = f"{role}: {v.size} basin{'s' * (v.size > 1)}, median {np.median(v):.2f}"
            if clipped:
                label += f", {clipped} below {SKILL_FLOOR:g}"
            if unscored:
                label += f", {unscored} without a score"
            x = np.maximum(v, SKILL_FLOOR)
            ax.step(np.r_[SKILL_FLOOR, x], np.r_[0.0, np.arange(1, v.size + 1) / v.size], where="post",
                    color=color, lw=1.8, label=label)
        ax.set_xlim(SKILL_FLOOR, 1.0)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"{metric.upper()} (-), clipped at {SKILL_FLOOR:g}")
        ax.set_title(f"{metric.upper()} across basins", fontsize="medium", loc="left")
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(loc="upper left", fontsize="small", frameon=False)
    axes[0].set_ylabel("fraction of basins (-)")
    if title:
        fig.suptitle(title)
    return fig


def skill_map_figure(rows: list[dict], coords: dict[str, tuple[float, float]], title: str = ""):
    """NSE and KGE by location: one dot per basin at (longitude, latitude) `coords[basin]`, coloured by
    the score (clipped at `SKILL_FLOOR`, one shared colour bar; hollow without a score); held-out basins as
    triangles. Returns the figure; basins without coordinates are left out."""
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    plt = pyplot()
    placed = [r for r in rows if r["basin"] in coords]
    lon = np.array([coords[r["basin"]][0] for r in placed])
    lat = np.array([coords[r["basin"]][1] for r in placed])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True, layout="constrained")
    norm = Normalize(SKILL_FLOOR, 1.0)
    markers = {"validation": "s", "held-out": "^"}
    for ax, metric in zip(axes, SKILL_METRICS, strict=True):
        value = np.array([r[metric] for r in placed], dtype=float)
        for role in _roles(placed):
            m = np.array([_role(r) == role for r in placed])
            art = ax.scatter(lon[m], lat[m], c=np.maximum(value[m], SKILL_FLOOR), cmap="RdYlBu", norm=norm,
                             marker=markers.get(role, "o"), s=60, edgecolors="0.2", linewidths=0.5,
                             plotnonfinite=True)
        ax.set_xlabel("longitude (°E)")
        ax.set_title(f"{metric.upper()} by location", fontsize="medium", loc="left")
        ax.set_aspect(1 / np.cos(np.deg2rad(np.nanmean(lat))), adjustable="box")
        ax.grid(alpha=0.3, lw=0.5)
    if len(_roles(placed)) > 1:  # one legend below the maps, in grey: the colour is the score's
        handles = [Line2D([], [], ls="", marker=markers.get(role, "o"), ms=8, color="0.7", mec="0.2",
                          label=role) for role in _roles(placed)]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    axes[0].set_ylabel("latitude (°N)")
    fig.colorbar(art, ax=axes, label=f"score (-), clipped at {SKILL_FLOOR:g}", extend="min", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def skill_figures(rows: list[dict], out_dir: Path, coords: dict[str, tuple[float, float]],
                  title: str = "", compare: list[dict] = ()) -> list[Path]:
    """`skill_cdf.png` and, when some basin has coordinates (`coords` {basin: (lon, lat)}, finite ones
    only), `skill_map.png` in `out_dir`; without any, prints that the map is skipped. `compare`: more rows
    drawn as their own CDF lines only (e.g. the same basins scored as training basins). Returns the files."""
    missing = [m for m in SKILL_METRICS for r in (rows[:1] + list(compare[:1])) if m not in r]
    if missing:
        raise ValueError(f"skill figures: the metrics rows have no {', '.join(dict.fromkeys(missing))}")
    pyplot(out_dir)
    paths = [save_figure(skill_cdf_figure([*rows, *compare], title), Path(out_dir) / "skill_cdf.png")]
    coords = {b: c for b, c in coords.items() if np.isfinite(c).all()}
    if any(r["basin"] in coords for r in rows):
        paths.append(save_figure(skill_map_figure(rows, coords, title), Path(out_dir) / "skill_map.png"))
    else:
        print("skill map skipped: the dataset has no finite lat/lon attributes for these basins")
    return paths
