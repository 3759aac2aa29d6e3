"""Crop twin: reproducible layout, plausible weather, smooth true parameters, sparse noisy observations."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dmg_bmi.cli import main
from dmg_bmi.domains.crop import twin as ct
from dmg_bmi.domains.crop.weather import WEATHER_NAMES
from dmg_bmi.errors import InputError


@pytest.fixture(scope="module")
def layout():
    return ct.make_layout(n_sites=6, fields_per_site=3, seed=3)


def test_layout_is_reproducible_and_valid(layout):
    again = ct.make_layout(n_sites=6, fields_per_site=3, seed=3)
    np.testing.assert_array_equal(again.weather, layout.weather)
    assert again.calendars == layout.calendars
    other = ct.make_layout(n_sites=6, fields_per_site=3, seed=4)
    assert not np.allclose(np.nan_to_num(other.weather), np.nan_to_num(layout.weather))
    layout.validate({c: {f"{c}_twin"} for c in ct.CROPS}, attributes=("lat", "soil_index", "crop_potato"))
    assert layout.n_fields == 18 and len(set(layout.sites)) == 6
    # every field's day axis starts on its crop start date
    np.testing.assert_array_equal(layout.start_index(), 0)


def test_fields_of_a_site_share_site_attributes(layout):
    a = layout.attribute_array(["lat", "cultivar_index", "true_factor_TSUM1"])
    for site in set(layout.sites):
        rows = a[layout.sites == site]
        assert np.allclose(rows, rows[0])


def test_crop_one_hot_matches_calendar(layout):
    onehot = layout.attribute_array(["crop_grain_maize", "crop_spring_barley", "crop_potato"])
    np.testing.assert_array_equal(onehot.sum(1), 1.0)
    names = np.array(["Grain maize", "Spring barley", "Potato"])
    assert [c.crop_name for c in layout.calendars] == list(names[onehot.argmax(1)])


def test_weather_is_plausible(layout):
    w = {n: layout.weather_array([n])[..., 0] for n in WEATHER_NAMES}
    ok = np.isfinite(w["TMIN"])
    assert np.all(w["TMIN"][ok] < w["TMAX"][ok])
    assert 0 < np.nanmean(w["TMIN"]) < 20 and 10 < np.nanmean(w["TMAX"]) < 30
    assert 5e6 < np.nanmean(w["IRRAD"]) < 3e7 and np.nanmax(w["IRRAD"]) < 3.6e7
    assert np.all(w["RAIN"][ok] >= 0) and 0.05 < np.nanmean(w["RAIN"]) < 0.4
    assert np.all(w["E0"][ok] >= w["ES0"][ok]) and 0.1 < np.nanmean(w["ET0"]) < 0.6


def test_true_factors_are_smooth_functions_of_attributes():
    attrs = {"lat": np.array([48.0, 48.0, 58.0]), "elev": np.array([0.0, 800.0, 0.0]),
             "cultivar_index": np.array([0.0, 1.0, 0.5]), "soil_index": np.array([1.0, 0.0, 0.5]),
             "seed_index": np.array([0.5, 0.5, 1.0])}
    f = ct.true_factors(attrs)
    np.testing.assert_allclose(f["TSUM1"], [0.8, 1.2, 1.04])
    np.testing.assert_allclose(f["SPAN"], [1.25, 0.75, 1.0])
    np.testing.assert_allclose(f["TDWI"], [1.0, 0.9, 1.5])


def test_observations_are_sparse_and_noisy():
    rng = np.random.default_rng(0)
    t = np.arange(120.0)
    truth = {"LAI": np.tile(np.sin(t / 40) + 1.5, (2, 1)), "DVS": np.tile(t / 60, (2, 1)),
             "TAGP": np.tile(100 * t, (2, 1)), "TWSO": np.tile(20 * t, (2, 1))}
    obs = ct.sample_observations(rng, truth, np.array([0, 0]), np.array([99, 119]))
    lai = obs[..., ct.OBSERVED.index("LAI")]
    seen = np.isfinite(lai)
    assert 5 <= seen[0].sum() <= 14 and not seen[0, 100:].any()
    ratio = lai[seen] / truth["LAI"][seen]
    assert 0.05 < np.std(np.log(ratio)) < 0.3
    twso = obs[..., ct.OBSERVED.index("TWSO")]
    assert np.isfinite(twso[0, 99]) and np.isfinite(twso[1, 119])  # TWSO always observed on the last day
    assert np.isfinite(twso).sum() < 0.1 * twso.size


def test_unknown_crop_is_refused():
    with pytest.raises(InputError, match=r"unknown crop\(s\) \['Rice'\]"):
        ct.make_layout(n_sites=1, crops=("Rice",))


@pytest.mark.slow
def test_simulated_twin_round_trip(tmp_path):
    """A small twin simulated with WOFOST: observations follow the truth, true parameters are recorded."""
    from conftest import pcse_own_dir

    pcse = pcse_own_dir()
    ds = ct.make_crop_twin(tmp_path / "twin.nc", pcse, n_sites=2, fields_per_site=2, seed=1)
    back = ct.CropDataset.load(tmp_path / "twin.nc")
    assert back.obs_names == ct.OBSERVED and back.n_fields == 4
    sets = ct.parameter_sets(tuple(ct.CROPS), pcse)
    base = np.array([sets[c.crop_name][c.variety_name]["TSUM1"] for c in ds.calendars])
    np.testing.assert_allclose(ds.attribute_array(["true_TSUM1"])[:, 0],
                               base * ds.attribute_array(["true_factor_TSUM1"])[:, 0])
    twso = back.observation_array(["TWSO"])[..., 0]
    assert np.all(np.nanmax(twso, axis=1) > 1000)  # every field has a final yield observation (kg ha-1)
    dvs = back.observation_array(["DVS"])[..., 0]
    assert np.nanmax(dvs) > 1.0 and np.all(np.isfinite(dvs).sum(1) >= 5)


@pytest.mark.slow
def test_cli_make_sample_data_crop(tmp_path, capsys):
    from conftest import pcse_own_dir

    from dmg_bmi.cli import main

    pcse = pcse_own_dir()
    out = tmp_path / "crop.nc"
    assert main(["make-sample-data", "--kind", "crop", "--sites", "1", "--out", str(out),
                 "--pcse-dir", str(pcse)]) == 0
    assert "3 crop fields" in capsys.readouterr().out
    assert ct.CropDataset.load(out).n_fields == 3


@pytest.mark.parametrize("argv, match", [
    (["--kind", "hydro", "--heat-stress"], r"--heat-stress is an option of --kind crop; this is --kind "
                                           r"hydro"),
    (["--kind", "hydro", "--daily-amax"], r"--daily-amax is an option of --kind crop"),
    (["--kind", "crop", "--abstraction", "0.5"], r"--abstraction is an option of --kind hydro; this is "
                                                 r"--kind crop, whose twin would ignore it"),
])
def test_an_option_of_the_other_twin_is_refused(tmp_path, capsys, argv, match):
    assert main(["make-sample-data", *argv, "--out", str(tmp_path / "t.nc")]) == 2
    assert re.search(match, capsys.readouterr().err)
    assert not (tmp_path / "t.nc").exists()


def test_the_default_pcse_dir_is_named_as_the_default(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["make-sample-data", "--kind", "crop", "--sites", "1", "--out", "t.nc"]) == 2
    err = capsys.readouterr().err
    assert f"--pcse-dir ../shared/data/pcse_wofost72_pp (the default, from {tmp_path}) is not a folder" in err
