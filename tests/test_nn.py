"""Parameter learners: shapes, ranges, step == sequence, window independence of static outputs, numpy path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmg_bmi.core.config import NNConfig
from dmg_bmi.core.nn import ParamLearner
from dmg_bmi.core.registry import available, get_nn
from dmg_bmi.errors import InputError

NAMES = ["lstm", "lstm_mlp", "mlp"]
NX, NA, NDYN, NSTAT = 3, 5, 4, 7


def make(name: str, n_dynamic: int = NDYN, n_attributes: int = NA, **cfg) -> ParamLearner:
    torch.manual_seed(0)
    nn_cfg = NNConfig(name=name, hidden_size=8, mlp_hidden_size=6, mlp_layers=2, **cfg)
    return get_nn(name)(NX, n_attributes, n_dynamic, NSTAT, nn_cfg).double().eval()


def inputs(t: int = 12, b: int = 3, na: int = NA, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(t, b, NX, generator=g, dtype=torch.float64),
            torch.randn(b, na, generator=g, dtype=torch.float64))


def test_registered():
    assert set(NAMES) <= set(available("nn"))
    for name in NAMES:
        assert issubclass(get_nn(name), ParamLearner)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_range(name):
    model = make(name)
    x, c = inputs()
    dyn, static = model(x, c)
    assert dyn.shape == (12, 3, NDYN) and static.shape == (3, NSTAT)
    for out in (dyn, static):
        assert torch.all(out > 0) and torch.all(out < 1)
    # dynamic outputs vary in time (they respond to forcings), static ones are per basin
    assert dyn.std(dim=0).min() > 0


@pytest.mark.parametrize("name", NAMES)
def test_step_equals_sequence(name):
    model = make(name)
    x, c = inputs()
    dyn, _ = model(x, c)
    hidden = model.init_hidden(3, torch.float64)
    steps = []
    for t in range(x.shape[0]):
        d, hidden = model.step(x[t], c, hidden)
        steps.append(d)
    torch.testing.assert_close(torch.stack(steps), dyn, atol=1e-6, rtol=0)
    # and continuing a sequence from a carried hidden state equals the whole sequence
    d1, _, h1 = model.sequence(x[:5], c)
    d2, _, _ = model.sequence(x[5:], c, h1)
    torch.testing.assert_close(torch.cat([d1, d2]), dyn, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_static_independent_of_window(name):
    model = make(name)
    x, c = inputs(t=20)
    _, s_full = model(x, c)
    _, s_short = model(x[-7:], c)
    _, s_other = model(torch.zeros_like(x[:3]), c)
    torch.testing.assert_close(s_full, s_short, atol=0, rtol=0)
    torch.testing.assert_close(s_full, s_other, atol=0, rtol=0)
    # but they do depend on the attributes
    _, s_c = model(x, c + 1.0)
    assert (s_c - s_full).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["lstm", "lstm_mlp"])
def test_lstm_dynamic_has_memory(name):
    """Changing an early forcing changes later LSTM outputs (the hidden state carries it)."""
    model = make(name)
    x, c = inputs()
    x2 = x.clone()
    x2[0] += 3.0
    d1, _ = model(x, c)
    d2, _ = model(x2, c)
    assert (d1[5:] - d2[5:]).abs().max() > 1e-6


def test_mlp_dynamic_is_memoryless():
    model = make("mlp")
    x, c = inputs()
    x2 = x.clone()
    x2[0] += 3.0
    d1, _ = model(x, c)
    d2, _ = model(x2, c)
    assert (d1[0] - d2[0]).abs().max() > 1e-6
    torch.testing.assert_close(d1[1:], d2[1:], atol=0, rtol=0)
    assert model.init_hidden(3) == ()


@pytest.mark.parametrize("name", NAMES)
def test_numpy_stepper_equals_torch(name):
    model = make(name)
    x, c = inputs()
    dyn, static = model(x, c)
    stepper = model.numpy_stepper(c)
    np.testing.assert_allclose(stepper.static, static.detach().numpy(), atol=1e-12, rtol=0)
    hidden = stepper.init_hidden()
    for t in range(x.shape[0]):
        d, hidden = stepper.step(x[t].numpy(), hidden)
        assert d.dtype == np.float64
        np.testing.assert_allclose(d, dyn[t].detach().numpy(), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_no_dynamic_parameters(name):
    """With no dynamic parameters there is no LSTM/dynamic head, and the hidden state is empty."""
    model = make(name, n_dynamic=0)
    assert not any("lstm" in k or "dynamic" in k for k in model.state_dict())
    x, c = inputs()
    dyn, static = model(x, c)
    assert dyn.shape == (12, 3, 0) and static.shape == (3, NSTAT)
    assert model.init_hidden(3) == ()
    d, hidden = model.step(x[0], c, ())
    assert d.shape == (3, 0) and hidden == ()
    stepper = model.numpy_stepper(c)
    assert stepper.step(x[0].numpy(), stepper.init_hidden())[0].shape == (3, 0)


@pytest.mark.parametrize("name", NAMES)
def test_no_attributes(name):
    """With no attributes the static head is a learned constant per output."""
    model = make(name, n_attributes=0)
    x, c = inputs(na=0)
    dyn, static = model(x, c)
    assert static.shape == (3, NSTAT)
    torch.testing.assert_close(static[0], static[1], atol=0, rtol=0)
    stepper = model.numpy_stepper(c)
    np.testing.assert_allclose(stepper.step(x[0].numpy(), stepper.init_hidden())[0],
                               dyn[0].detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_all_weights(name):
    model = make(name).train()
    x, c = inputs()
    dyn, static = model(x, c)
    (dyn.sum() + static.sum()).backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), key
        assert p.grad.abs().sum() > 0, key


def test_dropout_only_in_training():
    model = make("lstm_mlp", dropout=0.5)
    x, c = inputs()
    a, _ = model(x, c)
    b, _ = model(x, c)
    torch.testing.assert_close(a, b, atol=0, rtol=0)  # eval: deterministic
    model.train()
    torch.manual_seed(3)
    _, s1 = model(x, c)
    _, s2 = model(x, c)
    assert (s1 - s2).abs().max() > 0


def test_float32_and_shapes_checked():
    model = get_nn("lstm_mlp")(NX, NA, NDYN, NSTAT, NNConfig(hidden_size=8, mlp_hidden_size=6))
    x, c = inputs()
    dyn, static = model(x.float(), c.float())
    assert dyn.dtype == torch.float32 and static.dtype == torch.float32
    with pytest.raises(InputError, match="nx=3"):
        model(x[..., :2].float(), c.float())
    with pytest.raises(InputError, match="na=5"):
        model(x.float(), c[:, :4].float())
    with pytest.raises(InputError, match="x_t"):
        model.step(x.float(), c.float(), model.init_hidden(3))
