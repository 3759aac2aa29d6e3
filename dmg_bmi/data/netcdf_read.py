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


CALENDARS = ("standard", "gregorian", "proleptic_gregorian")  # day counts of the real (Gregorian) calendar


def check_calendar(var, path: Path, what: str) -> None:
    """Refuse a time variable whose CF `calendar` attribute (default standard) counts other days than the
    Gregorian calendar (360_day, noleap, julian, ...), naming the file and the calendar."""
    calendar = str(getattr(var, "calendar", "standard")).strip().lower()
    if calendar not in CALENDARS:
        raise InputError(f"{what} {path}: time calendar {calendar!r} is not supported; the days must count "
                         f"in one of {list(CALENDARS)}")


def check_ids(ids: list[str], path: Path, what: str, kind: str) -> None:
    """Refuse an empty or blank id, `.` or `..`, one starting or ending with a space, or one holding a path
    separator or a control character (ids name output files), naming the file and the index."""
    for i, name in enumerate(ids):
        bad = ("is empty" if not name.strip() else "holds a path separator" if "/" in name or "\\" in name
               else "holds a control character" if not name.isprintable()
               else "is '.' or '..'" if name in (".", "..")
               else "starts or ends with a space" if name != name.strip() else "")
        if bad:
            raise InputError(f"{what} {path}: {kind} id at index {i} ({name!r}) {bad}")
