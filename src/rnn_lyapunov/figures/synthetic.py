"""A tiny seeded sweep dataset with the exact schema of ``results/spectra/sweep.nc``.

For tests and for previewing the figures without training anything. The numbers are made up but
shaped like the real thing: spectra that move towards zero during training, an LSTM whose state
(h, c) is twice the hidden size (so the other runs are NaN-padded along ``exponent``), one run that
stopped early (NaN-padded along ``epoch``), running estimates that converge like 1/sqrt(steps),
and a final validation loss that grows with the largest exponent at initialisation.
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from rnn_lyapunov.analysis.features import kaplan_yorke_dimension

UNITS = "nats per time step"


def _run_spectra(rng, state_size, init_scale, learning_rate, n_epochs, n_trajectories):
    """Per-trajectory spectra (epoch, trajectory, state_size), descending in each row."""
    index = np.arange(1, state_size + 1) / state_size
    spectra = np.empty((n_epochs, n_trajectories, state_size))
    for epoch in range(n_epochs):
        # Training pulls the top of the spectrum towards the edge of chaos (lambda_1 -> 0).
        pull = np.exp(-epoch * learning_rate * 100.0)
        top = np.log(init_scale) * pull + 0.02
        mean = top - 1.5 * index**1.3
        noise = rng.normal(0.0, 0.04, size=(n_trajectories, state_size))
        spectra[epoch] = -np.sort(-(mean + noise), axis=-1)
    return spectra


def synthetic_sweep(
    seed: int = 0,
    *,
    n_epochs: int = 4,
    hidden_size: int = 6,
    n_trajectories: int = 8,
    n_convergence_steps: int = 12,
) -> xr.Dataset:
    """A sweep of 12 runs: {rnn, lstm, gru} x init_scale {0.5, 1.5} x learning_rate {1e-3, 1e-2}.

    Epochs ``0..n_epochs`` (0 = initialisation); the GRU run with init_scale 1.5 and learning rate
    1e-2 stops after epoch 2. Exponents in nats/step; ``lyapunov_exponents`` is exactly the mean
    of ``lyapunov_exponents_per_trajectory`` and ``lyapunov_stderr`` its standard error.
    """
    rng = np.random.default_rng(seed)
    architectures = ("rnn", "lstm", "gru")
    init_scales = (0.5, 1.5)
    learning_rates = (1e-3, 1e-2)
    grid = list(itertools.product(architectures, init_scales, learning_rates))
    n_runs, n_epoch_labels = len(grid), n_epochs + 1
    max_state = 2 * hidden_size
    steps = np.arange(1, n_convergence_steps + 1) * 10

    per_trajectory = np.full((n_runs, n_epoch_labels, n_trajectories, max_state), np.nan)
    running = np.full((n_runs, n_convergence_steps, n_trajectories, max_state), np.nan)
    val_loss = np.full((n_runs, n_epoch_labels), np.nan)
    train_loss = np.full((n_runs, n_epoch_labels), np.nan)
    state_sizes = []
    for run, (architecture, init_scale, learning_rate) in enumerate(grid):
        state_size = 2 * hidden_size if architecture == "lstm" else hidden_size
        state_sizes.append(state_size)
        last_epoch = 2 if (architecture, init_scale, learning_rate) == ("gru", 1.5, 1e-2) else n_epochs
        spectra = _run_spectra(rng, state_size, init_scale, learning_rate, last_epoch + 1, n_trajectories)
        per_trajectory[run, : last_epoch + 1, :, :state_size] = spectra
        final = spectra[-1]
        wobble = rng.normal(0.0, 0.5, size=final.shape)
        decay = 1.0 / np.sqrt(steps / steps[0]) - 1.0 / np.sqrt(steps[-1] / steps[0])
        running[run, :, :, :state_size] = final[None] + decay[:, None, None] * wobble[None]
        # Chaotic or strongly contracting initialisations train worse.
        early_largest = spectra[0].mean(axis=0)[0]
        final_loss = 0.6 + 0.8 * abs(early_largest) + rng.normal(0.0, 0.03)
        epochs = np.arange(last_epoch + 1)
        val_loss[run, : last_epoch + 1] = final_loss + 1.0 * np.exp(-epochs)
        train_loss[run, 1 : last_epoch + 1] = val_loss[run, 1 : last_epoch + 1] - 0.05

    # NaN padding propagates: a padded exponent or epoch is NaN in the mean and stderr too.
    mean = per_trajectory.mean(axis=2)
    stderr = per_trajectory.std(axis=2, ddof=1) / np.sqrt(n_trajectories)
    ky = np.array([[kaplan_yorke_dimension(row) for row in run_rows] for run_rows in mean])

    run_ids = [f"{a}-scale{s:g}-lr{lr:g}" for a, s, lr in grid]
    coords = {
        "run": run_ids,
        "run_id": ("run", run_ids),
        "epoch": np.arange(n_epoch_labels),
        "exponent": np.arange(1, max_state + 1),
        "trajectory": np.arange(n_trajectories),
        "convergence_step": steps,
        "architecture": ("run", [a for a, _, _ in grid]),
        "dataset": ("run", ["synthetic"] * n_runs),
        "hidden_size": ("run", [hidden_size] * n_runs),
        "num_layers": ("run", [1] * n_runs),
        "state_size": ("run", state_sizes),
        "init": ("run", ["default"] * n_runs),
        "init_scale": ("run", [s for _, s, _ in grid]),
        "learning_rate": ("run", [lr for _, _, lr in grid]),
        "optimizer": ("run", ["adam"] * n_runs),
        "dropout": ("run", [0.0] * n_runs),
        "seed": ("run", [seed] * n_runs),
    }
    data_vars = {
        "lyapunov_exponents": (("run", "epoch", "exponent"), mean, {"units": UNITS}),
        "lyapunov_exponents_per_trajectory": (
            ("run", "epoch", "trajectory", "exponent"), per_trajectory, {"units": UNITS}),
        "lyapunov_stderr": (("run", "epoch", "exponent"), stderr, {"units": UNITS}),
        "kaplan_yorke_dimension": (("run", "epoch"), ky, {"units": "1"}),
        "lyapunov_running_estimate": (
            ("run", "convergence_step", "trajectory", "exponent"), running, {"units": UNITS}),
        "train_loss": (("run", "epoch"), train_loss, {"units": "nats"}),
        "val_loss": (("run", "epoch"), val_loss, {"units": "nats"}),
        "val_accuracy": (("run", "epoch"), np.exp(-val_loss), {"units": "1"}),
        "run_config": ("run", ["{}"] * n_runs),
    }
    return xr.Dataset(data_vars, coords=coords, attrs={"rnn_lyapunov_sweep": 1, "synthetic": 1})
