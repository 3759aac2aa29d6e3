"""The domain registry (`dmg_bmi.domains`) and the BMI's independence from any domain.

Built-in domains by name and by checkpoint, errors naming the unknown name and the known ones, a plugin domain
found through a real entry point (a dist-info folder on sys.path), and the rules that keep `dmg_bmi/bmi.py`
domain-agnostic: no domain words in its text and no import of a domain package, training or time code.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dmg_bmi import domains
from dmg_bmi.bmi_config import BmiConfig
from dmg_bmi.errors import CheckpointError, ConfigError

REPO = Path(__file__).resolve().parents[1]
BMI_SOURCE = REPO / "dmg_bmi" / "bmi.py"
CROP_CKPT = REPO / "bmi_configs" / "crop_twin_wofost72.pt"


@pytest.fixture
def fresh_registry(monkeypatch):
    """An empty registry that loads the built-ins and the entry points again on first use."""
    monkeypatch.setattr(domains, "_DOMAINS", {})
    monkeypatch.setattr(domains, "_MERGED", {})
    monkeypatch.setattr(domains, "_loaded", False)


@pytest.fixture(scope="module")
def toy_ckpt(tmp_path_factory) -> Path:
    """A checkpoint of the tests' `train_toy` physics, which no built-in domain runs."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import train_toy  # noqa: F401  (registers the physics)
    finally:
        sys.path.remove(str(Path(__file__).parent))
    from dmg_bmi.core.checkpoint import save_checkpoint
    from dmg_bmi.core.config import InputConfig, ModelConfig, NNConfig, PhyConfig
    from dmg_bmi.core.delta import DeltaModel
    from dmg_bmi.core.normalization import Normalizer, VarStats

    cfg = ModelConfig(phy=PhyConfig(name="train_toy", nmul=1, warmup=0),
                      nn=NNConfig(name="lstm_mlp", hidden_size=4, mlp_hidden_size=4, mlp_layers=1),
                      inputs=InputConfig(forcings=["P"], attributes=["a1"]))
    stats = Normalizer({"P": VarStats(1.0, 1.0), "a1": VarStats(0.0, 1.0)})
    model = DeltaModel.from_config(cfg, 1, 1)
    return save_checkpoint(tmp_path_factory.mktemp("toy") / "toy.pt", model, stats)


def install_plugin(root: Path, monkeypatch, entry: str, body: str, module: str = "toy_domain_plugin") -> None:
    """A distribution `toy-domain` in `root` (on sys.path) whose entry point in group `dmg_bmi.domains` is
    `entry` (``name = module:attr``), its module's code `body` (imported afresh)."""
    monkeypatch.delitem(sys.modules, module, raising=False)
    (root / f"{module}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    info = root / "toy_domain-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-domain\nVersion: 0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[dmg_bmi.domains]\n{entry}\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))


TOY_DOMAIN = """
    from dmg_bmi.domains import Domain

    class ToyDomain(Domain):
        name = "toy"
        label = "toy (one bucket)"
        physics = ("train_toy",)
        config_keys = ("toy_option",)
"""


# ---------------------------------------------------------------- built-ins
def test_builtin_domains_by_name_and_by_physics():
    hydro, crop = domains.get_domain("hydrology"), domains.get_domain("crop")
    assert {"hydrology", "crop"} <= set(domains.available())
    assert "hbv_1_1p" in hydro.physics and crop.physics == ("wofost72_pp",)
    assert domains.domain_of_physics("hbv_2") is hydro and domains.domain_of_physics("wofost72_pp") is crop
    assert crop.config_keys == ("crop_calendar",) and hydro.config_keys == ()


def test_unknown_names_are_named_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown domain 'forest'; known domains: crop, hydrology"):
        domains.get_domain("forest")
    with pytest.raises(ConfigError, match=r"no domain runs physics 'sacsma'; domains and their physics: "
                                          r"hydrology \(hbv_1_0, hbv_1_1p, hbv_2, hbv_multimodel\); "
                                          r"crop \(wofost72_pp\)"):
        domains.domain_of_physics("sacsma")


def test_a_checkpoint_finds_its_domain_from_its_physics(hamon_ckpt, toy_ckpt, tmp_path):
    assert domains.domain_for_checkpoint(hamon_ckpt) is domains.get_domain("hydrology")
    assert domains.domain_for_checkpoint(str(CROP_CKPT)) is domains.get_domain("crop")
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(toy_ckpt))}: no domain runs physics "
                                              r"'train_toy'; domains and their physics: hydrology"):
        domains.domain_for_checkpoint(toy_ckpt)
    with pytest.raises(CheckpointError, match=rf"checkpoint not found: {re.escape(str(tmp_path / 'no.pt'))}"):
        domains.domain_for_checkpoint(tmp_path / "no.pt")


def test_a_config_key_of_another_domain_is_refused_naming_its_domain():
    cfg = BmiConfig(checkpoint="x.pt", crop_calendar={"crop_name": "Potato"})
    with pytest.raises(ConfigError, match=r"crop_calendar: only a δWOFOST \(crop\) checkpoint "
                                          r"\(wofost72_pp\) takes one"):
        domains.refuse_foreign_config_keys(domains.get_domain("hydrology"), cfg)
    domains.refuse_foreign_config_keys(domains.get_domain("crop"), cfg)  # its own key
    domains.refuse_foreign_config_keys(domains.get_domain("hydrology"), BmiConfig(checkpoint="x.pt"))


# ---------------------------------------------------------------- plugins through entry points
def test_a_plugin_domain_is_found_through_its_entry_point(tmp_path, monkeypatch, fresh_registry, toy_ckpt):
    install_plugin(tmp_path, monkeypatch, "toy = toy_domain_plugin:ToyDomain", TOY_DOMAIN)
    toy = domains.get_domain("toy")
    assert type(toy).__name__ == "ToyDomain" and type(toy).__module__ == "toy_domain_plugin"
    assert domains.available() == ["crop", "hydrology", "toy"]
    assert domains.domain_for_checkpoint(toy_ckpt) is toy and domains.domain_of_physics("train_toy") is toy
    with pytest.raises(ConfigError, match=r"toy_option: only a toy \(one bucket\) checkpoint \(train_toy\)"):
        domains.refuse_foreign_config_keys(domains.get_domain("crop"), type("Cfg", (), {"toy_option": 1})())


@pytest.mark.parametrize("entry, body, match", [
    ("toy = toy_domain_plugin:MISSING", TOY_DOMAIN,
     r"domain plugin 'toy' \(entry point in group 'dmg_bmi.domains'\) \('toy_domain_plugin:MISSING'\) failed "
     r"to load: AttributeError"),
    ("toy = toy_domain_plugin:ToyDomain", TOY_DOMAIN.replace('("train_toy",)', '("train_toy", "hbv_2")'),
     r"domain 'toy' claims physics \['hbv_2'\], already run by domain 'hydrology'"),
    ("hydrology = toy_domain_plugin:ToyDomain", TOY_DOMAIN.replace('name = "toy"', 'name = "hydrology"'),
     r"domain 'hydrology' is already registered"),
    ("bucket = toy_domain_plugin:ToyDomain", TOY_DOMAIN,
     r"domain plugin entry point 'bucket' \('toy_domain_plugin:ToyDomain'\) gives a domain named 'toy'"),
    ("toy = toy_domain_plugin:NOT_A_DOMAIN", TOY_DOMAIN + "\n    NOT_A_DOMAIN = 3\n",
     r"domain plugin 'toy' .* \('toy_domain_plugin:NOT_A_DOMAIN'\) gives 3, not a named "
     r"dmg_bmi.domains.Domain"),
])
def test_a_broken_plugin_is_named(tmp_path, monkeypatch, fresh_registry, entry, body, match):
    install_plugin(tmp_path, monkeypatch, entry, body)
    for _ in range(2):  # a failed load leaves no half-filled registry: the next use fails the same way
        with pytest.raises(ConfigError, match=match):
            domains.get_domain("crop")


# ---------------------------------------------------------------- the BMI knows no domain
def test_bmi_source_names_no_domain():
    hits = [f"{i}: {line}" for i, line in enumerate(BMI_SOURCE.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"crop|wofost|hbv|camels", line, re.IGNORECASE)]
    assert hits == []


def imported_modules(source: str) -> set[str]:
    """Every module an `import` or `from ... import` in `source` names (anywhere, functions included), with
    `from package import name` also giving ``package.name``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_bmi_imports_only_the_domain_registry():
    modules = imported_modules(BMI_SOURCE.read_text(encoding="utf-8"))
    assert "dmg_bmi.domains" in modules
    forbidden = [m for m in modules
                 if m.startswith(("dmg_bmi.train", "dmg_bmi.domains.", "dmg_bmi.core.handler"))
                 or re.search(r"crop|daily_chains|wofost|hbv", m)]
    assert forbidden == []
    # the rule itself sees nested and aliased imports
    assert imported_modules("def f():\n    from dmg_bmi.domains.crop import days as c\n") >= {
        "dmg_bmi.domains.crop.days"}


def test_importing_the_bmi_loads_no_domain_or_training_code():
    code = ("import sys, dmg_bmi.bmi; print(' '.join(m for m in sys.modules if m.startswith('dmg_bmi')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=REPO).stdout.split()
    assert "dmg_bmi.bmi" in loaded and "dmg_bmi.domains" in loaded
    domain_code = ("dmg_bmi.train", "dmg_bmi.domains.hydrology", "dmg_bmi.domains.crop",
                   "dmg_bmi.core.handler", "dmg_bmi.domains.crop.pcse")
    assert [m for m in loaded if m.startswith(domain_code)] == []


def test_a_registered_domain_extends_the_shared_tables_at_once(fresh_registry):
    """The merged dataset table is kept between calls (the BMI checks attributes per instance) and rebuilt
    when a domain is registered."""
    from dmg_bmi.data.variables import DataVariable, dataset_variables

    before = dataset_variables()
    assert dataset_variables() is before and "bucket_depth" not in before

    class Extra(domains.Domain):
        name, label = "extra", "extra (test)"
        dataset_variables = (DataVariable("bucket_depth", "mm", (0.0, 1e4), "a test domain's variable"),)

    domains.register(Extra())
    after = dataset_variables()
    assert after["bucket_depth"].units == "mm" and set(before) < set(after)
    with pytest.raises(TypeError):
        after["x"] = after["bucket_depth"]  # read-only: no caller can change the shared table


def test_a_domain_without_the_delta_model_path_refuses_the_offline_verbs(fresh_registry):
    """A bare `Domain` (BMI only) is named by its name in every refusal; `DeltaModelDomain` gives the core's
    path (the hydrology domain builds on it, the crop domain has its own)."""
    from dmg_bmi.domains.delta import CORE, DeltaModelDomain

    class Lone(domains.Domain):
        name, physics = "lone", ("lone_physics",)

    lone = domains.register(Lone())
    assert lone.label == "lone" and domains.domain_or_core("lone_physics") is lone
    for hook, args, needle in ((lone.train, (None, None, None), "does not train"),
                               (lone.evaluate, (None,), "evaluate: the lone domain"),
                               (lone.simulate, (None,), "simulate: the lone domain"),
                               (lone.check_experiment, (None,), "does not train")):
        with pytest.raises(ConfigError, match=needle):
            hook(*args)
    assert isinstance(domains.get_domain("hydrology"), DeltaModelDomain)
    assert not isinstance(domains.get_domain("crop"), DeltaModelDomain)
    assert domains.domain_or_core("no_such_physics") is CORE and CORE.data_kinds == ("netcdf",)
    assert domains.data_kinds()[:3] == ("netcdf", "camels", "crop")
