"""Spectra of plugin systems: analytic and autodiff paths agree; the sum of exponents is the mean log-volume growth."""

import pytest
import torch
from torch import nn
from torch.func import jacrev

from rnn_lyapunov import available_architectures, create_model, from_torch, lyapunov_spectrum

ARCHITECTURES = available_architectures()


def _inputs(batch, steps, input_size, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, steps, input_size, generator=generator, dtype=torch.float64)


def test_lstm_spectrum_by_analytic_jacobian_equals_autodiff(autodiff_only, jacobian_only):
    module = nn.LSTM(3, 4, num_layers=2).double()
    with torch.no_grad():  # a larger recurrent scale so that the exponents are well spread
        module.weight_hh_l0.mul_(4.0)
    system = from_torch(module)
    inputs = _inputs(batch=3, steps=30, input_size=3)
    analytic = lyapunov_spectrum(jacobian_only(system), inputs, warmup_steps=5)
    autodiff = lyapunov_spectrum(autodiff_only(system), inputs, warmup_steps=5)
    torch.testing.assert_close(analytic.per_trajectory, autodiff.per_trajectory, atol=1e-8, rtol=0)
    assert analytic.exponents.shape == (16,)


def test_system_default_path_equals_autodiff_for_every_architecture(autodiff_only):
    """Whatever fast path a plugin offers (jacobian, step_with_tangents), it gives the autodiff spectrum."""
    for name in ARCHITECTURES:
        system = create_model(name, input_size=2, hidden_size=4, output_size=1, num_layers=2).double().system()
        inputs = _inputs(batch=2, steps=20, input_size=2)
        fast = lyapunov_spectrum(system, inputs)
        reference = lyapunov_spectrum(autodiff_only(system), inputs)
        torch.testing.assert_close(fast.per_trajectory, reference.per_trajectory, atol=1e-8, rtol=0, msg=name)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_sum_of_exponents_is_the_mean_log_determinant(name):
    """sum_i lambda_i = (1/T) sum_t ln|det J_t| with J_t from autograd and the determinant from slogdet."""
    model = create_model(name, input_size=2, hidden_size=3, output_size=1, num_layers=2, init="uniform", init_scale=1.0)
    system = model.double().system()
    inputs = _inputs(batch=2, steps=30, input_size=2)
    spectrum = lyapunov_spectrum(system, inputs)

    state = system.initial_state(2)
    log_volume = torch.zeros(2, dtype=torch.float64)
    for time_index in range(inputs.shape[1]):
        for trajectory in range(2):
            x = inputs[trajectory:trajectory + 1, time_index]
            jacobian = jacrev(lambda row: system.step(row.unsqueeze(0), x).squeeze(0))(state[trajectory]).detach()
            log_volume[trajectory] += torch.linalg.slogdet(jacobian).logabsdet
        with torch.no_grad():
            state = system.step(state, inputs[:, time_index])
    torch.testing.assert_close(spectrum.per_trajectory.sum(dim=1), log_volume / inputs.shape[1], atol=1e-8, rtol=0)


def test_relu_rnn_with_scaled_identity_recurrence_has_the_known_spectrum():
    """h' = relu(a h + x) with positive h stays linear: every exponent is ln a (closed form)."""
    module = nn.RNN(1, 3, nonlinearity="relu", bias=True).double()
    with torch.no_grad():
        module.weight_hh_l0.copy_(0.8 * torch.eye(3, dtype=torch.float64))
        module.weight_ih_l0.fill_(1.0)
        module.bias_ih_l0.fill_(1.0)
        module.bias_hh_l0.zero_()
    inputs = torch.rand(2, 50, 1, dtype=torch.float64)  # drives every unit positive
    spectrum = lyapunov_spectrum(from_torch(module), inputs)
    torch.testing.assert_close(spectrum.exponents, torch.full((3,), torch.log(torch.tensor(0.8, dtype=torch.float64)).item(),
                                                                dtype=torch.float64), atol=1e-12, rtol=0)
