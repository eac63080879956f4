"""Elman RNN, the same map as ``torch.nn.RNN``: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.errors import InputError
from rnn_lyapunov.architectures.registry import register_architecture

NONLINEARITIES = ("tanh", "relu")


@register_architecture("rnn")
class ElmanRNN(RecurrentArchitecture):
    """Multi-layer Elman RNN; layer k > 0 takes layer k-1's new ``h`` as its input.

    State: (batch, num_layers * hidden_size), the layers' ``h`` one after another.
    Option ``nonlinearity``: ``"tanh"`` (default) or ``"relu"``, as in ``torch.nn.RNN``.
    """

    description = "Elman RNN (torch.nn.RNN), nonlinearity tanh or relu; analytic Jacobian"
    torch_module_type = nn.RNN
    gates_per_layer = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, nonlinearity="tanh"):
        if nonlinearity not in NONLINEARITIES:
            raise InputError(f"nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias)
        self.nonlinearity = nonlinearity

    @classmethod
    def torch_module_options(cls, module):
        return {"nonlinearity": module.nonlinearity}

    def _layer(self, layer, layer_input, h):
        """Pre-activation and new h of one layer: (batch, hidden_size) each."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        pre_activation = F.linear(layer_input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
        h_new = torch.tanh(pre_activation) if self.nonlinearity == "tanh" else torch.relu(pre_activation)
        return pre_activation, h_new

    def step(self, state, x):
        layer_input, new_blocks = x, []
        for layer in range(self.num_layers):
            _, layer_input = self._layer(layer, layer_input, self.layer_state(state, layer))
            new_blocks.append(layer_input)
        return torch.cat(new_blocks, dim=1)

    def _slope(self, pre_activation, h_new):
        """act'(a) as (batch, 1, hidden_size), scaling perturbation rows; relu'(0) = 0 as in autograd."""
        slope = 1 - h_new * h_new if self.nonlinearity == "tanh" else (pre_activation > 0).to(h_new.dtype)
        return slope.unsqueeze(1)

    def step_with_tangents(self, state, x, tangents):
        """Next state and J @ tangents (batch, state_size, k) without forming J (the engine's fast path).

        Works on the tangents as rows (batch, k, state_size), so each weight product is one matrix
        product for all tangents of all trajectories; returns a transposed (column-major) view.
        """
        size, layer_input, input_rows, blocks, row_blocks = self.hidden_size, x, None, [], []
        rows = tangents.transpose(1, 2)
        for layer in range(self.num_layers):
            start, end = layer * size, (layer + 1) * size
            pre_activation, h_new = self._layer(layer, layer_input, state[:, start:end])
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            d_pre = F.linear(rows[:, :, start:end], weight_hh)
            if input_rows is not None:  # layer k's input is layer k-1's new h
                d_pre = d_pre + F.linear(input_rows, weight_ih)
            d_h = self._slope(pre_activation, h_new) * d_pre
            blocks.append(h_new)
            row_blocks.append(d_h)
            layer_input, input_rows = h_new, d_h
        return torch.cat(blocks, dim=1), torch.cat(row_blocks, dim=2).transpose(1, 2)

    def jacobian(self, state, x):
        """d step / d state: (batch, state_size, state_size), returned as a transposed view.

        Own block of layer k: diag(act'(a_k)) W_hh_k, built as its transpose W_hh_k^T * act'[:, None, :]
        (no matrix product). Layer k's input is layer k-1's new h, so the columns of the layers
        below get diag(act'(a_k)) W_ih_k times layer k-1's rows (the cross-layer blocks).
        """
        size = self.hidden_size
        transposed = state.new_zeros(state.shape[0], self.state_size, self.state_size)
        layer_input, rows_below = x, None
        for layer in range(self.num_layers):
            start, end = layer * size, (layer + 1) * size
            pre_activation, h_new = self._layer(layer, layer_input, state[:, start:end])
            slope = self._slope(pre_activation, h_new)
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            rows = slope * weight_hh.T  # (batch, hidden_size, hidden_size): the own block, transposed
            if rows_below is not None:
                rows = torch.cat([slope * F.linear(rows_below, weight_ih), rows], dim=1)
            transposed[:, :end, start:end] = rows
            rows_below, layer_input = rows, h_new
        return transposed.transpose(1, 2)
