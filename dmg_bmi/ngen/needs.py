"""What a checkpoint needs from a site and its forcing, as its domain says: the attributes, the latitude, the
BMI inputs; read by the ngen writers (`bmi-config`, `realization`, `demo`) and `dmg-bmi inspect`."""

from __future__ import annotations

from pathlib import Path

from dmg_bmi.core.checkpoint import load_checkpoint
from dmg_bmi.domains import domain_or_core


def needed_attributes(checkpoint: Path) -> list[str]:
    """Attribute names the checkpoint's network and physics need, in order."""
    ckpt = load_checkpoint(checkpoint)
    return list(dict.fromkeys([*ckpt.nn_attributes, *ckpt.phy_attributes]))


def reads_latitude(checkpoint: Path) -> bool:
    """Whether the checkpoint reads the site latitude (degrees north), as its domain says
    (`Domain.needs_latitude`: e.g. not a hydrology one taking PET as a forcing)."""
    ckpt = load_checkpoint(checkpoint)
    return domain_or_core(ckpt.config.phy.name).needs_latitude(ckpt)


def load_handler(checkpoint: Path):
    """The handler `DeltaModelBmi` loads for a config naming this one checkpoint (its domain's, else the
    core `ModelHandler`): its `input_names` and `fingerprint` are the BMI's."""
    domain = domain_or_core(load_checkpoint(checkpoint).config.phy.name)
    return domain.load_handler([checkpoint], [1.0], "cpu", "auto")


def needed_inputs(checkpoint: Path) -> tuple[str, ...]:
    """The BMI inputs (CSDMS names, `dmg_bmi.core.variables` order) the checkpoint reads: exactly what
    `DeltaModelBmi.get_input_var_names()` declares for it, so what a realization's forcing must provide."""
    return load_handler(checkpoint).input_names
