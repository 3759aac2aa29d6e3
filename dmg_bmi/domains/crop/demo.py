"""Demo δWOFOST checkpoints with an issue-14 modality, for BMI tests and benchmarks.

`with_modality(source, out, modality)` takes a trained crop checkpoint (e.g. the shipped
`bmi_configs/crop_twin_wofost72.pt`) and adds, with random weights (so that it changes the season but makes
no skilful prediction):
- "process": a learned process at WOFOST's `assimilation_reduction` hook (2 x 16 network, `model.process`);
- "daily": AMAXTB_SCALE in [0.3, 1.5] by day from an LSTM (8 units, learner "lstm_mlp") over the day's
  `DAILY_FORCINGS` (RAIN, ET0, TMAX, TMIN, IRRAD; normalization from plausible twin statistics).
Everything else (the static factors, their attribute MLP and its normalization) is the source's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.core.config import ProcessConfig
from dmg_bmi.core.normalization import Normalizer, VarStats
from dmg_bmi.domains.crop.checkpoint import save_crop_checkpoint
from dmg_bmi.domains.crop.delta import CropDeltaModel
from dmg_bmi.errors import ConfigError

MODALITIES = ("process", "daily")
# the "daily" modality's network forcings: (mean, std) in crop dataset units (cm d-1, degC, J m-2 d-1)
DAILY_FORCINGS = {"RAIN": (0.2, 0.4), "ET0": (0.3, 0.15), "TMAX": (20.0, 7.0), "TMIN": (9.0, 6.0),
                  "IRRAD": (1.6e7, 7e6)}


def with_modality(source: str | Path, out: str | Path, modality: str, seed: int = 0) -> Path:
    """Write `source` with `modality` added (module docstring) to `out`; returns `out`."""
    if modality not in MODALITIES:
        raise ConfigError(f"modality {modality!r}: one of {list(MODALITIES)}")
    ckpt = load_checkpoint(source)
    cfg, stats = ckpt.config, dict(ckpt.normalization.stats)
    if modality == "process":
        cfg = dataclasses.replace(cfg, process=ProcessConfig(hook="assimilation_reduction"))
    else:
        learned = {**cfg.phy.options["learned_params"], "AMAXTB_SCALE": {"lo": 0.3, "hi": 1.5}}
        cfg = dataclasses.replace(
            cfg, phy=dataclasses.replace(cfg.phy, options={**cfg.phy.options, "learned_params": learned},
                                         dynamic_params=["AMAXTB_SCALE"]),
            nn=dataclasses.replace(cfg.nn, name="lstm_mlp", hidden_size=8),
            inputs=dataclasses.replace(cfg.inputs, forcings=list(DAILY_FORCINGS)))
        stats.update({n: VarStats(m, sd) for n, (m, sd) in DAILY_FORCINGS.items()})
    torch.manual_seed(seed)
    model = CropDeltaModel.from_config(cfg, len(ckpt.nn_attributes))
    missing, unexpected = model.load_state_dict(ckpt.state_dict, strict=False)
    new = ("process.",) if modality == "process" else ("nn.linear_", "nn.lstm.")
    if unexpected or not all(k.startswith(new) for k in missing):
        raise ConfigError(f"{source}: not a plain δWOFOST checkpoint with an attribute MLP (missing "
                          f"{missing}, unexpected {unexpected})")
    if modality == "process":  # the untrained process is exactly neutral: move it off 1
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for w in model.process.parameters():
                w.add_(0.4 * torch.randn(w.shape, generator=gen, dtype=w.dtype))
    return save_crop_checkpoint(out, model, Normalizer(stats), training=ckpt.training)
