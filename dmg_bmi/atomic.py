"""Atomic file writes: a temp file in the target's folder, fsynced, then `os.replace`d onto the target.

A crash or an exception mid-write never leaves a half-written file: the target is either the old file or the
complete new one. The file gets the mode an ordinary `open(path, "w")` would give (0666 less the umask), not
the 0600 of a temp file, so other users and containers can read results.

A target that exists and is not a regular file (a folder, a device such as /dev/full, a FIFO, a socket, or a
symlink to one) is refused, never replaced by a file. A failure is an OSError naming the target (not the temp
file), with the system's reason; a 'Permission denied' or I/O error on a temp file this module just made, in
a file system with under 1 MiB (or no inode) left, is reported as 'No space left on device' (netCDF4 says
'Permission denied' for a full disk). Temp files are named `.NAME.XXXXXXXX.tmp`; a process killed mid-write
leaves one, which `remove_stale_temps` deletes.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")  # tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")
_NEARLY_FULL = 1 << 20  # bytes available below which a write failure is put down to a full disk


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `path` (parents made), on failure it is removed.
    A `path` that exists and is not a regular file raises FileExistsError naming it (module docstring)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise FileExistsError(errno.EEXIST, "exists and is not a regular file (a folder, device, FIFO or "
                                            "socket); refusing to replace it with a file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        try:
            os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _named(exc, path, tmp) from exc
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not supported on every platform
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _named(exc: OSError, path: Path, tmp: Path | None) -> OSError:
    """`exc` from making (`tmp` None) or writing the temp file `tmp` as an OSError naming the target `path`,
    its reason 'No space left on device' where the disk is full (module docstring); `exc` itself when it
    names another file only (e.g. the unreadable source of a copy)."""
    names = {str(n) for n in (exc.filename, exc.filename2) if n is not None}
    if tmp is not None and names and str(tmp) not in names:
        return exc
    code, reason = exc.errno, exc.strerror or str(exc)
    if tmp is None:
        reason += f" (making a temp file in {path.parent} to write {path.name})"
    elif code in (errno.EACCES, errno.EPERM, errno.EIO) and _disk_full(path.parent):
        code, reason = errno.ENOSPC, os.strerror(errno.ENOSPC)
    return OSError(code, reason, str(path))


def _disk_full(folder: Path) -> bool:
    """Whether the file system of `folder` has under 1 MiB available, or no inode (where it counts them)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _NEARLY_FULL or (st.f_files > 0 and st.f_favail == 0)


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temp files `atomic_path` leaves in `folder` when its process is killed mid-write
    (`.NAME.XXXXXXXX.tmp`, nothing else); returns them. Only for a folder no other process is writing."""
    stale = [p for p in Path(folder).iterdir() if _TEMP.fullmatch(p.name) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


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


def write_csv(path: str | Path, rows: Iterable[dict], fieldnames: Sequence[str]) -> Path:
    """Write `rows` (a dict each; a key a row lacks stays empty) under the header `fieldnames` to `path`
    atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(fieldnames))
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, text.getvalue())
