"""Validation scores of a delta model during training (`selection` picks `best.pt` on them).

The validation set is a whole period of some basins, with its warm-up before it (`ValidationSet`). The model
runs over it in eval mode without gradients, in blocks of basins, and `scores` gives the training loss
function over the whole period and the median NSE and KGE over the basins (`metrics.nse`, `metrics.kge`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dmg_bmi.core.train.inputs import ModelTensors
from dmg_bmi.core.train.losses import LossFn
from dmg_bmi.core.train.metrics import finite_median, kge, nse


@dataclass
class ValidationSet:
    """The validation period of the validation basins: `tensors` over `[start - lead, end]` (target NaN in
    the `lead` warm-up days), the basins in tensor order, each one's target standard deviation `basin_std
    [B]` (target units) and a label for messages (e.g. `3 basins, 2006-10-01..2010-09-30`)."""

    tensors: ModelTensors
    basins: list[str]
    basin_std: torch.Tensor
    label: str


@torch.no_grad()
def scores(model: torch.nn.Module, vset: ValidationSet, loss_fn: LossFn, output: str,
           batch_size: int) -> dict[str, float]:
    """`{"loss": ..., "nse": ..., "kge": ...}` of `model` (a `DeltaModel`) on `vset`: the loss function over
    the period's observed days of all basins, and the median NSE and KGE over the basins with a score (NaN
    when none has). `output` is the model output compared with the target; `batch_size` basins run at once.
    The model is left in training mode."""
    model.eval()
    try:
        parts = []
        n = len(vset.basins)
        for b0 in range(0, n, batch_size):
            block = vset.tensors.basins(slice(b0, b0 + batch_size))
            outputs, _ = model(block.x_nn, block.c_nn, block.x_phy, block.attrs_phy)
            parts.append(outputs[output])
        pred = torch.cat(parts, dim=1)  # [days after the model's warm-up, B]
    finally:
        model.train()
    target = vset.tensors.target[-pred.shape[0]:]
    loss = float(loss_fn(pred, target, vset.basin_std))
    sim, obs = pred.double().cpu().numpy(), target.double().cpu().numpy()
    out = {"loss": loss}
    for name, fn in (("nse", nse), ("kge", kge)):
        out[name] = finite_median([fn(sim[:, i], obs[:, i]) for i in range(n)])
    return out
