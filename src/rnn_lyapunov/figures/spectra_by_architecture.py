"""Figure 1: the full Lyapunov spectrum of trained RNN, LSTM and GRU networks on the same task."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")  # lyapunov_stderr is derived or drawn without
CAPTION = """
**Lyapunov spectra of trained RNN, LSTM and GRU networks on the same task.** For each architecture,
the run with the lowest final validation loss; its spectrum at the final recorded epoch, plotted
against the normalised index i/N (N = state size, so the LSTM's 2 x hidden_size exponents span the same
axis). Lines: mean over trajectories (input sequences); bands: +/- 1 standard error across
trajectories (none when the sweep holds neither standard errors nor per-trajectory spectra). Exponents
in the sweep's units (nats or bits per time step, ``spectrum.units``); dashed line: zero, the boundary
between expanding and contracting directions. Compare Vogt et al. (2022), spectra of trained networks.
"""


@register_figure("spectra_by_architecture", needs="sweep", variables=REQUIRED, caption=CAPTION)
def spectra_by_architecture(sweep: xr.Dataset, *, dataset: str | None = None) -> Figure:
    """Exponent vs normalised index ``i/N`` at the final epoch, one line per architecture.

    Per architecture the run with the lowest final validation loss on the task is shown (the
    mean over trajectories, with a band of +/- 1 standard error across trajectories when the sweep
    has standard errors). ``N`` is the state size, so the LSTM's ``2 * hidden_size`` exponents span
    the same axis as the GRU's.

    sweep: the sweep dataset (docs/design.md); dataset: the task to show (default: the first).
    """
    task = sweep_data.select_task(sweep, dataset)
    runs = sweep_data.representative_runs(task)
    final_epochs = sweep_data.final_spectrum_epoch(task)
    styles = style.architecture_styles(runs)
    has_stderr = "lyapunov_stderr" in task.data_vars
    with style.figure_style():
        figure = style.new_figure(4.2, 3.2)
        ax = figure.add_subplot()
        for architecture, run_index in runs.items():
            epoch = final_epochs.values[run_index]
            if not np.isfinite(epoch):
                continue
            run = task.isel(run=run_index).sel(epoch=int(epoch))
            mean = run["lyapunov_exponents"].values
            finite = np.isfinite(mean)
            mean = mean[finite]
            index = sweep_data.normalised_index(run, mean.size)
            look = styles[architecture]
            if has_stderr:
                stderr = np.nan_to_num(run["lyapunov_stderr"].values[finite], nan=0.0)  # one trajectory: no bar
                ax.fill_between(index, mean - stderr, mean + stderr, color=look["color"], alpha=0.3, linewidth=0)
            ax.plot(index, mean, color=look["color"], linestyle=look["linestyle"],
                    marker=look["marker"], markersize=3, markevery=max(1, mean.size // 12),
                    label=f"{sweep_data.run_label(run)} (epoch {int(epoch)})")
        style.zero_line(ax)
        ax.set_xlabel(style.NORMALISED_INDEX_LABEL)
        ax.set_ylabel(style.exponent_label(task))
        ax.set_xlim(0.0, 1.0)
        spread = "mean $\\pm$ 1 s.e." if has_stderr else "mean (no s.e.)"
        ax.set_title(f"Trained networks on {sweep_data.task_name(task)}: {spread}")
        ax.legend(loc="lower left", fontsize="small")
    return figure
