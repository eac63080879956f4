"""Identities the engine must satisfy on random recurrent networks, checked against autograd."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_lyapunov import lyapunov_spectrum
from rnn_lyapunov.engine.systems import TanhRNN


def mean_log_abs_det_jacobian(system, inputs, warmup_steps):
    """Time average of ln|det J_t| per trajectory, with J_t from autograd (independent of the engine)."""
    state = system.initial_state(inputs.shape[0]).to(inputs)
    totals = torch.zeros(inputs.shape[0], dtype=torch.float64)
    for time_index in range(inputs.shape[1]):
        x = inputs[:, time_index]
        if time_index >= warmup_steps:
            for trajectory in range(inputs.shape[0]):
                jacobian = torch.autograd.functional.jacobian(
                    lambda s: system.step(s.unsqueeze(0), x[trajectory : trajectory + 1]).squeeze(0), state[trajectory]
                )
                totals[trajectory] += torch.linalg.slogdet(jacobian).logabsdet
        state = system.step(state, x)
    return totals / (inputs.shape[1] - warmup_steps)


def test_exponent_sum_equals_mean_log_abs_det_jacobian():
    rnn = TanhRNN(hidden_size=12, input_size=3, gain=1.5, seed=3)
    inputs = rnn.random_inputs(3, 120, generator=torch.Generator().manual_seed(4))
    spectrum = lyapunov_spectrum(rnn, inputs, warmup_steps=20)
    expected = mean_log_abs_det_jacobian(rnn, inputs, warmup_steps=20)
    assert torch.allclose(spectrum.per_trajectory.sum(dim=1), expected, atol=1e-8, rtol=0)


def test_reorthonormalizing_every_5_steps_equals_every_step():
    rnn = TanhRNN(hidden_size=32, input_size=4, gain=0.9, seed=5)
    inputs = 0.3 * rnn.random_inputs(4, 400, generator=torch.Generator().manual_seed(6))
    every_step = lyapunov_spectrum(rnn, inputs, warmup_steps=50)
    every_fifth = lyapunov_spectrum(rnn, inputs, warmup_steps=50, reorthonormalize_every=5)
    assert torch.allclose(every_fifth.per_trajectory, every_step.per_trajectory, atol=1e-8, rtol=0)


def test_analytic_paths_equal_autodiff_path(autodiff_only, jacobian_only):
    rnn = TanhRNN(hidden_size=24, input_size=5, gain=1.5, seed=7)
    inputs = rnn.random_inputs(4, 300, generator=torch.Generator().manual_seed(8))
    autodiff = lyapunov_spectrum(autodiff_only(rnn), inputs, warmup_steps=30)
    for analytic_system in (rnn, jacobian_only(rnn)):  # step_with_tangents, then jacobian
        analytic = lyapunov_spectrum(analytic_system, inputs, warmup_steps=30)
        assert torch.allclose(analytic.per_trajectory, autodiff.per_trajectory, atol=1e-10, rtol=0)


def test_trajectory_spectrum_is_the_same_alone_or_in_a_batch_of_16():
    rnn = TanhRNN(hidden_size=16, input_size=2, gain=1.5, seed=9)
    inputs = rnn.random_inputs(16, 200, generator=torch.Generator().manual_seed(10))
    initial_state = rnn.initial_state(16)
    batched = lyapunov_spectrum(rnn, inputs, initial_state=initial_state, warmup_steps=20)
    alone = lyapunov_spectrum(rnn, inputs[5:6], initial_state=initial_state[5:6], warmup_steps=20)
    assert torch.allclose(alone.per_trajectory[0], batched.per_trajectory[5], atol=1e-12, rtol=0)


def test_first_k_exponents_equal_the_leading_part_of_the_full_spectrum(autodiff_only):
    rnn = TanhRNN(hidden_size=20, input_size=3, gain=1.5, seed=11)
    inputs = rnn.random_inputs(3, 300, generator=torch.Generator().manual_seed(12))
    full = lyapunov_spectrum(rnn, inputs, warmup_steps=30)
    for system in (rnn, autodiff_only(rnn)):
        leading = lyapunov_spectrum(system, inputs, warmup_steps=30, n_exponents=5)
        assert leading.per_trajectory.shape == (3, 5)
        assert torch.allclose(leading.per_trajectory, full.per_trajectory[:, :5], atol=1e-8, rtol=0)


def test_float32_inputs_give_float64_exponents_close_to_float64_run():
    rnn = TanhRNN(hidden_size=16, input_size=2, gain=1.2, seed=13)
    inputs = rnn.random_inputs(4, 300, generator=torch.Generator().manual_seed(14))
    reference = lyapunov_spectrum(rnn, inputs, warmup_steps=30)
    single = lyapunov_spectrum(rnn, inputs.float(), warmup_steps=30)
    assert single.exponents.dtype == torch.float64
    assert torch.allclose(single.exponents, reference.exponents, atol=1e-3, rtol=0)


def test_history_ends_at_the_final_estimate():
    rnn = TanhRNN(hidden_size=8, input_size=2, seed=15)
    inputs = rnn.random_inputs(2, 130, generator=torch.Generator().manual_seed(16))
    spectrum = lyapunov_spectrum(rnn, inputs, warmup_steps=10, record_every=50)
    assert spectrum.history_steps.tolist() == [50, 100, 120]
    assert spectrum.history.shape == (3, 2, 8)
    assert torch.equal(spectrum.history[-1], spectrum.per_trajectory)


@settings(max_examples=25, deadline=None)
@given(
    hidden_size=st.integers(1, 12),
    input_size=st.integers(0, 4),
    batch=st.integers(1, 4),
    gain=st.floats(0.2, 3.0),
    seed=st.integers(0, 10_000),
    reorthonormalize_every=st.integers(1, 3),
)
def test_sum_identity_and_descending_order_hold_for_random_rnns(hidden_size, input_size, batch, gain, seed, reorthonormalize_every):
    rnn = TanhRNN(hidden_size=hidden_size, input_size=input_size, gain=gain, seed=seed)
    inputs = rnn.random_inputs(batch, 40, generator=torch.Generator().manual_seed(seed))
    spectrum = lyapunov_spectrum(rnn, inputs, warmup_steps=5, reorthonormalize_every=reorthonormalize_every)
    assert (spectrum.per_trajectory[:, :-1] >= spectrum.per_trajectory[:, 1:]).all()
    assert not spectrum.per_trajectory.isnan().any()
    if reorthonormalize_every == 1:
        expected = mean_log_abs_det_jacobian(rnn, inputs, warmup_steps=5)
        assert torch.allclose(spectrum.per_trajectory.sum(dim=1), expected, atol=1e-8, rtol=0)


def test_inputs_read_a_chunk_of_steps_at_a_time_give_the_same_spectrum(monkeypatch):
    """The engine takes views of the inputs INPUT_CHUNK_STEPS steps at a time (memory flat in steps)."""
    from rnn_lyapunov.engine import lyapunov as engine

    rnn = TanhRNN(6, input_size=2, gain=1.5, seed=0)
    inputs = rnn.random_inputs(2, 50, generator=torch.Generator().manual_seed(3))
    in_one_chunk = lyapunov_spectrum(rnn, inputs, warmup_steps=5, n_exponents=4)
    monkeypatch.setattr(engine, "INPUT_CHUNK_STEPS", 7)
    in_chunks_of_7 = lyapunov_spectrum(rnn, inputs, warmup_steps=5, n_exponents=4)
    assert torch.equal(in_one_chunk.per_trajectory, in_chunks_of_7.per_trajectory)
