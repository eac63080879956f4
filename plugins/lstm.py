"""LSTM, the same map as ``torch.nn.LSTM`` (Hochreiter & Schmidhuber 1997; gates i, f, g, o).

i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x + b_ih + W_hh h + b_hh), split in four;
c' = f * c + i * g;  h' = o * tanh(c').
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.fast_paths import FastPaths
from rnn_lyapunov.architectures.derivatives import sigmoid_derivative, tanh_derivative
from rnn_lyapunov.architectures.fused import fused_sequence
from rnn_lyapunov.architectures.hidden_only import LSTM_STATES
from rnn_lyapunov.architectures.layers import scaled_rows
from rnn_lyapunov.architectures.registry import register_architecture
from rnn_lyapunov.errors import InputError


@register_architecture("lstm")
class LSTM(RecurrentArchitecture):
    """LSTM; a layer's state is ``[h, c]``, so one layer of hidden size N has 2N Lyapunov exponents.

    Option ``lstm_state``: ``"full"`` (default), the spectrum of the LSTM's (h, c) state; ``"h_only"``,
    the authors' convention (Vogt et al. 2022): N exponents of h with c held fixed, which are NOT the
    LSTM's exponents (see :mod:`rnn_lyapunov.architectures.hidden_only`). It changes only which
    spectrum ``model.system()`` and the training spectra take, never the network.
    """

    description = "LSTM (torch.nn.LSTM), state [h, c] per layer; analytic Jacobian"
    torch_module_type = nn.LSTM
    state_blocks_per_layer = 2
    gates_per_layer = 4
    # for a full frame, forming J's h rows once beats pushing the frame through the four gate blocks,
    # and c moves the state through no weights (dc' = f dc, dh' = o tanh'(c') dc'): its rows are pushed
    # (benchmarks/bench_architectures.py)
    fast_paths = FastPaths(form_jacobian_for_full_frame=True, blocks_moved_without_weights=(1,),
                           mixed_precision_tangents=True)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 lstm_state: str = "full"):
        if lstm_state not in LSTM_STATES:
            raise InputError(f"lstm option lstm_state must be one of {', '.join(LSTM_STATES)}, got {lstm_state!r}")
        super().__init__(input_size, hidden_size, num_layers, bias)
        self.lstm_state = lstm_state

    def linearised_cell(self, layer, layer_input, h, c):
        """New (h, c) and their tangent map, from the gate perturbations d_i, d_f, d_g, d_o:

        dc' = g i' d_i + c f' d_f + i g' d_g + f d_c,  dh' = tanh(c') o' d_o + o tanh'(c') dc',
        with sigmoid' = sigmoid(a) sigmoid(-a) and tanh' = sech^2 of each gate's pre-activation a
        (:mod:`~rnn_lyapunov.architectures.derivatives`).
        """
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        gates = F.linear(layer_input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
        pre_g = gates.chunk(4, dim=1)[2]
        # the three sigmoid gates in one pass over all four (g's quarter unused): fewer small operations per step
        sigmoids = gates.sigmoid()
        i, f, _, o = sigmoids.chunk(4, dim=1)
        g = pre_g.tanh()
        c_new = f * c + i * g
        tanh_c = c_new.tanh()
        size = self.hidden_size
        slopes = {}  # made on the first call of tangent_map (training's step never calls it)

        def slope(name: str) -> torch.Tensor:
            """(batch, 1, ...): "gates" (4 H), what a perturbation of each pre-activation adds to dc' (i, f, g)
            or directly to dh' (o); "cell", o tanh'(c'); "forget", f."""
            if not slopes:
                derivatives = sigmoid_derivative(gates, sigmoids)  # g's quarter replaced by tanh'
                derivatives[:, 2 * size:3 * size] = tanh_derivative(pre_g)
                slopes["gates"] = derivatives.mul_(torch.cat((g, c, i, tanh_c), dim=1)).unsqueeze(1)
                slopes["cell"] = (o * tanh_derivative(c_new)).unsqueeze(1)
                slopes["forget"] = f.unsqueeze(1)
            return slopes[name]

        def tangent_map(input_rows, h_rows, c_rows):
            d_pre = self.pre_activation_rows(layer, input_rows, h_rows)  # a fresh tensor: scaled in place
            if d_pre is None:  # perturbing c alone leaves the gates alone
                d_c = slope("forget") * c_rows
                return slope("cell") * d_c, d_c
            scaled = scaled_rows(d_pre, slope("gates"))
            d_c = scaled[..., :3 * size].unflatten(-1, (3, size)).sum(dim=-2)
            if c_rows is not None:
                d_c.addcmul_(slope("forget"), c_rows)
            return scaled[..., 3 * size:].addcmul_(slope("cell"), d_c), d_c

        return (o * tanh_c, c_new), tangent_map

    def forward_sequence(self, inputs, state):
        """Every step at once with torch.nn.LSTM's kernel on these parameters (see ``fused_sequence``):
        inputs (batch, time, input_size), state (batch, state_size) -> (last layer's h at each step
        (batch, time, hidden_size), final state (batch, state_size))."""
        return fused_sequence(self, "lstm", inputs, state)
