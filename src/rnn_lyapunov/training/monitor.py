"""Spectra in your own training loop: :class:`SpectrumMonitor`.

``monitor.record(epoch, train_loss=..., val_loss=...)`` takes the Lyapunov spectrum of a recurrent
module's current weights on a fixed batch of sequences and appends it, with the metrics, to a
per-run NetCDF file in the layout ``train_run`` writes (docs/design.md), so that the file joins a
sweep (``combine_runs``) and every figure and ``evaluate_readout`` read it. The file itself is
:mod:`~rnn_lyapunov.training.monitor_file`'s; the module behind it,
:mod:`~rnn_lyapunov.training.monitored_module`'s.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from rnn_lyapunov.architectures.hidden_only import tangent_size
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.training import monitor_file
from rnn_lyapunov.training.monitor_file import METRICS, UNKNOWN  # noqa: F401  (their import path before the split)
from rnn_lyapunov.training.monitored_module import random_state_preserved, recurrent_core  # noqa: F401  (likewise)

_LOGGER = logging.getLogger(__name__)


def check_spectrum_settings(**settings) -> dict:
    """The ``spectrum.*`` settings of a run config, checked by the run config's own rules, with
    every default filled in (``rnn_lyapunov.config.settings``)."""
    from rnn_lyapunov.config.run_config import validate_spectrum_settings

    return validate_spectrum_settings(settings)


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
        from rnn_lyapunov.config.engine_arguments import check_spectrum_schedule
        from rnn_lyapunov.engine.arguments import check_input_size, check_inputs

        settings = check_spectrum_settings(**spectrum_settings)
        self.module, self.path = module, Path(path)
        if self.path.is_dir():
            raise InputError(f"SpectrumMonitor path {self.path} is a directory; give a file name such as "
                             f"{self.path / 'run.nc'}.")
        core = recurrent_core(module)
        inferred = batch_first is None
        batch_first = getattr(module, "batch_first", True) if batch_first is None else batch_first
        inputs = check_inputs(inputs).detach()
        if inferred and not batch_first:
            # The module's own layout is the documented default; say which dim was read as the
            # batch, since (batch, time, features) inputs would be read as (time, batch) here.
            _LOGGER.info(
                "SpectrumMonitor reads inputs of shape %s as (time, batch, input_size): %s has batch_first=False. "
                "Pass batch_first=True if they are (batch, time, input_size).", tuple(inputs.shape),
                type(module).__name__)
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
        check_spectrum_schedule(settings, time_steps=inputs.shape[1], state_size=self.state_size)
        self.inputs, self.settings = inputs, settings
        self.hyperparameters = monitor_file.hyperparameters_of(module, core, self.state_size, run_id or self.path.stem,
                                                hyperparameters or {})
        self.spectra: dict = {}                      # epoch -> Spectrum, or None where the state diverged
        self.metrics: dict = {name: {} for name in METRICS}  # name -> {epoch: value}
        self.last_epoch = -1
        self.device = UNKNOWN
        if self.path.exists():
            self._resume()

    def _resume(self) -> None:
        """Continue the file at ``path`` after its last epoch, if it is this run's; InputError otherwise."""
        monitor_file.resume(self)

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
        return monitor_file.monitor_dataset(self)

    def _coordinates(self) -> dict:
        """The scalar coordinates of the file (``monitor_file.coordinates``)."""
        return monitor_file.coordinates(self.hyperparameters)

    def write(self) -> None:
        """Write the file atomically (``record`` does so after every epoch)."""
        from rnn_lyapunov.io.storage import write_netcdf_atomic

        write_netcdf_atomic(self.dataset(), self.path, make_parents=True)


def _number(name: str, value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InputError(f"record: metric {name} must be one number, got a tensor of shape {tuple(value.shape)}.")
        value = value.detach().item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"record: metric {name} must be a number or a 0-d tensor, got {type(value).__name__}.")
    return float(value)
