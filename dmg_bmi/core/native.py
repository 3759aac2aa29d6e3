"""Compile a C++ kernel shipped as source into a shared library once per machine, cache it, load it.

A domain's physics kernels (e.g. a whole sequence and its reverse pass) are plain C++ with an
`extern "C"` interface called through ctypes: no torch headers, so a build takes seconds, not minutes.
The library is built with the system's C++ compiler (`$CXX`, else `c++`, `g++` or `clang++`) into the
cache folder (`$DMG_BMI_CACHE`, else `$XDG_CACHE_HOME/dmg_bmi`, else `~/.cache/dmg_bmi`) under a name
that hashes the source, the compiler, its flags and the platform, so a changed source or compiler builds
anew and every other process (later runs, DDP ranks, CV folds) loads the cached file. The build writes a
temporary file and renames it, so a killed or concurrent build never leaves a half-written library under
the final name.

Flags: -O3 without -march=native (a cache folder shared by different CPUs stays valid; a kernel may
pick its instruction set at load time with target clones), -ffp-contract=off so no fused multiply-add
changes the rounding against the torch path, and -fno-strict-aliasing (kernels view SIMD buffers as
arrays of scalars); -w keeps a failed build's message to its errors.

Vector math: with `load(source, vector_math=True)` on x86-64 Linux, where the compiler finds glibc's
libmvec, the source is built with `-DDMG_MVEC` and linked with it, so a kernel can call its SIMD
pow/log/exp (at most a few ulp from the scalar functions); elsewhere it is built without them.

`load(source)` returns a `Library`, or raises `NativeUnavailable` saying why (no compiler, a failed
build with the compiler's message). Callers fall back to their torch path and say so.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno",
         "-fno-strict-aliasing", "-w")


class NativeUnavailable(RuntimeError):
    """The kernel could not be built or loaded here (the message says why)."""


@dataclass(frozen=True)
class Library:
    """A loaded kernel: the ctypes handle, its file, and what loading cost (`built`: compiled now)."""

    lib: ctypes.CDLL
    path: Path
    seconds: float
    built: bool

    def describe(self) -> str:
        how = (f"compiled in {self.seconds:.1f} s" if self.built
               else f"loaded from cache in {self.seconds:.3f} s")
        return f"native kernel {self.path.name} ({how}; {self.path.parent})"


_LOADED: dict[Path, Library] = {}
_LOCK = threading.Lock()


def cache_dir() -> Path:
    """Where built kernels are kept (see the module docstring)."""
    if os.environ.get("DMG_BMI_CACHE"):
        return Path(os.environ["DMG_BMI_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dmg_bmi"


def compiler() -> str:
    """The C++ compiler to use; NativeUnavailable when there is none."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise NativeUnavailable("no C++ compiler found ($CXX, c++, g++ or clang++); install one (Debian: g++) "
                            "or set the physics option native: false")


def _compiler_id(cxx: str) -> str:
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise NativeUnavailable(f"C++ compiler {cxx} does not run: {exc}") from exc
    return out.stdout.splitlines()[0] if out.stdout else cxx


def vector_math_flags(cxx: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(compile flags, link flags) for glibc's libmvec where `cxx` finds it (x86-64 Linux), else empty."""
    if not (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")):
        return (), ()
    try:
        found = subprocess.run([cxx, "-print-file-name=libmvec.so"], capture_output=True, text=True,
                               timeout=30, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return (), ()
    return (("-DDMG_MVEC",), ("-lmvec",)) if os.path.isabs(found) and os.path.exists(found) else ((), ())


def load(source: Path, vector_math: bool = False) -> Library:
    """Build (or reuse) and load the shared library of `source`; cached per process and per machine.

    Raises NativeUnavailable naming the compiler, the source and the compiler's message on failure.
    """
    source = Path(source)
    with _LOCK:
        if source in _LOADED:
            return _LOADED[source]
        t0 = time.perf_counter()
        cxx = compiler()
        defines, libs = vector_math_flags(cxx) if vector_math else ((), ())
        key = hashlib.sha256(b"\0".join([
            source.read_bytes(), _compiler_id(cxx).encode(), " ".join(FLAGS + defines + libs).encode(),
            platform.machine().encode(), sys.platform.encode()])).hexdigest()[:16]
        folder = cache_dir()
        target = folder / f"{source.stem}-{key}.so"
        built = not target.is_file()
        if built:
            _build([cxx, *FLAGS, *defines, str(source), "-o"], libs, source, target)
        try:
            lib = ctypes.CDLL(str(target))
        except OSError as exc:
            raise NativeUnavailable(f"cannot load {target}: {exc}") from exc
        _LOADED[source] = Library(lib, target, time.perf_counter() - t0, built)
        return _LOADED[source]


def _build(command: list[str], libs: tuple[str, ...], source: Path, target: Path) -> None:
    """Run `command + [temp file] + libs`, then rename the temp file to `target`."""
    cxx = command[0]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise NativeUnavailable(f"cannot write the kernel cache folder {target.parent}: {exc}; set "
                                f"DMG_BMI_CACHE to a writable folder") from exc
    try:
        res = subprocess.run([*command, tmp, *libs], capture_output=True, text=True, timeout=600,
                             check=False)
        if res.returncode != 0:
            raise NativeUnavailable(f"{cxx} failed to build {source.name} (exit {res.returncode}):\n"
                                    f"{res.stderr.strip()[-2000:]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except subprocess.TimeoutExpired as exc:
        raise NativeUnavailable(f"{cxx} took over 600 s to build {source.name}") from exc
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
