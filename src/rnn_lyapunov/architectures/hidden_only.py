"""The authors' LSTM convention: exponents of h alone, with the cell state c held fixed.

Vogt et al. (2022) compute the LSTM spectrum from the Jacobian of ``h_t`` with respect to
``h_(t-1)`` at fixed ``c_(t-1)``: N exponents for N units. That is NOT the spectrum of the LSTM,
whose state is (h, c) and whose 2N exponents include how perturbations of c grow; on a trained
128-unit LSTM the leading halves of the two differ by more than 1 nat per step. The correct
spectrum (``lstm_state="full"``) is the default everywhere; this module gives the authors'
variant (``lstm_state="h_only"``) for reproducing their numbers.

The trajectory itself is the true LSTM's (c evolves as always); only the tangent dynamics drop c.
"""

from __future__ import annotations

import torch
from torch import nn

from rnn_lyapunov.errors import InputError

LSTM_STATES = ("full", "h_only")


class HiddenOnlySystem(nn.Module):
    """A system for :func:`lyapunov_spectrum` whose tangents are the ``h`` blocks of a core's state.

    ``state_size`` is the core's (every block, so the trajectory is exact); ``tangent_size`` is
    ``num_layers * hidden_size``: perturbations of each layer's ``h``, every other block of the old
    state (``c``) held fixed. Layer k's input is layer k-1's new ``h``, whose perturbation it takes.
    Needs a core with ``linearised_cell`` (the built-in LSTM has one). A module holding ``core`` (its
    parameters, shared): ``.to(dtype)``, ``copy.deepcopy`` and ``parameters()`` work as on the core.
    """

    def __init__(self, core):
        if getattr(core, "state_blocks_per_layer", 1) < 2 or not callable(getattr(core, "linearised_cell", None)):
            raise InputError(f"lstm_state='h_only' needs an architecture whose layer state is [h, c, ...] with a "
                             f"linearised_cell (the built-in 'lstm'); {type(core).__name__} is not one. "
                             "Use lstm_state='full'.")
        super().__init__()
        self.core = core
        self.state_size = core.state_size
        self.tangent_size = core.num_layers * core.hidden_size
        self.input_size = core.input_size
        self.mixed_precision_tangents = bool(getattr(core, "mixed_precision_tangents", False))

    def initial_state(self, batch: int) -> torch.Tensor:
        return self.core.initial_state(batch)

    def step(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.core.step(state, x)

    def step_with_tangents(self, state: torch.Tensor, x: torch.Tensor, tangents: torch.Tensor):
        """(next state (batch, state_size), d h' (batch, tangent_size, k)) for h-perturbations (batch, tangent_size, k)."""
        size, count = self.core.hidden_size, self.core.state_blocks_per_layer
        blocks_in, h_rows_in = state.split(size, dim=1), tangents.transpose(1, 2).split(size, dim=2)
        layer_input, input_rows, new_blocks, new_rows = x, None, [], []
        held = (None,) * (count - 1)
        for layer in range(self.core.num_layers):
            blocks, tangent_map = self.core.linearised_cell(layer, layer_input, *blocks_in[layer * count:(layer + 1) * count])
            blocks = (blocks,) if isinstance(blocks, torch.Tensor) else tuple(blocks)
            d_h = tangent_map(input_rows, h_rows_in[layer], *held)[0]
            new_blocks.extend(blocks)
            new_rows.append(d_h)
            layer_input, input_rows = blocks[0], d_h
        return torch.cat(new_blocks, dim=1), torch.cat(new_rows, dim=2).transpose(1, 2)


def spectrum_system(core, lstm_state: str = "full"):
    """The system whose spectrum is wanted: ``core`` itself, or its h-only variant for LSTMs.

    ``lstm_state`` applies to LSTM cores (those reproducing ``torch.nn.LSTM``) and is ignored by the
    others, so one setting serves a sweep that mixes LSTMs with RNNs and GRUs. A core created with
    the ``lstm`` plugin option ``lstm_state="h_only"`` is taken h-only whatever ``lstm_state`` says
    here: either place asking for the authors' convention is enough.
    """
    if lstm_state not in LSTM_STATES:
        raise InputError(f"lstm_state must be one of {', '.join(LSTM_STATES)}, got {lstm_state!r}",
                         arguments=("lstm_state",))
    if getattr(core, "lstm_state", "full") == "h_only":
        lstm_state = "h_only"
    if lstm_state == "full" or getattr(core, "torch_module_type", None) is not nn.LSTM:
        return core
    return HiddenOnlySystem(core)


def tangent_size(core, lstm_state: str = "full") -> int:
    """How many exponents the spectrum of ``core`` has under ``lstm_state`` (see :func:`spectrum_system`)."""
    system = spectrum_system(core, lstm_state)
    return int(getattr(system, "tangent_size", system.state_size))
