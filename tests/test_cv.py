"""`dmg-bmi cv`: spatial k-fold cross-validation: folds, one run per fold, pooled out-of-fold scores,
continuing a stopped cross-validation, parallel folds, and named errors."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import yaml
from train_toy import toy_config, toy_dataset

from dmg_bmi.cli import main
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.train.cv import assign_folds, trained_scores
from dmg_bmi.train.simulate import read_netcdf


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return toy_dataset(n_basins=6, days=500).save(tmp_path_factory.mktemp("data") / "toy.nc")


def _config(toy_path, tmp_path, **data) -> str:
    raw = toy_config(toy_path, tmp_path / "runs", epochs=2)
    raw["data"].update(data)
    path = tmp_path / "cv.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _rows(path):
    return list(csv.DictReader(open(path, encoding="utf-8")))


def test_three_folds_pool_the_held_out_basins(toy_path, tmp_path, capsys):
    out = tmp_path / "cv"
    assert main(["cv", "--config", _config(toy_path, tmp_path), "--folds", "3", "--seed", "1",
                 "--out", str(out)]) == 0
    folds = {r["basin"]: int(r["fold"]) for r in _rows(out / "folds.csv")}
    assert sorted(folds) == [f"b{i}" for i in range(6)] and sorted(folds.values()) == [0, 0, 1, 1, 2, 2]
    pooled = {r["basin"]: r for r in _rows(out / "cv_metrics.csv")}
    assert sorted(pooled) == sorted(folds)
    sim, units = read_netcdf(out / "cv_simulation.nc")
    assert units["streamflow"] == "mm d-1"
    for i in range(3):
        held = {b for b, f in folds.items() if f == i}
        ckpt = load_checkpoint(out / f"fold_{i}" / "best.pt")
        assert set(ckpt.training["basins"]) == set(folds) - held  # never trained on its test basins
        rows = {r["basin"]: r for r in _rows(out / f"fold_{i}" / "test_metrics.csv")}
        assert {b for b, r in rows.items() if r["role"] == "held-out"} == held
        fold_sim, _ = read_netcdf(out / f"fold_{i}" / "test_simulation.nc")
        for b in held:  # the pooled row and series of a basin are its own fold's
            assert int(pooled[b]["fold"]) == i and pooled[b]["role"] == "held-out"
            assert pooled[b]["nse"] == rows[b]["nse"]
            np.testing.assert_array_equal(sim.outputs["streamflow"][sim.basins.index(b)],
                                          fold_sim.outputs["streamflow"][fold_sim.basins.index(b)])
    assert str(sim.dates[0]) == "2001-01-01" and str(sim.dates[-1]) == "2001-05-14"  # data.test
    printed = capsys.readouterr().out
    median = np.median([float(r["nse"]) for r in pooled.values()])
    assert f"{median:8.3f}" in printed.split("median")[1].splitlines()[0]
    assert (out / "cv_summary.txt").read_text().count("\n") > 10
    assert (out / "skill_cdf.png").is_file() and (out / "hydrographs").is_dir()
    # the CDF's second line: each basin's median score from the 2 folds that trained on it
    trained = {r["basin"]: r for r in trained_scores(out, 3)}
    assert sorted(trained) == sorted(folds) and {r["role"] for r in trained.values()} == {
        "train (median of 2 folds)"}
    for b, r in trained.items():
        scores = [float(row["nse"]) for i in range(3) if i != folds[b]
                  for row in _rows(out / f"fold_{i}" / "test_metrics.csv") if row["basin"] == b]
        assert len(scores) == 2 and r["nse"] == pytest.approx(np.median(scores), rel=1e-12)

    # a second call continues: finished folds are kept, a fold without its scores is scored again
    before = (out / "cv_metrics.csv").read_text()
    (out / "fold_1" / "test_metrics.csv").unlink()
    assert main(["cv", "--config", _config(toy_path, tmp_path), "--out", str(out), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "fold 0: done earlier" in printed and "fold 2: done earlier" in printed
    assert "nothing to train" in printed  # fold 1 had finished training: only scored again
    assert (out / "cv_metrics.csv").read_text() == before


def test_folds_file_and_scores_over_the_validation_period(toy_path, tmp_path, capsys):
    given = tmp_path / "myfolds.csv"
    given.write_text("basin,fold\nb0,0\nb1,0\nb2,0\nb3,1\nb4,1\nb5,1\n")
    out = tmp_path / "cv"
    config = _config(toy_path, tmp_path, train={"start": "2000-01-01", "end": "2000-08-31"},
                     valid={"start": "2000-09-01", "end": "2000-12-31"})
    assert main(["cv", "--config", config, "--folds-file", str(given), "--out", str(out), "--no-plots"]) == 0
    assert set(load_checkpoint(out / "fold_0" / "best.pt").training["basins"]) == {"b3", "b4", "b5"}
    held = [r for i in (0, 1) for r in _rows(out / f"fold_{i}" / "valid_metrics.csv")
            if r["role"] == "held-out"]
    assert sorted(r["basin"] for r in held) == [f"b{i}" for i in range(6)]
    summary = capsys.readouterr().out.split("over data.valid")[1]
    pooled = next(line for line in summary.splitlines() if line.strip().startswith("all"))
    assert float(pooled.split()[2]) == pytest.approx(np.median([float(r["nse"]) for r in held]), abs=5e-4)
    assert assign_folds(["a", "b", "c"], 3, 0).keys() == {"a", "b", "c"}
    assert sorted(assign_folds(["a", "b", "c"], 3, 0).values()) == [0, 1, 2]  # one basin per fold


@pytest.mark.parametrize(("args", "folds_text", "data", "match"), [
    (["--folds", "1"], None, {}, r"--folds: 1 folds of 6 basins; give 2\.\.6"),
    (["--folds", "7"], None, {}, r"--folds: 7 folds of 6 basins"),
    (["--folds", "2", "--folds-file", "F"], "basin,fold\n", {}, r"not both"),
    ([], None, {}, r"cv needs --folds K or --folds-file F"),
    (["--folds", "2", "--jobs", "0"], None, {}, r"--jobs must be >= 1"),
    (["--folds-file", "F"], "basin,fold\nb0,0\nb1,1\nb2,1\nb3,1\nb4,1\n", {}, r"without a fold: \['b5'\]"),
    (["--folds-file", "F"], "basin,fold\nb0,0\nb1,1\nb2,1\nb3,1\nb4,1\nb5,1\nzz,0\n", {},
     r"not in the data: \['zz'\]"),
    (["--folds-file", "F"], "basin,fold\nb0,0\nb0,1\n", {}, r"line 3: basin 'b0' is listed twice"),
    (["--folds-file", "F"], "basin,fold\nb0,0\nb1,2\nb2,2\nb3,2\nb4,2\nb5,2\n", {}, r"must be 0\.\.k-1"),
    (["--folds-file", "F"], "basin,fold\nb0,x\n", {}, r"line 2: fold 'x' of basin 'b0' is not a whole"),
    (["--folds", "2"], None, {"valid_basins": ["b1"]}, r"data\.valid_basins: cross-validation picks"),
])
def test_named_errors(toy_path, tmp_path, capsys, args, folds_text, data, match):
    if folds_text is not None:
        (tmp_path / "F").write_text(folds_text)
        args = [str(tmp_path / "F") if a == "F" else a for a in args]
    assert main(["cv", "--config", _config(toy_path, tmp_path, **data), "--out", str(tmp_path / "cv"),
                 *args]) == 2
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "cv" / "fold_0").exists()


def test_another_split_into_the_same_folder_is_refused(toy_path, tmp_path, capsys):
    out = tmp_path / "cv"
    out.mkdir()
    (out / "folds.csv").write_text("basin,fold\nb0,0\nb1,0\nb2,0\nb3,1\nb4,1\nb5,1\n")
    assert main(["cv", "--config", _config(toy_path, tmp_path), "--folds", "3", "--out", str(out)]) == 2
    assert "holds the folds of an earlier cross-validation" in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_folds_on_the_hydrology_twin(tmp_path, capsys):
    """Two folds in two processes (`--jobs 2`) on HBV: each writes its log and its scores."""
    from dmg_bmi.domains.hydrology.twin import write_twin

    data = write_twin(tmp_path / "twin.nc", n_basins=6, years=2, seed=0)
    raw = yaml.safe_load(open("dmg_bmi/configs/quickstart.yaml", encoding="utf-8"))
    raw["data"].update(path=str(data), train={"start": "2000-01-01", "end": "2000-12-31"},
                       test={"start": "2001-01-01", "end": "2001-12-31"})
    raw["model"]["phy"]["warmup"] = 30
    raw["train"].update(epochs=1, iterations_per_epoch=2, batch_size=4, rho=60)
    raw["run"].update(run_dir=str(tmp_path / "runs"), progress=False)
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "cv"
    assert main(["cv", "--config", str(tmp_path / "q.yaml"), "--folds", "2", "--jobs", "2", "--out", str(out),
                 "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "fold 0: done" in printed and "fold 1: done" in printed
    for i in (0, 1):
        assert "epoch 1/1" in (out / f"fold_{i}.log").read_text()
    assert len(_rows(out / "cv_metrics.csv")) == 6
