"""Does the spectrum early in training predict how training ends, on runs the model has not seen?

:func:`evaluate_readout` fits simple models across the runs of a sweep (repeated k-fold
cross-validation over runs) and scores their held-out predictions of the final validation loss
(Spearman rho, R^2) and of failure (ROC AUC), with bootstrap confidence intervals, for spectrum
features, the whole spectrum, the hyperparameters, the early losses and their combinations, and
compares baseline + spectrum with the baseline alone. The predictor columns are built in
:mod:`rnn_lyapunov.analysis.readout_inputs`, the models and scores in
:mod:`rnn_lyapunov.analysis.readout_models` (scikit-learn's folds, models and metrics).
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
from rnn_lyapunov.analysis.readout_models import bootstrap_scores, cross_validated, percentile_interval, scores
from rnn_lyapunov.analysis.readout_models import scores as _scores  # noqa: F401  (its name before the split)
from rnn_lyapunov.analysis.readout_inputs import (bootstrap_resamples, build_inputs, fold_splits,
                                                  too_few_runs, usable_columns)
from rnn_lyapunov.errors import InputError

TASK_METRICS = {"regression": ("spearman_rho", "r2"), "classification": ("roc_auc",)}
COLUMNS = ("predictor", "family", "metric", "value", "ci_low", "ci_high", "n_runs", "n_failures",
           "n_excluded", "target_scale", "p_value", "fraction_folds_positive", "features", "note")


class ReadoutWarning(UserWarning):
    """Some rows of ``evaluate_readout`` are NaN (too few runs, a constant or missing predictor)."""


def _evaluate_task(task, mask, y, inputs, chosen, settings):
    """(rows, problem, unusable predictor names) of one task: "regression" (final loss) or
    "classification" (failure), over the runs in ``mask`` with targets ``y``."""
    folds, repeats, seed = settings["folds"], settings["repeats"], settings["seed"]
    problem = too_few_runs(task, y, folds, settings["failure_threshold"])
    splits = [] if problem else fold_splits(task, y, folds, repeats, seed)
    samples = bootstrap_resamples(task, y, settings["n_bootstrap"], seed)
    common = {"n_runs": len(y), "n_failures": int(y.sum()) if task == "classification" else math.nan,
              "n_excluded": int((~mask).sum()), "target_scale": inputs.target_scale}
    baselines = [name for name in chosen if inputs.sets[name][0] == "baseline"
                 and f"{name}+spectrum_features" in chosen]
    compared = set(baselines) | {f"{name}+spectrum_features" for name in baselines}
    rows, results, unusable = [], {}, []
    for name in chosen:
        family, columns, kind = inputs.sets[name]
        X, note = (None, problem) if problem else usable_columns(inputs.table, columns, mask)
        if note and not problem:
            unusable.append(name)
        predictions = None if X is None else cross_validated(X, y, task, kind, splits, repeats, seed)
        for metric in TASK_METRICS[task]:
            row = {"predictor": name, "family": family, "metric": metric, **common,
                   "features": ", ".join(columns), "note": note}
            if predictions is not None:
                scored = predictions[0] if metric == "r2" else predictions[1]
                row["value"] = scores(metric, np.tile(y, repeats)[:, None], scored.reshape(-1, 1))[0]
                distribution = bootstrap_scores(metric, y, scored, samples)
                row["ci_low"], row["ci_high"] = percentile_interval(distribution)
                by_fold = (np.array([scores(metric, y[test, None], predictions[0][index // folds, test, None])[0]
                                     for index, (_, test) in enumerate(splits)]) if name in compared else None)
                results[name, metric] = (row["value"], distribution, by_fold)
            rows.append(row)
    for baseline in baselines:
        combination = f"{baseline}+spectrum_features"
        for metric in TASK_METRICS[task]:
            row = {"predictor": f"{combination} vs {baseline}", "family": "comparison", "metric": metric,
                   **common, "features": ", ".join(inputs.sets[combination][1]), "note": ""}
            if (combination, metric) in results and (baseline, metric) in results:
                (value_c, dist_c, folds_c), (value_b, dist_b, folds_b) = (
                    results[combination, metric], results[baseline, metric])
                difference, by_fold = dist_c - dist_b, folds_c - folds_b
                row["value"] = value_c - value_b
                row["ci_low"], row["ci_high"] = percentile_interval(difference)
                finite, fold_finite = difference[np.isfinite(difference)], by_fold[np.isfinite(by_fold)]
                row["p_value"] = float(np.mean(finite <= 0)) if finite.size else math.nan
                row["fraction_folds_positive"] = float(np.mean(fold_finite > 0)) if fold_finite.size else math.nan
            else:
                row["note"] = problem or f"{combination} or {baseline} could not be evaluated"
            rows.append(row)
    return rows, problem, unusable


def evaluate_readout(sweep: xr.Dataset, *, early_epoch: int, target: str = "final_val_loss",
                     failure_threshold: float | None = None, folds: int = 5, repeats: int = 10,
                     n_bootstrap: int = 1000, seed: int = 0, dataset: str | None = None,
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
      combination minus that of the baseline, ``ci_low``/``ci_high`` its paired bootstrap interval
      (same resampled runs), ``p_value`` the share of resamples where the difference is <= 0
      (one-sided: small when the spectrum adds information), ``fraction_folds_positive`` the share
      of the ``folds * repeats`` held-out folds where the combination scored higher.

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
    raw predictions. ``ci_low``, ``ci_high``: 95% percentile interval over ``n_bootstrap``
    resamples of runs (for AUC failing and other runs are resampled separately; a resampled run
    brings all its held-out predictions; the models are not refitted, so the interval leaves out
    the variation of the fits: in our simulations without signal, 40 runs, it held 0 about 80%
    of the time, not 95%). ``n_runs``: runs scored;
    ``n_failures``: failing runs among them (AUC rows); ``n_excluded``: runs left out (non-finite
    final loss, rho and R^2 rows); ``target_scale``: "linear" or "log10"; ``features``: the predictor
    columns; ``note``: why a row is NaN. Too few runs (fewer than ``folds``, fewer than 2 of a
    class for AUC) or a constant or missing predictor give NaN rows with a note and one
    :class:`ReadoutWarning`, never an error. ``table.attrs`` holds the settings used.
    """
    for name, value, low in (("early_epoch", early_epoch, 0), ("folds", folds, 2), ("repeats", repeats, 1),
                             ("n_bootstrap", n_bootstrap, 0), ("grid_points", grid_points, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"evaluate_readout: {name} must be an integer >= {low}, got {value!r}.")
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
                "failure_threshold": failure_threshold}
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
                       repeats=repeats, n_bootstrap=n_bootstrap, seed=seed,
                       slope_range=inputs.slope_description, count_threshold=count_threshold)
    return table
