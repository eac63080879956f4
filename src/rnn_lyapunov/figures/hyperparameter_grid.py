"""Figure 4: final validation loss and spectrum features over init scale x learning rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
import xarray as xr
from matplotlib.figure import Figure

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures import style
from rnn_lyapunov.analysis.features import FEATURES, feature_table
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")
CAPTION = """
**Hyperparameter sweep.** Heatmaps over initialisation scale (rows of each panel) x learning rate
(columns), one row of panels per architecture. First column: final validation loss. Other columns:
features of the spectrum at each run's final recorded epoch: the largest exponent (nats per step), the
mean of the top 10% of exponents (nats per step), the number of positive exponents, and the
Kaplan-Yorke dimension. Cells with several runs (seeds) show their mean; each column of panels shares
one colour scale.
"""
ROW_KEY, COLUMN_KEY = "init_scale", "learning_rate"


def _grid_keys(values: pd.Series) -> pd.Categorical:
    """Hyperparameter values as ordered labels ("0.2", "1"); missing (e.g. init 'default') as "none"."""
    numeric = pd.to_numeric(values, errors="coerce")
    labels = [f"{value:g}" for value in sorted(set(numeric.dropna()))]
    if numeric.isna().any():
        labels.append("none")
    named = ["none" if pd.isna(value) else f"{value:g}" for value in numeric]
    return pd.Categorical(named, categories=labels, ordered=True)


@register_figure("hyperparameter_grid", needs="sweep", variables=REQUIRED, caption=CAPTION)
def hyperparameter_grid(sweep: xr.Dataset, *, dataset: str | None = None) -> Figure:
    """Heatmaps, one row per architecture, over init scale (rows) x learning rate (columns).

    Columns of panels: final validation loss, then each spectrum feature (largest exponent, mean
    of the top 10% of exponents, number of positive exponents, Kaplan-Yorke dimension) of the
    spectrum at each run's final recorded epoch. Cells holding several runs (other seeds or
    hyperparameters) show their mean. Each column of panels shares one colour scale.
    """
    missing = [key for key in (ROW_KEY, COLUMN_KEY) if key not in sweep.coords]
    if missing:
        sweep_data.require_variables(sweep, missing, "hyperparameter_grid")
    task = sweep_data.select_task(sweep, dataset)
    table = feature_table(task, sweep_data.final_spectrum_epoch(task))
    table[ROW_KEY], table[COLUMN_KEY] = _grid_keys(table[ROW_KEY]), _grid_keys(table[COLUMN_KEY])
    quantities = {"final_val_loss": style.VAL_LOSS_LABEL}
    quantities.update({name: label for name, (_, label) in FEATURES.items()})
    architectures = sweep_data.architecture_names(task)
    with style.figure_style():
        figure = style.new_figure(2.6 * len(quantities), 2.3 * len(architectures) + 0.8)
        axes = figure.subplots(len(architectures), len(quantities), squeeze=False)
        for column, (quantity, label) in enumerate(quantities.items()):
            finite = table[quantity][np.isfinite(table[quantity])]
            limits = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
            if limits[0] == limits[1]:  # a constant column: give the colour scale some width
                limits = (limits[0] - 0.5, limits[1] + 0.5)
            for row, architecture in enumerate(architectures):
                ax = axes[row, column]
                grid = table[table["architecture"] == architecture].pivot_table(
                    index=ROW_KEY, columns=COLUMN_KEY, values=quantity, aggfunc="mean", dropna=False,
                    observed=False)
                last_row = row == len(architectures) - 1
                norm = style.loss_norm(finite) if quantity == "final_val_loss" else None
                sns.heatmap(
                    grid, ax=ax, cmap=style.SEQUENTIAL_CMAP, norm=norm,
                    vmin=None if norm else limits[0], vmax=None if norm else limits[1],
                    annot=True, fmt=".3g", annot_kws={"fontsize": "small"}, square=False,
                    cbar=last_row,
                    cbar_kws={"orientation": "horizontal", "label": label.replace(" (", "\n("), "pad": 0.2} if last_row else None,
                )
                ax.invert_yaxis()  # small init scales at the bottom, like a plot axis
                ax.set_xlabel("learning rate" if last_row else "")
                ax.set_ylabel(f"{architecture}\ninit scale" if column == 0 else "")
                if row == 0:
                    ax.set_title(label.split(" (")[0], fontsize="medium")
        figure.suptitle(f"Hyperparameter sweep on {sweep_data.task_name(task)}: "
                        "final validation loss and spectrum at the final epoch")
    return figure
