"""What :func:`rnn_lyapunov.analysis.readout.evaluate_readout` predicts, from what, and on which runs.

:func:`build_inputs` turns a sweep (docs/design.md, "Sweep NetCDF": dim ``run``, NaN padding along
``epoch`` and ``exponent``) into one row per run: the targets (final loss, failure) and the
predictor columns; :func:`fold_splits` and :func:`bootstrap_resamples` give the cross-validation
folds and the bootstrap resamples of runs. Exponents are in nats per step; losses in the sweep's
units (nats for cross-entropy).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

import numpy as np

from rnn_lyapunov.extras import require

require("workflow", "sklearn", "pandas", needed_by="rnn_lyapunov.analysis.readout_inputs")
import pandas as pd  # noqa: E402 - after the check that names the extra to install
import xarray as xr
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from rnn_lyapunov.analysis import features, sweep_data
from rnn_lyapunov.errors import InputError

#: Coordinates along ``run`` that are bookkeeping, never hyperparameters.
NOT_HYPERPARAMETERS = ("run", "run_id", "seed", "dataset")
#: The authors' slope range (1-based exponent indices), used when every spectrum is this long.
AUTHORS_SLOPE_INDICES = (50, 100)


@dataclass
class ReadoutInputs:
    """One row per run. ``final_loss`` raw (NaN/inf: diverged); ``target`` the regression target
    (``log10`` of the loss when ``target_scale == "log10"``), NaN where the final loss is not finite;
    ``failed`` the failure label; ``table`` every predictor column; ``sets`` name -> (family,
    columns, model kind "linear" or "pca")."""

    runs: np.ndarray
    final_loss: np.ndarray
    target: np.ndarray
    target_scale: str
    failed: np.ndarray
    table: pd.DataFrame
    sets: dict = field(default_factory=dict)
    slope_description: str = ""


def _final_epochs(sweep: xr.Dataset) -> np.ndarray:
    """Each run's last epoch: ``epochs`` from its ``run_config`` JSON when there, else the sweep's last."""
    last = float(sweep["epoch"].values.max())  # positions 0, 1, ... when ``epoch`` has no coordinate
    result = np.full(sweep.sizes["run"], last)
    if "run_config" in sweep.data_vars and sweep["run_config"].dims == ("run",):
        for index, text in enumerate(sweep["run_config"].values):
            try:
                epochs = json.loads(str(text)).get("epochs")
            except (ValueError, AttributeError):
                continue
            if isinstance(epochs, int) and epochs in sweep["epoch"].values:
                result[index] = epochs
    return result


def final_values(sweep: xr.Dataset, name: str) -> np.ndarray:
    """(run,) variable ``name`` at each run's final epoch (NaN/inf kept: a diverged run), or as is if (run,)."""
    if name not in sweep.data_vars:
        raise InputError(f"evaluate_readout: target {name!r} is not a variable of the sweep "
                         f"(it has {sorted(map(str, sweep.data_vars))}).")
    values = sweep[name]
    if values.dims == ("run",):
        return values.values.astype(float)
    if set(values.dims) != {"run", "epoch"}:
        raise InputError(f"evaluate_readout: target {name!r} must have dims (run,) or (run, epoch), "
                         f"not {values.dims}.")
    epochs = xr.DataArray(_final_epochs(sweep), dims="run")
    return sweep_data.at_epochs(values, epochs).values.astype(float)


def _slope_arguments(slope_range, spectra: list[np.ndarray]):
    """(keyword arguments of ``features.spectrum_slope``, description) for ``slope_range``."""
    if slope_range is None:
        lengths = [values.size for values in spectra if values.size]
        if lengths and min(lengths) >= AUTHORS_SLOPE_INDICES[1]:
            slope_range = AUTHORS_SLOPE_INDICES
        else:
            slope_range = features.SLOPE_FRACTION_RANGE
    low, high = slope_range
    if all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in (low, high)):
        return {"index_range": (int(low), int(high))}, f"exponents {low}-{high}"
    return {"fraction_range": (float(low), float(high))}, f"{low:g} < i/N <= {high:g}"


def spectrum_columns(sweep, epochs, *, slope_range, count_threshold, grid_points):
    """(single-feature table, i/N grid table, slope description) of each run's spectrum at ``epochs``."""
    data = sweep_data.at_epochs(sweep["lyapunov_exponents"], xr.DataArray(epochs, dims="run")).values
    spectra = [sweep_data.finite_exponents(row) for row in data]
    sizes = (sweep["state_size"].values.astype(float) if "state_size" in sweep.coords
             else np.full(len(spectra), np.nan))
    slope_arguments, description = _slope_arguments(slope_range, spectra)
    functions = {name: function for name, (function, _) in features.READOUT_FEATURES.items()}
    rows = []
    for values, size in zip(spectra, sizes):
        row = {name: function(values) for name, function in functions.items()
               if name not in ("spectrum_slope", "n_above_threshold")}
        row["spectrum_slope"] = features.spectrum_slope(values, state_size=size, **slope_arguments)
        row["n_above_threshold"] = features.n_above_threshold(values, count_threshold)
        rows.append(row)
    single = pd.DataFrame(rows, columns=list(functions))
    positions = [sweep_data.normalised_index(sweep.isel(run=index), values.size)
                 for index, values in enumerate(spectra)]
    covered = [(index[0], index[-1]) for index, values in zip(positions, spectra) if values.size]
    grid = (np.linspace(max(low for low, _ in covered), min(high for _, high in covered), grid_points)
            if covered else np.linspace(0.0, 1.0, grid_points))
    on_grid = [np.interp(grid, index, values) if values.size else np.full(grid_points, np.nan)
               for index, values in zip(positions, spectra)]
    grid_table = pd.DataFrame(np.asarray(on_grid), columns=[f"i/N={point:.3f}" for point in grid])
    return single, grid_table, description


def hyperparameter_columns(sweep: xr.Dataset) -> pd.DataFrame:
    """Swept hyperparameters: coordinates along ``run`` that vary.

    Numeric ones as they are, except learning rates (``learning_rate``, ``lr``) and scales spanning
    at least a decade (a name containing ``scale``, e.g. ``init_scale``), which enter as
    ``log10(name)`` when positive; text ones (architecture, optimizer) as
    0/1 indicator columns ``name=value`` (one level dropped). Ids, seeds and the task are left out.
    """
    columns = {}
    for name, coord in sweep.coords.items():
        if name in NOT_HYPERPARAMETERS or coord.dims != ("run",):
            continue
        values = coord.values
        if np.issubdtype(values.dtype, np.number) or values.dtype == bool:
            values = values.astype(float)
            finite = values[np.isfinite(values)]
            if np.unique(finite).size < 2:
                continue
            rate = "learning_rate" in name or name == "lr"
            spans = "scale" in name and finite.min() > 0 and finite.max() / finite.min() >= 10
            if finite.min() > 0 and (rate or spans):
                columns[f"log10({name})"] = np.log10(np.where(values > 0, values, np.nan))
            else:
                columns[name] = values
        else:
            labels = pd.Series(values.astype(str))
            if 2 <= labels.nunique() < len(labels):
                dummies = pd.get_dummies(labels, prefix=name, prefix_sep="=", drop_first=True, dtype=float)
                columns.update({column: dummies[column].to_numpy() for column in dummies})
    return pd.DataFrame(columns, index=range(sweep.sizes["run"]))


def _early_loss(sweep, name, epochs, log_scale) -> np.ndarray | None:
    """Loss ``name`` at each run's early spectrum epoch; None when absent or never finite there."""
    if name not in sweep.data_vars or set(sweep[name].dims) != {"run", "epoch"}:
        return None
    values = sweep_data.at_epochs(sweep[name], xr.DataArray(epochs, dims="run")).values.astype(float)
    values[~np.isfinite(values)] = np.nan
    if not np.isfinite(values).any():
        return None
    if log_scale and np.nanmin(values) > 0:
        values = np.log10(values)
    return values


def build_inputs(sweep: xr.Dataset, *, early_epoch: int, target: str, failure_threshold, log_target,
                 slope_range, count_threshold, grid_points) -> ReadoutInputs:
    """The targets and predictor sets of ``evaluate_readout`` (see its docstring)."""
    n_runs = sweep.sizes["run"]
    runs = sweep["run"].values if "run" in sweep.coords else np.arange(n_runs)
    final_loss = final_values(sweep, "val_loss" if target == "final_val_loss" else target)
    finite = np.isfinite(final_loss)
    failed = ~finite if failure_threshold is None else ~finite | (final_loss > failure_threshold)
    positive = finite.any() and final_loss[finite].min() > 0
    if log_target == "auto":
        log_target = bool(positive and final_loss[finite].max() / final_loss[finite].min() >= 10)
    if log_target and not positive:
        raise InputError("evaluate_readout: log_target=True needs positive final losses.")
    target_values = np.where(finite, final_loss, np.nan)
    target_values = np.log10(target_values) if log_target else target_values
    epochs = sweep_data.early_spectrum_epoch(sweep, early_epoch).values
    single, grid, slope_description = spectrum_columns(
        sweep, epochs, slope_range=slope_range, count_threshold=count_threshold, grid_points=grid_points)
    hyper = hyperparameter_columns(sweep)
    table = pd.concat([single, grid, hyper], axis=1)
    spectrum = list(single.columns)
    sets = {name: ("spectrum_feature", [name], "linear") for name in spectrum}
    sets["spectrum_features"] = ("spectrum", spectrum, "linear")
    sets["spectrum_pca"] = ("spectrum", list(grid.columns), "pca")
    baselines = {"hyperparameters": list(hyper.columns)}
    for name in ("val_loss", "train_loss"):
        values = _early_loss(sweep, name, epochs, log_target)
        if values is not None:
            column = f"early_{name}"
            table[column] = values
            baselines[column] = [column]
    for name, columns in baselines.items():
        sets[name] = ("baseline", columns, "linear")
    for name, columns in baselines.items():
        sets[f"{name}+spectrum_features"] = ("combination", columns + spectrum, "linear")
    return ReadoutInputs(runs=np.asarray(runs), final_loss=final_loss, target=target_values,
                         target_scale="log10" if log_target else "linear", failed=failed,
                         table=table, sets=sets, slope_description=slope_description)


def usable_columns(table: pd.DataFrame, columns: list[str], mask: np.ndarray):
    """(X, note, kept): the columns with at least two distinct finite values over the runs in
    ``mask`` (X: (runs, len(kept)), NaN where missing), why there are none, and their names."""
    if not columns:
        return None, "no columns (e.g. no coordinate along 'run' varies)", []
    block = table.loc[mask, columns].to_numpy(float, copy=True)
    block[~np.isfinite(block)] = np.nan
    keep = [np.unique(column[np.isfinite(column)]).size >= 2 for column in block.T]
    if not any(keep):
        return None, f"constant or missing over these runs: {', '.join(columns)}", []
    return block[:, keep], "", [name for name, kept in zip(columns, keep) if kept]


def too_few_runs(task: str, y: np.ndarray, folds: int, threshold) -> str:
    """Why ``task`` ("regression" or "classification") cannot be cross-validated on ``y``, or ""."""
    needed = max(folds, 3)  # Spearman rho needs 3 held-out pairs, a k-fold split k runs
    if task == "regression" and y.size < needed:
        return (f"only {y.size} runs with a finite final loss; the loss metrics need at least {needed} "
                f"(folds={folds}, and 3 for Spearman rho): no cross-validation; add runs"
                + (" or lower `folds`" if folds > 3 else ""))
    if task == "regression" and np.ptp(y) == 0:
        return (f"the final loss is the same ({y[0]:g} on the target scale) for all {y.size} runs with a finite one: "
                "rho and R^2 are undefined for a constant target")
    if task == "classification":
        counts = np.bincount(y.astype(int), minlength=2)
        if y.size < folds or counts.min() < 2:
            rule = "not finite" if threshold is None else f"> {threshold:g} or not finite"
            return (f"{counts[1]} failing runs (final loss {rule}) and {counts[0]} others among {y.size}: "
                    f"ROC AUC needs at least 2 of each and {folds} runs; set `failure_threshold` or add runs")
    return ""


def fold_splits(task, y, folds, repeats, seed) -> list:
    """(train, test) index pairs, ``folds`` per repeat: ``RepeatedKFold`` for the loss,
    ``RepeatedStratifiedKFold`` for failure (every fold holds its share of the failing runs)."""
    if task == "regression":
        return list(RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed).split(y))
    with warnings.catch_warnings():  # fewer failures than folds: some folds get none, as intended
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        return list(RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed).split(y, y))


def equal_row_cells(X: np.ndarray) -> np.ndarray:
    """(runs,) labels, equal exactly where the rows of ``X`` (runs, k) are equal: a sweep's cells
    when ``X`` holds the hyperparameter (or any baseline) columns."""
    return np.unique(X, axis=0, return_inverse=True)[1].reshape(-1)


def cell_members(cells: np.ndarray) -> list[np.ndarray]:
    """The indices of the runs of each cell of ``cells`` (runs,), in label order."""
    return [np.flatnonzero(cells == cell) for cell in np.unique(cells)]


def bootstrap_resamples(task: str, y: np.ndarray, size: int, seed: int, cells: np.ndarray | None = None) -> list:
    """``size`` arrays of indices of runs drawn with replacement.

    Without ``cells``: each (runs,); for "classification" the failing and the other runs are drawn
    separately (a stratified bootstrap, as pROC's), so every resample holds both classes in their
    original numbers (the failing runs first). With ``cells`` (runs,) labels (the runs of one
    hyperparameter setting share a label): as many cells as there are, drawn with replacement, each
    with all its runs (a cluster bootstrap, not stratified; a resample's length varies with the
    cells drawn, and one without both classes gives an undefined AUC that the interval skips)."""
    rng = np.random.default_rng(seed)
    if cells is not None:
        members = cell_members(cells)
        return [np.concatenate([members[index] for index in rng.integers(0, len(members), len(members))])
                for _ in range(size)]
    if task == "regression":
        return list(rng.integers(0, len(y), size=(size, len(y))))
    groups = [np.flatnonzero(y == label) for label in (1, 0)]
    return list(np.hstack([group[rng.integers(0, max(group.size, 1), size=(size, group.size))] for group in groups]))
