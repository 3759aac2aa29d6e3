"""Open a dataset NetCDF file for reading with clear errors (shared by the hydrology and crop datasets)."""

from __future__ import annotations

from pathlib import Path

from dmg_bmi.errors import InputError


def open_netcdf(path: Path, what: str):
    """Open `path` read-only with auto-masking off; `what` names the file kind in errors ("dataset").

    A folder, a missing file or one netCDF4 cannot read raises InputError naming the path.
    """
    import netCDF4

    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a NetCDF file")
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        nc = netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc}") from exc
    nc.set_auto_mask(False)
    return nc
