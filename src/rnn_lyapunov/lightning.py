"""A PyTorch Lightning callback that measures the Lyapunov spectrum while a LightningModule trains.

Needs the optional extra: ``pip install 'rnn-lyapunov[lightning]'``. Built on
:class:`rnn_lyapunov.training.monitor.SpectrumMonitor`; the file it writes is a per-run NetCDF in
the layout ``train_run`` writes (docs/design.md).
"""

from __future__ import annotations

import math

from rnn_lyapunov.extras import require

require("lightning", needed_by="rnn_lyapunov.lightning (LyapunovSpectrumCallback)")
from lightning.pytorch.callbacks import Callback  # noqa: E402 - after the check that names the extra

from rnn_lyapunov.errors import InputError  # noqa: E402
from rnn_lyapunov.training.monitor import METRICS, SpectrumMonitor, check_spectrum_settings

LOGGED = ("largest_lyapunov_exponent", "kaplan_yorke_dimension")


class LyapunovSpectrumCallback(Callback):
    """Record the spectrum of a LightningModule's recurrent module before training and after epochs.

    Args:
        module: how to find the recurrent module on the LightningModule: an attribute name
            (``"encoder"``, dotted ``"model.rnn"``), a callable ``pl_module -> module``, or the
            module itself. It may be an ``nn.RNN``/``nn.LSTM``/``nn.GRU``, a ``create_model`` model
            or its core.
        inputs: fixed sequences driving every spectrum, (batch, time, input_size) (for a torch
            module with ``batch_first=False``: (time, batch, input_size)); see ``SpectrumMonitor``.
        path: the per-run NetCDF file, written atomically after each epoch and at the end of fit.
        epochs: ``"all"`` or the epochs after which to take a spectrum, e.g. ``[0, 1, 2, 4]``;
            epoch 0 is before training (always taken), epoch e after the e-th training epoch.
        metrics: names read from ``trainer.callback_metrics`` (or ``<name>_epoch``) at the end of
            each training epoch and written per epoch; validation metrics only when validation
            ran in that epoch (NaN otherwise, and at epoch 0).
        log: log ``largest_lyapunov_exponent`` and ``kaplan_yorke_dimension`` (``pl_module.log``,
            so they reach the trainer's loggers and ``callback_metrics``) at each spectrum epoch.
        run_id, hyperparameters, batch_first, **spectrum_settings: as for ``SpectrumMonitor``
            (the run config's ``spectrum.*`` settings, same names, defaults and checks).
        flossing: None (default), or a dict for gradient flossing of the recurrent module
            (docs/flossing.md): ``inputs`` ((batch, time, input_size) tensor or callable update ->
            such a tensor, whatever ``batch_first``), ``n_exponents``, ``learning_rate`` and
            optionally ``target`` (0.0), ``before_training`` (updates before the first epoch, after
            the epoch-0 spectrum; 0), ``every_epochs`` (0 = never) and ``updates_per_episode``,
            ``warmup_steps``, ``batch_size``, ``optimizer``, ``detach_state``: as for ``floss``.
            Each episode's ``FlossingResult`` is appended to ``flossing_history`` as
            ``(epoch, result)``; the flossing optimizer's state is in the callback's checkpoint
            state. Every process flosses its own copy of the weights with the same inputs.

    Only the global-rank-zero process computes spectra and writes. The logged exponent is in the
    file's units (nats per step, or bits with ``units="bits"``).
    """

    def __init__(self, module, inputs, path, *, epochs="all", metrics=METRICS, log: bool = True, run_id=None,
                 hyperparameters=None, batch_first=None, flossing: dict | None = None, **spectrum_settings):
        if not (isinstance(module, str) or callable(module)):
            raise InputError(f"module must be an attribute name of the LightningModule (e.g. 'encoder'), a "
                             f"callable pl_module -> recurrent module or the module, got {type(module).__name__}.")
        check_spectrum_settings(epochs=epochs, **spectrum_settings)  # refuse bad settings before fit starts
        self.find_module, self.inputs, self.path = module, inputs, path
        self.metric_names, self.log_values = tuple(metrics), log
        self.options = {"run_id": run_id, "hyperparameters": hyperparameters, "batch_first": batch_first,
                        "epochs": epochs, **spectrum_settings}
        self.monitor: SpectrumMonitor | None = None
        self._validated_this_epoch = False
        # -- gradient flossing (docs/flossing.md) --
        from rnn_lyapunov.training.flossing import check_flossing_options

        self.flossing = None if flossing is None else check_flossing_options(flossing)
        self.flosser, self.flossing_history, self._flosser_state = None, [], None

    def recurrent_module(self, pl_module):
        """The module whose spectrum is taken, found on ``pl_module``."""
        from torch import nn

        if isinstance(self.find_module, nn.Module):  # modules are callable too: not a finder
            return self.find_module
        if callable(self.find_module) and not isinstance(self.find_module, str):
            return self.find_module(pl_module)
        found = pl_module
        for part in self.find_module.split("."):
            if not hasattr(found, part):
                raise InputError(f"LyapunovSpectrumCallback: {type(pl_module).__name__} has no attribute "
                                 f"{self.find_module!r}; pass the attribute holding the recurrent module "
                                 "(e.g. 'encoder') or a callable pl_module -> module.")
            found = getattr(found, part)
        return found

    def on_train_start(self, trainer, pl_module):
        if trainer.is_global_zero:
            self.monitor = SpectrumMonitor(self.recurrent_module(pl_module), self.inputs, self.path, **self.options)
            if trainer.current_epoch == 0:  # a fit resumed from a checkpoint has its epoch 0 already
                self._record(0, {}, pl_module)
        if self.flossing is not None:
            self._start_flossing(trainer, pl_module)

    def on_train_epoch_start(self, trainer, pl_module):
        self._validated_this_epoch = False

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._validated_this_epoch = True

    def on_train_epoch_end(self, trainer, pl_module):
        self._record_epoch(trainer, pl_module)
        self._floss_after_epoch(trainer)  # after the spectrum: epoch e's spectrum is of training alone

    def _record_epoch(self, trainer, pl_module):
        if self.monitor is None:
            return
        metrics = {}
        for name in self.metric_names:
            if name.startswith("val") and not self._validated_this_epoch:
                continue  # callback_metrics still hold an older epoch's value
            value = trainer.callback_metrics.get(name, trainer.callback_metrics.get(f"{name}_epoch"))
            if value is not None:
                metrics[name] = value
        # trainer.current_epoch counts from 0 during the first epoch; after it the network is at epoch 1.
        self._record(trainer.current_epoch + 1, metrics, pl_module)

    def _floss_after_epoch(self, trainer) -> None:
        every = self.flossing["every_epochs"] if self.flossing else 0
        epoch = trainer.current_epoch + 1
        if self.flosser is not None and every and epoch % every == 0 and self.flossing["updates_per_episode"]:
            self._floss(epoch, self.flossing["updates_per_episode"])

    # -- gradient flossing: one block, so that the spectrum recording above stays as it was --

    def _start_flossing(self, trainer, pl_module) -> None:
        from rnn_lyapunov.training.flossing import Flosser, flossed_system

        options = self.flossing
        self.flosser = Flosser(flossed_system(self.recurrent_module(pl_module)), n_exponents=options["n_exponents"],
                               target=options["target"], learning_rate=options["learning_rate"],
                               warmup_steps=options["warmup_steps"], optimizer=options["optimizer"],
                               detach_state=options["detach_state"])
        if self._flosser_state is not None:
            self.flosser.load_state_dict(self._flosser_state)
        if trainer.current_epoch == 0 and options["before_training"]:
            self._floss(0, options["before_training"])

    def _floss(self, epoch: int, updates: int) -> None:
        from rnn_lyapunov.training.flossing import batches, episode

        next_batch = batches(self.flossing["inputs"], self.flossing["batch_size"])
        result = episode(self.flosser, next_batch, updates, next_batch(0), where=f"episode after epoch {epoch}, ")
        self.flossing_history.append((epoch, result))

    def state_dict(self):
        return {} if self.flosser is None else {"flossing_optimizer": self.flosser.state_dict()}

    def load_state_dict(self, state_dict):
        self._flosser_state = state_dict.get("flossing_optimizer")

    def on_fit_end(self, trainer, pl_module):
        if self.monitor is not None and self.monitor.last_epoch >= 0:
            self.monitor.write()

    def _record(self, epoch: int, metrics: dict, pl_module) -> None:
        took = self.monitor.takes_spectrum_at(epoch)
        spectrum = self.monitor.record(epoch, **metrics)
        if not (self.log_values and took):
            return
        from rnn_lyapunov.engine.spectrum import EXPONENT_UNITS

        factor = EXPONENT_UNITS[self.monitor.settings["units"]][1]
        largest = math.nan if spectrum is None else factor * float(spectrum.exponents[0])
        dimension = math.nan if spectrum is None else spectrum.kaplan_yorke_dimension
        for name, value in zip(LOGGED, (largest, dimension)):
            pl_module.log(name, value, on_step=False, on_epoch=True, rank_zero_only=True)
