"""DeltaModelBmi inputs: it declares only the forcings its checkpoint reads, the others stay settable and are
ignored (also their NaN), declared inputs start unset, and the ngen-like driver feeds only declared inputs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, shared_path
from ngen_driver import _Module, read_forcing
from test_bmi import PRECIP, RUNOFF, TEMP, synthetic, write_config

from dmg_bmi.bmi import DeltaModelBmi
from dmg_bmi.core import variables as V
from dmg_bmi.domains.crop.weather import AORC_INPUTS
from dmg_bmi.errors import InputError

pytestmark = pytest.mark.numpy1

PET_IN = "water_potential_evaporation_flux"
PET_OUT = "land_surface_water_evapotranspiration__potential_volume_flux"
LW = "land_surface_radiation~incoming~longwave__energy_flux"
WIND = "land_surface_wind__x_component_of_velocity"
CROP = REPO / "bmi_configs" / "crop_twin.yml"
QUICKSTART = REPO / "bmi_configs" / "quickstart.yml"


def make(folder: Path, ckpt: Path, **over) -> DeltaModelBmi:
    bmi = DeltaModelBmi()
    bmi.initialize(str(write_config(folder, ckpt, **over)))
    return bmi


def crop(folder: Path) -> DeltaModelBmi:
    cfg = yaml.safe_load(CROP.read_text(encoding="utf-8"))
    cfg["checkpoint"] = str(CROP.parent / cfg["checkpoint"])
    path = folder / "crop.yml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    bmi = DeltaModelBmi()
    bmi.initialize(str(path))
    return bmi


def every_forcing(n: int) -> dict[str, np.ndarray]:
    """All 9 known forcings (the 8 AORC fields of `synthetic` and a PET rate, mm h-1)."""
    return {**synthetic(n), PET_IN: np.full(n, 0.1)}


def step(bmi: DeltaModelBmi, forcing: dict[str, np.ndarray], k: int, names=None) -> None:
    for name in bmi.get_input_var_names() if names is None else names:
        bmi.set_value(name, forcing[name][k : k + 1])
    bmi.update()


def test_declared_inputs_are_what_the_checkpoint_reads(tmp_path, hamon_ckpt, pet_ckpt):
    expected = {hamon_ckpt: (PRECIP, TEMP), pet_ckpt: (PRECIP, TEMP, PET_IN)}
    for ckpt, names in expected.items():
        bmi = make(tmp_path, ckpt)
        assert bmi.get_input_var_names() == names and bmi.get_input_item_count() == len(names)
        step(bmi, every_forcing(1), 0)
        assert bmi._adapter.names == names and bmi._adapter.ring.shape == (24, len(names))  # the record ring
    field = crop(tmp_path)
    assert field.get_input_var_names() == tuple(n for n in V.INPUT_NAMES if n in AORC_INPUTS)
    assert field.get_input_item_count() == 7 and LW not in field.get_input_var_names()
    step(field, every_forcing(1), 0)
    assert field._adapter.ring.shape == (24, 7)


def test_component_name_describes_the_checkpoint(tmp_path, hamon_ckpt):
    assert "hbv_1_1p" in make(tmp_path, hamon_ckpt).get_component_name()
    name = crop(tmp_path).get_component_name()
    assert "wofost72_pp" in name and "crop" in name and "HBV" not in name and "hbv" not in name


def test_other_forcings_are_settable_but_never_read(tmp_path, hamon_ckpt):
    """ngen (or a user) may set every AORC field: the ones a Hamon checkpoint does not read change nothing."""
    f = every_forcing(30)
    junk = {name: np.where(np.arange(30) % 7 == 3, np.nan, 1e9) for name in V.INPUT_NAMES
            if name not in (PRECIP, TEMP)}
    (tmp_path / "a").mkdir()
    lean, full = make(tmp_path / "a", hamon_ckpt), make(tmp_path, hamon_ckpt)
    lw_ptr = full.get_value_ptr(LW)
    for k in range(30):
        step(lean, f, k)
        step(full, {**f, **junk}, k, names=V.INPUT_NAMES)
        assert full.get_value(RUNOFF, np.zeros(1))[0] == lean.get_value(RUNOFF, np.zeros(1))[0]
        assert full.get_value(PET_OUT, np.zeros(1))[0] == lean.get_value(PET_OUT, np.zeros(1))[0]
    assert lean.get_value(RUNOFF, np.zeros(1))[0] > 0
    assert full.get_value(WIND, np.zeros(1))[0] == 1e9 and lw_ptr[0] == 1e9  # stored, pointers live
    assert full.get_var_units(PET_IN) == "mm h-1" and full.get_var_units(LW) == "W m-2"


def test_first_update_names_every_input_never_set(tmp_path, hamon_ckpt):
    bmi = make(tmp_path, hamon_ckpt)
    assert np.isnan(bmi.get_value(TEMP, np.zeros(1))[0])  # unset, not 0 K
    with pytest.raises(InputError, match=rf"input\(s\) \['{PRECIP}', '{TEMP}'\] never set before "
                                         r"update\(\) at t=0 s.*variables_names_map"):
        bmi.update()
    bmi.set_value(PRECIP, np.array([0.0]))
    with pytest.raises(InputError, match=r"\['land_surface_air__temperature'\] never set"):
        bmi.update()
    bmi.set_value(TEMP, np.array([280.0]))
    bmi.update()
    assert bmi.get_current_time() == 3600.0
    field = crop(tmp_path)
    for name in V.INPUT_NAMES:  # a crop model needs more than precipitation and temperature
        if name not in AORC_INPUTS or name in (PRECIP, TEMP):
            field.set_value(name, np.array([1.0]))
    unset = [n for n in AORC_INPUTS if n not in (PRECIP, TEMP)]
    assert len(unset) == 5
    with pytest.raises(InputError, match=re.escape(f"{unset} never set")):
        field.update()
    assert field.get_current_time() == 0.0


def test_nan_set_is_not_unset(tmp_path, hamon_ckpt):
    """A NaN the framework sets is forcing (nan_policy applies), not a missing mapping."""
    bmi = make(tmp_path, hamon_ckpt)
    bmi.set_value(PRECIP, np.array([0.0]))
    bmi.set_value(TEMP, np.array([np.nan]))
    with pytest.raises(InputError, match=r"NaN forcing at t=0 s in \['land_surface_air__temperature'\]"):
        bmi.update()
    held = make(tmp_path, hamon_ckpt, nan_policy="hold_last")
    held.set_value(PRECIP, np.array([0.0]))
    held.set_value(TEMP, np.array([np.nan]))
    with pytest.raises(InputError, match=r"in \['land_surface_air__temperature'\] and no earlier value"):
        held.update()


def test_nan_in_an_unused_forcing_is_ignored(tmp_path):
    """Handed case nan_in_unused_forcing: a Hamon checkpoint never reads longwave, so NaN there (hour 5 with
    nan_policy error, hour 0 with hold_last) neither stops the run nor changes a number."""
    _, cols = read_forcing(shared_path("hydro", "hourly", "ngen_gauge_01073000", "forcing", "cat-11223.csv"))
    f = {V.AORC_FIELDS[k][0]: v[:30] for k, (v, _) in cols.items()}
    assert set(f) == {name for name, _ in V.AORC_FIELDS.values()}  # ngen sets all 8 AORC fields
    cfg = yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))
    cfg.update(checkpoint=str(QUICKSTART.parent / cfg["checkpoint"]), start_time="2015-12-01 00:00:00",
               end_time="2015-12-29 23:00:00")
    runs = {}
    for policy, hour in (("error", 5), ("hold_last", 0), ("error", None)):
        (tmp_path / "c.yml").write_text(yaml.safe_dump({**cfg, "nan_policy": policy}), encoding="utf-8")
        bmi = DeltaModelBmi()
        bmi.initialize(str(tmp_path / "c.yml"))
        g = {k: v.copy() for k, v in f.items()}
        if hour is not None:
            g[LW][hour] = np.nan
        out = []
        for k in range(30):
            step(bmi, g, k, names=g)
            out.append([bmi.get_value(n, np.zeros(1))[0] for n in (RUNOFF, PET_OUT, "snowpack__leq_depth")])
        runs[policy, hour] = np.array(out)
    clean = runs["error", None]
    assert clean[-1, 1] > 0 and clean.shape == (30, 3)
    np.testing.assert_array_equal(runs["error", 5], clean)
    np.testing.assert_array_equal(runs["hold_last", 0], clean)


def test_driver_sets_declared_inputs_through_the_names_map(tmp_path, pet_ckpt):
    """The ngen-like driver: a δHBV 2.0-layout forcing (P, T, PET_hargreaves) feeds a pet_method 'forcing'
    checkpoint only through variables_names_map; without it the run stops naming the input."""
    write_config(tmp_path, pet_ckpt)
    n = 48
    rng = np.random.default_rng(1)
    forcing = {"precip_rate": (rng.gamma(0.3, 0.5, n), "mm h-1"),
               "TMP_2maboveground": (275.0 + 5 * np.sin(np.arange(n) / 4), "K"),
               "PET_hargreaves": (np.full(n, 0.125), None), "DLWRF_surface": (np.full(n, np.nan), "W m-2")}
    params = {"python_type": "dmg_bmi.bmi.DeltaModelBmi", "init_config": "cfg.yml"}
    bare = _Module(params, {"id": "cat-1", "properties": {}}, tmp_path)
    with pytest.raises(RuntimeError, match=r"BMI input 'water_potential_evaporation_flux' .* is provided by "
                                           r"no forcing column.*variables_names_map"):
        bare.step(forcing, 0, 3600.0, {})
    mapped = _Module({**params, "variables_names_map": {PET_IN: "PET_hargreaves"}},
                     {"id": "cat-1", "properties": {}}, tmp_path)
    outputs: dict = {}
    for k in range(n):
        mapped.step(forcing, k, 3600.0, outputs)
    assert outputs[PET_OUT] == pytest.approx(0.125 * 24, rel=1e-12)  # mm h-1 -> mm d-1, not a method's PET
    assert outputs[RUNOFF] > 0
    bmi = mapped.bmi
    assert bmi.get_value(PRECIP, np.zeros(1))[0] == pytest.approx(forcing["precip_rate"][0][-1] / 3600.0)
    assert np.isnan(bmi.get_value(LW, np.zeros(1))[0])  # not declared: the driver never set it
