"""The readout's models and scores: held-out predictions from repeated k-fold cross-validation,
scored with Spearman rho, R^2 or ROC AUC.

The models are scikit-learn's pipelines (:func:`estimator`) written again in numpy
(:func:`fit_predict`, the same numbers: the refitted bootstrap of
:mod:`rnn_lyapunov.analysis.readout_intervals` fits thousands of them); folds and metrics are
scikit-learn's and scipy's.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit
from scipy.stats import pearsonr, rankdata
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

ALPHAS = np.logspace(-3, 3, 13)          # ridge penalties tried by the inner cross-validation
PCA_COMPONENTS = (1, 2, 3, 5)           # numbers of principal components tried (those that fit)


def scores(metric: str, y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``metric`` of each column of ``y`` and ``predicted`` (rows: runs) at once; NaN where undefined.

    Spearman rho is the Pearson correlation of the ranks (``scipy.stats``, ties averaged, as in
    ``spearmanr``); R^2 is 1 - SS_res / SS_tot, as ``sklearn.metrics.r2_score``; ROC AUC is the
    Mann-Whitney U of the failing runs' scores over n1 n0, ties counted half (average ranks), which
    is ``sklearn.metrics.roc_auc_score`` exactly (tests/test_readout_scores.py checks all three against
    them). Computed here rather than by those functions because their input checks cost ~4 ms a
    call, and the readout's refitted bootstrap and permutation tests make thousands of calls.
    """
    result = np.full(y.shape[1], np.nan)
    spread = np.ptp(y, axis=0) > 0
    if metric == "roc_auc" and spread.any():
        labels, scored = y[:, spread] == 1, predicted[:, spread]
        failing, passing = labels.sum(axis=0), (~labels).sum(axis=0)
        rank_sums = np.where(labels, rankdata(scored, axis=0), 0.0).sum(axis=0)
        result[spread] = (rank_sums - failing * (failing + 1) / 2) / (failing * passing)
    elif metric == "r2" and y.shape[0] >= 2 and spread.any():
        observed, fitted = y[:, spread], predicted[:, spread]
        residual = ((observed - fitted) ** 2).sum(axis=0)
        total = ((observed - observed.mean(axis=0)) ** 2).sum(axis=0)
        result[spread] = 1.0 - residual / total
    elif metric == "spearman_rho" and y.shape[0] >= 3:
        usable = spread & (np.ptp(predicted, axis=0) > 0)
        if usable.any():
            result[usable] = pearsonr(rankdata(y[:, usable], axis=0), rankdata(predicted[:, usable], axis=0),
                                      axis=0).statistic
    return result


def estimator(kind: str, task: str, y_train: np.ndarray, n_columns: int, seed: int):
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


def _standardised(X_train, X_test):
    """What the Pipeline's impute and scale steps do, in numpy: NaN -> the training column's median
    (0 for a column without values), a 0/1 indicator column for each column missing somewhere in
    training, then minus the training mean over the training standard deviation (1 where it is 0)."""
    train, test = _imputed(X_train, X_test)
    mean, spread = train.mean(axis=0), train.std(axis=0)
    spread[spread < 10 * np.finfo(float).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
    return (train - mean) / spread, (test - mean) / spread


def ridge_predict(A, y, B, alphas=ALPHAS) -> np.ndarray:
    """RidgeCV(alphas) fitted on (A, y) and predicting B: the penalty with the smallest exact
    leave-one-out squared error (hat values of ridge plus an unpenalised intercept: 1/n + the
    shrunken projection), ties to the first. A is centred (it comes from :func:`_standardised`)."""
    centre = y.mean()
    U, singular, Vt = np.linalg.svd(A, full_matrices=False)
    projected = U.T @ (y - centre)
    shrink = singular**2 / (singular**2 + alphas[:, None])                  # (alphas, k)
    residuals = (y - centre)[None] - (shrink * projected) @ U.T           # (alphas, n)
    hats = shrink @ (U**2).T + 1.0 / len(y)
    # A run that alone fixes its own fit (hat 1, as with two distinct runs in a resample) has no
    # leave-one-out error: such a penalty is never the best, and with none finite the first is taken.
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.mean((residuals / (1.0 - hats)) ** 2, axis=1)
    alpha = int(np.argmin(np.where(np.isfinite(errors), errors, np.inf)))
    return centre + B @ (Vt.T @ (singular / (singular**2 + alphas[alpha]) * projected))


def logistic_predict(A, y, B, C: float = 1.0, tolerance: float = 1e-10) -> np.ndarray:
    """P(y = 1) of B under LogisticRegression(C) fitted on (A, y): minimises the log loss summed
    over runs plus ||w||^2 / (2 C) (intercept not penalised) by Newton's method with step halving."""
    Z = np.hstack([A, np.ones((len(y), 1))])
    penalty = np.r_[np.full(A.shape[1], 1.0 / C), 0.0]
    weights = np.zeros(Z.shape[1])

    def objective(w):
        eta = Z @ w
        return np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(penalty * w**2)

    current = objective(weights)
    for _ in range(100):
        probability = expit(Z @ weights)
        gradient = Z.T @ (probability - y) + penalty * weights
        hessian = (Z.T * (probability * (1.0 - probability))) @ Z + np.diag(penalty)
        step, size = np.linalg.solve(hessian, gradient), 1.0
        while objective(weights - size * step) > current + 1e-12 and size > 1e-8:
            size /= 2
        weights = weights - size * step
        current = objective(weights)
        if np.max(np.abs(size * step)) < tolerance:
            break
    return expit(np.hstack([B, np.ones((len(B), 1))]) @ weights)


def _imputed(X_train, X_test):
    """The Pipeline's impute step alone (training median, indicator columns), unscaled."""
    missing = np.isnan(X_train)
    flagged = missing.any(axis=0)
    # np.nanmedian goes through masked arrays (slow for thousands of tiny fits): NaN sorts last.
    ordered, counts = np.sort(X_train, axis=0), (~missing).sum(axis=0)
    columns = np.arange(X_train.shape[1])
    median = 0.5 * (ordered[np.maximum(counts - 1, 0) // 2, columns] + ordered[counts // 2, columns])
    median = np.where(counts > 0, median, 0.0)  # a column without values: 0, as keep_empty_features
    return [np.hstack([np.where(np.isnan(X), median, X), np.isnan(X[:, flagged]).astype(float)])
            for X in (X_train, X_test)]


def _linear(train, y_train, test, task):
    train, test = _standardised(train, test)
    if task == "classification":
        return logistic_predict(train, y_train.astype(float), test)
    return ridge_predict(train, y_train.astype(float), test)


def _principal_scores(X_train, X_test):
    """Both sets projected on all principal axes of the imputed training set (PCA's transform;
    the first k columns are PCA(k)'s, so one SVD serves every number of components)."""
    train, test = _imputed(X_train, X_test)
    centre = train.mean(axis=0)
    axes = np.linalg.svd(train - centre, full_matrices=False)[2].T
    return (train - centre) @ axes, (test - centre) @ axes


def fit_predict(X_train, y_train, X_test, task: str, kind: str, seed: int) -> np.ndarray:
    """Held-out predictions of one fold: the loss (ridge) or the probability of failure (logistic),
    by the models of :func:`estimator` written in numpy (checked against its scikit-learn pipeline
    in tests/test_readout_intervals.py; about ten times faster, and the refitted bootstrap fits
    thousands). For ``kind == "pca"`` the number of components is chosen as its GridSearchCV
    does: the best mean inner-fold score (MSE or ROC AUC), the first of ties, then refitted."""
    if kind == "linear":
        return _linear(X_train, y_train, X_test, task)
    search = estimator(kind, task, y_train, X_train.shape[1], seed)
    if not hasattr(search, "param_grid"):  # too few of a class for an inner split
        train, test = _principal_scores(X_train, X_test)
        count = search.get_params()["pca__n_components"]
        return _linear(train[:, :count], y_train, test[:, :count], task)
    candidates, means = search.param_grid["pca__n_components"], 0.0
    for inner_train, inner_test in search.cv.split(X_train, y_train):
        train, test = _principal_scores(X_train[inner_train], X_train[inner_test])
        truth = y_train[inner_test]
        predicted = [_linear(train[:, :count], y_train[inner_train], test[:, :count], task) for count in candidates]
        means = means + np.array([scores("roc_auc", truth[:, None], values[:, None])[0] if task == "classification"
                                  else -np.mean((truth - values) ** 2) for values in predicted])
    count = candidates[int(np.nanargmax(means)) if np.isfinite(means).any() else 0]
    train, test = _principal_scores(X_train, X_test)
    return _linear(train[:, :count], y_train, test[:, :count], task)


def cross_validated(X, y, task, kind, splits, repeats, seed) -> tuple[np.ndarray, np.ndarray]:
    """(raw, standardised), each (repeats, runs): the held-out predictions (loss on the target
    scale, or probability of failure), and the same standardised within each held-out fold.

    Pooled raw predictions mix models fitted on different training runs, and what differs between
    them (their training runs' mean, their fit) is correlated with the held-out runs: pooled rank
    metrics are then biased towards failure (rho about -0.2 on 40 runs without any signal, -0.04
    after centring each fold). Standardising each fold's predictions (minus their mean, over their
    standard deviation; label-free) removes that bias; rho and AUC are computed on them.
    """
    raw = np.full((repeats, len(y)), np.nan)
    standardised = np.zeros((repeats, len(y)))
    folds = len(splits) // repeats
    for index, (train, test) in enumerate(splits):
        if task == "classification" and np.unique(y[train]).size < 2:
            raw[index // folds, test] = y[train].mean()  # one class in training: its share, no ranking
            continue
        predicted = fit_predict(X[train], y[train], X[test], task, kind, seed)
        raw[index // folds, test] = predicted
        spread = predicted.std()
        if spread > 0:
            standardised[index // folds, test] = (predicted - predicted.mean()) / spread
    return raw, standardised
