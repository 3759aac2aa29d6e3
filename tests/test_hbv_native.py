"""The native C++ HBV kernel: the torch paths' numbers and gradients, threads, build cache, fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from test_hbv_grad import _grads, _with_options
from test_hbv_physics import DYNAMIC, VARIANTS, make_case

from dmg_bmi.core import native
from dmg_bmi.core.config import PhyConfig
from dmg_bmi.core.registry import get_physics
from dmg_bmi.domains.hydrology import hbv_native
from dmg_bmi.errors import ConfigError

if hbv_native.kernel() is None and os.environ.get("DMG_BMI_REQUIRE_NATIVE"):
    pytest.fail(f"DMG_BMI_REQUIRE_NATIVE is set but the kernel did not build: {hbv_native.why_unavailable()}",
                pytrace=False)
needs_kernel = pytest.mark.skipif(
    hbv_native.kernel() is None, reason=f"native kernel not built here: {hbv_native.why_unavailable()}")


def _attrs(n_b):
    """HBV 2.0 attributes for any number of basins (both sides of the 2500 km2 and 2000 m rules)."""
    return {"area_km2": torch.linspace(50.0, 4000.0, n_b, dtype=torch.float64),
            "elevation_m": torch.linspace(100.0, 2600.0, n_b, dtype=torch.float64)}


def _state(model, n_b, dtype):
    state = model.initial_state(n_b, dtype)
    state["SM"] = state["SM"] + 50.0
    state["SNOWPACK"] = state["SNOWPACK"] + 5.0
    return state


@needs_kernel
@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize(("n_b", "nmul", "dynamic"), [(11, 16, True), (3, 1, False), (7, 3, True)])
def test_native_equals_torch_paths_float64(name, n_b, nmul, dynamic):
    """Several basin groups (forward and reverse), a ragged last group and nmul below/above the vector
    width: every output and every gradient (parameters and initial stores) equals the torch fused path
    and plain autograd."""
    model, forcing, params, _ = make_case(name, n_t=40, n_b=n_b, nmul=nmul,
                                          dynamic=DYNAMIC[name] if dynamic else ())
    attrs = _attrs(n_b)
    runs = {}
    for label, options in {"native": {"native": True}, "fused": {"native": False},
                           "eager": {"native": False, "fused": False}}.items():
        m = _with_options(model, **options)
        assert m._native(forcing) == (label == "native")
        runs[label] = _grads(m, forcing, params, attrs, _state(model, n_b, torch.float64))
    out_n, g_n = runs["native"]
    for label in ("fused", "eager"):
        out, g = runs[label]
        for k in out:
            assert torch.allclose(out_n[k], out[k], rtol=1e-12, atol=1e-13), (label, k)
        assert set(g) == set(g_n)
        for k in g:
            assert torch.isfinite(g_n[k]).all(), k
            assert torch.allclose(g_n[k], g[k], rtol=1e-9, atol=1e-11 * float(g[k].abs().max())), (label, k)


@needs_kernel
@pytest.mark.parametrize("name", VARIANTS)
def test_native_float32_close_to_float64(name):
    """float32 through the kernel stays close to the float64 run (no lane or layout mix-up in f32)."""
    model, forcing, params, attrs = make_case(name, n_t=200, n_b=6, nmul=16, dynamic=DYNAMIC[name])
    out64, _ = model(forcing, params, attrs)
    args32 = (forcing.float(), {k: v.float() for k, v in params.items()},
              {k: v.float() for k, v in attrs.items()})
    out32, _ = model(*args32)
    fused32, _ = _with_options(model, native=False)(*args32)
    for k in ("streamflow", "AET", "SWE", "SM", "SLZ"):
        scale = float(out64[k].abs().max()) + 1e-6
        assert float((out32[k].double() - out64[k]).abs().max()) < 1e-4 * scale, k
        assert torch.allclose(out32[k], fused32[k], rtol=1e-5, atol=1e-5 * scale), k


@needs_kernel
def test_native_threads_give_identical_results():
    model, forcing, params, _ = make_case("hbv_2", n_t=50, n_b=9, nmul=16, dynamic=DYNAMIC["hbv_2"])
    attrs = _attrs(9)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        out1, g1 = _grads(model, forcing, params, attrs, _state(model, 9, torch.float64))
        torch.set_num_threads(2)
        out2, g2 = _grads(model, forcing, params, attrs, _state(model, 9, torch.float64))
    finally:
        torch.set_num_threads(before)
    for k in out1:
        assert torch.equal(out1[k], out2[k]), k
    for k in g1:
        assert torch.equal(g1[k], g2[k]), k


@needs_kernel
def test_native_spinup_warmup_equals_fused():
    model, forcing, params, attrs = make_case("hbv_1_1p", n_t=60, n_b=4, nmul=3, dynamic=DYNAMIC["hbv_1_1p"],
                                              warmup=20, warmup_mode="spinup")
    out_n, g_n = _grads(model, forcing, params, attrs)
    out_f, g_f = _grads(_with_options(model, native=False), forcing, params, attrs)
    for k in out_n:
        assert out_n[k].shape[0] == 40
        assert torch.allclose(out_n[k], out_f[k], rtol=1e-12, atol=1e-13), k
    for k in g_n:
        assert torch.allclose(g_n[k], g_f[k], rtol=1e-9, atol=1e-11 * float(g_f[k].abs().max())), k


@needs_kernel
def test_default_sequence_runs_on_the_kernel(monkeypatch):
    """The default options (what `train` and `simulate` use) take the kernel, with and without gradient."""
    calls = []
    real_forward = hbv_native.forward
    monkeypatch.setattr(hbv_native, "forward", lambda *a, **k: calls.append(1) or real_forward(*a, **k))
    model, forcing, params, attrs = make_case("hbv_1_0", n_t=10)
    with torch.no_grad():
        model(forcing, params, attrs)
    _grads(model, forcing, params, attrs)
    assert len(calls) == 2


def test_native_and_compile_are_alternatives():
    with pytest.raises(ConfigError, match="native and compile are alternatives"):
        get_physics("hbv_1_0")(PhyConfig(name="hbv_1_0", options={"native": True, "compile": True}))
    model = get_physics("hbv_1_0")(PhyConfig(name="hbv_1_0", options={"compile": True}))
    assert not model.native


def test_without_a_compiler_it_warns_once_and_falls_back(monkeypatch):
    def no_compiler():
        raise native.NativeUnavailable("no C++ compiler found (test)")

    monkeypatch.setattr(native, "compiler", no_compiler)
    monkeypatch.setattr(native, "_LOADED", {})
    monkeypatch.setattr(hbv_native, "_state", {})
    model, forcing, params, attrs = make_case("hbv_1_0", n_t=30)
    with pytest.warns(RuntimeWarning, match=r"using the slower torch path: no C\+\+ compiler found \(test\)"):
        out, _ = model(forcing, params, attrs)
    assert not model._native(forcing)
    assert hbv_native.why_unavailable() == "no C++ compiler found (test)"
    ref, _ = _with_options(model, native=False)(forcing, params, attrs)
    assert torch.equal(out["streamflow"], ref["streamflow"])


def test_failed_build_names_the_compiler_and_its_message(tmp_path, monkeypatch):
    fake = tmp_path / "fake-cxx"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo fake 1.0; exit 0; }\n"
                    "echo 'hbv_kernel.cpp:1: error: boom' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    monkeypatch.setenv("DMG_BMI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "_LOADED", {})
    with pytest.raises(native.NativeUnavailable, match=r"fake-cxx failed to build hbv_kernel.cpp \(exit 3\)"
                       r":\n.*error: boom"):
        native.load(hbv_native.SOURCE)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # no half-written library left


@needs_kernel
def test_kernel_is_built_once_and_then_loaded_from_the_cache(tmp_path):
    """A fresh cache folder: the first process compiles, a second one only loads (warm-up reported)."""
    script = textwrap.dedent("""
        import json
        from dmg_bmi.domains.hydrology import hbv_native
        lib = hbv_native.kernel()
        print(json.dumps({"built": lib.built, "seconds": lib.seconds, "path": str(lib.path),
                          "describe": lib.describe()}))
    """)
    env = {**os.environ, "DMG_BMI_CACHE": str(tmp_path)}
    runs = []
    for _ in range(2):
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                             timeout=300, check=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    assert runs[0]["built"] and "compiled in" in runs[0]["describe"]
    assert not runs[1]["built"] and "loaded from cache" in runs[1]["describe"]
    assert runs[0]["path"] == runs[1]["path"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [os.path.basename(runs[0]["path"])]


@needs_kernel
def test_the_kernel_refuses_what_it_would_misread():
    """A missing parameter (it would read as 0), wrong layouts or checkpoints (out-of-bounds access):
    ValueError naming them, before the kernel touches memory."""
    from dmg_bmi.domains.hydrology.hbv_core import Variant

    v = Variant(betaet=True, capillary=False, exchange=False)
    forcing, stores = torch.zeros(70, 2, 3), [torch.ones(2, 4)] * 5
    params = {k: torch.ones(2, 4) for k in hbv_native.PARAMS[:12]}
    with pytest.raises(ValueError, match=r"parameters \['parBETAET'\] are missing or not used"):
        hbv_native.forward(v, forcing, stores, params)
    params["parBETAET"] = torch.ones(3, 4)
    with pytest.raises(ValueError, match=r"parameter parBETAET must be torch.float32 \[2, 4\] or \[70, 2"):
        hbv_native.forward(v, forcing, stores, params)
    params["parBETAET"] = torch.ones(2, 4)
    _, _, ckpt = hbv_native.forward(v, forcing, stores, params, checkpoints=True)
    assert ckpt.shape == (2, 5, 2, 4)  # 70 days: checkpoints at days 0 and 64
    with pytest.raises(ValueError, match="checkpoints must be torch.float32 with 2 segments"):
        hbv_native.backward(v, forcing, ckpt[:1], params, None, None)
    with pytest.raises(ValueError, match=r"adjoints of the means must be \[T, >= 9, B\]"):
        hbv_native.backward(v, forcing, ckpt, params, torch.zeros(70, 9, 3), None)
    with pytest.raises(ValueError, match="stores must be"):
        hbv_native.forward(v, forcing, [torch.ones(3, 4)] * 5, params)
