"""Proof by a third domain: a plugin found only through entry points trains, simulates, runs in the BMI and
passes bmi-tester.

The plugin (`tests/plugins/bucket_domain`, a one-bucket linear reservoir with one learned parameter k) is
never imported here: its dist-info (`tests/plugins/bucket_domain-0.1.dist-info/entry_points.txt`) registers
the domain `bucket` and the physics `linear_bucket`, and the tests reach them through `dmg_bmi.domains` and
`dmg_bmi.core.registry` with `tests/plugins` on the path. Its twin (`make-sample-data --kind bucket`) gives
each basin k = 0.05 + 0.4 drainage; `dmg-bmi train` must recover it, `simulate` and the BMI must equal the
bucket's equations run offline here (S += P; AET = min(S, PET); S -= AET; Q = k S; S -= Q, from S = 0).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import torch
import yaml

from dmg_bmi import domains
from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core import registry
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.data.dataset import HydroDataset

REPO = Path(__file__).resolve().parents[1]
PLUGINS = Path(__file__).parent / "plugins"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), str(PLUGINS),
                                                                  os.environ.get("PYTHONPATH"))))}
WARMUP = 60
TRAIN = {
    "data": {"path": "twin.nc", "kind": "netcdf", "target": "streamflow",
             "train": {"start": "2000-01-01", "end": "2001-12-31"},
             "test": {"start": "2002-01-01", "end": "2002-12-31"}},
    "model": {"phy": {"name": "linear_bucket", "nmul": 1, "warmup": WARMUP},
              "nn": {"name": "lstm_mlp", "mlp_hidden_size": 16, "mlp_layers": 1},
              "inputs": {"forcings": ["P", "T", "PET"], "attributes": ["drainage", "elevation_m"],
                         "log_norm": ["P"], "pet_method": "hamon"},
              "dtype": "float64"},
    "train": {"loss": "nse_batch", "lr": 0.05, "epochs": 8, "batch_size": 16, "rho": 120,
              "iterations_per_epoch": 6},
    "run": {"name": "bucket", "run_dir": "runs", "exact_dir": "runs/bucket", "seed": 0, "device": "cpu",
            "save_every": 0, "progress": False},
}


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`dmg-bmi ARGS` in a fresh interpreter that sees the plugin (or `env`)."""
    return subprocess.run([sys.executable, "-m", "dmg_bmi.cli", *args], cwd=cwd, env=env or ENV,
                          capture_output=True, text=True, timeout=300)


def bucket_offline(p: np.ndarray, pet: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    """The bucket's equations from S = 0: `p`, `pet` `[B, T]` (mm d-1), `k` `[B]` (d-1) -> streamflow, AET
    (mm d-1) and S (mm) `[B, T]`."""
    s = np.zeros(p.shape[0])
    out = {name: np.zeros(p.shape) for name in ("streamflow", "AET", "S")}
    for t in range(p.shape[1]):
        s = s + p[:, t]
        aet = np.minimum(s, pet[:, t])
        s = s - aet
        q = k * s
        s = s - q
        out["streamflow"][:, t], out["AET"][:, t], out["S"][:, t] = q, aet, s
    return out


@pytest.fixture(scope="module")
def plugin_on_path():
    """`tests/plugins` on sys.path and the registries re-read from the entry points; all restored after."""
    for kind in ("physics", "nn"):
        registry.available(kind)  # the built-ins registered in the real tables first
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(PLUGINS))
    mp.setattr(domains, "_DOMAINS", dict(domains._DOMAINS))
    mp.setattr(domains, "_MERGED", {})
    mp.setattr(domains, "_loaded", False)
    mp.setattr(registry, "_REGISTRIES", {kind: dict(table) for kind, table in registry._REGISTRIES.items()})
    mp.setattr(registry, "_loaded", set())
    yield
    mp.undo()
    for name in [m for m in sys.modules if m.split(".")[0] == "bucket_domain"]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The bucket twin and a trained run (`dmg-bmi make-sample-data` and `train`, in subprocesses)."""
    root = tmp_path_factory.mktemp("bucket")
    made = cli("make-sample-data", "--kind", "bucket", "--buckets", "16", "--bucket-years", "3", "--out",
               "twin.nc", cwd=root)
    assert made.returncode == 0, made.stderr
    (root / "train.yaml").write_text(yaml.safe_dump(TRAIN), encoding="utf-8")
    trained = cli("train", "--config", "train.yaml", cwd=root)
    assert trained.returncode == 0, trained.stderr[-3000:]
    return root


def learned_k(ckpt_path: Path, ds: HydroDataset) -> np.ndarray:
    """k (d-1) the checkpoint gives each basin of `ds`, from its attributes."""
    ckpt = load_checkpoint(ckpt_path)
    model = ckpt.build_model(dtype=torch.float64)
    c_nn = ckpt.normalization.transform(ds.attributes(ckpt.nn_attributes), ckpt.nn_attributes)
    with torch.no_grad():
        return model.static_params(torch.as_tensor(c_nn))["k"][:, 0].numpy()


# ---------------------------------------------------------------- found through the entry points only
def test_the_plugin_is_reached_only_through_its_entry_points(run, plugin_on_path):
    bucket = domains.get_domain("bucket")
    assert type(bucket).__module__ == "bucket_domain" and bucket.physics == ("linear_bucket",)
    assert registry.get_physics("linear_bucket").__module__ == "bucket_domain.physics"
    assert domains.domain_for_checkpoint(run / "runs" / "bucket" / "best.pt") is bucket
    assert domains.twins()["bucket"] is bucket
    env = {**ENV, "PYTHONPATH": str(REPO)}  # without tests/plugins the CLI knows no bucket
    gone = cli("make-sample-data", "--kind", "bucket", "--out", "x.nc", cwd=run, env=env)
    assert gone.returncode == 2 and "invalid choice: 'bucket'" in gone.stderr


# ---------------------------------------------------------------- twin and training
def test_the_twin_is_the_bucket_with_k_from_drainage(run):
    ds = HydroDataset.load(run / "twin.nc")
    assert ds.dates[0] == np.datetime64("2000-01-01") and ds.dates[-1] == np.datetime64("2002-12-31")
    k = 0.05 + 0.4 * ds.static["drainage"]
    expected = bucket_offline(ds.dynamic["P"], ds.dynamic["PET"], k)["streamflow"]
    np.testing.assert_allclose(ds.dynamic["streamflow"], expected, rtol=1e-12, atol=1e-12)
    assert expected.mean() > 0.3  # water flows


def test_dmg_bmi_train_recovers_k(run, plugin_on_path):
    with open(run / "runs" / "bucket" / "train_log.csv", encoding="utf-8") as fh:
        losses = [float(row["loss"]) for row in csv.DictReader(fh)]
    assert len(losses) == TRAIN["train"]["epochs"] and losses[-1] < 0.2 * losses[0]
    ds = HydroDataset.load(run / "twin.nc")
    k, truth = learned_k(run / "runs" / "bucket" / "best.pt", ds), 0.05 + 0.4 * ds.static["drainage"]
    assert np.corrcoef(k, truth)[0, 1] > 0.95
    assert np.abs(k - truth).max() < 0.06, (k, truth)


# ---------------------------------------------------------------- simulate
def test_dmg_bmi_simulate_equals_the_bucket_offline(run, plugin_on_path):
    done = cli("simulate", "--run-dir", "runs/bucket", "--out", "sim", cwd=run)
    assert done.returncode == 0, done.stderr
    ds = HydroDataset.load(run / "twin.nc")
    k = learned_k(run / "runs" / "bucket" / "best.pt", ds)
    first = int(np.flatnonzero(ds.dates == np.datetime64("2002-01-01"))[0])  # the test period, warm-up before
    window = slice(first - WARMUP, None)
    expected = bucket_offline(ds.dynamic["P"][:, window], ds.dynamic["PET"][:, window], k)
    with netCDF4.Dataset(run / "sim" / "simulation.nc") as nc:
        assert [str(b) for b in nc["basin"][:]] == list(ds.basins)
        assert nc["S"].units == "mm" and nc["streamflow"].units == "mm d-1"
        for name, values in expected.items():
            np.testing.assert_allclose(nc[name][:], values[:, WARMUP:], rtol=1e-10, atol=1e-12, err_msg=name)


def test_dmg_bmi_inspect_names_the_domains_own_output(run):
    done = cli("inspect", "--json", "runs/bucket/best.pt", cwd=run)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["kind"] == "bucket (linear reservoir)"
    assert info["physics"]["static_parameters"] == ["k"]
    assert info["outputs"] == [{"name": "land_surface_water__runoff_depth", "units": "m"},
                               {"name": "land_surface_water__runoff_volume_flux", "units": "m3 s-1"},
                               {"name": "bucket_water__volume-per-area_storage_density", "units": "mm"}]


# ---------------------------------------------------------------- the BMI
def bmi_config(run: Path, folder: Path, basin: int, time_step: int) -> Path:
    """A BMI YAML in `folder` for basin `basin` of the twin over 2002, with a copy of the best checkpoint."""
    ds = HydroDataset.load(run / "twin.nc")
    shutil.copy2(run / "runs" / "bucket" / "best.pt", folder / "bucket.pt")
    cfg = {"checkpoint": "bucket.pt", "catchment_id": str(ds.basins[basin]),
           "area_km2": float(ds.static["area_km2"][basin]), "latitude": float(ds.static["lat"][basin]),
           "attributes": {name: float(ds.static[name][basin]) for name in ("drainage", "elevation_m")},
           "start_time": "2002-01-01 00:00:00", "end_time": "2002-12-31 23:00:00", "time_step": time_step}
    path = folder / "bucket.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.mark.parametrize("time_step", [86400, 3600])
def test_the_bmi_steps_equal_the_offline_daily_run(run, plugin_on_path, tmp_path, time_step):
    basin = 3
    ds = HydroDataset.load(run / "twin.nc").sel_period("2002-01-01", "2002-12-31")
    bmi = DeltaModelBmi()
    bmi.initialize(str(bmi_config(run, tmp_path, basin, time_step)))
    assert bmi.get_output_var_names() == ("land_surface_water__runoff_depth",
                                          "land_surface_water__runoff_volume_flux",
                                          "bucket_water__volume-per-area_storage_density")
    assert bmi.get_var_units("bucket_water__volume-per-area_storage_density") == "mm"
    assert bmi.get_input_var_names() == ("atmosphere_water__liquid_equivalent_precipitation_rate",
                                         "land_surface_air__temperature")
    per_day = 86400 // time_step
    got = {name: [] for name in ("depth", "flux", "S")}
    for day in range(ds.n_time):
        bmi.set_value("atmosphere_water__liquid_equivalent_precipitation_rate",
                      np.array([ds.dynamic["prcp"][basin, day] / 86400.0]))
        bmi.set_value("land_surface_air__temperature", np.array([ds.dynamic["tmean"][basin, day] + 273.15]))
        for _ in range(per_day):
            bmi.update()
        got["depth"].append(bmi.get_value("land_surface_water__runoff_depth", np.zeros(1))[0])
        got["flux"].append(bmi.get_value("land_surface_water__runoff_volume_flux", np.zeros(1))[0])
        got["S"].append(bmi.get_value("bucket_water__volume-per-area_storage_density", np.zeros(1))[0])
    bmi.finalize()
    k = learned_k(run / "runs" / "bucket" / "best.pt", ds)[basin : basin + 1]
    expected = bucket_offline(ds.dynamic["P"][basin : basin + 1], ds.dynamic["PET"][basin : basin + 1], k)
    q_m_per_s = expected["streamflow"][0] * 1e-3 / 86400.0
    np.testing.assert_allclose(got["depth"], q_m_per_s * time_step, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(got["flux"], q_m_per_s * ds.static["area_km2"][basin] * 1e6, rtol=1e-9)
    np.testing.assert_allclose(got["S"], expected["S"][0], rtol=1e-9, atol=1e-12)


def test_a_bmi_state_continues_exactly(run, plugin_on_path, tmp_path):
    """save_state mid-run, hot start from it: the same outputs as the unbroken run."""
    def drive(bmi: DeltaModelBmi, days: range) -> list[float]:
        out = []
        for day in days:
            bmi.set_value("atmosphere_water__liquid_equivalent_precipitation_rate",
                          np.array([3e-5 * (day % 4)]))  # mm s-1
            bmi.set_value("land_surface_air__temperature", np.array([285.0 + day % 7]))
            bmi.update()
            out.append(bmi.get_value("land_surface_water__runoff_depth", np.zeros(1))[0])
        return out

    path = bmi_config(run, tmp_path, 0, 86400)
    whole, first = DeltaModelBmi(), DeltaModelBmi()
    whole.initialize(str(path))
    first.initialize(str(path))
    unbroken = drive(whole, range(20))
    assert drive(first, range(10)) == unbroken[:10]
    first.save_state(tmp_path / "day10.state")
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg.update(start_time="2002-01-11 00:00:00", initial_state="day10.state")
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    hot = DeltaModelBmi()
    hot.initialize(str(path))
    assert drive(hot, range(10, 20)) == unbroken[10:] and max(unbroken) > 0


# ---------------------------------------------------------------- bmi-tester
def test_bmi_tester_passes_on_the_plugin(run, tmp_path):
    pytest.importorskip("bmi_tester")
    from gimli.units import units  # noqa: F401  (0.3.4 has this module; 0.4.x silently skips unit tests)

    root = tmp_path / "root"  # only the config and checkpoint (bmi-tester copies every entry)
    root.mkdir()
    bmi_config(run, root, 0, 3600)
    env = {**ENV, "PYTEST_ADDOPTS": "--confcutdir=/ -p no:benchmark -p no:cacheprovider -rs -v"}
    cmd = [sys.executable, "-m", "bmi_tester", "dmg_bmi.bmi:DeltaModelBmi", "--config-file", "bucket.yml",
           "--root-dir", "."]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "All tests passed" in out and "FAILED" not in out and "ERROR" not in out
    assert "test_get_var_units[bucket_water__volume-per-area_storage_density] PASSED" in out
