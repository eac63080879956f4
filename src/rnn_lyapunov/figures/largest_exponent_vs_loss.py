"""Experiment C of Vogt et al. (2022): the largest exponent of trained networks against their final loss."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.analysis.features import largest_exponent
from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")
SIZE_RANGE = (10.0, 90.0)  # marker areas (points^2) for the smallest and largest init scale
CAPTION = """
**Largest exponent against final validation loss (experiment C).** One point per run: the largest
Lyapunov exponent lambda_1 at the run's last epoch with a spectrum (in the sweep's units, nats or
bits per time step) against its final validation loss. One series per architecture (marker) and
hidden size (colour, dark = small). When the init scale p varies (sampled uniformly in
``config/paper/initialisation.yaml``), the marker area grows with p, and two more panels show
lambda_1 and the final loss against p. Drawn when ``figures.extra`` lists ``largest_exponent_vs_loss``.
"""


def _values(task: xr.Dataset, key: str, default):
    return task[key].values if key in task.coords else np.full(task.sizes["run"], default, dtype=object)


def _size_text(value) -> str:
    return f"N = {float(value):g}"


def _number(value) -> float:
    """``value`` as a float; NaN for a missing or non-numeric one (e.g. padding "")."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


@register_figure("largest_exponent_vs_loss", needs="sweep", variables=REQUIRED, caption=CAPTION, default=False)
def largest_exponent_vs_loss(sweep: xr.Dataset, *, dataset: str | None = None) -> Figure:
    """lambda_1 at each run's last spectrum epoch vs its final validation loss, one series per
    (architecture, hidden size); with a varying init scale p, marker area by p and panels against p."""
    task = sweep_data.select_task(sweep, dataset)
    epochs = sweep_data.final_spectrum_epoch(task)
    spectra = sweep_data.at_epochs(task["lyapunov_exponents"], epochs).values
    largest = np.array([largest_exponent(row) for row in spectra])
    loss = sweep_data.final_validation_loss(task).values
    architectures = np.array([str(value) for value in _values(task, "architecture", "all runs")])
    sizes = _values(task, "hidden_size", None)
    scales = task["init_scale"].values.astype(float) if "init_scale" in task.coords else np.full(len(loss), np.nan)
    scale_varies = np.unique(scales[np.isfinite(scales)]).size > 1
    size_levels = sorted({value for value in sizes if np.isfinite(_number(value))}, key=_number)
    size_colours = dict(zip(size_levels, style.sequential_colours(len(size_levels))))
    looks = style.architecture_styles(architectures)
    if scale_varies:
        low, high = np.nanmin(scales), np.nanmax(scales)
        areas = SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * (scales - low) / (high - low)
        areas = np.where(np.isfinite(areas), areas, SIZE_RANGE[0])
    else:
        areas = np.full(len(loss), 30.0)
    finite_epochs = np.unique(epochs.values[np.isfinite(epochs.values)]).astype(int)
    at = f"epoch {finite_epochs[0]}" if finite_epochs.size == 1 else "the last epoch with a spectrum"
    exponent_label = style.largest_label(task)
    loss_label = "final " + style.VAL_LOSS_LABEL
    with style.figure_style():
        n_panels = 3 if scale_varies else 1
        figure = style.new_figure(4.6 + 3.6 * (n_panels - 1), 3.8)
        axes = figure.subplots(1, n_panels, squeeze=False)[0]
        panels = [(axes[0], loss, largest, loss_label, exponent_label, areas)]
        if scale_varies:
            panels += [(axes[1], scales, largest, "init scale $p$", exponent_label, np.full(len(loss), 22.0)),
                       (axes[2], scales, loss, "init scale $p$", loss_label, np.full(len(loss), 22.0))]
        series = []
        for architecture in looks:
            for size in size_levels or [None]:
                members = (architectures == architecture) & np.array(
                    [size is None or value == size for value in sizes])
                if members.any():
                    series.append((architecture, size, members))
        for ax, x, y, x_label, y_label, marker_areas in panels:
            for architecture, size, members in series:
                colour = size_colours.get(size, looks[architecture]["color"]) if size is not None \
                    else looks[architecture]["color"]
                keep = members & np.isfinite(x) & np.isfinite(y)
                ax.scatter(x[keep], y[keep], s=marker_areas[keep], color=colour, marker=looks[architecture]["marker"],
                           edgecolor="0.1", linewidth=0.4, alpha=0.85)
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            if x is loss and style.spans_decades(loss):
                ax.set_xscale("log")
            if y is loss and style.spans_decades(loss):
                ax.set_yscale("log")
            if y is largest:
                style.zero_line(ax)
        handles = [Line2D([], [], linestyle="", marker=looks[architecture]["marker"], markeredgecolor="0.1",
                          markeredgewidth=0.4, markersize=6,
                          color=size_colours.get(size, looks[architecture]["color"]) if size is not None
                          else looks[architecture]["color"],
                          label=f"{architecture}, {_size_text(size)}" if size is not None else architecture)
                   for architecture, size, _ in series]
        if scale_varies:
            for value in (low, (low + high) / 2, high):
                area = SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * (value - low) / (high - low)
                handles.append(Line2D([], [], linestyle="", marker="o", color="0.75", markeredgecolor="0.1",
                                      markeredgewidth=0.4, markersize=np.sqrt(area), label=f"$p$ = {value:.3g}"))
        figure.legend(handles=handles, fontsize="small", loc="outside right upper")
        used = int((np.isfinite(loss) & np.isfinite(largest)).sum())
        style.figure_title(figure, f"Largest exponent at {at} vs final validation loss on "
                                   f"{sweep_data.task_name(task)} ({used} of {len(loss)} runs)")
    return figure
