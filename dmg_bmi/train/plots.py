"""PNG plots of the CLI verbs (need the optional `plot` extra: matplotlib): the shared figure steps
(`pyplot`, `save_figure`, `plot_or_say`) and the core's hydrographs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


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
        print(f"{what}: {paths[0].parent} ({len(paths)} PNGs{detail})")
    else:
        print(f"{what} skipped: install the plot extra (pip install 'dmg_bmi[plot]')")


def pyplot(out_dir: Path):
    """`matplotlib.pyplot` on the file-only Agg backend, with the folder `out_dir` made."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return plt


def save_figure(fig, path: Path) -> Path:
    """Lay out `fig`, write it to `path` (PNG, 100 dpi) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def hydrographs(dates: np.ndarray, basins: list[str], sim: np.ndarray, obs: np.ndarray | None,
                out_dir: Path, metrics: list[dict] | None = None, units: str = "mm/d") -> list[Path]:
    """One PNG per basin: simulated vs observed series `[basin, time]`; returns the files written."""
    plt = pyplot(out_dir)
    paths = []
    for i, basin in enumerate(basins):
        fig, ax = plt.subplots(figsize=(10, 3.5))
        if obs is not None:
            ax.plot(dates, obs[i], color="black", lw=0.8, label="observed")
        ax.plot(dates, sim[i], color="tab:blue", lw=0.8, label="simulated")
        title = f"basin {basin}"
        if metrics is not None:
            m = metrics[i]
            title += f"  NSE {m['nse']:.2f}  KGE {m['kge']:.2f}"
        ax.set_title(title)
        ax.set_ylabel(f"streamflow ({units})")
        ax.legend(loc="upper right")
        paths.append(save_figure(fig, Path(out_dir) / f"hydrograph_{basin}.png"))
    return paths
