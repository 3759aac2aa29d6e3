"""The public surface: the nouns `dmg_bmi` exports resolve, `import dmg_bmi` stays light, every package says
what lives in it, and the README's layout names exactly the package's folders."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dmg_bmi

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dmg_bmi"


def test_every_exported_name_resolves_to_what_its_module_defines():
    import importlib

    for name in dmg_bmi.__all__:
        value = getattr(dmg_bmi, name)
        if name == "__version__":
            continue
        module, attr = dmg_bmi._EXPORTS[name]
        assert value is getattr(importlib.import_module(module), attr), name
    assert dmg_bmi.train.__name__ == "dmg_bmi.train"  # the subpackage is not shadowed by an export


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        dmg_bmi.NoSuchThing  # noqa: B018


def test_import_dmg_bmi_loads_neither_torch_nor_a_domain():
    code = ("import sys, dmg_bmi; bad = sorted(m for m in sys.modules if m == 'torch' or "
            "m.startswith('dmg_bmi.domains.')); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}).stdout.strip()
    assert out == "[]", out


def test_every_package_has_a_docstring_saying_what_lives_there():
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 8, f"{init.relative_to(REPO)} has no package docstring"


def test_readme_layout_names_exactly_the_package_folders():
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Layout\n\n```\n(.*?)```", text, re.S)
    assert block, "README.md has no '## Layout' tree"
    listed, stack = set(), []
    for line in block.group(1).splitlines()[1:]:
        m = re.match(r"( {2}| {4})(\S+/)\s", line + " ")  # a folder entry (deeper text is description)
        if not m:
            continue
        depth = len(m.group(1)) // 2 - 1
        stack[depth:] = [m.group(2).rstrip("/")]
        listed.add("/".join(stack))
    folders = {str(p.parent.relative_to(PACKAGE)) for p in PACKAGE.glob("*/__init__.py")}
    folders |= {str(p.parent.relative_to(PACKAGE)) for p in (PACKAGE / "domains").glob("*/__init__.py")}
    assert listed == folders, (f"README lists {sorted(listed - folders)} not in the package; the package "
                               f"has {sorted(folders - listed)} not in the README")


def test_the_old_layouts_import_paths_resolve_to_the_moved_modules():
    """Scripts written against the 0.1 layout (e.g. ../shared/cases) keep running: every old path of
    `dmg_bmi.moved.MOVED` imports, and its names are the moved module's own objects (no second copy)."""
    import importlib
    import warnings

    from dmg_bmi.moved import MOVED

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for old, targets in MOVED.items():
            proxy = importlib.import_module(old)
            for target in targets:
                module = importlib.import_module(target)
                public = [n for n in vars(module) if not n.startswith("_")]
                assert public, target
                name = public[0]
                assert getattr(proxy, name) is getattr(module, name), (old, target, name)
        from dmg_bmi.crop.batch import field_from_case

        from dmg_bmi.domains.crop.pcse.batch import field_from_case as moved
        assert field_from_case is moved
        from dmg_bmi.models.registry import get_physics
        assert get_physics("hbv_1_1p").__module__ == "dmg_bmi.domains.hydrology.hbv"
    missing = importlib.import_module("dmg_bmi.models.phy.hbv")
    with pytest.raises(AttributeError, match=r"dmg_bmi\.domains\.hydrology\.hbv"):
        missing.no_such_name  # noqa: B018


def test_every_module_of_the_last_01_layout_still_imports():
    """Each module file of the last landed 0.1 layout (commit 5252e75) still exists or is in `MOVED`, and
    no listed old path exists again as a file."""
    from dmg_bmi.moved import MOVED

    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", "5252e75", "dmg_bmi"], cwd=REPO,
                             capture_output=True, text=True)
    if listing.returncode != 0:
        pytest.skip(f"no git history with commit 5252e75 here: {listing.stderr.strip()}")
    old = [p for p in listing.stdout.split() if p.endswith(".py")]
    assert len(old) > 50
    for path in old:
        module = path[:-3].replace("/", ".").removesuffix(".__init__")
        assert (REPO / path).exists() or module in MOVED, f"{module} was removed and is not in MOVED"
    for module in MOVED:
        path = PACKAGE.parent / (module.replace(".", "/") + ".py")
        assert not path.exists() and not (path.with_suffix("") / "__init__.py").exists(), (
            f"{module} exists again at its old path; drop it from dmg_bmi.moved.MOVED")


def test_the_moved_path_warning_points_at_the_importing_line():
    code = "import warnings; warnings.simplefilter('default'); import dmg_bmi.crop_weather"
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}).stderr
    assert "<string>:1: DeprecationWarning: dmg_bmi.crop_weather moved to dmg_bmi.domains.crop.weather" in err
