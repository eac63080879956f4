"""Does the spectrum early in training predict how training ends, on runs the model has not seen?

:func:`evaluate_readout` fits simple models across the runs of a sweep (repeated k-fold
cross-validation over runs) and scores their held-out predictions of the final validation loss
(Spearman rho, R^2) and of failure (ROC AUC), with bootstrap confidence intervals, for spectrum
features, the whole spectrum, the hyperparameters, the early losses and their combinations, and
compares baseline + spectrum with the baseline alone. The predictor columns are built in
:mod:`rnn_lyapunov.analysis.readout_inputs`. Folds, models and metrics are scikit-learn's.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import pearsonr, rankdata
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import (GridSearchCV, KFold, RepeatedKFold, RepeatedStratifiedKFold,
                                     StratifiedKFold)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.analysis.readout_inputs import build_inputs
from rnn_lyapunov.errors import InputError

ALPHAS = np.logspace(-3, 3, 13)          # ridge penalties tried by the inner cross-validation
PCA_COMPONENTS = (1, 2, 3, 5, 8)        # numbers of principal components tried (those that fit)
TASK_METRICS = {"regression": ("spearman_rho", "r2"), "classification": ("roc_auc",)}
COLUMNS = ("predictor", "family", "metric", "value", "ci_low", "ci_high", "n_runs", "n_failures",
           "n_excluded", "target_scale", "p_value", "fraction_folds_positive", "features", "note")


class ReadoutWarning(UserWarning):
    """Some rows of ``evaluate_readout`` are NaN (too few runs, a constant or missing predictor)."""


def _scores(metric: str, y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``metric`` of each column of ``y`` and ``predicted`` (rows: runs) at once; NaN where undefined.

    Spearman rho is the Pearson correlation of the ranks (``scipy.stats``, ties averaged, as in
    ``spearmanr``); R^2 is ``sklearn.metrics.r2_score``, ROC AUC ``sklearn.metrics.roc_auc_score``.
    """
    result = np.full(y.shape[1], np.nan)
    spread = np.ptp(y, axis=0) > 0
    if metric == "roc_auc":
        if spread.sum() == 1:
            result[spread] = roc_auc_score(y[:, spread][:, 0], predicted[:, spread][:, 0])
        elif spread.any():
            result[spread] = roc_auc_score(y[:, spread].astype(int), predicted[:, spread], average=None)
    elif metric == "r2" and y.shape[0] >= 2 and spread.any():
        result[spread] = r2_score(y[:, spread], predicted[:, spread], multioutput="raw_values")
    elif metric == "spearman_rho" and y.shape[0] >= 3:
        usable = spread & (np.ptp(predicted, axis=0) > 0)
        if usable.any():
            result[usable] = pearsonr(rankdata(y[:, usable], axis=0), rankdata(predicted[:, usable], axis=0),
                                      axis=0).statistic
    return result


def _bootstrap(metric, y, predictions, samples, chunk=200) -> np.ndarray:
    """The metric of the pooled held-out predictions for each resample of runs, (n_bootstrap,)."""
    repeats, results = predictions.shape[0], []
    for start in range(0, len(samples), chunk):
        block = samples[start:start + chunk]                       # (b, runs)
        pooled_y = np.tile(y[block], (1, repeats)).T               # (repeats * runs, b)
        pooled = predictions[:, block].transpose(1, 0, 2).reshape(len(block), -1).T
        results.append(_scores(metric, pooled_y, pooled))
    return np.concatenate(results) if results else np.empty(0)


def _model(kind: str, task: str, y_train: np.ndarray, n_columns: int, seed: int):
    """An unfitted scikit-learn estimator: impute (training-fold median + missing indicator),
    standardise, then ridge regression (alpha by RidgeCV's leave-one-out CV on the training fold)
    or logistic regression (C = 1); for ``kind == "pca"``, PCA -> standardise -> the same, with the
    number of components chosen by a ``GridSearchCV`` on the training fold."""
    classify = task == "classification"
    steps = [("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))]
    if kind == "pca":
        steps.append(("pca", PCA()))
    steps += [("scale", StandardScaler()),
              ("model", LogisticRegression(max_iter=5000) if classify else RidgeCV(alphas=ALPHAS))]
    pipeline = Pipeline(steps)
    if kind != "pca":
        return pipeline
    smallest_class = int(np.bincount(y_train.astype(int), minlength=2).min()) if classify else len(y_train)
    inner = min(3, smallest_class)
    fitting = len(y_train) - math.ceil(len(y_train) / max(inner, 2))
    components = [count for count in PCA_COMPONENTS if count <= min(fitting, n_columns)] or [1]
    if inner < 2:  # too few of a class for an inner split: a fixed number of components
        return pipeline.set_params(pca__n_components=min(2, components[-1]))
    split = (StratifiedKFold if classify else KFold)(inner, shuffle=True, random_state=seed)
    return GridSearchCV(pipeline, {"pca__n_components": components}, cv=split,
                        scoring="roc_auc" if classify else "neg_mean_squared_error")


def _cross_validated(X, y, task, kind, splits, repeats, seed) -> np.ndarray:
    """(repeats, runs) out-of-fold predictions: loss (target scale) or probability of failure."""
    predictions = np.full((repeats, len(y)), np.nan)
    folds = len(splits) // repeats
    for index, (train, test) in enumerate(splits):
        if task == "classification" and np.unique(y[train]).size < 2:
            predictions[index // folds, test] = y[train].mean()  # one class in training: its prevalence
            continue
        with threadpool_limits(limits=1):  # tiny problems: BLAS threads only add overhead
            model = _model(kind, task, y[train], X.shape[1], seed).fit(X[train], y[train])
        predictions[index // folds, test] = (model.predict_proba(X[test])[:, 1] if task == "classification"
                                             else model.predict(X[test]) - y[train].mean() + y.mean())
    return predictions


def _splits(task, y, folds, repeats, seed) -> list:
    """(train, test) index pairs, ``folds`` per repeat: ``RepeatedKFold`` for the loss,
    ``RepeatedStratifiedKFold`` for failure (every fold holds its share of the failing runs)."""
    if task == "regression":
        return list(RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed).split(y))
    with warnings.catch_warnings():  # fewer failures than folds: some folds get none, as intended
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return list(RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed).split(y, y))


def _usable(table: pd.DataFrame, columns: list[str], mask: np.ndarray):
    """(X, note): the columns with at least two distinct finite values over the runs in ``mask``."""
    if not columns:
        return None, "no columns (e.g. no coordinate along 'run' varies)"
    block = table.loc[mask, columns].to_numpy(float, copy=True)
    block[~np.isfinite(block)] = np.nan
    keep = [np.unique(column[np.isfinite(column)]).size >= 2 for column in block.T]
    if not any(keep):
        return None, f"constant or missing over these runs: {', '.join(columns)}"
    return block[:, keep], ""


def _too_few(task: str, y: np.ndarray, folds: int, threshold) -> str:
    if task == "regression" and y.size < max(folds, 3):
        return (f"only {y.size} runs with a finite final loss, fewer than folds={folds}: "
                "no cross-validation; lower `folds` or add runs")
    if task == "classification":
        counts = np.bincount(y.astype(int), minlength=2)
        if y.size < folds or counts.min() < 2:
            rule = "not finite" if threshold is None else f"> {threshold:g} or not finite"
            return (f"{counts[1]} failing runs (final loss {rule}) and {counts[0]} others among {y.size}: "
                    f"ROC AUC needs at least 2 of each and {folds} runs; set `failure_threshold` or add runs")
    return ""


def _interval(distribution: np.ndarray) -> tuple[float, float]:
    finite = distribution[np.isfinite(distribution)]
    return (math.nan, math.nan) if finite.size == 0 else tuple(np.percentile(finite, [2.5, 97.5]))


def evaluate_readout(sweep: xr.Dataset, *, early_epoch: int, target: str = "final_val_loss",
                     failure_threshold: float | None = None, folds: int = 5, repeats: int = 10,
                     n_bootstrap: int = 1000, seed: int = 0, dataset: str | None = None,
                     predictors=None, log_target="auto", slope_range=None,
                     count_threshold: float = -3.0, grid_points: int = 20) -> pd.DataFrame:
    """Held-out skill of early-training predictors of the final loss and of failure, per predictor.

    Inputs. ``sweep``: any sweep in the documented layout (dim ``run``; needs
    ``lyapunov_exponents`` (run, epoch, exponent), nats/step, NaN-padded, and ``val_loss`` (run,
    epoch); uses ``train_loss``, a ``state_size`` coordinate and the hyperparameter coordinates
    along ``run`` when present). With ``dataset`` (or a ``dataset`` coordinate) one task is used,
    as in the figures. The *early spectrum* of a run is its mean spectrum at the first recorded
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
      and the penalty chosen by a GridSearchCV inside each training fold);
    * ``baseline``: ``hyperparameters`` (coordinates along ``run`` that vary: numeric ones, log10
      of learning rates and of scales spanning a decade (e.g. init_scale), indicator columns for text ones;
      not run ids, seeds or the task), ``early_val_loss``, ``early_train_loss`` (only when the
      sweep has a finite ``train_loss`` there: our sweeps have none at epoch 0); early losses are
      log10 when the target is;
    * ``combination``: ``<baseline>+spectrum_features`` for each baseline;
    * ``comparison``: ``<baseline>+spectrum_features vs <baseline>``: ``value`` is the metric of the
      combination minus that of the baseline, ``ci_low``/``ci_high`` its paired bootstrap interval
      (same resampled runs), ``p_value`` the share of resamples where the difference is <= 0
      (one-sided: small when the spectrum adds information), ``fraction_folds_positive`` the share
      of the ``folds * repeats`` held-out folds where the combination scored higher.

    ``predictors``: names to evaluate (default all); comparisons need both of their names.

    Models: ridge regression (alpha by inner CV) for the loss, logistic regression (C = 1) for the
    failure probability, both standardised inside a scikit-learn Pipeline, with missing values
    (e.g. a run without an early spectrum, a loss already NaN) imputed by the training-fold median
    plus a missing-indicator column. Held-out predictions: ``RepeatedKFold(folds, repeats, seed)``
    over runs, so every run is predicted ``repeats`` times by models that never saw it.

    Returns one row per (predictor, metric), ``metric`` one of ``spearman_rho`` (Spearman rank
    correlation of predicted and true final loss), ``r2`` (coefficient of determination on the
    target scale), ``roc_auc`` (area under the ROC curve of the failure probability). ``value``:
    the metric of the pooled held-out predictions (the ``runs x repeats`` pairs); ``ci_low``,
    ``ci_high``: 95% percentile interval over ``n_bootstrap`` resamples of runs (each resampled run
    brings all its held-out predictions; models are not refitted); ``n_runs``: runs scored;
    ``n_failures``: failing runs among them (classification rows); ``n_excluded``: runs left out
    (non-finite final loss, regression rows); ``features``: the predictor columns; ``note``: why a
    row is NaN. Too few runs (fewer than ``folds``, fewer than 2 of a class for AUC) or a constant
    or missing predictor give NaN rows with a note and one :class:`ReadoutWarning`, never an error.
    """
    for name, value, low in (("early_epoch", early_epoch, 0), ("folds", folds, 2), ("repeats", repeats, 1),
                             ("n_bootstrap", n_bootstrap, 0), ("grid_points", grid_points, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"evaluate_readout: {name} must be an integer >= {low}, got {value!r}.")
    if log_target not in ("auto", True, False):
        raise InputError(f"evaluate_readout: log_target must be 'auto', True or False, got {log_target!r}.")
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
    rows, results, unusable = [], {}, []
    baselines = [name for name in chosen if inputs.sets[name][0] == "baseline"
                 and f"{name}+spectrum_features" in chosen]
    compared = set(baselines) | {f"{name}+spectrum_features" for name in baselines}
    for task, (mask, y) in tasks.items():
        y = y[mask]
        problem = _too_few(task, y, folds, failure_threshold)
        if problem:
            problems.append(problem)
        splits = [] if problem else _splits(task, y, folds, repeats, seed)
        samples = np.random.default_rng(seed).integers(0, len(y), size=(n_bootstrap, len(y)))
        common = {"n_runs": len(y), "n_failures": int(y.sum()) if task == "classification" else math.nan,
                  "n_excluded": int((~mask).sum()), "target_scale": inputs.target_scale}
        for name in chosen:
            family, columns, kind = inputs.sets[name]
            X, note = (None, problem) if problem else _usable(inputs.table, columns, mask)
            if note and not problem:
                unusable.append(name)
            predictions = None if X is None else _cross_validated(X, y, task, kind, splits, repeats, seed)
            for metric in TASK_METRICS[task]:
                row = {"predictor": name, "family": family, "metric": metric, **common,
                       "features": ", ".join(columns), "note": note}
                if predictions is not None:
                    pooled = predictions.reshape(-1, 1)
                    row["value"] = _scores(metric, np.tile(y, repeats)[:, None], pooled)[0]
                    distribution = _bootstrap(metric, y, predictions, samples)
                    row["ci_low"], row["ci_high"] = _interval(distribution)
                    by_fold = (np.array([_scores(metric, y[test, None], predictions[index // folds, test, None])[0]
                                         for index, (_, test) in enumerate(splits)])
                               if name in compared else None)
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
                    row["ci_low"], row["ci_high"] = _interval(difference)
                    finite, fold_finite = difference[np.isfinite(difference)], by_fold[np.isfinite(by_fold)]
                    row["p_value"] = float(np.mean(finite <= 0)) if finite.size else math.nan
                    row["fraction_folds_positive"] = float(np.mean(fold_finite > 0)) if fold_finite.size else math.nan
                else:
                    row["note"] = problem or f"{combination} or {baseline} could not be evaluated"
                rows.append(row)
    if unusable:
        problems.append(f"no usable values for {sorted(set(unusable))} (constant or missing): NaN rows")
    if problems:
        warnings.warn("evaluate_readout: " + "; ".join(problems) + " (see the 'note' column).",
                      ReadoutWarning, stacklevel=2)
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    table.attrs.update(early_epoch=early_epoch, failure_threshold=failure_threshold, folds=folds,
                       repeats=repeats, n_bootstrap=n_bootstrap, seed=seed,
                       slope_range=inputs.slope_description, count_threshold=count_threshold)
    return table
