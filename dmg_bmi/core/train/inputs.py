"""Model-ready tensors from a dataset: normalized NN inputs, physics forcings and attributes, target.

Layouts follow the delta-model contract: `x_nn [T, B, nx]` (normalized, NaN -> 0), `c_nn [B, na]`,
`x_phy [T, B, F]` in physics units (P mm/d, T degC, PET mm/d), `attrs_phy {name: [B]}`, target `[T, B]`.
The dataset is any object with the reads of `Dataset` (the package's basin NetCDF: `dmg_bmi.data.dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from dmg_bmi.core.config import ModelConfig
from dmg_bmi.core.normalization import Normalizer
from dmg_bmi.errors import InputError

if TYPE_CHECKING:
    from dmg_bmi.core.train.validation import ValidationSet


class Dataset(Protocol):
    """What the tensors are read from: B sites x T days (`dmg_bmi.data.dataset.HydroDataset`)."""

    origin: str  # where it was read from, for messages
    basins: np.ndarray  # [B] site ids
    dates: np.ndarray  # [T] datetime64[D]

    def forcings(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """`[B, T, len(names)]` float64 in the dataset's units."""

    def attributes(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """`[B, len(names)]` float64."""

    def target(self, name: str) -> np.ndarray:
        """`[B, T]` float64, NaN where not observed."""


@dataclass
class ModelTensors:
    """One period of several basins, ready for `DeltaModel.forward`."""

    x_nn: torch.Tensor
    c_nn: torch.Tensor
    x_phy: torch.Tensor
    attrs_phy: dict[str, torch.Tensor]
    target: torch.Tensor | None

    def index(self, time_idx: torch.Tensor, basin_idx: torch.Tensor) -> ModelTensors:
        """Windows: `time_idx [W, B]` day indices for each of the basins `basin_idx [B]`."""
        return ModelTensors(
            x_nn=self.x_nn[time_idx, basin_idx],
            c_nn=self.c_nn[basin_idx],
            x_phy=self.x_phy[time_idx, basin_idx],
            attrs_phy={k: v[basin_idx] for k, v in self.attrs_phy.items()},
            target=None if self.target is None else self.target[time_idx, basin_idx],
        )

    def basins(self, sl: slice) -> ModelTensors:
        """A contiguous block of basins over the whole period."""
        return ModelTensors(
            x_nn=self.x_nn[:, sl], c_nn=self.c_nn[sl], x_phy=self.x_phy[:, sl],
            attrs_phy={k: v[sl] for k, v in self.attrs_phy.items()},
            target=None if self.target is None else self.target[:, sl],
        )


def fit_normalizer(ds: Dataset, cfg: ModelConfig) -> Normalizer:
    """Statistics of the NN forcings (over basins and days) and attributes (over basins) of `ds`."""
    forcings = ds.forcings(cfg.inputs.forcings)
    attributes = ds.attributes(cfg.inputs.attributes)
    variables = {n: forcings[..., i] for i, n in enumerate(cfg.inputs.forcings)}
    variables.update({n: attributes[:, i] for i, n in enumerate(cfg.inputs.attributes)})
    return Normalizer.fit(variables, log_norm=[n for n in cfg.inputs.log_norm if n in variables])


def check_gaps(ds: Dataset, x_phy: np.ndarray, names: tuple[str, ...]) -> None:
    """Physics forcings `x_phy [B, T, F]` (named `names`) must be finite every day: the physics steps
    through each one. Otherwise InputError naming `ds.origin`, the forcing, the basin(s) and the date(s)."""
    for i, name in enumerate(names):
        b, t = np.nonzero(~np.isfinite(x_phy[..., i]))
        if b.size:
            basins = list(dict.fromkeys(str(x) for x in ds.basins[b]))
            raise InputError(
                f"{ds.origin}: physics forcing {name!r} is NaN or inf on {b.size} basin-day(s), first at "
                f"basin {ds.basins[b[0]]!r} on {ds.dates[t[0]]} (last {ds.dates[t.max()]}; basin(s) "
                f"{basins[:5]}{' ...' if len(basins) > 5 else ''}); the physics needs a value every day: "
                "fill the gaps, or choose a period or basins without them")


def build_tensors(
    ds: Dataset,
    cfg: ModelConfig,
    normalizer: Normalizer,
    phy_forcings: tuple[str, ...],
    phy_attributes: tuple[str, ...],
    target: str | None = None,
    device: torch.device | str = "cpu",
) -> ModelTensors:
    """All basins and days of `ds` as model-ready tensors in `cfg.dtype` on `device`."""
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32

    def tens(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    x_nn = normalizer.transform(ds.forcings(cfg.inputs.forcings), cfg.inputs.forcings)
    c_nn = normalizer.transform(ds.attributes(cfg.inputs.attributes), cfg.inputs.attributes)
    x_phy = ds.forcings(list(phy_forcings))
    check_gaps(ds, x_phy, phy_forcings)
    try:
        attrs = ds.attributes(list(phy_attributes))
    except InputError as exc:
        raise InputError(f"{exc}; the physics {cfg.phy.name!r} reads {list(phy_attributes)} itself (with "
                         "model.phy.options as set): add them to the data, or run a physics that does not "
                         "read them") from None
    return ModelTensors(
        x_nn=tens(x_nn.transpose(1, 0, 2)),
        c_nn=tens(c_nn),
        x_phy=tens(x_phy.transpose(1, 0, 2)),
        attrs_phy={n: tens(attrs[:, i]) for i, n in enumerate(phy_attributes)},
        target=None if target is None else tens(ds.target(target).T),
    )


@dataclass
class WindowData:
    """What the window trainer (`trainer.train_windows`) trains on, prepared by its caller."""

    tensors: ModelTensors  # the training period with its warm-up, target NaN outside the period
    basins: list[str]  # site ids, in tensor order
    basin_std: torch.Tensor  # [B] each site's target standard deviation over the period (target units)
    normalizer: Normalizer  # NN input statistics (fitted on the training period, or the resumed run's)
    derivations: dict  # the checkpoint's `derivations` entry, e.g. {"PET": {"method": "hamon"}}
    validation: ValidationSet | None = None  # what picks best.pt (`selection`); None: the training loss
