"""Drawing the heatmaps of the grid figures (``hyperparameter_grid``, ``grid_epochs``): panels, cells, colour bars.

The axes are chosen in :mod:`rnn_lyapunov.figures.grid_axes` and the cells filled in
:mod:`rnn_lyapunov.figures.grid_cells` (their names are importable from here too). Cell labels are
written only where the drawn cells can hold them (checked after the layout), in black or white
against the cell colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.ticker import MaxNLocator

from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.grid_axes import (  # noqa: F401  (re-exported: the grid figures use heatmaps.<name>)
    AXIS_NAMES, MAX_LEVELS, N_BINS, GridAxes, axis_levels, axis_name, choose_grid_axes,
)
from rnn_lyapunov.figures.grid_cells import (  # noqa: F401  (re-exported likewise)
    available_features, averaged_parts, averaging_note, cell_means, facet_values, grid_frame, run_table,
    runs_per_cell, spectrum_values,
)

#: Largest and smallest font (points) of the cell labels; cells that cannot hold the smallest get none.
LABEL_FONT = 7.0
MIN_LABEL_FONT = 5.0
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
