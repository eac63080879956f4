"""The validation dataset against the exact answers it is meant to reproduce."""

import math

import numpy as np
import pytest
from scipy.special import digamma

from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures.registry import get_figure
from rnn_lyapunov.figures.render import load_figure_input, render_figure
from rnn_lyapunov.io.storage import write_netcdf_atomic
from rnn_lyapunov.analysis.validation import compute_validation, newman_exponents


@pytest.fixture(scope="module")
def small_validation():
    """Reduced settings: a few seconds instead of the default's ~20 s."""
    return compute_validation(map_steps=400, map_trajectories=16, record_every=20, gaussian_size=6,
                              gaussian_steps=400, gaussian_trajectories=16, tanh_hidden_size=8,
                              tanh_steps=120, tanh_trajectories=4, warmup_steps=30)


def test_newman_exponents_for_n_one_is_the_mean_log_of_a_standard_normal():
    # E ln|z| for z ~ N(0, 1) is -(euler_gamma + ln 2) / 2.
    assert newman_exponents(1)[0] == pytest.approx(-(np.euler_gamma + math.log(2.0)) / 2.0)


def test_running_estimates_are_along_step(small_validation):
    # 400 map steps, 30 of them warm-up: a record every 20 averaged steps and one at the end.
    assert small_validation["henon_running_estimate"].dims == ("step", "henon_exponent")
    assert small_validation["logistic_running_estimate"].dims == ("step",)
    assert small_validation["step"].values.tolist() == [*range(20, 361, 20), 370]
    assert "record_step" not in small_validation.dims


@pytest.mark.slow
def test_henon_exponents_match_the_reference(small_validation):
    np.testing.assert_allclose(small_validation["henon_exponents"].values, [0.41922, -1.62319], atol=0.02)


@pytest.mark.slow
def test_henon_exponents_sum_to_log_b(small_validation):
    # |det J| = b at every point, so lambda_1 + lambda_2 = ln 0.3 up to rounding.
    assert float(small_validation["henon_exponents"].sum()) == pytest.approx(math.log(0.3), abs=1e-9)


@pytest.mark.slow
def test_logistic_exponent_is_log_two(small_validation):
    assert float(small_validation["logistic_exponents"]) == pytest.approx(math.log(2.0), abs=0.01)


@pytest.mark.slow
def test_gaussian_products_match_newman_closed_form(small_validation):
    n = small_validation.sizes["gaussian_exponent"]
    index = np.arange(1, n + 1)
    expected = 0.5 * (np.log(2.0 / n) + digamma((n - index + 1) / 2.0))
    estimate = small_validation["gaussian_exponents"].values
    tolerance = np.maximum(5 * small_validation["gaussian_stderr"].values, 0.02)
    assert np.all(np.abs(estimate - expected) < tolerance), (estimate, expected)


def _benettin_reference(dataset):
    """The tanh-RNN spectrum of the validation settings by a hand-written Benettin QR in numpy, float64.

    h' = tanh(W h + U x + b), J = diag(1 - h'^2) W; the frame starts as the engine's seeded frame and
    is re-orthonormalised every step; log|R_ii| are averaged after the warm-up, then over trajectories.
    """
    from rnn_lyapunov.engine.lyapunov import initial_frame
    from rnn_lyapunov.engine.systems import TanhRNN
    import torch

    n, seed = int(dataset.attrs["tanh_hidden_size"]), int(dataset.attrs["seed"])
    steps, warmup = int(dataset.attrs["tanh_steps"]), int(dataset.attrs["warmup_steps"])
    system = TanhRNN(n, input_size=1, gain=float(dataset.attrs["tanh_gain"]), seed=seed)
    inputs = system.random_inputs(int(dataset.attrs["tanh_trajectories"]), steps,
                                  generator=torch.Generator().manual_seed(seed)).numpy()
    W, U, b = (tensor.numpy() for tensor in (system.recurrent_weight, system.input_weight, system.bias))
    states = system.initial_state(inputs.shape[0]).numpy()
    frame0 = initial_frame(n, n, dtype=torch.float64, device=torch.device("cpu")).numpy()
    sums = np.zeros((inputs.shape[0], n))
    for trajectory, state in enumerate(states):
        frame = frame0.copy()
        for t in range(steps):
            state = np.tanh(W @ state + U @ inputs[trajectory, t] + b)
            frame, r = np.linalg.qr((1.0 - state**2)[:, None] * W @ frame)
            if t >= warmup:
                sums[trajectory] += np.log(np.abs(np.diag(r)))
    return (sums / (steps - warmup)).mean(axis=0)


@pytest.mark.slow
def test_precision_panel_against_an_independent_float64_reference(small_validation):
    reference = _benettin_reference(small_validation)
    spectra = small_validation["tanh_exponents"]
    # the dataset's own float64 every-step reference is the hand-written Benettin answer to rounding
    np.testing.assert_allclose(small_validation["tanh_reference_exponents"].values, reference, rtol=0, atol=1e-10)
    np.testing.assert_allclose(spectra.sel(dtype="float64", reorthonormalize_every=1).values, reference, rtol=0, atol=1e-10)
    # float32 (unit roundoff 6e-8): the leading exponents keep errors of a few 1e-7..1e-6 nats/step
    # (measured up to 2.8e-6 for the first six); the last two, whose directions shrink fastest relative
    # to the frame, 1e-4 (measured 1.3e-4). Bounds a factor ~4 above what was measured, not 1e-2.
    float32_error = np.abs(spectra.sel(dtype="float32", reorthonormalize_every=1).values - reference)
    assert float32_error[:6].max() < 1e-5 and float32_error.max() < 5e-4
    # the stored errors are these differences (up to the float64 reference's rounding)
    np.testing.assert_allclose(small_validation["tanh_abs_error"].sel(dtype="float32", reorthonormalize_every=1).values,
                               float32_error, rtol=0, atol=1e-9)
    # less frequent QR in float64 changes only rounding for the leading exponent
    leading = spectra.sel(dtype="float64", reorthonormalize_every=5).isel(tanh_exponent=0).values
    assert abs(float(leading) - reference[0]) < 1e-8


@pytest.mark.slow
def test_validation_figure_renders_from_the_written_file(small_validation, tmp_path):
    path = tmp_path / "validation.nc"
    write_netcdf_atomic(small_validation, path)
    loaded = load_figure_input("validation", path)
    assert loaded.identical(small_validation)
    png, pdf = tmp_path / "validation.png", tmp_path / "validation.pdf"
    render_figure("validation", loaded, [png, pdf], dpi=60)
    assert png.stat().st_size > 5_000 and pdf.stat().st_size > 5_000


@pytest.mark.slow
def test_validation_figure_reads_files_from_before_the_step_rename(small_validation):
    figure = get_figure("validation").draw(small_validation.rename({"step": "record_step"}))
    henon_ax = figure.axes[0]
    assert henon_ax.get_xlabel() == "steps accumulated after warm-up (steps)"
    assert henon_ax.get_lines()[0].get_xdata().tolist() == small_validation["step"].values.tolist()


def test_validation_figure_refuses_a_sweep_dataset():
    from rnn_lyapunov.figures.synthetic import synthetic_sweep

    with pytest.raises(InputError, match="compute_validation"):
        get_figure("validation").draw(synthetic_sweep())


def test_loading_a_non_validation_file_is_refused(tmp_path):
    from rnn_lyapunov.figures.synthetic import synthetic_sweep

    path = tmp_path / "sweep.nc"
    write_netcdf_atomic(synthetic_sweep(), path)
    with pytest.raises(InputError, match="not an rnn-lyapunov validation file"):
        load_figure_input("validation", path)
