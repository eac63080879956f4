"""Elman RNN, the same map as ``torch.nn.RNN``: h' = act(W_ih x + b_ih + W_hh h + b_hh)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.fast_paths import FastPaths
from rnn_lyapunov.architectures.derivatives import tanh_derivative
from rnn_lyapunov.architectures.fused import fused_sequence
from rnn_lyapunov.architectures.layers import scaled_rows
from rnn_lyapunov.architectures.registry import register_architecture
from rnn_lyapunov.errors import InputError

NONLINEARITIES = ("tanh", "relu")


@register_architecture("rnn")
class ElmanRNN(RecurrentArchitecture):
    """Elman RNN; a layer's state is its ``h``. Option ``nonlinearity``: "tanh" (default) or "relu"."""

    description = "Elman RNN (torch.nn.RNN), nonlinearity tanh or relu; analytic Jacobian"
    torch_module_type = nn.RNN
    fast_paths = FastPaths(mixed_precision_tangents=True)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, nonlinearity="tanh"):
        if nonlinearity not in NONLINEARITIES:
            raise InputError(f"nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias)
        self.nonlinearity = nonlinearity

    @classmethod
    def torch_module_options(cls, module):
        return {"nonlinearity": module.nonlinearity}

    def linearised_cell(self, layer, layer_input, h):
        """New h (batch, N) and its tangent map: dh' = act'(a) (W_ih d_input + W_hh d_h), tanh'(a) = sech(a)^2."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        pre_activation = F.linear(layer_input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
        h_new = torch.tanh(pre_activation) if self.nonlinearity == "tanh" else torch.relu(pre_activation)

        def tangent_map(input_rows, h_rows):  # relu'(0) = 0, as in autograd
            slope = tanh_derivative(pre_activation) if self.nonlinearity == "tanh" else (pre_activation > 0).to(h_new.dtype)
            return scaled_rows(self.pre_activation_rows(layer, input_rows, h_rows), slope.unsqueeze(1))

        return h_new, tangent_map

    def forward_sequence(self, inputs, state):
        """Every step at once with torch.nn.RNN's kernel on these parameters (see ``fused_sequence``):
        inputs (batch, time, input_size), state (batch, state_size) -> (last layer's h at each step
        (batch, time, hidden_size), final state (batch, state_size))."""
        return fused_sequence(self, f"rnn_{self.nonlinearity}", inputs, state)
