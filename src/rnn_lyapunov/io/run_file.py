"""The per-run NetCDF layout: a training run's spectra and metrics, one file per run.

Built from :meth:`Spectrum.to_dataset` results stacked along ``epoch``, so the names, units and
derived quantities (standard error, Kaplan-Yorke dimension, entropy) are defined in one place.
The layout (variables, dims, coordinates, attributes) is documented in docs/design.md; the sweep
combiner (:mod:`rnn_lyapunov.io.sweep_file`) and the figures read exactly this.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

from rnn_lyapunov.engine.spectrum import STEP_DIM, Spectrum

RUNNING_ESTIMATE = "lyapunov_running_estimate"
# CLV angles per (epoch, trajectory), radians; present only when spectrum.clv_angles is on (docs/clv.md).
CLV_ANGLE_VARIABLES = {
    "clv_angle_1_2": "median over the steps of the angle between the lines of CLV 1 and CLV 2",
    "clv_unstable_stable_angle": "smallest angle over the steps between the unstable and the stable CLV subspaces "
                                 "(NaN when the computed CLVs are all unstable or all stable)",
}
# Hyperparameters stored as scalar coordinates of the per-run file (docs/design.md).
HYPERPARAMETER_COORDINATES = ("run_id", "architecture", "dataset", "hidden_size", "num_layers", "state_size",
                              "init", "init_scale", "learning_rate", "optimizer", "dropout", "seed")


def _missing(n_trajectories: int, n_exponents: int) -> Spectrum:
    """A NaN spectrum for an epoch without one (not requested, or the state diverged)."""
    return Spectrum(per_trajectory=torch.full((n_trajectories, n_exponents), math.nan, dtype=torch.float64))


def attribute_value(value):
    """NetCDF attributes hold numbers and strings: None -> "none", lists -> their text."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, (str, int, float)) else str(value)


def spectra_by_epoch(spectra: Mapping[int, Spectrum | None], *, n_epochs: int, n_trajectories: int,
                     n_exponents: int, units: str = "nats"):
    """Each epoch's ``Spectrum.to_dataset()`` (NaN where there is none) concatenated along ``epoch``.

    The running estimates of the last epoch that has them are kept as ``lyapunov_running_estimate``
    (step, trajectory, exponent), with that epoch in the attribute ``epoch``; earlier ones are dropped
    (they would multiply the file size by the number of epochs).
    """
    import xarray as xr

    per_epoch, running, running_epoch = [], None, -1
    for epoch in range(n_epochs):
        spectrum = spectra.get(epoch) or _missing(n_trajectories, n_exponents)
        dataset = spectrum.to_dataset(units)
        if RUNNING_ESTIMATE in dataset:
            running, running_epoch = dataset[RUNNING_ESTIMATE], epoch
            dataset = dataset.drop_vars([RUNNING_ESTIMATE, STEP_DIM])
        per_epoch.append(dataset.drop_attrs(deep=False))
    stacked = xr.concat(per_epoch, dim="epoch", data_vars="all", coords="minimal", combine_attrs="override")
    stacked = stacked.assign_coords(epoch=("epoch", np.arange(n_epochs), {"long_name": "training epoch (0 = initialisation)"}))
    if running is not None:
        stacked[RUNNING_ESTIMATE] = running.assign_attrs(
            long_name=f"running estimate of the exponents at epoch {running_epoch}", epoch=running_epoch)
    return stacked, running_epoch


def run_dataset(spectra: Mapping[int, Spectrum | None], metrics: Mapping[str, Sequence[float]], *,
                n_trajectories: int, n_exponents: int, hyperparameters: Mapping, units: str = "nats",
                metric_attributes: Mapping[str, dict] | None = None, attributes: Mapping | None = None,
                clv_angles: Mapping[int, Mapping[str, Sequence[float]] | None] | None = None):
    """The per-run ``xarray.Dataset`` (layout in docs/design.md).

    Args:
        spectra: epoch -> the spectrum measured after that epoch (None where it diverged); epochs
            without an entry get NaN. Exponents in nats per step, descending.
        metrics: name -> one value per epoch (``train_loss``, ``val_loss``, ``val_accuracy``), all the
            same length: the number of epochs of the file, epoch 0 = initialisation.
        n_trajectories, n_exponents: the shape of an epoch's spectrum, for epochs without one.
        units: ``"nats"`` or ``"bits"`` per step, for every exponent-valued variable.
        hyperparameters: scalar coordinates (``HYPERPARAMETER_COORDINATES`` and any others).
        metric_attributes: name -> variable attributes (``units``, ``long_name``).
        attributes: global attributes (provenance, the run config, ...).
        clv_angles: epoch -> {name of ``CLV_ANGLE_VARIABLES``: one angle per trajectory, radians} (None
            where the CLVs diverged); None (the default) writes no CLV variables at all.
    """
    n_epochs = len(next(iter(metrics.values())))
    dataset, running_epoch = spectra_by_epoch(spectra, n_epochs=n_epochs, n_trajectories=n_trajectories,
                                              n_exponents=n_exponents, units=units)
    for name, values in metrics.items():
        dataset[name] = ("epoch", np.asarray(values, dtype=float), dict((metric_attributes or {}).get(name, {})))
    if clv_angles is not None:
        for name, meaning in CLV_ANGLE_VARIABLES.items():
            values = np.full((n_epochs, n_trajectories), math.nan)
            for epoch, angles in clv_angles.items():
                if angles is not None and epoch < n_epochs:
                    values[epoch] = np.asarray(angles[name], dtype=float)
            dataset[name] = (("epoch", "trajectory"), values, {"units": "radians", "long_name": meaning})
    dataset = dataset.assign_coords({name: ((), math.nan if value is None else value)
                                     for name, value in hyperparameters.items()})
    dataset.attrs = {name: attribute_value(value) for name, value in (attributes or {}).items()}
    dataset.attrs["running_estimate_epoch"] = running_epoch
    return dataset


FLOSSING_EPISODE = "flossing_episode"


def flossing_variables(history: Sequence[Mapping], n_exponents: int) -> dict:
    """The flossing episodes of a run as variables along ``flossing_episode`` (docs/design.md).

    ``history``: one dict per episode with ``epoch`` (the epoch it followed; 0 = before training),
    ``updates``, ``before``/``after`` ((n_exponents,) mean exponents on the run's evaluation windows,
    nats per step), ``loss_mean``/``loss_last`` ((nats per step)^2). Exponents stay in nats per
    step whatever ``spectrum.units`` says: they are the flossing objective's own units.
    """
    count = len(history)
    exponents = {key: np.array([np.asarray(item[key], dtype=float) for item in history]).reshape(count, n_exponents)
                 for key in ("before", "after")}
    dims = (FLOSSING_EPISODE, "flossing_exponent")
    per_step = "nats per time step"
    # Indexed dims: runs with different episode counts then combine into a sweep, padded with NaN.
    coordinates = {FLOSSING_EPISODE: (FLOSSING_EPISODE, np.arange(count), {"long_name": "flossing episode (0: first)"}),
                   "flossing_exponent": ("flossing_exponent", np.arange(1, n_exponents + 1),
                                         {"long_name": "index of the flossed exponent (1: largest)"})}
    return {name: variable.assign_coords({key: value for key, value in coordinates.items() if key in variable.dims})
            for name, variable in _flossing_arrays(history, exponents, dims, per_step).items()}


def _flossing_arrays(history, exponents, dims, per_step) -> dict:
    import xarray as xr

    return {
        "flossing_epoch": xr.DataArray([int(item["epoch"]) for item in history], dims=FLOSSING_EPISODE, attrs={
            "units": "1", "long_name": "epoch the flossing episode followed (0: before training)"}),
        "flossing_updates": xr.DataArray([int(item["updates"]) for item in history], dims=FLOSSING_EPISODE,
                                         attrs={"units": "1", "long_name": "flossing updates in the episode"}),
        "flossing_exponents_before": xr.DataArray(exponents["before"], dims=dims, attrs={
            "units": per_step, "long_name": "leading exponents before the episode, mean over the evaluation windows"}),
        "flossing_exponents_after": xr.DataArray(exponents["after"], dims=dims, attrs={
            "units": per_step, "long_name": "leading exponents after the episode, mean over the evaluation windows"}),
        "flossing_loss": xr.DataArray([float(item["loss_mean"]) for item in history], dims=FLOSSING_EPISODE, attrs={
            "units": "(nats per time step)^2", "long_name": "flossing loss mean (lambda - target)^2, mean over the "
                                                            "episode's updates"}),
        "flossing_loss_last": xr.DataArray([float(item["loss_last"]) for item in history], dims=FLOSSING_EPISODE,
                                           attrs={"units": "(nats per time step)^2",
                                                  "long_name": "flossing loss of the episode's last update"}),
    }
