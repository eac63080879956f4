"""Synthetic sweeps with the default config's shape for the readout benchmarks (no training).

72 runs = architecture {rnn, gru} x init_scale {0.05, 0.15, 0.4, 1.0} x learning_rate {1e-3,
5e-3, 3e-2} x seed {0, 1, 2} (config/config.yaml), epochs 0-8, 32 exponents (nats/step) at every
epoch, ``val_loss`` and ``train_loss`` (nats) at every epoch. The spectra and the early losses are
noise around smooth functions of the hyperparameters; the final loss is independent of all of
them (``signal=0``) or ``log(final loss) = 0.5 (signal * z + sqrt(1 - signal^2) * e)`` with
``z = lambda_1(epoch 1) / 0.3`` standard normal and ``e`` standard normal noise: lambda_1 and the
log loss are bivariate normal with correlation ``signal``, so the population Spearman rho of
lambda_1 and the final loss is ``(6 / pi) asin(signal / 2)`` and the population R^2 of the best
linear predictor of log10(loss) from lambda_1 is ``signal^2`` (a planted feature of known skill).

``confounded=c`` (with ``signal=0``) is the null a real sweep poses: each of the 24 hyperparameter
cells gets a random effect u (standard normal, drawn per sweep), lambda_1 = 0.3 (sqrt(c) u +
sqrt(1 - c) z) at every epoch and log(final loss) = 0.5 (sqrt(c) u + sqrt(1 - c) e): the spectrum
and the loss both follow the hyperparameters, in a way no linear function of them captures, and
given the cell the spectrum says nothing about the loss. The cell effects are drawn anew for each
sweep (the cells a random sample of possible settings), or with ``cell_seed`` the same for every
sweep (a fixed design, as when the same grid is run again with new seeds).
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

GRID = list(itertools.product(("rnn", "gru"), (0.05, 0.15, 0.4, 1.0), (1e-3, 5e-3, 3e-2), (0, 1, 2)))
N_EPOCHS, N_EXPONENTS = 9, 32


def default_shaped_sweep(seed: int, *, signal: float = 0.0, n_runs: int | None = None,
                         confounded: float = 0.0, cell_seed: int | None = None) -> xr.Dataset:
    """A sweep of ``n_runs`` (default 72, the default grid; fewer: its first runs, more: the grid
    repeated) whose final loss has population correlation ``signal`` with lambda_1 at epoch 1, or
    (``confounded`` > 0) shares a hyperparameter cell effect with the spectrum (module docstring)."""
    if confounded and signal:
        raise ValueError("give signal or confounded, not both")
    rng = np.random.default_rng(seed)
    grid = [GRID[index % len(GRID)] for index in range(n_runs or len(GRID))]
    architecture, init_scale, learning_rate, seeds = (np.array(column) for column in zip(*grid))
    count = len(grid)
    index = np.arange(1, N_EXPONENTS + 1) / N_EXPONENTS
    # lambda_1 = 0.3 * (standard normal) at every epoch, exactly; the other exponents at least
    # 0.06 below it (noise 0.005: the order never changes), so features vary beyond lambda_1.
    top = rng.normal(0.0, 1.0, (count, N_EPOCHS))
    width = rng.uniform(2.0, 4.0, count)[:, None, None]
    below_top = np.broadcast_to(-width * (index - index[0])[None, None, :], (count, N_EPOCHS, N_EXPONENTS)).copy()
    below_top[:, :, 1:] += rng.normal(0.0, 0.005, (count, N_EPOCHS, N_EXPONENTS - 1))
    final = signal * top[:, 1] + np.sqrt(1.0 - signal**2) * rng.normal(0.0, 1.0, count)
    if confounded:
        # Its own stream, so the null and planted sweeps stay what they were.
        cells = np.unique(np.stack([architecture, init_scale.astype(str), learning_rate.astype(str)], 1),
                          axis=0, return_inverse=True)[1].reshape(-1)
        effect_seed = [seed, 7] if cell_seed is None else [cell_seed, 8]
        effect = np.random.default_rng(effect_seed).normal(0.0, 1.0, cells.max() + 1)[cells]
        top = np.sqrt(confounded) * effect[:, None] + np.sqrt(1.0 - confounded) * top
        final = np.sqrt(confounded) * effect + np.sqrt(1.0 - confounded) * final
    exponents = 0.3 * top[:, :, None] + below_top
    val_loss = np.exp(rng.normal(0.0, 0.3, (count, N_EPOCHS)))
    val_loss[:, -1] = np.exp(0.5 * final)  # positive, spans a decade: the readout fits log10 of it
    train_loss = val_loss * rng.uniform(0.8, 1.0, (count, N_EPOCHS))
    coords = {"run": [f"run{number}" for number in range(count)], "epoch": np.arange(N_EPOCHS),
              "exponent": np.arange(1, N_EXPONENTS + 1), "architecture": ("run", architecture),
              "init_scale": ("run", init_scale), "learning_rate": ("run", learning_rate),
              "seed": ("run", seeds), "state_size": ("run", np.full(count, N_EXPONENTS)),
              "dataset": ("run", np.full(count, "signal_copy"))}
    return xr.Dataset({"lyapunov_exponents": (("run", "epoch", "exponent"), exponents),
                       "val_loss": (("run", "epoch"), val_loss),
                       "train_loss": (("run", "epoch"), train_loss)}, coords=coords)
