"""The package's layout (issue 11): no import cycles, a runtime that does not import training code, and a
trainer, CLI verbs and ngen writers that ask the domain instead of switching on crop or HBV."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from test_domains import fresh_registry, toy_ckpt  # noqa: F401  (fixtures)

from dmg_bmi import domains
from dmg_bmi.cli import main
from dmg_bmi.errors import CheckpointError, ConfigError

PACKAGE = Path(__file__).resolve().parents[1] / "dmg_bmi"
# Files that ask the domain, and the core: no domain words in them (issue 11's grep), not even in docstrings.
ASKING = [PACKAGE / "cli.py", PACKAGE / "bmi.py", PACKAGE / "train" / "run.py",
          *sorted((PACKAGE / "train" / "commands").glob("*.py")), *sorted((PACKAGE / "core").rglob("*.py"))]
ALLOWED_WORDS: dict[str, list[str]] = {}  # file -> lines allowed as docstring examples (none today)
NGEN_ASKING = ["cmd_bmi_config.py", "checkpoint_info.py", "cmd_realization.py", "needs.py", "writers.py"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _targets(node: ast.Import | ast.ImportFrom, here: str) -> set[str]:
    """The package modules an import statement in module `here` loads (`from pkg import mod`: pkg.mod)."""
    if isinstance(node, ast.Import):
        return _with_packages({a.name for a in node.names if a.name in MODULES}, here)
    assert not node.level, f"{here}: a relative import"  # the package uses absolute imports only
    base = node.module or ""
    found = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
    names_in_base = base in MODULES and len(found) < len(node.names)  # `from pkg import name`: pkg's __init__
    return _with_packages(found | ({base} if names_in_base else set()), here)


def _with_packages(targets: set[str], here: str) -> set[str]:
    """`targets` and the packages whose `__init__` importing them runs first, except the packages `here` is
    in (they are already being imported when `here` runs)."""
    mine = {".".join(here.split(".")[:i]) for i in range(1, here.count(".") + 1)}
    parents = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 1)}
    return (targets | {p for p in parents if p in MODULES}) - mine


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(imports run at import time: module body and class bodies, imports inside functions), per module."""
    top: dict[str, set[str]] = {m: set() for m in MODULES}
    inner: dict[str, set[str]] = {m: set() for m in MODULES}

    def visit(node: ast.AST, here: str, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
                continue  # imports for annotations only: they never run
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (inner if in_function else top)[here] |= _targets(child, here) - {here}
            visit(child, here, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                 ast.Lambda)))

    for name, path in MODULES.items():
        visit(ast.parse(path.read_text(encoding="utf-8")), name, False)
    return top, inner


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_the_graph_sees_imports_at_both_levels():
    top, inner = import_graph()
    trainer = top["dmg_bmi.core.train.trainer"]
    assert "dmg_bmi.core.train.common" in trainer  # from dmg_bmi.core.train.common import ...
    assert "dmg_bmi.core.train.distributed" in trainer  # from dmg_bmi.core.train import distributed
    assert "dmg_bmi.domains.crop.train" in inner["dmg_bmi.domains.crop.domain"]  # inside CropDomain.train
    # importing a module runs its packages' __init__ first, except the packages the importer is in
    assert "dmg_bmi.domains.crop.wofost72" in top["dmg_bmi.domains.crop.pcse.pcse_yaml"]
    assert "dmg_bmi.domains.crop.wofost72" not in top["dmg_bmi.domains.crop.wofost72.model"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    """No cycle among the imports that run, at module level or inside functions (a lazy import that closes a
    loop is a cycle too). The registry loads domains by name (`dmg_bmi.domains`), which no import shows."""
    top, inner = import_graph()
    assert cycles(top) == []
    both = {m: top[m] | inner[m] for m in MODULES}
    assert cycles(both) == []
    assert "dmg_bmi.domains.crop.train" not in both["dmg_bmi.core.train.trainer"]


@pytest.mark.parametrize("module", ["dmg_bmi.bmi", "dmg_bmi.core.handler",
                                    "dmg_bmi.domains.hydrology.handler"])
def test_the_runtime_imports_no_training_code(module):
    top, inner = import_graph()
    imported = top[module] | inner[module]
    assert not [m for m in imported if m.startswith(("dmg_bmi.train", "dmg_bmi.core.train"))]
    assert not [m for m in imported if "crop" in m]


def domain_of_module(module: str) -> str | None:
    """The domain package a module belongs to (`dmg_bmi.domains.<name>...`, a folder), None outside one (the
    registry, `base`, `delta`)."""
    parts = module.split(".")
    if parts[:2] != ["dmg_bmi", "domains"] or len(parts) < 3:
        return None
    return parts[2] if (PACKAGE / "domains" / parts[2]).is_dir() else None


def test_the_core_imports_no_domain():
    top, inner = import_graph()
    core = [m for m in MODULES if m == "dmg_bmi.core" or m.startswith("dmg_bmi.core.")]
    assert {"dmg_bmi.core.config", "dmg_bmi.core.train.trainer", "dmg_bmi.core.registry",
            "dmg_bmi.core.handler"} <= set(core)
    hits = {m: sorted(t for t in top[m] | inner[m] if t.startswith("dmg_bmi.domains")) for m in core}
    assert {m: t for m, t in hits.items() if t} == {}


# forcing: the input-derivation record a checkpoint carries (PET method, AORC -> daily), read by the handler
CORE_MAY_IMPORT = ("dmg_bmi.errors", "dmg_bmi.atomic", "dmg_bmi.text", "dmg_bmi.units", "dmg_bmi.forcing")


def imports_outside_the_core(top: dict[str, set[str]], inner: dict[str, set[str]]) -> dict[str, list[str]]:
    """{core module: package modules it imports (module body or function) beyond the core and utilities}."""
    core = [m for m in MODULES if m == "dmg_bmi.core" or m.startswith("dmg_bmi.core.")]
    hits = {m: sorted(t for t in top[m] | inner[m] if t != "dmg_bmi" and t not in CORE_MAY_IMPORT
                      and t != "dmg_bmi.core" and not t.startswith("dmg_bmi.core.")) for m in core}
    return {m: t for m, t in hits.items() if t}


def test_the_core_imports_only_the_core_and_the_utilities():
    top, inner = import_graph()
    assert imports_outside_the_core(top, inner) == {}
    assert "dmg_bmi.atomic" in top["dmg_bmi.core.train.checkpoints"]  # the utilities are seen, and allowed
    planted = {"dmg_bmi.core.train.trainer": {"dmg_bmi.train.data"}}  # a function-level import is caught
    assert imports_outside_the_core(top, {**inner, **planted}) == {"dmg_bmi.core.train.trainer":
                                                                    ["dmg_bmi.train.data"]}


def test_domains_never_import_each_other():
    top, inner = import_graph()
    assert domain_of_module("dmg_bmi.domains.crop.pcse.batch") == "crop"
    assert domain_of_module("dmg_bmi.domains.base") is None and domain_of_module("dmg_bmi.domains") is None
    assert domain_of_module("dmg_bmi.domains.delta") is None
    crossing = sorted(f"{m} -> {t}" for m in MODULES if domain_of_module(m)
                      for t in top[m] | inner[m] if domain_of_module(t) not in (None, domain_of_module(m)))
    assert crossing == []
    assert {domain_of_module(m) for m in MODULES} >= {"hydrology", "crop"}


def test_the_registry_finds_the_domains_physics_the_core_does_not_name():
    from dmg_bmi.core import registry

    assert registry._BUILTIN_MODULES["physics"] == (  # dmg_bmi/__init__.py
        "dmg_bmi.domains.hydrology.hbv", "dmg_bmi.domains.hydrology.multimodel",
        "dmg_bmi.domains.crop.wofost72.physics")
    assert {"hbv_1_1p", "wofost72_pp"} <= set(registry.available("physics"))


@pytest.mark.parametrize("path", ASKING, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_cli_and_trainer_name_no_domain(path):
    words = re.compile(r"crop|wofost|hbv|camels", re.IGNORECASE)
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if words.search(ln)]
    assert lines == ALLOWED_WORDS.get(path.name, [])


def test_no_kind_switch_outside_the_domains():
    switch = re.compile(r"""kind\s*==\s*["']crop["']""")
    hits = [f"{p.relative_to(PACKAGE)}: {ln.strip()}" for p in MODULES.values()
            if "domains" not in p.relative_to(PACKAGE).parts
            for ln in p.read_text(encoding="utf-8").splitlines() if switch.search(ln)]
    assert hits == []


@pytest.mark.parametrize("name", NGEN_ASKING)
def test_the_ngen_writers_and_inspect_import_no_crop_code(name):
    top, inner = import_graph()
    module = f"dmg_bmi.ngen.{name[:-3]}"
    assert not [m for m in top[module] | inner[module] if "crop" in m]
    assert not re.search(r"is_crop|CropHandler|crop_dataset", (PACKAGE / "ngen" / name).read_text("utf-8"))


# ---------------------------------------------------------------- asking the domain, behaviour


def test_a_training_config_goes_to_the_domain_of_its_physics():
    from dmg_bmi.train.config import load_experiment
    from dmg_bmi.train.configs import package_config

    crop = package_config("crop_twin", [])
    assert domains.domain_of_experiment(crop) is domains.get_domain("crop")
    with pytest.raises(ConfigError, match=r"data\.kind: 'crop' is not a dataset of physics 'hbv_1_1p' "
                                          r"\(hydrology \(HBV\)\); it trains on data\.kind netcdf, camels"):
        load_experiment(data={"data": {"path": "x.nc", "kind": "crop"},
                              "model": {"phy": {"name": "hbv_1_1p"}}})


def test_make_sample_data_offers_every_registered_twin(tmp_path, capsys, fresh_registry):  # noqa: F811
    class Tiny(domains.Domain):
        name, label, twin, twin_help = "tiny", "tiny (test)", "tiny", "one number"

        def add_twin_arguments(self, group):
            group.add_argument("--value", type=float, default=1.5)

        def make_twin(self, args, out):
            out.write_text(f"{args.value} {args.seed}\n", encoding="utf-8")
            return f"wrote {out}"

    assert list(domains.twins()) == ["hydro", "crop"]
    domains.register(Tiny())
    out = tmp_path / "tiny.txt"
    argv = ["make-sample-data", "--kind", "tiny", "--value", "2.5", "--seed", "3", "--out", str(out)]
    assert main(argv) == 0
    assert out.read_text(encoding="utf-8") == "2.5 3\n" and capsys.readouterr().out == f"wrote {out}\n"
    with pytest.raises(ConfigError, match=r"domain 'twin2' names its twin 'tiny', already domain 'tiny''s"):
        domains.register(type("Twin2", (Tiny,), {"name": "twin2"})())
    from dmg_bmi.cli import build_parser

    args = build_parser().parse_args(["make-sample-data"])
    assert args.kind == "hydro" and args.basins == 50 and args.sites == 40 and args.value == 1.5


def test_a_handler_refuses_a_physics_it_does_not_run(toy_ckpt):  # noqa: F811
    """The core handler asks no domain: it runs what the delta model builds, and a domain's handler class
    names the physics it runs (HydrologyHandler, CropHandler)."""
    from dmg_bmi.core.handler import ModelHandler

    assert ModelHandler.load(toy_ckpt).input_names  # no domain claims train_toy: the core handler runs it

    class Own(ModelHandler):
        physics = ("own_physics",)

    with pytest.raises(CheckpointError, match=r"toy\.pt: physics 'train_toy' is not one Own runs "
                                              r"\(own_physics\)"):
        Own.load(toy_ckpt)  # refused on a cache hit too (the core handler loaded this file, same builder)
