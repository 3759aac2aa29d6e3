"""HBV multimodel (`hbv_multimodel`, issue 14 modality 4): HBV variants mixed by learned softmax weights.

The mixture is its members (one member's weight ~1 gives that variant alone), step == sequence, the balance
closes with the reweighting term, the contributions sum to the streamflow; config errors; training, simulate
and inspect on the twin; the BMI (numpy and torch) equals the offline run, publishes weights and
contributions, and closes ngen's mass balance, in bmi-tester, a hot start and the real ngen."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO
from test_bmi import ATTRS, make, offline_daily, set_inputs, synthetic
from test_bmi_tester import run_bmi_tester_on_example
from train_toy import toy_config

from dmg_bmi.cli import main
from dmg_bmi.core.config import ModelConfig, PhyConfig, from_dict
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.registry import get_physics
from dmg_bmi.errors import CheckpointError, ConfigError
from dmg_bmi.ngen.demo import make_demo_checkpoint
from dmg_bmi.train.config import load_experiment

MEMBERS = ("hbv_1_0", "hbv_1_1p", "hbv_2")
LOGITS = [f"logit_{n}" for n in MEMBERS]
MASS = ("ngen::mass_in", "ngen::mass_out", "ngen::mass_stored", "ngen::mass_leaked")
RUNOFF = "land_surface_water__runoff_depth"
SITE = {"area_km2": 900.0, "elevation_m": 2300.0}  # HBV 2.0's attributes (above 2000 m: its TT rule acts)


def forcing(n_t: int = 80, n_b: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    rain = torch.rand(n_t, n_b, generator=g, dtype=torch.float64)
    temp = 6 + 10 * torch.randn(n_t, n_b, generator=g, dtype=torch.float64)
    pet = 3 * torch.rand(n_t, n_b, generator=g, dtype=torch.float64)
    return torch.stack([25 * rain * (rain > 0.6), temp, pet], -1)  # P mm d-1, T degC, PET mm d-1


def attrs(n_b: int = 3) -> dict:
    return {"area_km2": torch.tensor([100.0, 3000.0, 800.0][:n_b], dtype=torch.float64),
            "elevation_m": torch.tensor([100.0, 2500.0, 800.0][:n_b], dtype=torch.float64)}


def delta(members=MEMBERS, warmup: int = 0, dynamic=("parBETA", *LOGITS), seed: int = 0) -> DeltaModel:
    cfg = from_dict(ModelConfig, {
        "phy": {"name": "hbv_multimodel", "nmul": 2, "dynamic_params": list(dynamic), "warmup": warmup,
                "warmup_mode": "trim", "options": {"members": list(members)}},
        "nn": {"name": "lstm_mlp", "hidden_size": 8, "mlp_hidden_size": 8, "mlp_layers": 1},
        "dtype": "float64"})
    torch.manual_seed(seed)
    return DeltaModel.from_config(cfg, 3, 2)


def run(model: DeltaModel, n_t: int = 80):
    g = torch.Generator().manual_seed(2)
    x_nn = torch.randn(n_t, 3, 3, generator=g, dtype=torch.float64)
    c_nn = torch.randn(3, 2, generator=g, dtype=torch.float64)
    return x_nn, c_nn, forcing(n_t)


# ------------------------------------------------------------------------------------------ physics
def test_one_member_with_all_the_weight_is_that_variant_alone():
    """Logits +20 / -20 (weight 1 - 2e-18): the mixture's outputs are HBV 1.0's, routing included."""
    cfg = PhyConfig(name="hbv_multimodel", nmul=2, warmup=0, options={"members": ["hbv_1_0", "hbv_2"],
                                                                      "logit_bound": 20.0})
    mix = get_physics("hbv_multimodel")(cfg)
    alone = get_physics("hbv_1_0")(PhyConfig(name="hbv_1_0", nmul=2, warmup=0))
    g = torch.Generator().manual_seed(3)
    params = {s.name: s.lo + (s.hi - s.lo) * torch.rand((3, 2) if s.per_member else (3,), generator=g,
                                                       dtype=torch.float64) for s in mix.param_specs()}
    params["logit_hbv_1_0"], params["logit_hbv_2"] = torch.full((3,), 20.0, dtype=torch.float64), \
        torch.full((3,), -20.0, dtype=torch.float64)
    x = forcing()
    with torch.no_grad():
        out, _ = mix(x, params, attrs())
        ref, _ = alone(x, {s.name: params[s.name] for s in alone.param_specs()})
    for name in ("streamflow", "srflow", "gwflow", "AET", "SM", "SLZ", "SWE"):
        np.testing.assert_allclose(out[name], ref[name], rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(out["streamflow_hbv_1_0"], ref["streamflow"], rtol=1e-12, atol=1e-12)
    assert float(out["streamflow_hbv_2"].abs().max()) < 1e-12
    assert float(ref["streamflow"].max()) > 1.0  # real flow


@pytest.mark.parametrize("warmup", [0, 7])
def test_step_equals_sequence_and_the_balance_closes_with_reweighting(warmup):
    model = delta(warmup=warmup)
    x_nn, c_nn, x_phy = run(model)
    a = attrs()
    with torch.no_grad():
        seq, _ = model(x_nn, c_nn, x_phy, a)
        state, steps = model.initial_state(3), []
        for t in range(x_nn.shape[0]):
            state, out = model.step(state, x_nn[t], c_nn, x_phy[t], a)
            steps.append(out)
        static = model.static_params(c_nn)
    stepped = {k: torch.stack([o[k] for o in steps]) for k in steps[0]}
    for name in model.output_names:
        assert float((stepped[name][warmup:] - seq[name]).abs().max()) <= 1e-6, name
    weights = torch.stack([stepped[f"weight_{n}"] for n in MEMBERS])
    np.testing.assert_allclose(weights.sum(0), 1.0, rtol=0, atol=1e-14)
    assert float(weights.std(1).max()) > 1e-3  # the weights vary in time (dynamic logits)
    contributions = sum(stepped[f"streamflow_{n}"] for n in MEMBERS)
    np.testing.assert_allclose(contributions, stepped["streamflow"], rtol=1e-12, atol=1e-14)
    phy = model.phy
    s0 = phy.storage(model.initial_state(3)["phy"])
    s1 = phy.storage(state["phy"]) + phy.routing_storage(state["phy"], static)
    total = {k: v.sum(0) for k, v in stepped.items()}
    residual = (s0 + x_phy[..., 0].sum(0) - total["AET"] - total["streamflow"] + total["clamp_gain"]
                + total["exchange"] + total["reweighting"] - s1)
    assert float(residual.abs().max()) < 1e-9, residual
    assert float(total["reweighting"].abs().max()) > 1e-3  # the term is there and not negligible


def test_static_logits_give_constant_weights():
    model = delta(dynamic=("parBETA",))
    x_nn, c_nn, x_phy = run(model, 30)
    with torch.no_grad():
        out, _ = model(x_nn, c_nn, x_phy, attrs())
    w = out["weight_hbv_2"]
    assert float((w - w[0]).abs().max()) == 0.0 and float(out["reweighting"][1:].abs().max()) == 0.0


# ------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("options, match", [
    ("{members: [hbv_1_0]}", r"model\.phy\.options\.members"),
    ("{members: [hbv_1_0, hbv_1_0]}", r"model\.phy\.options\.members: \['hbv_1_0'\] listed more than once"),
    ("{members: [hbv_1_0, hbv_9]}", r"model\.phy\.options\.members\[1\]"),
    ("{logit_bound: 0}", r"model\.phy\.options\.logit_bound must be in \(0, 20\], got 0"),
])
def test_bad_members_are_named(options, match):
    with pytest.raises(ConfigError, match=match):
        load_experiment(data=toy_config("toy.nc", "runs"),
                        overrides=["model.phy.name=hbv_multimodel", f"model.phy.options={options}"])


def test_a_logit_of_a_member_not_mixed_is_refused():
    match = (r"dynamic_params\[0\]: 'logit_hbv_2' is the logit of 'hbv_2', which "
             r"model\.phy\.options\.members \['hbv_1_0', 'hbv_1_1p'\] does not mix")
    with pytest.raises(ConfigError, match=match):
        load_experiment(data=toy_config("toy.nc", "runs"), overrides=[
            "model.phy.name=hbv_multimodel", "model.phy.options={members: [hbv_1_0, hbv_1_1p]}",
            "model.phy.dynamic_params=[logit_hbv_2]"])


def test_the_variants_logits_route_a_stays_static():
    with pytest.raises(ConfigError, match=r"'route_a' is not a parameter of 'hbv_multimodel' that may vary"):
        get_physics("hbv_multimodel")(PhyConfig(name="hbv_multimodel", dynamic_params=["route_a"]))


# ------------------------------------------------------------------------------------------ the BMI
@pytest.fixture(scope="module")
def mixture_ckpt(tmp_path_factory) -> Path:
    return make_demo_checkpoint(tmp_path_factory.mktemp("mm") / "multimodel.pt", nmul=4, hidden=16,
                                physics="hbv_multimodel", dynamic=["parBETA", "parK0", "parBETAET", *LOGITS])


def bmi_names(member: str) -> tuple[str, str]:
    contribution = f"land_surface_water__{member}_model_runoff_contribution_volume_flux"
    return f"{member}_model__mixture_weight", contribution


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_bmi_serves_the_weights_and_contributions_equal_to_offline(tmp_path, mixture_ckpt, backend):
    days = 40
    hourly = synthetic(days * 24)
    end = (date(2015, 12, 1) + timedelta(days=days)).strftime("%Y-%m-%d") + " 00:00:00"
    bmi = make(tmp_path, mixture_ckpt, backend=backend, end_time=end, attributes={**ATTRS, **SITE},
               area_km2=SITE["area_km2"])
    names = [RUNOFF, *(n for m in MEMBERS for n in bmi_names(m)),
             "land_surface_water__mixture_reweighting_volume_flux"]
    assert set(names) <= set(bmi.get_output_var_names())
    rows, worst = [], 0.0
    for k in range(days * 24):
        set_inputs(bmi, hourly, k)
        bmi.update()
        rows.append([bmi.get_value_ptr(n)[0] for n in names])
        m_in, m_out, m_st, m_leak = (bmi.get_value_ptr(n)[0] for n in MASS)
        worst = max(worst, abs(m_in - m_out - m_st - m_leak))
    rows = np.array(rows)[23::24]
    doy = np.array([(date(2015, 12, 1) + timedelta(days=d)).timetuple().tm_yday for d in range(days)])
    ref = offline_daily(mixture_ckpt, hourly, 43.1, doy, {**ATTRS, **SITE})
    np.testing.assert_allclose(rows[:, 0] * 1000.0 * 24.0, ref["streamflow"], rtol=1e-6, atol=1e-12)
    for i, member in enumerate(MEMBERS):
        np.testing.assert_allclose(rows[:, 1 + 2 * i], ref[f"weight_{member}"], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(rows[:, 2 + 2 * i], ref[f"streamflow_{member}"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(rows[:, -1], ref["reweighting"], rtol=1e-6, atol=1e-12)
    assert ref["weight_hbv_1_0"].std() > 1e-4 and np.abs(ref["reweighting"]).max() > 1e-6  # both at work
    assert worst < 1e-9, worst
    assert bmi.get_var_units(bmi_names("hbv_2")[0]) == "1"


def test_ensembles_of_multimodels_need_the_same_variants(tmp_path, mixture_ckpt, hamon_ckpt):
    """Outputs are averaged by name: multimodels of the same variants (in any order) make an ensemble; a
    multimodel and a single HBV do not, and the message names both files."""
    from dmg_bmi.domains.hydrology.handler import HydrologyHandler

    with pytest.raises(CheckpointError, match=rf"{mixture_ckpt}: HBV multimodel of hbv_1_0, hbv_1_1p, hbv_2; "
                                              rf"{hamon_ckpt}: single HBV\): ensemble single HBV"):
        HydrologyHandler.load([mixture_ckpt, hamon_ckpt])
    reordered = make_demo_checkpoint(tmp_path / "reordered.pt", nmul=2, hidden=8, physics="hbv_multimodel",
                                     options={"members": list(MEMBERS[::-1])}, dynamic=LOGITS)
    both = HydrologyHandler.load([mixture_ckpt, reordered], weights=[0.3, 0.7])
    alone = [HydrologyHandler.load(p) for p in (mixture_ckpt, reordered)]
    for h in (both, *alone):
        h.set_attributes({**ATTRS, **SITE})
    day = {"P": 12.0, "T": 4.0, "PET": 1.5, "prcp": 12.0, "tmean": 4.0}
    for _ in range(5):
        out, parts = both.step(day), [h.step(day) for h in alone]
    for key in ("runoff", "weight_hbv_2", "contribution_hbv_1_0", "reweighting"):
        assert out[key] == pytest.approx(0.3 * parts[0][key] + 0.7 * parts[1][key], rel=1e-12, abs=1e-15)


def test_a_multimodel_without_routing_runs_in_the_bmi(tmp_path):
    ckpt = make_demo_checkpoint(tmp_path / "norout.pt", nmul=2, hidden=8, physics="hbv_multimodel",
                                options={"members": ["hbv_1_0", "hbv_1_1p"]},
                                dynamic=["logit_hbv_1_0", "logit_hbv_1_1p"], routing=False)
    bmi = make(tmp_path, ckpt)
    hourly = synthetic(72)
    worst = 0.0
    for k in range(72):
        set_inputs(bmi, hourly, k)
        bmi.update()
        m_in, m_out, m_st, m_leak = (bmi.get_value_ptr(n)[0] for n in MASS)
        worst = max(worst, abs(m_in - m_out - m_st - m_leak))
    assert bmi.get_value_ptr(RUNOFF)[0] > 0.0 and worst < 1e-12


@pytest.mark.slow
def test_bmi_tester_passes_with_a_multimodel(tmp_path, mixture_ckpt):
    out = run_bmi_tester_on_example(tmp_path, mixture_ckpt, "multimodel",
                                    {**ATTRS, "elevation_m": SITE["elevation_m"]})
    assert f"test_get_var_units[{bmi_names('hbv_1_0')[0]}] PASSED" in out


def test_a_serialized_state_continues_exactly(tmp_path, mixture_ckpt):
    """ngen's serialization protocol round-trips the members' stores, the weights and the routing tail."""
    over = {"attributes": {**ATTRS, **SITE}, "area_km2": SITE["area_km2"]}
    hourly = synthetic(72)
    ref, first = make(tmp_path, mixture_ckpt, **over), make(tmp_path, mixture_ckpt, **over)
    out_ref = []
    for k in range(72):
        set_inputs(ref, hourly, k)
        ref.update()
        out_ref.append(ref.get_value_ptr(RUNOFF)[0])
    for k in range(41):
        set_inputs(first, hourly, k)
        first.update()
    first.set_value("ngen::serialization_create", np.array([1], dtype=np.int64))
    size = int(first.get_value("ngen::serialization_size", np.zeros(1, dtype=np.int64))[0])
    blob = first.get_value("ngen::serialization_state", np.zeros(size, dtype=np.uint8)).copy()
    second = make(tmp_path, mixture_ckpt, **over)
    second.set_value("ngen::serialization_size", np.array([size], dtype=np.int64))
    second.set_value("ngen::serialization_state", blob)
    out_new = []
    for k in range(41, 72):
        set_inputs(second, hourly, k)
        second.update()
        out_new.append(second.get_value_ptr(RUNOFF)[0])
    assert out_new == out_ref[41:] and max(out_ref) > 0.0


# ------------------------------------------------------------------------------- train, simulate, inspect
@pytest.mark.slow
def test_trains_simulates_and_inspects_on_the_twin(tmp_path, capsys):
    twin = tmp_path / "twin.nc"
    assert main(["make-sample-data", "--out", str(twin), "--basins", "8", "--years", "4", "--seed", "2"]) == 0
    cfg = yaml.safe_load((REPO / "dmg_bmi" / "configs" / "quickstart.yaml").read_text(encoding="utf-8"))
    cfg["data"].update(path=str(twin), train={"start": "2000-01-01", "end": "2002-12-31"},
                       test={"start": "2003-01-01", "end": "2003-12-31"})
    cfg["model"]["phy"].update(name="hbv_multimodel", options={"members": ["hbv_1_0", "hbv_1_1p"]},
                               dynamic_params=["logit_hbv_1_0", "logit_hbv_1_1p"])
    cfg["train"]["epochs"] = 3
    cfg["run"].update(exact_dir=str(tmp_path / "run"), progress=False)
    (tmp_path / "mm.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    assert main(["train", "--config", str(tmp_path / "mm.yaml")]) == 0
    assert main(["simulate", "--run-dir", str(tmp_path / "run"), "--format", "csv", "--out",
                 str(tmp_path / "sim")]) == 0
    with (tmp_path / "sim" / "twin0000.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 365
    w = np.array([[float(r["weight_hbv_1_0"]), float(r["weight_hbv_1_1p"])] for r in rows])
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    q = np.array([[float(r[k]) for k in ("streamflow", "streamflow_hbv_1_0", "streamflow_hbv_1_1p")]
                  for r in rows])
    np.testing.assert_allclose(q[:, 1] + q[:, 2], q[:, 0], rtol=1e-5, atol=1e-6)
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "run" / "best.pt")]) == 0
    out = capsys.readouterr().out
    assert "hbv_multimodel" in out and "hbv_1_0_model__mixture_weight" in out
