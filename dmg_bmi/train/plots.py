"""Hydrograph PNGs (needs the optional `plot` extra: matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def hydrographs(dates: np.ndarray, basins: list[str], sim: np.ndarray, obs: np.ndarray | None,
                out_dir: Path, metrics: list[dict] | None = None, units: str = "mm/d") -> list[Path]:
    """One PNG per basin: simulated vs observed series `[basin, time]`; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
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
        fig.tight_layout()
        path = out_dir / f"hydrograph_{basin}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
