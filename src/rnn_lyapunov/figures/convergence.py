"""Figure 3: convergence of the estimates in time and across input sequences (trajectories)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from rnn_lyapunov.analysis import sweep_data
from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.registry import register_figure

# The running estimates and per-trajectory spectra are drawn when present; a panel without them
# says which variable the sweep lacks.
REQUIRED = ("lyapunov_exponents", "val_loss")
RUNNING, PER_TRAJECTORY = "lyapunov_running_estimate", "lyapunov_exponents_per_trajectory"
CAPTION = """
**Convergence of the estimates.** One row per architecture (its best run, at the final spectrum epoch).
Left: running estimates of the first three exponents vs the number of steps accumulated after
warm-up; line: mean over trajectories, band: +/- 1 standard deviation across trajectories. Middle:
standard error of the mean spectrum vs the number of trajectories used (random subsets, log-log) for
lambda_1 and averaged over exponents, with a line of slope -1/2 (1/sqrt(n)) for reference. Right: the
spectrum of each input sequence (grey) and their mean: the spread across input sequences. A panel whose
data the sweep lacks (``lyapunov_running_estimate``, ``lyapunov_exponents_per_trajectory``) says so.
"""


def subsampled_standard_error(per_trajectory: np.ndarray, counts, *, n_repeats: int = 50,
                              seed: int = 0) -> np.ndarray:
    """Standard error of the mean spectrum using only ``n`` of the trajectories, for each ``n``.

    per_trajectory: (trajectory, exponent) nats/step, no NaN. For every count ``n`` draws
    ``n_repeats`` random subsets of ``n`` trajectories (without replacement), computes
    ``std(ddof=1) / sqrt(n)`` per exponent and averages over the subsets.
    Returns (len(counts), exponent) nats/step.
    """
    rng = np.random.default_rng(seed)
    n_trajectories = per_trajectory.shape[0]
    result = np.empty((len(counts), per_trajectory.shape[1]))
    for row, count in enumerate(counts):
        if not 2 <= count <= n_trajectories:
            raise ValueError(f"count {count} must lie in [2, {n_trajectories}] (number of trajectories)")
        errors = [
            per_trajectory[rng.choice(n_trajectories, size=count, replace=False)].std(axis=0, ddof=1)
            / np.sqrt(count)
            for _ in range(n_repeats)
        ]
        result[row] = np.mean(errors, axis=0)
    return result


def trajectory_counts(n_trajectories: int, n_points: int = 6) -> np.ndarray:
    """Distinct, roughly log-spaced subset sizes from 2 to ``n_trajectories``."""
    return np.unique(np.geomspace(2, n_trajectories, n_points).round().astype(int))


def _missing(ax, variable: str) -> None:
    ax.text(0.5, 0.5, f"not in this sweep:\n{variable}", transform=ax.transAxes, ha="center", va="center",
            fontsize="small", color="0.3")


def _plot_running(ax, run, n_shown, look):
    ax.set_xlabel("steps accumulated after warm-up (steps)")
    ax.set_ylabel(style.in_units("running estimate (nats/step)", run))
    if RUNNING not in run.data_vars:
        _missing(ax, RUNNING)
        return
    running = run[RUNNING]
    dim = sweep_data.step_dim(running)
    steps = running[dim].values
    estimates = running.transpose(dim, "trajectory", "exponent").values
    valid_steps = np.isfinite(estimates).any(axis=(1, 2))
    steps, estimates = steps[valid_steps], estimates[valid_steps]
    greys = style.sequential_colours(n_shown)
    for index in range(min(n_shown, estimates.shape[-1])):
        values = estimates[:, :, index]
        if not np.isfinite(values).any():
            continue
        mean = values.mean(axis=1)
        spread = values.std(axis=1)
        ax.fill_between(steps, mean - spread, mean + spread, color=greys[index], alpha=0.2, linewidth=0)
        ax.plot(steps, mean, color=greys[index], linestyle=look["linestyle"],
                label=rf"$\lambda_{{{index + 1}}}$")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # crowded 2x10^1, 3x10^1, ... labels otherwise
    ax.legend(fontsize="small", loc="best")


def _plot_stderr(ax, per_trajectory, look, seed, units="nats/step"):
    n_trajectories = per_trajectory.shape[0]
    if n_trajectories < 3:
        ax.text(0.5, 0.5, "fewer than 3 trajectories", transform=ax.transAxes, ha="center")
    else:
        counts = trajectory_counts(n_trajectories)
        errors = subsampled_standard_error(per_trajectory, counts, seed=seed)
        ax.plot(counts, errors[:, 0], color=look["color"], marker=look["marker"],
                linestyle=look["linestyle"], label=r"$\lambda_1$")
        ax.plot(counts, errors.mean(axis=1), color="0.5", marker=".", linestyle="-",
                label="mean over exponents")
        reference = errors[0, 0] * np.sqrt(counts[0] / counts)
        ax.plot(counts, reference, color="0.2", linestyle="--", linewidth=0.8,
                label=r"slope $-1/2$ ($\propto 1/\sqrt{n}$)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if n_trajectories >= 3:
        ax.set_xticks(counts, [str(count) for count in counts])  # plain integers, not 2x10^0
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("number of trajectories $n$ (input sequences)")
    ax.set_ylabel(f"standard error ({units})")
    ax.legend(fontsize="small", loc="best")


def _plot_spread(ax, run, per_trajectory, mean, look):
    """Each trajectory's spectrum (when the sweep has them) and the mean spectrum."""
    if per_trajectory is not None:
        index = sweep_data.normalised_index(run, per_trajectory.shape[1])
        for row in per_trajectory:
            ax.plot(index, row, color="0.7", linewidth=0.6)
        mean = per_trajectory.mean(axis=0)
        ax.plot([], [], color="0.7", linewidth=0.6, label="one input sequence each")
    ax.plot(sweep_data.normalised_index(run, mean.size), mean, color=look["color"], linestyle=look["linestyle"],
            linewidth=1.5, label="mean")
    style.zero_line(ax)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel(style.NORMALISED_INDEX_LABEL)
    ax.set_ylabel(style.exponent_label(run))
    ax.legend(fontsize="small", loc="lower left")


@register_figure("convergence", needs="sweep", variables=REQUIRED, caption=CAPTION)
def convergence(sweep: xr.Dataset, *, dataset: str | None = None, n_shown: int = 3,
                seed: int = 0) -> Figure:
    """One row per architecture (its best run on the task), at the final spectrum epoch:

    left, running estimates of the first ``n_shown`` exponents vs steps (mean over trajectories,
    band +/- 1 standard deviation across them); middle, the standard error vs number of
    trajectories (random subsets, log-log, with a 1/sqrt(n) reference); right, the spectrum of
    each input sequence. ``seed`` drives the subset draws. The running estimates (dim ``step``, or
    ``convergence_step`` in older sweeps) and the per-trajectory spectra are optional: a panel
    without its data names the missing variable.
    """
    task = sweep_data.select_task(sweep, dataset)
    runs = sweep_data.representative_runs(task)
    final_epochs = sweep_data.final_spectrum_epoch(task)
    styles = style.architecture_styles(runs)
    with style.figure_style():
        figure = style.new_figure(10.0, 2.6 * len(runs))
        axes = figure.subplots(len(runs), 3, squeeze=False)
        for row, (architecture, run_index) in enumerate(runs.items()):
            run = task.isel(run=run_index)
            look = styles[architecture]
            _plot_running(axes[row, 0], run, n_shown, look)
            axes[row, 0].set_title(sweep_data.run_label(run), loc="left", fontsize="medium")
            epoch = final_epochs.values[run_index]
            if not np.isfinite(epoch):
                continue
            mean = sweep_data.finite_exponents(run["lyapunov_exponents"].sel(epoch=int(epoch)).values)
            per_trajectory = None
            if PER_TRAJECTORY in run.data_vars:
                values = run[PER_TRAJECTORY].sel(epoch=int(epoch)).transpose("trajectory", "exponent").values
                keep_rows = np.isfinite(values).any(axis=1)
                keep_columns = np.isfinite(values[keep_rows]).all(axis=0)
                per_trajectory = values[keep_rows][:, keep_columns]
                _plot_stderr(axes[row, 1], per_trajectory, look, seed, sweep_data.per_step_units(task))
            else:
                axes[row, 1].set_xlabel("number of trajectories $n$ (input sequences)")
                axes[row, 1].set_ylabel(f"standard error ({sweep_data.per_step_units(task)})")
                _missing(axes[row, 1], PER_TRAJECTORY)
            _plot_spread(axes[row, 2], run, per_trajectory, mean, look)
            only_mean = "" if per_trajectory is not None else ": mean only"
            axes[row, 2].set_title(f"epoch {int(epoch)}{only_mean}", loc="left", fontsize="medium")
        figure.suptitle(f"Convergence of the estimates on {sweep_data.task_name(task)}")
    return figure
