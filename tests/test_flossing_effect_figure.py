"""The ``flossing_effect`` figure on a small synthetic sweep, its drawn data against numpy."""

import json

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("matplotlib")

from rnn_lyapunov.figures.registry import discover_figures, get_figure  # noqa: E402

THRESHOLD = 0.1
Z = 1.959963984540054
ARMS = {"none": {}, "before training": {"before_training": 50},
        "before and during": {"before_training": 50, "every_epochs": 2, "updates_per_episode": 5}}
DELAYS = (2, 8)
SEEDS = 7


def _sweep():
    """3 arms x 2 delays x 7 seeds: random loss curves, the flossed arms with one or more episodes."""
    rng = np.random.default_rng(0)
    runs = [(arm, delay, seed) for arm in ARMS for delay in DELAYS for seed in range(SEEDS)]
    losses = np.exp(rng.normal(-1.5, 1.2, size=(len(runs), 1)) - rng.uniform(0, 0.4, (len(runs), 1)) * np.arange(6))
    losses[3, 4:] = np.nan  # a diverged run fails
    configs, before, after, episode_epochs = [], np.full((len(runs), 2, 1), np.nan), np.full((len(runs), 2, 1), np.nan), \
        np.full((len(runs), 2), np.nan)
    for index, (arm, delay, seed) in enumerate(runs):
        flossing = {"before_training": 0, "every_epochs": 0, "updates_per_episode": 0, **ARMS[arm]}
        configs.append(json.dumps({"seed": seed, "dataset_options": {"delay": delay}, "flossing": flossing}))
        if arm != "none":
            episode_epochs[index] = [0, 2] if arm == "before and during" else [0, np.nan]
            before[index, :, 0], after[index, :, 0] = rng.normal(-0.5, 0.2, 2), rng.normal(0, 0.05, 2)
    return xr.Dataset({
        "val_loss": (("run", "epoch"), losses), "run_config": ("run", configs),
        "flossing_epoch": (("run", "flossing_episode"), episode_epochs),
        "flossing_exponents_before": (("run", "flossing_episode", "flossing_exponent"), before),
        "flossing_exponents_after": (("run", "flossing_episode", "flossing_exponent"), after),
    }, coords={"run": [f"r{index}" for index in range(len(runs))], "epoch": np.arange(6),
               "dataset": ("run", ["delayed_xor"] * len(runs))}), runs, losses, before, after


def _wilson_by_roots(successes, trials):
    """The Wilson interval as the roots p of (k/n - p)^2 = z^2 p (1 - p) / n."""
    rate, spread = successes / trials, Z * Z / trials
    return np.sort(np.roots([1 + spread, -(2 * rate + spread), rate * rate]).real)


def test_the_drawn_success_rates_epochs_and_exponents_match_numpy():
    discover_figures()
    sweep, runs, losses, before, after = _sweep()
    figure = get_figure("flossing_effect").draw(sweep, failure_threshold=THRESHOLD)
    rate_ax, epochs_ax, exponent_ax = figure.axes[:3]
    arms = np.array([run[0] for run in runs])
    delays = np.array([run[1] for run in runs])
    final_ok = np.nan_to_num(losses[:, -1], nan=np.inf) < THRESHOLD
    for index, (arm, container) in enumerate(zip(ARMS, rate_ax.containers)):
        x, y = container.lines[0].get_data()
        np.testing.assert_allclose(x, np.array(DELAYS) + (index - 1) * 0.12)
        segments = container.lines[2][0].get_segments()
        for position, delay in enumerate(DELAYS):
            members = (arms == arm) & (delays == delay)
            successes = int(final_ok[members].sum())
            assert y[position] == pytest.approx(successes / members.sum())
            low, high = _wilson_by_roots(successes, members.sum())
            np.testing.assert_allclose([segments[position][0][1], segments[position][1][1]], [low, high], atol=1e-9)
    first_below = [next((epoch for epoch, value in enumerate(row) if value < THRESHOLD), None) for row in losses]
    for index, (arm, collection) in enumerate(zip(ARMS, epochs_ax.collections)):
        expected = sorted((delays[run] + (index - 1) * 0.12, first_below[run]) for run in range(len(runs))
                          if arms[run] == arm and final_ok[run])
        np.testing.assert_allclose(sorted(map(tuple, collection.get_offsets().data)), expected)
    drawn = sorted(tuple(line.get_ydata()) for line in exponent_ax.lines if line.get_marker() == "o")
    flossed = arms != "none"
    expected = sorted(zip(before[flossed, 0, 0], after[flossed, 0, 0]))
    np.testing.assert_allclose(drawn, expected)


def test_the_table_counts_runs_and_successes_per_arm_and_delay():
    from rnn_lyapunov.figures.flossing_effect import flossing_effect_table

    sweep, runs, losses, *_ = _sweep()
    table = flossing_effect_table(sweep, failure_threshold=THRESHOLD)
    assert len(table) == 6 and set(table["runs"]) == {SEEDS}
    final_ok = np.nan_to_num(losses[:, -1], nan=np.inf) < THRESHOLD
    assert table["successes"].sum() == final_ok.sum()
