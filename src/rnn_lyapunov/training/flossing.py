"""Gradient flossing: pushing the leading Lyapunov exponents of a recurrent core toward a target.

Engelken (NeurIPS 2023, "Gradient Flossing: Improving Gradient Descent through Dynamic Control of
Jacobians") minimises ``mean_(batch, i) (lambda_i - target_i)^2`` over the leading k finite-time
exponents of short driven trajectories, by gradient descent through the QR iteration
(:func:`rnn_lyapunov.engine.differentiable.differentiable_exponents`), before training and in
episodes during it. Only the recurrent core's parameters move (a readout does not enter the
exponents). :func:`floss` is the loop for your own code; :class:`Flosser` is one update at a time,
which ``train_run`` uses between epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from rnn_lyapunov.engine.differentiable import differentiable_exponents, not_differentiable
from rnn_lyapunov.errors import InputError, RnnLyapunovError

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


class FlossingDivergedError(RnnLyapunovError):
    """A flossing update made the loss, its gradient or the parameters NaN or infinite."""


@dataclass(frozen=True)
class FlossingResult:
    """What :func:`floss` did: exponents (n_exponents,) in nats per step, mean over the evaluation
    sequences, before and after; ``losses`` (updates,): the flossing loss of each update, in
    (nats per step)^2."""

    before: torch.Tensor
    after: torch.Tensor
    losses: torch.Tensor


def flossed_system(module, lstm_state: str = "full"):
    """The system whose exponents are flossed, sharing ``module``'s parameters (no copy).

    ``module``: an ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (through ``from_torch``), a ``SequenceModel``
    from ``create_model`` (its core: the readout never moves) or a core itself.
    """
    from rnn_lyapunov.architectures.base import RecurrentArchitecture
    from rnn_lyapunov.architectures.hidden_only import spectrum_system
    from rnn_lyapunov.architectures.model import SequenceModel
    from rnn_lyapunov.architectures.torch_interop import from_torch

    if isinstance(module, SequenceModel):
        return spectrum_system(module.core, lstm_state)
    if isinstance(module, RecurrentArchitecture):
        return spectrum_system(module, lstm_state)
    if isinstance(module, nn.Module) and isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        if module.training and module.dropout:
            raise InputError(f"{type(module).__name__}(dropout={module.dropout}) is in training mode: call "
                             "module.eval() before flossing (dropout makes each step random)", arguments=("module",))
        return from_torch(module, lstm_state=lstm_state)
    raise InputError(f"floss needs an nn.RNN, nn.LSTM, nn.GRU, a model from create_model or an architecture core, "
                     f"got {type(module).__name__}", arguments=("module",))


def check_target(target, n_exponents: int) -> torch.Tensor:
    """``target`` (a number, or one per exponent) as a float64 (n_exponents,) tensor; InputError otherwise."""
    values = [target] if isinstance(target, (int, float)) and not isinstance(target, bool) else target
    def finite_number(value) -> bool:
        return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)

    if not isinstance(values, (list, tuple)) or not values or not all(finite_number(value) for value in values):
        raise InputError(f"target must be a finite number (nats per step) or a list of them, got {target!r}",
                         arguments=("target",))
    if len(values) not in (1, n_exponents):
        raise InputError(f"target lists {len(values)} exponents but n_exponents is {n_exponents}: give one number "
                         f"or {n_exponents}", arguments=("target",))
    return torch.tensor([float(value) for value in values], dtype=torch.float64).expand(n_exponents).clone()


class Flosser:
    """Flossing updates of one system, one call at a time, with their own optimizer.

    Args:
        system: from :func:`flossed_system`; its ``parameters()`` are the ones updated.
        n_exponents: how many leading exponents are pushed (1..tangent dimension).
        target: a number or a list of ``n_exponents`` numbers, nats per step.
        learning_rate: the optimizer's step size (> 0).
        warmup_steps: steps of each flossing sequence before the logs are summed.
        optimizer: ``"adam"`` or ``"sgd"``.
        detach_state: see :func:`differentiable_exponents`.

    ``state_dict()``/``load_state_dict()`` carry the optimizer state, so a checkpoint resumes bitwise.
    """

    def __init__(self, system, *, n_exponents: int, target=0.0, learning_rate: float, warmup_steps: int = 0,
                 optimizer: str = "adam", detach_state: bool = True):
        if optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}",
                             arguments=("optimizer",))
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not (
                math.isfinite(learning_rate) and learning_rate > 0):
            raise InputError(f"learning_rate must be a positive finite number, got {learning_rate!r}",
                             arguments=("learning_rate",))
        tangent_size = int(getattr(system, "tangent_size", None) or system.state_size)
        if isinstance(n_exponents, bool) or not isinstance(n_exponents, int) or not 1 <= n_exponents <= tangent_size:
            raise InputError(f"n_exponents must be an int in 1..{tangent_size} (the tangent dimension of this "
                             f"network), got {n_exponents!r}", arguments=("n_exponents",))
        self.system, self.n_exponents = system, n_exponents
        self.warmup_steps, self.detach_state = warmup_steps, detach_state
        self.target = check_target(target, n_exponents)
        self.parameters = [parameter for parameter in system.parameters() if parameter.requires_grad]
        if not self.parameters:
            raise InputError("the network has no trainable parameters to floss", arguments=("module",))
        self.optimizer = OPTIMIZERS[optimizer](self.parameters, lr=float(learning_rate))

    def exponents(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, n_exponents) exponents of ``inputs`` (batch, time, input_size), on the tape."""
        return differentiable_exponents(self.system, inputs, n_exponents=self.n_exponents,
                                        warmup_steps=self.warmup_steps, detach_state=self.detach_state)

    def update(self, inputs: torch.Tensor, where: str = "update") -> float:
        """One optimizer step on ``mean (lambda - target)^2``; returns that loss (before the step).

        Raises:
            InputError: the network's step is not differentiable (no gradient reaches the parameters).
            FlossingDivergedError: the loss, a gradient or an updated parameter is not finite; the
                parameters and the optimizer are left as they were before this update.
        """
        exponents = self.exponents(inputs)
        loss = (exponents - self.target.to(exponents.device)).square().mean()
        problem = not_differentiable(loss)
        if problem:
            raise InputError(f"{problem}; flossing needs a step autograd can differentiate", arguments=("module",))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        value = float(loss.detach())
        saved = [parameter.detach().clone() for parameter in self.parameters]
        saved_state = _copied(self.optimizer.state_dict())
        finite_gradients = all(parameter.grad is None or bool(torch.isfinite(parameter.grad).all())
                               for parameter in self.parameters)
        if finite_gradients and math.isfinite(value):
            self.optimizer.step()
        if not (finite_gradients and math.isfinite(value)
                and all(bool(torch.isfinite(parameter).all()) for parameter in self.parameters)):
            with torch.no_grad():
                for parameter, old in zip(self.parameters, saved):
                    parameter.copy_(old)
            self.optimizer.load_state_dict(saved_state)
            raise FlossingDivergedError(
                f"flossing {where} produced a NaN or infinite loss, gradient or weight (loss {value!r}); the weights "
                "are left as before it. Use a smaller flossing learning rate, shorter flossing sequences or "
                "detach_state=True.")
        return value

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


def _copied(state):
    if isinstance(state, torch.Tensor):
        return state.clone()
    if isinstance(state, dict):
        return {key: _copied(value) for key, value in state.items()}
    if isinstance(state, list):
        return [_copied(value) for value in state]
    return state


def floss(module, inputs, *, n_exponents: int, target=0.0, updates: int, learning_rate: float,
          warmup_steps: int = 0, batch_size: int | None = None, optimizer: str = "adam", detach_state: bool = True,
          evaluation_inputs: torch.Tensor | None = None, lstm_state: str = "full") -> FlossingResult:
    """Floss ``module``: ``updates`` optimizer steps pushing its leading exponents toward ``target``.

    Args:
        module: ``nn.RNN``/``nn.LSTM``/``nn.GRU``, a model from ``create_model`` or a core; its
            recurrent core's parameters are updated in place (never a readout).
        inputs: (n_sequences, time, input_size) tensor, taken ``batch_size`` sequences per update in
            turn, or a callable ``inputs(update) -> (batch, time, input_size)`` giving fresh
            sequences (the paper draws new ones for every update). Same dtype and device as the module.
        n_exponents: how many leading exponents to push, 1..tangent dimension.
        target: nats per step, one number or one per exponent (default 0: the edge of chaos).
        updates: number of optimizer steps (>= 0).
        learning_rate: the flossing optimizer's step size.
        optimizer: the flossing optimizer, ``"adam"`` or ``"sgd"``.
        warmup_steps: steps of each sequence before the exponents are averaged; < time.
        batch_size: sequences per update with a tensor ``inputs`` (default all of them).
        detach_state: see :func:`differentiable_exponents` (default True: the measured choice).
        evaluation_inputs: (batch, time, input_size) on which ``before``/``after`` are measured
            (default: the first batch of ``inputs``).
        lstm_state: ``"full"`` or ``"h_only"`` for LSTMs (see ``from_torch``).

    Returns:
        :class:`FlossingResult` with exponents before and after (nats per step) and the losses.

    Raises:
        InputError: bad arguments, naming the argument.
        FlossingDivergedError: an update went NaN (named, with the fix); the weights are those
            before that update.
    """
    system = flossed_system(module, lstm_state)
    if isinstance(updates, bool) or not isinstance(updates, int) or updates < 0:
        raise InputError(f"updates must be an int >= 0, got {updates!r}", arguments=("updates",))
    next_batch = _batches(inputs, batch_size)
    flosser = Flosser(system, n_exponents=n_exponents, target=target, learning_rate=learning_rate,
                      warmup_steps=warmup_steps, optimizer=optimizer, detach_state=detach_state)
    evaluation = next_batch(0) if evaluation_inputs is None else evaluation_inputs
    _check_sequence_length(evaluation, warmup_steps)
    return episode(flosser, next_batch, updates, evaluation)


def episode(flosser: Flosser, next_batch: Callable[[int], torch.Tensor], updates: int, evaluation: torch.Tensor,
            where: str = "") -> FlossingResult:
    """``updates`` flossing updates on ``next_batch(0..updates-1)``, with the mean exponents on
    ``evaluation`` before and after; ``where`` prefixes the update's name in errors (``"episode 2 "``)."""

    def measured():
        with torch.no_grad():
            return flosser.exponents(evaluation).mean(dim=0).cpu()

    before = measured()
    losses = [flosser.update(next_batch(update), where=f"{where}update {update}") for update in range(updates)]
    return FlossingResult(before=before, after=measured(), losses=torch.tensor(losses, dtype=torch.float64))


def batches(inputs, batch_size=None) -> Callable[[int], torch.Tensor]:
    """``update -> (batch, time, input_size)``: ``inputs`` itself if callable, else its sequences
    ``batch_size`` at a time in turn (all of them by default)."""
    return _batches(inputs, batch_size)


FLOSSING_OPTIONS = {"inputs": None, "n_exponents": None, "learning_rate": None, "target": 0.0, "before_training": 0,
                    "every_epochs": 0, "updates_per_episode": 0, "warmup_steps": 0, "batch_size": None,
                    "optimizer": "adam", "detach_state": True}


def check_flossing_options(options) -> dict:
    """A flossing options dict (the Lightning callback's ``flossing=``) with defaults filled in;
    InputError naming the key for an unknown or missing key or a bad count."""
    if not isinstance(options, dict):
        raise InputError(f"flossing must be a dict of options ({', '.join(FLOSSING_OPTIONS)}), got "
                         f"{type(options).__name__}", arguments=("flossing",))
    unknown = sorted(set(options) - set(FLOSSING_OPTIONS))
    missing = [key for key in ("inputs", "n_exponents", "learning_rate") if key not in options]
    if unknown or missing:
        raise InputError(f"flossing options: unknown {unknown or 'none'}, missing {missing or 'none'}; allowed: "
                         f"{', '.join(FLOSSING_OPTIONS)} (inputs, n_exponents, learning_rate required)",
                         arguments=tuple(unknown + missing))
    checked = {**FLOSSING_OPTIONS, **options}
    for key in ("before_training", "every_epochs", "updates_per_episode", "warmup_steps"):
        value = checked[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"flossing option {key} must be an int >= 0, got {value!r}", arguments=(key,))
    check_target(checked["target"], checked["n_exponents"] if isinstance(checked["n_exponents"], int) else 1)
    batches(checked["inputs"], checked["batch_size"])
    return checked


def _check_sequence_length(inputs, warmup_steps) -> None:
    if isinstance(inputs, torch.Tensor) and inputs.dim() == 3 and isinstance(warmup_steps, int) and (
            inputs.shape[1] <= warmup_steps):
        raise InputError(f"flossing sequences of {inputs.shape[1]} steps are no longer than warmup_steps "
                         f"({warmup_steps}): use sequences longer than the warm-up",
                         arguments=("inputs", "warmup_steps"))


def _batches(inputs, batch_size) -> Callable[[int], torch.Tensor]:
    if callable(inputs) and not isinstance(inputs, torch.Tensor):
        return inputs
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 3:
        raise InputError("inputs must be a (n_sequences, time, input_size) tensor or a callable update -> such a "
                         f"tensor, got {type(inputs).__name__}", arguments=("inputs",))
    count = inputs.shape[0]
    size = count if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= count:
        raise InputError(f"batch_size must be an int in 1..{count} (the sequences in inputs), got {batch_size!r}",
                         arguments=("batch_size",))
    per_pass = count // size
    return lambda update: inputs[(update % per_pass) * size:(update % per_pass + 1) * size]
