"""Experiment A of Vogt et al. (2022): the spectrum during training, per architecture and network size."""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures import heatmaps, style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")
#: Settings that make a panel; every other setting the sweep varies is averaged within a panel.
PANEL_KEYS = ("architecture", "hidden_size")
CAPTION = """
**Spectra during training, per architecture and size (experiment A).** One panel per (architecture,
hidden size) of the sweep, a row per architecture: the Lyapunov spectrum (in the sweep's units, nats
or bits per time step) against the normalised index i/N at every epoch with a spectrum, coloured by
epoch along a sequential colour map (colour bar; 0 = initialisation). Each line is the mean, index by
index, over the panel's runs: the settings the sweep varies besides architecture and size (the
dropout of ``config/paper/architectures.yaml``) and seeds are averaged, as the note under the panels
says. Dashed line: zero. Drawn when ``figures.extra`` lists ``architecture_spectra``.
"""


def _mean_spectrum(spectra: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean over runs of spectra given as (i/N, exponents); different lengths meet on the longest's grid."""
    spectra = [(index, values) for index, values in spectra if values.size]
    if not spectra:
        return np.empty(0), np.empty(0)
    grid = max(spectra, key=lambda pair: pair[1].size)[0]
    if all(index.size == grid.size and np.allclose(index, grid) for index, _ in spectra):
        return grid, np.mean([values for _, values in spectra], axis=0)
    rows = []
    for index, values in spectra:
        row = np.interp(grid, index, values) if values.size > 1 else np.full(grid.size, values[0])
        row[(grid < index[0] - 1e-12) | (grid > index[-1] + 1e-12)] = np.nan  # no extrapolation
        rows.append(row)
    rows = np.asarray(rows)
    counts = np.isfinite(rows).sum(axis=0)
    mean = np.where(counts > 0, np.nansum(rows, axis=0) / np.maximum(counts, 1), np.nan)
    return grid, mean


def panel_groups(task: xr.Dataset) -> dict[tuple, np.ndarray]:
    """``{(architecture, hidden size): run indices}`` in display order (sizes ascending).

    A key the sweep does not record is left out of the tuple (a sweep without ``hidden_size`` gets
    one panel per architecture).
    """
    keys = [key for key in PANEL_KEYS if key in task.coords]
    if not keys:
        return {(): np.arange(task.sizes["run"])}
    columns = [task[key].values for key in keys]
    combos = sorted({tuple(values) for values in zip(*columns)},
                    key=lambda combo: tuple(_sort_key(key, value) for key, value in zip(keys, combo)))
    return {combo: np.flatnonzero(np.all([column == value for column, value in zip(columns, combo)], axis=0))
            for combo in combos}


def _sort_key(key, value):
    if key == "architecture":
        order = sweep_data.ARCHITECTURE_ORDER
        return (order.index(str(value)) if str(value) in order else len(order), str(value))
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def _panel_title(keys, combo, n_runs: int) -> str:
    parts = []
    for key, value in zip(keys, combo):
        if key == "hidden_size":
            parts.append(f"N = {value:g}" if isinstance(value, (float, np.floating)) else f"N = {value}")
        else:
            parts.append(str(value))
    return f"{', '.join(parts) or 'all runs'} ({n_runs} run{'s' if n_runs != 1 else ''})"


@register_figure("architecture_spectra", needs="sweep", variables=REQUIRED, caption=CAPTION, default=False)
def architecture_spectra(sweep: xr.Dataset, *, dataset: str | None = None) -> Figure:
    """One panel per (architecture, hidden size): the spectrum vs ``i/N`` at every recorded epoch,
    coloured by epoch; the panel's runs (other varying settings, seeds) are averaged index by index.
    """
    task = sweep_data.select_task(sweep, dataset)
    groups = panel_groups(task)
    keys = [key for key in PANEL_KEYS if key in task.coords]
    recorded = sweep_data.recorded_epoch_mask(task).transpose("run", "epoch").values
    epoch_labels = task["epoch"].values
    spectra = task["lyapunov_exponents"].transpose("run", "epoch", "exponent").values
    shown = epoch_labels[recorded.any(axis=0)]
    norm = Normalize(vmin=float(min(shown.min(), 0)) if shown.size else 0.0,
                     vmax=float(max(shown.max(), 1)) if shown.size else 1.0)
    cmap = matplotlib.colormaps[style.SEQUENTIAL_CMAP]
    cache = {}

    def positions(run_index: int, count: int) -> np.ndarray:
        """i/N of a run's first ``count`` exponents (computed once per run and count)."""
        if (run_index, count) not in cache:
            cache[run_index, count] = sweep_data.normalised_index(task.isel(run=run_index), count)
        return cache[run_index, count]

    rows = {}
    for combo in groups:
        rows.setdefault(combo[0] if keys and keys[0] == "architecture" else None, []).append(combo)
    n_columns = max(len(combos) for combos in rows.values())
    with style.figure_style():
        figure = style.new_figure(2.7 * n_columns + 1.0, 2.3 * len(rows) + 1.0)
        grid = figure.subplots(len(rows), n_columns, squeeze=False, sharey=True)
        used = []
        for row, combos in enumerate(rows.values()):
            for column in range(n_columns):
                ax = grid[row, column]
                if column >= len(combos):
                    ax.remove()
                    continue
                used.append(ax)
                members = groups[combos[column]]
                for epoch_index, epoch in enumerate(epoch_labels):
                    runs = [index for index in members if recorded[index, epoch_index]]
                    if not runs:
                        continue
                    pairs = []
                    for index in runs:
                        values = sweep_data.finite_exponents(spectra[index, epoch_index])
                        pairs.append((positions(index, values.size), values))
                    index, mean = _mean_spectrum(pairs)
                    ax.plot(index, mean, color=cmap(norm(epoch)), linewidth=1.1)
                style.zero_line(ax)
                ax.set_xlim(0.0, 1.0)
                ax.set_xlabel(style.NORMALISED_INDEX_LABEL)
                ax.set_ylabel(style.exponent_label(task))
                ax.yaxis.set_tick_params(labelleft=True)
                ax.set_title(_panel_title(keys, combos[column], len(members)), fontsize="medium", loc="left")
        bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=used, location="right", pad=0.01,
                              shrink=0.8, aspect=30)
        bar.set_label("epoch (0 = initialisation)")
        if 0 < shown.size <= 12:
            bar.set_ticks(shown)
        style.figure_title(figure, f"Spectra during training on {sweep_data.task_name(task)}, "
                                   "per architecture and hidden size N")
        note = _averaging_note(task, keys)
        if note:
            style.figure_note(figure, note)
    return figure


def _averaging_note(task: xr.Dataset, keys) -> str:
    """Which settings each line averages over (those the sweep varies besides the panel's), or ""."""
    table = sweep_data.hyperparameter_table(task)
    averaged = [name for name in sweep_data.varying_hyperparameters(task, table) if name not in keys]
    parts = heatmaps.averaged_parts(table, averaged)
    if not parts:
        return ""
    return "Each line: mean over the panel's runs, averaged over " + "; ".join(parts) + "."
