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


def test_the_lstm_plugin_option_gives_the_h_only_spectrum_of_the_same_weights():
    from rnn_lyapunov import create_model

    torch.manual_seed(1)
    model = create_model("lstm", input_size=3, hidden_size=6, output_size=2, lstm_state="h_only").double()
    lstm = torch.nn.LSTM(3, 6, batch_first=True).double()
    with torch.no_grad():  # the same weights in a plain torch.nn.LSTM
        for name, parameter in lstm.named_parameters():
            parameter.copy_(dict(model.core.named_parameters())[name])
    inputs = torch.randn(3, 120, 3, dtype=torch.float64)
    ours = lyapunov_spectrum(model.system(), inputs, warmup_steps=20)
    reference = lyapunov_spectrum(from_torch(lstm, lstm_state="h_only"), inputs, warmup_steps=20)
    assert ours.n_exponents == 6
    torch.testing.assert_close(ours.exponents, reference.exponents, rtol=0, atol=1e-12)
    outputs, _ = model(inputs)  # the network itself is the LSTM, unchanged
    torch.testing.assert_close(model.core.output(model.core.step(model.core.initial_state(3), inputs[:, 0])),
                               lstm(inputs[:, :1])[0][:, 0], rtol=1e-12, atol=1e-12)
    assert outputs.shape == (3, 120, 2)


def test_training_with_the_lstm_plugin_option_records_n_exponents(tmp_path):
    import xarray as xr

    from rnn_lyapunov.config.run_config import validate_run_config
    from rnn_lyapunov.training.loop import train_run

    config = validate_run_config({
        "dataset": "signal_copy", "dataset_options": {"n_symbols": 2, "delay": 3, "n_train": 32, "n_validation": 16,
                                                      "n_test": 16},
        "architecture": "lstm", "architecture_options": {"lstm_state": "h_only"}, "hidden_size": 4, "epochs": 1,
        "batch_size": 16, "spectrum": {"trajectories": 2, "steps": 10, "epochs": "all"}})
    train_run(config, tmp_path / "run", tmp_path / "run.nc", progress=False)
    with xr.open_dataset(tmp_path / "run.nc") as written:
        assert written.sizes["exponent"] == 4  # N, not the 2N of the full (h, c) state
        assert bool(written["lyapunov_exponents"].notnull().all())


def test_an_unknown_lstm_plugin_option_value_is_refused():
    from rnn_lyapunov import create_model

    with pytest.raises(InputError, match="lstm option lstm_state must be one of full, h_only, got 'c'"):
        create_model("lstm", input_size=2, hidden_size=3, output_size=2, lstm_state="c")
