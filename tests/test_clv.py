"""Covariant Lyapunov vectors against answers known independently of the code.

A constant non-normal linear map (CLVs are its eigenvectors, growth rates ln|eigenvalues|); the
Henon map (known exponents; lyapynov's CLVs on the same trajectory); covariance itself checked with
autograd Jacobians (J_t v(t-1) = s v(t)); invariance under the initial frame, the batch and the
segment length.
"""

import math

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from rnn_lyapunov import covariant_lyapunov_vectors, create_model
from rnn_lyapunov.engine.systems import HenonMap, LinearMap, TanhRNN
from rnn_lyapunov.errors import InputError

HENON_EXPONENTS = (0.41922, -1.62319)  # Sprott, "Chaos and Time-Series Analysis" (2003), table A.1


def _aligned(vectors, reference):
    """``vectors`` with each column's sign flipped to match ``reference`` (..., n, k): CLVs have no sign."""
    signs = np.sign(np.sum(vectors * reference, axis=-2, keepdims=True))
    return vectors * signs


def _non_normal_map():
    """A = P diag(2, -0.7, 0.3) P^-1 with P far from orthogonal: eigenvectors P's columns."""
    columns = np.array([[1.0, 0.9, 0.2], [0.1, 1.0, 0.8], [0.3, -0.2, 1.0]])
    eigenvalues = np.array([2.0, -0.7, 0.3])
    matrix = columns @ np.diag(eigenvalues) @ np.linalg.inv(columns)
    return LinearMap(torch.from_numpy(matrix)), columns / np.linalg.norm(columns, axis=0), eigenvalues


def test_clvs_of_a_constant_non_normal_map_are_its_eigenvectors():
    system, eigenvectors, eigenvalues = _non_normal_map()
    inputs = torch.zeros(2, 80, 0, dtype=torch.float64)
    clvs = covariant_lyapunov_vectors(system, inputs, warmup_steps=30, backward_steps=30)
    vectors = clvs["vectors"].values  # (trajectory, step, state, vector)
    assert vectors.shape == (2, 20, 3, 3)
    np.testing.assert_allclose(_aligned(vectors, eigenvectors), np.broadcast_to(eigenvectors, vectors.shape), atol=1e-10)
    np.testing.assert_allclose(clvs["local_growth_rates"].values,
                               np.broadcast_to(np.log(np.abs(eigenvalues)), (2, 20, 3)), atol=1e-10)
    # the Gram-Schmidt vectors of this map are orthogonal: the CLVs must not be (angle 1-2 known from P)
    from rnn_lyapunov import clv_angles

    expected = math.acos(abs(float(eigenvectors[:, 0] @ eigenvectors[:, 1])))
    np.testing.assert_allclose(clv_angles(clvs, [(1, 2)]).values, expected, atol=1e-10)


def _henon_trajectory_inputs(batch, steps):
    return torch.zeros(batch, steps, 0, dtype=torch.float64)


def test_henon_growth_rates_average_to_the_known_exponents():
    """32 trajectories x 1800 steps: the standard error of the mean is 0.0012 nats per step."""
    clvs = covariant_lyapunov_vectors(HenonMap(seed=1), _henon_trajectory_inputs(32, 2000), warmup_steps=100,
                                      backward_steps=100)
    mean = clvs["local_growth_rates"].mean(("trajectory", "step")).values
    np.testing.assert_allclose(mean, HENON_EXPONENTS, atol=0.005)
    norms = np.linalg.norm(clvs["vectors"].values, axis=2)
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)


def _henon_numpy(state):
    a, b = 1.4, 0.3
    return np.array([1.0 - a * state[0] ** 2 + state[1], b * state[0]])


def _henon_jacobian_numpy(state):
    return np.array([[-2.0 * 1.4 * state[0], 1.0], [0.3, 0.0]])


def test_henon_vectors_agree_with_lyapynov_on_the_same_trajectory():
    lyapynov = pytest.importorskip("lyapynov", reason="lyapynov (the `bench` extra) is the independent CLV reference")
    start = np.array([0.1, 0.05])
    warmup, window, backward = 40, 60, 40
    system = lyapynov.DiscreteDS(start.copy(), 0, lambda x, t: _henon_numpy(x), lambda x, t: _henon_jacobian_numpy(x))
    np.random.seed(0)  # lyapynov starts its backward iteration from a random triangle
    # lyapynov's n_A, n_B, n_C: its vector i is at our step n_A - 1 + i, so ours are its 1..n_B
    reference = np.asarray(lyapynov.CLV(system, 2, 0, warmup, window, backward, False))[1:]  # (window, 2, 2)
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)  # its last vector comes unnormalised
    ours = covariant_lyapunov_vectors(
        HenonMap(), _henon_trajectory_inputs(1, warmup + window + backward), warmup_steps=warmup,
        backward_steps=backward, initial_state=torch.from_numpy(start).unsqueeze(0), initial_frame=torch.eye(2, dtype=torch.float64))
    vectors = ours["vectors"].values[0]
    assert vectors.shape == reference.shape
    np.testing.assert_allclose(_aligned(vectors, reference), reference, atol=1e-8)


def test_clvs_are_covariant_under_the_autograd_jacobian_of_a_gru():
    """J_t v_j(t-1) = s_j(t) v_j(t) with ln|s_j(t)| the growth rate at t; J_t from autograd, not the code's tangents."""
    system = create_model("gru", input_size=2, hidden_size=4, output_size=1, init="uniform", init_scale=1.5).double().system()
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(2, 40, 2, generator=generator, dtype=torch.float64)
    # covariance holds exactly by construction whatever the convergence: this checks how Q, R, C and the rates pair up
    clvs = covariant_lyapunov_vectors(system, inputs, warmup_steps=15, backward_steps=15)
    vectors, growth = clvs["vectors"].values, clvs["local_growth_rates"].values
    states = [system.initial_state(2)]
    with torch.no_grad():
        for time_index in range(inputs.shape[1]):
            states.append(system.step(states[-1], inputs[:, time_index]))
    steps = clvs["step"].values
    for position in range(1, len(steps)):
        time_index = int(steps[position])
        for trajectory in range(2):
            x = inputs[trajectory:trajectory + 1, time_index]
            jacobian = autograd_jacobian(lambda row: system.step(row.unsqueeze(0), x).squeeze(0), states[time_index][trajectory])
            pushed = jacobian.detach().numpy() @ vectors[trajectory, position - 1]
            stretch = np.linalg.norm(pushed, axis=0)
            np.testing.assert_allclose(np.log(stretch), growth[trajectory, position], atol=1e-9)
            np.testing.assert_allclose(np.abs(np.sum(pushed / stretch * vectors[trajectory, position], axis=0)), 1.0, atol=1e-9)


def _rnn_case(steps=90):
    system = TanhRNN(hidden_size=6, input_size=2, gain=2.0, seed=4)
    return system, system.random_inputs(3, steps, generator=torch.Generator().manual_seed(5))


def test_vectors_do_not_depend_on_the_initial_frame():
    """Forward convergence goes as exp(-(lambda_j - lambda_j+1) t): these gaps are >= 0.26 nats per step, so 150 steps."""
    system, inputs = _rnn_case(steps=320)
    default = covariant_lyapunov_vectors(system, inputs, n_vectors=4, warmup_steps=150, backward_steps=150)
    other_frame = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    other = covariant_lyapunov_vectors(system, inputs, n_vectors=4, warmup_steps=150, backward_steps=150,
                                       initial_frame=other_frame)
    np.testing.assert_allclose(_aligned(other["vectors"].values, default["vectors"].values), default["vectors"].values,
                               atol=1e-9)
    np.testing.assert_allclose(other["local_growth_rates"].values, default["local_growth_rates"].values, atol=1e-9)


def test_a_trajectory_gets_the_same_vectors_alone_or_in_a_batch():
    system, inputs = _rnn_case()
    together = covariant_lyapunov_vectors(system, inputs, n_vectors=3, warmup_steps=30, backward_steps=30)
    for trajectory in range(3):
        alone = covariant_lyapunov_vectors(system, inputs[trajectory:trajectory + 1], n_vectors=3, warmup_steps=30,
                                           backward_steps=30, initial_state=system.initial_state(3)[trajectory:trajectory + 1])
        np.testing.assert_allclose(alone["vectors"].values[0], together["vectors"].values[trajectory], atol=1e-12)
        np.testing.assert_allclose(alone["local_growth_rates"].values[0],
                                   together["local_growth_rates"].values[trajectory], atol=1e-12)


def test_recomputed_segments_give_the_same_vectors_with_less_memory():
    system, inputs = _rnn_case()
    whole = covariant_lyapunov_vectors(system, inputs, warmup_steps=20, backward_steps=20, steps_to_keep=[20, 41, 69])
    segmented = covariant_lyapunov_vectors(system, inputs, warmup_steps=20, backward_steps=20, steps_to_keep=[20, 41, 69],
                                           segment_steps=7)
    np.testing.assert_array_equal(segmented["vectors"].values, whole["vectors"].values)
    np.testing.assert_array_equal(segmented["local_growth_rates"].values, whole["local_growth_rates"].values)
    assert whole.attrs["recomputed_steps"] == 0 and whole.attrs["segment_steps"] == 70
    assert segmented.attrs["segment_steps"] == 7 and segmented.attrs["recomputed_steps"] == 63
    assert segmented.attrs["stored_r_factor_bytes"] == 7 * 3 * 6 * 6 * 8  # steps x batch x k x k x float64
    assert segmented.attrs["checkpoint_bytes"] == 9 * 3 * (6 + 6 * 6) * 8  # one (state, frame) per replayed segment


def test_kept_steps_are_those_of_the_full_window():
    system, inputs = _rnn_case()
    every = covariant_lyapunov_vectors(system, inputs, n_vectors=2, warmup_steps=20, backward_steps=20)
    some = covariant_lyapunov_vectors(system, inputs, n_vectors=2, warmup_steps=20, backward_steps=20, steps_to_keep=range(25, 70, 11))
    np.testing.assert_array_equal(some["step"].values, [25, 36, 47, 58, 69])
    np.testing.assert_array_equal(some["vectors"].values, every["vectors"].sel(step=[25, 36, 47, 58, 69]).values)


def test_autodiff_and_analytic_tangents_give_the_same_vectors(autodiff_only):
    system, inputs = _rnn_case(steps=40)
    analytic = covariant_lyapunov_vectors(system, inputs, n_vectors=3, warmup_steps=15, backward_steps=15)
    autodiff = covariant_lyapunov_vectors(autodiff_only(system), inputs, n_vectors=3, warmup_steps=15, backward_steps=15,
                                          initial_state=system.initial_state(3))
    np.testing.assert_allclose(autodiff["vectors"].values, analytic["vectors"].values, atol=1e-10)


@pytest.mark.parametrize("arguments, named", [
    ({"warmup_steps": 50, "backward_steps": 40}, "warmup_steps"),
    ({"warmup_steps": -1}, "warmup_steps"),
    ({"backward_steps": 2.5}, "backward_steps"),
    ({"n_vectors": 0}, "n_vectors"),
    ({"n_vectors": 7}, "n_vectors"),
    ({"steps_to_keep": [5]}, "steps_to_keep"),
    ({"steps_to_keep": [30, 20]}, "steps_to_keep"),
    ({"steps_to_keep": []}, "steps_to_keep"),
    ({"steps_to_keep": 12}, "steps_to_keep"),
    ({"segment_steps": 0}, "segment_steps"),
    ({"initial_frame": torch.zeros(6, 6, dtype=torch.float64)}, "initial_frame"),
    ({"initial_frame": torch.eye(5, dtype=torch.float64)}, "initial_frame"),
])
def test_bad_arguments_raise_input_error_naming_them(arguments, named):
    system, inputs = _rnn_case()
    keywords = {"warmup_steps": 20, "backward_steps": 20, **arguments}
    with pytest.raises(InputError, match=named) as error:
        covariant_lyapunov_vectors(system, inputs, **keywords)
    assert named in error.value.arguments


def test_automatic_segments_hold_no_more_r_factors_than_the_budget(monkeypatch):
    from rnn_lyapunov.engine import covariant

    system, inputs = _rnn_case()
    whole = covariant_lyapunov_vectors(system, inputs, n_vectors=2, warmup_steps=20, backward_steps=20)
    per_step = 3 * 2 * 2 * 8  # batch x k x k x float64
    monkeypatch.setattr(covariant, "STORED_R_BUDGET_BYTES", 30 * per_step + 5)
    limited = covariant_lyapunov_vectors(system, inputs, n_vectors=2, warmup_steps=20, backward_steps=20)
    # as many steps as fit: segments 20..49, 50..79, 80..89, the last not replayed
    assert limited.attrs["segment_steps"] == 30 and limited.attrs["stored_r_factor_bytes"] == 30 * per_step
    assert limited.attrs["recomputed_steps"] == 60
    np.testing.assert_array_equal(limited["vectors"].values, whole["vectors"].values)
