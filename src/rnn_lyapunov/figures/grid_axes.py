"""The axes of a grid figure: which hyperparameters go on x, y and facets, and their levels.

Which hyperparameters: those the sweep varies (:func:`rnn_lyapunov.analysis.sweep_data.varying_hyperparameters`:
coordinates along ``run`` and run-config keys with more than one value, run ids and seeds left out,
numeric ones first, then the most values), or the ones named by the figure option ``grid_axes``
(config ``figures.grid_axes``: x, y and optionally a facet). The first two are the x and y axes of
every heatmap, a third becomes facets (one panel per value), and any further varying ones, with
seeds, are averaged in each cell. A numeric axis with more than ``MAX_LEVELS`` values (e.g. a
sampled init scale) is cut into ``N_BINS`` equal intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.errors import InputError

#: A numeric axis with more distinct values than this is binned into ``N_BINS`` intervals.
MAX_LEVELS = 12
N_BINS = 8
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
