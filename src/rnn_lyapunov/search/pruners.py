"""Stopping a search trial early when its spectrum predicts a poor run.

Each rule looks at one epoch of a trial, ``check(epoch, metrics, exponents)``, and returns why the
trial should stop (a sentence) or None:

* :class:`ThresholdRule`: a named spectrum feature (``analysis.features.READOUT_FEATURES``) at epoch
  E above (or below) a threshold, e.g. the largest exponent above 0 at epoch 1 (a chaotic network,
  which in Vogt et al. 2022 trains badly). A spectrum that diverged at E stops the trial too.
* :class:`ReadoutRule`: a ridge regression, refitted on the study's completed trials, from the
  spectrum features at epoch E to the final validation loss (log10); the trial stops when its
  predicted final loss is above the ``quantile`` of the completed trials' final losses.
* :class:`MedianRule`: Optuna's ``MedianPruner`` on the validation loss reported every epoch.

Exponents are passed in the run's ``spectrum.units`` per step, as in the per-run file, so that
thresholds read like the file's values.
"""

from __future__ import annotations

import math

import numpy as np

from rnn_lyapunov.analysis.features import READOUT_FEATURES, spectrum_slope

RIDGE_ALPHAS = np.logspace(-3, 3, 13)


def feature_value(exponents, name: str, *, index_range=None, state_size=None) -> float:
    """Feature ``name`` of one spectrum (exponents, any order, NaN ignored); NaN for None.

    ``index_range`` (two 1-based indices) and ``state_size`` apply to ``spectrum_slope`` only; without
    ``state_size`` its fraction range is over the exponents measured.
    """
    if exponents is None:
        return math.nan
    if name == "spectrum_slope":
        return spectrum_slope(exponents, index_range=index_range, state_size=state_size)
    return READOUT_FEATURES[name][0](exponents)


def _attribute(name: str, epoch: int) -> str:
    return f"{name}_epoch{epoch}"


class ThresholdRule:
    """Stop when ``feature`` at ``epoch`` is > ``above`` or < ``below`` (either or both given)."""

    def __init__(self, *, feature: str, epoch: int, above: float | None = None, below: float | None = None,
                 index_range=None, **_):
        self.feature, self.epoch, self.above, self.below, self.index_range = feature, epoch, above, below, index_range

    def check(self, trial, study, epoch: int, metrics: dict, exponents) -> str | None:
        if epoch != self.epoch:
            return None
        value = feature_value(exponents, self.feature, index_range=self.index_range)
        trial.set_user_attr(_attribute(self.feature, epoch), value if math.isfinite(value) else None)
        if exponents is None:
            return f"the spectrum diverged at epoch {epoch}"
        if self.above is not None and value > self.above:
            return f"{self.feature} {value:.4g} > {self.above:g} at epoch {epoch}"
        if self.below is not None and value < self.below:
            return f"{self.feature} {value:.4g} < {self.below:g} at epoch {epoch}"
        return None


class ReadoutRule:
    """Stop when a ridge fit on completed trials predicts a final loss above their ``quantile``.

    Needs at least ``min_trials`` completed trials with their features recorded at ``epoch``;
    a completed trial whose final loss is not finite counts as the worst finite loss seen.
    """

    def __init__(self, *, epoch: int, features=None, min_trials: int = 5, quantile: float = 0.5, **_):
        self.epoch, self.min_trials, self.quantile = epoch, min_trials, quantile
        self.features = list(features or READOUT_FEATURES)

    def check(self, trial, study, epoch: int, metrics: dict, exponents) -> str | None:
        import optuna

        if epoch != self.epoch:
            return None
        row = [feature_value(exponents, name) for name in self.features]
        key = _attribute("readout_features", epoch)
        trial.set_user_attr(key, [value if math.isfinite(value) else None for value in row])
        if exponents is None:
            return f"the spectrum diverged at epoch {epoch}"
        completed = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                     if key in t.user_attrs and "final_val_loss" in t.user_attrs]
        if len(completed) < self.min_trials:
            return None
        losses = np.array([np.nan if t.user_attrs["final_val_loss"] is None else t.user_attrs["final_val_loss"]
                           for t in completed], dtype=float)
        finite = losses[np.isfinite(losses)]
        if finite.size < 2:
            return None
        losses[~np.isfinite(losses)] = finite.max()
        log = bool((losses > 0).all())
        target = np.log10(losses) if log else losses
        X = np.array([[np.nan if v is None else v for v in t.user_attrs[key]] for t in completed], dtype=float)
        predicted = float(self._model().fit(X, target).predict(np.array([row], dtype=float))[0])
        limit = float(np.quantile(target, self.quantile))
        if predicted > limit:
            shown = (10 ** predicted, 10 ** limit) if log else (predicted, limit)
            return (f"readout at epoch {epoch} predicts final val_loss {shown[0]:.4g} > {shown[1]:.4g} "
                    f"(quantile {self.quantile:g} of {len(completed)} completed trials)")
        return None

    @staticmethod
    def _model():
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                             RidgeCV(alphas=RIDGE_ALPHAS))


class MedianRule:
    """Optuna's MedianPruner (set as the study's pruner) on the validation loss of each epoch."""

    def __init__(self, **_):
        pass

    def check(self, trial, study, epoch: int, metrics: dict, exponents) -> str | None:
        if trial.should_prune():
            return f"median pruner: val_loss {metrics['val_loss']:.4g} at epoch {epoch} is worse than the median"
        return None


RULES = {"threshold": ThresholdRule, "readout": ReadoutRule, "median": MedianRule}


def make_rules(pruners: list[dict]) -> list:
    """The rules of a validated ``search.pruner`` list."""
    return [RULES[pruner["kind"]](**{key: value for key, value in pruner.items() if key != "kind"})
            for pruner in pruners]


def optuna_pruner(pruners: list[dict]):
    """The study's Optuna pruner: ``MedianPruner`` when listed, else ``NopPruner`` (our rules decide)."""
    import optuna

    for pruner in pruners:
        if pruner["kind"] == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=pruner.get("n_startup_trials", 5),
                                               n_warmup_steps=pruner.get("n_warmup_steps", 0))
    return optuna.pruners.NopPruner()
