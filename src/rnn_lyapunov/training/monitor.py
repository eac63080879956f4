"""Spectra in your own training loop: :class:`SpectrumMonitor`.

``monitor.record(epoch, train_loss=..., val_loss=...)`` takes the Lyapunov spectrum of a recurrent
module's current weights on a fixed batch of sequences and appends it, with the metrics, to a
per-run NetCDF file in the layout ``train_run`` writes (docs/design.md), so that the file joins a
sweep (``combine_runs``) and every figure and ``evaluate_readout`` read it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from rnn_lyapunov.architectures.hidden_only import tangent_size
from rnn_lyapunov.config.run_config import check_spectrum_schedule
from rnn_lyapunov.errors import InputError

# Written for every run, NaN where not given, as train_run writes them (docs/design.md).
METRICS = ("train_loss", "val_loss", "val_accuracy")
_METRIC_MEANINGS = {"train_loss": "training loss, as passed to SpectrumMonitor.record",
                    "val_loss": "validation loss, as passed to SpectrumMonitor.record",
                    "val_accuracy": "validation accuracy (fraction correct), as passed to SpectrumMonitor.record"}
_SPECTRUM_VARIABLES = ("kaplan_yorke_dimension", "entropy")
UNKNOWN = "unknown"  # a setting of the user's own loop that the monitor cannot see
_LOGGER = logging.getLogger(__name__)


def check_spectrum_settings(**settings) -> dict:
    """The ``spectrum.*`` settings of a run config, checked by the run config's own rules, with
    every default filled in (``rnn_lyapunov.config.settings``)."""
    from rnn_lyapunov.config.run_config import validate_spectrum_settings

    return validate_spectrum_settings(settings)


def recurrent_core(module):
    """The ``RecurrentArchitecture`` behind ``module``, sharing its parameters (no copy).

    ``module``: an ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (through ``from_torch``), a ``SequenceModel``
    from ``create_model`` (its ``core``) or a core itself.
    """
    from torch import nn

    from rnn_lyapunov.architectures.base import RecurrentArchitecture
    from rnn_lyapunov.architectures.model import SequenceModel
    from rnn_lyapunov.architectures.torch_interop import from_torch

    if isinstance(module, SequenceModel):
        return module.core
    if isinstance(module, RecurrentArchitecture):
        return module
    if not isinstance(module, nn.Module):
        raise InputError(f"SpectrumMonitor needs the recurrent module (an nn.RNN, nn.LSTM or nn.GRU such as "
                         f"model.encoder, or a model from create_model), got {type(module).__name__}.")
    if module.training and getattr(module, "dropout", 0):
        # Dropout between layers acts only in training; the spectrum is of the network as evaluated.
        # A shallow copy shares the Parameters but has its own training flag, so the caller's mode stays.
        module = copy.copy(module)
        module.training = False
    try:
        return from_torch(module)  # lstm_state="full": compute_spectrum applies the setting
    except InputError as error:
        raise InputError(f"SpectrumMonitor: {error} (pass the recurrent module itself, e.g. model.encoder)") from None


@contextlib.contextmanager
def random_state_preserved():
    """Restore the torch (CPU and every initialised CUDA device), python and numpy generators on exit."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


class SpectrumMonitor:
    """Lyapunov spectra of a recurrent module during your own training, written as a per-run file.

    Args:
        module: the recurrent module: ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (e.g. ``model.encoder``;
            not bidirectional, no ``proj_size``), a ``create_model`` model or its ``core``. Read at
            every ``record``, never modified.
        inputs: the fixed sequences driving every spectrum, float32/float64 (batch, time,
            input_size); for a torch module with ``batch_first=False``, (time, batch, input_size),
            the layout its ``forward`` takes. Copied at construction.
        path: the per-run NetCDF file. If it exists and is a monitor's file of the same run (run
            id, module sizes, hyperparameters and spectrum settings but ``epochs``), recording
            resumes after its last epoch; any other existing file is an error.
        run_id: the run's name in a sweep (default: the file name without ``.nc``).
        hyperparameters: values the monitor cannot see, e.g. ``{"learning_rate": 1e-3, "optimizer":
            "adam", "dataset": "mine", "seed": 0}``: run-config keys (checked like a run config's),
            ``task``, ``loss_function``, or any other scalar (an extra coordinate). The rest is
            ``"unknown"`` (NaN for numbers).
        batch_first: the layout of ``inputs``; default: the module's ``batch_first`` (True for ours).
        **spectrum_settings: the run config's ``spectrum.*`` settings, same names, defaults and
            checks (docs/settings.md). ``epochs``: the epochs whose ``record`` takes a spectrum
            (``"all"``; epoch 0 always). ``trajectories``/``steps``: the first so many sequences /
            time steps of ``inputs``; default: all of them.

    Exponents are in nats per time step (bits with ``units="bits"``), sorted in descending order.
    """

    def __init__(self, module, inputs, path, *, run_id=None, hyperparameters=None, batch_first=None,
                 **spectrum_settings):
        from rnn_lyapunov.engine.arguments import check_input_size, check_inputs

        settings = check_spectrum_settings(**spectrum_settings)
        self.module, self.path = module, Path(path)
        if self.path.is_dir():
            raise InputError(f"SpectrumMonitor path {self.path} is a directory; give a file name such as "
                             f"{self.path / 'run.nc'}.")
        core = recurrent_core(module)
        batch_first = getattr(module, "batch_first", True) if batch_first is None else batch_first
        inputs = check_inputs(inputs).detach()
        inputs = (inputs if batch_first else inputs.transpose(0, 1)).to("cpu", copy=True).contiguous()
        for name, dim, what in (("trajectories", 0, "sequences"), ("steps", 1, "time steps")):
            wanted = spectrum_settings.get(name)
            if wanted is not None and wanted > inputs.shape[dim]:
                raise InputError(f"{name}={wanted} but inputs hold {inputs.shape[dim]} {what} (layout (batch, time, "
                                 f"input_size), batch_first={batch_first}); pass more or lower {name}.")
            inputs = inputs.narrow(dim, 0, wanted or inputs.shape[dim])
        settings["trajectories"], settings["steps"] = inputs.shape[0], inputs.shape[1]
        check_input_size(core, inputs)
        self.state_size = tangent_size(core, settings["lstm_state"])
        check_spectrum_schedule(warmup_steps=settings["warmup_steps"], time_steps=inputs.shape[1],
                        n_exponents=settings["n_exponents"], state_size=self.state_size)
        self.inputs, self.settings = inputs, settings
        self.hyperparameters = _hyperparameters(module, core, self.state_size, run_id or self.path.stem,
                                                hyperparameters or {})
        self.spectra: dict = {}                      # epoch -> Spectrum, or None where the state diverged
        self.metrics: dict = {name: {} for name in METRICS}  # name -> {epoch: value}
        self.last_epoch = -1
        self.device = UNKNOWN
        if self.path.exists():
            self._resume()

    def _resume(self) -> None:
        """Continue the file at ``path`` after its last epoch, if it is this run's; InputError otherwise."""
        from rnn_lyapunov.engine.spectrum import EXPONENT_UNITS, Spectrum
        from rnn_lyapunov.io.run_file import RUNNING_ESTIMATE
        from rnn_lyapunov.io.sweep_file import open_run_file

        remedy = f"delete {self.path} or choose another path to start a new run"
        try:
            existing = open_run_file(self.path)
        except InputError as error:
            raise InputError(f"SpectrumMonitor cannot resume: {error} Or {remedy}.") from None
        expected = {**{f"spectrum_{key}": value for key, value in self.settings.items() if key != "epochs"},
                    **self._coordinates()}
        found = {**existing.attrs, **{name: coord.values for name, coord in existing.coords.items() if coord.ndim == 0}}
        found = {key: _as_written(value) for key, value in found.items()}
        differ = [f"{key} = {found.get(key)} in the file, {_as_written(value)} here" for key, value in expected.items()
                  if found.get(key) != _as_written(value)]
        if differ:
            raise InputError(f"SpectrumMonitor cannot resume {self.path}: it is another run ({'; '.join(differ)}). "
                             f"Pass the same run and settings to append to it, or {remedy}.")
        factor = EXPONENT_UNITS[self.settings["units"]][1]
        running = existing.get(RUNNING_ESTIMATE)
        for epoch in existing["epoch"].values.tolist():
            values = existing["lyapunov_exponents_per_trajectory"].sel(epoch=epoch).values
            if np.isfinite(values).any():
                recorded = running is not None and running.attrs.get("epoch") == epoch
                self.spectra[epoch] = Spectrum(
                    per_trajectory=torch.tensor(values / factor),
                    history=torch.tensor(running.values / factor) if recorded else None,
                    history_steps=torch.tensor(existing["step"].values) if recorded else None)
        for name, variable in existing.data_vars.items():
            if variable.dims == ("epoch",) and name not in _SPECTRUM_VARIABLES:
                self.metrics[str(name)] = dict(zip(existing["epoch"].values.tolist(), variable.values.tolist()))
        self.last_epoch = int(existing["epoch"].values.max())
        self.device = str(existing.attrs.get("device", UNKNOWN))

    def takes_spectrum_at(self, epoch: int) -> bool:
        """Whether ``record(epoch)`` computes a spectrum (``epochs`` setting; epoch 0 always)."""
        return epoch == 0 or self.settings["epochs"] == "all" or epoch in self.settings["epochs"]

    def spectrum(self):
        """The :class:`Spectrum` of the module's current weights, or None if the state diverged.

        Computed on a copy (``compute_spectrum``): the module's parameters, gradients and
        train/eval mode, and the torch, python and numpy random states, are left as they were.
        """
        from rnn_lyapunov.training.spectra import compute_spectrum

        core = recurrent_core(self.module)
        parameter = next(iter(core.parameters()), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        self.device = str(device)
        with random_state_preserved():
            return compute_spectrum(core, self.inputs.to(device), self.settings, _LOGGER)

    def record(self, epoch: int, **metrics):
        """Record epoch ``epoch`` (0 = before training) and write the file atomically.

        Takes a spectrum if ``epoch`` is a spectrum epoch; stores ``metrics`` (numbers or 0-d
        tensors, e.g. ``train_loss``, ``val_loss``, ``val_accuracy``; NaN where not given).
        Epochs must increase: an epoch already in the file is an error, never overwritten.
        Returns the :class:`Spectrum` (None if none was taken or the state diverged).
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise InputError(f"record: epoch must be an int >= 0 (0 = before training), got {epoch!r}.")
        if epoch <= self.last_epoch:
            raise InputError(
                f"record: epoch {epoch} is already in {self.path} (it holds epochs 0 to {self.last_epoch}); epochs "
                "must increase. Record each epoch once, with all its metrics; to start over, delete the file "
                "or choose another path.")
        values = {name: _number(name, value) for name, value in metrics.items()}
        spectrum = self.spectrum() if self.takes_spectrum_at(epoch) else None
        if self.takes_spectrum_at(epoch):
            if spectrum is not None and spectrum.history is not None:
                # Only the last running estimates are written (run_file); older ones would only use memory.
                self.spectra = {key: old and replace(old, history=None, history_steps=None)
                                for key, old in self.spectra.items()}
            self.spectra[int(epoch)] = spectrum
        for name, value in values.items():
            self.metrics.setdefault(name, {})[int(epoch)] = value
        self.last_epoch = int(epoch)
        self.write()
        return spectrum

    def dataset(self):
        """The per-run ``xarray.Dataset`` of what was recorded (layout in docs/design.md)."""
        from rnn_lyapunov.config.settings import SETTINGS
        from rnn_lyapunov.io.run_file import run_dataset
        from rnn_lyapunov.io.storage import provenance_attributes

        if self.last_epoch < 0:
            raise InputError("SpectrumMonitor has recorded nothing yet; call record(epoch, ...) first.")
        epochs = range(self.last_epoch + 1)
        metrics = {name: [values.get(epoch, math.nan) for epoch in epochs] for name, values in self.metrics.items()}
        metric_attributes = {name: {"units": "1", "long_name": _METRIC_MEANINGS.get(name, f"{name}, as passed to "
                                                                                         "SpectrumMonitor.record")}
                             for name in metrics}
        known = self.hyperparameters
        # As train_run: every scalar run setting (mappings and lists live in the config JSON) and the state size.
        top_level = [setting.key for setting in SETTINGS
                     if setting.section is None and not isinstance(setting.default, (dict, list))] + ["state_size"]
        config = {**{key: value for key, value in known.items() if value != UNKNOWN},
                  "epochs": self.last_epoch, "spectrum": self.settings}
        attributes = {**{key: known.get(key, UNKNOWN) for key in top_level},
                      **{f"spectrum_{key}": value for key, value in self.settings.items()},
                      "task": known.get("task", UNKNOWN), "loss_function": known.get("loss_function", UNKNOWN),
                      **provenance_attributes(config, self.device)}
        return run_dataset(self.spectra, metrics, n_trajectories=self.settings["trajectories"],
                           n_exponents=self.settings["n_exponents"] or self.state_size,
                           units=self.settings["units"], hyperparameters=self._coordinates(),
                           metric_attributes=metric_attributes, attributes=attributes)

    def _coordinates(self) -> dict:
        """The scalar coordinates of the file: the hyperparameters of ``HYPERPARAMETER_COORDINATES``
        (None, written NaN, for unknown numbers) and any other name passed in ``hyperparameters``."""
        from rnn_lyapunov.config.settings import BY_KEY
        from rnn_lyapunov.io.run_file import HYPERPARAMETER_COORDINATES

        known = self.hyperparameters
        coordinates = {name: None if known.get(name, UNKNOWN) == UNKNOWN and name not in _TEXT_COORDINATES
                       else known.get(name, UNKNOWN) for name in HYPERPARAMETER_COORDINATES}
        # Run settings and the task are attributes, as in train_run's files; other names are extra coordinates.
        extra = {key: value for key, value in known.items()
                 if key not in coordinates and key not in BY_KEY and key not in ("task", "loss_function")}
        return {**coordinates, **extra}

    def write(self) -> None:
        """Write the file atomically (``record`` does so after every epoch)."""
        from rnn_lyapunov.io.storage import write_netcdf_atomic

        write_netcdf_atomic(self.dataset(), self.path, make_parents=True)


_TEXT_COORDINATES = ("run_id", "architecture", "dataset", "init", "optimizer")


def _as_written(value) -> str:
    """A value as the file holds it, as text; None, NaN (a coordinate) and "none" (an attribute) are "nan"."""
    from rnn_lyapunov.io.run_file import attribute_value

    if isinstance(value, (np.ndarray, np.generic)):
        value = value.item()
    if value is None or value == "none" or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return str(attribute_value(value))


def _number(name: str, value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InputError(f"record: metric {name} must be one number, got a tensor of shape {tuple(value.shape)}.")
        value = value.detach().item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"record: metric {name} must be a number or a 0-d tensor, got {type(value).__name__}.")
    return float(value)


def _hyperparameters(module, core, state_size: int, run_id, given: dict) -> dict:
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
