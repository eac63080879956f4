"""LU between averaging windows and float64 frames along float32 states: the same exponents as
Householder QR every step, checked on maps with known spectra and against independent references."""

import copy
import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnn_lyapunov import from_torch, lyapunov_spectrum
from rnn_lyapunov.engine.factorizations import BATCHED_LU_MAX_ROWS, LUFactorization, householder
from rnn_lyapunov.engine.lyapunov import DeadDirectionWarning
from rnn_lyapunov.engine.method import resolve_method
from rnn_lyapunov.engine.systems import GaussianProductMap, HenonMap, LinearMap, TanhRNN
from rnn_lyapunov.errors import InputError

HENON_REFERENCE = (0.41922, -1.62319)  # Sprott, Chaos and Time-Series Analysis (2003)


def autonomous(batch, steps, dtype=torch.float64):
    return torch.zeros(batch, steps, 0, dtype=dtype)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 40), columns_fraction=st.floats(0.05, 1.0), batch=st.integers(1, 3),
       double=st.booleans(), seed=st.integers(0, 10_000))
def test_lu_writes_the_frame_as_new_frame_times_an_upper_triangle(rows, columns_fraction, batch, double, seed):
    columns = max(1, round(columns_fraction * rows))
    dtype = torch.float64 if double else torch.float32
    frame = torch.randn(batch, rows, columns, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    new_frame, log_growth = LUFactorization()(frame.to(dtype).clone())  # it factorises in place where it can
    new_frame = new_frame.double()
    triangle = torch.linalg.lstsq(new_frame, frame).solution  # frame = new_frame @ triangle
    tolerance = 1e-9 if double else 1e-3
    assert torch.allclose(new_frame @ triangle, frame, atol=tolerance * frame.abs().max())
    assert triangle.tril(-1).abs().max() <= tolerance * triangle.abs().max()
    assert torch.allclose(triangle.diagonal(dim1=1, dim2=2).abs().log(), log_growth, atol=tolerance * 10)
    assert new_frame.abs().max() <= 1 + tolerance  # P L with partial pivoting: entries of modulus <= 1
    assert log_growth.dtype == torch.float64


def test_lu_of_a_large_batch_on_two_threads_equals_one_matrix_at_a_time():
    """PyTorch's multi-threaded batched CPU LU gives wrong factors from n = 145 (pytorch#181570)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        frame = torch.randn(6, 2 * BATCHED_LU_MAX_ROWS + 50, 160, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
        factors, pivots = LUFactorization().factors(frame)
        for index in range(frame.shape[0]):
            alone, alone_pivots, _ = torch.linalg.lu_factor_ex(frame[index])
            assert torch.equal(factors[index], alone) and torch.equal(pivots[index], alone_pivots)
    finally:
        torch.set_num_threads(threads)


def test_lu_reuses_its_work_tensors_between_calls():
    factorization = LUFactorization()
    frame = torch.randn(2, 8, 8, dtype=torch.float64)
    first, _ = factorization(frame)
    second, _ = factorization(2 * frame)
    assert first.data_ptr() == second.data_ptr()


def test_henon_with_lu_matches_the_reference_and_its_exact_sum():
    spectrum = lyapunov_spectrum(HenonMap(), autonomous(16, 5000), warmup_steps=100, factorization="lu")
    assert spectrum.exponents.tolist() == pytest.approx(HENON_REFERENCE, abs=0.005)
    # det J = -b at every point: each trajectory's exponents sum to ln b
    assert spectrum.per_trajectory.sum(dim=1).tolist() == pytest.approx([math.log(0.3)] * 16, abs=1e-9)
    assert spectrum.factorization == "lu"


def test_non_normal_linear_map_with_lu_has_log_abs_eigenvalues():
    generator = torch.Generator().manual_seed(1)
    eigenvalues = torch.tensor([1.5, 1.1, 0.7, -0.4, 0.2], dtype=torch.float64)
    matrix = torch.diag(eigenvalues) + 3.0 * torch.triu(torch.randn(5, 5, generator=generator, dtype=torch.float64), 1)
    spectrum = lyapunov_spectrum(LinearMap(matrix), autonomous(2, 600), warmup_steps=300, factorization="lu")
    assert torch.allclose(spectrum.exponents, eigenvalues.abs().log().sort(descending=True).values, atol=1e-6, rtol=0)


def test_gaussian_products_with_lu_match_newman():
    n = 64  # wide enough for "auto" to choose LU
    product_map = GaussianProductMap(n)
    inputs = product_map.random_inputs(8, 600, generator=torch.Generator().manual_seed(2))
    spectrum = lyapunov_spectrum(product_map, inputs, warmup_steps=20)
    assert spectrum.factorization == "lu"
    householder_only = lyapunov_spectrum(product_map, inputs, warmup_steps=20, factorization="qr")
    assert torch.allclose(spectrum.per_trajectory, householder_only.per_trajectory, rtol=0, atol=1e-11)
    deviation = (spectrum.exponents - product_map.exact_exponents()).abs() / spectrum.stderr
    assert float(deviation.max()) < 4.0


@pytest.mark.parametrize("warmup_steps", [0, 13])
def test_lu_every_step_equals_qr_every_step_on_a_chaotic_rnn(warmup_steps):
    rnn = TanhRNN(48, input_size=3, gain=1.5, seed=2)
    inputs = rnn.random_inputs(4, 200, generator=torch.Generator().manual_seed(5))
    options = dict(warmup_steps=warmup_steps, record_every=50)
    qr = lyapunov_spectrum(rnn, inputs, factorization="qr", **options)
    lu = lyapunov_spectrum(rnn, inputs, factorization="lu", **options)
    assert (lu.per_trajectory - qr.per_trajectory).abs().max() <= 1e-9
    # record steps close an averaging window with a QR: the running estimates agree too
    assert torch.equal(lu.history_steps, qr.history_steps)
    assert (lu.history - qr.history).abs().max() <= 1e-9


def test_lu_on_a_singular_map_gives_minus_inf_and_one_warning():
    matrix = torch.diag(torch.tensor([2.0, 0.5, 0.0], dtype=torch.float64))
    with pytest.warns(DeadDirectionWarning):
        spectrum = lyapunov_spectrum(LinearMap(matrix), autonomous(2, 50), factorization="lu")
    assert spectrum.exponents[:2].tolist() == pytest.approx([math.log(2.0), math.log(0.5)], abs=0.05)
    assert spectrum.exponents[2] == -math.inf


def test_auto_chooses_lu_and_a_float64_frame_for_a_near_square_float32_frame():
    lstm = torch.nn.LSTM(2, 24).requires_grad_(False)
    system = from_torch(lstm)
    inputs = torch.randn(2, 30, 2)
    full = resolve_method(system, inputs, n_exponents=48, tangent_size=48)
    small = resolve_method(system, inputs, n_exponents=32, tangent_size=48)  # below 48 columns QR is faster
    thin = resolve_method(system, inputs, n_exponents=8, tangent_size=48)
    assert (full.factorization, full.tangent_dtype) == ("lu", torch.float64)
    assert (small.factorization, small.tangent_dtype) == ("qr", torch.float64)
    assert (thin.factorization, thin.tangent_dtype) == ("qr", torch.float32)
    spectrum = lyapunov_spectrum(system, inputs)
    assert (spectrum.factorization, spectrum.tangent_dtype) == ("lu", "float64")


@pytest.mark.parametrize(("make_module", "gain"), [(lambda: torch.nn.RNN(3, 40), 5), (lambda: torch.nn.GRU(3, 40), 2),
                                                   (lambda: torch.nn.LSTM(3, 20, num_layers=2), 100)],
                         ids=["rnn", "gru", "lstm-2-layers"])
def test_a_float64_frame_along_float32_states_resolves_the_whole_spectrum(make_module, gain):
    """Reference: float64 Jacobians by autograd along the very same float32 states, QR every step.
    The wider the spectrum (the 2-layer LSTM's reaches -13.6 nats per step), the more a float64
    frame gains over a float32 one."""
    torch.manual_seed(0)
    module = make_module().requires_grad_(False)
    system32 = from_torch(module)
    system64 = from_torch(copy.deepcopy(module).double())  # the same weights, exactly
    inputs = torch.randn(3, 120, 3, generator=torch.Generator().manual_seed(4))
    state = system32.initial_state(3) + 0.3
    mixed = lyapunov_spectrum(system32, inputs, initial_state=state, tangent_dtype=torch.float64, factorization="lu")
    narrow = lyapunov_spectrum(system32, inputs, initial_state=state, tangent_dtype=torch.float32, factorization="qr")
    frame = torch.linalg.qr(torch.randn(system32.state_size, system32.state_size,
                                        generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    frame, sums = frame.expand(3, -1, -1), torch.zeros(3, system32.state_size, dtype=torch.float64)
    with torch.no_grad():
        for time_index in range(inputs.shape[1]):
            x = inputs[:, time_index]
            jacobian = torch.func.vmap(torch.func.jacrev(lambda s, u: system64.step(s[None], u[None])[0]))(
                state.double(), x.double())
            frame, triangle = torch.linalg.qr(jacobian @ frame)
            sums += triangle.diagonal(dim1=1, dim2=2).abs().log()
            state = system32.step(state, x)
    reference = (sums / inputs.shape[1]).sort(dim=1, descending=True).values
    mixed_error = (mixed.per_trajectory - reference).abs().max()
    assert mixed_error <= 1e-4  # the float32 derivative coefficients, not the frame, limit it
    assert mixed_error * gain < (narrow.per_trajectory - reference).abs().max()


def test_float64_tangents_are_refused_for_a_system_that_only_has_step():
    class StepOnly:
        state_size = 3

        def step(self, state, x):
            return torch.tanh(state)

    with pytest.raises(InputError, match="tangent_dtype"):
        lyapunov_spectrum(StepOnly(), autonomous(1, 5, torch.float32), tangent_dtype="float64")


def test_float64_tangents_through_a_jacobian_only_system_are_cast():
    class JacobianOnly:
        state_size = 4

        def __init__(self):
            self.matrix = torch.diag(torch.tensor([1.2, 0.9, 0.5, 0.1]))

        def step(self, state, x):
            return state @ self.matrix.T

        def jacobian(self, state, x):
            return self.matrix.expand(state.shape[0], 4, 4)

    spectrum = lyapunov_spectrum(JacobianOnly(), autonomous(1, 200, torch.float32), warmup_steps=100,
                                 tangent_dtype=torch.float64)
    assert spectrum.tangent_dtype == "float64"
    expected = torch.tensor([1.2, 0.9, 0.5, 0.1], dtype=torch.float64).log()
    assert torch.allclose(spectrum.exponents, expected, atol=1e-6)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"factorization": "cholesky"}, "factorization must be one of auto, qr, lu"),
    ({"tangent_dtype": "float16"}, "tangent_dtype must be"),
    ({"tangent_dtype": torch.float32}, "narrower than the float64 inputs"),
])
def test_bad_method_arguments_are_refused_with_the_fix(arguments, message):
    with pytest.raises(InputError, match=message):
        lyapunov_spectrum(TanhRNN(4), autonomous(1, 5), **arguments)


def test_the_method_used_is_in_the_dataset_attributes():
    attributes = lyapunov_spectrum(TanhRNN(48), autonomous(2, 30)).to_dataset().attrs
    assert attributes["factorization"] == "lu" and attributes["tangent_dtype"] == "float64"
    attributes = lyapunov_spectrum(TanhRNN(48), autonomous(2, 30), n_exponents=4).to_dataset().attrs
    assert attributes["factorization"] == "qr"


def test_householder_keeps_float64_logs_for_a_float32_frame():
    orthonormal, log_growth = householder(torch.randn(2, 5, 3))
    assert orthonormal.dtype == torch.float32 and log_growth.dtype == torch.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.allclose(orthonormal.mT @ orthonormal, torch.eye(3).expand(2, 3, 3), atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 7, 7), (4, 70, 70), (2, 40, 9)], ids=["square", "square-70", "thin"])
def test_the_row_order_replayed_by_laswp_is_torch_lu_unpacks_permutation(shape):
    frame = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    factors, pivots, _ = torch.linalg.lu_factor_ex(frame)
    permutation = torch.lu_unpack(factors, pivots, unpack_data=False)[0]  # (batch, n, n): frame = P L U
    order = LUFactorization.row_order(factors, pivots)
    assert torch.equal(order, permutation.argmax(dim=1))
