"""Brief training on the real CAMELS-US sample (CAMELS-layout reader path) beats a climatology baseline."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from conftest import shared_path

from dmg_bmi.cli import main
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.core.train.metrics import nse
from dmg_bmi.domains import get_domain
from dmg_bmi.forcing import InputDerivation
from dmg_bmi.train.config import Period
from dmg_bmi.train.configs import package_config
from dmg_bmi.train.data import load_dataset
from dmg_bmi.train.evaluate import predict, score
from dmg_bmi.train.run import train


def climatology_nse(ds, train: Period, test: Period) -> list[float]:
    """NSE on `test` of the day-of-year mean flow of `train` (per basin): the baseline to beat."""
    tr, te = ds.sel_period(train.start, train.end), ds.sel_period(test.start, test.end)
    q_tr, q_te = tr.target("streamflow"), te.target("streamflow")
    out = []
    for b in range(ds.n_basins):
        clim = np.array([np.nanmean(q_tr[b][tr.doy == d]) if np.isfinite(q_tr[b][tr.doy == d]).any()
                         else np.nanmean(q_tr[b]) for d in range(1, 367)])
        out.append(nse(clim[te.doy - 1], q_te[b]))
    return out


@pytest.mark.slow
def test_brief_dhbv_training_beats_climatology(tmp_path):
    camels = shared_path("hydro", "raw", "camels_us")
    cfg = package_config("dhbv_camels", [
        f"data.path={camels}", f"run.exact_dir={tmp_path / 'run'}", "run.progress=false", "run.save_every=0",
        "data.train={start: 2000-10-01, end: 2005-09-30}", "data.test={start: 2005-10-01, end: 2009-09-30}",
        "model.phy.nmul=2", "model.nn.hidden_size=16", "model.nn.mlp_hidden_size=32",
        "train.epochs=5", "train.iterations_per_epoch=10", "train.lr=0.01",
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(cfg)
        ckpt = load_checkpoint(result.last)
        ds = load_dataset(cfg.data, InputDerivation("hamon"), get_domain("hydrology"))
        pred = predict(ckpt.build_model(), ckpt.normalization, ds, cfg.data.test, target="streamflow")
    model_nse = np.array([r["nse"] for r in score(pred)])
    clim = np.array(climatology_nse(ds, cfg.data.train, cfg.data.test))
    # measured: model median 0.60 vs climatology -0.01 (5 epochs, nmul 2, hidden 16)
    assert np.nanmedian(model_nse) > np.nanmedian(clim) + 0.3, (model_nse, clim)
    # the checkpoint alone evaluates other basins of a CAMELS-layout folder (here: two of them)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["evaluate", "--checkpoint", str(result.last), "--data", str(camels), "--basins",
                     "01013500", "12010000", "--no-plots", "--out", str(tmp_path / "ev")]) == 0
    rows = list(csv.DictReader((tmp_path / "ev" / "metrics.csv").open()))
    assert [r["basin"] for r in rows] == ["01013500", "12010000"]
    by_basin = {r["basin"]: float(r["nse"]) for r in score(pred)}
    np.testing.assert_allclose([float(r["nse"]) for r in rows], [by_basin[r["basin"]] for r in rows],
                               atol=1e-4)
