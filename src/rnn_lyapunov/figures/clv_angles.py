"""Angles between the leading covariant Lyapunov vectors of the sweep's networks, and how training moves them."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.registry import register_figure

PAIR_ANGLE, SPLIT_ANGLE = "clv_angle_1_2", "clv_unstable_stable_angle"
CAPTION = """
**Angles between the leading covariant Lyapunov vectors during training.** Recorded when the config sets
``spectrum.clv_angles: true``: at every spectrum epoch, the CLVs of the network on the spectrum's inputs
(Ginelli's method). A run's value at an epoch is the median over its trajectories of the median over steps
of the angle between the lines of CLV 1 and CLV 2 (degrees, 0 to 90; near 0 the two leading directions are
nearly tangent). (a) Each run's value at its last epoch with angles, one column of points per architecture;
bar: the median over the column's runs. (b) The same value at every recorded epoch, a thin line per run and a
thick one for the median over each architecture's runs: how training moves it (epoch 0 = initialisation).
(c) As (a) for the smallest angle over the steps between the unstable and the stable CLV subspaces (median
over trajectories), where the computed CLVs hold both; bounded away from 0 means hyperbolic dynamics.
Drawn when ``figures.extra`` lists ``clv_angles``.
"""


def _check_angles(task: xr.Dataset) -> None:
    if PAIR_ANGLE not in task.data_vars:
        raise InputError(
            f"figure 'clv_angles' needs the CLV angles ({PAIR_ANGLE}, {SPLIT_ANGLE}), which this sweep lacks: "
            "set `spectrum: {clv_angles: true}` in the workflow config (or --clv-angles true for `rnn-lyapunov "
            "train`) and train the runs again (docs/clv.md, 'During training').")
    if not np.isfinite(task[PAIR_ANGLE].values).any():
        raise InputError(f"figure 'clv_angles': every {PAIR_ANGLE} of the sweep is NaN (the CLVs diverged in "
                         "every run; see the runs' train.log).")


def _nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice (no angles there): NaN is the answer
        return np.nanmedian(values, axis=axis)


def _per_run_degrees(task: xr.Dataset, name: str) -> np.ndarray:
    """(run, epoch): the median over trajectories of ``name``, in degrees; NaN where none is finite."""
    return np.degrees(_nanmedian(task[name].transpose("run", "epoch", "trajectory").values, axis=-1))


def clv_angle_table(sweep: xr.Dataset, *, dataset: str | None = None):
    """One row per run (``pandas.DataFrame``): its first and last epochs with CLV angles and the run's
    angle between CLV 1 and 2 and unstable-stable angle there (degrees; see the caption), and the change."""
    import pandas as pd

    task = sweep_data.select_task(sweep, dataset)
    _check_angles(task)
    pair = _per_run_degrees(task, PAIR_ANGLE)
    split = _per_run_degrees(task, SPLIT_ANGLE) if SPLIT_ANGLE in task.data_vars else np.full(pair.shape, np.nan)
    epochs = task["epoch"].values
    rows = []
    for index, run_id in enumerate(task["run"].values):
        recorded = np.flatnonzero(np.isfinite(pair[index]))
        if recorded.size == 0:
            continue
        first, last = recorded[0], recorded[-1]
        architecture = str(task["architecture"].values[index]) if "architecture" in task.coords else "all"
        rows.append({"run": str(run_id), "architecture": architecture, "first_epoch": int(epochs[first]),
                     "last_epoch": int(epochs[last]), "angle_1_2_first_deg": pair[index, first],
                     "angle_1_2_last_deg": pair[index, last], "angle_1_2_change_deg": pair[index, last] - pair[index, first],
                     "unstable_stable_first_deg": split[index, first], "unstable_stable_last_deg": split[index, last]})
    return pd.DataFrame(rows)


def _columns(ax, table, column: str, styles: dict, names: list[str]) -> bool:
    """One column of points per architecture at x = its position, bar at the median; False if nothing finite."""
    drawn = False
    for position, name in enumerate(names):
        values = table.loc[table["architecture"] == name, column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        offsets = np.linspace(-0.2, 0.2, values.size) if values.size > 1 else np.zeros(1)
        look = styles[name]
        points = ax.scatter(position + offsets, values, color=look["color"], marker=look["marker"], s=22, zorder=3)
        points.set_gid(f"{column}:{name}")
        ax.hlines(np.median(values), position - 0.3, position + 0.3, color="0.2", linewidth=1.5, zorder=4)
        drawn = True
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0.0, 92.0)  # room for a marker at 90
    ax.set_xlabel("architecture")
    return drawn


@register_figure("clv_angles", needs="sweep", caption=CAPTION, table=clv_angle_table, default=False)
def clv_angle_figure(sweep: xr.Dataset, *, dataset: str | None = None) -> Figure:
    """(a) the angle between CLV 1 and 2 at each run's last epoch, per architecture; (b) its course over
    training per run and per architecture; (c) the unstable-stable angle at the last epoch (degrees)."""
    task = sweep_data.select_task(sweep, dataset)
    table = clv_angle_table(task)
    names = style.ordered_architectures(table["architecture"].unique())
    styles = style.architecture_styles(names)
    pair = _per_run_degrees(task, PAIR_ANGLE)
    epochs = task["epoch"].values
    architectures = task["architecture"].values.astype(str) if "architecture" in task.coords else \
        np.full(task.sizes["run"], "all")
    with style.figure_style():
        figure = style.new_figure(11.0, 3.6)
        first, course, split = figure.subplots(1, 3)
        _columns(first, table, "angle_1_2_last_deg", styles, names)
        first.set_ylabel("angle between CLV 1 and CLV 2 (degrees)")
        first.set_title("(a) at the last epoch", loc="left")
        for name in names:
            members = np.flatnonzero(architectures == name)
            for index in members:
                recorded = np.isfinite(pair[index])
                line, = course.plot(epochs[recorded], pair[index, recorded], color=styles[name]["color"],
                                    linewidth=0.7, alpha=0.5)
                line.set_gid(f"run:{task['run'].values[index]}")
            median = _nanmedian(pair[members], axis=0)
            shown = np.isfinite(median)
            course.plot(epochs[shown], median[shown], color=styles[name]["color"], linestyle=styles[name]["linestyle"],
                        marker=styles[name]["marker"], linewidth=2.0, label=name)
        course.set_xlabel("epoch (0 = initialisation)")
        course.set_ylabel("angle between CLV 1 and CLV 2 (degrees)")
        course.set_ylim(0.0, 92.0)
        course.set_title("(b) during training", loc="left")
        course.legend(fontsize="small")
        if not _columns(split, table, "unstable_stable_last_deg", styles, names):
            split.text(0.5, 0.5, "no split into unstable and\nstable CLVs in these runs\n(all computed CLVs\n"
                                 "contract, or all expand)", ha="center", va="center", transform=split.transAxes)
        split.set_ylabel("unstable-stable angle (degrees)")
        split.set_title("(c) hyperbolicity, last epoch", loc="left")
        style.figure_title(figure, f"Angles between covariant Lyapunov vectors on {sweep_data.task_name(task)}")
    return figure
