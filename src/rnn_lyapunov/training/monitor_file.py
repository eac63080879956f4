"""The per-run NetCDF file of a ``SpectrumMonitor``: what it writes, how it resumes one, and the
hyperparameters it records (the layout ``train_run`` writes, docs/design.md)."""

from __future__ import annotations

import math

import numpy as np
import torch

from rnn_lyapunov.errors import InputError

# Written for every run, NaN where not given, as train_run writes them (docs/design.md).
METRICS = ("train_loss", "val_loss", "val_accuracy")
_METRIC_MEANINGS = {"train_loss": "training loss, as passed to SpectrumMonitor.record",
                    "val_loss": "validation loss, as passed to SpectrumMonitor.record",
                    "val_accuracy": "validation accuracy (fraction correct), as passed to SpectrumMonitor.record"}
_SPECTRUM_VARIABLES = ("kaplan_yorke_dimension", "entropy")
_TEXT_COORDINATES = ("run_id", "architecture", "dataset", "init", "optimizer")
UNKNOWN = "unknown"  # a setting of the user's own loop that the monitor cannot see


def monitor_dataset(monitor):
    """The per-run ``xarray.Dataset`` of what ``monitor`` recorded (layout in docs/design.md)."""
    from rnn_lyapunov.config.settings import SETTINGS
    from rnn_lyapunov.io.run_file import run_dataset
    from rnn_lyapunov.io.storage import provenance_attributes

    if monitor.last_epoch < 0:
        raise InputError("SpectrumMonitor has recorded nothing yet; call record(epoch, ...) first.")
    epochs = range(monitor.last_epoch + 1)
    metrics = {name: [values.get(epoch, math.nan) for epoch in epochs] for name, values in monitor.metrics.items()}
    metric_attributes = {name: {"units": "1", "long_name": _METRIC_MEANINGS.get(name, f"{name}, as passed to "
                                                                                     "SpectrumMonitor.record")}
                         for name in metrics}
    known, settings = monitor.hyperparameters, monitor.settings
    # As train_run: every scalar run setting (mappings and lists live in the config JSON) and the state size.
    top_level = [setting.key for setting in SETTINGS
                 if setting.section is None and not isinstance(setting.default, (dict, list))] + ["state_size"]
    config = {**{key: value for key, value in known.items() if value != UNKNOWN},
              "epochs": monitor.last_epoch, "spectrum": settings}
    attributes = {**{key: known.get(key, UNKNOWN) for key in top_level},
                  **{f"spectrum_{key}": value for key, value in settings.items()},
                  "task": known.get("task", UNKNOWN), "loss_function": known.get("loss_function", UNKNOWN),
                  **provenance_attributes(config, monitor.device)}
    return run_dataset(monitor.spectra, metrics, n_trajectories=settings["trajectories"],
                       n_exponents=settings["n_exponents"] or monitor.state_size,
                       units=settings["units"], hyperparameters=coordinates(monitor.hyperparameters),
                       metric_attributes=metric_attributes, attributes=attributes)


def coordinates(known: dict) -> dict:
    """The scalar coordinates of the file from the monitor's hyperparameters ``known``: those of
    ``HYPERPARAMETER_COORDINATES`` (None, written NaN, for unknown numbers) and any other name passed
    in ``hyperparameters``."""
    from rnn_lyapunov.config.settings import BY_KEY
    from rnn_lyapunov.io.run_file import HYPERPARAMETER_COORDINATES

    found = {name: None if known.get(name, UNKNOWN) == UNKNOWN and name not in _TEXT_COORDINATES
             else known.get(name, UNKNOWN) for name in HYPERPARAMETER_COORDINATES}
    # Run settings and the task are attributes, as in train_run's files; other names are extra coordinates.
    extra = {key: value for key, value in known.items()
             if key not in found and key not in BY_KEY and key not in ("task", "loss_function")}
    return {**found, **extra}


def resume(monitor) -> None:
    """Continue the file at ``monitor.path`` after its last epoch, if it is this run's; InputError otherwise."""
    from rnn_lyapunov.engine.spectrum import EXPONENT_UNITS, Spectrum
    from rnn_lyapunov.io.run_file import RUNNING_ESTIMATE
    from rnn_lyapunov.io.sweep_file import open_run_file

    remedy = f"delete {monitor.path} or choose another path to start a new run"
    try:
        existing = open_run_file(monitor.path)
    except InputError as error:
        raise InputError(f"SpectrumMonitor cannot resume: {error} Or {remedy}.") from None
    expected = {**{f"spectrum_{key}": value for key, value in monitor.settings.items() if key != "epochs"},
                **coordinates(monitor.hyperparameters)}
    found = {**existing.attrs, **{name: coord.values for name, coord in existing.coords.items() if coord.ndim == 0}}
    found = {key: _as_written(value) for key, value in found.items()}
    differ = [f"{key} = {found.get(key)} in the file, {_as_written(value)} here" for key, value in expected.items()
              if found.get(key) != _as_written(value)]
    if differ:
        raise InputError(f"SpectrumMonitor cannot resume {monitor.path}: it is another run ({'; '.join(differ)}). "
                         f"Pass the same run and settings to append to it, or {remedy}.")
    factor = EXPONENT_UNITS[monitor.settings["units"]][1]
    running = existing.get(RUNNING_ESTIMATE)
    for epoch in existing["epoch"].values.tolist():
        values = existing["lyapunov_exponents_per_trajectory"].sel(epoch=epoch).values
        if np.isfinite(values).any():
            recorded = running is not None and running.attrs.get("epoch") == epoch
            monitor.spectra[epoch] = Spectrum(
                per_trajectory=torch.tensor(values / factor),
                history=torch.tensor(running.values / factor) if recorded else None,
                history_steps=torch.tensor(existing["step"].values) if recorded else None)
    for name, variable in existing.data_vars.items():
        if variable.dims == ("epoch",) and name not in _SPECTRUM_VARIABLES:
            monitor.metrics[str(name)] = dict(zip(existing["epoch"].values.tolist(), variable.values.tolist()))
    monitor.last_epoch = int(existing["epoch"].values.max())
    monitor.device = str(existing.attrs.get("device", UNKNOWN))


def _as_written(value) -> str:
    """A value as the file holds it, as text; None, NaN (a coordinate) and "none" (an attribute) are "nan"."""
    from rnn_lyapunov.io.run_file import attribute_value

    if isinstance(value, (np.ndarray, np.generic)):
        value = value.item()
    if value is None or value == "none" or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return str(attribute_value(value))


def hyperparameters_of(module, core, state_size: int, run_id, given: dict) -> dict:
    """What the monitor sees of the module, overridden by ``given`` (checked like a run config)."""
    from rnn_lyapunov.config.schema import describe_errors, run_config_schema, validator
    from rnn_lyapunov.config.settings import BY_KEY

    if not isinstance(given, dict):
        raise InputError(f"hyperparameters must be a dict of names to values, got {type(given).__name__}.")
    settings = {key: value for key, value in given.items() if key in BY_KEY and BY_KEY[key].section is None}
    problems = describe_errors(validator(run_config_schema()).iter_errors({"run_id": run_id, **settings}))
    if problems:
        raise InputError("invalid hyperparameters:\n  " + "\n  ".join(problems))
    odd = [key for key, value in given.items()
           if not isinstance(value, (str, int, float, bool, type(None))) and key not in settings]
    if odd or not all(isinstance(key, str) and key.isidentifier() for key in given):
        raise InputError(f"hyperparameters {odd or list(given)}: names must be identifiers and values numbers, "
                         "strings or booleans (they become coordinates of the file).")
    dropout = getattr(module, "dropout", None)
    seen = {"run_id": str(run_id), "architecture": core.architecture_name or type(core).__name__,
            "hidden_size": core.hidden_size, "num_layers": core.num_layers, "state_size": state_size,
            "bias": bool(core.bias), "dropout": getattr(dropout, "p", dropout)}
    return {**{key: value for key, value in seen.items() if value is not None}, **given}
