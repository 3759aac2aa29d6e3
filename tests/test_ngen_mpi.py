"""ngen built with MPI writes the same outputs on 2 ranks as in one process (issue 9, "Scale-out").

The 01073000 domain (5 catchments, 3 nexuses, 696 hourly steps) is written with `write_run_folder`, run by an
MPI-enabled ngen once without mpirun (serial) and then with `mpirun -n 2` and a partition file: one made by
ngen's `partitionGenerator` (when it sits beside the binary) and one written by hand. Every catchment CSV and
nexus CSV of the 2-rank run must be byte-identical to the serial one.

Needs (else the test skips, naming what is missing):
- an MPI ngen: `$DMG_BMI_NGEN_MPI`, default `~/.cache/dmg_bmi/ngen-mpi/build/ngen`
  (build it with `tools/build_ngen_mpi.sh`; see docs/ngen_mpi.md);
- `mpirun` on PATH;
- the development data under `../shared/data` (or `$DMG_BMI_SHARED_DATA`);
- a venv for ngen's embedded Python: `$DMG_BMI_NGEN_VENV` (numpy==1.26.4, torch, bmipy, pyyaml), else the
  one the `ngen_env` fixture prepares.
A copy of this working tree's `dmg_bmi` goes first on ngen's PYTHONPATH, so the BMI that runs is the source
that wrote the run folder, whatever (possibly older) copy the venv has installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dmg_bmi.ngen.needs import needed_attributes
from dmg_bmi.ngen.writers import read_attributes_table, write_run_folder

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DMG_BMI_SHARED_DATA") or REPO.parent / "shared" / "data")
DOMAIN = DATA / "hydro" / "hourly" / "ngen_gauge_01073000"
CKPT = REPO / "bmi_configs" / "demo_hbv11p.pt"
START, END = "2015-12-01 00:00:00", "2015-12-29 23:00:00"
DEFAULT_NGEN_MPI = Path.home() / ".cache" / "dmg_bmi" / "ngen-mpi" / "build" / "ngen"
BUILD_HINT = "build one with tools/build_ngen_mpi.sh (see docs/ngen_mpi.md) or set DMG_BMI_NGEN_MPI"
TIMEOUT_S = 600  # one run takes ~3 s; a wrong partition can hang ngen, so never wait forever

# Two ranks for this domain. ngen dd04bbc hangs (and stops writing) when the rank that owns a receiving
# nexus also holds two or more of that nexus's contributing catchments (see docs/ngen_mpi.md), so the
# receiving rank 1 holds one local contributor of nex-11224 (cat-11371) and gets cat-11223, cat-11509 from
# rank 0. Format: ngen's Partition_Parser (include/core/Partition_Parser.hpp).
HAND_PARTITION = {"partitions": [
    {"id": 0, "cat-ids": ["cat-11410", "cat-11223", "cat-11509"], "nex-ids": ["nex-11223", "nex-11224"],
     "remote-connections": [
         {"mpi-rank": 1, "nex-id": "nex-11224", "cat-id": "cat-11224", "cat-direction": "nex-to-dest_cat"}]},
    {"id": 1, "cat-ids": ["cat-11371", "cat-11224"], "nex-ids": ["nex-11224", "nex-11225"],
     "remote-connections": [
         {"mpi-rank": 0, "nex-id": "nex-11224", "cat-id": "cat-11223", "cat-direction": "orig_cat-to-nex"},
         {"mpi-rank": 0, "nex-id": "nex-11224", "cat-id": "cat-11509", "cat-direction": "orig_cat-to-nex"}]},
]}


def _text(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def _venv_environ(request, package_dir: Path) -> dict[str, str]:
    """Environment for ngen's embedded Python: VIRTUAL_ENV, and PYTHONPATH = `package_dir` (a copy of this
    working tree's package), then the venv's site-packages (numpy 1.26 before the base Python's numpy 2)."""
    venv = os.environ.get("DMG_BMI_NGEN_VENV")
    if venv:
        site = next((Path(venv) / "lib").glob("python3*/site-packages"), None)
        if site is None:
            pytest.skip(f"DMG_BMI_NGEN_VENV={venv} is not a venv (no lib/python3*/site-packages)")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
        env.update(VIRTUAL_ENV=str(venv), PYTHONPATH=str(site))
    else:
        try:
            env = dict(request.getfixturevalue("ngen_env").environ())
        except pytest.FixtureLookupError:
            pytest.skip("no venv for ngen's embedded Python: set DMG_BMI_NGEN_VENV to one with "
                        "numpy==1.26.4, torch, bmipy and pyyaml")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_dir), env.get("PYTHONPATH")) if p)
    return env


def python_home(libpython: Path, version: str) -> Path | None:
    """The prefix whose lib/pythonX.Y holds the standard library of `libpython`.

    ngen's embedded interpreter finds its standard library from the first `python3` on PATH, and Open MPI's
    mpirun, called by absolute path, puts its own bin folder (/usr/bin) first on the ranks' PATH: the ranks
    then load Debian's /usr/lib/python3.11 into pyenv's libpython and numpy fails to import
    ("PyCapsule_Import could not import module "datetime""). PYTHONHOME pins the right one."""
    for prefix in libpython.resolve().parents[:3]:
        if (prefix / "lib" / f"python{version}" / "os.py").is_file():
            return prefix
    return None


@pytest.fixture(scope="module")
def mpi_ngen(request, tmp_path_factory) -> dict:
    """{'binary', 'mpirun' (command prefix for 2 ranks), 'env'}; skips with the reason when one is missing."""
    for path in (DOMAIN / "catchments.geojson", DOMAIN / "nexus_hf.geojson", DOMAIN / "forcing", CKPT):
        if not path.exists():
            pytest.skip(f"development data not found: {path}")
    binary = Path(os.environ.get("DMG_BMI_NGEN_MPI") or DEFAULT_NGEN_MPI)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.skip(f"no MPI-enabled ngen binary at {binary}: {BUILD_HINT}")
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun not found on PATH: install Open MPI (Debian: apt-get install openmpi-bin "
                    "libopenmpi-dev) and build ngen with tools/build_ngen_mpi.sh")
    info = _text([str(binary), "--info"])  # exits 1 even when fine: look at the text
    if "NGen version" not in info:
        pytest.skip(f"{binary} does not start (`--info` printed: {info[-300:]!r}); {BUILD_HINT}")
    if not re.search(r"NGEN_WITH_MPI:\s*ON", info):
        pytest.skip(f"{binary} is a serial build (NGEN_WITH_MPI is not ON); {BUILD_HINT}")
    package_dir = tmp_path_factory.mktemp("package")
    shutil.copytree(REPO / "dmg_bmi", package_dir / "dmg_bmi", ignore=shutil.ignore_patterns("__pycache__"))
    env = _venv_environ(request, package_dir)
    linked = re.search(r"=>\s*(\S*libpython(\d+\.\d+)\S*)", _text(["ldd", str(binary)]))
    site = next((Path(env["VIRTUAL_ENV"]) / "lib").glob("python3*/site-packages"), None)
    venv_py = site.parent.name.removeprefix("python") if site else None
    if linked is None or linked.group(2) != venv_py:
        pytest.skip(f"{binary} embeds Python {linked and linked.group(2)} but the venv "
                    f"{env['VIRTUAL_ENV']} is Python {venv_py}: build ngen against the venv's Python "
                    "(PYTHON=... tools/build_ngen_mpi.sh)")
    home = python_home(Path(linked.group(1)), linked.group(2))
    if home is not None:
        env["PYTHONHOME"] = str(home)
    # By name, not by absolute path: Open MPI's mpirun given as /usr/bin/mpirun acts as `--prefix /usr`
    # (and as /bin/mpirun, on a merged-/usr system, aborts: "A prefix was supplied ... only slashes").
    cmd = ["mpirun", "-n", "2"]
    if "Open MPI" in _text([mpirun, "--version"]):
        cmd.append("--oversubscribe")  # 2 ranks even on a 1-core machine
        if os.geteuid() == 0:
            cmd.append("--allow-run-as-root")  # Open MPI refuses root otherwise
    return {"binary": binary, "mpirun": cmd, "env": env}


def make_run(out: Path) -> Path:
    table = read_attributes_table(DOMAIN / "camels_attributes_v2_01073000.csv")
    return write_run_folder(out, DOMAIN / "catchments.geojson", DOMAIN / "forcing", CKPT, START, END,
                            needed_attributes(CKPT), table=table, nexus_geojson=DOMAIN / "nexus_hf.geojson")


def run_ngen(prefix: list[str], binary: Path, run: Path, env: dict[str, str], *extra: str) -> None:
    """`[prefix] ngen catchments all nexus all realization [extra]` in `run`; output in run/ngen.log.
    Runs in its own process group so a hung mpirun and its ranks can all be stopped."""
    cmd = [*prefix, str(binary), "catchments.geojson", "all", "nexus.geojson", "all", "realization.json",
           *extra]
    log = run / "ngen.log"
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=run, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = None
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    assert rc is not None, f"ngen still running after {TIMEOUT_S} s (hung?): {' '.join(cmd)}\n{tail}"
    assert rc == 0, f"ngen failed (exit {rc}): {' '.join(cmd)}\n{tail}"


def feature_ids(geojson: Path) -> list[str]:
    return [f["id"] for f in json.loads(geojson.read_text(encoding="utf-8"))["features"]]


def outputs(run: Path) -> list[str]:
    return sorted(p.name for p in [*run.glob("cat-*.csv"), *run.glob("nex-*_output.csv")])


def max_difference(a: Path, b: Path) -> str:
    """Largest absolute difference of the numeric cells of two ngen CSVs (for the failure message)."""
    def cells(path: Path) -> list[list[str]]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [[c.strip() for c in line.split(",")] for line in lines]

    ra, rb = cells(a), cells(b)
    if len(ra) != len(rb) or any(len(x) != len(y) for x, y in zip(ra, rb, strict=True)):
        return f"shapes differ ({len(ra)} vs {len(rb)} rows)"
    worst = 0.0
    for x, y in zip(ra, rb, strict=True):
        for u, v in zip(x, y, strict=True):
            if u != v:
                try:
                    worst = max(worst, abs(float(u) - float(v)))
                except ValueError:
                    return f"text differs: {u!r} vs {v!r}"
    return f"max |difference| {worst:.3g}"


@pytest.fixture(scope="module")
def serial_run(mpi_ngen, tmp_path_factory) -> Path:
    run = make_run(tmp_path_factory.mktemp("mpi") / "serial")
    run_ngen([], mpi_ngen["binary"], run, mpi_ngen["env"])
    cats, nexs = (feature_ids(DOMAIN / name) for name in ("catchments.geojson", "nexus_hf.geojson"))
    assert outputs(run) == sorted([f"{c}.csv" for c in cats] + [f"{n}_output.csv" for n in nexs])
    flow = np.loadtxt(run / "nex-11225_output.csv", delimiter=",", usecols=2)
    assert flow.shape == (696,) and flow.max() > 0  # a real run: every hour, some water at the outlet
    return run


@pytest.mark.parametrize("partition", ["generated", "by_hand"])
def test_two_ranks_write_the_serial_outputs(mpi_ngen, serial_run, partition, tmp_path):
    run = make_run(tmp_path / "np2")
    part = run / "partition_2.json"
    if partition == "generated":
        generator = mpi_ngen["binary"].parent / "partitionGenerator"
        if not generator.is_file():
            pytest.skip(f"no partitionGenerator beside {mpi_ngen['binary']} "
                        "(tools/build_ngen_mpi.sh builds it)")
        done = subprocess.run([str(generator), "catchments.geojson", "nexus.geojson", part.name, "2", "", ""],
                              cwd=run, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and part.is_file(), done.stdout + done.stderr
        ranks = json.loads(part.read_text(encoding="utf-8"))["partitions"]
        assert sorted(r["id"] for r in ranks) == [0, 1]
    else:
        part.write_text(json.dumps(HAND_PARTITION, indent=1), encoding="utf-8")
    run_ngen(mpi_ngen["mpirun"], mpi_ngen["binary"], run, mpi_ngen["env"], part.name)
    assert outputs(run) == outputs(serial_run)
    differ = {name: max_difference(serial_run / name, run / name) for name in outputs(serial_run)
              if (serial_run / name).read_bytes() != (run / name).read_bytes()}
    assert not differ, f"2-rank outputs ({partition} partition) differ from the serial run: {differ}"
