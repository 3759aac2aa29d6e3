"""Output correction: a network that post-processes one physics output, its change reported as its own flux.

A delta model with `model.correction` runs the physics, then corrects the output named `correction.output`
(one the physics lists in `PhysicsModel.correctable`: a flux whose correction its domain accounts for):

    corrected = raw * g + b,   g = max_factor ** tanh(z_g)  in [1 / max_factor, max_factor],
                               b = max_offset * sigmoid(z_b) in [0, max_offset]  (output units; off at 0)

so the corrected output is never negative where the raw one is not. `(z_g, z_b)` come from a per-step MLP
(`hidden_size` units, `layers` hidden layers, ReLU) over the step's normalized network forcings, the
normalized attributes and the physics outputs named in `correction.features` (the corrected output itself
always among them), each as `sign(x) log(1 + |x|)` (their units differ and some span decades). The last
layer starts at zero weights and `z_b = -4`, so an untrained correction is g = 1 and b ~ 0.018 max_offset.

The correction has no memory: applied to a sequence it equals T single steps, and the physics' step ==
sequence property carries over. The model reports the uncorrected output as `<output>_physics` and the
correction flux `corrected - raw` as `<output>_correction` (same units), so a domain's mass balance shows it
as its own term (hydrology: water the correction added (+) or removed (-)). This is δMG's post-processing
modality; unlike a plain learned bias correction, what it adds or removes stays accountable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from dmg_bmi.core.config import CorrectionConfig
from dmg_bmi.core.nn import _MLP, _np_mlp, _np_sigmoid
from dmg_bmi.errors import ConfigError

_OFFSET_BIAS = -4.0  # initial z_b: the offset starts at sigmoid(-4) ~ 1.8 % of max_offset
PHYSICS_SUFFIX = "_physics"  # `<output>_physics`: the uncorrected output
FLUX_SUFFIX = "_correction"  # `<output>_correction`: corrected - raw


def symlog(x):
    """`sign(x) log(1 + |x|)` (tensor or numpy): the features' scale-free form."""
    if isinstance(x, torch.Tensor):
        return torch.sign(x) * torch.log1p(torch.abs(x))
    return np.sign(x) * np.log1p(np.abs(x))


def corrected_names(cfg: CorrectionConfig) -> tuple[str, str]:
    """(uncorrected output name, correction flux name) that a corrected model adds to its outputs."""
    return cfg.output + PHYSICS_SUFFIX, cfg.output + FLUX_SUFFIX


def check_correction(cfg: CorrectionConfig, phy, phy_name: str) -> tuple[str, ...]:
    """The physics outputs the network reads (`cfg.output` first), each checked against `phy`: ConfigError
    naming the key when the output is not correctable or a feature is not an output of the physics."""
    allowed = tuple(getattr(phy, "correctable", ()))
    if cfg.output not in allowed:
        listed = list(allowed) or "(none: its domain accounts for no correction)"
        raise ConfigError(f"model.correction.output: {phy_name!r} cannot have {cfg.output!r} corrected; "
                          f"correctable outputs: {listed}")
    outputs = tuple(phy.output_names)
    for i, name in enumerate(cfg.features):
        if name not in outputs:
            raise ConfigError(f"model.correction.features[{i}]: {name!r} is not an output of {phy_name!r}; "
                              f"valid: {list(outputs)}")
    return (cfg.output, *(n for n in cfg.features if n != cfg.output))


class OutputCorrection(nn.Module):
    """The correction network of one delta model (module docstring); `apply` works on a step or a sequence.

    `n_forcings`, `n_attributes`: the network inputs' widths; `features`: physics output names it reads."""

    def __init__(self, cfg: CorrectionConfig, features: tuple[str, ...], n_forcings: int, n_attributes: int):
        super().__init__()
        self.cfg = cfg
        self.features = features
        self.log_factor = math.log(cfg.max_factor)
        self.mlp = _MLP(n_forcings + n_attributes + len(features), 2, cfg.hidden_size, cfg.layers, 0.0)
        with torch.no_grad():
            self.mlp.out.weight.zero_()
            self.mlp.out.bias.copy_(torch.tensor([0.0, _OFFSET_BIAS]))
        self.physics_name, self.flux_name = corrected_names(cfg)

    def factor_offset(self, x_nn: torch.Tensor, c_nn: torch.Tensor, outputs: dict) -> tuple:
        """`(g, b)`, each `[..., B]`, for network forcings `x_nn [..., B, nx]`, attributes `c_nn [B, na]` and
        physics `outputs` {name: `[..., B]`}."""
        feats = torch.stack([symlog(outputs[n]) for n in self.features], -1)
        z = self.mlp(torch.cat([x_nn, c_nn.expand(*x_nn.shape[:-1], c_nn.shape[-1]), feats], -1))
        g = torch.exp(self.log_factor * torch.tanh(z[..., 0]))
        return g, self.cfg.max_offset * torch.sigmoid(z[..., 1])

    def apply(self, x_nn: torch.Tensor, c_nn: torch.Tensor, outputs: dict) -> dict:
        """`outputs` with `cfg.output` corrected and `<output>_physics`, `<output>_correction` added."""
        raw = outputs[self.cfg.output]
        g, b = self.factor_offset(x_nn, c_nn, outputs)
        corrected = raw * g + b
        return {**outputs, self.cfg.output: corrected, self.physics_name: raw,
                self.flux_name: corrected - raw}

    def numpy(self, c_nn: np.ndarray) -> NumpyCorrection:
        """A float64 numpy copy bound to the attributes `c_nn [B, na]` (for the BMI's numpy path)."""
        return NumpyCorrection(self, np.asarray(c_nn, dtype=np.float64))


class NumpyCorrection:
    """`OutputCorrection.apply` on float64 numpy arrays for one step (`x_nn_t [B, nx]`, outputs `[B]`)."""

    def __init__(self, module: OutputCorrection, c_nn: np.ndarray):
        self._layers = module.mlp.numpy_layers()
        self._c = c_nn
        self._features = module.features
        self._log_factor = module.log_factor
        self._max_offset = module.cfg.max_offset
        self._output = module.cfg.output
        self._physics, self._flux = module.physics_name, module.flux_name

    def apply(self, x_nn_t: np.ndarray, outputs: dict) -> dict:
        feats = np.stack([symlog(np.asarray(outputs[n], dtype=np.float64)) for n in self._features], -1)
        z = _np_mlp(self._layers, np.concatenate([x_nn_t, self._c, feats], -1))
        g = np.exp(self._log_factor * np.tanh(z[..., 0]))
        raw = outputs[self._output]
        corrected = raw * g + self._max_offset * _np_sigmoid(z[..., 1])
        return {**outputs, self._output: corrected, self._physics: raw, self._flux: corrected - raw}
