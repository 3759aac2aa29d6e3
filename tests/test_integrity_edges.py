"""Integrity at the edges (issue 10, hostile-input trial): damaged checkpoints and state payloads are always a
named error, the BMI's `initialize` names a bad argument, atomic writes never replace a device or FIFO and
name a full disk as such, and a training run leaves no debris (failed first epoch, killed writes) and checks
a resumed config from Python too."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from test_bmi import write_config
from train_toy import toy_config, toy_dataset

from dmg_bmi import atomic
from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core import payload
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.core.train import trainer as trainer_mod
from dmg_bmi.errors import CheckpointError, ConfigError, InputError, StateError
from dmg_bmi.ngen.demo import make_demo_checkpoint
from dmg_bmi.train.config import load_experiment
from dmg_bmi.train.run import train


# ---------------------------------------------------------------- R1: damaged checkpoints
@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    return make_demo_checkpoint(tmp_path_factory.mktemp("ck") / "small.pt", nmul=1, hidden=4)


def test_every_damage_to_a_checkpoints_end_is_a_named_error(small_ckpt, tmp_path):
    """Each bit flip in the last 100 bytes (the zip's central directory and end record) and each cut: a
    CheckpointError naming the file, or a load identical to the original (a byte nothing reads). Before,
    some flips of the end record raised a raw `zipfile.BadZipFile` ('span multiple disks')."""
    data = small_ckpt.read_bytes()
    ref = load_checkpoint(small_ckpt).state_dict
    path = tmp_path / "damaged.pt"
    damaged = [data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]
               for i in range(len(data) - 100, len(data)) for bit in (0, 2, 5, 7)]
    damaged += [data[:n] for n in (*range(len(data) - 100, len(data)), 0, 3, 30, 500, len(data) // 2)]
    refused = 0
    for blob in damaged:
        path.write_bytes(blob)
        try:
            got = load_checkpoint(path).state_dict
        except CheckpointError as exc:
            assert str(path) in str(exc)
            refused += 1
        else:
            assert got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)
    assert refused > len(damaged) // 2


# ---------------------------------------------------------------- R2, S5: damaged state payloads
def test_every_bit_flip_of_a_state_payload_is_a_named_error_or_changes_nothing():
    """All 8 bits of every byte of a small payload: a StateError naming the source, or the very same header
    and arrays. Before, a flag bit made zipfile raise a raw RuntimeError ('encrypted'), and flips in the
    header (a digit of `time`) decoded silently to other values."""
    header = {"format": payload.STATE_FORMAT, "time": "2015-12-03T12:00:00Z", "time_step": 3600.0}
    arrays = {"chains/n": np.array([3]), "chains/m0/phy/SM": np.array([[1.5, 2.5]]), "ok": np.array([True])}
    data = payload.encode(header, arrays)
    ref_header, ref_arrays = payload.decode(data)
    same = 0
    for i in range(len(data)):
        for bit in range(8):
            flipped = data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]
            try:
                got_header, got_arrays = payload.decode(flipped, "flip.state")
            except StateError as exc:
                assert str(exc).startswith("flip.state: ")
                continue
            assert got_header == ref_header and got_arrays.keys() == ref_arrays.keys()
            for key, value in ref_arrays.items():
                assert got_arrays[key].dtype == value.dtype and np.array_equal(got_arrays[key], value)
            same += 1
    assert 0 < same < len(data) * 8 // 2  # some zip fields are never read; most flips are caught


def test_a_changed_header_field_fails_the_digest():
    data = payload.encode({"time": "2015-12-03T12:00:00Z", "n": 5}, {"x": np.arange(3.0)})
    text = data.replace(b"2015-12-03T12", b"2015-12-03T13")  # same length: only the digest can tell
    with pytest.raises(StateError, match=r"^basin\.state: the state does not match its sha256 digest"):
        payload.decode(text, "basin.state")
    head, _ = payload.decode(data)
    assert "sha256" not in head and head["payload_version"] == payload.VERSION == 2


def test_a_version_1_payload_is_still_read_and_a_version_2_one_needs_its_digest():
    """Payloads written before the digest (version 1) are read as before; a version 2 one without its
    `sha256` field is refused."""
    import io
    import json
    import struct

    def packed(version: int, header: dict) -> bytes:
        head = json.dumps({**header, "payload_version": version}).encode()
        buf = io.BytesIO()
        np.savez(buf, x=np.arange(3.0))
        return struct.pack("<8sII", payload.MAGIC, version, len(head)) + head + buf.getvalue()

    header, arrays = payload.decode(packed(1, {"time": "2015-12-03T12:00:00Z"}))
    assert header["time"] == "2015-12-03T12:00:00Z" and arrays["x"].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(StateError, match=r"old\.state: the state does not match its sha256 digest \(header "
                                         r"field 'sha256' = None\)"):
        payload.decode(packed(2, {"time": "2015-12-03T12:00:00Z"}), "old.state")


# ---------------------------------------------------------------- R7: initialize's argument
@pytest.mark.parametrize("given, shown", [
    (None, "got None (NoneType)"), (3, "got 3 (int)"), (b"x.yaml", "got b'x.yaml' (bytes)"),
    ("", "got '' (str)"), ("   ", "got '   ' (str)"),
])
def test_initialize_names_an_argument_that_is_not_a_path(given, shown):
    with pytest.raises(ConfigError, match=r"initialize: config_file must be the path of a BMI YAML file, "
                                          + shown.replace("(", r"\(").replace(")", r"\)")):
        DeltaModelBmi().initialize(given)


def test_initialize_names_a_path_that_is_no_config_file(tmp_path):
    for given, needle in ((tmp_path, f"{tmp_path} is a folder, not a config file"),
                          (tmp_path / "nope.yml", f"config file not found: {tmp_path / 'nope.yml'}"),
                          ("x" * 5000, "File name too long")):
        with pytest.raises(ConfigError, match=needle):
            DeltaModelBmi().initialize(given)


# ---------------------------------------------------------------- F3, M1: atomic writes
def test_a_fifo_or_folder_is_never_replaced_by_a_file(tmp_path, hamon_ckpt):
    """`save_state('/dev/full')` used to replace the device node with a regular file; here a FIFO (and a
    symlink to it, and a folder) stand in for it."""
    fifo, link, folder = tmp_path / "fifo", tmp_path / "link", tmp_path / "folder"
    os.mkfifo(fifo)
    link.symlink_to(fifo)
    folder.mkdir()
    for target in (fifo, link, folder):
        with pytest.raises(FileExistsError, match="exists and is not a regular file") as info:
            atomic.write_bytes(target, b"x")
        assert info.value.filename == str(target)
    bmi = DeltaModelBmi()
    bmi.initialize(str(write_config(tmp_path, hamon_ckpt)))
    with pytest.raises(InputError, match=f"cannot write the state to {fifo}: exists and is not a regular "):
        bmi.save_state(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode) and link.is_symlink() and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yml", "fifo", "folder", "link"]


def full_disk(monkeypatch, free_bytes: int = 0):
    """statvfs reports `free_bytes` available (and inodes left) for every folder."""
    real = os.statvfs(".")

    class Full:
        f_frsize, f_bavail, f_files, f_favail = real.f_frsize, free_bytes // real.f_frsize, 100, 50

    monkeypatch.setattr(atomic.os, "statvfs", lambda folder: Full)


def test_a_full_disk_is_named_as_such_not_permission_denied(tmp_path, monkeypatch):
    """netCDF4 raises 'Permission denied' naming the temp file when it cannot create a file on a full disk
    (seen on a full tmpfs); that is reported as 'No space left on device' naming the target. With room left,
    a permission error stays one."""
    import netCDF4

    def denied(name, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(name))

    monkeypatch.setattr(netCDF4, "Dataset", denied)
    target = tmp_path / "out.nc"
    full_disk(monkeypatch)
    with pytest.raises(OSError, match=r"\[Errno 28\] No space left on device: '.*out\.nc'") as info:
        with atomic.atomic_netcdf(target):
            pass
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    full_disk(monkeypatch, free_bytes=10 << 30)
    with pytest.raises(PermissionError, match="Permission denied") as info, atomic.atomic_netcdf(target):
        pass
    assert info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_saving_a_state_or_copying_a_checkpoint_names_the_target(tmp_path, hamon_ckpt,
                                                                                   monkeypatch):
    """A write failing with ENOSPC and no file name (what write(2) gives), or a copy whose error names the
    temp file: the message says 'No space left on device' and names the file being written."""
    import shutil
    from pathlib import Path

    from dmg_bmi.core.train.checkpoints import _copy

    bmi = DeltaModelBmi()
    bmi.initialize(str(write_config(tmp_path, hamon_ckpt)))

    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(Path, "write_bytes", no_space)
        with pytest.raises(InputError, match=f"cannot write the state to {tmp_path / 's.state'}: No space "
                                             "left on device"):
            bmi.save_state(tmp_path / "s.state")

    def copy_no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(src), None, str(dst))

    monkeypatch.setattr(shutil, "copyfile", copy_no_space)
    with pytest.raises(OSError, match="No space left on device") as info:
        _copy(hamon_ckpt, tmp_path / "best.pt")
    assert info.value.filename == str(tmp_path / "best.pt") and info.value.filename2 is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yml"]


def test_a_temp_file_that_cannot_be_made_names_the_target_and_leaks_nothing(tmp_path, monkeypatch):
    def fail(fd, mode):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "fchmod", fail)
    with pytest.raises(OSError, match="Operation not permitted") as info:
        atomic.write_bytes(tmp_path / "out.bin", b"x")
    assert info.value.filename == str(tmp_path / "out.bin")
    assert list(tmp_path.iterdir()) == []  # the temp file made before fchmod failed is gone
    monkeypatch.undo()

    def denied(**kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(kwargs["dir"] / ".out.bin.abcdefgh.tmp"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError, match=rf"Permission denied \(making a temp file in {tmp_path} to "
                                              rf"write out\.bin\): '{tmp_path / 'out.bin'}'"):
        atomic.write_bytes(tmp_path / "out.bin", b"x")


# ---------------------------------------------------------------- F2: temp files of killed writes
def test_the_temp_file_of_a_killed_write_is_found_and_removed_exactly(tmp_path):
    """A real SIGKILL inside `atomic_path` leaves `.NAME.XXXXXXXX.tmp`; `remove_stale_temps` deletes it and
    nothing else."""
    script = textwrap.dedent(f"""
        import os, signal
        from dmg_bmi.atomic import atomic_path
        with atomic_path({str(tmp_path / "last.pt")!r}) as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == -signal.SIGKILL
    (stale,) = tmp_path.iterdir()
    assert stale.name.startswith(".last.pt.") and stale.name.endswith(".tmp")
    keep = [".last.pt.tmp", "last.pt.abcdefgh.tmp", ".notes.ABCDEFGH.tmp", ".x.abcdefgh.tmp.bak", "a.pt"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    (tmp_path / ".dir.abcdefgh.tmp").mkdir()
    assert atomic.remove_stale_temps(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, ".dir.abcdefgh.tmp"])


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return toy_dataset().save(tmp_path_factory.mktemp("data") / "toy.nc")


def _cfg(toy_path, tmp_path, sub="run", model_nn=None, **train_kw):
    raw = toy_config(toy_path, tmp_path)
    raw["run"]["exact_dir"] = str(tmp_path / sub)
    raw["train"].update(train_kw)
    raw["model"]["nn"].update(model_nn or {})
    return load_experiment(data=raw)


def test_resume_and_a_new_run_remove_temp_files_of_killed_writes(toy_path, tmp_path, capsys):
    run = train(_cfg(toy_path, tmp_path, epochs=1)).run_dir
    stale = [run / ".last.pt.k1ll3d_x.tmp", run / ".train_log.csv.abcdefgh.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    (run / "notes.tmp").write_text("mine")
    train(_cfg(toy_path, tmp_path, epochs=2), resume=run / "last.pt")
    assert not any(p.exists() for p in stale) and (run / "notes.tmp").read_text() == "mine"
    assert f"removed {stale[0]}" in capsys.readouterr().out
    assert load_checkpoint(run / "last.pt").training["epoch"] == 2
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".config.yaml.abcdefgh.tmp").write_bytes(b"half")  # a run killed writing its config
    assert train(_cfg(toy_path, tmp_path, "fresh", epochs=1)).run_dir == fresh
    assert ".config.yaml.abcdefgh.tmp" not in {p.name for p in fresh.iterdir()}


# ---------------------------------------------------------------- F1: a run failing in its first epoch
def failing_loss(monkeypatch, at_call: int):
    """The trainer's loss raises at its `at_call`-th call (calls 1..3 are epoch 1 with 3 iterations)."""
    real = trainer_mod.get_loss
    calls = []

    def get_loss(*args):
        fn = real(*args)

        def loss(*a):
            calls.append(1)
            if len(calls) == at_call:
                raise RuntimeError("boom in the loss")
            return fn(*a)
        return loss

    monkeypatch.setattr(trainer_mod, "get_loss", get_loss)


def test_a_run_failing_in_its_first_epoch_leaves_nothing(toy_path, tmp_path, monkeypatch):
    failing_loss(monkeypatch, at_call=2)
    with pytest.raises(RuntimeError, match="boom"):
        train(_cfg(toy_path, tmp_path, "made"))
    assert not (tmp_path / "made").exists()  # before: config.yaml and a header-only train_log.csv
    (tmp_path / "given").mkdir()  # a folder the user made is kept, emptied of what the run wrote
    failing_loss(monkeypatch, at_call=1)
    with pytest.raises(RuntimeError, match="boom"):
        train(_cfg(toy_path, tmp_path, "given"))
    assert (tmp_path / "given").is_dir() and list((tmp_path / "given").iterdir()) == []


def test_a_run_failing_after_its_first_epoch_keeps_its_files(toy_path, tmp_path, monkeypatch):
    failing_loss(monkeypatch, at_call=5)  # epoch 2
    with pytest.raises(RuntimeError, match="boom"):
        train(_cfg(toy_path, tmp_path, "run"))
    kept = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.yaml", "train_log.csv", "last.pt", "best.pt"} <= kept


# ---------------------------------------------------------------- library resume
def test_resume_from_python_checks_the_config_before_loading_weights(toy_path, tmp_path):
    """`train(cfg, resume=...)` refuses a changed network with the keys named (before: a raw torch size
    mismatch from load_state_dict), and leaves the run folder as it was."""
    run = train(_cfg(toy_path, tmp_path, epochs=1)).run_dir
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    changed = _cfg(toy_path, tmp_path, epochs=2, model_nn={"mlp_hidden_size": 16}, optimizer="adadelta")
    with pytest.raises(ConfigError, match=rf"resume {run / 'last.pt'}: the config differs from the "
                                          rf"checkpoint's in .*model\.nn\.mlp_hidden_size: 8 -> 16.*"
                                          rf"train\.optimizer: 'adam' -> 'adadelta'"):
        train(changed, resume=run / "last.pt")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
