"""Reading the sweep dataset: choosing a task and runs, and the epochs the figures use.

The sweep (docs/design.md, "Sweep NetCDF") has dims ``run``, ``epoch``, ``exponent``,
``trajectory``, ``convergence_step``; runs with fewer exponents or epochs are padded with NaN.
Everything here works on that padding: a run's "final" spectrum is at the last epoch whose mean
spectrum is finite, not at the last epoch label of the sweep.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from rnn_lyapunov.errors import InputError

# Display order of the built-in architectures; plugins follow alphabetically.
ARCHITECTURE_ORDER = ("rnn", "lstm", "gru")

def ordered_architectures(names) -> list[str]:
    """Architectures in display order: rnn, lstm, gru, then any plugin names alphabetically."""
    unique = {str(name) for name in names}
    known = [name for name in ARCHITECTURE_ORDER if name in unique]
    return known + sorted(unique - set(known))


def require_variables(sweep: xr.Dataset, names, figure: str) -> None:
    """Raise ``InputError`` naming every variable of ``names`` the sweep lacks."""
    missing = [name for name in names if name not in sweep.variables]
    if missing:
        raise InputError(
            f"figure {figure!r} needs the sweep variables {missing}, which this dataset lacks "
            f"(it has {sorted(map(str, sweep.data_vars))}). Build the sweep with "
            "rnn_lyapunov.config.sweep (see docs/design.md, 'Sweep NetCDF')."
        )
    if sweep.sizes.get("run", 0) == 0:
        raise InputError(f"figure {figure!r}: the sweep dataset holds no runs (dim 'run' is empty).")


def select_task(sweep: xr.Dataset, dataset: str | None = None) -> xr.Dataset:
    """The runs trained on one task: ``dataset``, or the first task name in sorted order.

    Losses on different tasks are not comparable, so the figures never mix tasks.
    """
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
