"""Heatmaps over two hyperparameters of a sweep: the grid code of ``hyperparameter_grid`` and ``grid_epochs``.

Which hyperparameters: those the sweep varies (:func:`rnn_lyapunov.analysis.sweep_data.varying_hyperparameters`:
coordinates along ``run`` and run-config keys with more than one value, run ids and seeds left out,
numeric ones first, then the most values), or the ones named by the figure option ``grid_axes``
(config ``figures.grid_axes``: x, y and optionally a facet). The first two are the x and y axes of
every heatmap, a third becomes facets (one panel per value), and any further varying ones, with
seeds, are averaged in each cell, which the figure notes under the panels. A numeric axis with more
than ``MAX_LEVELS`` values (e.g. a sampled init scale) is cut into ``N_BINS`` equal intervals.

Cell labels are written only where the drawn cells can hold them (checked after the layout), in
black or white against the cell colour.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import MaxNLocator

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures import style

#: A numeric axis with more distinct values than this is binned into ``N_BINS`` intervals.
MAX_LEVELS = 12
N_BINS = 8
#: Largest and smallest font (points) of the cell labels; cells that cannot hold the smallest get none.
LABEL_FONT = 7.0
MIN_LABEL_FONT = 5.0
#: Names of the usual hyperparameters on axes; others are shown as their key with spaces.
AXIS_NAMES = {
    "learning_rate": "learning rate", "init_scale": "init scale $p$", "dropout": "dropout",
    "hidden_size": "hidden size $N$ (units)", "architecture": "architecture", "num_layers": "layers",
    "init_gain": "init gain $g$", "lr_decay": "learning-rate decay per epoch", "batch_size": "batch size",
    "grad_clip": "gradient clipping (max. norm)", "momentum": "momentum", "init": "initialisation",
    "optimizer": "optimizer",
}
_NONE = "none"


def axis_name(key: str | None) -> str:
    """A hyperparameter's name for axis labels and notes."""
    if key is None:
        return ""
    return AXIS_NAMES.get(key, key.replace("_", " "))


@dataclass(frozen=True)
class GridAxes:
    """The hyperparameters of a grid figure: ``x``, ``y`` (None: a single column or row), an optional
    ``facet``, and the other varying ones, ``averaged`` in each cell."""

    x: str | None
    y: str | None
    facet: str | None = None
    averaged: tuple[str, ...] = ()
    binned: tuple[str, ...] = field(default=())


def choose_grid_axes(sweep, table: pd.DataFrame, requested=None) -> GridAxes:
    """The x, y and facet hyperparameters of ``sweep`` (one task) and the varying ones left to average.

    ``requested``: the ``grid_axes`` option, 2 or 3 names of hyperparameters (coordinates along
    ``run`` or run-config keys); None picks them from what the sweep varies. With fewer than two
    varying hyperparameters, usual constant ones (learning rate, init scale, ...) fill the axes so that
    their single value is shown.
    """
    varying = sweep_data.varying_hyperparameters(sweep, table)
    if requested is not None:
        if isinstance(requested, str) or not 2 <= len(requested) <= 3 or \
                not all(isinstance(name, str) for name in requested):
            raise InputError(f"grid_axes must list 2 or 3 hyperparameter names (x, y, facet), not {requested!r}")
        if len(set(requested)) != len(requested):
            raise InputError(f"grid_axes names a hyperparameter twice: {list(requested)}")
        unknown = [name for name in requested if name not in table.columns]
        if unknown:
            known = [name for name in table.columns if not sweep_data.is_identifier(str(name))]
            raise InputError(
                f"grid_axes names {unknown}, which the sweep does not record; it varies "
                f"{varying or 'nothing'} and records {known}.")
        chosen = list(requested) + [None] * (3 - len(requested))
    else:
        fill = [name for name in sweep_data.PREFERRED_ORDER if name in table.columns and name not in varying
                and name != "architecture"]
        picks = varying[:2] + fill
        chosen = (picks + [None, None])[:2] + [varying[2] if len(varying) > 2 else None]
    x, y, facet = chosen
    averaged = tuple(name for name in varying if name not in chosen)
    return GridAxes(x=x, y=y, facet=facet, averaged=averaged)


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)) or value == ""


def _format_level(value) -> str:
    if _is_missing(value):
        return _NONE
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value.item() if isinstance(value, np.generic) else value)


def axis_levels(key: str | None, values) -> tuple[pd.Categorical, bool]:
    """The values of one hyperparameter as ordered categories, and whether they were binned.

    Numbers ascending ("none" last for a missing value); more than ``MAX_LEVELS`` distinct numbers
    become ``N_BINS`` equal intervals labelled "low-high"; architectures in display order; other
    text sorted. ``key`` None gives one category, "all runs".
    """
    values = list(values)
    if key is None:
        return pd.Categorical(["all runs"] * len(values), categories=["all runs"], ordered=True), False
    if sweep_data.is_numeric(values):
        numbers = np.array([np.nan if _is_missing(value) else float(value) for value in values])
        finite = np.unique(numbers[np.isfinite(numbers)])
        if finite.size > MAX_LEVELS:
            edges = np.linspace(finite.min(), finite.max(), N_BINS + 1)
            labels = _interval_labels(edges)
            index = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, N_BINS - 1)
            named = [_NONE if not np.isfinite(number) else labels[position]
                     for number, position in zip(numbers, index)]
            categories = labels + ([_NONE] if np.isnan(numbers).any() else [])
            return pd.Categorical(named, categories=categories, ordered=True), True
        categories = [f"{number:g}" for number in finite] + ([_NONE] if np.isnan(numbers).any() else [])
        named = [_NONE if not np.isfinite(number) else f"{number:g}" for number in numbers]
        return pd.Categorical(named, categories=categories, ordered=True), False
    named = [_format_level(value) for value in values]
    present = sorted(set(named) - {_NONE})
    if key == "architecture":
        present = sweep_data.ordered_architectures(present)
    categories = present + ([_NONE] if _NONE in named else [])
    return pd.Categorical(named, categories=categories, ordered=True), False


def _interval_labels(edges: np.ndarray) -> list[str]:
    """``"low-high"`` for each interval, with the fewest significant digits that keep them distinct."""
    for digits in (2, 3, 4, 6):
        labels = [f"{low:.{digits}g}-{high:.{digits}g}" for low, high in zip(edges[:-1], edges[1:])]
        if len(set(labels)) == len(labels):
            return labels
    return labels


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


def colour_norm(values, *, loss: bool = False) -> Normalize:
    """One colour scale for ``values`` (a loss: logarithmic when it spans decades)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if loss:
        return style.loss_norm(finite)
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    return Normalize(low, high)


def format_cell(value: float, integer: bool = False) -> str:
    """A short cell label: at most about 5 characters."""
    if integer:
        return f"{value:.0f}"
    text = f"{value:.3g}"
    if len(text) > 5:
        text = f"{value:.2g}"
    if len(text) > 6:
        text = f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return text


#: Inches of a panel (:func:`panel_size`) taken by tick labels, axis labels and gaps.
PANEL_MARGIN = (1.0, 0.8)


def panel_size(matrices) -> tuple[float, float]:
    """Width and height (inches) of one heatmap panel with its tick labels, for the largest of
    ``matrices`` (an iterable of (n_y, n_x) cell tables), so that every panel of a figure is alike."""
    matrices = list(matrices)
    n_x = max(matrix.shape[1] for matrix in matrices)
    n_y = max(matrix.shape[0] for matrix in matrices)
    return (float(np.clip(0.32 * n_x + PANEL_MARGIN[0], 2.2, 4.2)),
            float(np.clip(0.22 * n_y + PANEL_MARGIN[1], 1.6, 3.6)))


def axes_size(panel: tuple[float, float]) -> tuple[float, float]:
    """The heatmap area (inches) of a panel of size ``panel``: what the cell labels must fit in."""
    return panel[0] - PANEL_MARGIN[0], panel[1] - PANEL_MARGIN[1]


def share_x_tick_labels(grid, matrices) -> None:
    """Keep the x tick labels of each column of panels on its bottom panel only, where every panel of
    the column has the same x levels (``matrices[row][column]``, DataFrames)."""
    n_rows, n_columns = grid.shape
    for column in range(n_columns):
        levels = {tuple(matrices[row][column].columns) for row in range(n_rows)}
        if len(levels) == 1:
            for row in range(n_rows - 1):
                grid[row, column].tick_params(labelbottom=False)


@dataclass
class Heatmap:
    """One drawn heatmap panel, kept for the cell labels written after the layout."""

    ax: object
    data: np.ndarray
    norm: Normalize
    integer: bool


def draw_heatmap(ax, matrix: pd.DataFrame, *, norm: Normalize, integer: bool = False) -> Heatmap:
    """``matrix`` (y levels x x levels) as coloured cells; missing cells stay light grey."""
    cmap = matplotlib.colormaps[style.SEQUENTIAL_CMAP]
    data = matrix.to_numpy(dtype=float)
    n_y, n_x = data.shape
    ax.set_facecolor("0.93")
    ax.pcolormesh(np.arange(n_x + 1), np.arange(n_y + 1), np.ma.masked_invalid(data), cmap=cmap, norm=norm,
                  edgecolors="white", linewidth=0.4 if max(n_x, n_y) <= 24 else 0.0)
    x_labels = [str(level) for level in matrix.columns]
    y_labels = [str(level) for level in matrix.index]
    x_step = max(1, int(np.ceil(n_x / 16)))
    y_step = max(1, int(np.ceil(n_y / 20)))
    rotate = n_x > 4 or max((len(label) for label in x_labels), default=0) * n_x > 24
    ax.set_xticks(np.arange(0, n_x, x_step) + 0.5, x_labels[::x_step], rotation=90 if rotate else 0)
    ax.set_yticks(np.arange(0, n_y, y_step) + 0.5, y_labels[::y_step])
    ax.tick_params(length=0, labelsize="small")
    ax.set_xlim(0, max(n_x, 1))
    ax.set_ylim(0, max(n_y, 1))  # first (smallest) level at the bottom, like a plot axis
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    return Heatmap(ax, data, norm, integer)


def label_cells(figure, heatmaps: list[Heatmap], axes_size: tuple[float, float] | None = None) -> int:
    """Write each cell's value into the heatmaps whose cells can hold it; returns how many panels got labels.

    ``axes_size``: the width and height (inches) of each heatmap's axes, as the figure reserved them
    (:func:`panel_size` less ``PANEL_MARGIN``); None takes the axes' position in the figure, less
    a fifth for labels. The font shrinks to fit, down to ``MIN_LABEL_FONT``; a panel whose cells
    cannot hold that gets no labels (the colour bar tells the values).
    """
    cmap = matplotlib.colormaps[style.SEQUENTIAL_CMAP]
    labelled = 0
    for heatmap in heatmaps:
        n_y, n_x = heatmap.data.shape
        if axes_size is None:
            position = heatmap.ax.get_position()
            width, height = 0.8 * position.width * figure.get_figwidth(), 0.8 * position.height * figure.get_figheight()
        else:
            width, height = axes_size
        cell_width = width / n_x * 72.0  # points
        cell_height = height / n_y * 72.0
        texts = {(row, column): format_cell(value, heatmap.integer)
                 for (row, column), value in np.ndenumerate(heatmap.data) if np.isfinite(value)}
        if not texts:
            continue
        longest = max(len(text) for text in texts.values())
        # Digits are about 0.6 em wide; leave a margin of about 15% of the cell.
        font = min(LABEL_FONT, 0.85 * cell_width / (0.6 * longest), 0.7 * cell_height)
        if font < MIN_LABEL_FONT:
            continue
        labelled += 1
        for (row, column), text in texts.items():
            red, green, blue, _ = cmap(heatmap.norm(heatmap.data[row, column]))
            dark = 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.45
            heatmap.ax.text(column + 0.5, row + 0.5, text, ha="center", va="center", fontsize=font,
                            color="white" if dark else "black")
    return labelled


def colourbar(figure, axes, norm: Normalize, label: str, *, location: str) -> None:
    """One colour bar for the panels ``axes`` that share ``norm``."""
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=matplotlib.colormaps[style.SEQUENTIAL_CMAP]),
                          ax=list(axes), location=location, shrink=0.9, aspect=25 if location == "right" else 30,
                          pad=0.02 if location == "right" else 0.04)
    if location == "right":
        label = label.replace(" (", "\n(")
    else:
        width = sum(ax.get_position().width for ax in axes[:1]) * figure.get_figwidth()
        label = style.wrap_to_width(label, max(width, 1.5), 8.0)
    bar.set_label(label, fontsize="small")
    if location != "right" and not isinstance(norm, LogNorm):
        bar.locator = MaxNLocator(nbins=4)  # a short horizontal bar: few ticks, no overlapping labels
    bar.ax.tick_params(labelsize="small")


def quantity_title(label: str) -> str:
    """A colour-bar label without its units, for panel titles."""
    return label.split(" (")[0]


def row_label(quantity_label: str, y_key: str | None, panel_height: float) -> str:
    """The y label of a row's first panel: the row's quantity (wrapped to the panel) over the y axis."""
    title = style.wrap_to_width(quantity_title(quantity_label), 0.8 * panel_height, 9.0)
    return f"{title}\n{axis_name(y_key)}" if y_key is not None else title


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
