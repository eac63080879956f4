"""Intervals and p-values of :func:`rnn_lyapunov.analysis.readout.evaluate_readout` that account
for the fitting: the cross-validation is rerun inside each bootstrap resample of runs, and what the
spectrum adds to a baseline is tested against refits with the spectrum features permuted.

Why refit: resampling fixed held-out predictions leaves out how much the fitted models themselves
vary with the training runs, and such intervals covered the expected held-out skill about 80% of
the time for a nominal 95% (benchmarks/bench_readout_coverage.py, docs/readout.md).
"""

from __future__ import annotations

import math

import numpy as np

from rnn_lyapunov.analysis.readout_inputs import cell_members, equal_row_cells
from rnn_lyapunov.analysis.readout_models import cross_validated, scores

#: Nominal coverage of every interval of the readout (two-sided, equal tails).
LEVEL = 0.95
#: The range each metric can take: intervals are clipped to it.
METRIC_BOUNDS = {"spearman_rho": (-1.0, 1.0), "r2": (-math.inf, 1.0), "roc_auc": (0.0, 1.0)}


def group_folds(task: str, y: np.ndarray, groups: np.ndarray, folds: int, rng: np.random.Generator):
    """(train, test) index pairs over a resample whose rows are copies of runs ``groups`` (n,):
    every copy of a run falls in the same fold, so no run is both fitted and scored in one fold.
    The distinct runs are dealt into ``folds`` folds at random (for "classification" each class in
    turn, so every fold holds its share of failures). None when fewer distinct runs than folds."""
    distinct, first = np.unique(groups, return_index=True)
    if distinct.size < folds:
        return None
    labels = y[first] if task == "classification" else np.zeros(distinct.size)
    assignment, dealt = np.empty(distinct.size, int), int(rng.integers(folds))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        assignment[members] = (dealt + np.arange(members.size)) % folds
        dealt += members.size
    fold_of_row = assignment[np.searchsorted(distinct, groups)]
    return [(np.flatnonzero(fold_of_row != fold), np.flatnonzero(fold_of_row == fold)) for fold in range(folds)]


def held_out_scores(metrics, y, predictions) -> dict:
    """metric -> its value on held-out ``predictions`` = (raw, standardised), each (repeats, runs),
    pooled over repeats (R^2 on the raw predictions, rho and AUC on the standardised ones)."""
    repeats = predictions[0].shape[0]
    pooled_y = np.tile(y, repeats)[:, None]
    return {metric: scores(metric, pooled_y, (predictions[0] if metric == "r2" else predictions[1]).reshape(-1, 1))[0]
            for metric in metrics}


def refitted_bootstrap(X, y, task, kind, metrics, samples, folds, seed) -> dict:
    """metric -> (n_bootstrap,) held-out score of the whole procedure rerun on each resample.

    ``samples`` (n_bootstrap, runs): indices of runs drawn with replacement (the same for every
    predictor, so differences are paired). In each resample the models are fitted again in a
    ``folds``-fold cross-validation (one repeat) over the resampled rows, grouped by run
    (:func:`group_folds`). NaN where a resample has fewer distinct runs than folds."""
    rng = np.random.default_rng([seed, 1])
    result = {metric: np.full(len(samples), np.nan) for metric in metrics}
    for index, sample in enumerate(samples):
        splits = group_folds(task, y[sample], sample, folds, rng)
        if splits is None:
            continue
        predictions = cross_validated(X[sample], y[sample], task, kind, splits, 1, seed)
        for metric, value in held_out_scores(metrics, y[sample], predictions).items():
            result[metric][index] = value
    return result


def centred_interval(value: float, distribution: np.ndarray, metric: str, level: float = LEVEL):
    """(low, high): ``value`` plus the ``level`` equal-tailed percentile interval of the bootstrap
    ``distribution`` minus its median, clipped to the metric's range; (NaN, NaN) when undefined.

    Centred on the estimate, not on the resamples: a resample holds about 63% distinct runs, so the
    refitted models are weaker there and the resamples' skill sits below the estimate's; their
    spread, not their location, is what they tell."""
    finite = distribution[np.isfinite(distribution)]
    if finite.size < 2 or not np.isfinite(value):
        return math.nan, math.nan
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(finite - np.median(finite), [tail, 100.0 - tail])
    lower, upper = METRIC_BOUNDS.get(metric, (-math.inf, math.inf))
    return float(np.clip(value + low, lower, upper)), float(np.clip(value + high, lower, upper))


def permutation_cells(X_baseline: np.ndarray) -> np.ndarray | None:
    """(runs,) labels of the groups of runs whose baseline columns ``X_baseline`` (runs, k) are
    equal (the sweep's cells, e.g. the same hyperparameters with different seeds), or None when
    fewer than half of the runs share their baseline values with another run (a continuous
    baseline such as an early loss): then the permutation test permutes across all runs."""
    cells = equal_row_cells(X_baseline)
    return cells if (np.bincount(cells)[cells] >= 2).mean() >= 0.5 else None


def permutation_p_values(X_combined, spectrum_columns, y, task, metrics, splits, repeats, baseline_scores,
                         n_permutations, seed, cells=None) -> dict:
    """metric -> (observed difference, one-sided p-value) of "baseline + spectrum beats the baseline".

    The statistic is the held-out metric of the combined model minus ``baseline_scores[metric]``
    (the baseline's, :func:`held_out_scores` over the same ``splits``, ``repeats`` repeats). Its
    null distribution: the spectrum columns (``spectrum_columns``, a boolean mask over the columns
    of ``X_combined``) permuted together, the baseline columns and the target kept as they are,
    then the combined model refitted on the same splits. With ``cells`` (runs,) (from
    :func:`permutation_cells`) the spectrum rows are permuted only among runs of one cell, which
    tests "given the baseline, the spectrum says nothing about the target" and stays exact when
    the spectrum depends on the baseline (as it does on the hyperparameters); without, across all
    runs, which is exact only when the spectrum is independent of the baseline too (a permutation
    across cells breaks the spectrum's link with the baseline, so a spectrum that merely repeats
    the baseline would look informative). p = (1 + #{null >= observed}) / (1 + n_permutations);
    a NaN null counts as >=."""
    def differences(X):
        combined = held_out_scores(metrics, y, cross_validated(X, y, task, "linear", splits, repeats, seed))
        return {metric: combined[metric] - baseline_scores[metric] for metric in metrics}

    def permutation() -> np.ndarray:
        if cells is None:
            return rng.permutation(len(y))
        order = np.arange(len(y))
        for members in groups:
            order[members] = rng.permutation(members)
        return order

    observed = differences(X_combined)
    rng = np.random.default_rng([seed, 2])
    groups = [] if cells is None else cell_members(cells)
    exceed = dict.fromkeys(metrics, 0)
    for _ in range(n_permutations):
        shuffled = X_combined.copy()
        shuffled[:, spectrum_columns] = X_combined[permutation()][:, spectrum_columns]
        for metric, null in differences(shuffled).items():
            exceed[metric] += not null < observed[metric] - 1e-12
    return {metric: (observed[metric], (1 + exceed[metric]) / (1 + n_permutations)
                     if n_permutations and np.isfinite(observed[metric]) else math.nan) for metric in metrics}
