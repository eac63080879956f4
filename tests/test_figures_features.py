"""Spectrum features, PCA and subsampled standard errors against hand-computed values."""

import math
import statistics

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

from rnn_lyapunov.analysis import features
from rnn_lyapunov.figures.convergence import subsampled_standard_error
from rnn_lyapunov.figures.stability_readout import principal_components

# Partial sums 0.5, 0.6, 0.4, -0.6: j = 3 and D = 3 + 0.4 / |-1.0| = 3.4.
SPECTRUM = [0.5, 0.1, -0.2, -1.0]


def test_features_of_a_short_spectrum_match_hand_values():
    assert features.largest_exponent(SPECTRUM) == 0.5
    assert features.top_decile_mean(SPECTRUM) == 0.5  # ceil(0.1 * 4) = 1 exponent
    assert features.n_positive(SPECTRUM) == 2.0
    assert features.kaplan_yorke_dimension(SPECTRUM) == pytest.approx(3.4)


def test_top_decile_mean_of_twenty_exponents_averages_the_largest_two():
    spectrum = -np.arange(20) / 10.0  # 0, -0.1, ..., -1.9
    assert features.top_decile_mean(spectrum) == pytest.approx(-0.05)


def test_kaplan_yorke_dimension_is_zero_when_every_exponent_is_negative():
    assert features.kaplan_yorke_dimension([-0.1, -0.5]) == 0.0
    assert features.n_positive([-0.1, -0.5]) == 0.0


def test_kaplan_yorke_dimension_of_the_henon_reference():
    # lambda = (0.41922, -1.62319): D = 1 + 0.41922 / 1.62319.
    assert features.kaplan_yorke_dimension([0.41922, -1.62319]) == pytest.approx(1 + 0.41922 / 1.62319)


def test_nan_padding_is_ignored():
    padded = SPECTRUM + [math.nan, math.nan]
    for name, (function, _) in features.FEATURES.items():
        assert function(padded) == pytest.approx(function(SPECTRUM)), name


def test_a_missing_spectrum_gives_nan_features():
    for function, _ in features.FEATURES.values():
        assert math.isnan(function([math.nan] * 3))


def test_spectrum_features_keeps_the_other_dims():
    exponents = xr.DataArray(
        [[SPECTRUM, [-0.1, -0.2, -0.3, math.nan]]], dims=("run", "epoch", "exponent"),
        coords={"run": ["a"], "epoch": [0, 1]})
    table = features.spectrum_features(exponents)
    assert table["largest_exponent"].dims == ("run", "epoch")
    np.testing.assert_allclose(table["kaplan_yorke_dimension"].values, [[3.4, 0.0]])
    np.testing.assert_allclose(table["n_positive"].values, [[2.0, 0.0]])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40), st.integers(0, 5))
def test_features_are_unchanged_by_order_and_padding(values, n_padding):
    shuffled = list(reversed(values)) + [math.nan] * n_padding
    descending = sorted(values, reverse=True)
    for function, _ in features.FEATURES.values():
        assert function(shuffled) == pytest.approx(function(descending))
    assert min(values) <= features.top_decile_mean(values) <= max(values) + 1e-12


def test_standard_error_with_every_trajectory_is_the_sample_formula():
    rng = np.random.default_rng(1)
    per_trajectory = rng.normal(size=(7, 3))
    (result,) = subsampled_standard_error(per_trajectory, [7], n_repeats=3)
    expected = [statistics.stdev(per_trajectory[:, column]) / math.sqrt(7) for column in range(3)]
    np.testing.assert_allclose(result, expected)


def test_standard_error_of_iid_samples_falls_like_one_over_root_n():
    rng = np.random.default_rng(2)
    per_trajectory = rng.normal(0.0, 2.0, size=(400, 1))
    errors = subsampled_standard_error(per_trajectory, [4, 16, 64], n_repeats=400)[:, 0]
    # E[s] for n iid N(0, 4) draws is c4(n) * 2; c4 = 0.921, 0.983, 0.996 for n = 4, 16, 64.
    np.testing.assert_allclose(errors, [0.921 * 2 / 2, 0.983 * 2 / 4, 0.996 * 2 / 8], rtol=0.06)


def test_principal_components_match_scikit_learn():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(12, 5)) @ rng.normal(size=(5, 5))
    scores, components, ratio = principal_components(data)
    reference = PCA(n_components=2).fit(data)
    np.testing.assert_allclose(ratio, reference.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(components), np.abs(reference.components_), atol=1e-10)
    np.testing.assert_allclose(np.abs(scores), np.abs(reference.transform(data)), atol=1e-10)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=40), st.integers(0, 5))
def test_readout_features_are_unchanged_by_order_and_padding(values, n_padding):
    shuffled = list(reversed(values)) + [math.nan] * n_padding
    descending = sorted(values, reverse=True)
    for name, (function, _) in features.READOUT_FEATURES.items():
        first, second = function(shuffled), function(descending)
        assert (math.isnan(first) and math.isnan(second)) or first == pytest.approx(second), name
    assert features.positive_sum(values) == pytest.approx(sum(value for value in values if value > 0))
