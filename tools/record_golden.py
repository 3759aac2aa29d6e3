"""Record the golden outputs of `tests/golden_cases.py` into `tests/golden/`.

Run from the project root before a refactor that must not change any number: `python tools/record_golden.py`.
Writes `golden.npz` (the arrays) and `golden.json` (the environment they were computed in: exact comparison
is only promised on the same torch, numpy and CPU instruction set).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import golden_cases  # noqa: E402

from dmg_bmi.atomic import write_bytes, write_text  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as work:
        arrays = golden_cases.compute(Path(work))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    folder = REPO / "tests" / "golden"
    write_bytes(folder / "golden.npz", buf.getvalue())
    write_text(folder / "golden.json", json.dumps(golden_cases.environment(), indent=2) + "\n")
    print(f"recorded {len(arrays)} arrays from {len(golden_cases.CASES)} cases into {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
