"""The torch.compile'd fused kernels give the eager results (slow: compilation takes tens of seconds)."""

from __future__ import annotations

import pytest
import torch
from test_hbv_grad import _grads, _with_options
from test_hbv_physics import DYNAMIC, make_case


@pytest.mark.slow
def test_compiled_equals_eager():
    name = "hbv_2"
    model, forcing, params, attrs = make_case(name, n_t=11, dynamic=DYNAMIC[name])  # 2 chunks + remainder
    eager = _with_options(model, fused=False)
    compiled = _with_options(model, fused=True, compile=True, chunk=4)
    out_e, g_e = _grads(eager, forcing, params, attrs)
    out_c, g_c = _grads(compiled, forcing, params, attrs)
    for k in out_e:
        assert torch.allclose(out_c[k], out_e[k], rtol=1e-9, atol=1e-12), k
    for k in g_e:
        assert torch.allclose(g_c[k], g_e[k], rtol=1e-7, atol=1e-10 * float(g_e[k].abs().max())), k
