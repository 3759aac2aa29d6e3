"""Parameter recovery on a synthetic twin: learned vs true parameters of (held-out) catchments."""

from __future__ import annotations

import numpy as np
import torch

from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.core.train.metrics import pearson_r
from dmg_bmi.data.dataset import HydroDataset

TRUE_PREFIX = "true_"


@torch.no_grad()
def learned_static_parameters(
    model: DeltaModel, normalizer: Normalizer, ds: HydroDataset
) -> dict[str, np.ndarray]:
    """Static physical parameters `{name: [basin]}` (mean over the nmul members) from the attributes."""
    names = model.cfg.inputs.attributes
    c = normalizer.transform(ds.attributes(names), names)
    ref = next(model.parameters())
    params = model.static_params(torch.as_tensor(c, dtype=ref.dtype, device=ref.device))
    return {k: (v.mean(-1) if v.dim() == 2 else v).double().cpu().numpy() for k, v in params.items()}


def recovery_table(model: DeltaModel, normalizer: Normalizer, ds: HydroDataset) -> list[dict]:
    """Per parameter with a `true_<name>` attribute that varies (those the twin's `true_parameters`
    metadata lists, when present): `corr` (Pearson r; warns when fewer than 5 basins) and RMSE of learned vs
    true, in the parameter's units."""
    learned = learned_static_parameters(model, normalizer, ds)
    listed = [n for n in str(ds.metadata.get("true_parameters", "")).split(",") if n]
    rows = []
    for name, est in learned.items():
        true = ds.static.get(TRUE_PREFIX + name)
        if true is None or np.ptp(true) == 0 or (listed and name not in listed):
            continue
        r = pearson_r(est, true, f"parameter recovery of {name}")
        rows.append({"parameter": name, "corr": r, "rmse": float(np.sqrt(np.mean((est - true) ** 2))),
                     "true_mean": float(np.mean(true)), "learned_mean": float(np.mean(est))})
    return rows


def format_recovery(rows: list[dict]) -> str:
    lines = [f"{'parameter':<10} {'corr':>7} {'rmse':>9} {'true mean':>10} {'learned':>10}"]
    lines += [f"{r['parameter']:<10} {r['corr']:>7.3f} {r['rmse']:>9.4g} {r['true_mean']:>10.4g} "
              f"{r['learned_mean']:>10.4g}" for r in rows]
    return "\n".join(lines)
