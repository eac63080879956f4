"""The spectra a training run measures: its fixed driving inputs and one spectrum of the current weights."""

from __future__ import annotations

import copy
import math
import warnings

import torch

from rnn_lyapunov.devices import FLOAT_DTYPES
from rnn_lyapunov.errors import InputError, NonFiniteStateError


def spectrum_inputs(dataset, trajectories: int, steps: int | None) -> torch.Tensor:
    """The fixed inputs driving every spectrum of a run: float32 (trajectories, steps, input_size).

    Trajectory ``i`` reads validation sequence ``i``; when ``steps`` exceeds the sequence length
    it reads ``k = ceil(steps / length)`` consecutive sequences ``i*k .. i*k+k-1`` joined in time
    (for ``char_text`` that is contiguous text). ``steps=None`` means one sequence.
    """
    validation = dataset.validation
    length = validation.sequence_length
    per_trajectory = 1 if steps is None else math.ceil(steps / length)
    needed = trajectories * per_trajectory
    if needed > len(validation):
        raise InputError(
            f"config keys spectrum.trajectories x spectrum.steps need {needed} validation sequences of "
            f"length {length} but {dataset.name!r} has {len(validation)}; lower them (at most "
            f"{len(validation) // per_trajectory} trajectories of {steps} steps).")
    sequences = dataset.encode_inputs(validation.inputs[:needed])
    joined = sequences.reshape(trajectories, per_trajectory * length, dataset.input_size)
    return joined[:, : (length if steps is None else steps)].contiguous()


def compute_spectrum(core, inputs: torch.Tensor, spectrum_config: dict, logger=None):
    """Spectrum of a copy of ``core`` on ``inputs`` in the configured dtype; None if it diverged.

    The copy (``copy.deepcopy(core)``, cast to float64 if asked) keeps the training parameters and
    their gradients untouched. ``spectrum.lstm_state = "h_only"`` takes an LSTM's spectrum the
    authors' way (``rnn_lyapunov.architectures.hidden_only``).
    """
    from rnn_lyapunov.architectures.hidden_only import spectrum_system
    from rnn_lyapunov.config.engine_arguments import engine_arguments
    from rnn_lyapunov.engine.lyapunov import lyapunov_spectrum

    dtype = FLOAT_DTYPES[spectrum_config["dtype"]]
    system = spectrum_system(copy.deepcopy(core).to(dtype).requires_grad_(False), spectrum_config["lstm_state"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = lyapunov_spectrum(system, inputs.to(dtype), **engine_arguments(spectrum_config))
        except NonFiniteStateError as error:
            if logger is not None:
                logger.warning("spectrum not computed, recording NaN: %s", error)
            result = None
    for warning in caught:
        if logger is not None:
            logger.warning("while computing the spectrum: %s", warning.message)
    return result
