"""Run the real NextGen `ngen` binary on a run folder: find (or build) it, prepare its Python, call it.

ngen embeds the Python it was linked against and finds packages through `VIRTUAL_ENV`. Three facts about
it (measured on ngen dd04bbc; see the README's "Running in NextGen") shape this module:

- it puts the venv's site-packages *after* the base interpreter's, so a numpy 2 in the base Python wins and
  ngen aborts: `PYTHONPATH` must name the venv's site-packages;
- it does not process `.pth` files, so an editable install is invisible: the package is installed
  non-editable (re-installed whenever its source changes);
- it reads text as ASCII: every file the package reads is opened with ``encoding="utf-8"``.

`NgenEnv.prepare(...)` gives a ready binary + venv (cached per machine under `cache`); `NgenEnv.run(...)`
runs `ngen catchments all nexus all realization` in a folder and raises `NgenError` with ngen's output tail
when it fails.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VENV_PACKAGES = ("numpy==1.26.4", "torch==2.13.0", "bmipy", "pyyaml", "netCDF4", "tqdm", "cf-units")
_STAMP = "dmg_bmi.source-digest"


class NgenError(RuntimeError):
    """ngen could not be found, built or run; the message says which and why."""


def ngen_info(binary: Path) -> str | None:
    """`ngen --info` text when `binary` starts (it exits 1 even then: look for 'NGen version'), else None."""
    try:
        done = subprocess.run([str(binary), "--info"], capture_output=True, text=True, timeout=60,
                              encoding="utf-8", errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout + done.stderr
    return text if "NGen version" in text else None


def linked_python(binary: Path) -> tuple[str, Path] | None:
    """('3.11', prefix) when `binary` links `<prefix>/lib/libpython3.11...` (from `ldd`), else None."""
    try:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=60,
                             encoding="utf-8", errors="replace").stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"libpython(\d+\.\d+)\S* => (\S+)", out)
    return (m.group(1), Path(m.group(2)).parent.parent) if m else None


def source_digest(project: Path) -> str:
    """SHA-256 over the package's files and pyproject.toml: the installed copy is current when it matches."""
    h = hashlib.sha256()
    files = sorted(p for p in (project / "dmg_bmi").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    for path in [project / "pyproject.toml", *files]:
        h.update(str(path.relative_to(project)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _run(cmd: list[str], what: str, timeout: float, **kw) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, encoding="utf-8",
                          errors="replace", **kw)
    if done.returncode:
        raise NgenError(f"{what} failed (exit {done.returncode}): {' '.join(cmd)}\n"
                        f"{(done.stdout + done.stderr)[-3000:]}")


@dataclass(frozen=True)
class NgenEnv:
    """A runnable ngen: `binary`, and `venv`, the Python environment it embeds."""

    binary: Path
    venv: Path
    python_home: Path  # the prefix of the libpython ngen links (its standard library)

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))

    @classmethod
    def prepare(cls, candidates: list[Path], cache: Path, project: Path, build_script: Path | None = None,
                python: str | None = None) -> NgenEnv:
        """The first candidate binary that starts (else one built by `build_script` into `cache/build`),
        with a venv in `cache` holding VENV_PACKAGES and `project` installed non-editable.

        Raises NgenError naming what is missing: no binary starts and no build script, a failed build, a
        binary linked against another Python than `python` (default: this interpreter's version)."""
        binary = next((Path(c).resolve() for c in candidates if Path(c).is_file() and ngen_info(Path(c))),
                      None)
        if binary is None:
            binary = _build(cache, build_script, candidates)
        linked = linked_python(binary)
        mine = python or f"{sys.version_info.major}.{sys.version_info.minor}"
        if linked is None or linked[0] != mine:
            raise NgenError(f"{binary} embeds Python {linked and linked[0]}, the tests run Python {mine}; "
                            f"build ngen against this Python ({Path(sys.base_prefix)})")
        env = cls(binary, cache / f"venv-py{mine}", linked[1])
        env._make_venv(project)
        return env

    def _make_venv(self, project: Path) -> None:
        """Create the venv once (VENV_PACKAGES), then (re)install `project` when its source digest changed;
        under an exclusive lock, so concurrent test runs on one machine do not build over each other."""
        self.venv.parent.mkdir(parents=True, exist_ok=True)
        with open(self.venv.parent / f"{self.venv.name}.lock", "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._make_venv_locked(project)

    def _make_venv_locked(self, project: Path) -> None:
        pip = [str(self.venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        ready = self.venv / "dmg_bmi.venv-ready"  # holds the package list it was made with
        wanted = "\n".join(VENV_PACKAGES) + "\n"
        if not ready.is_file() or ready.read_text(encoding="utf-8") != wanted:
            shutil.rmtree(self.venv, ignore_errors=True)
            base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
            _run([str(base), "-m", "venv", str(self.venv)], "creating ngen's venv", 600)
            _run([*pip, *VENV_PACKAGES], f"installing {' '.join(VENV_PACKAGES)} into {self.venv}", 1800)
            ready.write_text(wanted, encoding="utf-8")
        digest = source_digest(project)
        stamp = self.venv / _STAMP
        if not stamp.is_file() or stamp.read_text(encoding="utf-8") != digest:
            build = self.venv / "build-tmp"
            shutil.rmtree(build, ignore_errors=True)
            shutil.copytree(project, build, ignore=shutil.ignore_patterns(
                ".git", "__pycache__", "*.egg-info", "build", ".ci", "runs", "tests", "benchmarks"))
            _run([*pip, "--no-deps", "--force-reinstall", str(build)],
                 f"installing {project} into ngen's venv", 600)
            shutil.rmtree(build, ignore_errors=True)
            stamp.write_text(digest, encoding="utf-8")

    def environ(self, extra_pythonpath: list[Path] | None = None) -> dict[str, str]:
        """The environment ngen needs: VIRTUAL_ENV, PYTHONPATH with the venv first (numpy 1.26), and
        PYTHONHOME at the linked Python's prefix (else, with another python3 earlier on PATH, the embedded
        interpreter may take that one's standard library and fail to import numpy)."""
        env = dict(os.environ)
        paths = [str(self.site_packages), *(str(p) for p in extra_pythonpath or [])]
        env.update(VIRTUAL_ENV=str(self.venv), PYTHONPATH=os.pathsep.join(paths),
                   PYTHONHOME=str(self.python_home))
        return env

    def run(self, workdir: Path, catchments: str = "catchments.geojson", nexus: str = "nexus.geojson",
            realization: str = "realization.json", timeout: float = 1800,
            extra_pythonpath: list[Path] | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """`ngen catchments all nexus all realization` in `workdir`; output is kept in `workdir/ngen.log`.

        Raises NgenError with the log's tail when ngen exits non-zero (unless `check` is False)."""
        cmd = [str(self.binary), catchments, "all", nexus, "all", realization]
        done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                              encoding="utf-8", errors="replace", env=self.environ(extra_pythonpath))
        log = done.stdout + done.stderr
        (Path(workdir) / "ngen.log").write_text(log, encoding="utf-8")
        if check and done.returncode:
            raise NgenError(f"ngen failed (exit {done.returncode}) in {workdir}:\n{log[-4000:]}")
        return done


def _build(cache: Path, build_script: Path | None, candidates: list[Path]) -> Path:
    """Build ngen with `build_script` into `cache/build` (once); NgenError when that is not possible."""
    built = cache / "build" / "build" / "ngen"
    if built.is_file() and ngen_info(built):
        return built
    tried = ", ".join(str(c) for c in candidates) or "none"
    if build_script is None or not Path(build_script).is_file():
        raise NgenError(f"no ngen binary starts (tried: {tried}) and no build script to make one")
    log = cache / "build.log"
    cache.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as fh:
        done = subprocess.run(["bash", str(build_script), str(cache / "build")], stdout=fh,
                              stderr=subprocess.STDOUT, timeout=4 * 3600)
    if done.returncode or not ngen_info(built):
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise NgenError(f"no ngen binary starts (tried: {tried}); building one with {build_script} failed "
                        f"(exit {done.returncode}, log {log}):\n{tail}")
    return built
