"""Behaviour is unchanged: the golden outputs recorded by `tools/record_golden.py` (the BMI over a year for
HBV and crop, `simulate` on the twin, short seeded training runs of both domains) are recomputed and must be
identical, bit for bit, in the environment they were recorded in (elsewhere: to 1e-6 relative for the runs,
and 1e-4 for trained weights, which differ with the CPU's BLAS kernels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from golden_cases import CASES, PCSE, compute, environment

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "golden.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads((GOLDEN / "golden.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_golden_outputs_unchanged(case, golden, tmp_path):
    if case.endswith("crop") and not PCSE.is_dir():
        pytest.skip(f"{PCSE} is absent: the crop cases need its PCSE parameter sets")
    recorded, env = golden
    expected = {k: v for k, v in recorded.items() if k.startswith(f"{case}/")}
    assert expected, f"no golden arrays for case {case}: run tools/record_golden.py"
    got = compute(tmp_path, [case])
    assert sorted(got) == sorted(expected)
    exact = env == environment()
    for key, want in expected.items():
        assert got[key].shape == want.shape, key
        if exact:
            assert np.array_equal(got[key], want, equal_nan=True), (
                f"{key}: max |diff| {np.nanmax(np.abs(got[key] - want))}")
        else:
            rtol = 1e-4 if "/weight_" in key else 1e-6
            np.testing.assert_allclose(got[key], want, rtol=rtol, atol=1e-9, err_msg=key)
