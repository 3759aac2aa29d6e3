"""`dmg-bmi quickstart` end to end on a small twin: data, training, held-out scores, BMI-ready checkpoint."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from dmg_bmi.cli import main
from dmg_bmi.core.checkpoint import load_checkpoint


@pytest.mark.slow
def test_quickstart_small_twin(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), "--basins", "20",
                 "--set", "train.epochs=6", "--set", "run.progress=false"]) == 0
    out = capsys.readouterr().out
    assert "parameter recovery" in out and "BMI checkpoint" in out
    table = out.split("parameter recovery")[1].split("done in")[0]
    names = [line.split()[0] for line in table.splitlines()[2:] if line.strip()]
    assert sorted(names) == ["parBETA", "parFC", "parK0", "parK1"]  # exactly the parameters the twin varies
    (run,) = tmp_path.glob("quickstart_*")  # <out>/<name>_<timestamp>
    rows = list(csv.DictReader((run / "evaluate_held_out" / "metrics.csv").open()))
    assert [r["basin"] for r in rows] == [f"twin{i:04d}" for i in range(16, 20)]
    assert np.median([float(r["nse"]) for r in rows]) > 0.6
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt.derivations["PET"]["method"] == "hamon" and ckpt.training["epoch"] >= 1
    assert ckpt.config.phy.fixed_params["parPERC"] == 1.5  # the twin's constants are held fixed
    assert set(ckpt.training["basins"]) == {f"twin{i:04d}" for i in range(16)}
