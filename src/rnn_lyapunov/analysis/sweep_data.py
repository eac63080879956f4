"""Reading the sweep dataset: choosing a task and runs, and the epochs the figures use.

The sweep (docs/design.md, "Sweep NetCDF") has dims ``run``, ``epoch``, ``exponent``,
``trajectory``, ``step`` (``convergence_step`` in files written before the rename); runs with fewer
exponents or epochs are padded with NaN. Everything here works on that padding: a run's "final"
spectrum is at the last epoch whose mean spectrum is finite, not at the last epoch label of the sweep.

Sweeps written by other tools may hold only ``lyapunov_exponents``; :func:`with_derived_quantities`
adds what can be computed from it (the figures call it wherever they read a sweep). Which
hyperparameters a sweep varies is in :mod:`rnn_lyapunov.analysis.hyperparameters` (its names are
importable from here too).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from rnn_lyapunov.errors import InputError

# Moved to hyperparameters.py; still importable from here (figures and tests name them so).
from rnn_lyapunov.analysis.hyperparameters import (  # noqa: F401
    NOT_HYPERPARAMETERS, PREFERRED_ORDER, SEED_PATTERN, describe_values, distinct_values, hyperparameter_table,
    is_identifier, is_numeric, varying_hyperparameters,
)

# Display order of the built-in architectures; plugins follow alphabetically.
ARCHITECTURE_ORDER = ("rnn", "lstm", "gru")

#: the dim of the running estimates; files written before the rename call it ``convergence_step``
STEP_DIMS = ("step", "convergence_step")
_DERIVED_NOTE = "computed from the sweep when it was read (rnn_lyapunov.analysis.sweep_data.with_derived_quantities)"


def _kaplan_yorke_of_mean(exponents: np.ndarray) -> float:
    """Kaplan-Yorke dimension of one mean spectrum, NaN padding dropped; NaN when nothing is left."""
    from rnn_lyapunov.engine.spectrum import kaplan_yorke_dimension

    values = np.sort(finite_exponents(exponents))[::-1]
    return float(kaplan_yorke_dimension(values)) if values.size else np.nan


def _standard_error_of(per_trajectory: np.ndarray) -> np.ndarray:
    """(..., trajectory, exponent) -> (..., exponent): standard error over the trajectories present.

    A trajectory that is NaN at every exponent is padding (a run with fewer trajectories) and is
    left out; one trajectory, or none, gives NaN (no error bar).
    """
    import torch

    from rnn_lyapunov.engine.spectrum import standard_error

    data = np.asarray(per_trajectory, dtype=float)
    leading, (n_trajectories, n_exponents) = data.shape[:-2], data.shape[-2:]
    flat = data.reshape(-1, n_trajectories, n_exponents)
    result = np.full((flat.shape[0], n_exponents), np.nan)
    for index, block in enumerate(flat):
        rows = block[np.isfinite(block).any(axis=1)]
        if rows.shape[0] >= 2:
            result[index] = standard_error(torch.from_numpy(np.ascontiguousarray(rows))).numpy()
    return result.reshape(*leading, n_exponents)


def with_derived_quantities(sweep: xr.Dataset) -> xr.Dataset:
    """``sweep`` with the quantities it lacks that can be derived from what it has; never refuses.

    * ``kaplan_yorke_dimension`` (dims of ``lyapunov_exponents`` without ``exponent``): the
      Kaplan-Yorke dimension of the mean spectrum (:func:`rnn_lyapunov.engine.spectrum.kaplan_yorke_dimension`),
      NaN where the mean spectrum is all NaN;
    * ``lyapunov_stderr`` (dims of ``lyapunov_exponents``): the standard error across trajectories
      (:func:`rnn_lyapunov.engine.spectrum.standard_error`) when ``lyapunov_exponents_per_trajectory``
      is present; otherwise it stays absent and the figures draw without error bars.

    Variables already present are kept as they are; a sweep without ``lyapunov_exponents`` is
    returned unchanged (the figure that needs it then names it). The input is not modified.
    """
    require_dataset(sweep)
    if "lyapunov_exponents" not in sweep.data_vars:
        return sweep
    exponents = sweep["lyapunov_exponents"]
    units = exponents.attrs.get("units", "nats per time step")
    added = {}
    if "kaplan_yorke_dimension" not in sweep.variables:
        dimension = xr.apply_ufunc(
            lambda block: np.apply_along_axis(_kaplan_yorke_of_mean, -1, block) if block.size
            else np.empty(block.shape[:-1]),
            exponents, input_core_dims=[["exponent"]], output_dtypes=[float],
        )
        added["kaplan_yorke_dimension"] = dimension.assign_attrs(
            units="1", long_name="Kaplan-Yorke dimension of the mean spectrum", comment=_DERIVED_NOTE)
    if "lyapunov_stderr" not in sweep.variables and "lyapunov_exponents_per_trajectory" in sweep.data_vars:
        per_trajectory = sweep["lyapunov_exponents_per_trajectory"]
        if "trajectory" in per_trajectory.dims and "exponent" in per_trajectory.dims:
            stderr = xr.apply_ufunc(
                _standard_error_of, per_trajectory, input_core_dims=[["trajectory", "exponent"]],
                output_core_dims=[["exponent"]], output_dtypes=[float],
            )
            added["lyapunov_stderr"] = stderr.transpose(*exponents.dims).assign_attrs(
                units=units, long_name="standard error across trajectories", comment=_DERIVED_NOTE)
    return sweep.assign(added) if added else sweep


def step_dim(values: xr.DataArray) -> str:
    """The running-estimate dim of ``values``: ``step``, or ``convergence_step`` in older files."""
    for name in STEP_DIMS:
        if name in values.dims:
            return name
    raise InputError(f"{values.name or 'the running estimates'} has no step dim (one of {list(STEP_DIMS)}); "
                     f"its dims are {list(values.dims)}.")

def ordered_architectures(names) -> list[str]:
    """Architectures in display order: rnn, lstm, gru, then any plugin names alphabetically."""
    unique = {str(name) for name in names}
    known = [name for name in ARCHITECTURE_ORDER if name in unique]
    return known + sorted(unique - set(known))


def require_variables(sweep: xr.Dataset, names, figure: str) -> None:
    """Raise ``InputError`` naming every variable of ``names`` the sweep lacks."""
    require_dataset(sweep)
    missing = [name for name in names if name not in sweep.variables]
    if missing:
        raise InputError(
            f"figure {figure!r} needs the sweep variables {missing}, which this dataset lacks "
            f"(it has {sorted(map(str, sweep.data_vars))}). Build the sweep with "
            "rnn_lyapunov.io.sweep_file.write_sweep (see docs/design.md, 'Sweep NetCDF')."
        )
    if sweep.sizes.get("run", 0) == 0:
        raise InputError(f"figure {figure!r}: the sweep dataset holds no runs (dim 'run' is empty).")


def require_dataset(sweep) -> None:
    """InputError unless ``sweep`` is an ``xarray.Dataset`` (a dict or a path is a common slip)."""
    if not isinstance(sweep, xr.Dataset):
        raise InputError(f"a sweep must be an xarray.Dataset in the sweep layout, got {type(sweep).__name__}; "
                         "open a sweep file with rnn_lyapunov.load_sweep(path).")


def select_task(sweep: xr.Dataset, dataset: str | None = None) -> xr.Dataset:
    """The runs trained on one task: ``dataset``, or the first task name in sorted order.

    Losses on different tasks are not comparable, so the figures never mix tasks.
    """
    require_dataset(sweep)
    if "dataset" not in sweep.coords:
        return sweep
    names = sorted({str(name) for name in sweep["dataset"].values})
    chosen = names[0] if dataset is None else dataset
    if chosen not in names:
        raise InputError(f"dataset {chosen!r} is not in the sweep; it holds: {', '.join(names)}.")
    return sweep.isel(run=np.flatnonzero(sweep["dataset"].values.astype(str) == chosen))


def task_name(sweep: xr.Dataset) -> str:
    """The task (dataset) name of a single-task sweep, for titles."""
    if "dataset" not in sweep.coords:
        return "task"
    return ", ".join(sorted({str(name) for name in sweep["dataset"].values}))


def recorded_epoch_mask(sweep: xr.Dataset) -> xr.DataArray:
    """(run, epoch) True where the run has a mean spectrum (at least one finite exponent)."""
    return np.isfinite(sweep["lyapunov_exponents"]).any("exponent")


def _pick_epoch(mask: xr.DataArray, which: str) -> xr.DataArray:
    epochs = mask["epoch"].values
    chosen = []
    for run_mask in mask.transpose("run", "epoch").values:
        indices = np.flatnonzero(run_mask)
        if indices.size == 0:
            chosen.append(np.nan)
        else:
            chosen.append(epochs[indices[-1] if which == "last" else indices[0]])
    return xr.DataArray(np.asarray(chosen, dtype=float), dims="run", coords={"run": mask["run"]})


def final_spectrum_epoch(sweep: xr.Dataset) -> xr.DataArray:
    """(run,) the last epoch at which each run has a spectrum (NaN if it has none)."""
    return _pick_epoch(recorded_epoch_mask(sweep), "last")


def early_spectrum_epoch(sweep: xr.Dataset, early_epoch: int = 0) -> xr.DataArray:
    """(run,) the first epoch ``>= early_epoch`` at which each run has a spectrum."""
    mask = recorded_epoch_mask(sweep) & (sweep["epoch"] >= early_epoch)
    return _pick_epoch(mask, "first")


def at_epochs(values: xr.DataArray, epochs: xr.DataArray) -> xr.DataArray:
    """``values`` (run, epoch, ...) taken at one epoch per run; NaN where the epoch is NaN."""
    ordered = values.transpose("run", "epoch", ...)
    epoch_labels = list(ordered["epoch"].values)
    data = ordered.values.astype(float)
    picked = np.full((data.shape[0], *data.shape[2:]), np.nan)
    for run_index, epoch in enumerate(epochs.values):
        if np.isfinite(epoch):
            picked[run_index] = data[run_index, epoch_labels.index(int(epoch))]
    other_dims = ordered.dims[2:]
    coords = {name: ordered[name] for name in ("run", *other_dims) if name in ordered.coords}
    coords.update({name: coord for name, coord in ordered.coords.items()
                   if set(coord.dims) <= {"run"} and name != "run"})
    return xr.DataArray(picked, dims=("run", *other_dims), coords=coords)


def final_validation_loss(sweep: xr.Dataset) -> xr.DataArray:
    """(run,) validation loss at the last epoch where it is finite (NaN if never)."""
    return _last_finite(sweep["val_loss"])


def _last_finite(values: xr.DataArray) -> xr.DataArray:
    data = values.transpose("run", "epoch").values.astype(float)
    result = np.full(data.shape[0], np.nan)
    for row_index, row in enumerate(data):
        finite = np.flatnonzero(np.isfinite(row))
        if finite.size:
            result[row_index] = row[finite[-1]]
    return xr.DataArray(result, dims="run", coords={"run": values["run"]})


def architecture_names(sweep: xr.Dataset) -> list[str]:
    """Architectures in the sweep in display order (rnn, lstm, gru, then plugins)."""
    return ordered_architectures(sweep["architecture"].values)


def representative_runs(sweep: xr.Dataset) -> dict[str, int]:
    """``{architecture: run index}``: per architecture the run with the lowest final validation loss.

    Runs without a finite final loss or without any spectrum are skipped unless an architecture has
    nothing else, in which case its first run is used.
    """
    losses = final_validation_loss(sweep).values
    has_spectrum = np.isfinite(final_spectrum_epoch(sweep).values)
    names = sweep["architecture"].values.astype(str)
    chosen = {}
    for name in architecture_names(sweep):
        candidates = np.flatnonzero((names == name) & has_spectrum)
        if candidates.size == 0:
            candidates = np.flatnonzero(names == name)
        scores = np.where(np.isfinite(losses[candidates]), losses[candidates], np.inf)
        chosen[name] = int(candidates[int(np.argmin(scores))])
    return chosen


def finite_exponents(values: np.ndarray) -> np.ndarray:
    """The exponents of one spectrum without the NaN padding, in their (descending) order."""
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def normalised_index(run: xr.Dataset, n_exponents: int) -> np.ndarray:
    """``i / N`` for ``i = 1..n_exponents`` where ``N`` is the run's state size.

    Falls back to ``N = n_exponents`` when the state size is missing, so a truncated spectrum
    still sits at its true position along the full spectrum when ``state_size`` is known.
    """
    state_size = float(run["state_size"]) if "state_size" in run.coords else np.nan
    total = state_size if np.isfinite(state_size) and state_size >= n_exponents else n_exponents
    return np.arange(1, n_exponents + 1) / total


def run_label(run: xr.Dataset) -> str:
    """A short description of a run's hyperparameters for legends and titles."""
    parts = [str(run["architecture"].values)]
    for key, fmt in (("hidden_size", "hidden={}"), ("init_scale", "init scale={:g}"), ("learning_rate", "lr={:g}")):
        if key in run.coords:
            value = run[key].values
            parts.append(fmt.format(value.item() if hasattr(value, "item") else value))
    return ", ".join(parts)


# --- units --------------------------------------------------------------------------------------

DEFAULT_EXPONENT_UNITS = "nats per time step"


def exponent_units(sweep: xr.Dataset) -> str:
    """The units attribute of the sweep's exponents: "nats per time step" (default) or "bits per time step"."""
    if "lyapunov_exponents" in sweep.variables:
        return str(sweep["lyapunov_exponents"].attrs.get("units", DEFAULT_EXPONENT_UNITS))
    return DEFAULT_EXPONENT_UNITS


def per_step_units(sweep: xr.Dataset) -> str:
    """The exponent units in short form for axis labels: ``nats/step`` or ``bits/step``."""
    units = exponent_units(sweep).strip()
    for suffix in (" per time step", " per step", "/step"):
        if units.endswith(suffix):
            return f"{units[: -len(suffix)].strip()}/step"
    return units
