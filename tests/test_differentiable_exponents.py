"""differentiable_exponents: values against the engine, gradients against finite differences and an
independent numpy reference, gradients reaching torch modules, and the graph's memory."""

import numpy as np
import pytest
import torch
from torch import nn

from rnn_lyapunov import create_model, differentiable_exponents, from_torch, lyapunov_spectrum
from rnn_lyapunov.engine.lyapunov import initial_frame
from rnn_lyapunov.errors import InputError

ARCHITECTURES = [("rnn", 1), ("rnn", 2), ("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2), ("cornn", 1), ("cornn", 2)]


def _system(name, layers, hidden_size=5, **init):
    model = create_model(name, input_size=3, hidden_size=hidden_size, output_size=1, num_layers=layers, **init)
    return model.double().system()


@pytest.mark.parametrize("name, layers", ARCHITECTURES)
def test_values_equal_the_engine_with_qr_every_step(name, layers):
    system = _system(name, layers)
    inputs = torch.randn(3, 12 if name == "cornn" else 40, 3, dtype=torch.float64)  # forward-mode tangents are slow
    expected = lyapunov_spectrum(system, inputs, n_exponents=4, warmup_steps=7, reorthonormalize_every=1,
                                 factorization="qr").per_trajectory
    for detach_state in (True, False):
        values = differentiable_exponents(system, inputs, n_exponents=4, warmup_steps=7, detach_state=detach_state)
        assert values.dtype == torch.float64 and values.shape == (3, 4)
        torch.testing.assert_close(values.detach(), expected, rtol=0, atol=1e-10)


def _directional_derivatives(function, parameters, step=1e-6, seed=1):
    """(autograd, fourth-order central difference) of ``function()`` along a random direction."""
    generator = torch.Generator().manual_seed(seed)
    directions = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in parameters]
    gradients = torch.autograd.grad(function(), parameters)
    analytic = sum(float((g * d).sum()) for g, d in zip(gradients, directions))

    def shifted(amount):
        with torch.no_grad():
            for parameter, direction in zip(parameters, directions):
                parameter.add_(amount * direction)
            value = float(function())
            for parameter, direction in zip(parameters, directions):
                parameter.sub_(amount * direction)
        return value

    numeric = (8 * (shifted(step) - shifted(-step)) - (shifted(2 * step) - shifted(-2 * step))) / (12 * step)
    return analytic, numeric


GRADIENT_CASES = [("rnn", 1, {}), ("rnn", 2, {}), ("lstm", 1, {}), ("lstm", 2, {}), ("gru", 1, {}), ("gru", 2, {}),
                  ("cornn", 1, {}), ("rnn", 1, {"init": "orthogonal", "init_gain": 2.5, "hidden_size": 12})]


@pytest.mark.parametrize("name, layers, init", GRADIENT_CASES)
def test_full_gradient_equals_finite_differences(name, layers, init):
    system = _system(name, layers, **init)
    scale = 0.1 if init else 1.0  # weak inputs leave the gain-2.5 network chaotic
    inputs = scale * torch.randn(2, 12 if name == "cornn" else 25, 3, dtype=torch.float64)
    if init:  # the mildly chaotic case must be one: a positive leading exponent on long sequences
        assert lyapunov_spectrum(system, scale * torch.randn(4, 2000, 3, dtype=torch.float64), n_exponents=1,
                                 warmup_steps=200).exponents[0] > 0.01
    weights = torch.randn(2, 3, dtype=torch.float64)
    parameters = list(system.parameters())

    def weighted_exponents():
        return (differentiable_exponents(system, inputs, n_exponents=3, warmup_steps=4, detach_state=False)
                * weights).sum()

    analytic, numeric = _directional_derivatives(weighted_exponents, parameters)
    assert analytic == pytest.approx(numeric, rel=1e-5)


@pytest.mark.parametrize("wrapper", ["autodiff_only", "jacobian_only"])
def test_every_tangent_path_gives_the_same_gradient(wrapper, request):
    from conftest import AutodiffOnly, JacobianOnly

    system = _system("gru", 1)
    inputs = torch.randn(2, 20, 3, dtype=torch.float64)
    wrapped = {"autodiff_only": AutodiffOnly, "jacobian_only": JacobianOnly}[wrapper](system)
    parameters = list(system.parameters())
    gradients = [torch.autograd.grad(differentiable_exponents(candidate, inputs, n_exponents=2, detach_state=False)
                                     .sum(), parameters) for candidate in (system, wrapped)]
    for analytic, other in zip(*gradients):
        torch.testing.assert_close(other, analytic, rtol=1e-9, atol=1e-12)


def _numpy_exponents_along(states, inputs, weight_hh, weight_ih, bias, n_exponents):
    """Leading exponents of the tanh RNN's Jacobians diag(1 - tanh(a)^2) W_hh at FIXED states (numpy)."""
    # the same starting frame as the package (an initial condition, not a result)
    frame = initial_frame(weight_hh.shape[0], n_exponents, dtype=torch.float64, device="cpu").numpy()
    sums = np.zeros(n_exponents)
    for previous, x in zip(states, inputs):
        pre_activation = weight_hh @ previous + weight_ih @ x + bias
        frame, triangular = np.linalg.qr((1 - np.tanh(pre_activation) ** 2)[:, None] * weight_hh @ frame)
        sums += np.log(np.abs(np.diag(triangular)))
    return np.sort(sums / len(inputs))[::-1]


def test_detached_gradient_is_the_derivative_along_the_fixed_trajectory():
    system = _system("rnn", 1, hidden_size=6, init="orthogonal", init_gain=2.0)
    inputs = torch.randn(1, 30, 3, dtype=torch.float64)
    values = differentiable_exponents(system, inputs, n_exponents=2, detach_state=True)
    gradient = torch.autograd.grad(values[0, 0], system.weight_hh_l0, retain_graph=True)[0].numpy()
    values = values.detach()
    with torch.no_grad():
        states, state = [], torch.zeros(1, 6, dtype=torch.float64)
        for x in inputs[0]:
            states.append(state[0].numpy().copy())
            state = system.step(state, x.unsqueeze(0))
    weight_hh = system.weight_hh_l0.detach().numpy()
    bias = (system.bias_ih_l0 + system.bias_hh_l0).detach().numpy()
    arguments = (states, inputs[0].numpy(), weight_hh, system.weight_ih_l0.detach().numpy(), bias, 2)
    assert _numpy_exponents_along(*arguments)[0] == pytest.approx(values[0, 0].item(), abs=1e-12)
    direction = np.random.default_rng(3).standard_normal(weight_hh.shape)
    step = 1e-6
    def leading(weights):
        return _numpy_exponents_along(states, inputs[0].numpy(), weights, *arguments[3:])[0]

    numeric = (leading(weight_hh + step * direction) - leading(weight_hh - step * direction)) / (2 * step)
    assert float((gradient * direction).sum()) == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("module_type", [nn.RNN, nn.LSTM, nn.GRU])
def test_gradients_reach_the_torch_modules_own_parameters(module_type):
    module = module_type(3, 4, num_layers=2).double()
    inputs = torch.randn(2, 20, 3, dtype=torch.float64)
    system = from_torch(module)
    parameters = list(module.parameters())

    def total():
        return differentiable_exponents(system, inputs, n_exponents=3, detach_state=False).sum()

    total().backward()
    assert all(parameter.grad is not None for parameter in parameters)
    analytic, numeric = _directional_derivatives(total, parameters)
    assert analytic == pytest.approx(numeric, rel=1e-5)


def _saved_bytes(function) -> int:
    """Bytes of the tensors autograd saves for the backward pass (each storage once)."""
    storages = {}

    def pack(tensor):
        try:
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        except RuntimeError:  # a functorch wrapper has no storage of its own
            storages[id(tensor)] = tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function()
    return sum(storages.values())


def test_graph_memory_grows_with_steps_batch_and_exponents():
    system = create_model("rnn", input_size=2, hidden_size=32, output_size=1).system()
    sizes = {}
    for steps, batch, k in ((50, 4, 4), (100, 4, 4), (50, 8, 4), (50, 4, 8)):
        inputs = torch.randn(batch, steps, 2)
        sizes[steps, batch, k] = _saved_bytes(lambda: differentiable_exponents(system, inputs, n_exponents=k))
    base = sizes[50, 4, 4]
    assert sizes[100, 4, 4] / base == pytest.approx(2, rel=0.05)
    assert sizes[50, 8, 4] / base == pytest.approx(2, rel=0.05)
    assert 1.6 < sizes[50, 4, 8] / base < 2.0  # the frame-sized part doubles, the state-sized part does not
    # docs/flossing.md: about 4 frame-sized float32 tensors (32 x 4) per step and trajectory
    assert base / (50 * 4 * 4 * 32 * 4) == pytest.approx(4.3, rel=0.1)


@pytest.mark.parametrize("arguments, named", [
    ({"n_exponents": 6}, "n_exponents"), ({"n_exponents": None}, "n_exponents"), ({"n_exponents": 0}, "n_exponents"),
    ({"n_exponents": 2, "warmup_steps": 10}, "warmup_steps"), ({"n_exponents": 2, "detach_state": 1}, "detach_state")])
def test_bad_arguments_name_themselves(arguments, named):
    system = _system("rnn", 1)
    with pytest.raises(InputError, match=named) as raised:
        differentiable_exponents(system, torch.randn(2, 10, 3, dtype=torch.float64), **arguments)
    assert named in raised.value.arguments


def test_the_h_only_lstm_convention_is_differentiable_too():
    module = nn.LSTM(3, 4, num_layers=2).double()
    system = from_torch(module, lstm_state="h_only")
    inputs = torch.randn(2, 30, 3, dtype=torch.float64)
    expected = lyapunov_spectrum(system, inputs, n_exponents=8, warmup_steps=5, reorthonormalize_every=1,
                                 factorization="qr").per_trajectory
    values = differentiable_exponents(system, inputs, n_exponents=8, warmup_steps=5, detach_state=False)
    torch.testing.assert_close(values.detach(), expected, rtol=0, atol=1e-10)
    parameters = list(module.parameters())
    analytic, numeric = _directional_derivatives(
        lambda: differentiable_exponents(system, inputs, n_exponents=3, detach_state=False).sum(), parameters)
    assert analytic == pytest.approx(numeric, rel=1e-5)
