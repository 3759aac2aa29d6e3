"""Every verb given bad input as a new user would: a missing file, a folder for a file, a file for a folder,
an output folder that cannot be written, non-positive sizes, CUDA without CUDA, a resume with another network.
Each must print one `error: ...` line naming the culprit, exit with status 2 and leave no partial file."""

from __future__ import annotations

import dataclasses
import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO
from train_toy import toy_config, toy_dataset

from dmg_bmi.cli import main
from dmg_bmi.core.checkpoint import load_checkpoint

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch toy run (`root/run`), its config `root/cfg.yaml`, and a regular file `root/afile`."""
    root = tmp_path_factory.mktemp("cli_errors")
    toy_dataset().save(root / "toy.nc")
    raw = toy_config("toy.nc", "runs", epochs=1, iterations_per_epoch=1)
    raw["run"]["exact_dir"] = str(root / "run")
    (root / "cfg.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert main(["train", "--config", str(root / "cfg.yaml")]) == 0
    (root / "afile").write_text("x\n", encoding="utf-8")
    return root


def fails(capsys, argv: list[str], *needles: str) -> str:
    """Run `dmg-bmi argv`: exit status 2 and one stderr line `error: ...` holding every needle."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert str(needle) in err, err
    return err


def test_unquoted_leading_zero_ids_and_exponent_lr_train(tmp_path, capsys):
    """`basins: [01022500, 01013500]` and `lr: 1e-2` written unquoted train on those basins at that rate."""
    ds = toy_dataset()
    ids = ["01022500", "01013500", "02", "03", "04", "05"]
    dataclasses.replace(ds, basins=ids).save(tmp_path / "toy.nc")
    raw = toy_config("toy.nc", "runs", epochs=1, iterations_per_epoch=1)
    raw["run"]["exact_dir"] = str(tmp_path / "run")
    raw["data"]["basins"] = ["@1", "@2"]
    text = yaml.safe_dump(raw).replace("- '@1'", "- 01022500").replace("- '@2'", "- 01013500")
    text = text.replace("lr: 0.01", "lr: 1e-2")
    assert "- 01022500" in text and "lr: 1e-2" in text
    (tmp_path / "cfg.yaml").write_text(text, encoding="utf-8")
    assert main(["train", "--config", str(tmp_path / "cfg.yaml")]) == 0
    training = load_checkpoint(tmp_path / "run" / "last.pt").training
    assert training["basins"] == ["01022500", "01013500"]
    assert training["experiment"]["train"]["lr"] == 0.01


@pytest.mark.parametrize("override, needle", [
    ("train.output=runoff", "train.output: 'runoff' is not an output of the physics 'train_toy'; valid: "),
    ("train.lr=.nan", "train.lr: expected a finite number, got nan"),
    ("train.lr_schedule.step_size=0", "train.lr_schedule.step_size must be >= 1, got 0"),
    ("run.seed=-1", "run.seed must be >= 0, got -1"),
])
def test_train_refuses_bad_values_before_making_the_run(trained, tmp_path, capsys, override, needle):
    fails(capsys, ["train", "--config", trained / "cfg.yaml", "--set", f"run.exact_dir={tmp_path / 'r'}",
                   "--set", override], needle)
    assert not (tmp_path / "r").exists()


def test_cuda_without_cuda(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fails(capsys, ["train", "--config", trained / "cfg.yaml", "--set", f"run.exact_dir={tmp_path / 'r'}",
                   "--set", "run.device=cuda"], "run.device: 'cuda' requested but CUDA is not available")
    for verb in ("evaluate", "simulate"):
        fails(capsys, [verb, "--run-dir", trained / "run", "--device", "cuda", "--out", tmp_path / verb],
              "--device: 'cuda' requested but CUDA is not available")
        assert not (tmp_path / verb).exists()


def test_cuda_index_this_machine_lacks(trained, tmp_path, capsys):
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    needle = (f"'cuda:{count}' requested but this machine has {count} CUDA device(s)" if count
              else "CUDA is not available")
    fails(capsys, ["evaluate", "--run-dir", trained / "run", "--device", f"cuda:{count}", "--out",
                   tmp_path / "ev"], f"--device: 'cuda:{count}'", needle)


def test_resume_with_another_network_names_the_keys(trained, capsys):
    run = trained / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    fails(capsys, ["train", "--resume", run / "last.pt", "--set", "train.epochs=3",
                   "--set", "model.nn.mlp_hidden_size=16", "--set", "train.optimizer=adadelta"],
          f"--resume {run / 'last.pt'}", "model.nn.mlp_hidden_size: 8 -> 16",
          "train.optimizer: 'adam' -> 'adadelta'")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_malformed_yaml_is_one_line_naming_file_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  phy: {nmul: [1, 2}\n", encoding="utf-8")
    fails(capsys, ["train", "--config", bad], f"malformed YAML in {bad}: ", "at line 2, column 20",
          "(while parsing a flow sequence at line 2, column 15)")
    (tmp_path / "good.yaml").write_text("data: {path: toy.nc}\n", encoding="utf-8")
    fails(capsys, ["train", "--config", tmp_path / "good.yaml", "--set", "train.lr=[1,"],
          "override 'train.lr=[1,': the value '[1,' is not valid YAML")


def test_resume_into_a_read_only_run_folder(trained, capsys, monkeypatch):
    """Root writes through chmod, so a read-only file system is stood in for where the probe file is made."""
    import dmg_bmi.core.train.rundir as rundir

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(rundir.tempfile, "TemporaryFile", read_only)
    run = trained / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    fails(capsys, ["train", "--resume", run / "last.pt", "--set", "train.epochs=2"],
          f"--resume: cannot write in the folder {run}: Read-only file system")
    fails(capsys, ["evaluate", "--run-dir", run, "--no-plots"],
          f"--out: cannot write in {run}/evaluate_toy_2001-01-01_2001-05-14 (in {run}): "
          "Read-only file system")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize("argv, needles", [
    (["train", "--config", "{root}"], ["{root} is a folder, not a config file"]),
    (["train", "--resume", "{root}/nope.pt"], ["--resume: checkpoint not found: {root}/nope.pt"]),
    (["train", "--resume", "{root}/run"], ["--resume {root}/run is a folder", "{root}/run/last.pt"]),
    (["evaluate", "--checkpoint", "{root}/run"], ["--checkpoint {root}/run is a folder", "--run-dir"]),
    (["simulate", "--run-dir", "{root}/afile"], ["--run-dir {root}/afile is a file, not a run folder"]),
    (["evaluate", "--run-dir", "{root}/run", "--batch-size", "0"], ["--batch-size must be >= 1, got 0"]),
    (["evaluate", "--run-dir", "{root}/run", "--output", "runoff"],
     ["--output: 'runoff' is not an output of the checkpoint's physics 'train_toy'; valid: streamflow, AET"]),
    (["simulate", "--run-dir", "{root}/run", "--batch-size", "-1"], ["--batch-size must be >= 1, got -1"]),
    (["simulate", "--run-dir", "{root}/run", "--state-time-step", "0", "--save-state", "{root}/st"],
     ["--state-time-step must be a whole number of hours dividing 86400 s"]),
    (["make-sample-data", "--out", "{root}/s.nc", "--basins", "0"],
     ["--basins must be a whole number in 1..13,698, got 0"]),
    (["make-sample-data", "--out", "{root}/s.nc", "--years", "0"],
     ["--years must be a whole number in 1..200, got 0"]),
    (["make-sample-data", "--out", "{root}/s.nc", "--noise", "nan"],
     ["--noise must be in 0..2 (log-normal sigma of the flow noise), got nan"]),
    (["make-sample-data", "--out", "{root}/s.nc", "--seed", "-3"], ["--seed must be >= 0, got -3"]),
    (["make-sample-data", "--out", "{root}"], ["--out {root} is a folder: give a file name"]),
    (["make-sample-data", "--kind", "crop", "--out", "{root}/s.nc", "--pcse-dir", "{root}/afile"],
     ["--pcse-dir {root}/afile is not a folder"]),
    (["quickstart", "--out", "{root}/q", "--basins", "1"], ["--basins must be >= 2, got 1"]),
])
def test_missing_misplaced_and_non_positive(trained, capsys, argv, needles):
    root = str(trained)
    fails(capsys, [a.format(root=root) for a in argv], *[n.format(root=root) for n in needles])
    assert not (trained / "s.nc").exists() and not (trained / "q").exists() and not (trained / "st").exists()


@pytest.mark.parametrize("argv, key", [
    (["train", "--config", "{root}/cfg.yaml", "--set", "run.exact_dir={out}"], "run.exact_dir"),
    (["train", "--config", "{root}/cfg.yaml", "--set", "run.exact_dir=null", "--set", "run.run_dir={out}"],
     "run.run_dir"),
    (["evaluate", "--run-dir", "{root}/run", "--no-plots", "--out", "{out}"], "--out"),
    (["simulate", "--run-dir", "{root}/run", "--out", "{out}"], "--out"),
    (["quickstart", "--out", "{out}", "--basins", "4"], "--out"),
    (["make-sample-data", "--out", "{out}/twin.nc", "--basins", "2", "--years", "1"], "--out"),
])
@pytest.mark.parametrize("where", ["file/sub", "/proc"])
def test_unwritable_output_folders(trained, capsys, argv, key, where):
    """A regular file in the output path, and /proc (where even root cannot create a file)."""
    out = f"{trained}/afile/sub" if where == "file/sub" else "/proc/dmg_bmi_out"
    err = fails(capsys, [a.format(root=trained, out=out) for a in argv], f"{key}: cannot write in {out}")
    assert (f"{trained}/afile is not a folder" if where == "file/sub" else "(in /proc)") in err
    assert not (trained / "sim").exists()


@pytest.mark.parametrize("option", ["--save-state", "--initial-state"])
def test_state_files_of_a_domain_without_them_are_refused_before_the_run(trained, capsys, option):
    """The toy physics runs on the core's delta-model path, which has no BMI state files (hydrology's:
    tests/test_train_state.py): the option is refused before anything is simulated or written."""
    argv = ["simulate", "--run-dir", trained / "run", "--out", trained / "sim", option, trained / "st"]
    fails(capsys, argv, f"{option}: the delta model domain has no BMI state files")
    assert not (trained / "sim").exists() and not (trained / "st").exists()


def test_os_errors_of_other_verbs_are_one_line(trained, tmp_path, capsys):
    """bmi-config writes where a file stands: the CLI names the file instead of a traceback."""
    table = tmp_path / "attrs.csv"
    table.write_text("id,area_km2,latitude,a1,a2\ncat-1,10,40,0.5,0.5\n", encoding="utf-8")
    for out in (trained / "afile", trained / "afile" / "sub"):
        fails(capsys, ["bmi-config", "--attributes", table, "--checkpoint", trained / "run" / "last.pt",
                       "--start", "2001-01-01", "--end", "2001-01-02", "--out", out],
              f"error: {out}: ", f"{trained / 'afile'} is a file, not a folder")


def test_a_full_disk_mid_run_is_an_error_and_leaves_no_partial_file(trained, tmp_path):
    """A file-size limit stands in for a full disk: the checkpoint write fails after the config is written."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))

    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import train_toy; "
            "from dmg_bmi.cli import main; sys.exit(main(sys.argv[1:]))")
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", code, "train", "--config", str(trained / "cfg.yaml"),
                           "--set", f"run.exact_dir={run}"], capture_output=True, text=True, timeout=300,
                          preexec_fn=limit, cwd=REPO, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "File too large" in last and "Traceback" not in proc.stderr
    assert not run.exists()  # failed before its first last.pt: no config, log, .pt or temp file left


def test_a_full_disk_never_leaves_half_a_log_row(tmp_path):
    """train_log.csv is rewritten atomically: a row that does not fit leaves the rows before it, whole."""
    code = (
        "import os, resource, signal, sys\n"
        "from dmg_bmi.core.train.rundir import CsvLog\n"
        "log = CsvLog(sys.argv[1])\n"
        "log.append(epoch=1, loss='0.5', lr='0.01', skipped_batches=0, seconds='1.00')\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "size = os.path.getsize(sys.argv[1]) + 10\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))\n"
        "log.append(epoch=2, loss='0.25', lr='0.01', skipped_batches=0, seconds='1.00')\n"
    )
    log = tmp_path / "train_log.csv"
    proc = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "File too large" in proc.stderr
    assert log.read_text(encoding="utf-8").splitlines() == [
        "epoch,loss,lr,skipped_batches,seconds,val_loss,val_nse,val_kge", "1,0.5,0.01,0,1.00,,,"]
    assert [p.name for p in tmp_path.iterdir()] == ["train_log.csv"]
