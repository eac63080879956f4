"""A sequence model: a recurrent core (an architecture plugin) plus a linear readout.

The core runs a sequence through its ``forward_sequence`` when the plugin has one (the built-in
rnn, lstm and gru: torch's fused kernels on the core's own parameters,
:mod:`rnn_lyapunov.architectures.fused`), otherwise one time step at a time through the same
``step`` the Lyapunov engine uses. The contract tests hold every ``forward_sequence`` to the step
loop (outputs, final state, parameter gradients), so the network that is trained is exactly the
dynamical system whose spectrum is measured.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture, check_size
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.architectures.registry import architecture_options, get_architecture

SEQUENCE_PATHS = ("auto", "loop")
_logger = logging.getLogger(__name__)
_LOOP_LOGGED: set[type] = set()  # architectures whose step loop was announced (once each)


def step_loop(core: RecurrentArchitecture, inputs: torch.Tensor, state: torch.Tensor):
    """``core.step`` over time: inputs (batch, time, input_size), state (batch, state_size) ->
    (``core.output`` after each step (batch, time, hidden_size), final state (batch, state_size))."""
    features = []
    for time_index in range(inputs.shape[1]):
        state = core.step(state, inputs[:, time_index])
        features.append(core.output(state))
    return torch.stack(features, dim=1), state


class SequenceModel(nn.Module):
    """``core`` (a RecurrentArchitecture) -> dropout -> ``readout`` (nn.Linear) at every step.

    Attributes:
        core: the plugin instance; ``system()`` returns it (shared parameters, no copy).
        dropout: ``nn.Dropout`` on the readout's input (the core's ``output``), not inside the recurrence.
        readout: ``nn.Linear(hidden_size, output_size)``.
        sequence_path: ``"auto"`` (the core's ``forward_sequence`` when it has one, else the step
            loop) or ``"loop"`` (always :func:`step_loop`; for comparisons). Training and
            evaluation take the same path.
    """

    def __init__(self, core: RecurrentArchitecture, output_size: int, dropout: float = 0.0,
                 sequence_path: str = "auto"):
        super().__init__()
        if sequence_path not in SEQUENCE_PATHS:
            raise InputError(f"sequence_path must be one of {', '.join(SEQUENCE_PATHS)}, got {sequence_path!r}")
        self.sequence_path = sequence_path
        self.core = core
        self.dropout = nn.Dropout(dropout)
        self.readout = nn.Linear(core.hidden_size, check_size("output_size", output_size))
        reference = next(iter(core.parameters()), None)
        if reference is not None:
            self.readout.to(dtype=reference.dtype, device=reference.device)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor | None = None):
        """Run the sequence.

        Args:
            inputs: (batch, time, input_size).
            state: initial state (batch, state_size); default ``core.initial_state(batch)`` (zeros).

        Returns:
            ``(outputs (batch, time, output_size), final_state (batch, state_size))``.
        """
        core = self.core
        if inputs.dim() != 3 or inputs.shape[2] != core.input_size:
            raise InputError(
                f"inputs must have shape (batch, time, input_size={core.input_size}), got {tuple(inputs.shape)}"
            )
        batch = inputs.shape[0]
        if state is None:
            state = core.initial_state(batch).to(inputs.device)
        elif tuple(state.shape) != (batch, core.state_size):
            raise InputError(f"state must have shape (batch, state_size) = ({batch}, {core.state_size}), got {tuple(state.shape)}")
        sequence = getattr(core, "forward_sequence", None)
        if self.sequence_path == "auto" and callable(sequence):
            features, state = sequence(inputs, state)
        else:
            if type(core) not in _LOOP_LOGGED:
                _LOOP_LOGGED.add(type(core))
                reason = "sequence_path='loop'" if self.sequence_path == "loop" else "it has no forward_sequence"
                _logger.info("%s runs sequences through its step loop (%s)", type(core).__name__, reason)
            features, state = step_loop(core, inputs, state)
        return self.readout(self.dropout(features)), state

    def system(self) -> RecurrentArchitecture:
        """The recurrent core as a system for ``lyapunov_spectrum`` (parameters shared): the core
        itself, or for an ``lstm`` created with ``lstm_state="h_only"`` its h-only view."""
        from rnn_lyapunov.architectures.hidden_only import spectrum_system

        return spectrum_system(self.core)


def create_model(
    name: str,
    *,
    input_size: int,
    hidden_size: int,
    output_size: int,
    num_layers: int = 1,
    init: str = "default",
    init_scale: float | None = None,
    init_gain: float | None = None,
    dropout: float = 0.0,
    bias: bool = True,
    **options,
) -> SequenceModel:
    """Build a SequenceModel around the architecture registered as ``name``.

    Args:
        name: a name from ``available_architectures()`` (e.g. ``"rnn"``, ``"lstm"``, ``"gru"``).
        input_size: features per input step, a positive int.
        hidden_size: units per layer, a positive int.
        output_size: features of the linear readout, a positive int.
        num_layers: stacked recurrent layers, a positive int.
        init: ``"default"`` | ``"uniform"`` (needs ``init_scale`` p: every core parameter uniform
            in [-p, p], as in Vogt et al. 2022) | ``"orthogonal"`` (recurrent weights orthogonal
            times ``init_gain``, default 1). See ``RecurrentArchitecture.reset_parameters``.
        dropout: probability in [0, 1) on the readout's input.
        bias: whether the core has biases.
        **options: the architecture's own options (e.g. ``nonlinearity="relu"`` for ``"rnn"``).

    Raises:
        InputError: unknown name or option, or a bad value (the message names the argument and
            what is allowed).
    """
    architecture = get_architecture(name)
    allowed = architecture_options(architecture)
    unknown = [] if allowed is None else sorted(set(options) - set(allowed))
    if unknown:
        listed = ", ".join(f"{option}={default!r}" for option, default in allowed.items()) or "none"
        raise InputError(
            f"unknown option(s) {', '.join(unknown)} for architecture {name!r}; its options (with defaults) are: {listed}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must be a number in [0, 1), got {dropout!r}")
    for argument, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("output_size", output_size), ("num_layers", num_layers)):
        check_size(argument, value)
    core = architecture(input_size, hidden_size, num_layers=num_layers, bias=bias, **options)
    core.reset_parameters(init=init, init_scale=init_scale, init_gain=init_gain)
    return SequenceModel(core, output_size=output_size, dropout=float(dropout))
