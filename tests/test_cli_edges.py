"""Hostile CLI inputs beyond test_cli_errors: sizes that would exhaust memory, impossible dates and noise,
units shown by `inspect`, latitude for checkpoints that never use it, and NetCDF writes on a full disk.
Each must be an `error: ...` naming the option, key or file (exit 2), or the right value."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path
from test_cli_errors import fails

from dmg_bmi.cli import main
from dmg_bmi.data import crop_twin, twin
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
    pcse = shared_path("pcse_wofost72_pp", env="DMG_BMI_PCSE_PP_DIR")
    assert main(["make-sample-data", "--kind", "crop", "--sites", "1", "--out", str(tmp_path / "c.nc"),
                 "--pcse-dir", str(pcse)]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "c.nc").is_file()
