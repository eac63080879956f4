"""The readout's skill scores equal scipy's and scikit-learn's reference functions, column by column."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import r2_score, roc_auc_score

from rnn_lyapunov.analysis.readout_models import scores


def _columns(seed, runs, columns, ties):
    rng = np.random.default_rng(seed)
    predicted = rng.normal(size=(runs, columns))
    if ties:  # coarse predictions: many tied scores, across and within classes
        predicted = np.round(predicted * 2) / 2
    return rng, predicted


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), runs=st.integers(4, 40), columns=st.integers(1, 6), ties=st.booleans())
def test_roc_auc_equals_sklearn_with_ties_and_different_labels_per_column(seed, runs, columns, ties):
    rng, predicted = _columns(seed, runs, columns, ties)
    labels = (rng.random((runs, columns)) < 0.4).astype(float)
    labels[0], labels[1] = 0.0, 1.0  # both classes in every column
    expected = [roc_auc_score(labels[:, column], predicted[:, column]) for column in range(columns)]
    np.testing.assert_allclose(scores("roc_auc", labels, predicted), expected, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), runs=st.integers(3, 40), columns=st.integers(1, 6), ties=st.booleans())
def test_r2_and_spearman_equal_sklearn_and_scipy(seed, runs, columns, ties):
    rng, predicted = _columns(seed, runs, columns, ties)
    target = predicted + rng.normal(size=(runs, columns))
    expected_r2 = r2_score(target, predicted, multioutput="raw_values")
    np.testing.assert_allclose(scores("r2", target, predicted), expected_r2, rtol=1e-10, atol=1e-12)
    rho = scores("spearman_rho", target, predicted)
    for column in range(columns):
        if np.ptp(predicted[:, column]) > 0:
            assert rho[column] == pytest.approx(spearmanr(target[:, column], predicted[:, column]).statistic, abs=1e-12)


def test_a_column_with_one_class_or_a_constant_target_has_no_score():
    predicted = np.array([[0.1, 0.2], [0.4, 0.3], [0.2, 0.9]])
    labels = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    auc = scores("roc_auc", labels, predicted)
    assert auc[0] == 1.0 and np.isnan(auc[1])
    assert np.isnan(scores("r2", labels, predicted)[1])
