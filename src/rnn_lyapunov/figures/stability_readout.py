"""Figure 5: does the spectrum early in training predict the final validation loss?"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from scipy.stats import spearmanr

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures import style
from rnn_lyapunov.analysis.features import FEATURES, feature_table
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")
CAPTION = """
**Does the early spectrum predict the final loss?** a-d: each spectrum feature at an early epoch (the
first recorded epoch at or after ``figures.early_epoch`` in the config, 0 = initialisation) against the
final validation loss, one point per run; Spearman's rank correlation rho, its p-value and the number of
runs are printed in each panel (also in ``stability_readout.csv``). e (grey background): the baseline,
the validation loss at that same epoch, which a user sees without any spectrum. f: the first two
principal components of the early spectra (each interpolated onto a common grid of i/N) coloured by
final validation loss; g: their loadings along i/N. h: every rho with its 95% interval (Fisher z with
the Bonett-Wright standard error), baseline in grey. These are in-sample correlations of single
variables; ``readout_comparison`` scores predictors on held-out runs.
"""
TABLE_CAPTION = """
**Spearman rank correlations of stability_readout.** One row per spectrum feature at the early epoch
(``figures.early_epoch`` in the config) and one for the baseline ``early_val_loss`` (family
``baseline``): ``spearman_rho`` between it and the final validation loss, its 95% interval
``ci_low``-``ci_high`` (Fisher z, Bonett-Wright standard error), ``p_value`` and ``n_runs``, the runs
with both values finite (NaN where a variable is constant).
"""
PCA_GRID_POINTS = 20
BASELINE = "early_val_loss"
BASELINE_LABEL = "validation loss at the early epoch (nats)"


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, int]:
    """(rho, p-value, 95% interval low, high, n) of the finite pairs; NaN when undefined.

    The interval is Fisher's z-transform with the Bonett & Wright (2000) standard error
    ``sqrt((1 + rho^2 / 2) / (n - 3))``, which keeps Spearman's rho close to nominal coverage.
    """
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    # A constant column has no rank correlation; scipy would warn and return NaN.
    if x.size < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, math.nan, math.nan, int(x.size)
    result = spearmanr(x, y)
    rho = float(result.statistic)
    half_width = 1.959964 * math.sqrt((1 + rho**2 / 2) / (x.size - 3))
    centre = math.atanh(min(max(rho, -0.999999), 0.999999))
    return rho, float(result.pvalue), math.tanh(centre - half_width), math.tanh(centre + half_width), int(x.size)


def early_feature_table(sweep: xr.Dataset, early_epoch: int = 0, dataset: str | None = None) -> pd.DataFrame:
    """Per run: features of the spectrum at the first recorded epoch ``>= early_epoch``, final loss,
    and the validation loss at that same epoch (column ``early_val_loss``)."""
    task = sweep_data.select_task(sweep, dataset)
    epochs = sweep_data.early_spectrum_epoch(task, early_epoch)
    table = feature_table(task, epochs)
    table[BASELINE] = sweep_data.at_epochs(task["val_loss"], epochs).values
    return table


def stability_correlations(sweep: xr.Dataset, *, early_epoch: int = 0,
                           dataset: str | None = None) -> pd.DataFrame:
    """Spearman rank correlation of each early-epoch feature, and of the early validation loss (the
    baseline), with the final validation loss.

    One row per feature, then one for ``early_val_loss``, with columns ``feature``, ``family``
    (``spectrum_feature`` or ``baseline``), ``label``, ``early_epoch``, ``spearman_rho``, ``ci_low``,
    ``ci_high`` (95%, see :func:`_spearman`), ``p_value`` and ``n_runs`` (runs with both values
    finite). NaN where a variable is constant. In-sample: :func:`evaluate_readout` scores held out.
    """
    sweep_data.require_variables(sweep, REQUIRED, "stability_readout")
    return _correlations(early_feature_table(sweep, early_epoch, dataset), sweep, early_epoch)


def _correlations(table: pd.DataFrame, sweep: xr.Dataset, early_epoch: int) -> pd.DataFrame:
    """:func:`stability_correlations` of an :func:`early_feature_table` already at hand."""
    final = table["final_val_loss"].to_numpy(float)
    rows = []
    for name, family, label in [(name, "spectrum_feature", style.in_units(label, sweep))
                                for name, (_, label) in FEATURES.items()] + [(BASELINE, "baseline", BASELINE_LABEL)]:
        rho, p_value, low, high, n_runs = _spearman(table[name].to_numpy(float), final)
        rows.append({"feature": name, "family": family, "label": label, "early_epoch": early_epoch,
                     "spearman_rho": rho, "ci_low": low, "ci_high": high, "p_value": p_value, "n_runs": n_runs})
    return pd.DataFrame(rows)


def spectra_on_common_grid(sweep: xr.Dataset, epochs: xr.DataArray,
                           n_points: int = PCA_GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Each run's spectrum at its epoch, linearly interpolated onto a shared grid of ``i/N``.

    Runs differ in state size (and so in number of exponents), so the spectra are compared as
    functions of the normalised index. Returns (grid (n_points,), spectra (run, n_points)),
    in the sweep's exponent units; a run without a spectrum gives a row of NaN.
    """
    spectra = sweep_data.at_epochs(sweep["lyapunov_exponents"], epochs)
    positions = []
    for run_index in range(sweep.sizes["run"]):
        exponents = sweep_data.finite_exponents(spectra.values[run_index])
        index = sweep_data.normalised_index(sweep.isel(run=run_index), exponents.size)
        positions.append((index, exponents))
    covered = [(index[0], index[-1]) for index, exponents in positions if exponents.size]
    if not covered:
        return np.linspace(0, 1, n_points), np.full((len(positions), n_points), np.nan)
    grid = np.linspace(max(low for low, _ in covered), min(high for _, high in covered), n_points)
    rows = [np.interp(grid, index, exponents) if exponents.size else np.full(n_points, np.nan)
            for index, exponents in positions]
    return grid, np.asarray(rows)


def principal_components(data: np.ndarray, n_components: int = 2):
    """PCA by SVD of the centred rows of ``data`` (sample, feature).

    Returns (scores (sample, n_components), components (n_components, feature), explained
    variance ratio (n_components,)). Component signs are fixed so each has a positive sum.
    """
    centred = data - data.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:n_components]
    signs = np.where(components.sum(axis=1) < 0, -1.0, 1.0)
    components = components * signs[:, None]
    variance = singular**2
    ratio = variance[:n_components] / variance.sum() if variance.sum() > 0 else np.zeros(n_components)
    return centred @ components.T, components, ratio


@register_figure("stability_readout", needs="sweep", variables=REQUIRED, caption=CAPTION,
                 options=("early_epoch",), table=stability_correlations, table_caption=TABLE_CAPTION)
def stability_readout(sweep: xr.Dataset, *, early_epoch: int = 0, dataset: str | None = None) -> Figure:
    """Early-epoch spectrum features vs final validation loss, one point per run.

    Panels a-d: each feature (largest exponent, top-10% mean, number of positive exponents,
    Kaplan-Yorke dimension) of the spectrum at the first recorded epoch ``>= early_epoch`` against
    the final validation loss, with Spearman's rho; e: the baseline, the validation loss at that
    epoch; f: the first two principal components of the early spectra (on a common ``i/N`` grid)
    coloured by final loss; g: the PCA loadings; h: every rho with its 95% interval.
    """
    task = sweep_data.select_task(sweep, dataset)
    epochs = sweep_data.early_spectrum_epoch(task, early_epoch)
    table = early_feature_table(sweep, early_epoch, dataset)
    correlations = _correlations(table, sweep, early_epoch)
    styles = style.architecture_styles(table["architecture"])
    loss = table["final_val_loss"].to_numpy(float)
    with style.figure_style():
        figure = style.new_figure(14.5, 6.6)
        axes = figure.subplots(2, 4).ravel()
        panels = [(name, style.in_units(label, task)) for name, (_, label) in FEATURES.items()]
        panels.append((BASELINE, BASELINE_LABEL))
        for ax, (name, label), letter in zip(axes, panels, "abcde"):
            for architecture, look in styles.items():
                rows = table["architecture"] == architecture
                ax.scatter(table.loc[rows, name], table.loc[rows, "final_val_loss"], color=look["color"],
                           marker=look["marker"], edgecolor="0.1", linewidth=0.4, s=28, label=architecture)
            row = correlations.set_index("feature").loc[name]
            if np.isfinite(row.spearman_rho):
                summary = f"Spearman $\\rho$ = {row.spearman_rho:.2f}\np = {row.p_value:.2g}, n = {row.n_runs}"
            else:
                summary = f"constant or too few runs:\nno rank correlation (n = {row.n_runs})"
            ax.text(0.97, 0.97, summary, transform=ax.transAxes, va="top", ha="right", fontsize="small",
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.7", "boxstyle": "round"})
            ax.set_xlabel(label)
            ax.set_ylabel("final " + style.VAL_LOSS_LABEL)
            if style.spans_decades(loss):
                ax.set_yscale("log")
            style.panel_label(ax, letter)
        axes[4].set_facecolor("0.93")
        if style.spans_decades(table[BASELINE]):
            axes[4].set_xscale("log")
        axes[0].legend(fontsize="small", loc="best")
        _plot_pca(figure, axes[5], axes[6], task, epochs, loss, styles, table)
        _plot_rho_summary(axes[7], correlations)
        figure.suptitle(f"Spectrum features at the first recorded epoch >= {early_epoch} vs final validation loss "
                        f"on {sweep_data.task_name(task)} ({len(table)} runs)")
    return figure


def _plot_pca(figure, scores_ax, loadings_ax, task, epochs, loss, styles, table):
    grid, spectra = spectra_on_common_grid(task, epochs)
    usable = np.isfinite(spectra).all(axis=1) & np.isfinite(loss)
    style.panel_label(scores_ax, "f")
    style.panel_label(loadings_ax, "g")
    if usable.sum() < 3:
        scores_ax.text(0.5, 0.5, "fewer than 3 runs: no PCA", transform=scores_ax.transAxes, ha="center")
        return
    scores, components, ratio = principal_components(spectra[usable])
    norm = style.loss_norm(loss[usable])
    cmap = matplotlib.colormaps[style.SEQUENTIAL_CMAP]
    architectures = table["architecture"].to_numpy()[usable]
    second = scores[:, 1] if scores.shape[1] > 1 else np.zeros(len(scores))
    for architecture, look in styles.items():
        rows = architectures == architecture
        scores_ax.scatter(scores[rows, 0], second[rows], c=cmap(norm(loss[usable][rows])),
                          marker=look["marker"], edgecolor="0.1", linewidth=0.4, s=28)
        # Grey legend entries: the colour here encodes the loss, not the architecture.
        scores_ax.scatter([], [], color="0.6", marker=look["marker"], edgecolor="0.1", linewidth=0.4,
                          s=28, label=architecture)
    colourbar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=scores_ax)
    colourbar.set_label("final " + style.VAL_LOSS_LABEL)
    units = sweep_data.per_step_units(task)
    scores_ax.set_xlabel(f"PC 1 ({100 * ratio[0]:.0f}% of variance; {units})")
    scores_ax.set_ylabel(f"PC 2 ({100 * ratio[-1]:.0f}% of variance; {units})")
    scores_ax.legend(fontsize="small", loc="best")
    for number, (component, look) in enumerate(zip(components, ("-", "--")), start=1):
        loadings_ax.plot(grid, component, color="0.2" if number == 1 else "0.55", linestyle=look,
                         label=f"PC {number}")
    style.zero_line(loadings_ax)
    loadings_ax.set_xlabel(style.NORMALISED_INDEX_LABEL)
    loadings_ax.set_ylabel("loading (unit vector, dimensionless)")
    loadings_ax.legend(fontsize="small")


def _plot_rho_summary(ax, correlations: pd.DataFrame) -> None:
    """Every variable's rho with its 95% interval; the baseline in grey, the spectrum in blue."""
    positions = np.arange(len(correlations))
    for position, row in zip(positions, correlations.itertuples()):
        colour = "0.45" if row.family == "baseline" else "#1f5fa8"
        if row.family == "baseline":
            ax.axhspan(position - 0.5, position + 0.5, color="0.92", zorder=0)
        if np.isfinite(row.spearman_rho):
            ax.errorbar(row.spearman_rho, position, xerr=[[row.spearman_rho - row.ci_low], [row.ci_high - row.spearman_rho]],
                        fmt="s" if row.family == "baseline" else "o", color=colour, capsize=2, markersize=5)
        else:
            ax.text(0, position, "n/a", va="center", ha="center", fontsize="x-small", color="0.4")
    style.zero_line(ax, "vertical")
    ax.set_yticks(positions, [row.feature for row in correlations.itertuples()], fontsize="small")
    ax.set_ylim(len(positions) - 0.5, -0.5)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Spearman rho, 95% interval")
    ax.set_ylabel("variable at the early epoch")
    style.panel_label(ax, "h")
