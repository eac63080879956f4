"""The cells of a grid figure: one row per run placed on the grid's axes, and the mean per cell.

The values averaged are a run's settings (:func:`run_table`) and its spectrum features at chosen
epochs (:func:`spectrum_values`); :func:`averaging_note` says under the panels what each cell
averages over.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures.grid_axes import N_BINS, GridAxes, axis_levels, axis_name


def grid_frame(table: pd.DataFrame, axes: GridAxes, values: dict[str, np.ndarray]) -> tuple[pd.DataFrame, GridAxes]:
    """One row per run: its ``_x``, ``_y``, ``_facet`` categories and each quantity of ``values``.

    Returns the frame and ``axes`` with ``binned`` set to the axes cut into intervals.
    """
    frame = pd.DataFrame(index=table.index)
    binned = []
    frame.attrs["binned"] = []
    for column, key in (("_x", axes.x), ("_y", axes.y), ("_facet", axes.facet)):
        levels, was_binned = axis_levels(key, table[key].tolist() if key is not None else [None] * len(table))
        frame[column] = levels
        if was_binned:
            binned.append(key)
            frame.attrs["binned"].append(column)
    for name, column in values.items():
        frame[name] = np.asarray(column, dtype=float)
    return frame, GridAxes(axes.x, axes.y, axes.facet, axes.averaged, tuple(binned))


def cell_means(frame: pd.DataFrame, quantity: str, facet=None) -> pd.DataFrame:
    """Mean of ``quantity`` per (y, x) cell over the runs of ``facet`` (all runs when None).

    Rows: the y levels (ascending), columns: the x levels: those that occur among those runs (a
    facet of a zipped sweep has its own), or every interval of a binned axis (empty ones stay blank).
    """
    rows = frame if facet is None else frame[frame["_facet"] == facet]
    grid = rows.pivot_table(index="_y", columns="_x", values=quantity, aggfunc="mean", dropna=False,
                            observed=True)
    binned = frame.attrs.get("binned", [])
    levels = {column: [level for level in frame[column].cat.categories
                       if column in binned or level in set(rows[column])] for column in ("_y", "_x")}
    return grid.reindex(index=levels["_y"], columns=levels["_x"])


def runs_per_cell(frame: pd.DataFrame) -> int:
    """The largest number of runs that share one (facet, y, x) cell."""
    if frame.empty:
        return 0
    return int(frame.groupby(["_facet", "_y", "_x"], observed=True).size().max())


def facet_values(frame: pd.DataFrame) -> list:
    """The facet categories that occur, in order ([None] without a facet: one panel)."""
    present = set(frame["_facet"])
    return [level for level in frame["_facet"].cat.categories if level in present]


def averaged_parts(table: pd.DataFrame, names) -> list[str]:
    """``["dropout (0 to 0.45, 10 values)", "seed (3 values)"]``: each averaged setting with its values.

    ``names``: the varying hyperparameters being averaged; the seed is added when it varies.
    """
    parts = [f"{axis_name(name)} ({sweep_data.describe_values(table[name].tolist())})" for name in names]
    if "seed" in table.columns and len(sweep_data.distinct_values(table["seed"].tolist())) > 1:
        parts.append(f"seed ({len(sweep_data.distinct_values(table['seed'].tolist()))} values)")
    return parts


def averaging_note(table: pd.DataFrame, axes: GridAxes, frame: pd.DataFrame) -> str:
    """What each cell averages over: the other varying hyperparameters, seeds, binned axes."""
    parts = averaged_parts(table, axes.averaged)
    notes = []
    if parts:
        notes.append("Each cell: mean over " + "; ".join(parts) + ".")
    elif runs_per_cell(frame) > 1:
        notes.append(f"Each cell: mean over up to {runs_per_cell(frame)} runs.")
    for name in axes.binned:
        notes.append(f"{axis_name(name)} cut into {N_BINS} equal intervals.")
    return " ".join(notes)


def run_table(task) -> pd.DataFrame:
    """The task's per-run hyperparameters (:func:`sweep_data.hyperparameter_table`)."""
    return sweep_data.hyperparameter_table(task)


def spectrum_values(task, epochs, names) -> dict[str, np.ndarray]:
    """``{feature name: (run,) value}`` of each feature in ``names`` of each run's spectrum at ``epochs``.

    The feature functions come from :mod:`rnn_lyapunov.analysis.features` (``READOUT_FEATURES`` when
    present, else ``FEATURES``); a feature taking ``state_size`` gets the run's.
    """
    import inspect

    functions = available_features()
    spectra = sweep_data.at_epochs(task["lyapunov_exponents"], epochs).values
    state_sizes = task["state_size"].values.astype(float) if "state_size" in task.coords else \
        np.full(task.sizes["run"], np.nan)
    result = {}
    for name in names:
        function = functions[name][0]
        try:
            takes_size = "state_size" in inspect.signature(function).parameters
        except (TypeError, ValueError):
            takes_size = False
        column = np.full(task.sizes["run"], np.nan)
        for index, spectrum in enumerate(spectra):
            if not np.isfinite(spectrum).any():
                continue
            if takes_size and np.isfinite(state_sizes[index]):
                column[index] = function(spectrum, state_size=state_sizes[index])
            else:
                column[index] = function(spectrum)
        result[name] = column
    return result


def available_features() -> dict:
    """name -> (function, label) of every spectrum feature the analysis offers."""
    from rnn_lyapunov.analysis import features

    return dict(getattr(features, "READOUT_FEATURES", features.FEATURES))
