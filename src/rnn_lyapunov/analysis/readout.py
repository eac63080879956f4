"""Does the spectrum early in training predict how training ends, on runs the model has not seen?

:func:`evaluate_readout` fits simple models across the runs of a sweep (repeated k-fold
cross-validation over runs) and scores their held-out predictions of the final validation loss
(Spearman rho, R^2) and of failure (ROC AUC), with bootstrap confidence intervals, for spectrum
features, the whole spectrum, the hyperparameters, the early losses and their combinations, and
compares baseline + spectrum with the baseline alone. The predictor columns are built in
:mod:`rnn_lyapunov.analysis.readout_inputs`, the models and scores in
:mod:`rnn_lyapunov.analysis.readout_models` (scikit-learn's models written again in numpy, and the scores).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from rnn_lyapunov.extras import require

require("workflow", "sklearn", "pandas", needed_by="rnn_lyapunov.analysis.readout (evaluate_readout)")
import pandas as pd  # noqa: E402 - after the check that names the extra to install
import sklearn
import xarray as xr
from threadpoolctl import threadpool_limits

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.analysis.readout_intervals import (LEVEL, centred_interval, held_out_scores,
                                                     permutation_cells, permutation_p_values, refitted_bootstrap)
from rnn_lyapunov.analysis.readout_models import cross_validated, scores
from rnn_lyapunov.analysis.readout_models import scores as _scores  # noqa: F401  (its name before the split)
from rnn_lyapunov.analysis.readout_inputs import (bootstrap_resamples, build_inputs, equal_row_cells, fold_splits,
                                                  too_few_runs, usable_columns)
from rnn_lyapunov.errors import InputError

TASK_METRICS = {"regression": ("spearman_rho", "r2"), "classification": ("roc_auc",)}
COLUMNS = ("predictor", "family", "metric", "value", "ci_low", "ci_high", "n_runs", "n_failures",
           "n_excluded", "target_scale", "p_value", "fraction_folds_positive", "features", "note")


#: What the bootstrap draws: runs, or hyperparameter settings with all their runs (see evaluate_readout).
RESAMPLES = ("runs", "cells")
#: Repeats of the cross-validation behind the permutation test's statistic (each permutation refits them).
PERMUTATION_REPEATS = 1


class ReadoutWarning(UserWarning):
    """Some rows of ``evaluate_readout`` are NaN (too few runs, a constant or missing predictor)."""


def _evaluate_task(task, mask, y, inputs, chosen, settings):
    """(rows, problem, unusable predictor names) of one task: "regression" (final loss) or
    "classification" (failure), over the runs in ``mask`` with targets ``y``."""
    folds, repeats, seed = settings["folds"], settings["repeats"], settings["seed"]
    metrics = TASK_METRICS[task]
    problem = too_few_runs(task, y, folds, settings["failure_threshold"])
    splits = [] if problem else fold_splits(task, y, folds, repeats, seed)
    cells, columns = None, inputs.sets["hyperparameters"][1]
    if settings["resample"] == "cells" and columns:
        labels = equal_row_cells(inputs.table.loc[mask, columns].to_numpy(float))
        # Every run its own setting (sampled axes): the run bootstrap, stratified for AUC, is the same thing.
        cells = labels if len(np.unique(labels)) < len(labels) else None
    samples = bootstrap_resamples(task, y, settings["n_bootstrap"], seed, cells=cells)
    common = {"n_runs": len(y), "n_failures": int(y.sum()) if task == "classification" else math.nan,
              "n_excluded": int((~mask).sum()), "target_scale": inputs.target_scale}
    baselines = [name for name in chosen if inputs.sets[name][0] == "baseline"
                 and f"{name}+spectrum_features" in chosen]
    compared = set(baselines) | {f"{name}+spectrum_features" for name in baselines}
    rows, results, fitted, unusable = [], {}, {}, []
    for name in chosen:
        family, columns, kind = inputs.sets[name]
        X, note, kept = (None, problem, []) if problem else usable_columns(inputs.table, columns, mask)
        if note and not problem:
            unusable.append(name)
        if X is not None:
            predictions = cross_validated(X, y, task, kind, splits, repeats, seed)
            values = held_out_scores(metrics, y, predictions)
            resampled = refitted_bootstrap(X, y, task, kind, metrics, samples, folds, seed)
            fitted[name] = (X, kept, predictions)
        for metric in metrics:
            row = {"predictor": name, "family": family, "metric": metric, **common,
                   "features": ", ".join(columns), "note": note}
            if X is not None:
                row["value"] = values[metric]
                row["ci_low"], row["ci_high"] = centred_interval(values[metric], resampled[metric], metric)
                if not np.isfinite(row["value"]):
                    row["note"] = f"{metric} is undefined on these held-out predictions (constant predictions)"
                by_fold = (np.array([scores(metric, y[test, None], predictions[0][index // folds, test, None])[0]
                                     for index, (_, test) in enumerate(splits)]) if name in compared else None)
                results[name, metric] = (row["value"], resampled[metric], by_fold)
            rows.append(row)
    for baseline in baselines:
        combination = f"{baseline}+spectrum_features"
        tests = {}
        if combination in fitted and baseline in fitted:
            # The permutation statistic uses the first PERMUTATION_REPEATS repeats of the same folds.
            first = splits[:folds * PERMUTATION_REPEATS]
            baseline_scores = held_out_scores(metrics, y, tuple(
                values[:PERMUTATION_REPEATS] for values in fitted[baseline][2]))
            X_combined, kept, _ = fitted[combination]
            spectrum = np.isin(kept, inputs.sets["spectrum_features"][1])
            tests = permutation_p_values(X_combined, spectrum, y, task, metrics, first, PERMUTATION_REPEATS,
                                         baseline_scores, settings["n_permutations"], seed,
                                         cells=permutation_cells(X_combined[:, ~spectrum]))
        for metric in metrics:
            row = {"predictor": f"{combination} vs {baseline}", "family": "comparison", "metric": metric,
                   **common, "features": ", ".join(inputs.sets[combination][1]), "note": ""}
            if (combination, metric) in results and (baseline, metric) in results:
                (value_c, dist_c, folds_c), (value_b, dist_b, folds_b) = (
                    results[combination, metric], results[baseline, metric])
                by_fold = folds_c - folds_b
                row["value"] = value_c - value_b
                row["ci_low"], row["ci_high"] = centred_interval(row["value"], dist_c - dist_b, "difference")
                row["p_value"] = tests[metric][1]
                fold_finite = by_fold[np.isfinite(by_fold)]
                row["fraction_folds_positive"] = float(np.mean(fold_finite > 0)) if fold_finite.size else math.nan
                if not np.isfinite(row["value"]):
                    row["note"] = f"{metric} of {combination} or {baseline} is undefined"
            else:
                row["note"] = problem or f"{combination} or {baseline} could not be evaluated"
            rows.append(row)
    return rows, problem, unusable


def evaluate_readout(sweep: xr.Dataset, *, early_epoch: int, target: str = "final_val_loss",
                     failure_threshold: float | None = None, folds: int = 5, repeats: int = 10,
                     n_bootstrap: int = 120, n_permutations: int = 99, seed: int = 0, dataset: str | None = None,
                     resample: str = "runs",
                     predictors=None, log_target="auto", slope_range=None,
                     count_threshold: float = -3.0, grid_points: int = 20) -> pd.DataFrame:
    """Held-out skill of early-training predictors of the final loss and of failure, per predictor.

    Inputs. ``sweep``: any sweep in the documented layout (dim ``run``; needs
    ``lyapunov_exponents`` (run, epoch, exponent), nats/step, NaN-padded, and ``val_loss`` (run,
    epoch); uses ``train_loss``, a ``state_size`` coordinate and the hyperparameter coordinates
    along ``run`` when present). Losses of different tasks are not comparable: with a ``dataset``
    coordinate, only the runs of task ``dataset`` are used (default: the first name in sorted
    order, as in the figures). The *early spectrum* of a run is its mean spectrum at the first recorded
    epoch ``>= early_epoch``; the early losses are taken at that same epoch.

    Targets. The final loss is ``val_loss`` at each run's last epoch (its ``run_config`` JSON
    ``epochs`` when present, else the sweep's last epoch), or ``target`` (the name of another
    (run, epoch) variable, or a (run,) variable taken as it is). A NaN or inf final loss means the
    run diverged: it is a **failure**, and it is left out of rho and R^2 (counted in
    ``n_excluded``); a run padded with NaN because it trained for fewer epochs looks the same, so
    give such sweeps a ``run_config`` or a (run,) ``target``. Failure = final loss
    ``> failure_threshold`` (same units as the loss) or not finite; with ``failure_threshold=None``
    only diverged runs fail. The regression target is ``log10`` of the final loss when
    ``log_target`` is True, or with ``"auto"`` when the finite final losses are positive and span
    at least a decade (column ``target_scale``); R^2 is on that scale (rho does not depend on it).

    Predictors (column ``predictor``, family in ``family``):

    * ``spectrum_feature``: one feature each of :data:`features.READOUT_FEATURES` (largest exponent,
      top-10% mean, number positive, Kaplan-Yorke dimension, ``spectrum_slope`` over
      ``slope_range`` (two ints: 1-based exponent indices, inclusive; two floats: a range of i/N;
      None: indices 50-100 when every spectrum has at least 100 exponents, else the second half
      0.5 < i/N <= 1), ``n_above_threshold`` (exponents > ``count_threshold`` nats/step), sum of
      positive exponents);
    * ``spectrum``: ``spectrum_features`` (all of those jointly) and ``spectrum_pca`` (the spectrum
      interpolated onto ``grid_points`` values of i/N (N = ``state_size``, else the number of
      exponents) over the range every run covers; PCA then ridge/logistic, the number of components
      chosen by a GridSearchCV inside each training fold, the ridge alpha by RidgeCV within that);
    * ``baseline``: ``hyperparameters`` (coordinates along ``run`` that vary: numeric ones, log10
      of learning rates and of scales spanning a decade (e.g. init_scale), indicator columns for
      text ones; not run ids, seeds or the task), ``early_val_loss``, ``early_train_loss`` (only when the
      sweep has a finite ``train_loss`` there: our sweeps have none at epoch 0); early losses are
      log10 when the target is;
    * ``combination``: ``<baseline>+spectrum_features`` for each baseline;
    * ``comparison``: ``<baseline>+spectrum_features vs <baseline>``: ``value`` is the metric of the
      combination minus that of the baseline, ``ci_low``/``ci_high`` its paired interval (the same
      resampled runs, see below), ``p_value`` a one-sided permutation test that the spectrum adds
      nothing: the spectrum feature columns are permuted together (within the groups of runs
      whose baseline values are equal, e.g. the seeds of one hyperparameter cell, when at least
      half the runs are in such groups; across all runs otherwise) and the combination refitted
      ``n_permutations`` times on the same folds (the first ``PERMUTATION_REPEATS`` repeat),
      p = (1 + #{permuted difference >= observed}) / (1 + n_permutations), so its smallest
      value is 1 / (1 + n_permutations); ``fraction_folds_positive`` the share of the
      ``folds * repeats`` held-out folds where the combination scored higher.

    ``predictors``: names to evaluate (default all); comparisons need both of their names.

    Models: ridge regression (alpha by RidgeCV's inner leave-one-out CV) for the loss, logistic
    regression (C = 1) for the failure probability, standardised inside a scikit-learn Pipeline,
    missing values (a run without an early spectrum, an early loss already NaN) imputed by the
    training-fold median plus a missing-indicator column. Held-out predictions come from
    ``RepeatedKFold(folds, repeats, seed)`` over runs (``RepeatedStratifiedKFold`` for failure),
    so every run is predicted ``repeats`` times by models that never saw it.

    Returns one row per (predictor, metric); ``metric`` is ``spearman_rho`` (Spearman rank
    correlation of predicted and final loss), ``r2`` (coefficient of determination on the target
    scale) or ``roc_auc`` (area under the ROC curve of the predicted failure probability).
    ``value``: the metric of the pooled held-out predictions (``n_runs x repeats`` pairs); rho and
    AUC use each fold's predictions standardised within that fold (label-free; without it, pooling
    models fitted on different runs biases them towards failure, see
    ``readout_models.cross_validated``), R^2 the
    raw predictions. ``ci_low``, ``ci_high``: a 95% interval (:data:`readout_intervals.LEVEL`)
    for the expected held-out skill of this whole procedure on ``n_runs`` runs drawn like these,
    from ``n_bootstrap`` resamples of runs in which the models are fitted again: each resample
    reruns a ``folds``-fold cross-validation (one repeat) with every copy of a run in the same
    fold (for AUC failing and other runs are resampled separately); the interval is ``value`` plus
    the 2.5 and 97.5 percentiles of the resampled skills minus their median, clipped to the
    metric's range (:func:`readout_intervals.centred_interval`). ``resample="cells"`` draws
    hyperparameter settings (runs with equal hyperparameter columns) with all their runs instead of
    runs (not stratified; a sweep without repeated settings keeps the run bootstrap): for
    statements about new settings rather than new seeds of this grid. In simulations of 72-run
    sweeps (``benchmarks/bench_readout_coverage.py``, docs/readout.md; 200 sweeps per case) the run
    bootstrap covered that expected skill >= 93% of the time (null, planted signal, a fixed grid
    with shared cell effects; conservatively wide under the null) and down to 88.5% when the
    settings themselves are random, where the cell bootstrap covered 92.5-99.5%; the earlier
    intervals, which resampled fixed held-out predictions, covered about 80%. ``n_runs``: runs scored;
    ``n_failures``: failing runs among them (AUC rows); ``n_excluded``: runs left out (non-finite
    final loss, rho and R^2 rows); ``target_scale``: "linear" or "log10"; ``features``: the predictor
    columns; ``note``: why a row is NaN. Too few runs (fewer than ``folds`` or 3 for rho and R^2,
    fewer than ``folds`` or 2 of a class for AUC), a constant final loss, or a constant or missing
    predictor give NaN rows with a note and one :class:`ReadoutWarning`, never an error.
    ``failure_threshold`` must be None or a finite number >= 0 (else :class:`InputError`).
    ``table.attrs`` holds the settings used.
    """
    for name, value, low in (("early_epoch", early_epoch, 0), ("folds", folds, 2), ("repeats", repeats, 1),
                             ("n_bootstrap", n_bootstrap, 0), ("n_permutations", n_permutations, 0),
                             ("grid_points", grid_points, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"evaluate_readout: {name} must be an integer >= {low}, got {value!r}.")
    if failure_threshold is not None and (isinstance(failure_threshold, bool) or not isinstance(
            failure_threshold, (int, float, np.integer, np.floating)) or not math.isfinite(failure_threshold)
            or failure_threshold < 0):
        raise InputError(f"evaluate_readout: failure_threshold must be None (only diverged runs fail) or a finite "
                         f"number >= 0 in the loss's units (a final loss above it is a failure), got "
                         f"{failure_threshold!r}.")
    if resample not in RESAMPLES:
        raise InputError(f"evaluate_readout: resample must be one of {', '.join(map(repr, RESAMPLES))}, got "
                         f"{resample!r}.")
    if log_target not in ("auto", True, False):
        raise InputError(f"evaluate_readout: log_target must be 'auto', True or False, got {log_target!r}.")
    sweep_data.require_dataset(sweep)
    missing = [name for name in ("lyapunov_exponents", "val_loss") if name not in sweep.data_vars]
    if missing or "run" not in sweep.dims:
        raise InputError(f"evaluate_readout needs a sweep with dim 'run' and the variables "
                         f"['lyapunov_exponents', 'val_loss']; this one lacks {missing or ['dim run']}.")
    sweep = sweep_data.select_task(sweep, dataset)
    inputs = build_inputs(sweep, early_epoch=early_epoch, target=target, failure_threshold=failure_threshold,
                          log_target=log_target, slope_range=slope_range, count_threshold=count_threshold,
                          grid_points=grid_points)
    chosen = list(inputs.sets) if predictors is None else list(predictors)
    unknown = sorted(set(chosen) - set(inputs.sets))
    if unknown:
        raise InputError(f"evaluate_readout: unknown predictors {unknown}; this sweep offers {list(inputs.sets)}.")
    problems = []
    no_spectrum = int(inputs.table[list(inputs.sets["spectrum_features"][1])].isna().all(axis=1).sum())
    if no_spectrum:
        problems.append(f"{no_spectrum} runs have no spectrum at or after epoch {early_epoch}; their spectrum "
                        "predictors are imputed (training-fold median plus a missing indicator)")
    tasks = {"regression": (np.isfinite(inputs.target), inputs.target),
             "classification": (np.ones(len(inputs.runs), bool), inputs.failed.astype(int))}
    settings = {"folds": folds, "repeats": repeats, "n_bootstrap": n_bootstrap, "seed": seed,
                "failure_threshold": failure_threshold, "n_permutations": n_permutations, "resample": resample}
    rows, unusable = [], []
    # Tiny problems: BLAS threads and scikit-learn's per-call checks cost more than the fits.
    with threadpool_limits(limits=1), sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for task, (mask, y) in tasks.items():
            task_rows, problem, task_unusable = _evaluate_task(task, mask, y[mask], inputs, chosen, settings)
            rows += task_rows
            unusable += task_unusable
            problems += [problem] if problem else []
    if unusable:
        problems.append(f"no usable values for {sorted(set(unusable))} (constant or missing): NaN rows")
    if problems:
        warnings.warn("evaluate_readout: " + "; ".join(problems) + " (the 'note' column says why a row is NaN).",
                      ReadoutWarning, stacklevel=2)
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    table.attrs.update(early_epoch=early_epoch, failure_threshold=failure_threshold, folds=folds,
                       repeats=repeats, n_bootstrap=n_bootstrap, n_permutations=n_permutations, seed=seed,
                       resample=resample, interval_level=LEVEL,
                       slope_range=inputs.slope_description, count_threshold=count_threshold)
    return table
