"""Held-out readout: does the early spectrum predict the final loss better than the obvious baselines?"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.analysis.readout import ReadoutWarning, evaluate_readout
from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("lyapunov_exponents", "val_loss")
CAPTION = """
**Held-out readout of training stability against baselines.** Each row is a predictor fitted
across runs on the early epoch (the first recorded epoch at or after ``figures.early_epoch``) and
scored on runs it never saw (repeated 5-fold cross-validation over runs, ``evaluate_readout``):
a, Spearman's rho between the predicted and the final validation loss; b, R^2 of the prediction
(log10 of the loss when losses span a decade); c, ROC AUC for failure (final loss above
``figures.failure_threshold`` or diverged). Grey squares are the baselines (the swept
hyperparameters, the early losses), blue circles single spectrum features, dark diamonds the
whole spectrum, purple triangles a baseline plus the spectrum features. d, what the spectrum adds
to each baseline: the paired difference (baseline + spectrum minus baseline) of rho and AUC.
Bars are 95% intervals of the expected held-out skill from a bootstrap over runs that refits the
models in every resample (their coverage: docs/readout.md); the p-values of d (in the CSV) come from
refitting with the spectrum features permuted across runs. The numbers are in ``readout_comparison.csv``.
"""
TABLE_CAPTION = """
**Held-out readout table.** One row per (predictor, metric) from ``evaluate_readout``: ``value``
and its 95% bootstrap interval ``ci_low``-``ci_high``, ``n_runs`` scored, ``n_failures``,
``n_excluded`` (diverged runs left out of rho and R^2), ``p_value`` (permutation test) and
``fraction_folds_positive`` for the comparisons; ``note`` says why a row is NaN.
"""
# How each family of predictors is drawn: baselines must stand apart from the spectrum.
FAMILY_LOOKS = {
    "baseline": {"color": "0.45", "marker": "s", "label": "baseline"},
    "spectrum_feature": {"color": "#1f5fa8", "marker": "o", "label": "spectrum feature"},
    "spectrum": {"color": "#0b2545", "marker": "D", "label": "whole spectrum"},
    "combination": {"color": "#7b3294", "marker": "^", "label": "baseline + spectrum"},
}
FAMILY_ORDER = tuple(FAMILY_LOOKS)
METRIC_PANELS = (("spearman_rho", "Spearman rho (held out)", 0.0),
                 ("r2", "R^2 (held out)", 0.0),
                 ("roc_auc", "ROC AUC for failure (held out)", 0.5))
COMPARED_METRICS = {"spearman_rho": ("o", "rho"), "roc_auc": ("^", "AUC")}
# Cross-validation repeats, refitted bootstrap resamples and permutations of the workflow's table
# (evaluate_readout's defaults; benchmarks/bench_readout_coverage.py --time-step times them).
REPEATS = 10
N_BOOTSTRAP = 120
N_PERMUTATIONS = 99


def readout_table(sweep: xr.Dataset, *, early_epoch: int = 0, failure_threshold: float | None = None,
                  dataset: str | None = None, repeats: int | None = None, n_bootstrap: int | None = None,
                  n_permutations: int | None = None, seed: int = 0, readout_resample: str = "runs") -> pd.DataFrame:
    """:func:`~rnn_lyapunov.analysis.readout.evaluate_readout` of the sweep, NaN rows kept.

    A :class:`ReadoutWarning` (too few runs or failures, a constant predictor) is left to the
    caller: the NaN rows and their ``note`` say the same in the table. ``repeats``, ``n_bootstrap``
    and ``n_permutations`` default to :data:`REPEATS`, :data:`N_BOOTSTRAP` and :data:`N_PERMUTATIONS`;
    ``readout_resample`` is evaluate_readout's ``resample`` ("runs" or "cells").
    """
    sweep_data.require_variables(sweep, REQUIRED, "readout_comparison")
    return evaluate_readout(sweep, early_epoch=early_epoch, failure_threshold=failure_threshold, dataset=dataset,
                            repeats=REPEATS if repeats is None else repeats,
                            n_bootstrap=N_BOOTSTRAP if n_bootstrap is None else n_bootstrap,
                            n_permutations=N_PERMUTATIONS if n_permutations is None else n_permutations, seed=seed,
                            resample=readout_resample)


def _predictor_order(table: pd.DataFrame) -> list[str]:
    """Predictors top to bottom: baselines first, then features, whole spectrum, combinations."""
    scored = table[table["family"] != "comparison"].drop_duplicates("predictor")
    rank = {family: index for index, family in enumerate(FAMILY_ORDER)}
    return list(scored.sort_values("family", key=lambda families: families.map(rank), kind="stable")["predictor"])


def _interval_bars(ax, values: pd.DataFrame, positions: np.ndarray, look: dict, offset: float = 0.0) -> None:
    low = (values["value"] - values["ci_low"]).clip(lower=0)
    high = (values["ci_high"] - values["value"]).clip(lower=0)
    ax.errorbar(values["value"], positions + offset, xerr=np.vstack([low.fillna(0), high.fillna(0)]),
                fmt=look["marker"], color=look["color"], markersize=5, capsize=2, linewidth=1.0)


def _metric_panel(ax, table: pd.DataFrame, metric: str, label: str, reference: float,
                  order: list[str], letter: str) -> None:
    rows = table[(table["metric"] == metric) & (table["family"] != "comparison")].set_index("predictor")
    positions = {name: index for index, name in enumerate(order)}
    for family, look in FAMILY_LOOKS.items():
        chosen = rows[rows["family"] == family]
        if len(chosen):
            _interval_bars(ax, chosen, np.array([positions[name] for name in chosen.index], float), look)
    baselines = [positions[name] for name in rows.index[rows["family"] == "baseline"]]
    for position in baselines:
        ax.axhspan(position - 0.5, position + 0.5, color="0.92", zorder=0)
    missing = [positions[name] for name in rows.index[rows["value"].isna()]]
    for position in missing:
        ax.text(reference, position, "n/a", va="center", ha="center", fontsize="x-small", color="0.4")
    ax.axvline(reference, color="0.4", linestyle="--", linewidth=0.8, zorder=0)
    ax.set_xlabel(label)
    ax.set_yticks(range(len(order)), order if letter == "a" else [""] * len(order))
    ax.set_ylabel("predictor" if letter == "a" else "same rows as a")
    ax.set_ylim(len(order) - 0.5, -0.5)
    style.panel_label(ax, letter)


def _comparison_panel(ax, table: pd.DataFrame) -> None:
    comparisons = table[table["family"] == "comparison"]
    names = list(dict.fromkeys(comparisons["predictor"]))
    positions = np.arange(len(names), dtype=float)
    for offset, (metric, (marker, _)) in zip((-0.15, 0.15), COMPARED_METRICS.items()):
        rows = comparisons[comparisons["metric"] == metric].set_index("predictor").reindex(names)
        _interval_bars(ax, rows, positions, {"color": FAMILY_LOOKS["combination"]["color"], "marker": marker},
                       offset)
    style.zero_line(ax, "vertical")
    # "h+s vs h" reads as what the spectrum adds to baseline h.
    ax.set_yticks(positions, [name.split(" vs ")[-1] for name in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("added by the spectrum features\n(baseline + spectrum minus baseline)")
    ax.set_ylabel("baseline")
    ax.legend(handles=[Line2D([], [], color=FAMILY_LOOKS["combination"]["color"], marker=marker, linestyle="",
                              label=f"difference in {name}") for marker, name in COMPARED_METRICS.values()],
              fontsize="small", loc="best")
    style.panel_label(ax, "d")


@register_figure("readout_comparison", needs="sweep", variables=REQUIRED, caption=CAPTION,
                 options=("early_epoch", "failure_threshold", "readout_resample"), table=readout_table,
                 table_caption=TABLE_CAPTION,
                 drawn_from_table=True)
def readout_comparison(sweep: xr.Dataset, *, early_epoch: int = 0, failure_threshold: float | None = None,
                       dataset: str | None = None, table: pd.DataFrame | None = None,
                       readout_resample: str = "runs") -> Figure:
    """Each predictor's held-out Spearman rho, R^2 and failure AUC with 95% intervals, and what
    the spectrum adds to each baseline. ``table``: a result of :func:`readout_table` to draw
    instead of computing it again."""
    if table is None:
        with warnings.catch_warnings():
            # The NaN rows are drawn as "n/a" and their notes are in the CSV.
            warnings.simplefilter("ignore", ReadoutWarning)
            table = readout_table(sweep, early_epoch=early_epoch, failure_threshold=failure_threshold,
                                  dataset=dataset, readout_resample=readout_resample)
    order = _predictor_order(table)
    with style.figure_style():
        figure = style.new_figure(14.0, 1.2 + 0.32 * max(len(order), 4))
        axes = figure.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.15]})
        for ax, (metric, label, reference), letter in zip(axes[:3], METRIC_PANELS, "abc"):
            _metric_panel(ax, table, metric, label, reference, order, letter)
        axes[0].legend(handles=[Line2D([], [], color=look["color"], marker=look["marker"], linestyle="",
                                       label=look["label"]) for look in FAMILY_LOOKS.values()],
                       fontsize="small", loc="lower left")
        _comparison_panel(axes[3], table)
        task = sweep_data.select_task(sweep, dataset)
        n_runs = int(table["n_runs"].max()) if table["n_runs"].notna().any() else task.sizes["run"]
        threshold = table.attrs.get("failure_threshold", failure_threshold)
        failure = "diverged runs only" if threshold is None else f"final loss > {threshold:g} or diverged"
        style.figure_title(figure, f"Held-out readout of the final validation loss from epoch >= {early_epoch} on "
                                   f"{sweep_data.task_name(task)} ({n_runs} runs; failure: {failure})")
    return figure
