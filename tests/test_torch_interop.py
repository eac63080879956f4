"""from_torch: our step and analytic Jacobian reproduce torch.nn.RNN/LSTM/GRU, sharing their parameters."""

import re

import pytest
import torch
from torch import nn
from torch.func import jacrev

from rnn_lyapunov import create_model, from_torch
from rnn_lyapunov.errors import InputError

INPUT_SIZE, HIDDEN_SIZE, BATCH, STEPS = 3, 5, 4, 6
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


MODULES = {
    "rnn-tanh": lambda **kw: nn.RNN(INPUT_SIZE, HIDDEN_SIZE, nonlinearity="tanh", **kw),
    "rnn-relu": lambda **kw: nn.RNN(INPUT_SIZE, HIDDEN_SIZE, nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, **kw),
    "gru": lambda **kw: nn.GRU(INPUT_SIZE, HIDDEN_SIZE, **kw),
}


def _torch_state(module, state):
    """Our flat state (batch, state_size) -> torch's h0 or (h0, c0), each (num_layers, batch, hidden)."""
    if isinstance(module, nn.LSTM):
        blocks = state.reshape(state.shape[0], module.num_layers, 2, module.hidden_size)
        return blocks[:, :, 0].transpose(0, 1).contiguous(), blocks[:, :, 1].transpose(0, 1).contiguous()
    return state.reshape(state.shape[0], module.num_layers, module.hidden_size).transpose(0, 1).contiguous()


def _flat_state(module, torch_state):
    """torch's final hidden state -> our flat layout: per layer h or [h, c], first layer first."""
    if isinstance(module, nn.LSTM):
        h, c = torch_state
        return torch.cat([torch.cat([h[layer], c[layer]], dim=1) for layer in range(module.num_layers)], dim=1)
    return torch.cat(list(torch_state), dim=1)


def _random_state(system, dtype):
    return 0.5 * torch.randn(BATCH, system.state_size, dtype=dtype)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_step_reproduces_the_torch_module(kind, num_layers, dtype, batch_first):
    module = MODULES[kind](num_layers=num_layers, batch_first=batch_first).to(dtype)
    system = from_torch(module)
    inputs = torch.randn(BATCH, STEPS, INPUT_SIZE, dtype=dtype)
    state = _random_state(system, dtype)
    with torch.no_grad():
        _, torch_final = module(inputs if batch_first else inputs.transpose(0, 1), _torch_state(module, state))
        for time_index in range(STEPS):
            state = system.step(state, inputs[:, time_index])
    torch.testing.assert_close(state, _flat_state(module, torch_final), atol=TOLERANCE[dtype], rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_analytic_jacobian_equals_autograd(kind, num_layers, dtype):
    system = from_torch(MODULES[kind](num_layers=num_layers).to(dtype))
    state, x = _random_state(system, dtype), torch.randn(BATCH, INPUT_SIZE, dtype=dtype)
    with torch.no_grad():
        analytic = system.jacobian(state, x)
    reference = torch.stack([
        jacrev(lambda row: system.step(row.unsqueeze(0), x[trajectory:trajectory + 1]).squeeze(0))(state[trajectory])
        for trajectory in range(BATCH)
    ]).detach()
    if num_layers == 2:  # the cross-layer block d(layer 1) / d(layer 0) is really exercised
        block = system.state_size // 2
        assert reference[:, block:, :block].abs().max() > 1e-3
    torch.testing.assert_close(analytic, reference, atol=TOLERANCE[dtype], rtol=0)


def test_system_shares_the_module_parameters():
    module = nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, num_layers=2)
    system = from_torch(module)
    assert {name: id(p) for name, p in system.named_parameters()} == {name: id(p) for name, p in module.named_parameters()}
    state, x = _random_state(system, torch.float32), torch.randn(BATCH, INPUT_SIZE)
    before = system.step(state, x)
    with torch.no_grad():
        module.weight_hh_l1.mul_(2.0)  # as an optimiser step would
    assert not torch.allclose(system.step(state, x), before)


def test_subclass_of_a_torch_module_is_accepted():
    class MyLSTM(nn.LSTM):
        pass

    assert from_torch(MyLSTM(INPUT_SIZE, HIDDEN_SIZE)).architecture_name == "lstm"


@pytest.mark.parametrize(
    "module, message",
    [
        (nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, bidirectional=True), "bidirectional=True"),
        (nn.GRU(INPUT_SIZE, HIDDEN_SIZE, bidirectional=True), "bidirectional=True"),
        (nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, proj_size=2), "proj_size=2"),
        (nn.Linear(INPUT_SIZE, HIDDEN_SIZE), "no architecture plugin reproduces Linear.*GRU, LSTM, RNN"),
    ],
    ids=["lstm-bidirectional", "gru-bidirectional", "lstm-proj_size", "linear"],
)
def test_unsupported_modules_are_refused(module, message):
    with pytest.raises(InputError, match=message):
        from_torch(module)


def test_inter_layer_dropout_is_refused_in_train_mode_and_accepted_in_eval_mode():
    module = nn.GRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, dropout=0.3)
    with pytest.raises(InputError, match=r"training mode.*module.eval\(\)"):
        from_torch(module)
    assert from_torch(module.eval()).state_size == 2 * HIDDEN_SIZE


@pytest.mark.parametrize("kind, name", [("lstm", "lstm"), ("gru", "gru"), ("rnn-relu", "rnn")])
def test_torch_state_dict_loads_into_a_created_model(kind, name):
    module = MODULES[kind](num_layers=2)
    options = {"nonlinearity": "relu"} if kind == "rnn-relu" else {}
    model = create_model(name, input_size=INPUT_SIZE, hidden_size=HIDDEN_SIZE, output_size=1, num_layers=2, **options)
    model.core.load_state_dict(module.state_dict())
    inputs = torch.randn(STEPS, BATCH, INPUT_SIZE)
    with torch.no_grad():
        torch_outputs, _ = module(inputs)
        _, final_state = model(inputs.transpose(0, 1))
    torch.testing.assert_close(model.core.output(final_state), torch_outputs[-1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("n_tangents", ["few", "full frame"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_step_with_tangents_equals_autograd_jacobian_times_tangents(kind, num_layers, dtype, n_tangents):
    system = from_torch(MODULES[kind](num_layers=num_layers).to(dtype))
    state, x = _random_state(system, dtype), torch.randn(BATCH, INPUT_SIZE, dtype=dtype)
    k = 2 if n_tangents == "few" else system.state_size
    tangents = torch.randn(BATCH, system.state_size, k, dtype=dtype)
    with torch.no_grad():
        next_state, pushed = system.step_with_tangents(state, x, tangents)
    reference = torch.stack([
        jacrev(lambda row: system.step(row.unsqueeze(0), x[trajectory:trajectory + 1]).squeeze(0))(state[trajectory])
        for trajectory in range(BATCH)
    ]).detach()
    torch.testing.assert_close(next_state, system.step(state, x).detach(), atol=0, rtol=0)
    torch.testing.assert_close(pushed, reference @ tangents, atol=10 * TOLERANCE[dtype], rtol=0)


def test_from_torch_leaves_the_global_random_state_alone():
    module = nn.GRU(INPUT_SIZE, HIDDEN_SIZE)
    before = torch.random.get_rng_state()
    from_torch(module)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.parametrize("shape", [(4, 5), (4, 3), (5, 4)])
def test_a_torch_parameter_of_another_shape_is_refused_by_name(shape):
    """from_torch_module itself refuses a module whose parameter has the wrong shape, whichever way it
    differs (a larger or a smaller size): sharing it would make step fail later, far from the cause."""
    from rnn_lyapunov.architectures.registry import get_architecture

    module = nn.RNN(3, 4)
    module.weight_hh_l0 = nn.Parameter(torch.zeros(*shape))
    message = f"parameter weight_hh_l0 has shape {tuple(shape)} in the torch module, (4, 4) in ours"
    with pytest.raises(InputError, match=re.escape(message)):
        get_architecture("rnn").from_torch_module(module)
