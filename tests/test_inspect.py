"""`dmg-bmi inspect CHECKPOINT`: what a checkpoint needs and gives, as text and as JSON, on every shipped
checkpoint (untrained demo, trained quickstart δHBV, δWOFOST crop) and on one that records its skill."""

from __future__ import annotations

import json

import pytest
from conftest import REPO

from dmg_bmi.attributes import parameter
from dmg_bmi.cli import main
from dmg_bmi.core import variables as V
from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.domains.crop.variables import OUTPUT_NAMES as CROP_OUTPUT_NAMES
from dmg_bmi.ngen.checkpoint_info import describe
from dmg_bmi.ngen.demo import make_demo_checkpoint
from dmg_bmi.ngen.needs import needed_inputs

SHIPPED = REPO / "bmi_configs"
P = "atmosphere_water__liquid_equivalent_precipitation_rate"
T = "land_surface_air__temperature"


def inspect(capsys, *args) -> str:
    assert main(["inspect", *map(str, args)]) == 0
    return capsys.readouterr().out


def line(text: str, start: str) -> str:
    """The first line of `text` that starts with `start` (after leading spaces)."""
    return next(ln for ln in text.splitlines() if ln.lstrip().startswith(start))


def test_demo_checkpoint(capsys):
    out = inspect(capsys, SHIPPED / "demo_hbv11p.pt")
    assert line(out, "physics").startswith("physics      hbv_1_1p: HBV 1.1p")
    assert "dynamic parameters: parBETA, parK0, parBETAET" in out
    assert "LSTM hidden 64; static head MLP 2 x 64" in out
    assert line(out, P).split()[1:] == ["mm", "s-1", "precip_rate,", "RAINRATE"]
    assert line(out, T).split()[1] == "K"
    inputs = out.split("\ninputs")[1].split("\nderivation")[0].splitlines()[1:]
    assert len(inputs) == 2  # Hamon PET: precipitation and temperature only
    assert "PET method hamon" in line(out, "derivation")
    assert line(out, "p_mean").split() == ["p_mean", "mm", "d-1", "network", "mean", "3.3,", "std", "1.5"]
    assert line(out, "area_km2").split()[2:] == ["config", "key", "(runoff", "volume", "flux)"]
    assert line(out, "land_surface_water__runoff_depth").split()[1] == "m"
    assert "note untrained demo checkpoint" in out
    assert line(out, "skill") == "skill        not recorded"


def test_quickstart_checkpoint(capsys):
    out = inspect(capsys, SHIPPED / "quickstart_hbv11p.pt")
    assert "LSTM not built (no dynamic parameters)" in out
    assert "train 2000-01-01..2003-12-31, test 2004-01-01..2005-12-31" in line(out, "training")
    ckpt = load_checkpoint(SHIPPED / "quickstart_hbv11p.pt")
    training = ckpt.training
    assert f"basins {len(training['basins'])}, epoch {training['epoch']}" in out and "loss nse_batch" in out
    assert f"median_nse {training['skill']['median_nse']}" in line(out, "skill")
    area = ckpt.normalization.stats["area_km2"]
    assert f"config key (runoff volume flux), network  mean {area.mean:.6g}, std {area.std:.6g}" in out
    names = [ln.split()[0] for ln in out.split("\nattributes")[1].split("\ntraining")[0].splitlines()[1:]]
    assert names == ["area_km2", "latitude", *[n for n in ckpt.nn_attributes if n != "area_km2"]]


def test_crop_checkpoint(capsys):
    out = inspect(capsys, SHIPPED / "crop_twin_wofost72.pt")
    assert "crop (δWOFOST)" in line(out, "checkpoint")
    assert "Potato Potato_twin" in out and "TSUM1 factor 0.4..1.6" in out
    assert "weather: method aorc_hourly_to_wofost_daily, et0_method penman" in out
    assert line(out, "crop_storage-organ__dry_mass-per-area_density").split()[1:] == ["kg", "ha-1"]
    assert "land_surface_water__runoff_depth" not in out
    assert line(out, "lat ").split()[2:4] == ["network,", "physics"]
    assert "area_km2" not in out  # a field needs no area
    assert "fields 96, test_fields 24" in out
    assert line(out, "skill").endswith("not recorded")


def test_json_matches_the_checkpoint(capsys):
    path = SHIPPED / "crop_twin_wofost72.pt"
    info = json.loads(inspect(capsys, path, "--json"))
    assert info == json.loads(json.dumps(describe(path)))
    assert [i["name"] for i in info["inputs"]] == list(needed_inputs(path))
    assert all(i["units"] == V.BY_NAME[i["name"]].units for i in info["inputs"])
    assert [o["name"] for o in info["outputs"]] == list(CROP_OUTPUT_NAMES)
    assert info["skill"] == "not recorded" and info["training"]["kind"] == "crop"


def test_pet_forcing_and_recorded_skill(tmp_path, capsys):
    path = make_demo_checkpoint(tmp_path / "pet.pt", nmul=2, hidden=8, pet_method="forcing")
    ckpt = load_checkpoint(path)
    skill = {"period": "2005-10-01..2013-09-30", "basins": 8, "median_nse": 0.7}
    ckpt.training = {"note": "x", "skill": skill}
    ckpt.save(path)
    out = inspect(capsys, path)
    assert line(out, "water_potential_evaporation_flux").split()[1:4] == ["mm", "h-1", "PET_hargreaves,"]
    assert "PET method forcing" in out
    assert "latitude" not in out  # PET comes as an input: the BMI needs no latitude
    assert line(out, "skill") == "skill        period 2005-10-01..2013-09-30, basins 8, median_nse 0.7"
    info = json.loads(inspect(capsys, path, "--json"))
    assert info["skill"]["median_nse"] == 0.7


def test_missing_checkpoint_is_an_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.pt")]) == 2
    assert "error: checkpoint not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["inspect"])  # the checkpoint is required


@pytest.mark.parametrize("name", ["dhbv_camels8.pt", "quickstart_hbv11p.pt", "demo_hbv11p.pt",
                                  "crop_twin_wofost72.pt"])
def test_attribute_units_are_the_dataset_tables(name):
    """Each attribute inspect shows is in the units of the dataset variables table, which the training data
    were converted to (sand_frac in percent, was "1"); names the table lacks are "1"."""
    from dmg_bmi.data.variables import dataset_variables
    from dmg_bmi.domains import merged

    rows = {a["name"]: a["units"] for a in describe(SHIPPED / name)["attributes"]}
    for attr, units in rows.items():
        table = dataset_variables().get(attr)
        known = merged("parameter_units", V.SITE_PARAMETER_UNITS)
        expected = table.units if table else known.get(attr, "1")
        assert units.replace("degree_", "degrees_") == expected.replace("degree_", "degrees_"), attr
    if name == "dhbv_camels8.pt":
        assert {k: rows[k] for k in ("sand_frac", "silt_frac", "clay_frac", "soil_conductivity",
                                     "high_prec_freq", "low_prec_dur", "lai_max", "geol_permeability")} == {
            "sand_frac": "percent", "silt_frac": "percent", "clay_frac": "percent",
            "soil_conductivity": "cm h-1", "high_prec_freq": "d yr-1", "low_prec_dur": "d",
            "lai_max": "m2 m-2", "geol_permeability": "log10(m2)"}
    if name == "quickstart_hbv11p.pt":
        assert rows["sand_frac"] == "percent" and rows["permeability"] == "1"
    assert parameter("sand_frac").units == "percent"  # the BMI's get_var_units says the same
