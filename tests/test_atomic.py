"""Atomic writes: the target is the old file or the complete new one, never a partial one."""

import os
import stat

import pytest

from dmg_bmi.atomic import atomic_path, write_bytes, write_text


def test_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_failure_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_respect_the_umask(tmp_path, umask):
    """An atomically written file gets 0666 less the umask, like open(path, 'w'), not a temp file's 0600."""
    old = os.umask(umask)
    try:
        path = write_bytes(tmp_path / "out.bin", b"x")
        (tmp_path / "plain.bin").write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE((tmp_path / "plain.bin").stat().st_mode)


def test_a_failed_write_names_the_file_and_leaves_nothing(tmp_path):
    """A write that fails without naming a file (a full disk, EFBIG) is re-raised naming the target."""
    import errno

    target = tmp_path / "out.bin"
    with pytest.raises(OSError) as info, atomic_path(target):
        raise OSError(errno.EFBIG, "File too large")
    assert info.value.filename == str(target) and info.value.errno == errno.EFBIG
    assert list(tmp_path.iterdir()) == []
