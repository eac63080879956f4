"""A tiny seeded sweep dataset with the exact schema of ``results/spectra/sweep.nc``.

For tests and for previewing the figures without training anything. The numbers are made up but
shaped like the real thing: spectra that move towards zero during training, an LSTM whose state
(h, c) is twice the hidden size (so the other runs are NaN-padded along ``exponent``), one run that
stopped early (NaN-padded along ``epoch``), running estimates that converge like 1/sqrt(steps),
a final validation loss that grows with the largest exponent at initialisation, and CLV angles
(``spectrum.clv_angles``) that narrow during training, with an unstable-stable split only for the
runs started at the larger scale.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import xarray as xr


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


def _run_clv_angles(rng, init_scale, learning_rate, n_epochs, n_trajectories) -> dict:
    """epoch -> the two CLV angle summaries (trajectory,), radians, in the per-run layout."""
    angles = {}
    for epoch in range(n_epochs):
        pair = 0.8 * np.exp(-epoch * learning_rate * 50.0) + rng.uniform(0.0, 0.2, n_trajectories)
        split = rng.uniform(0.05, 0.4, n_trajectories) if init_scale > 1 else np.full(n_trajectories, np.nan)
        angles[epoch] = {"clv_angle_1_2": pair, "clv_unstable_stable_angle": split}
    return angles


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
    1e-2 stops after epoch 2. Exponents in nats/step. Built with the package's own per-run layout
    (:func:`rnn_lyapunov.io.run_file.run_dataset` from ``Spectrum`` objects) and combined with
    :func:`rnn_lyapunov.io.sweep_file.combine_runs`, so it has exactly the layout of a real sweep.
    """
    from rnn_lyapunov.engine.spectrum import Spectrum
    from rnn_lyapunov.io.run_file import run_dataset
    from rnn_lyapunov.io.sweep_file import combine_runs

    rng = np.random.default_rng(seed)
    angle_rng = np.random.default_rng([seed, 28])  # its own stream: the other numbers stay as they were
    grid = list(itertools.product(("rnn", "lstm", "gru"), (0.5, 1.5), (1e-3, 1e-2)))
    steps = torch.arange(1, n_convergence_steps + 1) * 10
    runs = []
    for architecture, init_scale, learning_rate in grid:
        state_size = 2 * hidden_size if architecture == "lstm" else hidden_size
        last_epoch = 2 if (architecture, init_scale, learning_rate) == ("gru", 1.5, 1e-2) else n_epochs
        spectra = _run_spectra(rng, state_size, init_scale, learning_rate, last_epoch + 1, n_trajectories)
        final = spectra[-1]
        wobble = rng.normal(0.0, 0.5, size=final.shape)
        ratios = (steps / steps[0]).numpy()
        decay = 1.0 / np.sqrt(ratios) - 1.0 / np.sqrt(ratios[-1])
        running = final[None] + decay[:, None, None] * wobble[None]
        by_epoch = {epoch: Spectrum(per_trajectory=torch.from_numpy(spectra[epoch].copy()),
                                    history=torch.from_numpy(running) if epoch == last_epoch else None,
                                    history_steps=steps if epoch == last_epoch else None)
                    for epoch in range(last_epoch + 1)}
        # Chaotic or strongly contracting initialisations train worse.
        final_loss = 0.6 + 0.8 * abs(spectra[0].mean(axis=0)[0]) + rng.normal(0.0, 0.03)
        val_loss = final_loss + np.exp(-np.arange(last_epoch + 1))
        train_loss = np.r_[np.nan, val_loss[1:] - 0.05]
        run_id = f"{architecture}-scale{init_scale:g}-lr{learning_rate:g}"
        hyperparameters = {"run_id": run_id, "architecture": architecture, "dataset": "synthetic",
                           "hidden_size": hidden_size, "num_layers": 1, "state_size": state_size, "init": "default",
                           "init_scale": init_scale, "learning_rate": learning_rate, "optimizer": "adam",
                           "dropout": 0.0, "seed": seed}
        runs.append(run_dataset(by_epoch, {"train_loss": train_loss, "val_loss": val_loss,
                                           "val_accuracy": np.exp(-val_loss)},
                                n_trajectories=n_trajectories, n_exponents=state_size,
                                hyperparameters=hyperparameters,
                                metric_attributes={"val_loss": {"units": "nats"}, "train_loss": {"units": "nats"}},
                                attributes={"config": "{}"},
                                clv_angles=_run_clv_angles(angle_rng, init_scale, learning_rate, last_epoch + 1,
                                                           n_trajectories)))
    sweep = combine_runs(runs)
    sweep.attrs["synthetic"] = 1
    return sweep
