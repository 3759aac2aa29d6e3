"""bmi-tester 0.5.10 (with gimli.units 0.3.4, so units are really checked) on the shipped bmi_configs/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.numpy1]


def run_bmi_tester(root, config: str, unit_checked: str = "land_surface_water__runoff_depth") -> str:
    """Run bmi-tester on `root` (a folder holding only the BMI config `config` and its checkpoint: bmi-tester
    copies every entry) and return its output, asserting that every stage passed and that the units of
    output `unit_checked` were really checked."""
    pytest.importorskip("bmi_tester")
    from gimli.units import units  # noqa: F401  (0.3.4 has this module; 0.4.x silently skips unit tests)

    # --confcutdir: the rootdir trap (bmi-ngen.md §2); no:benchmark: pytest-benchmark adds a folder to root
    env = {**os.environ, "PYTEST_ADDOPTS": "--confcutdir=/ -p no:benchmark -p no:cacheprovider -rs -v"}
    cmd = [sys.executable, "-m", "bmi_tester", "dmg_bmi.bmi:DeltaModelBmi", "--config-file", config,
           "--root-dir", "."]  # this interpreter, so the numpy-1.26 CI stage tests under numpy 1.26
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "All tests passed" in out
    assert f"test_get_var_units[{unit_checked}] PASSED" in out  # units checked, not skipped
    assert "FAILED" not in out and "ERROR" not in out
    return out


def run_bmi_tester_on_example(tmp_path, checkpoint, name: str, attributes: dict) -> str:
    """bmi-tester on `checkpoint` run with the shipped example.yml (its `attributes` replaced), both copied to
    a fresh folder as `<name>.pt` and `<name>.yml`; returns the output (`run_bmi_tester`)."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy2(checkpoint, root / f"{name}.pt")
    cfg = yaml.safe_load((REPO / "bmi_configs" / "example.yml").read_text(encoding="utf-8"))
    cfg.update(checkpoint=f"{name}.pt", attributes=dict(attributes))
    (root / f"{name}.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return run_bmi_tester(root, f"{name}.yml")


@pytest.mark.parametrize("config, checkpoint", [("quickstart.yml", "quickstart_hbv11p.pt"),
                                                ("example.yml", "demo_hbv11p.pt")])
def test_bmi_tester_passes_every_stage(tmp_path, config, checkpoint):
    root = tmp_path / "root"  # a copy without __pycache__ or other folders (bmi-tester copies every entry)
    root.mkdir()
    for name in (config, checkpoint):
        shutil.copy2(REPO / "bmi_configs" / name, root / name)
    run_bmi_tester(root, config)
