"""What ``SpectrumMonitor`` measures: the recurrent core behind a user's module, and a spectrum of it
that leaves every random generator as it was."""

from __future__ import annotations

import contextlib
import copy
import random

import numpy as np
import torch

from rnn_lyapunov.errors import InputError


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
