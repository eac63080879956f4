"""Experiment B of Vogt et al. (2022): the loss landscape over a hyperparameter grid, and the spectrum
features beside it, early in training and at the end."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures import heatmaps, style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")
#: Features shown beside the loss, in this order, where ``analysis.features`` offers them; any other
#: feature of the top of the spectrum (``top_*``) joins them, up to ``MAX_FEATURES``.
PREFERRED_FEATURES = ("largest_exponent", "kaplan_yorke_dimension", "top_decile_mean", "top_decile_slope",
                      "spectrum_slope")
MAX_FEATURES = 4
CAPTION = """
**Loss and spectrum over the hyperparameter grid, early and late (experiment B).** Heatmaps over the
two hyperparameters the sweep varies (dropout x learning rate in ``config/paper/grid.yaml``; or
``figures.grid_axes``). Top row: at the early epoch (the first epoch with a spectrum at or after
``figures.early_epoch``); bottom row: at each run's last epoch with a spectrum. First column: the
validation loss at that epoch; the others: features of the spectrum at that epoch
(``rnn_lyapunov.analysis.features``: largest exponent, Kaplan-Yorke dimension, mean of the top 10%
of exponents, slope of the spectrum; exponents in the sweep's units, nats or bits per time step).
Each column shares one colour scale. A third varying hyperparameter gives a row per value; others
and seeds are averaged in each cell (note under the panels). Drawn when ``figures.extra`` lists
``grid_epochs``.
"""


def grid_features() -> list[str]:
    """The spectrum features drawn beside the loss (those ``analysis.features`` offers)."""
    available = heatmaps.available_features()
    names = [name for name in PREFERRED_FEATURES if name in available]
    names += [name for name in available if name.startswith("top_") and name not in names]
    return names[:MAX_FEATURES]


def _epoch_text(epochs: np.ndarray) -> str:
    finite = np.unique(epochs[np.isfinite(epochs)]).astype(int)
    if finite.size == 0:
        return "no spectrum"
    if finite.size == 1:
        return f"epoch {finite[0]}"
    return f"epochs {finite.min()}-{finite.max()}"


@register_figure("grid_epochs", needs="sweep", variables=REQUIRED, caption=CAPTION, default=False,
                 options=("early_epoch", "grid_axes"))
def grid_epochs(sweep: xr.Dataset, *, early_epoch: int = 0, dataset: str | None = None, grid_axes=None) -> Figure:
    """Validation loss and spectrum features over two hyperparameters, at two epochs.

    Rows: the first epoch with a spectrum at or after ``early_epoch``, and each run's last epoch
    with a spectrum (one row when they coincide for every run); with a facet hyperparameter, one
    row per (epoch, facet value). Columns: the validation loss at that epoch, then
    :func:`grid_features`. Axes as in ``hyperparameter_grid`` (``grid_axes`` or the varying ones).
    """
    task = sweep_data.select_task(sweep, dataset)
    table = heatmaps.run_table(task)
    axes = heatmaps.choose_grid_axes(task, table, grid_axes)
    features = grid_features()
    functions = heatmaps.available_features()
    early = sweep_data.early_spectrum_epoch(task, early_epoch)
    last = sweep_data.final_spectrum_epoch(task)
    stages = [("early", early), ("last with a spectrum", last)]
    same = np.array_equal(np.nan_to_num(early.values, nan=-1.0), np.nan_to_num(last.values, nan=-1.0))
    if same:
        stages = [("early = last with a spectrum", last)]
    values, labels = {}, {"val_loss": style.VAL_LOSS_LABEL}
    labels.update({name: style.in_units(functions[name][1], task) for name in features})
    for stage, epochs in stages:
        values[f"{stage}|val_loss"] = sweep_data.at_epochs(task["val_loss"], epochs).values
        for name, column in heatmaps.spectrum_values(task, epochs, features).items():
            values[f"{stage}|{name}"] = column
    frame, axes = heatmaps.grid_frame(table, axes, values)
    facets = heatmaps.facet_values(frame)
    rows = [(stage, epochs, facet) for stage, epochs in stages for facet in facets]
    matrices = {(stage, quantity, facet): heatmaps.cell_means(frame, f"{stage}|{quantity}", facet)
                for stage, _, facet in rows for quantity in labels}
    width, height = heatmaps.panel_size(matrices.values())
    with style.figure_style():
        figure = style.new_figure(width * len(labels) + 0.6, height * len(rows) + 1.6)
        grid = figure.subplots(len(rows), len(labels), squeeze=False)
        drawn = []
        for column, (quantity, label) in enumerate(labels.items()):
            columns = [frame[f"{stage}|{quantity}"] for stage, _ in stages]
            norm = heatmaps.colour_norm(np.concatenate(columns), loss=quantity == "val_loss")
            for row, (stage, epochs, facet) in enumerate(rows):
                ax = grid[row, column]
                drawn.append(heatmaps.draw_heatmap(ax, matrices[stage, quantity, facet], norm=norm,
                                                   integer=quantity.startswith("n_")))
                if row == 0:
                    ax.set_title(style.wrap_to_width(heatmaps.quantity_title(label), width, 10.0), fontsize="medium")
                ax.set_xlabel(heatmaps.axis_name(axes.x) if row == len(rows) - 1 else "")
                if column == 0:
                    where = f"{_epoch_text(epochs.values)} ({stage})"
                    if axes.facet is not None:
                        where += f", {heatmaps.axis_name(axes.facet)} {facet}"
                    where = style.wrap_to_width(where, 0.8 * height, 9.0)
                    ax.set_ylabel(f"{where}\n{heatmaps.axis_name(axes.y)}" if axes.y else where)
            heatmaps.colourbar(figure, grid[:, column], norm, label, location="bottom")
        heatmaps.share_x_tick_labels(grid, [[matrices[stage, quantity, facet] for quantity in labels]
                                            for stage, _, facet in rows])
        style.figure_title(figure, f"Validation loss and spectrum features over {heatmaps.axis_name(axes.x)} x "
                                   f"{heatmaps.axis_name(axes.y)} on {sweep_data.task_name(task)}, "
                                   f"early (first spectrum at or after epoch {early_epoch}) and last")
        note = heatmaps.averaging_note(table, axes, frame)
        if same:
            note = (note + " " if note else "") + "The early and the last spectrum are the same epoch."
        if note:
            style.figure_note(figure, note)
        heatmaps.label_cells(figure, drawn, heatmaps.axes_size((width, height)))
    return figure
