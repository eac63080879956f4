"""evaluate_readout on seeded synthetic sweeps whose answers are known, and the features it adds."""

import math

import numpy as np
import pytest
import xarray as xr
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from rnn_lyapunov.analysis import features
from rnn_lyapunov.analysis.readout import ReadoutWarning, _scores, evaluate_readout
from rnn_lyapunov.analysis.readout_inputs import _slope_arguments, final_values

FAST = {"folds": 5, "repeats": 2, "n_bootstrap": 40, "n_permutations": 39, "seed": 0}


def make_sweep(seed, n_runs, final_loss, *, top=None, sizes=(8, 12), minimal=False):
    """A sweep of ``n_runs``: spectra lambda_i = top - spread * i/N (NaN-padded to the largest N) at
    epochs 0-2, hyperparameters drawn independently of everything, and ``final_loss(lambda_1 at
    epoch 0, rng)`` as the validation loss at the last epoch (earlier losses are noise)."""
    rng = np.random.default_rng(seed)
    top = rng.uniform(-1.0, 0.6, n_runs) if top is None else np.asarray(top, float)
    spread = rng.uniform(2.0, 6.0, n_runs)
    state_sizes = rng.choice(sizes, n_runs)
    exponents = np.full((n_runs, 3, max(sizes)), np.nan)
    for run, (size, high, width) in enumerate(zip(state_sizes, top, spread)):
        for epoch in range(3):
            exponents[run, epoch, :size] = high * 0.5**epoch - width * np.arange(1, size + 1) / size
    largest = exponents[:, 0, 0]
    val_loss = rng.uniform(2.0, 3.0, (n_runs, 3))
    val_loss[:, -1] = final_loss(largest, rng)
    coords = {"learning_rate": ("run", 10 ** rng.uniform(-4, -2, n_runs)),
              "dropout": ("run", rng.uniform(0.0, 0.5, n_runs)),
              "init_scale": ("run", rng.uniform(0.2, 1.0, n_runs))}
    data = {"lyapunov_exponents": (("run", "epoch", "exponent"), exponents),
            "val_loss": (("run", "epoch"), val_loss)}
    if not minimal:
        coords.update(run=[f"run{index}" for index in range(n_runs)], epoch=[0, 1, 2],
                      exponent=np.arange(1, max(sizes) + 1), state_size=("run", state_sizes),
                      architecture=("run", rng.choice(["rnn", "gru"], n_runs)))
        data["train_loss"] = (("run", "epoch"), np.where(np.arange(3) == 0, np.nan, val_loss - 0.1))
    return xr.Dataset(data, coords=coords), largest


def rows(table, predictor):
    return table[table["predictor"] == predictor].set_index("metric")


def test_a_loss_driven_by_the_largest_exponent_is_read_from_the_spectrum_not_the_hyperparameters():
    sweep, _ = make_sweep(1, 40, lambda largest, rng: np.exp(largest) + rng.normal(0, 0.02, largest.size))
    table = evaluate_readout(sweep, early_epoch=0, failure_threshold=1.0, **FAST, predictors=[
        "largest_exponent", "spectrum_features", "hyperparameters", "hyperparameters+spectrum_features"])
    largest, hyper = rows(table, "largest_exponent"), rows(table, "hyperparameters")
    assert largest.loc["spearman_rho", "value"] > 0.9 and largest.loc["r2", "value"] > 0.8
    assert largest.loc["spearman_rho", "ci_low"] > hyper.loc["spearman_rho", "ci_high"]
    assert rows(table, "spectrum_features").loc["spearman_rho", "ci_low"] > hyper.loc["spearman_rho", "ci_high"]
    assert largest.loc["roc_auc", "value"] > 0.9 > hyper.loc["roc_auc", "value"]
    added = rows(table, "hyperparameters+spectrum_features vs hyperparameters")
    assert (added["family"] == "comparison").all()
    assert added.loc["spearman_rho", "ci_low"] > 0 and added.loc["spearman_rho", "p_value"] < 0.05
    assert added.loc["spearman_rho", "fraction_folds_positive"] > 0.8
    assert (table["n_runs"] == 40).all() and (table["target_scale"] == "linear").all()
    assert set(hyper["features"].iloc[0].split(", ")) == {
        "log10(learning_rate)", "dropout", "init_scale", "state_size", "architecture=rnn"}


def test_b_a_loss_independent_of_the_spectrum_has_a_rho_interval_containing_zero():
    sweep, _ = make_sweep(2, 40, lambda largest, rng: rng.uniform(1.0, 2.0, largest.size))
    table = evaluate_readout(sweep, early_epoch=0, failure_threshold=1.5, **FAST,
                             predictors=["largest_exponent", "spectrum_features"])
    for predictor in ("largest_exponent", "spectrum_features"):
        rho = rows(table, predictor).loc["spearman_rho"]
        assert rho["ci_low"] < 0 < rho["ci_high"], predictor


def test_c_failures_separated_by_the_largest_exponent_give_auc_one():
    top = np.r_[np.linspace(0.9, 1.4, 20), np.linspace(-1.0, -0.3, 20)]  # lambda_1 = top - (2..6)/8
    sweep, largest = make_sweep(3, 40, lambda largest, rng: np.where(largest > 0, 3.0, 1.0)
                                + rng.uniform(0, 0.2, largest.size), top=top, sizes=(8,))
    table = evaluate_readout(sweep, early_epoch=0, failure_threshold=2.0, **FAST, predictors=["largest_exponent"])
    auc = rows(table, "largest_exponent").loc["roc_auc"]
    assert [auc["value"], auc["ci_low"], auc["ci_high"]] == pytest.approx([1.0, 1.0, 1.0])
    assert auc["n_failures"] == 20 == (largest > 0).sum()


def test_d_a_diverged_run_counts_as_a_failure_and_leaves_the_loss_metrics():
    def diverging(largest, rng):
        loss = 1.0 + rng.uniform(0, 0.1, largest.size)
        loss[np.argsort(largest)[-6:]] = [np.nan] * 5 + [np.inf]  # the six most chaotic runs diverge
        return loss

    sweep, largest = make_sweep(4, 40, diverging)
    assert np.isnan(final_values(sweep, "val_loss")[np.argmax(largest)]) or np.isinf(
        final_values(sweep, "val_loss")[np.argmax(largest)])
    table = evaluate_readout(sweep, early_epoch=0, failure_threshold=None, **FAST, predictors=["largest_exponent"])
    result = rows(table, "largest_exponent")
    assert result.loc["roc_auc", "n_failures"] == 6 and result.loc["roc_auc", "n_runs"] == 40
    assert result.loc["roc_auc", "value"] > 0.95
    assert result.loc["spearman_rho", "n_runs"] == 34 and result.loc["spearman_rho", "n_excluded"] == 6


def test_e_a_sweep_with_only_exponents_losses_and_hyperparameters_works():
    sweep, _ = make_sweep(5, 30, lambda largest, rng: np.exp(largest) + rng.normal(0, 0.05, largest.size),
                          minimal=True)
    assert set(sweep.variables) == {"lyapunov_exponents", "val_loss", "learning_rate", "dropout", "init_scale"}
    table = evaluate_readout(sweep, early_epoch=0, failure_threshold=1.0, folds=3, repeats=1, n_bootstrap=10,
                             n_permutations=4)
    assert not table["predictor"].str.contains("train_loss").any()
    assert {"spectrum_slope", "n_above_threshold", "positive_sum", "spectrum_pca", "hyperparameters",
            "early_val_loss", "early_val_loss+spectrum_features vs early_val_loss"} <= set(table["predictor"])
    assert table["value"].notna().all() and (table["note"] == "").all()
    for predictor in ("largest_exponent", "spectrum_pca"):  # the whole spectrum (PCA + ridge) too
        assert rows(table, predictor).loc["spearman_rho", "value"] > 0.8, predictor


def test_f_too_few_runs_or_failures_give_nan_rows_and_a_message():
    sweep, _ = make_sweep(6, 4, lambda largest, rng: rng.uniform(1, 2, largest.size))
    with pytest.warns(ReadoutWarning, match="only 4 runs .* need at least 5 .folds=5"):
        table = evaluate_readout(sweep, early_epoch=0, failure_threshold=1.5, **FAST)
    assert table["value"].isna().all() and table["note"].str.len().gt(0).all()
    sweep, largest = make_sweep(7, 20, lambda largest, rng: np.where(largest == largest.max(), 5.0, 1.0))
    with pytest.warns(ReadoutWarning, match="1 failing runs .* at least 2 of each"):
        table = evaluate_readout(sweep, early_epoch=0, failure_threshold=2.0, **FAST, predictors=["largest_exponent"])
    result = rows(table, "largest_exponent")
    assert np.isnan(result.loc["roc_auc", "value"]) and "at least 2 of each" in result.loc["roc_auc", "note"]
    assert np.isfinite(result.loc["spearman_rho", "value"])
    # Every run stable: no positive exponent anywhere, so n_positive is a constant feature.
    sweep, _ = make_sweep(8, 20, lambda largest, rng: rng.uniform(1, 2, largest.size), top=np.full(20, -0.5))
    with pytest.warns(ReadoutWarning, match="n_positive"):
        table = evaluate_readout(sweep, early_epoch=0, failure_threshold=1.5, **FAST, predictors=["n_positive"])
    assert table["value"].isna().all() and table["note"].str.contains("constant").all()


def test_g_new_features_match_hand_computed_values():
    spectrum = [0.5, 0.1, -0.2, -1.0]  # i/N = 0.25, 0.5, 0.75, 1
    assert features.spectrum_slope(spectrum) == pytest.approx(-0.8 / 0.25)  # second half: i = 3, 4
    assert features.spectrum_slope(spectrum, index_range=(1, 2)) == pytest.approx(-0.4 / 0.25)
    # With N = 8 (a truncated spectrum of a larger state) i/N = 1/8..4/8 and no exponent is past 0.5.
    assert math.isnan(features.spectrum_slope(spectrum, state_size=8))
    assert features.spectrum_slope(spectrum, state_size=8, fraction_range=(0.0, 0.5)) == pytest.approx(-3.84)
    line = -2.0 * np.arange(1, 201) / 200 + 0.3  # exact line in i/N: slope -2 over any range
    assert features.spectrum_slope(list(line) + [math.nan] * 5, index_range=(50, 100)) == pytest.approx(-2.0)
    assert features.n_above_threshold([0.5, -2.9, -3.0, -4.0]) == 2.0
    assert features.n_above_threshold(spectrum, threshold=0.0) == 2.0
    assert features.positive_sum(spectrum) == pytest.approx(0.6)
    assert features.positive_sum([-0.1, -2.0, math.nan]) == 0.0
    # evaluate_readout's default range: the authors' exponents 50-100 once every spectrum is that long.
    assert _slope_arguments(None, [np.zeros(120), np.zeros(100)])[0] == {"index_range": (50, 100)}
    assert _slope_arguments(None, [np.zeros(120), np.zeros(99)])[0] == {"fraction_range": (0.5, 1.0)}
    for function in (features.spectrum_slope, features.n_above_threshold, features.positive_sum):
        assert math.isnan(function([math.nan, math.nan]))
        assert function(list(reversed(spectrum)) + [math.nan]) == pytest.approx(function(spectrum))


def test_vectorised_metrics_match_scipy_and_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y, predicted = rng.integers(0, 5, (30, 3)).astype(float), rng.integers(0, 4, (30, 3)).astype(float)
    expected = [spearmanr(y[:, column], predicted[:, column]).statistic for column in range(3)]
    np.testing.assert_allclose(_scores("spearman_rho", y, predicted), expected, atol=1e-12)
    failed = np.tile((np.arange(30) < 9)[:, None], (1, 3)).astype(int)  # same labels in every column
    expected = [roc_auc_score(failed[:, column], predicted[:, column]) for column in range(3)]
    np.testing.assert_allclose(_scores("roc_auc", failed, predicted), expected)


def test_too_few_runs_for_failure_names_the_classes_not_the_regression():
    """Two runs, one failing, five folds: the failure task reports its class counts (1 and 1), not the
    final-loss task's run count; with enough of each class and runs it reports nothing."""
    from rnn_lyapunov.analysis.readout_inputs import too_few_runs

    message = too_few_runs("classification", np.array([0, 1]), 5, None)
    assert message.startswith("1 failing runs (final loss not finite) and 1 others among 2")
    assert too_few_runs("classification", np.array([0, 1] * 3), 5, 2.0) == ""
    assert too_few_runs("regression", np.ones(2), 5, None).startswith("only 2 runs with a finite final loss")
