"""The authors' h-only LSTM exponents (c held fixed) against autograd, and how they differ from the full system."""

import pytest
import torch

from rnn_lyapunov import from_torch, lyapunov_spectrum
from rnn_lyapunov.architectures.hidden_only import spectrum_system
from rnn_lyapunov.errors import InputError


def autograd_h_jacobian(core, state, x):
    """d h'(all layers) / d h(all layers) with every c of the old state held fixed, by autograd."""
    size, layers = core.hidden_size, core.num_layers
    h_index = torch.cat([torch.arange(2 * size * layer, 2 * size * layer + size) for layer in range(layers)])

    def h_next(h):
        full = state.clone()
        full[h_index] = h
        return core.step(full.unsqueeze(0), x.unsqueeze(0))[0, h_index]

    return torch.autograd.functional.jacobian(h_next, state[h_index])


@pytest.mark.parametrize("num_layers", [1, 2])
def test_h_only_tangents_are_the_autograd_jacobian_of_h_at_fixed_c(num_layers):
    torch.manual_seed(num_layers)
    lstm = torch.nn.LSTM(3, 5, num_layers=num_layers).double()
    system = from_torch(lstm, lstm_state="h_only")
    assert system.tangent_size == 5 * num_layers and system.state_size == 10 * num_layers
    state, x = torch.randn(2, system.state_size, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    tangents = torch.randn(2, system.tangent_size, 4, dtype=torch.float64)
    next_state, pushed = system.step_with_tangents(state, x, tangents)
    torch.testing.assert_close(next_state, system.core.step(state, x), rtol=0, atol=0)
    for row in range(2):
        expected = autograd_h_jacobian(system.core, state[row], x[row]) @ tangents[row]
        torch.testing.assert_close(pushed[row], expected, rtol=1e-12, atol=1e-12)


def test_h_only_gives_n_exponents_that_differ_from_the_full_systems_leading_half():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 16).double()
    with torch.no_grad():
        for parameter in lstm.parameters():
            parameter.uniform_(-0.6, 0.6)
    inputs = torch.randn(4, 300, 4, dtype=torch.float64)
    h_only = lyapunov_spectrum(from_torch(lstm, lstm_state="h_only"), inputs, warmup_steps=50)
    full = lyapunov_spectrum(from_torch(lstm), inputs, warmup_steps=50)
    assert h_only.n_exponents == 16 and full.n_exponents == 32
    assert (h_only.exponents - full.exponents[:16]).abs().max() > 0.05


def test_lstm_state_is_ignored_for_architectures_without_a_cell_state():
    gru = from_torch(torch.nn.GRU(2, 3))
    assert spectrum_system(gru, "h_only") is gru


def test_an_unknown_lstm_state_is_refused():
    with pytest.raises(InputError, match="lstm_state must be one of full, h_only"):
        from_torch(torch.nn.LSTM(2, 3), lstm_state="c_only")
