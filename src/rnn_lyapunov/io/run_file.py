"""The per-run NetCDF layout: a training run's metrics and spectra as a labelled Dataset.

The layout (variables, dims, coordinates, attributes) is documented in docs/design.md; the sweep
combiner and the figures read exactly this.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Hyperparameters stored as scalar coordinates of the per-run file (docs/design.md).
HYPERPARAMETER_COORDINATES = ("run_id", "architecture", "dataset", "hidden_size", "num_layers", "state_size",
                              "init", "init_scale", "learning_rate", "optimizer", "dropout", "seed")


def run_dataset(config: dict, state: dict, *, state_size: int, task: str, device: str, n_exponents=None):
    """The per-run ``xarray.Dataset`` from a run's metrics and spectra (layout in docs/design.md)."""
    import xarray as xr

    from rnn_lyapunov.engine.spectrum import UNITS, kaplan_yorke_dimension, standard_error
    from rnn_lyapunov.io.storage import provenance_attributes

    n_epochs = state["epoch"] + 1
    n_exponents = n_exponents or state_size
    n_trajectories = config["spectrum"]["trajectories"]
    per_trajectory = np.full((n_epochs, n_trajectories, n_exponents), np.nan)
    for epoch, values in state["spectra"].items():
        if values is not None and epoch < n_epochs:
            per_trajectory[epoch] = values.numpy()
    mean = per_trajectory.mean(axis=1)  # NaN at epochs without a spectrum
    stderr = np.stack([standard_error(torch.from_numpy(values)).numpy() for values in per_trajectory])
    dimension = [math.nan if np.isnan(row).any() else kaplan_yorke_dimension(torch.from_numpy(row)) for row in mean]
    loss_name = "mean squared error" if task == "regression_last_step" else "cross-entropy in nats per prediction"
    metrics = state["metrics"]
    data_vars = {
        "lyapunov_exponents": (("epoch", "exponent"), mean, {
            "units": UNITS, "long_name": "Lyapunov exponent, mean over trajectories"}),
        "lyapunov_exponents_per_trajectory": (("epoch", "trajectory", "exponent"), per_trajectory, {
            "units": UNITS, "long_name": "Lyapunov exponent of each validation input sequence"}),
        "lyapunov_stderr": (("epoch", "exponent"), stderr, {
            "units": UNITS, "long_name": "standard error of the mean exponent across trajectories"}),
        "kaplan_yorke_dimension": ("epoch", np.array(dimension), {
            "units": "1", "long_name": "Kaplan-Yorke dimension of the mean spectrum"}),
        "train_loss": ("epoch", np.array(metrics["train_loss"]), {
            "units": "1", "long_name": f"training loss ({loss_name}), mean over the epoch's batches"}),
        "val_loss": ("epoch", np.array(metrics["val_loss"]), {
            "units": "1", "long_name": f"validation loss ({loss_name})"}),
        "val_accuracy": ("epoch", np.array(metrics["val_accuracy"]), {
            "units": "1", "long_name": "validation accuracy (fraction correct; NaN for regression)"}),
    }
    coords = {"epoch": ("epoch", np.arange(n_epochs), {"long_name": "training epoch (0 = initialisation)"}),
              "exponent": ("exponent", np.arange(1, n_exponents + 1), {"long_name": "exponent index, descending"}),
              "trajectory": ("trajectory", np.arange(n_trajectories), {"long_name": "validation input sequence"})}
    running = state["running_estimate"]
    if running is not None:
        data_vars["lyapunov_running_estimate"] = (("convergence_step", "trajectory", "exponent"),
                                                  running["history"].numpy(), {
            "units": UNITS, "long_name": f"running estimate of the exponents at epoch {running['epoch']}"})
        coords["convergence_step"] = ("convergence_step", running["steps"].numpy(),
                                      {"long_name": "steps averaged after warm-up"})
    hyperparameters = {**config, "state_size": state_size}
    for name in HYPERPARAMETER_COORDINATES:
        value = hyperparameters[name]
        coords[name] = ((), math.nan if value is None else value)
    spectrum = config["spectrum"]
    attributes = {
        **{name: ("none" if value is None else value) for name, value in hyperparameters.items()
           if isinstance(value, (str, int, float)) or value is None},
        **{f"spectrum_{key}": ("none" if value is None else str(value) if isinstance(value, list) else value)
           for key, value in spectrum.items()},
        "task": task,
        "loss_function": loss_name,
        "running_estimate_epoch": -1 if running is None else running["epoch"],
        **provenance_attributes(config, device),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attributes)
