"""Does gradient flossing help? Success, speed and exponents per flossing arm (config/flossing.yaml)."""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from rnn_lyapunov.figures import style
from rnn_lyapunov.figures.registry import register_figure

REQUIRED = ("val_loss", "run_config")
ARMS = ("none", "before training", "before and during")
Z_95 = 1.959963984540054  # two-sided 95 % normal quantile
CAPTION = """
**Gradient flossing against delay (config/flossing.yaml).** (a) Share of runs that succeed (final
validation loss below ``figures.failure_threshold`` nats) against the task's delay, one line per
arm: no flossing, flossing before training (``flossing.before_training`` updates), and before and
during training (episodes every ``flossing.every_epochs`` epochs); bars are 95 % Wilson score
intervals over the seeds. (b) Epochs until the validation loss first falls below the threshold,
each successful run a point, the median a line. (c) The largest exponent lambda_1 (nats per step,
on the run's flossing windows) before and after the flossing done before training, one line per
run. Drawn when ``figures.extra`` lists ``flossing_effect``.
"""


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval (Wilson 1927) of a success rate; (NaN, NaN) without trials."""
    if trials == 0:
        return math.nan, math.nan
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    return centre - half, centre + half


def arm_of(flossing: dict | None) -> str:
    """The experiment arm of a run's ``flossing`` section (absent: ``"none"``)."""
    flossing = flossing or {}
    during = flossing.get("every_epochs", 0) > 0 and flossing.get("updates_per_episode", 0) > 0
    before = flossing.get("before_training", 0) > 0
    return ARMS[2] if during else ARMS[1] if before else ARMS[0]


def flossing_effect_data(sweep: xr.Dataset, failure_threshold: float) -> dict:
    """Per run: ``arm``, ``delay`` (``dataset_options.delay``, NaN without one), ``success``,
    ``epochs_to_threshold`` (first epoch with validation loss below the threshold; NaN if none),
    ``lambda_before``/``lambda_after`` (lambda_1 around the first flossing episode; NaN without one)."""
    configs = [json.loads(str(text)) for text in sweep["run_config"].values]
    losses = sweep["val_loss"].transpose("run", "epoch").values.astype(float)
    epochs = sweep["epoch"].values.astype(float)
    below = losses < failure_threshold  # NaN compares False: a diverged epoch is no success
    first = np.where(below.any(axis=1), epochs[np.argmax(below, axis=1)], np.nan)
    count = len(configs)
    before = np.full(count, np.nan)
    after = np.full(count, np.nan)
    if "flossing_exponents_before" in sweep:
        has = sweep["flossing_epoch"].transpose("run", "flossing_episode").values[:, 0] == 0
        before = np.where(has, sweep["flossing_exponents_before"].values[:, 0, 0], np.nan)
        after = np.where(has, sweep["flossing_exponents_after"].values[:, 0, 0], np.nan)
    return {"arm": np.array([arm_of(config.get("flossing")) for config in configs]),
            "delay": np.array([float(config.get("dataset_options", {}).get("delay", np.nan)) for config in configs]),
            "success": below[:, -1], "epochs_to_threshold": first, "lambda_before": before, "lambda_after": after}


def flossing_effect_table(sweep: xr.Dataset, *, failure_threshold: float | None = None):
    """One row per (arm, delay): runs, successes, rate with its 95 % Wilson interval, median epochs to threshold."""
    import pandas as pd

    data = flossing_effect_data(sweep, 1.0 if failure_threshold is None else failure_threshold)
    rows = []
    for arm in ARMS:
        for delay in np.unique(data["delay"][data["arm"] == arm]):
            members = (data["arm"] == arm) & ((data["delay"] == delay) | (np.isnan(data["delay"]) & np.isnan(delay)))
            successes, trials = int(data["success"][members].sum()), int(members.sum())
            low, high = wilson_interval(successes, trials)
            reached = data["epochs_to_threshold"][members & data["success"]]
            rows.append({"arm": arm, "delay": delay, "runs": trials, "successes": successes,
                         "success_rate": successes / trials, "wilson_low": low, "wilson_high": high,
                         "median_epochs_to_threshold": float(np.median(reached)) if reached.size else math.nan})
    return pd.DataFrame(rows)


@register_figure("flossing_effect", needs="sweep", variables=REQUIRED, caption=CAPTION, default=False,
                 options=("failure_threshold",), table=flossing_effect_table)
def flossing_effect(sweep: xr.Dataset, *, failure_threshold: float | None = None) -> Figure:
    """Success rate (Wilson 95 %), epochs to threshold against delay per arm; lambda_1 before/after flossing."""
    threshold = 1.0 if failure_threshold is None else failure_threshold
    data = flossing_effect_data(sweep, threshold)
    table = flossing_effect_table(sweep, failure_threshold=threshold)
    colours = dict(zip(ARMS, ("0.35", "tab:blue", "tab:orange")))
    with style.figure_style():
        figure = style.new_figure(11.5, 3.8)
        rate_ax, epochs_ax, exponent_ax = figure.subplots(1, 3)
        for index, arm in enumerate(ARMS):
            rows = table[table["arm"] == arm]
            if rows.empty:
                continue
            offset = (index - 1) * 0.12  # arms side by side at each delay
            rate, low, high = (rows[key].to_numpy() for key in ("success_rate", "wilson_low", "wilson_high"))
            rate_ax.errorbar(rows["delay"].to_numpy() + offset, rate, yerr=np.vstack([rate - low, high - rate]),
                             color=colours[arm], marker="o", capsize=3, label=f"{arm} ({int(rows['runs'].sum())} runs)")
            members = (data["arm"] == arm) & data["success"]
            epochs_ax.scatter(data["delay"][members] + offset, data["epochs_to_threshold"][members], s=14,
                              color=colours[arm], alpha=0.6)
            epochs_ax.plot(rows["delay"].to_numpy() + offset, rows["median_epochs_to_threshold"].to_numpy(),
                           color=colours[arm], label=arm)
            flossed = (data["arm"] == arm) & np.isfinite(data["lambda_before"])
            for before, after in zip(data["lambda_before"][flossed], data["lambda_after"][flossed]):
                exponent_ax.plot([index - 0.2, index + 0.2], [before, after], color=colours[arm], alpha=0.5,
                                 marker="o", markersize=3)
        rate_ax.set(xlabel="delay (steps)", ylabel=f"success rate (final val. loss < {threshold:g})", ylim=(-0.03, 1.03))
        epochs_ax.set(xlabel="delay (steps)", ylabel="epochs to reach the threshold")
        exponent_ax.set(xticks=range(len(ARMS)), xticklabels=["before -> after\n" + arm for arm in ARMS],
                        xlabel="flossing arm", ylabel=r"$\lambda_1$ (nats per step)")
        style.zero_line(exponent_ax)
        rate_ax.legend(fontsize="small")
        for ax, letter in zip((rate_ax, epochs_ax, exponent_ax), "abc"):
            style.panel_label(ax, letter)
        style.figure_title(figure, f"Gradient flossing on {', '.join(sorted(set(map(str, sweep['dataset'].values))))}"
                           if "dataset" in sweep.coords else "Gradient flossing")
    return figure
