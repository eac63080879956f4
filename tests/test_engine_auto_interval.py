"""reorthonormalize_every="auto": the adaptive interval keeps every exponent within the tolerance of
QR-every-step, on maps whose spectra are known independently (closed forms, eigenvalues), with wide
and narrow spreads, in float32 and float64."""

import math

import pytest
import torch

from rnn_lyapunov import from_torch, lyapunov_spectrum
from rnn_lyapunov.engine.systems import GaussianProductMap, LinearMap, TanhRNN
from rnn_lyapunov.errors import InputError


def non_normal_map(log_moduli) -> LinearMap:
    """A = S diag(exp(log_moduli)) S^-1 with a fixed, well-conditioned non-orthogonal S: exponents = log_moduli."""
    size = len(log_moduli)
    generator = torch.Generator().manual_seed(3)
    mixing = torch.eye(size, dtype=torch.float64) + 0.3 * torch.randn(size, size, generator=generator, dtype=torch.float64)
    diagonal = torch.diag(torch.tensor(log_moduli, dtype=torch.float64).exp())
    return LinearMap(mixing @ diagonal @ torch.linalg.inv(mixing))


def autonomous_inputs(batch: int, steps: int, dtype) -> torch.Tensor:
    return torch.zeros(batch, steps, 0, dtype=dtype)


def compare(system, inputs, *, tolerance, warmup_steps=20, n_exponents=None, factorization="qr"):
    """(auto with ``factorization``, QR-every-step in the same dtype, QR-every-step in float64) spectra."""
    options = dict(warmup_steps=warmup_steps, n_exponents=n_exponents, tangent_dtype=inputs.dtype)
    auto = lyapunov_spectrum(system, inputs, reorthonormalize_every="auto", reorthonormalize_tolerance=tolerance,
                             factorization=factorization, **options)
    every_step = lyapunov_spectrum(system, inputs, factorization="qr", **options)
    options["tangent_dtype"] = torch.float64
    reference = lyapunov_spectrum(system, inputs.double(), factorization="qr", **options)
    return auto, every_step, reference


SPREADS = {  # log|eigenvalue| per step, descending; the states stay finite in float32 over 420 steps
    "narrow": [0.1, 0.05, 0.0, -0.1, -0.2, -0.4],
    "moderate": [0.1, -0.5, -1.0, -1.5, -2.0, -3.0],
    "wide": [0.0, -2.0, -4.0, -6.0, -9.0, -12.0],
}


@pytest.mark.parametrize("factorization", ["qr", "lu"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("spread", SPREADS)
def test_linear_maps_stay_within_the_tolerance_of_qr_every_step(spread, dtype, factorization):
    log_moduli = SPREADS[spread]
    system = non_normal_map(log_moduli)
    tolerance = 1e-7 if dtype == torch.float64 else 1e-4
    auto, every_step, reference = compare(system, autonomous_inputs(2, 400, dtype), tolerance=tolerance,
                                          factorization=factorization)
    own_error = (every_step.per_trajectory - reference.per_trajectory).abs().max()
    assert (auto.per_trajectory - reference.per_trajectory).abs().max() <= tolerance + own_error
    # and the answer is the closed form: ln|eigenvalues| (up to the O(1/T) effect of the initial frame)
    assert torch.allclose(auto.exponents, torch.tensor(log_moduli, dtype=torch.float64), atol=2e-2)


def test_a_narrow_spread_gets_long_intervals_and_a_wide_one_short_ones():
    narrow = lyapunov_spectrum(non_normal_map(SPREADS["narrow"]), autonomous_inputs(2, 400, torch.float64),
                               reorthonormalize_every="auto", reorthonormalize_tolerance=1e-7)
    wide = lyapunov_spectrum(non_normal_map(SPREADS["wide"]), autonomous_inputs(2, 400, torch.float64),
                             reorthonormalize_every="auto", reorthonormalize_tolerance=1e-7)
    # budget ln(1e-7 / eps) = 20.8 nats of spread per interval: 0.5 per step allows ~40, 12 per step only 1
    assert narrow.mean_interval > 10
    assert max(wide.interval_counts) == 1
    assert sum(m * count for m, count in narrow.interval_counts.items()) == 400


def test_a_fixed_interval_loses_the_bottom_of_a_wide_spectrum_where_auto_does_not():
    """The test above is sensitive: a fixed interval of 4 steps on the wide map is far off."""
    system = non_normal_map(SPREADS["wide"])
    inputs = autonomous_inputs(2, 400, torch.float64)
    reference = lyapunov_spectrum(system, inputs, warmup_steps=20)
    fixed = lyapunov_spectrum(system, inputs, warmup_steps=20, reorthonormalize_every=4)
    auto = lyapunov_spectrum(system, inputs, warmup_steps=20, reorthonormalize_every="auto")
    assert (fixed.exponents - reference.exponents).abs().max() > 1e-2
    assert (auto.exponents - reference.exponents).abs().max() <= 1e-6


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_products_of_gaussian_matrices_match_newman_and_qr_every_step(dtype):
    system = GaussianProductMap(5)
    inputs = system.random_inputs(4, 1500, generator=torch.Generator().manual_seed(1), dtype=dtype)
    tolerance = 1e-6 if dtype == torch.float64 else 1e-4
    auto, every_step, reference = compare(system, inputs, tolerance=tolerance, warmup_steps=0)
    own_error = (every_step.per_trajectory - reference.per_trajectory).abs().max()
    assert (auto.per_trajectory - reference.per_trajectory).abs().max() <= tolerance + own_error
    # Newman's closed form, within the sampling error of 4 x 1500 steps
    assert torch.allclose(auto.exponents, system.exact_exponents(), atol=0.06)


@pytest.mark.parametrize("factorization", ["qr", "lu"])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-6), (torch.float64, 1e-9), (torch.float32, 1e-4)])
@pytest.mark.parametrize("n_exponents", [None, 4])
def test_a_chaotic_tanh_rnn_stays_within_the_tolerance(dtype, tolerance, n_exponents, factorization):
    """Full spectra spread over ~8 nats per step (saturated units), fluctuating from step to step."""
    rnn = TanhRNN(24, input_size=3, gain=1.5, seed=2)
    inputs = rnn.random_inputs(6, 300, generator=torch.Generator().manual_seed(5), dtype=dtype)
    auto, every_step, reference = compare(rnn, inputs, tolerance=tolerance, n_exponents=n_exponents,
                                          factorization=factorization)
    own_error = (every_step.per_trajectory - reference.per_trajectory).abs().max()
    assert (auto.per_trajectory - reference.per_trajectory).abs().max() <= tolerance + own_error


def test_the_intervals_used_are_reported():
    rnn = TanhRNN(16, input_size=2, seed=1)
    inputs = rnn.random_inputs(3, 120, generator=torch.Generator().manual_seed(0))
    spectrum = lyapunov_spectrum(rnn, inputs, warmup_steps=10, n_exponents=3, reorthonormalize_every="auto",
                                 record_every=25)
    assert sum(m * count for m, count in spectrum.interval_counts.items()) == 120
    assert spectrum.history_steps.tolist() == [25, 50, 75, 100, 110]  # record steps close an interval
    attributes = spectrum.to_dataset().attrs
    assert attributes["reorthonormalize_every"] == "auto"
    assert attributes["reorthonormalize_tolerance"] == 1e-6  # the float64 default
    assert math.isclose(attributes["qr_interval_mean"], spectrum.mean_interval)
    pairs = dict(pair.split(":") for pair in attributes["qr_interval_counts"].split())
    assert {int(m): int(count) for m, count in pairs.items()} == spectrum.interval_counts
    fixed = lyapunov_spectrum(rnn, inputs, reorthonormalize_every=3)
    assert fixed.interval_counts == {3: 40}


@pytest.mark.parametrize(("arguments", "message"), [
    ({"reorthonormalize_every": "sometimes"}, "must be an int >= 1 or 'auto'"),
    ({"reorthonormalize_every": "auto", "reorthonormalize_tolerance": 0.0}, r"must be a number in \(0, 1\)"),
    ({"reorthonormalize_every": "auto", "reorthonormalize_tolerance": 2}, r"must be a number in \(0, 1\)"),
    ({"reorthonormalize_every": 2, "reorthonormalize_tolerance": 1e-6}, "only applies to reorthonormalize_every='auto'"),
])
def test_bad_schedules_are_refused_with_the_fix(arguments, message):
    rnn = TanhRNN(4)
    with pytest.raises(InputError, match=message):
        lyapunov_spectrum(rnn, torch.zeros(1, 5, 0, dtype=torch.float64), **arguments)


def test_any_record_every_is_allowed_with_auto():
    rnn = TanhRNN(4)
    spectrum = lyapunov_spectrum(rnn, torch.zeros(1, 21, 0, dtype=torch.float64), reorthonormalize_every="auto",
                                 record_every=7)
    assert spectrum.history_steps.tolist() == [7, 14, 21]


def test_the_default_tolerance_follows_the_states_dtype_not_the_frames():
    """A float32 LSTM gets a float64 frame but float32's tolerance, and stays within it of QR every step."""
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 32).requires_grad_(False)
    system = from_torch(module)  # (h, c): 64 exponents, LU
    inputs = torch.randn(4, 150, 3)
    auto = lyapunov_spectrum(system, inputs, warmup_steps=10, reorthonormalize_every="auto")
    assert (auto.factorization, auto.tangent_dtype, auto.reorthonormalize_tolerance) == ("lu", "float64", 1e-4)
    every_step = lyapunov_spectrum(system, inputs, warmup_steps=10, factorization="qr", tangent_dtype=torch.float64)
    assert (auto.per_trajectory - every_step.per_trajectory).abs().max() <= 1e-4
    in_float64 = lyapunov_spectrum(from_torch(module.double()), inputs.double(), reorthonormalize_every="auto")
    assert in_float64.reorthonormalize_tolerance == 1e-6


def _decide(schedule, spread: float) -> tuple[str, int]:
    """One factorization of one step whose log|diag R| spreads over ``spread`` nats, then the schedule's choice."""
    from rnn_lyapunov.engine.lyapunov import _readings

    summed = schedule.summed_windows(torch.tensor([[0.0, -spread]], dtype=torch.float64), 1)
    readings = _readings(torch.zeros(1, 2, dtype=torch.float64), summed)
    interval = schedule.next_interval(readings.spreads, readings.sizes)
    return schedule.factorization, interval


def test_lu_takes_single_steps_on_credit_and_repays_an_overdraft_with_qr():
    """float64, tolerance 1e-6, 256 rows: LU's budget is ln(1e-6 / (eps 256)) = 16.7 nats, 11.1 with the
    margin. Steps of 12 nats take LU on credit; a burst of 18 (charged eps 256 e^18 = 3.7e-6 against
    2e-6 saved) overdraws the account, and QR steps (charged ~eps e^12) repay it before LU returns."""
    from rnn_lyapunov.engine.schedule import AdaptiveInterval

    schedule = AdaptiveInterval(1e-6, torch.float64, "lu", rows=256)
    assert [_decide(schedule, spread) for spread in (12.0, 12.0, 18.0, 12.0, 12.0)] == [
        ("lu", 1), ("lu", 1), ("qr", 1), ("qr", 1), ("lu", 1)]


def test_auto_on_a_chaotic_tanh_rnn_factorizes_by_lu_as_every_step_does_and_keeps_the_tolerance():
    """Spreads of 10-16 nats per step (64 units, gain 1.5, float64, full spectrum): above LU's margined
    budget about half the time, which used to send those steps to a QR (3 LUs' cost each)."""
    rnn = TanhRNN(64, input_size=4, gain=1.5, seed=0)
    inputs = rnn.random_inputs(4, 120, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    auto = lyapunov_spectrum(rnn, inputs, warmup_steps=20, reorthonormalize_every="auto", factorization="lu")
    reference = lyapunov_spectrum(rnn, inputs, warmup_steps=20, factorization="qr")
    assert auto.factorization_counts["qr"] <= 6  # the two window ends, and a burst or two
    assert (auto.per_trajectory - reference.per_trajectory).abs().max() <= 1e-6


def test_the_first_factorization_is_lu_for_a_float64_frame_as_every_step_and_qr_for_float32():
    from rnn_lyapunov.engine.schedule import AdaptiveInterval

    assert AdaptiveInterval(1e-6, torch.float64, "lu", rows=64).factorization == "lu"
    assert AdaptiveInterval(1e-4, torch.float32, "lu", rows=64).factorization == "qr"
    assert AdaptiveInterval(1e-6, torch.float64, "qr", rows=64).factorization == "qr"
