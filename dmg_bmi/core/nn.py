"""Parameter-learning networks: normalized forcings + attributes -> parameters in (0, 1).

Every learner maps normalized forcings `x [T, B, nx]` and normalized attributes `c [B, na]` to
- dynamic parameters `[T, B, n_dynamic]`, one value per time step, and
- static parameters `[B, n_static]`, computed from the attributes only, so they never depend on the
  window length or its end date (unlike taking them from an LSTM's last step).
Outputs are unitless, squashed by a sigmoid into (0, 1); the delta model scales them into physical bounds.

Registered learners:
- "lstm": LSTM on [forcings, attributes] -> dynamic head; one linear layer on attributes -> static head.
- "lstm_mlp": the same LSTM -> dynamic head; an MLP (`mlp_layers` hidden layers) on attributes -> static.
- "mlp": per-step MLP on [forcings, attributes] -> dynamic head (if any); MLP on attributes -> static.
With no dynamic parameters the LSTM is not built and the hidden state is the empty tuple.

`step` (one time step, carrying the hidden state) and the sequence `forward` share the same code, so
stepping T times equals the sequence run. `numpy_stepper(c)` exports the weights to float64 numpy for a
low-overhead per-step inference path (the BMI), with the attribute part of the input layer precomputed.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from dmg_bmi.core.config import NNConfig
from dmg_bmi.core.registry import register_nn
from dmg_bmi.errors import InputError

Hidden = tuple  # () or (h [B, H], c [B, H])


def _linear(n_in: int, n_out: int) -> nn.Linear:
    """nn.Linear that also accepts n_in == 0 (then it is a learned constant, initialized to 0)."""
    if n_in > 0:
        return nn.Linear(n_in, n_out)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return nn.Linear(0, n_out)


class _MLP(nn.Module):
    """`layers` hidden layers of width `hidden` (ReLU, dropout), then a linear output layer."""

    def __init__(self, n_in: int, n_out: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        sizes = [n_in] + [hidden] * layers
        self.hidden = nn.ModuleList(_linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.drop = nn.Dropout(dropout)
        self.out = _linear(sizes[-1], n_out)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            z = self.drop(torch.relu(layer(z)))
        return self.out(z)

    def numpy_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W, b), ...] as float64 arrays, hidden layers first, output layer last."""
        return [_np_linear(layer) for layer in (*self.hidden, self.out)]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def _np_linear(layer: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    return _np(layer.weight), _np(layer.bias)


def _np_sigmoid(z: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`x @ w` for the batch-1 numpy steppers, computed by einsum's own loop instead of BLAS.

    A BMI step multiplies `[1, n]` rows: a threaded BLAS splits such a product across threads that sleep
    between the framework's steps, and waking them costs ~0.2 ms per step inside ngen (measured with
    benchmarks/ngen_step.py), far more than the ~5 us the product takes on one core."""
    return np.einsum("ij,jk->ik", x, w)


def _np_mlp(layers: list[tuple[np.ndarray, np.ndarray]], z: np.ndarray) -> np.ndarray:
    for w, b in layers[:-1]:
        z = np.maximum(_dot(z, w.T) + b, 0.0)
    w, b = layers[-1]
    return _dot(z, w.T) + b


class ParamLearner(nn.Module):
    """Base class of the parameter learners (see the module docstring for the contract)."""

    def __init__(self, n_forcings: int, n_attributes: int, n_dynamic: int, n_static: int, cfg: NNConfig):
        super().__init__()
        self.n_forcings = n_forcings
        self.n_attributes = n_attributes
        self.n_dynamic = n_dynamic
        self.n_static = n_static
        self.cfg = cfg

    # --- contract -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x [T, B, nx]`, `c [B, na]` -> `(dyn [T, B, n_dynamic], static [B, n_static])` in (0, 1)."""
        dyn, static, _ = self.sequence(x, c)
        return dyn, static

    def sequence(
        self, x: torch.Tensor, c: torch.Tensor, hidden: Hidden | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        """Like `forward`, starting from `hidden` (None: zeros) and also returning the final hidden state."""
        self._check(x, c, 3)
        dyn, hidden = self._dynamic_sequence(x, c, hidden)
        return dyn, self.static(c), hidden

    def static(self, c: torch.Tensor) -> torch.Tensor:
        """Static parameters `[B, n_static]` in (0, 1) from the attributes `c [B, na]` alone."""
        return torch.sigmoid(self.static_head(c))

    def step(self, x_t: torch.Tensor, c: torch.Tensor, hidden: Hidden) -> tuple[torch.Tensor, Hidden]:
        """One time step: `x_t [B, nx]`, `c [B, na]`, hidden -> `(dyn_t [B, n_dynamic], hidden)`."""
        self._check(x_t, c, 2)
        dyn, hidden = self._dynamic_sequence(x_t.unsqueeze(0), c, hidden)
        return dyn[0], hidden

    def init_hidden(
        self, batch: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
    ) -> Hidden:
        """The zero hidden state: `()` for stateless learners, `(h, c)` each `[B, H]` for LSTMs."""
        return ()

    def numpy_stepper(self, c: torch.Tensor) -> NumpyStepper:
        """A float64 numpy copy of this learner bound to attributes `c [B, na]` (eval mode, no dropout)."""
        raise NotImplementedError

    # --- helpers for subclasses -----------------------------------------------------------------
    def _dynamic_sequence(self, x, c, hidden):
        raise NotImplementedError

    def _check(self, x: torch.Tensor, c: torch.Tensor, x_dim: int) -> None:
        what = "x [T, B, nx]" if x_dim == 3 else "x_t [B, nx]"
        if x.dim() != x_dim or x.shape[-1] != self.n_forcings:
            raise InputError(f"NN forcing {what} must have nx={self.n_forcings}, got shape {tuple(x.shape)}")
        if c.dim() != 2 or c.shape[1] != self.n_attributes or c.shape[0] != x.shape[-2]:
            want = f"[B={x.shape[-2]}, na={self.n_attributes}]"
            raise InputError(f"NN attributes c must be {want}, got shape {tuple(c.shape)}")

    def _np_static(self, c: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return _np(self.static(c))


class NumpyStepper:
    """Per-step inference in float64 numpy for one fixed set of attributes.

    `static` is `[B, n_static]` in (0, 1); `init_hidden()` gives the zero hidden state (tuple of `[B, H]`
    arrays, or `()`); `step(x_t [B, nx], hidden) -> (dyn_t [B, n_dynamic], hidden)` equals the torch
    learner's `step` in eval mode.
    """

    def __init__(self, static: np.ndarray, n_dynamic: int):
        self.static = static
        self.batch = static.shape[0]
        self.n_dynamic = n_dynamic

    def init_hidden(self) -> Hidden:
        return ()

    def step(self, x_t: np.ndarray, hidden: Hidden) -> tuple[np.ndarray, Hidden]:
        return np.zeros((self.batch, 0)), hidden


class _NumpyLSTM(NumpyStepper):
    """The LSTM step with one tanh over all gates: the i, f, o gate columns are pre-scaled by 1/2 so that
    sigmoid(g) = (1 + tanh(g / 2)) / 2 comes from the same tanh as the cell candidate."""

    def __init__(self, static, n_dynamic, w_x, cb, w_ih, w_hh, b_gates, out_layer):
        super().__init__(static, n_dynamic)
        n = b_gates.shape[0] // 4
        scale = np.full(4 * n, 0.5)
        scale[2 * n : 3 * n] = 1.0
        self.w_x, self.cb = w_x.T.copy(), cb  # input layer split: x part, precomputed attribute part
        self.w_gates = np.concatenate((w_ih.T, w_hh.T), axis=0) * scale  # [H + H, 4H] acting on [z, h]
        self.b_gates = b_gates * scale
        self.w_out, self.b_out = out_layer[0].T.copy(), out_layer[1]
        self.hidden_size = n

    def init_hidden(self) -> Hidden:
        zeros = np.zeros((self.batch, self.hidden_size))
        return zeros, zeros.copy()

    def step(self, x_t: np.ndarray, hidden: Hidden) -> tuple[np.ndarray, Hidden]:
        h, cell = hidden
        n = self.hidden_size
        z = np.maximum(_dot(x_t, self.w_x) + self.cb, 0.0)
        t = np.tanh(_dot(np.concatenate((z, h), axis=1), self.w_gates) + self.b_gates)
        s = 0.5 * t + 0.5  # the sigmoid gates (i, f, o columns)
        cell = s[:, n : 2 * n] * cell + s[:, :n] * t[:, 2 * n : 3 * n]
        h = s[:, 3 * n :] * np.tanh(cell)
        return _np_sigmoid(_dot(h, self.w_out) + self.b_out), (h, cell)


class _NumpyMLP(NumpyStepper):
    def __init__(self, static, n_dynamic, w_x, cb, layers):
        super().__init__(static, n_dynamic)
        self.w_x, self.cb, self.layers = w_x.T.copy(), cb, layers

    def step(self, x_t: np.ndarray, hidden: Hidden) -> tuple[np.ndarray, Hidden]:
        z = _dot(x_t, self.w_x) + self.cb
        if self.layers:  # first layer was the (split) input layer: activate, then the rest
            z = _np_mlp(self.layers, np.maximum(z, 0.0))
        return _np_sigmoid(z), hidden


class _LSTMLearner(ParamLearner):
    """LSTM dynamic head shared by "lstm" and "lstm_mlp"; subclasses choose the static head depth."""

    def __init__(self, n_forcings, n_attributes, n_dynamic, n_static, cfg: NNConfig):
        super().__init__(n_forcings, n_attributes, n_dynamic, n_static, cfg)
        h = cfg.hidden_size
        if n_dynamic > 0:
            self.linear_in = _linear(n_forcings + n_attributes, h)
            self.lstm = nn.LSTM(h, h)
            self.drop = nn.Dropout(cfg.dropout)
            self.linear_out = nn.Linear(h, n_dynamic)
        layers = self._static_layers(cfg)
        self.static_head = _MLP(n_attributes, n_static, cfg.mlp_hidden_size, layers, cfg.dropout)

    @staticmethod
    def _static_layers(cfg: NNConfig) -> int:
        """Hidden layers of the static head."""
        raise NotImplementedError

    def init_hidden(self, batch, dtype=torch.float32, device="cpu") -> Hidden:
        if self.n_dynamic == 0:
            return ()
        zeros = torch.zeros(batch, self.cfg.hidden_size, dtype=dtype, device=device)
        return zeros, zeros.clone()

    def _input_layer(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """relu(W [x, c] + b), computed as W_x x + (W_c c + b) so attributes are not repeated over time."""
        w, b = self.linear_in.weight, self.linear_in.bias
        nx = self.n_forcings
        return torch.relu(nn.functional.linear(x, w[:, :nx]) + nn.functional.linear(c, w[:, nx:], b))

    def _dynamic_sequence(self, x, c, hidden):
        if self.n_dynamic == 0:
            return x.new_zeros(x.shape[0], x.shape[1], 0), ()
        if hidden is None or len(hidden) == 0:
            hidden = self.init_hidden(x.shape[1], x.dtype, x.device)
        h, cell = hidden
        out, (h, cell) = self.lstm(self._input_layer(x, c), (h.unsqueeze(0), cell.unsqueeze(0)))
        dyn = torch.sigmoid(self.linear_out(self.drop(out)))
        return dyn, (h[0], cell[0])

    def numpy_stepper(self, c: torch.Tensor) -> NumpyStepper:
        static = self._np_static(c)
        if self.n_dynamic == 0:
            return NumpyStepper(static, 0)
        w_in, b_in = _np_linear(self.linear_in)
        nx = self.n_forcings
        cb = _np(c) @ w_in[:, nx:].T + b_in
        w_ih, w_hh = _np(self.lstm.weight_ih_l0), _np(self.lstm.weight_hh_l0)
        b = _np(self.lstm.bias_ih_l0) + _np(self.lstm.bias_hh_l0)
        out = _np_linear(self.linear_out)
        return _NumpyLSTM(static, self.n_dynamic, w_in[:, :nx], cb, w_ih, w_hh, b, out)


@register_nn("lstm")
class LSTMLearner(_LSTMLearner):
    """LSTM -> dynamic parameters; a single linear layer on attributes -> static parameters."""

    @staticmethod
    def _static_layers(cfg: NNConfig) -> int:
        return 0


@register_nn("lstm_mlp")
class LSTMMLPLearner(_LSTMLearner):
    """LSTM -> dynamic parameters; an MLP (`mlp_layers` x `mlp_hidden_size`) on attributes -> static."""

    @staticmethod
    def _static_layers(cfg: NNConfig) -> int:
        return cfg.mlp_layers


@register_nn("mlp")
class MLPLearner(ParamLearner):
    """MLP on attributes -> static parameters; per-step MLP on [forcings, attributes] -> dynamic ones."""

    def __init__(self, n_forcings, n_attributes, n_dynamic, n_static, cfg: NNConfig):
        super().__init__(n_forcings, n_attributes, n_dynamic, n_static, cfg)
        layers = cfg.mlp_layers
        self.static_head = _MLP(n_attributes, n_static, cfg.mlp_hidden_size, layers, cfg.dropout)
        if n_dynamic > 0:
            self.dynamic_head = _MLP(n_forcings + n_attributes, n_dynamic, cfg.mlp_hidden_size, layers,
                                     cfg.dropout)

    def _dynamic_sequence(self, x, c, hidden):
        if self.n_dynamic == 0:
            return x.new_zeros(x.shape[0], x.shape[1], 0), ()
        first = self.dynamic_head.hidden[0] if self.dynamic_head.hidden else self.dynamic_head.out
        w, b, nx = first.weight, first.bias, self.n_forcings
        z = nn.functional.linear(x, w[:, :nx]) + nn.functional.linear(c, w[:, nx:], b)
        if self.dynamic_head.hidden:  # the rest of the MLP after its (split) first layer
            z = self.dynamic_head.drop(torch.relu(z))
            for layer in self.dynamic_head.hidden[1:]:
                z = self.dynamic_head.drop(torch.relu(layer(z)))
            z = self.dynamic_head.out(z)
        return torch.sigmoid(z), ()

    def numpy_stepper(self, c: torch.Tensor) -> NumpyStepper:
        static = self._np_static(c)
        if self.n_dynamic == 0:
            return NumpyStepper(static, 0)
        layers = self.dynamic_head.numpy_layers()
        (w, b), rest = layers[0], layers[1:]
        nx = self.n_forcings
        return _NumpyMLP(static, self.n_dynamic, w[:, :nx], _np(c) @ w[:, nx:].T + b, rest)
