"""Figure 2: how the spectrum, lambda_1 and the Kaplan-Yorke dimension move during training."""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures import style
from rnn_lyapunov.analysis.features import largest_exponent
from rnn_lyapunov.figures.registry import register_figure

# kaplan_yorke_dimension is derived from lyapunov_exponents when a sweep lacks it.
REQUIRED = ("lyapunov_exponents", "kaplan_yorke_dimension", "val_loss")
CAPTION = """
**The spectrum during training.** One row per architecture (its best run on the task). Left: the
spectrum (in the sweep's units, nats or bits per time step, vs normalised index i/N) at every
recorded epoch, coloured by epoch (0 = initialisation). Middle: the largest exponent lambda_1 vs
epoch. Right: the Kaplan-Yorke dimension vs epoch. Dotted grey line, right axis: validation loss.
"""


def _twin_validation_loss(ax, epochs, losses):
    twin = ax.twinx()
    finite = np.isfinite(losses)
    twin.plot(epochs[finite], losses[finite], color="0.55", linestyle=":", marker="x", markersize=3,
              label="validation loss")
    if style.spans_decades(losses):
        twin.set_yscale("log")
    twin.set_ylabel(style.VAL_LOSS_LABEL, color="0.35")
    twin.spines["right"].set_visible(True)
    return twin


@register_figure("spectrum_during_training", needs="sweep", variables=REQUIRED, caption=CAPTION)
def spectrum_during_training(sweep: xr.Dataset, *, dataset: str | None = None) -> Figure:
    """One row per architecture (its best run on the task):

    left, the spectrum (exponent vs ``i/N``) at every recorded epoch, coloured by epoch;
    middle, lambda_1 vs epoch; right, the Kaplan-Yorke dimension vs epoch; the validation loss is
    on a twin axis in both. Exponents in the sweep's units (nats or bits per step).
    """
    task = sweep_data.select_task(sweep, dataset)
    runs = sweep_data.representative_runs(task)
    recorded = sweep_data.recorded_epoch_mask(task)
    epoch_labels = task["epoch"].values
    norm = Normalize(vmin=float(epoch_labels.min()), vmax=float(max(epoch_labels.max(), 1)))
    cmap = matplotlib.colormaps[style.SEQUENTIAL_CMAP]
    styles = style.architecture_styles(runs)
    with style.figure_style():
        figure = style.new_figure(11.0, 2.6 * len(runs))
        axes = figure.subplots(len(runs), 3, squeeze=False)
        for row, (architecture, run_index) in enumerate(runs.items()):
            run = task.isel(run=run_index)
            epochs = epoch_labels[recorded.values[run_index]]
            spectrum_ax, largest_ax, ky_ax = axes[row]
            largest = []
            for epoch in epochs:
                exponents = sweep_data.finite_exponents(run["lyapunov_exponents"].sel(epoch=epoch).values)
                largest.append(largest_exponent(exponents))
                spectrum_ax.plot(sweep_data.normalised_index(run, exponents.size), exponents,
                                 color=cmap(norm(epoch)), linewidth=1.2)
            style.zero_line(spectrum_ax)
            spectrum_ax.set_xlim(0.0, 1.0)
            spectrum_ax.set_xlabel(style.NORMALISED_INDEX_LABEL)
            spectrum_ax.set_ylabel(style.exponent_label(task))
            spectrum_ax.set_title(sweep_data.run_label(run), loc="left", fontsize="medium")
            look = styles[architecture]
            ky = run["kaplan_yorke_dimension"].sel(epoch=epochs).values
            for ax, values, label in ((largest_ax, np.asarray(largest), style.largest_label(task)),
                                      (ky_ax, ky, style.KY_LABEL)):
                ax.plot(epochs, values, color=look["color"], linestyle=look["linestyle"],
                        marker=look["marker"], markersize=4)
                ax.set_xlabel(style.EPOCH_LABEL)
                ax.set_ylabel(label)
                _twin_validation_loss(ax, epoch_labels, run["val_loss"].values)
            style.zero_line(largest_ax)
        colourbar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes.ravel().tolist(),
                                    location="right", pad=0.01, shrink=0.5, aspect=30)
        colourbar.set_label("epoch of the spectra, left column (0 = initialisation)")
        colourbar.set_ticks(epoch_labels if len(epoch_labels) <= 12 else colourbar.get_ticks())
        figure.suptitle(f"Spectra during training on {sweep_data.task_name(task)} "
                        "(dotted grey: validation loss, right axis)")
    return figure
