"""ModelHandler and HydrologyHandler: numpy path == torch path, shared weights per process, state arrays,
the core defaults a domain overrides, errors."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from dmg_bmi.core.checkpoint import load_checkpoint, save_checkpoint
from dmg_bmi.core.handler import ModelHandler
from dmg_bmi.domains.hydrology.handler import HydrologyHandler
from dmg_bmi.errors import CheckpointError, ConfigError, StateError
from dmg_bmi.ngen.demo import make_demo_checkpoint

pytestmark = pytest.mark.numpy1

ATTRS = {"p_mean": 3.5, "pet_mean": 2.2, "aridity": 0.63, "frac_snow": 0.18, "elev_mean": 37.7,
         "slope_mean": 4.75}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_demo_checkpoint(tmp_path_factory.mktemp("h") / "demo.pt", nmul=8, hidden=32)


def days(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    t = 5 + 10 * np.sin(np.arange(n) / 58.0) + rng.normal(0, 3, n)
    p = rng.gamma(0.5, 6.0, n) * (rng.random(n) < 0.5)
    return [{"P": p[i], "T": t[i], "PET": max(0.1, 2 + 0.2 * t[i]), "prcp": p[i], "tmean": t[i]}
            for i in range(n)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_path_equals_torch_path(tmp_path, dtype):
    """Both paths run float64 with the exact parameter bounds, whatever the checkpoint's dtype (a float32
    checkpoint's torch model once kept float32-rounded bounds: 1e-8 apart, and a hot start from a state the
    torch path described drifted the numpy BMI's mass balance by ~1e-10 m)."""
    rtol = 1e-10
    path = make_demo_checkpoint(tmp_path / f"{dtype}.pt", nmul=8, hidden=32, dtype=dtype)
    a = HydrologyHandler.load(path, backend="numpy")
    b = HydrologyHandler.load(path, backend="torch")
    for h in (a, b):
        h.set_attributes(ATTRS)
    for d in days(120):
        oa, ob = a.step(d), b.step(d)
        for k in oa:
            assert oa[k] == pytest.approx(ob[k], rel=rtol, abs=1e-12), k
    assert oa["runoff"] > 0 and oa["soil_moisture"] > 0
    ha = a.state_to_arrays(a.get_state())
    hb = b.state_to_arrays(b.get_state())
    assert set(ha) == set(hb)
    for k in ha:
        np.testing.assert_allclose(ha[k], hb[k], rtol=100 * rtol, atol=1e-12)
    state = b.state_from_arrays(ha)  # the numpy run's state, described by the torch path
    assert b.describe(state)["storage"] == pytest.approx(a.describe(a.get_state())["storage"], rel=1e-13)


def test_storage_balance_per_step(ckpt):
    h = HydrologyHandler.load(ckpt)
    h.set_attributes(ATTRS)
    s0 = h.describe(h.get_state())["storage"]
    total_in = total_out = total_leak = 0.0
    for d in days(200, seed=1):
        o = h.step(d)
        total_in += o["precip"]
        total_out += o["runoff"] + o["aet"]
        total_leak += o["leak"]
    assert s0 + total_in - total_out - total_leak == pytest.approx(o["storage"], abs=1e-9)


def test_weights_are_shared_and_second_instance_is_light(ckpt):
    first = HydrologyHandler.load(ckpt)
    first.set_attributes(ATTRS)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    second = HydrologyHandler.load(ckpt)
    second.set_attributes({**ATTRS, "aridity": 1.2})
    added = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert second.members[0].model is first.members[0].model  # one copy of the weights per process
    assert added < 1_000_000, f"second instance added {added} bytes"
    d = days(1)[0]
    assert first.step(d)["runoff"] != second.step(d)["runoff"]  # attributes are per instance


def test_state_arrays_round_trip(ckpt):
    h = HydrologyHandler.load(ckpt)
    h.set_attributes(ATTRS)
    seq = days(60, seed=2)
    for d in seq[:30]:
        h.step(d)
    arrays = h.state_to_arrays(h.get_state())
    rest = [h.step(d) for d in seq[30:]]
    h.set_state(h.state_from_arrays(arrays))
    again = [h.step(d) for d in seq[30:]]
    assert rest == again
    with pytest.raises(Exception, match="state arrays do not match"):
        h.state_from_arrays({"x": np.zeros(1)})


def test_ensemble_weights_and_errors(ckpt, tmp_path):
    other = make_demo_checkpoint(tmp_path / "o.pt", nmul=8, hidden=32, seed=5)
    ens = HydrologyHandler.load([ckpt, other], weights=[0.25, 0.75])
    singles = [HydrologyHandler.load(p) for p in (ckpt, other)]
    for h in (ens, *singles):
        h.set_attributes(ATTRS)
    for d in days(10):
        o = ens.step(d)
        s = [h.step(d) for h in singles]
    assert o["runoff"] == pytest.approx(0.25 * s[0]["runoff"] + 0.75 * s[1]["runoff"], rel=1e-12)
    with pytest.raises(ConfigError, match="2 weights for 1"):
        HydrologyHandler.load([ckpt], weights=[0.5, 0.5])
    with pytest.raises(ConfigError, match=r"missing attribute\(s\) \['slope_mean'\]"):
        HydrologyHandler.load(ckpt).set_attributes({k: v for k, v in ATTRS.items() if k != "slope_mean"})
    if torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'numpy' runs on the CPU only"):
            HydrologyHandler.load(ckpt, device="cuda", backend="numpy")
    else:
        with pytest.raises(ConfigError, match="torch sees no CUDA device"):
            HydrologyHandler.load(ckpt, device="cuda")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        HydrologyHandler.load(tmp_path / "nope.pt")


def test_incompatible_checkpoint_input(ckpt, tmp_path):
    """A checkpoint whose NN needs an input ngen's AORC forcing cannot provide is refused by name."""
    ck = load_checkpoint(ckpt)
    model = ck.build_model()
    norm = ck.normalization
    from dmg_bmi.core.normalization import Normalizer, VarStats

    stats = dict(norm.stats)
    stats["swe_obs"] = VarStats(0.0, 1.0)
    from dataclasses import replace

    model.cfg = replace(model.cfg, inputs=replace(model.cfg.inputs, forcings=["P", "T", "swe_obs"]))
    path = save_checkpoint(tmp_path / "bad.pt", model, Normalizer(stats), derivations=ck.derivations)
    with pytest.raises(CheckpointError, match="model input 'swe_obs' cannot be derived"):
        HydrologyHandler.load(path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_torch_path_equals_numpy(ckpt):
    a = HydrologyHandler.load(ckpt, device="cuda")
    b = HydrologyHandler.load(ckpt, backend="numpy")
    for h in (a, b):
        h.set_attributes(ATTRS)
    for d in days(30):
        oa, ob = a.step(d), b.step(d)
    assert oa["runoff"] == pytest.approx(ob["runoff"], rel=1e-9)


def test_fast_normalize_equals_normalizer(ckpt):
    h = HydrologyHandler.load(ckpt)
    m = h.members[0]
    norm = m.ckpt.normalization
    for row in ([3.0, -2.0, 1.5], [0.0, 25.0, 0.0], [12.5, np.nan, 4.0], [-1.0, 0.0, 0.0]):
        want = norm.transform(np.array([row]), m.ckpt.nn_forcings)
        np.testing.assert_allclose(m.normalize(list(row)), want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("method, extra", [
    ("hamon", ()), ("hargreaves", ()), ("forcing", ("water_potential_evaporation_flux",)),
    ("priestley_taylor", ("atmosphere_air_water~vapor__relative_saturation", "land_surface_air__pressure",
                          "land_surface_radiation~incoming~shortwave__energy_flux")),
])
def test_input_names_and_description_follow_the_checkpoint(tmp_path, method, extra):
    """The BMI inputs a checkpoint reads: P and T plus what its PET method needs (CSDMS names, in order)."""
    path = make_demo_checkpoint(tmp_path / f"{method}.pt", nmul=1, hidden=4, pet_method=method)
    h = HydrologyHandler.load(path)
    assert h.input_names == ("atmosphere_water__liquid_equivalent_precipitation_rate",
                             "land_surface_air__temperature", *extra)
    assert h.description == ("dmg_bmi DeltaModel: NN-parameterized hydrology (lstm_mlp -> hbv_1_1p; PET "
                             f"{method})")


def test_the_core_handler_gives_the_physics_own_outputs_and_bounds_nothing(ckpt):
    """The core defaults a domain overrides: the physics' raw outputs and states as basin means, any finite
    state number; HydrologyHandler names its outputs and keeps its water stores in 0..STORE_MAX_MM."""
    core, hydro = ModelHandler.load(ckpt), HydrologyHandler.load(ckpt)
    assert core.members[0].model is hydro.members[0].model  # one process cache, one model builder
    assert (core.fingerprint, core.input_names) == (hydro.fingerprint, hydro.input_names)
    assert core.description.startswith("dmg_bmi DeltaModel: NN-parameterized delta model (lstm_mlp -> hbv")
    for h in (core, hydro):
        h.set_attributes(ATTRS)
    for d in days(20, seed=3):
        raw, named = core.step(d), hydro.step(d)
    assert (raw["streamflow"], raw["AET"]) == (named["runoff"], named["aet"]) and named["runoff"] > 0
    assert core.describe(core.get_state())["SM"] == hydro.describe(hydro.get_state())["soil_moisture"]
    arrays = core.state_to_arrays(core.get_state())
    key = next(k for k in arrays if k.endswith("/SM"))
    arrays[key] = -1.0 - arrays[key]
    assert (core.state_from_arrays(arrays)[0]["phy"]["SM"] < 0).all()  # the core bounds no store
    with pytest.raises(StateError, match=rf"state array '{key}' holds -\d.* below its minimum 0\.0"):
        hydro.state_from_arrays(arrays)
    arrays[key][0, 0] = np.nan
    with pytest.raises(StateError, match=rf"state array '{key}' holds nan at flat index 0"):
        core.state_from_arrays(arrays)


def test_the_crop_handler_loads_through_the_shared_base(ckpt):
    """CropHandler reuses the core `Handler.load`: one process cache, the file's digest as fingerprint, and
    its refusals (ensembles, CUDA, the numpy backend, another domain's physics) named."""
    from dmg_bmi.domains.crop.handler import CropHandler

    crop = Path(__file__).resolve().parents[1] / "bmi_configs" / "crop_twin_wofost72.pt"
    a, b = CropHandler.load(crop), CropHandler.load([crop], device="auto", backend="torch")
    assert a.model is b.model and a.fingerprint == hashlib.sha256(crop.read_bytes()).hexdigest()
    with pytest.raises(ConfigError, match=r"members: a δWOFOST checkpoint runs alone, got 2 members"):
        CropHandler.load([crop, crop])
    with pytest.raises(ConfigError, match=r"device: a δWOFOST checkpoint runs on the CPU, got 'cuda'"):
        CropHandler.load(crop, device="cuda")
    with pytest.raises(ConfigError, match=r"backend: 'numpy' is not one of \['auto', 'torch'\]"):
        CropHandler.load(crop, backend="numpy")
    with pytest.raises(CheckpointError, match=r"demo\.pt: physics 'hbv_1_1p' is not one CropHandler runs "
                                              r"\(wofost72_pp\)"):
        CropHandler.load(ckpt)
