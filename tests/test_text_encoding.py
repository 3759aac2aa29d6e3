"""Every text file the package reads or writes names its encoding: ngen's embedded Python decodes as ASCII.

An AST scan of `dmg_bmi/` flags each call that opens, reads or writes text without `encoding=` (or with
`encoding=None`): builtin/`io` `open`, a path's `.open`, `.read_text`, `.write_text`, and numpy's `loadtxt`,
`genfromtxt`, `savetxt`. Binary modes (a constant mode with `b`), `os.open` (a file descriptor) and
`dmg_bmi.atomic.write_text` (always UTF-8) are fine. A mode that is not a constant is flagged: it may be text.
"""

from __future__ import annotations

import ast

import pytest
from conftest import REPO

ALWAYS_TEXT = {"read_text", "write_text", "loadtxt", "genfromtxt", "savetxt"}  # text unless encoding= given


def _mode(call: ast.Call, position: int) -> ast.expr | None:
    """The mode argument of an open call: keyword `mode`, else the positional argument at `position`."""
    given = next((kw.value for kw in call.keywords if kw.arg == "mode"), None)
    if given is None and len(call.args) > position:
        given = call.args[position]
    return given


def _opens_text(call: ast.Call) -> bool:
    """True for a call that opens, reads or writes a file as text (see the module docstring)."""
    func = call.func
    if isinstance(func, ast.Name):
        if func.id != "open":
            return False
        mode = _mode(call, 1)  # builtin open(file, mode, ...)
    elif isinstance(func, ast.Attribute):
        if func.attr in ALWAYS_TEXT:
            return True
        if func.attr != "open" or (isinstance(func.value, ast.Name) and func.value.id == "os"):
            return False
        file_first = isinstance(func.value, ast.Name) and func.value.id == "io"  # io.open(file, mode)
        mode = _mode(call, 1 if file_first else 0)  # Path.open(mode, ...)
    else:
        return False
    if mode is None:
        return True  # default mode 'r': text
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" in mode.value)


def _has_encoding(call: ast.Call) -> bool:
    return any(kw.arg == "encoding" and not (isinstance(kw.value, ast.Constant) and kw.value.value is None)
               for kw in call.keywords)


def text_calls_without_encoding(source: str, filename: str = "<source>") -> list[str]:
    """'file:line: code' for every text open/read/write in `source` that does not name its encoding."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and _opens_text(node) and not _has_encoding(node):
            found.append(f"{filename}:{node.lineno}: {ast.get_source_segment(source, node)}")
    return found


def test_package_names_the_encoding_of_every_text_file():
    files = sorted((REPO / "dmg_bmi").rglob("*.py"))
    assert len(files) > 50  # the scan sees the package
    found = [hit for path in files
             for hit in text_calls_without_encoding(path.read_text(encoding="utf-8"),
                                                    str(path.relative_to(REPO)))]
    assert not found, "text opened without encoding='utf-8':\n" + "\n".join(found)


@pytest.mark.parametrize("code", [
    "open(p)", "open(p, 'w')", "open(p, mode='a', newline='')", "open(p, m)", "open(p, encoding=None)",
    "io.open(p, 'r')", "p.open()", "p.open('w', newline='')", "path.read_text()", "p.write_text(s)",
    "yaml.safe_load(open(p))", "np.loadtxt(p, skiprows=4)", "np.savetxt(p, a)",
    "resources.files('dmg_bmi').joinpath('x.yaml').read_text()",
])
def test_scan_flags_text_without_an_encoding(code):
    hits = text_calls_without_encoding(code)
    assert len(hits) == 1 and hits[0].startswith("<source>:1: "), hits


@pytest.mark.parametrize("code", [
    "open(p, 'rb')", "open(p, 'wb')", "open(tmp, 'rb+')", "open(p, mode='ab')", "p.open('rb')",
    "open(p, encoding='utf-8')", "p.open('w', newline='', encoding='utf-8')",
    "p.read_text(encoding='utf-8')", "p.write_text(s, encoding='utf-8')", "os.open(d, os.O_RDONLY)",
    "write_text(path, text)", "np.loadtxt(p, encoding='utf-8')", "p.read_bytes()", "open_netcdf(p, 'x')",
])
def test_scan_passes_binary_and_explicit_utf8(code):
    assert text_calls_without_encoding(code) == []
