"""Hostile CLI inputs beyond test_cli_errors: sizes that would exhaust memory (refused up front, or one error
line when an allocation fails), impossible dates and noise, NetCDF writes on a full disk, a --time-step the
BMI would refuse, a folder or an empty file given where a file goes. Each must be an `error: ...` naming
the option or file (exit 2) and leave no file. (Units shown by inspect: test_inspect.py; latitude only where
PET reads it: test_bmi_errors.py, test_writers.py.)"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, pcse_own_dir
from test_cli_errors import fails, trained  # noqa: F401 (a fixture)

from dmg_bmi.cli import main
from dmg_bmi.domains.crop import twin as crop_twin
from dmg_bmi.domains.hydrology import twin
from dmg_bmi.errors import InputError


@pytest.mark.parametrize("argv, needle", [
    (["--basins", "100000000"], "--basins must be a whole number in 1..13,698, got 100000000"),
    (["--basins", "-5"], "--basins must be a whole number in 1..13,698, got -5"),
    (["--years", "100000"], "--years must be a whole number in 1..200, got 100000"),
    (["--basins", "3000", "--years", "6"],
     "--basins 3000 x --years 6 is 6,576,000 basin-days, more than the twin's 5,000,000 (about 2 GB"),
    (["--noise", "1e3"], "--noise must be in 0..2 (log-normal sigma of the flow noise), got 1000.0"),
    (["--start", "2015-02-30"], "--start: '2015-02-30' is not a date (expected YYYY-MM-DD)"),
    (["--start", "9995-01-01", "--years", "10"], "--start 9995-01-01 + --years 10 ends after 9999-12-31"),
    (["--kind", "crop", "--sites", "100000000"], "--sites must be a whole number in 1..5,000, got 100000000"),
    (["--kind", "crop", "--sites", "5001"], "--sites must be a whole number in 1..5,000, got 5001"),
    (["--kind", "crop", "--sites", "0"], "--sites must be a whole number in 1..5,000, got 0"),
])
def test_make_sample_data_refuses_sizes_before_allocating(tmp_path, capsys, argv, needle):
    """Each used to run out of memory, write a flow of zeros (noise 1e3) or name 'twin start'."""
    fails(capsys, ["make-sample-data", "--out", tmp_path / "sub" / "t.nc", *argv], needle)
    assert not (tmp_path / "sub").exists()


def test_quickstart_refuses_a_huge_twin_before_making_its_folder(tmp_path, capsys):
    fails(capsys, ["quickstart", "--out", tmp_path / "q", "--basins", "100000000"],
          "--basins must be a whole number in 1..13,698, got 100000000")
    assert not (tmp_path / "q").exists()


def test_non_integer_counts_are_refused_by_argparse_and_the_library(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["make-sample-data", "--basins", "1.5"])
    assert exit_info.value.code == 2 and "--basins: invalid int value: '1.5'" in capsys.readouterr().err
    with pytest.raises(InputError, match=r"n_basins must be a whole number in 1\.\.13,698, got 2\.5"):
        twin.make_twin(n_basins=2.5)
    with pytest.raises(InputError, match=r"years must be a whole number in 1\.\.200, got True"):
        twin.make_twin(n_basins=2, years=True)
    with pytest.raises(InputError, match=r"n_sites must be a whole number in 1\.\.7,500, got 10000"):
        crop_twin.make_layout(n_sites=10_000, fields_per_site=2)


def test_sizes_at_the_limits_pass_the_check():
    """The largest allowed twin passes (the check, not the build), and the first day comes back."""
    assert twin.check_size(2281, 6, "2000-01-01") == np.datetime64("2000-01-01")  # 2281 x 2192 d < 5e6
    assert twin.check_size(1, 200, "9800-01-01", noise=2.0) == np.datetime64("9800-01-01")
    crop_twin.check_size(5000, 3)


def test_a_tiny_crop_twin_still_builds(tmp_path, capsys):
    """A real (tiny) crop twin still builds through the CLI after the checks."""
    pcse = pcse_own_dir()
    assert main(["make-sample-data", "--kind", "crop", "--sites", "1", "--out", str(tmp_path / "c.nc"),
                 "--pcse-dir", str(pcse)]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "c.nc").is_file()


def test_a_full_disk_under_a_netcdf_write_is_named(tmp_path):
    """A file-size limit stands in for a full disk under netCDF4 (which says only 'NetCDF: HDF error'):
    make-sample-data names the file, exits 2 and leaves no file, not even a temp file."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))

    out = tmp_path / "twin.nc"
    proc = subprocess.run([sys.executable, "-m", "dmg_bmi.cli", "make-sample-data", "--out", str(out),
                           "--basins", "20", "--years", "2"], capture_output=True, text=True, timeout=300,
                          preexec_fn=limit, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == (f"error: {out}: NetCDF write failed (NetCDF: HDF error): is the disk "
                                   "full, or a file-size limit or quota reached?")
    assert list(tmp_path.iterdir()) == []


def test_simulate_names_the_netcdf_file_a_failed_write_left_out(trained, tmp_path, capsys, monkeypatch):  # noqa: F811
    """netCDF4 refuses the (temp) file as on a full disk: the error names the final file, none is left."""
    import netCDF4

    real = netCDF4.Dataset

    def full_disk(path, mode="r", *args, **kwargs):
        if mode == "w":
            raise RuntimeError("NetCDF: HDF error")
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(netCDF4, "Dataset", full_disk)
    out = tmp_path / "sim"
    fails(capsys, ["simulate", "--run-dir", trained / "run", "--out", out],
          f"error: {out / 'simulation.nc'}: NetCDF write failed (NetCDF: HDF error)")
    assert list(out.iterdir()) == []


OUT_OF_MEMORY = "error: dmg-bmi train: out of memory ("


@pytest.mark.parametrize("overrides", [
    ["model.nn.mlp_hidden_size=8192", "model.nn.mlp_layers=64"],  # 34 GB of float64 weights
    ["train.batch_size=100000", "model.phy.nmul=256"],  # states of 200 MB a step, kept for the gradient
])
def test_a_size_too_large_for_memory_is_one_error_line(trained, tmp_path, overrides):  # noqa: F811
    """Sizes within the config maxima that still exceed a 6 GB address-space limit: torch's CPU allocator
    failure (a RuntimeError) is one `error:` line naming the verb and what to lower, exit 2 (was a
    traceback); no checkpoint is left. (Sizes above the maxima are refused at load: test_config_errors.)"""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    code = (f"import sys; sys.path.insert(0, {str(REPO / 'tests')!r}); import train_toy; "
            "from dmg_bmi.cli import main; sys.exit(main(sys.argv[1:]))")
    sets = [arg for item in overrides for arg in ("--set", item)]
    proc = subprocess.run([sys.executable, "-c", code, "train", "--config", str(trained / "cfg.yaml"),
                           "--set", f"run.exact_dir={tmp_path / 'run'}", *sets],
                          capture_output=True, text=True, timeout=300, preexec_fn=limit, cwd=REPO)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    err = proc.stderr.strip()
    assert err.startswith(OUT_OF_MEMORY) and "\n" not in err, err
    assert "lower it (" in err and "train.rho" in err
    assert not list(tmp_path.glob("run/*.pt"))


def test_numpy_memory_error_is_one_error_line(monkeypatch, capsys):
    """numpy's MemoryError (an array too large to allocate) raised inside a verb is the same one line."""
    import dmg_bmi.train.commands.train as train_command

    monkeypatch.setattr(train_command, "run", lambda args: np.empty(1 << 50))
    err = fails(capsys, ["train", "--config", "unused.yaml"], OUT_OF_MEMORY, "Unable to allocate")
    assert "lower it (" in err


@pytest.mark.parametrize("verb", ["bmi-config", "realization"])
def test_a_time_step_the_bmi_refuses_writes_nothing(trained, tmp_path, capsys, verb):  # noqa: F811
    """--time-step 7 used to write configs that every BMI initialize then refused."""
    table = tmp_path / "attrs.csv"
    table.write_text("id,area_km2,latitude,a1,a2\ncat-1,10,40,0.5,0.5\n", encoding="utf-8")
    where = (["--attributes", table] if verb == "bmi-config" else
             ["--catchments", tmp_path / "c.geojson", "--forcing", tmp_path / "f"])
    fails(capsys, [verb, "--checkpoint", trained / "run" / "last.pt", *where, "--start", "2001-01-01",
                   "--end", "2001-01-02", "--time-step", "7", "--out", tmp_path / "out"],
          "--time-step must be a whole number of hours dividing 86400 s (3600 ... 86400), got 7")
    assert not (tmp_path / "out").exists()


def test_a_folder_or_an_empty_file_says_so(trained, tmp_path, capsys):  # noqa: F811
    """A folder given where a file goes is named as a folder (not "not found"): a checkpoint to inspect and
    bmi-config, an attributes table, a dataset `data.path`; an empty config names its file."""
    run = trained / "run"
    folder = f"{run} is a folder: give a checkpoint file (.pt), e.g. {run / 'best.pt'}"
    fails(capsys, ["inspect", run], folder)
    times = ["--start", "2001-01-01", "--end", "2001-01-02", "--out", tmp_path / "out"]
    fails(capsys, ["bmi-config", "--checkpoint", run, "--attributes", trained / "toy.nc", *times], folder)
    fails(capsys, ["bmi-config", "--checkpoint", run / "last.pt", "--attributes", run, *times],
          f"attributes table {run} is a folder, not a CSV or NetCDF file")
    fails(capsys, ["train", "--config", trained / "cfg.yaml", "--set", f"data.path={run}"],
          f"dataset {run} is a folder, not a NetCDF file")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n", encoding="utf-8")
    fails(capsys, ["train", "--config", tmp_path / "empty.yaml"], f"{tmp_path / 'empty.yaml'} is empty")
    assert not (tmp_path / "out").exists()


def test_a_run_without_a_best_checkpoint_says_so_and_fails(tmp_path, monkeypatch, capsys):
    """Every epoch's loss non-finite (every batch skipped): no best.pt is written, so `train` must not print
    it as the best checkpoint nor exit 0. The trainer's result is stubbed (unit test of the verb's report)."""
    import yaml
    from train_toy import toy_config

    import dmg_bmi.train.run as run_module
    from dmg_bmi.core.train.common import TrainResult

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"")
    monkeypatch.setattr(run_module, "train", lambda cfg, resume=None: TrainResult(
        run_dir=tmp_path / "run", last=tmp_path / "run" / "last.pt", best=tmp_path / "run" / "best.pt",
        final_loss=float("nan")))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(toy_config(tmp_path / "toy.nc", tmp_path / "runs")),
                                     encoding="utf-8")
    assert main(["train", "--config", str(tmp_path / "c.yaml")]) == 1
    out, err = capsys.readouterr()
    assert "best checkpoint:" not in out and "no epoch had a finite loss" in err and "best.pt" in err
