"""An untrained demo checkpoint for BMI tests, benchmarks and the shipped example config.

It has the production shape (LSTM hidden 64 -> dynamic parBETA/parK0/parBETAET, MLP on attributes -> static
parameters, HBV 1.1p with nmul 16 and routing) and realistic normalization statistics, but random weights:
it exercises every code path of the BMI, it does not make skilful predictions. Use a trained checkpoint
(e.g. from `dmg-bmi quickstart`) for real runs. With `correction`, it also has an output correction network
(`dmg_bmi.core.correction`) whose last layer is random too, so that the correction is not the identity.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dmg_bmi.core.checkpoint import save_checkpoint
from dmg_bmi.core.config import CorrectionConfig, InputConfig, ModelConfig, NNConfig, PhyConfig
from dmg_bmi.core.delta import DeltaModel
from dmg_bmi.core.normalization import Normalizer, VarStats

# name: (mean, std) in the units of the CAMELS attribute tables (mm/d, m, m/km, km2, -)
DEMO_ATTRIBUTES = {
    "p_mean": (3.3, 1.5), "pet_mean": (2.8, 0.6), "aridity": (1.0, 0.6), "frac_snow": (0.15, 0.15),
    "elev_mean": (760.0, 750.0), "slope_mean": (45.0, 45.0),
}
DEMO_FORCINGS = {"P": (0.05, 0.35, True), "T": (10.0, 9.0, False), "PET": (2.5, 1.8, False)}


def make_demo_checkpoint(path: str | Path, *, nmul: int = 16, hidden: int = 64, seed: int = 0,
                         pet_method: str = "hamon", dtype: str = "float32",
                         attributes: dict[str, tuple[float, float]] | None = None,
                         correction: CorrectionConfig | None = None, physics: str = "hbv_1_1p",
                         options: dict | None = None, dynamic: list[str] | None = None,
                         routing: bool = True) -> Path:
    """Write an untrained DeltaModel checkpoint (see the module docstring) to `path`.

    `attributes`: {name: (mean, std)} of the network's attributes in their table's units (default:
    `DEMO_ATTRIBUTES`, CAMELS names); `pet_method: "forcing"` makes a checkpoint that reads PET as a forcing;
    `correction`: its `model.correction` (None: none); `physics`, `options`, `dynamic`: `model.phy.name`,
    `.options`, `.dynamic_params` (default: HBV 1.1p with dynamic parBETA, parK0, parBETAET) and `.routing`.
    """
    attributes = DEMO_ATTRIBUTES if attributes is None else attributes
    cfg = ModelConfig(
        phy=PhyConfig(name=physics, nmul=nmul, warmup=0, options=dict(options or {}), routing=routing,
                      dynamic_params=list(dynamic or ["parBETA", "parK0", "parBETAET"])),
        nn=NNConfig(name="lstm_mlp", hidden_size=hidden, mlp_hidden_size=64, mlp_layers=2),
        inputs=InputConfig(forcings=list(DEMO_FORCINGS), attributes=list(attributes), log_norm=["P"],
                           pet_method=pet_method),
        dtype=dtype,
        correction=correction,
    )
    torch.manual_seed(seed)
    model = DeltaModel.from_config(cfg, len(DEMO_FORCINGS), len(attributes))
    if model.correction is not None:
        with torch.no_grad():
            model.correction.mlp.out.weight.normal_(0.0, 0.5)
    stats = {k: VarStats(m, s, log) for k, (m, s, log) in DEMO_FORCINGS.items()}
    stats.update({k: VarStats(m, s) for k, (m, s) in attributes.items()})
    return save_checkpoint(path, model, Normalizer(stats), derivations={"PET": {"method": pet_method}},
                           training={"note": "untrained demo checkpoint (dmg_bmi.ngen.demo)"})
