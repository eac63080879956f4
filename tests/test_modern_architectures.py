"""The LRU and the selective SSM against their closed-form exponents: the mean of ln|a_t| per channel.

The references are computed here in NumPy from the parameters and the inputs, from the papers'
equations (Orvieto et al. 2023, sec. 3.3; Gu & Dao 2023, Algorithm 2), not from the plugins' code.
"""

import math

import numpy as np
import pytest
import torch

from rnn_lyapunov import covariant_lyapunov_vectors, create_model, lyapunov_spectrum
from rnn_lyapunov.errors import InputError


def _inputs(batch, steps, size, seed=1):
    return torch.randn(batch, steps, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _softplus(values):
    return np.logaddexp(0.0, values)


def _ssm_log_decays(core, inputs, layer=0):
    """ln a_t per channel of layer 0 from Mamba's equations: (batch, time, hidden_size)."""
    weight = core.weight_ih_l0.detach().numpy()
    bias = core.bias_ih_l0.detach().numpy()
    size = core.hidden_size
    step_size = _softplus(inputs.numpy() @ weight[:size].T + bias[:size])
    return -step_size * np.exp(core.a_log_l0.detach().numpy())


def test_lru_exponents_are_the_log_moduli_of_its_eigenvalues_each_twice():
    model = create_model("lru", input_size=3, hidden_size=4, output_size=1).double()
    core = model.core
    with torch.no_grad():  # well separated moduli 0.3, 0.6, 0.8, 0.95: the QR estimate converges fast
        core.nu_log_l0.copy_(torch.log(-torch.log(torch.tensor([0.3, 0.6, 0.8, 0.95], dtype=torch.float64))))
    spectrum = lyapunov_spectrum(model.system(), _inputs(2, 300, 3), warmup_steps=100)
    expected = np.repeat(np.log([0.95, 0.8, 0.6, 0.3]), 2)  # |lambda| = exp(-exp(nu_log)); Re and Im parts
    np.testing.assert_allclose(spectrum.per_trajectory.numpy(), np.broadcast_to(expected, (2, 8)), atol=1e-10)


def test_lru_default_init_draws_eigenvalues_on_the_ring_and_gamma_normalises():
    torch.manual_seed(3)
    core = create_model("lru", input_size=2, hidden_size=1000, output_size=1, r_min=0.4, r_max=0.9).core
    modulus = torch.exp(-torch.exp(core.nu_log_l0.detach().double()))
    assert 0.4 <= float(modulus.min()) and float(modulus.max()) <= 0.9
    # |lambda|^2 uniform on [r_min^2, r_max^2]: mean (0.16 + 0.81) / 2
    assert float((modulus**2).mean()) == pytest.approx(0.485, abs=0.02)
    gamma = torch.exp(core.gamma_log_l0.detach().double())
    torch.testing.assert_close(gamma, torch.sqrt(1 - modulus**2), atol=1e-6, rtol=0)
    phase = torch.exp(core.theta_log_l0.detach().double())
    assert 0 < float(phase.min()) and float(phase.max()) <= 2 * math.pi


def test_lru_step_is_the_complex_recurrence():
    """h' = lambda h + gamma (B u + b) in complex arithmetic (numpy), against the plugin's real [Re h, Im h]."""
    core = create_model("lru", input_size=3, hidden_size=5, output_size=1).double().core
    generator = torch.Generator().manual_seed(4)
    state, x = torch.randn(2, 10, generator=generator, dtype=torch.float64), torch.randn(2, 3, generator=generator, dtype=torch.float64)
    p = {name: value.detach().numpy() for name, value in core.named_parameters()}
    eigenvalue = np.exp(-np.exp(p["nu_log_l0"]) + 1j * np.exp(p["theta_log_l0"]))
    drive = x.numpy() @ (p["weight_ih_l0"][:5] + 1j * p["weight_ih_l0"][5:]).T + p["bias_ih_l0"][:5] + 1j * p["bias_ih_l0"][5:]
    h = state.numpy()[:, :5] + 1j * state.numpy()[:, 5:]
    expected = eigenvalue * h + np.exp(p["gamma_log_l0"]) * drive
    with torch.no_grad():
        result = core.step(state, x).numpy()
    np.testing.assert_allclose(result, np.concatenate((expected.real, expected.imag), axis=1), atol=1e-13)


@pytest.mark.parametrize("init", ["default", "uniform"])
def test_selective_ssm_exponents_are_the_mean_log_decays(init):
    options = {"init": "uniform", "init_scale": 1.0} if init == "uniform" else {}
    model = create_model("selective_ssm", input_size=3, hidden_size=4, output_size=1, **options).double()
    with torch.no_grad():  # spread the channels' A so that their exponents are well separated
        model.core.a_log_l0.copy_(torch.log(torch.tensor([0.5, 2.0, 8.0, 30.0], dtype=torch.float64)))
    inputs = _inputs(2, 400, 3)
    spectrum = lyapunov_spectrum(model.system(), inputs, warmup_steps=0)
    log_decays = _ssm_log_decays(model.core, inputs)  # (batch, time, channel)
    expected = -np.sort(-log_decays.mean(axis=1), axis=1)
    # the sum is exact at any length (log det of a diagonal J); each exponent converges like 1/T
    np.testing.assert_allclose(spectrum.per_trajectory.sum(dim=1).numpy(), expected.sum(axis=1), atol=1e-10)
    np.testing.assert_allclose(spectrum.per_trajectory.numpy(), expected, atol=0.02)


def test_selective_ssm_clvs_are_its_channel_axes_growing_at_ln_a_t():
    """One layer: J_t = diag(a_t), so each CLV is a coordinate axis and its local growth rate is ln a_t of that channel."""
    # step sizes Delta ~ softplus(U(-1, 1) terms) ~ 0.3-1.3: exponents about -0.2, -2 and -14, gaps >= 1.8 per step
    model = create_model("selective_ssm", input_size=2, hidden_size=3, output_size=1, init="uniform", init_scale=1.0).double()
    with torch.no_grad():
        model.core.a_log_l0.copy_(torch.log(torch.tensor([20.0, 0.3, 3.0], dtype=torch.float64)))
    inputs = _inputs(2, 160, 2, seed=5)
    clvs = covariant_lyapunov_vectors(model.system(), inputs, warmup_steps=60, backward_steps=60)
    channels = [1, 2, 0]  # smallest A decays slowest: channel 1 leads
    axes = np.eye(3)[:, channels]
    np.testing.assert_allclose(np.abs(clvs["vectors"].values), np.broadcast_to(axes, (2, 40, 3, 3)), atol=1e-9)
    log_decays = _ssm_log_decays(model.core, inputs)[:, 60:100][:, :, channels]
    np.testing.assert_allclose(clvs["local_growth_rates"].values, log_decays, atol=1e-9)


@pytest.mark.parametrize("name, options, message", [
    ("lru", {"r_min": 0.9, "r_max": 0.5}, "r_min < r_max"),
    ("lru", {"r_max": 1.5}, "r_max must be a number in"),
    ("lru", {"max_phase": 0}, "max_phase must be a number in"),
    ("selective_ssm", {"dt_min": -1.0}, "dt_min must be a positive number"),
    ("selective_ssm", {"dt_min": 0.5, "dt_max": 0.1}, "dt_min < dt_max"),
])
def test_bad_options_are_refused_naming_them(name, options, message):
    with pytest.raises(InputError, match=message):
        create_model(name, input_size=2, hidden_size=3, output_size=1, **options)


def test_the_selective_ssm_tangent_map_uses_softplus_slope_as_torch_computes_softplus():
    # F.softplus returns p itself above 20, so d Delta / dp is exactly 1 there, not sigmoid(p) = 1 - 2e-9.
    import torch

    from rnn_lyapunov.architectures.registry import get_architecture
    from rnn_lyapunov.engine.jacobian_check import check_jacobian

    torch.manual_seed(0)
    core = get_architecture("selective_ssm")(2, 3, num_layers=2, bias=True)
    with torch.no_grad():
        # Layer 1's step-size pre-activations far above the threshold; its input is layer 0's state,
        # so d Delta / dp enters the Jacobian's cross-layer block.
        core.bias_ih_l1[:3] = 25.0
        core.a_log_l1.fill_(-3.0)  # a = exp(-Delta e^a_log) stays away from 0, so the term is not tiny
    check_jacobian(core, batch=3, atol=1e-14, rtol=1e-14)  # sigmoid(25) would be off by ~1e-12
