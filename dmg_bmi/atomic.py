"""Atomic file writes: a temp file in the target's folder, fsynced, then `os.replace`d onto the target.

A crash or an exception mid-write never leaves a half-written file: the target is either the old file or the
complete new one. The file gets the mode an ordinary `open(path, "w")` would give (0666 less the umask), not
the 0600 of a temp file, so other users and containers can read results.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `path` (parents made), on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None:  # e.g. a full disk while writing: name the file that was not written
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not supported on every platform
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def netcdf_errors(path: str | Path) -> Iterator[None]:
    """Re-raise netCDF4's RuntimeError while writing `path` (on a full disk it says only 'NetCDF: HDF error')
    as an OSError naming `path`, which the CLI prints as one `error: ...` line."""
    try:
        yield
    except RuntimeError as exc:
        raise OSError(errno.EIO, f"NetCDF write failed ({exc}): is the disk full, or a file-size limit or "
                                 "quota reached?", str(path)) from exc


@contextlib.contextmanager
def atomic_netcdf(path: str | Path) -> Iterator[Any]:
    """An open NETCDF4 `netCDF4.Dataset` to fill; on success it replaces `path` (as `atomic_path`), on
    failure nothing is left and netCDF4's errors name `path` (`netcdf_errors`)."""
    import netCDF4

    with netcdf_errors(path), atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
        yield nc


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"))
