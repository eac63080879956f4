"""evaluate_readout's refitted bootstrap intervals and permutation p-values, the coverage benchmark
at a small size, and the readout's input checks and messages."""

import importlib.util
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from rnn_lyapunov.analysis.readout import ReadoutWarning, evaluate_readout
from rnn_lyapunov.analysis.readout_intervals import centred_interval, group_folds
from rnn_lyapunov.errors import InputError

ROOT = Path(__file__).parents[1]


def load_benchmark():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_readout_coverage",
                                                  ROOT / "benchmarks" / "bench_readout_coverage.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()
sweeps = sys.modules["readout_sweeps"]


def test_the_interval_level_is_95_percent():
    # A bootstrap distribution uniform on [-1, 1] (median 0): its 2.5 and 97.5 percentiles are -0.95 and 0.95.
    distribution = np.linspace(-1.0, 1.0, 20001)
    assert centred_interval(0.2, distribution, "difference") == pytest.approx((0.2 - 0.95, 0.2 + 0.95), abs=1e-9)
    assert centred_interval(0.2, distribution, "r2") == pytest.approx((0.2 - 0.95, 1.0), abs=1e-9)
    # Centred on the estimate, not on the resamples, and clipped to the metric's range.
    assert centred_interval(0.9, distribution + 5.0, "roc_auc") == pytest.approx((0.0, 1.0))
    assert centred_interval(0.5, distribution + 5.0, "spearman_rho") == pytest.approx((-0.45, 1.0))
    sweep = sweeps.default_shaped_sweep(0, n_runs=24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadoutWarning)
        table = evaluate_readout(sweep, early_epoch=1, failure_threshold=1.2, folds=3, repeats=1,
                                 n_bootstrap=5, n_permutations=0, predictors=["largest_exponent"])
    assert table.attrs["interval_level"] == 0.95


def test_group_folds_keep_every_copy_of_a_run_on_one_side_and_stratify_failures():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 30, 30)                      # a bootstrap resample of 30 runs
    failed = (np.arange(30) < 9).astype(int)[groups]      # runs 0-8 fail
    for task, labels in (("regression", np.zeros(30)), ("classification", failed)):
        splits = group_folds(task, labels, groups, 5, rng)
        assert len(splits) == 5
        tested = np.concatenate([test for _, test in splits])
        assert np.array_equal(np.sort(tested), np.arange(30))  # every row scored once
        for train, test in splits:
            assert test.size and not set(groups[train]) & set(groups[test])
        if task == "classification":
            failing_runs = np.unique(groups[failed == 1]).size
            per_fold = [np.unique(groups[test][failed[test] == 1]).size for _, test in splits]
            assert max(per_fold) - min(per_fold) <= 1 and sum(per_fold) == failing_runs
    assert group_folds("regression", np.zeros(4), np.array([0, 0, 1, 1]), 3, rng) is None


def test_a_strong_planted_signal_has_an_interval_above_zero_and_the_smallest_p_value():
    sweep = sweeps.default_shaped_sweep(3, signal=0.95, n_runs=36)
    table = evaluate_readout(sweep, early_epoch=1, failure_threshold=1.2, folds=3, repeats=1, n_bootstrap=20,
                             n_permutations=9, predictors=["hyperparameters", "hyperparameters+spectrum_features"])
    rho = table.query("predictor == 'hyperparameters+spectrum_features' and metric == 'spearman_rho'").iloc[0]
    assert 0.3 < rho["ci_low"] <= rho["value"] <= rho["ci_high"] <= 1.0 and rho["value"] > 0.7
    added = table.query("family == 'comparison'").set_index("metric")
    # Every permutation of the spectrum falls below the real difference: p = 1 / (1 + 9).
    assert added.loc["spearman_rho", "p_value"] == pytest.approx(0.1)
    assert added.loc["r2", "p_value"] == pytest.approx(0.1)
    assert added.loc["spearman_rho", "ci_low"] > 0


def test_the_coverage_benchmark_runs_and_reports_coverage_and_rejection_rates(capsys):
    table = bench.main(["--simulations", "2", "--truth-sweeps", "2", "--runs", "24", "--folds", "3",
                        "--repeats", "1", "--n-bootstrap", "4", "--n-permutations", "4", "--scenarios", "null"])
    # Without signal the population rho and R^2 of lambda_1 are 0.
    assert set(table["truth"]) == {"expected", "population", "p <= 0.05"}
    assert (table[table["truth"] == "population"]["true_value"] == 0).all()
    coverage = table[table["truth"] == "expected"]
    assert ((coverage["coverage"] >= 0) & (coverage["coverage"] <= 1)).all() and (coverage["simulations"] == 2).all()
    # p >= 1 / (1 + 4) = 0.2 > 0.05: never rejected with 4 permutations.
    assert (table[table["truth"] == "p <= 0.05"]["rejection_rate"] == 0).all()
    assert bench.wilson(0, 10)[0] == 0 and bench.wilson(19, 20) == pytest.approx((0.7639, 0.9911), abs=1e-4)


@pytest.mark.slow
def test_intervals_cover_the_expected_rho_on_a_small_null_case():
    table = bench.main(["--simulations", "30", "--truth-sweeps", "60", "--runs", "30", "--folds", "3",
                        "--repeats", "1", "--n-bootstrap", "40", "--n-permutations", "0", "--scenarios", "null",
                        "--predictors", "largest_exponent"])
    rho = table[(table["metric"] == "spearman_rho") & (table["truth"] == "expected")].iloc[0]
    assert rho["coverage"] >= 26 / 30  # nominal 95%; fixed-prediction intervals covered about 80%


@pytest.mark.parametrize("threshold", [math.nan, math.inf, -math.inf, -0.5, True, "1.0"])
def test_a_nan_infinite_negative_or_non_numeric_failure_threshold_is_refused(threshold):
    sweep = sweeps.default_shaped_sweep(0, n_runs=12)
    with pytest.raises(InputError, match="failure_threshold must be None .* or a finite number >= 0"):
        evaluate_readout(sweep, early_epoch=1, failure_threshold=threshold)


def test_too_few_runs_and_a_constant_target_give_true_notes():
    sweep = sweeps.default_shaped_sweep(0, n_runs=2)
    with pytest.warns(ReadoutWarning) as caught:
        table = evaluate_readout(sweep, early_epoch=1, failure_threshold=1.0, folds=2, n_bootstrap=5,
                                 predictors=["largest_exponent"])
    message = str(caught[0].message)
    assert "fewer than folds" not in message and "only 2 runs" in message and "at least 3" in message
    assert table["value"].isna().all() and table["note"].str.len().gt(0).all()
    constant = sweeps.default_shaped_sweep(1, n_runs=20)
    constant["val_loss"][:, -1] = 1.5
    with pytest.warns(ReadoutWarning, match="the final loss is the same"):
        table = evaluate_readout(constant, early_epoch=1, failure_threshold=1.0, folds=3, n_bootstrap=5,
                                 predictors=["largest_exponent", "hyperparameters"])
    assert table["value"].isna().all()
    assert table["note"].str.len().gt(0).all(), table[["predictor", "metric", "note"]]
    assert table.query("metric != 'roc_auc'")["note"].str.contains("constant target").all()


@pytest.mark.parametrize("kind", ["linear", "pca"])
def test_the_numpy_models_predict_what_the_scikit_learn_pipelines_predict(kind):
    from rnn_lyapunov.analysis.readout_models import estimator, fit_predict

    rng = np.random.default_rng(1)
    columns = 6 if kind == "linear" else 12
    X = np.cumsum(rng.normal(size=(50, columns)), axis=1) * rng.uniform(0.1, 10, columns)
    X[rng.random(X.shape) < 0.08] = np.nan                 # imputed: median + missing indicators
    X[:, 1] = np.nan                                       # a column without values
    X_test = np.cumsum(rng.normal(size=(12, columns)), axis=1)
    X_test[0, 2] = np.nan
    y = np.nan_to_num(X[:, 0]) * 0.2 + rng.normal(size=50)
    for task, target, tolerance in (("regression", y, 1e-10), ("classification", (y > 0.5).astype(int), 2e-3)):
        model = estimator(kind, task, target, columns, 0).fit(X, target)
        expected = model.predict_proba(X_test)[:, 1] if task == "classification" else model.predict(X_test)
        # lbfgs stops at a tolerance of 1e-4; the numpy Newton solver at the optimum.
        np.testing.assert_allclose(fit_predict(X, target, X_test, task, kind, 0), expected, atol=tolerance)


def test_permutation_cells_are_the_groups_of_equal_baseline_rows_or_none_for_a_continuous_baseline():
    from rnn_lyapunov.analysis.readout_intervals import permutation_cells

    seeds_of_cells = np.array([[0.1, 1.0], [0.2, 1.0], [0.1, 1.0], [0.2, 1.0], [0.1, 2.0], [0.1, 2.0]])
    cells = permutation_cells(seeds_of_cells)
    assert [len(set(cells[[0, 2]])), len(set(cells[[1, 3]])), len(set(cells[[4, 5]]))] == [1, 1, 1]
    assert len(set(cells)) == 3
    assert permutation_cells(np.random.default_rng(0).normal(size=(10, 1))) is None


def comparison_rejections(sweep_seeds, *, across_all: bool, monkeypatch) -> int:
    """How many confounded-null sweeps get p <= 0.05 for "hyperparameters + spectrum vs hyperparameters" (rho)."""
    import rnn_lyapunov.analysis.readout as readout_module

    if across_all:
        monkeypatch.setattr(readout_module, "permutation_cells", lambda X_baseline: None)
    rejected = 0
    for seed in sweep_seeds:
        sweep = sweeps.default_shaped_sweep(seed, confounded=0.64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReadoutWarning)
            table = evaluate_readout(sweep, early_epoch=1, failure_threshold=1.2, folds=3, repeats=1, n_bootstrap=0,
                                     n_permutations=19, seed=seed,
                                     predictors=["hyperparameters", "hyperparameters+spectrum_features"])
        rho = table.query("family == 'comparison' and metric == 'spearman_rho'").iloc[0]
        rejected += rho["p_value"] <= 0.05
    monkeypatch.undo()
    return rejected


def test_the_comparison_p_value_holds_its_level_when_the_spectrum_follows_the_hyperparameters(monkeypatch):
    # The spectrum and the loss share each cell's random effect and nothing else: given the
    # hyperparameters the spectrum adds nothing, yet it predicts what their linear model misses.
    # Permuting within cells keeps the level (about 1 in 20 at p <= 0.05 = 1/20); across all runs
    # the spectrum's link with the cells is broken and the test rejects almost every time.
    within = comparison_rejections(range(12), across_all=False, monkeypatch=monkeypatch)
    across = comparison_rejections(range(12), across_all=True, monkeypatch=monkeypatch)
    assert within <= 3 and across >= 9, (within, across)


def test_a_cell_bootstrap_draws_whole_cells_as_many_as_there_are():
    from rnn_lyapunov.analysis.readout_inputs import bootstrap_resamples

    cells = np.repeat(np.arange(5), [3, 3, 2, 1, 3])  # 12 runs in 5 settings
    for sample in bootstrap_resamples("regression", np.zeros(12), 50, seed=4, cells=cells):
        drawn = [cell for cell in cells[sample]]
        counts = {cell: drawn.count(cell) for cell in set(drawn)}
        # Each drawn cell contributes all its runs, possibly several times; 5 cells drawn in all.
        assert all(count % int((cells == cell).sum()) == 0 for cell, count in counts.items())
        assert sum(count // int((cells == cell).sum()) for cell, count in counts.items()) == 5
        assert sorted(set(sample)) == sorted(np.flatnonzero(np.isin(cells, list(counts))))


def test_resampling_cells_of_one_run_each_is_the_run_bootstrap_and_an_unknown_resample_is_refused():
    sweep = sweeps.default_shaped_sweep(2, signal=0.5)
    sweep = sweep.isel(run=sweep.seed.values == 0)  # 24 runs, 24 distinct settings
    settings = dict(early_epoch=1, failure_threshold=1.2, folds=3, repeats=1, n_bootstrap=10, n_permutations=0,
                    predictors=["largest_exponent"])
    runs = evaluate_readout(sweep, **settings)
    cells = evaluate_readout(sweep, resample="cells", **settings)
    assert runs[["value", "ci_low", "ci_high"]].equals(cells[["value", "ci_low", "ci_high"]])
    with pytest.raises(InputError, match="resample must be one of 'runs', 'cells'"):
        evaluate_readout(sweep, resample="seeds", **settings)


def test_resampling_cells_widens_the_intervals_of_a_sweep_whose_cells_share_an_effect():
    sweep = sweeps.default_shaped_sweep(5, confounded=0.64)
    settings = dict(early_epoch=1, failure_threshold=1.2, folds=3, repeats=1, n_bootstrap=60, n_permutations=0,
                    predictors=["largest_exponent"])
    def width(resample):
        row = evaluate_readout(sweep, resample=resample, **settings).query("metric == 'spearman_rho'").iloc[0]
        return row["ci_high"] - row["ci_low"]
    assert width("cells") > 1.1 * width("runs")


def test_the_workflow_setting_figures_readout_resample_reaches_the_readout():
    from rnn_lyapunov.figures.readout_comparison import readout_table
    from rnn_lyapunov.figures.registry import figure_options

    options = figure_options("readout_comparison", {"early_epoch": 1, "readout_resample": "cells", "dpi": 80})
    assert options == {"early_epoch": 1, "readout_resample": "cells"}
    sweep = sweeps.default_shaped_sweep(1, n_runs=24)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReadoutWarning)
        table = readout_table(sweep, repeats=1, n_bootstrap=4, n_permutations=0, **options)
    assert table.attrs["resample"] == "cells"
