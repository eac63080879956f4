"""LSTM, the same map as ``torch.nn.LSTM`` (Hochreiter & Schmidhuber 1997; gates i, f, g, o).

i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x + b_ih + W_hh h + b_hh), split in four;
c' = f * c + i * g;  h' = o * tanh(c').
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnn_lyapunov.architectures.base import RecurrentArchitecture
from rnn_lyapunov.architectures.registry import register_architecture


@register_architecture("lstm")
class LSTM(RecurrentArchitecture):
    """Multi-layer LSTM; layer k > 0 takes layer k-1's new ``h`` as its input.

    State: (batch, num_layers * 2 * hidden_size), per layer ``[h, c]``, first layer first; so a
    one-layer LSTM of hidden size N has a 2N-dimensional state and 2N Lyapunov exponents.
    """

    description = "LSTM (torch.nn.LSTM), state [h, c] per layer; analytic Jacobian"
    torch_module_type = nn.LSTM
    state_blocks_per_layer = 2
    gates_per_layer = 4

    def _layer(self, layer, layer_input, h, c):
        """Gate activations and the new cell/hidden state of one layer, each (batch, hidden_size)."""
        weight_ih, weight_hh, bias_ih, bias_hh = self.layer_weights(layer)
        gates = F.linear(layer_input, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
        input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=1)
        input_gate, forget_gate, output_gate = input_gate.sigmoid(), forget_gate.sigmoid(), output_gate.sigmoid()
        candidate = candidate.tanh()
        c_new = forget_gate * c + input_gate * candidate
        h_new = output_gate * c_new.tanh()
        return input_gate, forget_gate, candidate, output_gate, c_new, h_new

    def step(self, state, x):
        size, layer_input, new_blocks = self.hidden_size, x, []
        for layer in range(self.num_layers):
            block = self.layer_state(state, layer)
            *_, c_new, h_new = self._layer(layer, layer_input, block[:, :size], block[:, size:])
            new_blocks += [h_new, c_new]
            layer_input = h_new
        return torch.cat(new_blocks, dim=1)

    def _linearised_layer(self, layer, layer_input, h, c):
        """New h and c of one layer, f, dh'/dc (batch, N) and the map from perturbations to (dh', dc').

        Perturbations are rows: ``through_gates(d_pre, d_c)`` takes d_pre (..., m, 4N), m
        perturbations of the gate pre-activations, and d_c (batch, m, N) or None, of the old c;
        returns (dh', dc'), each (batch, m, N):
        dc' = g i(1-i) d_i + c f(1-f) d_f + i (1-g^2) d_g + f d_c,  dh' = tanh(c') o(1-o) d_o + o (1-tanh^2 c') dc'.
        """
        i, f, g, o, c_new, h_new = self._layer(layer, layer_input, h, c)
        tanh_c = c_new.tanh()
        scale_i, scale_f, scale_g = (g * i * (1 - i)).unsqueeze(1), (c * f * (1 - f)).unsqueeze(1), (i * (1 - g * g)).unsqueeze(1)
        scale_o, h_per_c = (tanh_c * o * (1 - o)).unsqueeze(1), (o * (1 - tanh_c * tanh_c)).unsqueeze(1)

        def through_gates(d_pre, d_c=None):
            d_i, d_f, d_g, d_o = d_pre.split(self.hidden_size, dim=-1)
            d_c_new = scale_i * d_i + scale_f * d_f + scale_g * d_g
            if d_c is not None:
                d_c_new = d_c_new + f.unsqueeze(1) * d_c
            return scale_o * d_o + h_per_c * d_c_new, d_c_new

        return h_new, c_new, f, h_per_c.squeeze(1), through_gates

    def step_with_tangents(self, state, x, tangents):
        """Next state and J @ tangents (batch, state_size, k) without forming J (the engine's fast path).

        Works on the tangents as rows (batch, k, state_size), so each weight product is one matrix
        product for all tangents of all trajectories; the result is returned as a transposed view,
        the column-major layout the engine's QR uses. With at least state_size tangents, J is formed instead.
        """
        if tangents.shape[2] >= self.state_size:
            # A full frame: forming J once is cheaper than pushing every tangent through the four
            # gate blocks (measured in benchmarks/bench_architectures.py).
            return self.step_with_formed_jacobian(state, x, tangents)
        size, layer_input, input_rows, blocks, row_blocks = self.hidden_size, x, None, [], []
        rows = tangents.transpose(1, 2)
        for layer in range(self.num_layers):
            start = 2 * size * layer
            h, c = state[:, start:start + size], state[:, start + size:start + 2 * size]
            h_new, c_new, _, _, through_gates = self._linearised_layer(layer, layer_input, h, c)
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            d_pre = F.linear(rows[:, :, start:start + size], weight_hh)
            if input_rows is not None:  # layer k's input is layer k-1's new h
                d_pre = d_pre + F.linear(input_rows, weight_ih)
            d_h, d_c = through_gates(d_pre, rows[:, :, start + size:start + 2 * size])
            blocks += [h_new, c_new]
            row_blocks += [d_h, d_c]
            layer_input, input_rows = h_new, d_h
        return torch.cat(blocks, dim=1), torch.cat(row_blocks, dim=2).transpose(1, 2)

    def jacobian(self, state, x):
        """d step / d state: (batch, state_size, state_size), returned as a transposed view.

        Built as its transpose, one row per perturbed state entry: perturbing h gives
        through_gates(W_hh^T); perturbing c gives diagonal blocks dh'/dc = diag(o (1-tanh^2 c') f),
        dc'/dc = diag(f); perturbing a layer below gives through_gates(its rows of h' @ W_ih^T).
        """
        size = self.hidden_size
        transposed = state.new_zeros(state.shape[0], self.state_size, self.state_size)
        layer_input, rows_below = x, None
        for layer in range(self.num_layers):
            start, end = 2 * size * layer, 2 * size * (layer + 1)
            h, c = state[:, start:start + size], state[:, start + size:end]
            h_new, _, f, h_per_c, through_gates = self._linearised_layer(layer, layer_input, h, c)
            weight_ih, weight_hh, _, _ = self.layer_weights(layer)
            from_h = through_gates(weight_hh.T)  # (dh', dc') rows for perturbations of the own h
            from_c = (torch.diag_embed(h_per_c * f), torch.diag_embed(f))
            parts = [from_h, from_c] if rows_below is None else [through_gates(F.linear(rows_below, weight_ih)), from_h, from_c]
            d_h, d_c = (torch.cat([part[index] for part in parts], dim=1) for index in (0, 1))
            transposed[:, :end, start:end] = torch.cat([d_h, d_c], dim=2)
            rows_below, layer_input = d_h, h_new
        return transposed.transpose(1, 2)
