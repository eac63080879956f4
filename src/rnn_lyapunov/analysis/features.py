"""Scalar features of a Lyapunov spectrum, used by the hyperparameter-grid and stability figures.

Every feature takes one spectrum (exponents in nats/step, sorted descending, possibly followed by
NaN padding from the sweep) and returns a float:

* ``largest_exponent``: lambda_1 (nats/step);
* ``top_decile_mean``: mean of the largest 10% of the exponents, at least one (nats/step);
* ``n_positive``: number of exponents > 0 (count);
* ``kaplan_yorke_dimension``: Kaplan & Yorke (1979) dimension of the spectrum (dimensions).

``READOUT_FEATURES`` adds three more, used by :mod:`rnn_lyapunov.analysis.readout` (the figures
draw ``FEATURES`` only, so their panels and tables are unchanged):

* ``spectrum_slope``: least-squares slope of lambda_i against i/N over an index range, by default
  the second half of the spectrum (nats/step per unit of i/N);
* ``n_above_threshold``: number of exponents > -3 nats/step (count);
* ``positive_sum``: sum of the positive exponents, Pesin's bound on the entropy (nats/step).

A spectrum with no finite exponent gives NaN for every feature.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from rnn_lyapunov.engine.spectrum import kaplan_yorke_dimension as _kaplan_yorke_dimension

TOP_FRACTION = 0.1
#: Default range of ``spectrum_slope``: the second half of the spectrum, 0.5 < i/N <= 1.
SLOPE_FRACTION_RANGE = (0.5, 1.0)
#: Default threshold of ``n_above_threshold``, nats/step.
COUNT_THRESHOLD = -3.0


def _finite(exponents) -> np.ndarray:
    values = np.asarray(exponents, dtype=float).ravel()
    return values[np.isfinite(values)]


def largest_exponent(exponents) -> float:
    """lambda_1 in nats/step."""
    values = _finite(exponents)
    return float(values.max()) if values.size else math.nan


def top_decile_mean(exponents, fraction: float = TOP_FRACTION) -> float:
    """Mean of the largest ``ceil(fraction * n)`` exponents (at least one), nats/step."""
    values = np.sort(_finite(exponents))[::-1]
    if values.size == 0:
        return math.nan
    count = max(1, math.ceil(fraction * values.size - 1e-9))
    return float(values[:count].mean())


def n_positive(exponents) -> float:
    """Number of strictly positive exponents (a float so that NaN can mark a missing spectrum)."""
    values = _finite(exponents)
    return float((values > 0).sum()) if values.size else math.nan


def kaplan_yorke_dimension(exponents) -> float:
    """Kaplan-Yorke dimension (see ``rnn_lyapunov.engine.spectrum.kaplan_yorke_dimension``)."""
    values = np.sort(_finite(exponents))[::-1]
    return _kaplan_yorke_dimension(values) if values.size else math.nan


#: name -> (function, axis label with units)
FEATURES = {
    "largest_exponent": (largest_exponent, r"largest exponent $\lambda_1$ (nats/step)"),
    "top_decile_mean": (top_decile_mean, "mean of top 10% exponents (nats/step)"),
    "n_positive": (n_positive, r"number of positive exponents (count)"),
    "kaplan_yorke_dimension": (kaplan_yorke_dimension, r"Kaplan-Yorke dimension $D_{KY}$ (dimensions)"),
}


def spectrum_slope(exponents, *, index_range=None, fraction_range=SLOPE_FRACTION_RANGE,
                   state_size=None) -> float:
    """Least-squares slope of ``lambda_i`` against ``i / N``, in nats/step per unit of ``i / N``.

    The finite exponents are sorted descending and numbered ``i = 1, 2, ...``; ``N`` is
    ``state_size`` when given (and at least the number of finite exponents), else the number of
    finite exponents. The fit uses the exponents with ``index_range[0] <= i <= index_range[1]``
    when ``index_range`` (two 1-based indices, e.g. ``(50, 100)``) is given, otherwise those with
    ``fraction_range[0] < i / N <= fraction_range[1]`` (default: the second half of the spectrum).
    Fewer than two exponents in the range give NaN.
    """
    values = np.sort(_finite(exponents))[::-1]
    if values.size == 0:
        return math.nan
    total = float(state_size) if state_size is not None and np.isfinite(state_size) else math.nan
    total = total if total >= values.size else float(values.size)
    index = np.arange(1, values.size + 1)
    if index_range is not None:
        keep = (index >= index_range[0]) & (index <= index_range[1])
    else:
        keep = (index / total > fraction_range[0]) & (index / total <= fraction_range[1])
    if keep.sum() < 2:
        return math.nan
    return float(np.polyfit(index[keep] / total, values[keep], 1)[0])


def n_above_threshold(exponents, threshold: float = COUNT_THRESHOLD) -> float:
    """Number of exponents strictly above ``threshold`` (nats/step; default -3), as a float."""
    values = _finite(exponents)
    return float((values > threshold).sum()) if values.size else math.nan


def positive_sum(exponents) -> float:
    """Sum of the positive exponents, nats/step (0 when none is positive): Pesin's entropy bound."""
    values = _finite(exponents)
    return float(values[values > 0].sum()) if values.size else math.nan


#: ``FEATURES`` plus the features added for the readout evaluation (``analysis.readout``).
READOUT_FEATURES = {
    **FEATURES,
    "spectrum_slope": (spectrum_slope, r"slope of $\lambda_i$ vs $i/N$, second half (nats/step per unit $i/N$)"),
    "n_above_threshold": (n_above_threshold, "number of exponents > -3 nats/step (count)"),
    "positive_sum": (positive_sum, "sum of positive exponents (nats/step)"),
}


def feature_label(name: str) -> str:
    """The axis label, with units, of feature ``name`` (any of ``READOUT_FEATURES``)."""
    return READOUT_FEATURES[name][1]


def spectrum_features(exponents: xr.DataArray) -> xr.Dataset:
    """Every feature of every spectrum in ``exponents`` (..., exponent) as a Dataset over (...).

    ``exponents`` must have an ``exponent`` dimension; all other dimensions (``run``, ``epoch``)
    are kept, with their coordinates.
    """
    results = {}
    for name, (function, label) in FEATURES.items():
        values = xr.apply_ufunc(
            lambda block, function=function: np.apply_along_axis(function, -1, block),
            exponents,
            input_core_dims=[["exponent"]],
            output_dtypes=[float],
        )
        results[name] = values.assign_attrs(long_name=label)
    return xr.Dataset(results)


def feature_table(sweep: xr.Dataset, epochs: xr.DataArray):
    """One row per run: its hyperparameters, final validation loss and features at ``epochs``.

    epochs: (run,) the epoch to take each run's spectrum at (e.g. ``final_spectrum_epoch``);
    NaN gives NaN features. Returns a ``pandas.DataFrame`` indexed by run id with the columns
    ``architecture``, ``init_scale``, ``learning_rate`` (when present), ``spectrum_epoch``,
    ``final_val_loss`` and one column per feature in ``FEATURES``.
    """
    from rnn_lyapunov.analysis.sweep_data import at_epochs, final_validation_loss

    spectra = at_epochs(sweep["lyapunov_exponents"], epochs)
    values = spectrum_features(spectra)
    table = values.drop_vars([name for name in values.coords if name != "run"]).to_dataframe()
    for name in ("architecture", "dataset", "init_scale", "learning_rate", "hidden_size", "seed"):
        if name in sweep.coords:
            table[name] = sweep[name].values
    table["spectrum_epoch"] = epochs.values
    table["final_val_loss"] = final_validation_loss(sweep).values
    return table
