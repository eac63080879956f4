"""Figure 4: final validation loss and spectrum features over the two hyperparameters a sweep varies."""

from __future__ import annotations

import xarray as xr
from matplotlib.figure import Figure

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.analysis.features import FEATURES
from rnn_lyapunov.figures import heatmaps, style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")
CAPTION = """
**Hyperparameter sweep.** Heatmaps over the two hyperparameters the sweep varies most (numeric ones
first; or those named in ``figures.grid_axes``): x and y of every panel. A third varying one (e.g. the
architecture) gives one column of panels per value; any others, and seeds, are averaged in each cell,
as the note under the panels says, and a numeric axis with many values (a sampled one) is cut into
intervals. Rows: the final validation loss, then features of the spectrum at each run's final
recorded epoch: the largest exponent and the mean of the top 10% of exponents (in the sweep's units,
nats or bits per time step), the number of positive exponents and the Kaplan-Yorke dimension. Each
row shares one colour scale; cells are labelled with their values where they are large enough.
"""


@register_figure("hyperparameter_grid", needs="sweep", variables=REQUIRED, caption=CAPTION,
                 options=("grid_axes",))
def hyperparameter_grid(sweep: xr.Dataset, *, dataset: str | None = None, grid_axes=None) -> Figure:
    """Heatmaps of the final validation loss and spectrum features over two hyperparameters.

    x and y: ``grid_axes[:2]`` or the two hyperparameters the sweep varies most; a third
    (``grid_axes[2]``, or the next varying one) gives one column of panels per value; the other
    varying hyperparameters and seeds are averaged in each cell (noted under the panels). One row
    per quantity: final validation loss, then each feature of ``analysis.features.FEATURES`` of the
    spectrum at each run's final recorded epoch; each row shares a colour scale.
    """
    task = sweep_data.select_task(sweep, dataset)
    table = heatmaps.run_table(task)
    axes = heatmaps.choose_grid_axes(task, table, grid_axes)
    epochs = sweep_data.final_spectrum_epoch(task)
    values = {"final_val_loss": sweep_data.final_validation_loss(task).values}
    values.update(heatmaps.spectrum_values(task, epochs, list(FEATURES)))
    labels = {"final_val_loss": "final " + style.VAL_LOSS_LABEL}
    labels.update({name: style.in_units(label, task) for name, (_, label) in FEATURES.items()})
    frame, axes = heatmaps.grid_frame(table, axes, values)
    facets = heatmaps.facet_values(frame)
    matrices = {(quantity, facet): heatmaps.cell_means(frame, quantity, facet)
                for quantity in labels for facet in facets}
    width, height = heatmaps.panel_size(matrices.values())
    with style.figure_style():
        figure = style.new_figure(width * len(facets) + 1.4, height * len(labels) + 0.9)
        grid = figure.subplots(len(labels), len(facets), squeeze=False)
        drawn = []
        for row, (quantity, label) in enumerate(labels.items()):
            norm = heatmaps.colour_norm(frame[quantity], loss=quantity == "final_val_loss")
            for column, facet in enumerate(facets):
                ax = grid[row, column]
                drawn.append(heatmaps.draw_heatmap(ax, matrices[quantity, facet], norm=norm,
                                                   integer=quantity == "n_positive"))
                if row == 0 and axes.facet is not None:
                    ax.set_title(f"{heatmaps.axis_name(axes.facet)}: {facet}", fontsize="medium")
                ax.set_xlabel(heatmaps.axis_name(axes.x) if row == len(labels) - 1 else "")
                # The quantity of each row leads its first y label; the colour bar gives its units.
                if column == 0:
                    ax.set_ylabel(heatmaps.row_label(label, axes.y, height))
            heatmaps.colourbar(figure, grid[row], norm, label, location="right")
        heatmaps.share_x_tick_labels(grid, [[matrices[quantity, facet] for facet in facets] for quantity in labels])
        style.figure_title(figure, f"Hyperparameter sweep on {sweep_data.task_name(task)}: final validation "
                           "loss and spectrum at the final epoch")
        note = heatmaps.averaging_note(table, axes, frame)
        if note:
            style.figure_note(figure, note)
        heatmaps.label_cells(figure, drawn, heatmaps.axes_size((width, height)))
    return figure
