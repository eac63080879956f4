"""The engine against systems whose exponents are known independently (closed forms, literature)."""

import math

import pytest
import torch

from rnn_lyapunov import lyapunov_spectrum
from rnn_lyapunov.engine.systems import GaussianProductMap, HenonMap, LinearMap, LogisticMap

HENON_REFERENCE = (0.41922, -1.62319)  # Sprott, Chaos and Time-Series Analysis (2003)


def autonomous(batch, steps, dtype=torch.float64):
    return torch.zeros(batch, steps, 0, dtype=dtype)


def test_henon_exponents_match_reference():
    spectrum = lyapunov_spectrum(HenonMap(), autonomous(16, 5000), warmup_steps=100)
    assert spectrum.exponents.tolist() == pytest.approx(HENON_REFERENCE, abs=0.005)


def test_henon_exponent_sum_is_log_b_exactly():
    spectrum = lyapunov_spectrum(HenonMap(), autonomous(4, 1000), warmup_steps=10)
    # det J = -b at every point, so each trajectory's exponents sum to ln b.
    assert spectrum.per_trajectory.sum(dim=1).tolist() == pytest.approx([math.log(0.3)] * 4, abs=1e-9)


def test_henon_kaplan_yorke_dimension_matches_reference():
    spectrum = lyapunov_spectrum(HenonMap(), autonomous(16, 5000), warmup_steps=100)
    expected = 1 + HENON_REFERENCE[0] / abs(HENON_REFERENCE[1])  # 1.258
    assert spectrum.kaplan_yorke_dimension == pytest.approx(expected, abs=0.005)


def test_logistic_map_at_r4_has_exponent_log_2():
    spectrum = lyapunov_spectrum(LogisticMap(r=4.0), autonomous(64, 5000), warmup_steps=100)
    assert float(spectrum.exponents[0]) == pytest.approx(math.log(2.0), abs=0.005)


def test_non_normal_linear_map_has_log_abs_eigenvalues():
    generator = torch.Generator().manual_seed(1)
    eigenvalues = torch.tensor([1.5, 1.1, 0.7, -0.4, 0.2], dtype=torch.float64)
    # Large off-diagonal entries make the map strongly non-normal.
    matrix = torch.diag(eigenvalues) + 3.0 * torch.triu(torch.randn(5, 5, generator=generator, dtype=torch.float64), 1)
    linear_map = LinearMap(matrix)
    spectrum = lyapunov_spectrum(linear_map, autonomous(2, 600), warmup_steps=300)
    expected = eigenvalues.abs().log().sort(descending=True).values
    assert torch.allclose(spectrum.exponents, expected, atol=1e-6, rtol=0)
    assert torch.allclose(linear_map.exact_exponents(), expected, atol=1e-12)


@pytest.mark.slow
def test_gaussian_matrix_products_match_newman_closed_form():
    n = 10
    product_map = GaussianProductMap(n)
    inputs = product_map.random_inputs(32, 2000, generator=torch.Generator().manual_seed(2))
    spectrum = lyapunov_spectrum(product_map, inputs, warmup_steps=50)
    index = torch.arange(1, n + 1, dtype=torch.float64)
    newman = 0.5 * (math.log(2.0 / n) + torch.special.digamma((n - index + 1) / 2))
    deviation_in_standard_errors = (spectrum.exponents - newman).abs() / spectrum.stderr
    assert deviation_in_standard_errors.max() < 3.0, deviation_in_standard_errors


def test_check_jacobian_passes_the_henon_map_and_names_a_wrong_shape():
    """The Henon map's Jacobian [[-2 a x, 1], [b, 0]] is exact: check_jacobian finds it equal to
    autograd's; a Jacobian of another shape is refused with both shapes named."""
    from rnn_lyapunov import check_jacobian

    system = HenonMap(1.4, 0.3)
    assert check_jacobian(system, input_size=0, atol=1e-14) <= 1e-14

    class Cut(HenonMap):  # drops the last column
        def jacobian(self, state, x):
            return super().jacobian(state, x)[:, :, :1]

    with pytest.raises(AssertionError, match=r"Cut.jacobian returned shape \(4, 2, 1\); expected .* = \(4, 2, 2\)"):
        check_jacobian(Cut(1.4, 0.3), input_size=0)


class _ScaledLinearMap:
    """x -> A x with entries of order 1e12, and an analytic Jacobian off by ``error`` relatively."""

    state_size = input_size = 2

    def __init__(self, error: float):
        self.matrix = torch.tensor([[3e12, -1e12], [2e12, 5e12]], dtype=torch.float64)
        self.error = error

    def step(self, state, x):
        return state @ self.matrix.T + 0.0 * x

    def jacobian(self, state, x):
        return (self.matrix * (1.0 + self.error)).expand(state.shape[0], 2, 2)


def test_check_jacobian_rtol_scales_the_tolerance_with_the_entries_as_allclose_does():
    from rnn_lyapunov.engine.jacobian_check import check_jacobian

    # 1e12 * 1e-9 = 1e3 absolute: far above atol, within rtol=1e-8 of the entries, not within 1e-10.
    assert check_jacobian(_ScaledLinearMap(1e-9), atol=1e-10, rtol=1e-8) > 1e-10
    for rtol in (0.0, 1e-10):
        with pytest.raises(AssertionError, match="differs from the autograd Jacobian"):
            check_jacobian(_ScaledLinearMap(1e-9), atol=1e-10, rtol=rtol)
    assert check_jacobian(_ScaledLinearMap(0.0), atol=0.0, rtol=0.0) == 0.0
